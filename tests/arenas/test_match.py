"""Match: ask (one reply or n), gather, seat errors, sampling overrides and turn order."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sparring import Arena, Match, Outcome, Reply, Role, Runner, ScriptedEngine, parsers
from sparring.agents.sampling import derive_seed
from sparring.arenas import Transcript


class Probe(Arena):
    """Runs a test-supplied coroutine as its play; stores what it returns in the outcome."""

    id = "tests/probe-v1"
    roles = ("a", "b")
    body: Callable[[Match], Awaitable[Any]] | None = None

    async def play(self, match: Match) -> Outcome:
        assert self.body is not None
        return Outcome({"result": await self.body(match)})


def run(body: Callable[[Match], Awaitable[Any]], script: Any = None, seed: int = 5,
        roles: dict[str, Role] | None = None) -> tuple[Transcript, ScriptedEngine]:
    arena = Probe()
    arena.body = body
    engine = ScriptedEngine(script or (lambda req, i: f"reply {i}"))
    [t] = Runner({"default": engine}, roles).play(arena, [seed])
    return t, engine


def test_ask_without_n_returns_one_reply() -> None:
    seen: list[Any] = []

    async def body(match: Match) -> str:
        reply = await match.ask("a", "hello")
        seen.append(reply)
        return reply.text

    t, _ = run(body)
    [reply] = seen
    assert isinstance(reply, Reply)
    assert (reply.role, reply.text, reply.ask, reply.sample, reply.ok) == ("a", "reply 0", 0, 0, True)
    assert reply.parsed == "reply 0" and reply.parse_error is None
    assert reply.token_ids == [ord(c) for c in "reply 0"]
    assert t.outcome == {"result": "reply 0"}
    assert t.turns[0].seed == derive_seed(5, 0, 0)


def test_ask_with_n_returns_a_list() -> None:
    seen: list[Any] = []

    async def body(match: Match) -> list[str]:
        replies = await match.ask("b", "hello", n=3)
        one = await match.ask("a", "again", n=1)
        seen.extend([replies, one])
        return [r.text for r in replies]

    t, engine = run(body)
    replies, one = seen
    assert isinstance(replies, list) and len(replies) == 3
    assert [(r.ask, r.sample) for r in replies] == [(0, 0), (0, 1), (0, 2)]
    assert isinstance(one, list) and len(one) == 1 and one[0].ask == 1
    assert [u.seed for u in t.turns] == [derive_seed(5, 0, k) for k in range(3)] + [derive_seed(5, 1, 0)]
    assert len({u.seed for u in t.turns}) == 4
    assert engine.batches == [3, 1]


def test_ask_n_must_be_positive() -> None:
    async def body(match: Match) -> None:
        await match.ask("a", "x", n=0)

    t, _ = run(body)
    assert t.status == "error" and "ask('a', n=0): n must be >= 1" in (t.error or "")


def test_gather_accepts_arguments_and_a_generator() -> None:
    async def body(match: Match) -> dict[str, Any]:
        two = await match.gather(match.ask("a", "p0"), match.ask("b", "p1"))
        many = await match.gather(match.ask("a", f"q{i}") for i in range(3))

        async def helper() -> str:
            return (await match.ask("b", "inner")).text

        single = await match.gather(helper())
        return {"two": [r.role for r in two], "many": len(many), "single": single}

    t, engine = run(body)
    assert t.status == "finished", t.error
    assert t.outcome["result"] == {"two": ["a", "b"], "many": 3, "single": ["reply 5"]}
    assert engine.batches == [2, 3, 1]  # concurrent asks of a match share a batch
    assert [u.messages[-1]["content"] for u in t.turns] == ["p0", "p1", "q0", "q1", "q2", "inner"]


def test_asking_a_non_seat_names_the_seats() -> None:
    async def body(match: Match) -> None:
        await match.ask("solvr", "x")

    t, engine = run(body)
    assert t.status == "error"
    assert "ArenaError: role 'solvr' is not a seat of tests/probe-v1 (seats: a, b)" in (t.error or "")
    assert engine.requests == []


def test_sampling_overrides_and_parse_errors() -> None:
    role = Role(name="a", parser=parsers.answer_number, system_prompt="S", template="<{content}>")

    async def body(match: Match) -> Any:
        good = await match.ask("a", "x", temperature=0.0, max_new_tokens=5, stop=["\n"])
        bad = await match.ask("a", "y")
        return [good.parsed, bad.ok, bad.parse_error]

    t, engine = run(body, script=["Answer: 7", "none"], roles={"a": role})
    assert t.outcome["result"] == [7, False, "expected a number in the reply, found none"]
    first, second = engine.requests
    assert first.sampling.to_dict() == {"max_new_tokens": 5, "temperature": 0.0, "top_p": 1.0, "stop": ["\n"]}
    assert second.sampling == role.sampling
    assert first.messages == [{"role": "system", "content": "S"}, {"role": "user", "content": "<x>"}]
    assert t.turns[0].sampling == first.sampling.to_dict()
    assert (t.turns[1].parsed, t.turns[1].parse_error) == (None, "expected a number in the reply, found none")


def test_unknown_sampling_option_fails_the_match() -> None:
    async def body(match: Match) -> None:
        await match.ask("a", "x", temprature=1.0)

    t, _ = run(body)
    assert t.status == "error" and "unknown sampling option(s) ['temprature']" in (t.error or "")


def test_message_prompts() -> None:
    async def body(match: Match) -> str:
        reply = await match.ask("a", [{"role": "user", "content": "u"}, {"role": "assistant", "content": "v"},
                                      {"role": "user", "content": "w"}])
        return reply.text

    t, engine = run(body)
    assert [m["content"] for m in engine.requests[0].messages] == ["u", "v", "w"]
    assert t.turns[0].messages == engine.requests[0].messages


def test_turns_are_in_ask_order_not_completion_order() -> None:
    async def body(match: Match) -> None:
        async def late() -> None:
            await match.ask("a", "first ask, answered after two rounds")

        async def early() -> None:
            await match.ask("b", "second ask")

        await match.gather(early(), late())

    t, _ = run(body)
    assert [(u.index, u.ask, u.role) for u in t.turns] == [(0, 0, "b"), (1, 1, "a")]


def test_rng_is_seeded_by_the_match() -> None:
    async def body(match: Match) -> list[int]:
        await match.ask("a", "x")
        return [match.rng.randint(0, 10**9) for _ in range(3)]

    assert run(body, seed=1)[0].outcome == run(body, seed=1)[0].outcome
    assert run(body, seed=1)[0].outcome != run(body, seed=2)[0].outcome
