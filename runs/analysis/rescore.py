"""Recompute rewards or metrics on a run's stored transcripts, without generating: ``sparring rescore``.

``sparring rescore RUN --reward NAME`` scores every finished match of ``RUN/store.sqlite``
again with one reward and writes the records to the store's ``rescored_rewards`` table
under a new rescore id (``rescores`` table: kind, name, source, status). The rewards
written when the matches were played, and the transcripts themselves, are never touched:
``Store.get`` keeps returning them, so training data and the viewer are unchanged, and
every rescore can be compared with the original. ``NAME`` is

- a reward of the run's arenas, looked up per match in the rewards of the arena that
  played it (re-made from the stored spec): ``stage_two``, ``solver_truth``, ...
  (a training arena and its held-out variant may both have it);
- a user reward: ``file.py:function`` or ``module:attribute``, a ``Reward`` (anything with
  a ``name`` and ``__call__(transcript) -> list[Score] | None``) or a plain function
  (named after the attribute).

``--metric NAME`` recomputes a metric per iteration, training, held-out test and validation
matches separately (keyed ``eval/<name>`` and ``validation/<name>``, as the trainer logs them), into
``rescored_metrics``. ``NAME`` is a metric or monitor the run's arenas declare
(``self_correction``, ``debate``, ``solver_accuracy``...), a named measurement
(:func:`sparring.rewards.measurements.measurement`: ``diversity``, ``entropy``,
``consistency/<reward>``, ``calibration/<confidence reward>/<correct reward>``), or a
user ``Metric`` as ``file.py:attribute`` / ``module:attribute``. With ``--reward`` as
well, the metric sees the rescored values of that reward in place of the stored ones
(e.g. ``--reward judge_v2 --metric consistency/judge_v2``). Simplification: held-out
items that also occurred in training are not left out here (the trainer leaves them out).

Each match's records are one transaction, so a killed rescore leaves the store readable
and the finished matches' rows in place; running the same command again continues the
unfinished rescore (matches already rescored are skipped).
"""

from __future__ import annotations

import importlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sparring.arenas.arena import Arena
from sparring.arenas.errors import ArenaError
from sparring.arenas.failures import user_stage
from sparring.arenas.registry import load_file, make_from_spec
from sparring.arenas.transcript import RewardRecord, Transcript
from sparring.rewards.base import FunctionReward, Reward, Score
from sparring.rewards.measurements import measurement
from sparring.rewards.metrics import Metric
from sparring.runs.storage.rundir import RunDir
from sparring.runs.storage.store import Store
from sparring.runs.training.algorithms import FUTURE_PREFIX
from sparring.runs.training.evaluate import KEYS, PREFIXES


@dataclass
class RewardRow:
    """Old and new values of one (reward, seat) over the rescored matches."""

    reward: str
    seat: str
    old_mean: float | None
    new_mean: float | None
    old_count: int
    new_count: int
    changed: int
    """Records (same seat and turn) whose value differs from the stored one."""


@dataclass
class RescoreSummary:
    """What a rescore did (the CLI prints it as a table)."""

    run: Path
    rescore_id: int | None = None
    reward: str | None = None
    source: str = ""
    scored: int = 0
    skipped: int = 0
    abstained: int = 0
    not_applicable: int = 0
    rewards: list[RewardRow] = field(default_factory=list)
    metric_id: int | None = None
    metric: str | None = None
    metrics: list[tuple[int, str, float, float | None]] = field(default_factory=list)
    """``(iteration, key, new value, value stored by the run under that key or None)``."""


def _import(reference: str, what: str) -> tuple[Any, str, str]:
    """The object at ``file.py:attr`` or ``module:attr``, its attribute name and its source."""
    target, _, attr = reference.rpartition(":")
    if not target or not attr:
        raise ValueError(f"{what} {reference!r} must look like file.py:name or module:name")
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{what} file {target} does not exist")
        try:
            module = load_file(path)  # the registry's loader: one module per file, however it is named
        except ArenaError as exc:
            raise ValueError(f"cannot import {what} file {path}: {exc}") from None
        source = f"{path}:{attr}"
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise ValueError(f"cannot import module {target!r} for {what} {reference!r}: {exc}") from None
        source = reference
    if not hasattr(module, attr):
        raise ValueError(f"{what} {reference!r}: {target} has no attribute {attr!r}")
    return getattr(module, attr), attr, source


