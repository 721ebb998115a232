"""Golden transcripts of propose-solve and spin: played on scripted replies, replayed and diffed.

Each golden file (``tests/golden/<name>.json``) holds the transcripts (wall-clock fields
left out) of a few seeded matches played on the scripted replies in
``tests/arenas/task_scripts.py``. The test plays the same matches again and diffs them
against the file, and replays every stored transcript on its recorded replies. A change
of protocol, prompts, parsing, outcome or rewards shows up as a diff naming the path.

After an intended change (and a version bump of the arena where its protocol changed),
regenerate and review the diff of the JSON files::

    SPARRING_UPDATE_GOLDEN=1 python -m pytest -q tests/arenas/test_golden_tasks.py
    git diff tests/golden/
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sparring.arenas import Arena, ProposeSolve, Spin, Transcript, replay
from sparring.arenas.replay import diff

from .task_scripts import GOLDEN_PROPOSE_SOLVE, GOLDEN_SPIN, play

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
SEEDS = (0, 1, 2, 3, 4, 5)
CASES: dict[str, tuple[Arena, Any]] = {
    "propose_solve": (ProposeSolve(family="arithmetic", difficulty=[1, 2], samples=4, history=2), GOLDEN_PROPOSE_SOLVE),
    "spin": (Spin(family="arithmetic", difficulty=[1, 2], samples=2), GOLDEN_SPIN),
}


def _played(name: str) -> list[dict[str, Any]]:
    arena, script = CASES[name]
    transcripts, _ = play(arena, script, seeds=SEEDS)
    return [t.comparable() for t in transcripts]


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_transcripts(name: str) -> None:
    path = GOLDEN / f"{name}.json"
    played = _played(name)
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    if not path.exists():
        pytest.fail(f"{path} is missing; create it with SPARRING_UPDATE_GOLDEN=1 python -m pytest -q {__file__}")
    golden = json.loads(path.read_text(encoding="utf-8"))
    differences = diff(golden, played)
    assert not differences, (f"{name} no longer plays its golden transcripts ({path}); if the change is intended, "
                             f"regenerate (see this module's docstring):\n" + "\n".join(differences))


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_transcripts_replay_exactly(name: str) -> None:
    golden = json.loads((GOLDEN / f"{name}.json").read_text(encoding="utf-8"))
    assert golden, "empty golden file"
    for data in golden:
        result = replay(Transcript.model_validate(data))
        assert result.identical, result.differences


def test_golden_cases_cover_the_rewards() -> None:
    golden = json.loads((GOLDEN / "propose_solve.json").read_text(encoding="utf-8"))
    values = {(r["reward"], r["value"]) for t in golden for r in t["rewards"]}
    assert {("proposer_band", -1.0), ("solver_majority", 1.0), ("solver_majority", 0.0)} <= values
    assert {t["outcome"]["valid_problem"] for t in golden} == {True, False}
