"""Conformance checks for rewards and roles: ``check_reward`` and ``check_role``."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparring.agents.roles import Role
    from sparring.arenas.transcript import Transcript
    from sparring.rewards.base import Reward


def check_reward(reward: Reward, transcripts: Iterable[Transcript],
                 bounds: tuple[float, float] | None = None) -> int:
    """Check a reward on transcripts; returns the number of scores checked.

    Rules: it has a non-empty ``name``; it returns ``None`` or a list of ``Score``; every
    value is finite and inside ``bounds`` (default: each transcript's arena bounds); every
    scored role is a seat of the arena; a turn index points at a turn of that role; and
    scoring the same transcript twice gives the same scores.
    """
    from sparring.arenas.conformance import ConformanceError
    from sparring.rewards.base import Score

    name = getattr(reward, "name", None)
    failures: list[str] = []
    if not isinstance(name, str) or not name:
        raise ConformanceError(repr(reward), ["a reward needs a non-empty str 'name'"])
    checked = 0
    for t in transcripts:
        low, high = bounds or t.arena.reward_bounds
        try:
            first, second = reward(t), reward(t)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{t.match_id}: raised {type(exc).__name__}: {exc}")
            continue
        if first is None:
            continue
        if not isinstance(first, list) or not all(isinstance(s, Score) for s in first):
            failures.append(f"{t.match_id}: must return None or a list of Score, got {type(first).__name__}")
            continue
        if first != second:
            failures.append(f"{t.match_id}: scoring twice gave different scores")
        for s in first:
            checked += 1
            if not math.isfinite(s.value) or not low <= s.value <= high:
                failures.append(f"{t.match_id}: value {s.value} for {s.role} outside [{low}, {high}]")
            if s.role not in t.arena.roles:
                failures.append(f"{t.match_id}: scores {s.role!r}, not a seat of {t.arena.id}")
            if s.turn is not None and not (0 <= s.turn < len(t.turns) and t.turns[s.turn].role == s.role):
                failures.append(f"{t.match_id}: turn {s.turn} is not a {s.role} turn")
    if failures:
        raise ConformanceError(f"reward {name!r}", failures)
    return checked


def check_role(role: Role) -> None:
    """Check a role: it renders prompts, its description is JSON, and its parser never raises.

    The parser is fed empty, huge, unicode and JSON-looking replies; it must return a
    value or report a parse error, never raise anything else, and be deterministic.
    """
    from sparring.arenas.conformance import HOSTILE_REPLIES, ConformanceError

    failures: list[str] = []
    try:
        messages = role.render("hello")
        if not messages or messages[-1]["role"] != "user" or "hello" not in messages[-1]["content"]:
            failures.append("render('hello') must end with a user message containing the prompt")
        role.render([{"role": "user", "content": "hi"}])
    except Exception as exc:  # noqa: BLE001
        failures.append(f"render failed: {exc}")
    try:
        json.dumps(role.describe())
    except TypeError as exc:
        failures.append(f"describe() is not JSON: {exc}")
    for label, text in HOSTILE_REPLIES.items():
        try:
            first, second = role.parse(text), role.parse(text)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"parser raised {type(exc).__name__} on the {label} reply: {exc}")
            continue
        if repr(first) != repr(second):
            failures.append(f"parser is not deterministic on the {label} reply")
    if failures:
        raise ConformanceError(f"role {role.name!r}", failures)
