"""Preference builders: scored transcripts in, training samples out.

Every builder reads turns of one seat and the per-turn values of one reward from stored
transcripts, so training data can be rebuilt at any time without generating again. A
*group* is the set of samples of one ask (``match.ask(role, prompt, n=k)``): the replies
to the same prompt (GRPO may pool a match's replies at one conversation depth instead,
:data:`GROUPINGS`). Group ids carry the seat (:func:`group_name`), so seats that share an
adapter keep their own baselines. Every sample is tagged (``meta``) with the role, adapter and adapter
version that produced it, the match and turn, and the texts (for export).

Prompt token ids come from the model's chat template applied to the recorded messages,
exactly as the engine encoded them; reply token ids are the recorded generated ids, and
the sampling temperature each reply was generated at is carried along for the
importance ratios of GRPO/RLOO.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sparring.agents.updates.batch import GroupSample, PreferencePair, SFTSample

if TYPE_CHECKING:  # rewards sit below arenas in the package stack
    from sparring.arenas.transcript import Transcript, Turn

Encoder = Callable[[list[dict[str, str]]], list[int]]


def turn_values(transcript: Transcript, reward: str) -> dict[int, float]:
    """Per-turn values of ``reward`` in ``t`` (turn index → value)."""
    return {r.turn: r.value for r in transcript.rewards if r.reward == reward and r.turn is not None}


def _meta(transcript: Transcript, turn: Turn, **extra: Any) -> dict[str, Any]:
    return {"role": turn.role, "adapter": turn.adapter, "adapter_version": turn.adapter_version,
            "match_id": transcript.match_id, "iteration": transcript.iteration, "turn": turn.index,
            "prompt": turn.messages, **extra}


GROUPINGS = ("ask", "depth")
"""How a seat's scored replies form GRPO groups (:func:`grpo_groups`'s ``group``):

``ask``: the replies to one ask (``match.ask(role, prompt, n=k)``), which share their
prompt; the default. ``depth``: the seat's replies in one match at the same conversation
depth (number of messages before the reply), pooled across asks: the second attempts of
one task over all its first attempts (SCoRe), whose prompts differ only in the first
attempt they revise. Either way, when every group has one reply the whole batch is one
group (see :func:`grpo_groups`)."""


def _group_key(transcript: Transcript, turn: Turn, group: str) -> tuple[str, str]:
    if group not in GROUPINGS:
        raise ValueError(f"group must be one of {', '.join(GROUPINGS)}, got {group!r}")
    return transcript.match_id, f"ask{turn.ask}" if group == "ask" else f"depth{len(turn.messages)}"


def group_name(role: str, key: tuple[str, str] | None) -> str:
    """The one group-naming rule: ``role/match/ask3`` (or ``.../depth4``), and ``role/batch``
    for a batch group. The seat is part of the name, so seats that share an adapter (and
    are built separately, then trained together) never share a baseline."""
    return f"{role}/batch" if key is None else f"{role}/{key[0]}/{key[1]}"


def scored_groups(transcripts: Iterable[Transcript], role: str, reward: str,
                  group: str = "ask") -> list[list[tuple[Transcript, Turn, float]]]:
    """Groups of ``(transcript, turn, value)``: the scored samples of each ask of ``role``
    (or of each conversation depth of a match, ``group="depth"``; see :data:`GROUPINGS`)."""
    return [g for _, g in _keyed_groups(transcripts, role, reward, group)]


def _keyed_groups(transcripts: Iterable[Transcript], role: str, reward: str,
                  group: str) -> list[tuple[tuple[str, str], list[tuple[Transcript, Turn, float]]]]:
    groups: dict[tuple[str, str], list[tuple[Transcript, Turn, float]]] = defaultdict(list)
    for transcript in transcripts:
        if transcript.status != "finished":
            continue
        values = turn_values(transcript, reward)
        for turn in transcript.turns:
            if turn.role == role and turn.index in values and turn.token_ids:
                groups[_group_key(transcript, turn, group)].append((transcript, turn, values[turn.index]))
    return list(groups.items())


def match_groups(transcripts: Iterable[Transcript], role: str, reward: str) -> list[list[tuple[Transcript, Turn, float]]]:
    """Like :func:`scored_groups` for match-level rewards (``turn=None``): the seat's last
    turn of each match carries the match reward, and all matches form one group (a batch
    baseline, as for a questioner that asks once per match)."""
    group = []
    for transcript in transcripts:
        if transcript.status != "finished":
            continue
        values = [r.value for r in transcript.rewards if r.reward == reward and r.role == role and r.turn is None]
        turns = [u for u in transcript.turns if u.role == role and u.token_ids]
        if values and turns:
            group.append((transcript, turns[-1], sum(values) / len(values)))
    return [group] if group else []


def _groups(transcripts: Iterable[Transcript], role: str, reward: str, group: str = "ask",
            ) -> list[tuple[str, list[tuple[Transcript, Turn, float]]]]:
    """Named groups (see :func:`group_name`) of the seat's scored replies."""
    transcripts = list(transcripts)
    keyed = _keyed_groups(transcripts, role, reward, group)
    if len(keyed) > 1 and all(len(g) == 1 for _, g in keyed):
        # Every ask drew one sample (a game's moves, a verifier asked once): no group has a
        # spread, so the batch is the group (its mean the baseline), as for match rewards.
        return [(group_name(role, None), [g[0] for _, g in keyed])]
    if keyed:
        return [(group_name(role, key), g) for key, g in keyed]
    return [(group_name(role, None), g) for g in match_groups(transcripts, role, reward)]


