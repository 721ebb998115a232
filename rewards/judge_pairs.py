"""Pair builders for judged self-play: Temporal SR, SCIR, DNO margins, judged win rates.

These complete :mod:`sparring.rewards.builders` for arenas in which a judge seat scores
a policy's replies (``respond-judge``, ``preference-game``). Best/worst pairs from the
judge's scores are :func:`~sparring.rewards.builders.best_worst_pairs` on the judge
reward; CREAM is :func:`~sparring.rewards.builders.consistency_pairs` with the anchor
judge's reward as the previous judgement. What is new here:

- :func:`anchored_pairs` (Temporal Self-Rewarding, "anchored rejection"): chosen = the
  policy's best reply to a prompt, rejected = the *anchor's* worst reply to the same
  prompt (the anchor seat plays the initial model), both by the current judge.
- :func:`future_pairs` (Temporal Self-Rewarding, "future-guided chosen"): chosen = the
  best reply of the *future* model (the policy after a look-ahead update on the anchored
  pairs, answering the same prompt again, judged by the current judge), rejected = the
  anchor's worst reply, as in :func:`anchored_pairs`.
- :func:`agreement_pairs` (SCIR-style): pairs on which several internal judges (rewards
  of the same turns) agree strictly; per prompt the agreed pair with the largest gap of
  the first reward.
- :func:`large_margin_pairs` (DNO): per prompt the best over the worst reply by win rate,
  kept only when the gap is at least ``margin``; hard labels.
- :func:`win_rates_from_matrix` and :func:`judged_win_rates`: SPPO's per-prompt
  ``P(y_i beats the policy | x)`` from a judge's win matrix, used as is (not re-ranked).

An arena tells the algorithm table what these builders need through a
:class:`JudgedPairs` declaration (``arena.judged_pairs()``), so ``sparring.runs`` never
names an arena's seats or rewards.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sparring.agents.updates.batch import GroupSample, PreferencePair
from sparring.rewards.builders import (
    Encoder,
    best_and_worst,
    grpo_groups,
    preference_pair,
    ranked_pairs,
    scored_groups,
    turn_values,
)

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript, Turn


@dataclass(frozen=True)
class JudgedPairs:
    """What an arena with a judge offers the judged pair builders.

    Attributes:
        previous_reward: The reward holding a frozen (previous or initial) judge's scores of
            the same turns (CREAM's previous-iterate ranking); ``None``: not offered.
        anchor_seat: The seat whose replies are the initial model's (Temporal SR's
            anchored rejections); ``None``: not offered.
        agreeing_rewards: Rewards scoring the same turns by different internal judges
            (SCIR keeps pairs they all agree on); the first orders the pairs.
        margin: Smallest win-rate gap of a DNO pair.
    """

    previous_reward: str | None = None
    anchor_seat: str | None = None
    agreeing_rewards: tuple[str, ...] = ()
    margin: float = 0.5


def anchored_pairs(transcripts: Iterable[Transcript], role: str, anchor_seat: str, reward: str,
                   encode: Encoder) -> list[PreferencePair]:
    """Temporal SR: per match and prompt, ``role``'s best reply over ``anchor_seat``'s worst.

    Both are ranked by ``reward`` (the current judge); a pair is made only when the chosen
    reply scores strictly higher and both replies answer the same messages.
    """
    pairs = []
    for transcript in transcripts:
        if transcript.status != "finished":
            continue
        values = turn_values(transcript, reward)
        by_prompt: dict[str, tuple[list[Turn], list[Turn]]] = {}
        for turn in transcript.turns:
            if turn.index in values and turn.token_ids and turn.role in (role, anchor_seat):
                own, anchor = by_prompt.setdefault(repr(turn.messages), ([], []))
                (own if turn.role == role else anchor).append(turn)
        for own, anchor in by_prompt.values():
            if not own or not anchor:
                continue
            best = max(own, key=lambda turn: values[turn.index])
            worst = min(anchor, key=lambda turn: values[turn.index])
            gap = values[best.index] - values[worst.index]
            if gap > 0:
                pairs.append(preference_pair(transcript, best, worst, 1.0, encode, margin=gap, anchored=True))
    return pairs


def future_pairs(transcripts: Iterable[Transcript], future: Iterable[Transcript], role: str, anchor_seat: str,
                 reward: str, encode: Encoder) -> list[PreferencePair]:
    """Temporal SR: per match and prompt, the future model's best reply over ``anchor_seat``'s worst.

    ``future`` holds the matches the look-ahead (future) model played on the same seeds as
    ``transcripts``, its replies scored by the current judge in ``reward``. The rejected
    reply is the anchor's worst in the training match (the anchored rejection); the chosen
    is ``role``'s best reply in the future match of the same seed to the same messages. A
    pair is made only when the chosen scores strictly higher. The pair's provenance is the
    future match (``match_id``, the look-ahead's ``adapter_version``); ``rejected_match_id``
    names the training match.
    """
    ahead: dict[int, Transcript] = {t.seed: t for t in future if t.status == "finished"}
    pairs = []
    for transcript in transcripts:
        later = ahead.get(transcript.seed)
        if transcript.status != "finished" or later is None:
            continue
        values, future_values = turn_values(transcript, reward), turn_values(later, reward)
        worst: dict[str, Turn] = {}
        for turn in transcript.turns:
            if turn.role == anchor_seat and turn.index in values and turn.token_ids:
                key = repr(turn.messages)
                if key not in worst or values[turn.index] < values[worst[key].index]:
                    worst[key] = turn
        best: dict[str, Turn] = {}
        for turn in later.turns:
            if turn.role == role and turn.index in future_values and turn.token_ids:
                key = repr(turn.messages)
                if key not in best or future_values[turn.index] > future_values[best[key].index]:
                    best[key] = turn
        for key, chosen in best.items():
            rejected = worst.get(key)
            if rejected is None:
                continue
            gap = future_values[chosen.index] - values[rejected.index]
            if gap > 0:
                pairs.append(preference_pair(later, chosen, rejected, 1.0, encode, margin=gap, anchored=True,
                                             future=True, rejected_match_id=transcript.match_id))
    return pairs


def agreement_pairs(transcripts: Iterable[Transcript], role: str, rewards: Sequence[str],
                    encode: Encoder) -> list[PreferencePair]:
    """SCIR-style: per group, the pair with the largest ``rewards[0]`` gap among the pairs
    that every reward in ``rewards`` orders the same way, strictly.

    A turn some reward did not score cannot be in a pair; with one reward this is
    best/worst.
    """
    if not rewards:
        raise ValueError("agreement_pairs needs at least one reward name")
    transcripts = list(transcripts)
    others = {t.match_id: [turn_values(t, name) for name in rewards[1:]] for t in transcripts}
    pairs = []
    for group in scored_groups(transcripts, role, rewards[0]):
        judged = others[group[0][0].match_id]
        best_pair = None
        for higher, lower, gap in ranked_pairs(group):
            if gap <= 0:
                continue
            if all(higher[1].index in values and lower[1].index in values
                   and values[higher[1].index] > values[lower[1].index] for values in judged):
                if best_pair is None or gap > best_pair[2]:
                    best_pair = (higher, lower, gap)
        if best_pair is not None:
            higher, lower, gap = best_pair
            pairs.append(preference_pair(higher[0], higher[1], lower[1], 1.0, encode, margin=gap,
                                         judges=len(rewards)))
    return pairs


def large_margin_pairs(transcripts: Iterable[Transcript], role: str, reward: str, encode: Encoder,
                       margin: float = 0.5) -> list[PreferencePair]:
    """DNO: per group the best reply over the worst, kept when their gap is at least ``margin``."""
    if not margin > 0:
        raise ValueError(f"large_margin_pairs: margin must be positive, got {margin}")
    pairs = []
    for group in scored_groups(transcripts, role, reward):
        best, worst = best_and_worst(group)
        if best[2] - worst[2] >= margin:
            pairs.append(preference_pair(best[0], best[1], worst[1], 1.0, encode, margin=best[2] - worst[2]))
    return pairs


def win_rates_from_matrix(matrix: Sequence[Sequence[float | None]]) -> list[float | None]:
    """Row means of a win matrix without its diagonal: ``W[i][j]`` = P(reply i beats reply j).

    This is SPPO's estimate of ``P(y_i beats the policy | x)`` from the other samples of
    the same prompt; ``None`` entries (no verdict) are left out; a row without any entry
    gives ``None``.
    """
    rates: list[float | None] = []
    for i, row in enumerate(matrix):
        values = [v for j, v in enumerate(row) if j != i and v is not None]
        rates.append(sum(values) / len(values) if values else None)
    return rates


def judged_win_rates(transcripts: Iterable[Transcript], role: str, reward: str, encode: Encoder,
                     seat: str | None = None) -> list[GroupSample]:
    """SPPO samples whose target is the judged win rate itself (``reward`` in [0, 1]).

    Unlike :func:`~sparring.rewards.builders.win_rates`, which turns any reward into
    ranks among siblings, the reward here already is the per-prompt win rate measured by
    the judge. Groups with a single reply are left out (no estimate).
    """
    samples = grpo_groups(transcripts, role, reward, encode)
    sizes: dict[str, int] = {}
    for s in samples:
        sizes[s.group_id] = sizes.get(s.group_id, 0) + 1
    for s in samples:
        if not (math.isfinite(s.reward) and 0.0 <= s.reward <= 1.0):
            raise ValueError(f"judged_win_rates: reward {reward!r} of seat {seat or role!r} must be a win rate in "
                             f"[0, 1], got {s.reward}; use update 'sppo' to rank another reward")
    return [s for s in samples if sizes[s.group_id] > 1]
