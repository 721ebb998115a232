"""Standalone evaluation: the base model or any saved adapter on a task family's split,
and two of them compared on the same items (``sparring eval``).

A target is ``base`` (the adapter off), a saved adapter folder (``RUN/adapters/solver/v3``,
``RUN/adapters/solver/best``) or a training run directory (its one trained adapter:
``best`` when the run kept one, else the newest version). The model is the run's when a
target belongs to a run, else ``--model``.

Items are the first ``size`` distinct items of the split's fixed enumeration
(:meth:`TaskFamily.pool`), so every target, every run and every later evaluation of the
same family, split and difficulty sees the same items. Greedy pass@1 by default; with
``k > 1`` each item is answered ``k`` times at ``temperature`` (match seeds ``i + j * P``
all play item ``i``) and pass@k (any right) and sampled accuracy (mean over samples) are
reported. With two targets the comparison is paired on the items: difference, paired
bootstrap interval and McNemar's exact test.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparring.rewards.intervals import mean_interval, paired

MODEL = "default"
ADAPTER_FILE = "adapter_model.safetensors"


@dataclass(frozen=True)
class Target:
    """What one evaluated side plays: the base model or a saved adapter folder."""

    label: str
    folder: Path | None
    run: Path | None


def resolve_target(text: str) -> Target:
    """``base``, an adapter folder or a run directory as a :class:`Target` (one-line errors)."""
    if text == "base":
        return Target("base", None, None)
    path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{text}: no such run or adapter folder (give base, RUN, or RUN/adapters/NAME/vN)")
    if (path / "adapter_config.json").exists():
        run = path.parents[2] if len(path.parents) > 2 and path.parents[1].name == "adapters" else None
        return Target(text, path, run if run is not None and (run / "recipe.toml").exists() else None)
    adapters = path / "adapters"
    if not adapters.is_dir():
        raise ValueError(f"{text}: neither a saved adapter folder (adapter_config.json) nor a run directory "
                         "(adapters/); give base, RUN, or RUN/adapters/NAME/vN")
    names = sorted(p.name for p in adapters.iterdir() if p.is_dir())
    if len(names) != 1:
        choices = ", ".join(f"{text}/adapters/{n}/best" for n in names) or "none saved yet"
        raise ValueError(f"{text}: the run has {len(names)} adapters; name one folder instead ({choices})")
    folder = adapters / names[0] / "best"
    if not folder.is_dir():
        versions = sorted((p for p in (adapters / names[0]).glob("v*") if p.name[1:].isdigit()),
                          key=lambda p: int(p.name[1:]))
        if not versions:
            raise ValueError(f"{text}: adapter {names[0]!r} has no saved version yet")
        folder = versions[-1]
    return Target(f"{text} ({names[0]}/{folder.name})", folder, path)


def run_model(targets: Sequence[Target], model: str | None) -> str:
    """The base model every target shares: ``--model``, else the targets' runs' recipe."""
    sources = set()
    for target in targets:
        if target.run is not None:
            recipe = tomllib.loads((target.run / "recipe.toml").read_text())
            sources.add(recipe.get("model", {}).get("source", "default"))
    if model is not None:
        return model
    if len(sources) > 1:
        raise ValueError(f"the targets come from runs on different models ({', '.join(sorted(sources))}); "
                         "compare adapters of one base model, or pass --model")
    return sources.pop() if sources else "default"


def evaluate_targets(targets: Sequence[Target], *, family: str, split: str = "test",
                     difficulty: int | Sequence[int] = 1, size: int = 500, k: int = 1,
                     temperature: float | None = None, max_new_tokens: int | None = None,
                     model: str | None = None, dtype: str = "auto", batch_size: int = 32,
                     progress: bool = False) -> dict[str, Any]:
    """Evaluate each target on the same items; see the module docs. Returns a JSON-able dict."""
    from sparring.arenas.builtin.task_eval import TaskEval

    if not 1 <= len(targets) <= 2:
        raise ValueError("give one target, or two to compare (--against)")
    if k < 1:
        raise ValueError(f"--k {k}: must be >= 1")
    if size < 1:
        raise ValueError(f"--size {size}: must be >= 1")
    temperature = (0.7 if k > 1 else 0.0) if temperature is None else temperature
    if k > 1 and temperature == 0:
        raise ValueError(f"--k {k} samples per item need --temperature > 0 (greedy samples are all alike)")
    arena = TaskEval(family=family, difficulty=difficulty, split=split)
    available = arena.distinct_items() or 0
    if size > available:
        raise ValueError(f"--size {size}: family {family!r} holds {available} distinct {arena.split} items at "
                         f"difficulty {list(arena.difficulty)}; lower --size to at most {available} or widen "
                         "--difficulty")
    source = run_model(targets, model)
    played = _Played(source, dtype, batch_size, targets)  # the model loads once for both targets
    try:
        results = {t.label: played.play(i, t, arena, size, k, temperature, max_new_tokens, progress)
                   for i, t in enumerate(targets)}
    finally:
        played.close()
    out: dict[str, Any] = {
        "family": family, "split": arena.split, "difficulty": list(arena.difficulty), "model": source,
        "k": k, "temperature": temperature, "max_new_tokens": max_new_tokens,
        "n_items": size, "n_distinct": len({key for r in results.values() for key in r["keys"]}),
        "targets": {label: _summary(r, k) for label, r in results.items()},
    }
    if len(targets) == 2:
        first, second = (results[t.label] for t in targets)
        metric = "pass_at_k" if k > 1 else "accuracy"
        comparison = paired(first[metric], second[metric])
        out["comparison"] = {"first": targets[0].label, "second": targets[1].label, "metric": metric,
                             **comparison, "note": "second - first on the same items; paired bootstrap 95% "
                                                   "interval, McNemar exact p"}
    return out


def _summary(result: dict[str, Any], k: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric in ("accuracy", *(("pass_at_k",) if k > 1 else ())):
        values = result[metric]
        low, high = mean_interval(values)
        out[metric] = {"value": sum(values) / len(values), "ci_low": low, "ci_high": high, "n_items": len(values)}
    out["truncated"] = result["truncated"]
    return out


class _Played:
    """One model and engine for every target; each target a saved adapter (or none)."""

    def __init__(self, source: str, dtype: str, batch_size: int, targets: Sequence[Target]) -> None:
        from sparring.agents.pool import ModelPool
        from sparring.agents.roles import Role
        from sparring.runs.playing.play import add_adapters, read_adapter_folder
        from sparring.runs.recipes.machine import make_run_engine
        from sparring.runs.recipes.recipe import ModelSection

        self.pool = ModelPool(dtype=dtype)
        loaded = self.pool.load(MODEL, source)
        self.adapters = {i: f"target{i}" for i, t in enumerate(targets) if t.folder is not None}
        if self.adapters:
            add_adapters(self.pool, {name: Role(name=name, model=MODEL, adapter=name) for name in self.adapters.values()},
                         {name: read_adapter_folder(name, targets[i].folder) for i, name in self.adapters.items()})
        self.engine = make_run_engine(ModelSection(source=source, dtype=dtype, batch_size=batch_size), loaded)
        self.batch_size = batch_size

    def close(self) -> None:
        getattr(self.engine, "close", lambda: None)()

    def play(self, index: int, target: Target, arena: Any, size: int, k: int, temperature: float,
             max_new_tokens: int | None, progress: bool) -> dict[str, Any]:
        """Per-item results of ``target`` on the first ``size`` items, ``k`` samples each."""
        from sparring.arenas.runner import Runner, bind_roles
        from sparring.runs.progress import progress_bar

        sampling: dict[str, Any] = {"temperature": temperature}
        if max_new_tokens is not None:
            sampling["max_new_tokens"] = max_new_tokens
        role = bind_roles(arena, None)["solver"].bind(model=MODEL, adapter=self.adapters.get(index), **sampling)
        runner = Runner({MODEL: self.engine}, {"solver": role}, max_in_flight=max(64, self.batch_size * 2))
        pool_size = arena.distinct_items()
        seeds = [i + j * pool_size for j in range(k) for i in range(size)]
        transcripts: list[Any] = []
        if progress:
            with progress_bar() as bar:
                task = bar.add_task(f"evaluating {target.label}", total=len(seeds))
                runner.play(arena, seeds, on_finish=lambda t: (transcripts.append(t), bar.advance(task)))
        else:
            runner.play(arena, seeds, on_finish=transcripts.append)
        return _per_item(transcripts, pool_size)


def _per_item(transcripts: list[Any], pool_size: int) -> dict[str, Any]:
    by_item: dict[int, list[bool]] = defaultdict(list)
    keys: dict[int, str] = {}
    cut = 0
    for transcript in transcripts:
        index = transcript.seed % pool_size
        outcome = transcript.outcome or {}
        by_item[index].append(bool(outcome.get("correct")) if transcript.status == "finished" else False)
        keys[index] = outcome.get("item_key", str(index))
        cut += sum(1 for u in transcript.turns if len(u.token_ids) >= _cap(transcript))
    order = sorted(by_item)
    return {"accuracy": [sum(by_item[i]) / len(by_item[i]) for i in order],
            "pass_at_k": [float(any(by_item[i])) for i in order],
            "keys": [keys[i] for i in order], "truncated": cut}


def _cap(t: Any) -> int:
    """The solver's generation cap recorded in a transcript (replies that reach it were cut)."""
    return int(t.roles["solver"]["sampling"]["max_new_tokens"])
