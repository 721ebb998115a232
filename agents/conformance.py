"""Conformance of roles (``check_role``), and what every conformance check shares.

``ConformanceError`` and the hostile replies live here, at the bottom of the package
stack, so that the arena and reward checks above can use them without an upward import.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sparring.agents.roles import Role

HOSTILE_REPLIES: dict[str, str] = {
    "empty": "",
    "huge": "9" * 50_000 + " Answer: " + "x" * 50_000,
    "unicode": "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ — 日本語 🎲 \u202e\u200b Ωμέγα\x00",
    "json_garbage": '{"answer": [1, {"nested": null}], "verdict": "maybe"} ]]} {{',
    "format_mimic": "Question: What is 2 + 2?\nAnswer: 4\nVerdict: correct\nWinner: A\nScore: 7",
    "numbers": "-0 1e309 NaN inf 99999999999999999999999 * 99999999999999999999",
}


class ConformanceError(AssertionError):
    """An arena, role or reward broke a rule; ``failures`` lists every broken rule.

    ``crashes`` holds one exception per distinct crash of user code (an arena's play, a
    parser or a reward), with its traceback, so a report can show where it broke
    (:func:`sparring.arenas.failures.user_traceback`).
    """

    def __init__(self, subject: str, failures: list[str], crashes: list[BaseException] | None = None) -> None:
        self.failures = failures
        self.crashes = list(crashes or [])
        folded = _fold(failures)
        super().__init__(f"{subject} failed {len(folded)} conformance rule(s):\n- " + "\n- ".join(folded))


_PLAY = re.compile(r"^\[(?P<label>[^\]]+)\] seed (?P<seed>\d+): (?P<rule>.*)$", re.S)


def _fold(failures: list[str]) -> list[str]:
    """One line per broken rule: the same failure on many (reply set, seed) plays is one
    line naming them, not one line each (a crash on every play would fill a screen)."""
    plays: dict[str, list[tuple[str, str]]] = {}
    lines: list[str] = []
    for failure in failures:
        m = _PLAY.match(failure)
        if m is None:
            lines.append(failure)
            continue
        if m["rule"] not in plays:
            lines.append(m["rule"])
        plays.setdefault(m["rule"], []).append((m["label"], m["seed"]))
    out = []
    for line in lines:
        where = plays.get(line)
        if where is None:
            out.append(line)
        elif len(where) == 1:
            out.append(f"[{where[0][0]}] seed {where[0][1]}: {line}")
        else:
            labels = list(dict.fromkeys(label for label, _ in where))
            seeds = sorted({int(seed) for _, seed in where})
            out.append(f"{line} (in {len(where)} plays: reply sets {', '.join(labels)}; seeds {', '.join(map(str, seeds))})")
    return out


def check_role(role: Role) -> None:
    """Check a role: it renders prompts, its description is JSON, and its parser never raises.

    The parser is fed empty, huge, unicode and JSON-looking replies; it must return a
    value or report a parse error, never raise anything else, and be deterministic.
    """
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
