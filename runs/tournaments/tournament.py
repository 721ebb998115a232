"""Tournaments: players meet in an arena's two competing seats; results feed the ratings.

A **player** is what sits in a competing seat: the arena's role for that seat (prompt,
parser, sampling) bound to the base model, to a saved peft adapter folder (a version of
a training run, ``RUN/adapters/solver/v3``), or to a scripted policy (a fixed reply, a
random choice from a list, or a function of the prompt, seeded by the row) that serves
as an anchor. Adapter players are adapters on the one copy of the base model, so a
tournament of eight versions costs eight adapters' megabytes, not eight models.

**Scheduling.** ``round-robin``: every pair plays ``games`` matches in each seat order
(``both_orders``, the default, as competing seats are rarely symmetric), scheduled game
index by game index so that a ``budget`` cuts evenly across pairings. ``swiss``: each
round pairs players of similar points by a maximum-weight matching (networkx) that
first avoids rematches (a pair meets again only when no rematch-free pairing exists),
then pairs close scores, then balances seat order; with an odd count the lowest-ranked
player with the fewest byes sits out (a bye scores nothing). Every match of a round goes
through one ``Runner.play`` call, so all pairings batch together (rows of different
adapters share a forward pass).

**Storage and resume.** Transcripts go to the run's store like any others, one
transaction each, with ``roles[seat]["player"]`` naming who sat where. Match ids are
``<first>:<second>:g<k>`` (first-seat player, second-seat player, the pairing's k-th game
in that order) and match seeds derive from the same triple, so running the command again
on the same directory skips what is stored and plays only the rest, never a duplicate; a
larger ``budget`` or more ``rounds`` extends a finished tournament. Swiss pairings are
recomputed from the stored results, so they come out the same.

**Engines.** The base model and its adapter players generate on the engine ``[model]
engine`` names (:func:`sparring.runs.recipes.machine.make_run_engine`, as ``play`` and ``train``):
``hf`` in this process, ``vllm`` on a server started here and stopped when the tournament
ends, ``openai`` on a remote server that only the base player (and default-bound seats)
use; an adapter player on ``openai`` is refused before anything loads. Scripted players
always run in this process.

**Who won** is :func:`sparring.arenas.competitive.decide`: the arena's ``winner`` method
when it has one, else the higher reward of the two seats (``arena.reward`` picks one).

Modules: the tournament file and its validation are in
:mod:`sparring.runs.tournaments.tournament_config`, the pairings in :mod:`sparring.runs.tournaments.schedule`,
who won a stored match in :mod:`sparring.runs.tournaments.results`, rating a run directory
(``rate_run``) in :mod:`sparring.runs.tournaments.run_ratings`.

Simplification: the two seat orders of a pairing play different seeds (the runner needs
distinct seeds per call), so a pairing is not evaluated on identical questions per order.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparring.agents.engines.scripted import ScriptedEngine
from sparring.agents.roles import Role
from sparring.arenas.arena import Arena
from sparring.arenas.errors import ArenaError
from sparring.arenas.pettingzoo_arena import load_function
from sparring.arenas.runner import Runner, bind_roles
from sparring.arenas.seating import seated_arena
from sparring.arenas.transcript import Transcript
from sparring.runs import faults
from sparring.runs.progress import progress_bar
from sparring.runs.recipes.recipe import (
    RecipeError,
    show_value,
)
from sparring.runs.storage.rundir import RunDir
from sparring.runs.storage.store import Store
from sparring.runs.tournaments.results import (
    RESULTS,
    competing_seats,
    game_of,
    record_result,
    stored_games,
)
from sparring.runs.tournaments.run_ratings import (
    RunRatings,
    rate_run,
    read_tournament,
    version_series,
)
from sparring.runs.tournaments.schedule import Scheduled, SwissState, round_robin, swiss_round
from sparring.runs.tournaments.tournament_config import (
    MODEL,
    PlayerSection,
    TournamentConfig,
    TournamentError,
    load_tournament,
    tournament_message,
)

if TYPE_CHECKING:
    from sparring.runs.playing.distributed import RayOptions, RayWorkers

# results and run ratings live in their own modules; re-exported for callers of this one
__all__ = ["MODEL", "RESULTS", "PlayerSection", "RunRatings", "TournamentConfig", "TournamentError",
           "TournamentSummary", "competing_seats", "game_of", "load_tournament", "play_scheduled",
           "policy_script", "rate_run", "read_tournament", "record_result", "run_tournament",
           "stored_games", "version_series"]


# -- running --------------------------------------------------------------------------
def play_scheduled(runner: Runner, arena: Arena, seats: Sequence[str], seat_roles: Mapping[tuple[str, str], Role],
                   matches: Sequence[Scheduled], store: Store, *, seed: int, run_id: str, iteration: int,
                   reward: str | None = None, on_stored: Callable[[Transcript], None] | None = None) -> int:
    """Play the ``matches`` not yet in ``store`` through one ``runner.play`` call; returns how many.

    ``seat_roles[(seat, player)]`` is the role a player plays a seat with. Each transcript is
    stored as it finishes under its scheduled match id, with ``roles[seat]["player"]`` set
    and the result decided by ``arena`` (``reward`` as in :func:`decide`) in
    ``roles[seat]["result"]``.
    """
    done = set(store.match_ids())
    todo = {m.seed(seed): m for m in matches if m.match_id not in done}
    if len(todo) != len({m.match_id for m in matches if m.match_id not in done}):
        raise RuntimeError(f"two matches of round {iteration} drew the same seed; change the seed")
    if not todo:
        return 0
    first, second = seats
    seatings = {s: {first: seat_roles[(first, m.first)], second: seat_roles[(second, m.second)]} for s, m in todo.items()}

    def finish(t: Transcript) -> None:
        m = todo[t.seed]
        t.match_id = m.match_id
        for seat, player in ((first, m.first), (second, m.second)):
            t.roles[seat] = {**seat_roles[(seat, player)].describe(), "player": player}
        record_result(t, arena, reward)
        store.add(t)
        if on_stored is not None:
            on_stored(t)

    runner.play(seated_arena(arena, seatings), list(todo), run_id=run_id, iteration=iteration, on_finish=finish)
    return len(todo)


def policy_script(ref: str) -> Callable[[Any, int], str]:
    """A scripted engine's script that replies ``function(messages, rng)`` for a
    ``"module:function"`` policy, with ``rng`` seeded by the request (replayable)."""
    policy = load_function(ref, "policy")
    return lambda request, index: policy(request.messages, random.Random(request.seed))


def _script(player: PlayerSection) -> Callable[[Any, int], str]:
    if player.policy is not None:
        return policy_script(player.policy)
    if player.reply is not None:
        reply = player.reply
        return lambda request, index: reply
    choices = list(player.choices or [])
    return lambda request, index: random.Random(request.seed).choice(choices)


@dataclass
class TournamentSummary:
    """What a tournament call did."""

    out: Path
    scheduled: int
    played: int
    skipped: int
    errors: int
    rounds: int
    generated_tokens: int = 0
    seconds: float = 0.0
    crashes: list[BaseException] = field(default_factory=list)
    """The first exception of each distinct crash of the errored matches (``Runner.crashes``;
    empty on Ray workers), for a report of where the code broke."""

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per wall-clock second of playing."""
        return self.generated_tokens / self.seconds if self.seconds else 0.0


