"""Ray: matches played by worker actors, each with its own engine; the driver stores and learns.

``sparring train RECIPE --ray [ADDRESS]`` (and ``play``, ``tournament``) start
``--ray-workers`` actors of :class:`MatchWorker` on a Ray cluster (a local one when no
address is given). Each worker loads its own copy of the base model into a
:class:`~sparring.agents.pool.ModelPool`, builds the run's engine on it and plays matches
with the ordinary :class:`~sparring.arenas.runner.Runner`: the arena code runs unchanged.
The driver keeps everything else: the store (every transcript is written there, by the
driver, as it arrives), the learner (the trainer's updates on the driver's pool) and the
checkpoints.

One ``RayRunner.play`` call (the drop-in for ``Runner.play``):

1. **Adapters flow out.** The driver's adapters (live ones and frozen snapshots such as a
   league opponent ``solver@v2``) are published once per change of the pool's weights:
   each adapter's LoRA state dict goes into the Ray object store with ``ray.put``, and
   every chunk request carries the references, versions and shapes. A worker whose last
   applied publication differs creates missing adapters, drops stale snapshots, loads the
   weights and sets the versions, so turns record the driver's adapter versions. Why the
   object store and not the ``adapters/<name>/v<N>`` folders: a Ray cluster need not share
   a filesystem, fresh adapters (iteration 0) and snapshots have no folder yet, and one
   ``put`` is read by every worker on a node from shared memory (r=8 on SmolLM2 is a few MB).
2. **Seeds are split** into one contiguous chunk per worker; a chunk is one ``Runner.play``
   on a worker, so each worker batches its own matches across each other.
3. **Transcripts flow back** as a stream (a Ray streaming generator): the driver calls
   ``on_finish`` (the store write) for each as soon as it arrives.
4. **A worker that dies** (killed, OOM, node lost) is restarted by Ray (``max_restarts``)
   and its chunk is played again *whole*, with the same adapters: the same batches as its
   first attempt, so the replayed matches equal the ones that would have come. Transcripts
   already received are not passed on again (ids are unique per call), so none is lost or
   duplicated.

Exactness: match ids, seeds, sampling seeds and the store schema are those of the
single-process runner. Batch composition decides float rounding, and a worker batches
only its chunk, so transcripts are identical to a single-process run's (every field but
wall-clock times) when batch composition cannot differ: ``batch_size = 1``, one worker
(it plays all seeds as one chunk), or engines that do not batch numerically (scripted
players). With larger batches a sampled token
can differ where two tokens' probabilities meet at rounding level, as with any change of
batching. ``tests/runs/test_ray.py`` checks both promises and the kill.

The commands take :class:`RayOptions` (workers started for the run and stopped after it)
or a started :class:`RayWorkers` (kept running, e.g. one set for many plays; it must have
been built for the same model settings, see :func:`workers_for`).

Nothing here imports Ray at module level: it is imported by :meth:`RayWorkers.start`, so
runs without ``--ray`` never load it. Fault injection for tests:
``SPARRING_RAY_FAULT=<n>`` makes worker 0 SIGKILL itself after streaming its n-th
transcript, in its first life only.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sparring.agents.pool import ModelPool
from sparring.agents.roles import Role
from sparring.arenas.arena import Arena
from sparring.arenas.runner import Runner, RunnerStats
from sparring.arenas.transcript import Transcript
from sparring.runs.recipes.machine import make_run_engine
from sparring.runs.recipes.recipe import ModelSection

MODEL = "default"
FAULT_ENV = "SPARRING_RAY_FAULT"
_DTYPES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


@dataclass(frozen=True)
class RayOptions:
    """How to reach Ray and how many workers to start.

    Attributes:
        address: Cluster address (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``); ``None``
            starts a local instance (or joins ``RAY_ADDRESS``) unless Ray is already
            initialised in this process, which is then used as it is.
        workers: Worker actors (each loads its own copy of the base model).
        cpus_per_worker: CPUs Ray reserves per worker (torch uses that many threads).
        max_restarts: Times Ray restarts a dead worker before the run fails.
    """

    address: str | None = None
    workers: int = 2
    cpus_per_worker: float = 1.0
    max_restarts: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"--ray-workers {self.workers}: must be a whole number >= 1")
        if self.max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0, got {self.max_restarts}")


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker builds: its pool with the base model, and the engine on it.

    Attributes:
        model: The ``[model]`` section (source, dtype, device, batch size, engine); ``None``
            when no seat runs on a model (every player scripted).
        name: Model name of the base in the pool (the roles' ``model``).
    """

    model: ModelSection | None
    name: str = MODEL


