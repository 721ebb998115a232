"""The loop of :func:`~sparring.runs.training.train.train`: the base evaluation, the iterations with
one summary line each, the stops (early stopping on validation, the collapse guard) and
the test figures still owed at the end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.markup import escape

from sparring.arenas.failures import crash_key, user_traceback
from sparring.rewards.metrics import is_interval_key

if TYPE_CHECKING:
    from sparring.runs.recipes.recipe import Recipe
    from sparring.runs.training.train import IterationReport, Trainer


def iterate(trainer: Trainer, recipe: Recipe, reports: list[IterationReport], log: Callable[[str], None],
            progress: bool, *, debug: bool = False) -> None:
    """The iterations of :func:`~sparring.runs.training.train.train`, logging one summary line each
    (and where errored matches broke, each distinct crash once; every frame with ``debug``)."""
    shown: set[tuple[str, str, str]] = set()
    before = {name: value for i, name, value in trainer.store.metrics() if i == -1}
    if trainer.start == 0 and before and trainer.best is None:
        trainer.select(0, before)  # killed after the base evaluation, before any checkpoint
    if trainer.start == 0 and not before:
        log(trainer.held_out.describe())
        base = trainer.evaluate(0)
        base.update(trainer.select(0, base))
        trainer.store.add_metrics(-1, base)
        log(f"[bold]before training[/]: {_fmt({k: v for k, v in base.items() if not is_interval_key(k)})}")
        _log_crashes(trainer, log, shown, debug)
    started = time.perf_counter()
    for it in range(trainer.start, recipe.train.iterations):
        if trainer.guard_stopped:
            log("[bold]stopped by the collapse guard[/] (see 'sparring show' or the events table)")
            break
        if trainer.should_stop():
            best = trainer.best or {}
            log(f"[bold]stopped early[/]: no new best on validation in {recipe.eval.patience} evaluations; "
                f"the best is iteration {best.get('iteration')} (adapters/<adapter>/best)")
            break
        report = trainer.iteration(it)
        reports.append(report)
        trainer.completed = it + 1
        done = it + 1 - trainer.start
        eta = (time.perf_counter() - started) / done * (recipe.train.iterations - it - 1)
        if progress:
            keys = [k for k in report.metrics if k.startswith(("reward/", "eval/", "validation/"))
                    and not is_interval_key(k)]
            losses = {f"{a}.loss": m.get("loss", float("nan")) for a, m in report.updated.items()}
            log(f"[bold]iteration {it + 1}/{recipe.train.iterations}[/] "
                f"{_fmt({k: report.metrics[k] for k in keys})} {_fmt(losses)} "
                f"tokens/s={report.metrics.get('play/tokens_per_s', 0):.0f} "
                f"time={_fmt(report.seconds)} ETA {eta / 60:.1f} min")
            for w in report.warnings:
                log(f"[yellow]warning[/]: {w}")
        _log_crashes(trainer, log, shown, debug)

    finished = trainer.finish(trainer.completed)
    if finished and progress:
        log(f"[bold]selected[/] (validation): {_fmt({k: v for k, v in finished.items() if k.startswith('select/') and not is_interval_key(k)})}")


def _log_crashes(trainer: Trainer, log: Callable[[str], None], shown: set[tuple[str, str, str]],
                 debug: bool) -> None:
    """Where the matches played since the last call broke: each crash not logged before in this run."""
    for crash in trainer.crashes:
        key = crash_key(crash)
        if key not in shown:
            shown.add(key)
            log(f"[red]a match crashed[/]: {escape(user_traceback(crash, full=debug))}")
    trainer.crashes.clear()  # also frees their frames


def _fmt(values: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3g}" for k, v in values.items())
