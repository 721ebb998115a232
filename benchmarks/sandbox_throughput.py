"""Sandboxed checks per second (``sparring.rewards.sandbox``), with 1 and more worker threads.

One check is one sandboxed run of an AutoIF-style checker (``evaluate(response)``) on
``--inputs`` responses: a fresh interpreter, the limits, namespaces and uid drop when root,
the calls, the clean-up sweep. The baseline, measured in the same run, is the floor of
that cost: starting and waiting for a bare ``python -I -c pass`` the same number of
times, so ``overhead_vs_bare_python`` is what the sandbox adds to a plain subprocess.
Workers are threads (each check is a subprocess; the GIL is not the limit).

    python benchmarks/sandbox_throughput.py --checks 200 --workers 1 2 --out docs/sandbox_throughput.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

from sparring.rewards.sandbox import Sandbox, SandboxLimits

CHECKER = """
import re

def evaluate(response):
    words = re.findall(r"[A-Za-z']+", response)
    return len(words) <= 50 and response.strip().endswith(".")
"""


def _rate(task: Any, n: int, workers: int) -> dict[str, float]:
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(task, range(n)))
    elapsed = time.perf_counter() - start
    return {"checks": n, "seconds": round(elapsed, 3), "checks_per_s": round(n / elapsed, 2),
            "failed": sum(1 for r in results if not r)}


def measure(checks: int, workers: list[int], inputs: int, mode: str) -> dict[str, Any]:
    """Checks per second of the sandbox and of bare interpreters, per worker count."""
    sandbox = Sandbox(SandboxLimits(wall_s=10.0), mode=mode)
    responses = [f"Answer number {i} is short." for i in range(inputs)]

    def check(_: int) -> bool:
        verdicts, result = sandbox.check(CHECKER, "evaluate", responses)
        return result.passed and all(v is True for v in verdicts)

    def bare(_: int) -> bool:
        return subprocess.run([sys.executable, "-I", "-c", "pass"], check=False).returncode == 0

    isolation = sandbox.check(CHECKER, "evaluate", responses[:1])[1].isolation  # also warms the file cache
    rows = {}
    for w in workers:
        row = {"sandbox": _rate(check, checks, w), "bare_python": _rate(bare, checks, w)}
        row["overhead_vs_bare_python"] = round(row["bare_python"]["checks_per_s"] / row["sandbox"]["checks_per_s"], 3)
        rows[f"workers_{w}"] = row
    return {"benchmark": "sandbox_throughput", "checks": checks, "inputs_per_check": inputs, "mode": mode,
            "isolation": list(isolation), "machine": machine(), "results": rows,
            "command": "python benchmarks/sandbox_throughput.py " + " ".join(sys.argv[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checks", type=int, default=200, help="checks per measurement")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker thread counts")
    parser.add_argument("--inputs", type=int, default=8, help="responses each check evaluates")
    parser.add_argument("--mode", choices=["auto", "hook"], default="auto", help="the sandbox's mode")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    if args.checks < 1 or args.inputs < 1 or min(args.workers) < 1:
        raise SystemExit("sandbox_throughput: --checks, --inputs and --workers must be positive integers")
    report = measure(args.checks, args.workers, args.inputs, args.mode)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
