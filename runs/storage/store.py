"""The transcript store: SQLite in WAL mode, one transaction per finished match.

Schema (``schema_version`` in the ``meta`` table):

``runs(run_id PK, created, config JSON)``
``matches(match_id PK, run_id, iteration, arena_id, seed, status, spec JSON, roles JSON,
outcome JSON, summary, error, schema_version, started_at, finished_at)``
``turns(match_id, idx, ask, sample, role, model, adapter, adapter_version, messages JSON,
sampling JSON, seed, text, token_ids JSON, logprobs JSON, finish_reason, prompt_tokens,
parsed JSON, parse_error, latency; PK(match_id, idx))``
``rewards(match_id, reward, role, turn, value, explanation)``
``metrics(iteration, name, value, time; PK(iteration, name))``
``rescores(rescore_id PK, created, kind, name, source, status, matches, finished)``,
``rescored_rewards(rescore_id, match_id, reward, role, turn, value, explanation)``,
``events(iteration, kind, detail JSON, time; PK(iteration, kind))``: what a run did besides
training (the collapse guard's roll-backs and stops, :mod:`sparring.runs.training.guard`).
``rescored_metrics(rescore_id, iteration, name, value; PK(rescore_id, iteration, name))``:
rewards and metrics recomputed on stored transcripts by ``sparring rescore``, kept beside
(never in place of) the rewards and metrics written when the matches were played.
``branches(match_id PK, parent, from_turn, swaps JSON, branch_seed, sample, whatif, created)``:
matches played by ``sparring whatif`` (counterfactual branches of a stored match). A branch's
transcript sits in ``matches``/``turns``/``rewards`` like any match (so ``get``, ``show``,
the viewer read it), but :meth:`Store.match_ids` and :meth:`Store.count` leave branches out
unless asked, so training, export, rescore, tournaments and play's skip list never mistake
one for a played match.

Migrations: a store of schema 1 gains the three ``rescore`` tables, and one of schema 1 or
2 the ``branches`` table, when it is opened (nothing else changes; its transcripts,
rewards and metrics are left as they are). A store opened read-only (the viewer) before
that is read as having no branches.

A match is written in one transaction, so a crash loses at most the matches still in
flight, never a stored one. Readers rebuild :class:`Transcript` objects.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sparring.arenas.transcript import ArenaSpec, RewardRecord, Transcript, Turn

STORE_SCHEMA = 3
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, created REAL NOT NULL, config TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS matches (
    match_id TEXT PRIMARY KEY, run_id TEXT, iteration INTEGER NOT NULL, arena_id TEXT NOT NULL,
    seed INTEGER NOT NULL, status TEXT NOT NULL, spec TEXT NOT NULL, roles TEXT NOT NULL,
    outcome TEXT, summary TEXT, error TEXT, schema_version INTEGER NOT NULL,
    started_at REAL, finished_at REAL);
CREATE TABLE IF NOT EXISTS turns (
    match_id TEXT NOT NULL, idx INTEGER NOT NULL, ask INTEGER NOT NULL, sample INTEGER NOT NULL,
    role TEXT NOT NULL, model TEXT NOT NULL, adapter TEXT, adapter_version INTEGER,
    messages TEXT NOT NULL, sampling TEXT NOT NULL, seed INTEGER NOT NULL, text TEXT NOT NULL,
    token_ids TEXT NOT NULL, logprobs TEXT NOT NULL, finish_reason TEXT, prompt_tokens INTEGER,
    parsed TEXT, parse_error TEXT, latency REAL, PRIMARY KEY (match_id, idx));
CREATE TABLE IF NOT EXISTS rewards (
    match_id TEXT NOT NULL, reward TEXT NOT NULL, role TEXT NOT NULL, turn INTEGER,
    value REAL NOT NULL, explanation TEXT);
CREATE TABLE IF NOT EXISTS metrics (
    iteration INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL, time REAL NOT NULL,
    PRIMARY KEY (iteration, name));
CREATE TABLE IF NOT EXISTS events (
    iteration INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT NOT NULL, time REAL NOT NULL,
    PRIMARY KEY (iteration, kind));
CREATE TABLE IF NOT EXISTS rescores (
    rescore_id INTEGER PRIMARY KEY, created REAL NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    source TEXT NOT NULL, status TEXT NOT NULL, matches INTEGER NOT NULL DEFAULT 0, finished REAL);
CREATE TABLE IF NOT EXISTS rescored_rewards (
    rescore_id INTEGER NOT NULL, match_id TEXT NOT NULL, reward TEXT NOT NULL, role TEXT NOT NULL,
    turn INTEGER, value REAL NOT NULL, explanation TEXT);
CREATE TABLE IF NOT EXISTS rescored_metrics (
    rescore_id INTEGER NOT NULL, iteration INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (rescore_id, iteration, name));
CREATE TABLE IF NOT EXISTS branches (
    match_id TEXT PRIMARY KEY, parent TEXT NOT NULL, from_turn INTEGER NOT NULL, swaps TEXT NOT NULL,
    branch_seed INTEGER, sample INTEGER NOT NULL, whatif TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS branches_by_parent ON branches (parent);
CREATE INDEX IF NOT EXISTS rescored_by_match ON rescored_rewards (rescore_id, match_id);
CREATE INDEX IF NOT EXISTS matches_by_iteration ON matches (iteration, arena_id);
CREATE INDEX IF NOT EXISTS turns_by_role ON turns (role);
CREATE INDEX IF NOT EXISTS rewards_by_match ON rewards (match_id);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Store:
    """Transcripts of a run directory in ``store.sqlite``.

    Args:
        path: The SQLite file (created with its schema if missing).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30.0)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._conn:
            self._conn.executescript(_SCHEMA)
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._conn.execute("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(STORE_SCHEMA),))
            elif int(row[0]) < STORE_SCHEMA:
                # 1 -> 2 added the rescore tables, 2 -> 3 the branches table: the script above made them.
                self._conn.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(STORE_SCHEMA),))
            elif int(row[0]) > STORE_SCHEMA:
                raise RuntimeError(
                    f"{self.path} has store schema {row[0]}, newer than this sparring "
                    f"({STORE_SCHEMA}); upgrade sparring to read it"
                )

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------
    def add_run(self, run_id: str, config: dict[str, Any]) -> None:
        """Record a run and its resolved config (kept if the run already exists)."""
        with self._conn:
            self._conn.execute(
                "INSERT OR IGNORE INTO runs (run_id, created, config) VALUES (?, ?, ?)", (run_id, time.time(), _dumps(config))
            )

    def add(self, transcript: Transcript, branch: dict[str, Any] | None = None) -> None:
        """Store one transcript in one transaction (replacing a stored one with its id).

        ``branch`` marks it a branch of a stored match (``parent``, ``from_turn``, ``swaps``,
        ``branch_seed``, ``sample``, ``whatif``; see :mod:`sparring.runs.analysis.whatif`), written in
        the same transaction, so a kill never leaves a branch without its record.
        """
        t = transcript
        with self._conn:
            self._delete(t.match_id)
            if branch is not None:
                self._conn.execute(
                    "INSERT INTO branches (match_id, parent, from_turn, swaps, branch_seed, sample, whatif, created)"
                    " VALUES (?,?,?,?,?,?,?,?)",
                    (t.match_id, branch["parent"], branch["from_turn"], _dumps(branch["swaps"]),
                     branch["branch_seed"], branch["sample"], branch["whatif"], time.time()))
            self._conn.execute(
                "INSERT INTO matches (match_id, run_id, iteration, arena_id, seed, status, spec, roles, outcome,"
                " summary, error, schema_version, started_at, finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (t.match_id, t.run_id, t.iteration, t.arena.id, t.seed, t.status,
                 _dumps(t.arena.model_dump(mode="json")), _dumps(t.roles), _dumps(t.outcome),
                 t.summary, t.error, t.schema_version, t.started_at, t.finished_at),
            )
            self._conn.executemany(
                "INSERT INTO turns (match_id, idx, ask, sample, role, model, adapter, adapter_version, messages,"
                " sampling, seed, text, token_ids, logprobs, finish_reason, prompt_tokens, parsed, parse_error,"
                " latency) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(t.match_id, u.index, u.ask, u.sample, u.role, u.model, u.adapter,
                  u.adapter_version, _dumps(u.messages), _dumps(u.sampling), u.seed, u.text,
                  _dumps(u.token_ids), _dumps(u.logprobs), u.finish_reason, u.prompt_tokens,
                  _dumps(u.parsed), u.parse_error, u.latency) for u in t.turns],
            )
            self._insert_rewards(t.match_id, t.rewards)

    def set_rewards(self, match_id: str, rewards: Iterable[RewardRecord]) -> None:
        """Replace the rewards of a stored match (re-scoring without generating again)."""
        with self._conn:
            self._conn.execute("DELETE FROM rewards WHERE match_id=?", (match_id,))
            self._insert_rewards(match_id, rewards)

    def _insert_rewards(self, match_id: str, rewards: Iterable[RewardRecord]) -> None:
        self._conn.executemany(
            "INSERT INTO rewards (match_id, reward, role, turn, value, explanation) VALUES (?,?,?,?,?,?)",
            [(match_id, r.reward, r.role, r.turn, r.value, r.explanation) for r in rewards],
        )

    def _delete(self, match_id: str) -> None:
        # Rescored rows describe the transcript being replaced, so they go with it.
        for table in ("matches", "turns", "rewards", "rescored_rewards", "branches"):
            self._conn.execute(f"DELETE FROM {table} WHERE match_id=?", (match_id,))

    def add_metrics(self, iteration: int, values: dict[str, float]) -> None:
        """Record (or replace) metrics of one iteration."""
        now = time.time()
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO metrics (iteration, name, value, time) VALUES (?,?,?,?)",
                [(iteration, k, float(v), now) for k, v in values.items()],
            )

    def add_event(self, iteration: int, kind: str, detail: dict[str, Any]) -> None:
        """Record (or replace: a replayed iteration writes the same record) what the run did
        at ``iteration`` besides training, e.g. the collapse guard's roll-back or stop."""
        with self._conn:
            self._conn.execute("INSERT OR REPLACE INTO events (iteration, kind, detail, time) VALUES (?,?,?,?)",
                               (iteration, kind, json.dumps(detail, sort_keys=True), time.time()))

    def events(self) -> list[dict[str, Any]]:
        """Stored events as ``{"iteration", "kind", **detail}``, by iteration (none in a store
        written before the table existed and opened read-only)."""
        try:
            rows = self._conn.execute("SELECT iteration, kind, detail FROM events ORDER BY iteration, kind").fetchall()
        except sqlite3.OperationalError:  # a read-only store from before the events table
            return []
        return [{"iteration": i, "kind": kind, **json.loads(detail)} for i, kind, detail in rows]

    def metrics(self, name: str | None = None) -> list[tuple[int, str, float]]:
        """Stored ``(iteration, name, value)`` rows, by iteration then name."""
        query, args = "SELECT iteration, name, value FROM metrics", []
        if name is not None:
            query += " WHERE name=?"
            args.append(name)
        return [tuple(r) for r in self._conn.execute(query + " ORDER BY iteration, name", args)]

    # -- rescoring (``sparring rescore``) -----------------------------------------------
    def start_rescore(self, kind: str, name: str, source: str) -> tuple[int, set[str]]:
        """A rescore id for (kind, name, source) and the match ids it already holds.

        An unfinished rescore of the same reward or metric from the same source (a killed
        ``sparring rescore``) is continued rather than started again.
        """
        row = self._conn.execute(
            "SELECT rescore_id FROM rescores WHERE kind=? AND name=? AND source=? AND status='running' "
            "ORDER BY rescore_id DESC LIMIT 1", (kind, name, source)).fetchone()
        if row is not None:
            done = {r[0] for r in self._conn.execute(
                "SELECT DISTINCT match_id FROM rescored_rewards WHERE rescore_id=?", (row[0],))}
            return int(row[0]), done
        with self._conn:
            cursor = self._conn.execute(
                "INSERT INTO rescores (created, kind, name, source, status) VALUES (?,?,?,?, 'running')",
                (time.time(), kind, name, source))
        return int(cursor.lastrowid or 0), set()

    def add_rescored(self, rescore_id: int, match_id: str, rewards: Iterable[RewardRecord]) -> None:
        """Store one match's recomputed rewards (one transaction; the match's own rewards stay)."""
        with self._conn:
            self._conn.execute("DELETE FROM rescored_rewards WHERE rescore_id=? AND match_id=?", (rescore_id, match_id))
            self._conn.executemany(
                "INSERT INTO rescored_rewards (rescore_id, match_id, reward, role, turn, value, explanation)"
                " VALUES (?,?,?,?,?,?,?)",
                [(rescore_id, match_id, r.reward, r.role, r.turn, r.value, r.explanation) for r in rewards])
            self._conn.execute("UPDATE rescores SET matches = matches + 1 WHERE rescore_id=?", (rescore_id,))

    def add_rescored_metrics(self, rescore_id: int, iteration: int, values: dict[str, float]) -> None:
        """Store recomputed metric values of one iteration."""
        with self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO rescored_metrics (rescore_id, iteration, name, value) VALUES (?,?,?,?)",
                [(rescore_id, iteration, k, float(v)) for k, v in values.items()])

    def finish_rescore(self, rescore_id: int) -> None:
        """Mark a rescore complete."""
        with self._conn:
            self._conn.execute("UPDATE rescores SET status='done', finished=? WHERE rescore_id=?",
                               (time.time(), rescore_id))

    def rescores(self) -> list[dict[str, Any]]:
        """Every rescore: id, kind (reward or metric), name, source, status, matches scored."""
        cols = ("rescore_id", "created", "kind", "name", "source", "status", "matches", "finished")
        return [dict(zip(cols, r, strict=True)) for r in self._conn.execute(
            f"SELECT {', '.join(cols)} FROM rescores ORDER BY rescore_id")]

    def rescored_rewards(self, rescore_id: int, match_id: str | None = None) -> list[tuple[str, RewardRecord]]:
        """``(match_id, record)`` rows of a rescore (optionally of one match), in insertion order."""
        query = ("SELECT match_id, reward, role, turn, value, explanation FROM rescored_rewards "
                 "WHERE rescore_id=?")
        args: list[Any] = [rescore_id]
        if match_id is not None:
            query += " AND match_id=?"
            args.append(match_id)
        return [(r[0], RewardRecord(reward=r[1], role=r[2], turn=r[3], value=r[4], explanation=r[5] or ""))
                for r in self._conn.execute(query + " ORDER BY rowid", args)]

    def rescored_metrics(self, rescore_id: int) -> list[tuple[int, str, float]]:
        """``(iteration, name, value)`` rows of a metric rescore."""
        return [tuple(r) for r in self._conn.execute(
            "SELECT iteration, name, value FROM rescored_metrics WHERE rescore_id=? ORDER BY iteration, name",
            (rescore_id,))]

    # -- reading ---------------------------------------------------------------------
    def _has_branches(self) -> bool:
        # a store opened read-only before its migration has no branches table
        return self._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='branches'").fetchone() is not None

    def _played(self) -> str:
        """SQL condition on ``matches`` leaving branches out."""
        return " AND match_id NOT IN (SELECT match_id FROM branches)" if self._has_branches() else ""

    def count(self, status: str | None = None) -> int:
        """Number of stored matches (optionally with one status), branches left out."""
        if status is None:
            return self._conn.execute(f"SELECT COUNT(*) FROM matches WHERE 1=1{self._played()}").fetchone()[0]
        return self._conn.execute(f"SELECT COUNT(*) FROM matches WHERE status=?{self._played()}",
                                  (status,)).fetchone()[0]

    def match_ids(self, *, iteration: int | None = None, arena: str | None = None,
                  status: str | None = None, role: str | None = None, branches: bool = False) -> list[str]:
        """Ids of stored matches, in insertion order, filtered by the given fields; branches
        (``sparring whatif``) only with ``branches=True``."""
        query, args = "SELECT match_id FROM matches WHERE 1=1", []
        if not branches:
            query += self._played()
        for column, value in (("iteration", iteration), ("arena_id", arena), ("status", status)):
            if value is not None:
                query += f" AND {column}=?"
                args.append(value)
        if role is not None:
            query += " AND match_id IN (SELECT match_id FROM turns WHERE role=?)"
            args.append(role)
        return [r[0] for r in self._conn.execute(query + " ORDER BY rowid", args)]

    def get(self, match_id: str) -> Transcript:
        """The stored transcript of ``match_id``."""
        row = self._conn.execute(
            "SELECT match_id, run_id, iteration, seed, status, spec, roles, outcome, summary, "
            "error, schema_version, started_at, finished_at FROM matches WHERE match_id=?",
            (match_id,),
        ).fetchone()
        if row is None:
            known = self.match_ids()[:5]
            raise KeyError(f"no match {match_id!r} in {self.path} (e.g. {', '.join(known) or 'none stored'})")
        turns = [
            Turn(index=r[0], ask=r[1], sample=r[2], role=r[3], model=r[4], adapter=r[5],
                 adapter_version=r[6], messages=json.loads(r[7]), sampling=json.loads(r[8]),
                 seed=r[9], text=r[10], token_ids=json.loads(r[11]), logprobs=json.loads(r[12]),
                 finish_reason=r[13], prompt_tokens=r[14], parsed=json.loads(r[15]),
                 parse_error=r[16], latency=r[17])
            for r in self._conn.execute(
                "SELECT idx, ask, sample, role, model, adapter, adapter_version, messages, sampling, "
                "seed, text, token_ids, logprobs, finish_reason, prompt_tokens, parsed, parse_error, "
                "latency FROM turns WHERE match_id=? ORDER BY idx", (match_id,))
        ]
        rewards = [
            RewardRecord(reward=r[0], role=r[1], turn=r[2], value=r[3], explanation=r[4] or "")
            for r in self._conn.execute(
                "SELECT reward, role, turn, value, explanation FROM rewards WHERE match_id=? "
                "ORDER BY rowid", (match_id,))
        ]
        return Transcript(
            match_id=row[0], run_id=row[1], iteration=row[2], seed=row[3], status=row[4],
            arena=ArenaSpec.model_validate(json.loads(row[5])), roles=json.loads(row[6]),
            outcome=json.loads(row[7]), summary=row[8] or "", error=row[9],
            schema_version=row[10], started_at=row[11] or 0.0, finished_at=row[12] or 0.0,
            turns=turns, rewards=rewards,
        )

    def branch(self, match_id: str) -> dict[str, Any] | None:
        """The branch record of ``match_id`` (``None`` when it is not a branch)."""
        rows = self.branches(match_id=match_id)
        return rows[0] if rows else None

    def branches(self, parent: str | None = None, *, whatif: str | None = None,
                 match_id: str | None = None) -> list[dict[str, Any]]:
        """Branch records (``match_id``, ``parent``, ``from_turn``, ``swaps``, ``branch_seed``,
        ``sample``, ``whatif``, ``created``), in the order they were stored."""
        if not self._has_branches():
            return []
        cols = ("match_id", "parent", "from_turn", "swaps", "branch_seed", "sample", "whatif", "created")
        query, args = f"SELECT {', '.join(cols)} FROM branches WHERE 1=1", []
        for column, value in (("parent", parent), ("whatif", whatif), ("match_id", match_id)):
            if value is not None:
                query += f" AND {column}=?"
                args.append(value)
        out = []
        for row in self._conn.execute(query + " ORDER BY rowid", args):
            record = dict(zip(cols, row, strict=True))
            record["swaps"] = json.loads(record["swaps"])
            out.append(record)
        return out

    def transcripts(self, **filters: Any) -> Iterator[Transcript]:
        """Stored transcripts, filtered like :meth:`match_ids`."""
        for match_id in self.match_ids(**filters):
            yield self.get(match_id)
