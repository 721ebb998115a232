"""``sparring view``: a small local web server over read-only stores.

The server is the standard library's ``ThreadingHTTPServer``: the viewer is a handful of
JSON routes and a few static files for one local user, so a framework would add
dependencies without removing code (see ``docs/architecture.md``). Each request opens
its own read-only SQLite connection (``sources.ReadOnlyStore``), so threads share
nothing but the immutable list of sources and a small ratings cache.

Routes (all ``GET`` except replay)::

    /                                         the page (static/index.html)
    /static/<file>                            its scripts and style sheet
    /api/sources                              the served directories
    /api/sources/<k>                          run page: counts, filter options, charts, config, adapters;
                                              a chart point is [iteration, value] or, for a figure
                                              stored with its 95% interval, [iteration, value,
                                              ci_low, ci_high] (charts.chart_specs)
    /api/sources/<k>/matches?<filters>        one page of the matches list (queries.MatchQuery)
    /api/sources/<k>/matches/<id>             one transcript, the same seed in other iterations, its
                                              whatif branches (and, for a branch, its original)
    /api/sources/<k>/matches/<id>/replay      POST: the exact-replay check and its differences
    /api/sources/<k>/matches/<id>/whatif      POST: branch the match (branches.start_branch)
    /api/sources/<k>/ratings                  ratings of a tournament or league

Safety: model output reaches the page only as JSON, and the page puts it into the DOM as
text; a Content-Security-Policy allows scripts from this server only, so even a mistake
there could not run an injected inline script. The server binds 127.0.0.1 unless told
otherwise, and answers only requests addressed to it by that name (a page elsewhere
cannot reach it through DNS rebinding); replay and whatif, the routes that compute, are
POSTs that must carry a JSON content type and this server's origin.
"""

from __future__ import annotations

import errno
import json
import math
import re
import sys
import threading
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sparring.runs.analysis.viewer.branches import branch_detail, start_branch
from sparring.runs.analysis.viewer.charts import ratings_page, run_page
from sparring.runs.analysis.viewer.queries import (
    MatchQuery,
    QueryError,
    counts,
    filter_options,
    list_matches,
    match_detail,
)
from sparring.runs.analysis.viewer.sources import Source, find_sources

LOOPBACK = "127.0.0.1"
STATIC = {"index.html": "text/html", "viewer.css": "text/css", "dom.js": "text/javascript",
          "charts.js": "text/javascript", "match.js": "text/javascript", "branches.js": "text/javascript", "app.js": "text/javascript"}
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_ROUTE = re.compile(r"^/api/sources(?:/(\d+)(?:/(matches|ratings)(?:/([^/]+)(/replay|/whatif)?)?)?)?/?$")


class NotFound(LookupError):
    """A route, source or match that does not exist (answered with 404)."""


