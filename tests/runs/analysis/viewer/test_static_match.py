"""The exported match file reads without JavaScript: every turn's text is in the HTML itself,
escaped, in the viewer's lanes (read back here with html.parser, which runs nothing)."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from sparring.cli import main
from sparring.runs.storage.store import Store
from tests.runs.analysis.viewer.stores import HOSTILE_SEED, HOSTILE_SOLVER, make_run
from tests.runs.analysis.viewer.test_browser import browser, chromium  # noqa: F401 (fixture)


class Page(HTMLParser):
    """Text per element class path, tags seen and attributes, as a reader without scripts sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.turns: list[dict[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        cls = dict(attrs).get("class") or ""
        if tag == "article" and "turn" in cls.split():
            self.turns.append({"role": dict(attrs).get("data-role") or "", "reply": ""})
        self.stack.append((tag, cls))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self.turns and any("reply-text" in cls for _, cls in self.stack):
            self.turns[-1]["reply"] += data


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("static") / "run")


def test_the_exported_match_is_plain_html(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "match.html"
    match_id = f"i2-s{HOSTILE_SEED}"
    assert main(["export", str(run), "--format", "html", "--match", match_id, "--to", str(out)]) == 0
    capsys.readouterr()
    page = Page()
    page.feed(out.read_text(encoding="utf-8"))
    with Store(run / "store.sqlite") as store:
        transcript = store.get(match_id)
    # every turn is in the HTML, in order, with its role and its reply exactly as stored
    assert [(t["role"], t["reply"]) for t in page.turns] == [(u.role, u.text) for u in transcript.turns]
    assert [t["reply"] for t in page.turns if t["role"] == "solver"] == HOSTILE_SOLVER
    text = "".join(page.text)
    for r in transcript.rewards:
        assert r.explanation in text
    assert transcript.summary in text and f"match {match_id}" in text
    # inert: no script, no element or handler a reply smuggled in, nothing loaded
    assert "script" not in page.tags and "img" not in page.tags and "b" not in page.tags
    assert not [name for name, _ in page.attrs if name.startswith("on") or name in ("src", "href")]


@pytest.mark.skipif(chromium() is None, reason="no Chromium on this machine: install one with "
                    "'apt-get install -y chromium' (.ci/run does) or set SPARRING_CHROMIUM")
def test_a_browser_with_javascript_off_shows_every_turn(run: Path, tmp_path: Path, browser: Any,  # noqa: F811
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "match.html"
    match_id = f"i2-s{HOSTILE_SEED}"
    assert main(["export", str(run), "--format", "html", "--match", match_id, "--to", str(out)]) == 0
    capsys.readouterr()
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_())
        page.goto(out.as_uri())
        assert page.locator("article.turn").count() == 9
        assert HOSTILE_SOLVER[0] in page.locator("#main").inner_text()
        # the lanes are laid out by the file's own style block: one column per seat, in seat order
        boxes = [page.locator(f"article.turn[data-role='{role}']").first.bounding_box()
                 for role in ("questioner", "solver", "verifier")]
        assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
    finally:
        context.close()
