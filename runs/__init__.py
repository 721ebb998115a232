"""Runs: run directories, the transcript store, playing, showing and replaying: ``sparring.runs``."""

from sparring.runs.export import export
from sparring.runs.play import PlayConfig, PlaySummary, play
from sparring.runs.recipe import Recipe, RecipeError, load_recipe
from sparring.runs.rundir import RunDir
from sparring.runs.store import Store
from sparring.runs.train import Trainer, train

__all__ = [
    "PlayConfig", "PlaySummary", "Recipe", "RecipeError", "RunDir", "Store", "Trainer", "export",
    "load_recipe", "play", "train",
]
