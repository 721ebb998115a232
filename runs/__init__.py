"""Runs: run directories, the transcript store, playing, showing and replaying: ``sparring.runs``."""

from sparring.runs.play import PlayConfig, PlaySummary, play
from sparring.runs.rundir import RunDir
from sparring.runs.store import Store

__all__ = ["PlayConfig", "PlaySummary", "RunDir", "Store", "play"]
