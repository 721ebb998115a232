"""Conformance check for arenas: ``check_arena(arena)`` (run by CI over every built-in).

The arena is played with scripted engines, no model needed, under three kinds of
replies: hostile ones (empty, 100k characters, unicode, JSON-looking garbage, format
mimicry, extreme numbers), random text, and well-formed ones. Well-formed replies come
from the arena's ``examples`` (seat -> replies) or, for a seat it gives none, from its
role's parser (``parser.examples``, see :mod:`sparring.agents.parsers`); they drive the
arena through its full protocol, so the success paths of its rewards are checked too.

The check fails when: seats are malformed; the spec cannot re-make the arena; a match
is not deterministic under its seed; replay does not reproduce a transcript exactly; a
reply crashes the arena; a match exceeds its declared turn limit; a reward leaves its
bounds or names a role that is not a seat; a transcript does not round-trip through
JSON; an example the arena declares does not parse with its seat's parser. A seat with no
well-formed reply at all is a warning in the report, not a failure.
"""

from __future__ import annotations

import json
import math
import random
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sparring.agents.conformance import HOSTILE_REPLIES, ConformanceError
from sparring.agents.engines.base import GenerationRequest
from sparring.agents.engines.scripted import ScriptedEngine
from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, validate_class
from sparring.arenas.errors import ArenaError
from sparring.arenas.failures import mark_stage, stage_of
from sparring.arenas.registry import make_from_spec
from sparring.arenas.replay import replay
from sparring.arenas.runner import Runner, bind_roles
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score

WELL_FORMED = "well_formed"


@dataclass
class ConformanceReport:
    """What a passing check exercised.

    Attributes:
        arena: The arena's id.
        matches: Matches played (under every script, first plays only).
        turns: Turns of those matches.
        scripts: Labels of the reply scripts the arena was driven with.
        rules: The rules checked, one description each.
        warnings: What the check could not exercise (e.g. a seat without well-formed replies).
    """

    arena: str
    matches: int = 0
    turns: int = 0
    scripts: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


Script = Callable[[GenerationRequest, int], str]


@dataclass(frozen=True)
class SeatScripts:
    """Scripted replies per seat, for ``check_arena(scripts=...)``: each seat plays on its own engine.

    A seat's replies are picked by row seed (``replies[seed % len(replies)]``), so they do
    not depend on batching or on the order the seats ask in.

    Attributes:
        replies: Replies (or a script ``(request, index) -> str``) per seat.
        fallback: Replies of seats not in ``replies``.
    """

    replies: Mapping[str, Sequence[str] | Script]
    fallback: Sequence[str] = ("",)

    def for_seat(self, seat: str) -> Script:
        """The script of one seat."""
        given = self.replies.get(seat, self.fallback)
        if callable(given):
            return given
        replies = list(given) or list(self.fallback)
        return lambda req, i: replies[req.seed % len(replies)]


def well_formed_replies(arena: Arena, roles: dict[str, Role], failures: list[str] | None = None,
                        crashes: list[BaseException] | None = None) -> dict[str, list[str]]:
    """Well-formed replies per seat: the arena's ``examples``, else its parser's examples.

    Only replies that parse with the seat's role are kept. An example the arena declares
    that does not parse is appended to ``failures`` (it is the arena's own contract); a
    seat with none is left out of the result. A parser that crashes on an example (raises
    something other than a parse error) is a failure too, its exception added to ``crashes``.
    """
    failures = failures if failures is not None else []
    declared = dict(getattr(arena, "examples", None) or {})
    for seat in declared:
        if seat not in arena.roles:
            failures.append(f"examples names {seat!r}, which is not a seat (seats: {', '.join(arena.roles)})")
    out: dict[str, list[str]] = {}
    for seat in arena.roles:
        role = roles.get(seat)
        if role is None:
            continue
        if seat in declared:
            candidates = list(declared[seat])
            if isinstance(declared[seat], str) or not all(isinstance(c, str) for c in candidates):
                failures.append(f"examples[{seat!r}] must be a list of reply strings, got {declared[seat]!r}")
                continue
        else:
            candidates = [c for c in getattr(role.parser, "examples", ()) if isinstance(c, str)]
            if role.parser is None:  # any text is well-formed
                candidates = ["A well-formed reply."]
        kept = []
        for i, text in enumerate(candidates):
            try:
                _, error = role.parse(text)
            except Exception as exc:  # noqa: BLE001 - reported with its traceback
                mark_stage(exc, f"the parser of seat {seat!r}")
                failures.append(f"the parser of seat {seat!r} crashed on example {text!r}: {type(exc).__name__}: {exc}")
                if crashes is not None:
                    crashes.append(exc)
                continue
            if error is None:
                kept.append(text)
            elif seat in declared:
                failures.append(f"examples[{seat!r}][{i}] does not parse with the {seat} role's parser: {error}")
        if kept:
            out[seat] = kept
    return out


