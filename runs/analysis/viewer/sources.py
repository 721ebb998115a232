"""The run directories a viewer serves, read without ever writing to them.

A *source* is one directory with a ``store.sqlite``: a play or training run, a tournament,
or a training run's league (``RUN/league/``, added next to its run automatically). The
store is opened with SQLite's ``file:...?mode=ro`` URI, one connection per request: the
viewer never creates tables, never takes a write lock, and, the store being in WAL mode,
reads a consistent snapshot while a run is still writing (each request sees every match
committed before it began).
"""

from __future__ import annotations

import sqlite3
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sparring.runs.storage.store import STORE_SCHEMA, Store


class ReadOnlyStore(Store):
    """A :class:`Store` opened read-only (``mode=ro``): every reading method, no writes.

    Args:
        path: An existing ``store.sqlite``.

    Raises:
        FileNotFoundError: ``path`` does not exist (read-only mode never creates it).
        RuntimeError: The store was written by a newer sparring.
    """

    def __init__(self, path: str | Path) -> None:  # noqa: D107 - documented on the class
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path} does not exist; pass a run directory holding store.sqlite")
        uri = f"file:{quote(str(self.path.resolve()))}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, timeout=30.0, check_same_thread=False)
        row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None and int(row[0]) > STORE_SCHEMA:
            self._conn.close()
            raise RuntimeError(f"{self.path} has store schema {row[0]}, newer than this sparring "
                               f"({STORE_SCHEMA}); upgrade sparring to view it")

    @property
    def conn(self) -> sqlite3.Connection:
        """The read-only connection (for the viewer's own queries)."""
        return self._conn


@dataclass
class Source:
    """One served directory.

    Attributes:
        key: Its index in the viewer (used in URLs).
        path: The directory.
        name: How the page names it (the path as given on the command line).
        config: Its ``config.toml`` (empty when missing).
        parent: Key of the run a league belongs to.
    """

    key: int
    path: Path
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    parent: int | None = None

    @property
    def store_path(self) -> Path:
        """``DIR/store.sqlite``."""
        return self.path / "store.sqlite"

    @property
    def kind(self) -> str:
        """``train``, ``play``, ``tournament`` or ``run`` (no config recorded)."""
        return str(self.config.get("command", "run"))

    def open(self) -> ReadOnlyStore:
        """A fresh read-only connection to the store (one per request)."""
        return ReadOnlyStore(self.store_path)

    def adapters(self) -> list[dict[str, Any]]:
        """Saved adapter versions (``adapters/<name>/v<N>/``) and where each adapter came from."""
        recorded = self.config.get("adapters", {})
        names = sorted({p.name for p in (self.path / "adapters").glob("*") if p.is_dir()} | set(recorded))
        out = []
        for name in names:
            versions = sorted(int(p.name[1:]) for p in (self.path / "adapters" / name).glob("v*")
                              if p.is_dir() and p.name[1:].isdigit())
            source = recorded.get(name, {}).get("source") if isinstance(recorded.get(name), dict) else None
            out.append({"name": name, "versions": versions, "source": source})
        return out

    def adapter_sources(self) -> dict[str, str]:
        """``{adapter: folder it was loaded from}`` as ``config.toml`` records it."""
        return {a["name"]: a["source"] for a in self.adapters() if a["source"]}

    def recipe(self) -> str | None:
        """The text of ``recipe.toml`` (training runs), else ``None``."""
        path = self.path / "recipe.toml"
        return path.read_text(encoding="utf-8") if path.is_file() else None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads((path / "config.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return {}


def find_sources(dirs: list[str | Path]) -> list[Source]:
    """The sources to serve for the directories given on the command line.

    Each directory must hold a ``store.sqlite``; a ``league/`` folder with its own store
    is added right after its run.

    Raises:
        FileNotFoundError: A directory holds no store (one line naming it).
        ValueError: No directory was given.
    """
    if not dirs:
        raise ValueError("view: give at least one run directory (e.g. 'sparring view out/run')")
    sources: list[Source] = []
    for given in dirs:
        path = Path(given)
        if not (path / "store.sqlite").is_file():
            raise FileNotFoundError(f"view: {path} is not a run directory (no store.sqlite); pass a directory "
                                    "written by 'sparring play', 'sparring train' or 'sparring tournament'")
        ReadOnlyStore(path / "store.sqlite").close()  # fail now on a newer schema, not on the first page
        run = Source(len(sources), path, str(given), _read_config(path))
        sources.append(run)
        league = path / "league"
        if (league / "store.sqlite").is_file():
            sources.append(Source(len(sources), league, str(path / "league"), _read_config(league),
                                  parent=run.key))
    return sources
