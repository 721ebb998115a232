"""Exporting stored transcripts as TRL datasets: layouts, options, errors, a DPO round trip."""

from __future__ import annotations

import json
import math
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from sparring import QuestionAnswerVerify, Runner, ScriptedEngine
from sparring.agents.engines.base import GenerationRequest
from sparring.arenas.builtin.arithmetic import evaluate, find_expression
from sparring.cli import main
from sparring.runs.storage.export import COLUMNS, export
from sparring.runs.storage.store import Store
from tests.helpers import seat_of

SEEDS = range(6)
GROUP = 4


def varied_script() -> object:
    """Well-formed replies: new numbers per question, solver answers alternately right and
    wrong (off by one), and a verifier that compares the proposed and reference answers."""
    counts: Counter[str] = Counter()

    def script(request: GenerationRequest, index: int) -> str:
        seat = seat_of(request)
        k = counts[seat]
        counts[seat] += 1
        prompt = request.messages[-1]["content"]
        if seat == "questioner":
            a, b = 11 + 7 * k, 23 + 5 * k
            return f"Question: What is {a} + {b}?\nAnswer: {a + b}"
        if seat == "solver":
            truth = evaluate(find_expression(prompt))
            return f"{truth + k % 2}" if k % 2 else f"Let me add.\nAnswer: {truth}"
        reference = re.search(r"Reference answer: (-?\d+)", prompt).group(1)
        proposed = re.search(r"Proposed answer: (\S+)", prompt).group(1)
        return "Verdict: correct" if proposed == reference else "Verdict: incorrect"

    return script


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A run directory with six scripted qa-verify matches, one invalid-question match and a
    held-out ``eval-`` match that export must skip."""
    run = tmp_path / "run"
    arena = QuestionAnswerVerify(group_size=GROUP)
    played = Runner({"default": ScriptedEngine(varied_script())}).play(arena, list(SEEDS))
    invalid = Runner({"default": ScriptedEngine(["no question here"])}).play(arena, [99])
    held_out = played[0].model_copy(update={"match_id": "eval-i0-s0"})
    with Store(run / "store.sqlite") as store:
        for t in [*played, *invalid, held_out]:
            assert t.status == "finished", t.error
            store.add(t)
    return run


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_scripted_store_has_right_and_wrong_answers_in_every_group(run_dir: Path) -> None:
    with Store(run_dir / "store.sqlite") as store:
        for match_id in store.match_ids():
            t = store.get(match_id)
            if t.outcome["valid_question"]:
                assert sorted(t.outcome["answers_correct"]) == [False, False, True, True]
                assert t.outcome["verdicts"] == t.outcome["answers_correct"]


def test_dpo_layout(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dpo.jsonl"
    assert export(run_dir, "dpo", out) == len(SEEDS)  # one solver pair per question; no other seat pairs
    rows = read_jsonl(out)
    assert len(rows) == len(SEEDS)
    for row in rows:
        assert tuple(row) == COLUMNS["dpo"] == (
            "prompt", "chosen", "rejected", "strength", "role", "adapter", "adapter_version", "match_id")
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert row["prompt"][0]["content"].startswith("You are a careful solver")
        assert row["prompt"][1]["content"].startswith("What is ")
        [chosen], [rejected] = row["chosen"], row["rejected"]
        assert chosen["role"] == rejected["role"] == "assistant" and set(chosen) == {"role", "content"}
        assert chosen["content"].startswith("Let me add.") and "Answer" not in rejected["content"]
        assert (row["strength"], row["role"], row["adapter"], row["adapter_version"]) == (1.0, "solver", None, None)
        assert not row["match_id"].startswith("eval-")
    assert len({r["match_id"] for r in rows}) == len(SEEDS)


def test_dpo_margin_builder_pairs_every_right_with_every_wrong(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "margin.jsonl"
    assert export(run_dir, "dpo", out, builder="margin", margin=0.5) == len(SEEDS) * 2 * 2
    assert export(run_dir, "dpo", out, builder="margin", margin=1.5) == 0


def test_grpo_layout(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "grpo.jsonl"
    n = export(run_dir, "grpo", out)
    rows = read_jsonl(out)
    # solver: 4 per question; verifier: 4 per question (one per ask); questioner: 7 matches
    # (6 valid + 1 invalid) scored by the match-level questioner_learnability.
    by_role = Counter(r["role"] for r in rows)
    assert by_role == {"solver": GROUP * len(SEEDS), "verifier": GROUP * len(SEEDS), "questioner": len(SEEDS) + 1}
    assert n == len(rows)
    assert all(tuple(r) == COLUMNS["grpo"] for r in rows)
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        assert r["completion"] == [{"role": "assistant", "content": r["completion"][0]["content"]}]
        groups[r["group"]].append(r)
    solver_groups = [g for key, g in groups.items() if key.startswith("solver/")]
    assert len(solver_groups) == len(SEEDS)
    for g in solver_groups:
        assert len(g) == GROUP and len({json.dumps(r["prompt"]) for r in g}) == 1
        assert sorted(r["reward"] for r in g) == [0.0, 0.0, 1.0, 1.0]  # solver_verdict
    [questioner_group] = [g for key, g in groups.items() if key.startswith("questioner/")]
    # one batch-wide group; the invalid match counts once (its last questioner turn)
    assert sorted(r["reward"] for r in questioner_group) == [-1.0] + [1.0] * len(SEEDS)
    # every verifier ask drew one reply, so no ask has a spread: the seat's batch is one group
    # (the batch mean its baseline), and groups never collide across seats
    [verifier_group] = [g for key, g in groups.items() if key.startswith("verifier/")]
    assert len(verifier_group) == GROUP * len(SEEDS)


def test_sft_layout_and_min_reward(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sft.jsonl"
    assert export(run_dir, "sft", out, role="solver") == 2 * len(SEEDS)
    rows = read_jsonl(out)
    assert all(tuple(r) == COLUMNS["sft"] for r in rows)
    assert all(r["reward"] == 1.0 and r["completion"][0]["content"].startswith("Let me add.") for r in rows)
    assert export(run_dir, "sft", out, role="solver", min_reward=0.0) == GROUP * len(SEEDS)


def test_role_and_reward_options(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.jsonl"
    export(run_dir, "grpo", out, role="verifier", reward="verifier_majority")
    rows = read_jsonl(out)
    assert {r["role"] for r in rows} == {"verifier"} and len(rows) == GROUP * len(SEEDS)
    export(run_dir, "grpo", out, reward="solver_truth")  # a reward picks its seats
    assert {r["role"] for r in read_jsonl(out)} == {"solver"}
    assert export(run_dir, "sft", out, role="questioner") == len(SEEDS)  # learnability 1.0: p = 1/2


@pytest.mark.parametrize("fmt", ["dpo", "grpo", "sft"])
def test_parquet_matches_jsonl(run_dir: Path, tmp_path: Path, fmt: str) -> None:
    from datasets import Dataset

    n = export(run_dir, fmt, tmp_path / "a.jsonl")
    assert export(run_dir, fmt, tmp_path / "a.parquet") == n > 0
    table = Dataset.from_parquet(str(tmp_path / "a.parquet"))
    assert table.column_names == list(COLUMNS[fmt])
    assert table.to_list() == read_jsonl(tmp_path / "a.jsonl")
    assert not list(tmp_path.glob(".a.*"))  # no temporary file left behind


def test_empty_result_writes_an_empty_file_and_warns(run_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "empty.jsonl"
    assert export(run_dir, "dpo", out, iteration=7) == 0
    assert out.read_bytes() == b""
    assert "warning: export found no dpo rows in 0 matches" in capsys.readouterr().err
    assert export(run_dir, "dpo", tmp_path / "empty.parquet", role="verifier") == 0
    assert "(role:reward verifier:verifier_majority)" in capsys.readouterr().err
    # A valid zero-row Parquet file with the format's columns (`datasets` itself refuses to
    # load a dataset with no rows, so read it with pyarrow).
    table = pq.read_table(tmp_path / "empty.parquet")
    assert table.num_rows == 0 and table.column_names == list(COLUMNS["dpo"])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"format": "ppo"}, ValueError, "format must be one of dpo, grpo, sft, got 'ppo'"),
        ({"builder": "spin"}, ValueError, "builder must be one of best_worst, margin"),
        ({"to": "out.csv"}, ValueError, "cannot write 'out.csv'; the output file must end in .jsonl or .parquet"),
        ({"role": "solvr"}, ValueError, "role 'solvr' has no turns .* \\(seats: questioner, solver, verifier\\)"),
        ({"reward": "accuracy"}, ValueError, "no reward 'accuracy' is stored .*solver_verdict"),
        ({"run_dir": "missing"}, FileNotFoundError, "is not a run directory"),
    ],
)
def test_errors(run_dir: Path, tmp_path: Path, kwargs: dict, error: type, message: str) -> None:
    args = {"run_dir": run_dir, "format": "dpo", "to": "out.jsonl", **kwargs}
    args["to"] = tmp_path / args["to"]
    if args["run_dir"] == "missing":
        args["run_dir"] = tmp_path / "missing"
    with pytest.raises(error, match=message):
        export(**args)
    assert not args["to"].exists()


def test_parquet_without_datasets(run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(RuntimeError, match=r"needs the 'datasets' package; run pip install 'sparring\[parquet\]'"):
        export(run_dir, "sft", tmp_path / "x.parquet")
    assert export(run_dir, "sft", tmp_path / "x.jsonl") > 0  # jsonl needs nothing


def test_cli(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")
    out = tmp_path / "cli.jsonl"
    assert main(["export", str(run_dir), "--format", "grpo", "--role", "solver", "--reward", "solver_truth",
                 "--to", str(out)]) == 0
    assert f"{GROUP * len(SEEDS)} grpo rows written to {out}" in capsys.readouterr().out
    assert {r["role"] for r in read_jsonl(out)} == {"solver"}
    assert main(["export", str(run_dir), "-f", "dpo", "--builder", "margin", "--to", str(tmp_path / "m.parquet")]) == 0
    assert f"{4 * len(SEEDS)} dpo rows written" in capsys.readouterr().out
    assert main(["export", str(run_dir), "--format", "sft", "--to", str(tmp_path / "x.txt")]) == 2
    assert "error: export: cannot write 'x.txt'" in capsys.readouterr().out


def test_sft_threshold_above_every_reward_is_refused(run_dir: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sft.parquet"
    argv = ["export", str(run_dir), "--format", "sft", "--role", "solver", "--to", str(out)]
    assert main([*argv, "--min-reward", "2"]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"error: export: no sft sample has a reward of at least --min-reward 2; the {GROUP * len(SEEDS)} "
                     "replies scored by solver:solver_verdict range from 0 to 1: pass --min-reward 1 or lower"]
    assert not out.exists() and not list(tmp_path.glob(".sft.parquet.*"))  # nothing written, not even a temporary
    assert main([*argv, "--min-reward", "1"]) == 0  # the range's top is accepted
    assert f"{2 * len(SEEDS)} sft rows written" in capsys.readouterr().out


def test_trl_dpo_round_trip(run_dir: Path, tmp_path: Path) -> None:
    """The dpo export loads with `datasets` and trains one TRL DPO step on a tiny LoRA model."""
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from peft import LoraConfig

    from sparring.agents.tiny import tiny_model

    path = tmp_path / "pairs.jsonl"
    assert export(run_dir, "dpo", path) == len(SEEDS)
    dataset = datasets.load_dataset("json", data_files=str(path), split="train")
    assert dataset.column_names == list(COLUMNS["dpo"])
    model, tokenizer = tiny_model(seed=0)
    config = trl.DPOConfig(
        output_dir=str(tmp_path / "dpo"), max_steps=1, per_device_train_batch_size=2, use_cpu=True,
        report_to=[], logging_steps=1, save_strategy="no", max_length=512,
    )
    peft_config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
    trainer = trl.DPOTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                             peft_config=peft_config)
    result = trainer.train()
    assert trainer.state.global_step == 1
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    assert losses and all(math.isfinite(v) for v in losses) and math.isfinite(result.training_loss)
    # LoRA's B matrices start at zero, so the policy equals the reference at the first step and
    # the sigmoid DPO loss is exactly -log sigmoid(0) = log 2 on every pair.
    assert losses[0] == pytest.approx(math.log(2), abs=1e-4)
