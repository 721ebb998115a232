"""The arena base class: a user arena in a few lines, specs and class-level rules."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sparring import Arena, ArenaError, Match, Outcome, Role, Runner, ScriptedEngine, parsers
from sparring.arenas.arena import validate_class
from sparring.arenas.registry import make_from_spec
from tests.helpers import Echo


class Guess(Arena):
    """A user arena in a few lines: two seats, a rule, an outcome."""

    id = "tests/guess-v1"
    roles = ("guesser", "referee")

    async def play(self, match: Match) -> Outcome:
        target = match.rng.randint(1, 9)
        guess = await match.ask("guesser", f"Guess a digit (hint: it is {target}).")
        verdict = await match.ask("referee", f"Is {guess.text} right?")
        return Outcome({"target": target, "guess": guess.text, "verdict": verdict.parsed},
                       f"guessed {guess.text}")


def test_user_arena_runs_through_the_runner(scripted: Callable[..., ScriptedEngine]) -> None:
    engine = scripted(lambda req, i: "Verdict: correct" if "right?" in req.messages[-1]["content"] else "5")
    referee = Role(name="referee", parser=parsers.verdict)
    [t] = Runner({"default": engine}, {"referee": referee}).play(Guess(), [3])
    assert t.status == "finished", t.error
    assert [u.role for u in t.turns] == ["guesser", "referee"]
    assert 1 <= t.outcome["target"] <= 9
    assert t.outcome == {"target": t.outcome["target"], "guess": "5", "verdict": True}
    assert t.summary == "guessed 5"
    assert t.roles["guesser"]["parser"] is None and t.roles["referee"]["parser"] == "verdict"
    assert t.arena.id == "tests/guess-v1" and t.arena.roles == ["guesser", "referee"]
    assert t.arena.source == "tests.arenas.test_arena:Guess"


def test_kwargs_are_recorded_with_defaults() -> None:
    arena = Echo(times=2)
    assert arena.kwargs == {"prompt": "Say something.", "times": 2}
    spec = arena.spec()
    assert spec.kwargs == {"prompt": "Say something.", "times": 2}
    remade = make_from_spec(spec)
    assert isinstance(remade, Echo) and remade.times == 2 and remade.spec() == spec


class WithVarKw(Arena):
    id = "tests/varkw-v1"
    roles = ("a",)

    def __init__(self, size: int = 1, **options: object) -> None:
        super().__init__()
        self.options = options

    async def play(self, match: Match) -> Outcome:
        return Outcome()


class Child(Echo):
    """Subclass __init__ calling the parent's: only the outermost call is recorded."""

    id = "tests/child-v1"

    def __init__(self, loud: bool = False) -> None:
        super().__init__(prompt="SAY SOMETHING" if loud else "say something", times=3)


def test_kwargs_recording_edge_cases() -> None:
    assert WithVarKw(2, colour="red").kwargs == {"size": 2, "colour": "red"}
    assert WithVarKw(ops=("+", "-")).spec().kwargs == {"size": 1, "ops": ["+", "-"]}  # JSON form
    child = Child(loud=True)
    assert child.kwargs == {"loud": True}
    assert child.prompt == "SAY SOMETHING" and child.times == 3


def test_positional_varargs_are_refused() -> None:
    class Star(Arena):
        id = "tests/star-v1"
        roles = ("a",)

        def __init__(self, *sizes: int) -> None:
            super().__init__()

        async def play(self, match: Match) -> Outcome:
            return Outcome()

    with pytest.raises(ArenaError, match=r"takes \*args; arena constructor arguments must be named"):
        Star(1, 2)


class JudgeAndFriend(Arena):
    id = "tests/judge-v1"
    roles = ("judge", "friend")

    async def play(self, match: Match) -> Outcome:
        return Outcome()


def test_default_roles_use_builtin_roles_by_seat_name() -> None:
    roles = JudgeAndFriend().default_roles()
    assert roles["friend"] == Role(name="friend")
    assert roles["judge"].parser is not None and roles["judge"].parser.__name__ == "choice_A_B"


def _arena(**attrs: object) -> type[Arena]:
    async def play(self: Arena, match: Match) -> Outcome:
        return Outcome()

    return type("Bad", (Arena,), {"id": "tests/bad-v1", "roles": ("a",), "play": play, **attrs})


@pytest.mark.parametrize(
    ("attrs", "message"),
    [
        ({"id": "Bad Name"}, r"Bad.id must look like 'namespace/name-v1' \(lowercase\), got 'Bad Name'"),
        ({"id": "tests/no-version"}, "must look like 'namespace/name-v1'"),
        ({"id": ""}, "must look like 'namespace/name-v1'"),
        ({"roles": ()}, "roles must be a non-empty tuple of seat names"),
        ({"roles": "solver"}, "roles must be a non-empty tuple of seat names"),
        ({"roles": ("a", "a")}, "duplicate seats"),
        ({"reward_bounds": (1.0, -1.0)}, "reward_bounds must be"),
        ({"max_turns": 0}, "max_turns must be >= 1"),
        ({"play": lambda self, match: Outcome()}, "play must be 'async def play"),
    ],
)
def test_class_rules(attrs: dict, message: str) -> None:
    with pytest.raises(ArenaError, match=message):
        validate_class(_arena(**attrs))


def test_play_must_be_implemented() -> None:
    class NoPlay(Arena):
        id = "tests/noplay-v1"
        roles = ("a",)

    [t] = Runner({"default": ScriptedEngine(["x"])}).play(NoPlay(), [0])
    assert t.status == "error"
    assert "NoPlay must implement 'async def play(self, match)'" in (t.error or "")
