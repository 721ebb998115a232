"""The collapse guard (``[guard]``): stop, or roll back and slow down, when self-training drifts.

Label-free self-training can run away from itself: samples agree more and more (right or
wrong), token entropy falls, replies lengthen or repeat. Its curves peak early and then
fall below the start. The guard watches, after each iteration:

* **monitors** named in ``guard.below`` / ``guard.above``: any iteration metric, e.g. a
  seat's ``<seat>/entropy``, ``<seat>/distinct``, ``<seat>/distinct_2`` (distinct-n),
  ``<seat>/length`` or the mean of an
  agreement reward (``reward/<reward>/<seat>``: agreement saturation). None reads a label.
* **validation** (``guard.validation``): the selection metric (``eval.metric`` on the
  validation split) fell below the best so far by more than its 95% interval (its upper
  bound is under the best). Test figures are never read.

On an alarm, ``action = "rollback"`` loads each trained adapter's **last good version**
(the newest version whose monitors were seen and passed: a monitor measures the version
that *played* the iteration, before its update) as a new version (version folders are
never overwritten), clears the optimizer's moments (they point along the path rolled
back) and multiplies the learning rate by ``lr_factor``; after ``max_rollbacks``
roll-backs the next alarm stops. ``action = "stop"`` ends training (the final test and
validation-selected figures are still reported).

Every action is logged: metrics ``guard/rollback`` or ``guard/stop`` (1 at that iteration),
``guard/rollbacks`` (so far), ``guard/lr_scale`` and ``guard/crossed/<metric>`` (the value
that crossed); a store record (``events`` table, kind ``guard``) with the reasons and
versions; ``sparring show`` and the viewer's *Guard* charts show them. The guard's state
(last good versions, roll-backs, stopped) is in the checkpoint and the learning-rate
scale in each update's state, and its decisions read only stored, deterministic figures,
so a run killed anywhere resumes to the same adapters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sparring.runs.training.checkpoint import (
    adapter_dir,
    load_adapter_weights,
    save_adapter_version,
)
from sparring.runs.training.heldout import MODEL

if TYPE_CHECKING:
    from sparring.runs.recipes.sections import GuardSection


def alarms(section: GuardSection, metrics: dict[str, float], validation: tuple[str, dict[str, Any] | None, str],
           ) -> dict[str, tuple[float, str]]:
    """Metrics that crossed a threshold: ``{name: (value, "below 0.2")}``.

    ``validation`` is ``(selection key, best so far, mode)``: with ``guard.validation`` the
    key's value alarms when its 95% upper bound (lower bound, for ``min``) is on the wrong
    side of the best value.

    >>> from sparring.runs.recipes.sections import GuardSection
    >>> alarms(GuardSection(below={"s/entropy": 0.2}), {"s/entropy": 0.1}, ("", None, "max"))
    {'s/entropy': (0.1, 'below 0.2')}
    """
    out: dict[str, tuple[float, str]] = {}
    for name, threshold in section.below.items():
        if name in metrics and metrics[name] < threshold:
            out[name] = (metrics[name], f"below {threshold:g}")
    for name, threshold in section.above.items():
        if name in metrics and metrics[name] > threshold:
            out[name] = (metrics[name], f"above {threshold:g}")
    key, best, mode = validation
    if section.validation and best is not None and key in metrics:
        bound = metrics.get(f"{key}/ci_high" if mode == "max" else f"{key}/ci_low", metrics[key])
        if (bound < best["value"]) if mode == "max" else (bound > best["value"]):
            out[key] = (metrics[key], f"fell from the best {best['value']:.3g} (iteration {best['iteration']}) "
                                      "by more than its interval")
    return out


class GuardMixin:
    """The trainer's collapse guard (a mixin of :class:`~sparring.runs.training.train.Trainer`, which
    supplies the pool, store, run directory, updates, held-out plan and best)."""

    guard_state: dict[str, Any]

    def guard_start(self) -> dict[str, Any]:
        """The state before training: the initial versions are good (saved, to roll back to)."""
        versions = self._trained_versions()  # type: ignore[attr-defined]
        if self.recipe.guard.active:  # type: ignore[attr-defined]
            for adapter in versions:
                save_adapter_version(self.pool, MODEL, adapter, self.run.path)  # type: ignore[attr-defined]
        return {"good": versions, "rollbacks": 0, "stopped": False}

    @property
    def guard_stopped(self) -> bool:
        """Whether the guard ended training."""
        return bool(self.guard_state["stopped"])

    def guard_check(self, iteration: int, metrics: dict[str, float], played: dict[str, int],
                    warnings: list[str]) -> dict[str, float]:
        """Check iteration ``iteration``'s metrics (its matches were played by ``played``);
        act on an alarm; return the ``guard/...`` metrics (empty when nothing is watched)."""
        section = self.recipe.guard  # type: ignore[attr-defined]
        if not section.active:
            return {}
        state = self.guard_state
        key = self.held_out.selection_key(self.recipe.eval.metric) if self.held_out.validation else ""  # type: ignore[attr-defined]
        crossed = alarms(section, metrics, (key, self.best, self.recipe.eval.mode))  # type: ignore[attr-defined]
        out = {f"guard/crossed/{name}": value for name, (value, _) in crossed.items()}
        if not crossed:
            state["good"] = dict(played)
        else:
            reasons = [f"{name} {value:.3g} {why}" for name, (value, why) in crossed.items()]
            stop = section.action == "stop" or state["rollbacks"] >= section.max_rollbacks
            detail: dict[str, Any] = {"action": "stop" if stop else "rollback", "reasons": reasons,
                                      "versions": self._trained_versions()}  # type: ignore[attr-defined]
            if stop:
                state["stopped"] = True
                out["guard/stop"] = 1.0
                warnings.append(f"collapse guard: stopping after iteration {iteration + 1} ({'; '.join(reasons)})")
            else:
                detail["to"] = self._roll_back(state["good"], section.lr_factor)
                state["rollbacks"] += 1
                out["guard/rollback"] = 1.0
                warnings.append(f"collapse guard: rolled back to versions {state['good']} as "
                                f"{detail['to']}, learning rate x{section.lr_factor:g} ({'; '.join(reasons)})")
            self.store.add_event(iteration, "guard", detail)  # type: ignore[attr-defined]
        scales = [u.lr_scale for a, u in self.updates.items() if a in played]  # type: ignore[attr-defined]
        out.update({"guard/rollbacks": float(state["rollbacks"]), "guard/lr_scale": min(scales, default=1.0)})
        return out

    def _roll_back(self, good: dict[str, int], lr_factor: float) -> dict[str, int]:
        """Load each adapter's good version as a new version; returns the new versions."""
        new = {}
        for adapter, version in good.items():
            load_adapter_weights(self.pool, MODEL, adapter, adapter_dir(self.run.path, adapter, version))  # type: ignore[attr-defined]
            new[adapter] = self.pool.bump_version(MODEL, adapter)  # type: ignore[attr-defined]
            save_adapter_version(self.pool, MODEL, adapter, self.run.path)  # type: ignore[attr-defined]
            update = self.updates.get(adapter)  # type: ignore[attr-defined]
            if update is not None:
                update.reset_optimizer()
                update.lr_scale *= lr_factor
        return new
