"""LLM roles play a PettingZoo AEC game (``sparring/pettingzoo-v1``).

Any turn-based PettingZoo environment with ``Discrete`` actions is an arena: each of the
environment's agents is a seat; when an agent is to move, its seat is asked with the
observation rendered as text together with the legal moves, and the reply is parsed into an
action::

    from pettingzoo.classic import connect_four_v3
    arena = PettingZooArena(connect_four_v3.env)          # seats: player_0, player_1

Seats and what each sees:
    one seat per environment agent (``seats`` renames them in order): ``render(env, agent,
    observation, legal)`` of its own observation (default: the observation arrays and the
    legal move numbers), and after a rejected reply the reason and the legal moves again.

Moves: ``parse(text, legal)`` returns the action (default: the number after ``Move:``,
else the first number in the reply). A reply that does not parse or names an illegal move
is re-prompted with the reason, up to ``max_retries`` times; then the seat **forfeits**:
the game ends, the forfeiting seat loses and the forfeit is counted in the outcome
(``forfeit``, ``rejected``). Legal moves come from the ``action_mask`` in the observation
or info (PettingZoo's convention), else every action of the ``Discrete`` space.

Seeds: the match seed resets the environment (``env.reset(seed=match.seed)``), so a match
is reproducible from its seed and replies; ``env_fn`` is called anew for every match.

Outcome and rewards: the environment's returns per seat (``returns``, collected so far
when the game stops early), ``winner`` (the
seat with the strictly highest return, the other seat after a forfeit, ``None`` for a
draw), ``end`` (``win``, ``draw``, ``forfeit`` or ``truncated`` after ``max_moves``).
Reward ``game_result`` (match-level, in [-1, 1], every seat's default): +1 to the winner,
-1 to the other seats, 0 to all in a draw. Reward ``move_result`` (per turn, in [-1, 1]):
every accepted move gets its seat's ``game_result``, every rejected reply -1; train with it
(``roles.<seat>.reward = "move_result"``) so that every move, not only a seat's last turn,
is credited with the outcome (GRPO on per-turn rewards of one-sample asks uses the batch
mean as baseline, see :func:`sparring.rewards.builders.grpo_groups`). The arena declares ``winner(transcript)``, so tournaments and the
league use it (:mod:`sparring.arenas.competitive`). Monitors: ``rejected_reply_rate``,
``forfeit_rate``, ``draw_rate``, ``win_rate/<seat>``.

Scripted seats: ``opponents = {seat: "module:function"}`` plays a seat by a policy inside
the arena (never asked, so no turns), e.g. to evaluate a trained role against an anchor.

Recording: ``env_fn``, ``render`` and ``parse`` are recorded in the arena's spec as
``"module:function"`` references (pass module-level functions or such strings; a lambda
cannot be re-made from a stored transcript and is refused).

Simplification: ``game_result`` is a match-level reward, so GRPO trains each seat's last
move of a match against the batch baseline (``rewards/builders.py``, ``match_groups``):
in board games that is the move that won, or the one that failed to prevent the loss.

Versions: v1, first version.
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.errors import ArenaError
from sparring.arenas.match import Match
from sparring.arenas.registry import load_file
from sparring.arenas.transcript import Transcript, jsonable
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric

INSTALL_HINT = "pip install 'sparring[pettingzoo]'"
_MOVE = re.compile(r"move\s*[:=]?\s*(-?\d+)", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d+")


# -- references to functions ---------------------------------------------------------
def load_function(ref: str, what: str = "function") -> Callable[..., Any]:
    """The function named by ``"package.module:function"`` or ``"path/file.py:function"``.

    Raises:
        ArenaError: The reference is malformed, cannot be imported, or is not callable.
    """
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise ArenaError(f"{what} {ref!r} must look like 'package.module:function' or 'file.py:function'")
    if target.endswith(".py"):
        path = Path(target).expanduser()
        if not path.is_file():
            raise ArenaError(f"{what} {ref!r}: file {path} does not exist")
        module = load_file(path)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            hint = f" ({INSTALL_HINT})" if "pettingzoo" in str(exc) or "gymnasium" in str(exc) else ""
            raise ArenaError(f"{what} {ref!r}: cannot import {target!r}: {exc}{hint}") from exc
    fn: Any = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
    if not callable(fn):
        raise ArenaError(f"{what} {ref!r}: {attr!r} is not a function of {target}")
    return fn


def function_reference(fn: str | Callable[..., Any], what: str) -> str:
    """A ``"module:function"`` string that :func:`load_function` turns back into ``fn``.

    Raises:
        ArenaError: ``fn`` is not importable by name (a lambda, a closure, a partial).
    """
    if isinstance(fn, str):
        load_function(fn, what)  # fail now, with the name of the argument, not in the first match
        return fn
    module, name = getattr(fn, "__module__", None), getattr(fn, "__qualname__", None)
    if module and name and "<" not in name:
        ref = f"{module}:{name}"
        with contextlib.suppress(ArenaError):  # not importable by name: fall through to the error below
            if load_function(ref, what) is fn:
                return ref
    raise ArenaError(
        f"{what} {fn!r} cannot be recorded by name (arena specs must re-make the arena); pass a "
        "module-level function or a 'module:function' string, and constructor arguments as kwargs")


# -- default rendering and parsing ------------------------------------------------------
def render_observation(env: Any, agent: str, observation: Any, legal: Sequence[int]) -> str:
    """Default prompt: the agent's observation arrays as nested lists and the legal moves."""
    name = getattr(getattr(env, "unwrapped", env), "metadata", {}).get("name", "a game")
    obs = observation.get("observation", observation) if isinstance(observation, Mapping) else observation
    shown = obs.tolist() if hasattr(obs, "tolist") else obs
    return (f"You are {agent} in {name}. Your observation:\n{shown}\n"
            f"Legal moves: {', '.join(map(str, legal))}.\n"
            "Reply with one legal move as 'Move: <number>'.")


