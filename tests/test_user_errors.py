"""A crash in the user's code during play, train, tournament or rescore is reported as theirs
(the stage, the exception, the user's file and line), not as a bug in sparring; nothing stored
is lost, and a train run a user crash stopped resumes once the code is fixed. Through the real
CLI (subprocesses) on the tiny model."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sparring.runs.storage.store import Store

ARENA = '''
from sparring import Arena, Outcome, Role, SamplingParams, Score, metric, reward

SEAT = SamplingParams(max_new_tokens=6, temperature=1.0)


def parse_strict(text):
    return text.nope  # a crash of the parser, not a parse error


@reward("value", bounds=(0.0, 1.0))
def value(t):
    return [Score(u.role, float(u.text) / 10, "digit", turn=u.index) for u in t.turns]


@reward("length", bounds=(0.0, 1.0))
def length(t):
    return [Score(u.role, len(set(u.token_ids)) / 6, "distinct tokens", turn=u.index) for u in t.turns]


@reward("broken", bounds=(0.0, 1.0))
def broken(t):
    return t.outcome["nope"]  # PROBE CRASH


@metric("late")
def late(transcripts):
    if any(t.iteration >= 1 for t in transcripts):
        raise RuntimeError("late monitor broke")  # MONITOR CRASH
    return 0.0


class Writer(Arena):
    id = "tests/writer-v1"
    roles = ("writer",)
    reward_bounds = (0.0, 1.0)
    max_turns = 4
    examples = {"writer": ["1", "2"]}

    def __init__(self, fail="reward"):
        super().__init__()
        self.fail = fail

    def default_roles(self):
        parser = parse_strict if self.fail == "parser" else None
        return {"writer": Role(name="writer", sampling=SEAT, parser=parser)}

    def rewards(self):
        return {"reward": [value], "probe": [broken]}.get(self.fail, [length])

    def monitors(self):
        return [late] if self.fail == "monitor" else []

    async def play(self, match):
        await match.ask("writer", "Write a digit.", n=4)
        if self.fail == "play":
            return {}["missing"]
        return Outcome({"n": 4})
'''


def _line(text: str) -> int:
    return next(i for i, line in enumerate(ARENA.splitlines(), 1) if text in line)


@pytest.fixture()
def arena(tmp_path: Path) -> Path:
    path = tmp_path / "writer_arena.py"
    path.write_text(textwrap.dedent(ARENA))
    return path


def _cli(*argv: str, cwd: Path, debug: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SPARRING_DEBUG"}
    env.update(COLUMNS="400", OMP_NUM_THREADS="1", **({"SPARRING_DEBUG": "1"} if debug else {}))
    return subprocess.run([sys.executable, "-m", "sparring", *argv], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=600, check=False)


def _recipe(tmp_path: Path, arena: Path, fail: str, iterations: int = 1) -> Path:
    path = tmp_path / f"{fail}.toml"
    path.write_text(f"""
