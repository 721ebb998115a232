"""What the runner's batching rests on, each piece standing on its own: the wait for
quiescence that makes batch cuts deterministic, the continuous-batching session with its
row keys, and the counters of what was batched.

:class:`~sparring.arenas.runner.Runner` uses them all; the PettingZoo bridge waits for
quiescence the same way (:func:`settle`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sparring.arenas.match import PendingAsk


@dataclass
class RunnerStats:
    """Counters of one or more ``Runner.play`` calls."""

    matches: int = 0
    errors: int = 0
    rows: int = 0
    generated_tokens: int = 0
    engine_seconds: float = 0.0
    wall_seconds: float = 0.0
    batch_sizes: list[int] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per wall-clock second."""
        return self.generated_tokens / self.wall_seconds if self.wall_seconds else 0.0


def id_row(row: tuple[PendingAsk, int]) -> tuple[int, int]:
    """A hashable key of one row: the ask's identity and the sample index."""
    return id(row[0]), row[1]


@dataclass
class DecodeSession:
    """An engine's continuous-batching session and the rows it holds (by key)."""

    model: str
    engine: Any
    rows: dict[tuple[int, int], tuple[PendingAsk, int]] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        """Whether rows are decoding or finished rows wait to be delivered."""
        return bool(len(self.engine)) or self.engine.has_finished


async def settle() -> None:
    """Return once every task on the loop is blocked (nothing left ready to run).

    CPython's event loop keeps ready callbacks in ``loop._ready``; when only this
    coroutine is left to run, every match is waiting on an ask. This is what makes batch
    cuts, and so transcripts, deterministic. On loops without ``_ready`` it falls back to
    yielding a fixed number of times.
    """
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)
    if ready is None:
        for _ in range(64):
            await asyncio.sleep(0)
        return
    await asyncio.sleep(0)
    while ready:
        await asyncio.sleep(0)