def static_text(name: str) -> str:
    """The text of a file shipped in ``static/``."""
    return (resources.files("sparring.runs.analysis.viewer") / "static" / name).read_text(encoding="utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def to_json(value: Any) -> bytes:
    """JSON bytes; NaN and infinities (a metric can be NaN) become ``null``, which JSON.parse accepts."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False).encode()


class ViewerServer(ThreadingHTTPServer):
    """The HTTP server of ``sparring view`` (threads per request, daemonic).

    Args:
        sources: The directories served.
        host: Address bound.
        port: Port (0: a free one).
    """

    daemon_threads = True
    # SO_REUSEADDR lets a restarted viewer take its port back from TIME_WAIT; on Linux it
    # does not let two listeners share a port, so a busy port still fails (EADDRINUSE).
    allow_reuse_address = True

    def __init__(self, sources: list[Source], host: str, port: int) -> None:
        self.sources = sources
        self._ratings: dict[tuple[int, tuple[Any, ...]], dict[str, Any]] = {}
        self._lock = threading.Lock()
        super().__init__((host, port), Handler)
        self.host = host
        self.loopback = host == LOOPBACK

    @property
    def url(self) -> str:
        """The address to open in a browser."""
        return f"http://{self.host}:{self.server_address[1]}/"

    def allowed_host(self, header: str | None) -> bool:
        """Whether a request's ``Host`` names this server (always true when serving remotely)."""
        if not self.loopback:
            return True
        port = self.server_address[1]
        return header in (f"{LOOPBACK}:{port}", f"localhost:{port}")

    def source(self, key: str) -> Source:
        """The source with this key."""
        index = int(key)
        if index >= len(self.sources):
            raise NotFound(f"no source {index} (this viewer serves {len(self.sources)})")
        return self.sources[index]

    def ratings(self, source: Source) -> dict[str, Any]:
        """Ratings of a source, cached until its store changes (a bootstrap costs a second)."""
        with source.open() as store:
            version = tuple(store.conn.execute("SELECT COUNT(*), MAX(rowid), MAX(finished_at) FROM matches").fetchone())
            key = (source.key, version)
            with self._lock:
                if key in self._ratings:
                    return self._ratings[key]
            result = ratings_page(source, store)
        with self._lock:
            self._ratings[key] = result
        return result


class Handler(BaseHTTPRequestHandler):
    """Routes of the viewer (see the module docs)."""

    server: ViewerServer
    server_version = "sparring-view"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: the terminal shows the URL, not every request."""

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, value: Any, status: int = HTTPStatus.OK) -> None:
        self._send(status, to_json(value), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        """Serve the page, its files and the JSON API."""
        self._handle(post=False)

    def do_POST(self) -> None:  # noqa: N802
        """Run the replay check."""
        self._handle(post=True)

    def _handle(self, post: bool) -> None:
        if not self.server.allowed_host(self.headers.get("Host")):
            self._error(HTTPStatus.FORBIDDEN, f"this viewer answers requests to {self.server.url} only")
            return
        try:
            self._route(post)
        except (QueryError, ValueError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))
        except (NotFound, KeyError) as exc:
            self._error(HTTPStatus.NOT_FOUND, str(exc.args[0] if exc.args else exc))
        except Exception as exc:  # noqa: BLE001 - one bad request must not stop the viewer
            traceback.print_exc(file=sys.stderr)
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(exc).__name__}: {exc}")

    def _route(self, post: bool) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        if not post and path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, static_text("index.html").encode(), "text/html")
            return
        if not post and path == "/favicon.ico":  # browsers ask; there is none
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
            return
        if not post and path.startswith("/static/") and path[len("/static/"):] in STATIC:
            name = path[len("/static/"):]
            self._send(HTTPStatus.OK, static_text(name).encode(), STATIC[name])
            return
        found = _ROUTE.match(path)
        if found is None:
            raise NotFound(f"no page {path!r}")
        key, section, match_id, replay = found.groups()
        if post != bool(replay):
            self._error(HTTPStatus.METHOD_NOT_ALLOWED, "replay and whatif are POSTs; everything else is a GET")
            return
        params = parse_qs(parts.query, keep_blank_values=False)
        if key is None:
            self._json([{"key": s.key, "name": s.name, "kind": s.kind, "parent": s.parent} for s in self.server.sources])
            return
        source = self.server.source(key)
        if section is None:
            with source.open() as store:
                leagues = [s.key for s in self.server.sources if s.parent == source.key]
                self._json({"key": source.key, "name": source.name, "kind": source.kind, "leagues": leagues,
                            "counts": counts(store),
                            "options": filter_options(store), **run_page(source, store)})
        elif section == "ratings":
            self._json(self.server.ratings(source))
        elif match_id is None:
            with source.open() as store:
                self._json(list_matches(store, MatchQuery.from_params(params)))
        elif replay == "/whatif":
            self._whatif(source, unquote(match_id))
        elif replay:
            self._replay(source, unquote(match_id))
        else:
            with source.open() as store:
                detail = match_detail(store, unquote(match_id))
                detail.update(branch_detail(store, unquote(match_id)))
            self._json({**detail, "adapters": source.adapter_sources(), "source": source.key})

    def _whatif(self, source: Source, match_id: str) -> None:
        if not self._from_page("whatif"):
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(min(length, 1 << 16)) or b"{}")
        except json.JSONDecodeError:
            raise ValueError("the whatif request body must be JSON") from None
        if not isinstance(body, dict):
            raise ValueError("the whatif request body must be a JSON object")
        self._json(start_branch(source, match_id, body))

    def _from_page(self, what: str) -> bool:
        """Whether a POST comes from the viewer page (else a 403 is sent)."""
        # A cross-site page can send a simple POST; it cannot send a JSON one without a CORS
        # preflight, which this server never grants, nor forge the Origin header.
        origin = self.headers.get("Origin")
        if not (self.headers.get("Content-Type") or "").startswith("application/json") or (
                origin is not None and self.server.loopback and origin.rstrip("/") + "/" != self.server.url
                and origin.rstrip("/") != f"http://localhost:{self.server.server_address[1]}"):
            self._error(HTTPStatus.FORBIDDEN, f"{what} must be requested by the viewer page (JSON POST, same origin)")
            return False
        return True

    def _replay(self, source: Source, match_id: str) -> None:
        if not self._from_page("replay"):
            return
        from sparring.arenas.replay import replay

        with source.open() as store:
            transcript = store.get(match_id)
        try:
            result = replay(transcript)
        except Exception as exc:  # noqa: BLE001 - an arena that cannot be re-made is a result to show
            self._json({"identical": False, "differences": [f"replay failed: {type(exc).__name__}: {exc}"]})
            return
        self._json({"identical": result.identical, "differences": result.differences})


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse any address but 127.0.0.1 unless ``allow_remote`` is set.

    Raises:
        ValueError: A non-loopback host without ``allow_remote`` (one line saying why and how).
    """
    if host != LOOPBACK and not allow_remote:
        raise ValueError(f"view: refusing to serve on {host}: the viewer shows every stored transcript to anyone "
                         f"who can reach it, so it binds {LOOPBACK} only; pass --allow-remote to serve on {host}")


def make_server(dirs: list[str | Path], host: str = LOOPBACK, port: int = 0, allow_remote: bool = False) -> ViewerServer:
    """A viewer server over ``dirs``, bound but not yet serving.

    Raises:
        ValueError: A refused host, or a port out of range.
        FileNotFoundError: A directory without ``store.sqlite``.
        RuntimeError: The port is in use.
    """
    check_host(host, allow_remote)
    if not 0 <= port <= 65535:
        raise ValueError(f"view: --port must be in 0..65535 (0 picks a free one), got {port}")
    sources = find_sources(list(dirs))
    try:
        return ViewerServer(sources, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise RuntimeError(f"view: port {port} on {host} is in use; pass another --port, or omit it to pick a free one") from None
        if exc.errno in (errno.EADDRNOTAVAIL, -2, -3, -5):  # not an address of this machine / unknown name
            raise ValueError(f"view: cannot bind {host}: {exc.strerror}") from None
        raise


def serve(dirs: list[str | Path], host: str = LOOPBACK, port: int = 0, allow_remote: bool = False,
          out: Any = None) -> None:
    """Serve the viewer until interrupted; prints the URL first (flushed, so scripts can read it).

    Args:
        dirs: Run, tournament or league directories.
        host: Address to bind (127.0.0.1 unless ``allow_remote``).
        port: Port; 0 picks a free one.
        allow_remote: Allow binding an address other than 127.0.0.1.
        out: Where to print the URL (default stdout).
    """
    server = make_server(dirs, host, port, allow_remote)
    out = out or sys.stdout
    names = ", ".join(s.name for s in server.sources)
    print(f"sparring view: serving {names} at {server.url} (Ctrl-C to stop)", file=out, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("sparring view: stopped", file=out, flush=True)
    finally:
        server.server_close()