def parse_move(text: str, legal: Sequence[int]) -> int:
    """Default parser: the number after ``Move:``, else the first number in the reply.

    Raises:
        ValueError: No number in the reply (legality is checked by the arena).
    """
    text = text[:2000]  # hostile replies can be 100k characters; a move is near the start
    found = _MOVE.search(text) or _NUMBER.search(text)
    if found is None:
        raise ValueError("no move number in the reply; answer like 'Move: 3'")
    return int(found.group(1) if found.re is _MOVE else found.group(0))


# -- rewards and monitors ------------------------------------------------------------
@reward("game_result", bounds=(-1.0, 1.0))
def game_result(transcript: Transcript) -> list[Score] | None:
    """+1 to the winner, -1 to the other seats, 0 to every seat in a draw (match-level)."""
    outcome = transcript.outcome or {}
    if "winner" not in outcome:
        return None
    winner = outcome["winner"]
    why = {"win": f"{winner} won", "forfeit": f"{outcome.get('forfeit')} forfeited", "draw": "draw",
           "truncated": "stopped after the move limit (draw)"}.get(outcome.get("end"), str(outcome.get("end")))
    return [Score(seat, 0.0 if winner is None else (1.0 if seat == winner else -1.0), why)
            for seat in transcript.arena.roles]


def rejected_turns(transcript: Transcript) -> set[int]:
    """Indexes of the turns whose reply was not accepted (unparseable or illegal).

    Read from the transcript's shape, so stored matches can be rescored: a rejected reply
    is re-prompted with the same messages plus the reply and the reason (two messages
    more), and a seat's last reply is rejected when that seat forfeited.
    """
    out: set[int] = set()
    forfeit = (transcript.outcome or {}).get("forfeit")
    for seat in transcript.arena.roles:
        turns = [u for u in transcript.turns if u.role == seat]
        for k, turn in enumerate(turns):
            after = turns[k + 1] if k + 1 < len(turns) else None
            if after is None:
                if forfeit == seat:
                    out.add(turn.index)
            elif len(after.messages) == len(turn.messages) + 2 and after.messages[:len(turn.messages)] == turn.messages:
                out.add(turn.index)
    return out


