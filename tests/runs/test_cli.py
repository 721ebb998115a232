"""The ``sparring`` command line, end to end through ``sparring.cli.main``."""

from __future__ import annotations

import gc
import json
import logging
import tomllib
from pathlib import Path

import pytest

from sparring import Arena, Match, Outcome, Role, Runner, ScriptedEngine
from sparring.agents.pool import ModelPool
from sparring.cli import main
from sparring.runs.analysis.show import match_rewards
from sparring.runs.storage.rundir import RunDir
from sparring.runs.storage.store import Store
from sparring.runs.training.checkpoint import save_adapter_version
from tests.helpers import SeatScript, play_qa


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps at 80 columns when not on a terminal; widen it so messages stay on one line."""
    monkeypatch.setenv("COLUMNS", "400")


@pytest.fixture
def scripted_run(tmp_path: Path) -> Path:
    """A run directory holding scripted qa-verify matches (one has no valid question)."""
    run = tmp_path / "scripted"
    played, _ = play_qa([0, 1])
    invalid, _ = play_qa([2], script=SeatScript(questioner=["junk"]))
    with Store(run / "store.sqlite") as store:
        for t in [*played, *invalid]:
            store.add(t)
    return run


def test_play_show_replay_on_the_tiny_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = ["play", "qa-verify", "--model", "tiny", "-n", "3", "--out", str(out), "-q",
            "--arena-arg", "group_size=2", "--role", "solver.temperature=1.0", "--batch-size", "8"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "3 matches played →" in text  # the table title (the path may wrap)
    assert "matches: 3 played, 0 already stored, 0 errors" in text
    with RunDir.existing(out).open_store() as store:
        ids = store.match_ids()
        assert len(ids) == 3
        assert store.get(ids[0]).arena.kwargs["group_size"] == 2
        assert store.get(ids[0]).roles["solver"]["sampling"]["temperature"] == 1.0
    assert main(argv) == 0
    assert "matches: 0 played, 3 already stored" in capsys.readouterr().out

    assert main(["show", str(out)]) == 0
    text = capsys.readouterr().out
    assert f"match {ids[0]}" in text and "sparring/qa-verify-v1" in text

    assert main(["show", str(out), "--match", ids[1], "--role", "questioner"]) == 0
    text = capsys.readouterr().out
    assert f"match {ids[1]}" in text and "questioner" in text and f"match {ids[0]}" not in text

    assert main(["replay", str(out), "--all"]) == 0
    text = capsys.readouterr().out
    assert all(f"✓ {i}: transcript reproduced exactly" in text for i in ids)
    assert text.endswith("\n3/3 reproduced exactly\n")


def test_show(scripted_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(scripted_run), "--match", "i0-s0", "--role", "solver"]) == 0
    text = capsys.readouterr().out
    assert "match i0-s0" in text
    assert "#1 solver" in text and "#4 solver" in text
    assert "questioner" not in text.split("outcome:")[1].split("match rewards")[0]  # only solver turns
    assert "solver_truth=1 (answer 42 vs truth 42)" in text
    assert "12 + 30 = 42: 3/4 judged right, 2 truly right" in text

    assert main(["show", str(scripted_run), "--match", "i0-s2"]) == 0
    text = capsys.readouterr().out
    assert "no valid question" in text and "questioner_learnability" in text

    assert main(["show", str(scripted_run), "--role", "solver"]) == 0  # matches with solver turns
    text = capsys.readouterr().out
    assert "match i0-s0" in text and "match i0-s1" in text and "match i0-s2" not in text


def test_show_many_matches_as_a_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    played, _ = play_qa(range(5))
    with Store(tmp_path / "store.sqlite") as store:
        for t in played:
            store.add(t)
    assert main(["show", str(tmp_path), "--limit", "4"]) == 0
    text = capsys.readouterr().out
    assert "matches" in text and "i0-s3" in text and "i0-s4" not in text
    assert "show one match with --match ID" in text
    assert main(["show", str(tmp_path), "--status", "error"]) == 1
    assert "no matches stored" in capsys.readouterr().out


def test_replay_detects_a_tampered_store(scripted_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(scripted_run)]) == 0  # the first match by default
    assert capsys.readouterr().out.count("reproduced exactly") == 1
    with Store(scripted_run / "store.sqlite") as store:
        t = store.get("i0-s1")
        t.turns[3].messages[-1]["content"] = "What is 2 + 2?"
        store.add(t)
    assert main(["replay", str(scripted_run), "--all"]) == 1
    text = capsys.readouterr().out
    assert "✓ i0-s0" in text and "✓ i0-s2" in text
    assert "✗ i0-s1: replay differs" in text
    assert text.endswith("\n2/3 reproduced exactly\n")
    assert "replay diverged at turn 3 (solver): the prompt differs from the recorded one" in text
    assert main(["replay", str(scripted_run), "--match", "i0-s0"]) == 0


def test_arenas(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["arenas"]) == 0
    text = capsys.readouterr().out
    assert "sparring/qa-verify-v1" in text and "qa-verify" in text and "questioner, solver, verifier" in text


def test_tasks_counts_each_split_and_marks_small_test_sets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "arithmetic", "sorting", "--draws", "20000"]) == 0
    text = capsys.readouterr().out
    assert "distinct items per split among 20000 draws at each difficulty" in text
    rows = {tuple(line.split()[:2]): line for line in text.splitlines() if line.strip().startswith(("arithmetic", "sorting"))}
    assert set(rows) == {*(("arithmetic", str(d)) for d in range(1, 7)), *(("sorting", str(d)) for d in range(1, 6))}
    assert "too small for a 500-item test set" in rows[("arithmetic", "1")]  # 162 prompts in all
    assert "too small" not in rows[("arithmetic", "3")]

    assert main(["tasks", "units", "--draws", "20000", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["draws"] == 20000 and report["min_test_items"] == 500 and list(report["families"]) == ["units"]
    counts = report["families"]["units"]["counts"]
    assert list(counts) == ["1", "2", "3", "4"] and not any(c["test_too_small"] for c in counts.values())
    assert all(c["distinct"] == c["train"] + c["validation"] + c["test"] >= 6000 for c in counts.values())

    # a .jsonl file counts its lines exactly; file.py:attr names a family too
    lines = [{"prompt": f"What is {i} squared?", "answer": i * i, "difficulty": 1 + i % 2} for i in range(40)]
    data = tmp_path / "squares.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    module = tmp_path / "cubes.py"
    module.write_text("from sparring.arenas import TaskFamily\n"
                      "cubes = TaskFamily('cubes', lambda rng, d: (f'What is {rng.randint(1, 9)} cubed?', 0))\n")
    assert main(["tasks", str(data), f"{module}:cubes", "--json"]) == 0
    families = json.loads(capsys.readouterr().out)["families"]
    assert [c["distinct"] for c in families[str(data)]["counts"].values()] == [20, 20]
    assert families[f"{module}:cubes"]["counts"]["1"]["distinct"] == 9
    assert families[f"{module}:cubes"]["counts"]["1"]["test_too_small"] is True

    assert main(["tasks", "nope"]) == 2
    assert "error: unknown task family 'nope'" in capsys.readouterr().out
    assert main(["tasks", "units", "--draws", "0"]) == 2
    assert "error: --draws must be a positive whole number, got 0" in capsys.readouterr().out


def test_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    text = capsys.readouterr().out
    assert "✓ sparring/qa-verify-v1: 24 matches" in text  # 8 scripts x 3 seeds
    assert "  checked:\n    - class declarations: id 'namespace/name-vN'" in text
    assert ("    - replies from 8 scripts (empty, huge, unicode, json_garbage, format_mimic, numbers, "
            "random, well_formed) never crash a match") in text
    assert "    - well-formed replies for questioner, solver, verifier are played" in text
    assert "warning" not in text
    assert main(["check", "qa-verify", "--arena-arg", "group_size=2", "--arena-arg", 'ops=["*"]']) == 0
    capsys.readouterr()


def test_check_reports_a_broken_arena(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "tests.arenas.test_conformance:CrashOnEmpty"]) == 1
    text = capsys.readouterr().out
    assert "✗ tests/crash-on-empty-v1 failed" in text
    assert "the arena's play crashed on scripted replies: IndexError" in text


def test_check_drives_a_file_arena_with_well_formed_replies(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(__file__).resolve().parents[1] / "arenas" / "test_conformance.py"
    assert main(["check", f"{path}:Guessing"]) == 1  # its reward doubles past bounds on success
    text = capsys.readouterr().out
    # one rule broken on the three well-formed plays: one line naming them
    assert "✗ tests/guessing-v1 failed 1 conformance rule(s):" in text
    assert ("- reward 'bonus' gave guesser 2.0, outside reward_bounds (0.0, 1.0) "
            "(in 3 plays: reply sets well_formed; seeds 0, 1, 2)") in text
    assert main(["check", f"{path}:Opaque"]) == 0
    text = capsys.readouterr().out
    assert ("  warning: no well-formed replies were available for seat 'speaker': set "
            "Opaque.examples['speaker'] or give its role's parser an 'examples' attribute") in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["play", "nope", "--out", "{tmp}/r", "--model", "tiny"],
         "error: arena \"nope\": unknown arena 'nope'; use a registered name ("),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--role", "temperature=1"],
         "error: --role temperature=... must look like SEAT.FIELD=VALUE (e.g. solver.temperature=1.0)"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--role", "solver.temperature"],
         "error: --role option 'solver.temperature' must look like key=value"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--arena-arg", "digits"],
         "error: --arena-arg 'digits' must look like key=value"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--arena-arg", "digits=9"],
         "error: --arena-arg digits = 9: QuestionAnswerVerify refused it: digits must be in 1..6, got 9"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--arena-arg", "colour=red"],
         "error: --arena-arg colour = \"red\": QuestionAnswerVerify has no argument 'colour'"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model"],
         "error: --model \"no-such-model\": no such folder (use default, tiny[:seed] or a folder"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "tiny", "--role", "solvr.temperature=1"],
         "error: roles.solvr: 'solvr' is not a seat of sparring/qa-verify-v1 (seats: questioner, solver, verifier)"),
        # Field errors come before the model loads: no-such-model is never reached.
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--role", "solver.temprature=1"],
         "error: roles.solver.temprature: unknown field 'temprature'; a seat takes adapter, "
         "max_new_tokens, temperature, top_p, stop\n"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--role", "verifier.init_from=a/b"],
         "error: roles.verifier.init_from: unknown field 'init_from'; a seat takes adapter, max_new_tokens, "
         "temperature, top_p, stop; to play verifier on a saved adapter folder, load it with --adapter "
         "NAME=PATH and bind it with --role verifier.adapter=NAME"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--role", "verifier.adapter=out/r/adapters/v/v3"],
         "error: roles.verifier.adapter = 'out/r/adapters/v/v3' is a path, not an adapter name; load the "
         "folder with --adapter verifier=out/r/adapters/v/v3 and bind it with --role verifier.adapter=verifier"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--role", "verifier.adapter=my judge"],
         "error: roles.verifier.adapter: adapter name 'my judge' must be letters, digits, '_', '-' or '.'"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--role", "solver.temperature=hot"],
         "error: roles.solver.temperature must be a number, got 'hot'"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--role", "solver.temperature=true"],
         "error: roles.solver.temperature must be a number, got True"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--role", "solver.temperature=-1"],
         "error: roles.solver: temperature must be >= 0 (0 = greedy), got -1"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--role", "solver.x.y=1"],
         "error: --role solver.x.y=... must look like SEAT.FIELD=VALUE"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--adapter", "judge=/nowhere/v3",
          "--role", "verifier.adapter=judge"],
         "error: --adapter judge=/nowhere/v3: /nowhere/v3 does not exist"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--adapter", "judge={tmp}/empty",
          "--role", "verifier.adapter=judge"],
         "error: --adapter judge={tmp}/empty: {tmp}/empty holds no saved peft adapter (adapter_config.json "
         "and adapter_model.safetensors); point it at a folder like RUN/adapters/judge/v3"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--adapter", "judge={tmp}/empty"],
         "error: adapter 'judge' is loaded from {tmp}/empty but no seat plays on it; bind a seat to it "
         "with --role SEAT.adapter=judge"),
        (["play", "qa-verify", "--out", "{tmp}/r", "--model", "no-such-model", "--adapter", "judge"],
         "error: --adapter 'judge' must look like NAME=PATH"),
        (["show", "{tmp}/empty"],
         "error: {tmp}/empty is not a run directory (no store.sqlite); create one with 'sparring play ARENA --out {tmp}/empty'"),
        (["replay", "{tmp}/empty"], "is not a run directory (no store.sqlite)"),
        (["check", "nope"], "error: unknown arena 'nope'"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    assert message.replace("{tmp}", str(tmp_path)) in capsys.readouterr().out


def test_unknown_match_id(scripted_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(scripted_run), "--match", "i0-s99"]) == 2
    assert "no match 'i0-s99'" in capsys.readouterr().out


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["play", "qa-verify"])  # --out is required
    assert info.value.code == 2
    assert "the following arguments are required: --out/-o" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


@pytest.mark.smoke
def test_smoke_play_and_replay_on_the_embedded_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "smoke"
    assert main(["play", "qa-verify", "-n", "2", "--out", str(out), "-q", "--arena-arg", "group_size=2"]) == 0
    assert "matches: 2 played, 0 already stored, 0 errors" in capsys.readouterr().out
    with RunDir.existing(out).open_store() as store:
        transcripts = list(store.transcripts())
    assert len(transcripts) == 2
    for t in transcripts:
        assert t.status == "finished" and t.turns and t.rewards
        assert t.turns[0].role == "questioner" and t.turns[0].text.strip()
        assert all(len(u.token_ids) == len(u.logprobs) > 0 for u in t.turns)
    assert main(["replay", str(out), "--all"]) == 0
    assert capsys.readouterr().out.endswith("\n2/2 reproduced exactly\n")


# -- play with saved adapters, run-directory settings, Ctrl-C, summary -------------------


@pytest.fixture(scope="module")
def saved_judge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained-looking adapter folder ``TRAIN/adapters/judge/v3`` (random LoRA weights, rank 4)."""
    pool = ModelPool(dtype="fp32")
    pool.load("default", "tiny")
    pool.add_adapter("default", "judge", rank=4, alpha=8, target_modules=["q_proj", "v_proj"], init="random", seed=1)
    for _ in range(3):
        pool.bump_version("default", "judge")
    return save_adapter_version(pool, "default", "judge", tmp_path_factory.mktemp("train"))


