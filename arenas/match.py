"""A match: one play of an arena with a seed, recording every ask and reply.

``match.ask`` never calls a model. It queues a request and suspends the arena; the
runner batches it with every other pending ask of every live match and resumes the
arena with the replies.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

from sparring.agents.engines.base import Completion, Message
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams, derive_seed
from sparring.arenas.errors import ArenaError
from sparring.arenas.failures import mark_stage
from sparring.arenas.transcript import Turn, jsonable

if TYPE_CHECKING:
    from sparring.arenas.arena import Arena


@dataclass
class Reply:
    """A role's reply to an ask: text, parsed value or parse error, tokens and log-probs."""

    role: str
    text: str
    parsed: Any
    parse_error: str | None
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str
    ask: int
    sample: int = 0

    @property
    def ok(self) -> bool:
        """Whether the reply parsed."""
        return self.parse_error is None

    @property
    def loglik(self) -> float:
        """Sum of the token log-probs: a scored reply's log-likelihood (:meth:`Match.score`)."""
        return float(sum(self.logprobs))


@dataclass
class PendingAsk:
    """An ask waiting for the engine: ``len(seeds)`` samples of one prompt for one role, or,
    with a ``target``, the scoring of that given reply (one row, no sampling)."""

    match: Match
    ask: int
    role: Role
    messages: list[Message]
    sampling: SamplingParams
    seeds: list[int]
    future: asyncio.Future[list[tuple[Completion, float]]] = field(repr=False)
    target: str | None = None


