"""Memory: loading the embedded model, 5 roles on 5 adapters, and training the debate judge.

Prints one JSON object on stdout (library logs and progress go to stderr) and writes the
same JSON to ``--out`` when given. Every figure comes from its own fresh subprocess, so no
measurement inherits another's heap. Resident figures are the process's ``VmRSS``; peaks
are the kernel's high-water mark (``VmHWM``), read and reset at every phase change so each
phase gets its own exact peak (see :class:`Meter`). Figures include the interpreter with
torch and transformers imported (``rss_after_imports_mib``): that is what a process costs.

(1) ``load``: ``ModelPool.load("default", "default")`` with the cached safetensors folder
    already converted, for ``fp32`` and ``bf16`` (``dtype auto`` picks bf16 where the CPU
    computes it natively). Target: peak while loading <= 1.5x the resident set after
    loading. ``rss_after_generation_mib`` (after a short generation, which touches every
    weight) matters for fp32: with no cast, transformers maps the file and pages become
    resident only when first read, so fp32's resident set after loading understates it.
(1') ``convert``: first use, ``ModelPool.load`` with an empty (temporary) cache: the
    one-time GGUF -> safetensors conversion, then the load (dtype auto). Reported, no
    target. ``child_peak_rss_mib`` is the conversion's when it runs in a child process.
(2) ``adapters``: resident set after one generation of 32 rows (16 new tokens) holding 5
    roles on 5 adapters (rank 8, all linear layers, random B) vs one bare model doing the
    same generation. Target: ratio of resident sets <= 1.25; peaks reported too.
(3) ``train``: ``sparring.train(examples/debate.toml, ...)`` (the judge of the three-seat
    debate, GRPO) with 2 iterations x 4 matches, micro-batch 8, eval size 4. Target: peak
    <= 2.5 GB (2.5e9 bytes). Phases: load (Trainer construction), play, build,
    update:forward (each micro-batch's loss), update (the rest of an iteration: backward
    passes, optimizer steps, saving adapters), eval, checkpoint.

Usage: python benchmarks/memory.py [--out docs/memory.json] [--only load,convert,adapters,train]
       [--threads 2] [--model default] [--note TEXT]

To measure another checkout of the package (e.g. a baseline worktree), put a folder that
maps ``sparring`` to it first on ``PYTHONPATH``; the JSON records where ``sparring`` was
imported from (``sparring_path``) and the ``PYTHONPATH`` used (``command``).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from machine_info import machine  # a sibling script: benchmarks/ is sys.path[0] when run

MIB = 2**20
ROOT = Path(__file__).resolve().parent.parent
LOAD_RATIO_TARGET = 1.5
ADAPTERS_RATIO_TARGET = 1.25
TRAIN_PEAK_TARGET_MIB = 2.5e9 / MIB
TRAIN_OVERRIDES = [
    "train.matches_per_iteration=4",
    "train.iterations=2",
    "train.micro_batch_size=8",
    "eval.size=4",
]


# -- measuring (in the child) ------------------------------------------------------------
def status_mib(key: str) -> float:
    """A ``kB`` field of ``/proc/self/status`` (``VmRSS``, ``VmHWM``, ``RssAnon``...) in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(key)


