"""Open instructions with checkable constraints: the ``instructions`` task family.

A prompt is a short open writing task ("Write a short note about rainy days.") with 1 to
3 constraints a program can check (difficulty = number of constraints), in the spirit of
IFEval (Zhou et al. 2023):

- length: ``at most N words`` or ``at least N words``;
- keyword: ``include the word W`` or ``do not use the word W``;
- format: ``exactly N bullet points starting with '- '``, ``only lowercase letters``,
  ``only capital letters``, ``end with the exact phrase P``, or ``a title line wrapped
  in double angle brackets, like <<title>>``.

The truth of an item is its constraint list (JSON), which the prompt states in words as
the instruction itself; the *checker* is the truth a judged method is measured against:
:func:`constraint_results` says which constraints a reply meets, :func:`satisfaction`
the share met, and the family's ``check`` whether all are met. The reply is read whole
(there is no ``Answer:`` line). The reference reply is written by a program to meet every
constraint (used by SPIN / SFT on references).

Arenas that draw from this family (``family="instructions"``: respond-judge, the preference
game, task-eval) log the checker's results in the outcome and never show them to a seat.

The module also holds the ``responder`` role these arenas share and their held-out
evaluation, :class:`ResponseEval` (``sparring/response-eval-v1``).

Versions: v1 of the family (the prompt wording and the constraint draw are part of it; a
change that alters items under the same seed gets a new family name).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from sparring.agents import parsers
from sparring.agents.parsers import ParseError
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.items import SplitItems
from sparring.arenas.match import Match
from sparring.arenas.tasks import (
    Generated,
    TaskFamily,
    difficulty_range,
    get_family,
    register_family,
)
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric

TOPICS = ("rainy days", "the ocean", "a city park", "learning to cook", "bicycles", "the night sky", "libraries",
          "winter mornings", "a small garden", "trains", "friendship", "mountains", "coffee", "old maps",
          "honey bees", "a village market", "forests", "the first day of school", "rivers", "birthdays",
          "kites", "lighthouses", "music lessons", "snow", "a long walk")
TASKS = ("Write a short note about {topic}.", "Describe {topic} to a friend.", "Give advice about {topic}.",
         "Explain why people like {topic}.", "Write a few sentences about {topic}.")
KEYWORDS = ("bright", "quiet", "simple", "gentle", "morning", "green", "warm", "story", "careful", "happy")
FORBIDDEN = ("very", "really", "thing", "nice", "good", "just")
ENDINGS = ("That is all.", "Thank you.", "The end.")

_WORD = re.compile(r"[A-Za-z0-9']+")


def words(text: str) -> list[str]:
    """The words of ``text`` (letters, digits, apostrophes)."""
    return _WORD.findall(text)


def check_constraint(reply: str, constraint: dict[str, Any]) -> bool:
    """Whether ``reply`` meets one constraint (see the module docs for the kinds)."""
    kind, value = constraint["kind"], constraint.get("value")
    body = reply.strip()
    lowered = [w.lower() for w in words(body)]
    if kind == "max_words":
        return 0 < len(lowered) <= value
    if kind == "min_words":
        return len(lowered) >= value
    if kind == "keyword":
        return value in lowered
    if kind == "forbidden":
        return bool(lowered) and value not in lowered
    if kind == "bullets":
        return sum(1 for line in body.splitlines() if line.strip().startswith("- ")) == value
    if kind == "lowercase":
        return bool(body) and body == body.lower() and any(c.isalpha() for c in body)
    if kind == "uppercase":
        return bool(body) and body == body.upper() and any(c.isalpha() for c in body)
    if kind == "ends_with":
        return body.endswith(value)
    if kind == "title":
        return re.search(r"<<[^<>\n]+>>", body) is not None
    raise ValueError(f"unknown constraint kind {kind!r}")


def constraint_results(reply: str, constraints: list[dict[str, Any]]) -> list[bool]:
    """One bool per constraint: whether ``reply`` meets it."""
    return [check_constraint(reply, c) for c in constraints]


def satisfaction(reply: str | None, constraints: list[dict[str, Any]]) -> float:
    """Share of constraints ``reply`` meets (0 for ``None``)."""
    if reply is None or not constraints:
        return 0.0
    return sum(constraint_results(reply, constraints)) / len(constraints)


def describe(constraint: dict[str, Any]) -> str:
    """A constraint in words, as the prompt states it."""
    kind, value = constraint["kind"], constraint.get("value")
    return {
        "max_words": f"use at most {value} words",
        "min_words": f"use at least {value} words",
        "keyword": f"include the word \"{value}\"",
        "forbidden": f"do not use the word \"{value}\"",
        "bullets": f"write exactly {value} bullet points, each line starting with '- '",
        "lowercase": "write only in lowercase letters",
        "uppercase": "write only in capital letters",
        "ends_with": f"end your reply with the exact phrase \"{value}\"",
        "title": "start with a title wrapped in double angle brackets, like <<title>>",
    }[kind]


def _draw(rng: random.Random, count: int) -> list[dict[str, Any]]:
    groups = ["length", "keyword", "format"]
    rng.shuffle(groups)
    out: list[dict[str, Any]] = []
    for group in sorted(groups[:count], key=["length", "keyword", "format"].index):
        if group == "length":
            out.append(rng.choice(({"kind": "max_words", "value": rng.choice((20, 30, 40, 50))},
                                   {"kind": "min_words", "value": rng.choice((15, 25, 35))})))
        elif group == "keyword":
            out.append(rng.choice(({"kind": "keyword", "value": rng.choice(KEYWORDS)},
                                   {"kind": "forbidden", "value": rng.choice(FORBIDDEN)})))
        else:
            kind = rng.choice(("bullets", "lowercase", "uppercase", "ends_with", "title"))
            value = rng.randint(2, 4) if kind == "bullets" else rng.choice(ENDINGS) if kind == "ends_with" else None
            out.append({"kind": kind, "value": value} if value is not None else {"kind": kind})
    return out


def reference_reply(topic: str, constraints: list[dict[str, Any]]) -> str:
    """A reply that meets every constraint (checked; raises if the builder misses one)."""
    kinds = {c["kind"]: c.get("value") for c in constraints}
    keyword = kinds.get("keyword", "calm")
    if "max_words" in kinds:  # short sentences, so even four bullets and an ending fit 20 words
        pool = [f"A {keyword} note on {topic}.", "It feels calm.", "Notice it.", "Share it.", "Enjoy it."]
    else:
        pool = [f"Here is a {keyword} thought about {topic}.", "It can make an ordinary day feel better.",
                "Take a moment to notice it.", "Share it with someone you like.",
                "Small moments like this are worth keeping.", "Come back to it whenever you can.",
                "It asks for little and gives back a lot.", "Try it again tomorrow.",
                "Notice how it changes with the seasons.", "Let it remind you to slow down."]
    units = pool[: kinds.get("bullets") or (1 if "max_words" in kinds else 2)]
    need = kinds.get("min_words", 0)
    for k, extra in enumerate(pool[len(units):]):
        if sum(len(words(u)) for u in units) >= need:
            break
        if "bullets" in kinds:  # a bullet may hold several sentences; the count stays exact
            i = k % len(units)
            units[i] = f"{units[i]} {extra}"
        else:
            units.append(extra)
    text = "\n".join(f"- {u}" for u in units) if "bullets" in kinds else " ".join(units)
    if "title" in kinds:
        text = f"<<{topic.title()}>>\n{text}"
    if "ends_with" in kinds:
        text = f"{text}\n{kinds['ends_with']}" if "bullets" in kinds else f"{text} {kinds['ends_with']}"
    if "lowercase" in kinds:
        text = text.lower()
    if "uppercase" in kinds:
        text = text.upper()
    failed = [describe(c) for c, ok in zip(constraints, constraint_results(text, constraints), strict=True) if not ok]
    if failed:
        raise ValueError(f"reference reply misses constraint(s) {failed}: {text!r}")
    return text


def generate(rng: random.Random, difficulty: int) -> Generated:
    """An open instruction with ``difficulty`` constraints (1 to 3)."""
    topic = rng.choice(TOPICS)
    task = rng.choice(TASKS).format(topic=topic)
    constraints = _draw(rng, difficulty)
    # the constraint list is JSON; the prompt states it in words
    prompt = f"{task} Constraints: " + "; ".join(describe(c) for c in constraints) + "."
    return prompt, constraints, reference_reply(topic, constraints)


def parse_reply(text: str) -> str:
    """The whole reply, stripped (instructions have no ``Answer:`` line)."""
    body = text[: parsers.MAX_PARSE_CHARS].strip()
    if not body:
        raise ParseError("expected a non-empty reply")
    return body


parsers.with_examples(parse_reply, "- a quiet morning\n- a warm cup\nThank you.", "rainy days are simple and calm.")


class InstructionFamily(TaskFamily):
    """Open instructions with checkable constraints; replies are read whole."""

    def __init__(self, name: str = "instructions") -> None:
        super().__init__(name, generate, lambda reply, truth: all(constraint_results(str(reply), truth)),
                         kind="text", difficulties=(1, 3),
                         topic=lambda d: f"short open writing tasks with {d} checkable constraint{'s' * (d > 1)}")

    @property
    def parser(self) -> Any:
        """The whole reply is the answer."""
        return parse_reply


INSTRUCTIONS = register_family(InstructionFamily(), replace=True)


# -- the responder seat and its held-out evaluation -------------------------------------------

def responder_role(family: TaskFamily, name: str = "responder") -> Role:
    """A helpful assistant answering a family's prompts (also the anchor seat's role).

    Every seat made by this function has the same system prompt, so the replies of an
    ``anchor`` seat answer exactly the messages the responder's do (pairs can mix them).
    """
    return Role(
        name=name,
        system_prompt=("You are a helpful assistant. Follow the user's instruction exactly, including every "
                       "constraint. When the question has a short answer, end with 'Answer: <answer>'."),
        parser=family.parser,
        sampling=SamplingParams(max_new_tokens=96, temperature=0.8),
    )


def truth_score(family: TaskFamily, reply: str | None, parsed: Any, truth: Any) -> float:
    """The checker's score of one reply in [0, 1]: share of constraints met for
    instructions, else 1 when the parsed answer checks against the truth."""
    if isinstance(family, InstructionFamily):
        return satisfaction(reply, truth)
    return float(family.check(parsed, truth))


@reward("eval_responder_truth", bounds=(0.0, 1.0))
def eval_responder_truth(transcript: Transcript) -> list[Score] | None:
    """The checker's score of the held-out reply (share of constraints met, or 0/1)."""
    outcome = transcript.outcome or {}
    turns = [u.index for u in transcript.turns if u.role == "responder"]
    if not turns or "truth_score" not in outcome:
        return None
    return [Score("responder", float(outcome["truth_score"]), f"checker: {outcome['truth_score']:.2f}", turn=turns[0])]


