"""How much learning signal a qa-verify training run's solver rewards carry.

Reads the training matches (not the held-out ``eval-`` ones) of one or more run
directories and prints one JSON object per run:

* per iteration: mean of ``solver_truth`` and ``solver_verdict``, the share of matches
  whose solver group has any spread in each reward (a GRPO group without spread gives no
  gradient), the share of solver replies that parse, and the mean reply length in tokens;
* overall: how well the verifier's verdict (the self-play reward) tracks the programmatic
  truth on the solver's actual replies: precision, recall and false-positive rate.

Usage: python benchmarks/reward_signal.py out/curve/selfplay out/curve/truth
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from statistics import mean
from typing import Any

from sparring.runs.storage.store import Store

REWARDS = ("solver_truth", "solver_verdict")


def _solver_values(t: Any, reward: str) -> dict[int | None, float]:
    return {r.turn: r.value for r in t.rewards if r.reward == reward and r.role == "solver"}


def reward_signal(run: str | Path) -> dict[str, Any]:
    """Signal statistics of one run directory (see module docs)."""
    by_iteration: dict[int, list[Any]] = defaultdict(list)
    with Store(Path(run) / "store.sqlite") as store:
        for t in store.transcripts():
            if not t.match_id.startswith(("eval-", "future-")) and t.status == "finished":
                by_iteration[t.iteration].append(t)
    iterations, pairs = [], []
    for it in sorted(by_iteration):
        rows: dict[str, list[float]] = defaultdict(list)
        for t in by_iteration[it]:
            values = {name: _solver_values(t, name) for name in REWARDS}
            for name, v in values.items():
                if v:
                    rows[f"{name}_mean"].append(mean(v.values()))
                    rows[f"{name}_groups_with_spread"].append(float(len(set(v.values())) > 1))
            truth, verdict = values["solver_truth"], values["solver_verdict"]
            pairs += [(verdict[k], truth[k]) for k in verdict if k in truth]
            solver = [u for u in t.turns if u.role == "solver"]
            if solver:
                rows["parsed"].append(mean(float(u.parse_error is None) for u in solver))
                rows["reply_tokens"].append(mean(len(u.token_ids) for u in solver))
        iterations.append({"iteration": it, "matches": len(by_iteration[it]),
                           **{k: round(mean(v), 3) for k, v in rows.items()}})
    tp = sum(v > 0.5 and g > 0.5 for v, g in pairs)
    fp = sum(v > 0.5 and g <= 0.5 for v, g in pairs)
    fn = sum(v <= 0.5 and g > 0.5 for v, g in pairs)
    tn = len(pairs) - tp - fp - fn
    return {
        "run": str(run), "iterations": iterations, "solver_answers": len(pairs), "truly_right": tp + fn,
        "verdict_precision": tp / (tp + fp) if tp + fp else None,
        "verdict_recall": tp / (tp + fn) if tp + fn else None,
        "verdict_false_positive_rate": fp / (fp + tn) if fp + tn else None,
    }


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python benchmarks/reward_signal.py RUN_DIR [RUN_DIR ...]")
    for run in sys.argv[1:]:
        print(json.dumps(reward_signal(run)))


if __name__ == "__main__":
    main()
