"""Any arena as a PettingZoo AEC environment: ``to_pettingzoo(arena)``.

Agents are the arena's seats. When the arena asks a seat for a reply, that seat becomes
``agent_selection``; its observation is the text it is shown (the chat messages of the
ask, ``"<role>: <content>"`` blocks) as UTF-8 bytes in a ``Box(0, 255, (N,), uint8)``
padded with zeros (:func:`observation_text` decodes it; the infos carry the full text and
the messages); its action is the reply text (``gymnasium.spaces.Text``). Any string is a
valid action: garbage is a reply like any other, and the arena deals with it as it deals
with a model's garbage. When the match ends, every agent is terminated with the arena's
rewards; ``env.transcript`` is the match's transcript, as the runner would have stored it.

How the async arena is driven step by step: the match runs on a private event loop whose
``submit`` hook queues asks instead of sending them to an engine. ``reset`` and ``step``
run the loop until every coroutine of the match is blocked on an ask (the runner's own
quiescence test), then select the seat of the oldest pending reply. An ask with ``n > 1``
samples, or several asks gathered at once, is served one reply per step, in ask order;
the ask resumes once all its replies are in. Seats that are not agents (``agents=``) are
answered by ``engine`` as the runner would, in one batch, whenever they are pending.

Rewards: each seat's value of the arena's ``default_rewards`` entry, else its mean over
all the arena's rewards (``reward=`` names one per seat or for all); 0 for a seat the
rewards do not score, and for everyone when the match raises (``infos[agent]["error"]``).

Departure from PettingZoo habits: no action masks (a reply is free text), and seats may
move several times in a row (e.g. an ask with ``n = 4``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import string
import time
import traceback
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

try:
    import gymnasium
    from pettingzoo import AECEnv
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"to_pettingzoo needs PettingZoo and Gymnasium: pip install 'sparring[pettingzoo]' ({exc})") from exc

from sparring.agents.engines.base import Completion, Engine, GenerationRequest, Message
from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, Outcome, validate_class
from sparring.arenas.batching import settle
from sparring.arenas.errors import ArenaError
from sparring.arenas.match import Match, PendingAsk
from sparring.arenas.runner import bind_roles
from sparring.arenas.scoring import apply_rewards
from sparring.arenas.transcript import Transcript, jsonable

CHARSET = "".join(sorted(set(string.printable) | set("éèàüöäßñç€£°±×÷–—…“”‘’«»日本語中文한국어🎲✓✗")))
"""Characters the ``Text`` action space samples from (any string is accepted as an action)."""


def observation_text(observation: np.ndarray) -> str:
    """Decode an observation of :func:`to_pettingzoo` back to its text."""
    return bytes(np.asarray(observation, dtype=np.uint8)).rstrip(b"\0").decode("utf-8", errors="replace")


def messages_text(messages: list[Message]) -> str:
    """The text a seat sees: its chat messages as ``"<role>: <content>"`` blocks."""
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages)


def _encode(text: str, size: int) -> np.ndarray:
    data = text.encode("utf-8")
    if len(data) > size:  # keep the end (the latest content), cut at a character boundary
        data = data[-size:]
        while data and (data[0] & 0xC0) == 0x80:
            data = data[1:]
    out = np.zeros(size, dtype=np.uint8)
    out[: len(data)] = np.frombuffer(data, dtype=np.uint8)
    return out


class ArenaEnv(AECEnv):
    """An arena as a PettingZoo AEC environment; made by :func:`to_pettingzoo` (see module docs)."""

    metadata = {"name": "sparring_arena_v0", "render_modes": ["ansi", "human"], "is_parallelizable": False}

    def __init__(self, arena: Arena, engine: Engine | None = None, *, agents: list[str] | None = None,
                 roles: Mapping[str, Role] | None = None, reward: str | Mapping[str, str] | None = None,
                 max_observation_bytes: int = 8192, max_reply_chars: int = 4096, seed: int = 0,
                 render_mode: str | None = None) -> None:
        super().__init__()
        validate_class(type(arena))
        self.arena = arena
        self.metadata = {**self.metadata, "name": arena.id}
        self.possible_agents = list(agents) if agents is not None else list(arena.roles)
        unknown = [a for a in self.possible_agents if a not in arena.roles]
        if unknown or not self.possible_agents:
            raise ArenaError(f"agents {self.possible_agents} must be seats of {arena.id} (seats: {', '.join(arena.roles)})")
        # One Role object per seat (an ask records its role object, which names its seat).
        self._roles = {seat: replace(role) for seat, role in bind_roles(arena, roles).items()}
        self._others = [s for s in arena.roles if s not in self.possible_agents]
        if self._others and engine is None:
            raise ArenaError(f"seats {', '.join(self._others)} are not agents; pass engine= to answer them")
        self._engine = engine
        names = [r.name for r in arena.rewards()]
        wanted = {s: reward for s in arena.roles} if isinstance(reward, str) else dict(reward or {})
        for seat, name in wanted.items():
            if seat not in arena.roles or name not in names:
                raise ArenaError(f"reward {name!r} for {seat!r}: use seats of {arena.id} and its rewards "
                                 f"({', '.join(names) or 'none'})")
        self._reward = {s: wanted.get(s) or dict(arena.default_rewards).get(s) for s in arena.roles}
        if max_observation_bytes < 16 or max_reply_chars < 1:
            raise ValueError("max_observation_bytes must be >= 16 and max_reply_chars >= 1")
        self.render_mode = render_mode
        space = gymnasium.spaces.Box(0, 255, (max_observation_bytes,), np.uint8)
        self.observation_spaces = {a: space for a in self.possible_agents}
        self.action_spaces = {a: gymnasium.spaces.Text(max_reply_chars, min_length=0, charset=CHARSET)
                              for a in self.possible_agents}
        self._seeds = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Outcome] | None = None
        self._match: Match | None = None
        self.transcript: Transcript | None = None
        self.agents: list[str] = []

    # -- the AEC API ------------------------------------------------------------------------
    def observation_space(self, agent: str) -> gymnasium.spaces.Space:
        """``Box(0, 255, (max_observation_bytes,), uint8)``: UTF-8 text, zero-padded."""
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gymnasium.spaces.Space:
        """``Text``: the reply."""
        return self.action_spaces[agent]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Start a new match; ``seed`` is the match seed (default: drawn from the env's seed)."""
        self._stop()
        match_seed = int(seed) if seed is not None else self._seeds.getrandbits(31)
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos: dict[str, dict[str, Any]] = {a: {} for a in self.agents}
        self._observations = {a: np.zeros(self.observation_spaces[a].shape, np.uint8) for a in self.agents}
        self.transcript = None
        self._queue: list[PendingAsk] = []
        self._rows: deque[tuple[PendingAsk, int]] = deque()
        self._slots: dict[int, list[tuple[Completion, float] | None]] = {}
        self._loop = asyncio.new_event_loop()
        self._match = Match(self.arena, match_seed, self._roles, self._queue.append, f"pettingzoo-s{match_seed}")
        self._task = self._loop.create_task(self.arena.play(self._match))
        self.agent_selection = self.possible_agents[0]
        self._advance()

    def observe(self, agent: str) -> np.ndarray:
        """The text ``agent`` was last asked with (zeros before its first ask)."""
        return self._observations[agent].copy()

    def step(self, action: str | bytes | None) -> None:
        """Reply ``action`` for the selected seat (``None`` for a terminated agent)."""
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        if isinstance(action, bytes):
            action = action.decode("utf-8", errors="replace")
        if not isinstance(action, str):
            raise TypeError(f"the action of {agent!r} must be its reply text (str), got {type(action).__name__}")
        self._cumulative_rewards[agent] = 0.0
        self._clear_rewards()
        ask, k = self._rows.popleft()
        self._fill(ask, k, Completion(action, prompt_tokens=0, finish_reason="stop"))
        self._advance()

    def render(self) -> str | None:
        """The match so far as text (``ansi`` returns it, ``human`` prints it)."""
        turns = sorted(self._match.turns, key=lambda t: (t.ask, t.sample)) if self._match else []
        text = "\n".join(f"[{t.role}] {t.text}" for t in turns)
        if self.transcript is not None and self.transcript.summary:
            text += f"\n= {self.transcript.summary}"
        if self.render_mode == "human":
            print(text)
            return None
        return text if self.render_mode == "ansi" else None

    def close(self) -> None:
        """Stop a match in progress and close its event loop."""
        self._stop()

    def __del__(self) -> None:
        # A dropped environment cancels its match, or asyncio warns that a task was destroyed.
        with contextlib.suppress(Exception):
            self._stop()

    # -- driving the match --------------------------------------------------------------------
    def _advance(self) -> None:
        """Run the match until an agent must reply (select it) or the match ends."""
        assert self._loop is not None and self._task is not None
        while True:
            self._loop.run_until_complete(settle())
            for ask in self._queue:
                self._slots[id(ask)] = [None] * len(ask.seeds)
                self._rows.extend((ask, k) for k in range(len(ask.seeds)))
            self._queue.clear()
            if self._task.done():
                self._finish()
                return
            engine_rows = [r for r in self._rows if self._seat(r[0]) in self._others]
            if engine_rows:
                self._serve(engine_rows)
                continue
            if not self._rows:
                raise ArenaError(f"{self.arena.id} is waiting but asked nothing; arenas may only await "
                                 "match.ask / match.gather")
            ask, k = self._rows[0]
            self.agent_selection = seat = self._seat(ask)
            text = messages_text(ask.messages)
            self._observations[seat] = _encode(text, self.observation_spaces[seat].shape[0])
            self.infos[seat] = {"text": text, "messages": [dict(m) for m in ask.messages], "ask": ask.ask,
                                "sample": k, "seed": ask.seeds[k]}
            return

    def _seat(self, ask: PendingAsk) -> str:
        return next(seat for seat, role in self._roles.items() if role is ask.role)

    def _serve(self, rows: list[tuple[PendingAsk, int]]) -> None:
        assert self._engine is not None
        for row in rows:
            self._rows.remove(row)
        requests = [GenerationRequest(a.messages, a.role.adapter, a.sampling, a.seeds[k]) for a, k in rows]
        try:
            completions = self._engine.generate(requests)
        except Exception as exc:  # noqa: BLE001 - the match records the failure, as in the runner
            for a, _ in rows:
                if not a.future.done():
                    a.future.set_exception(exc)
            return
        for (a, k), c in zip(rows, completions, strict=True):
            self._fill(a, k, c)

    def _fill(self, ask: PendingAsk, k: int, completion: Completion) -> None:
        slots = self._slots[id(ask)]
        slots[k] = (completion, 0.0)
        if all(s is not None for s in slots):
            del self._slots[id(ask)]
            if not ask.future.done():
                ask.future.set_result(slots)  # type: ignore[arg-type]

    def _finish(self) -> None:
        assert self._task is not None and self._match is not None
        match = self._match
        t = Transcript(match_id=match.match_id, arena=self.arena.spec(), seed=match.seed,
                       roles={s: r.describe() for s, r in self._roles.items()}, turns=match.ordered_turns(),
                       started_at=match.started_at, finished_at=time.time())
        error = self._task.exception()
        if error is None and not isinstance(self._task.result(), Outcome):
            error = ArenaError(f"{self.arena.id}.play must return an Outcome")
        if error is None:
            outcome = self._task.result()
            t.outcome, t.summary = jsonable(dict(outcome.values)), outcome.summary
            try:
                apply_rewards(t, list(self.arena.rewards()))
            except Exception as exc:  # noqa: BLE001 - a broken reward ends the match as an error
                error = exc
        if error is not None:
            t.status, t.error = "error", "".join(traceback.format_exception(error)).strip()[-4000:]
        self.transcript = t
        for agent in self.agents:
            value = None if t.status == "error" else t.reward_of(agent, self._reward[agent])
            self.rewards[agent] = float(value or 0.0)
            self.terminations[agent] = True
            self.infos[agent] = {"status": t.status, **({"error": t.error.splitlines()[-1]} if t.error else {})}
        self._accumulate_rewards()
        self._stop()
        self._deads_step_first()

    def _stop(self) -> None:
        if self._loop is None:
            return
        pending = [t for t in asyncio.all_tasks(self._loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()
        self._loop = None


def to_pettingzoo(arena: Arena, engine: Engine | None = None, **options: Any) -> ArenaEnv:
    """``arena`` as a PettingZoo AEC environment whose agents are its seats.

    Args:
        arena: An arena instance.
        engine: Answers the seats that are not agents (required when ``agents`` leaves
            some out), as the runner would.
        **options: ``agents`` (seats exposed as agents; default all), ``roles`` (roles
            bound to seats; default the arena's), ``reward`` (a reward name, or one per
            seat), ``max_observation_bytes`` (8192), ``max_reply_chars`` (4096), ``seed``
            (draws match seeds for ``reset()`` without one), ``render_mode`` (``ansi``,
            ``human``).

    Example::

        env = to_pettingzoo(make("tictactoe"))
        env.reset(seed=3)
        for agent in env.agent_iter():
            obs, reward, done, truncated, info = env.last()
            env.step(None if done or truncated else "Move: 5")
    """
    return ArenaEnv(arena, engine, **options)
