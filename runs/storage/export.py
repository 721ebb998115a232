"""Export stored transcripts as TRL-ready datasets (``sparring export``).

The builders of :mod:`sparring.rewards.builders` turn scored turns into samples; this
module writes those samples as rows in the conversational layouts TRL 1.16 trainers read
(see https://huggingface.co/docs/trl/dataset_formats), so a run's data can train with
TRL, or any trainer that reads the same layouts, without generating again.

Layouts (one row per sample; every message is ``{"role": ..., "content": ...}``):

``dpo`` (conversational preference, ``trl.DPOTrainer``)::

    prompt            list of messages as recorded (system + user)
    chosen            [{"role": "assistant", "content": better reply}]
    rejected          [{"role": "assistant", "content": worse reply}]
    strength          builder's confidence in [0, 1] (1 for best/worst pairs)
    role, adapter, adapter_version, match_id    provenance of the chosen reply

``grpo`` (conversational prompt-only plus the recorded sample, ``trl.GRPOTrainer``)::

    prompt            list of messages
    completion        [{"role": "assistant", "content": recorded reply}]
    reward            the reply's reward
    group             "<role>/<group id>": rows with equal group share a prompt
    role, adapter, adapter_version, match_id

``sft`` (conversational prompt-completion, ``trl.SFTTrainer``)::

    prompt            list of messages
    completion        [{"role": "assistant", "content": reply}]
    reward            the reply's reward (at least ``min_reward``)
    role, adapter, adapter_version, match_id

What TRL does with the extra columns: DPO and SFT drop them before batching
(``remove_unused_columns``); ``strength`` is *not* used as a soft label by TRL's DPO loss
(it is there for our own soft-DPO update or a custom loss). GRPO generates its own
completions from ``prompt``; it passes the other columns to reward functions as keyword
arguments (``reward=[...]``, ``group=[...]``), except ``completion``, which it replaces
with the generated one.

Simplified: no token ids are exported, only texts. The builders want prompt token ids, so
export passes them an encoder that returns a placeholder (``[0]``) instead of applying a
chat template; a trainer re-tokenizes the texts with its own tokenizer, which can split
differently from the ids the engine generated. Matches of the training loop's held-out
evaluation (ids starting with ``eval-``) are never exported.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from sparring.arenas.transcript import Transcript
from sparring.rewards import builders
from sparring.runs.storage.rundir import RunDir
from sparring.runs.training.algorithms import FUTURE_PREFIX

FORMATS = ("dpo", "grpo", "sft")
BUILDERS = ("best_worst", "margin")
SUFFIXES = (".jsonl", ".parquet")
HELD_OUT_PREFIX = "eval-"
"""Match-id prefix of the training loop's held-out evaluation matches, never exported."""

_PROVENANCE = ("role", "adapter", "adapter_version", "match_id")
COLUMNS: dict[str, tuple[str, ...]] = {
    "dpo": ("prompt", "chosen", "rejected", "strength", *_PROVENANCE),
    "grpo": ("prompt", "completion", "reward", "group", *_PROVENANCE),
    "sft": ("prompt", "completion", "reward", *_PROVENANCE),
}
"""Columns of each format, in order."""


def placeholder_encode(messages: list[dict[str, str]]) -> list[int]:
    """Stand-in prompt encoder for the builders: export writes texts, not token ids.

    The builders' samples require a non-empty ``prompt_ids``; ``[0]`` satisfies that
    without loading a tokenizer. The ids are discarded.
    """
    return [0]


