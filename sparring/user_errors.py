"""How the CLI reports a crash in the user's own code: an arena's ``play``, a seat's parser,
a reward or a monitor.

Such a crash is not a bug in sparring, so it is not reported as one. Two cases:

- **Matches that errored** (``play``, ``tournament``; ``train`` logs them per iteration): the
  run goes on and stores each as ``status="error"`` with its traceback, as before; after the
  summary, :func:`print_match_crashes` prints each distinct crash once: one line naming the
  stage and the exception, then the user's frames (file, line, source), library frames
  trimmed (:func:`~sparring.arenas.failures.user_traceback`; ``--debug``: every frame).
- **A crash that stops the command** (a rescored reward or metric, a monitor during
  ``train``): :func:`report_user_crash` prints the same lines, prefixed ``error:``, and what
  to run once the code is fixed; nothing stored is lost (stored matches, checkpoints and
  rescored rows stay), exit code 2 as for any mistake in the input.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from sparring.arenas.failures import is_user_crash, user_traceback

_AFTER_FIX = {
    "play": "fix it and run the same command again; stored matches are kept",
    "train": "fix it and continue from the last completed iteration with 'sparring train --resume {out}'",
    "tournament": "fix it and run the same command again; stored matches are kept",
    "rescore": "fix it and run the same command again; the matches already rescored are kept",
}


def print_match_crashes(console: Console, crashes: Sequence[BaseException], errors: int, total: int, out: object,
                        *, debug: bool) -> None:
    """Where the errored matches of a play or tournament broke: each distinct crash once.

    Args:
        console: Where to print.
        crashes: The first exception of each distinct crash (``Runner.crashes``); empty when
            the matches ran elsewhere (Ray workers), then only the count and where to look.
        errors: Matches that errored.
        total: Matches played.
        out: The run directory (for the ``sparring show`` hint).
        debug: Print every frame (``--debug``).
    """
    if not errors:
        return
    console.print(f"[red]{errors} of {total} match(es) errored[/]; they are stored with status \"error\" "
                  f"('sparring show {escape(str(out))} --status error' shows each)"
                  + (f"; {'the crash' if len(crashes) == 1 else 'each distinct crash'}:" if crashes else ""))
    for crash in crashes:
        console.print(escape(user_traceback(crash, full=debug)))


def report_user_crash(exc: BaseException, args: argparse.Namespace, console: Console, *, debug: bool) -> int | None:
    """Report ``exc`` as a crash in user code and return the exit code, or ``None`` when it is not one.

    Args:
        exc: What stopped the command.
        args: The command's parsed arguments (its name and run directory).
        console: Where to print.
        debug: Print every frame (``--debug``).
    """
    if not is_user_crash(exc):
        return None
    console.print(f"[red]error:[/] {escape(user_traceback(exc, full=debug))}")
    out = getattr(args, "resume", None) or getattr(args, "out", None) or getattr(args, "dir", None) or "DIR"
    hint = _AFTER_FIX.get(args.command)
    if hint:
        console.print(f"  {escape(hint.format(out=out))}")
    return 2
