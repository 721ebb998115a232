"""Play matches of an arena on real models and store them in a run directory.

This is what ``sparring play`` runs: check the settings, load the base model once, bind
roles (optionally to LoRA adapters: fresh ones, or saved peft folders such as a training
run's ``adapters/judge/v3``), play ``matches`` concurrently with the runner, store each
transcript as soon as it finishes, and summarise rewards and throughput.

A run directory belongs to one set of settings. Playing again into it with the same
arena, model, seed, roles and adapters skips the matches already stored, so an
interrupted play is completed, never duplicated (and ``matches`` may grow); other
settings are refused with the differences named, before any model loads, rather than
mixing two experiments under one ``config.toml``.

Modules: saved adapter folders (read and loaded) are in
:mod:`sparring.runs.playing.adapter_folders`, the same-run check in
:mod:`sparring.runs.playing.same_run`.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from sparring.agents.engines import ENGINES
from sparring.agents.pool import ModelPool
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams, derive_seed
from sparring.arenas.arena import Arena
from sparring.arenas.runner import Runner, bind_roles
from sparring.arenas.transcript import Transcript
from sparring.runs.playing.adapter_folders import MODEL, add_adapters, read_adapter_folder
from sparring.runs.playing.same_run import check_same_run
from sparring.runs.progress import progress_bar
from sparring.runs.recipes.machine import check_engine, make_run_engine
from sparring.runs.recipes.recipe import (
    ADAPTER_NAME,
    ModelSection,
    RecipeError,
    ServerSection,
    show_value,
)
from sparring.runs.recipes.validate import check_device, check_model_source, make_arena
from sparring.runs.storage.rundir import RunDir
from sparring.runs.training import monitors

if TYPE_CHECKING:
    from sparring.runs.playing.distributed import RayOptions, RayWorkers

# saved adapter folders and the same-run check live in their own modules; re-exported here
__all__ = ["MODEL", "ROLE_FIELDS", "PlayConfig", "PlaySummary", "add_adapters", "check_adapter_name",
           "check_same_run", "engine_section", "match_seeds", "play", "read_adapter_folder", "resolve_roles"]

_SAMPLING_FIELDS = tuple(f.name for f in fields(SamplingParams))
ROLE_FIELDS: tuple[str, ...] = ("adapter", *_SAMPLING_FIELDS)
"""Fields a seat override may set (``--role SEAT.FIELD=VALUE``)."""
_FIELD_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "adapter": ((str,), "an adapter name"),
    "temperature": ((int, float), "a number"),
    "top_p": ((int, float), "a number"),
    "max_new_tokens": ((int,), "an integer"),
    "stop": ((str, list), "a string or a list of strings"),
}


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
        roles: Per-seat overrides (see :data:`ROLE_FIELDS`): ``adapter`` (an adapter name:
            one of ``adapters``, else a fresh adapter created on the spot) and sampling
            fields (``temperature``, ``top_p``, ``max_new_tokens``, ``stop``).
        adapters: Saved peft adapter folders to load, by adapter name, e.g.
            ``{"judge": "RUN/adapters/judge/v3"}``; rank and target modules come from the
            folder's ``adapter_config.json``. A seat plays on one with
            ``roles={"judge": {"adapter": "judge"}}``.
        engine: ``hf``, ``vllm`` or ``openai`` (see :class:`~sparring.runs.recipes.recipe.ModelSection`).
        server: Settings of the ``vllm``/``openai`` engine, the fields of a recipe's
            ``[model.server]`` (``openai``: ``base_url``, ``model``, ``api_key_env``...).
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
    adapters: dict[str, str] = field(default_factory=dict)
    engine: str = "hf"
    server: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out = str(self.out)  # recorded in config.toml as given
        self.adapters = {name: str(path) for name, path in self.adapters.items()}
        if self.matches < 1:
            raise ValueError(f"matches must be >= 1, got {self.matches}")
        for name in self.adapters:
            check_adapter_name(name, f"adapters.{name}")
        for seat, opts in self.roles.items():
            for key, value in opts.items():
                _check_role_field(seat, key, value, self.adapters)
        used = {opts.get("adapter") for opts in self.roles.values()}
        for name, path in self.adapters.items():
            if name not in used:
                raise ValueError(
                    f"adapter {name!r} is loaded from {path} but no seat plays on it; "
                    f"bind a seat to it with --role SEAT.adapter={name}"
                )


def check_adapter_name(name: Any, where: str) -> str:
    """An adapter name, or a ``ValueError`` saying what a name may hold."""
    if not isinstance(name, str) or not ADAPTER_NAME.match(name) or name in (".", ".."):
        raise ValueError(
            f"{where}: adapter name {name!r} must be letters, digits, '_', '-' or '.' "
            "(it names a folder under adapters/)"
        )
    return name


def _check_role_field(seat: str, key: str, value: Any, adapters: dict[str, str]) -> None:
    where = f"roles.{seat}.{key}"
    if key not in ROLE_FIELDS:
        hint = ""
        if key in ("init_from", "from", "path", "weights", "checkpoint"):
            hint = (f"; to play {seat} on a saved adapter folder, load it with --adapter NAME=PATH "
                    f"and bind it with --role {seat}.adapter=NAME")
        raise ValueError(f"{where}: unknown field {key!r}; a seat takes {', '.join(ROLE_FIELDS)}{hint}")
    types, what = _FIELD_TYPES.get(key, ((object,), "a value"))
    if isinstance(value, bool) or not isinstance(value, types):
        raise ValueError(f"{where} must be {what}, got {value!r}")
    if key == "stop" and isinstance(value, list) and not all(isinstance(s, str) for s in value):
        raise ValueError(f"{where} must be a string or a list of strings, got {value!r}")
    if key == "adapter":
        if "/" in value or "\\" in value:
            raise ValueError(
                f"{where} = {value!r} is a path, not an adapter name; load the folder with "
                f"--adapter {seat}={value} and bind it with --role {seat}.adapter={seat}"
            )
        check_adapter_name(value, where)


@dataclass
class PlaySummary:
    """What a play produced.

    Attributes:
        rewards: ``{"<reward>/<seat>": {"mean", "std", "count"}}`` over the matches played.
        seats: ``{seat: {"turns", "parse_errors", "parse_error_rate"}}`` over those matches.
        monitors: The metrics the arena declares (``Arena.monitors()``) over those matches.
        crashes: The first exception of each distinct crash of the errored matches
            (``Runner.crashes``), for a report of where the code broke; empty on Ray workers.
    """

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
    seats: dict[str, dict[str, float]] = field(default_factory=dict)
    monitors: dict[str, float] = field(default_factory=dict)
    crashes: list[BaseException] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per wall-clock second of playing."""
        return self.generated_tokens / self.seconds if self.seconds else 0.0


