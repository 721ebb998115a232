"""Sample builders shared by the update tests (a unique module name, not ``conftest``,
so ``import`` cannot pick up another directory's conftest)."""

from __future__ import annotations

import torch

from sparring.agents.updates import PreferencePair


def token_ids(generator: torch.Generator, n: int) -> list[int]:
    """``n`` byte tokens (ids 3..258 of the tiny tokenizer; 0-2 are special)."""
    return torch.randint(3, 259, (n,), generator=generator).tolist()


def make_pairs(n: int, seed: int = 0, strengths: bool = False) -> list[PreferencePair]:
    """``n`` pairs of varied prompt and reply lengths (so padding is exercised)."""
    g = torch.Generator().manual_seed(seed)
    return [
        PreferencePair(
            token_ids(g, 2 + i % 3), token_ids(g, 2 + i % 4), token_ids(g, 4 - i % 2),
            strength=(0.6 + 0.1 * (i % 4)) if strengths else 1.0,
        )
        for i in range(n)
    ]
