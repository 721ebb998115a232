"""Fault injection for kill tests: ``SPARRING_FAULT=<point>[:<n>]`` kills the process.

The training loop calls :func:`point` at named places (``play``: a training match was
stored; ``update``: an optimizer step finished; ``save``: an adapter version was
written; ``eval``: a held-out match was stored; ``checkpoint``: a checkpoint folder is in
place but ``LATEST`` does not point at it yet; ``metrics``: an iteration's metrics were
stored; ``select``: the validation-selected adapters were copied to ``best``; ``future``: a
match of a look-ahead's future model was stored; ``whatif``: a branch was stored). On the n-th call of the named point (default 1) the process sends itself
SIGKILL, as ``kill -9`` would: no cleanup handler runs. Unset, a point costs one dict
lookup. Tests use it to prove that a resumed run ends bit-identical to an uninterrupted
one wherever the kill lands.
"""

from __future__ import annotations

import os
import signal

POINTS = ("play", "update", "save", "eval", "checkpoint", "metrics", "select", "future", "whatif")
_counts: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    raw = os.environ.get("SPARRING_FAULT")
    if not raw:
        return None
    name, _, n = raw.partition(":")
    if name not in POINTS:
        raise ValueError(f"SPARRING_FAULT={raw!r}: unknown point {name!r} (points: {', '.join(POINTS)})")
    return name, int(n or 1)


def point(name: str) -> None:
    """Count one pass through ``name``; SIGKILL this process if it is the chosen one."""
    target = _target()
    if target is None or target[0] != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