[model]
source = "tiny"
[arena]
name = "{arena}:Writer"
kwargs = {{ fail = "{fail}" }}
[roles.writer]
adapter = "writer"
update = "grpo"
[train]
iterations = {iterations}
matches_per_iteration = 2
[eval]
size = 2
""")
    return path


def _stored(run: Path) -> dict[str, str]:
    with Store(run / "store.sqlite") as store:
        return {t.match_id: t.status for t in store.transcripts()}


@pytest.mark.parametrize(("fail", "stage", "source"), [
    ("parser", "the parser of seat 'writer' raised AttributeError: 'str' object has no attribute 'nope'",
     "return text.nope"),
    ("play", "the arena's play raised KeyError: 'missing'", 'return {}["missing"]'),
])
def test_play_names_the_stage_and_the_users_line(fail: str, stage: str, source: str, arena: Path,
                                                 tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = _cli("play", f"{arena}:Writer", "--model", "tiny", "-n", "3", "--out", str(run), "-q",
                "--arena-arg", f'fail="{fail}"', cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr  # errored matches: exit 1, as before
    out = done.stdout
    assert "bug:" not in out and "this is a bug in sparring" not in out
    assert f'3 of 3 match(es) errored; they are stored with status "error" (\'sparring show {run} --status error\'' in out
    lines = out.splitlines()
    first = lines.index(stage)  # one line naming the stage and the exception ...
    assert lines[first + 1] == f"  {arena}:{_line(source)} in {'parse_strict' if fail == 'parser' else 'play'}"
    assert lines[first + 2].strip().startswith(source)  # ... then the user's frames with their source
    assert out.count(stage) == 1  # three crashed matches, one distinct crash
    # the parser runs under Match.ask (library frames, trimmed); the arena's play is the task's own frame
    assert fail == "play" or "frame(s) of sparring and other libraries trimmed; --debug shows them" in out
    assert _stored(run) == {m: "error" for m in _stored(run)} and len(_stored(run)) == 3  # all kept
    debug = _cli("play", f"{arena}:Writer", "--model", "tiny", "-n", "4", "--out", str(run), "-q",
                 "--arena-arg", f'fail="{fail}"', cwd=tmp_path, debug=True)
    assert f"{stage.split(' raised')[0]} raised:\nTraceback (most recent call last):" in debug.stdout
    assert f'File "{arena}", line {_line(source)}' in debug.stdout and "trimmed" not in debug.stdout  # every frame
    assert fail == "play" or 'arenas/match.py", line' in debug.stdout  # the library's frames too
    assert len(_stored(run)) == 4  # the three stored matches were kept, one more played


def test_train_names_the_reward_and_the_users_line(arena: Path, tmp_path: Path) -> None:
    # the probe's scripted replies ("1", "2") score; the tiny model's do not parse as floats
    done = _cli("train", str(_recipe(tmp_path, arena, "reward")), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr  # errored matches are left out of training, as before
    log = done.stderr
    assert "a match crashed: reward 'value' raised ValueError: could not convert string to float" in log
    assert f"  {arena}:{_line('float(u.text)')} in value\n" in log
    assert log.count("reward 'value' raised") == 1  # the same crash in later plays is not repeated
    assert '2 of 2 matches errored; they are stored with status "error" and left out of training' in log
    assert set(_stored(tmp_path / "run").values()) == {"error"}


def test_train_refuses_an_arena_whose_reward_always_crashes(arena: Path, tmp_path: Path) -> None:
    # the recipe check plays scripted matches before a model loads: a reward that crashes on
    # every one of them is refused in one line that names the reward and the user's line
    done = _cli("train", str(_recipe(tmp_path, arena, "probe")), "--out", str(tmp_path / "run"), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "error: recipe field 'arena.kwargs.fail' = \"probe\": every probe match of tests/writer-v1 failed on "
        f"well-formed scripted replies (reward 'broken' raised KeyError: 'nope' at {arena}:{_line('PROBE CRASH')}); "
        "fix that line (or the arena's kwargs)"]
    assert not (tmp_path / "run").exists()


def test_train_stopped_by_a_users_monitor_resumes_once_fixed(arena: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    done = _cli("train", str(_recipe(tmp_path, arena, "monitor", iterations=2)), "--out", str(run), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "error: monitor 'late' raised RuntimeError: late monitor broke"
    assert lines[1] == f"  {arena}:{_line('MONITOR CRASH')} in late"
    assert f"fix it and continue from the last completed iteration with 'sparring train --resume {run}'" in done.stdout
    assert "bug:" not in done.stdout and "a bug in sparring" not in done.stdout
    before = _stored(run)
    assert any(m.startswith("i1-") for m in before)  # the second iteration's matches were stored
    arena.write_text(arena.read_text().replace('raise RuntimeError("late monitor broke")', "return 1.0"))
    resumed = _cli("train", "--resume", str(run), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "trained 1 iteration(s)" in resumed.stdout
    after = _stored(run)
    assert {m: after[m] for m in before} == before  # nothing stored was lost or played again
    with Store(run / "store.sqlite") as store:
        assert any(key == "late" and value == 1.0 for i, key, value in store.metrics() if i == 1)


def test_rescore_names_the_users_reward(arena: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert _cli("play", f"{arena}:Writer", "--model", "tiny", "-n", "2", "--out", str(run), "-q",
                "--arena-arg", 'fail="none"', cwd=tmp_path).returncode == 0
    (tmp_path / "mine.py").write_text("def broken(t):\n    return t.outcome['nope']\n")
    done = _cli("rescore", str(run), "--reward", "mine.py:broken", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "error: reward 'broken' raised KeyError: 'nope'"
    assert lines[1].endswith("mine.py:2 in broken") and lines[2].strip() == "return t.outcome['nope']"
    assert "bug:" not in done.stdout and "a bug in sparring" not in done.stdout


DUEL = '''
from sparring import Arena, Outcome, Role, Score, reward


@reward("number", bounds=(-1.0, 1.0))
def number(t):
    a, b = (float(text) for text in t.outcome["texts"])  # NUMBER CRASH
    return [Score("first", float(a > b)), Score("second", float(b > a))]


class NumberDuel(Arena):
    id = "tests/number-duel-v1"
    roles = ("first", "second")
    zero_sum = True
    reward_bounds = (-1.0, 1.0)
    max_turns = 2
    examples = {"first": ["1"], "second": ["2"]}

    def default_roles(self):
        return {"first": Role(name="first"), "second": Role(name="second")}

    def rewards(self):
        return [number]

    async def play(self, match):
        a, b = await match.gather(match.ask("first", "A number."), match.ask("second", "A number."))
        return Outcome({"texts": [a.text, b.text]})
'''


def test_tournament_names_the_reward_and_the_users_line(tmp_path: Path) -> None:
    arena = tmp_path / "duel.py"
    arena.write_text(textwrap.dedent(DUEL))
    config = tmp_path / "t.toml"
    config.write_text(f'[model]\nsource = "tiny"\n[arena]\nname = "{arena}:NumberDuel"\n'
                      '[players.a]\nreply = "one"\n[players.b]\nreply = "two"\n[schedule]\ngames = 1\n')
    run = tmp_path / "run"
    done = _cli("tournament", str(config), "--out", str(run), "-q", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr  # errored matches: exit 1, as before
    lines = done.stdout.splitlines()
    first = lines.index("reward 'number' raised ValueError: could not convert string to float: 'one'")
    line = next(i for i, text in enumerate(textwrap.dedent(DUEL).splitlines(), 1) if "NUMBER CRASH" in text)
    assert f"{arena}:{line} in " in lines[first + 1]
    assert f"match(es) errored; they are stored with status \"error\" ('sparring show {run} --status error'" in done.stdout
    assert "bug:" not in done.stdout and set(_stored(run).values()) == {"error"}
