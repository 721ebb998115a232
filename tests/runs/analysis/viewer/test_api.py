"""The viewer's JSON API over plain HTTP: filters, pages, one match, replay, run page,
ratings, read-only access, the refusal to bind other hosts, and the html export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparring.cli import main
from sparring.runs.analysis.viewer import ViewerServer, check_host, find_sources, make_server
from sparring.runs.storage.store import Store
from tests.helpers import play_qa
from tests.runs.analysis.viewer.stores import DUEL, HOSTILE_SEED, grow, make_run, make_tournament

ROOT = Path(__file__).resolve().parents[4]
REMOTE = re.compile(r"""(src|href)\s*=\s*["']?\s*(https?:|//)|url\(|@import|fetch\(\s*["'`]https?:""")
"""Anything that would load from the network: remote src/href, CSS url() or @import, a fetch of a URL."""


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("viewer")
    return make_run(tmp / "run"), make_tournament(tmp / "rps")


class Client:
    """A viewer served from a thread, and requests to it."""

    def __init__(self, server: ViewerServer) -> None:
        self.server = server
        self.base = server.url.rstrip("/")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        return self.request("GET", path, None, headers)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
        req = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def matches(self, query: str = "") -> dict[str, Any]:
        status, page = self.get(f"/api/sources/0/matches?{query}")
        assert status == 200, page
        return page


@pytest.fixture
def serve_dirs() -> Iterator[Any]:
    servers: list[ViewerServer] = []

    def start(*paths: Path) -> Client:
        server = make_server(list(paths))
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return Client(server)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def ids(page: dict[str, Any]) -> list[str]:
    return [row["match_id"] for row in page["rows"]]


def test_filters_sorting_and_pages(dirs: tuple[Path, Path], serve_dirs: Any) -> None:
    client = serve_dirs(dirs[0])
    everything = client.matches()
    assert everything["total"] == 12 and len(everything["rows"]) == 12
    page = client.matches("per_page=5&page=3")
    assert (page["total"], page["pages"], ids(page)) == (12, 3, ids(everything)[10:])
    assert client.matches("role=solver")["total"] == 11  # the malformed match has no solver turn
    assert "i0-s4" not in ids(client.matches("role=solver"))
    assert ids(client.matches("iteration=1")) == ["i1-s0", "i1-s1", "i1-s2", "i1-s3"]
    assert ids(client.matches("adapter=solver@v2")) == ["i2-s0", "i2-s1", "i2-s9"]
    assert ids(client.matches("parse=failed")) == ["i0-s4"]
    assert ids(client.matches("parse=failed&role=solver")) == []  # filters on turns apply to the same turn
    assert client.matches("parse=ok")["total"] == 11
    assert client.matches("status=error")["total"] == 0
    perfect = client.matches("reward=solver_truth/solver&min=1")
    assert ids(perfect) == ["i1-s0", "i1-s1", "i1-s2", "i1-s3"]
    ranked = client.matches("reward=solver_truth/solver&sort=reward_asc")
    values = [row["sort_reward"] for row in ranked["rows"]]
    assert values[-1] is None and ids(ranked)[-1] == "i0-s4"  # no such reward: last
    assert values[:-1] == sorted(values[:-1])
    row = everything["rows"][0]
    assert row["turns"] == 9 and row["rewards"]["solver_truth/solver"] == 0.5 and row["parse_failures"] == 0
    for query, message in [("iteration=x", "iteration must be an integer, got 'x'"),
                           ("colour=red", "unknown filter 'colour'"),
                           ("sort=reward_desc", "needs reward=REWARD/SEAT"),
                           ("per_page=1000", "per_page in 1..200"),
                           ("adapter=solver", "adapter must look like NAME@vN or base")]:
        status, body = client.get(f"/api/sources/0/matches?{query}")
        assert status == 400 and message in body["error"], body


def test_run_page_has_options_charts_adapters_and_recipe(dirs: tuple[Path, Path], serve_dirs: Any) -> None:
    status, run = serve_dirs(dirs[0]).get("/api/sources/0")
    assert status == 200 and run["kind"] == "train" and run["counts"] == {"total": 12, "finished": 12}
    assert run["options"]["role"] == ["questioner", "solver", "verifier"]
    assert run["options"]["iteration"] == [0, 1, 2]
    assert run["options"]["adapter"] == ["base", "solver@v0", "solver@v1", "solver@v2"]
    assert "solver_truth/solver" in run["options"]["reward"]
    sections = {s["section"]: {c["title"]: c for c in s["charts"]} for s in run["charts"]}
    assert list(sections)[:3] == ["Rewards per seat", "Held-out", "Monitors"]
    solver = sections["Rewards per seat"]["solver"]
    assert {s["name"] for s in solver["series"]} == {"solver_truth", "solver_verdict"}
    truth = next(s for s in solver["series"] if s["name"] == "solver_truth")
    assert truth["points"] == [[0, 0.25], [1, 0.5], [2, 0.75]]
    entropy = sections["Monitors"]["entropy"]
    assert entropy["threshold"] == 0.05 and {s["name"] for s in entropy["series"]} == {"solver", "verifier"}
    assert entropy["warnings"] == ["solver: entropy 0.030 below 0.05 at iteration 2 (possible collapse)"]
    assert sections["Updates"]["loss"]["series"][0]["name"] == "solver"
    held_out = sections["Held-out"]
    assert list(held_out) == ["solver_accuracy"]  # the interval's keys are no charts of their own
    test, validation = (next(s for s in held_out["solver_accuracy"]["series"] if s["name"] == name)
                        for name in ("test", "validation"))
    assert test["points"] == [[0, 0.25, 0.1, 0.4], [1, 0.5, 0.35, 0.65], [2, 0.75, 0.6, 0.9]]
    assert validation["points"][0] == [0, 0.125, 0.0, 0.275]
    assert run["adapters"] == [{"name": "solver", "versions": [0, 1, 2], "source": "new"}]
    assert 'name = "qa-verify"' in run["recipe"] and run["config"]["command"] == "train"


def test_chart_points_carry_their_interval_and_companions_are_not_charted() -> None:
    from sparring.runs.analysis.viewer.charts import chart_specs

    rows = [(-1, "eval/accuracy", 0.4), (-1, "eval/accuracy/ci_low", 0.3), (-1, "eval/accuracy/ci_high", 0.5),
            (-1, "eval/accuracy/n_items", 100.0), (-1, "eval/accuracy/n_distinct", 90.0),
            (0, "eval/accuracy", 0.6), (0, "validation/accuracy", 0.55),  # no interval stored: a plain point
            (0, "select/iteration", 1.0), (0, "select/eval/accuracy", 0.6), (0, "select/eval/accuracy/ci_low", 0.5),
            (0, "select/eval/accuracy/ci_high", 0.7), (0, "judge/n_items", 3.0)]  # a monitor, not a companion
    specs = {s["section"]: {c["title"]: c["series"] for c in s["charts"]} for s in chart_specs(rows)}
    assert list(specs) == ["Held-out", "Validation-selected", "Arena monitors"]
    assert specs["Held-out"] == {"accuracy": [{"name": "test", "points": [(-1, 0.4, 0.3, 0.5), (0, 0.6)]},
                                              {"name": "validation", "points": [(0, 0.55)]}]}
    assert specs["Validation-selected"] == {"accuracy": [{"name": "test", "points": [(0, 0.6, 0.5, 0.7)]}],
                                            "iteration": [{"name": "value", "points": [(0, 1.0)]}]}
    assert specs["Arena monitors"] == {"judge/n_items": [{"name": "value", "points": [(0, 3.0)]}]}


def test_a_play_run_gets_reward_charts_from_its_stored_rewards(tmp_path: Path, serve_dirs: Any) -> None:
    transcripts, _ = play_qa(seeds=(0, 1))
    with Store(tmp_path / "play" / "store.sqlite") as store:
        for t in transcripts:
            store.add(t)
    status, run = serve_dirs(tmp_path / "play").get("/api/sources/0")
    assert status == 200 and run["kind"] == "run" and run["recipe"] is None
    [rewards] = [s for s in run["charts"] if s["section"] == "Rewards per seat"]
    solver = next(c for c in rewards["charts"] if c["title"] == "solver")
    assert next(s for s in solver["series"] if s["name"] == "solver_truth")["points"] == [[0, 0.5]]


def test_one_match_links_the_same_seed_in_other_iterations(dirs: tuple[Path, Path], serve_dirs: Any) -> None:
    client = serve_dirs(dirs[0])
    status, detail = client.get("/api/sources/0/matches/i0-s0")
    assert status == 200
    t = detail["transcript"]
    assert t["match_id"] == "i0-s0" and [u["role"] for u in t["turns"]][:2] == ["questioner", "solver"]
    assert detail["others"] == [{"match_id": "i1-s0", "iteration": 1}, {"match_id": "i2-s0", "iteration": 2}]
    assert detail["adapters"] == {"solver": "new"}
    status, body = client.get("/api/sources/0/matches/nope")
    assert status == 404 and "no match 'nope'" in body["error"]
    assert client.get("/api/sources/7")[0] == 404 and client.get("/api/elsewhere")[0] == 404


def test_replay_route_runs_the_exact_replay_check(dirs: tuple[Path, Path], serve_dirs: Any) -> None:
    client = serve_dirs(dirs[0])
    path = f"/api/sources/0/matches/i2-s{HOSTILE_SEED}/replay"
    status, result = client.request("POST", path, b"{}", {"Content-Type": "application/json"})
    assert status == 200 and result == {"identical": True, "differences": []}
    # A cross-site form can send a plain POST; replay wants JSON from this origin.
    assert client.request("POST", path, b"x=1", {"Content-Type": "application/x-www-form-urlencoded"})[0] == 403
    assert client.request("POST", path, b"{}", {"Content-Type": "application/json",
                                                 "Origin": "http://evil.example"})[0] == 403
    assert client.get(path)[0] == 405


def test_requests_for_another_host_name_are_refused(dirs: tuple[Path, Path], serve_dirs: Any) -> None:
    client = serve_dirs(dirs[0])
    status, body = client.get("/api/sources", {"Host": "evil.example:80"})  # DNS rebinding
    assert status == 403 and "answers requests to http://127.0.0.1:" in body["error"]
    port = client.server.server_address[1]
    assert client.get("/api/sources", {"Host": f"localhost:{port}"})[0] == 200


def test_the_page_and_its_files_are_served_with_a_strict_policy(dirs: tuple[Path, Path], serve_dirs: Any) -> None:
    client = serve_dirs(dirs[0])
    for path, kind in [("/", "text/html"), ("/static/app.js", "text/javascript"), ("/static/viewer.css", "text/css")]:
        with urllib.request.urlopen(client.base + path, timeout=30) as response:
            assert response.headers["Content-Type"].startswith(kind)
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert not REMOTE.search(response.read().decode())  # nothing loads from the network
    for name in ("dom.js", "charts.js", "match.js"):
        with urllib.request.urlopen(f"{client.base}/static/{name}", timeout=30) as response:
            assert not REMOTE.search(response.read().decode())
    assert client.get("/static/../store.sqlite")[0] == 404


def test_ten_thousand_matches_page_from_the_database(dirs: tuple[Path, Path], tmp_path: Path, serve_dirs: Any) -> None:
    big = tmp_path / "big"
    shutil.copytree(dirs[0], big)
    grow(big, 10_000)
    client = serve_dirs(big)
    timings = {}
    for name, query in [("first page", "per_page=50"), ("deep page", "per_page=50&page=150"),
                        ("role + iteration", "role=solver&iteration=3&per_page=50"),
                        ("sorted by reward", "reward=solver_truth/solver&sort=reward_desc&per_page=50&page=3"),
                        ("reward range", "reward=solver_truth/solver&min=0.5&max=0.6&per_page=50")]:
        started = time.perf_counter()
        page = client.matches(query)
        timings[name] = (round(1000 * (time.perf_counter() - started), 1), page["query_ms"], page["total"])
        assert len(page["rows"]) == 50  # only the page's rows leave the server
    print("\n10,012-match store, ms per request (wall, query), total:", timings)
    assert client.matches("per_page=50")["total"] == 10_012
    assert timings["role + iteration"][2] == 1_000
    ranked = client.matches("reward=solver_truth/solver&sort=reward_desc&per_page=50")
    assert [r["sort_reward"] for r in ranked["rows"]] == sorted((r["sort_reward"] for r in ranked["rows"]), reverse=True)
    started = time.perf_counter()
    status, run = client.get("/api/sources/0")
    print(f"run page with filter options: {1000 * (time.perf_counter() - started):.1f} ms")
    assert status == 200 and run["counts"]["total"] == 10_012


def test_reads_are_read_only_and_see_matches_written_meanwhile(dirs: tuple[Path, Path], tmp_path: Path,
                                                                 serve_dirs: Any) -> None:
    live = tmp_path / "live"
    shutil.copytree(dirs[0], live)
    client = serve_dirs(live)
    with Store(live / "store.sqlite") as writer:  # a run still writing: WAL readers do not block it
        assert client.matches()["total"] == 12
        [t], _ = play_qa(seeds=(77,))
        writer.add(t)
        assert client.matches()["total"] == 13
    [source] = find_sources([live])
    with source.open() as store, pytest.raises(Exception, match="readonly"):
        store.conn.execute("DELETE FROM matches")


def test_ratings_of_a_tournament_and_a_league_next_to_its_run(dirs: tuple[Path, Path], tmp_path: Path,
                                                                serve_dirs: Any) -> None:
    run = tmp_path / "run"
    shutil.copytree(dirs[0], run)
    shutil.copytree(dirs[1], run / "league")
    client = serve_dirs(run)
    status, sources = client.get("/api/sources")
    assert [(s["name"], s["kind"], s["parent"]) for s in sources] == [
        (str(run), "train", None), (str(run / "league"), "tournament", 0)]
    assert client.get("/api/sources/0")[1]["leagues"] == [1]
    status, ratings = client.get("/api/sources/1/ratings")
    assert status == 200 and ratings["available"] and ratings["games"] == 6
    assert {r["player"] for r in ratings["ratings"]} == {"rock", "paper", "scissors"}
    assert ratings["win_matrix"]["players"] == ["rock", "paper", "scissors"]
    assert ratings["cycle_text"] == ["rock beats scissors 100%, scissors beats paper 100%, paper beats rock 100%"]
    status, none = client.get("/api/sources/0/ratings")
    assert status == 200 and not none["available"] and "not a tournament" in none["reason"]
    status, players = client.get("/api/sources/1")
    assert players["options"]["player"] == ["paper", "rock", "scissors"]
    page = client.get("/api/sources/1/matches?player=rock")[1]
    assert page["total"] == 4 and all("rock" in row["players"].values() for row in page["rows"])


def test_ratings_show_the_first_mover_advantage_sparring_ratings_prints(dirs: tuple[Path, Path], tmp_path: Path,
                                                                      serve_dirs: Any,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A league whose arena gives every tie to the first seat: the ratings route carries BT's
    seat term with its interval, the same term ``sparring ratings`` prints and writes."""
    run = tmp_path / "run"
    shutil.copytree(dirs[0], run)
    config = tmp_path / "ties.toml"
    config.write_text(f'[model]\nsource = "tiny"\n[arena]\nname = "{DUEL}:TiesToFirst"\n'
                      '[players.long]\nreply = "aaaa"\n[players.even]\nreply = "bbbb"\n[players.short]\nreply = "cc"\n'
                      '[schedule]\ngames = 2\n')
    assert main(["tournament", str(config), "--out", str(run / "league"), "-q"]) == 0
    client = serve_dirs(run)
    status, ratings = client.get("/api/sources/1/ratings")
    assert status == 200 and ratings["available"] and ratings["games"] == 12
    seat = ratings["first_mover_advantage"]
    # long and even tie with each other in either order, and the first seat takes every tie
    assert seat["bt"] > 100 and seat["low"] <= seat["bt"] <= seat["high"]
    capsys.readouterr()
    assert main(["ratings", str(run / "league"), "--bootstrap", "50", "--no-plots"]) == 0
    text = capsys.readouterr().out
    saved = json.loads((run / "league" / "ratings.json").read_text())["first_mover_advantage"]
    assert saved["bt"] == pytest.approx(seat["bt"])  # the fit; the intervals differ with the resamples
    assert f"first-mover advantage (BT seat term): {seat['bt']:+.0f} rating points (95% CI " in text


def test_binding_another_host_is_refused_unless_told(dirs: tuple[Path, Path]) -> None:
    for host in ("0.0.0.0", "192.168.1.5", "localhost", "::"):
        with pytest.raises(ValueError, match="binds 127.0.0.1 only; pass --allow-remote"):
            check_host(host, allow_remote=False)
    check_host("0.0.0.0", allow_remote=True)
    done = subprocess.run([sys.executable, "-m", "sparring.cli", "view", str(dirs[0]), "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert done.stdout.strip().splitlines() == [
        "error: view: refusing to serve on 0.0.0.0: the viewer shows every stored transcript to anyone who can "
        "reach it, so it binds 127.0.0.1 only; pass --allow-remote to serve on 0.0.0.0"]


def test_view_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["view", str(tmp_path)]) == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith("error: view:") and "no store.sqlite" in out and len(out.splitlines()) == 1
    assert main(["view", str(tmp_path), "--port", "70000"]) == 2
    assert "--port must be in 0..65535" in capsys.readouterr().out


def test_a_busy_port_is_one_line(dirs: tuple[Path, Path], serve_dirs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    port = serve_dirs(dirs[0]).server.server_address[1]
    assert main(["view", str(dirs[0]), "--port", str(port)]) == 2
    assert f"error: view: port {port} on 127.0.0.1 is in use" in capsys.readouterr().out


def test_export_html_writes_one_self_contained_inert_file(dirs: tuple[Path, Path], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "match.html"
    assert main(["export", str(dirs[0]), "--format", "html", "--match", f"i2-s{HOSTILE_SEED}", "--to", str(out)]) == 0
    text = out.read_text()
    assert "written to" in capsys.readouterr().out
    assert "<script" not in text  # rendered here: no script, none from the replies either
    assert "alert(1)" in text and "<img" not in text and "<b " not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert not REMOTE.search(text)
    assert "Content-Security-Policy\" content=\"default-src 'none'; style-src 'sha256-" in text
    for argv, message in [(["--match", "nope", "--to", str(tmp_path / "x.html")], "no match 'nope'"),
                          (["--to", str(tmp_path / "x.html")], "pass --match ID"),
                          (["--match", "i0-s0", "--to", str(tmp_path / "x.txt")], "must end in .html")]:
        assert main(["export", str(dirs[0]), "--format", "html", *argv]) == 2
        assert message in capsys.readouterr().out
    code = main(["export", str(dirs[0]), "--format", "sft", "--match", "i0-s0", "--to", str(tmp_path / "x.jsonl")])
    assert code == 2, capsys.readouterr().out
    assert "--match selects the match of --format html" in capsys.readouterr().out
