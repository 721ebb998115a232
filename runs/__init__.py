"""Runs: run directories, the transcript store, playing, showing, replaying, training, tournaments and ratings: ``sparring.runs``."""

from sparring.runs.playing.play import PlayConfig, PlaySummary, play
from sparring.runs.recipes.recipe import Recipe, RecipeError, load_recipe
from sparring.runs.storage.export import export
from sparring.runs.storage.rundir import RunDir
from sparring.runs.storage.store import Store
from sparring.runs.tournaments.ratings import Game, RatingReport, rate
from sparring.runs.tournaments.tournament import (
    TournamentConfig,
    load_tournament,
    rate_run,
    run_tournament,
)
from sparring.runs.training.train import Trainer, train

__all__ = [
    "Game", "PlayConfig", "PlaySummary", "RatingReport", "Recipe", "RecipeError", "RunDir", "Store",
    "TournamentConfig", "Trainer", "export", "load_recipe", "load_tournament", "play", "rate", "rate_run",
    "run_tournament", "train",
]
