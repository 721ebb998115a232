"""Does qa-verify's questioner learn to write wrong reference answers?

The verifier judges each solver answer against the questioner's own reference, so with
the verdict-learnability reward (``questioner_learnability``) a wrong reference can make
the group look "half right" and earn more than a right one. This trains the questioner
alone (solver and verifier frozen on the base model) under two rewards, side by side in
one run, and prints JSON per iteration, both measured against the logged programmatic
truth: the share of valid questions whose reference is wrong, and the mean learnability
of wrong-reference questions minus right-reference ones (positive: the reward pays for
wrong references).

Arms: ``learnability`` (the old default) and ``checked`` (``questioner_checked``: 0 for
a wrong reference, the shipped default).

Usage: python benchmarks/questioner_gaming.py --iterations 3 --out out/gaming > docs/questioner_gaming.json
(``--resume`` continues arms already in ``--out``.)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import time
from pathlib import Path

import torch
from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

from sparring.runs.storage.store import Store
from sparring.runs.training.train import train

ROOT = Path(__file__).resolve().parent.parent
ARMS = {"learnability": "questioner_learnability", "checked": "questioner_checked"}
KEYS = ("questioner/reference_wrong_rate", "questioner/learnability_gain_from_wrong_references",
        "reward/questioner_learnability/questioner", "reward/questioner_checked/questioner",
        "reward/questioner_truth/questioner")


def run_arm(reward: str, out: Path, iterations: int, matches: int, extra: list[str], resume: bool) -> dict:
    """Train the questioner alone under ``reward``; return its per-iteration measurements.

    With ``resume``, a run already in ``out`` is continued (a resumed run ends identical to
    an uninterrupted one, so the figures are the same as from a fresh start)."""
    resume = resume and (out / "checkpoints" / "LATEST").exists()
    if out.exists() and not resume:
        shutil.rmtree(out)
    overrides = [f"roles.questioner.reward={reward}", "roles.solver.update=none", "roles.solver.adapter=solver",
                 "schedule=[]", f"train.iterations={iterations}", f"train.matches_per_iteration={matches}",
                 "eval.every=0", "eval.size=8", *extra]
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        train(out / "recipe.toml" if resume else ROOT / "recipes" / "qa_verify_selfplay.toml", out,
              overrides=[f"train.iterations={iterations}"] if resume else overrides, resume=resume,
              progress=False, log=lambda m: print(m, file=sys.stderr))
    with Store(out / "store.sqlite") as store:
        rows = store.metrics()
    per_iteration = [{k: v for i, k, v in rows if i == it and k in KEYS} | {"iteration": it + 1}
                     for it in range(iterations)]
    return {"reward": reward, "overrides": overrides, "seconds": time.perf_counter() - started,
            "iterations": per_iteration}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=6)
    parser.add_argument("--matches", type=int, default=32, help="matches per iteration")
    parser.add_argument("--out", default="out/gaming")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="recipe override (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue arms already in --out instead of restarting")
    args = parser.parse_args()
    result = {"machine": machine(), "command": "python " + " ".join(sys.argv), "threads": torch.get_num_threads(),
              "recipe": "recipes/qa_verify_selfplay.toml", "arms": {}}
    for name, reward in ARMS.items():
        result["arms"][name] = run_arm(reward, Path(args.out) / name, args.iterations, args.matches, args.set,
                                       args.resume)
    for arm in result["arms"].values():
        rates = [it.get("questioner/reference_wrong_rate") for it in arm["iterations"]]
        arm["reference_wrong_rate_first_last"] = [rates[0], rates[-1]]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