@dataclass(frozen=True)
class PublishedAdapter:
    """One adapter as the driver's pool holds it; ``weights`` is a Ray object reference."""

    name: str
    version: int
    rank: int
    alpha: int
    target_modules: Any
    frozen: bool
    source: str | None
    weights: Any


def adapter_weights(pool: ModelPool, model: str, adapter: str) -> dict[str, Any]:
    """A CPU copy of ``adapter``'s LoRA tensors (peft's saved-file keys)."""
    from peft import get_peft_model_state_dict

    state = get_peft_model_state_dict(pool.get(model).model, adapter_name=adapter)
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def apply_adapters(pool: ModelPool, model: str, adapters: Sequence[PublishedAdapter],
                   get: Callable[[Any], Any]) -> None:
    """Make ``pool``'s adapters those of the driver: create, drop stale snapshots, load, version."""
    from peft import set_peft_model_state_dict

    loaded = pool.get(model)
    wanted = {a.name for a in adapters}
    for name, info in list(loaded.adapters.items()):
        if info.frozen and name not in wanted:
            pool.drop_snapshot(model, name)
    # live adapters first: a snapshot is created as a copy of its source
    for a in sorted(adapters, key=lambda a: a.frozen):
        if a.name not in loaded.adapters:
            if a.frozen:
                pool.snapshot(model, a.source or a.name.partition("@")[0], a.name)
            else:
                pool.add_adapter(model, a.name, rank=a.rank, alpha=a.alpha, target_modules=a.target_modules)
        result = set_peft_model_state_dict(loaded.model, get(a.weights), adapter_name=a.name)
        if getattr(result, "unexpected_keys", None):
            raise RuntimeError(f"adapter {a.name!r} does not fit the worker's model: {result.unexpected_keys[:3]}")
        loaded.adapters[a.name].version = a.version
    loaded.weights_epoch += 1  # the engine re-stacks adapter weights


def resolved(spec: WorkerSpec, pool: ModelPool | None) -> WorkerSpec:
    """``spec`` with the driver's dtype: every worker computes in it, whatever ``auto`` means
    on the worker's machine."""
    if spec.model is None or pool is None or spec.name not in pool:
        return spec
    dtype = _DTYPES.get(str(pool.get(spec.name).dtype).removeprefix("torch."), spec.model.dtype)
    return WorkerSpec(spec.model.model_copy(update={"dtype": dtype}), spec.name)


def workers_for(ray: RayOptions | RayWorkers, spec: WorkerSpec, pool: ModelPool | None) -> tuple[RayWorkers, bool]:
    """Workers for one run and whether the run owns them (then it closes them).

    ``ray`` is options (workers are started for this run) or workers already started (kept
    running after it, e.g. one set for many plays); those must have been built for the same
    model settings.
    """
    if isinstance(ray, RayOptions):
        return RayWorkers.start(ray, spec, pool), True
    want, have = resolved(spec, pool).model, ray.spec.model
    if want is not None and (have is None or want.model_dump() != have.model_dump() or spec.name != ray.spec.name):
        raise ValueError(f"the Ray workers given were started for model settings {have and have.model_dump()}, "
                         f"this run needs {want and want.model_dump()}; start workers for it")
    ray.pool, ray._published = pool, None
    return ray, False