def _sampled_temperature(turn: Turn) -> float | None:
    """The temperature ``turn`` was sampled at (``0``: greedy), from its recorded sampling.

    ``None`` when the transcript did not record one (the update then uses its default).
    """
    value = turn.sampling.get("temperature")
    return None if value is None else float(value)


def grpo_groups(transcripts: Iterable[Transcript], role: str, reward: str, encode: Encoder,
                group: str = "ask") -> list[GroupSample]:
    """GRPO/RLOO samples: each ask's replies form a group; sampling log-probs kept for ratios.

    ``group="depth"`` pools a match's replies at one conversation depth instead (see
    :data:`GROUPINGS`). When every group has a single reply (per-turn rewards of a game's
    moves), the whole batch is one group; match-level rewards go to each match's last
    turn, also one batch group (see :func:`match_groups`). Group ids follow
    :func:`group_name` and carry the seat.

    Each sample carries the temperature its reply was sampled at, because its recorded
    log-probs are under that temperature's distribution (an arena may override the
    role's default per ask).
    """
    out = []
    for name, members in _groups(transcripts, role, reward, group):
        for t, turn, value in members:
            out.append(GroupSample(
                encode(turn.messages), list(turn.token_ids), list(turn.logprobs) or None, value,
                group_id=name, temperature=_sampled_temperature(turn),
                meta=_meta(t, turn, completion=turn.text),
            ))
    return out


def preference_pair(transcript: Transcript, better: Turn, worse: Turn, strength: float, encode: Encoder,
                    **extra: Any) -> PreferencePair:
    """``better`` over ``worse`` (two replies to the same messages of ``t``) with soft label
    ``strength``; ``extra`` goes to the pair's meta beside both texts."""
    return PreferencePair(
        encode(better.messages), list(better.token_ids), list(worse.token_ids), strength,
        meta=_meta(transcript, better, chosen=better.text, rejected=worse.text, rejected_turn=worse.index,
                   rejected_adapter_version=worse.adapter_version, **extra),
    )


def best_and_worst(group: Sequence[tuple[Transcript, Turn, float]],
                   ) -> tuple[tuple[Transcript, Turn, float], tuple[Transcript, Turn, float]]:
    """The highest- and the lowest-valued member of a scored group (the first of equal
    values): the one best/worst selection of West-of-N, CREAM and DNO pairs."""
    return max(group, key=lambda member: member[2]), min(group, key=lambda member: member[2])


def ranked_pairs(group: Sequence[tuple[Transcript, Turn, float]],
                 ) -> Iterator[tuple[tuple[Transcript, Turn, float], tuple[Transcript, Turn, float], float]]:
    """Every pair of a scored group as ``(higher, lower, gap)``, in
    :func:`itertools.combinations` order (of two equal values the earlier is ``higher``)."""
    for a, b in itertools.combinations(group, 2):
        higher, lower = (a, b) if a[2] >= b[2] else (b, a)
        yield higher, lower, higher[2] - lower[2]


def best_worst_pairs(transcripts: Iterable[Transcript], role: str, reward: str, encode: Encoder) -> list[PreferencePair]:
    """West-of-N: per group, the best reply over the worst (skipped when they tie)."""
    pairs = []
    for group in scored_groups(transcripts, role, reward):
        best, worst = best_and_worst(group)
        if best[2] > worst[2] and best[1].messages == worst[1].messages:
            pairs.append(preference_pair(best[0], best[1], worst[1], 1.0, encode, margin=best[2] - worst[2]))
    return pairs


