"""Two-turn self-correction on a task family: SCoRe (``sparring/self-correct-v1``).

Seats and what each sees:
    solver (one seat, one adapter, two turns): first the family's prompt (training split,
        or ``split = "held_out"`` for evaluation), answered ``samples`` times, each ending
        with ``Answer: <answer>``. Then, for each first attempt, the same conversation
        continued: the prompt, its own first attempt as the assistant turn, and the review
        instruction (SCoRe's): "There might be an error in the solution above because of
        lack of understanding of the question. Please correct the error, if any, and
        rewrite the solution. End with 'Answer: <answer>'.", answered ``revisions`` times.
        The solver never sees the truth.

Rewards (``r1``, ``r2``: 1 when the first / second attempt checks against the family's
truth, else 0; programmatic truth, so this method is *not* label-free):
    ``first_truth`` (first-attempt turns, [0, 1]): ``r1``.
    ``second_truth`` (second-attempt turns, [0, 1]): ``r2``.
    ``stage_one`` (SCoRe stage I, [0, 1]): second attempts get ``r2``; first attempts get
        a constant 0, so their group-relative advantage is 0 and the only force on them is
        the update's KL penalty to the base (GRPO/RLOO with ``train.kl_coef > 0``,
        ``runs/training/algorithms.py``): the first attempt is kept close to the base while the
        second learns to correct it.
    ``stage_two`` (SCoRe stage II, [-α, 2 + α]): a second attempt gets the shaped reward
        ``r̂2 = r2 + α·(r2 − r1)`` (the correction bonus: +α for wrong→right, −α for
        right→wrong); a first attempt gets its return ``r1 + mean(r̂2)`` over its
        revisions (the two turns are one episode, as in SCoRe's multi-turn REINFORCE).
    The arena argument ``stage`` (1 or 2) picks the default training reward; ``alpha`` is
    the bonus weight α (default 1.0).

Monitors and evaluation: ``self_correction/<key>`` over (first right, second right) pairs
(every first attempt with each of its revisions): the transition counts ``right_right``,
``right_wrong``, ``wrong_right``, ``wrong_wrong``, ``accuracy_first``,
``accuracy_second``, ``delta`` (accuracy_second - accuracy_first), and the
confidence/critique decomposition ``kept_rate = P(right₂ | right₁)`` (a right answer
survives review) and ``fixed_rate = P(right₂ | wrong₁)`` (a wrong one is repaired)
(:func:`sparring.rewards.measurements.correction_decomposition`). The declared evaluation
plays this arena on the held-out split with one attempt and one revision, greedy, and
reports the same metrics (``eval/self_correction/accuracy_second`` is the headline).

Paper: Kumar et al., "Training Language Models to Self-Correct via Reinforcement
Learning" (SCoRe, 2024): stage I maximises the second attempt's reward with a strong KL
keeping the first attempt at the base model (avoiding collapse to "never change the
answer"); stage II trains both attempts with the shaped bonus α·(r̂(y2) − r̂(y1)).
Grouping: the arena declares ``default_groups = {"solver": "depth"}``
(:data:`sparring.rewards.builders.GROUPINGS`): the first attempts of a match form one
group, and *all* its second attempts (``samples * revisions``, across first attempts)
another, so their baseline is the mean shaped reward over every revision of the task and
a wrong→right revision (``1 + α``) gets a larger advantage than a right→right one (``1``).
Grouping the revisions of one first attempt (``roles.solver.group = "ask"``) would fix
``r1`` within each group, and GRPO's centring would remove ``α·(r2 − r1)`` entirely (its
std scaling the rest of α's effect): the bonus would cancel.

Departures: SCoRe optimises the shaped return with a policy gradient (REINFORCE with a
KL penalty); here it is GRPO with a group-mean baseline (the recipe turns the std scaling
off: ``train.normalize_std = false``); the KL weight is one per update
(``train.kl_coef``), not a separate, larger weight on the first turn; a stage is one run
(stage II warm-starts from stage I with ``adapters.<name>.init_from``), not a schedule
inside one run; rewards come from the family's checker instead of the paper's MATH / code
test oracles.

Versions: v1, first version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.task_eval import item_key
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.items import SplitItems
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import TaskError, difficulty_range, get_family, solver_role
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import FunctionReward, Reward, Score, reward
from sparring.rewards.measurements import correction_metric
from sparring.rewards.metrics import Metric

REVIEW = ("There might be an error in the solution above because of lack of understanding of the question. "
          "Please correct the error, if any, and rewrite the solution. End with 'Answer: <answer>'.")


def _attempts(transcript: Transcript) -> tuple[list[int], list[list[int]]] | None:
    """Turn indices of the first attempts, and of each first attempt's revisions."""
    outcome = transcript.outcome or {}
    if "first_ask" not in outcome:
        return None
    by_ask: dict[int, list[int]] = {}
    for turn in transcript.turns:
        if turn.role == "solver":
            by_ask.setdefault(turn.ask, []).append(turn.index)
    return by_ask.get(outcome["first_ask"], []), [by_ask.get(a, []) for a in outcome["review_asks"]]