def _identity(resolved: dict[str, Any]) -> dict[str, Any]:
    """What makes two tournament calls the same tournament (as config.toml records it: no
    None values); the budget, rounds, concurrency, batch size and server settings other than
    ``model.server.base_url`` and ``model.server.model`` may change."""

    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items() if x is not None}
        return [plain(x) for x in v if x is not None] if isinstance(v, list) else v

    t = plain(json.loads(json.dumps(resolved.get("tournament", {}))))
    for key in ("budget", "rounds", "max_in_flight"):
        t.get("schedule", {}).pop(key, None)
    t.get("model", {}).pop("batch_size", None)
    server = t.get("model", {}).get("server", {})
    for key in [k for k in server if k not in ("base_url", "model")]:  # how the server is reached, not who plays
        server.pop(key)
    return {"tournament": t, "arena": resolved.get("arena", {}).get("id")}


def _differences(old: dict[str, Any], new: dict[str, Any], path: str = "") -> list[str]:
    out = []
    for key in sorted(set(old) | set(new)):
        where = f"{path}.{key}" if path else key
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, where))
        elif a != b:
            out.append(f"{where}: recorded {show_value(a)}, now {show_value(b)}")
    return out


def _resolve_seats(config: TournamentConfig, arena: Arena) -> list[str]:
    seats = config.arena.seats
    if seats is None:
        if len(arena.roles) != 2:
            raise TournamentError(
                f"tournament field 'arena.seats': {arena.id} has seats {', '.join(arena.roles)}; "
                "name the two competing seats, e.g. seats = [\"pro\", \"con\"]")
        return list(arena.roles)
    if len(seats) != 2 or len(set(seats)) != 2:
        raise TournamentError(f"tournament field 'arena.seats' = {show_value(seats)}: name exactly two different seats")
    for seat in seats:
        if seat not in arena.roles:
            raise TournamentError(f"tournament field 'arena.seats' = {show_value(seats)}: {seat!r} is not a seat of "
                                  f"{arena.id} (seats: {', '.join(arena.roles)})")
    return list(seats)


