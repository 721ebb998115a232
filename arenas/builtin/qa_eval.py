"""Held-out evaluation of solver and verifier on seeded arithmetic (``sparring/qa-eval-v1``).

Seats and what each sees:
    solver: a question ``What is A op B?`` drawn from the match seed; answers greedily.
    verifier: the question, the *true* reference answer and a proposed answer that is
        right or wrong with probability 1/2 (wrong ones are off by a small amount).

Rewards (in [0, 1]): ``eval_solver_truth`` (answer equals the truth) and
``eval_verifier_truth`` (verdict matches whether the proposed answer is right). The
outcome records whether the proposal was right, so the verifier's false-positive rate
(judging a wrong answer correct) is a query over stored transcripts.

Evaluation seeds are kept disjoint from training seeds by the training loop; the
questions never come from the questioner, so the set does not drift with training.

Metrics (``QA_EVAL_METRICS``): ``solver_accuracy``, ``verifier_accuracy`` and
``verifier_false_positive_rate`` (over wrong proposals). This arena is qa-verify's
declared evaluation (``QuestionAnswerVerify.evaluation()``).

Versions: v1, first version (the outcome gained ``expression`` for de-duplication
against training questions; no change to play or rewards).
"""

from __future__ import annotations

from collections.abc import Sequence

from sparring.agents import builtin_roles
from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.arithmetic import evaluate
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.match import Match
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric


@reward("eval_solver_truth", bounds=(0.0, 1.0))
def eval_solver_truth(transcript: Transcript) -> list[Score] | None:
    """1 when the solver's answer equals the truth."""
    outcome = transcript.outcome or {}
    turns = [u.index for u in transcript.turns if u.role == "solver"]
    if not turns:
        return None
    right = outcome.get("answer") == outcome.get("truth")
    return [Score("solver", float(right), f"answer {outcome.get('answer')!r} vs truth {outcome.get('truth')}", turn=turns[0])]


@reward("eval_verifier_truth", bounds=(0.0, 1.0))
def eval_verifier_truth(transcript: Transcript) -> list[Score] | None:
    """1 when the verdict matches whether the proposed answer is right."""
    outcome = transcript.outcome or {}
    turns = [u.index for u in transcript.turns if u.role == "verifier"]
    if not turns:
        return None
    right = outcome.get("verdict") is outcome.get("proposed_correct")
    return [Score("verifier", float(right), f"verdict {outcome.get('verdict')} on a {'right' if outcome.get('proposed_correct') else 'wrong'} answer", turn=turns[0])]


@metric("solver_accuracy", per_match=True)
def solver_accuracy(transcript: Transcript) -> bool | None:
    """The greedy answer equals the truth."""
    outcome = transcript.outcome or {}
    return outcome.get("answer") == outcome["truth"] if "truth" in outcome else None


@metric("verifier_accuracy", per_match=True)
def verifier_accuracy(transcript: Transcript) -> bool | None:
    """The verdict matches whether the proposed answer is right."""
    outcome = transcript.outcome or {}
    return outcome.get("verdict") is outcome.get("proposed_correct") if "truth" in outcome else None


@metric("verifier_false_positive_rate", per_match=True)
def verifier_false_positive_rate(transcript: Transcript) -> bool | None:
    """Over wrong proposals only: the verifier called it correct."""
    outcome = transcript.outcome or {}
    return outcome.get("verdict") is True if "truth" in outcome and not outcome.get("proposed_correct") else None


QA_EVAL_METRICS: tuple[Metric, ...] = (solver_accuracy, verifier_accuracy, verifier_false_positive_rate)


def expression_key(transcript: Transcript) -> str | None:
    """The arithmetic expression a match is about, spacing normalised (``12+34``)."""
    expression = (transcript.outcome or {}).get("expression")
    return "".join(str(expression).split()) if expression else None


class QAEval(Arena):
    """Seeded held-out arithmetic: solver accuracy, verifier accuracy and false positives.

    Args:
        digits: Digits per operand.
        ops: Operations drawn from.
    """

    id = "sparring/qa-eval-v1"
    short_name = "qa-eval"
    roles = ("solver", "verifier")
    reward_bounds = (0.0, 1.0)
    max_turns = 2

    def __init__(self, digits: int = 2, ops: Sequence[str] = ("+", "-")) -> None:
        super().__init__()
        if not 1 <= digits <= 6:
            raise ValueError(f"digits must be in 1..6, got {digits}")
        if not ops or any(o not in "+-*" for o in ops):
            raise ValueError(f"ops must be a non-empty subset of ['+', '-', '*'], got {list(ops)}")
        self.digits = digits
        self.ops = tuple(ops)

    def default_roles(self) -> dict[str, Role]:
        """Built-in solver and verifier."""
        # greedy by default; a recipe's eval.temperature samples them instead
        return {"solver": builtin_roles.solver().bind(temperature=0.0),
                "verifier": builtin_roles.verifier().bind(temperature=0.0)}

    def rewards(self) -> Sequence[Reward]:
        """Solver and verifier accuracy against the truth."""
        return (eval_solver_truth, eval_verifier_truth)

    def evaluation(self) -> Evaluation:
        """Played as is (greedy); reports solver/verifier accuracy and false positives."""
        return Evaluation(metrics=QA_EVAL_METRICS, item=expression_key)

    async def play(self, match: Match) -> Outcome:
        """One question, one greedy answer, one verdict on a right-or-wrong proposal."""
        low, high = 10 ** (self.digits - 1), 10**self.digits - 1
        a, b, op = match.rng.randint(low, high), match.rng.randint(low, high), match.rng.choice(self.ops)
        question = f"What is {a} {op} {b}?"
        truth = evaluate(f"{a} {op} {b}")
        proposed_correct = match.rng.random() < 0.5
        proposed = truth if proposed_correct else truth + match.rng.choice([-10, -2, -1, 1, 2, 10])
        answer, verdict = await match.gather(
            match.ask("solver", question),
            match.ask("verifier", f"Question: {question}\nReference answer: {truth}\n"
                                  f"Proposed answer: {proposed}\nIs the proposed answer correct?"),
        )
        values = {"question": question, "expression": f"{a} {op} {b}", "truth": truth, "answer": answer.parsed,
                  "proposed": proposed, "proposed_correct": proposed_correct,
                  "verdict": verdict.parsed if verdict.ok else None}
        return Outcome(values, f"{question} solver={answer.parsed} truth={truth}; verdict={values['verdict']} on {'right' if proposed_correct else 'wrong'}")