def margin_pairs(transcripts: Iterable[Transcript], role: str, reward: str, encode: Encoder,
                 margin: float = 0.5, bounds: tuple[float, float] | None = None) -> list[PreferencePair]:
    """All pairs in a group whose rewards differ by at least ``margin``, with soft labels.

    A pair's strength (its soft-DPO label) grows with the reward gap measured on the scale
    of the training reward itself::

        strength = 0.5 + 0.5 * min(gap / (high - low), 1)

    so a gap spanning the whole reward range is a hard preference (1.0): with a 0/1
    reward, a 1-vs-0 pair gets 1.0 whatever bounds the arena declares for its other rewards.

    Args:
        transcripts: Scored transcripts.
        role: The seat whose replies are paired.
        reward: The training reward.
        encode: Chat messages to prompt token ids.
        margin: Smallest gap that makes a pair.
        bounds: ``(low, high)`` of ``reward``, when the reward has known bounds. ``None``
            uses the range of the values ``reward`` gave ``role`` in ``transcripts`` (the
            largest observed gap then counts as a hard preference), so labels follow the
            data rather than a guess.
    """
    groups = scored_groups(transcripts, role, reward)
    if bounds is None:
        values = [value for group in groups for _, _, value in group]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
    else:
        low, high = bounds
        if not high >= low:
            raise ValueError(f"margin_pairs: bounds must be (low, high) with low <= high, got {bounds}")
    span = high - low
    pairs = []
    for group in groups:
        for higher, lower, gap in ranked_pairs(group):
            if gap >= margin and gap > 0:
                # span == 0 cannot pair (gap > 0 needs two values); guard the division anyway.
                strength = 0.5 + 0.5 * min(gap / span, 1.0) if span > 0 else 1.0
                pairs.append(preference_pair(higher[0], higher[1], lower[1], strength, encode, margin=gap))
    return pairs


def spin_pairs(transcripts: Iterable[Transcript], role: str, reference: Callable[[Transcript, Turn], str | None],
               encode: Encoder, encode_reply: Callable[[str], list[int]]) -> list[PreferencePair]:
    """SPIN: the reference answer (chosen) over the model's own sample (rejected).

    ``reference(transcript, turn)`` returns the ground-truth reply text for a turn, or
    ``None`` to skip it; ``encode_reply`` tokenizes a reply (ending with EOS).
    """
    pairs = []
    for transcript in transcripts:
        if transcript.status != "finished":
            continue
        for turn in transcript.turns:
            if turn.role != role or not turn.token_ids:
                continue
            target = reference(transcript, turn)
            if target is None or target.strip() == turn.text.strip():
                continue
            pairs.append(PreferencePair(
                encode(turn.messages), encode_reply(target), list(turn.token_ids), 1.0,
                meta=_meta(transcript, turn, chosen=target, rejected=turn.text),
            ))
    return pairs


def consistency_pairs(transcripts: Iterable[Transcript], role: str, reward: str, previous_reward: str,
                      encode: Encoder) -> list[PreferencePair]:
    """CREAM: best/worst pairs whose soft label is the two rankings' consistency rate.

    ``previous_reward`` is the same judgement (same method) made by the previous
    iteration's model. For a group of replies ranked by ``reward`` (``r``) and by
    ``previous_reward`` (``r'``), the consistency rate (CREAM, Wang et al. 2024) is
    Kendall's tau mapped to [0, 1]::

        C = (1 / P) * sum over the P reply pairs (i, j) of a_ij, where a_ij =
              1    if r and r' order (i, j) the same way, or both tie it,
              1/2  if exactly one of them ties it,
              0    if they order it oppositely,

    which is ``(tau + 1) / 2`` when neither ranking has ties. The pair (best by ``reward``
    over worst) gets strength ``C`` itself, the label of soft DPO: ``C = 1`` is a hard
    preference, ``C = 1/2`` (rankings unrelated, e.g. random) pulls the margin to zero,
    and ``C = 0`` (reversed ranking) trains the flipped pair, worst over best.

    Unscored replies: the group is the replies ``reward`` scored (a reply the current judge
    could not score is never chosen or rejected). A reply of the group that the previous
    judge left unscored (its judgement did not parse) ranks below every reply it scored,
    tied with the other unscored ones, so one unparsed judgement does not drop the
    prompt; a group the previous judge scored none of has no previous ranking and is left
    out.
    """
    pairs = []
    transcripts = list(transcripts)
    previous = {t.match_id: turn_values(t, previous_reward) for t in transcripts}
    for group in scored_groups(transcripts, role, reward):
        prev = previous.get(group[0][0].match_id, {})
        if len(group) < 2 or not any(turn.index in prev for _, turn, _ in group):
            continue
        lowest = min(prev[turn.index] for _, turn, _ in group if turn.index in prev) - 1.0
        ranked = {turn.index: prev.get(turn.index, lowest) for _, turn, _ in group}
        agree = total = 0.0
        for a, b in itertools.combinations(group, 2):
            d_now = a[2] - b[2]
            d_prev = ranked[a[1].index] - ranked[b[1].index]
            total += 1
            if d_now == 0 and d_prev == 0 or d_now * d_prev > 0:
                agree += 1.0  # both tie, or both order the pair the same way
            elif d_now * d_prev == 0:
                agree += 0.5  # one ranking ties the pair, the other does not

        rate = agree / total
        best, worst = best_and_worst(group)
        if best[2] > worst[2]:
            pairs.append(preference_pair(best[0], best[1], worst[1], rate, encode, consistency=rate))
    return pairs


