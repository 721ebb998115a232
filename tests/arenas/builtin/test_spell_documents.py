"""spell-documents (SPELL's document mode): documents, splits, rewards by hand, curriculum, golden transcripts."""

from __future__ import annotations

import json
import math
import os
import random
import re
from pathlib import Path

import pytest

from sparring.agents.engines.base import GenerationRequest
from sparring.arenas import DocumentEval, SpellDocuments, TaskError, Transcript, check_arena, replay
from sparring.arenas.builtin import documents as docs
from sparring.arenas.builtin.spell_documents import gaussian, parse_question, success_rate
from sparring.arenas.curriculum import Curriculum
from sparring.arenas.replay import diff
from tests.arenas.task_scripts import play
from tests.helpers import seat_by_system_prompt

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "spell_documents.json"
SEATS = {"You write reading questions": "questioner", "You answer questions about a document": "responder",
         "You check answers": "verifier"}
_FIRST_FACT = re.compile(r"Document:\n(\w+ \w+) was born on \d+ \w+ (\d{4}) in (\w+)\.")


def _content(request: GenerationRequest) -> str:
    return request.messages[-1]["content"]


class Reader:
    """Questioner asks the first person's birth city (grounded, right); responder samples 0 and 1
    answer it, 2 and 3 answer 'Atlantis'; verifier votes by comparison, but its third vote on
    every answer is flipped (so majorities stand and one vote in three disagrees)."""

    def __init__(self) -> None:
        self.count = {"responder": 0, "verifier": 0}

    def __call__(self, request: GenerationRequest, index: int) -> str:
        seat = seat_by_system_prompt(request, SEATS)
        text = _content(request)
        if seat == "questioner":
            name, _, city = _FIRST_FACT.search(text).groups()  # type: ignore[union-attr]
            return f"Question: In which city was {name} born?\nAnswer: {city}"
        k = self.count[seat]
        self.count[seat] += 1
        if seat == "responder":
            name = re.search(r"Question: In which city was (\w+ \w+) born\?", text).group(1)  # type: ignore[union-attr]
            city = re.search(rf"{name} was born on \d+ \w+ \d{{4}} in (\w+)\.", text).group(1)  # type: ignore[union-attr]
            return f"It says so.\nAnswer: {city}" if k % 4 < 2 else "Answer: Atlantis"
        reference = re.search(r"Reference answer: (.+)", text).group(1)  # type: ignore[union-attr]
        proposed = re.search(r"Proposed answer: (.+)", text).group(1)  # type: ignore[union-attr]
        same = reference.lower() == proposed.lower()
        return f"Verdict: {'correct' if same != (k % 3 == 2) else 'incorrect'}"


# -- documents

def test_documents_grow_with_the_level_and_state_their_facts() -> None:
    words = [docs.make_document(random.Random(3), level).words for level in range(1, 8)]
    assert words == sorted(words) and words[0] < 60 and words[-1] > 2000  # a paragraph .. several thousand tokens
    document = docs.make_document(random.Random(5), 3)
    assert len(document.people) == 4 == len(document.text.split("\n\n"))
    person = document.people[2]
    assert document.solve(f"In which city was {person.name} born?") == person.city
    assert document.solve(f"How many {person.thing} did {person.name} keep?") == str(person.count)
    assert document.solve(f"What did {person.name} work as?") == person.job
    assert document.solve("In which city was Nobody Atall born?") is None  # no one named
    assert document.solve(f"In which year and city was {person.name} born?") is None  # two kinds of fact
    assert document.contains(person.city) and not document.contains("Atlantis")
    assert any(person.city in s for s in document.evidence(person.city))
    question, truth = docs.question_of(document)
    assert document.solve(question) == truth and document.contains(truth)
    assert docs.make_document(random.Random(5), 3) == document  # seeded, nothing else


def test_answers_match_on_the_stated_fact_not_on_a_list_of_guesses() -> None:
    assert docs.answer_matches("Oslo", "oslo") and docs.answer_matches("she was born in Oslo", "Oslo")
    assert not docs.answer_matches("Oslo Lisbon Kyoto Quito Porto Accra Lyon Riga", "Oslo")  # listing does not pay
    assert not docs.answer_matches("Osloville", "Oslo") and not docs.answer_matches("", "Oslo")


def test_held_out_items_are_distinct_fixed_and_never_training_documents() -> None:
    test = [docs.pool_item("test", (1, 2), i) for i in range(600)]
    assert len({item.key for item in test}) == 600  # >= 500 distinct test items
    assert all(docs.split_of_document(item.document.text) == "test" for item in test)
    validation = {docs.pool_item("validation", (1, 2), i).key for i in range(100)}
    assert not validation & {item.key for item in test}
    docs._POOLS.clear()
    assert docs.pool_item("test", (1, 2), 321).key == test[321].key  # same item asked out of order
    rng = random.Random(0)
    assert all(docs.split_of_document(docs.draw_document(rng, 2).text) == "train" for _ in range(200))
    with pytest.raises(TaskError, match=r"held-out document item 1000 asked; there are 1000 per split"):
        docs.pool_item("test", (1, 2), 1000)


