"""Memory: loading the embedded model, 5 roles on 5 adapters, and training debate judges.

Prints one JSON object on stdout (library logs and progress go to stderr) and writes the
same JSON to ``--out`` when given. Every figure comes from its own fresh subprocess
(``memory_probes.py``), so no measurement inherits another's heap. Resident figures are
the process's ``VmRSS``; peaks are the kernel's high-water mark (``VmHWM``), read and
reset at every phase change so each phase gets its own exact peak (``memory_meter.py``).
Figures include the interpreter with torch and transformers imported
(``rss_after_imports_mib``): that is what a process costs. Memory figures hold on a busy
machine; the seconds recorded beside them do not (they stretch with the machine's load).

(1) ``load``: ``ModelPool.load("default", "default")`` with the cached safetensors folder
    already converted, for ``fp32`` and ``bf16`` (bf16 is skipped, with the reason, where
    the CPU only emulates it, unless ``--dtypes`` names it). Target: peak while loading
    <= 1.5x the resident set after loading. ``rss_after_generation_mib`` (after a short
    generation, which touches every weight) matters for fp32: with no cast, transformers
    maps the file and pages become resident only when first read.
(1') ``convert``: first use, ``ModelPool.load`` with an empty (temporary) cache: the
    one-time GGUF -> safetensors conversion, then the load (dtype auto). Reported, no target.
(2) ``adapters``: resident set after one generation of 32 rows (16 new tokens) holding 5
    roles on 5 adapters (rank 8, all linear layers, random B) vs one bare model doing the
    same generation. Target: ratio of resident sets <= 1.25; peaks reported too.
(3) ``train``: ``sparring.train`` for 2 iterations x 4 matches, micro-batch 8, engine batch
    32, eval size 4, on each case of :data:`TRAIN_CASES`: the judge of ``examples/debate.toml``
    (one verdict per match), the judge of ``benchmarks/arenas/long_debate.toml`` (four
    verdicts per match on prompts carrying both speeches: issue 24's case), and the same
    judge with long prompts and many samples (two rounds of 160-token speeches, 8 verdicts
    per match). Target: peak <= 2.5 GB (2.5e9 bytes) for every case. Phases: load,
    generation, build, logprob_forward, backward, optimizer, evaluation, checkpoint,
    iteration_other (saving adapters, bookkeeping).

Usage: python benchmarks/memory.py [--out docs/memory.json] [--only load,convert,adapters,train]
       [--train-cases debate,long_debate,long_debate_long] [--threads 2] [--model default] [--note TEXT]

To measure another checkout of the package (e.g. a baseline worktree), put a folder that
maps ``sparring`` to it first on ``PYTHONPATH``; the JSON records where ``sparring`` was
imported from (``sparring_path``) and the ``PYTHONPATH`` used (``command``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from machine_info import machine, precision_plan  # sibling scripts: benchmarks/ is sys.path[0]
from memory_probes import LOAD_RATIO_TARGET, PROBES, ROOT, TRAIN_PEAK_TARGET_MIB, child

ADAPTERS_RATIO_TARGET = 1.25
TRAIN_OVERRIDES = [
    "train.matches_per_iteration=4",
    "train.iterations=2",
    "train.micro_batch_size=8",
    "model.batch_size=32",
    "eval.size=4",
]
LONG_DEBATE = "benchmarks/arenas/long_debate.toml"
#: name -> (recipe, overrides beyond TRAIN_OVERRIDES)
TRAIN_CASES: dict[str, tuple[str, list[str]]] = {
    "debate": ("examples/debate.toml", []),
    "long_debate": (LONG_DEBATE, ["arena.kwargs.judge_samples=4", "arena.kwargs.speech_tokens=48"]),
    "long_debate_long": (LONG_DEBATE, ["arena.kwargs.judge_samples=8", "arena.kwargs.speech_tokens=160",
                                       "arena.kwargs.rounds=2"]),
}


# -- orchestrating (in the parent; imports no torch) --------------------------------------
def run_probe(probe: str, args: argparse.Namespace, env: dict[str, str] | None = None, **extra: str) -> dict[str, Any]:
    """Run ``probe`` in a fresh interpreter and return its JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--probe", probe, "--threads", str(args.threads),
           "--model", args.model]
    for key, value in extra.items():
        cmd += [f"--{key}", value]
    print(f"memory: {shlex.join(cmd[1:])}", file=sys.stderr)
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, **(env or {})}) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        last = ""
        for line in proc.stderr:  # pass the child's logs on, keep the last line for errors
            sys.stderr.write(line)
            last = line.strip() or last
        stdout = proc.stdout.read()
    if proc.returncode != 0:
        return {"error": f"exit code {proc.returncode}: {last}"}
    return json.loads(stdout.strip().splitlines()[-1])


