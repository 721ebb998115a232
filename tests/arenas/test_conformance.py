"""check_arena: passes on every registered arena, and names the rule each broken arena breaks."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from sparring import (
    Arena,
    ConformanceError,
    Match,
    Outcome,
    QuestionAnswerVerify,
    Role,
    Score,
    Transcript,
    check_arena,
    make,
    parsers,
    registered,
    reward,
)
from sparring.arenas.conformance import HOSTILE_REPLIES
from sparring.rewards.base import Reward
from tests.helpers import Echo, well_formed_script


@pytest.mark.parametrize("arena_id", sorted(registered()))
def test_every_registered_arena_passes(arena_id: str) -> None:
    report = check_arena(registered()[arena_id]())
    assert report.arena == arena_id
    assert report.scripts == [*HOSTILE_REPLIES, "random", "well_formed"]
    assert report.matches == 3 * len(report.scripts) and report.turns >= report.matches
    assert report.warnings == []  # every seat of a built-in arena has well-formed replies
    assert any("replay" in rule for rule in report.rules)
    assert any(rule.startswith("well-formed replies for ") for rule in report.rules)


def test_qa_verify_passes_with_a_scripted_protocol() -> None:
    report = check_arena(QuestionAnswerVerify(group_size=2, ops=["*"]), seeds=(4, 5),
                         scripts={"qa_script": well_formed_script()})
    assert report.scripts[-2:] == ["well_formed", "qa_script"]
    assert report.matches == 2 * len(report.scripts)
    # format_mimic and well-formed replies play the full protocol: 1 + 2 + 2 turns.
    assert report.turns > report.matches * 2


def test_example_arena_passes() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "letter_count.py"
    check_arena(make(f"{example}:LetterCount"))


def test_user_arena_passes() -> None:
    report = check_arena(Echo(times=3))
    assert report.warnings == []  # a seat without a parser takes any text as well-formed


def test_report_lists_the_rules_it_checked() -> None:
    report = check_arena(Echo())
    assert report.rules[0].startswith("class declarations: id 'namespace/name-vN'")
    assert "replies from 8 scripts (empty, huge, unicode, json_garbage, format_mimic, numbers, random, well_formed) never crash a match" in report.rules
    assert "rewards stay within reward_bounds (0.0, 1.0) (or a reward's own narrower bounds), score seats only, and point at turns of the seat they score" in report.rules
    assert "well-formed replies for speaker are played, so rewards' success paths run" in report.rules


# -- broken arenas: each breaks one rule ------------------------------------------------


class GlobalRandom(Echo):
    id = "tests/global-random-v1"

    async def play(self, match: Match) -> Outcome:
        reply = await match.ask("speaker", f"Say {random.random()}.")
        return Outcome({"said": reply.text})


class CrashOnEmpty(Echo):
    id = "tests/crash-on-empty-v1"

    async def play(self, match: Match) -> Outcome:
        reply = await match.ask("speaker", "Say something.")
        return Outcome({"first": reply.text[0]})


class AsksNonSeat(Echo):
    id = "tests/asks-non-seat-v1"

    async def play(self, match: Match) -> Outcome:
        await match.ask("speaker", "Say something.")
        await match.ask("listener", "Did you hear?")
        return Outcome()


class Endless(Echo):
    id = "tests/endless-v1"
    max_turns = 8

    async def play(self, match: Match) -> Outcome:
        while True:
            await match.ask("speaker", "Again.")


@reward("too_big")
def too_big(t: object) -> list[Score]:
    return [Score("speaker", 2.0, "double")]


@reward("ghostly")
def ghostly(t: object) -> list[Score]:
    return [Score("ghost", 0.5)]


@reward("wrong_turn")
def wrong_turn(t: object) -> list[Score]:
    return [Score("speaker", 0.5, turn=7)]


class RewardOutOfBounds(Echo):
    id = "tests/reward-out-of-bounds-v1"

    def rewards(self) -> Sequence[Reward]:
        return [too_big]


class RewardsNonSeat(Echo):
    id = "tests/rewards-non-seat-v1"

    def rewards(self) -> Sequence[Reward]:
        return [ghostly]


class RewardsWrongTurn(Echo):
    id = "tests/rewards-wrong-turn-v1"

    def rewards(self) -> Sequence[Reward]:
        return [wrong_turn]


class NonJsonKwargs(Echo):
    id = "tests/non-json-kwargs-v1"

    def __init__(self, callback: object = print) -> None:
        super().__init__()
        self.callback = callback


class BadId(Echo):
    id = "Tests/Bad Id"


class SyncPlay(Echo):
    id = "tests/sync-play-v1"

    def play(self, match: Match) -> Outcome:  # type: ignore[override]
        return Outcome()


class MissingDefaultRole(Arena):
    id = "tests/missing-default-role-v1"
    roles = ("a", "b")

    def default_roles(self) -> dict[str, Role]:
        return {"a": Role(name="a")}

    async def play(self, match: Match) -> Outcome:
        return Outcome()


def _failures(arena: Arena) -> list[str]:
    with pytest.raises(ConformanceError) as info:
        check_arena(arena)
    message = str(info.value)
    lines = message.split("\n- ")[1:]
    assert message.startswith(f"{arena.id} failed {len(lines)} conformance rule(s):")
    for failure in info.value.failures:  # the same rule broken on many plays is one line naming them
        rule = re.sub(r"^\[[^\]]+\] seed \d+: ", "", failure)
        assert any(rule in line for line in lines), failure
    return info.value.failures


def test_global_random_is_nondeterministic() -> None:
    failures = _failures(GlobalRandom())
    assert (
        "[empty] seed 0: two plays with the same seed and replies differ "
        "(use match.rng, not global randomness)"
    ) in failures


def test_crash_on_empty_reply() -> None:
    failures = _failures(CrashOnEmpty())
    assert failures[0] == (
        "[empty] seed 0: the arena's play crashed on scripted replies: IndexError: string index out of range"
    )
    assert all(f.startswith("[empty]") for f in failures)  # every other reply is fine


def test_asking_a_non_seat() -> None:
    failures = _failures(AsksNonSeat())
    assert failures[0] == (
        "[empty] seed 0: the arena's play crashed on scripted replies: sparring.arenas.errors.ArenaError: "
        "role 'listener' is not a seat of tests/asks-non-seat-v1 (seats: speaker)"
    )


def test_exceeding_max_turns() -> None:
    failures = _failures(Endless())
    assert failures[0] == (
        "[empty] seed 0: the arena's play crashed on scripted replies: sparring.arenas.errors.ArenaError: "
        "tests/endless-v1 asked for more than its max_turns=8 replies in one match; "
        "raise max_turns or end the match earlier"
    )


def test_reward_outside_bounds() -> None:
    failures = _failures(RewardOutOfBounds())
    assert failures[0] == (
        "[empty] seed 0: reward 'too_big' gave speaker 2.0, outside reward_bounds (0.0, 1.0)"
    )


def test_reward_for_a_non_seat() -> None:
    failures = _failures(RewardsNonSeat())
    assert failures[0] == "[empty] seed 0: reward 'ghostly' scores 'ghost', which is not a seat"


def test_reward_for_a_turn_of_another_role() -> None:
    failures = _failures(RewardsWrongTurn())
    assert failures[0] == "[empty] seed 0: reward 'wrong_turn' points at turn 7, which is not a speaker turn"


def test_non_json_kwargs() -> None:
    failures = _failures(NonJsonKwargs())
    assert failures == [
        "constructor kwargs must be JSON values to be recorded: "
        "Object of type builtin_function_or_method is not JSON serializable"
    ]


def test_bad_id_format() -> None:
    with pytest.raises(ConformanceError) as info:
        check_arena(BadId())
    assert info.value.failures == [
        "BadId.id must look like 'namespace/name-v1' (lowercase), got 'Tests/Bad Id'"
    ]
    assert str(info.value).startswith("BadId failed 1 conformance rule(s):")


def test_sync_play() -> None:
    with pytest.raises(ConformanceError) as info:
        check_arena(SyncPlay())
    assert info.value.failures == ["SyncPlay.play must be 'async def play(self, match)'"]


def test_default_roles_must_cover_the_seats() -> None:
    failures = _failures(MissingDefaultRole())
    assert "default_roles() seats ['a'] != declared seats ['a', 'b']" in failures


def test_arena_that_cannot_be_remade() -> None:
    class Local(Echo):  # defined in a function: its spec's source cannot be imported
        id = "tests/local-v1"

    failures = _failures(Local())
    assert failures[0].startswith("cannot re-make the arena from its spec tests/local-v1: ")


# -- well-formed replies: rewards' success paths are checked too ------------------------


@reward("bonus")
def bonus(t: Transcript) -> list[Score]:
    """Meant to be 1 per parsed guess; sums over turns instead, so two guesses give 2."""
    return [Score("guesser", float(sum(u.parse_error is None for u in t.turns)), "guesses")]


class Guessing(Arena):
    """Hostile replies never parse here; only well-formed ones reach the broken branch."""

    id = "tests/guessing-v1"
    roles = ("guesser",)
    reward_bounds = (0.0, 1.0)

    def default_roles(self) -> dict[str, Role]:
        return {"guesser": Role(name="guesser", parser=parsers.field_value("Guess"))}

    def rewards(self) -> Sequence[Reward]:
        return [bonus]

    async def play(self, match: Match) -> Outcome:
        first = await match.ask("guesser", "Guess a number. Reply 'Guess: <n>'.")
        second = await match.ask("guesser", "Guess again.")
        return Outcome({"guesses": [first.parsed, second.parsed]})


class GuessingWithExamples(Guessing):
    id = "tests/guessing-examples-v1"
    examples: ClassVar[dict[str, list[str]]] = {"guesser": ["Guess: 7"]}

    def default_roles(self) -> dict[str, Role]:  # a parser without examples
        return {"guesser": Role(name="guesser", parser=lambda text: parsers.field_value("Guess")(text))}


def test_well_formed_replies_catch_a_reward_that_breaks_only_on_success() -> None:
    # Driven by hostile replies only (the well-formed script replaced by one), it passes:
    check_arena(Guessing(), scripts={"well_formed": [HOSTILE_REPLIES["empty"]]})
    with pytest.raises(ConformanceError) as info:
        check_arena(Guessing())  # the parser's examples ("Guess: 42") parse
    assert info.value.failures == [
        f"[well_formed] seed {seed}: reward 'bonus' gave guesser 2.0, outside reward_bounds (0.0, 1.0)"
        for seed in (0, 1, 2)
    ]


def test_well_formed_replies_come_from_the_arena_examples() -> None:
    with pytest.raises(ConformanceError) as info:
        check_arena(GuessingWithExamples())
    assert info.value.failures[0] == (
        "[well_formed] seed 0: reward 'bonus' gave guesser 2.0, outside reward_bounds (0.0, 1.0)"
    )


class ExamplesThatDoNotParse(Echo):
    id = "tests/examples-do-not-parse-v1"
    examples: ClassVar[dict[str, list[str]]] = {"speaker": ["Verdict: maybe"], "ghost": ["boo"]}

    def default_roles(self) -> dict[str, Role]:
        return {"speaker": Role(name="speaker", parser=parsers.verdict)}


def test_declared_examples_must_parse_and_name_seats() -> None:
    failures = _failures(ExamplesThatDoNotParse())
    assert failures == [
        "examples names 'ghost', which is not a seat (seats: speaker)",
        "examples['speaker'][0] does not parse with the speaker role's parser: "
        "expected a verdict: 'correct' or 'incorrect'",
    ]


class Opaque(Echo):
    id = "tests/opaque-v1"

    def default_roles(self) -> dict[str, Role]:  # a parser without examples
        return {"speaker": Role(name="speaker", parser=lambda text: parsers.field_value("Move")(text))}


def test_a_seat_without_well_formed_replies_is_a_warning() -> None:
    report = check_arena(Opaque())
    assert report.warnings == [
        "no well-formed replies were available for seat 'speaker': set Opaque.examples['speaker'] "
        "or give its role's parser an 'examples' attribute; it got a hostile reply instead"
    ]
    assert "well_formed" not in report.scripts


def test_a_reward_outside_its_own_bounds() -> None:
    @reward("narrow", bounds=(0.0, 0.5))
    def narrow(t: Transcript) -> list[Score]:
        return [Score("speaker", 0.75)]

    class Narrow(Echo):
        id = "tests/narrow-v1"

        def rewards(self) -> Sequence[Reward]:
            return [narrow]

    failures = _failures(Narrow())
    assert "[empty] seed 0: reward 'narrow' gave speaker 0.75, outside its own bounds (0.0, 0.5)" in failures


def test_conformance_error_is_an_assertion_error() -> None:
    assert issubclass(ConformanceError, AssertionError)


class PlainFunctionReward(Echo):
    id = "tests/plain-function-reward-v1"

    def rewards(self) -> Sequence[Reward]:
        def length(transcript):  # a plain function: no name to record its scores under
            return [Score("speaker", 1.0)]

        return [length]  # type: ignore[list-item]


def test_a_plain_function_reward_is_refused_before_playing() -> None:
    failures = _failures(PlainFunctionReward())
    assert len(failures) == 1 and failures[0].startswith("rewards() item 0 (")
    assert '@reward("a_name") (from sparring.rewards import reward)' in failures[0]


def test_one_rule_broken_on_every_play_is_one_line_naming_the_plays() -> None:
    with pytest.raises(ConformanceError) as info:
        check_arena(GlobalRandom())
    lines = str(info.value).split("\n- ")[1:]
    assert len(info.value.failures) == 48 and len(lines) == 2  # two rules, each broken on 24 plays
    assert lines[0].startswith("two plays with the same seed and replies differ")
    assert "plays: reply sets empty," in lines[0] and "seeds 0, 1, 2" in lines[0]