def _check(config: TournamentConfig) -> tuple[Arena, list[str], dict[str, dict[str, Any]], bool]:
    """Everything that can be wrong with a tournament, before any model loads: the arena,
    its competing seats, the fixed seats, the reward, adapter folders, model and device.
    Returns the arena, the two seats, the adapter folders read and whether a model is needed."""
    from sparring.runs.playing.play import read_adapter_folder
    from sparring.runs.recipes.machine import check_engine
    from sparring.runs.recipes.validate import check_device, check_model_source, make_arena

    try:
        arena = make_arena(config.arena.name, config.arena.kwargs, "arena")
    except RecipeError as exc:
        raise TournamentError(tournament_message(str(exc))) from None
    seats = _resolve_seats(config, arena)
    for seat in config.roles:
        if seat not in arena.roles or seat in seats:
            raise TournamentError(
                f"tournament field 'roles.{seat}': {seat!r} is not a non-competing seat of {arena.id} "
                f"(competing: {', '.join(seats)}; others: {', '.join(s for s in arena.roles if s not in seats) or 'none'})")
    if config.arena.reward is not None:
        names = [r.name for r in arena.rewards()]
        if config.arena.reward not in names:
            raise TournamentError(f"tournament field 'arena.reward' = {show_value(config.arena.reward)}: {arena.id} has "
                                  f"rewards {', '.join(names) or 'none'}")
    # Everything bound to the base model: players, and the fixed non-competing seats.
    bindings = {**{name: p for name, p in config.players.items()},
                **{f"_seat_{seat}": p for seat, p in config.roles.items()}}
    saved: dict[str, dict[str, Any]] = {}
    for name, p in bindings.items():
        if p.policy is not None:
            try:
                load_function(p.policy, "policy")
            except ArenaError as exc:
                where = f"players.{name}" if not name.startswith("_seat_") else f"roles.{name[6:]}"
                raise TournamentError(f"tournament field '{where}.policy': {exc}") from None
        if p.adapter is None:
            continue
        where = f"players.{name}" if not name.startswith("_seat_") else f"roles.{name[6:]}"
        if config.model.engine == "openai":
            raise TournamentError(
                f"tournament field '{where}.adapter' = {show_value(p.adapter)}: model.engine = \"openai\" "
                "serves the remote model as it is, without adapters; remove the adapter or set "
                "model.engine = \"hf\" or \"vllm\"")
        try:
            saved[name] = read_adapter_folder(name, p.adapter)
        except (OSError, ValueError) as exc:
            raise TournamentError(str(exc).replace(f"--adapter {name}={p.adapter}",
                                                   f"tournament field '{where}.adapter' = {show_value(p.adapter)}")) from None
    needs_model = any(p.kind in ("base", "adapter") for p in bindings.values()) or \
        any(s not in config.roles for s in arena.roles if s not in seats)
    if needs_model:
        try:
            if config.model.engine != "openai":  # an openai engine loads no local model
                check_model_source(config.model.source)
                check_device(config.model.device)
            check_engine(config.model)
        except RecipeError as exc:
            raise TournamentError(tournament_message(str(exc))) from None
    return arena, seats, saved, needs_model