class _Arenas:
    """The arenas of a run's stored matches, re-made once per distinct spec."""

    def __init__(self) -> None:
        self._made: dict[str, Arena] = {}

    def of(self, transcript: Transcript) -> Arena:
        key = transcript.arena.model_dump_json()
        if key not in self._made:
            self._made[key] = make_from_spec(transcript.arena)
        return self._made[key]

    def all(self) -> list[Arena]:
        return list(self._made.values())


def _user_reward(reference: str) -> tuple[Reward, str]:
    obj, attr, source = _import(reference, "reward")
    if isinstance(getattr(obj, "name", None), str) and callable(obj):
        return obj, source
    if callable(obj):
        return FunctionReward(attr, obj), source
    raise ValueError(f"reward {reference!r} is a {type(obj).__name__}, not a reward "
                     "(a function of a transcript returning a list of Score or None)")


def _arena_reward(arena: Arena, name: str) -> Reward | None:
    return next((r for r in arena.rewards() if r.name == name), None)


def _records(reward: Reward, transcript: Transcript) -> list[RewardRecord] | None:
    with user_stage(f"reward {reward.name!r}"):  # a crash in a user's reward is reported as theirs
        scores = reward(transcript)
    if scores is None or scores == []:
        return None
    if not isinstance(scores, list) or not all(isinstance(s, Score) for s in scores):
        raise ValueError(f"reward {reward.name!r} returned {type(scores).__name__} for match {transcript.match_id}; "
                         "a reward returns None or a list of Score")
    # As ``apply_rewards`` builds them, without calling the reward a second time (a judge may be costly).
    return [RewardRecord(reward=reward.name, role=s.role, value=float(s.value), turn=s.turn,
                         explanation=s.explanation) for s in scores]


def _reward_rows(pairs: list[tuple[list[RewardRecord], list[RewardRecord]]], name: str) -> list[RewardRow]:
    """Rows from (stored records of ``name``, rescored records) per match."""
    old: dict[str, list[float]] = defaultdict(list)
    new: dict[str, list[float]] = defaultdict(list)
    changed: dict[str, int] = defaultdict(int)
    for before, records in pairs:
        stored = {(r.role, r.turn): r.value for r in before}
        for r in before:
            old[r.role].append(r.value)
        for r in records:
            new[r.role].append(r.value)
            changed[r.role] += stored.get((r.role, r.turn)) != r.value
    mean = lambda v: sum(v) / len(v) if v else None  # noqa: E731
    return [RewardRow(name, seat, mean(old[seat]), mean(new[seat]), len(old[seat]), len(new[seat]), changed[seat])
            for seat in sorted(set(old) | set(new))]


def rescore_rewards(store: Store, name: str, summary: RescoreSummary) -> dict[str, list[RewardRecord]]:
    """Rescore every finished match with reward ``name``; returns the new records by match."""
    arenas = _Arenas()
    user: Reward | None = None
    if ":" in name:
        user, summary.source = _user_reward(name)
    else:
        summary.source = "arena"
    ids = store.match_ids(status="finished")
    rewards: dict[str, Reward | None] = {}
    for match_id in ids:  # resolve first, so a bad name fails before anything is written
        rewards[match_id] = user or _arena_reward(arenas.of(store.get(match_id)), name)
    if user is None and not any(rewards.values()):
        known = sorted({r.name for a in arenas.all() for r in a.rewards()})
        ids_ = ", ".join(sorted({a.id for a in arenas.all()})) or "no finished matches"
        raise ValueError(f"--reward {name!r} is not a reward of this run's arenas ({ids_}; rewards: "
                         f"{', '.join(known) or 'none'}); name one of them, or a reward of your own as "
                         "file.py:function or module:attribute")
    reward_name = user.name if user is not None else name
    summary.reward = reward_name
    summary.rescore_id, done = store.start_rescore("reward", reward_name, summary.source)
    pairs, by_match = [], {}
    for match_id in ids:
        t = store.get(match_id)
        reward = rewards[match_id]
        if reward is None:
            summary.not_applicable += 1
            continue
        if match_id in done:
            summary.skipped += 1
            records = [r for _, r in store.rescored_rewards(summary.rescore_id, match_id)]
        else:
            records = _records(reward, t) or []
            summary.abstained += not records
            store.add_rescored(summary.rescore_id, match_id, records)
            summary.scored += 1
        pairs.append(([r for r in t.rewards if r.reward == reward_name], records))
        by_match[match_id] = records
    store.finish_rescore(summary.rescore_id)
    summary.rewards = _reward_rows(pairs, reward_name)
    return by_match


