"""The runner: plays many matches concurrently and batches their asks across matches.

All live matches run on one asyncio event loop. When every live match is waiting for
replies, the runner takes all pending asks, groups them by base model and hands each
group to that model's engine in batches (rows of different adapters mixed in a batch).
Batching across matches is the main performance lever: one forward pass serves the
questioners, solvers and verifiers of many matches at once.

The loop is deterministic: matches start in seed order, asks are queued in the order the
event loop reaches them, and the runner waits until the loop is idle before cutting
batches, so the same seeds give the same batches and the same transcripts.

An engine with ``open_session()`` (the hf engine) gets continuous batching: the runner
keeps one decode session running, and each time some of its rows finish it delivers them,
lets the matches run until the loop is idle again, and adds the asks they made to the
running batch. A reply no longer waits for the longest row of its batch, and the next ask
of its match (a verifier after a solver) fills the freed slot. Rows join only at those
quiescent points and a run stops after a number of finished rows, never after a time, so
batches, and transcripts, stay deterministic.

The wait for quiescence, the decode session and the counters are in
:mod:`sparring.arenas.batching`.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sparring.agents.engines.base import Engine, GenerationRequest, ScoreRequest
from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, Outcome, validate_class
from sparring.arenas.batching import DecodeSession, RunnerStats, id_row, settle
from sparring.arenas.errors import ArenaError
from sparring.arenas.failures import crash_key
from sparring.arenas.match import Match, PendingAsk
from sparring.arenas.scoring import apply_rewards
from sparring.arenas.transcript import Transcript, jsonable
from sparring.rewards.base import Reward

if TYPE_CHECKING:
    from sparring.arenas.branch import AskPlan

MAX_CRASHES = 5
"""Distinct crashes a runner keeps for its report (``Runner.crashes``)."""


def bind_roles(arena: Arena, roles: Mapping[str, Role] | None) -> dict[str, Role]:
    """The arena's default roles with the given seats replaced; unknown seats are errors."""
    bound = arena.default_roles()
    for seat, role in (roles or {}).items():
        if seat not in arena.roles:
            raise ArenaError(
                f"role {seat!r} is not a seat of {arena.id} (seats: {', '.join(arena.roles)})"
            )
        bound[seat] = role
    return bound


