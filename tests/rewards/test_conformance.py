"""check_role over the built-in roles and check_reward over qa-verify rewards, and broken ones."""

from __future__ import annotations

import itertools

import pytest

from sparring import BUILTIN_ROLES, ConformanceError, Role, Score, check_reward, check_role, reward
from sparring.arenas import Transcript
from sparring.arenas.builtin.qa_verify import QA_VERIFY_REWARDS, parse_question
from sparring.arenas.conformance import HOSTILE_REPLIES
from tests.helpers import SeatScript, play_qa


@pytest.mark.parametrize("name", sorted(BUILTIN_ROLES))
def test_builtin_roles_pass(name: str) -> None:
    check_role(BUILTIN_ROLES[name]())


def test_qa_questioner_role_passes() -> None:
    check_role(Role(name="questioner", parser=parse_question))


def test_role_whose_parser_raises() -> None:
    def fragile(text: str) -> str:
        raise RuntimeError("parser bug")

    with pytest.raises(ConformanceError) as info:
        check_role(Role(name="fragile", parser=fragile))
    assert str(info.value).startswith(f"role 'fragile' failed {len(HOSTILE_REPLIES)} conformance rule(s):")
    assert info.value.failures[0] == "parser raised RuntimeError on the empty reply: parser bug"


def test_role_whose_parser_is_not_deterministic() -> None:
    counter = itertools.count()

    with pytest.raises(ConformanceError) as info:
        check_role(Role(name="moody", parser=lambda text: next(counter)))
    assert info.value.failures[0] == "parser is not deterministic on the empty reply"


def test_role_whose_description_is_not_json() -> None:
    class Odd(Role):
        def describe(self) -> dict:
            return {"parser": object()}

    with pytest.raises(ConformanceError) as info:
        check_role(Odd(name="odd"))
    assert info.value.failures == ["describe() is not JSON: Object of type object is not JSON serializable"]


def _transcripts() -> list[Transcript]:
    played, _ = play_qa(range(4))
    invalid, _ = play_qa([9], script=SeatScript(questioner=["nothing"]))
    return [*played, *invalid]


@pytest.mark.parametrize("r", QA_VERIFY_REWARDS, ids=lambda r: r.name)
def test_qa_verify_rewards_pass(r: object) -> None:
    checked = check_reward(r, _transcripts())  # type: ignore[arg-type]
    assert checked >= 4


@reward("greedy")
def greedy(t: Transcript) -> list[Score]:
    return [Score("solver", 3.0)]


@reward("stranger")
def stranger(t: Transcript) -> list[Score]:
    return [Score("audience", 0.0)]


@reward("misplaced")
def misplaced(t: Transcript) -> list[Score]:
    return [Score("solver", 1.0, turn=0)]  # turn 0 is the questioner's


@reward("not_a_list")
def not_a_list(t: Transcript) -> float:  # type: ignore[return]
    return 1.0  # type: ignore[return-value]


@reward("crashes")
def crashes(t: Transcript) -> list[Score]:
    return [Score("solver", 1 / 0)]


@pytest.mark.parametrize(
    ("r", "failure"),
    [
        (greedy, "i0-s0: value 3.0 for solver outside [-1.0, 1.0]"),
        (stranger, "i0-s0: scores 'audience', not a seat of sparring/qa-verify-v1"),
        (misplaced, "i0-s0: turn 0 is not a solver turn"),
        (not_a_list, "i0-s0: must return None or a list of Score, got float"),
        (crashes, "i0-s0: raised ZeroDivisionError: division by zero"),
    ],
    ids=lambda x: getattr(x, "name", "failure"),
)
def test_broken_rewards(r: object, failure: str) -> None:
    with pytest.raises(ConformanceError) as info:
        check_reward(r, _transcripts())  # type: ignore[arg-type]
    assert info.value.failures[0] == failure
    assert str(info.value).startswith(f"reward {r.name!r} failed")  # type: ignore[attr-defined]


def test_nondeterministic_reward() -> None:
    counter = itertools.count()

    @reward("drifting")
    def drifting(t: Transcript) -> list[Score]:
        return [Score("solver", next(counter) / 1000)]

    with pytest.raises(ConformanceError) as info:
        check_reward(drifting, _transcripts()[:1])
    assert info.value.failures == ["i0-s0: scoring twice gave different scores"]


def test_reward_without_a_name() -> None:
    with pytest.raises(ConformanceError, match="a reward needs a non-empty str 'name'"):
        check_reward(lambda t: None, [])  # type: ignore[arg-type]


def test_explicit_bounds() -> None:
    assert check_reward(greedy, _transcripts()[:2], bounds=(0.0, 5.0)) == 2


def test_a_reward_is_checked_against_its_own_bounds() -> None:
    @reward("narrow", bounds=(0.0, 0.5))
    def narrow(t: Transcript) -> list[Score]:
        return [Score("solver", 0.75)]  # inside the arena's [-1, 1], outside its own bounds

    with pytest.raises(ConformanceError) as info:
        check_reward(narrow, _transcripts()[:1])
    assert info.value.failures == ["i0-s0: value 0.75 for solver outside [0.0, 0.5]"]