def _find_metric(name: str, arenas: Sequence[Arena]) -> tuple[Metric, str]:
    if ":" in name:
        obj, _, source = _import(name, "metric")
        if not isinstance(obj, Metric):
            raise ValueError(f"metric {name!r} is a {type(obj).__name__}, not a Metric (decorate it with "
                             "sparring.rewards.metrics.metric)")
        return obj, source
    declared: dict[str, Metric] = {}
    for arena in arenas:
        evaluation = arena.evaluation()
        for m in [*arena.monitors(), *(evaluation.metrics if evaluation else ())]:
            declared.setdefault(m.name, m)
    if name in declared:
        return declared[name], "arena"
    found = measurement(name)
    if found is not None:
        return found, "measurement"
    raise ValueError(f"--metric {name!r} is not a metric of this run's arenas (metrics: "
                     f"{', '.join(sorted(declared)) or 'none'}) nor a measurement (diversity, entropy, "
                     "consistency/<reward>, calibration/<confidence reward>/<correct reward>); or give a Metric "
                     "of your own as file.py:name or module:name")


def rescore_metric(store: Store, name: str, summary: RescoreSummary,
                   replaced: dict[str, list[RewardRecord]] | None = None) -> None:
    """Recompute metric ``name`` per iteration (training, test and validation matches apart)."""
    transcripts = list(store.transcripts())
    arenas = _Arenas()
    for t in transcripts:
        if t.status == "finished":
            arenas.of(t)
    metric, source = _find_metric(name, arenas.all())
    if replaced is not None and summary.reward is not None:
        for t in transcripts:
            if t.match_id in replaced:
                t.rewards = [r for r in t.rewards if r.reward != summary.reward] + replaced[t.match_id]
    summary.metric = metric.name
    summary.metric_id, _ = store.start_rescore("metric", metric.name, source)
    groups: dict[tuple[int, str], list[Transcript]] = defaultdict(list)
    for t in transcripts:
        groups[(t.iteration, _key_prefix(t.match_id))].append(t)
    stored = {(it, key): value for it, key, value in store.metrics()}
    for (iteration, prefix), group in sorted(groups.items()):
        with user_stage(f"metric {metric.name!r}"):
            values = {f"{prefix}{k}": v for k, v in metric.compute(group).items()}
        store.add_rescored_metrics(summary.metric_id, iteration, values)
        summary.metrics += [(iteration, k, v, stored.get((iteration, k))) for k, v in sorted(values.items())]
    store.finish_rescore(summary.metric_id)


def _key_prefix(match_id: str) -> str:
    """``validation/``, ``eval/`` (test) or ``""`` (training): how the trainer keys a match's
    figures; ``future/`` for a look-ahead's future matches, kept apart from training."""
    if match_id.startswith(FUTURE_PREFIX):
        return "future/"
    for split in ("validation", "test"):  # validation first: both its ids and test ids start with eval-
        if match_id.startswith(PREFIXES[split]):
            return KEYS[split]
    return ""


def rescore(run: str | Path, reward: str | None = None, metric: str | None = None) -> RescoreSummary:
    """Rescore a run directory with a reward and/or a metric (see the module docs)."""
    if reward is None and metric is None:
        raise ValueError("rescore needs --reward NAME or --metric NAME (or both)")
    run_dir = RunDir.existing(run)
    summary = RescoreSummary(Path(run))
    with run_dir.open_store() as store:
        replaced = rescore_rewards(store, reward, summary) if reward is not None else None
        if metric is not None:
            rescore_metric(store, metric, summary, replaced)
    return summary