def _seat_model(seat: str) -> str:
    return f"conformance-{seat}"


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
    scripts: Mapping[str, Script | Sequence[str] | SeatScripts] | None = None,
) -> ConformanceReport:
    """Check that ``arena`` follows the arena protocol; raises :class:`ConformanceError`.

    Args:
        arena: An arena instance.
        seeds: Match seeds to play under every script.
        scripts: Extra scripted-reply sources by label: a script ``(request, index) ->
            str``, a list of replies, or :class:`SeatScripts` (replies per seat); added to
            the built-in hostile, random and well-formed ones (a label given here replaces
            a built-in one).

    Returns:
        A report of what was played, the rules checked, and warnings (e.g. a seat for
        which no well-formed reply was available, so its success paths went unchecked).
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
    setup_crashes: list[BaseException] = []  # user code that raised before any match: shown with its traceback
    try:
        remade = make_from_spec(spec)
        if remade.spec() != spec:
            failures.append("re-making the arena from its spec gives a different spec")
    except Exception as exc:  # noqa: BLE001 - any failure here is a conformance failure
        failures.append(f"cannot re-make the arena from its spec {spec.id}: {exc}")
        mark_stage(exc, "re-making the arena from its spec")
        setup_crashes.append(exc)
    try:
        roles = bind_roles(arena, None)
    except Exception as exc:  # noqa: BLE001
        mark_stage(exc, "default_roles()")
        raise ConformanceError(spec.id, [*failures, f"default_roles() failed: {exc}"], [*setup_crashes, exc]) from None
    if set(roles) != set(arena.roles):
        failures.append(f"default_roles() seats {sorted(roles)} != declared seats {sorted(arena.roles)}")
    unnamed = [f"rewards() item {i} ({r!r}) is not a named reward: decorate the function with "
               f"@reward(\"a_name\") (from sparring.rewards import reward)"
               for i, r in enumerate(_rewards(arena))
               if not callable(r) or not isinstance(getattr(r, "name", None), str) or not r.name]
    if unnamed:  # playing would only crash in scoring: say what to fix
        raise ConformanceError(spec.id, [*failures, *unnamed], setup_crashes)
    all_scripts: dict[str, Script | Sequence[str] | SeatScripts] = {
        key: [text] for key, text in HOSTILE_REPLIES.items()
    }
    all_scripts["random"] = _random_script(7)
    parser_crashes: list[BaseException] = []
    examples = well_formed_replies(arena, roles, failures, parser_crashes)
    missing = [seat for seat in arena.roles if seat not in examples]
    for seat in missing:
        report.warnings.append(
            f"no well-formed replies were available for seat {seat!r}: set {type(arena).__name__}.examples"
            f"[{seat!r}] or give its role's parser an 'examples' attribute; it got a hostile reply instead"
        )
    if len(missing) < len(arena.roles):
        all_scripts[WELL_FORMED] = SeatScripts(examples, fallback=[HOSTILE_REPLIES["format_mimic"]])
    all_scripts.update(scripts or {})
    report.rules = _rules(arena, list(all_scripts), examples)
    low, high = arena.reward_bounds
    bounds = {r.name: b for r in _rewards(arena) if (b := getattr(r, "bounds", None)) is not None}
    crashes: dict[str, BaseException] = {}  # by match id, the latest script's
    distinct: dict[tuple[str, str, str], BaseException] = {}  # one per stage, error and place

    def keep(exc: BaseException) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        place = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""
        distinct.setdefault((stage_of(exc), repr(exc), place), exc)

    for exc in [*setup_crashes, *parser_crashes]:
        keep(exc)
    for label, script in all_scripts.items():
        report.scripts.append(label)
        crashes.clear()
        played = _play(arena, roles, script, seeds, failures, label, crashes)
        again = _play(arena, roles, script, seeds, failures, label, {})
        for exc in crashes.values():
            keep(exc)
        if played is None or again is None:
            continue
        for t, u in zip(played, again, strict=True):
            if t.comparable() != u.comparable():
                failures.append(f"[{label}] seed {t.seed}: two plays with the same seed and replies differ (use match.rng, not global randomness)")
        for t in played:
            report.matches += 1
            report.turns += len(t.turns)
            _check_transcript(t, arena, low, high, bounds, label, failures, crashes.get(t.match_id))
    if failures:
        raise ConformanceError(spec.id, sorted(set(failures), key=failures.index), list(distinct.values()))
    return report


def _rewards(arena: Arena) -> list[Reward]:
    try:
        return list(arena.rewards())
    except Exception:  # noqa: BLE001 - the runner reports a broken rewards() per match
        return []


def _rules(arena: Arena, labels: list[str], examples: dict[str, list[str]]) -> list[str]:
    rules = [
        "class declarations: id 'namespace/name-vN', distinct seats, reward_bounds low <= high, "
        "max_turns >= 1, async play",
        "constructor kwargs are JSON values and the spec re-makes the arena",
        "default_roles() covers exactly the declared seats",
        f"replies from {len(labels)} scripts ({', '.join(labels)}) never crash a match",
        "two plays with the same seed and replies give the same transcript",
        f"a match asks for at most max_turns={arena.max_turns} replies",
        f"rewards stay within reward_bounds {tuple(arena.reward_bounds)} (or a reward's own "
        "narrower bounds), score seats only, and point at turns of the seat they score",
        "transcripts round-trip through JSON",
        "replay on the recorded replies reproduces every transcript exactly",
    ]
    if getattr(arena, "examples", None):
        rules.append("the arena's examples parse with their seats' parsers")
    if examples:
        rules.append(f"well-formed replies for {', '.join(sorted(examples))} are played, so rewards' success paths run")
    return rules


def _play(arena: Arena, roles: dict[str, Role], script: object, seeds: Sequence[int], failures: list[str],
          label: str, crashes: dict[str, BaseException]) -> list[Transcript] | None:
    if isinstance(script, SeatScripts):
        # A request does not say which seat asked; giving each seat its own model name
        # (and so its own engine) does, whatever the seats' prompts look like.
        roles = {seat: role.bind(model=_seat_model(seat)) for seat, role in roles.items()}
        engines: dict[str, ScriptedEngine] = {
            _seat_model(seat): ScriptedEngine(script.for_seat(seat)) for seat in roles
        }
    else:
        engine = ScriptedEngine(script)  # type: ignore[arg-type]
        engines = {role.model: engine for role in roles.values()}
    runner = Runner(engines, roles, keep_exceptions=True)
    try:
        return runner.play(arena, list(seeds))
    except Exception as exc:  # noqa: BLE001
        failures.append(f"[{label}] the runner failed: {type(exc).__name__}: {exc}")
        crashes[f"runner:{label}"] = exc
        return None
    finally:
        crashes.update(runner.exceptions)


def _check_transcript(transcript: Transcript, arena: Arena, low: float, high: float,
                      bounds: dict[str, tuple[float, float]], label: str, failures: list[str],
                      crash: BaseException | None = None) -> None:
    where = f"[{label}] seed {transcript.seed}"
    if transcript.status != "finished":
        last = (transcript.error or "").strip().splitlines()[-1:] or ["unknown error"]
        stage = stage_of(crash) if crash is not None else "the match"
        failures.append(f"{where}: {stage} crashed on scripted replies: {last[0]}")
        return
    if len(transcript.turns) > arena.max_turns:
        failures.append(f"{where}: {len(transcript.turns)} turns exceed max_turns={arena.max_turns}")
    for r in transcript.rewards:
        if r.role not in arena.roles:
            failures.append(f"{where}: reward {r.reward!r} scores {r.role!r}, which is not a seat")
        if not (low <= r.value <= high):
            failures.append(f"{where}: reward {r.reward!r} gave {r.role} {r.value}, outside reward_bounds {arena.reward_bounds}")
        elif r.reward in bounds and not bounds[r.reward][0] <= r.value <= bounds[r.reward][1]:
            failures.append(f"{where}: reward {r.reward!r} gave {r.role} {r.value}, outside its own bounds {bounds[r.reward]}")
        if r.turn is not None and not (0 <= r.turn < len(transcript.turns) and transcript.turns[r.turn].role == r.role):
            failures.append(f"{where}: reward {r.reward!r} points at turn {r.turn}, which is not a {r.role} turn")
    # Stores keep transcripts as JSON, so a transcript that does not survive JSON is lost data.
    try:
        again = Transcript.model_validate_json(transcript.model_dump_json())
        if again.comparable() != transcript.comparable():
            failures.append(f"{where}: the transcript does not round-trip through JSON (outcome values must be JSON values)")
    except ValueError as exc:
        failures.append(f"{where}: the transcript cannot be stored as JSON: {exc}")
    result = replay(transcript, arena)
    if not result.identical:
        failures.append(f"{where}: replay differs from the transcript: {'; '.join(result.differences[:3])}")


def check_reward(reward: Reward, transcripts: Iterable[Transcript],
                 bounds: tuple[float, float] | None = None) -> int:
    """Check a reward on transcripts; returns the number of scores checked.

    Rules: it has a non-empty ``name``; it returns ``None`` or a list of ``Score``; every
    value is finite and inside ``bounds`` (default: the reward's own ``bounds`` if it
    declares them, else each transcript's arena bounds); every
    scored role is a seat of the arena; a turn index points at a turn of that role; and
    scoring the same transcript twice gives the same scores.
    """
    name = getattr(reward, "name", None)
    failures: list[str] = []
    if not isinstance(name, str) or not name:
        raise ConformanceError(repr(reward), ["a reward needs a non-empty str 'name'"])
    checked = 0
    for transcript in transcripts:
        low, high = bounds or getattr(reward, "bounds", None) or transcript.arena.reward_bounds
        try:
            first, second = reward(transcript), reward(transcript)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"{transcript.match_id}: raised {type(exc).__name__}: {exc}")
            continue
        if first is None:
            continue
        if not isinstance(first, list) or not all(isinstance(s, Score) for s in first):
            failures.append(f"{transcript.match_id}: must return None or a list of Score, got {type(first).__name__}")
            continue
        if first != second:
            failures.append(f"{transcript.match_id}: scoring twice gave different scores")
        for s in first:
            checked += 1
            if not math.isfinite(s.value) or not low <= s.value <= high:
                failures.append(f"{transcript.match_id}: value {s.value} for {s.role} outside [{low}, {high}]")
            if s.role not in transcript.arena.roles:
                failures.append(f"{transcript.match_id}: scores {s.role!r}, not a seat of {transcript.arena.id}")
            if s.turn is not None and not (0 <= s.turn < len(transcript.turns) and transcript.turns[s.turn].role == s.role):
                failures.append(f"{transcript.match_id}: turn {s.turn} is not a {s.role} turn")
    if failures:
        raise ConformanceError(f"reward {name!r}", failures)
    return checked
