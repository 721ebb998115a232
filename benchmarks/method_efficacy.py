"""Learning efficacy of the method library: does each recipe raise held-out accuracy?

Trains the embedded SmolLM2-135M-Instruct on this machine's CPU with each built-in method's
recipe (``recipes/*.toml`` as shipped, on a task family where the untrained model is
neither hopeless nor done) for a budget of **training CPU time** (process CPU seconds of
play, build, update and save; evaluation is measurement and is not counted), and prints
JSON: for every arm the held-out accuracy before training and at CPU checkpoints, the
per-iteration rewards, monitors and update statistics (the failure analysis of an arm
that does not move), and the wall and CPU seconds it took.

Every arm of a family is evaluated on the same held-out set (same arena, kwargs, seeds and
size), greedy, against the programmatic truth that no training reward of a label-free arm
ever reads:

    instructions (open writing tasks with checkable constraints, difficulty 1-2), on
    ``response-eval``, metric ``eval/responder_accuracy`` (every constraint met):
        respond_judge     recipes/respond_judge.toml (Self-Rewarding LMs; label-free)
        preference_game   recipes/preference_game.toml (SPPO on judged win rates; label-free)
        sft_instructions  SFT control: the family's reference replies to training prompts
    arithmetic (1-digit addition/subtraction), on ``task-eval``, ``eval/solver_accuracy``:
        propose_solve     recipes/propose_solve.toml (SQLM; label-free)
        graph_debate      recipes/graph_debate.toml (multi-agent debate + majority SFT; label-free)
        self_correct      recipes/self_correct.toml (SCoRe; programmatic truth in its reward)
        spin              recipes/spin.toml (SPIN on reference replies)
        sft_arithmetic    SFT control: reference replies
    units (1-step unit conversion), on ``task-eval``, ``eval/solver_accuracy`` (greedy) and
    ``eval/t0.7/solver_accuracy`` (sampled at T=0.7, on other held-out seeds), 128 seeds each:
        majority_units    majority-vote self-training (label-free): graph-debate's arena with
                          8 samples at T=0.7 and one round, SFT on the replies agreeing with
                          the majority answer
        majority_units_seed1  the same, training seeds 1 and 2 (repeats on the same held-out set)
        majority_units_seed2
        majority_units_96     the same with 96 new tokens per reply instead of 64
        majority_units_lr5e5  the same at lr 5e-5 instead of 1e-4 (seeds 0 and 1)
        majority_units_lr5e5_seed1
        ttrl_units        TTRL (label-free): the same 8 samples, GRPO on the majority-agreement
                          reward instead of SFT on the agreeing replies
        sft_units         SFT control: reference replies
    tictactoe (recipes/tictactoe.toml), its own declared evaluation (win rate as X against
    the scripted win/block/random player, greedy).

The untrained baseline is each arm's checkpoint at 0 CPU seconds (the same number for every
arm of a family: same seeds, greedy). Arms run in separate processes, ``--jobs`` at a time,
each with ``--threads`` torch threads (on 2 cores: 2 jobs of 1 thread), so CPU time is the
budget whatever else runs.

Usage:
    python benchmarks/method_efficacy.py --out out/efficacy > docs/method_efficacy.json
    python benchmarks/method_efficacy.py --arms respond_judge,sft_instructions --minutes 30
Progress goes to standard error; standard output is the JSON alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Family:
    """The held-out evaluation every arm of one task family shares."""

    arena: str | None  # None: the recipe's own declared evaluation
    kwargs: dict = field(default_factory=dict)
    seat: str = "solver"
    metric: str = "eval/solver_accuracy"
    size: int = 64
    sampled: float | None = None  # also evaluate sampled at this temperature (its own seeds)


@dataclass(frozen=True)
class Arm:
    recipe: str
    family: str
    label_free: bool
    minutes: float
    overrides: tuple[str, ...] = ()
    role: str | None = None  # the recipe role that plays the held-out seat (if named differently)
    signal: tuple[str, str, str] | None = None  # (seat, training reward, truth reward) to compare


FAMILIES = {
    "instructions": Family("response-eval", {"family": "instructions", "difficulty": [1, 2]},
                           "responder", "eval/responder_accuracy"),
    "arithmetic": Family("task-eval", {"family": "arithmetic", "difficulty": [1, 1]}),
    "units": Family("task-eval", {"family": "units", "difficulty": [1, 1]}, size=128, sampled=0.7),
    "tictactoe": Family(None, seat="x", metric="eval/win_rate/x", size=16),
}
_SFT = ("roles.solver.update=\"sft\"", "roles.solver.targets=\"reference\"")
# majority-vote self-training on unit conversion: 8 samples at T=0.7, SFT on those that
# agree with the majority (graph-debate's arena with one round: no debate), label-free
_MAJORITY_UNITS = ("arena.kwargs={family=\"units\", difficulty=1, debaters=8, rounds=1, graph=\"complete\"}",
                   "roles.debater.temperature=0.7")


def _majority_units(*extra: str) -> Arm:
    """A majority-vote self-training arm on units (label-free), with ``extra`` overrides."""
    return Arm("graph_debate.toml", "units", True, 30, (*_MAJORITY_UNITS, *extra), role="debater",
               signal=("debater", "debater_majority", "debater_truth"))


ARMS = {
    "respond_judge": Arm("respond_judge.toml", "instructions", True, 30,
                         signal=("responder", "judge_score", "truth_score")),
    "preference_game": Arm("preference_game.toml", "instructions", True, 30,
                           signal=("responder", "win_rate", "truth_score")),
    "sft_instructions": Arm("spin.toml", "instructions", False, 10,
                            ("arena.kwargs={family=\"instructions\", difficulty=[1, 2], samples=1}",
                             "roles.solver.max_new_tokens=64", *_SFT), role="solver"),
    "propose_solve": Arm("propose_solve.toml", "arithmetic", True, 10, ("arena.kwargs.difficulty=[1, 1]",),
                         signal=("solver", "solver_majority", "solver_truth")),
    "graph_debate": Arm("graph_debate.toml", "arithmetic", True, 10, (), role="debater",
                        signal=("debater", "debater_majority", "debater_truth")),
    "self_correct": Arm("self_correct.toml", "arithmetic", False, 10, ("arena.kwargs.difficulty=[1, 1]",)),
    "spin": Arm("spin.toml", "arithmetic", False, 10, ("arena.kwargs.difficulty=[1, 1]",)),
    "sft_arithmetic": Arm("spin.toml", "arithmetic", False, 10, ("arena.kwargs.difficulty=[1, 1]", *_SFT)),
    "tictactoe": Arm("tictactoe.toml", "tictactoe", False, 10),
    "majority_units": _majority_units(),
    # the same, other training seeds (same held-out set): is the lift more than one run's luck?
    "majority_units_seed1": _majority_units("train.seed=1"),
    "majority_units_seed2": _majority_units("train.seed=2"),
    # the same at half the learning rate (seeds 0 and 1): does a slower step damp the swings?
    "majority_units_lr5e5": _majority_units("train.lr=5e-5"),
    "majority_units_lr5e5_seed1": _majority_units("train.lr=5e-5", "train.seed=1"),
    # the same with room to finish: replies grew toward the 64-token cap and were cut before the number
    "majority_units_96": _majority_units("roles.debater.max_new_tokens=96"),
    # TTRL (Zuo et al. 2025): the same 8 samples, GRPO with the majority-agreement reward
    # (advantages within the 8 samples of each problem) instead of SFT on the agreeing ones
    "ttrl_units": _majority_units("roles.debater.update=\"grpo\"", "roles.debater.reward=\"debater_majority\""),
    "sft_units": Arm("spin.toml", "units", False, 5,
                     ("arena.kwargs={family=\"units\", difficulty=[1, 1], samples=1}", *_SFT)),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def overrides_of(arm: Arm) -> list[str]:
    """The recipe overrides of an arm: its own, then the family's shared evaluation."""
    fam = FAMILIES[arm.family]
    out = [*arm.overrides, "train.iterations=100000", "eval.every=0", f"eval.size={fam.size}"]
    if fam.arena is not None:
        kwargs = ", ".join(f"{k}={json.dumps(v)}" for k, v in fam.kwargs.items())
        out += [f"eval.arena={json.dumps(fam.arena)}", f"eval.kwargs={{{kwargs}}}"]
        if arm.role is not None and arm.role != fam.seat:
            out.append(f"eval.roles={{{fam.seat}={json.dumps(arm.role)}}}")
    return out


