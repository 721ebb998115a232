"""Preference pairs by intervention: an original match and its branch, credit to the seat that differs.

A branch (``sparring whatif``) shares its original's turns up to its first differing turn.
When that turn's prompt is the same in both, the two replies answer one prompt and the
matches differ from there on only through it (and what followed from it): the reply whose
match scored higher under ``reward`` is the chosen one. The value read is the turn's own
reward record when the reward scores turns, else the seat's mean in the match. Ties and
abstentions give no pair. Every pair keeps its provenance: parent and branch ids, the turn,
the swaps, the adapters and versions that wrote each reply, both values.

This is a cheaper relative of rollout-based credit assignment: one branch per sample, the
outcome of the whole continuation credited to the first reply that differs, not a value
estimate per turn.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sparring.agents.updates.batch import PreferencePair

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript, Turn


@dataclass
class InterventionPair:
    """Two replies to one prompt from an original and its branch, ``chosen`` scored higher.

    Attributes:
        seat: The seat whose reply differs first.
        chosen: The better reply's turn.
        rejected: The other reply's turn.
        meta: Provenance (parent, branch, turn, swaps, reward, both values, which side won).
    """

    seat: str
    chosen: Turn
    rejected: Turn
    meta: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """TRL's conversational DPO layout with the provenance beside it."""
        return {"prompt": [dict(m) for m in self.chosen.messages],
                "chosen": [{"role": "assistant", "content": self.chosen.text}],
                "rejected": [{"role": "assistant", "content": self.rejected.text}], "strength": 1.0,
                **self.meta}

    def preference(self, encode: Callable[[list[dict[str, str]]], list[int]]) -> PreferencePair:
        """A :class:`PreferencePair` for the updates (``encode`` applies the chat template)."""
        return PreferencePair(encode(self.chosen.messages), list(self.chosen.token_ids),
                              list(self.rejected.token_ids), 1.0,
                              meta={**self.meta, "prompt": self.chosen.messages, "chosen": self.chosen.text,
                                    "rejected": self.rejected.text})


def _value(transcript: Transcript, turn: Turn, reward: str) -> float | None:
    for record in transcript.rewards:
        if record.reward == reward and record.turn == turn.index and record.role == turn.role:
            return record.value
    return transcript.reward_of(turn.role, reward)


def first_shared_prompt_difference(original: Transcript, branch: Transcript) -> int | None:
    """The first turn whose replies differ, when both sides asked it the same prompt; else ``None``."""
    for a, b in zip(original.turns, branch.turns, strict=False):
        if a.text != b.text:
            return a.index if a.role == b.role and a.messages == b.messages else None
    return None


def intervention_pairs(pairs: Iterable[tuple[Transcript, Transcript, dict[str, Any]]], reward: str,
                       seats: Collection[str] | None = None) -> list[InterventionPair]:
    """Pairs from ``(original, branch, branch record)`` triples (see the module docs).

    Args:
        pairs: Each original with one of its branches and the branch's store record
            (``whatif``, ``swaps``, ``from_turn`` are copied into the provenance).
        reward: The reward that decides which reply is chosen.
        seats: Only pairs for these seats (e.g. the swapped ones); default: any.
    """
    out = []
    for original, branch, record in pairs:
        if original.status != "finished" or branch.status != "finished":
            continue
        index = first_shared_prompt_difference(original, branch)
        if index is None:
            continue
        a, b = original.turns[index], branch.turns[index]
        if seats is not None and a.role not in seats:
            continue
        va, vb = _value(original, a, reward), _value(branch, b, reward)
        if va is None or vb is None or va == vb:
            continue
        chosen, rejected = (a, b) if va > vb else (b, a)
        out.append(InterventionPair(a.role, chosen, rejected, {
            "role": a.role, "parent": original.match_id, "branch": branch.match_id, "turn": index,
            "whatif": record.get("whatif"), "swaps": record.get("swaps"), "from_turn": record.get("from_turn"),
            "reward": reward, "original_value": va, "branch_value": vb,
            "chosen_from": "original" if va > vb else "branch",
            "chosen_adapter": chosen.adapter, "chosen_adapter_version": chosen.adapter_version,
            "rejected_adapter": rejected.adapter, "rejected_adapter_version": rejected.adapter_version}))
    return out
