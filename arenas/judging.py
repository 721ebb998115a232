"""Judging inside a match: the judge seat's role and the coroutines that ask it.

The arenas with a judge seat (``respond-judge``, ``preference-game``, ``judge-training``) share these; the
prompts, parsers and P(True) they use are in :mod:`sparring.rewards.judge_prompts` and
:mod:`sparring.rewards.confidence`. Each coroutine asks the judge seat of a running
:class:`~sparring.arenas.match.Match` and gathers its replies, so all judgements of a match
batch together:

- :func:`judge_pointwise`: each reply scored on the additive rubric ``repeats`` times.
- :func:`judge_verdicts`: each reply judged yes/no ``repeats`` times, P(True) averaged.
- :func:`round_robin`: every ordered pair of replies judged once, the win matrix.

Also shared: the judge/checker monitors (:func:`truth_agreement`, :data:`truth_score_mean`)
that read a match's judged scores beside its checker's.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.match import Match, Reply
from sparring.arenas.transcript import Transcript
from sparring.rewards.confidence import verdict_p_true
from sparring.rewards.judge_prompts import (
    MAX_SCORE,
    pairwise_preference,
    pairwise_prompt,
    parse_score,
    parse_verdict,
    parse_winner,
    pointwise_prompt,
    verdict_prompt,
)
from sparring.rewards.measurements import mean
from sparring.rewards.metrics import Metric, metric

JUDGE_KINDS = ("pointwise", "pairwise", "verdict")
_PARSERS = {"pointwise": parse_score, "pairwise": parse_winner, "verdict": parse_verdict}
JUDGE_EXAMPLE = "Yes. It follows the instruction.\nMy answer: a short note.\nWinner: A\nScore: 4"
"""A judge reply every kind of judgement parses (the conformance check drives the arena with it)."""


def judge_role(kind: str, name: str = "judge") -> Role:
    """The judge seat: strict, brief; its parser is the given kind's (the arena parses each
    reply by the kind it asked for)."""
    return Role(
        name=name,
        system_prompt="You are a strict, fair judge of responses. Follow the requested output format exactly.",
        parser=_PARSERS[kind],
        sampling=SamplingParams(max_new_tokens=128, temperature=0.7),
    )


def _parsed(kind: str, reply: Reply) -> Any:
    try:
        return _PARSERS[kind](reply.text)
    except ValueError:
        return None


async def judge_pointwise(match: Match, seat: str, prompt: str, replies: Sequence[str], repeats: int,
                          reference: bool = False) -> tuple[list[float | None], list[list[float | None]]]:
    """Each reply scored ``repeats`` times; returns normalised means (``None``: no parse) and raw points."""
    asks = [match.ask(seat, pointwise_prompt(prompt, reply, reference), n=repeats) for reply in replies]
    raw = [[_parsed("pointwise", judgement) for judgement in judgements]
           for judgements in await match.gather(asks)]
    return [None if (points := mean(scores)) is None else points / MAX_SCORE for scores in raw], raw


async def judge_verdicts(match: Match, seat: str, prompt: str, replies: Sequence[str],
                         repeats: int) -> tuple[list[float | None], list[list[float | None]]]:
    """Each reply judged yes/no ``repeats`` times; returns mean P(True) per reply and the raw values."""
    asks = [match.ask(seat, verdict_prompt(prompt, reply), n=repeats) for reply in replies]
    raw = [[verdict_p_true(judgement.text, judgement.logprobs) for judgement in judgements]
           for judgements in await match.gather(asks)]
    return [mean(values) for values in raw], raw


async def round_robin(match: Match, seat: str, prompt: str, replies: Sequence[str], reference: bool = False,
                      thinking: bool = False) -> tuple[list[list[float | None]], list[list[str | None]]]:
    """Every ordered pair judged once; returns the win matrix ``W[i][j]`` (both orders
    averaged, ``None`` on the diagonal and where neither verdict parsed) and the verdicts
    ``[[v(i first, j second), v(j first, i second)] for i < j]``. ``reference``: each
    judgement is self-reference judging (the judge's own answer first); ``thinking``:
    J1's thinking-then-verdict form (the judge a J1 run trained was trained on it)."""
    order = [(i, j) for i, j in itertools.permutations(range(len(replies)), 2)]
    answers = await match.gather([match.ask(seat, pairwise_prompt(prompt, replies[i], replies[j], reference, thinking))
                                  for i, j in order])
    verdict = {pair: _parsed("pairwise", answer) for pair, answer in zip(order, answers, strict=True)}
    n = len(replies)
    matrix: list[list[float | None]] = [[None] * n for _ in range(n)]
    pairs = []
    for i, j in itertools.combinations(range(n), 2):
        preference = pairwise_preference(verdict[(i, j)], verdict[(j, i)])
        matrix[i][j], matrix[j][i] = preference, None if preference is None else 1.0 - preference
        pairs.append([verdict[(i, j)], verdict[(j, i)]])
    return matrix, pairs


# -- judge/checker monitors --------------------------------------------------------------------

def truth_agreement(score_key: str) -> Metric:
    """``judge/truth_agreement``: the reply a match's judge rated highest (the outcome list
    ``score_key``) has the best checker score (``truth_scores``) of those it rated; needs
    two rated replies."""

    def agrees(transcript: Transcript) -> bool | None:
        outcome = transcript.outcome or {}
        rated = [(score, truth) for score, truth in zip(outcome.get(score_key) or [],
                                                        outcome.get("truth_scores") or [], strict=False)
                 if score is not None]
        if len(rated) < 2:
            return None
        return max(rated, key=lambda x: x[0])[1] == max(truth for _, truth in rated)

    return Metric("judge/truth_agreement", agrees, per_match=True)


@metric("truth_score_mean", per_match=True)
def truth_score_mean(transcript: Transcript) -> float | None:
    """Mean checker score of a match's responder replies."""
    truth = (transcript.outcome or {}).get("truth_scores")
    return sum(truth) / len(truth) if truth else None
