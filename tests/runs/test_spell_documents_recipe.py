"""recipes/spell_documents.toml through the real CLI on the tiny model: with a JSONL of user
documents, the curriculum's level logged across a resume, and `sparring check`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sparring.arenas.builtin.documents import split_of_document
from sparring.cli import main
from sparring.runs.storage.store import Store

ROOT = Path(__file__).resolve().parents[2]
TINY = ['model.source="tiny"', "train.matches_per_iteration=2", "eval.size=2", "arena.kwargs.samples=2",
        "arena.kwargs.votes=1", "roles.questioner.max_new_tokens=8", "roles.responder.max_new_tokens=8",
        "roles.verifier.max_new_tokens=4"]


def test_user_documents_are_read_by_the_questioner_and_responder(tmp_path: Path) -> None:
    docs = tmp_path / "docs.jsonl"
    texts = [f"Report {i}. The lighthouse at Cape {i} was built in {1800 + i}.\n\nIts keeper was named Ansel {i}."
             for i in range(30)]
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    out = tmp_path / "run"
    args = ["train", str(ROOT / "recipes" / "spell_documents.toml"), *TINY, "train.iterations=1",
            f"arena.kwargs.documents={json.dumps(str(docs))}", "--out", str(out)]
    assert main(args) == 0
    with Store(out / "store.sqlite") as store:
        played = [t for t in store.transcripts() if not t.match_id.startswith("eval-")]
    assert played and all(t.arena.kwargs["documents"] == str(docs) for t in played)
    for t in played:
        shown = t.turns_of("questioner")[0].messages[-1]["content"]
        source = next(x for x in texts if x.split("\n\n")[0] in shown)  # level 1: the first paragraph
        assert split_of_document(source) == "train"


def test_without_a_judged_rate_the_level_stays_and_resume_keeps_it(tmp_path: Path) -> None:
    """grow_at = 0 is reached by any iteration with a judged rate; the tiny model writes no
    valid question, so there is none: the level stays, is logged, and resume plays it.
    (The level growing and surviving a kill is tests/runs/training/test_curriculum.py.)"""
    out = tmp_path / "run"
    args = ["train", str(ROOT / "recipes" / "spell_documents.toml"), *TINY, "train.iterations=1",
            "arena.kwargs.grow_at=0.0", "--out", str(out)]
    assert main(args) == 0
    assert main(["train", "--resume", str(out), "train.iterations=2"]) == 0
    with Store(out / "store.sqlite") as store:
        logged = sorted((i, v) for i, name, v in store.metrics() if name == "curriculum/level")
        levels = {t.arena.kwargs["level"] for t in store.transcripts() if not t.match_id.startswith("eval-")}
    assert logged == [(0, 1.0), (1, 1.0)] and levels == {1}


def test_sparring_check_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "spell-documents", "--arena-arg", "samples=2"]) == 0
    assert "✓ sparring/spell-documents-v1" in capsys.readouterr().out
    assert main(["check", "document-eval"]) == 0
