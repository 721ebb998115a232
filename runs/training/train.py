"""Self-play training: play, score, build data, update the scheduled roles, repeat; resumable.

One iteration of :func:`train`:

1. play ``train.matches_per_iteration`` matches with the current adapters (stored as they
   finish; matches of this iteration already in the store are reused, not replayed);
2. for each adapter with a seat scheduled to update now, build its data from the seats'
   scored transcripts (roles sharing an adapter pool their data) and take one update
   step per epoch (the step bumps the adapter version);
3. save each new adapter version, evaluate on the held-out set, log metrics (store and
   TensorBoard), warn on collapse monitors, and write a checkpoint atomically.

``train(..., resume=True)`` restores adapters, optimizer states, schedule position and
versions from the newest checkpoint and continues with the next iteration. Match seeds
are functions of the run seed and iteration, so a resumed run plays the same matches as
an uninterrupted one.

An algorithm with a look-ahead (Temporal SR's future-guided chosen, see
:mod:`sparring.runs.training.algorithms`) adds a step 2a for its adapter: an update on the
look-ahead data, the seat played again with those weights (``future-i<k>-s<seed>``),
weights, optimizer state and version restored exactly (:meth:`Trainer.look_ahead`);
its builder then reads the future matches.

Writing the run's config, checkpointing and resuming are in :mod:`sparring.runs.training.resume`.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparring.agents.chat_end import end_of_turn_ids
from sparring.agents.pool import ModelPool
from sparring.agents.roles import Role
from sparring.agents.sampling import derive_seed
from sparring.agents.updates import Update, minibatches
from sparring.arenas.arena import Arena
from sparring.arenas.runner import Runner, bind_roles
from sparring.arenas.seating import seated_arena
from sparring.arenas.transcript import Transcript
from sparring.rewards.controls import PREFIX, random_twin
from sparring.runs import faults
from sparring.runs.progress import progress_bar
from sparring.runs.recipes.machine import make_run_engine
from sparring.runs.recipes.recipe import Recipe, RecipeError, load_recipe
from sparring.runs.recipes.validate import check_run_dir, validate
from sparring.runs.storage.rundir import RunDir
from sparring.runs.tournaments.league import League
from sparring.runs.training import band, evaluate, monitors
from sparring.runs.training.algorithms import (
    FUTURE_PREFIX,
    BuildContext,
    UpdateContext,
    get_algorithm,
    reference_of,
    reward_bounds,
    training_reward,
)
from sparring.runs.training.checkpoint import load_adapter_weights, save_adapter_version
from sparring.runs.training.curriculum import CurriculumMixin
from sparring.runs.training.guard import GuardMixin
from sparring.runs.training.heldout import MODEL, HeldOutMixin
from sparring.runs.training.lookahead import LookAheadMixin
from sparring.runs.training.loop import (
    iterate as _loop,  # tests/runs/test_ray.py drives the loop itself
)
from sparring.runs.training.replay_buffer import ReplayMixin
from sparring.runs.training.resume import ResumeMixin

if TYPE_CHECKING:
    from sparring.runs.playing.distributed import RayOptions, RayWorkers



@dataclass
class IterationReport:
    """What one iteration did, for progress lines and tests."""

    iteration: int
    updated: dict[str, dict[str, float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def iteration_seeds(recipe: Recipe, iteration: int) -> list[int]:
    """Match seeds of one training iteration."""
    return [derive_seed(recipe.train.seed, "train", iteration, i) % (1 << 31)
            for i in range(recipe.train.matches_per_iteration)]


class Trainer(HeldOutMixin, LookAheadMixin, ReplayMixin, GuardMixin, CurriculumMixin, ResumeMixin):
    """Holds the pool, roles, updates and store of one training run (see module docs)."""

    def __init__(self, recipe: Recipe, out: str | Path, resume: bool = False, log: Callable[[str], None] = print,
                 ray: RayOptions | RayWorkers | None = None) -> None:
        self.recipe = recipe
        self.run = RunDir(out)
        self.log = log
        # every recipe, arena, machine and --out error surfaces here, before a model loads
        self.arena = validate(recipe, out, resume=resume)
        self.held_out = evaluate.plan(recipe, self.arena)
        self.pool = ModelPool(device=recipe.model.device, dtype=recipe.model.dtype)
        self.loaded = self.pool.load(MODEL, recipe.model.source)
        for adapter in sorted({r.adapter for r in recipe.roles.values() if r.adapter and r.previous_of is None}):
            shape = recipe.adapter_shape(adapter)
            self.pool.add_adapter(MODEL, adapter, rank=shape.rank, alpha=shape.alpha,
                                  target_modules=shape.target_modules, seed=derive_seed(recipe.train.seed, adapter))
            if shape.init_from:  # a resumed run then loads its checkpoint's weights over these
                try:
                    load_adapter_weights(self.pool, MODEL, adapter, Path(shape.init_from))
                except (FileNotFoundError, ValueError, RuntimeError) as err:
                    raise RecipeError(f"recipe field 'adapters.{adapter}.init_from': {err}") from err
        # "NAME@previous" seats: NAME's previous iterate, a frozen snapshot moved after each
        # update of NAME (the initial weights until then; restored from the checkpoint on resume)
        self.previous: dict[str, str] = {r.previous_of: self.pool.snapshot(MODEL, r.previous_of)
                                         for r in recipe.roles.values() if r.previous_of is not None}
        self.roles = self._bind_roles(self.arena)
        self.rewards: dict[str, str | None] = {}
        for seat, r in recipe.roles.items():
            if r.update != "none":
                needs_reward = "reward" in get_algorithm(r.update).requires and r.targets != "reference"
                self.rewards[seat] = training_reward(self.arena, seat, r.reward) if needs_reward or r.reward else None
        # controls: a seat trained on "random:<reward>" gets that reward's random twin, scored at play
        self.controls = {name: random_twin(next(r for r in self.arena.rewards() if r.name == name[len(PREFIX):]),
                                           reward_bounds(self.arena, name) or tuple(self.arena.reward_bounds))
                         for name in {n for n in self.rewards.values() if n and n.startswith(PREFIX)}}
        if self.controls and ray is not None:
            raise RecipeError("random-twin rewards (reward = \"random:...\") are scored in this process; "
                              "run without --ray")
        self.updates: dict[str, Update] = {}
        for seat, r in recipe.roles.items():
            if r.update != "none" and r.adapter not in self.updates:
                context = UpdateContext(self.pool, MODEL, r.adapter, seat, self.roles[seat], recipe.train, r)  # type: ignore[arg-type]
                self.updates[r.adapter] = get_algorithm(r.update).make_update(context)  # type: ignore[index]
        self.engine = make_run_engine(recipe.model, self.loaded)  # model.engine: hf, or a vLLM server
        self.league = None if not recipe.league.every else League(  # [league]: versions vs past snapshots
            recipe.league, self.arena, self.pool, self.engine, self.run.path, recipe.train.seed,
            in_use=self._snapshot_in_use)
        self.start = 0
        self.best: dict[str, Any] | None = None  # the validation-selected iteration (eval.select)
        self.completed = 0  # iterations done (set on resume and by the loop)
        self._items: set[str] = set()  # held-out item keys seen in training (see _training_items)
        self._items_read = 0
        self.progress: Any = None  # a rich Progress shows a bar per phase (set by train())
        self.crashes: list[BaseException] = []  # of errored matches, not yet reported (the loop logs them)
        self.store = self.run.open_store()  # only now: a failed load must leave no run folder behind
        self.guard_state = self.guard_start()  # [guard]: the last good versions (restored on resume)
        self.curriculum_start()  # the arena's declared curriculum: its level is restored on resume
        if resume:
            self._restore()
        else:
            self._write_config()
        self.workers = None  # --ray: matches are played by worker actors (runs/playing/distributed.py)
        self.owns_workers = False
        if ray is not None:
            from sparring.runs.playing.distributed import WorkerSpec, workers_for

            self.workers, self.owns_workers = workers_for(ray, WorkerSpec(recipe.model), self.pool)

    @contextlib.contextmanager
    def _task(self, label: str, total: int) -> Iterator[Callable[[], None]]:
        """A progress bar row for one phase (when ``self.progress`` is a rich Progress)."""
        bar = self.progress
        if bar is None:
            yield lambda: None
            return
        task = bar.add_task(label, total=total)
        try:
            yield lambda: bar.advance(task)
        finally:
            bar.remove_task(task)

    # -- setup ---------------------------------------------------------------------
    def _bind_roles(self, arena: Arena, aliases: dict[str, str] | None = None) -> dict[str, Role]:
        roles = bind_roles(arena, None)
        for seat in roles:
            spec = self.recipe.roles.get((aliases or {}).get(seat, seat))
            role = roles[seat].bind(model=MODEL)
            if spec is not None:
                overrides = {k: v for k, v in (("temperature", spec.temperature), ("top_p", spec.top_p),
                                               ("max_new_tokens", spec.max_new_tokens)) if v is not None}
                adapter = self.previous[spec.previous_of] if spec.previous_of is not None else spec.adapter
                role = role.bind(adapter=adapter, **overrides)
            roles[seat] = role
        return roles

    def _snapshot_in_use(self, name: str) -> bool:
        """Whether a frozen snapshot is an update's reference or a seat's previous iterate."""
        return any(u.reference == name for u in self.updates.values()) or name in self.previous.values()

    def _advance_previous(self, adapter: str, before: str) -> None:
        """``adapter`` was updated: its previous iterate becomes ``before`` (its pre-update snapshot)."""
        old = self.previous[adapter]
        self.previous[adapter] = before
        self.roles = self._bind_roles(self.arena)
        if old != before and not self._snapshot_in_use(old):
            self.pool.drop_snapshot(MODEL, old)

    # -- the loop ------------------------------------------------------------------
    def _play_all(self, arena: Arena, roles: dict[str, Role], seeds: list[int], iteration: int, prefix: str,
                  label: str, fault: str) -> Runner:
        """Play ``seeds`` and store each match as it finishes (stored ones are kept as they are).

        A partly stored set is played again *whole*: batch composition decides float
        rounding, so playing only the missing seeds would sample differently than the
        uninterrupted run did. Replayed matches already in the store are not written again.
        """
        stored = set(self.store.match_ids(iteration=iteration, arena=arena.id))
        ids = [f"{prefix}i{iteration}-s{s}" for s in seeds]
        if self.workers is not None:  # --ray: same call and ids; the workers get the current adapters
            runner: Any = self.workers.runner(roles, max_in_flight=self.recipe.train.max_in_flight)
        else:
            extra = list(self.controls.values()) if fault in ("play", "future") else []
            runner = Runner({MODEL: self.engine}, roles, max_in_flight=self.recipe.train.max_in_flight,
                            version_of=lambda role: self.pool.version(role.model, role.adapter),
                            rewards=[*arena.rewards(), *extra] if extra else None)
        if all(i in stored for i in ids):
            return runner

        def finish(transcript: Transcript, advance: Callable[[], None]) -> None:
            if transcript.match_id not in stored:
                self.store.add(transcript)
                faults.point(fault)
            advance()

        with self._task(label, len(seeds)) as advance:
            runner.play(arena, seeds, run_id=self.run.path.name, iteration=iteration,
                        on_finish=lambda t: finish(t, advance), match_prefix=prefix)
        self.crashes.extend(getattr(runner, "crashes", {}).values())  # a Ray runner's stay on its workers
        return runner

    def seeds_of(self, iteration: int) -> list[int]:
        """Match seeds of training iteration ``iteration``."""
        return iteration_seeds(self.recipe, iteration)

    def play(self, iteration: int) -> list[Transcript]:
        """Play this iteration's matches (see :meth:`_play_all`) and return them all."""
        seeds = iteration_seeds(self.recipe, iteration)
        arena = self.arena
        if self.league is not None:  # [league] opponents: some matches seat a past version
            seatings = self.league.training_seatings(iteration, seeds, self.roles)
            if seatings:
                arena = seated_arena(self.arena, {s: seatings.get(s, {}) for s in seeds})
        runner = self._play_all(arena, self.roles, seeds, iteration, "", f"iteration {iteration + 1}: playing", "play")
        self.last_tokens = runner.stats.generated_tokens
        self.last_engine_seconds = runner.stats.engine_seconds
        return self.play_transcripts(iteration)

    def play_transcripts(self, iteration: int) -> list[Transcript]:
        """The stored training matches of ``iteration``."""
        # held-out matches of the same arena share the iteration number: never train on them;
        # nor on the future matches of a look-ahead (they are read by its builder alone)
        return [t for t in self.store.transcripts(iteration=iteration, arena=self.arena.id)
                if not t.match_id.startswith(("eval-", FUTURE_PREFIX))]

    def build(self, seat: str, algo: str, transcripts: list[Transcript], future: list[Transcript] | None = None,
              lookahead: bool = False) -> list[Any]:
        """Training data of one seat from this iteration's transcripts (the algorithm's builder;
        with ``lookahead``, its look-ahead builder; ``future``: the look-ahead's matches)."""
        tok = self.loaded.tokenizer
        end = end_of_turn_ids(tok)  # what the model really stops on (e.g. <|im_end|>), not always eos

        def encode_reply(text: str) -> list[int]:
            return tok(text, add_special_tokens=False)["input_ids"] + end

        reward = self.rewards.get(seat)
        # A seat a league opponent played (a frozen past version) is not this adapter's data.
        adapter = self.roles[seat].adapter
        transcripts = [t for t in transcripts if all(u.adapter == adapter for u in t.turns_of(seat))]
        transcripts = band.keep(transcripts, seat, self.recipe.roles[seat], reward)  # roles.<seat>.band
        context = BuildContext(transcripts, seat, reward, reward_bounds(self.arena, reward), self.arena,
                               self.recipe.roles[seat], self.engine.encode, encode_reply, list(future or []))
        algorithm = get_algorithm(algo)
        if lookahead:
            return algorithm.lookahead(context)  # type: ignore[misc]
        return algorithm.build(context)

    def iteration(self, it: int) -> IterationReport:
        """Run one iteration (play, build, update, save, evaluate, log, checkpoint)."""
        report = IterationReport(it)
        played = self._trained_versions()  # what the iteration's monitors measure (the guard reads them)
        t0 = time.perf_counter()
        everything = self.play(it)
        transcripts = [t for t in everything if t.status == "finished"]
        t1 = time.perf_counter()
        if len(transcripts) < len(everything):  # the loop logs where they broke (self.crashes)
            report.warnings.append(f"{len(everything) - len(transcripts)} of {len(everything)} matches errored; "
                                   "they are stored with status \"error\" and left out of training")
        report.metrics.update(monitors.iteration_monitors(self.arena, transcripts))
        for seat in self.rewards:
            report.metrics.update(band.metrics(transcripts, seat, self.recipe.roles[seat], self.rewards[seat]))
        report.metrics["play/tokens_per_s"] = self.last_tokens / (t1 - t0) if t1 > t0 else 0.0
        seats = self.recipe.trained_seats(it)
        by_adapter: dict[str, list[str]] = {}
        for seat in seats:
            by_adapter.setdefault(self.recipe.roles[seat].adapter, []).append(seat)  # type: ignore[arg-type]
        build_s = update_s = future_s = 0.0
        for adapter, adapter_seats in by_adapter.items():
            algo = self.recipe.roles[adapter_seats[0]].update
            future = None
            if get_algorithm(algo).lookahead is not None:  # Temporal SR: the future model plays first
                tf = time.perf_counter()
                future, ahead = self.look_ahead(it, adapter, adapter_seats, algo, transcripts)
                report.metrics.update(ahead)
                future_s += time.perf_counter() - tf
            tb = time.perf_counter()
            data = [d for seat in adapter_seats for d in (self.build(seat, algo, transcripts) if future is None
                                                          else self.build(seat, algo, transcripts, future))]
            data, replayed = self.with_replay(it, adapter, adapter_seats, algo, data)  # [replay]
            build_s += time.perf_counter() - tb
            if not data:
                report.warnings.append(f"{adapter}: no training data this iteration (rewards tied or missing); skipped")
                continue
            tu = time.perf_counter()
            before = self.pool.snapshot(MODEL, adapter) if adapter in self.previous else None
            steps: list[dict[str, float]] = []
            plan = [minibatches(data, self.recipe.train.steps_per_epoch,
                                random.Random(derive_seed(self.recipe.train.seed, it, epoch, adapter)))
                    for epoch in range(self.recipe.train.epochs)]
            with self._task(f"iteration {it + 1}: updating {adapter} ({algo})", sum(map(len, plan))) as advance:
                for batch in (b for epoch in plan for b in epoch):
                    steps.append(self.updates[adapter].step(batch))
                    faults.point("update")
                    advance()
            # means over the iteration's optimizer steps, except the last version and total samples
            metrics = {k: sum(m[k] for m in steps) / len(steps) for k in steps[-1]}
            metrics.update(version=steps[-1]["version"], samples=sum(m["samples"] for m in steps),
                           steps=float(len(steps)), **({"replayed": float(replayed)} if replayed else {}))
            if reference_of(self.recipe.roles[adapter_seats[0]]) == "iterate":
                self._advance_reference(adapter)
            if before is not None:
                self._advance_previous(adapter, before)
            update_s += time.perf_counter() - tu
            report.updated[adapter] = metrics
            for k, v in metrics.items():
                report.metrics[f"update/{adapter}/{k}"] = v
            save_adapter_version(self.pool, MODEL, adapter, self.run.path)
            faults.point("save")
        # play = generate (engine time) + score (arena logic, rewards, store writes)
        generate_s = min(self.last_engine_seconds, t1 - t0)
        report.seconds = {"play": t1 - t0, "generate": generate_s, "score": t1 - t0 - generate_s,
                          "build": build_s, "update": update_s}
        if future_s:
            report.seconds["future"] = future_s
        if self.recipe.eval.every and (it + 1) % self.recipe.eval.every == 0 or it + 1 == self.recipe.train.iterations:
            te = time.perf_counter()
            report.metrics.update(self.evaluate(it + 1, self.eval_splits(it + 1, final=it + 1 == self.recipe.train.iterations)))
            report.metrics.update(self.select(it + 1, report.metrics))
            report.seconds["eval"] = time.perf_counter() - te
        if self.league is not None and self.league.due(it):
            tl = time.perf_counter()
            report.metrics.update(self.league.play(it, self.roles))
            report.seconds["league"] = time.perf_counter() - tl
        for k, v in report.seconds.items():
            report.metrics[f"time/{k}"] = v
        report.metrics.update(self.guard_check(it, report.metrics, played, report.warnings))
        report.metrics.update(self.curriculum_advance(transcripts))  # the level the next iteration plays
        report.warnings.extend(monitors.warnings_for(report.metrics))
        self.store.add_metrics(it, report.metrics)
        faults.point("metrics")
        self._checkpoint(it + 1)
        return report

    def _advance_reference(self, adapter: str) -> None:
        """SPIN, SPPO, ``reference = "iterate"``: the next iteration is anchored to the iterate
        that will generate its data.

        The snapshot moved past is dropped unless another update still uses it.
        """
        update = self.updates[adapter]
        old = update.reference
        new = update.snapshot_reference()
        if old and old != new and not self._snapshot_in_use(old):
            self.pool.drop_snapshot(MODEL, old)


