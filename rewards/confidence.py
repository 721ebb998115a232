"""Confidence read from a model's own reply: P(True) of a verdict, self-certainty.

P(True) (Kadavath et al. 2022) is the judge's probability of the token ``Yes``. The
engine returns only the log-prob of each *sampled* token, under the sampling distribution
(temperature-scaled logits before top-p; raw logits when greedy). So :func:`p_true` returns
``exp(lp)`` when the sampled verdict was yes and ``1 - exp(lp)`` when it was no: exact
when the verdict is one token and the judge's mass is split between the two verdict
tokens; otherwise it approximates P(yes | the verdict is yes or no) from below (no) or
exactly (yes), at the judge's sampling temperature, not at temperature 1.
The log-prob must be the verdict token's: :func:`verdict_p_true` reads it at the first
token only when the verdict word opens the reply (at most one leading space, which BPE
tokenizers fold into the word's token). :func:`~sparring.rewards.judge_prompts.parse_verdict`
also accepts a verdict after leading punctuation (``**Yes**``), but then the first token is
``**``, and a stored reply keeps token ids, not token texts, so the verdict token's position
is unknown: such a judgement parses (its verdict is logged) and has no P(True) (``None``,
like a judgement that does not parse), rather than the probability of the punctuation.

Self-certainty (Kang et al. 2025) is the mean over reply positions of KL(U || p), the
divergence of the next-token distribution from uniform. It needs the full distribution;
:func:`self_certainty` computes it from full log-prob rows, and
:func:`mean_token_logprob` is what stored transcripts allow (the average log-likelihood
of the sampled tokens), a confidence proxy that ranks replies similarly but is not the
same number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from sparring.agents.parsers import ParseError
from sparring.rewards.judge_prompts import parse_verdict


def p_true(verdict: bool, logprobs: Sequence[float], position: int = 0) -> float | None:
    """P(yes) from the log-prob of the verdict token at ``position`` (see the module docs).

    ``exp(lp)`` when the sampled verdict is yes, ``1 - exp(lp)`` when it is no; ``None``
    without a log-prob at that position.
    """
    if not 0 <= position < len(logprobs) or not math.isfinite(logprobs[position]):
        return None
    p = min(1.0, math.exp(min(0.0, logprobs[position])))
    return p if verdict else 1.0 - p


_VERDICT_FIRST = re.compile(r"^ ?(yes|no)\b", re.I)


def verdict_position(text: str) -> int | None:
    """The token index the verdict of ``text`` came from, when it is known from the text
    alone: ``0`` when the verdict word opens the reply (at most one leading space), else
    ``None`` (see the module docs).

    >>> verdict_position("Yes, it does."), verdict_position(" no"), verdict_position("**Yes**")
    (0, 0, None)
    """
    return 0 if _VERDICT_FIRST.match(text) else None


def verdict_p_true(text: str, logprobs: Sequence[float]) -> float | None:
    """P(yes) of a verdict reply, read at the token its verdict came from; ``None`` when the
    reply has no verdict or the verdict token's position is unknown (see the module docs)."""
    try:
        verdict = parse_verdict(text)
    except ParseError:
        return None
    position = verdict_position(text)
    return None if position is None else p_true(verdict, logprobs, position)


def mean_token_logprob(logprobs: Sequence[float]) -> float | None:
    """Average log-prob of a reply's sampled tokens (what stored transcripts allow)."""
    values = [v for v in logprobs if math.isfinite(v)]
    return sum(values) / len(values) if values else None


def self_certainty(rows: Sequence[Sequence[float]]) -> float:
    """Kang et al.'s self-certainty: mean over positions of KL(U || p).

    Each row holds the full next-token log-probs at one position (length V):
    ``KL(U || p) = -log V - (1/V) * sum_j log p_j``; 0 for a uniform distribution,
    larger for peaked ones.
    """
    if not rows:
        raise ValueError("self_certainty needs at least one row of log-probs")
    total = 0.0
    for row in rows:
        if not row:
            raise ValueError("self_certainty: a row of log-probs is empty")
        total += -math.log(len(row)) - sum(row) / len(row)
    return total / len(rows)
