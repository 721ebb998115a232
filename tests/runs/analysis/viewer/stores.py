"""Run directories for the viewer tests, played on the scripted engine (no model loads).

``make_run`` writes a small training-shaped run of qa-verify: three iterations, the
solver on adapter versions 0..2, one match whose questioner never produces a question
(so it has no solver turn), one whose replies carry HTML/script payloads and a very long
unicode line, per-iteration metrics with a collapse monitor crossing its threshold and
held-out figures of both splits with their 95% intervals, a recipe and saved adapter folders. ``make_tournament`` plays a scripted rock-paper-scissors
tournament (a preference cycle) for the ratings page. ``grow`` clones a stored match into thousands of rows
with one SQL statement per table, for the paging test.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import QuestionAnswerVerify, Runner
from sparring.cli import main
from sparring.runs.storage.rundir import RunDir, write_atomic
from sparring.runs.storage.store import Store
from tests.helpers import SeatScript, well_formed_script

DUEL = Path(__file__).resolve().parents[2] / "duel_arena.py"
HOSTILE_QUESTION = "Question: <script>alert(1)</script> What is 2 + 2? <img src=x onerror=alert(1)>\nAnswer: 4"
LONG_LINE = "ÆØÅ漢字🙂ßΩ" * 1500  # 12,000 characters without a space
HOSTILE_SOLVER = [
    "<img src=x onerror=\"window.__pwned=1;alert(1)\">Answer: 4",
    f"{LONG_LINE} Answer: 4",
    "</pre></script><script>window.__pwned=2;alert(2)</script>Answer: 5",
    "<b onmouseover=alert(1)>bold</b> <a href=\"javascript:alert(1)\">x</a> Answer: 4",
]
ITERATIONS = {0: [0, 1, 2, 3], 1: [0, 1, 2, 3], 2: [0, 1]}
MALFORMED_SEED = 4  # iteration 0: the questioner never writes a question, so no solver plays
HOSTILE_SEED = 9  # iteration 2


def _play(store: Store, script: object, seeds: list[int], iteration: int) -> None:
    arena = QuestionAnswerVerify()
    roles = arena.default_roles()
    roles["solver"] = roles["solver"].bind(adapter="solver")
    runner = Runner({"default": ScriptedEngine(script)}, roles,
                    version_of=lambda role: iteration if role.adapter == "solver" else None)
    for t in runner.play(arena, seeds, run_id="viewer-run", iteration=iteration):
        store.add(t)


def make_run(out: Path) -> Path:
    """Write the viewer test run into ``out``; returns ``out``."""
    run = RunDir(out)
    recipe = {"arena": {"name": "qa-verify"}, "train": {"iterations": 3, "matches_per_iteration": 4}}
    run.write_config({"command": "train", "recipe": recipe, "arena": QuestionAnswerVerify().spec().model_dump(mode="json"),
                      "adapters": {"solver": {"source": "new"}}})
    write_atomic(out / "recipe.toml", b'[arena]\nname = "qa-verify"\n\n[train]\niterations = 3\nmatches_per_iteration = 4\n')
    for version in (0, 1, 2):
        folder = out / "adapters" / "solver" / f"v{version}"
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text(json.dumps({"r": 8, "version": version}))
    with run.open_store() as store:
        for iteration, seeds in ITERATIONS.items():
            script = well_formed_script()
            if iteration == 1:  # after "training" the solver always answers 42
                script = SeatScript(questioner=["Question: What is 12 + 30?\nAnswer: 42"], solver=["Answer: 42"],
                                    verifier=["Verdict: correct"])
            _play(store, script, seeds, iteration)
        _play(store, SeatScript(questioner=["I refuse."], solver=["-"], verifier=["-"]), [MALFORMED_SEED], 0)
        _play(store, SeatScript(questioner=[HOSTILE_QUESTION], solver=HOSTILE_SOLVER,
                                verifier=["Verdict: correct <script>alert(3)</script>"]), [HOSTILE_SEED], 2)
        for iteration, (entropy, accuracy) in enumerate([(0.9, 0.25), (0.4, 0.5), (0.03, 0.75)]):
            store.add_metrics(iteration, {
                "reward/solver_truth/solver": accuracy, "reward/solver_verdict/solver": 0.8,
                "reward/questioner_learnability/questioner": 0.5,
                "solver/entropy": entropy, "verifier/entropy": 0.7, "solver/distinct": 0.5,
                "update/solver/loss": 1.0 / (iteration + 1), "time/generate": 2.0, "time/update": 1.0,
                **held_out("eval/solver_accuracy", accuracy), **held_out("validation/solver_accuracy", accuracy / 2)})
    return out


def held_out(key: str, value: float, n: int = 40) -> dict[str, float]:
    """A held-out figure with its 95% interval and item counts, as the trainer stores it."""
    return {key: value, f"{key}/ci_low": max(0.0, value - 0.15), f"{key}/ci_high": min(1.0, value + 0.15),
            f"{key}/n_items": float(n), f"{key}/n_distinct": float(n)}


def make_tournament(out: Path) -> Path:
    """A rock-paper-scissors tournament of scripted players in ``out`` (no model loads)."""
    config = out.parent / f"{out.name}.toml"
    config.write_text(f'[model]\nsource = "tiny"\n[arena]\nname = "{DUEL}:RockPaperScissors"\n'
                      '[players.rock]\nreply = "rock"\n[players.paper]\nreply = "paper"\n'
                      '[players.scissors]\nreply = "scissors"\n[schedule]\ngames = 1\n')
    assert main(["tournament", str(config), "--out", str(out), "-q"]) == 0
    return out


def grow(out: Path, copies: int, source: str = "i0-s0") -> None:
    """Add ``copies`` clones of match ``source`` (ids ``big-<k>``, iterations ``k % 10``, rewards
    varied by ``k``) with one statement per table: a large store in well under a second."""
    conn = sqlite3.connect(out / "store.sqlite")
    with conn:
        conn.execute(f"CREATE TEMP TABLE k AS WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n"
                     f" WHERE k + 1 < {copies}) SELECT k FROM n")
        conn.execute("INSERT INTO matches SELECT 'big-' || k, run_id, k % 10, arena_id, 1000 + k, status, spec, roles,"
                     " outcome, summary, error, schema_version, started_at, finished_at FROM matches, k WHERE match_id = ?",
                     (source,))
        conn.execute("INSERT INTO turns SELECT 'big-' || k, idx, ask, sample, role, model, adapter, adapter_version,"
                     " messages, sampling, seed, text, token_ids, logprobs, finish_reason, prompt_tokens, parsed,"
                     " parse_error, latency FROM turns, k WHERE match_id = ?", (source,))
        conn.execute("INSERT INTO rewards SELECT 'big-' || k, reward, role, turn, (k % 101) / 100.0, explanation"
                     " FROM rewards, k WHERE match_id = ?", (source,))
    conn.close()
