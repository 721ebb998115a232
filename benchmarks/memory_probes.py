"""The probes of ``benchmarks/memory.py``, each run in a fresh child process.

Each probe measures one thing (loading, five adapters, training a recipe) under a
:class:`~memory_meter.Meter` and :func:`child` prints its JSON as the only line on the
real standard output (library output goes to standard error).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from memory_meter import Meter, status_mib  # a sibling script: benchmarks/ is sys.path[0] when run

MIB = 2**20
ROOT = Path(__file__).resolve().parent.parent
LOAD_RATIO_TARGET = 1.5
TRAIN_PEAK_TARGET_MIB = 2.5e9 / MIB


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


def _wrap_update_phases(meter: Meter) -> None:
    """Credit an update's log-prob forward, backward and optimizer step to their own phases.

    The forward is each micro-batch's ``_micro_loss`` (policy and reference log-probs, the
    loss); the backward every ``Tensor.backward`` call; the optimizer gradient clipping and
    ``Optimizer.step`` (wrapped on the class before any optimizer exists).
    """
    import torch

    from sparring.agents.updates import Update
    from sparring.agents.updates import step as _steps  # noqa: F401  (defines the subclasses)

    todo = list(Update.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if "_micro_loss" in vars(cls):
            meter.wrap(cls, "_micro_loss", "logprob_forward")
    meter.wrap(torch.Tensor, "backward", "backward")
    meter.wrap(torch.nn.utils, "clip_grad_norm_", "optimizer")
    meter.wrap(torch.optim.AdamW, "step", "optimizer")


def probe_train(args: argparse.Namespace, meter: Meter) -> dict[str, Any]:
    """Train ``args.recipe`` with ``args.overrides``; peak RSS per phase.

    Phases: load (Trainer construction: model, adapters), generation (playing the
    iteration's matches), build (training data), logprob_forward, backward, optimizer,
    evaluation (held-out matches), checkpoint, and iteration_other (the rest of an
    iteration: saving adapters, bookkeeping).
    """
    import importlib

    import sparring

    trainer = importlib.import_module("sparring.runs.training.train").Trainer
    for method, phase in (("__init__", "load"), ("iteration", "iteration_other"), ("play", "generation"),
                          ("build", "build"), ("evaluate", "evaluation"), ("_checkpoint", "checkpoint")):
        meter.wrap(trainer, method, phase)
    _wrap_update_phases(meter)
    recipe = Path(args.recipe)
    overrides = json.loads(args.overrides)
    with tempfile.TemporaryDirectory(prefix="sparring-memory-") as tmp:
        t0 = time.perf_counter()
        reports = sparring.train(recipe, Path(tmp) / "run", overrides=overrides, progress=False,
                                 log=lambda msg: print(msg, file=sys.stderr))
        seconds = time.perf_counter() - t0
        config = Path(tmp) / "run" / "config.toml"
        dtype = tomllib.loads(config.read_text())["model"]["dtype"] if config.exists() else None
    peak = meter.peak()
    return {
        "recipe": str(recipe.resolve().relative_to(ROOT)),
        "overrides": overrides,
        "dtype": dtype,
        "iterations": len(reports),
        "seconds": round(seconds, 1),
        "iteration_seconds": [{k: round(v, 1) for k, v in r.seconds.items()} for r in reports],
        "updates": [{seat: {k: m[k] for k in ("samples", "tokens", "groups", "micro_batches") if k in m}
                     for seat, m in r.updated.items()} for r in reports],
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


