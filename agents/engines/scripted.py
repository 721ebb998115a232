"""A scripted engine for tests and replay: replies come from a script, not a model.

The script is a function ``(request, index) -> str | Completion`` or a list of replies
used in order (cycling). Token ids are fake but stable (one per character, capped) so
everything downstream that stores ids and log-probs is exercised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sparring.agents.engines.base import Completion, GenerationRequest

Script = Callable[[GenerationRequest, int], "str | Completion"]


def as_completion(reply: str | Completion) -> Completion:
    """Wrap a plain string reply as a completion with fake token ids and zero log-probs."""
    if isinstance(reply, Completion):
        return reply
    ids = [ord(c) % 50_000 for c in reply[:4096]]
    return Completion(text=reply, token_ids=ids, logprobs=[0.0] * len(ids), finish_reason="stop")


class ScriptedEngine:
    """Returns scripted replies; records every request it received in :attr:`requests`.

    Args:
        script: A callable ``(request, index) -> reply`` or a sequence of replies.
        max_batch_size: Reported batch bound (the runner batches asks with it).
    """

    name = "scripted"

    def __init__(self, script: Script | Sequence[str | Completion], max_batch_size: int = 64) -> None:
        if not callable(script):
            replies = list(script)
            if not replies:
                raise ValueError("a scripted engine needs at least one reply")
            self._script: Script = lambda _req, i: replies[i % len(replies)]
        else:
            self._script = script
        self._max_batch_size = max_batch_size
        self.requests: list[GenerationRequest] = []
        self.batches: list[int] = []
        self.stats = {"generated_tokens": 0, "prompt_tokens": 0, "seconds": 0.0, "calls": 0}

    @property
    def max_batch_size(self) -> int:
        """Rows per generate call."""
        return self._max_batch_size

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """Reply to each request from the script."""
        out = []
        for req in requests:
            out.append(as_completion(self._script(req, len(self.requests))))
            self.requests.append(req)
        self.batches.append(len(requests))
        self.stats["calls"] += 1
        self.stats["generated_tokens"] += sum(len(c.token_ids) for c in out)
        return out
