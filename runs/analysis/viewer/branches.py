"""The viewer's whatif branches: a match's branches, a branch beside its original, starting one.

Reading (GET) only queries the store's ``branches`` table (absent in a store no whatif
has opened: no branches); starting a branch (POST, same origin, JSON, like replay)
re-makes the arena and loads the run's model, so it runs the run's code, and writes the
branches into the run's store through an ordinary writable :class:`Store`.
"""

from __future__ import annotations

from typing import Any

from sparring.runs.analysis.effects import first_difference
from sparring.runs.analysis.show_branch import reward_deltas
from sparring.runs.analysis.viewer.sources import ReadOnlyStore, Source
from sparring.runs.storage.store import Store

MAX_SAMPLES = 16
"""Most branches one viewer request may start (a request blocks until they are played)."""


def not_branch(store: ReadOnlyStore, column: str = "m.match_id") -> str:
    """An SQL condition leaving branches out (empty where the store has no branches table)."""
    found = store.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='branches'").fetchone()
    return f" AND {column} NOT IN (SELECT match_id FROM branches)" if found else ""


def branch_detail(store: ReadOnlyStore, match_id: str) -> dict[str, Any]:
    """``branches`` (this match's branches, with their first differing turn) and, for a branch,
    ``branch``: its record, the original transcript, the first differing turn and reward deltas."""
    out: dict[str, Any] = {"branches": [], "branch": None}
    transcript = store.get(match_id)
    for record in store.branches(match_id):
        child = store.get(record["match_id"])
        out["branches"].append({**record, "status": child.status, "summary": child.summary,
                                "first_difference": first_difference(transcript, child)})
    info = store.branch(match_id)
    if info is not None:
        original = store.get(info["parent"])
        out["branch"] = {**info, "original": original.model_dump(mode="json"),
                         "first_difference": first_difference(original, transcript),
                         "rewards": [{"key": k, "original": a, "branch": b} for k, a, b in
                                     reward_deltas(original, transcript)]}
    return out


def start_branch(source: Source, match_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Play ``body``'s whatif (``from_turn``, ``swaps``, ``samples``, ``seed``) on one match."""
    from sparring.runs.analysis.whatif import whatif

    swaps = body.get("swaps", [])
    if not isinstance(swaps, list) or not all(isinstance(s, str) for s in swaps):
        raise ValueError("swaps must be a list of SEAT.FIELD=VALUE strings")
    samples = body.get("samples", 1)
    if not isinstance(samples, int) or not 1 <= samples <= MAX_SAMPLES:
        raise ValueError(f"samples must be a whole number from 1 to {MAX_SAMPLES}")
    from_turn, seed = body.get("from_turn", 0), body.get("seed", 0)
    if not isinstance(from_turn, int) or not isinstance(seed, int):
        raise ValueError("from_turn and seed must be whole numbers")
    with Store(source.store_path) as store:
        try:
            result = whatif(store, match_id, from_turn, [s for s in swaps if s.strip()], samples, seed=seed)
        except (FileNotFoundError, NotADirectoryError) as exc:  # a missing adapter version: the user's choice
            raise ValueError(str(exc)) from None
    return {"branches": [b.match_id for b in result.branches[match_id]], "played": result.played,
            "first_difference": result.diff.first_difference[match_id], "effects": result.diff.to_dict()["effects"]}
