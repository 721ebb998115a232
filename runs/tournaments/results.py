"""Results of tournament matches: who won a stored match, and the rating games of a store.

A tournament (or the in-loop league) decides each match as it is stored, with the arena at
hand, and writes the result into the competing seats' role records; rating a run later
reads those records back, so it needs no arena object and runs none of the run's code.
"""

from __future__ import annotations

from collections.abc import Sequence

from sparring.arenas.arena import Arena
from sparring.arenas.competitive import DRAW, decide
from sparring.arenas.transcript import Transcript
from sparring.runs.storage.store import Store
from sparring.runs.tournaments.ratings import Game


def competing_seats(transcript: Transcript) -> list[str]:
    """The seats of a tournament transcript that a player sat in, in the arena's seat order."""
    return [seat for seat in transcript.arena.roles if "player" in transcript.roles.get(seat, {})]


RESULTS = {"win": 1.0, "draw": 0.5, "loss": 0.0}
"""A competing seat's recorded ``roles[seat]["result"]`` and the first seat's score it means."""


def record_result(transcript: Transcript, arena: Arena, reward: str | None = None) -> None:
    """Write who won into the competing seats' role records, ``roles[seat]["result"]``
    (``win``, ``draw`` or ``loss``), as the match is stored; nothing when it has no result.

    Called where the arena is at hand (a tournament or league playing it), so rating the
    stored run later needs no arena object and runs none of its code.
    """
    seats = competing_seats(transcript)
    if len(seats) != 2:
        return
    verdict = decide(arena, transcript, seats, reward)
    if verdict is None:
        return
    for seat in seats:
        transcript.roles[seat]["result"] = "draw" if verdict == DRAW else "win" if verdict == seat else "loss"


def game_of(transcript: Transcript, arena: Arena | None = None, reward: str | None = None) -> Game | None:
    """The rating game of a tournament transcript (``None``: no result or not a tournament match).

    The result recorded when the match was stored (:func:`record_result`) decides. A match
    stored before results were recorded is decided by ``arena`` when one is passed (a
    tournament continuing with its arena loaded), else by the seats' stored rewards. The
    arena is never re-made from the transcript's spec: that would import code recorded in
    the run (a ``file.py:Class`` arena), and rating, viewing and exporting a run must not.
    """
    seats = competing_seats(transcript)
    if len(seats) != 2 or transcript.status != "finished":
        return None
    recorded = transcript.roles[seats[0]].get("result")
    if recorded in RESULTS:
        score = RESULTS[recorded]
    else:
        verdict = decide(arena, transcript, seats, reward)
        if verdict is None:
            return None
        score = 0.5 if verdict == DRAW else 1.0 if verdict == seats[0] else 0.0
    a, b = (transcript.roles[s]["player"] for s in seats)
    return Game(a, b, score)


def stored_games(store: Store, arena: Arena | None = None, reward: str | None = None,
                 ids: Sequence[str] | None = None) -> tuple[list[Game], int]:
    """Games of the stored tournament matches, in play order (the order the store received
    them, as they finished: online Elo depends on it), and how many finished matches had no
    result (e.g. a seat without a reward). See :func:`game_of`: without ``arena`` no arena
    code runs."""
    order = store.match_ids(status="finished")  # row order: the order the matches were stored
    if ids is not None:
        wanted = set(ids)
        order = [m for m in order if m in wanted]
    transcripts = [store.get(m) for m in order]
    games, missing = [], 0
    for transcript in transcripts:
        game = game_of(transcript, arena, reward)
        if game is None:
            missing += transcript.status == "finished" and len(competing_seats(transcript)) == 2
            continue
        games.append(game)
    return games, missing