class Runner:
    """Plays matches of an arena concurrently against a set of engines.

    Args:
        engines: Engine per base-model name (a role's ``model`` picks its engine).
        roles: Roles bound to seats; seats not given use the arena's defaults.
        max_in_flight: Matches alive at once (bounds memory of pending state).
        version_of: Returns the adapter version a role is playing with (recorded per turn).
        rewards: Rewards applied to each finished match; defaults to the arena's own.
        keep_exceptions: Keep the exception of each crashed match in ``exceptions`` (by
            match id), for reports that show where user code broke (``check_arena``); off
            by default, since an exception holds its frames alive.
            Without it, ``crashes`` still keeps the first exception of each distinct crash
            (:func:`~sparring.arenas.failures.crash_key`, at most ``MAX_CRASHES``), which
            ``play``, ``train`` and ``tournament`` report.
        prefix: Serves some rows from a record instead of an engine and picks the seeds of
            the others (:class:`~sparring.arenas.branch.BranchPrefix`: a branch replays the
            turns before its branch turn and plays on with its own seeds).
    """

    def __init__(
        self,
        engines: Mapping[str, Engine],
        roles: Mapping[str, Role] | None = None,
        *,
        max_in_flight: int = 256,
        version_of: Callable[[Role], int | None] | None = None,
        rewards: Sequence[Reward] | None = None,
        keep_exceptions: bool = False,
        prefix: AskPlan | None = None,
    ) -> None:
        if not engines:
            raise ValueError("a runner needs at least one engine")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight}")
        self.engines = dict(engines)
        self.roles = dict(roles or {})
        self.max_in_flight = max_in_flight
        self.version_of = version_of or (lambda role: None)
        self.rewards = rewards
        self.stats = RunnerStats()
        self._outputs: dict[int, list[Any]] = {}
        self.keep_exceptions = keep_exceptions
        self.exceptions: dict[str, BaseException] = {}
        self.crashes: dict[tuple[str, str, str], BaseException] = {}
        self.prefix = prefix

    def play(
        self,
        arena: Arena,
        seeds: Sequence[int],
        *,
        run_id: str | None = None,
        iteration: int = 0,
        on_finish: Callable[[Transcript], None] | None = None,
        match_prefix: str = "",
    ) -> list[Transcript]:
        """Play one match per seed; returns transcripts in seed order.

        Match ids are ``f"{match_prefix}i{iteration}-s{seed}"``.

        ``on_finish`` is called with each transcript as soon as its match ends (the place
        to store it, so a crash loses at most the matches still in flight).
        """
        validate_class(type(arena))
        roles = bind_roles(arena, self.roles)
        for seat, role in roles.items():
            if role.model not in self.engines:
                raise ArenaError(
                    f"seat {seat!r} runs on model {role.model!r}, which has no engine "
                    f"(engines: {', '.join(self.engines)})"
                )
        if len(set(seeds)) != len(seeds):
            raise ValueError("seeds must be distinct within one play() call")
        loop = asyncio.new_event_loop()
        try:
            return loop.run_until_complete(
                self._drive(arena, list(seeds), roles, run_id, iteration, on_finish, match_prefix)
            )
        finally:
            # On an interrupt (Ctrl-C inside an engine call) or a runner error, matches are
            # still suspended in their asks: cancel them and let them unwind before closing
            # the loop, or asyncio warns 'Task was destroyed but it is pending' for each.
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    async def _drive(
        self,
        arena: Arena,
        seeds: list[int],
        roles: dict[str, Role],
        run_id: str | None,
        iteration: int,
        on_finish: Callable[[Transcript], None] | None,
        match_prefix: str = "",
    ) -> list[Transcript]:
        started = time.perf_counter()
        spec = arena.spec()
        rewards = list(self.rewards if self.rewards is not None else arena.rewards())
        queue: list[PendingAsk] = []
        waiting = deque(seeds)
        live: dict[asyncio.Task[Outcome], Match] = {}
        results: dict[int, Transcript] = {}
        role_info = {seat: role.describe() for seat, role in roles.items()}

        def start_matches() -> None:
            while waiting and len(live) < self.max_in_flight:
                seed = waiting.popleft()
                match = Match(arena, seed, roles, queue.append, f"{match_prefix}i{iteration}-s{seed}", self.version_of)
                live[asyncio.ensure_future(arena.play(match))] = match

        start_matches()
        rows: deque[tuple[PendingAsk, int]] = deque()
        session: DecodeSession | None = None
        while live:
            await settle()
            for task in [t for t in live if t.done()]:
                match = live.pop(task)
                transcript = self._finish(task, match, spec, role_info, run_id, iteration, rewards)
                results[match.seed] = transcript
                if on_finish is not None:
                    on_finish(transcript)
            if waiting and len(live) < self.max_in_flight:
                start_matches()
                continue
            if not live:
                break
            served = False
            for ask in queue:
                self._outputs[id(ask)] = [None] * len(ask.seeds)
                if self.prefix is None:
                    rows.extend((ask, k) for k in range(len(ask.seeds)))
                else:
                    served = self._plan(ask, rows) or served
            queue.clear()
            if any(a.target is not None for a, _ in rows):
                # A score is one forward and no decoding: serve it now, apart from any decode
                # session (it never joins one), and let its matches go on.
                self._score([row for row in rows if row[0].target is not None])
                rows = deque(row for row in rows if row[0].target is None)
                continue
            if served:  # recorded replies resumed matches: let them run before cutting batches
                continue
            if session is not None and not session.busy:
                session = None  # drained: rows of another model may go next
            if session is None and rows:
                engine = self.engines[rows[0][0].role.model]
                if callable(getattr(engine, "open_session", None)):
                    session = DecodeSession(rows[0][0].role.model, engine.open_session())
            if session is not None:
                if not self._stream(session, rows):
                    session = None
                continue
            if not rows:
                raise ArenaError(
                    "every live match is waiting but none asked a role; arenas may only await "
                    "match.ask / match.gather (not sleeps, I/O or other futures)"
                )
            self._serve(rows)
        self.stats.wall_seconds += time.perf_counter() - started
        return [results[s] for s in seeds]

    def _stream(self, session: DecodeSession, rows: deque[tuple[PendingAsk, int]]) -> bool:
        """Continuous batching: admit rows of the session's model, decode, deliver finished rows.

        Called each time the matches are quiescent, so asks made by matches whose rows just
        finished join the running batch at the next call instead of waiting for its longest
        row. Returns ``False`` when the engine failed (its rows' asks then fail).
        """
        engine = session.engine
        t0 = time.perf_counter()
        admitted: list[tuple[tuple[PendingAsk, int], GenerationRequest, list[int]]] = []
        try:
            free = engine.free_slots
            if free and rows:
                kept: list[tuple[PendingAsk, int]] = []
                while rows and len(admitted) < free:
                    row = rows.popleft()
                    if row[0].role.model != session.model:
                        kept.append(row)
                        continue
                    a, k = row
                    request = GenerationRequest(a.messages, a.role.adapter, a.sampling, a.seeds[k])
                    admitted.append((row, request, engine.engine.encode(a.messages)))
                rows.extendleft(reversed(kept))
                engine.add([(id_row(row), req, prompt) for row, req, prompt in admitted])
                for row, _, _ in admitted:
                    session.rows[id_row(row)] = row
            self.stats.batch_sizes.append(len(engine))
            finished = engine.advance()
        except Exception as exc:  # fail the asks in the session, not the run
            asks = {id(a): a for a, _ in [*session.rows.values(), *(row for row, _, _ in admitted)]}
            for a in asks.values():
                self._outputs.pop(id(a), None)
                if not a.future.done():
                    a.future.set_exception(exc)
            failed = set(asks)
            for row in [r for r in rows if id(r[0]) in failed]:
                rows.remove(row)
            return False
        self.stats.engine_seconds += time.perf_counter() - t0
        self.stats.rows += len(admitted)
        self.stats.generated_tokens += sum(len(c.token_ids) for _, c, _ in finished)
        for key, completion, seconds in finished:
            a, k = session.rows.pop(key)
            self._deliver(a, k, completion, seconds)
        return True

    def _plan(self, ask: PendingAsk, rows: deque[tuple[PendingAsk, int]]) -> bool:
        """Route an ask's rows through :attr:`prefix`: recorded ones are delivered at once, the
        others queue with the seed it picks. Returns whether any row was delivered."""
        assert self.prefix is not None
        try:
            plan = self.prefix.plan(ask)
        except ArenaError as exc:  # a diverged replay fails its match, not the run
            self._outputs.pop(id(ask), None)
            ask.future.set_exception(exc)
            return True
        served = False
        for k, (recorded, seed) in enumerate(plan):
            if recorded is not None:
                self._deliver(ask, k, recorded[0], recorded[1])
                served = True
            else:
                ask.seeds[k] = seed  # the match records the seed its row was sampled with
                rows.append((ask, k))
        return served

    def _deliver(self, a: PendingAsk, k: int, completion: Any, seconds: float) -> None:
        """Record sample ``k`` of an ask; resolve the ask once all its samples are in."""
        slots = self._outputs.get(id(a))
        if slots is None:
            return
        slots[k] = (completion, seconds)
        if all(x is not None for x in slots):
            del self._outputs[id(a)]
            if not a.future.done():
                a.future.set_result(slots)

    def _score(self, rows: list[tuple[PendingAsk, int]]) -> None:
        """Score rows (``match.score``): per model, batches of at most ``max_batch_size``;
        an engine that cannot score fails those asks (their matches record why), not the run."""
        for model in dict.fromkeys(a.role.model for a, _ in rows):
            engine = self.engines[model]
            mine = [row for row in rows if row[0].role.model == model]
            for first in range(0, len(mine), engine.max_batch_size):
                batch = mine[first : first + engine.max_batch_size]
                t0 = time.perf_counter()
                try:
                    score = getattr(engine, "score", None)
                    if not callable(score):
                        raise ArenaError(f"engine {engine.name!r} has no scoring path (Engine.score); run the "
                                         "seat that scores (match.score) on an hf engine")
                    completions = score([ScoreRequest(a.messages, a.role.adapter, a.target or "", a.seeds[k])
                                         for a, k in batch])
                    if len(completions) != len(batch):
                        raise ArenaError(f"engine {engine.name!r} returned {len(completions)} scores for "
                                         f"{len(batch)} requests")
                except Exception as exc:  # fail these asks, not the run
                    for a, _ in batch:
                        self._outputs.pop(id(a), None)
                        if not a.future.done():
                            a.future.set_exception(exc)
                    continue
                elapsed = time.perf_counter() - t0
                self.stats.engine_seconds += elapsed
                self.stats.rows += len(batch)
                for (a, k), c in zip(batch, completions, strict=True):
                    self._deliver(a, k, c, elapsed / len(batch))

    def _serve(self, rows: deque[tuple[PendingAsk, int]]) -> None:
        """Generate one batch: the oldest pending rows of the oldest row's model.

        Only one batch is generated before the matches resume, so the asks that the
        served matches make next join the queue and the following batches stay full
        (instead of every round of the protocol ending on a part-filled batch).
        """
        model = rows[0][0].role.model
        engine = self.engines[model]
        batch: list[tuple[PendingAsk, int]] = []
        kept: list[tuple[PendingAsk, int]] = []
        while rows and len(batch) < engine.max_batch_size:
            row = rows.popleft()
            (batch if row[0].role.model == model else kept).append(row)
        rows.extendleft(reversed(kept))
        requests = [GenerationRequest(a.messages, a.role.adapter, a.sampling, a.seeds[k]) for a, k in batch]
        t0 = time.perf_counter()
        try:
            completions = engine.generate(requests)
            if len(completions) != len(requests):
                raise ArenaError(
                    f"engine {engine.name!r} returned {len(completions)} completions for "
                    f"{len(requests)} requests"
                )
        except Exception as exc:  # fail these asks, not the run: their matches record the error
            for a, _ in batch:
                self._outputs.pop(id(a), None)
                if not a.future.done():
                    a.future.set_exception(exc)
            # Drop the other samples of the failed asks still queued.
            failed = {id(a) for a, _ in batch}
            for row in [r for r in rows if id(r[0]) in failed]:
                rows.remove(row)
            return
        elapsed = time.perf_counter() - t0
        self.stats.engine_seconds += elapsed
        self.stats.rows += len(batch)
        self.stats.batch_sizes.append(len(batch))
        self.stats.generated_tokens += sum(len(c.token_ids) for c in completions)
        share = elapsed / len(batch)
        for (a, k), c in zip(batch, completions, strict=True):
            self._deliver(a, k, c, share)

    def _finish(
        self,
        task: asyncio.Task[Outcome],
        match: Match,
        spec: Any,
        role_info: dict[str, Any],
        run_id: str | None,
        iteration: int,
        rewards: list[Reward],
    ) -> Transcript:
        transcript = Transcript(
            match_id=match.match_id, run_id=run_id, iteration=iteration, arena=spec,
            seed=match.seed, roles=role_info, turns=match.ordered_turns(),
            started_at=match.started_at, finished_at=time.time(),
        )
        self.stats.matches += 1
        error = task.exception()
        if error is None:
            outcome = task.result()
            if not isinstance(outcome, Outcome):
                error = ArenaError(
                    f"{spec.id}.play returned {type(outcome).__name__}; it must return an Outcome"
                )
            else:
                transcript.outcome = jsonable(dict(outcome.values))
                transcript.summary = outcome.summary
        if error is not None:
            self._crashed(match, error)
            transcript.status = "error"
            transcript.error = "".join(traceback.format_exception(error)).strip()[-4000:]
            return transcript
        try:
            apply_rewards(transcript, rewards)
        except Exception as exc:  # a broken reward must not lose the match
            self._crashed(match, exc)
            transcript.status = "error"
            transcript.error = "reward failed: " + "".join(traceback.format_exception(exc)).strip()[-4000:]
        return transcript

    def _crashed(self, match: Match, error: BaseException) -> None:
        """Count a crashed match and keep its exception where a report will want it."""
        self.stats.errors += 1
        if self.keep_exceptions:
            self.exceptions[match.match_id] = error
        if len(self.crashes) < MAX_CRASHES:  # a few distinct ones: each holds its frames alive
            self.crashes.setdefault(crash_key(error), error)
