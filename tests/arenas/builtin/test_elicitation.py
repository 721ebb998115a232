"""elicitation (STaR-GATE): conformance, visibility, scores and the best-dialogue selection, personas, golden."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest

from sparring.agents.engines.base import GenerationRequest, ScoreRequest
from sparring.agents.engines.scripted import word_overlap
from sparring.arenas import Elicitation, TaskError, Transcript, check_arena, check_reward, replay
from sparring.arenas.builtin import personas
from sparring.arenas.builtin.elicitation import ELICITATION, best_dialogue_reward, gold_logprob
from sparring.arenas.replay import diff
from sparring.rewards import builders
from tests.arenas.task_scripts import play
from tests.helpers import seat_by_system_prompt

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "elicitation.json"
SEATS = {"You play": "roleplayer", "You are a helpful assistant who knows": "oracle",
         "You are a helpful assistant. Before": "questioner"}
QUESTIONS = ["What do you like to eat?", "Where do you live?", "What is your budget?"]
ANSWERS = ["I eat vegetarian food, mostly Italian.", "I live in a small flat.", "Cheap, please."]
GOLD = "Cook a cheap vegetarian Italian risotto."


def script(request: GenerationRequest, index: int) -> str:
    """Questions and answers picked by row seed; the oracle always writes GOLD."""
    seat = seat_by_system_prompt(request, SEATS)
    if seat == "oracle":
        return GOLD
    replies = QUESTIONS if seat == "questioner" else ANSWERS
    return replies[request.seed % len(replies)]


@pytest.mark.parametrize("arena", [Elicitation(), Elicitation(k=1, dialogues=2, keep=2, split="test"),
                                   Elicitation(k=4, dialogues=3, split="validation")])
def test_check_arena(arena: Elicitation) -> None:
    assert not check_arena(arena).warnings


def test_what_each_seat_sees() -> None:
    [t], engine = play(Elicitation(k=2, dialogues=2), script)
    card = personas.PersonaTask(t.outcome["persona"]["name"], tuple(t.outcome["persona"]["attributes"].items()),
                                t.outcome["persona"]["task"]).card
    by_seat: dict[str, list[Any]] = {}
    for turn in t.turns:
        by_seat.setdefault(turn.role, []).append(turn)
    assert [len(by_seat[s]) for s in ("oracle", "questioner", "roleplayer", "responder")] == [1, 4, 4, 2]
    for seat in ("questioner", "responder"):  # never the persona
        assert all(card not in m["content"] and t.outcome["persona"]["name"] not in m["content"]
                   for turn in by_seat[seat] for m in turn.messages)
    assert all(card in turn.messages[-1]["content"] for turn in by_seat["oracle"] + by_seat["roleplayer"])
    second = by_seat["questioner"][2]  # a second question sees its first question and the answer as the chat
    assert [m["role"] for m in second.messages] == ["system", "user", "assistant", "user"]
    assert all(turn.text == GOLD and turn.finish_reason == "scored" for turn in by_seat["responder"])
    assert all(r.target == GOLD for r in engine.scored) and len(engine.scored) == 2
    assert {q for d in t.outcome["dialogues"] for q, _ in d["exchanges"]} <= set(QUESTIONS)


def test_scores_rewards_and_the_best_dialogue_by_hand() -> None:
    [t], engine = play(Elicitation(k=2, dialogues=3, keep=1), script, seeds=[7])
    dialogues = t.outcome["dialogues"]
    for d, request in zip(dialogues, engine.scored, strict=True):  # s_d: mean token log-prob of GOLD
        expected = word_overlap(request)
        assert d["score"] == pytest.approx(sum(expected) / len(expected)) and d["tokens"] == 6
    scores = [d["score"] for d in dialogues]
    best = min(range(3), key=lambda i: (-scores[i], i))
    gold = {s.turn: s.value for s in gold_logprob(t)}  # type: ignore[union-attr]
    chosen = {s.turn: s.value for s in best_dialogue_reward(1)(t)}  # type: ignore[union-attr]
    turn_of = {u.ask: u.index for u in t.turns}
    for i, d in enumerate(dialogues):
        for a in d["question_asks"]:
            assert gold[turn_of[a]] == d["score"]
            assert chosen[turn_of[a]] == (1.0 if i == best else 0.0)
    assert len(set(scores)) > 1, "the script should make the dialogues differ"
    # the dialogue that brought out the gold reply's words ranks first
    overlap = [sum(w in " ".join(a for _, a in d["exchanges"]).lower() for w in ("vegetarian", "italian", "cheap"))
               for d in dialogues]
    assert overlap[best] == max(overlap)
    # keep=3 keeps every dialogue
    assert {s.value for s in best_dialogue_reward(3)(t)} == {1.0}  # type: ignore[union-attr]


def test_sft_trains_on_the_questions_of_the_best_dialogues_only() -> None:
    transcripts, _ = play(Elicitation(k=2, dialogues=3, keep=1), script, seeds=range(3))
    samples = builders.sft_samples(transcripts, "questioner", "best_dialogue", lambda msgs: [len(msgs)])
    for t in transcripts:
        best = max(t.outcome["dialogues"], key=lambda d: d["score"])
        turn_of = {u.ask: u.index for u in t.turns}
        mine = sorted(s.meta["turn"] for s in samples if s.meta["match_id"] == t.match_id)
        assert mine == sorted(turn_of[a] for a in best["question_asks"])
    assert {s.meta["role"] for s in samples} == {"questioner"}


def test_done_ends_a_dialogue_early() -> None:
    def done(request: GenerationRequest, index: int) -> str:
        return "DONE, I know enough." if seat_by_system_prompt(request, SEATS) == "questioner" else script(request, index)

    [t], _ = play(Elicitation(k=3, dialogues=2), done)
    assert all(d["exchanges"] == [] and len(d["question_asks"]) == 1 for d in t.outcome["dialogues"])
    assert [u.role for u in t.turns].count("roleplayer") == 0
    assert ELICITATION.compute([t])["elicitation/questions"] == 0.0


def test_rewards_conform_and_monitors() -> None:
    transcripts, _ = play(Elicitation(k=2, dialogues=2), script, seeds=range(4))
    for r in Elicitation(keep=2).rewards():
        assert check_reward(r, transcripts) > 0
    values = ELICITATION.compute(transcripts)
    assert set(values) == {"elicitation/attribute_recall", "elicitation/gold_logprob", "elicitation/gold_recall",
                           "elicitation/questions"}
    assert values["elicitation/questions"] == 2.0 and -50.0 <= values["elicitation/gold_logprob"] <= 0.0


def test_personas_are_seeded_split_and_checkable() -> None:
    a, b = personas.generate(random.Random(3)), personas.generate(random.Random(3))
    assert a == b and set(a.relevant) == set(personas.TASKS[a.task])
    test = [personas.held_out("test", i) for i in range(50)]
    assert len({p.key for p in test}) == 50 and all(personas.split_of(p) == "test" for p in test)
    assert all(personas.split_of(personas.draw(random.Random(s), s, "train")) == "train" for s in range(30))
    assert personas.mentioned("a cat", "I have my cat at home") and not personas.mentioned("Oslo", "oslofjord")
    assert personas.mentioned("no pets", "No pets, sorry") and personas.recall({"x": "Thai", "y": "bus"}, "thai food") == 0.5
    with pytest.raises(TaskError, match="held-out persona item 2000 asked"):
        personas.held_out("test", 2000)


def test_evaluation_variant_and_arguments() -> None:
    variant = Elicitation(k=2, dialogues=4).evaluation().arena
    assert isinstance(variant, Elicitation) and variant.kwargs == {"k": 2, "dialogues": 1, "keep": 1, "split": "test"}
    transcripts, _ = play(variant, script, seeds=range(3))
    assert [t.outcome["item_key"] for t in transcripts] == [personas.held_out("test", s).key for s in range(3)]
    with pytest.raises(TaskError, match="keep \\(3\\) must be at most dialogues \\(2\\)"):
        Elicitation(dialogues=2, keep=3)
    with pytest.raises(TaskError, match="k must be an integer from 1 to 8, got 0"):
        Elicitation(k=0)
    with pytest.raises(TaskError, match=r"1 \+ dialogues \* \(2k \+ 1\) turns must be at most 64"):
        Elicitation(k=8, dialogues=8)


def test_scored_rows_use_the_responders_messages() -> None:
    [t], engine = play(Elicitation(k=1, dialogues=1), script)
    [request] = engine.scored
    [turn] = t.turns_of("responder")
    assert isinstance(request, ScoreRequest) and request.messages == turn.messages
    assert "Q: " in turn.messages[-1]["content"] and turn.messages[-1]["content"].startswith("My request:")


def test_replay_is_exact_whatever_order_rows_finish_in() -> None:
    """One row per engine call interleaves the dialogues differently from one batch; ask
    indices must not depend on it (the dialogues advance in lockstep rounds)."""
    from sparring.agents.engines.scripted import ScriptedEngine
    from sparring.arenas import Runner

    for batch in (1, 3, 64):
        transcripts = Runner({"default": ScriptedEngine(script, max_batch_size=batch)}).play(
            Elicitation(k=3, dialogues=3), [0, 1])
        for t in transcripts:
            result = replay(t)
            assert result.identical, (batch, result.differences)
        if batch == 1:
            one = [t.comparable() for t in transcripts]
    assert one == [t.comparable() for t in transcripts]  # the same transcripts whatever the batching


def _played() -> list[dict[str, Any]]:
    transcripts, _ = play(Elicitation(k=2, dialogues=2), script, seeds=range(3))
    return [t.comparable() for t in transcripts]


def test_golden_transcripts() -> None:
    """Regenerate after an intended change: SPARRING_UPDATE_GOLDEN=1 python -m pytest -q <this file>."""
    played = _played()
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    differences = diff(golden, played)
    assert not differences, "elicitation no longer plays its golden transcripts:\n" + "\n".join(differences)
    for data in golden:
        assert replay(Transcript.model_validate(data)).identical
    assert {r["value"] for t in golden for r in t["rewards"] if r["reward"] == "best_dialogue"} == {0.0, 1.0}
    assert any(t["turns"][i]["finish_reason"] == "scored" for t in golden for i in range(len(t["turns"])))