def _assistant(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _prompt(meta: dict[str, Any]) -> list[dict[str, str]]:
    return [dict(m) for m in meta["prompt"]]


def _provenance(meta: dict[str, Any]) -> dict[str, Any]:
    return {key: meta[key] for key in _PROVENANCE}


def seat_rewards(transcripts: Iterable[Transcript]) -> dict[str, list[str]]:
    """Reward names of each seat in stored order: per-turn rewards first, then match-level.

    Seats appear in the order their first reward was stored; only finished matches count.
    """
    order: list[str] = []
    per_turn: dict[str, list[str]] = defaultdict(list)
    per_match: dict[str, list[str]] = defaultdict(list)
    for transcript in transcripts:
        if transcript.status != "finished":
            continue
        for r in transcript.rewards:
            if r.role not in order:
                order.append(r.role)
            names = per_turn[r.role] if r.turn is not None else per_match[r.role]
            if r.reward not in names:
                names.append(r.reward)
    return {seat: per_turn[seat] + [n for n in per_match[seat] if n not in per_turn[seat]]
            for seat in order}


def _targets(transcripts: list[Transcript], role: str | None, reward: str | None) -> list[tuple[str, str]]:
    """``(seat, reward)`` pairs to export; raises on a role or reward the store does not know."""
    rewards = seat_rewards(transcripts)
    if not transcripts:
        return [(role, reward)] if role and reward else []
    seats = sorted({u.role for t in transcripts for u in t.turns})
    if role is not None and role not in seats:
        raise ValueError(f"export: role {role!r} has no turns in the selected matches (seats: {', '.join(seats)}); "
                         f"pass --role with one of them")
    known = sorted({n for names in rewards.values() for n in names})
    if reward is not None and reward not in known:
        raise ValueError(f"export: no reward {reward!r} is stored in the selected matches "
                         f"(rewards: {', '.join(known) or 'none'}); pass --reward with one of them")
    if role is not None:
        chosen = reward or (rewards.get(role) or [None])[0]
        return [(role, chosen)] if chosen else []
    return [(seat, reward or names[0]) for seat, names in rewards.items()
            if names and (reward is None or reward in names)]


def _rows(fmt: str, transcripts: list[Transcript], seat: str, reward: str, builder: str,
          margin: float, min_reward: float) -> list[dict[str, Any]]:
    encode = placeholder_encode
    if fmt == "dpo":
        if builder == "best_worst":
            pairs = builders.best_worst_pairs(transcripts, seat, reward, encode)
        else:
            pairs = builders.margin_pairs(transcripts, seat, reward, encode, margin=margin)
        return [{"prompt": _prompt(p.meta), "chosen": _assistant(p.meta["chosen"]),
                 "rejected": _assistant(p.meta["rejected"]), "strength": float(p.strength),
                 **_provenance(p.meta)} for p in pairs]
    if fmt == "grpo":
        samples = builders.grpo_groups(transcripts, seat, reward, encode)
        return [{"prompt": _prompt(s.meta), "completion": _assistant(s.meta["completion"]),
                 "reward": float(s.reward), "group": s.group_id,
                 **_provenance(s.meta)} for s in samples]
    samples = builders.sft_samples(transcripts, seat, reward, encode, min_reward=min_reward)
    return [{"prompt": _prompt(s.meta), "completion": _assistant(s.meta["completion"]),
             "reward": float(s.meta["reward"]), **_provenance(s.meta)} for s in samples]


def _temporary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def _write_jsonl(rows: list[dict[str, Any]], path: Path) -> None:
    tmp = _temporary(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_parquet(rows: list[dict[str, Any]], columns: tuple[str, ...], path: Path) -> None:
    try:
        from datasets import Dataset
    except ImportError as exc:
        raise RuntimeError(
            f"export: writing {path.name} needs the 'datasets' package; run pip install 'sparring[parquet]' "
            f"(or export to .jsonl instead)"
        ) from exc
    # An empty result still gets a valid Parquet file with the format's columns.
    dataset = Dataset.from_list(rows) if rows else Dataset.from_dict({c: [] for c in columns})
    tmp = _temporary(path)
    try:
        dataset.to_parquet(str(tmp))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _refuse_threshold(transcripts: list[Transcript], targets: list[tuple[str, str]], min_reward: float) -> None:
    """Raise when SFT samples exist but ``min_reward`` leaves none: an empty file is no dataset
    (``datasets`` cannot load a zero-row Parquet file), and the range says what to pass instead."""
    rewards = [row["reward"] for seat, name in targets
               for row in _rows("sft", transcripts, seat, name, "best_worst", 0.0, -math.inf)]
    if rewards:
        what = ", ".join(f"{seat}:{name}" for seat, name in targets)
        raise ValueError(f"export: no sft sample has a reward of at least --min-reward {min_reward:g}; the "
                         f"{len(rewards)} replies scored by {what} range from {min(rewards):g} to {max(rewards):g}: "
                         f"pass --min-reward {max(rewards):g} or lower")


def export(
    run_dir: str | Path,
    format: Literal["dpo", "grpo", "sft"],
    to: str | Path,
    role: str | None = None,
    reward: str | None = None,
    builder: Literal["best_worst", "margin"] = "best_worst",
    margin: float = 0.5,
    min_reward: float = 1.0,
    iteration: int | None = None,
) -> int:
    """Write a run's stored transcripts as a TRL dataset; returns the number of rows written.

    Args:
        run_dir: Run directory holding ``store.sqlite``.
        format: ``dpo`` (preference pairs), ``grpo`` (scored samples in groups) or ``sft``
            (replies whose reward is at least ``min_reward``). Layouts in the module docstring.
        to: Output file, ``.jsonl`` (one JSON object per line) or ``.parquet`` (needs
            ``datasets``). Written to a temporary file and renamed, never half-written.
        role: Seat to export; ``None`` exports every seat that has rewards.
        reward: Reward to score by; ``None`` takes, per seat, the first per-turn reward of
            that seat found in the store (or its first match-level reward if it has none).
        builder: For ``dpo``: ``best_worst`` (best over worst reply of each ask) or
            ``margin`` (every pair whose rewards differ by at least ``margin``).
        margin: Smallest reward gap of a ``margin`` pair.
        min_reward: Smallest reward of an ``sft`` sample.
        iteration: Only matches of this iteration (default: all).

    Returns:
        Rows written. An empty result writes an empty file (a zero-row Parquet file with the
        format's columns) and warns on stderr, except an ``sft`` export whose ``min_reward``
        leaves out every scored reply: that is refused, naming the rewards' range.

    Raises:
        ValueError: Unknown format, builder, file extension, role or reward; an ``sft``
            ``min_reward`` above every scored reply (nothing is written).
        FileNotFoundError: ``run_dir`` holds no store.
        RuntimeError: ``.parquet`` requested without ``datasets`` installed.
    """
    if format not in FORMATS:
        raise ValueError(f"export: format must be one of {', '.join(FORMATS)}, got {format!r}")
    if builder not in BUILDERS:
        raise ValueError(f"export: builder must be one of {', '.join(BUILDERS)}, got {builder!r}")
    path = Path(to)
    if path.suffix.lower() not in SUFFIXES:
        raise ValueError(f"export: cannot write {path.name!r}; the output file must end in "
                         f"{' or '.join(SUFFIXES)}")
    with RunDir.existing(run_dir).open_store() as store:
        transcripts = [t for t in store.transcripts(iteration=iteration)  # nor a look-ahead's future matches
                       if not t.match_id.startswith((HELD_OUT_PREFIX, FUTURE_PREFIX))]
    targets = _targets([t for t in transcripts if t.status == "finished"], role, reward)
    rows = [row for seat, name in targets
            for row in _rows(format, transcripts, seat, name, builder, margin, min_reward)]
    if format == "sft" and not rows:
        _refuse_threshold(transcripts, targets, min_reward)
    if path.suffix.lower() == ".parquet":
        _write_parquet(rows, COLUMNS[format], path)
    else:
        _write_jsonl(rows, path)
    if not rows:
        what = ", ".join(f"{seat}:{name}" for seat, name in targets) or "no seat with rewards"
        hint = " (dpo needs asks with several replies whose rewards differ)" if format == "dpo" else ""
        print(f"warning: export found no {format} rows in {len(transcripts)} matches of {run_dir} "
              f"(role:reward {what}){hint}; wrote an empty {path}", file=sys.stderr)
    return len(rows)
