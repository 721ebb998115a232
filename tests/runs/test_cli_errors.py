"""How the CLI reports errors: input mistakes in one line (exit 2), bugs with where (exit 1), --debug."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparring.agents import parsers
from sparring.arenas import ArenaError, ConformanceError
from sparring.cli import is_user_error, main
from sparring.runs.recipes.recipe import RecipeError, load_recipe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.delenv("SPARRING_DEBUG", raising=False)


def _raised(fn: object, *args: object) -> BaseException:
    try:
        fn(*args)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001
        return exc
    raise AssertionError("did not raise")


def test_which_errors_are_input_mistakes() -> None:
    assert is_user_error(ArenaError("x")) and is_user_error(ConformanceError("a", ["b"]))
    assert is_user_error(FileNotFoundError("x")) and is_user_error(NotADirectoryError("x"))
    assert is_user_error(_raised(load_recipe, "no/such/recipe.toml"))  # RecipeError
    assert isinstance(_raised(load_recipe, "no/such/recipe.toml"), RecipeError)
    # A ValueError raised by a raise statement in our code (validation) is one; the same
    # class from a failing built-in call in our code, or from inside a library, is a bug.
    assert is_user_error(_raised(parsers.last_number, "no digits"))
    assert not is_user_error(_raised(parsers._to_number, "abc"))  # float("abc") in parsers.py
    assert not is_user_error(_raised(int, "abc"))
    assert not is_user_error(_raised(dict().__getitem__, "missing"))
    assert not is_user_error(AttributeError("x"))


def _broken(*args: object, **kwargs: object) -> object:
    return {}["missing"]  # a bug: an unexpected KeyError


def test_a_bug_shows_its_type_and_where_it_was_raised(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sparring.arenas.conformance.well_formed_replies", _broken)
    assert main(["check", "qa-verify"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "bug: KeyError: 'missing'"
    assert lines[1] == f"  raised at {Path(__file__).resolve()}:{_broken.__code__.co_firstlineno + 1} in _broken"
    assert lines[2].startswith("  called from arenas/conformance.py:") and lines[2].endswith(" in check_arena")
    assert "rerun with --debug (or SPARRING_DEBUG=1) for the full traceback" in lines[3]
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("where", ["top", "command", "env"])
def test_debug_prints_the_full_traceback(where: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sparring.arenas.conformance.well_formed_replies", _broken)
    argv = {"top": ["--debug", "check", "qa-verify"], "command": ["check", "qa-verify", "--debug"],
            "env": ["check", "qa-verify"]}[where]
    if where == "env":
        monkeypatch.setenv("SPARRING_DEBUG", "1")
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("Traceback (most recent call last):")
    assert 'in check_arena' in captured.err and captured.err.rstrip().endswith("KeyError: 'missing'")
    assert captured.out.startswith("bug: KeyError: 'missing'") and "rerun with --debug" not in captured.out


def test_debug_on_an_input_mistake(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--debug", "check", "nope"]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith("error: unknown arena 'nope'")
    assert "Traceback (most recent call last):" in captured.err


def test_the_installed_command(tmp_path: Path) -> None:
    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "SPARRING_DEBUG"}
        return subprocess.run([sys.executable, "-m", "sparring", *argv], capture_output=True, text=True,
                              cwd=ROOT, env={**env, "COLUMNS": "400"}, check=False)

    done = run("play", "nope", "--out", str(tmp_path / "r"))
    assert (done.returncode, done.stderr) == (2, "")
    assert done.stdout.startswith("error: arena \"nope\": unknown arena 'nope'; use a registered name (")
    assert len(done.stdout.strip().splitlines()) == 1
    done = run("--debug", "play", "nope", "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and "Traceback (most recent call last):" in done.stderr


def test_overrides_after_the_options_are_overrides(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # argparse alone refuses positionals after an option; a user writes them there anyway
    recipe = str(ROOT / "recipes" / "tiny_smoke.toml")
    assert main(["train", recipe, "--out", str(tmp_path / "run"), "train.lr=-1"]) == 2
    assert "train.lr" in capsys.readouterr().out  # the override reached the recipe and was checked
    assert not (tmp_path / "run").exists()
    with pytest.raises(SystemExit) as exit_:
        main(["train", recipe, "--out", str(tmp_path / "run"), "--no-such-flag"])
    assert exit_.value.code == 2 and "unrecognized arguments: --no-such-flag" in capsys.readouterr().err
