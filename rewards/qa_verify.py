"""Rewards of the question/answer/verify arena, read from its transcript's outcome.

Each model-judged reward has a twin scored against the programmatic truth, so a run can
tell whether the verifier is lenient (verdict reward up, truth reward flat).
"""

from __future__ import annotations

from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward


def learnability(p: float) -> float:
    """1 - |2p - 1|: 1 when half the answers are right, 0 when all or none are."""
    return 1.0 - abs(2.0 * p - 1.0)


def _turns(t: Transcript, role: str) -> list[int]:
    return [turn.index for turn in t.turns if turn.role == role]


def _outcome(t: Transcript) -> dict | None:
    return t.outcome if t.outcome and t.outcome.get("valid_question") else None


@reward("solver_verdict")
def solver_verdict(t: Transcript) -> list[Score] | None:
    """1 per solver answer the verifier judged correct, else 0."""
    o = _outcome(t)
    if o is None:
        return None
    return [
        Score("solver", 1.0 if v else 0.0, f"verifier said {'correct' if v else 'incorrect' if v is False else 'nothing parseable'}", turn=i)
        for i, v in zip(_turns(t, "solver"), o["verdicts"], strict=True)
    ]


@reward("solver_truth")
def solver_truth(t: Transcript) -> list[Score] | None:
    """1 per solver answer equal to the true value of the expression, else 0."""
    o = _outcome(t)
    if o is None:
        return None
    return [
        Score("solver", 1.0 if ok else 0.0, f"answer {a!r} vs truth {o['truth']}", turn=i)
        for i, a, ok in zip(_turns(t, "solver"), o["answers"], o["answers_correct"], strict=True)
    ]


def _questioner(t: Transcript, judged: list[bool]) -> list[Score]:
    if not t.outcome or not t.outcome.get("valid_question"):
        return [Score("questioner", -1.0, "no valid question after retries (format penalty)")]
    p = sum(judged) / len(judged)
    return [Score("questioner", learnability(p), f"{sum(judged)}/{len(judged)} right: p={p:.2f}")]


@reward("questioner_learnability")
def questioner_learnability(t: Transcript) -> list[Score] | None:
    """Learnability of the question as judged by the verifier."""
    o = t.outcome or {}
    return _questioner(t, [bool(v) for v in o.get("verdicts", [])])


@reward("questioner_truth")
def questioner_truth(t: Transcript) -> list[Score] | None:
    """Learnability against the truth; 0 when the reference answer itself is wrong."""
    o = t.outcome or {}
    scores = _questioner(t, list(o.get("answers_correct", [])))
    if o.get("valid_question") and not o.get("reference_correct"):
        return [Score("questioner", 0.0, f"reference {o['reference']} != truth {o['truth']}")]
    return scores


def _majority(verdicts: list[bool | None]) -> bool:
    yes = sum(1 for v in verdicts if v)
    return yes * 2 > len(verdicts)


@reward("verifier_majority")
def verifier_majority(t: Transcript) -> list[Score] | None:
    """1 per verdict that agrees with the majority of this match's verdicts."""
    o = _outcome(t)
    if o is None:
        return None
    major = _majority(o["verdicts"])
    return [
        Score("verifier", 1.0 if v is major else 0.0, f"verdict {v} vs majority {major}", turn=i)
        for i, v in zip(_turns(t, "verifier"), o["verdicts"], strict=True)
    ]


@reward("verifier_truth")
def verifier_truth(t: Transcript) -> list[Score] | None:
    """1 per verdict that matches whether the answer is truly correct."""
    o = _outcome(t)
    if o is None:
        return None
    return [
        Score("verifier", 1.0 if v is ok else 0.0, f"verdict {v} vs truly {'right' if ok else 'wrong'}", turn=i)
        for i, v, ok in zip(_turns(t, "verifier"), o["verdicts"], o["answers_correct"], strict=True)
    ]


QA_VERIFY_REWARDS: tuple[Reward, ...] = (
    solver_verdict, solver_truth, questioner_learnability, questioner_truth,
    verifier_majority, verifier_truth,
)
