"""``sparring view`` as a real subprocess, driven by headless Chromium through Playwright.

Checks what a user sees: a known transcript with its roles and rewards, filters that
change the list, hostile model output shown as inert text without breaking the layout,
the run page's charts, the ratings page and an exported match file opened from disk.
The match and run pages are photographed into ``docs/`` for the README.

The browser is the system's Chromium (Debian's ``chromium`` package; ``.ci/run`` installs
it): Playwright is pointed at that executable and never downloads a browser. Without
any Chromium on the machine the tests are skipped, saying how to install one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparring.cli import main
from tests.runs.analysis.viewer.stores import (
    HOSTILE_SEED,
    HOSTILE_SOLVER,
    LONG_LINE,
    make_run,
    make_tournament,
)

ROOT = Path(__file__).resolve().parents[4]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str | None:
    """The system Chromium (``SPARRING_CHROMIUM`` overrides the search)."""
    found = os.environ.get("SPARRING_CHROMIUM") or next(filter(None, map(shutil.which, BROWSERS)), None)
    return found if found and Path(found).exists() else None


pytestmark = pytest.mark.skipif(chromium() is None, reason="no Chromium on this machine: install one with "
                                "'apt-get install -y chromium' (.ci/run does) or set SPARRING_CHROMIUM")


@pytest.fixture(scope="module")
def viewer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("browser")
    run, rps = make_run(tmp / "run"), make_tournament(tmp / "rps")
    # Run from the temporary folder with relative names, as a user would type them (the
    # screenshots show the names, not a temporary path).
    proc = subprocess.Popen([sys.executable, "-m", "sparring.cli", "view", run.name, rps.name], cwd=tmp,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout=120)
    found = re.search(r"http://127\.0\.0\.1:\d+/", lines[0]) if lines else None
    if found is None:
        proc.kill()
        raise AssertionError(f"sparring view printed no URL: {lines} {proc.stderr.read() if proc.stderr else ''}")
    try:
        yield {"url": found.group(0), "run": run, "tmp": tmp}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        instance = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.dialogs, tab.problems = [], []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    tab.on("pageerror", lambda e: tab.problems.append(str(e)))
    tab.on("console", lambda m: tab.problems.append(m.text) if m.type == "error" else None)
    yield tab
    assert tab.problems == []  # no script error, no resource or policy violation
    context.close()


def open_route(page: Any, url: str) -> None:
    page.goto(url)
    settle(page)


def settle(page: Any) -> None:
    """Wait until the page has rendered the route in the address bar."""
    page.wait_for_function("() => document.getElementById('main').getAttribute('data-ready') === location.hash",
                           timeout=30_000)


def fits_the_viewport(page: Any) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_a_known_transcript_shows_its_roles_and_rewards(viewer: dict[str, Any], page: Any) -> None:
    open_route(page, viewer["url"] + "#/s/0/match/i0-s0")
    assert page.locator(".lane-head strong").all_inner_texts() == ["questioner", "solver", "verifier"]
    cards = page.locator("article.turn")
    assert cards.count() == 9
    assert [cards.nth(k).get_attribute("data-role") for k in range(9)] == ["questioner"] + ["solver"] * 4 + ["verifier"] * 4
    first = cards.nth(0).inner_text()
    assert "Question: What is 12 + 30?" in first and "default:base" in first
    assert "default:solver@v0" in cards.nth(1).inner_text()
    assert "solver_truth = 1" in cards.nth(1).inner_text() and "answer 42 vs truth 42" in cards.nth(1).inner_text()
    assert "I think 42." in cards.nth(3).locator("pre.reply-text").inner_text()
    assert cards.nth(3).locator(".parse.ok pre").inner_text() == "42"  # the parse result, shown under the reply
    rewards = page.locator("table.rewards tbody tr").all_inner_texts()
    assert "questioner_truth\tquestioner\tmatch\t1\t2/4 right: p=0.50" in rewards, rewards
    assert "solver_truth/solver 0.500" in page.locator(".reward-summary").inner_text()
    assert "12 + 30 = 42: 3/4 judged right, 2 truly right" in page.locator(".outcome-summary").inner_text()
    assert fits_the_viewport(page)
    page.screenshot(path=str(ROOT / "docs" / "viewer_match.png"))
    page.locator("a.other", has_text="iteration 1").click()  # the same seed after "training"
    settle(page)
    assert page.locator("h2").inner_text() == "match i1-s0"
    assert "4/4 judged right" in page.locator(".outcome-summary").inner_text()


def test_filtering_by_role_and_iteration_changes_the_list(viewer: dict[str, Any], page: Any) -> None:
    open_route(page, viewer["url"] + "#/s/0/matches")
    rows = page.locator("table.matches tbody tr")
    assert page.locator("#total").inner_text() == "12" and rows.count() == 12
    assert "i0-s4" in [rows.nth(k).get_attribute("data-match") for k in range(12)]
    page.select_option("select[name=role]", "solver")
    settle(page)
    shown = [rows.nth(k).get_attribute("data-match") for k in range(rows.count())]
    assert page.locator("#total").inner_text() == "11" and len(shown) == 11 and "i0-s4" not in shown
    page.select_option("select[name=iteration]", "1")
    settle(page)
    assert "role=solver" in page.evaluate("location.hash") and "iteration=1" in page.evaluate("location.hash")
    assert [rows.nth(k).get_attribute("data-match") for k in range(rows.count())] == ["i1-s0", "i1-s1", "i1-s2", "i1-s3"]
    for name, value in (("iteration", ""), ("reward", "solver_truth/solver"), ("sort", "reward_asc")):
        page.select_option(f"select[name={name}]", value)
        settle(page)
    order = [rows.nth(k).get_attribute("data-match") for k in range(rows.count())]
    assert len(order) == 11 and order[0] == "i0-s0" and order[-4:] == ["i1-s0", "i1-s1", "i1-s2", "i1-s3"]
    assert order.index("i2-s9") == 6  # 0.75: after the six matches at 0.5, before the four at 1.0
    assert fits_the_viewport(page)


def test_hostile_replies_are_inert_text_and_keep_the_layout(viewer: dict[str, Any], page: Any) -> None:
    open_route(page, viewer["url"] + f"#/s/0/match/i2-s{HOSTILE_SEED}")
    page.evaluate("() => document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    page.wait_for_timeout(500)  # time for an injected onerror to fire, were there one
    assert page.dialogs == []
    assert page.evaluate("() => window.__pwned") is None
    injected = "img, iframe, object, embed, #main script, [onerror], [onmouseover], a[href^='javascript'], b"
    assert page.locator(injected).count() == 0
    replies = page.locator("pre.reply-text").all_inner_texts()
    for text in HOSTILE_SOLVER:
        assert text in replies
    assert LONG_LINE in page.locator("#main").inner_text()
    assert "<script>alert(1)</script> What is 2 + 2? <img src=x onerror=alert(1)>" in page.locator("#main").inner_text()
    assert fits_the_viewport(page)
    right = page.evaluate("() => Math.max(...[...document.querySelectorAll('article.turn, pre')]"
                          ".map((e) => e.getBoundingClientRect().right))")
    assert right <= 1400
    page.click("#replay")
    page.wait_for_selector("#replay-result p.ok", timeout=60_000)
    assert "replay identical" in page.locator("#replay-result").inner_text()


def test_the_run_page_charts_metrics_with_thresholds(viewer: dict[str, Any], page: Any) -> None:
    open_route(page, viewer["url"] + "#/s/0")
    sections = page.locator(".chart-section h3").all_inner_texts()
    assert sections[:3] == ["Rewards per seat", "Held-out", "Monitors"]
    assert page.locator("svg.chart").count() == 7 and page.locator("svg.chart line.threshold").count() == 2
    assert "solver: entropy 0.030 below 0.05 at iteration 2 (possible collapse)" in page.locator(".warning").all_inner_texts()
    adapters = page.locator("table tbody tr").filter(has_text="solver").first.inner_text()
    assert "v0 v1 v2" in adapters
    assert 'name = "qa-verify"' in page.locator("pre.config").first.inner_text()
    assert fits_the_viewport(page)
    page.screenshot(path=str(ROOT / "docs" / "viewer_run.png"))


def test_the_held_out_chart_draws_each_split_inside_its_interval_band(viewer: dict[str, Any], page: Any) -> None:
    open_route(page, viewer["url"] + "#/s/0")
    [chart] = [c for c in page.locator(".chart-section").all() if c.locator("h3").inner_text() == "Held-out"]
    assert chart.locator("figcaption").all_inner_texts() == ["solver_accuracy"]  # no ci_low/n_items charts
    assert chart.locator(".legend li").all_inner_texts() == ["test", "validation"]
    bands = chart.locator("svg.chart path.band")
    assert bands.count() == 2
    # the test band spans [0.1, 0.4] at iteration 0 .. [0.6, 0.9] at 2: wider than its line is high
    box, line = bands.first.bounding_box(), chart.locator("svg.chart polyline").first.bounding_box()
    assert box["height"] > line["height"] > 0
    assert chart.locator("svg.chart circle title").nth(1).text_content() == "test @ 1: 0.500 [0.350, 0.650]"


def test_the_ratings_page_of_a_tournament(viewer: dict[str, Any], page: Any) -> None:
    open_route(page, viewer["url"] + "#/s/1/ratings")
    players = [row.split("\t")[0] for row in page.locator("table.ratings-table tbody tr").all_inner_texts()]
    assert sorted(players) == ["paper", "rock", "scissors"]
    assert page.locator("table.heatmap tbody td", has_text="100%").count() == 3
    assert page.locator("ul.cycles li").all_inner_texts() == [
        "rock beats scissors 100%, scissors beats paper 100%, paper beats rock 100%"]
    # BT's seat term with its interval, as the ratings route computed it (signed, whole points)
    with urllib.request.urlopen(viewer["url"] + "api/sources/1/ratings") as answer:
        seat = json.loads(answer.read())["first_mover_advantage"]

    def signed(x: float) -> str:
        s = f"{x + 0.0:.0f}"  # + 0.0: a -0.0 reads "0", as in the page
        return s if s.startswith("-") else f"+{s}"

    assert page.locator("p.first-mover").inner_text() == (
        f"first-mover advantage (BT seat term): {signed(seat['bt'])} rating points "
        f"(95% CI {signed(seat['low'])} to {signed(seat['high'])})")
    open_route(page, viewer["url"] + "#/")
    assert page.locator("#main a", has_text="rps").count() == 1  # both directories are listed


def test_an_exported_match_file_renders_offline_and_inert(viewer: dict[str, Any], page: Any) -> None:
    out = viewer["tmp"] / "hostile.html"
    assert main(["export", str(viewer["run"]), "--format", "html", "--match", f"i2-s{HOSTILE_SEED}", "--to", str(out)]) == 0
    page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_())
    page.goto(out.as_uri())
    page.wait_for_selector("#match article.turn")
    page.wait_for_timeout(300)
    assert page.dialogs == [] and page.evaluate("() => window.__pwned") is None
    assert page.locator("img, #main script, [onerror]").count() == 0
    assert page.locator("article.turn").count() == 9 and HOSTILE_SOLVER[0] in page.locator("#main").inner_text()
    assert page.locator("#replay").count() == 0  # a file has no server to replay on
    assert fits_the_viewport(page)
