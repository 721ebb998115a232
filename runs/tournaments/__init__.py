"""Tournaments, the in-loop league, schedules and ratings."""
