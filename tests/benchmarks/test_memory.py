"""benchmarks/memory.py: the training probe reports a peak per phase, through the real script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_train_probe_reports_every_phase_of_a_long_debate_judge(tmp_path: Path) -> None:
    out = tmp_path / "memory.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "memory.py"), "--only", "train",
                           "--train-cases", "long_debate", "--model", "tiny", "--threads", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["machine"]["cpu"] and "timings" not in report and "not" in report["notes"]
    case = report["train"]["long_debate"]
    assert "error" not in case, case
    assert case["iterations"] == 2 and case["overrides"][-1] == 'model.source="tiny"'
    phases = case["phase_peak_rss_mib"]
    for phase in ("load", "generation", "build", "logprob_forward", "backward", "optimizer", "evaluation"):
        assert phases.get(phase, 0) > 0, f"no peak for phase {phase}: {phases}"
    # four judge samples per match: one GRPO group of 4 per match, 4 matches per iteration
    assert [u["judge"]["samples"] for u in case["updates"]] == [16.0, 16.0]
    assert case["peak_rss_mib"] == max(phases.values())
    assert [t["figure"] for t in report["targets"]] == ["train.long_debate.peak_rss_mib"]
