"""Agreement-band filtering: train on a prompt's samples only when their agreement is in a band.

Majority-vote self-training learns from the majority of its own samples. When nearly all
samples agree the majority teaches nothing new (and is confidently wrong as often as
right); when almost none agree it is a coin toss. R-Zero keeps the prompts whose agreement
lies in a middle band (3 to 7 of 10). ``roles.<seat>.band = [low, high]`` does the same
for any arena and update: a match's samples of the seat train only when the share of them
agreeing with the majority lies in ``[low, high]``.

The share is read from a label-free agreement reward (``roles.<seat>.band_reward``;
default the seat's training reward, or for a random-twin control the reward it is the
twin of): the mean of its per-turn values over the seat's turns in the match, which for
a 0/1 "agrees with the majority" reward (graph-debate's ``debater_majority``,
propose-solve's ``solver_majority``) is the agreeing share. A match is the prompt: the
seat's samples of one item. Nothing here reads a label.

Logged each iteration (``band/<seat>/...``): ``kept_share`` (matches kept / matches with a
share) and, with ``roles.<seat>.truth_reward`` naming a truth reward that is only logged,
``majority_accuracy_kept`` and ``majority_accuracy_dropped``: the share of kept (dropped)
matches whose majority was right, read as the truth reward of the turns that agree with
the majority.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sparring.rewards.controls import PREFIX

if TYPE_CHECKING:
    from sparring.arenas.arena import Arena
    from sparring.arenas.transcript import Transcript
    from sparring.runs.recipes.sections import RoleSection


def agreement_reward(spec: RoleSection, training: str | None) -> str | None:
    """The reward a seat's agreement share is read from (see the module docs)."""
    name = spec.band_reward or training
    return name[len(PREFIX):] if name and name.startswith(PREFIX) else name


def share(transcript: Transcript, seat: str, reward: str) -> float | None:
    """Mean of ``reward`` over ``seat``'s scored turns in the match (``None``: none scored)."""
    values = [r.value for r in transcript.rewards if r.reward == reward and r.role == seat and r.turn is not None]
    return sum(values) / len(values) if values else None


def split(transcripts: Sequence[Transcript], seat: str, reward: str,
          band: Sequence[float]) -> tuple[list[Transcript], list[Transcript]]:
    """``(kept, dropped)``: matches whose agreement share lies in ``band``, and the others
    that have a share (matches where the seat has no scored turn are in neither)."""
    low, high = band
    kept, dropped = [], []
    for transcript in transcripts:
        value = share(transcript, seat, reward)
        if value is not None:
            (kept if low <= value <= high else dropped).append(transcript)
    return kept, dropped


def keep(transcripts: list[Transcript], seat: str, spec: RoleSection, training: str | None) -> list[Transcript]:
    """The matches whose ``seat`` samples may train (all of them without a band)."""
    reward = agreement_reward(spec, training)
    if spec.band is None or reward is None:
        return transcripts
    return split(transcripts, seat, reward, spec.band)[0]


def _majority_accuracy(transcripts: Sequence[Transcript], seat: str, reward: str, truth: str) -> float | None:
    """Share of matches whose majority was right: per match, the truth's mean over the
    turns agreeing with the majority (they give the majority's answer), then the mean
    over matches that have such turns."""
    per_match = []
    for t in transcripts:
        agreeing = {r.turn for r in t.rewards
                    if r.reward == reward and r.role == seat and r.turn is not None and r.value >= 1.0}
        values = [r.value for r in t.rewards if r.reward == truth and r.role == seat and r.turn in agreeing]
        if values:
            per_match.append(sum(values) / len(values))
    return sum(per_match) / len(per_match) if per_match else None


def metrics(transcripts: Sequence[Transcript], seat: str, spec: RoleSection, training: str | None) -> dict[str, float]:
    """``band/<seat>/kept_share`` and, with a truth reward, the majority's accuracy on the
    kept and the dropped matches (empty without a band)."""
    reward = agreement_reward(spec, training)
    if spec.band is None or reward is None:
        return {}
    kept, dropped = split(transcripts, seat, reward, spec.band)
    out: dict[str, float] = {}
    if kept or dropped:
        out[f"band/{seat}/kept_share"] = len(kept) / (len(kept) + len(dropped))
    if spec.truth_reward is not None:
        for name, part in (("kept", kept), ("dropped", dropped)):
            value = _majority_accuracy(part, seat, reward, spec.truth_reward)
            if value is not None:
                out[f"band/{seat}/majority_accuracy_{name}"] = value
    return out


def check(arena: Arena, seat: str, spec: RoleSection, training: str | None) -> None:
    """Refuse, naming the field, a band reward or truth reward the arena does not have."""
    names = [r.name for r in arena.rewards()]
    for field, name in (("band_reward", agreement_reward(spec, training) if spec.band is not None else None),
                        ("truth_reward", spec.truth_reward)):
        if name is not None and name not in names:
            raise ValueError(f"recipe field 'roles.{seat}.{field}': {name!r} is not a reward of {arena.id} "
                             f"(rewards: {', '.join(names) or 'none'})")
    if spec.band is not None and agreement_reward(spec, training) is None:
        raise ValueError(f"recipe field 'roles.{seat}.band': no agreement reward to read the share from; "
                         f"set roles.{seat}.band_reward (e.g. a majority-agreement reward)")
