"""Counterfactual branches: what if one seat of a stored match had been someone else?

``whatif(store, match_id, from_turn, swaps, samples)`` re-plays stored matches with the
same arena and match seed: turns before ``from_turn`` are the recorded replies (served,
not generated), turns from ``from_turn`` on are played afresh by the recorded seats with
``swaps`` applied (``judge.adapter=judge@v0``, ``con.model=tiny:3``,
``pro.system_prompt="..."``, ``judge.temperature=0``), ``samples`` times, each sample with
its own branch seed. Branches are scored by the arena's rewards and stored beside their
original (the store's ``branches`` table records parent, branch turn, swaps, branch seed,
sample), one transaction each; a killed whatif run again plays only the missing branches.

Identity: with no swap, from turn 0 and the recorded seeds (``recorded_seeds=True``), a
branch is the original match again, bit for bit, when the matches of one runner call are
branched together (the same batches as the original play; tested for every built-in arena).

Branch ids are ``<parent>~<key>-k<sample>``, the key a hash of (branch turn, swaps, seed):
the same command names the same branches, so a re-run skips what is stored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams, derive_seed
from sparring.arenas.branch import BranchPrefix
from sparring.arenas.registry import make_from_spec
from sparring.arenas.replay import recorded_roles
from sparring.arenas.runner import Runner
from sparring.arenas.scoring import apply_rewards
from sparring.arenas.transcript import Transcript
from sparring.runs import faults
from sparring.runs.analysis.branches import SNAPSHOT, BranchModels, run_config
from sparring.runs.analysis.effects import BranchDiff, compare
from sparring.runs.recipes.config import RecipeError, parse_override
from sparring.runs.storage.store import Store

SAMPLING_FIELDS = tuple(f.name for f in fields(SamplingParams))
SWAP_FIELDS = ("adapter", "model", "system_prompt", "template", *SAMPLING_FIELDS)
"""Role fields a swap may change (``SEAT.FIELD=VALUE``)."""


@dataclass(frozen=True)
class Swap:
    """One seat field changed in a branch: ``judge.adapter=judge@v0``."""

    seat: str
    field: str
    value: Any

    def __str__(self) -> str:
        return f"{self.seat}.{self.field}={json.dumps(self.value)}"


def parse_swap(item: str | Swap) -> Swap:
    """``"judge.adapter=judge@v0"`` as a :class:`Swap` (values read as TOML, else strings)."""
    if isinstance(item, Swap):
        return item
    try:
        path, value = parse_override(item)
    except RecipeError as exc:
        raise ValueError(f"--swap {item!r}: {exc}") from None
    if len(path) != 2:
        raise ValueError(f"--swap {item!r} must look like SEAT.FIELD=VALUE (e.g. judge.adapter=judge@v0)")
    seat, name = path
    if name not in SWAP_FIELDS:
        raise ValueError(f"--swap {item!r}: unknown field {name!r}; a swap sets {', '.join(SWAP_FIELDS)}")
    if name == "adapter" and value not in ("base", "none") and not (isinstance(value, str) and SNAPSHOT.match(value)):
        raise ValueError(f"--swap {item!r}: an adapter is NAME@vK (a version saved under RUN/adapters/NAME/vK) "
                         "or base")
    return Swap(seat, name, value)


def apply_swaps(roles: dict[str, Role], swaps: Sequence[Swap], arena_id: str) -> dict[str, Role]:
    """``roles`` with ``swaps`` applied (one line naming the problem for a bad seat or value)."""
    out = dict(roles)
    for swap in swaps:
        if swap.seat not in out:
            raise ValueError(f"--swap {swap}: {swap.seat!r} is not a seat of {arena_id} (seats: {', '.join(out)})")
        role = out[swap.seat]
        try:
            if swap.field == "adapter":
                role = role.bind(adapter=None if swap.value in ("base", "none") else swap.value)
            elif swap.field == "model":  # another base model: its own weights, no adapter of this run
                role = role.bind(model=str(swap.value), adapter=None)
            elif swap.field in ("system_prompt", "template"):
                role = replace(role, **{swap.field: swap.value})
            else:
                value = [swap.value] if swap.field == "stop" and isinstance(swap.value, str) else swap.value
                role = role.bind(**{swap.field: value})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--swap {swap}: {exc}") from None
        out[swap.seat] = role
    return out


def whatif_key(from_turn: int, swaps: Sequence[Swap], seed: int | None) -> str:
    """The hash naming one whatif's branches (same branch turn, swaps and seed: same key)."""
    spec = {"from_turn": from_turn, "swaps": sorted(map(str, swaps)), "seed": "recorded" if seed is None else seed}
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]


