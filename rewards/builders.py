"""Preference builders: scored transcripts in, training samples out.

Every builder reads turns of one seat and the per-turn values of one reward from stored
transcripts, so training data can be rebuilt at any time without generating again. A
*group* is the set of samples of one ask (``match.ask(role, prompt, n=k)``): the replies
to the same prompt. Every sample is tagged (``meta``) with the role, adapter and adapter
version that produced it, the match and turn, and the texts (for export).

Prompt token ids come from the model's chat template applied to the recorded messages,
exactly as the engine encoded them; reply token ids are the recorded generated ids.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sparring.agents.updates.batch import GroupSample, PreferencePair, SFTSample

if TYPE_CHECKING:  # rewards sit below arenas in the package stack
    from sparring.arenas.transcript import Transcript, Turn

Encoder = Callable[[list[dict[str, str]]], list[int]]


def turn_values(t: Transcript, reward: str) -> dict[int, float]:
    """Per-turn values of ``reward`` in ``t`` (turn index → value)."""
    return {r.turn: r.value for r in t.rewards if r.reward == reward and r.turn is not None}


def _meta(t: Transcript, turn: Turn, **extra: Any) -> dict[str, Any]:
    return {"role": turn.role, "adapter": turn.adapter, "adapter_version": turn.adapter_version,
            "match_id": t.match_id, "iteration": t.iteration, "turn": turn.index,
            "prompt": turn.messages, **extra}


def scored_groups(transcripts: Iterable[Transcript], role: str, reward: str) -> list[list[tuple[Transcript, Turn, float]]]:
    """Groups of ``(transcript, turn, value)``: the scored samples of each ask of ``role``."""
    groups: dict[tuple[str, int], list[tuple[Transcript, Turn, float]]] = defaultdict(list)
    for t in transcripts:
        if t.status != "finished":
            continue
        values = turn_values(t, reward)
        for turn in t.turns:
            if turn.role == role and turn.index in values and turn.token_ids:
                groups[(t.match_id, turn.ask)].append((t, turn, values[turn.index]))
    return list(groups.values())


def match_groups(transcripts: Iterable[Transcript], role: str, reward: str) -> list[list[tuple[Transcript, Turn, float]]]:
    """Like :func:`scored_groups` for match-level rewards (``turn=None``): the seat's last
    turn of each match carries the match reward, and all matches form one group (a batch
    baseline, as for a questioner that asks once per match)."""
    group = []
    for t in transcripts:
        if t.status != "finished":
            continue
        values = [r.value for r in t.rewards if r.reward == reward and r.role == role and r.turn is None]
        turns = [u for u in t.turns if u.role == role and u.token_ids]
        if values and turns:
            group.append((t, turns[-1], sum(values) / len(values)))
    return [group] if group else []


def _groups(transcripts: Iterable[Transcript], role: str, reward: str) -> list[list[tuple[Transcript, Turn, float]]]:
    transcripts = list(transcripts)
    groups = scored_groups(transcripts, role, reward)
    return groups if groups else match_groups(transcripts, role, reward)


def grpo_groups(transcripts: Iterable[Transcript], role: str, reward: str, encode: Encoder) -> list[GroupSample]:
    """GRPO/RLOO samples: each ask's replies form a group; sampling log-probs kept for ratios."""
    out = []
    for gi, group in enumerate(_groups(transcripts, role, reward)):
        for t, turn, value in group:
            out.append(GroupSample(
                encode(turn.messages), list(turn.token_ids), list(turn.logprobs) or None, value,
                group_id=f"{t.match_id}/{turn.ask}" if len(group) > 1 and _same_ask(group) else f"g{gi}",
                meta=_meta(t, turn, completion=turn.text),
            ))
    return out


def _same_ask(group: list[tuple[Transcript, Turn, float]]) -> bool:
    return len({(t.match_id, u.ask) for t, u, _ in group}) == 1


def _pair(t: Transcript, better: Turn, worse: Turn, strength: float, encode: Encoder, **extra: Any) -> PreferencePair:
    return PreferencePair(
        encode(better.messages), list(better.token_ids), list(worse.token_ids), strength,
        meta=_meta(t, better, chosen=better.text, rejected=worse.text, rejected_turn=worse.index,
                   rejected_adapter_version=worse.adapter_version, **extra),
    )


def best_worst_pairs(transcripts: Iterable[Transcript], role: str, reward: str, encode: Encoder) -> list[PreferencePair]:
    """West-of-N: per group, the best reply over the worst (skipped when they tie)."""
    pairs = []
    for group in scored_groups(transcripts, role, reward):
        best = max(group, key=lambda x: x[2])
        worst = min(group, key=lambda x: x[2])
        if best[2] > worst[2] and best[1].messages == worst[1].messages:
            pairs.append(_pair(best[0], best[1], worst[1], 1.0, encode, margin=best[2] - worst[2]))
    return pairs