class Match:
    """One play of an arena. Arenas use :meth:`ask`, :meth:`gather` and :attr:`rng`.

    Attributes:
        match_id: Identifier of the match within its run.
        seed: The match's seed; all of the arena's randomness comes from :attr:`rng`.
        rng: A ``random.Random`` seeded with :attr:`seed` (never the global RNG).
        roles: The role bound to each seat.
    """

    def __init__(
        self,
        arena: Arena,
        seed: int,
        roles: dict[str, Role],
        submit: Callable[[PendingAsk], None],
        match_id: str,
        version_of: Callable[[Role], int | None] = lambda role: None,
    ) -> None:
        self.arena = arena
        self.seed = seed
        self.rng = random.Random(seed)
        self.roles = roles
        self.match_id = match_id
        self._submit = submit
        self._version_of = version_of
        self._asks = 0
        self._samples = 0
        self.turns: list[Turn] = []
        self.started_at = time.time()

    @overload
    async def ask(self, role: str, prompt: str | Sequence[Message], n: None = None, **sampling: Any) -> Reply: ...

    @overload
    async def ask(self, role: str, prompt: str | Sequence[Message], n: int, **sampling: Any) -> list[Reply]: ...

    async def ask(
        self, role: str, prompt: str | Sequence[Message], n: int | None = None, **sampling: Any
    ) -> Reply | list[Reply]:
        """Ask ``role`` to reply to ``prompt``.

        Args:
            role: A seat of the arena.
            prompt: The user content (templated by the role) or a list of chat messages.
            n: Number of independent samples; ``None`` returns one :class:`Reply`, an int
                returns a list of ``n`` replies.
            **sampling: Overrides of the role's sampling defaults for this ask.
        """
        bound = self._role(role)
        count = 1 if n is None else n
        if count < 1:
            raise ArenaError(f"ask({role!r}, n={n}): n must be >= 1")
        if self._samples + count > self.arena.max_turns:
            raise ArenaError(
                f"{self.arena.id} asked for more than its max_turns={self.arena.max_turns} "
                "replies in one match; raise max_turns or end the match earlier"
            )
        params = bound.sampling.updated(**sampling) if sampling else bound.sampling
        messages = bound.render(prompt)
        ask_index = self._asks
        self._asks += 1
        self._samples += count
        seeds = [derive_seed(self.seed, ask_index, k) for k in range(count)]
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[tuple[Completion, float]]] = loop.create_future()
        self._submit(PendingAsk(self, ask_index, bound, messages, params, seeds, future))
        results = await future
        version = self._version_of(bound)
        replies = []
        for k, ((completion, latency), seed) in enumerate(zip(results, seeds, strict=True)):
            try:
                parsed, error = bound.parse(completion.text)
            except Exception as exc:  # a parser may raise only ValueError-like errors (data)
                mark_stage(exc, f"the parser of seat {role!r}")
                raise
            turn = Turn(
                index=0, ask=ask_index, sample=k, role=role, model=bound.model,
                adapter=bound.adapter, adapter_version=version, messages=messages,
                sampling=params.to_dict(), seed=seed, text=completion.text,
                token_ids=list(completion.token_ids), logprobs=list(completion.logprobs),
                finish_reason=completion.finish_reason, prompt_tokens=completion.prompt_tokens,
                parsed=jsonable(parsed), parse_error=error, latency=latency,
            )
            self.turns.append(turn)
            replies.append(
                Reply(role, completion.text, parsed, error, turn.token_ids, turn.logprobs,
                      completion.finish_reason, ask=ask_index, sample=k)
            )
        return replies[0] if n is None else replies

    async def score(self, role: str, prompt: str | Sequence[Message], reply: str) -> Reply:
        """How likely ``role`` finds ``reply`` to ``prompt``: its log-likelihood, no sampling.

        Like :meth:`ask` (the runner batches it with the other pending rows of its model and
        it is recorded as a turn of ``role``), but the engine scores the given ``reply``
        instead of generating one: the returned reply's ``text`` is ``reply``, its
        ``logprobs`` the per-token log-probs at temperature 1 (``loglik`` their sum) and its
        ``finish_reason`` ``"scored"``. Not parsed. Engines without a scoring path (openai,
        vllm) fail the match with a message naming the fix.
        """
        bound = self._role(role)
        if not isinstance(reply, str):
            raise ArenaError(f"score({role!r}, ...): reply must be a string, got {type(reply).__name__}")
        if self._samples + 1 > self.arena.max_turns:
            raise ArenaError(
                f"{self.arena.id} asked for more than its max_turns={self.arena.max_turns} "
                "replies in one match; raise max_turns or end the match earlier"
            )
        messages = bound.render(prompt)
        ask_index = self._asks
        self._asks += 1
        self._samples += 1
        seed = derive_seed(self.seed, ask_index, 0)
        future: asyncio.Future[list[tuple[Completion, float]]] = asyncio.get_running_loop().create_future()
        self._submit(PendingAsk(self, ask_index, bound, messages, bound.sampling, [seed], future, target=reply))
        [(completion, latency)] = await future
        turn = Turn(
            index=0, ask=ask_index, sample=0, role=role, model=bound.model, adapter=bound.adapter,
            adapter_version=self._version_of(bound), messages=messages, sampling={"temperature": 1.0},
            seed=seed, text=completion.text, token_ids=list(completion.token_ids),
            logprobs=list(completion.logprobs), finish_reason=completion.finish_reason,
            prompt_tokens=completion.prompt_tokens, latency=latency,
        )
        self.turns.append(turn)
        return Reply(role, completion.text, None, None, turn.token_ids, turn.logprobs, completion.finish_reason,
                     ask=ask_index)

    async def gather(self, *awaitables: Awaitable[Any] | Iterable[Awaitable[Any]]) -> list[Any]:
        """Run several asks (or coroutines that ask) concurrently; results in argument order.

        Accepts awaitables as arguments or a single iterable of them.
        """
        items: list[Awaitable[Any]]
        if len(awaitables) == 1 and not isinstance(awaitables[0], Awaitable):
            items = list(awaitables[0])  # type: ignore[arg-type]
        else:
            items = list(awaitables)  # type: ignore[arg-type]
        return list(await asyncio.gather(*items))

    def ordered_turns(self) -> list[Turn]:
        """Turns sorted by ask order and sample, indexed from 0 (the transcript's order)."""
        turns = sorted(self.turns, key=lambda t: (t.ask, t.sample))
        for i, t in enumerate(turns):
            t.index = i
        return turns

    def _role(self, role: str) -> Role:
        if role not in self.roles:
            raise ArenaError(
                f"role {role!r} is not a seat of {self.arena.id} "
                f"(seats: {', '.join(self.arena.roles)})"
            )
        return self.roles[role]
