"""Figures of a rating report (matplotlib, Agg backend: no display needed).

- :func:`win_matrix_png`: heatmap of each row player's score rate against each column
  player (draws half), players ordered by BT rating, cells annotated with rate and games.
- :func:`versions_png`: BT rating (with its 95% bootstrap interval) against adapter
  version, one line per adapter; other players (base model, scripted anchors) drawn as
  horizontal reference lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from sparring.runs.tournaments.ratings import RatingReport, require


def _pyplot():  # type: ignore[no-untyped-def]
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def win_matrix_png(report: RatingReport, path: str | Path, title: str = "win matrix") -> Path:
    """Write the win-matrix heatmap of ``report`` to ``path``; returns the path."""
    import numpy as np

    plt = _pyplot()
    order = [r.player for r in report.ratings]
    m = report.matrix
    index = [m.players.index(p) for p in order]
    rates = np.full((len(order), len(order)), np.nan)
    for r, i in enumerate(index):
        for c, j in enumerate(index):
            if m.games[i][j]:
                rates[r, c] = m.points[i][j] / m.games[i][j]
    size = max(4.0, 0.7 * len(order) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(rates, cmap="RdBu", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(order)), order, rotation=45, ha="right")
    ax.set_yticks(range(len(order)), order)
    ax.set_xlabel("opponent")
    ax.set_ylabel("player (row's score rate)")
    for r, i in enumerate(index):
        for c, j in enumerate(index):
            if m.games[i][j]:
                ax.text(c, r, f"{rates[r, c]:.0%}\n{m.games[i][j]}", ha="center", va="center", fontsize=7,
                        color="white" if abs(rates[r, c] - 0.5) > 0.3 else "black")
    fig.colorbar(image, ax=ax, label="score rate (draw = 1/2)")
    ax.set_title(title + ("" if report.transitive else f" ({len(report.cycles)} preference cycle(s))"))
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def versions_png(report: RatingReport, series: Mapping[str, Sequence[tuple[int, str]]], path: str | Path) -> Path:
    """Write BT rating against adapter version for each series ``{label: [(version, player)]}``."""
    plt = _pyplot()
    rows = {r.player: r for r in report.ratings}
    fig, ax = plt.subplots(figsize=(7, 4.5))
    in_series = set()
    for label, points in series.items():
        points = [(v, p) for v, p in points if p in rows]
        in_series.update(p for _, p in points)
        versions = [v for v, _ in points]
        bt = [rows[p].bt for _, p in points]
        err = [[rows[p].bt - rows[p].bt_low for _, p in points], [rows[p].bt_high - rows[p].bt for _, p in points]]
        ax.errorbar(versions, bt, yerr=err, marker="o", capsize=3, label=label)
    for k, r in enumerate(x for x in report.ratings if x.player not in in_series):
        ax.axhline(r.bt, linestyle="--", linewidth=1, color=f"C{(k + len(series)) % 10}", label=r.player)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("adapter version")
    ax.set_ylabel("Bradley-Terry rating (95% bootstrap CI)")
    ax.set_title("ratings over versions")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
