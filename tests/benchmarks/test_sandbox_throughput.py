"""benchmarks/sandbox_throughput.py at toy size: every row measured, every check passed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "sandbox_throughput.py"


def test_toy_size_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "sandbox.json"
    done = subprocess.run([sys.executable, str(SCRIPT), "--checks", "3", "--workers", "1", "2", "--inputs", "2",
                           "--out", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report == json.loads(done.stdout)
    assert set(report["results"]) == {"workers_1", "workers_2"}
    for row in report["results"].values():
        assert row["sandbox"]["checks"] == 3 and row["sandbox"]["failed"] == 0
        assert row["bare_python"]["failed"] == 0 and row["overhead_vs_bare_python"] > 0
    assert report["isolation"] and report["machine"]["cpu"]


def test_bad_arguments_are_one_line() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--checks", "0"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode != 0
    assert done.stderr.strip() == "sandbox_throughput: --checks, --inputs and --workers must be positive integers"
