"""Judge training with verifiable pairs, judged in both orders: J1 (``sparring/judge-training-v1``).

Seats and what each sees:
    responder (frozen: a recipe leaves it on the base weights): writes the candidate
        answers. It sees one prompt of the task family's split (training: drawn from the
        match seed; validation / test: item ``seed`` of the split), or a noised prompt
        (below). Never sees a verdict or the checker.
    judge (trained): the prompt and the pair, labelled A and B, in J1's
        thinking-then-verdict format (:data:`~sparring.rewards.judge_prompts.THINKING`:
        criteria, its own answer and the comparison inside ``<think> ... </think>``, then
        ``Winner: A`` or ``Winner: B``; the last ``Winner:`` line counts, a tie or no
        verdict is wrong). The pair is asked in both orders, ``judgements`` samples each.
        Never sees which reply is the better one, the checker, or the other order's verdicts.

Pairs with a known better reply (``source``):
    ``answers`` (verifiable, J1's MATH pairs): the responder answers ``samples`` times; the
        family's checker splits them. Chosen: a correct sample (drawn with the match's
        rng), or the family's reference reply when none is correct; rejected: an incorrect
        sample. When every sample is correct the match has no pair and the judge is not
        asked (the outcome says so; no reward).
    ``noised`` (Self-Taught Evaluator's pairs, J1's WildChat half): the responder answers
        the prompt (chosen) and a *noised* prompt (rejected): another item of the same
        family, split and difficulty, drawn from the match's rng, so the rejected reply
        answers a different instruction.
    ``mixed``: each match picks one of the two with its rng (J1 trains on both kinds).
In held-out play the candidates are sampled at ``candidate_temperature`` with the match's
seeds even when the evaluation is greedy (greedy samples would be alike and leave no
pair), so every checkpoint of the judge sees the same pairs; the judge is greedy there.

Rewards (per judge turn, in [0, 1]; the k-th judgement of one order is paired with the
k-th of the other):
    ``judge_consistent`` (default, J1's position-consistent reward): 1 when both verdicts
        of the k-th pair are right (``A`` with the chosen first, ``B`` with it second),
        else 0; both turns of the pair get it. A judge that always names one position
        earns nothing.
    ``judge_correct``: 1 when the turn's own verdict is right, whatever the other order
        said (the per-order reward J1 compares against; position bias still pays half).
GRPO groups (``default_groups = {"judge": "depth"}``): all ``2 * judgements`` verdicts of
a match's pair, both orders, form one group.

Monitors: ``judge/accuracy`` (verdicts right), ``judge/consistent_accuracy`` (pairs right
in both orders), ``judge/position_consistency`` (verdict pairs that agree once the swap is
undone), ``pairs/checker_agrees`` (the checker scores the chosen reply above the
rejected one, against the original prompt: how often the constructed label is true; the
noised pairs assume it). Evaluation: this arena on the family's held-out split, one
judgement per order, greedy: ``judge_consistent_accuracy`` (the headline) and
``judge_accuracy``.

Paper: Whitehouse et al., "J1: Incentivizing Thinking in LLM-as-a-Judge via Reinforcement
Learning" (2025): synthetic pairs with a known better response (WildChat prompts with a
rejected reply to a noised instruction, after Self-Taught Evaluator, Wang et al. 2024;
MATH prompts with a correct over an incorrect sampled solution), a thinking-then-verdict
judge prompt, GRPO on the judge; against position bias both orders are trained and the
verdict reward is paid only when the judge is right in both orders.

Departures (each also in ``docs/arenas.md``):
    - The noised instruction is another seeded item of the family, not an LLM's rewrite
      of the prompt into a similar but subtly different one; its reply is off-instruction
      by construction, an easier negative than the paper's.
    - When no sample is correct the chosen reply is the family's reference reply (written
      by a program), not a model sample; when all are correct there is no pair.
    - No format reward: a reply without a parsable verdict counts as wrong, which already
      pays for the format; the ``<think>`` tags are asked for, not checked.
    - Both orders are paired sample by sample (k-th with k-th), not over every
      combination of the two orders' samples.
    - No pointwise or multitask judge: the pairwise judge only.

Versions: v1, first version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.instructions import item_key, responder_role, truth_score
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.items import SplitItems
from sparring.arenas.judging import JUDGE_EXAMPLE, judge_role
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import Item, TaskError, difficulty_range, get_family
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.judge_bias import position_consistency_metric
from sparring.rewards.judge_prompts import pairwise_prompt
from sparring.rewards.metrics import Metric, metric

SOURCES = ("answers", "noised", "mixed")
RIGHT = ("A", "B")
"""The right verdict in each order: the chosen reply shown first (A), then second (B)."""
NOISE_TRIES = 16


def _verdicts(transcript: Transcript) -> list[list[str | None]]:
    return (transcript.outcome or {}).get("pairwise_verdicts") or []


def _per_turn(transcript: Transcript, values: Sequence[Sequence[float]], what: str) -> list[Score] | None:
    """``values[order][k]`` onto the judge turns of each order's ask."""
    asks = (transcript.outcome or {}).get("judge_asks")
    if not asks:
        return None
    out = []
    for order, ask in enumerate(asks):
        turns = [t.index for t in transcript.turns if t.role == "judge" and t.ask == ask]
        out += [Score("judge", v, f"{what}: {v:g}", turn=i) for i, v in zip(turns, values[order], strict=True)]
    return out or None


@reward("judge_consistent", bounds=(0.0, 1.0))
def judge_consistent(transcript: Transcript) -> list[Score] | None:
    """1 when the k-th verdicts of both orders are right (J1's position-consistent reward)."""
    both = [float(first == RIGHT[0] and second == RIGHT[1]) for first, second in _verdicts(transcript)]
    return _per_turn(transcript, (both, both), "right in both orders")


@reward("judge_correct", bounds=(0.0, 1.0))
def judge_correct(transcript: Transcript) -> list[Score] | None:
    """1 when the turn's own verdict is right (the other order is not read)."""
    pairs = _verdicts(transcript)
    own = [[float(pair[order] == RIGHT[order]) for pair in pairs] for order in (0, 1)]
    return _per_turn(transcript, own, "verdict right")


@metric("judge/accuracy", per_match=True)
def judge_accuracy(transcript: Transcript) -> float | None:
    """Share of a match's verdicts that are right (both orders pooled)."""
    pairs = _verdicts(transcript)
    right = [pair[order] == RIGHT[order] for pair in pairs for order in (0, 1)]
    return sum(right) / len(right) if right else None


@metric("judge/consistent_accuracy", per_match=True)
def consistent_accuracy(transcript: Transcript) -> float | None:
    """Share of a match's verdict pairs that are right in both orders."""
    pairs = _verdicts(transcript)
    return sum(a == RIGHT[0] and b == RIGHT[1] for a, b in pairs) / len(pairs) if pairs else None


@metric("pairs/checker_agrees", per_match=True)
def checker_agrees(transcript: Transcript) -> bool | None:
    """The checker scores the chosen reply above the rejected one (on the original prompt)."""
    outcome = transcript.outcome or {}
    if outcome.get("chosen") is None:
        return None
    return outcome["truth_chosen"] > outcome["truth_rejected"]


JUDGE_TRAINING_MONITORS: tuple[Metric, ...] = (judge_accuracy, consistent_accuracy, position_consistency_metric(),
                                               checker_agrees)
JUDGE_EVAL_METRICS: tuple[Metric, ...] = (Metric("judge_consistent_accuracy", consistent_accuracy.fn, per_match=True),
                                          Metric("judge_accuracy", judge_accuracy.fn, per_match=True))
"""The held-out names (``eval/judge_consistent_accuracy``, the headline, and ``eval/judge_accuracy``)."""


