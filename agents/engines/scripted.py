"""A scripted engine for tests and replay: replies come from a script, not a model.

The script is a function ``(request, index) -> str | Completion`` or a list of replies
used in order (cycling). Token ids are fake but stable (one per character, capped) so
everything downstream that stores ids and log-probs is exercised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from sparring.agents.engines.base import Completion, GenerationRequest, ScoreRequest

Script = Callable[[GenerationRequest, int], "str | Completion"]
Scorer = Callable[[ScoreRequest], list[float]]
"""Per-token log-probs of a score request's target, one per word (see :func:`word_overlap`)."""


def words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (the scripted engine's tokens when it scores)."""
    return re.findall(r"[a-z0-9']+", text.lower())


def word_overlap(request: ScoreRequest) -> list[float]:
    """A stand-in for a model's conditional likelihood: each word of the target scores 0
    when it occurs in the messages and -1 when it does not, so a dialogue that brought
    out more of the target's words gives it a higher log-likelihood (deterministic)."""
    seen = {w for m in request.messages for w in words(m["content"])}
    return [0.0 if w in seen else -1.0 for w in words(request.target)]


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
        scorer: Log-probs of a scored target, one per word (default :func:`word_overlap`);
            :meth:`score` gives each word a fake, stable token id.
    """

    name = "scripted"

    def __init__(self, script: Script | Sequence[str | Completion], max_batch_size: int = 64,
                 scorer: Scorer = word_overlap) -> None:
        if not callable(script):
            replies = list(script)
            if not replies:
                raise ValueError("a scripted engine needs at least one reply")
            self._script: Script = lambda _req, i: replies[i % len(replies)]
        else:
            self._script = script
        self._max_batch_size = max_batch_size
        self.scorer = scorer
        self.requests: list[GenerationRequest] = []
        self.scored: list[ScoreRequest] = []
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

    def score(self, requests: list[ScoreRequest]) -> list[Completion]:
        """Score each target with :attr:`scorer` (one fake token per word)."""
        out = []
        for req in requests:
            tokens = words(req.target)
            logprobs = [float(x) for x in self.scorer(req)]
            if len(logprobs) != len(tokens):
                raise ValueError(f"the scorer returned {len(logprobs)} log-probs for {len(tokens)} words; "
                                 "return one per word of the target")
            ids = [sum(map(ord, w)) % 50_000 for w in tokens]
            out.append(Completion(req.target, ids, logprobs, 0, "scored"))
            self.scored.append(req)
        self.stats["calls"] += 1
        return out