def sft_samples(transcripts: Iterable[Transcript], role: str, reward: str, encode: Encoder,
                min_reward: float = 1.0) -> list[SFTSample]:
    """Replies of ``role`` whose ``reward`` is at least ``min_reward`` (rejection sampling)."""
    out = []
    for _, group in _groups(transcripts, role, reward):
        for t, turn, value in group:
            if value >= min_reward:
                out.append(SFTSample(encode(turn.messages), list(turn.token_ids),
                                     meta=_meta(t, turn, completion=turn.text, reward=value)))
    return out


def reference_sft(transcripts: Iterable[Transcript], role: str, reference: Callable[[Transcript, Turn], str | None],
                  encode: Encoder, encode_reply: Callable[[str], list[int]]) -> list[SFTSample]:
    """SFT on ground truth: each of ``role``'s prompts paired with the reference reply.

    One sample per distinct prompt of a match (the ``n`` samples of an ask share it).
    """
    out = []
    for transcript in transcripts:
        if transcript.status != "finished":
            continue
        seen: set[int] = set()
        for turn in transcript.turns:
            if turn.role != role or turn.ask in seen:
                continue
            target = reference(transcript, turn)
            if target is None:
                continue
            seen.add(turn.ask)
            out.append(SFTSample(encode(turn.messages), encode_reply(target),
                                 meta=_meta(transcript, turn, completion=target)))
    return out


def win_rates(samples: Sequence[GroupSample], seat: str | None = None) -> list[GroupSample]:
    """SPPO targets: each reply's rewards turned into its win rate against its siblings.

    SPPO regresses on ``P(y beats the current policy | x)``, estimated for a reply ``y`` to
    prompt ``x`` by its mean win (1, tie 1/2, loss 0, by reward) over the other replies to
    the *same* prompt. Samples are therefore grouped by ``group_id`` and prompt tokens:
    per-turn rewards already group by ask, and a match-level group (one reply per match,
    pooled across matches) is split into replies that share a prompt, since comparing
    replies to different prompts says nothing about either.

    A reply without a sibling has no estimate and is left out. If no prompt has two
    replies (e.g. a seat asked once per match with ``n=1``), SPPO cannot train the seat
    and this raises ``ValueError``.

    Args:
        samples: Scored replies, e.g. from :func:`grpo_groups`.
        seat: Seat named in errors; defaults to the samples' ``meta["role"]``.

    Returns:
        The samples that have siblings, with ``reward`` replaced by the win rate in [0, 1].
    """
    by_prompt: dict[Any, list[GroupSample]] = defaultdict(list)
    for s in samples:
        by_prompt[(s.group_id, tuple(s.prompt_ids))].append(s)
    out = []
    for group in by_prompt.values():
        if len(group) < 2:
            continue
        for s in group:
            others = [o for o in group if o is not s]
            rate = sum(1.0 if s.reward > o.reward else 0.5 if s.reward == o.reward else 0.0 for o in others) / len(others)
            out.append(dataclasses.replace(s, reward=rate))
    if samples and not out:
        name = seat or next((s.meta["role"] for s in samples if "role" in s.meta), "?")
        raise ValueError(
            f"SPPO cannot train seat {name!r}: every prompt of it has only one reply ({len(samples)} replies to "
            f"{len(by_prompt)} prompts), and SPPO estimates each reply's win rate against other replies to the "
            f"same prompt; it needs several samples per prompt (n>1 in match.ask), or train this seat with "
            f"another update (grpo, rloo, dpo)"
        )
    return out
