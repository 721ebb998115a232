"""Training samples: token ids in, nothing model-specific.

An update's batch is a list of one of these. They hold token ids rather than text so
that the tokens trained on are exactly the tokens an engine generated (re-tokenizing
decoded text can split differently) and so that no tokenizer is needed here. Builders
that turn transcripts and rewards into samples live with the rewards and runs.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any


def _check_prompt(kind: str, prompt_ids: list[int]) -> None:
    if not prompt_ids:
        raise ValueError(
            f"{kind}: prompt_ids is empty; the first reply token is predicted from the last prompt "
            f"token, so give at least one (e.g. the chat template's assistant header or a BOS token)"
        )


@dataclass(frozen=True)
class PreferencePair:
    """Two replies to one prompt, ``chosen`` preferred over ``rejected``.

    Attributes:
        prompt_ids: Prompt token ids (chat template applied, generation prompt included).
        chosen_ids: Token ids of the preferred reply.
        rejected_ids: Token ids of the other reply.
        strength: Probability in [0, 1] that ``chosen`` really is better: 1 for a hard
            preference; a judge's confidence or CREAM's consistency rate for soft DPO.
        meta: Provenance (role, adapter, adapter version, match, turns, texts); not used
            by the loss, kept for export and for tagging data with the policy that made it.
    """

    prompt_ids: list[int]
    chosen_ids: list[int]
    rejected_ids: list[int]
    strength: float = 1.0
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        _check_prompt("PreferencePair", self.prompt_ids)
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"PreferencePair: strength must lie in [0, 1], got {self.strength}")


@dataclass(frozen=True)
class GroupSample:
    """One sampled reply with its reward, in a group of replies to the same prompt.

    Attributes:
        prompt_ids: Prompt token ids.
        completion_ids: Token ids of the sampled reply.
        old_logprobs: Log-prob of each reply token under the policy that sampled it
            (``Completion.logprobs``), for the importance ratio; ``None`` means the
            sample is on-policy (the ratio is then exactly 1 at the first step).
        reward: Scalar reward; for SPPO, the reply's estimated win rate in [0, 1].
        group_id: Samples with equal ``group_id`` share a prompt and a baseline.
        temperature: Temperature the reply was sampled at (the turn's recorded
            ``sampling["temperature"]``; ``0`` means greedy, whose ``old_logprobs`` are of
            the raw logits). Policy-gradient updates score the reply under this
            temperature so the importance ratio compares like with like; ``None`` falls
            back to the update's ``temperature``.
        meta: Provenance (role, adapter, adapter version, match, turn, texts).
    """

    prompt_ids: list[int]
    completion_ids: list[int]
    old_logprobs: list[float] | None
    reward: float
    group_id: Hashable
    temperature: float | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        _check_prompt("GroupSample", self.prompt_ids)
        if self.old_logprobs is not None and len(self.old_logprobs) != len(self.completion_ids):
            raise ValueError(
                f"GroupSample: old_logprobs has {len(self.old_logprobs)} values for "
                f"{len(self.completion_ids)} completion tokens; give one per token or None"
            )
        if self.temperature is not None and not self.temperature >= 0:
            raise ValueError(f"GroupSample: temperature must be >= 0 (0 = greedy) or None, got {self.temperature}")


@dataclass(frozen=True)
class SFTSample:
    """A prompt and a target reply to imitate.

    Attributes:
        prompt_ids: Prompt token ids (not trained on).
        completion_ids: Target reply token ids (trained on).
        meta: Provenance (role, adapter, adapter version, match, turn, texts).
    """

    prompt_ids: list[int]
    completion_ids: list[int]
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        _check_prompt("SFTSample", self.prompt_ids)


def minibatches(data: list[Any], count: int, rng: random.Random) -> list[list[Any]]:
    """Split ``data`` into ``count`` shuffled mini-batches (fewer if there are fewer units).

    Samples sharing a ``group_id`` form one unit and stay in the same mini-batch, because
    group-relative advantages are computed over the batch a step receives.
    """
    if count == 1:
        return [data]
    units: dict[Any, list[Any]] = {}
    for i, item in enumerate(data):
        units.setdefault(getattr(item, "group_id", ("item", i)), []).append(item)
    order = list(units.values())
    rng.shuffle(order)
    count = min(count, len(order))
    return [[item for unit in order[k::count] for item in unit] for k in range(count)]