def transitions(transcript: Transcript) -> list[tuple[bool, bool]]:
    """(first right, second right) for every first attempt and each of its revisions."""
    outcome = transcript.outcome or {}
    return [(bool(r1), bool(r2)) for r1, seconds in zip(outcome.get("first_correct", []), outcome.get("second_correct", []),
                                                        strict=True) for r2 in seconds]


@reward("first_truth", bounds=(0.0, 1.0))
def first_truth(transcript: Transcript) -> list[Score] | None:
    """r1: 1 per first attempt that checks against the truth."""
    turns = _attempts(transcript)
    if turns is None:
        return None
    outcome = transcript.outcome or {}
    return [Score("solver", float(ok), f"first attempt {a!r} vs truth {outcome['truth']!r}", turn=i)
            for i, a, ok in zip(turns[0], outcome["first_answers"], outcome["first_correct"], strict=True)]


@reward("second_truth", bounds=(0.0, 1.0))
def second_truth(transcript: Transcript) -> list[Score] | None:
    """r2: 1 per second attempt that checks against the truth."""
    turns = _attempts(transcript)
    if turns is None:
        return None
    outcome = transcript.outcome or {}
    return [Score("solver", float(ok), f"second attempt {a!r} vs truth {outcome['truth']!r}", turn=i)
            for idx, answers, oks in zip(turns[1], outcome["second_answers"], outcome["second_correct"], strict=True)
            for i, a, ok in zip(idx, answers, oks, strict=True)]


@reward("stage_one", bounds=(0.0, 1.0))
def stage_one(transcript: Transcript) -> list[Score] | None:
    """SCoRe stage I: r2 on second attempts, 0 on first attempts (only the KL acts there)."""
    turns = _attempts(transcript)
    if turns is None:
        return None
    first = [Score("solver", 0.0, "stage I: first attempt not rewarded (kept near the base by the update's KL)",
                   turn=i) for i in turns[0]]
    return first + (second_truth(transcript) or [])


def shaped(r1: float, r2: float, alpha: float) -> float:
    """SCoRe's second-attempt reward with the correction bonus: ``r2 + alpha * (r2 - r1)``."""
    return r2 + alpha * (r2 - r1)


def stage_two_reward(alpha: float) -> FunctionReward:
    """SCoRe stage II with bonus weight ``alpha``: ``r2 + α(r2 − r1)`` on second attempts,
    the episode return ``r1 + mean(r̂2)`` on first attempts; bounds ``[-α, 2 + α]``."""
    def score(transcript: Transcript) -> list[Score] | None:
        turns = _attempts(transcript)
        if turns is None:
            return None
        outcome = transcript.outcome or {}
        firsts, seconds = [], []
        for i, r1, idx, oks in zip(turns[0], outcome["first_correct"], turns[1], outcome["second_correct"], strict=True):
            values = [shaped(float(r1), float(r2), alpha) for r2 in oks]
            seconds += [Score("solver", v, f"r2 + α(r2 - r1) = {float(r2):g} + {alpha:g}·({float(r2):g} - "
                                           f"{float(r1):g}) = {v:g}", turn=j)
                        for j, r2, v in zip(idx, oks, values, strict=True)]
            ret = float(r1) + (sum(values) / len(values) if values else 0.0)
            firsts.append(Score("solver", ret, f"r1 + mean shaped r2 of {len(values)} revision(s) = {float(r1):g} + "
                                               f"{ret - float(r1):g} = {ret:g}", turn=i))
        return firsts + seconds
    return FunctionReward("stage_two", score, bounds=(-alpha, 2.0 + alpha))


SELF_CORRECTION = correction_metric(transitions, name="self_correction")