def checkpoints(minutes: float) -> list[float]:
    """CPU seconds after which to evaluate: every 5 minutes up to 10, then every 10 (a
    budget of 10 or less: only at its end)."""
    marks = [m for m in (5, 10, 20, 30, 40, 60) if m < minutes] if minutes > 10 else []
    return [60.0 * m for m in (*marks, minutes)]


def run_arm(name: str, out: Path, minutes: float) -> dict:
    """Train one arm until its CPU budget is spent (in this process); return its record."""
    from sparring.runs.recipe import load_recipe
    from sparring.runs.train import Trainer

    arm = ARMS[name]
    fam = FAMILIES[arm.family]
    overrides = overrides_of(arm)
    recipe = load_recipe(ROOT / "recipes" / arm.recipe, overrides)
    if out.exists():
        shutil.rmtree(out)  # each measurement starts from fresh adapters
    trainer = Trainer(recipe, out, log=lambda _m: None)
    cpu = wall = 0.0

    def evaluate(it: int) -> dict:
        t0, c0 = time.perf_counter(), time.process_time()
        metrics = trainer.evaluate(it)
        if fam.sampled is not None:  # sampled pass@1 on other held-out seeds (match ids must differ)
            held_out = trainer.recipe.eval
            held_out.temperature, held_out.seed = fam.sampled, held_out.seed + 1
            try:
                sampled = trainer.evaluate(it)
            finally:
                held_out.temperature, held_out.seed = None, held_out.seed - 1
            metrics.update({k.replace("eval/", f"eval/t{fam.sampled}/", 1): v for k, v in sampled.items()})
        point = {"iteration": it, "train_cpu_s": cpu, "train_wall_s": wall, "eval_cpu_s": time.process_time() - c0,
                 "eval_wall_s": time.perf_counter() - t0, **metrics}
        log(f"[{name}] it {it} cpu {cpu / 60:.1f} min: {fam.metric} = {metrics.get(fam.metric)}")
        return point

    curve = [evaluate(0)]
    iterations = []
    marks = checkpoints(minutes)
    it = 0
    while marks:
        t0, c0 = time.perf_counter(), time.process_time()
        report = trainer.iteration(it)
        cpu += time.process_time() - c0
        wall += time.perf_counter() - t0
        it += 1
        iterations.append({"iteration": it, "train_cpu_s": cpu, "seconds": report.seconds,
                           "metrics": {k: v for k, v in report.metrics.items() if not k.startswith("eval/")},
                           "warnings": report.warnings})
        if cpu >= marks[0]:
            while marks and cpu >= marks[0]:
                marks.pop(0)
            curve.append(evaluate(it))
    trainer.store.close()
    start, final = curve[0].get(fam.metric), curve[-1].get(fam.metric)
    return {"recipe": f"recipes/{arm.recipe}", "overrides": overrides, "family": arm.family,
            "label_free": arm.label_free, "budget_cpu_minutes": minutes, "metric": fam.metric,
            "start": start, "final": final,
            "gain_points": None if start is None or final is None else 100 * (final - start),
            "curve": curve, "iterations": iterations}


