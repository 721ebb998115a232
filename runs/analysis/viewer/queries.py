"""The matches list and the one-match view, as SQL over a read-only store.

Filtering, sorting and paging happen in SQLite, so a page costs the same whether the
store holds ten matches or ten thousand: only the page's rows (and their turn and reward
summaries) leave the database. Filters that concern turns (role, adapter version, parse
failures) apply to the *same* turn: ``role=solver&parse=failed`` means "a solver turn
failed to parse", not "some turn failed and a solver played".

A match's reward for sorting and ranges is the mean of one named reward for one seat
(``reward=<reward>/<seat>``), as the terminal's match table shows it; different rewards
are never blended.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sparring.runs.analysis.viewer.branches import not_branch
from sparring.runs.analysis.viewer.sources import ReadOnlyStore

SORTS = ("stored", "reward_desc", "reward_asc", "iteration")
PARSE = ("failed", "ok")
MAX_PER_PAGE = 200
HELD_OUT_PREFIX = "eval-"
FUTURE_PREFIX = "future-"  # a look-ahead's future matches (sparring.runs.training.algorithms.FUTURE_PREFIX)


class QueryError(ValueError):
    """A bad filter value (the page shows the message; the API answers 400)."""


def _one(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, list):
        value = value[-1] if value else None
    value = None if value is None else str(value).strip()
    return value or None


def _int(params: Mapping[str, Any], name: str, default: int | None = None) -> int | None:
    value = _one(params, name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise QueryError(f"{name} must be an integer, got {value!r}") from None


def _float(params: Mapping[str, Any], name: str) -> float | None:
    value = _one(params, name)
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        raise QueryError(f"{name} must be a number, got {value!r}") from None


@dataclass
class MatchQuery:
    """Filters, order and page of the matches list (all optional).

    Attributes:
        arena: Arena id.
        iteration: Iteration number.
        role: A seat that played at least one turn.
        adapter: ``<adapter>@v<N>`` (a turn played on that version) or ``base``.
        player: A tournament player who sat in any seat.
        status: ``finished`` or ``error``.
        parse: ``failed`` (some turn unparseable) or ``ok`` (none).
        reward: ``<reward>/<seat>`` whose mean ``min``/``max`` bound and ``sort`` orders.
        min: Smallest reward kept.
        max: Largest reward kept.
        sort: ``stored`` (insertion order), ``reward_desc``, ``reward_asc`` or ``iteration``.
        page: 1-based page number.
        per_page: Rows per page (at most 200).
    """

    arena: str | None = None
    iteration: int | None = None
    role: str | None = None
    adapter: str | None = None
    player: str | None = None
    status: str | None = None
    parse: str | None = None
    reward: str | None = None
    min: float | None = None
    max: float | None = None
    sort: str = "stored"
    page: int = 1
    per_page: int = 50

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> MatchQuery:
        """Read a query from URL parameters (values may be lists, as ``parse_qs`` gives).

        Raises:
            QueryError: A value of the wrong type or out of range (one line naming it).
        """
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(params) - known)
        if unknown:
            raise QueryError(f"unknown filter {unknown[0]!r} (filters: {', '.join(sorted(known))})")
        q = cls(arena=_one(params, "arena"), iteration=_int(params, "iteration"), role=_one(params, "role"),
                adapter=_one(params, "adapter"), player=_one(params, "player"), status=_one(params, "status"),
                parse=_one(params, "parse"), reward=_one(params, "reward"), min=_float(params, "min"),
                max=_float(params, "max"), sort=_one(params, "sort") or "stored",
                page=_int(params, "page", 1) or 1, per_page=_int(params, "per_page", 50) or 50)
        if q.sort not in SORTS:
            raise QueryError(f"sort must be one of {', '.join(SORTS)}, got {q.sort!r}")
        if q.parse is not None and q.parse not in PARSE:
            raise QueryError(f"parse must be 'failed' or 'ok', got {q.parse!r}")
        if q.page < 1 or not 1 <= q.per_page <= MAX_PER_PAGE:
            raise QueryError(f"page must be >= 1 and per_page in 1..{MAX_PER_PAGE}, got {q.page} and {q.per_page}")
        if q.reward is not None and "/" not in q.reward:
            raise QueryError(f"reward must look like REWARD/SEAT (e.g. solver_truth/solver), got {q.reward!r}")
        if q.reward is None and (q.min is not None or q.max is not None or q.sort.startswith("reward")):
            raise QueryError("a reward range or sort by reward needs reward=REWARD/SEAT (pick a reward)")
        if q.adapter is not None and q.adapter != "base" and not _split_adapter(q.adapter):
            raise QueryError(f"adapter must look like NAME@vN or base, got {q.adapter!r}")
        return q

    def where(self) -> tuple[str, list[Any], str, list[Any]]:
        """SQL ``FROM``/``WHERE`` part over ``matches m`` and its arguments, and the reward join."""
        join, join_args = "", []
        if self.reward is not None:
            name, _, seat = self.reward.rpartition("/")
            # NOT INDEXED: one sequential scan and a sort beat visiting every row through the
            # match_id index in index order (measured 3-5x on 190,000 reward rows).
            join = (" LEFT JOIN (SELECT match_id, AVG(value) AS v FROM rewards NOT INDEXED WHERE reward=?"
                    " AND role=? GROUP BY match_id) rv ON rv.match_id = m.match_id")
            join_args = [name, seat]
        clauses, args = ["1=1"], []
        for column, value in (("m.arena_id", self.arena), ("m.iteration", self.iteration), ("m.status", self.status)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if self.player is not None:
            clauses.append("EXISTS (SELECT 1 FROM json_each(m.roles) j WHERE json_extract(j.value, '$.player') = ?)")
            args.append(self.player)
        # Unary '+' keeps SQLite from answering these through the role index (every turn of
        # the role, for every match: quadratic); the (match_id, idx) key finds a match's turns.
        turn, turn_args = ["u.match_id = m.match_id"], []
        if self.role is not None:
            turn.append("+u.role = ?")
            turn_args.append(self.role)
        if self.adapter == "base":
            turn.append("+u.adapter IS NULL")
        elif self.adapter is not None:
            name, version = _split_adapter(self.adapter)  # type: ignore[misc]
            turn.append("+u.adapter = ? AND +u.adapter_version = ?")
            turn_args += [name, version]
        exists = f"EXISTS (SELECT 1 FROM turns u WHERE {' AND '.join(turn)}"
        if len(turn) > 1:
            clauses.append(exists + ")")
            args += turn_args
        if self.parse == "failed":
            clauses.append(exists + " AND u.parse_error IS NOT NULL)")
            args += turn_args
        elif self.parse == "ok":
            clauses.append("NOT " + exists + " AND u.parse_error IS NOT NULL)")
            args += turn_args
        if self.min is not None:
            clauses.append("rv.v >= ?")
            args.append(self.min)
        if self.max is not None:
            clauses.append("rv.v <= ?")
            args.append(self.max)
        return join, join_args, " AND ".join(clauses), args

    def order(self) -> str:
        """SQL ``ORDER BY`` (matches without the sort reward go last)."""
        return {"stored": "m.rowid", "iteration": "m.iteration, m.rowid",
                "reward_desc": "rv.v IS NULL, rv.v DESC, m.rowid",
                "reward_asc": "rv.v IS NULL, rv.v ASC, m.rowid"}[self.sort]


def _split_adapter(value: str) -> tuple[str, int] | None:
    name, at, version = value.rpartition("@")
    version = version[1:] if version.startswith("v") else version
    return (name, int(version)) if at and name and version.isdigit() else None


def list_matches(store: ReadOnlyStore, query: MatchQuery) -> dict[str, Any]:
    """One page of matches: ``{total, page, per_page, pages, rows, query_ms}``.

    Each row: ``match_id, iteration, arena, seed, status, summary`` (clipped), ``turns``,
    ``parse_failures``, ``rewards`` (``{"<reward>/<seat>": mean}``), ``players``
    (``{seat: player}`` for tournament matches) and ``sort_reward`` when a reward is chosen.
    """
    started = time.perf_counter()
    conn = store.conn
    join, join_args, where, args = query.where()
    where += not_branch(store)  # whatif branches are listed on their original's page
    value = "rv.v" if join else "NULL"
    # One pass over the filtered ids: the window count is taken before LIMIT cuts the page,
    # and only the page's rows are then read in full.
    found = conn.execute(
        "SELECT m.match_id, m.iteration, m.arena_id, m.seed, m.status, substr(m.summary, 1, 300), m.roles, p.v,"
        f" p.total FROM (SELECT m.match_id, {value} AS v, COUNT(*) OVER () AS total,"
        f" ROW_NUMBER() OVER (ORDER BY {query.order()}) AS pos FROM matches m{join} WHERE {where}"
        f" ORDER BY pos LIMIT ? OFFSET ?) p JOIN matches m ON m.match_id = p.match_id ORDER BY p.pos",
        join_args + args + [query.per_page, (query.page - 1) * query.per_page]).fetchall()
    if found:
        total = found[0][-1]
    else:  # a page past the end: count separately
        total = conn.execute(f"SELECT COUNT(*) FROM matches m{join} WHERE {where}", join_args + args).fetchone()[0]
    rows = [r[:-1] for r in found]
    ids = [r[0] for r in rows]
    marks = ",".join("?" * len(ids))
    turns = {r[0]: (r[1], r[2]) for r in conn.execute(
        f"SELECT match_id, COUNT(*), SUM(parse_error IS NOT NULL) FROM turns WHERE match_id IN ({marks})"
        " GROUP BY match_id", ids)} if ids else {}
    rewards: dict[str, dict[str, float]] = {}
    if ids:
        for match_id, name, seat, mean in conn.execute(
                f"SELECT match_id, reward, role, AVG(value) FROM rewards WHERE match_id IN ({marks})"
                " GROUP BY match_id, reward, role ORDER BY MIN(rowid)", ids):
            rewards.setdefault(match_id, {})[f"{name}/{seat}"] = mean
    out = []
    for match_id, iteration, arena, seed, status, summary, roles, sort_value in rows:
        players = {seat: info["player"] for seat, info in json.loads(roles).items()
                   if isinstance(info, dict) and "player" in info}
        n, failed = turns.get(match_id, (0, 0))
        out.append({"match_id": match_id, "iteration": iteration, "arena": arena, "seed": seed, "status": status,
                    "summary": summary or "", "turns": n, "parse_failures": failed or 0,
                    "rewards": rewards.get(match_id, {}), "players": players, "sort_reward": sort_value})
    return {"total": total, "page": query.page, "per_page": query.per_page,
            "pages": max(1, -(-total // query.per_page)), "rows": out,
            "query_ms": round(1000 * (time.perf_counter() - started), 2)}


def filter_options(store: ReadOnlyStore) -> dict[str, list[Any]]:
    """Values each filter can take in this store (for the page's drop-downs)."""
    conn = store.conn
    adapters = ["base" if a is None else f"{a}@v{v}" for a, v in conn.execute(
        "SELECT DISTINCT adapter, adapter_version FROM turns ORDER BY adapter IS NOT NULL, adapter, adapter_version")]
    return {
        "arena": [r[0] for r in conn.execute("SELECT DISTINCT arena_id FROM matches ORDER BY arena_id")],
        "iteration": [r[0] for r in conn.execute("SELECT DISTINCT iteration FROM matches ORDER BY iteration")],
        "role": [r[0] for r in conn.execute("SELECT DISTINCT role FROM turns ORDER BY role")],
        "adapter": adapters,
        "player": [r[0] for r in conn.execute(
            "SELECT DISTINCT json_extract(j.value, '$.player') AS p FROM matches m, json_each(m.roles) j"
            " WHERE p IS NOT NULL ORDER BY p")],
        "status": [r[0] for r in conn.execute("SELECT DISTINCT status FROM matches ORDER BY status")],
        "reward": [f"{r[0]}/{r[1]}" for r in conn.execute(
            "SELECT reward, role FROM rewards GROUP BY reward, role ORDER BY MIN(rowid)")],
    }


def match_detail(store: ReadOnlyStore, match_id: str) -> dict[str, Any]:
    """A stored transcript as JSON plus ``others``: the same arena and seed in other
    iterations (``[{match_id, iteration}]``), e.g. one held-out item after each update.

    Raises:
        KeyError: No such match (the message names a few stored ids).
    """
    transcript = store.get(match_id)
    data = transcript.model_dump(mode="json")
    others = [{"match_id": m, "iteration": it} for m, it in store.conn.execute(
        "SELECT match_id, iteration FROM matches WHERE arena_id=? AND seed=? AND match_id != ?"
        " AND (match_id LIKE ?) = ? AND (match_id LIKE ?) = ? ORDER BY iteration, match_id LIMIT 100",
        (transcript.arena.id, transcript.seed, match_id, HELD_OUT_PREFIX + "%",
         match_id.startswith(HELD_OUT_PREFIX), FUTURE_PREFIX + "%", match_id.startswith(FUTURE_PREFIX)))]
    return {"transcript": data, "others": others}


def reward_means(store: ReadOnlyStore) -> dict[str, list[tuple[int, float]]]:
    """``{"reward/<reward>/<seat>": [(iteration, mean)]}`` over training matches (held-out
    ``eval-`` and look-ahead ``future-`` matches left out), for runs whose metrics table
    does not hold them (play)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for iteration, name, seat, mean in store.conn.execute(
            "SELECT m.iteration, r.reward, r.role, AVG(r.value) FROM rewards r JOIN matches m"
            f" ON m.match_id = r.match_id WHERE m.match_id NOT LIKE ? AND m.match_id NOT LIKE ?{not_branch(store)}"
            " GROUP BY 1, 2, 3 ORDER BY 1", (HELD_OUT_PREFIX + "%", FUTURE_PREFIX + "%")):
        out.setdefault(f"reward/{name}/{seat}", []).append((iteration, mean))
    return out


def counts(store: ReadOnlyStore) -> dict[str, int]:
    """Stored matches per status, and in total."""
    by_status = dict(store.conn.execute(
        f"SELECT status, COUNT(*) FROM matches m WHERE 1=1{not_branch(store)} GROUP BY status").fetchall())
    return {"total": sum(by_status.values()), **by_status}