class SelfCorrect(SplitItems, Arena):
    """The solver answers, then reviews and fixes its own answer (two turns, one seat).

    Args:
        family: Task family (name, ``.jsonl`` path or ``module:attribute``).
        difficulty: A difficulty or an inclusive ``[low, high]`` range drawn per match.
        samples: First attempts per prompt (one GRPO group).
        revisions: Second attempts per first attempt (all ``samples * revisions`` second
            attempts of a match form one GRPO group).
        alpha: Weight α of the correction bonus in ``stage_two`` (0 to 10).
        stage: 1 or 2: which SCoRe stage's reward trains the solver by default.
        split: ``train`` (training) or ``held_out`` (the evaluation variant).
    """

    id = "sparring/self-correct-v1"
    short_name = "self-correct"
    roles = ("solver",)
    default_groups = {"solver": "depth"}  # second attempts share one baseline across first attempts
    reward_bounds = (-10.0, 12.0)
    max_turns = 64

    def __init__(self, family: str = "arithmetic", difficulty: int | Sequence[int] = (1, 2), samples: int = 4,
                 revisions: int = 2, alpha: float = 1.0, stage: int = 2, split: str = "train") -> None:
        super().__init__()
        self.family = get_family(family)
        self.difficulty = difficulty_range(difficulty, self.family)
        for name, value in (("samples", samples), ("revisions", revisions)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TaskError(f"{name} must be a positive integer, got {value!r}")
        if samples * (1 + revisions) > self.max_turns:
            raise TaskError(f"samples * (1 + revisions) must be at most {self.max_turns}, got {samples} * "
                            f"(1 + {revisions}); lower samples or revisions")
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 <= alpha <= 10:
            raise TaskError(f"alpha must be a number in [0, 10], got {alpha!r}")
        if stage not in (1, 2) or isinstance(stage, bool):
            raise TaskError(f"stage must be 1 or 2 (SCoRe's stages), got {stage!r}")
        self.set_split(split)
        self.samples, self.revisions, self.alpha = samples, revisions, float(alpha)
        self.reward_bounds = (-self.alpha, 2.0 + self.alpha)  # type: ignore[misc]
        self.default_rewards = {"solver": "stage_one" if stage == 1 else "stage_two"}  # type: ignore[misc]
        self._stage_two = stage_two_reward(self.alpha)

    def default_roles(self) -> dict[str, Role]:
        """A solver whose parser reads the family's kind of answer."""
        return {"solver": solver_role(self.family)}

    def rewards(self) -> Sequence[Reward]:
        """r1, r2 (measurement) and the two SCoRe stage rewards."""
        return (first_truth, second_truth, stage_one, self._stage_two)

    def evaluation(self) -> Evaluation:
        """Held-out split, one attempt and one revision, greedy: ``self_correction/*``."""
        family = str(self.kwargs.get("family", self.family.name))
        variant = SelfCorrect(family=family, difficulty=list(self.difficulty), samples=1, revisions=1,
                              alpha=self.alpha, split="test")
        return Evaluation(arena=variant, metrics=[SELF_CORRECTION], item=item_key)

    def monitors(self) -> Sequence[Metric]:
        """Transition counts and the confidence/critique decomposition."""
        return (SELF_CORRECTION,)

    async def play(self, match: Match) -> Outcome:
        """Prompt -> ``samples`` first attempts -> ``revisions`` reviews of each."""
        item = self.draw_item(match)
        firsts: list[Reply] = await match.ask("solver", item.prompt, n=self.samples)

        async def review(first: Reply) -> list[Reply]:
            conversation = [{"role": "user", "content": item.prompt}, {"role": "assistant", "content": first.text},
                            {"role": "user", "content": REVIEW}]
            return await match.ask("solver", conversation, n=self.revisions)

        seconds: list[list[Reply]] = await match.gather(review(f) for f in firsts)
        first_answers = [r.parsed if r.ok else None for r in firsts]
        second_answers = [[r.parsed if r.ok else None for r in rs] for rs in seconds]
        first_correct = [self.family.check(a, item.answer) for a in first_answers]
        second_correct = [[self.family.check(a, item.answer) for a in row] for row in second_answers]
        values: dict[str, Any] = {
            "family": self.family.name, "difficulty": item.difficulty, "split": self.split, "prompt": item.prompt,
            "item_key": item.key, "truth": item.answer, "first_ask": firsts[0].ask,
            "review_asks": [rs[0].ask for rs in seconds], "first_answers": first_answers,
            "first_correct": first_correct, "second_answers": second_answers, "second_correct": second_correct,
        }
        pairs = [(a, b) for a, row in zip(first_correct, second_correct, strict=True) for b in row]
        fixed = sum(1 for a, b in pairs if not a and b)
        broke = sum(1 for a, b in pairs if a and not b)
        return Outcome(values, f"{item.prompt} -> {first_answers!r} then {second_answers!r} (truth {item.answer!r}; "
                               f"{fixed} fixed, {broke} broken)")