def at_minutes(record: dict, minutes: float) -> dict | None:
    """The first checkpoint at or after ``minutes`` of training CPU time."""
    return next((p for p in record["curve"] if p["train_cpu_s"] >= 60 * minutes), None)


def plot(results: dict, path: Path) -> None:
    """Held-out accuracy against training CPU minutes, one panel per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = sorted({r["family"] for r in results.values()})
    fig, axes = plt.subplots(1, len(families), figsize=(5 * len(families), 4), squeeze=False)
    for ax, fam in zip(axes[0], families, strict=True):
        for name, rec in results.items():
            if rec["family"] != fam:
                continue
            xs = [p["train_cpu_s"] / 60 for p in rec["curve"]]
            ys = [100 * p.get(rec["metric"], float("nan")) for p in rec["curve"]]
            ax.plot(xs, ys, marker="o", linestyle="-" if rec["label_free"] else "--",
                    label=name + (" (label-free)" if rec["label_free"] else ""))
        ax.set_title(f"{fam}: {results[next(n for n in results if results[n]['family'] == fam)]['metric']}")
        ax.set_xlabel("training CPU minutes")
        ax.set_ylabel("held-out accuracy (%)")
        ax.legend(fontsize=7)
    fig.suptitle("SmolLM2-135M, CPU, 1 thread per arm")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", default=",".join(ARMS), help=f"comma-separated, from {', '.join(ARMS)}")
    parser.add_argument("--minutes", type=float, default=None, help="CPU budget per arm (default: each arm's own)")
    parser.add_argument("--out", default="out/method_efficacy")
    parser.add_argument("--jobs", type=int, default=2, help="arms at once (separate processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per arm")
    parser.add_argument("--collect", action="store_true",
                        help="play nothing: summarise the arms' JSON files already in --out (arms run by "
                             "earlier invocations, e.g. in several batches)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out)
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        minutes = args.minutes if args.minutes is not None else ARMS[args.worker].minutes
        record = run_arm(args.worker, out / args.worker, minutes)
        record["threads"] = torch.get_num_threads()
        record["command"] = "python benchmarks/method_efficacy.py " + " ".join(sys.argv[1:])
        (out / f"{args.worker}.json").write_text(json.dumps(record, indent=1))
        return
    names = [a for a in args.arms.split(",") if a]
    unknown = [a for a in names if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; pick from {', '.join(ARMS)}")
    out.mkdir(parents=True, exist_ok=True)
    failed = run_all(names, args, out) if not args.collect else {}
    results = {n: json.loads((out / f"{n}.json").read_text()) for n in names
               if n not in failed and (out / f"{n}.json").exists()}
    summary: dict = {"command": "python benchmarks/method_efficacy.py " + " ".join(sys.argv[1:]),
                     "jobs": args.jobs, "threads_per_arm": args.threads, "failed": failed,
                     "missing": [n for n in names if n not in results and n not in failed], "arms": {}}
    for name, rec in results.items():
        summary["arms"][name] = summarise(rec)
        if ARMS[name].signal is not None:
            summary["arms"][name]["signal"] = signal(out / name, *ARMS[name].signal)
        summary["arms"][name]["held_out_replies"] = held_out_replies(out / name)
    label_free = [s for s in summary["arms"].values() if s["label_free"] and s["gain_points"] is not None]
    summary["best_label_free_gain_points"] = max((s["gain_points"] for s in label_free), default=None)
    # the target: a label-free arm >= 10 points over its start within 30 CPU-minutes
    summary["label_free_reaching_10_points"] = {
        name: {"peak": s["peak_within_30_cpu_minutes"], "final_gain_points": s["gain_points"]}
        for name, s in summary["arms"].items() if s["label_free"] and s["peak_within_30_cpu_minutes"]
        and s["peak_within_30_cpu_minutes"]["gain_points"] >= 10}
    if results:
        plot(results, out / "method_efficacy.png")
    print(json.dumps(summary, indent=1))


def signal(run: Path, seat: str, reward: str, truth: str) -> dict | None:
    """How well a label-free training reward tracks the truth on the training matches.

    Per turn of ``seat`` scored by both: the correlation of the two, the truth rate among
    turns the reward ranks top vs bottom of their match (the pair a best/worst builder
    makes), and the share of such pairs where the truth agrees, disagrees or ties.
    """
    from statistics import correlation, mean

    from sparring.runs.store import Store

    if not (run / "store.sqlite").exists():
        return None
    xs, ys, agree, disagree, tie, top, bottom = [], [], 0, 0, 0, [], []
    with Store(run / "store.sqlite") as store:
        for t in store.transcripts():
            if t.match_id.startswith("eval-") or t.status != "finished":
                continue
            r = {x.turn: x.value for x in t.rewards if x.reward == reward and x.role == seat and x.turn is not None}
            v = {x.turn: x.value for x in t.rewards if x.reward == truth and x.role == seat and x.turn is not None}
            both = sorted(k for k in r if k in v)
            xs += [r[k] for k in both]
            ys += [v[k] for k in both]
            if len(both) >= 2 and max(r[k] for k in both) > min(r[k] for k in both):
                best, worst = max(both, key=lambda k: r[k]), min(both, key=lambda k: r[k])
                top.append(v[best])
                bottom.append(v[worst])
                agree += v[best] > v[worst]
                disagree += v[best] < v[worst]
                tie += v[best] == v[worst]
    if len(xs) < 2:
        return None
    spread = len(set(xs)) > 1 and len(set(ys)) > 1
    pairs = agree + disagree + tie
    return {"seat": seat, "reward": reward, "truth": truth, "turns": len(xs),
            "correlation": correlation(xs, ys) if spread else None,
            "truth_mean": mean(ys), "pairs": pairs,
            "truth_of_top": mean(top) if top else None, "truth_of_bottom": mean(bottom) if bottom else None,
            "pairs_truth_agrees": agree / pairs if pairs else None,
            "pairs_truth_disagrees": disagree / pairs if pairs else None,
            "pairs_truth_ties": tie / pairs if pairs else None}


def held_out_replies(run: Path) -> list[dict] | None:
    """Per held-out evaluation (iteration, temperature): how many replies were cut at the
    token cap, and their mean length: whether a drop in accuracy is truncation."""
    from sparring.runs.store import Store

    if not (run / "store.sqlite").exists():
        return None
    groups: dict[tuple[int, float | None], list] = {}
    with Store(run / "store.sqlite") as store:
        for t in store.transcripts():
            if t.match_id.startswith("eval-"):
                for u in t.turns:
                    groups.setdefault((t.iteration, u.sampling.get("temperature")), []).append(u)
    return [{"iteration": it, "temperature": temp, "replies": len(turns),
             "cut_at_cap": sum(u.finish_reason == "length" for u in turns),
             "mean_tokens": sum(len(u.token_ids) for u in turns) / len(turns)}
            for (it, temp), turns in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0.0))]


# the per-iteration training monitors kept in the summary (means; the failure analysis)
_TRAINING_SUFFIXES = ("/entropy", "/length", "/parse_failure_rate")
_TRAINING_KEYS = ("debate/agreement", "debate/majority_accuracy")


def summarise(rec: dict) -> dict:
    """The summary of one arm's record (its curve without the per-iteration detail)."""
    ten = at_minutes(rec, 10)
    out = {k: rec[k] for k in ("recipe", "overrides", "family", "label_free", "metric", "budget_cpu_minutes",
                               "start", "final", "gain_points")}
    out["command"] = rec.get("command")
    out["threads"] = rec.get("threads")
    out["final_train_cpu_minutes"] = rec["curve"][-1]["train_cpu_s"] / 60
    out["at_10_cpu_minutes"] = None if ten is None else {
        "train_cpu_minutes": ten["train_cpu_s"] / 60, rec["metric"]: ten.get(rec["metric"])}
    out["curve"] = [{"train_cpu_minutes": p["train_cpu_s"] / 60, "iteration": p["iteration"],
                     **{k: v for k, v in p.items() if k.startswith("eval/")}} for p in rec["curve"]]
    out["training"] = [{"iteration": it["iteration"], "train_cpu_minutes": it["train_cpu_s"] / 60,
                        **{k: v for k, v in it["metrics"].items()
                           if k.startswith("reward/") or k.endswith(_TRAINING_SUFFIXES) or k in _TRAINING_KEYS}}
                       for it in rec["iterations"]]
    # the best checkpoint within 30 CPU-minutes (the target window), beside the final one
    window = [p for p in rec["curve"][1:] if p["train_cpu_s"] <= 60 * 30.5 and p.get(rec["metric"]) is not None]
    peak = max(window, key=lambda p: p[rec["metric"]], default=None)
    out["peak_within_30_cpu_minutes"] = None if peak is None or rec["start"] is None else {
        "train_cpu_minutes": peak["train_cpu_s"] / 60, rec["metric"]: peak[rec["metric"]],
        "gain_points": 100 * (peak[rec["metric"]] - rec["start"])}
    return out


def run_all(names: list[str], args: argparse.Namespace, out: Path) -> dict[str, int]:
    """Run the arms, ``args.jobs`` processes at a time; returns the failed ones' exit codes."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(args.threads)}
    pending = list(names)  # in the order given
    running: dict[str, subprocess.Popen] = {}
    failed: dict[str, int] = {}
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            cmd = [sys.executable, __file__, "--worker", name, "--out", str(out), "--threads", str(args.threads)]
            if args.minutes is not None:
                cmd += ["--minutes", str(args.minutes)]
            log(f"starting {name}")
            running[name] = subprocess.Popen(cmd, env=env, stdout=sys.stderr)
        time.sleep(2)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                if proc.returncode:
                    failed[name] = proc.returncode
    return failed


if __name__ == "__main__":
    main()
