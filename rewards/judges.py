"""Judges: the pieces arenas with a judge share, gathered under one name.

An arena with a judge (a seat that scores other seats' replies, or a reward that checks
an answer) draws on these modules; everything in them is a pure function of text,
numbers or stored transcripts, and nothing calls a model:

- :mod:`sparring.rewards.equivalence`: answer equivalence (text, numbers, ``sympy``) and
  the library's one majority vote.
- :mod:`sparring.rewards.judge_prompts`: pointwise, pairwise and yes/no verdict judge
  prompts, their parsers, the order swap.
- :mod:`sparring.rewards.confidence`: P(True) read at the verdict token, self-certainty,
  mean token log-prob.
- :mod:`sparring.rewards.penalties`: format penalties.
- :mod:`sparring.rewards.judge_bias`: DBG self-preference bias and position consistency
  (pure functions and ``Metric`` factories).

This module re-exports their public names (``sparring.rewards.judges.equivalent``,
``from sparring.rewards import judges as J``), so a judged recipe's functions keep one
import path; library code imports the concept module itself.
"""

from sparring.rewards.confidence import (
    mean_token_logprob,
    p_true,
    self_certainty,
    verdict_p_true,
    verdict_position,
)
from sparring.rewards.equivalence import (
    MAX_EXPONENT,
    MAX_EXPRESSION,
    as_number,
    equivalent,
    majority_vote,
    math_equal,
    normalise_answer,
    numeric_equal,
)
from sparring.rewards.judge_bias import (
    gold_verdicts,
    gold_win_rates,
    position_consistency,
    position_consistency_metric,
    self_preference_bias,
    self_preference_metric,
)
from sparring.rewards.judge_prompts import (
    MAX_SCORE,
    RUBRIC,
    pairwise_preference,
    pairwise_prompt,
    parse_score,
    parse_verdict,
    parse_winner,
    pointwise_prompt,
    position_consistent,
    verdict_prompt,
)
from sparring.rewards.penalties import format_penalty

__all__ = [
    "MAX_EXPONENT", "MAX_EXPRESSION", "MAX_SCORE", "RUBRIC", "as_number", "equivalent", "format_penalty",
    "gold_verdicts", "gold_win_rates", "majority_vote", "math_equal", "mean_token_logprob", "normalise_answer",
    "numeric_equal", "p_true", "pairwise_preference", "pairwise_prompt", "parse_score", "parse_verdict",
    "parse_winner", "pointwise_prompt", "position_consistency", "position_consistency_metric",
    "position_consistent", "self_certainty", "self_preference_bias", "self_preference_metric",
    "verdict_p_true", "verdict_position", "verdict_prompt",
]
