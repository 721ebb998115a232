"""Opening a run is not running it: ``view`` (every page and JSON route), ``show``,
``ratings`` and ``export`` of a run whose arena is a user file never import that file.

The run is a real tournament of a ``file.py:Class`` arena whose module writes a marker
file when imported; each command then runs in a fresh interpreter (a module imported
earlier in this process would not be imported again), and the marker must stay absent.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest

from sparring.cli import main
from sparring.runs.analysis.viewer.server import STATIC

ROOT = Path(__file__).resolve().parents[2]
DUEL = Path(__file__).with_name("duel_arena.py")
PLANT = "from pathlib import Path as _P\n_P(__file__).with_name('IMPORTED').write_text('arena code ran')\n"


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A rock-paper-scissors tournament of an arena file that leaves a marker when imported;
    returns the run directory and where the marker would appear (removed after playing)."""
    tmp = tmp_path_factory.mktemp("planted")
    arena = tmp / "their_arena.py"
    arena.write_text(PLANT + DUEL.read_text())
    config = tmp / "rps.toml"
    config.write_text(f'[model]\nsource = "tiny"\n[arena]\nname = "{arena}:RockPaperScissors"\n'
                      '[players.rock]\nreply = "rock"\n[players.paper]\nreply = "paper"\n'
                      '[players.scissors]\nreply = "scissors"\n[schedule]\ngames = 1\n')
    assert main(["tournament", str(config), "--out", str(tmp / "run"), "-q"]) == 0
    marker = tmp / "IMPORTED"
    assert marker.exists()  # playing runs the arena, as it must
    marker.unlink()
    return tmp / "run", marker


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "sparring.cli", *argv], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=env)


def _get(base: str, path: str) -> bytes:
    with urllib.request.urlopen(base + path, timeout=60) as response:
        assert response.status in (200, 204), path
        return response.read()


def _view_every_route(run: Path) -> int:
    """Serve ``run`` with the real ``sparring view`` on a free port and GET every page and
    JSON route (every match, every filter option); returns how many requests were made."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen([sys.executable, "-m", "sparring.cli", "view", str(run), "--port", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        line = server.stdout.readline()  # type: ignore[union-attr]
        found = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        assert found, line + server.stderr.read()  # type: ignore[union-attr]
        base = found.group(1)
        paths = ["/", "/index.html", "/favicon.ico", *(f"/static/{name}" for name in STATIC), "/api/sources"]
        for source in json.loads(_get(base, "/api/sources")):
            key = source["key"]
            page = json.loads(_get(base, f"/api/sources/{key}"))
            paths += [f"/api/sources/{key}", f"/api/sources/{key}/ratings", f"/api/sources/{key}/matches"]
            for option, values in page["options"].items():
                paths += [f"/api/sources/{key}/matches?{urlencode({option: v})}" for v in values]
            rows = json.loads(_get(base, f"/api/sources/{key}/matches?per_page=200"))["rows"]
            paths += [f"/api/sources/{key}/matches/{quote(row['match_id'], safe='')}" for row in rows]
        ratings = json.loads(_get(base, "/api/sources/0/ratings"))
        assert ratings["available"] and ratings["games"] == 6, ratings
        for path in paths:
            _get(base, path)
        return len(paths)
    finally:
        server.terminate()
        server.wait(timeout=30)


def _open_every_way(run: Path, out: Path) -> None:
    assert _view_every_route(run) > 20
    for argv in (["show", str(run), "--limit", "100", "--full"],
                 ["ratings", str(run), "--bootstrap", "20"],
                 ["export", str(run), "--format", "sft", "--to", str(out / "sft.jsonl")],
                 ["export", str(run), "--format", "grpo", "--to", str(out / "grpo.jsonl")],
                 ["export", str(run), "--format", "html", "--match", "rock:paper:g0", "--to", str(out / "m.html")]):
        done = _cli(*argv)
        assert done.returncode == 0, (argv, done.stdout, done.stderr)


def test_viewing_showing_rating_and_exporting_run_no_code_of_the_run(planted: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    run, marker = planted
    _open_every_way(run, tmp_path)
    assert not marker.exists(), "opening the run imported its arena file"
    ratings = json.loads((run / "ratings.json").read_text())  # decided as the arena declared: the cycle
    assert ratings["cycles"] and ratings["no_result"] == 0


def test_a_store_without_recorded_results_is_rated_by_rewards(planted: tuple[Path, Path], tmp_path: Path) -> None:
    """A store written before results were recorded stays readable: its matches are rated by
    their stored rewards (here: the longer move wins), still without importing the arena."""
    run = tmp_path / "old"
    shutil.copytree(planted[0], run)
    with sqlite3.connect(run / "store.sqlite") as conn:
        for match_id, roles in conn.execute("SELECT match_id, roles FROM matches").fetchall():
            seats = {seat: {k: v for k, v in info.items() if k != "result"} for seat, info in json.loads(roles).items()}
            conn.execute("UPDATE matches SET roles = ? WHERE match_id = ?", (json.dumps(seats), match_id))
    done = _cli("ratings", str(run), "--bootstrap", "20", "--no-plots")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no preference cycles" in done.stdout
    assert not planted[1].exists()


def test_replay_and_rescore_say_they_run_the_runs_code(planted: tuple[Path, Path]) -> None:
    done = _cli("replay", str(planted[0]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reproduced exactly" in done.stdout
    assert done.stderr.startswith("note: replay imports and runs the arena code") and done.stderr.count("\n") == 1
    done = _cli("rescore", str(planted[0]), "--reward", "longer")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.startswith("note: rescore imports and runs the arena code") and done.stderr.count("\n") == 1
    assert planted[1].exists()  # replay re-made the arena from its recorded file
    planted[1].unlink()
