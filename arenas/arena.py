"""The arena base class: a multi-turn protocol between roles, written as async Python.

Subclass :class:`Arena`, declare its ``id`` and seats, and write ``play``::

    class Echo(Arena):
        id = "demo/echo-v1"
        roles = ("speaker",)

        async def play(self, match):
            reply = await match.ask("speaker", "Say something.")
            return Outcome({"said": reply.text})

Constructor arguments are recorded automatically in the arena's spec (and so in every
transcript), so any stored match can be re-made and replayed.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from sparring.agents.builtin_roles import BUILTIN_ROLES
from sparring.agents.roles import Role
from sparring.arenas.errors import ArenaError
from sparring.arenas.transcript import ArenaSpec

if TYPE_CHECKING:
    from sparring.arenas.curriculum import Curriculum
    from sparring.arenas.evaluation import Evaluation
    from sparring.arenas.match import Match
    from sparring.rewards.base import Reward
    from sparring.rewards.metrics import Metric

_ID = re.compile(r"^[a-z0-9_.-]+/[a-z0-9_.-]+-v\d+$")


@dataclass
class Outcome:
    """How a match ended: JSON values rewards read, and a one-line human summary."""

    values: dict[str, Any] = field(default_factory=dict)
    summary: str = ""


class Arena:
    """Base class of arenas. Subclasses set the class attributes and implement :meth:`play`.

    Attributes:
        id: ``namespace/name-vN``; bump N when the protocol changes.
        roles: The seats of the arena.
        short_name: Optional short name for the CLI (``sparring play qa-verify``).
        zero_sum: Whether the seats' rewards sum to zero.
        reward_bounds: Bounds every reward of this arena stays within.
        max_turns: Most replies (samples) a match may ask for; a match that asks for more
            fails, which keeps every match finite.
        default_rewards: The reward (by name) that trains each seat when a recipe names
            none, e.g. ``{"solver": "solver_verdict"}``. An arena with a single reward
            needs no entry: that reward trains every seat it scores.
        examples: Well-formed replies per seat (``{"judge": ["Winner: A"]}``); the
            conformance check drives the arena with them so rewards' success paths run.
    """

    id: ClassVar[str] = ""
    roles: ClassVar[tuple[str, ...]] = ()
    short_name: ClassVar[str | None] = None
    zero_sum: ClassVar[bool] = False
    reward_bounds: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    max_turns: ClassVar[int] = 64
    default_rewards: ClassVar[Mapping[str, str]] = {}
    examples: ClassVar[Mapping[str, Sequence[str]]] = {}

    _kwargs: dict[str, Any]

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording_init(cls.__dict__["__init__"])  # type: ignore[method-assign]

    def __init__(self) -> None:
        if not hasattr(self, "_kwargs"):
            self._kwargs = {}

    @property
    def kwargs(self) -> dict[str, Any]:
        """Constructor arguments (defaults filled in) that re-make this arena."""
        return dict(getattr(self, "_kwargs", {}))

    def spec(self) -> ArenaSpec:
        """The arena's spec: id, seats, zero-sum flag, reward bounds, turn limit, kwargs."""
        validate_class(type(self))
        module = type(self).__module__
        source = None if module.startswith("sparring.") else f"{module}:{type(self).__qualname__}"
        return ArenaSpec(
            id=self.id, roles=list(self.roles), zero_sum=self.zero_sum,
            reward_bounds=tuple(self.reward_bounds), max_turns=self.max_turns,
            # ``_source`` is set by ``resolve`` on that very class; a subclass must not inherit it.
            kwargs=_json_normalised(self.kwargs), source=type(self).__dict__.get("_source") or source,
        )

    def default_roles(self) -> dict[str, Role]:
        """Roles used for seats the run does not bind; built-in roles where the name matches."""
        return {
            seat: BUILTIN_ROLES[seat]() if seat in BUILTIN_ROLES else Role(name=seat)
            for seat in self.roles
        }

    def rewards(self) -> Sequence[Reward]:
        """Rewards applied to every finished match of this arena (none by default)."""
        return ()

    def evaluation(self) -> Evaluation | None:
        """The held-out evaluation of this arena (``None``: mean rewards on held-out seeds).

        See :mod:`sparring.arenas.evaluation`.
        """
        return None

    def distinct_items(self) -> int | None:
        """How many distinct items this arena plays when match seed ``k`` plays item ``k``
        (seeds ``0..n-1`` are then ``n`` distinct items; evaluations use it to count and
        to refuse a set larger than the split); ``None``: each seed draws its own match.

        Arenas on a task family's split get this from
        :class:`~sparring.arenas.items.SplitItems`.
        """
        return None

    def curriculum(self) -> Curriculum | None:
        """The curriculum training follows (``None``: the arena plays as made).

        See :mod:`sparring.arenas.curriculum`.
        """
        return None

    def monitors(self) -> Sequence[Metric]:
        """Arena-specific metrics of each training iteration's transcripts (logged as is,
        beside the generic per-seat monitors)."""
        return ()

    async def play(self, match: Match) -> Outcome:
        """Play one match: ask roles for replies through ``match`` and return the outcome."""
        raise NotImplementedError(f"{type(self).__name__} must implement 'async def play(self, match)'")


def _json_normalised(kwargs: dict[str, Any]) -> dict[str, Any]:
    # Record kwargs as they will read back from JSON (tuples become lists), so a spec
    # re-made from a stored transcript compares equal to the original.
    try:
        return json.loads(json.dumps(kwargs))
    except (TypeError, ValueError):
        return kwargs  # the conformance check reports non-JSON kwargs


def _recording_init(init: Any) -> Any:
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: Arena, *args: Any, **kwargs: Any) -> None:
        outermost = not getattr(self, "_recording", False)
        if outermost:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            recorded = {k: v for k, v in bound.arguments.items() if k != "self"}
            for name, param in signature.parameters.items():
                if param.kind is inspect.Parameter.VAR_KEYWORD:
                    recorded.update(recorded.pop(name, {}))
                elif param.kind is inspect.Parameter.VAR_POSITIONAL:
                    raise ArenaError(
                        f"{type(self).__name__}.__init__ takes *args; arena constructor "
                        "arguments must be named so they can be recorded and re-made"
                    )
            self._kwargs = recorded
            self._recording = True
        try:
            init(self, *args, **kwargs)
        finally:
            if outermost:
                self._recording = False

    return wrapper


def validate_class(cls: type[Arena]) -> None:
    """Check the class-level declarations of an arena; raises :class:`ArenaError`."""
    name = cls.__name__
    if not cls.id or not _ID.match(cls.id):
        raise ArenaError(
            f"{name}.id must look like 'namespace/name-v1' (lowercase), got {cls.id!r}"
        )
    if not cls.roles or isinstance(cls.roles, str):
        raise ArenaError(f"{name}.roles must be a non-empty tuple of seat names, got {cls.roles!r}")
    if len(set(cls.roles)) != len(cls.roles):
        raise ArenaError(f"{name}.roles has duplicate seats: {cls.roles!r}")
    low, high = cls.reward_bounds
    if not low <= high:
        raise ArenaError(f"{name}.reward_bounds must be (low, high) with low <= high, got {cls.reward_bounds}")
    if cls.max_turns < 1:
        raise ArenaError(f"{name}.max_turns must be >= 1, got {cls.max_turns}")
    if not inspect.iscoroutinefunction(cls.play):
        raise ArenaError(f"{name}.play must be 'async def play(self, match)'")
