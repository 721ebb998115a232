"""Per-iteration measurements of play: reward means, generic per-seat monitors, and the
monitors an arena declares. Nothing here knows any particular arena.

Generic monitors, per seat, from one iteration's transcripts:
    ``entropy``: mean of -log p of sampled tokens, an unbiased estimate of the sampling
        distribution's per-token entropy (the recorded log-probs are under it).
    ``distinct``: distinct reply texts / replies.
    ``distinct_2``: distinct word bigrams / word bigrams over the seat's replies
        (:func:`sparring.rewards.measurements.distinct_n`, n = 2): falls when samples
        repeat each other's phrasing even where whole replies still differ.
    ``length``: mean reply length in tokens.
    ``parse_failure_rate``: replies the seat's parser rejected / replies.
    ``reward_std``: spread of each reward the seat gets (0 means no learning signal).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from sparring.arenas.arena import Arena
from sparring.arenas.failures import user_stage
from sparring.arenas.transcript import Transcript
from sparring.rewards.measurements import distinct_n
from sparring.rewards.metrics import compute_all

THRESHOLDS = {"entropy": 0.05, "distinct": 0.2}


def collapse_monitors(transcripts: Iterable[Transcript]) -> dict[str, float]:
    """Entropy, distinct-reply rate, distinct bigrams, length and parse failures per seat
    (``"<seat>/<monitor>"``)."""
    transcripts = list(transcripts)
    logps: dict[str, list[float]] = defaultdict(list)
    texts: dict[str, list[str]] = defaultdict(list)
    lengths: dict[str, list[int]] = defaultdict(list)
    for transcript in transcripts:
        for turn in transcript.turns:
            logps[turn.role].extend(turn.logprobs)
            texts[turn.role].append(turn.text.strip())
            lengths[turn.role].append(len(turn.token_ids))
    out: dict[str, float] = {f"{seat}/parse_failure_rate": stat["parse_error_rate"]
                             for seat, stat in seat_parse_stats(transcripts).items()}
    for role in texts:
        if logps[role]:
            out[f"{role}/entropy"] = -sum(logps[role]) / len(logps[role])
        out[f"{role}/distinct"] = len(set(texts[role])) / len(texts[role])
        out[f"{role}/length"] = sum(lengths[role]) / len(lengths[role])
        bigrams = distinct_n(texts[role], 2)
        if bigrams is not None:
            out[f"{role}/distinct_2"] = bigrams
    return out


def reward_table(transcripts: Iterable[Transcript]) -> dict[str, dict[str, float]]:
    """Mean, population std and count of every (reward, seat), keyed ``"<reward>/<seat>"``
    (the play summary's table and the training monitors both read this)."""
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for transcript in transcripts:
        for r in transcript.rewards:
            values[(r.reward, r.role)].append(r.value)
    return {
        f"{name}/{role}": {"mean": sum(v) / len(v), "std": statistics.pstdev(v), "count": float(len(v))}
        for (name, role), v in sorted(values.items())
    }


def reward_stats(transcripts: Iterable[Transcript]) -> dict[str, float]:
    """Mean and standard deviation of every (reward, seat) pair, as flat metric keys."""
    out = {}
    for key, stat in reward_table(transcripts).items():
        out[f"reward/{key}"] = stat["mean"]
        out[f"reward_std/{key}"] = stat["std"]
    return out


def seat_parse_stats(transcripts: Iterable[Transcript]) -> dict[str, dict[str, float]]:
    """Turns, unparseable turns and their rate per seat."""
    turns: dict[str, int] = defaultdict(int)
    failed: dict[str, int] = defaultdict(int)
    for transcript in transcripts:
        for turn in transcript.turns:
            turns[turn.role] += 1
            failed[turn.role] += turn.parse_error is not None
    return {seat: {"turns": float(n), "parse_errors": float(failed[seat]), "parse_error_rate": failed[seat] / n}
            for seat, n in sorted(turns.items())}


def warnings_for(metrics: dict[str, float]) -> list[str]:
    """Human warnings when a monitor crosses its threshold."""
    out = []
    for key, value in metrics.items():
        if key.startswith("guard/"):  # guard/crossed/<seat>/entropy: the guard's record, warned of already
            continue
        seat, _, name = key.rpartition("/")
        if name in THRESHOLDS and value < THRESHOLDS[name]:
            out.append(f"{seat}: {name} {value:.3f} is below {THRESHOLDS[name]} (possible collapse)")
    return out


def arena_monitors(arena: Arena, transcripts: Sequence[Transcript]) -> dict[str, float]:
    """The metrics the arena declares in ``monitors()``, over these transcripts."""
    out: dict[str, float] = {}
    for metric in arena.monitors():
        with user_stage(f"monitor {metric.name!r}"):  # a user's monitor that crashes is named in the report
            out.update(compute_all([metric], transcripts))
    return out


def iteration_monitors(arena: Arena, transcripts: Sequence[Transcript]) -> dict[str, float]:
    """Everything logged about one iteration's play: per-seat reward means and spreads,
    generic per-seat monitors, and the arena's own monitors."""
    return {**reward_stats(transcripts), **collapse_monitors(transcripts), **arena_monitors(arena, transcripts)}


def write_tensorboard(run: Path) -> None:
    """Mirror the store's metrics table into TensorBoard event files (if installed).

    Every key is a scalar of its own, a held-out figure's interval and counts included
    (``eval/solver_accuracy/ci_low``, ``.../n_items``). A figure stored with its interval
    also gets a *Custom Scalars* chart drawing the value inside its band (a ``Margin``
    chart, grouped by the key's first part: ``eval``, ``validation``, ``select``).
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return
    from sparring.runs.storage.store import Store

    with Store(run / "store.sqlite") as store:
        rows = store.metrics()
    target = run / "metrics"
    for old in target.glob("events.out.tfevents.*") if target.exists() else []:
        old.unlink()
    writer = SummaryWriter(str(target))
    for iteration, name, value in rows:
        writer.add_scalar(name, value, iteration + 1)
    names = {name for _, name, _ in rows}
    bands: dict[str, dict[str, list]] = {}
    for name in sorted(names):
        if f"{name}/ci_low" in names and f"{name}/ci_high" in names:
            group, _, title = name.partition("/")
            bands.setdefault(group, {})[title] = ["Margin", [name, f"{name}/ci_low", f"{name}/ci_high"]]
    if bands:
        writer.add_custom_scalars(bands)
    writer.close()