def match_seeds(seed: int, matches: int) -> list[int]:
    """Match seeds of a play: stable functions of the run seed and the match number."""
    return [derive_seed(seed, "match", i) % (1 << 31) for i in range(matches)]


def resolve_roles(arena: Arena, overrides: dict[str, dict[str, Any]], model: str = MODEL) -> dict[str, Role]:
    """The arena's roles with per-seat overrides applied, all bound to ``model``.

    Pure: no model is loaded and no adapter created (see :func:`add_adapters`).
    """
    roles = bind_roles(arena, None)
    for seat, opts in overrides.items():
        if seat not in roles:
            raise ValueError(f"roles.{seat}: {seat!r} is not a seat of {arena.id} (seats: {', '.join(arena.roles)})")
        opts = dict(opts)
        if isinstance(opts.get("stop"), str):  # one stop string, not its characters
            opts["stop"] = [opts["stop"]]
        adapter = opts.pop("adapter", roles[seat].adapter)
        try:
            roles[seat] = roles[seat].bind(adapter=adapter, **opts)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"roles.{seat}: {exc}") from None
    return {seat: role.bind(model=model) for seat, role in roles.items()}


_FLAGS = ((re.compile(r"recipe field 'arena\.kwargs\.([^']+)'"), r"--arena-arg \1"),
          (re.compile(r"recipe field 'arena\.kwargs'( =)?"), "--arena-arg"),
          (re.compile(r"recipe field 'arena\.name' ="), "arena"),
          (re.compile(r"recipe field 'model\.source' ="), "--model"),
          (re.compile(r"recipe field 'model\.device' ="), "--device"),
          (re.compile(r"recipe field 'model\.engine' ="), "--engine"),
          (re.compile(r"recipe field 'model\.server\.([^']+)' ="), r"--server \1 ="))


def _as_flags(message: str) -> str:
    """The shared checks name recipe fields; ``play`` takes the same values as flags."""
    for pattern, flag in _FLAGS:
        message = pattern.sub(flag, message)
    return message


