"""Learning curve: does self-play on arithmetic raise held-out solver accuracy?

Trains the embedded SmolLM2-135M-Instruct on this machine's CPU under several arms, each
for the same wall-clock budget, and prints JSON: held-out solver accuracy (programmatic
truth, greedy) before training and after every iteration, verifier accuracy and
false-positive rate, wall time per iteration split into generation, scoring, data
building, update and evaluation, and how much signal the solver's rewards carried
(``benchmarks/reward_signal.py``: groups with reward spread, verdict precision/recall). The held-out set is the same seeded
qa-eval set for every arm, never used for training. Saves the curve as a PNG.

Arms (pick with --arms):
    selfplay   recipes/qa_verify_selfplay.toml as shipped: the solver's reward is the
               verifier's verdict, the questioner's is learnability (pure self-play).
    truth      the same, but the solver's reward is the programmatic truth
               (``solver_truth``): self-play questions, verifiable reward.
    sft        SFT control: the solver imitates ground-truth replies to the same
               self-play questions (``update = "sft"``, ``targets = "reference"``).
    spin       SPIN: DPO of the ground-truth reply over the solver's own sample, with the
               previous iterate (a frozen snapshot) as the reference.
The untrained baseline is the same held-out evaluation before any update (greedy
decoding makes it one number per seed set).

Usage: python benchmarks/learning_curve.py --budget-minutes 30 --out out/curve [--parallel]

With ``--parallel`` the arms run side by side, each in its own process with its share of
``--threads`` (on 2 cores and 3 arms: one thread each), so every arm gets the same wall
budget in one sitting; the JSON records the threads each arm had.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

from sparring.runs.recipes.recipe import load_recipe
from sparring.runs.training.train import Trainer

ROOT = Path(__file__).resolve().parent.parent
ARMS = {
    "selfplay": [],
    "truth": ["roles.solver.reward=solver_truth"],
    "sft": ["roles.solver.update=sft", "roles.solver.targets=reference", "roles.questioner.update=none",
            "schedule=[]"],
    "spin": ["roles.solver.update=spin", "roles.questioner.update=none", "schedule=[]"],
}


def run_arm(name: str, overrides: list[str], budget_s: float, out: Path, extra: list[str]) -> dict:
    """Train one arm until its budget is spent; return its curve."""
    recipe = load_recipe(ROOT / "recipes" / "qa_verify_selfplay.toml", [*overrides, "train.iterations=1000", *extra])
    if out.exists():
        shutil.rmtree(out)
    trainer = Trainer(recipe, out, log=lambda _m: None)
    t0 = time.perf_counter()
    base = trainer.evaluate(0)
    eval0_s = time.perf_counter() - t0
    curve = [{"iteration": 0, "elapsed_s": 0.0, **base}]
    iterations = []
    started = time.perf_counter()
    it = 0
    while time.perf_counter() - started < budget_s:
        report = trainer.iteration(it)
        it += 1
        elapsed = time.perf_counter() - started
        curve.append({"iteration": it, "elapsed_s": elapsed,
                      **{k: v for k, v in report.metrics.items() if k.startswith("eval/")}})
        iterations.append({"iteration": it, "seconds": report.seconds,
                           "rewards": {k: v for k, v in report.metrics.items() if k.startswith("reward/")},
                           "updated": {a: {k: m[k] for k in ("loss", "samples") if k in m} for a, m in report.updated.items()},
                           "warnings": report.warnings})
        print(json.dumps({"arm": name, **curve[-1]}), flush=True)
    trainer.store.close()
    from reward_signal import reward_signal  # benchmarks/ is on sys.path when run as a script

    signal = reward_signal(out)
    final = curve[-1].get("eval/solver_accuracy", float("nan"))
    result = {"curve": curve, "iterations": iterations, "baseline_eval_seconds": eval0_s,
              "threads": torch.get_num_threads(), "reward_signal": signal,
              "gain_points": 100 * (final - base.get("eval/solver_accuracy", 0.0))}
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def run_parallel(base_of: dict[str, str], args: argparse.Namespace, out: Path) -> dict[str, dict]:
    """Run each arm in its own process, side by side, splitting the threads between them."""
    arms = list(base_of)
    threads = max(1, args.threads // len(arms))
    procs = []
    for arm in arms:
        cmd = [sys.executable, __file__, "--arms", f"{arm}={base_of[arm]}", "--budget-minutes", str(args.budget_minutes),
               "--out", str(out), "--threads", str(threads), "--no-summary",
               *[x for item in args.set for x in ("--set", item)],
               *[x for item in args.arm_set if item.partition(":")[0] == arm for x in ("--arm-set", item)]]
        procs.append(subprocess.Popen(cmd))
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"an arm failed (exit codes {dict(zip(arms, codes, strict=True))})")
    return {arm: json.loads((out / arm / "result.json").read_text()) for arm in arms}


def plot(results: dict, path: Path) -> None:
    """Held-out solver accuracy against wall time, one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for arm, res in results["arms"].items():
        xs = [p["elapsed_s"] / 60 for p in res["curve"]]
        ys = [100 * p.get("eval/solver_accuracy", float("nan")) for p in res["curve"]]
        ax.plot(xs, ys, marker="o", label=arm)
    base = results["baseline_solver_accuracy"]
    if base is not None:
        ax.axhline(100 * base, color="grey", linestyle="--", label="untrained baseline")
    ax.set_xlabel("training wall time (min)")
    ax.set_ylabel("held-out solver accuracy (%)")
    ax.set_title("SmolLM2-135M self-play on 2-digit arithmetic (CPU)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="training budget per arm")
    parser.add_argument("--arms", default="selfplay,truth,sft",
                        help="comma-separated arms, each BASE or LABEL=BASE (BASE one of the arms above)")
    parser.add_argument("--out", default="out/learning_curve")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="recipe override for every arm")
    parser.add_argument("--arm-set", action="append", default=[], metavar="ARM:FIELD=VALUE",
                        help="recipe override for one arm only, e.g. truth:arena.kwargs.group_size=8")
    parser.add_argument("--threads", type=int, default=2, help="torch threads in all (split between parallel arms)")
    parser.add_argument("--parallel", action="store_true",
                        help="run the arms side by side in separate processes (each gets threads/arms threads)")
    parser.add_argument("--no-summary", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # an arm is BASE or LABEL=BASE (the same base arm twice, e.g. with different --arm-set)
    base_of = {item.partition("=")[0]: item.partition("=")[2] or item for item in args.arms.split(",")}
    arms = list(base_of)
    unknown = [b for b in base_of.values() if b not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; pick from {', '.join(ARMS)}")
    per_arm: dict[str, list[str]] = {arm: [] for arm in arms}
    for item in args.arm_set:
        arm, sep, override = item.partition(":")
        if not sep or arm not in per_arm:
            parser.error(f"--arm-set {item!r}: write ARM:FIELD=VALUE with ARM one of {', '.join(arms)}")
        per_arm[arm].append(override)
    results: dict = {"machine": machine(), "budget_minutes_per_arm": args.budget_minutes, "overrides": args.set, "arm_overrides": per_arm,
                     "parallel": args.parallel, "arms": {}}
    if args.parallel and len(arms) > 1:
        results["arms"] = run_parallel(base_of, args, out)
    else:
        for arm in arms:
            results["arms"][arm] = run_arm(arm, ARMS[base_of[arm]], args.budget_minutes * 60, out / arm,
                                           [*args.set, *per_arm[arm]])
    if args.no_summary:
        return
    # The untrained baseline: iteration 0 of an arm that starts from fresh adapters.
    fresh = [res for arm, res in results["arms"].items()
             if not any("init_from" in o for o in [*args.set, *per_arm[arm]])]
    baseline = fresh[0]["curve"][0].get("eval/solver_accuracy") if fresh else None
    results["baseline_solver_accuracy"] = baseline
    for arm, res in results["arms"].items():
        final = res["curve"][-1]
        results[f"{arm}_start_solver_accuracy"] = res["curve"][0].get("eval/solver_accuracy")
        results[f"{arm}_final_solver_accuracy"] = final.get("eval/solver_accuracy")
        results[f"{arm}_gain_points"] = res["gain_points"]  # over the arm's own start
        if baseline is not None:
            results[f"{arm}_gain_over_baseline_points"] = 100 * (final.get("eval/solver_accuracy", 0.0) - baseline)
        results[f"{arm}_final_verifier_false_positive_rate"] = final.get("eval/verifier_false_positive_rate")
    plot(results, out / "learning_curve.png")
    (out / "learning_curve.json").write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "arms"}, indent=2))


if __name__ == "__main__":
    main()
