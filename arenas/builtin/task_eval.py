"""Held-out solver accuracy on a task family (``sparring/task-eval-v1``).

Seats and what each sees:
    solver: one prompt of the family's held-out split (never produced by its training
        split), drawn from the match seed at a difficulty in the given range; answers
        greedily (temperature 0) and ends with ``Answer: <answer>``.

Programmatic truth: the family's answer for the item, logged in the outcome with the
parsed answer and whether the family's checker accepts it; the solver never sees it.

Rewards (in [0, 1]): ``eval_solver_truth``, 1 when the answer checks against the truth.

Metrics (``TASK_EVAL_METRICS``): ``solver_accuracy`` (share of held-out items answered
right). This arena is the declared evaluation of ``propose-solve`` and ``spin``
(``Evaluation(arena=TaskEval(family, difficulty), item=item_key)``); held-out items whose
prompt a training match also produced (e.g. a proposer wrote it) are left out of the
metrics and counted.

Versions: v1, first version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.items import SplitItems
from sparring.arenas.match import Match
from sparring.arenas.tasks import difficulty_range, get_family, solver_role
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric


def item_key(transcript: Transcript) -> str | None:
    """The normalised prompt a task match is about (``outcome["item_key"]``)."""
    return (transcript.outcome or {}).get("item_key") or None


@reward("eval_solver_truth", bounds=(0.0, 1.0))
def eval_solver_truth(transcript: Transcript) -> list[Score] | None:
    """1 when the solver's answer checks against the family's truth, else 0."""
    outcome = transcript.outcome or {}
    turns = [u.index for u in transcript.turns if u.role == "solver"]
    if not turns or "truth" not in outcome:
        return None
    return [Score("solver", float(bool(outcome.get("correct"))), f"answer {outcome.get('answer')!r} vs truth {outcome['truth']!r}",
                  turn=turns[0])]


@metric("solver_accuracy", per_match=True)
def solver_accuracy(transcript: Transcript) -> bool | None:
    """The greedy answer checks against the truth."""
    outcome = transcript.outcome or {}
    return bool(outcome.get("correct")) if "truth" in outcome else None


TASK_EVAL_METRICS: tuple[Metric, ...] = (solver_accuracy,)


class TaskEval(SplitItems, Arena):
    """One held-out item of a task family per match, answered greedily.

    Args:
        family: Task family name, ``.jsonl`` path or ``module:attribute``
            (see :mod:`sparring.arenas.tasks`).
        difficulty: A difficulty, or an inclusive ``[low, high]`` range drawn per match.
        split: ``held_out`` (default) or ``train``.
    """

    id = "sparring/task-eval-v1"
    short_name = "task-eval"
    roles = ("solver",)
    reward_bounds = (0.0, 1.0)
    max_turns = 1

    def __init__(self, family: str = "arithmetic", difficulty: int | Sequence[int] = (1, 2),
                 split: str = "test") -> None:
        super().__init__()
        self.family = get_family(family)
        self.difficulty = difficulty_range(difficulty, self.family)
        self.set_split(split)

    def default_roles(self) -> dict[str, Role]:
        """A solver whose parser reads the family's kind of answer."""
        return {"solver": solver_role(self.family, temperature=0.0)}  # greedy unless a recipe's eval.temperature

    def rewards(self) -> Sequence[Reward]:
        """Accuracy against the truth."""
        return (eval_solver_truth,)

    def evaluation(self) -> Evaluation:
        """Played as is (greedy); reports ``solver_accuracy``."""
        return Evaluation(metrics=TASK_EVAL_METRICS, item=item_key)

    async def play(self, match: Match) -> Outcome:
        """One item of the split, one answer (greedy: the role's default temperature is 0)."""
        item = self.draw_item(match)
        reply = await match.ask("solver", item.prompt)
        answer = reply.parsed if reply.ok else None
        correct = self.family.check(answer, item.answer)
        values = {"family": self.family.name, "difficulty": item.difficulty, "prompt": item.prompt,
                  "item_key": item.key, "truth": item.answer, "reference": item.reference,
                  "answer": answer, "correct": correct}
        return Outcome(values, f"{item.prompt} -> {answer!r} (truth {item.answer!r}, {'right' if correct else 'wrong'})")

    def reference_reply(self, transcript: Any, turn: Any) -> str | None:
        """The family's reference reply for the solver's turn."""
        outcome = transcript.outcome or {}
        return outcome.get("reference") if turn.role == "solver" else None
