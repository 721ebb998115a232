"""The one progress-bar layout of the CLI (play, train): description, bar, m/n, elapsed, ETA."""

from __future__ import annotations

from typing import Any


def progress_bar(*, console: Any = None, transient: bool = False, fields: tuple[str, ...] = ()) -> Any:
    """A rich ``Progress``; ``fields`` adds a text column per named task field (e.g. ``"tokens"``)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    extra = [TextColumn(f"{{task.fields[{name}]}} {name}") for name in fields]
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), *extra,
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=transient)
