"""Runs: run directories, the transcript store, playing, showing, replaying, training, tournaments and ratings: ``sparring.runs``.

Names are loaded on first use (PEP 562), so a light submodule (the store, the viewer's
server, ratings) does not pay for importing torch through play and train.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "export": "export",
    "PlayConfig": "play", "PlaySummary": "play", "play": "play",
    "Game": "ratings", "RatingReport": "ratings", "rate": "ratings",
    "Recipe": "recipe", "RecipeError": "recipe", "load_recipe": "recipe",
    "RunDir": "rundir",
    "Store": "store",
    "TournamentConfig": "tournament", "load_tournament": "tournament", "rate_run": "tournament",
    "run_tournament": "tournament",
    "Trainer": "train", "train": "train",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'sparring.runs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"sparring.runs.{_WHERE[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
