"""Replay: re-run an arena on the replies recorded in its transcript and diff the result.

Arenas are deterministic given the seed and the replies, so replaying a stored match
must reproduce its transcript exactly (wall-clock fields aside). Recorded replies are
looked up by each row's seed, which is a function of the match seed, the ask index and
the sample index, so a replay that asks for anything the match did not is caught.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sparring.agents.engines.base import Completion, GenerationRequest, ScoreRequest
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena
from sparring.arenas.errors import ArenaError
from sparring.arenas.registry import make_from_spec
from sparring.arenas.transcript import Transcript


@dataclass
class ReplayResult:
    """Whether a replay reproduced the transcript, and where it differs if not."""

    identical: bool
    differences: list[str] = field(default_factory=list)
    replayed: Transcript | None = None


class RecordedEngine:
    """Serves the completions recorded in a transcript, keyed by row seed."""

    name = "recorded"

    def __init__(self, transcript: Transcript) -> None:
        self._turns = {t.seed: t for t in transcript.turns}
        self.max_batch_size = 1 << 30

    def score(self, requests: list[ScoreRequest]) -> list[Completion]:
        """Return the recorded score of each request's seed (its target must be the recorded one)."""
        out = self.generate(requests)  # type: ignore[arg-type]  # looked up by seed and messages alike
        for req, completion in zip(requests, out, strict=True):
            if completion.text != req.target:
                raise ArenaError(f"replay diverged: the reply scored with seed {req.seed} differs from the recorded one")
        return out

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """Return the recorded completion of each request's seed."""
        out = []
        for req in requests:
            turn = self._turns.get(req.seed)
            if turn is None:
                raise ArenaError(
                    "replay diverged: the arena asked for a reply the transcript does not have "
                    f"(seed {req.seed}); the arena is not deterministic given seed and replies"
                )
            if turn.messages != req.messages:
                raise ArenaError(
                    f"replay diverged at turn {turn.index} ({turn.role}): the prompt differs "
                    "from the recorded one"
                )
            out.append(Completion(turn.text, turn.token_ids, turn.logprobs, turn.prompt_tokens, turn.finish_reason))
        return out


def recorded_roles(arena: Arena, transcript: Transcript) -> dict[str, Role]:
    """The arena's default roles with the recorded prompts, sampling and bindings."""
    roles = arena.default_roles()
    for seat, info in transcript.roles.items():
        base = roles.get(seat, Role(name=seat))
        sampling = dict(info.get("sampling", {}))
        sampling["stop"] = tuple(sampling.get("stop", ()))
        roles[seat] = replace(
            base, name=info.get("name", base.name), system_prompt=info.get("system_prompt"),
            template=info.get("template", "{content}"),
            sampling=SamplingParams(**sampling), model=info.get("model", "default"),
            adapter=info.get("adapter"),
        )
    return roles


def diff(a: Any, b: Any, path: str = "", out: list[str] | None = None, limit: int = 20) -> list[str]:
    """Paths where two JSON values differ (at most ``limit``)."""
    out = [] if out is None else out
    if len(out) >= limit:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            diff(a.get(key, "<missing>"), b.get(key, "<missing>"), f"{path}.{key}", out, limit)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff(x, y, f"{path}[{i}]", out, limit)
    elif a != b:
        out.append(f"{path or '<root>'}: {str(a)[:80]!r} != {str(b)[:80]!r}")
    return out


def replay(transcript: Transcript, arena: Arena | None = None) -> ReplayResult:
    """Re-play ``transcript``'s match on its recorded replies and compare."""
    from sparring.arenas.runner import Runner

    arena = arena or make_from_spec(transcript.arena)
    roles = recorded_roles(arena, transcript)
    engine = RecordedEngine(transcript)
    versions: dict[str, int | None] = {}
    for t in transcript.turns:
        versions.setdefault(t.role, t.adapter_version)
    # Versions are recorded per seat; a role's name need not be its seat's name.
    seat_of = {id(role): seat for seat, role in roles.items()}
    runner = Runner(
        {role.model: engine for role in roles.values()}, roles,
        version_of=lambda role: versions.get(seat_of.get(id(role), role.name)),
    )
    try:
        [replayed] = runner.play(arena, [transcript.seed], run_id=transcript.run_id,
                                 iteration=transcript.iteration)
    except ArenaError as exc:
        return ReplayResult(False, [str(exc)])
    replayed.match_id = transcript.match_id
    for seat, info in transcript.roles.items():  # annotations the roles do not make (a tournament's player)
        for key, value in info.items():
            replayed.roles.get(seat, {}).setdefault(key, value)
    if replayed.status == "error" and transcript.status != "error":
        return ReplayResult(False, [f"replay raised: {(replayed.error or '').splitlines()[-1]}"], replayed)
    differences = diff(transcript.comparable(), replayed.comparable())
    return ReplayResult(not differences, differences, replayed)
