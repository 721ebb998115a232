"""Fixtures for the update tests: a tiny random model with two trainable adapters."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

from sparring.agents.pool import ModelPool


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Run these tests on one intra-op thread (or ``SPARRING_TEST_THREADS``, see ``tests/conftest.py``).

    The tiny model's matmuls are far too small to gain from a second thread, and on a
    shared 2-core machine OpenMP workers spinning against another busy process made the
    suite 7x slower (66 s instead of 9 s).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("SPARRING_TEST_THREADS", "1")))
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def pool() -> ModelPool:
    """fp32 tiny model with adapters ``solver`` and ``questioner`` (random, non-zero B).

    A random ``B`` makes each adapter differ from the base and gives ``A`` a gradient from
    the first step, so every LoRA tensor of a trained adapter moves.
    """
    pool = ModelPool(dtype="fp32")
    pool.load("default", "tiny")
    pool.add_adapter("default", "solver", rank=4, init="random", seed=1)
    pool.add_adapter("default", "questioner", rank=4, init="random", seed=2)
    return pool
