"""Self-play fine-tuning on a task family's reference replies (``sparring/spin-v1``).

Seats and what each sees:
    solver: one prompt of the family's training split (never a held-out one), drawn with
        the match seed at a difficulty in the given range; answers ``samples`` times and
        ends with ``Answer: <answer>``. It never sees the reference reply or the truth.

What the arena offers to updates: ``reference_reply(transcript, turn)`` returns the
family's reference reply for the solver's prompt (``"37 + 58 = 95.\\nAnswer: 95"``), so
the ``spin`` update of the algorithm table (``sparring.runs.training.algorithms``) builds pairs
(reference reply chosen, own sample rejected; a sample identical to the reference makes
no pair) and anchors its loss to a frozen snapshot of the iterate that generated the
samples, moved on every iteration; ``sft`` with ``targets = "reference"`` trains on the
same references (the supervised control).

Rewards (measurement only; SPIN needs none): ``solver_truth`` (per solver turn, in
[0, 1]): 1 when the answer checks against the family's truth. Monitors:
``solver/reference_match_rate``, the share of samples identical to the reference reply
(SPIN's fixed point: when the model reproduces the references, no pairs are left).
Evaluation: the family's held-out split at the same difficulty range, greedy,
``solver_accuracy`` (``sparring/task-eval-v1``).

Paper: Chen, Deng, Yuan, Ji, Gu, "Self-Play Fine-Tuning Converts Weak Language Models to
Strong Language Models" (SPIN, 2024): the opponent is the previous iterate generating
answers to SFT prompts, the main player learns to prefer the human (here: reference)
reply with the DPO-style logistic loss against that iterate. Departures: references are
the family's programmatic reference replies, not a human SFT set; each iteration draws
new prompts from the training split instead of re-using one fixed SFT set.

Versions: v1, first version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.task_eval import TASK_EVAL_METRICS, TaskEval, item_key
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import TaskError, difficulty_range, get_family, solver_role
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric


@reward("solver_truth", bounds=(0.0, 1.0))
def spin_solver_truth(transcript: Transcript) -> list[Score] | None:
    """1 per sample whose answer checks against the family's truth, else 0."""
    outcome = transcript.outcome or {}
    if "truth" not in outcome:
        return None
    turns = [u.index for u in transcript.turns if u.role == "solver"]
    return [Score("solver", 1.0 if ok else 0.0, f"answer {a!r} vs truth {outcome['truth']!r}", turn=i)
            for i, a, ok in zip(turns, outcome["answers"], outcome["answers_correct"], strict=True)]


@metric("solver/reference_match_rate", per_match=True)
def reference_match_rate(transcript: Transcript) -> float | None:
    """Share of a match's samples identical (stripped) to the reference reply."""
    same = (transcript.outcome or {}).get("same_as_reference")
    return sum(same) / len(same) if same else None


class Spin(Arena):
    """The solver answers training-split prompts that have reference replies (for SPIN).

    Args:
        family: Task family (name, ``.jsonl`` path or ``module:attribute``).
        difficulty: A difficulty or an inclusive ``[low, high]`` range drawn per match.
        samples: Samples per prompt (SPIN uses one; more give more pairs per prompt).
    """

    id = "sparring/spin-v1"
    short_name = "spin"
    roles = ("solver",)
    reward_bounds = (0.0, 1.0)
    max_turns = 16

    def __init__(self, family: str = "arithmetic", difficulty: int | Sequence[int] = (1, 2),
                 samples: int = 1) -> None:
        super().__init__()
        self.family = get_family(family)
        self.difficulty = difficulty_range(difficulty, self.family)
        if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= self.max_turns:
            raise TaskError(f"samples must be an integer in 1..{self.max_turns}, got {samples!r}")
        self.samples = samples

    def default_roles(self) -> dict[str, Role]:
        """A solver whose parser reads the family's kind of answer."""
        return {"solver": solver_role(self.family)}

    def rewards(self) -> Sequence[Reward]:
        """Accuracy against the truth (measurement; the spin update uses references)."""
        return (spin_solver_truth,)

    def evaluation(self) -> Evaluation:
        """The family's held-out split at the same difficulty range, greedy: ``solver_accuracy``."""
        family = str(self.kwargs.get("family", self.family.name))
        return Evaluation(arena=TaskEval(family=family, difficulty=list(self.difficulty)),
                          metrics=TASK_EVAL_METRICS, item=item_key)

    def monitors(self) -> Sequence[Metric]:
        """Share of samples identical to the reference."""
        return (reference_match_rate,)

    async def play(self, match: Match) -> Outcome:
        """One training-split prompt, ``samples`` answers."""
        low, high = self.difficulty
        item = self.family.sample(match.rng, match.rng.randint(low, high), "train")
        replies: list[Reply] = await match.ask("solver", item.prompt, n=self.samples)
        answers = [r.parsed if r.ok else None for r in replies]
        correct = [self.family.check(a, item.answer) for a in answers]
        values = {"family": self.family.name, "difficulty": item.difficulty, "prompt": item.prompt,
                  "item_key": item.key, "truth": item.answer, "reference": item.reference, "answers": answers,
                  "answers_correct": correct,
                  "same_as_reference": [r.text.strip() == item.reference.strip() for r in replies]}
        return Outcome(values, f"{item.prompt} -> {answers!r} (truth {item.answer!r}, {sum(correct)} right)")

    def reference_reply(self, transcript: Any, turn: Any) -> str | None:
        """The family's reference reply for a solver turn (``None`` for anything else)."""
        outcome = transcript.outcome or {}
        return outcome.get("reference") if turn.role == "solver" else None
