"""Errors raised by arenas, matches and the runner."""


class ArenaError(RuntimeError):
    """An arena broke a rule of the protocol; the message names the rule and the fix."""
