"""README's multi-sample example (examples/letter_count_samples.py): each sample of an
``n=`` ask is a turn scored by ``Score(turn=...)``, and GRPO groups are formed per ask."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.arenas import check_arena, make
from sparring.cli import main
from sparring.rewards.builders import grpo_groups
from sparring.runs.storage.export import placeholder_encode
from sparring.runs.storage.rundir import RunDir

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "letter_count_samples.py"
NAME = f"{EXAMPLE}:LetterCountSamples"


def test_the_example_passes_the_check() -> None:
    report = check_arena(make(NAME))
    assert report.turns == 4 * report.matches  # four samples per match


def test_each_sample_is_a_scored_turn_and_each_ask_a_group(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["play", NAME, "--model", "tiny", "--dtype", "fp32", "-n", "3", "--out", str(out), "-q",
                 "--role", "counter.max_new_tokens=6"]) == 0
    capsys.readouterr()
    with RunDir.existing(out).open_store() as store:
        transcripts = [store.get(m) for m in store.match_ids()]
    assert len(transcripts) == 3
    for t in transcripts:
        assert [(u.ask, u.sample, u.index) for u in t.turns] == [(0, k, k) for k in range(4)]
        scores = {r.turn: r for r in t.rewards if r.reward == "count_correct_each"}
        assert sorted(scores) == [0, 1, 2, 3]  # Score(turn=i): one per sample
        for k, answer in enumerate(t.outcome["answers"]):
            assert scores[k].explanation == f"said {answer}, truth {t.outcome['truth']}"
            assert t.turns[k].parsed == answer
    samples = grpo_groups(transcripts, "counter", "count_correct_each", placeholder_encode)
    groups: dict[str, int] = {}
    for s in samples:
        groups[s.group_id] = groups.get(s.group_id, 0) + 1
    # one group per ask (here one ask per match) of its four samples
    assert sorted(groups.values()) == [4, 4, 4]
    assert {g.rsplit("/", 1)[-1] for g in groups} == {"ask0"}
