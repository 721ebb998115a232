"""benchmarks/gpu_suite.py: its CPU dry run runs every case, and bad input is one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_suite.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)


def test_dry_run_runs_every_case_at_toy_size(tmp_path: Path) -> None:
    out = tmp_path / "gpu_suite.json"
    done = run("--dry-run", "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["dry_run"] is True and report["device"] == "cpu"
    assert report["machine"]["cpu"] and "bf16_native" in report["machine"]
    assert report["elapsed_s"] < 60, f"the dry run took {report['elapsed_s']} s; it must stay under a minute"
    shapes = ["smollm2-135m", "qwen2.5-0.5b", "qwen2.5-1.5b"]
    expected = {*(f"generation/{s}" for s in shapes), "runner/qa-verify", "runner/debate",
                *(f"updates/{s}" for s in shapes), *(f"updates_trl_dpo/{s}" for s in shapes)}
    cases = report["cases"]
    assert set(cases) == expected
    failed = {name: case["error"] for name, case in cases.items() if "error" in case}
    assert failed == {}
    for shape in shapes:
        generation = cases[f"generation/{shape}"]
        for batch in (1, 4, 8):
            for mode in ("base", "mixed_5_adapters"):
                row = generation[f"{mode}@{batch}"]
                # every row generated exactly the fixed reply length
                assert row["fixed_length"] and row["tokens"] == 4 * batch and row["tokens_per_s"] > 0
            assert generation[f"mixed_over_base@{batch}"] > 0
        updates = cases[f"updates/{shape}"]
        for algorithm in ("dpo", "grpo"):
            assert updates[algorithm]["tokens_per_s"] > 0 and len(updates[algorithm]["losses"]) == 1
        assert updates["dpo"]["losses"][0] == pytest.approx(0.6931, abs=1e-3)  # log 2 at the first step
        trl = cases[f"updates_trl_dpo/{shape}"]
        assert "skipped" in trl or trl["tokens_per_s"] > 0
    for arena, requests_per_match in (("qa-verify", 8), ("debate", 3)):
        runner = cases[f"runner/{arena}"]
        assert runner["runner"]["errors"] == 0
        assert runner["model_requests"] == 8 * requests_per_match  # the whole protocol ran on the model
        # the raw engine generated the very same tokens the runner did
        assert runner["raw_same_requests"]["tokens"] == runner["runner"]["tokens"] > 0
        assert runner["runner_over_raw_same_requests"] > 0


def test_unknown_shape_is_one_clear_line(tmp_path: Path) -> None:
    done = run("--dry-run", "--shapes", "llama-70b", "--out", str(tmp_path / "x.json"))
    assert done.returncode == 2
    assert "--shapes: no config benchmarks/configs/llama-70b.json (shapes: qwen2.5-0.5b, qwen2.5-1.5b, " \
           "smollm2-135m)" in done.stderr


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this checks the message on a machine without CUDA")
def test_without_a_gpu_it_says_to_use_dry_run(tmp_path: Path) -> None:
    done = run("--out", str(tmp_path / "x.json"))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == ("gpu_suite: no CUDA device here; run it on a GPU, or use "
                                                    "--dry-run to check it on the CPU")
    assert not (tmp_path / "x.json").exists()
