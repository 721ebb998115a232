"""Where user code broke: the stage a crash is named by and the trimmed traceback
(``sparring check`` through the real CLI, and ``check_arena``'s ``crashes``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sparring.arenas import ConformanceError, check_arena
from sparring.arenas.failures import ARENA_PLAY, is_library_frame, stage_of, user_traceback
from sparring.cli import main

ARENA = '''
from sparring import Arena, Outcome, Role, Score, reward


def parse_word(text):
    return text.strip().split()[0]  # IndexError on an empty reply: a parse error (data)


def parse_strict(text):
    return text.nope  # AttributeError: not a parse error, a crash of the parser


@reward("halved")
def halved(t):
    return [Score("speaker", t.outcome["said"] / 2, "half", turn=0)]


class Speaker(Arena):
    id = "tests/speaker-v1"
    roles = ("speaker",)
    reward_bounds = (0.0, 1.0)
    max_turns = 1
    examples = {"speaker": ["hello"]}

    def __init__(self, fail="reward"):
        super().__init__()
        self.fail = fail

    def default_roles(self):
        parser = parse_strict if self.fail == "parser" else parse_word
        return {"speaker": Role(name="speaker", system_prompt="Say a word.", parser=parser)}

    def rewards(self):
        return [halved] if self.fail == "reward" else []

    async def play(self, match):
        reply = await match.ask("speaker", "Say a word.")
        if self.fail == "play":
            said = {}["missing"]
        return Outcome({"said": reply.text}, "said")
'''


def _line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


@pytest.fixture()
def arena_file(tmp_path: Path) -> Path:
    path = tmp_path / "my_arena.py"
    path.write_text(textwrap.dedent(ARENA))
    return path


def test_check_names_the_reward_and_the_users_file_and_line(arena_file: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "sparring", "check", f"{arena_file}:Speaker"],
                          capture_output=True, text=True, cwd=arena_file.parent, timeout=120)
    assert done.returncode == 1, done.stderr
    out = done.stdout
    assert "reward 'halved' crashed on scripted replies: TypeError" in out
    assert "the match crashed" not in out
    line = _line_of(ARENA, 't.outcome["said"] / 2')
    assert "reward 'halved' raised TypeError: unsupported operand type(s) for /: 'str' and 'int'" in out
    assert f"  {arena_file}:{line} in halved\n" in out
    assert 'return [Score("speaker", t.outcome["said"] / 2, "half", turn=0)]' in out
    assert "frame(s) of sparring and other libraries trimmed; --debug shows them" in out
    assert "runner.py" not in out  # library frames are trimmed
    assert out.count("raised TypeError") == 1  # one traceback per distinct crash, not one per match


def test_debug_shows_every_frame(arena_file: Path, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["check", f"{arena_file}:Speaker", "--debug"]) == 1
    out = capsys.readouterr().out
    assert "reward 'halved' raised:\nTraceback (most recent call last):" in out
    assert "arenas/scoring.py" in out and f'File "{arena_file}"' in out
    monkeypatch.setenv("SPARRING_DEBUG", "1")
    assert main(["check", f"{arena_file}:Speaker"]) == 1
    assert "Traceback (most recent call last):" in capsys.readouterr().out


def test_check_names_a_crashing_parser(arena_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", f"{arena_file}:Speaker", "--arena-arg", "fail=parser"]) == 1
    out = capsys.readouterr().out
    assert "the parser of seat 'speaker' crashed on scripted replies: AttributeError" in out
    line = _line_of(ARENA, "return text.nope")
    assert f"the parser of seat 'speaker' raised AttributeError: 'str' object has no attribute 'nope'\n" \
           f"  {arena_file}:{line} in parse_strict\n" in out


def test_check_names_the_arenas_play(arena_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", f"{arena_file}:Speaker", "--arena-arg", "fail=play"]) == 1
    out = capsys.readouterr().out
    assert f"{ARENA_PLAY} crashed on scripted replies: KeyError: 'missing'" in out
    line = _line_of(ARENA, '{}["missing"]')
    assert f"{ARENA_PLAY} raised KeyError: 'missing'\n  {arena_file}:{line} in play\n" in out


def test_crashes_of_check_arena_are_distinct_and_staged(arena_file: Path) -> None:
    sys.path.insert(0, str(arena_file.parent))
    try:
        from my_arena import Speaker  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(arena_file.parent))
    with pytest.raises(ConformanceError) as info:
        check_arena(Speaker())
    assert len(info.value.failures) == 24  # 8 scripts x 3 seeds
    assert [stage_of(e) for e in info.value.crashes] == ["reward 'halved'"]
    text = user_traceback(info.value.crashes[0])
    assert text.splitlines()[1].endswith(f"my_arena.py:{_line_of(ARENA, '/ 2')} in halved")


def test_library_frames() -> None:
    import json

    import sparring.arenas.runner as runner

    assert is_library_frame(runner.__file__) and is_library_frame(json.__file__)
    assert is_library_frame("<frozen importlib._bootstrap>")
    assert not is_library_frame(__file__)


def test_check_shows_where_default_roles_broke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "roles_arena.py"
    path.write_text(textwrap.dedent(ARENA).replace(
        "        parser = parse_strict", "        parser = self.missing_attribute\n        parser = parse_strict"))
    assert main(["check", f"{path}:Speaker"]) == 1
    out = capsys.readouterr().out
    assert "default_roles() failed: 'Speaker' object has no attribute 'missing_attribute'" in out
    line = _line_of(path.read_text(), "self.missing_attribute")
    assert f"default_roles() raised AttributeError: 'Speaker' object has no attribute 'missing_attribute'\n" \
           f"  {path}:{line} in default_roles\n" in out



def test_a_user_crash_is_marked_and_raised_through_the_users_code(arena_file: Path) -> None:
    from sparring.agents.parsers import _to_number
    from sparring.arenas.failures import crash_key, is_user_crash, user_stage
    from sparring.arenas.registry import load_file
    from sparring.arenas.transcript import Transcript

    halved = load_file(arena_file).halved  # the user's reward, defined in the user's file
    said_x = Transcript.model_construct(outcome={"said": "x"})

    def raised(fn: object, stage: str | None) -> BaseException:
        try:
            if stage is None:
                fn()  # type: ignore[operator]
            with user_stage(stage or ""):
                fn()  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001
            return exc
        raise AssertionError("did not raise")

    user = raised(lambda: halved(said_x), "reward 'halved'")
    assert is_user_crash(user) and stage_of(user) == "reward 'halved'"
    assert crash_key(user) == ("reward 'halved'", "TypeError", f"{arena_file}:{_line_of(ARENA, '/ 2')}")
    assert not is_user_crash(raised(lambda: halved(said_x), None))  # nobody marked it: reported as a bug
    # marked, but every frame is sparring's (a built-in monitor's crash): a bug, not the user's
    library = raised(lambda: _to_number("abc"), "monitor 'built-in'")
    tb = library.__traceback__
    while tb is not None and not is_library_frame(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next  # drop this test's own frames, which would count as the user's
    assert tb is not None and not is_user_crash(library.with_traceback(tb))