def versions() -> dict[str, str]:
    """Package versions, read without importing them."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "safetensors"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def _targets(out: dict[str, Any]) -> Iterator[tuple[str, Any, str, bool]]:
    """(figure, value, target, met) of every measured figure that has a target."""
    for name, load in out.get("load", {}).items():
        if "error" not in load:
            yield (f"load.{name}.ratio_peak_over_resident", load["ratio_peak_over_resident"],
                   f"<= {LOAD_RATIO_TARGET}", load["met"])
    adapters = out.get("adapters")
    if adapters is not None:
        yield ("adapters.ratio_resident_after_generation", adapters["ratio_resident_after_generation"],
               f"<= {ADAPTERS_RATIO_TARGET}", adapters["met"])
    for name, train in out.get("train", {}).items():
        yield (f"train.{name}.peak_rss_mib", train.get("peak_rss_mib"), f"<= {TRAIN_PEAK_TARGET_MIB:.1f}",
               bool(train.get("met")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--only", default="load,convert,adapters,train",
                        help="comma-separated subset of load, convert, adapters, train")
    parser.add_argument("--train-cases", default=",".join(TRAIN_CASES),
                        help=f"comma-separated subset of {', '.join(TRAIN_CASES)}")
    parser.add_argument("--dtypes", default=None,
                        help="precisions of the load measurement (default fp32,bf16, bf16 skipped where the CPU "
                             "only emulates it; naming it here runs it anyway)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="default")
    parser.add_argument("--note", help="recorded as is (e.g. how a baseline checkout was put on PYTHONPATH)")
    parser.add_argument("--probe", choices=sorted(PROBES), help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="bare", help=argparse.SUPPRESS)
    parser.add_argument("--recipe", help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="[]", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        child(args)
        return
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(PROBES))
    if unknown:
        parser.error(f"unknown measurement {unknown[0]!r}; choose from {', '.join(PROBES)}")
    train_cases = [s.strip() for s in args.train_cases.split(",") if s.strip()]
    unknown = sorted(set(train_cases) - set(TRAIN_CASES))
    if unknown:
        parser.error(f"--train-cases: unknown case {unknown[0]!r}; choose from {', '.join(TRAIN_CASES)}")
    prefix = f"PYTHONPATH={os.environ['PYTHONPATH']} " if os.environ.get("PYTHONPATH") else ""
    out: dict[str, Any] = {
        "benchmark": "memory",
        "command": prefix + shlex.join(["python", *sys.argv]),
        "threads": args.threads,
        "model": args.model,
        "machine": machine(),
        "versions": versions(),
        "unit": "MiB (2**20 bytes) of resident memory of the whole process",
        "notes": "peak memory figures are valid on a busy machine; the seconds in this JSON are not "
                 "(they stretch with whatever else runs): read no timing from it",
    }
    if args.note:
        out["note"] = args.note
    if "load" in only or "adapters" in only or "train" in only:
        # Make sure the normal cache exists (the loads below must not convert); records what auto picks.
        out["dtype_auto"] = run_probe("convert", args).get("dtype")
    if "load" in only:
        dtypes, skipped = precision_plan((args.dtypes or "fp32,bf16").split(","), explicit=args.dtypes is not None)
        out["load"] = {name: run_probe("load", args, dtype=name) for name in dtypes}
        if skipped:
            out["load_skipped"] = skipped
    if "convert" in only:
        tmp = tempfile.mkdtemp(prefix="sparring-cache-")
        try:
            out["convert"] = run_probe("convert", args, env={"SPARRING_CACHE": tmp})
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if "adapters" in only:
        bare = run_probe("adapters", args, mode="bare")
        five = run_probe("adapters", args, mode="adapters")
        ok = "error" not in bare and "error" not in five
        ratio = five["rss_after_generation_mib"] / bare["rss_after_generation_mib"] if ok else None
        out["adapters"] = {
            "bare": bare, "five_adapters": five,
            "ratio_resident_after_generation": round(ratio, 3) if ratio else None,
            "ratio_peak": round(five["peak_rss_mib"] / bare["peak_rss_mib"], 3) if ok else None,
            "target": f"ratio_resident_after_generation <= {ADAPTERS_RATIO_TARGET}",
            "met": ratio is not None and ratio <= ADAPTERS_RATIO_TARGET,
        }
    if "train" in only:
        out["train"] = {}
        for name in train_cases:
            recipe, extra = TRAIN_CASES[name]
            model = [] if args.model == "default" else [f"model.source={json.dumps(args.model)}"]
            out["train"][name] = run_probe("train", args, recipe=str(ROOT / recipe),
                                           overrides=json.dumps([*TRAIN_OVERRIDES, *extra, *model]))
    out["targets"] = [
        {"figure": figure, "value": value, "target": target, "met": met}
        for figure, value, target, met in _targets(out)
    ]
    text = json.dumps(out, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
