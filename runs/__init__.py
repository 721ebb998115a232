"""Runs: run directories, the transcript store, playing, showing, replaying, training, tournaments and ratings: ``sparring.runs``."""

from sparring.runs.export import export
from sparring.runs.play import PlayConfig, PlaySummary, play
from sparring.runs.ratings import Game, RatingReport, rate
from sparring.runs.recipe import Recipe, RecipeError, load_recipe
from sparring.runs.rundir import RunDir
from sparring.runs.store import Store
from sparring.runs.tournament import TournamentConfig, load_tournament, rate_run, run_tournament
from sparring.runs.train import Trainer, train

__all__ = [
    "Game", "PlayConfig", "PlaySummary", "RatingReport", "Recipe", "RecipeError", "RunDir", "Store",
    "TournamentConfig", "Trainer", "export", "load_recipe", "load_tournament", "play", "rate", "rate_run",
    "run_tournament", "train",
]
