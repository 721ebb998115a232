"""Judge measurements: DBG self-preference bias and position consistency.

Both are ``Metric`` factories, usable as held-out metrics or monitors:

:func:`self_preference_metric` (DBG, "self-preference bias", Chen et al. 2025): mean
    judge score (in [0, 1]) of a model's own answers minus the mean gold judgement of
    the same answers on the judge's own scale (a verdict judge's P(True) against gold
    yes/no, :func:`gold_verdicts`; a pairwise judge's win rate against the gold win
    rate, :func:`gold_win_rates`); > 0 means the judge rates its own answers above
    their worth. A rubric score has no gold judgement derivable from a checker, so
    the arena gives none for it (the metric is then absent), instead of comparing
    rubric points with a share of constraints met.
:func:`position_consistency_metric`: share of pairwise comparisons whose verdicts
    agree when the order of the two replies is swapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sparring.rewards.judge_prompts import position_consistent
from sparring.rewards.metrics import Metric

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript


def gold_verdicts(truth_scores: Sequence[float | None]) -> list[float | None]:
    """Gold yes/no judgements on the verdict judge's scale: 1.0 when the checker found the
    answer meets every constraint (or is right), else 0.0; ``None`` stays ``None``."""
    return [None if t is None else float(float(t) >= 1.0) for t in truth_scores]


def gold_win_rates(truth_scores: Sequence[float | None]) -> list[float | None]:
    """Gold win rates on the pairwise judge's scale: each answer's mean win (1, tie 1/2,
    loss 0) over the other answers by checker score; ``None`` without a score or a rival."""
    out: list[float | None] = []
    for i, mine in enumerate(truth_scores):
        rivals = [float(t) for j, t in enumerate(truth_scores) if j != i and t is not None]
        if mine is None or not rivals:
            out.append(None)
            continue
        out.append(sum(1.0 if float(mine) > r else 0.5 if float(mine) == r else 0.0 for r in rivals) / len(rivals))
    return out


def self_preference_bias(judge_scores: Sequence[float | None], truth_scores: Sequence[float | None]) -> float | None:
    """DBG: mean judge score minus mean gold score over answers that have both (in [-1, 1]).

    Both must be on the judge's own scale (the gold judgement of the same question the
    judge answered: :func:`gold_verdicts`, :func:`gold_win_rates`), as the DBG score compares
    a judge's score of its own answers with gold judgements of them.
    """
    both = [(j, t) for j, t in zip(judge_scores, truth_scores, strict=True) if j is not None and t is not None]
    if not both:
        return None
    return sum(j - float(t) for j, t in both) / len(both)


def position_consistency(verdicts: Sequence[tuple[str | None, str | None]]) -> float | None:
    """Share of (first order, swapped order) verdict pairs that agree; ``None`` if none is complete."""
    complete = [(a, b) for a, b in verdicts if a is not None and b is not None]
    if not complete:
        return None
    return sum(position_consistent(a, b) for a, b in complete) / len(complete)


def self_preference_metric(name: str = "judge/self_preference_bias", judge_key: str = "judge_scores",
                           truth_key: str = "gold_scores") -> Metric:
    """DBG over transcripts: pooled :func:`self_preference_bias` of the outcome lists
    ``judge_key`` (judge scores in [0, 1]) and ``truth_key`` (gold judgements on the judge's
    own scale, in [0, 1] or bools)."""

    def compute(transcripts: Sequence[Transcript]) -> float | None:
        judged: list[float | None] = []
        truth: list[float | None] = []
        for transcript in transcripts:
            outcome = transcript.outcome or {}
            if isinstance(outcome.get(judge_key), list) and isinstance(outcome.get(truth_key), list):
                judged.extend(outcome[judge_key])
                truth.extend(None if v is None else float(v) for v in outcome[truth_key])
        return self_preference_bias(judged, truth)

    return Metric(name, compute)


def position_consistency_metric(name: str = "judge/position_consistency", key: str = "pairwise_verdicts") -> Metric:
    """:func:`position_consistency` pooled over the outcome lists ``key`` of
    ``[first order, swapped order]`` verdicts (``"A"``, ``"B"``, ``"tie"`` or ``None``)."""

    def compute(transcripts: Sequence[Transcript]) -> float | None:
        pairs = [tuple(v) for t in transcripts for v in (t.outcome or {}).get(key) or []]
        return position_consistency(pairs)  # type: ignore[arg-type]

    return Metric(name, compute)