@dataclass
class WhatIf:
    """Branches of stored matches and how they differ from their originals.

    Attributes:
        originals: The stored matches branched, in order.
        branches: Each original's branches (by its match id), one per sample.
        diff: Per-match first differing turns, and per (reward, seat) and per-match metric the
            mean difference with a paired bootstrap interval, and outcome flips.
        key: The whatif key in the branch ids.
        played: Branches played by this call (the others were stored already).
    """

    originals: list[Transcript]
    branches: dict[str, list[Transcript]]
    diff: BranchDiff
    key: str
    played: int = 0
    baseline: dict[str, list[Transcript]] | None = field(default=None, repr=False)


def _open(store: Store | str | Path) -> tuple[Store, bool]:
    if isinstance(store, Store):
        return store, False
    path = Path(store)
    return Store(path / "store.sqlite" if path.is_dir() else path), True


def whatif(store: Store | str | Path, match_id: str | Sequence[str], from_turn: int = 0,
           swaps: Sequence[str | Swap] = (), samples: int = 1, *, seed: int | None = 0,
           baseline: Sequence[str | Swap] | None = None,
           on_branch: Callable[[Transcript], None] | None = None) -> WhatIf:
    """Branch stored matches from turn ``from_turn`` with ``swaps``, ``samples`` times each.

    Args:
        store: The run's store (or its directory); branches are written into it.
        match_id: One match id or several (``sparring whatif --where`` selects them).
        from_turn: The branch turn: earlier turns replay as recorded.
        swaps: ``SEAT.FIELD=VALUE`` changes (see :data:`SWAP_FIELDS`); none replays the seats as recorded.
        samples: Branches per match, each with its own branch seed.
        seed: Seeds the branch seeds; ``None`` keeps the recorded row seeds (one sample only).
        baseline: Compare against branches with these swaps (same seeds) instead of the originals.
        on_branch: Called with each branch once it is stored (progress).

    Returns:
        The branches and their :class:`~sparring.runs.analysis.effects.BranchDiff`.

    Example:
        >>> result = whatif("out/debate", "i1-s123", from_turn=2, swaps=["judge.adapter=judge@v0"])  # doctest: +SKIP
        >>> result.diff.effects["debate_win/pro"]["difference"]  # doctest: +SKIP
    """
    st, owned = _open(store)
    try:
        ids = [match_id] if isinstance(match_id, str) else list(match_id)
        parsed = [parse_swap(s) for s in swaps]
        base_swaps = None if baseline is None else [parse_swap(s) for s in baseline]
        _check(from_turn, samples, seed, ids)
        originals = [st.get(m) for m in ids]
        for t in originals:
            if st.branch(t.match_id) is not None:
                raise ValueError(f"{t.match_id} is itself a branch; branch its parent "
                                 f"{st.branch(t.match_id)['parent']} instead")  # type: ignore[index]
        models = BranchModels(st.path.parent, run_config(st.path.parent))
        try:
            played = 0
            key, branches, n = _branch_all(st, models, originals, from_turn, parsed, samples, seed, on_branch)
            played += n
            base = None
            if base_swaps is not None:
                _, base, n = _branch_all(st, models, originals, from_turn, base_swaps, samples, seed, on_branch)
                played += n
        finally:
            models.close()
        arena = make_from_spec(originals[0].arena) if originals else None
        diff = compare(originals, branches, from_turn, arena, base)
        return WhatIf(originals, branches, diff, key, played, base)
    finally:
        if owned:
            st.close()


def _check(from_turn: int, samples: int, seed: int | None, ids: list[str]) -> None:
    if not ids:
        raise ValueError("no match selected; name one with --match ID or select some with --where iteration=N")
    if isinstance(from_turn, bool) or not isinstance(from_turn, int) or from_turn < 0:
        raise ValueError(f"--from-turn {from_turn!r}: must be a turn index >= 0")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise ValueError(f"--samples {samples!r}: must be a whole number >= 1")
    if seed is None and samples > 1:
        raise ValueError("--recorded-seeds replays the recorded row seeds, so every sample would be the same "
                         "branch; use --samples 1, or drop --recorded-seeds to give each sample its own seed")


