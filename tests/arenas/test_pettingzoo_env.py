"""to_pettingzoo: every arena is a PettingZoo AEC environment that passes PettingZoo's own tests."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from pettingzoo.test import api_test, seed_test

from sparring.agents.engines.base import GenerationRequest
from sparring.agents.engines.scripted import ScriptedEngine
from sparring.arenas import (
    Arena,
    ArenaError,
    PettingZooArena,
    QuestionAnswerVerify,
    Runner,
    Spin,
    make,
    registered,
    resolve,
)
from sparring.arenas.conformance import well_formed_replies
from sparring.arenas.pettingzoo_env import ArenaEnv, _encode, observation_text, to_pettingzoo
from sparring.arenas.runner import bind_roles
from sparring.arenas.transcript import Transcript

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
USER_ARENAS = [f"{EXAMPLES / 'debate.py'}:Debate", f"{EXAMPLES / 'letter_count.py'}:LetterCount"]


def _api_test(env: ArenaEnv, cycles: int = 200) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # api_test warns that Text action spaces are unusual
        api_test(env, num_cycles=cycles)
    env.close()


@pytest.mark.parametrize("arena_id", sorted(registered()))
def test_api_test_passes_on_every_registered_arena(arena_id: str) -> None:
    _api_test(to_pettingzoo(registered()[arena_id]()))


@pytest.mark.parametrize("name", USER_ARENAS, ids=["debate", "letter_count"])
def test_api_test_passes_on_the_user_example_arenas(name: str) -> None:
    _api_test(to_pettingzoo(resolve(name)()))


@pytest.mark.parametrize("arena_id", ["sparring/tictactoe-v1", "sparring/qa-verify-v1"])
def test_seed_test_passes(arena_id: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        seed_test(lambda: to_pettingzoo(registered()[arena_id]()), num_cycles=20)


def _drive(env: ArenaEnv, seed: int, reply: Callable[[int, str], str]) -> list[str]:
    """Play one match, replying ``reply(row seed, agent)``; returns the agents in step order."""
    env.reset(seed=seed)
    order = []
    for agent in env.agent_iter():
        _, _, terminated, truncated, info = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        order.append(agent)
        env.step(reply(info["seed"], agent))
    return order


def _runner_transcript(arena: Arena, seed: int, reply: Callable[[int, str], str]) -> Transcript:
    roles = {seat: role.bind(model=seat) for seat, role in bind_roles(arena, None).items()}
    engines = {seat: ScriptedEngine(lambda req, i, seat=seat: reply(req.seed, seat)) for seat in arena.roles}
    [t] = Runner(engines, roles).play(arena, [seed])
    return t


def _comparable(t: Transcript) -> dict:
    data = t.comparable()
    data.pop("match_id")
    for turn in data["turns"]:  # the env's replies carry no token ids; a scripted engine fakes some
        for key in ("model", "token_ids", "logprobs"):
            turn.pop(key)
    for info in data["roles"].values():
        info.pop("model")
    return data


def test_n_samples_and_gathered_asks_are_served_one_reply_per_step_and_match_the_runner() -> None:
    arena = QuestionAnswerVerify()
    examples = well_formed_replies(arena, bind_roles(arena, None))

    def reply(seed: int, seat: str) -> str:
        return examples[seat][seed % len(examples[seat])]

    env = to_pettingzoo(arena)
    order = _drive(env, 5, reply)
    # One questioner reply, the solver's group (n = group_size) one per step, then the gathered verdicts.
    k = arena.group_size
    assert order == ["questioner", *["solver"] * k, *["verifier"] * k]
    assert env.transcript is not None and env.transcript.status == "finished"
    assert _comparable(env.transcript) == _comparable(_runner_transcript(arena, 5, reply))


def test_rewards_come_at_the_end_from_the_arena() -> None:
    arena = Spin(samples=3)
    env = to_pettingzoo(arena)
    env.reset(seed=1)
    seen = []
    for _ in env.agent_iter():
        obs, reward, terminated, truncated, info = env.last()
        if terminated or truncated:
            seen.append(reward)
            env.step(None)
            continue
        assert reward == 0.0 and "Answer" in observation_text(obs)
        env.step("Answer: 0")
    t = env.transcript
    assert t is not None and [u.text for u in t.turns] == ["Answer: 0"] * 3
    assert seen == [pytest.approx(t.reward_of("solver"))]


def test_seats_that_are_not_agents_are_answered_by_the_engine() -> None:
    arena = QuestionAnswerVerify()
    examples = well_formed_replies(arena, bind_roles(arena, None))
    table = {seat: examples[seat][0] for seat in arena.roles}
    roles = {seat: role.bind(model=seat) for seat, role in bind_roles(arena, None).items()}

    class BySeat:
        name, max_batch_size = "by-seat", 64

        def generate(self, requests: list[GenerationRequest]) -> list:
            return ScriptedEngine(lambda req, i: table["questioner" if "exam" in req.messages[0]["content"]
                                                       else "verifier"]).generate(requests)

    env = to_pettingzoo(arena, BySeat(), agents=["solver"], roles=roles)
    assert env.possible_agents == ["solver"]
    order = _drive(env, 2, lambda seed, agent: table[agent])
    assert order == ["solver"] * arena.group_size
    assert env.transcript is not None and env.transcript.status == "finished"
    assert {t.role for t in env.transcript.turns} == set(arena.roles)
    with pytest.raises(ArenaError, match="pass engine="):
        to_pettingzoo(arena, agents=["solver"])


def test_a_match_that_raises_ends_with_zero_rewards_and_the_error() -> None:
    class Broken(Arena):
        id = "tests/broken-v1"
        roles = ("a", "b")

        async def play(self, match):  # noqa: ANN001, ANN202
            await match.ask("a", "go")
            raise RuntimeError("arena bug")

    env = to_pettingzoo(Broken())
    env.reset(seed=0)
    env.step("anything")
    assert env.terminations == {"a": True, "b": True}
    assert env.infos["a"]["error"] == "RuntimeError: arena bug"
    assert env.transcript is not None and env.transcript.status == "error"
    assert env.last()[1] == 0.0


def test_observations_are_utf8_bytes_that_keep_the_end_when_cut() -> None:
    assert observation_text(_encode("héllo", 16)) == "héllo"
    cut = _encode("é" * 20 + "end", 16)
    assert cut.dtype == np.uint8 and observation_text(cut).endswith("end")
    assert "\ufffd" not in observation_text(cut)


def test_bad_arguments_are_one_line_errors() -> None:
    arena = make("tictactoe")
    with pytest.raises(ArenaError, match="must be seats of sparring/tictactoe-v1"):
        to_pettingzoo(arena, agents=["z"])
    with pytest.raises(ArenaError, match="reward 'nope'"):
        to_pettingzoo(arena, reward="nope")
    env = to_pettingzoo(arena)
    env.reset(seed=0)
    with pytest.raises(TypeError, match="reply text"):
        env.step(5)  # type: ignore[arg-type]


def test_importing_sparring_arenas_does_not_import_pettingzoo() -> None:
    code = ("import sys, sparring.arenas; assert 'pettingzoo' not in sys.modules; "
            "from sparring.arenas import to_pettingzoo; assert 'pettingzoo' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_pettingzoo_the_errors_name_the_extra() -> None:
    code = ("import sys; sys.modules['pettingzoo'] = None\n"
            "from sparring.arenas import ArenaError, make\n"
            "try:\n    from sparring.arenas import to_pettingzoo\nexcept ImportError as e:\n    print(e)\n"
            "try:\n    make('tictactoe')\nexcept ArenaError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    first, second = out.strip().splitlines()
    assert first.startswith("to_pettingzoo needs PettingZoo and Gymnasium: pip install 'sparring[pettingzoo]'")
    assert "env_fn 'pettingzoo.classic.tictactoe.tictactoe:env': cannot import" in second
    assert "pip install 'sparring[pettingzoo]'" in second


def test_a_pettingzoo_game_round_trips_and_renders_as_text() -> None:
    arena = PettingZooArena("pettingzoo.classic.connect_four.connect_four:env", max_retries=0)
    _api_test(to_pettingzoo(arena), cycles=50)
    env = to_pettingzoo(arena, render_mode="ansi")
    order = _drive(env, 0, lambda seed, agent: "Move: 0" if agent == "player_0" else "Move: 1")
    assert order == ["player_0", "player_1"] * 3 + ["player_0"]
    assert env.transcript is not None and env.transcript.outcome["winner"] == "player_0"
    assert env.render().endswith("= player_0 won in 7 moves (0 rejected replies)")