def engine_section(config: PlayConfig) -> ModelSection:
    """``config``'s model and engine settings as a recipe's ``[model]`` section (checked alike).

    Errors name the flag (``--engine``, ``--server KEY``), as ``sparring play`` takes them.
    """
    if config.engine not in ENGINES:
        raise ValueError(f"--engine {config.engine!r}: must be one of {', '.join(ENGINES)}")
    if not isinstance(config.server, dict):
        raise ValueError(f"server must be a dict of [model.server] fields, got {config.server!r}")
    try:
        # strict, as in a recipe: a TOML ``true`` is no concurrency, nor ``"5"`` a timeout
        ServerSection.model_validate(config.server)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            raise ValueError(f"--server {key}: unknown field; the server takes "
                             f"{', '.join(ServerSection.model_fields)}") from None
        given = f" = {show_value(first['input'])}" if "input" in first else ""
        raise ValueError(f"--server {key}{given}: {first['msg'].removeprefix('Value error, ')}") from None
    try:
        return ModelSection.model_validate({"source": config.model, "dtype": config.dtype, "device": config.device,
                                            "batch_size": config.batch_size, "engine": config.engine,
                                            "server": config.server}, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        # the check across fields names recipe fields; say how play spells them
        if not where and " needs model.server." in message:
            message += "; with sparring play: --server base_url=URL --server model=NAME"
        elif not where and "are not read by engine" in message:
            message += "; with sparring play: drop --server base_url/model, or pass --engine openai"
        raise ValueError(f"{'engine settings' if not where else where}: {message}") from None


def play(config: PlayConfig, progress: bool = True, ray: RayOptions | RayWorkers | None = None) -> PlaySummary:
    """Play ``config.matches`` matches and store them in ``config.out``.

    ``ray`` plays them on Ray worker actors (:mod:`sparring.runs.playing.distributed`): options to
    start them for this play, or workers already started (left running); the store stays here.
    """
    # Everything that can be wrong with the settings is checked before the model loads.
    for flag, value in (("--batch-size", config.batch_size), ("--max-in-flight", config.max_in_flight),
                        ("--matches", config.matches)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{flag} {value}: must be a whole number >= 1")
    out = Path(config.out).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {config.out}: a file is there, not a directory; pick another --out")
    try:
        arena = make_arena(config.arena, config.arena_kwargs, "arena")
    except RecipeError as exc:
        raise RecipeError(_as_flags(str(exc))) from None
    roles = resolve_roles(arena, config.roles)
    saved = {name: read_adapter_folder(name, path) for name, path in config.adapters.items()}
    try:
        section = engine_section(config)
        if section.engine != "openai":  # an openai engine loads no local model
            check_model_source(config.model)
            check_device(config.device)
        check_engine(section)
    except RecipeError as exc:
        raise RecipeError(_as_flags(str(exc))) from None
    if section.engine == "openai":
        for seat, role in roles.items():
            if role.adapter is not None:
                raise ValueError(f"roles.{seat}.adapter = {role.adapter!r}: engine \"openai\" serves the remote model "
                                 "as it is, without adapters; remove the adapter")
    run = RunDir(config.out)
    resolved = {"command": "play", "play": {**asdict(config), "arena": arena.id},
                "arena": arena.spec().model_dump(mode="json"),
                "roles": {seat: role.describe() for seat, role in roles.items()},
                "adapters": saved}
    check_same_run(run, resolved)
    pool = ModelPool(device=config.device, dtype=config.dtype)
    loaded = None
    if section.engine != "openai":
        loaded = pool.load(MODEL, config.model)
        add_adapters(pool, roles, saved)
    engine = make_run_engine(section, loaded)  # an unreachable server fails at its first batch
    store = run.open_store()  # only once the model is in: a failed load leaves no run folder
    seeds = match_seeds(config.seed, config.matches)
    done = set(store.match_ids())
    todo = [s for s in seeds if f"i0-s{s}" not in done]
    run_id = run.path.name
    resolved["model"] = loaded.describe() if loaded is not None else engine.describe()  # never an API key
    run.write_config(resolved)
    store.add_run(run_id, resolved)
    runner: Any = Runner({MODEL: engine}, roles, max_in_flight=config.max_in_flight,
                         version_of=lambda role: pool.version(role.model, role.adapter) if loaded is not None else None)
    workers, owned = None, False
    if ray is not None and todo:
        from sparring.runs.playing.distributed import WorkerSpec, workers_for

        try:
            workers, owned = workers_for(ray, WorkerSpec(section), pool)
        except BaseException:
            store.close()
            raise
        runner = workers.runner(roles, max_in_flight=config.max_in_flight)
    finished: list[Transcript] = []

    def on_finish(transcript: Transcript) -> None:
        store.add(transcript)
        finished.append(transcript)
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
        getattr(engine, "close", lambda: None)()  # a vLLM server stops with the play
        if owned:
            workers.close()
    seconds = time.perf_counter() - started
    scored = [t for t in finished if t.status == "finished"]
    return PlaySummary(
        out=run.path, matches=len(finished), skipped=len(seeds) - len(todo),
        errors=len(finished) - len(scored), rewards=monitors.reward_table(finished),
        generated_tokens=runner.stats.generated_tokens, seconds=seconds,
        engine_seconds=runner.stats.engine_seconds,
        turns=sum(len(t.turns) for t in finished),
        parse_errors=sum(1 for t in finished for u in t.turns if u.parse_error),
        seats=monitors.seat_parse_stats(finished),
        monitors=monitors.arena_monitors(arena, finished) if scored else {},
        crashes=list(getattr(runner, "crashes", {}).values()),  # a Ray runner's crashes stay on its workers
    )
