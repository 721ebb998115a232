"""One match as a self-contained HTML file (``sparring export DIR --format html --match ID``).

The match is rendered here, as plain HTML (:mod:`sparring.runs.analysis.viewer.static_match`: the
viewer's lanes, turn cards, rewards and outcome, with the viewer's style sheet), so the
file reads in any browser, mail client or archive, with or without JavaScript; it holds
no script at all. Every string from the store is HTML-escaped, so a reply is text, never
markup. A Content-Security-Policy in the file allows exactly its own style block (by
hash) and nothing else: no script, image, frame or network request.
"""

from __future__ import annotations

import base64
import hashlib
from html import escape
from pathlib import Path

from sparring.runs.analysis.viewer.queries import match_detail
from sparring.runs.analysis.viewer.server import static_text
from sparring.runs.analysis.viewer.sources import find_sources
from sparring.runs.analysis.viewer.static_match import render_match
from sparring.runs.storage.rundir import write_atomic


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def match_html(detail: dict, title: str) -> str:
    """The HTML text of one match page (``detail`` as :func:`queries.match_detail` gives it),
    rendered server-side: it needs no script to read."""
    body, grid = render_match(detail)
    css = static_text("viewer.css") + grid
    csp = f"default-src 'none'; style-src {_sha256(css)}"
    safe_title = escape(title, quote=True)
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{safe_title}</title>\n<style>{css}</style>\n</head>\n<body>\n"
        f"<header class=\"top\"><h1>sparring · {safe_title}</h1></header>\n<main id=\"main\">{body}</main>\n"
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