def _branch_all(store: Store, models: BranchModels, originals: list[Transcript], from_turn: int,
                swaps: list[Swap], samples: int, seed: int | None,
                on_branch: Callable[[Transcript], None] | None) -> tuple[str, dict[str, list[Transcript]], int]:
    """Play every missing branch; returns the key, each original's branches and how many were played."""
    key = whatif_key(from_turn, swaps, seed)
    swapped = {s.seat for s in swaps}
    groups: dict[str, list[Transcript]] = {}
    for t in originals:  # one runner call per group: same arena, iteration and seats
        sig = json.dumps([t.arena.model_dump(mode="json"), t.iteration, t.roles, t.run_id], sort_keys=True)
        groups.setdefault(sig, []).append(t)
    played = 0
    for group in groups.values():
        arena = make_from_spec(group[0].arena)
        roles = apply_swaps(recorded_roles(arena, group[0]), swaps, arena.id)
        _install(models, group[0], roles, swapped)
        for chunk in _distinct_seeds(group):
            for k in range(samples):
                todo = [t for t in chunk if store.branch(branch_id(t.match_id, key, k)) is None]
                if todo:
                    played += _play(store, models, arena, roles, todo, from_turn, swaps, key, k, seed, on_branch)
    branches = {t.match_id: [store.get(branch_id(t.match_id, key, k)) for k in range(samples)] for t in originals}
    return key, branches, played


def branch_id(parent: str, key: str, sample: int) -> str:
    """``<parent>~<key>-k<sample>``."""
    return f"{parent}~{key}-k{sample}"


def _distinct_seeds(group: list[Transcript]) -> list[list[Transcript]]:
    """Split a group so each runner call has distinct match seeds (ids are made from seeds)."""
    chunks: list[list[Transcript]] = []
    for t in group:
        chunk = next((c for c in chunks if all(u.seed != t.seed for u in c)), None)
        if chunk is None:
            chunks.append([t])
        else:
            chunk.append(t)
    return chunks


def _install(models: BranchModels, record: Transcript, roles: dict[str, Role], swapped: set[str]) -> None:
    """Load every adapter version the seats play: recorded ones as recorded, swapped ones as named."""
    for seat, role in roles.items():
        models.engine(role.model)
        if role.adapter is None:
            continue
        found = SNAPSHOT.match(role.adapter)
        if seat in swapped and found:
            models.install(role.model, role.adapter, int(found["version"]))
            continue
        versions = {u.adapter_version for u in record.turns if u.role == seat}
        version = next(iter(versions), None)
        if version is None:  # a seat that never played: its recorded adapter at the version others record
            version = next((u.adapter_version for u in record.turns if u.adapter == role.adapter), 0) or 0
        models.install(role.model, role.adapter, int(version))


def _play(store: Store, models: BranchModels, arena: Any, roles: dict[str, Role], todo: list[Transcript],
          from_turn: int, swaps: list[Swap], key: str, k: int, seed: int | None,
          on_branch: Callable[[Transcript], None] | None) -> int:
    records = {t.seed: t for t in todo}
    seeds = {t.seed: None if seed is None else derive_seed(seed, "branch", t.match_id, from_turn, key, k) % (1 << 62)
             for t in todo}
    prefix = BranchPrefix(records, from_turn, seeds, {s.seat for s in swaps})
    batch = int(models.config.get("play", {}).get("max_in_flight", 64))
    runner = Runner({m: models.engine(m) for m in {r.model for r in roles.values()}}, roles,
                    version_of=models.version_of, prefix=prefix, max_in_flight=batch)
    count = 0

    def on_finish(branch: Transcript) -> None:
        nonlocal count
        original = records[branch.seed]
        branch.match_id = branch_id(original.match_id, key, k)
        for info_seat, info in original.roles.items():  # annotations the roles do not make
            for name, value in info.items():
                branch.roles.get(info_seat, {}).setdefault(name, value)
        if from_turn and branch.turns:  # before the branch turn, the record is the original's
            head = [t.model_copy(deep=True) for t in original.turns[:from_turn]]
            branch.turns = head + branch.turns[len(head):]
            if branch.status == "finished":
                apply_rewards(branch, list(arena.rewards()))
        store.add(branch, {"parent": original.match_id, "from_turn": from_turn, "swaps": [str(s) for s in swaps],
                           "branch_seed": seeds[branch.seed], "sample": k, "whatif": key})
        count += 1
        faults.point("whatif")
        if on_branch is not None:
            on_branch(branch)

    runner.play(arena, list(records), run_id=todo[0].run_id, iteration=todo[0].iteration, on_finish=on_finish)
    return count
