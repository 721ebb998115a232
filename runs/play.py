"""Play matches of an arena on real models and store them in a run directory.

This is what ``sparring play`` runs: load the base model(s) once, bind roles (optionally
to LoRA adapters), play ``matches`` concurrently with the runner, store each transcript
as soon as it finishes, and summarise rewards and throughput. Playing again into the same
directory with the same seed skips the matches already stored, so an interrupted play
is completed, never duplicated.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sparring.agents.pool import ModelPool
from sparring.agents.roles import Role
from sparring.agents.sampling import derive_seed
from sparring.arenas.registry import make
from sparring.arenas.runner import Runner, bind_roles
from sparring.arenas.transcript import Transcript
from sparring.runs.progress import progress_bar
from sparring.runs.rundir import RunDir


@dataclass
class PlayConfig:
    """Settings of one ``play`` call.

    Attributes:
        arena: Arena id, short name, ``file.py:Class`` or ``module:Class``.
        out: Run directory to write.
        matches: Number of matches to play.
        seed: Run seed; match seeds are derived from it.
        model: Base model: ``default`` (embedded SmolLM2-135M-Instruct), ``tiny`` or a path.
        dtype: ``auto`` (bf16 where the CPU/GPU has it natively, else fp32), ``fp32``, ``bf16``.
        device: ``cpu`` or ``cuda``.
        batch_size: Most rows per forward batch.
        max_in_flight: Most matches alive at once.
        arena_kwargs: Constructor arguments of the arena.
        roles: Per-seat overrides: ``adapter`` (a LoRA adapter name, created if missing) and
            sampling fields (``temperature``, ``top_p``, ``max_new_tokens``).
    """

    arena: str
    out: str
    matches: int = 32
    seed: int = 0
    model: str = "default"
    dtype: str = "auto"
    device: str = "cpu"
    batch_size: int = 32
    max_in_flight: int = 64
    arena_kwargs: dict[str, Any] = field(default_factory=dict)
    roles: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.matches < 1:
            raise ValueError(f"matches must be >= 1, got {self.matches}")


@dataclass
class PlaySummary:
    """What a play produced."""

    out: Path
    matches: int
    skipped: int
    errors: int
    rewards: dict[str, dict[str, float]]
    generated_tokens: int
    seconds: float
    engine_seconds: float
    turns: int = 0
    parse_errors: int = 0

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per wall-clock second of playing."""
        return self.generated_tokens / self.seconds if self.seconds else 0.0


def match_seeds(seed: int, matches: int) -> list[int]:
    """Match seeds of a play: stable functions of the run seed and the match number."""
    return [derive_seed(seed, "match", i) % (1 << 31) for i in range(matches)]


def reward_means(transcripts: list[Transcript]) -> dict[str, dict[str, float]]:
    """Mean value and count of every (reward, role) over the transcripts."""
    sums: dict[tuple[str, str], list[float]] = defaultdict(list)
    for t in transcripts:
        for r in t.rewards:
            sums[(r.reward, r.role)].append(r.value)
    return {
        f"{name}/{role}": {"mean": sum(v) / len(v), "count": float(len(v))}
        for (name, role), v in sorted(sums.items())
    }


def bind_config_roles(arena: Any, pool: ModelPool, model_name: str, overrides: dict[str, dict[str, Any]]) -> dict[str, Role]:
    """Roles of the arena with per-seat overrides applied (adapters created in the pool)."""
    roles = bind_roles(arena, None)
    for seat, opts in overrides.items():
        if seat not in roles:
            raise ValueError(f"roles.{seat}: {seat!r} is not a seat of {arena.id} (seats: {', '.join(arena.roles)})")
        opts = dict(opts)
        adapter = opts.pop("adapter", roles[seat].adapter)
        if adapter is not None and adapter not in pool.adapter_names(model_name):
            pool.add_adapter(model_name, adapter)
        roles[seat] = roles[seat].bind(model=model_name, adapter=adapter, **opts)
    for seat in roles:
        roles[seat] = roles[seat].bind(model=model_name)
    return roles


def play(config: PlayConfig, progress: bool = True) -> PlaySummary:
    """Play ``config.matches`` matches and store them in ``config.out``."""
    from sparring.agents.engines.hf import HFEngine

    arena = make(config.arena, **config.arena_kwargs)
    run = RunDir(config.out)
    store = run.open_store()
    seeds = match_seeds(config.seed, config.matches)
    done = set(store.match_ids())
    todo = [s for s in seeds if f"i0-s{s}" not in done]
    pool = ModelPool(device=config.device, dtype=config.dtype)
    loaded = pool.load("default", config.model)
    roles = bind_config_roles(arena, pool, "default", config.roles)
    run_id = run.path.name
    resolved = {"command": "play", "play": {**asdict(config), "arena": arena.id},
                "arena": arena.spec().model_dump(mode="json"),
                "model": loaded.describe(),
                "roles": {seat: role.describe() for seat, role in roles.items()}}
    run.write_config(resolved)
    store.add_run(run_id, resolved)
    engine = HFEngine(loaded, max_batch_size=config.batch_size)
    runner = Runner({"default": engine}, roles, max_in_flight=config.max_in_flight,
                    version_of=lambda role: pool.version(role.model, role.adapter))
    finished: list[Transcript] = []

    def on_finish(t: Transcript) -> None:
        store.add(t)
        finished.append(t)
        if bar is not None:
            bar.update(task, advance=1, tokens=runner.stats.generated_tokens)

    bar = None
    started = time.perf_counter()
    try:
        if progress and todo:
            with progress_bar(fields=("tokens",)) as bar:
                task = bar.add_task(f"playing {arena.id}", total=len(todo), tokens=0)
                runner.play(arena, todo, run_id=run_id, on_finish=on_finish)
        elif todo:
            runner.play(arena, todo, run_id=run_id, on_finish=on_finish)
    finally:
        store.close()
    seconds = time.perf_counter() - started
    return PlaySummary(
        out=run.path, matches=len(finished), skipped=len(seeds) - len(todo),
        errors=sum(t.status != "finished" for t in finished), rewards=reward_means(finished),
        generated_tokens=runner.stats.generated_tokens, seconds=seconds,
        engine_seconds=runner.stats.engine_seconds,
        turns=sum(len(t.turns) for t in finished),
        parse_errors=sum(1 for t in finished for u in t.turns if u.parse_error),
    )