class Meter:
    """Peak resident set per phase of a run.

    Exact where the kernel allows it: at every phase change the high-water mark
    (``VmHWM``) is read, credited to the phase that just ran, and reset by writing ``5``
    to ``/proc/self/clear_refs``. Where that file is not writable, a thread sampling
    ``VmRSS`` every 5 ms gives the per-phase figures instead (short spikes can be missed).
    :meth:`peak` is the largest of all, the process's peak since the meter started.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.phase = "other"
        self.peaks: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.exact = self._reset()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(interval,), daemon=True)

    @staticmethod
    def _reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def _credit(self, phase: str, mib: float) -> None:
        if mib > self.peaks.get(phase, 0.0):
            self.peaks[phase] = mib

    def _close_interval(self) -> None:
        """Credit the interval since the last phase change to the current phase."""
        if self.exact:
            self._credit(self.phase, status_mib("VmHWM"))
            self._reset()
        else:
            self._credit(self.phase, status_mib("VmRSS"))

    def _sample(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._credit(self.phase, status_mib("VmRSS"))

    def __enter__(self) -> Meter:
        if not self.exact:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self._close_interval()

    def peak(self, phase: str | None = None) -> float:
        """Peak RSS (MiB) of ``phase`` (all calls), or of the whole run so far."""
        self._close_interval()
        if phase is not None:
            return max(v for k, v in self.peaks.items() if k.split("#")[0] == phase)
        return max(self.peaks.values())

    @contextlib.contextmanager
    def during(self, phase: str, numbered: bool = False) -> Iterator[None]:
        """Credit the block to ``phase`` (``phase#N`` for the N-th call if ``numbered``).

        Phases nest: the enclosing phase resumes after the block.
        """
        self.calls[phase] = self.calls.get(phase, 0) + 1
        label = f"{phase}#{self.calls[phase]}" if numbered else phase
        self._close_interval()
        outer, self.phase = self.phase, label
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._close_interval()
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0
            self.phase = outer

    def wrap(self, owner: Any, method: str, phase: str, numbered: bool = False) -> None:
        """Credit every call of ``owner.method`` to ``phase`` (skipped if it does not exist)."""
        fn = getattr(owner, method, None)
        if fn is None:
            return

        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            with self.during(phase, numbered):
                return fn(*args, **kwargs)

        setattr(owner, method, wrapped)

    def report(self) -> dict[str, Any]:
        """Per-phase peaks and seconds, and the phase holding the largest peak."""
        self._close_interval()
        peaks = {k: round(v, 1) for k, v in self.peaks.items()}
        return {"phase_peak_rss_mib": peaks, "phase_seconds": {k: round(v, 2) for k, v in self.seconds.items()},
                "peak_phase": max(peaks, key=peaks.__getitem__) if peaks else None,
                "phase_peaks_exact": self.exact}


def _requests(n: int, adapters: list[str | None], new_tokens: int) -> list[Any]:
    from sparring.agents.builtin_roles import solver
    from sparring.agents.engines.base import GenerationRequest

    role = solver()
    sampling = role.sampling.updated(max_new_tokens=new_tokens)
    return [GenerationRequest(role.render(f"What is {10 + 3 * i} + {20 + 7 * i}?"), adapters[i % len(adapters)],
                              sampling, i) for i in range(n)]


def _parameters_mib(model: Any) -> float:
    return sum(p.numel() * p.element_size() for p in model.parameters()) / MIB


def probe_load(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """Load the model with the given dtype; peak while loading vs resident after."""
    from sparring.agents.engines.hf import HFEngine
    from sparring.agents.pool import ModelPool

    before = status_mib("VmRSS")
    t0 = time.perf_counter()
    with meter.during("load"):
        loaded = ModelPool(dtype=args.dtype).load("default", args.model)
    seconds = time.perf_counter() - t0
    peak, after = meter.peak(), status_mib("VmRSS")
    anon, file = status_mib("RssAnon"), status_mib("RssFile")
    with meter.during("generate"):
        HFEngine(loaded, max_batch_size=4).generate(_requests(4, [None], 8))
    ratio = peak / after
    return {
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "seconds": round(seconds, 2),
        "rss_after_imports_mib": round(before, 1),
        "peak_rss_load_mib": round(peak, 1),
        "rss_after_load_mib": round(after, 1),
        "rss_after_load_anon_mib": round(anon, 1),
        "rss_after_load_file_mib": round(file, 1),
        "rss_after_generation_mib": round(status_mib("VmRSS"), 1),
        "parameters_mib": round(_parameters_mib(loaded.model), 1),
        "ratio_peak_over_resident": round(ratio, 3),
        "target": f"peak_rss_load_mib <= {LOAD_RATIO_TARGET} x rss_after_load_mib",
        "met": ratio <= LOAD_RATIO_TARGET,
    }


def probe_convert(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """First use: convert the GGUF (into ``$SPARRING_CACHE``, a temporary folder), then load."""
    from sparring.agents.pool import ModelPool

    before = status_mib("VmRSS")
    t0 = time.perf_counter()
    with meter.during("convert_and_load"):
        loaded = ModelPool(dtype=args.dtype).load("default", args.model)
    folder = Path(loaded.model.name_or_path)
    # Children this process waited for (a conversion run in a child process).
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    caller = meter.peak()
    return {
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "seconds": round(time.perf_counter() - t0, 2),
        "rss_after_imports_mib": round(before, 1),
        "peak_rss_mib": round(max(caller, child), 1),
        "caller_peak_rss_mib": round(caller, 1),
        "child_peak_rss_mib": round(child, 1),
        "rss_after_load_mib": round(status_mib("VmRSS"), 1),
        "folder_mib": round(sum(f.stat().st_size for f in folder.iterdir()) / MIB, 1),
        "target": "none (reported; the load target applies to the normal load of the cached folder)",
    }


def probe_adapters(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """Load, add 5 adapters (``adapters`` mode) or none (``bare``), generate 32 rows."""
    from sparring.agents.engines.hf import HFEngine
    from sparring.agents.pool import ModelPool

    with meter.during("load"):
        pool = ModelPool(dtype=args.dtype)
        loaded = pool.load("default", args.model)
    after_load = status_mib("VmRSS")
    adapters: list[str | None] = [None]
    with meter.during("adapters"):
        if args.mode == "adapters":
            adapters = [f"role{i}" for i in range(5)]
            for i, name in enumerate(adapters):
                pool.add_adapter("default", name, init="random", seed=i)
    after_adapters = status_mib("VmRSS")
    with meter.during("generate"):
        HFEngine(loaded, max_batch_size=32).generate(_requests(32, adapters, 16))
    return {
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "rss_after_load_mib": round(after_load, 1),
        "rss_after_adapters_mib": round(after_adapters, 1),
        "rss_after_generation_mib": round(status_mib("VmRSS"), 1),
        "peak_rss_mib": round(meter.peak(), 1),
        "parameters_mib": round(_parameters_mib(loaded.model), 1),
    }


def probe_train(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """Train the debate judge (examples/debate.toml) for 2 iterations x 4 matches."""
    import importlib

    import sparring

    trainer = importlib.import_module("sparring.runs.train").Trainer
    for method, phase in (("__init__", "load"), ("iteration", "update"), ("play", "play"), ("build", "build"),
                          ("evaluate", "eval"), ("_checkpoint", "checkpoint")):
        meter.wrap(trainer, method, phase, numbered=phase != "build")
    # Inside an update: the forward of each micro-batch (policy and reference log-probs, the
    # loss); the rest of "update" is backward passes, optimizer steps and saving adapters.
    from sparring.agents.updates import Update
    from sparring.agents.updates import step as _steps  # noqa: F401  (defines the subclasses)

    todo = list(Update.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "_micro_loss" in vars(cls):
            meter.wrap(cls, "_micro_loss", "update:forward")
    recipe = ROOT / "examples" / "debate.toml"
    with tempfile.TemporaryDirectory(prefix="sparring-memory-") as tmp:
        t0 = time.perf_counter()
        reports = sparring.train(recipe, Path(tmp) / "run", overrides=TRAIN_OVERRIDES, progress=False,
                                 log=lambda msg: print(msg, file=sys.stderr))
        seconds = time.perf_counter() - t0
        config = Path(tmp) / "run" / "config.toml"
        dtype = tomllib.loads(config.read_text())["model"]["dtype"] if config.exists() else None
    peak = meter.peak()
    return {
        "recipe": str(recipe.relative_to(ROOT)),
        "overrides": TRAIN_OVERRIDES,
        "dtype": dtype,
        "iterations": len(reports),
        "seconds": round(seconds, 1),
        "iteration_seconds": [{k: round(v, 1) for k, v in r.seconds.items()} for r in reports],
        "peak_rss_mib": round(peak, 1),
        "rss_after_mib": round(status_mib("VmRSS"), 1),
        "target": f"peak_rss_mib <= {TRAIN_PEAK_TARGET_MIB:.1f} (2.5 GB)",
        "met": peak <= TRAIN_PEAK_TARGET_MIB,
    }


PROBES: dict[str, Callable[[argparse.Namespace, Meter], dict[str, Any]]] = {
    "load": probe_load, "convert": probe_convert, "adapters": probe_adapters, "train": probe_train,
}


def child(args: argparse.Namespace) -> None:
    """Run one probe in this (fresh) process and print its JSON as the only stdout line."""
    stdout = os.dup(1)
    os.dup2(2, 1)  # anything a library prints goes to stderr; the JSON goes to the real stdout
    sys.stdout = sys.stderr
    import torch
    import transformers  # noqa: F401  (counted in rss_after_imports_mib, like in any user process)

    import sparring

    torch.set_num_threads(args.threads)
    with Meter() as meter:
        result = PROBES[args.probe](args, meter)
    result.update(meter.report())
    result["sparring_path"] = str(Path(sparring.__file__).resolve().parent.parent)
    result["threads"] = torch.get_num_threads()
    os.write(stdout, (json.dumps(result) + "\n").encode())


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
    train = out.get("train")
    if train is not None:
        yield "train.peak_rss_mib", train.get("peak_rss_mib"), f"<= {TRAIN_PEAK_TARGET_MIB:.1f}", bool(train.get("met"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--only", default="load,convert,adapters,train",
                        help="comma-separated subset of load, convert, adapters, train")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="default")
    parser.add_argument("--note", help="recorded as is (e.g. how a baseline checkout was put on PYTHONPATH)")
    parser.add_argument("--probe", choices=sorted(PROBES), help=argparse.SUPPRESS)
    parser.add_argument("--dtype", default="auto", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="bare", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        child(args)
        return
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(PROBES))
    if unknown:
        parser.error(f"unknown measurement {unknown[0]!r}; choose from {', '.join(PROBES)}")
    prefix = f"PYTHONPATH={os.environ['PYTHONPATH']} " if os.environ.get("PYTHONPATH") else ""
    out: dict[str, Any] = {
        "benchmark": "memory",
        "command": prefix + shlex.join(["python", *sys.argv]),
        "threads": args.threads,
        "model": args.model,
        "machine": machine(),
        "versions": versions(),
        "unit": "MiB (2**20 bytes) of resident memory of the whole process",
    }
    if args.note:
        out["note"] = args.note
    if "load" in only or "adapters" in only or "train" in only:
        # Make sure the normal cache exists (the loads below must not convert); records what auto picks.
        out["dtype_auto"] = run_probe("convert", args).get("dtype")
    if "load" in only:
        out["load"] = {name: run_probe("load", args, dtype=name) for name in ("fp32", "bf16")}
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
        out["train"] = run_probe("train", args)
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
