"""The arena registry: by id, short name, file path and module path."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring import (
    ArenaError,
    QuestionAnswerVerify,
    Runner,
    ScriptedEngine,
    make,
    register,
    registered,
    resolve,
)
from sparring.arenas import registry
from sparring.arenas.registry import make_from_spec
from tests.helpers import Echo

USER_ARENA = '''
from sparring import Arena, Outcome


class Shout(Arena):
    id = "user/shout-v1"
    roles = ("speaker",)

    def __init__(self, word="hey"):
        super().__init__()
        self.word = word

    async def play(self, match):
        reply = await match.ask("speaker", self.word.upper())
        return Outcome({"said": reply.text})


NOT_AN_ARENA = 3
'''


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by the test are dropped afterwards."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def test_resolve_builtin_by_id_and_short_name() -> None:
    assert resolve("sparring/qa-verify-v1") is QuestionAnswerVerify
    assert resolve("qa-verify") is QuestionAnswerVerify
    assert registered()["sparring/qa-verify-v1"] is QuestionAnswerVerify
    assert "qa-verify" not in registered()  # short names are left out


def test_resolve_a_file(tmp_path: Path) -> None:
    path = tmp_path / "shout.py"
    path.write_text(USER_ARENA)
    cls = resolve(f"{path}:Shout")
    assert cls.__name__ == "Shout" and cls.id == "user/shout-v1"
    arena = make(f"{path}:Shout", word="yo")
    spec = arena.spec()
    assert spec.source == f"{path.resolve()}:Shout" and spec.kwargs == {"word": "yo"}
    [t] = Runner({"default": ScriptedEngine(lambda req, i: req.messages[-1]["content"])}).play(arena, [0])
    assert t.outcome == {"said": "YO"}
    remade = make_from_spec(t.arena)
    assert type(remade).__name__ == "Shout" and remade.kwargs == {"word": "yo"}


def test_a_file_that_fails_to_import_is_imported_afresh_once_fixed(tmp_path: Path) -> None:
    path = tmp_path / "shout_fixed.py"
    path.write_text("raise RuntimeError('half-written file')\n" + USER_ARENA)
    with pytest.raises(RuntimeError, match="half-written"):
        resolve(f"{path}:Shout")
    path.write_text(USER_ARENA)
    assert resolve(f"{path}:Shout").id == "user/shout-v1"


def test_resolve_a_module() -> None:
    assert resolve("tests.helpers:Echo") is Echo
    arena = make("tests.helpers:Echo", times=2)
    assert arena.spec().source == "tests.helpers:Echo"
    assert make_from_spec(arena.spec()).spec() == arena.spec()


class Louder(Echo):
    id = "tests/louder-v1"


def test_a_subclass_does_not_inherit_the_resolved_source() -> None:
    resolve("tests.helpers:Echo")
    assert Louder().spec().source == "tests.arenas.test_registry:Louder"
    assert type(make_from_spec(Louder().spec())) is Louder


def test_kwargs_round_trip_through_the_spec() -> None:
    arena = make("qa-verify", digits=3, ops=["*"], group_size=2)
    spec = arena.spec()
    assert spec.kwargs == {"digits": 3, "ops": ["*"], "group_size": 2, "retries": 1}
    assert spec.source is None  # built-ins are re-made by id
    remade = make_from_spec(spec)
    assert isinstance(remade, QuestionAnswerVerify) and remade.spec() == spec
    assert remade.ops == ("*",) and remade.group_size == 2


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("qa-verfy", r"unknown arena 'qa-verfy'; use a registered name \(.*qa-verify.*\), 'path/to/file.py:ClassName' or 'package.module:ClassName'"),
        ("no/such/file.py:X", "arena file no/such/file.py does not exist"),
        ("no_such_module_xyz:X", "cannot import module 'no_such_module_xyz' for arena 'no_such_module_xyz:X'"),
        ("tests.helpers:Nope", r"'tests.helpers:Nope': 'Nope' is not an Arena subclass in tests.helpers"),
        ("tests.helpers:seat_of", "'seat_of' is not an Arena subclass"),
    ],
)
def test_unknown_names(name: str, message: str) -> None:
    with pytest.raises(ArenaError, match=message):
        resolve(name)


def test_file_attribute_that_is_not_an_arena(tmp_path: Path) -> None:
    path = tmp_path / "shout2.py"
    path.write_text(USER_ARENA)
    with pytest.raises(ArenaError, match="'NOT_AN_ARENA' is not an Arena subclass"):
        resolve(f"{path}:NOT_AN_ARENA")


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ArenaError, match="bad arguments for arena sparring/qa-verify-v1: .*'colour'"):
        make("qa-verify", colour="red")
    with pytest.raises(ValueError, match=r"digits must be in 1..6, got 9"):
        make("qa-verify", digits=9)


@pytest.mark.usefixtures("clean_registry")
def test_register() -> None:
    class Mine(Echo):
        id = "tests/mine-v1"
        short_name = "mine"

    assert register(Mine) is Mine
    assert register(Mine) is Mine  # registering the same class again is fine
    assert resolve("mine") is Mine and registered()["tests/mine-v1"] is Mine
    assert isinstance(make_from_spec(Mine().spec()), Mine)

    class Impostor(Echo):
        id = "tests/impostor-v1"
        short_name = "mine"

    with pytest.raises(ArenaError, match="arena name 'mine' is already registered by Mine"):
        register(Impostor)

    class Broken(Echo):
        id = "Not An Id"

    with pytest.raises(ArenaError, match="must look like 'namespace/name-v1'"):
        register(Broken)


def test_unregistered_spec_without_source() -> None:
    spec = Echo().spec().model_copy(update={"id": "tests/gone-v1", "source": None})
    with pytest.raises(ArenaError, match="arena 'tests/gone-v1' is not registered and its transcript records no source"):
        make_from_spec(spec)


def test_example_arena_file() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "letter_count.py"
    arena = make(f"{example}:LetterCount")
    [t] = Runner({"default": ScriptedEngine(["Answer: 3"])}).play(arena, [0])
    assert t.status == "finished", t.error
    assert [r.reward for r in t.rewards] == ["count_correct"]

