"""Errors shared by every layer.

``InternalError`` marks a broken invariant inside sparring (a bug, never the user's
input): the CLI prints it as a bug with where it was raised, not as a one-line input
error, even though it comes from a ``raise`` statement in our own code.
"""


class InternalError(RuntimeError):
    """An invariant of sparring's own code does not hold: a bug to report."""