class MatchWorker:
    """A Ray actor's body: its own pool and engine; plays chunks of seeds with a Runner.

    Args:
        spec: What to build.
        fault: Kill this process after streaming this many transcripts (first life only).
    """

    def __init__(self, spec: WorkerSpec, fault: int | None = None) -> None:
        self.spec = spec
        self.pool: ModelPool | None = None
        self.engines: dict[str, Any] = {}
        if spec.model is not None:
            section = spec.model
            loaded = None
            if section.engine != "openai":
                self.pool = ModelPool(device=section.device, dtype=section.dtype)
                loaded = self.pool.load(spec.name, section.source)
            self.engines[spec.name] = make_run_engine(section, loaded)
        self.applied: Any = None
        self.fault = fault
        self.streamed = 0

    def pid(self) -> int:
        """The worker's process id (the actor is ready once this returns)."""
        return os.getpid()

    def play(self, arena: Arena, roles: dict[str, Role], engines: dict[str, Any], seeds: list[int],
             adapters: tuple[Any, ...], options: dict[str, Any]) -> Iterator[Transcript | RunnerStats]:
        """Play ``seeds`` with the published ``adapters`` (and the shipped ``engines``, e.g.
        scripted players); yields transcripts, then the runner's stats."""
        import ray

        key, published = adapters
        if self.pool is not None and key != self.applied:
            apply_adapters(self.pool, self.spec.name, published, ray.get)
            self.applied = key
        pool = self.pool
        runner = Runner({**engines, **self.engines}, roles, max_in_flight=options["max_in_flight"],
                        version_of=lambda r: pool.version(r.model, r.adapter)
                        if pool is not None and r.adapter and r.model in pool.names else None)
        done: queue.Queue[Any] = queue.Queue()

        def run() -> None:  # the runner owns an event loop; it runs beside this generator
            try:
                runner.play(arena, seeds, run_id=options["run_id"], iteration=options["iteration"],
                            on_finish=done.put, match_prefix=options["match_prefix"])
                done.put(None)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the actor's thread below
                done.put(exc)

        threading.Thread(target=run, daemon=True).start()
        while (item := done.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
            self.streamed += 1
            if self.fault and self.streamed == self.fault and \
                    not ray.get_runtime_context().was_current_actor_reconstructed:
                os.kill(os.getpid(), signal.SIGKILL)
        yield runner.stats


class RayWorkers:
    """The driver's handle on the worker actors (see module docs)."""

    def __init__(self, actors: list[Any], pool: ModelPool | None, spec: WorkerSpec, options: RayOptions,
                 owns_ray: bool) -> None:
        self.actors = actors
        self.pool = pool
        self.spec = spec
        self.name = spec.name
        self.options = options
        self.owns_ray = owns_ray
        self.replayed = 0  # chunks played again after a worker died
        self._published: tuple[str, tuple[PublishedAdapter, ...]] | None = None
        self._state: Any = None

    @classmethod
    def start(cls, options: RayOptions, spec: WorkerSpec, pool: ModelPool | None) -> RayWorkers:
        """Connect to (or start) Ray and start ``options.workers`` workers; waits until they loaded."""
        try:
            import ray
        except ImportError:
            raise RuntimeError("--ray needs Ray: pip install 'sparring[ray]'") from None
        owns = not ray.is_initialized()
        if owns:
            # a local instance starts without the dashboard (seconds saved); a cluster keeps its own
            ray.init(address=options.address) if options.address else ray.init(include_dashboard=False)
        spec = resolved(spec, pool)
        gpus = 1 if spec.model is not None and spec.model.device == "cuda" else 0
        actor = ray.remote(MatchWorker).options(max_restarts=options.max_restarts, max_task_retries=0,
                                                num_cpus=options.cpus_per_worker, num_gpus=gpus)
        fault = int(os.environ[FAULT_ENV]) if os.environ.get(FAULT_ENV) else None
        actors = [actor.remote(spec, fault if i == 0 else None) for i in range(options.workers)]
        workers = cls(actors, pool, spec, options, owns)
        try:
            ray.get([a.pid.remote() for a in actors])
        except Exception:
            workers.close()
            raise
        return workers

    def publish(self) -> tuple[Any, tuple[PublishedAdapter, ...]]:
        """The driver pool's adapters in the object store (put again only after a change)."""
        import ray

        if self.pool is None or self.name not in self.pool:
            return (None, ())
        loaded = self.pool.get(self.name)
        state = (id(loaded), loaded.weights_epoch, tuple((n, i.version) for n, i in loaded.adapters.items()))
        if self._published is None or self._state != state:
            adapters = tuple(PublishedAdapter(n, i.version, i.rank, i.alpha, i.target_modules, i.frozen, i.source,
                                              ray.put(adapter_weights(self.pool, self.name, n)))
                             for n, i in loaded.adapters.items())
            # a fresh key: workers compare it with the last publication they applied
            self._published, self._state = (uuid.uuid4().hex, adapters), state
        return self._published

    def runner(self, roles: Mapping[str, Role] | None, *, max_in_flight: int = 256,
               engines: Mapping[str, Any] | None = None) -> RayRunner:
        """A drop-in for :class:`~sparring.arenas.runner.Runner` that plays on these workers;
        ``engines`` (picklable, e.g. scripted players) are shipped with every chunk."""
        return RayRunner(self, roles, max_in_flight=max_in_flight, engines=engines)

    def close(self) -> None:
        """Stop the workers (and the Ray instance this started)."""
        import ray

        for a in self.actors:
            with contextlib.suppress(Exception):  # already gone
                ray.kill(a)
        self.actors = []
        if self.owns_ray:
            ray.shutdown()


def _wait_alive(actor: Any, index: int, max_restarts: int) -> None:
    """Block until Ray has restarted ``actor``; a one-line error once Ray gave it up."""
    import ray
    from ray.exceptions import ActorDiedError, ActorUnavailableError

    while True:
        try:
            ray.get(actor.pid.remote())
            return
        except ActorUnavailableError:  # restarting: its process and model are loading again
            time.sleep(0.2)
        except ActorDiedError as exc:
            raise RuntimeError(f"Ray worker {index} died and was not restarted (max_restarts = {max_restarts}); "
                               "stored matches are kept, run the same command again to continue") from exc


def _by_value() -> None:
    """Arenas and policies loaded from a file path (``file.py:Class``) live in modules the
    workers cannot import: pickle those modules' code with the objects instead."""
    from ray import cloudpickle

    for name, module in list(sys.modules.items()):
        if name.startswith("sparring_user_") and module is not None:
            cloudpickle.register_pickle_by_value(module)


class RayRunner:
    """``Runner.play`` on Ray workers: same arguments, same transcripts and ids (module docs)."""

    def __init__(self, workers: RayWorkers, roles: Mapping[str, Role] | None = None, *,
                 max_in_flight: int = 256, engines: Mapping[str, Any] | None = None) -> None:
        self.workers = workers
        self.roles = dict(roles or {})
        self.engines = dict(engines or {})
        self.max_in_flight = max_in_flight
        self.stats = RunnerStats()

    def play(self, arena: Arena, seeds: Sequence[int], *, run_id: str | None = None, iteration: int = 0,
             on_finish: Callable[[Transcript], None] | None = None, match_prefix: str = "") -> list[Transcript]:
        """Play one match per seed on the workers; returns transcripts in seed order."""
        import ray
        from ray.exceptions import RayActorError

        seeds = list(seeds)
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct within one play() call")
        started = time.perf_counter()
        actors = self.workers.actors
        size = max(1, math.ceil(len(seeds) / len(actors)))
        todo = [seeds[i:i + size] for i in range(0, len(seeds), size)]
        adapters = self.workers.publish()
        options = {"run_id": run_id, "iteration": iteration, "match_prefix": match_prefix,
                   "max_in_flight": self.max_in_flight}
        _by_value()
        # shipped once, not per chunk
        arena_ref, roles_ref, engines_ref = ray.put(arena), ray.put(self.roles), ray.put(self.engines)
        results: dict[int, Transcript] = {}
        idle = list(range(len(actors)))
        active: dict[Any, tuple[int, list[int]]] = {}
        while todo or active:
            while todo and idle:
                w, chunk = idle.pop(0), todo.pop(0)
                stream = actors[w].play.options(num_returns="streaming").remote(
                    arena_ref, roles_ref, engines_ref, chunk, adapters, options)
                active[stream] = (w, chunk)
            ready, _ = ray.wait(list(active), num_returns=1)
            stream = ready[0]
            w, chunk = active[stream]
            try:
                item = ray.get(next(stream))
            except StopIteration:
                del active[stream]
                idle.append(w)
                continue
            except RayActorError:
                del active[stream]
                # Ray restarts the actor; once it is back the whole chunk is played again, in
                # the same batches, and the matches already received are skipped
                _wait_alive(actors[w], w, self.workers.options.max_restarts)
                self.workers.replayed += 1
                todo.insert(0, chunk)
                idle.insert(0, w)
                continue
            if isinstance(item, RunnerStats):
                self._add(item)
            elif item.seed not in results:
                results[item.seed] = item
                if on_finish is not None:
                    on_finish(item)
        self.stats.wall_seconds += time.perf_counter() - started
        return [results[s] for s in seeds]

    def _add(self, other: RunnerStats) -> None:
        s = self.stats
        s.matches += other.matches
        s.errors += other.errors
        s.rows += other.rows
        s.generated_tokens += other.generated_tokens
        s.engine_seconds += other.engine_seconds
        s.batch_sizes.extend(other.batch_sizes)
