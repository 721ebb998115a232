"""whatif branches in the viewer, through ``sparring view`` and headless Chromium.

A tiny-model debate run with one branch made by ``sparring whatif``: the match page lists
the branch, the branch's page shows it beside its original from the branch turn with the
first differing turn marked and reward deltas, the page starts a new branch (POST), and the
matches list leaves branches out.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparring.cli import main
from sparring.runs.storage.store import Store
from tests.runs.analysis.viewer.test_browser import browser, chromium, open_route, page, settle  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[4]
pytestmark = pytest.mark.skipif(chromium() is None, reason="no Chromium on this machine: install one with "
                                "'apt-get install -y chromium' (.ci/run does) or set SPARRING_CHROMIUM")


@pytest.fixture(scope="module")
def branched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("branches")
    run = tmp / "debate"
    arena = f"{ROOT / 'examples' / 'debate.py'}:Debate"
    assert main(["play", arena, "--model", "tiny", "--matches", "2", "--out", str(run), "-q"]) == 0
    parent = Store(run / "store.sqlite").match_ids()[0]
    report = tmp / "w.json"
    assert main(["whatif", str(run), "--match", parent, "--from-turn", "1", "--swap", "con.temperature=0.0",
                 "-q", "--json", str(report)]) == 0
    [branch] = json.loads(report.read_text())["branch_ids"][parent]
    proc = subprocess.Popen([sys.executable, "-m", "sparring.cli", "view", run.name], cwd=tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=120)
    found = re.search(r"http://127\.0\.0\.1:\d+/", lines[0]) if lines else None
    if found is None:
        proc.kill()
        raise AssertionError(f"sparring view printed no URL: {lines}")
    try:
        yield {"url": found.group(0), "run": run, "parent": parent, "branch": branch}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_the_match_page_lists_its_branches_and_a_branch_sits_beside_its_original(
        branched: dict[str, Any], page: Any) -> None:  # noqa: F811
    open_route(page, branched["url"] + f"#/s/0/match/{branched['parent']}")
    links = page.locator("table.branches a.branch-link")
    assert links.all_inner_texts() == [branched["branch"]]
    row = page.locator("table.branches tbody tr").first.inner_text()
    assert "con.temperature=0.0" in row
    links.first.click()
    settle(page)
    section = page.locator("#branch")
    assert f"whatif branch of {branched['parent']} from turn 1" in section.locator("h3").inner_text()
    assert "swaps: con.temperature=0.0" in section.inner_text()
    turns = page.locator("table.beside tbody tr th").all_inner_texts()
    assert turns[0].startswith("#1") and len(turns) == 2  # con (turn 1) and judge (turn 2)
    marked = page.locator("tr.first-diff")
    note = section.locator(".diff-note, .ok").first.inner_text()
    if marked.count():  # the swapped con replied differently: its turn is marked
        assert "first difference" in marked.inner_text() and note.startswith("first differing turn: #")
    else:
        assert note == "no turn differs from the original"
    deltas = page.locator("table.reward-deltas tbody tr").all_inner_texts()
    assert deltas and all(len(r.split("\t")) == 4 for r in deltas)
    assert page.locator("#whatif").count() == 0  # a branch is not branched again


def test_the_page_starts_a_branch_and_the_list_leaves_branches_out(branched: dict[str, Any], page: Any) -> None:  # noqa: F811
    open_route(page, branched["url"] + f"#/s/0/match/{branched['parent']}")
    page.fill("#whatif-from", "2")
    page.fill("#whatif-swaps", "judge.temperature=0.0")
    page.fill("#whatif-samples", "2")
    page.click("#whatif")
    page.wait_for_selector("a.new-branch", timeout=120_000)
    made = page.locator("a.new-branch").all_inner_texts()
    assert len(made) == 2 and all(m.strip().startswith(branched["parent"] + "~") for m in made)
    with Store(branched["run"] / "store.sqlite") as store:
        records = store.branches(branched["parent"])
        assert len(records) == 3 and {tuple(r["swaps"]) for r in records[1:]} == {("judge.temperature=0.0",)}
        assert [r["from_turn"] for r in records] == [1, 2, 2]
    page.locator("a.new-branch").first.click()
    settle(page)
    assert "swaps: judge.temperature=0.0" in page.locator("#branch").inner_text()
    open_route(page, branched["url"] + "#/s/0/matches")
    assert page.locator("#total").inner_text() == "2"  # the two played matches, not their branches