def test_user_documents(tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    texts = [f"Paragraph one of document {i}. The bridge opened in {1900 + i}.\n\nParagraph two of {i}."
             for i in range(40)]
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    assert docs.load_documents(path) == tuple(texts)
    one = docs.user_document(docs.load_documents(path), random.Random(0), 1)
    assert "\n\n" not in one.text and one.solve("When did the bridge open?") is None  # cut to 1 paragraph; no truth

    def bridge(request: GenerationRequest, index: int) -> str:
        year = re.search(r"opened in (\d+)", _content(request)).group(1)  # type: ignore[union-attr]
        return {"questioner": f"Question: When did the bridge open?\nAnswer: {year}", "responder": f"Answer: {year}",
                "verifier": "Verdict: correct"}[seat_by_system_prompt(request, SEATS)]

    t = play(SpellDocuments(documents=str(path), samples=2, votes=1), bridge, seeds=[0])[0][0]
    assert t.outcome["grounded"] and t.outcome["truth"] is None and docs.split_of_document(
        next(x for x in texts if t.outcome["reference"] in x)) == "train"
    rewards = {r.reward for r in t.rewards}
    assert {"responder_verdict", "questioner_gaussian"} <= rewards and not rewards & {"responder_truth", "questioner_truth"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"txt": "oops"}\n', encoding="utf-8")
    with pytest.raises(TaskError, match=r"bad.jsonl:2: each line must be an object with a non-empty \"text\" string"):
        SpellDocuments(documents=str(bad))
    with pytest.raises(TaskError, match=r"documents file .*missing.jsonl does not exist"):
        SpellDocuments(documents=str(tmp_path / "missing.jsonl"))


# -- the arena

def test_passes_the_conformance_check() -> None:
    assert check_arena(SpellDocuments(samples=2, votes=3)).warnings == []
    assert check_arena(DocumentEval()).warnings == []


def test_rewards_by_hand() -> None:
    transcripts, _ = play(SpellDocuments(samples=4, votes=3, level=2), Reader(), seeds=[7])
    t = transcripts[0]
    o = t.outcome
    assert o["valid_question"] and o["grounded"] and o["reference_correct"] and o["level"] == 2
    assert o["answers_correct"] == [True, True, False, False] and o["judged"] == [True, True, False, False]
    by = {}
    for r in t.rewards:
        by.setdefault((r.reward, r.role), []).append(r.value)
    assert by[("responder_verdict", "responder")] == [1.0, 1.0, 0.0, 0.0] == by[("responder_truth", "responder")]
    assert by[("questioner_gaussian", "questioner")] == [1.0] == by[("questioner_truth", "questioner")]  # p = 1/2
    assert by[("verifier_majority", "verifier")] == [1.0, 1.0, 0.0] * 4 == by[("verifier_truth", "verifier")]
    assert success_rate.fn(t) == 0.5
    assert math.isclose(gaussian(1.0, 0.2), math.exp(-1 / (8 * 0.04)))
    # the verifier saw the sentence stating the reference
    verifier_prompt = next(u for u in t.turns if u.role == "verifier").messages[-1]["content"]
    assert f"in {o['reference']}." in verifier_prompt.split("Document sentences stating the reference: ")[1]


def test_the_questioner_reads_a_passage_the_responder_the_whole_document() -> None:
    transcripts, _ = play(SpellDocuments(level=3, samples=2, votes=1), Reader(), seeds=range(4))
    for t in transcripts:
        asked = t.turns_of("questioner")[0].messages[-1]["content"]
        answered = t.turns_of("responder")[0].messages[-1]["content"]
        assert asked.count(" was born on ") == 1 and answered.count(" was born on ") == 4
        passage = asked.split("Document:\n")[1].split("\n\nWrite one question")[0]
        assert passage in answered and t.outcome["passage_words"] == len(passage.split())
    assert len({t.turns_of("questioner")[0].messages[-1]["content"].split(" was born")[0] for t in transcripts}) > 1
    whole = play(SpellDocuments(level=3, samples=2, votes=1, shown=0), Reader(), seeds=[0])[0][0]
    assert whole.turns_of("questioner")[0].messages[-1]["content"].count(" was born on ") == 4


def test_ungrounded_reference_earns_the_questioner_nothing() -> None:
    class Liar(Reader):
        def __call__(self, request: GenerationRequest, index: int) -> str:
            if seat_by_system_prompt(request, SEATS) == "questioner":
                name = _FIRST_FACT.search(_content(request)).group(1)  # type: ignore[union-attr]
                return f"Question: In which city was {name} born?\nAnswer: Atlantis"
            return super().__call__(request, index)

    t = play(SpellDocuments(samples=4, votes=1), Liar(), seeds=[1])[0][0]
    scores = {r.reward: r.value for r in t.rewards if r.role == "questioner"}
    assert t.outcome["grounded"] is False and scores == {"questioner_gaussian": 0.0, "questioner_truth": 0.0}


def test_parse_question_and_bad_arguments() -> None:
    assert parse_question("Question: In which year was X born?\nAnswer: 1950") == {
        "question": "In which year was X born?", "answer": "1950"}
    with pytest.raises(ValueError, match="expected a line 'Answer: <the reference answer>'"):
        parse_question("Question: In which year was X born?")
    with pytest.raises(TaskError, match=r"level must be an integer in 1..7 \(level L has 2\*\*\(L-1\) paragraphs\), got 9"):
        SpellDocuments(level=9)
    with pytest.raises(TaskError, match="max_level must be >= level"):
        SpellDocuments(level=3, max_level=2)
    with pytest.raises(TaskError, match=r"samples \* \(1 \+ votes\) \+ 1 \+ retries must be at most 64"):
        SpellDocuments(samples=16, votes=5)
    with pytest.raises(TaskError, match="split must be test or validation"):
        DocumentEval(split="train")


def test_curriculum_grows_the_level_at_the_threshold_up_to_the_highest() -> None:
    arena = SpellDocuments(level=1, max_level=2, grow_at=0.5)
    curriculum = arena.curriculum()
    assert isinstance(curriculum, Curriculum) and curriculum.level(arena) == 1
    half = play(arena, Reader(), seeds=[3])[0]  # judged success 1/2
    assert curriculum.next_level(1, half) == (2, 0.5)
    assert curriculum.next_level(2, half) == (2, 0.5)  # the highest level
    assert SpellDocuments(grow_at=0.6).curriculum().next_level(1, half) == (1, 0.5)
    assert curriculum.next_level(1, []) == (1, None)
    grown = curriculum.at(arena, 2)
    assert grown.kwargs["level"] == 2 and grown.spec().kwargs["level"] == 2 and curriculum.at(arena, 1) is arena
    assert play(grown, Reader(), seeds=[3])[0][0].outcome["level"] == 2


def test_document_eval_plays_item_seed_of_the_split() -> None:
    class Right:
        def __call__(self, request: GenerationRequest, index: int) -> str:
            return "Answer: " + (_FIRST_FACT.search(_content(request)).group(3))  # type: ignore[union-attr]

    transcripts, _ = play(DocumentEval(levels=[1, 1]), Right(), seeds=range(6))
    keys = [t.outcome["document_key"] for t in transcripts]
    assert keys == [docs.pool_item("test", (1, 1), i).key for i in range(6)]
    assert DocumentEval().distinct_items() == 1000


# -- golden transcripts

def golden_script(request: GenerationRequest, index: int) -> str:
    """Scripted replies by row seed (batching-independent), per seat."""
    seat = seat_by_system_prompt(request, SEATS)
    if seat == "questioner":
        found = _FIRST_FACT.search(_content(request))
        choices = ["I cannot think of one.", f"Question: In which year was {found.group(1)} born?\nAnswer: {found.group(2)}",  # type: ignore[union-attr]
                   "Question: What colour is the sky in the story?\nAnswer: blue"]
    elif seat == "responder":
        found = _FIRST_FACT.search(_content(request))
        choices = [f"Answer: {found.group(2)}", "Answer: 1850", "no idea"]  # type: ignore[union-attr]
    else:
        choices = ["Verdict: correct", "Verdict: incorrect", "hmm"]
    return choices[request.seed % len(choices)]


def test_golden_transcripts() -> None:
    """Regenerate after an intended change: SPARRING_UPDATE_GOLDEN=1 python -m pytest -q <this file>."""
    transcripts, _ = play(SpellDocuments(samples=2, votes=3, level=2, retries=0), golden_script, seeds=range(8))
    played = [t.comparable() for t in transcripts]
    if os.environ.get("SPARRING_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(played, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    differences = diff(golden, played)
    assert not differences, "spell-documents no longer plays its golden transcripts:\n" + "\n".join(differences)
    for data in golden:
        assert replay(Transcript.model_validate(data)).identical
    outcomes = [t["outcome"] for t in golden]
    assert any(not o["valid_question"] for o in outcomes) and any(o.get("grounded") for o in outcomes)
    assert any(o.get("valid_question") and not o.get("grounded") for o in outcomes)