def _play_argv(out: Path, *extra: str) -> list[str]:
    return ["play", "qa-verify", "--model", "tiny", "--dtype", "fp32", "-n", "2", "--out", str(out), "-q",
            "--arena-arg", "group_size=2", "--batch-size", "8", *extra]


def _questioner_turns(out: Path) -> list[tuple[str | None, int | None, list[float]]]:
    with RunDir.existing(out).open_store() as store:
        return [(u.adapter, u.adapter_version, u.logprobs) for t in store.transcripts() for u in t.turns_of("questioner")]


def test_play_a_seat_on_a_saved_adapter(saved_judge: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert saved_judge.parts[-3:] == ("adapters", "judge", "v3")
    base, judged = tmp_path / "base", tmp_path / "judged"
    assert main(_play_argv(base)) == 0
    # (The tiny model never writes a valid question, so the questioner is the seat that plays.)
    argv = _play_argv(judged, "--adapter", f"judge={saved_judge}", "--role", "questioner.adapter=judge")
    assert main(argv) == 0
    assert main(_play_argv(fresh := tmp_path / "fresh", "--role", "questioner.adapter=judge")) == 0
    capsys.readouterr()
    on_base, on_fresh, on_judge = _questioner_turns(base), _questioner_turns(fresh), _questioner_turns(judged)
    assert {(a, v) for a, v, _ in on_judge} == {("judge", 3)}  # the folder's version is recorded
    assert {(a, v) for a, v, _ in on_fresh} == {("judge", 0)}  # a name not given by --adapter: created fresh
    # A fresh adapter plays exactly like the base; the loaded one does not: its weights were loaded.
    assert [lp for *_, lp in on_base] == [lp for *_, lp in on_fresh] != [lp for *_, lp in on_judge]
    config = tomllib.loads((judged / "config.toml").read_text())
    assert config["adapters"]["judge"]["source"] == str(saved_judge.resolve())
    assert (config["adapters"]["judge"]["rank"], config["adapters"]["judge"]["alpha"]) == (4, 8)
    assert config["roles"]["questioner"]["adapter"] == "judge"

    with RunDir.existing(judged).open_store() as store:
        match_id = store.match_ids()[0]
    assert main(["show", str(judged), "--match", match_id, "--role", "questioner"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"adapter judge: loaded from {saved_judge.resolve()}\n")
    assert "[default:judge v3]" in text
    assert main(["replay", str(judged), "--all"]) == 0
    assert "2/2 reproduced exactly" in capsys.readouterr().out

    # The same settings continue the run; other settings are refused, naming what differs.
    assert argv[6:8] == ["-n", "2"]
    assert main([*argv[:7], "4", *argv[8:]]) == 0
    assert "matches: 2 played, 2 already stored" in capsys.readouterr().out
    assert main(_play_argv(judged, "--role", "questioner.adapter=judge")) == 2
    assert (f"error: {judged} was played with other settings (adapters.judge: recorded "
            f"'{saved_judge.resolve()}', now not set); play into a new --out directory, or repeat "
            "the recorded settings (see its config.toml) to finish that run") in capsys.readouterr().out
    assert main([*argv, "--arena-arg", "group_size=3", "--role", "solver.temperature=0.5"]) == 2
    assert ("was played with other settings (arena.kwargs.group_size: recorded 2, now 3; "
            "roles.solver.sampling.temperature: recorded 0.8, now 0.5)") in capsys.readouterr().out


def test_override_values_are_toml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    argv = _play_argv(out, "--arena-arg", 'ops=["*"]', "--arena-arg", "digits=1", "--role", "solver.max_new_tokens=8",
                      "--role", 'solver.stop=["\\n\\n", "Question"]', "--role", "verifier.temperature=0",
                      "--role", "questioner.stop=Answer")
    assert main(argv) == 0
    capsys.readouterr()
    with RunDir.existing(out).open_store() as store:
        t = store.get(store.match_ids()[0])
    assert t.arena.kwargs["ops"] == ["*"] and t.arena.kwargs["digits"] == 1
    assert t.roles["solver"]["sampling"]["max_new_tokens"] == 8
    assert t.roles["solver"]["sampling"]["stop"] == ["\n\n", "Question"]
    assert t.roles["verifier"]["sampling"]["temperature"] == 0
    assert t.roles["questioner"]["sampling"]["stop"] == ["Answer"]  # not TOML: read as a string


def test_play_summary_prints_what_the_arena_declares(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_play_argv(tmp_path / "run")) == 0
    text = capsys.readouterr().out
    for header in ("reward", "seat", "mean", "std", "n"):
        assert f" {header} " in text
    # (The tiny model writes no valid question: only questioner rewards and turns.)
    assert "│ questioner_learnability │ questioner │ -1.000 │ 0.000 │ 2 │" in text
    assert "accuracy" not in text  # no task-specific labels
    assert "parse failures: questioner 4/4 (100%)" in text


def test_ctrl_c_during_play_keeps_stored_matches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    from sparring.agents.engines.continuous import DecodeSession

    advance = DecodeSession.advance  # the runner streams asks into the engine's decode session
    calls = {"n": 0}

    def interrupted(self: DecodeSession, *args: object, **kwargs: object) -> list:
        calls["n"] += 1
        if calls["n"] == 5:  # two matches (a question and its retry each) are stored by then
            raise KeyboardInterrupt
        return advance(self, *args, **kwargs)

    monkeypatch.setattr(DecodeSession, "advance", interrupted)
    out = tmp_path / "run"
    argv = [*_play_argv(out), "--max-in-flight", "1", "-n", "4"]
    with caplog.at_level(logging.WARNING, logger="asyncio"):
        assert main(argv) == 130
        gc.collect()
    text = capsys.readouterr().out
    assert "interrupted; run the same command again to finish; stored matches are kept" in text
    assert "--resume" not in text
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
    monkeypatch.setattr(DecodeSession, "advance", advance)
    assert main(argv) == 0
    assert "matches: 2 played, 2 already stored, 0 errors" in capsys.readouterr().out


class TwoDebaters(Arena):
    """Two seats that differ only in their system prompt."""

    id = "tests/two-debaters-v1"
    roles = ("pro", "con")

    def default_roles(self) -> dict[str, Role]:
        return {"pro": Role(name="pro", system_prompt="Argue FOR the motion."),
                "con": Role(name="con", system_prompt="Argue AGAINST the motion.")}

    async def play(self, match: Match) -> Outcome:
        for seat in self.roles:
            await match.ask(seat, "Motion: tea beats coffee.")
        return Outcome({}, "debated")


def test_show_prints_system_prompts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    [t] = Runner({"default": ScriptedEngine(["I agree."])}).play(TwoDebaters(), [0])
    with Store(tmp_path / "store.sqlite") as store:
        store.add(t)
    assert main(["show", str(tmp_path), "--match", t.match_id]) == 0
    text = capsys.readouterr().out
    assert "system  Argue FOR the motion." in text and "system  Argue AGAINST the motion." in text


def test_match_list_shows_each_reward_separately(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    played, _ = play_qa(range(4))
    with Store(tmp_path / "store.sqlite") as store:
        for t in played:
            store.add(t)
    assert main(["show", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    t = played[0]
    for key, value in match_rewards(t).items():
        assert f"{key}={value:.2f}" in text
    # solver_verdict (3/4 judged right) and solver_truth (2/4 right) are not blended.
    assert "solver_verdict/solver=0.75" in text and "solver_truth/solver=0.50" in text
