"""What branches changed: first differing turns, paired effects with intervals, outcome flips.

Every figure pairs a branch with its own original (or with a baseline branch of the same
match and seed), so match-to-match variation cancels: per ``<reward>/<seat>`` and per
per-match metric the arena's evaluation declares (``metric/<name>``), the mean over matches
of (mean over a match's branches - the original's value), with a paired bootstrap 95%
interval (:func:`sparring.rewards.intervals.paired`). Outcome flips count, per outcome key
holding a plain value (a winner, a verdict, a correctness flag), the branches and the
matches whose value differs from the original's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sparring.arenas.transcript import Transcript
from sparring.rewards.intervals import paired
from sparring.runs.analysis.show import match_rewards


@dataclass
class BranchDiff:
    """How branches differ from their originals (see the module docs).

    Attributes:
        first_difference: Per original match id, per branch, the first turn index whose
            reply differs (``None``: none differs).
        effects: Per ``<reward>/<seat>`` or ``metric/<name>``: ``original`` and ``branch``
            means, ``difference`` (branch - original), ``ci_low``, ``ci_high``, ``n_items``
            (matches where both sides have a value), and for 0/1 values McNemar's counts.
        flips: Per outcome key: ``branches`` and ``branches_changed``, ``matches`` and
            ``matches_changed`` (a match changed when any of its branches did), and
            ``changes``: how often each ``original -> branch`` value pair occurred (JSON values).
        errors: Branches whose match ended in an error (left out of the figures).
    """

    first_difference: dict[str, list[int | None]] = field(default_factory=dict)
    effects: dict[str, dict[str, float]] = field(default_factory=dict)
    flips: dict[str, dict[str, Any]] = field(default_factory=dict)
    errors: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (``nan`` as ``None``)."""
        data = asdict(self)
        data["effects"] = {k: {n: (None if isinstance(v, float) and math.isnan(v) else v) for n, v in e.items()}
                           for k, e in self.effects.items()}
        return data


def first_difference(original: Transcript, branch: Transcript) -> int | None:
    """The first turn index where the branch's reply (or seat) differs; ``None`` when none does."""
    for a, b in zip(original.turns, branch.turns, strict=False):
        if a.text != b.text or a.role != b.role:
            return a.index
    if len(original.turns) != len(branch.turns):
        return min(len(original.turns), len(branch.turns))
    return None


def match_values(transcript: Transcript, arena: Any = None) -> dict[str, float]:
    """A finished match's ``<reward>/<seat>`` means and per-match metric values (``metric/<name>``)."""
    if transcript.status != "finished":
        return {}
    values = match_rewards(transcript)
    evaluation = arena.evaluation() if arena is not None else None
    for metric in getattr(evaluation, "metrics", None) or []:
        if not metric.per_match:
            continue
        try:  # a metric written for the held-out variant may not read training matches
            value = metric.fn(transcript)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            continue
        if value is not None:
            values[f"metric/{metric.name}"] = float(value)
    return values


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, str)) or (isinstance(value, float) and value.is_integer())


def compare(originals: Sequence[Transcript], branches: dict[str, list[Transcript]], from_turn: int = 0,
            arena: Any = None, baseline: dict[str, list[Transcript]] | None = None) -> BranchDiff:
    """The :class:`BranchDiff` of ``branches`` against their originals (or ``baseline`` branches)."""
    diff = BranchDiff()
    side_a: dict[str, list[float]] = {}
    side_b: dict[str, list[float]] = {}
    for original in originals:
        mine = branches.get(original.match_id, [])
        diff.first_difference[original.match_id] = [first_difference(original, b) for b in mine]
        diff.errors += sum(1 for b in mine if b.status != "finished")
        refs = baseline.get(original.match_id, []) if baseline is not None else [original]
        a = _means([match_values(t, arena) for t in refs])
        b = _means([match_values(t, arena) for t in mine])
        for key in sorted(set(a) & set(b)):
            side_a.setdefault(key, []).append(a[key])
            side_b.setdefault(key, []).append(b[key])
        _count_flips(diff.flips, refs[0] if refs else original, mine)
    for key in sorted(side_a):
        stats = paired(side_a[key], side_b[key])
        diff.effects[key] = {"original": sum(side_a[key]) / len(side_a[key]),
                             "branch": sum(side_b[key]) / len(side_b[key]), **stats}
    return diff


def _means(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = {k for row in rows for k in row}
    return {k: sum(v) / len(v) for k in keys if (v := [row[k] for row in rows if k in row])}


def _count_flips(flips: dict[str, dict[str, Any]], reference: Transcript, mine: list[Transcript]) -> None:
    if reference.status != "finished" or not reference.outcome:
        return
    for key, value in reference.outcome.items():
        if not _plain(value):
            continue
        done = [b for b in mine if b.status == "finished" and b.outcome is not None]
        moved = [b.outcome.get(key) for b in done if b.outcome.get(key) != value]  # type: ignore[union-attr]
        changed = len(moved)
        row = flips.setdefault(key, {"branches": 0, "branches_changed": 0, "matches": 0, "matches_changed": 0,
                                     "changes": {}})
        for new in moved:
            change = f"{json.dumps(value)} -> {json.dumps(new)}"
            row["changes"][change] = row["changes"].get(change, 0) + 1
        row["branches"] += len(done)
        row["branches_changed"] += changed
        row["matches"] += 1 if done else 0
        row["matches_changed"] += 1 if changed else 0
