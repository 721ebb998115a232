"""Ctrl-C inside an engine call: the runner unwinds its matches without asyncio warnings."""

from __future__ import annotations

import gc
import logging

import pytest

from sparring import Runner
from sparring.agents.engines.base import Completion, GenerationRequest
from sparring.agents.engines.scripted import as_completion
from tests.helpers import Echo


class InterruptedEngine:
    """Answers ``calls`` batches, then raises KeyboardInterrupt as Ctrl-C would."""

    name = "interrupted"
    max_batch_size = 2

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        if self.calls == 0:
            raise KeyboardInterrupt
        self.calls -= 1
        return [as_completion("hello") for _ in requests]


def test_interrupt_leaves_no_pending_tasks(caplog: pytest.LogCaptureFixture) -> None:
    finished: list[str] = []
    runner = Runner({"default": InterruptedEngine(calls=1)}, max_in_flight=4)
    with caplog.at_level(logging.ERROR, logger="asyncio"), pytest.raises(KeyboardInterrupt):
        runner.play(Echo(times=2), [0, 1, 2, 3], on_finish=lambda t: finished.append(t.match_id))
    gc.collect()  # a pending task is reported when it is garbage-collected
    assert [r.getMessage() for r in caplog.records if r.name == "asyncio"] == []
    assert finished == []  # every match was still waiting for its second reply
