"""Shared fixtures: scripted engines, a temporary store and tiny-model pools."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from sparring.agents.engines.hf import HFEngine
from sparring.agents.engines.scripted import ScriptedEngine
from sparring.agents.pool import LoadedModel, ModelPool
from sparring.runs.storage.store import Store


def pytest_configure(config: pytest.Config) -> None:
    """``SPARRING_TEST_THREADS=N``: run torch on N intra-op threads (the update tests too).

    Float results must not depend on it: run ``tests/agents`` with 1 and with 2 threads to
    find comparisons that hold only for one summation order.
    """
    threads = os.environ.get("SPARRING_TEST_THREADS")
    if threads:
        import torch

        torch.set_num_threads(int(threads))


@pytest.fixture
def scripted() -> Callable[..., ScriptedEngine]:
    """Factory of scripted engines: ``scripted(["reply"], max_batch_size=8)``."""

    def make(script: object = ("ok",), max_batch_size: int = 64) -> ScriptedEngine:
        return ScriptedEngine(script, max_batch_size=max_batch_size)  # type: ignore[arg-type]

    return make


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """An empty store in a temporary directory."""
    with Store(tmp_path / "store.sqlite") as s:
        yield s


@pytest.fixture
def tiny_pool() -> ModelPool:
    """A fresh fp32 pool with the tiny random model loaded as ``default`` (function scope)."""
    pool = ModelPool(dtype="fp32")
    pool.load("default", "tiny")
    return pool


@pytest.fixture(scope="session")
def tiny_loaded() -> LoadedModel:
    """The tiny model loaded once for read-only engine tests (no adapters)."""
    return ModelPool(dtype="fp32").load("default", "tiny")


@pytest.fixture(scope="session")
def tiny_engine(tiny_loaded: LoadedModel) -> HFEngine:
    """An hf engine on the session's tiny model."""
    return HFEngine(tiny_loaded, max_batch_size=16)


def pytest_collection_modifyitems(config: pytest.Config, items: Sequence[pytest.Item]) -> None:
    """Run smoke tests (real model) last so a fast failure shows first."""
    items[:] = sorted(items, key=lambda item: item.get_closest_marker("smoke") is not None)  # type: ignore[index]


@pytest.fixture(autouse=True)
def _torch_threads(request: pytest.FixtureRequest) -> Iterator[None]:
    """One torch thread for the tiny model (no gain from more, and no spin-waiting when the
    machine is busy); smoke tests on the real model keep torch's default."""
    import torch

    default = torch.get_num_threads()
    if request.node.get_closest_marker("smoke") is None:
        torch.set_num_threads(1)
    yield
    torch.set_num_threads(default)