@reward("move_result", bounds=(-1.0, 1.0))
def move_result(transcript: Transcript) -> list[Score] | None:
    """Per turn: the seat's ``game_result`` on every accepted move, -1 on every rejected reply.

    The match-level ``game_result`` reaches only a seat's last turn in a GRPO batch; this
    one credits every move with the game's result (REINFORCE with the batch's mean as
    baseline) and penalises illegal or unparseable replies where they happen.
    """
    results = game_result(transcript)
    if results is None:
        return None
    by_seat = {s.role: s for s in results}
    rejected = rejected_turns(transcript)
    return [Score(u.role, -1.0, "reply not accepted (re-prompted or forfeited)", turn=u.index) if u.index in rejected
            else Score(u.role, by_seat[u.role].value, by_seat[u.role].explanation, turn=u.index)
            for u in transcript.turns if u.role in by_seat]


@metric("rejected_reply_rate")
def rejected_reply_rate(ts: Sequence[Transcript]) -> float | None:
    """Share of all replies that were unparseable or illegal (and re-prompted or forfeited)."""
    rejected = sum(sum((t.outcome or {}).get("rejected", {}).values()) for t in ts)
    replies = sum(len(t.turns) for t in ts)
    return rejected / replies if replies else None


@metric("win_rate")
def win_rate(ts: Sequence[Transcript]) -> dict[str, float] | None:
    """Share of matches each seat won (``win_rate/<seat>``)."""
    if not ts:
        return None
    return {seat: sum((t.outcome or {}).get("winner") == seat for t in ts) / len(ts) for seat in ts[0].arena.roles}


@metric("forfeit_rate", per_match=True)
def forfeit_rate(transcript: Transcript) -> float | None:
    """Share of matches ended by a forfeit."""
    return None if transcript.outcome is None else float(transcript.outcome.get("end") == "forfeit")


@metric("draw_rate", per_match=True)
def draw_rate(transcript: Transcript) -> float | None:
    """Share of matches without a winner."""
    return None if transcript.outcome is None else float(transcript.outcome.get("winner") is None)