def train(recipe: Recipe | str | Path, out: str | Path, *, resume: bool = False, overrides: list[str] | None = None,
          progress: bool = True, log: Callable[[str], None] | None = None,
          ray: RayOptions | RayWorkers | None = None, debug: bool = False) -> list[IterationReport]:
    """Train per ``recipe`` into run directory ``out`` (or resume it); returns iteration reports.

    Matches that error are stored and left out of training, as before; where each distinct
    crash broke is logged once (the user's frames; every frame with ``debug``).

    ``ray`` plays the matches on Ray worker actors (:mod:`sparring.runs.playing.distributed`):
    options to start them for this run, or workers already started (left running).
    """
    from rich.console import Console

    console = Console(stderr=True)
    log = log or (lambda msg: console.print(msg))
    if resume and not isinstance(recipe, Recipe):
        check_run_dir(out, resume=True)
        recipe = load_recipe(Path(out) / "recipe.toml" if recipe is None else recipe, overrides)
    elif not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe, overrides)
    trainer = Trainer(recipe, out, resume=resume, log=log, ray=ray)
    reports: list[IterationReport] = []
    bar = progress_bar(console=console, transient=True) if progress else contextlib.nullcontext()
    # An interrupt propagates as it is: the caller says what to do next, once (the CLI prints
    # "continue ... with 'sparring train --resume DIR'"); stored matches and checkpoints are kept.
    try:
        with bar as trainer.progress:
            _loop(trainer, recipe, reports, log, progress, debug=debug)
    finally:
        trainer.store.close()
        getattr(trainer.engine, "close", lambda: None)()  # a vLLM server stops with the run
        if trainer.owns_workers:
            trainer.workers.close()
        monitors.write_tensorboard(trainer.run.path)
    return reports
