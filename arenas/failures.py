"""Where user code broke inside a match: which stage raised, and a traceback of the user's frames.

A match runs three kinds of user code: the arena's ``play`` (its steps between asks),
the seats' parsers (called by ``Match.ask`` on every reply) and the rewards (called by
the runner on the finished match). A crash in any of them surfaces far from where it
happened: the exception travels through the runner, the event loop and ``Match.ask``,
so a plain traceback is mostly library frames and its last line is an error message
without the user's file or line. The places that call user code mark the exception
with its stage (:func:`mark_stage`); :func:`user_traceback` then prints the user's
frames first and counts the library frames it leaves out, so ``sparring check`` can say
"reward 'count_correct' raised ... at my_arena.py:16". ``full=True`` (``--debug``) keeps
every frame.

The same report serves ``play``, ``train``, ``tournament`` and ``rescore``: the runner keeps the
first crash of each kind (:func:`crash_key`) so a run can show where its errored matches
broke, and code that calls user code outside a match (a monitor, a rescored reward) marks
what escapes with :func:`user_stage`, so the CLI can tell a crash in the user's code from a
bug in sparring (:func:`is_user_crash`).
"""

from __future__ import annotations

import sysconfig
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_STAGE = "_sparring_stage"
ARENA_PLAY = "the arena's play"

_OWN_ROOT = Path(__file__).resolve().parents[1]
_OWN_DIRS = ("agents", "arenas", "rewards", "runs", "sparring")
# The standard library and installed packages: a user's code lives elsewhere (a script, a
# project folder, an editable install), so frames under these are the library's.
_LIBRARY_ROOTS = tuple(
    {str(Path(p).resolve()) for key in ("stdlib", "platstdlib", "purelib", "platlib")
     if (p := sysconfig.get_paths().get(key))}
)


def mark_stage(exc: BaseException, stage: str) -> None:
    """Record on ``exc`` which stage of a match raised it (the first mark wins).

    Args:
        exc: The exception a parser or reward raised.
        stage: Words naming the stage, e.g. ``"the parser of seat 'solver'"`` or ``"reward 'truth'"``.
    """
    if getattr(exc, _STAGE, None) is None:
        try:
            setattr(exc, _STAGE, stage)
        except AttributeError:  # an exception type with __slots__: its stage stays the default
            pass


def stage_of(exc: BaseException) -> str:
    """The stage :func:`mark_stage` recorded on ``exc``; unmarked, the arena's play raised it."""
    return getattr(exc, _STAGE, None) or ARENA_PLAY


def marked_stage(exc: BaseException) -> str | None:
    """The stage :func:`mark_stage` recorded on ``exc``, or ``None`` when none was."""
    return getattr(exc, _STAGE, None)


@contextmanager
def user_stage(stage: str) -> Iterator[None]:
    """Mark any exception raised inside the block with ``stage`` (user code called outside a match).

    Args:
        stage: Words naming the user code the block calls, e.g. ``"monitor 'accuracy'"``.
    """
    try:
        yield
    except Exception as exc:
        mark_stage(exc, stage)
        raise


def user_frames(exc: BaseException) -> list[traceback.FrameSummary]:
    """The frames of ``exc``'s traceback that are the user's (not sparring's, nor a library's)."""
    return [f for f in traceback.extract_tb(exc.__traceback__) if not is_library_frame(f.filename)]


def is_user_crash(exc: BaseException) -> bool:
    """Whether ``exc`` broke in user code: marked with a stage and raised through a user frame.

    Both are needed: a built-in arena's monitor is marked but all library code (a crash there is
    a bug in sparring), and a library bug may pass through a user's frame without any mark.
    """
    return marked_stage(exc) is not None and bool(user_frames(exc))


def crash_key(exc: BaseException) -> tuple[str, str, str]:
    """What makes two crashes the same: stage, exception type and the innermost user frame
    (else the innermost frame), so a run reports each distinct crash once."""
    frames = user_frames(exc) or traceback.extract_tb(exc.__traceback__)[-1:]
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return stage_of(exc), type(exc).__name__, where


def is_library_frame(filename: str) -> bool:
    """Whether ``filename`` belongs to sparring, the standard library or an installed package."""
    if filename.startswith("<"):  # <frozen importlib._bootstrap>, <string>
        return True
    path = Path(filename).resolve()
    try:
        if path.relative_to(_OWN_ROOT).parts[0] in _OWN_DIRS:
            return True
    except (ValueError, IndexError):
        pass
    text = str(path)
    return any(text.startswith(root) for root in _LIBRARY_ROOTS)


def user_traceback(exc: BaseException, *, full: bool = False) -> str:
    """``exc``'s traceback with the user's frames first and the library's trimmed.

    Args:
        exc: An exception raised while a match ran (with its traceback).
        full: Keep every frame in Python's own format (what ``--debug`` prints).

    Returns:
        Lines naming the stage and the error, then each user frame (file:line in
        function, and its source line), then how many library frames were left out. With
        no user frame at all, the innermost frame is shown instead.
    """
    stage = stage_of(exc)
    error = "".join(traceback.format_exception_only(exc)).strip()
    if full:
        return f"{stage} raised:\n" + "".join(traceback.format_exception(exc)).rstrip()
    frames = traceback.extract_tb(exc.__traceback__)
    mine = user_frames(exc)
    shown = mine or frames[-1:]
    lines = [f"{stage} raised {error}"]
    for frame in reversed(shown):  # innermost first: the line that raised leads
        lines.append(f"  {frame.filename}:{frame.lineno} in {frame.name}")
        if frame.line:
            lines.append(f"      {frame.line.strip()}")
    trimmed = len(frames) - len(shown)
    if trimmed:
        lines.append(f"  ({trimmed} frame(s) of sparring and other libraries trimmed; --debug shows them)")
    return "\n".join(lines)
