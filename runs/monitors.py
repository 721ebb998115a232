"""Per-iteration measurements of play: reward means, collapse monitors, eval accuracy.

Collapse monitors, per seat, from one iteration's transcripts:
    ``entropy``: mean of -log p of sampled tokens, an unbiased estimate of the sampling
        distribution's per-token entropy (the recorded log-probs are under it).
    ``distinct``: distinct reply texts / replies.
    ``length``: mean reply length in tokens.
    ``reward_std``: spread of the seat's training reward (0 means no learning signal).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from sparring.arenas.transcript import Transcript

THRESHOLDS = {"entropy": 0.05, "distinct": 0.2}


def collapse_monitors(transcripts: Iterable[Transcript]) -> dict[str, float]:
    """Entropy, distinct-reply rate and length per seat (``"<seat>/<monitor>"``)."""
    logps: dict[str, list[float]] = defaultdict(list)
    texts: dict[str, list[str]] = defaultdict(list)
    lengths: dict[str, list[int]] = defaultdict(list)
    for t in transcripts:
        for u in t.turns:
            logps[u.role].extend(u.logprobs)
            texts[u.role].append(u.text.strip())
            lengths[u.role].append(len(u.token_ids))
    out: dict[str, float] = {}
    for role in texts:
        if logps[role]:
            out[f"{role}/entropy"] = -sum(logps[role]) / len(logps[role])
        out[f"{role}/distinct"] = len(set(texts[role])) / len(texts[role])
        out[f"{role}/length"] = sum(lengths[role]) / len(lengths[role])
    return out


def reward_stats(transcripts: Iterable[Transcript]) -> dict[str, float]:
    """Mean and standard deviation of every (reward, seat) pair."""
    values: dict[str, list[float]] = defaultdict(list)
    for t in transcripts:
        for r in t.rewards:
            values[f"{r.reward}/{r.role}"].append(r.value)
    out = {}
    for key, v in values.items():
        out[f"reward/{key}"] = sum(v) / len(v)
        out[f"reward_std/{key}"] = statistics.pstdev(v) if len(v) > 1 else 0.0
    return out


def warnings_for(metrics: dict[str, float]) -> list[str]:
    """Human warnings when a monitor crosses its threshold."""
    out = []
    for key, value in metrics.items():
        seat, _, name = key.rpartition("/")
        if name in THRESHOLDS and value < THRESHOLDS[name]:
            out.append(f"{seat}: {name} {value:.3f} is below {THRESHOLDS[name]} (possible collapse)")
    return out


def eval_summary(transcripts: Iterable[Transcript]) -> dict[str, float]:
    """Held-out solver accuracy, verifier accuracy and false-positive rate (qa-eval)."""
    solver, verifier, fp, wrong = [], [], 0, 0
    for t in transcripts:
        o = t.outcome or {}
        if t.status != "finished" or "truth" not in o:
            continue
        solver.append(o.get("answer") == o["truth"])
        verifier.append(o.get("verdict") is o.get("proposed_correct"))
        if not o.get("proposed_correct"):
            wrong += 1
            fp += o.get("verdict") is True
    out: dict[str, float] = {}
    if solver:
        out["eval/solver_accuracy"] = sum(solver) / len(solver)
        out["eval/verifier_accuracy"] = sum(verifier) / len(verifier)
    if wrong:
        out["eval/verifier_false_positive_rate"] = fp / wrong
    return out


def questioner_difficulty(transcripts: Iterable[Transcript]) -> dict[str, float]:
    """Histogram of the fraction of answers truly right per question (qa-verify)."""
    bins = [0, 0, 0, 0, 0]
    for t in transcripts:
        o = t.outcome or {}
        right = o.get("answers_correct")
        if right:
            p = sum(right) / len(right)
            bins[min(4, int(p * 5))] += 1
    total = sum(bins)
    if not total:
        return {}
    labels = ["0-20", "20-40", "40-60", "60-80", "80-100"]
    return {f"questioner/difficulty_{label}": b / total for label, b in zip(labels, bins, strict=True)}


def write_tensorboard(run: Path) -> None:
    """Mirror the store's metrics table into TensorBoard event files (if installed)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return
    from sparring.runs.store import Store

    with Store(run / "store.sqlite") as store:
        rows = store.metrics()
    target = run / "metrics"
    for old in target.glob("events.out.tfevents.*") if target.exists() else []:
        old.unlink()
    writer = SummaryWriter(str(target))
    for iteration, name, value in rows:
        writer.add_scalar(name, value, iteration + 1)
    writer.close()