def margin_pairs(transcripts: Iterable[Transcript], role: str, reward: str, encode: Encoder,
                 margin: float = 0.5, span: float = 1.0) -> list[PreferencePair]:
    """All pairs in a group whose rewards differ by at least ``margin``.

    Strength (the soft label) grows with the gap: ``0.5 + 0.5 * min(gap / span, 1)``.
    """
    pairs = []
    for group in scored_groups(transcripts, role, reward):
        for a, b in itertools.combinations(group, 2):
            hi, lo = (a, b) if a[2] >= b[2] else (b, a)
            gap = hi[2] - lo[2]
            if gap >= margin and gap > 0:
                pairs.append(_pair(hi[0], hi[1], lo[1], 0.5 + 0.5 * min(gap / span, 1.0), encode, margin=gap))
    return pairs


def spin_pairs(transcripts: Iterable[Transcript], role: str, reference: Callable[[Transcript, Turn], str | None],
               encode: Encoder, encode_reply: Callable[[str], list[int]]) -> list[PreferencePair]:
    """SPIN: the reference answer (chosen) over the model's own sample (rejected).

    ``reference(transcript, turn)`` returns the ground-truth reply text for a turn, or
    ``None`` to skip it; ``encode_reply`` tokenizes a reply (ending with EOS).
    """
    pairs = []
    for t in transcripts:
        if t.status != "finished":
            continue
        for turn in t.turns:
            if turn.role != role or not turn.token_ids:
                continue
            target = reference(t, turn)
            if target is None or target.strip() == turn.text.strip():
                continue
            pairs.append(PreferencePair(
                encode(turn.messages), encode_reply(target), list(turn.token_ids), 1.0,
                meta=_meta(t, turn, chosen=target, rejected=turn.text),
            ))
    return pairs


def consistency_pairs(transcripts: Iterable[Transcript], role: str, reward: str, previous_reward: str,
                      encode: Encoder) -> list[PreferencePair]:
    """CREAM: best/worst pairs weighted by how consistently two rewards rank the group.

    ``previous_reward`` is the same judgement made by the previous iteration's model. The
    consistency rate is the fraction of concordant pairs between the two rankings
    (Kendall-style: a tie in only one ranking counts half); the pair's strength is ``0.5 + 0.5 * rate``, so an
    inconsistent judgement is trained on as a weak preference.
    """
    pairs = []
    transcripts = list(transcripts)
    previous = {t.match_id: turn_values(t, previous_reward) for t in transcripts}
    for group in scored_groups(transcripts, role, reward):
        prev = previous.get(group[0][0].match_id, {})
        if len(group) < 2 or any(turn.index not in prev for _, turn, _ in group):
            continue
        agree = total = 0.0
        for a, b in itertools.combinations(group, 2):
            d_now = a[2] - b[2]
            d_prev = prev[a[1].index] - prev[b[1].index]
            total += 1
            if d_now == 0 and d_prev == 0 or d_now * d_prev > 0:
                agree += 1.0  # both tie, or both order the pair the same way
            elif d_now * d_prev == 0:
                agree += 0.5  # one ranking ties the pair, the other does not

        rate = agree / total
        best = max(group, key=lambda x: x[2])
        worst = min(group, key=lambda x: x[2])
        if best[2] > worst[2]:
            pairs.append(_pair(best[0], best[1], worst[1], 0.5 + 0.5 * rate, encode, consistency=rate))
    return pairs


def sft_samples(transcripts: Iterable[Transcript], role: str, reward: str, encode: Encoder,
                min_reward: float = 1.0) -> list[SFTSample]:
    """Replies of ``role`` whose ``reward`` is at least ``min_reward`` (rejection sampling)."""
    out = []
    for group in _groups(transcripts, role, reward):
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
    for t in transcripts:
        if t.status != "finished":
            continue
        seen: set[int] = set()
        for turn in t.turns:
            if turn.role != role or turn.ask in seen:
                continue
            target = reference(t, turn)
            if target is None:
                continue
            seen.add(turn.ask)
            out.append(SFTSample(encode(turn.messages), encode_reply(target),
                                 meta=_meta(t, turn, completion=target)))
    return out


def win_rates(samples: Sequence[GroupSample], low: float, high: float) -> list[GroupSample]:
    """Rescale group rewards to [0, 1] win-rate estimates for SPPO (rank within group)."""
    by_group: dict[Any, list[GroupSample]] = defaultdict(list)
    for s in samples:
        by_group[s.group_id].append(s)
    out = []
    for group in by_group.values():
        for s in group:
            others = [o for o in group if o is not s]
            if others:
                rate = sum(1.0 if s.reward > o.reward else 0.5 if s.reward == o.reward else 0.0 for o in others) / len(others)
            else:
                rate = (s.reward - low) / (high - low) if high > low else 0.5
            out.append(GroupSample(s.prompt_ids, s.completion_ids, s.old_logprobs, rate, s.group_id, meta=s.meta))
    return out
