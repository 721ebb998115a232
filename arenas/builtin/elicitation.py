"""Eliciting preferences by asking: STaR-GATE (``sparring/elicitation-v1``).

Each match is one persona and one request (:mod:`sparring.arenas.builtin.personas`: a
seeded person with checkable attributes, e.g. diet, budget, city, and a request such as
"Suggest a dinner recipe for me." whose best answer depends on some of them).

Seats and what each sees:
    oracle: the persona card and the request; writes the gold reply once per match (the
        reply a helper who knew the person would give). Never trained here.
    questioner: the request only (never the persona). It asks one clarifying question per
        turn, up to ``k`` turns, seeing its earlier questions and the answers as the
        conversation; a reply starting with ``DONE`` ends its dialogue early. A match
        plays ``dialogues`` independent dialogues with the same persona.
    roleplayer: the persona card, the request, the dialogue so far and the latest
        question; answers in the person's voice.
    responder: the request and the dialogue (questions and answers), never the persona;
        it is not asked to generate: the engine *scores* the oracle's gold reply under it
        (``match.score``: the log-likelihood, no sampling). Bind it to the questioner's
        adapter (the recipe does), so the questioner is rewarded for dialogues after which
        it itself finds the gold reply likely, as in the paper.

Rewards (``s_d``: the mean per-token log-probability of the gold reply given dialogue
``d``, ``log p(gold | request, d) / |gold|``, clipped to ``[-50, 0]``; every dialogue of a
match scores the same gold reply, so ranking by ``s_d`` is ranking by ``log p``):
    ``gold_logprob`` (questioner turns, [-50, 0]): every question of dialogue ``d`` gets
        ``s_d``.
    ``best_dialogue`` (questioner turns, [0, 1]; the default): 1 for every question of the
        ``keep`` highest-scoring dialogues of the match (ties to the earlier dialogue), 0
        for the others. SFT with ``min_reward = 1`` (the ``sft`` update's own-replies
        builder) then trains on the questions of the best dialogues per persona: the
        paper's expert iteration.

Monitors and evaluation: ``elicitation/attribute_recall`` (share of the request's relevant
attributes whose value the roleplayer's answers mention: did the questions bring out what
matters), ``elicitation/gold_logprob`` (mean ``s_d``), ``elicitation/gold_recall`` (share of
relevant values the gold reply mentions: does the oracle use the persona) and
``elicitation/questions`` (questions asked per dialogue). The declared evaluation plays
held-out personas (``split = "test"``) with one dialogue per match, greedy, and reports the
same metrics; ``eval/elicitation/gold_logprob`` is the headline.

Paper: Andukuri et al., "STaR-GATE: Teaching Language Models to Ask Clarifying Questions"
(2024): a Questioner talks with a Roleplayer whose persona it cannot see; an Oracle that
sees the persona writes the gold response; the Questioner is fine-tuned (SFT) on the
questions of the conversations that make the gold response most likely under the
Questioner, and iterated (STaR's expert iteration).

Departures: personas and requests come from a small seeded generator with word-valued
attributes (so attribute recall is checkable), not the paper's 25,500 model-written
persona-task prompts; the oracle is whatever model its seat is bound to (the embedded
model by default), not GPT-4, and writes one gold reply per match; the score is the mean
per-token log-prob (the same ranking within a match as the paper's summed log-prob, but
bounded); the paper's response regularisation (also training on the Questioner's own
final response) is not done (only questions are trained); each iteration continues the
adapter rather than restarting from the initial model as STaR does.

Versions: v1, first version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin import personas
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import TaskError, check_split
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric

FLOOR = -50.0
"""Lowest mean token log-prob a dialogue scores (the reward's lower bound)."""

QUESTIONER = ("You are a helpful assistant. Before answering a request, you ask the user short clarifying questions "
              "about their preferences, one question per turn. When you know enough, reply DONE.")
ROLEPLAYER = ("You play the person described below, talking to an assistant. Answer its question in one or two "
              "sentences, in the first person, true to the description.")
ORACLE = "You are a helpful assistant who knows the user well. Write the best reply to their request for them."
RESPONDER = "You are a helpful assistant."


def opening(task: str) -> str:
    """The questioner's first message: the request and the instruction to ask."""
    return f"My request: {task}\nBefore you answer, ask me one short clarifying question."


def dialogue_text(exchanges: Sequence[tuple[str, str]]) -> str:
    """The dialogue as plain text (``Q:``/``A:`` lines), as the roleplayer and responder read it."""
    return "\n".join(f"Q: {q}\nA: {a}" for q, a in exchanges) or "(no questions asked)"


def _dialogues(transcript: Transcript) -> list[dict[str, Any]] | None:
    outcome = transcript.outcome or {}
    return outcome.get("dialogues") if "dialogues" in outcome else None


def _per_question(transcript: Transcript, values: Sequence[float], why: Sequence[str]) -> list[Score] | None:
    dialogues = _dialogues(transcript)
    if dialogues is None:
        return None
    ask_turn = {t.ask: t.index for t in transcript.turns}
    return [Score("questioner", v, w, turn=ask_turn[a]) for d, v, w in zip(dialogues, values, why, strict=True)
            for a in d["question_asks"]]


@reward("gold_logprob", bounds=(FLOOR, 0.0))
def gold_logprob(transcript: Transcript) -> list[Score] | None:
    """Each question of dialogue d: s_d, the mean token log-prob of the gold reply given d."""
    dialogues = _dialogues(transcript) or []
    return _per_question(transcript, [d["score"] for d in dialogues],
                         [f"mean log p(gold | dialogue {i}) per token = {d['score']:.4g}" for i, d in enumerate(dialogues)])


def best_dialogue_reward(keep: int) -> Reward:
    """1 for the questions of the ``keep`` best-scoring dialogues of a match, else 0."""
    @reward("best_dialogue", bounds=(0.0, 1.0))
    def best_dialogue(transcript: Transcript) -> list[Score] | None:
        dialogues = _dialogues(transcript) or []
        order = sorted(range(len(dialogues)), key=lambda i: (-dialogues[i]["score"], i))
        best = set(order[:keep])
        return _per_question(transcript, [float(i in best) for i in range(len(dialogues))],
                             [f"dialogue {i} ranks {order.index(i) + 1} of {len(dialogues)} by log p(gold) "
                              f"({dialogues[i]['score']:.4g}); the best {keep} are kept" for i in range(len(dialogues))])
    return best_dialogue


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _elicitation(transcripts: Sequence[Transcript]) -> dict[str, float] | None:
    """attribute_recall, gold_logprob, gold_recall and questions per dialogue (see the module docs)."""
    rows = [(t.outcome or {}, d) for t in transcripts for d in (_dialogues(t) or [])]
    if not rows:
        return None
    out = {"attribute_recall": _mean([d["attribute_recall"] for _, d in rows]),
           "gold_logprob": _mean([d["score"] for _, d in rows]),
           "questions": _mean([float(len(d["exchanges"])) for _, d in rows]),
           "gold_recall": _mean([o["gold_recall"] for o, _ in rows])}
    return {k: v for k, v in out.items() if v is not None}


ELICITATION: Metric = metric("elicitation")(_elicitation)


def item_key(transcript: Transcript) -> str | None:
    """The persona-task item a match played (held-out de-duplication)."""
    return (transcript.outcome or {}).get("item_key")


class Elicitation(Arena):
    """A questioner asks up to ``k`` questions of a roleplayer with a hidden persona; scored
    by how likely the oracle's gold reply becomes (STaR-GATE).

    Args:
        k: Most questions per dialogue (1 to 8).
        dialogues: Independent dialogues per persona (the candidates ranked by score).
        keep: How many of a match's best dialogues ``best_dialogue`` rewards.
        split: ``train``, ``validation`` or ``test`` (``held_out`` = ``test``) personas.
    """

    id = "sparring/elicitation-v1"
    short_name = "elicitation"
    roles = ("questioner", "roleplayer", "oracle", "responder")
    reward_bounds = (FLOOR, 1.0)
    max_turns = 64
    default_rewards = {"questioner": "best_dialogue"}

    def __init__(self, k: int = 3, dialogues: int = 4, keep: int = 1, split: str = "train") -> None:
        super().__init__()
        for name, value, high in (("k", k, 8), ("dialogues", dialogues, 16), ("keep", keep, 16)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise TaskError(f"{name} must be an integer from 1 to {high}, got {value!r}")
        if keep > dialogues:
            raise TaskError(f"keep ({keep}) must be at most dialogues ({dialogues}): it keeps the best of them")
        if 1 + dialogues * (2 * k + 1) > self.max_turns:
            raise TaskError(f"1 + dialogues * (2k + 1) turns must be at most {self.max_turns}, got 1 + {dialogues} * "
                            f"(2 * {k} + 1); lower dialogues or k")
        self.k, self.dialogues, self.keep = k, dialogues, keep
        self.split = check_split(split)
        self._best = best_dialogue_reward(keep)

    def default_roles(self) -> dict[str, Role]:
        """Questioner and roleplayer sample short turns; the oracle writes a longer reply."""
        short = SamplingParams(temperature=1.0, max_new_tokens=48)
        return {"questioner": Role("questioner", QUESTIONER, sampling=short),
                "roleplayer": Role("roleplayer", ROLEPLAYER, sampling=short),
                "oracle": Role("oracle", ORACLE, sampling=SamplingParams(temperature=0.7, max_new_tokens=96)),
                "responder": Role("responder", RESPONDER)}

    def rewards(self) -> Sequence[Reward]:
        """gold_logprob (measurement) and best_dialogue (the SFT selection)."""
        return (gold_logprob, self._best)

    def monitors(self) -> Sequence[Metric]:
        """Attribute recall, gold log-prob, gold recall, questions per dialogue."""
        return (ELICITATION,)

    def evaluation(self) -> Evaluation:
        """Held-out personas, one dialogue each, greedy: ``elicitation/*``."""
        return Evaluation(arena=Elicitation(k=self.k, dialogues=1, keep=1, split="test"), metrics=[ELICITATION],
                          item=item_key)

    def distinct_items(self) -> int | None:
        """Distinct items of the evaluation split (``None`` on ``train``: drawn by seed)."""
        return None if self.split == "train" else personas.POOL_SIZE

    async def play(self, match: Match) -> Outcome:
        """Oracle's gold reply, then ``dialogues`` dialogues in lockstep rounds, each scored on it.

        Rounds, not one coroutine per dialogue: every round asks all live dialogues'
        questions (in dialogue order), then all their answers, so ask indices (and seeds)
        do not depend on which row an engine finishes first, and replay is exact.
        """
        item = personas.draw(match.rng, match.seed, self.split)
        gold = await match.ask("oracle", f"{item.card}\n\nYour request: {item.task}\n\nWrite the reply that "
                                         "would suit you best.")
        conversations = [[{"role": "user", "content": opening(item.task)}] for _ in range(self.dialogues)]
        exchanges: list[list[tuple[str, str]]] = [[] for _ in range(self.dialogues)]
        asks: list[list[int]] = [[] for _ in range(self.dialogues)]
        live = list(range(self.dialogues))
        for _ in range(self.k):
            questions: list[Reply] = await match.gather(match.ask("questioner", conversations[i]) for i in live)
            for i, q in zip(live, questions, strict=True):
                asks[i].append(q.ask)
            asking = [(i, q) for i, q in zip(live, questions, strict=True)
                      if not q.text.strip().upper().startswith("DONE")]
            answers: list[Reply] = await match.gather(
                match.ask("roleplayer", f"{item.card}\n\nYour request to the assistant: {item.task}\n\n"
                                        f"The conversation so far:\n{dialogue_text(exchanges[i])}\n\n"
                                        f"The assistant asks: {q.text}\nYour answer:") for i, q in asking)
            for (i, q), a in zip(asking, answers, strict=True):
                exchanges[i].append((q.text, a.text))
                conversations[i] += [{"role": "assistant", "content": q.text}, {"role": "user", "content": a.text}]
            live = [i for i, _ in asking]
            if not live:
                break
        scored: list[Reply] = await match.gather(
            match.score("responder", f"My request: {item.task}\n\nWhat I told you when you asked:\n"
                                     f"{dialogue_text(exchanges[i])}\n\nNow answer my request.", gold.text)
            for i in range(self.dialogues))
        dialogues = []
        for i, s in enumerate(scored):
            mean = s.loglik / len(s.logprobs) if s.logprobs else FLOOR
            dialogues.append({"question_asks": asks[i], "score_ask": s.ask, "score": max(FLOOR, min(0.0, mean)),
                              "tokens": len(s.logprobs), "exchanges": [list(e) for e in exchanges[i]],
                              "attribute_recall": personas.recall(item.relevant, " ".join(a for _, a in exchanges[i]))})
        scores = [d["score"] for d in dialogues]
        values = {"split": self.split, "item_key": item.key, "persona": item.to_json(), "gold": gold.text,
                  "gold_recall": personas.recall(item.relevant, gold.text), "dialogues": dialogues}
        best = max(range(len(scores)), key=lambda i: (scores[i], -i))
        return Outcome(values, f"{item.name}: {item.task} -> {len(dialogues)} dialogues, log p(gold)/token "
                               f"{', '.join(f'{s:.3g}' for s in scores)}; best {best}")
