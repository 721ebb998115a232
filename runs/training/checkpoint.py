"""Checkpoints: adapter versions as peft folders, optimizer and loop state, written atomically.

Layout inside a run directory::

    adapters/<adapter>/v<N>/          peft adapter folder (safetensors) of version N
    checkpoints/iter-<K>/state.json   loop state after K completed iterations
    checkpoints/iter-<K>/updates.pt   optimizer states of every update (tensors and plain values
                                      only, read with ``weights_only=True``)
    checkpoints/LATEST                name of the newest complete checkpoint

Every folder is written under a temporary name and renamed into place, and ``LATEST``
is replaced last, so a crash mid-write leaves the previous checkpoint intact and
readable. Adapter weights are saved once per version and referenced, not copied.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from sparring.agents.pool import ModelPool
from sparring.runs import faults
from sparring.runs.storage.rundir import write_atomic


def adapter_dir(run: Path, adapter: str, version: int) -> Path:
    """``RUN/adapters/<adapter>/v<version>``."""
    return run / "adapters" / adapter / f"v{version}"


def save_adapter_version(pool: ModelPool, model: str, adapter: str, run: Path) -> Path:
    """Save the adapter's current version (once; an existing version folder is kept).

    A frozen snapshot ``name@vN`` is saved as version N of its source adapter.
    """
    info = pool.get(model).adapters[adapter]
    version = info.version
    target = adapter_dir(run, info.source if info.frozen and info.source else adapter, version)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".v{version}-", dir=target.parent))
    try:
        saved = pool.save_adapter(model, adapter, tmp)
        if saved != tmp:  # peft nests non-default adapters in a sub-folder
            for item in saved.iterdir():
                shutil.move(str(item), tmp / item.name)
            saved.rmdir()
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


ADAPTER_WEIGHTS = "adapter_model.safetensors"
"""The one file adapter weights load from; a pickled ``adapter_model.bin`` never loads."""


def pickled_adapter(folder: Path) -> str | None:
    """Why ``folder``'s adapter weights are refused (one line naming the file): it holds
    ``adapter_model.bin`` and no ``adapter_model.safetensors``. ``None`` otherwise."""
    if (folder / ADAPTER_WEIGHTS).is_file() or not (folder / "adapter_model.bin").exists():
        return None
    return (f"{folder / 'adapter_model.bin'} is a pickle and adapters load only from {ADAPTER_WEIGHTS} "
            "(unpickling can run code); re-save the adapter with peft's save_pretrained (safetensors by "
            "default) where you trust the file")


def load_adapter_weights(pool: ModelPool, model: str, adapter: str, folder: Path) -> None:
    """Load saved LoRA weights into an existing adapter of the pool (same shape), from
    ``adapter_model.safetensors`` only (see :func:`pickled_adapter`)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    refused = pickled_adapter(folder)
    if refused is not None:
        raise ValueError(refused)
    if not (folder / ADAPTER_WEIGHTS).is_file():
        raise FileNotFoundError(f"{folder} holds no saved peft adapter ({ADAPTER_WEIGHTS}); "
                                f"point it at a folder like RUN/adapters/{adapter}/v<N>")
    loaded = pool.get(model)
    weights = load_file(folder / ADAPTER_WEIGHTS, device="cpu")
    result = set_peft_model_state_dict(loaded.model, weights, adapter_name=adapter)
    unexpected = getattr(result, "unexpected_keys", []) or []
    if unexpected:
        raise ValueError(f"{folder} does not match adapter {adapter!r}: unexpected keys {unexpected[:3]}")
    loaded.weights_epoch += 1


def write_checkpoint(run: Path, iteration: int, state: dict[str, Any], updates: dict[str, Any], keep: int = 2) -> Path:
    """Write ``checkpoints/iter-<iteration>`` atomically and point ``LATEST`` at it."""
    root = run / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    name = f"iter-{iteration:04d}"
    target = root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        (tmp / "state.json").write_text(json.dumps(state, indent=2, sort_keys=True))
        torch.save(updates, tmp / "updates.pt")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    faults.point("checkpoint")
    write_atomic(root / "LATEST", name.encode())
    old = sorted(p for p in root.glob("iter-*") if p.is_dir() and p.name != name)
    for stale in old[: max(0, len(old) - (keep - 1))]:
        shutil.rmtree(stale, ignore_errors=True)
    return target


def read_checkpoint(run: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The newest complete checkpoint's ``(state, update states)``, or ``None``."""
    latest = run / "checkpoints" / "LATEST"
    if not latest.exists():
        return None
    folder = run / "checkpoints" / latest.read_text().strip()
    state = json.loads((folder / "state.json").read_text())
    return state, load_update_states(folder / "updates.pt")


def load_update_states(path: Path) -> dict[str, Any]:
    """Read ``updates.pt`` without unpickling: tensors, dicts, lists, tuples and plain
    values only (``torch.load(weights_only=True)``), which is all an update's
    :meth:`~sparring.agents.updates.base.Update.state_dict` holds (AdamW state dicts, step
    counts, names).

    Raises:
        ValueError: The file holds any other pickled object (one line naming it): it was not
            written by sparring, and unpickling it could run code.
    """
    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        what = f"a pickled {found.group(1)}" if found else "a pickled object that is not a tensor or plain value"
        raise ValueError(f"{path} holds {what}, which a sparring checkpoint never does; refusing to unpickle it "
                         f"(that could run code): restore the file this run wrote, or delete {path.parent.parent} "
                         "to train again from iteration 0") from None


def save_best(pool: ModelPool, model: str, adapter: str, run: Path, info: dict[str, Any]) -> Path:
    """Copy the adapter's current version to ``adapters/<adapter>/best`` with ``best.json``
    (``info``: the iteration, version and validation figure that chose it).

    The copy is built under a temporary name and renamed into place; the version folder
    it copies stays where it is, so a crash here loses nothing.
    """
    source = save_adapter_version(pool, model, adapter, run)
    target = source.parent / "best"
    tmp = Path(tempfile.mkdtemp(prefix=".best-", dir=source.parent))
    try:
        for item in source.iterdir():
            if item.is_file():
                shutil.copy2(item, tmp / item.name)
        (tmp / "best.json").write_text(json.dumps(info, indent=2, sort_keys=True))
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=".best-old-", dir=source.parent))
            os.replace(target, old / "best")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
