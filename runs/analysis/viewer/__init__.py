"""``sparring view``: browse run directories in a local web page.

The viewer reads ``store.sqlite`` read-only (safe while a run writes) and serves a page
with the matches list (server-side filters, sorting by a reward, pages), one match in
lanes per role with a replay check, the run's metric charts, recipe and adapters, and
the ratings of a tournament or league. Model output is untrusted: it is shown as text
only, and the page loads nothing from the network.

Modules: ``sources`` (the directories, read-only store), ``queries`` (matches list and
one match as SQL), ``charts`` (chart specs and ratings), ``server`` (HTTP; its JSON routes
are documented in docs/viewer.md), ``page`` (one match as a self-contained HTML file, drawn by
``static_match`` as plain HTML, no script), ``static/`` (the page's scripts and style).
"""

from __future__ import annotations

from sparring.runs.analysis.viewer.page import export_html, match_html
from sparring.runs.analysis.viewer.queries import MatchQuery, QueryError
from sparring.runs.analysis.viewer.server import ViewerServer, check_host, make_server, serve
from sparring.runs.analysis.viewer.sources import ReadOnlyStore, Source, find_sources

__all__ = ["MatchQuery", "QueryError", "ReadOnlyStore", "Source", "ViewerServer", "check_host", "export_html",
           "find_sources", "make_server", "match_html", "serve"]
