"""Learning efficacy of the method library, measured so that a sceptical reader can trust it.

Trains the embedded SmolLM2-135M-Instruct on this machine's CPU with each method's recipe
for a budget of **training CPU time** (process CPU seconds of play, build, update and save;
evaluation is measurement and is not counted) and prints JSON. The protocol (DESIGN.md
section 11, the issue "Learning figures you can trust"):

- **Items, not seeds.** Every arm of a family is evaluated on the same distinct items of
  the family's ``test`` split (``TEST_ITEMS`` = 500, each once, greedy), with one
  generation protocol (``[eval]`` max_new_tokens, greedy; never the training role's).
- **Selection apart from report.** Checkpoints are compared on ``VALIDATION_ITEMS``
  distinct ``validation`` items every ``--every`` CPU-minutes; the test split is played
  only on the untrained model (once per family: the shared ``base`` run), on the adapters
  at the end of the budget, and on the validation-selected adapters.
- **Intervals and pairs.** Every accuracy with its 95% Wilson interval; every gain is the
  paired difference with the untrained model on the same items (paired bootstrap).
- **Seeds.** Each arm runs ``--seeds`` training seeds (at least 3 for a claim); the summary
  gives each seed and the mean gain over seeds with a Student-t 95% interval.
- **Controls and equal budgets.** Every label-free arm sits beside its SFT control on
  reference replies and its random-reward twin (the same recipe, its reward replaced by a
  seeded coin flip of the same mean: a gain it shows too is format learning); every arm of
  a family runs the same CPU budget (``--minutes``).

Families and arms:
    units (unit conversion, difficulty 1), ``task-eval``, ``eval/solver_accuracy``:
        majority_units   majority-vote self-training (label-free; recipes/majority_vote.toml)
        random_units     its random-reward twin (reward = "random:debater_majority")
        ttrl_units       TTRL: GRPO on the majority-agreement reward (label-free)
        sft_units        SFT control on reference replies
        majority_units_band, _entropy, _kl, _schedule, _replay, _guard, _all;
        random_units_all, ttrl_units_all: the stabilisers one at a time and all together
                         (the BAND, ENTROPY, ... override tuples below)
        majority_units_warm, _warm_all: from the warm start of recipes/warmstart_sft.toml
                         (a few labels, so not label-free; run that recipe first)
    instructions (writing tasks with checkable constraints, difficulty 1-2), ``response-eval``:
        respond_judge, preference_game, tree_refine, exec_feedback (label-free), sft_instructions (control)
        respond_judge_j1 respond-judge with its judge seat frozen on the judge_training arm's adapter
                         (J1_JUDGE; run that arm first), pairwise in J1's thinking form
        respond_judge_pairwise  its control: the same recipe, the untrained judge asked alike
    arithmetic (+/-, difficulty 1-2: the test split is almost all two-digit items):
        propose_solve, graph_debate (label-free), self_correct, solve_review_refine, spin, sft_arithmetic
    documents (held-out synthetic documents of levels 1-3), ``document-eval``, ``eval/responder_accuracy``:
        spell_documents  SPELL's document mode: questioner, responder and verifier on one adapter (label-free)
    personas (seeded personas and requests), ``elicitation``, ``eval/elicitation/gold_logprob``:
        elicitation      STaR-GATE: SFT on the questions of the best dialogue per persona (label-free)
    code (small function-writing problems, 528 distinct test items), ``code-feedback``, ``eval/code/pass_rate``:
        code_feedback    DPO on solutions ranked by hidden tests passed in the sandbox
        code_feedback_self  CodeDPO: ranked by mutual verification with self-written tests (label-free)

    judging (pairs on the instructions family, difficulty 1-2), ``judge-training`` on its test
    split, ``eval/judge_consistent_accuracy``:
        judge_training   J1: GRPO on a thinking judge, paid when right in both orders
                         (programmatic labels, so not label-free)

Usage (progress on standard error; standard output is the JSON alone):
    python benchmarks/method_efficacy.py --arms majority_units,random_units,sft_units \\
        --seeds 0,1,2 --minutes 6 --out out/efficacy > docs/method_efficacy.json
    python benchmarks/method_efficacy.py --collect --arms ... --seeds ... --out out/efficacy
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from efficacy_arms import ARMS, FAMILIES, Arm  # noqa: E402
from efficacy_store import held_out_replies, item_results, signal  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEST_ITEMS = 500
VALIDATION_ITEMS = 150


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def protocol(family: str, role: str | None) -> list[str]:
    """The ``[eval]`` overrides every arm of ``family`` shares (the efficacy protocol)."""
    fam = FAMILIES[family]
    kwargs = ", ".join(f"{k}={json.dumps(v)}" for k, v in fam.kwargs.items())
    out = ["eval.every=0", f"eval.size={TEST_ITEMS}", f"eval.validation_size={VALIDATION_ITEMS}",
           'eval.select="validation"', 'eval.test="end"', f"eval.metric={json.dumps(fam.metric)}",
           f"eval.max_new_tokens={fam.max_new_tokens}", "eval.greedy=true",
           f"eval.arena={json.dumps(fam.arena)}", f"eval.kwargs={{{kwargs}}}"]
    if role is not None and role != fam.seat:
        out.append(f"eval.roles={{{fam.seat}={json.dumps(role)}}}")
    return out


MODEL = os.environ.get("EFFICACY_MODEL")
"""Another base model for every arm (``tiny``: the benchmark's own smoke test); default: each recipe's."""


def overrides_of(arm: Arm, seed: int) -> list[str]:
    """An arm's recipe overrides: its own, the seed, then the family's shared protocol."""
    if any(o.startswith("eval.") for o in arm.overrides):
        raise ValueError("an arm may not change the evaluation: every arm of a family shares one protocol")
    model = [f"model.source={json.dumps(MODEL)}"] if MODEL else []
    return [*arm.overrides, *model, f"train.seed={seed}", "train.iterations=100000", *protocol(arm.family, arm.role)]


def run_base(family: str, out: Path) -> dict:
    """The untrained model on the family's test items, once for every arm (greedy, so every
    arm's own start would be the same): per-item results and the accuracy."""
    from sparring.runs.recipes.recipe import load_recipe
    from sparring.runs.training.train import Trainer

    arm = next(a for a in ARMS.values() if a.family == family)
    if out.exists():
        shutil.rmtree(out)
    trainer = Trainer(load_recipe(ROOT / "recipes" / arm.recipe, overrides_of(arm, 0)), out, log=lambda _m: None)
    metrics = trainer.evaluate(0, ("test",))
    trainer.store.close()
    return {"family": family, "test": _figure(metrics, "eval/", FAMILIES[family].metric),
            "items": item_results(out, 0)}


def run_arm(name: str, seed: int, out: Path, minutes: float, every: float) -> dict:
    """Train one arm for ``minutes`` of CPU time, validating every ``every`` minutes; then
    test the final and the validation-selected adapters."""
    from sparring.runs.recipes.recipe import load_recipe
    from sparring.runs.training.train import Trainer

    arm = ARMS[name]
    metric = FAMILIES[arm.family].metric
    overrides = overrides_of(arm, seed)
    if out.exists():
        shutil.rmtree(out)  # each measurement starts from fresh adapters
    trainer = Trainer(load_recipe(ROOT / "recipes" / arm.recipe, overrides), out, log=lambda _m: None)
    cpu = 0.0
    curve = []

    def validate(label: int) -> None:
        metrics = trainer.evaluate(label, ("validation",))
        metrics.update(trainer.select(label, metrics))
        curve.append({"iteration": label, "train_cpu_minutes": cpu / 60,
                      "validation": _figure(metrics, "validation/", metric)})
        log(f"[{name} s{seed}] it {label} cpu {cpu / 60:.1f} min: validation {curve[-1]['validation']['value']}")

    validate(0)
    iterations, marks, it = [], [every * k for k in range(1, int(minutes / every + 1e-9) + 1)], 0
    while marks:
        c0 = time.process_time()
        report = trainer.iteration(it)
        cpu += time.process_time() - c0
        it += 1
        iterations.append({"iteration": it, "train_cpu_minutes": cpu / 60, "seconds": report.seconds,
                           "metrics": {k: v for k, v in report.metrics.items() if not k.startswith("eval")},
                           "warnings": report.warnings})
        if cpu >= 60 * marks[0]:
            while marks and cpu >= 60 * marks[0]:
                marks.pop(0)
            validate(it)
    end = _figure(trainer.evaluate(it, ("test",)), "eval/", metric)
    best = trainer.best or {"iteration": it}
    selected = None
    if best["iteration"] not in (0, it):  # at 0 it is the base run's figure, at the end the end's
        with trainer._weights(best["versions"], best=True):
            selected = _figure(trainer.evaluate(best["iteration"], ("test",)), "eval/", metric)
    trainer.store.close()
    return {"arm": name, "seed": seed, "recipe": f"recipes/{arm.recipe}", "overrides": overrides,
            "family": arm.family, "label_free": arm.label_free, "budget_cpu_minutes": minutes,
            "train_cpu_minutes": cpu / 60, "iterations_run": it, "curve": curve, "end": end,
            "selected_iteration": best["iteration"], "selected": selected,
            "items_end": item_results(out, it),
            "items_selected": item_results(out, best["iteration"]) if selected is not None else None,
            "training": iterations}


def _figure(metrics: dict, prefix: str, metric: str) -> dict:
    key = f"{prefix}{metric}"
    return {"value": metrics.get(key), "ci_low": metrics.get(f"{key}/ci_low"), "ci_high": metrics.get(f"{key}/ci_high"),
            "n_items": metrics.get(f"{key}/n_items"), "n_distinct": metrics.get(f"{key}/n_distinct")}


def gain(base: dict[str, float], after: dict[str, float] | None) -> dict | None:
    """``after - base`` in points on the items both hold: paired mean and bootstrap interval."""
    from sparring.rewards.intervals import paired

    if after is None:
        return None
    keys = sorted(set(base) & set(after))
    result = paired([base[k] for k in keys], [after[k] for k in keys])
    return {"points": 100 * result["difference"], "ci_low": 100 * result["ci_low"],
            "ci_high": 100 * result["ci_high"], "n_items": len(keys),
            "mcnemar_p": result.get("mcnemar_p")}


def summarise(name: str, runs: list[dict], base: dict) -> dict:
    """One arm over its seeds: each seed's curve and test figures, and the mean gains."""
    from sparring.rewards.intervals import over_seeds

    seeds = []
    for rec in runs:
        selected_items = rec["items_selected"] if rec["selected"] is not None else (
            base["items"] if rec["selected_iteration"] == 0 else rec["items_end"])
        selected = rec["selected"] or (base["test"] if rec["selected_iteration"] == 0 else rec["end"])
        seeds.append({"seed": rec["seed"], "train_cpu_minutes": rec["train_cpu_minutes"],
                      "iterations": rec["iterations_run"], "curve": rec["curve"],
                      "end": {**rec["end"], "gain": gain(base["items"], rec["items_end"])},
                      "selected": {"iteration": rec["selected_iteration"], **selected,
                                   "gain": gain(base["items"], selected_items)},
                      "training": [{"iteration": it["iteration"], "train_cpu_minutes": it["train_cpu_minutes"],
                                    **{k: v for k, v in it["metrics"].items()
                                       if k.startswith("reward/") or k.endswith(_MONITORS) or k in _DEBATE}}
                                   for it in rec["training"]]})
    first = runs[0]
    return {"recipe": first["recipe"], "family": first["family"], "label_free": first["label_free"],
            "overrides": [o for o in first["overrides"] if not o.startswith("train.seed=")],
            "budget_cpu_minutes": first["budget_cpu_minutes"], "seeds": [r["seed"] for r in runs],
            "mean_end_gain_points": over_seeds([s["end"]["gain"]["points"] for s in seeds]),
            "mean_selected_gain_points": over_seeds([s["selected"]["gain"]["points"] for s in seeds]),
            "mean_end_accuracy": over_seeds([s["end"]["value"] for s in seeds]),
            "per_seed": seeds}


_MONITORS = ("/entropy", "/length", "/parse_failure_rate")
_DEBATE = ("debate/agreement", "debate/majority_accuracy")


def plot(summary: dict, path: Path) -> None:
    """Validation accuracy against training CPU minutes per seed, and the test gains."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arms = summary["arms"]
    fig, (curves, gains) = plt.subplots(1, 2, figsize=(11, 4))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for colour, (name, arm) in zip(colours, arms.items(), strict=False):
        for k, seed in enumerate(arm["per_seed"]):
            xs = [p["train_cpu_minutes"] for p in seed["curve"]]
            ys = [100 * p["validation"]["value"] for p in seed["curve"]]
            curves.plot(xs, ys, marker="o", color=colour, alpha=0.7, label=name if k == 0 else None)
    curves.set_xlabel("training CPU minutes")
    curves.set_ylabel(f"validation accuracy (%, {VALIDATION_ITEMS} items)")
    curves.legend(fontsize=7)
    names = list(arms)
    for i, name in enumerate(names):
        for j, key in enumerate(("mean_end_gain_points", "mean_selected_gain_points")):
            m = arms[name][key]
            if m["mean"] == m["mean"]:
                low = m["mean"] - m["ci_low"] if m["ci_low"] == m["ci_low"] else 0
                high = m["ci_high"] - m["mean"] if m["ci_high"] == m["ci_high"] else 0
                gains.errorbar(i + 0.2 * j - 0.1, m["mean"], yerr=[[low], [high]], fmt="o" if j == 0 else "s",
                               color=colours[j], label=("end of budget" if j == 0 else "validation-selected")
                               if i == 0 else None)
    gains.axhline(0, color="grey", linewidth=0.8)
    gains.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    gains.set_ylabel(f"test gain over the untrained model (points, {TEST_ITEMS} items)")
    gains.legend(fontsize=7)
    fig.suptitle("SmolLM2-135M on CPU: mean over seeds, 95% t-interval")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run_all(jobs: list[list[str]], args: argparse.Namespace, out: Path) -> dict[str, int]:
    """Run worker processes, ``args.jobs`` at a time; returns the failed ones' exit codes."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": str(args.threads)}
    pending, running, failed = list(jobs), {}, {}
    while pending or running:
        while pending and len(running) < args.jobs:
            job = pending.pop(0)
            cmd = [sys.executable, __file__, "--out", str(out), "--threads", str(args.threads),
                   "--minutes", str(args.minutes), "--every", str(args.every), *job]
            log(f"starting {' '.join(job)}")
            running[" ".join(job)] = subprocess.Popen(cmd, env=env, stdout=sys.stderr)
        time.sleep(2)
        for name, proc in list(running.items()):
            if proc.poll() is not None:
                del running[name]
                if proc.returncode:
                    failed[name] = proc.returncode
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arms", default="majority_units,random_units,sft_units",
                        help=f"comma-separated, from {', '.join(ARMS)}")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds (default 0,1,2)")
    parser.add_argument("--minutes", type=float, default=6.0, help="training CPU budget of every arm (default 6)")
    parser.add_argument("--every", type=float, default=2.0, help="validate every N CPU-minutes (default 2)")
    parser.add_argument("--out", default="out/method_efficacy")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (separate processes)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--collect", action="store_true", help="play nothing: summarise the runs in --out")
    parser.add_argument("--worker", nargs=2, metavar=("ARM", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--base", metavar="FAMILY", help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = Path(args.out)
    if args.worker or args.base:
        import torch

        torch.set_num_threads(args.threads)
        if args.base:
            record, path = run_base(args.base, out / f"base-{args.base}"), out / f"base-{args.base}.json"
        else:
            name, seed = args.worker[0], int(args.worker[1])
            record = run_arm(name, seed, out / f"{name}-s{seed}", args.minutes, args.every)
            path = out / f"{name}-s{seed}.json"
        record["threads"] = torch.get_num_threads()
        path.write_text(json.dumps(record, indent=1))
        return
    names = [a for a in args.arms.split(",") if a]
    unknown = [a for a in names if a not in ARMS]
    if unknown:
        parser.error(f"unknown arm(s) {', '.join(unknown)}; pick from {', '.join(ARMS)}")
    seeds = [int(s) for s in args.seeds.split(",")]
    out.mkdir(parents=True, exist_ok=True)
    families = sorted({ARMS[n].family for n in names})
    jobs = [["--base", f] for f in families if not (out / f"base-{f}.json").exists()]
    # arm by arm, so that a run cut short leaves whole arms (every seed) rather than one seed of each
    jobs += [["--worker", n, str(s)] for n in names for s in seeds if not (out / f"{n}-s{s}.json").exists()]
    failed = run_all(jobs, args, out) if not args.collect else {}
    summary: dict = {"command": "python benchmarks/method_efficacy.py " + " ".join(sys.argv[1:]),
                     "protocol": {"test_items": TEST_ITEMS, "validation_items": VALIDATION_ITEMS,
                                  "families": {f: {"arena": FAMILIES[f].arena, **FAMILIES[f].kwargs,
                                                   "metric": FAMILIES[f].metric, "greedy": True,
                                                   "max_new_tokens": FAMILIES[f].max_new_tokens} for f in families},
                                  "budget_cpu_minutes": args.minutes, "validate_every_cpu_minutes": args.every,
                                  "threads_per_run": args.threads},
                     "cpu": _cpu(), "failed": failed, "base": {}, "arms": {}}
    bases = {f: json.loads((out / f"base-{f}.json").read_text()) for f in families if (out / f"base-{f}.json").exists()}
    for f, base in bases.items():
        summary["base"][f] = base["test"]
    for name in names:
        runs = [json.loads((out / f"{name}-s{s}.json").read_text()) for s in seeds if (out / f"{name}-s{s}.json").exists()]
        if not runs or ARMS[name].family not in bases:
            continue
        budgets = {r["budget_cpu_minutes"] for r in runs}
        if len(budgets) != 1:
            raise SystemExit(f"{name}: runs with different budgets {sorted(budgets)}; arms must share one budget")
        summary["arms"][name] = summarise(name, runs, bases[ARMS[name].family])
        if ARMS[name].signal is not None:
            summary["arms"][name]["signal"] = [signal(out / f"{name}-s{s}", *ARMS[name].signal) for s in seeds]
        summary["arms"][name]["held_out_replies"] = {s: held_out_replies(out / f"{name}-s{s}") for s in seeds}
    budgets = {a["family"]: set() for a in summary["arms"].values()}
    for a in summary["arms"].values():
        budgets[a["family"]].add(a["budget_cpu_minutes"])
    assert all(len(b) == 1 for b in budgets.values()), f"unequal budgets within a family: {budgets}"
    if summary["arms"]:
        plot(summary, out / "method_efficacy.png")
    print(json.dumps(_plain(summary), indent=1))


def _plain(value: object) -> object:
    """NaN (an interval of one seed) as null: standard JSON."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _cpu() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown"


if __name__ == "__main__":
    main()