def run_tournament(config: TournamentConfig | str | Path, out: str | Path, *, progress: bool = True,
                   overrides: Sequence[str] = (), ray: RayOptions | RayWorkers | None = None) -> TournamentSummary:
    """Play (or continue) the tournament ``config`` into the run directory ``out``.

    ``ray`` plays the matches on Ray worker actors (:mod:`sparring.runs.playing.distributed`):
    options to start them for this tournament, or workers already started (left running).
    """
    from sparring.runs.playing.play import add_adapters

    if not isinstance(config, TournamentConfig):
        config = load_tournament(config, overrides)
    arena, seats, saved, needs_model = _check(config)
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise TournamentError(f"--out {out}: a file is there, not a directory; pick another --out")
    run = RunDir(out)
    resolved = {"command": "tournament", "tournament": config.model_dump(mode="json"),
                "arena": arena.spec().model_dump(mode="json"), "seats": seats,
                "players": {name: {"kind": p.kind, **({"source": saved[name]["source"], "version": saved[name]["version"]}
                                                     if name in saved else {})}
                            for name, p in config.players.items()}}
    if run.config_path.exists():
        recorded = tomllib.loads(run.config_path.read_text())
        if recorded.get("command") != "tournament":
            raise FileExistsError(f"{run.path} holds a {recorded.get('command', 'different')} run; "
                                  "play the tournament into another --out directory")
        found = _differences(_identity(recorded)["tournament"], _identity(resolved)["tournament"])
        if found:
            raise FileExistsError(f"{run.path} holds another tournament ({'; '.join(found[:4])}); use another --out, "
                                  "or the recorded config to continue it (schedule.budget and schedule.rounds may change)")

    # Engines: the base model (with one adapter per adapter player) on the engine [model] names,
    # and one per scripted player.
    engines: dict[str, Any] = {}
    pool = None
    if needs_model:
        from sparring.agents.pool import ModelPool
        from sparring.runs.recipes.machine import make_run_engine

        loaded = None
        section = config.model
        if section.engine != "openai":  # an openai engine loads no local model
            pool = ModelPool(device=section.device, dtype=section.dtype)
            loaded = pool.load(MODEL, section.source)
            add_adapters(pool, {n: Role(name="player", adapter=n) for n in saved}, saved)
            if ray is not None:  # the workers generate: no vLLM server here for a runner that is replaced
                section = section.model_copy(update={"engine": "hf"})
        engines[MODEL] = make_run_engine(section, loaded)  # an unreachable server fails at its first batch
        resolved["model"] = loaded.describe() if loaded is not None else engines[MODEL].describe()  # never a key
    store: Store | None = None
    workers, owned = None, False
    try:
        defaults = bind_roles(arena, None)

        def bound(base: Role, name: str, p: PlayerSection) -> Role:
            if p.kind in ("fixed", "random", "policy"):
                model = f"scripted-{name}"
                if model not in engines:
                    engines[model] = ScriptedEngine(_script(p), max_batch_size=config.model.batch_size)
                return base.bind(model=model, adapter=None)
            return base.bind(model=MODEL, adapter=name if p.kind == "adapter" else None, **p.sampling())

        fixed = {seat: bound(defaults[seat], f"_seat_{seat}", config.roles[seat]) if seat in config.roles
                 else defaults[seat].bind(model=MODEL) for seat in arena.roles if seat not in seats}
        seat_roles = {(seat, name): bound(defaults[seat], name, p) for seat in seats for name, p in config.players.items()}
        first_player = next(iter(config.players))
        runner_roles = {**fixed, **{seat: seat_roles[(seat, first_player)] for seat in seats}}
        runner = Runner(engines, runner_roles, max_in_flight=config.schedule.max_in_flight,
                        version_of=lambda role: pool.version(role.model, role.adapter) if pool and role.adapter else None)

        store = run.open_store()
        run_id = run.path.name
        run.write_config(resolved)
        store.add_run(run_id, resolved)
        schedule = config.schedule
        budget = schedule.budget if schedule.budget is not None else float("inf")
        names = list(config.players)
        state = SwissState(names)
        totals = {"scheduled": 0, "played": 0, "skipped": 0, "errors": 0, "rounds": 0}
        started = time.perf_counter()
        ui: dict[str, Any] = {}  # the progress bar and its task while a round plays
        if ray is not None:  # workers hold the base (hf) and adapter players; scripted engines are shipped
            from sparring.runs.playing.distributed import WorkerSpec, workers_for

            # hf on the workers (a vLLM server each would not fit); openai: each worker is a client
            model = None if not needs_model else config.model if config.model.engine == "openai" else \
                config.model.model_copy(update={"engine": "hf"})
            workers, owned = workers_for(ray, WorkerSpec(model), pool)
            runner = workers.runner(runner_roles, max_in_flight=config.schedule.max_in_flight,  # type: ignore[assignment]
                                    engines={name: e for name, e in engines.items() if name != MODEL})
        rounds = 1 if schedule.kind == "round-robin" else schedule.rounds
        for r in range(rounds):
            if totals["scheduled"] >= budget:
                break
            if schedule.kind == "round-robin":
                planned = round_robin(names, schedule.games, schedule.both_orders)
            else:
                planned, _ = swiss_round(state, r, schedule.games)
            planned = planned[: int(min(len(planned), budget - totals["scheduled"]))]
            totals["scheduled"] += len(planned)
            totals["rounds"] += 1
            done = set(store.match_ids())
            todo = [m for m in planned if m.match_id not in done]
            totals["skipped"] += len(planned) - len(todo)

            def stored(transcript: Transcript) -> None:
                totals["played"] += 1
                totals["errors"] += transcript.status != "finished"
                faults.point("play")
                if ui:
                    ui["bar"].update(ui["task"], advance=1, tokens=runner.stats.generated_tokens)

            with progress_bar(fields=("tokens",)) if progress and todo else contextlib.nullcontext() as bar:
                if bar is not None:
                    ui.update(bar=bar, task=bar.add_task(f"round {r + 1}/{rounds}", total=len(todo),
                                                         tokens=runner.stats.generated_tokens))
                play_scheduled(runner, arena, seats, seat_roles, todo, store, seed=schedule.seed, run_id=run_id,
                               iteration=r, reward=config.arena.reward, on_stored=stored)
                ui.clear()
            if schedule.kind == "swiss":
                finished = set(store.match_ids(status="finished"))
                ids = [m.match_id for m in planned if m.match_id in finished]
                games, _ = stored_games(store, arena, config.arena.reward, ids=ids)
                for g in games:
                    state.points[g.a] += g.score
                    state.points[g.b] += 1.0 - g.score
    finally:
        if store is not None:
            store.close()
        if owned:
            workers.close()
        for engine in engines.values():
            getattr(engine, "close", lambda: None)()  # a vLLM server stops with the tournament
    return TournamentSummary(out=run.path, scheduled=totals["scheduled"], played=totals["played"],
                             skipped=totals["skipped"], errors=totals["errors"], rounds=totals["rounds"],
                             generated_tokens=runner.stats.generated_tokens, seconds=time.perf_counter() - started,
                             crashes=list(getattr(runner, "crashes", {}).values()))
