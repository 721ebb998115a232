"""Conformance check for arenas: ``check_arena(arena)`` (run by CI over every built-in).

The arena is played with scripted engines, no model needed. The check fails when:
seats are malformed; the spec cannot re-make the arena; a match is not deterministic
under its seed; replay does not reproduce a transcript exactly; a malformed or hostile
reply (empty, 100k characters, unicode, JSON-looking garbage, random bytes) crashes the
arena; a match exceeds its declared turn limit; a reward leaves the declared bounds or
names a role that is not a seat; a transcript does not round-trip through JSON.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from sparring.agents.conformance import HOSTILE_REPLIES, ConformanceError
from sparring.agents.engines.base import GenerationRequest
from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas.arena import Arena, validate_class
from sparring.arenas.errors import ArenaError
from sparring.arenas.registry import make_from_spec
from sparring.arenas.replay import replay
from sparring.arenas.runner import Runner, bind_roles
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score


@dataclass
class ConformanceReport:
    """What a passing check exercised."""

    arena: str
    matches: int = 0
    turns: int = 0
    scripts: list[str] = field(default_factory=list)


def _random_script(seed: int) -> Callable[[GenerationRequest, int], str]:
    alphabet = "abcXYZ 0123456789+-*=:.,\n{}[]\"'é日🎲"

    def script(req: GenerationRequest, i: int) -> str:
        rng = random.Random(req.seed ^ seed)
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 200)))

    return script


def check_arena(
    arena: Arena,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    scripts: dict[str, Callable[[GenerationRequest, int], str] | Sequence[str]] | None = None,
) -> ConformanceReport:
    """Check that ``arena`` follows the arena protocol; raises :class:`ConformanceError`.

    Args:
        arena: An arena instance.
        seeds: Match seeds to play under every script.
        scripts: Extra scripted-reply sources (e.g. well-formed replies that drive the
            arena through its full protocol), added to the built-in hostile ones.
    """
    failures: list[str] = []
    name = type(arena).__name__
    try:
        validate_class(type(arena))
        spec = arena.spec()
    except ArenaError as exc:
        raise ConformanceError(name, [str(exc)]) from None
    report = ConformanceReport(spec.id)
    try:
        json.dumps(spec.kwargs)
    except (TypeError, ValueError) as exc:
        # Stop here: transcripts of this arena cannot be serialised, so playing would crash.
        raise ConformanceError(
            spec.id, [f"constructor kwargs must be JSON values to be recorded: {exc}"]
        ) from None
    try:
        remade = make_from_spec(spec)
        if remade.spec() != spec:
            failures.append("re-making the arena from its spec gives a different spec")
    except Exception as exc:  # noqa: BLE001 - any failure here is a conformance failure
        failures.append(f"cannot re-make the arena from its spec {spec.id}: {exc}")
    try:
        roles = bind_roles(arena, None)
    except Exception as exc:  # noqa: BLE001
        raise ConformanceError(spec.id, [*failures, f"default_roles() failed: {exc}"]) from None
    if set(roles) != set(arena.roles):
        failures.append(f"default_roles() seats {sorted(roles)} != declared seats {sorted(arena.roles)}")
    all_scripts: dict[str, Callable[[GenerationRequest, int], str] | Sequence[str]] = {
        key: [text] for key, text in HOSTILE_REPLIES.items()
    }
    all_scripts["random"] = _random_script(7)
    all_scripts.update(scripts or {})
    low, high = arena.reward_bounds
    for label, script in all_scripts.items():
        report.scripts.append(label)
        played = _play(arena, roles, script, seeds, failures, label)
        again = _play(arena, roles, script, seeds, failures, label)
        if played is None or again is None:
            continue
        for t, u in zip(played, again, strict=True):
            if t.comparable() != u.comparable():
                failures.append(f"[{label}] seed {t.seed}: two plays with the same seed and replies differ (use match.rng, not global randomness)")
        for t in played:
            report.matches += 1
            report.turns += len(t.turns)
            _check_transcript(t, arena, low, high, label, failures)
    if failures:
        raise ConformanceError(spec.id, sorted(set(failures), key=failures.index))
    return report


def _play(arena: Arena, roles: dict, script: object, seeds: Sequence[int], failures: list[str],
          label: str) -> list[Transcript] | None:
    engine = ScriptedEngine(script)  # type: ignore[arg-type]
    runner = Runner({role.model: engine for role in roles.values()}, roles)
    try:
        return runner.play(arena, list(seeds))
    except Exception as exc:  # noqa: BLE001
        failures.append(f"[{label}] the runner failed: {type(exc).__name__}: {exc}")
        return None


def _check_transcript(t: Transcript, arena: Arena, low: float, high: float, label: str,
                      failures: list[str]) -> None:
    where = f"[{label}] seed {t.seed}"
    if t.status != "finished":
        last = (t.error or "").strip().splitlines()[-1:] or ["unknown error"]
        failures.append(f"{where}: the match crashed on scripted replies: {last[0]}")
        return
    if len(t.turns) > arena.max_turns:
        failures.append(f"{where}: {len(t.turns)} turns exceed max_turns={arena.max_turns}")
    for r in t.rewards:
        if r.role not in arena.roles:
            failures.append(f"{where}: reward {r.reward!r} scores {r.role!r}, which is not a seat")
        if not (low <= r.value <= high):
            failures.append(f"{where}: reward {r.reward!r} gave {r.role} {r.value}, outside reward_bounds {arena.reward_bounds}")
        if r.turn is not None and not (0 <= r.turn < len(t.turns) and t.turns[r.turn].role == r.role):
            failures.append(f"{where}: reward {r.reward!r} points at turn {r.turn}, which is not a {r.role} turn")
    # Stores keep transcripts as JSON, so a transcript that does not survive JSON is lost data.
    try:
        again = Transcript.model_validate_json(t.model_dump_json())
        if again.comparable() != t.comparable():
            failures.append(f"{where}: the transcript does not round-trip through JSON (outcome values must be JSON values)")
    except ValueError as exc:
        failures.append(f"{where}: the transcript cannot be stored as JSON: {exc}")
    result = replay(t, arena)
    if not result.identical:
        failures.append(f"{where}: replay differs from the transcript: {'; '.join(result.differences[:3])}")


def check_reward(reward: Reward, transcripts: Iterable[Transcript],
                 bounds: tuple[float, float] | None = None) -> int:
    """Check a reward on transcripts; returns the number of scores checked.

    Rules: it has a non-empty ``name``; it returns ``None`` or a list of ``Score``; every
    value is finite and inside ``bounds`` (default: each transcript's arena bounds); every
    scored role is a seat of the arena; a turn index points at a turn of that role; and
    scoring the same transcript twice gives the same scores.
    """
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