@metric("responder_accuracy", per_match=True)
def responder_accuracy(transcript: Transcript) -> bool | None:
    """The held-out reply passes the family's check (every constraint met)."""
    outcome = transcript.outcome or {}
    return bool(outcome["correct"]) if "correct" in outcome else None


@metric("responder_satisfaction", per_match=True)
def responder_satisfaction(transcript: Transcript) -> float | None:
    """The checker's score of the held-out reply (share of constraints met, or 0/1)."""
    outcome = transcript.outcome or {}
    return float(outcome["truth_score"]) if "truth_score" in outcome else None


RESPONSE_EVAL_METRICS: tuple[Metric, ...] = (responder_accuracy, responder_satisfaction)


def item_key(transcript: Transcript) -> str | None:
    """The normalised prompt a match is about (``outcome["item_key"]``)."""
    return (transcript.outcome or {}).get("item_key") or None


class ResponseEval(SplitItems, Arena):
    """Held-out replies of the responder seat (``sparring/response-eval-v1``).

    Seats: ``responder`` (the same role as in respond-judge and the preference game) sees
    one held-out prompt of the family and answers once (greedy in evaluation). The
    checker's results are logged (``truth_score``, ``correct``) and never shown.
    Metrics: ``responder_accuracy`` (every constraint met / answer right) and
    ``responder_satisfaction`` (share of constraints met). Versions: v1.

    Args:
        family: Task family (name, ``.jsonl`` path or ``module:attribute``).
        difficulty: A difficulty or an inclusive ``[low, high]`` range drawn per match.
        split: ``held_out`` (default) or ``train``.
    """

    id = "sparring/response-eval-v1"
    short_name = "response-eval"
    roles = ("responder",)
    reward_bounds = (0.0, 1.0)
    max_turns = 1

    def __init__(self, family: str = "instructions", difficulty: int | Sequence[int] = (1, 2),
                 split: str = "test") -> None:
        super().__init__()
        self.family = get_family(family)
        self.difficulty = difficulty_range(difficulty, self.family)
        self.set_split(split)

    def default_roles(self) -> dict[str, Role]:
        """The responder."""
        return {"responder": responder_role(self.family)}

    def rewards(self) -> Sequence[Reward]:
        """The checker's score."""
        return (eval_responder_truth,)

    def evaluation(self) -> Evaluation:
        """Itself, greedy: responder accuracy and constraint satisfaction."""
        return Evaluation(metrics=RESPONSE_EVAL_METRICS, item=item_key)

    async def play(self, match: Match) -> Outcome:
        """One held-out prompt, one reply, checked."""
        item = self.draw_item(match)
        reply = await match.ask("responder", item.prompt)
        parsed = reply.parsed if reply.ok else None
        score = truth_score(self.family, reply.text if reply.ok else None, parsed, item.answer)
        correct = self.family.check(parsed, item.answer)
        values = {"family": self.family.name, "difficulty": item.difficulty, "prompt": item.prompt,
                  "item_key": item.key, "truth": item.answer, "truth_score": score, "correct": correct}
        return Outcome(values, f"{item.prompt[:60]}: checker {score:.2f}")