class JudgeTraining(SplitItems, Arena):
    """A pair with a known better reply, judged in both orders by a thinking judge (J1).

    Args:
        family: Task family (name, ``.jsonl`` path or ``module:attribute``).
        difficulty: A difficulty or an inclusive ``[low, high]`` range.
        source: Where pairs come from: ``answers`` (a correct over an incorrect sample),
            ``noised`` (a reply to the prompt over a reply to another prompt) or ``mixed``
            (one of them per match).
        samples: Responder samples per prompt with ``answers`` (2 to 8).
        judgements: Judge samples per order (1 to 8); a match's GRPO group holds twice as many.
        candidate_temperature: Sampling temperature of the candidates in held-out play.
        split: ``train`` (training) or ``validation`` / ``test`` (the evaluation variant).
    """

    id = "sparring/judge-training-v1"
    short_name = "judge-training"
    roles = ("responder", "judge")
    reward_bounds = (0.0, 1.0)
    max_turns = 32
    default_rewards = {"judge": "judge_consistent"}
    default_groups = {"judge": "depth"}  # both orders of the pair share one baseline
    examples = {"judge": [JUDGE_EXAMPLE, "<think>A is right.</think>\nWinner: A",
                          "<think>B is right.</think>\nWinner: B"]}

    def __init__(self, family: str = "arithmetic", difficulty: int | Sequence[int] = (1, 2), source: str = "mixed",
                 samples: int = 4, judgements: int = 4, candidate_temperature: float = 1.0,
                 split: str = "train") -> None:
        super().__init__()
        self.family = get_family(family)
        self.difficulty = difficulty_range(difficulty, self.family)
        if source not in SOURCES:
            raise TaskError(f"source must be one of {', '.join(SOURCES)} (where pairs come from), got {source!r}")
        for name, value, low, high in (("samples", samples, 2, 8), ("judgements", judgements, 1, 8)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise TaskError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        if isinstance(candidate_temperature, bool) or not isinstance(candidate_temperature, int | float) \
                or not 0 < candidate_temperature <= 2:
            raise TaskError(f"candidate_temperature must be a number in (0, 2] (held-out candidates are sampled so "
                            f"a pair exists), got {candidate_temperature!r}")
        self.set_split(split)
        self.source, self.samples, self.judgements = source, samples, judgements
        self.candidate_temperature = float(candidate_temperature)

    def default_roles(self) -> dict[str, Role]:
        """The responder of respond-judge and its pairwise judge (same system prompts, so a
        judge trained here is asked there as it was trained)."""
        return {"responder": responder_role(self.family), "judge": judge_role("pairwise")}

    def rewards(self) -> Sequence[Reward]:
        """The position-consistent reward (trains) and the per-order one."""
        return (judge_consistent, judge_correct)

    def evaluation(self) -> Evaluation:
        """The family's held-out split, one judgement per order, greedy judge."""
        kwargs = {**self.kwargs, "judgements": 1, "split": "test"}
        return Evaluation(arena=JudgeTraining(**kwargs), metrics=JUDGE_EVAL_METRICS, item=item_key)

    def monitors(self) -> Sequence[Metric]:
        """Accuracy, consistent accuracy, position consistency, how often the label checks."""
        return JUDGE_TRAINING_MONITORS

    def _noised(self, match: Match, item: Item) -> Item | None:
        """Another item of the same split and difficulty (``None`` when every try repeats it)."""
        for _ in range(NOISE_TRIES):
            other = self.family.sample(match.rng, item.difficulty, self.split)
            if other.prompt != item.prompt:
                return other
        return None

    async def _pair(self, match: Match, item: Item, source: str) -> dict[str, Any]:
        """The candidates and the pair (chosen, rejected) or ``None`` for each."""
        sampling = {} if self.split == "train" else {"temperature": self.candidate_temperature}
        if source == "noised":
            noised = self._noised(match, item)
            if noised is None:
                return {"noised_prompt": None, "candidates": [], "chosen": None, "rejected": None}
            own, other = await match.gather([match.ask("responder", item.prompt, **sampling),
                                             match.ask("responder", noised.prompt, **sampling)])
            return {"noised_prompt": noised.prompt, "candidates": [own.text, other.text], "chosen": own.text,
                    "rejected": other.text, "chosen_from": "sample", "rejected_from": "noised"}
        replies: list[Reply] = await match.ask("responder", item.prompt, n=self.samples, **sampling)
        correct = [self.family.check(r.parsed if r.ok else None, item.answer) for r in replies]
        right = [r.text for r, ok in zip(replies, correct, strict=True) if ok]
        wrong = [r.text for r, ok in zip(replies, correct, strict=True) if not ok]
        chosen = match.rng.choice(right) if right else item.reference
        return {"candidates": [r.text for r in replies], "candidates_correct": correct, "chosen": chosen,
                "rejected": match.rng.choice(wrong) if wrong else None,
                "chosen_from": "sample" if right else "reference", "rejected_from": "sample"}

    async def play(self, match: Match) -> Outcome:
        """Draw the item, build the pair, judge it in both orders."""
        item = self.draw_item(match)
        source = match.rng.choice(("answers", "noised")) if self.source == "mixed" else self.source
        pair = await self._pair(match, item, source)
        values: dict[str, Any] = {"family": self.family.name, "difficulty": item.difficulty, "split": self.split,
                                  "source": source, "prompt": item.prompt, "item_key": item.key, "truth": item.answer,
                                  **pair, "pairwise_verdicts": [], "judge_asks": []}
        chosen, rejected = pair["chosen"], pair["rejected"]
        if chosen is None or rejected is None:
            return Outcome(values, f"{item.prompt[:60]}: no pair ({source})")
        # the checker against the original prompt: whether the constructed label holds
        values["truth_chosen"] = truth_score(self.family, chosen, _parse(self.family, chosen), item.answer)
        values["truth_rejected"] = truth_score(self.family, rejected, _parse(self.family, rejected), item.answer)
        orders = [pairwise_prompt(item.prompt, chosen, rejected, thinking=True),
                  pairwise_prompt(item.prompt, rejected, chosen, thinking=True)]
        judged: list[list[Reply]] = await match.gather([match.ask("judge", p, n=self.judgements) for p in orders])
        verdicts = [[r.parsed if r.ok else None for r in replies] for replies in judged]
        values["judge_asks"] = [replies[0].ask for replies in judged]
        values["pairwise_verdicts"] = [list(pair) for pair in zip(*verdicts, strict=True)]
        both = sum(a == RIGHT[0] and b == RIGHT[1] for a, b in values["pairwise_verdicts"])
        return Outcome(values, f"{item.prompt[:60]} ({source}): right in both orders {both}/{self.judgements}")


def _parse(family: Any, text: str) -> Any:
    try:
        return family.parser(text)
    except ValueError:
        return None
