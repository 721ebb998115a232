"""One match as a self-contained HTML file (``sparring export DIR --format html --match ID``).

The file carries its style sheet, the viewer's own match renderer (``static/dom.js`` and
``static/match.js``, the same code the live page uses) and the transcript as a JSON data
block, so it opens anywhere with no server and no network. The transcript is embedded in
``<script type="application/json">``, which a browser never executes; ``<``, ``>`` and
``&`` are written as ``\\u003c``-style escapes, so no reply can close that element, and
the renderer puts every string into the page as text. A Content-Security-Policy in the
file allows exactly its own inline script and style (by hash), nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from sparring.runs.rundir import write_atomic
from sparring.runs.viewer.queries import match_detail
from sparring.runs.viewer.server import static_text
from sparring.runs.viewer.sources import find_sources

_BOOT = """
document.addEventListener("DOMContentLoaded", function () {
  var detail = JSON.parse(document.getElementById("match-data").textContent);
  document.getElementById("main").appendChild(SV.renderMatch(detail, {}));
});
"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _data_block(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def match_html(detail: dict, title: str) -> str:
    """The HTML text of one match page (``detail`` as :func:`queries.match_detail` gives it)."""
    css = static_text("viewer.css")
    script = static_text("dom.js") + static_text("match.js") + _BOOT
    csp = f"default-src 'none'; script-src {_sha256(script)}; style-src {_sha256(css)}"
    safe_title = title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{safe_title}</title>\n<style>{css}</style>\n"
        f"<script type=\"application/json\" id=\"match-data\">{_data_block(detail)}</script>\n"
        f"<script>{script}</script>\n</head>\n<body>\n"
        f"<header class=\"top\"><h1>sparring · {safe_title}</h1></header>\n<main id=\"main\"></main>\n"
        "</body>\n</html>\n"
    )


def export_html(run_dir: str | Path, match_id: str | None, to: str | Path) -> Path:
    """Write one stored match of ``run_dir`` as a self-contained HTML file.

    Args:
        run_dir: Run directory holding ``store.sqlite`` (read-only).
        match_id: The match to write.
        to: Output file, ending in ``.html`` (written to a temporary file and renamed).

    Returns:
        The path written.

    Raises:
        ValueError: No match id, or a file name not ending in ``.html``.
        KeyError: No such match in the store.
        FileNotFoundError: ``run_dir`` holds no store.
    """
    path = Path(to)
    if not match_id:
        raise ValueError("export: --format html writes one match; pass --match ID (see 'sparring show DIR' for ids)")
    if path.suffix.lower() not in (".html", ".htm"):
        raise ValueError(f"export: cannot write {path.name!r} as html; the output file must end in .html")
    [source, *_] = find_sources([run_dir])
    with source.open() as store:
        detail = match_detail(store, match_id)
    detail = {**detail, "others": [], "adapters": source.adapter_sources()}
    write_atomic(path, match_html(detail, f"match {match_id} of {source.name}").encode())
    return path
