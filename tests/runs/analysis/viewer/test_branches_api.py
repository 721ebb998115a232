"""The viewer's whatif routes over plain HTTP: branches in the match detail, the POST that starts one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sparring.cli import main
from sparring.runs.storage.store import Store
from tests.runs.analysis.viewer.test_api import serve_dirs  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parents[4]
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("whatif") / "debate"
    arena = f"{ROOT / 'examples' / 'debate.py'}:Debate"
    assert main(["play", arena, "--model", "tiny", "--matches", "2", "--out", str(run), "-q"]) == 0
    return run


def test_post_starts_branches_and_the_detail_shows_them(run: Path, serve_dirs: Any) -> None:  # noqa: F811
    client = serve_dirs(run)
    parent = Store(run / "store.sqlite").match_ids()[0]
    path = f"/api/sources/0/matches/{parent}/whatif"
    body = json.dumps({"from_turn": 2, "swaps": ["judge.temperature=0.0"], "samples": 2}).encode()
    status, result = client.request("POST", path, body, JSON)
    assert status == 200, result
    assert len(result["branches"]) == 2 and result["played"] == 2 and len(result["first_difference"]) == 2
    status, detail = client.get(f"/api/sources/0/matches/{parent}")
    assert status == 200 and detail["branch"] is None
    assert [b["match_id"] for b in detail["branches"]] == result["branches"]
    assert detail["branches"][0]["swaps"] == ["judge.temperature=0.0"] and detail["branches"][0]["from_turn"] == 2
    status, child = client.get(f"/api/sources/0/matches/{result['branches'][0]}")
    assert child["branch"]["parent"] == parent and child["branch"]["original"]["match_id"] == parent
    assert {r["key"] for r in child["branch"]["rewards"]} >= {"judge_correct/judge"}
    assert client.matches()["total"] == 2  # branches are listed on their original's page only
    status, again = client.request("POST", path, body, JSON)
    assert status == 200 and again["played"] == 0  # the same request names the same branches


@pytest.mark.parametrize(("body", "message"), [
    ({"swaps": ["judge.colour=red"]}, "unknown field 'colour'"),
    ({"swaps": ["judge.adapter=judge@v3"]}, "adapters/judge/v3 is missing"),
    ({"samples": 100}, "samples must be a whole number from 1 to 16"),
    ({"swaps": "judge.temperature=0"}, "swaps must be a list of SEAT.FIELD=VALUE strings"),
])
def test_bad_requests_get_one_line(run: Path, serve_dirs: Any, body: dict[str, Any], message: str) -> None:  # noqa: F811
    client = serve_dirs(run)
    parent = Store(run / "store.sqlite").match_ids()[0]
    status, result = client.request("POST", f"/api/sources/0/matches/{parent}/whatif", json.dumps(body).encode(), JSON)
    assert status == 400 and message in result["error"] and "\n" not in result["error"]


def test_whatif_is_a_same_origin_json_post(run: Path, serve_dirs: Any) -> None:  # noqa: F811
    client = serve_dirs(run)
    parent = Store(run / "store.sqlite").match_ids()[0]
    path = f"/api/sources/0/matches/{parent}/whatif"
    assert client.request("POST", path, b"x=1", {"Content-Type": "application/x-www-form-urlencoded"})[0] == 403
    assert client.request("POST", path, b"{}", {**JSON, "Origin": "http://evil.example"})[0] == 403
    assert client.get(path)[0] == 405