class PettingZooArena(Arena):
    """A PettingZoo AEC environment played by LLM roles (see the module docs).

    Args:
        env_fn: Makes the environment (``pettingzoo.classic.tictactoe_v3.env``), as a
            module-level function or ``"module:function"``; called with ``env_kwargs``.
        render: ``render(env, agent, observation, legal) -> str``, the prompt of a move
            (default :func:`render_observation`).
        parse: ``parse(text, legal) -> int``, the action a reply names; raises
            ``ValueError`` with the reason when it names none (default :func:`parse_move`).
        env_kwargs: Keyword arguments of ``env_fn`` (JSON values).
        seats: Seat names for the environment's agents, in ``possible_agents`` order
            (default: the agents' names).
        max_retries: Re-prompts after a rejected reply before the seat forfeits.
        max_moves: Moves after which the game stops as a draw (``end = "truncated"``).
        opponents: Seats played by a scripted policy inside the arena instead of a role:
            ``{seat: "module:function"}``, ``function(messages, rng) -> reply`` (the
            tournament ``policy`` signature; ``rng`` is the match's generator). Such a seat
            is never asked, so its moves are not turns (an evaluation against an anchor).

    The class-level ``roles`` are a placeholder: each instance's seats are its
    environment's agents (or ``seats``).
    """

    id = "sparring/pettingzoo-v1"
    roles = ("player_0", "player_1")
    reward_bounds = (-1.0, 1.0)
    max_turns = 1024
    # A built-in class that is not registered (it needs an env_fn): specs name it by path.
    _source = "sparring.arenas.pettingzoo_arena:PettingZooArena"

    def __init__(self, env_fn: str | Callable[..., Any], render: str | Callable[..., str] | None = None,
                 parse: str | Callable[..., int] | None = None, env_kwargs: dict[str, Any] | None = None,
                 seats: Sequence[str] | None = None, max_retries: int = 2, max_moves: int = 200,
                 opponents: Mapping[str, str | Callable[..., str]] | None = None) -> None:
        super().__init__()
        refs = {"env_fn": function_reference(env_fn, "env_fn"),
                "render": None if render is None else function_reference(render, "render"),
                "parse": None if parse is None else function_reference(parse, "parse")}
        for key, ref in refs.items():  # recorded by reference, so the spec re-makes the arena
            if key in self._kwargs:  # (a subclass records its own constructor's arguments)
                self._kwargs[key] = ref
        self.env_fn = load_function(refs["env_fn"], "env_fn")
        self.render: Callable[..., str] = load_function(refs["render"], "render") if refs["render"] else render_observation
        self.parse: Callable[..., int] = load_function(refs["parse"], "parse") if refs["parse"] else parse_move
        self.env_kwargs = dict(env_kwargs or {})
        for name, value, low in (("max_retries", max_retries, 0), ("max_moves", max_moves, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ArenaError(f"{name} must be an integer >= {low}, got {value!r}")
        self.max_retries = max_retries
        self.max_moves = max_moves
        env = self.make_env()
        try:
            agents = list(env.possible_agents)
            self._check_discrete(env, agents)
        finally:
            env.close()
        names = list(seats) if seats is not None else [str(a) for a in agents]
        if len(names) != len(agents) or len(set(names)) != len(names):
            raise ArenaError(f"seats {names} must name each of the environment's {len(agents)} agents "
                             f"({', '.join(map(str, agents))}) once, in order")
        self.roles = tuple(names)  # type: ignore[misc]  # an instance's seats are its env's agents
        self.seat_of = {agent: seat for agent, seat in zip(agents, names, strict=True)}
        self.default_rewards = {seat: "game_result" for seat in self.roles}  # type: ignore[misc]
        # Every move may take 1 + max_retries replies; past that the match ends.
        self.max_turns = max_moves * (1 + max_retries)  # type: ignore[misc]
        refs_of = {seat: function_reference(fn, f"opponents[{seat!r}]") for seat, fn in (opponents or {}).items()}
        for seat in refs_of:
            if seat not in self.roles:
                raise ArenaError(f"opponents names {seat!r}, which is not a seat (seats: {', '.join(self.roles)})")
        if "opponents" in self._kwargs:
            self._kwargs["opponents"] = refs_of or None
        self.opponents = {seat: load_function(ref, "opponent") for seat, ref in refs_of.items()}

    def make_env(self) -> Any:
        """A fresh environment from ``env_fn(**env_kwargs)``."""
        try:
            return self.env_fn(**self.env_kwargs)
        except ImportError as exc:
            raise ArenaError(f"cannot make the environment: {exc} ({INSTALL_HINT}; classic games also "
                             "need pygame-ce, Leduc hold'em needs rlcard)") from exc

    @staticmethod
    def _check_discrete(env: Any, agents: Sequence[Any]) -> None:
        for agent in agents:
            space = env.action_space(agent)
            if not hasattr(space, "n"):
                raise ArenaError(f"agent {agent!r} has action space {space}; PettingZooArena plays Discrete "
                                 "action spaces (a move is a number)")

    def rewards(self) -> Sequence[Reward]:
        """``game_result`` (+1 win, -1 loss (a forfeit loses), 0 draw; the default) and
        ``move_result`` (per turn: the result on accepted moves, -1 on rejected replies)."""
        return (game_result, move_result)

    def monitors(self) -> Sequence[Metric]:
        """Rejected-reply, forfeit, draw and per-seat win rates."""
        return (rejected_reply_rate, forfeit_rate, draw_rate, win_rate)

    def winner(self, transcript: Transcript) -> str | None:
        """The winning seat, ``None`` for a draw."""
        return (transcript.outcome or {}).get("winner")

    def move_label(self, action: int) -> str:
        """How a move is named to the players (re-prompts list legal moves with it)."""
        return str(action)

    @staticmethod
    def legal_moves(env: Any, agent: Any, observation: Any, info: Mapping[str, Any]) -> list[int]:
        """Legal actions: the ``action_mask`` of the observation or info, else the whole space."""
        mask = observation.get("action_mask") if isinstance(observation, Mapping) else None
        if mask is None:
            mask = info.get("action_mask")
        if mask is None:
            return list(range(int(env.action_space(agent).n)))
        return [i for i, allowed in enumerate(mask) if allowed]

    async def play(self, match: Match) -> Outcome:
        """Play one game: ask the seat to move until the environment ends (see module docs)."""
        env = self.make_env()
        try:
            return await self._play(env, match)
        finally:
            env.close()

    async def _play(self, env: Any, match: Match) -> Outcome:
        env.reset(seed=match.seed)
        returns = {seat: 0.0 for seat in self.roles}
        rejected = {seat: 0 for seat in self.roles}
        moves: list[dict[str, Any]] = []
        forfeit: str | None = None
        for agent in env.agent_iter():
            observation, gained, terminated, truncated, info = env.last()
            seat = self.seat_of[agent]
            returns[seat] += float(gained)  # what the agent gained since it last acted (AEC)
            if terminated or truncated:
                env.step(None)
                continue
            if len(moves) >= self.max_moves:
                break
            legal = self.legal_moves(env, agent, observation, info)
            prompt = self.render(env, agent, observation, legal)
            action = await self._move(match, seat, prompt, legal, rejected)
            if action is None:
                forfeit = seat
                break
            moves.append({"seat": seat, "action": action})
            env.step(action)
        return self._outcome(returns, rejected, moves, forfeit, truncated=forfeit is None and bool(env.agents))

    async def _move(self, match: Match, seat: str, prompt: str, legal: list[int],
                    rejected: dict[str, int]) -> int | None:
        messages = [{"role": "user", "content": prompt}]
        for _ in range(1 + self.max_retries):
            if seat in self.opponents:  # a scripted seat: no ask, no turn; the match's rng keeps replay exact
                text = str(self.opponents[seat](match.roles[seat].render(messages), match.rng))
            else:
                text = (await match.ask(seat, messages)).text
            try:
                action = int(self.parse(text, legal))
                reason = None if action in legal else f"move {self.move_label(action)} is not legal here"
            except (ValueError, TypeError, OverflowError) as exc:
                action, reason = None, str(exc) or type(exc).__name__
            if reason is None:
                return action
            rejected[seat] += 1
            messages = [*messages, {"role": "assistant", "content": text[:2000]},
                        {"role": "user", "content": f"That reply was not accepted: {reason}. Legal moves: "
                                                    f"{', '.join(map(self.move_label, legal))}. "
                                                    "Reply with one legal move."}]
        return None

    def _outcome(self, returns: dict[str, float], rejected: dict[str, int], moves: list[dict[str, Any]],
                 forfeit: str | None, truncated: bool) -> Outcome:
        if forfeit is not None:
            others = [s for s in self.roles if s != forfeit]
            winner, end = (others[0] if len(others) == 1 else None), "forfeit"
        elif truncated:
            winner, end = None, "truncated"
        else:
            best = max(returns.values())
            leaders = [s for s, v in returns.items() if v == best]
            winner = leaders[0] if len(leaders) == 1 else None
            end = "draw" if winner is None else "win"
        values = {"returns": jsonable(returns), "winner": winner, "end": end, "forfeit": forfeit,
                  "rejected": rejected, "moves": moves}
        summary = {"win": f"{winner} won", "draw": "draw", "forfeit": f"{forfeit} forfeited",
                   "truncated": f"stopped after {len(moves)} moves"}[end]
        return Outcome(values, f"{summary} in {len(moves)} moves ({sum(rejected.values())} rejected replies)")
