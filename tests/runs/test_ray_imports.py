"""Without ``--ray`` nothing imports Ray (checked in a fresh interpreter, as tests/test_layers.py does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CODE = """
import sys
import sparring.runs.playing.distributed, sparring.runs.playing.play, sparring.runs.tournaments.tournament, sparring.runs.training.train
from sparring.cli import main
rc = main(["play", "qa-verify", "--model", "tiny", "-n", "2", "--arena-arg", "digits=1", "--arena-arg",
           "group_size=2", "--role", "solver.max_new_tokens=4", "--role", "questioner.max_new_tokens=4",
           "--role", "verifier.max_new_tokens=2", "-q", "--out", sys.argv[1]])
assert rc == 0, rc
print(sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
"""


def test_a_play_without_ray_imports_no_ray(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", CODE, str(tmp_path / "run")], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout
