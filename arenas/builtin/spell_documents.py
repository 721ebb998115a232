"""SPELL's document mode: question, answer and verify over a document (``sparring/spell-documents-v1``).

Seats and what each sees:
    questioner: a passage of the match's document: ``shown`` consecutive paragraphs (one
        by default; 0: the whole document) drawn with the match seed from a training-split
        synthetic document at the match's ``level``, or a user document cut to that level
        (see :mod:`sparring.arenas.builtin.documents`); writes ``Question: <question>`` and
        ``Answer: <reference answer>`` grounded in the passage.
        A malformed reply is retried ``retries`` times with the reason; after that the
        match ends without a question.
    responder: the whole document (the paragraphs the questioner did not read are
        distractors) and the question, never the reference; answers ``samples`` times
        independently, each ending with ``Answer: <answer>``.
    verifier: the question, the questioner's reference answer, one proposed answer and,
        with ``evidence`` (default), the sentences of the document that state the
        reference (at most three; "none" when the reference is not in the document), so it
        checks the answer against the document; judges each answer ``votes`` times
        (``Verdict: correct|incorrect``); an answer is judged right when most votes say so.

Rewards (label-free ones first; none reads a programmatic answer):
    ``responder_verdict`` (per responder turn, in [0, 1]): 1 when the verifier's majority
        says the answer is right.
    ``questioner_gaussian`` (per match, in [-1, 1]): with ``p`` the share of the
        responder's answers judged right, ``r = exp(-(p - 1/2)^2 / (2 sigma^2))`` (1 when half
        are right, ``exp(-1/(8 sigma^2))`` at p = 0 or 1: 0.04 with sigma = 0.2); 0 when the
        reference answer is not stated in the passage the questioner read (grounding, a
        whole-word substring check that needs no label); -1 without a valid question
        (format penalty).
    ``verifier_majority`` (per verifier turn, in [0, 1]): 1 when the vote agrees with the
        majority of its answer's votes (self-consistency).
Programmatic truth, for measurement only: a question about one person's fact in a
synthetic document has a truth (:meth:`Document.solve`); twins ``responder_truth``,
``questioner_truth`` (``p`` = share truly right; 0 when the reference is not the truth)
and ``verifier_truth`` (the vote matches whether the answer is truly right) abstain when
it is unknown (user documents, questions the reader cannot resolve).

Curriculum: document length grows as the responder succeeds. After each training
iteration the mean ``responder/success_rate`` (share of answers judged right) decides: at
``grow_at`` or above, the next iteration plays ``level + 1`` (twice the paragraphs), up
to ``max_level`` (:meth:`SpellDocuments.curriculum`; the loop's generic part is
:mod:`sparring.runs.training.curriculum`; the level is in each transcript's spec and in
the checkpoint, so resume is exact).

Monitors: ``responder/success_rate``, ``questioner/valid_rate``, ``questioner/grounded_rate``
(reference stated in the passage read), ``questioner/reference_truth_rate`` (reference equals
the truth, where known), ``truth_known_rate``, ``document/words``. Evaluation: held-out
synthetic documents with known question/answer pairs at levels ``eval_levels`` (fixed, so
every iteration and arm is measured on the same items whatever the curriculum reached),
greedy, ``responder_accuracy`` (``sparring/document-eval-v1``, 1,000 distinct items per
split).

Paper: Yang, Shen, Li, Chen, Wan, Yan, Quan, Huang, "SPELL: Self-Play Reinforcement
Learning for evolving Long-Context Language Models" (2025). As there: three roles (one
model or one adapter each, as the recipe binds them), the questioner writes a question
with a reference answer from a subset of the context, the responder answers with all of
it in context (the rest as distractors) several times, the verifier judges each answer against the reference several
times and the majority decides, the questioner's reward peaks when the responder is right
about half the time (Gaussian-shaped), and document length grows during training.
Departures: documents are synthetic biographies (or a user JSONL), not the paper's corpus
of long documents; one document per match whose paragraphs stand for the paper's several
documents (the questioner reads ``shown`` of them, the responder all); the curriculum grows
length on the responder's judged success instead of on a fixed schedule; the verifier
sees the evidence sentences (``evidence = false`` gives the paper's verifier, which sees
question, reference and answer only); no history memory of earlier questions (matches
are independent so replay is exact), and no filter dropping questions answerable without
the document; the responder's reward is the verifier's verdict alone (no rule-based
exact-match term); ``sigma`` is an argument, not the paper's constants.

Versions: v1, first version.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from sparring.agents import builtin_roles, parsers
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.document_eval import DOCUMENT_EVAL_METRICS, DocumentEval, document_item
from sparring.arenas.builtin.documents import (
    Document,
    answer_matches,
    check_level,
    document_key,
    draw_document,
    item_prompt,
    load_documents,
    states,
    user_document,
)
from sparring.arenas.curriculum import Curriculum
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import TaskError
from sparring.arenas.tasks.answers import PARSERS
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric


def parse_question(text: str) -> dict[str, str]:
    """A ``Question:`` line (8 to 300 characters) and an ``Answer:`` line (1 to 80)."""
    question = parsers.field_value("Question")(text)
    try:
        answer = parsers.field_value("Answer")(text)
    except parsers.ParseError as err:
        raise parsers.ParseError("expected a line 'Answer: <the reference answer>' after the question") from err
    if not 8 <= len(question) <= 300:
        raise parsers.ParseError(f"the question must be 8 to 300 characters long, got {len(question)}")
    if not 1 <= len(answer) <= 80:
        raise parsers.ParseError(f"the answer must be 1 to 80 characters long, got {len(answer)}")
    return {"question": question, "answer": answer}


parsers.with_examples(parse_question, "Question: In which city was Mara Quint born?\nAnswer: Oslo")


def gaussian(p: float, sigma: float) -> float:
    """``exp(-(p - 1/2)^2 / (2 sigma^2))``: 1 when half the answers are right."""
    return math.exp(-((p - 0.5) ** 2) / (2 * sigma**2))


# -- rewards (read from the outcome)

def _valid(transcript: Transcript) -> dict | None:
    return transcript.outcome if transcript.outcome and transcript.outcome.get("valid_question") else None


def _turns(transcript: Transcript, role: str) -> list[int]:
    return [u.index for u in transcript.turns if u.role == role]


@reward("responder_verdict", bounds=(0.0, 1.0))
def responder_verdict(transcript: Transcript) -> list[Score] | None:
    """1 per answer the verifier's majority judged right, else 0."""
    o = _valid(transcript)
    if o is None:
        return None
    return [Score("responder", float(ok), f"{sum(1 for v in votes if v)}/{len(votes)} votes say right", turn=i)
            for i, ok, votes in zip(_turns(transcript, "responder"), o["judged"], o["votes"], strict=True)]


@reward("responder_truth", bounds=(0.0, 1.0))
def responder_truth(transcript: Transcript) -> list[Score] | None:
    """1 per answer that states the programmatic truth (abstains when it is unknown)."""
    o = _valid(transcript)
    if o is None or o["truth"] is None:
        return None
    return [Score("responder", float(ok), f"answer {a!r} vs truth {o['truth']!r}", turn=i)
            for i, a, ok in zip(_turns(transcript, "responder"), o["answers"], o["answers_correct"], strict=True)]


def _questioner(transcript: Transcript, right: list[bool] | None, grounded: bool, why: str) -> list[Score] | None:
    o = transcript.outcome or {}
    if not o.get("valid_question"):
        return [Score("questioner", -1.0, "no valid question after retries (format penalty)")]
    if right is None:
        return None
    if not grounded:
        return [Score("questioner", 0.0, why)]
    p = sum(right) / len(right)
    return [Score("questioner", gaussian(p, o["sigma"]), f"{sum(right)}/{len(right)} right: p={p:.2f}")]


@reward("questioner_gaussian", bounds=(-1.0, 1.0))
def questioner_gaussian(transcript: Transcript) -> list[Score] | None:
    """Gaussian of the judged success rate around 1/2; 0 for an ungrounded reference; -1 without a question."""
    o = transcript.outcome or {}
    return _questioner(transcript, o.get("judged"), bool(o.get("grounded")),
                       f"reference {o.get('reference')!r} is not stated in the passage read")


@reward("questioner_truth", bounds=(-1.0, 1.0))
def questioner_truth(transcript: Transcript) -> list[Score] | None:
    """``questioner_gaussian`` on the true success rate; 0 when the reference is not the truth."""
    o = transcript.outcome or {}
    if o.get("valid_question") and o.get("truth") is None:
        return None
    return _questioner(transcript, o.get("answers_correct"), bool(o.get("reference_correct")),
                       f"reference {o.get('reference')!r} is not the truth {o.get('truth')!r}")


def _verifier(transcript: Transcript, target: str) -> list[Score] | None:
    o = _valid(transcript)
    if o is None or (target == "answers_correct" and o["truth"] is None):
        return None
    scores = []
    turns = iter(_turns(transcript, "verifier"))
    for votes, goal in zip(o["votes"], o[target], strict=True):
        for v in votes:
            scores.append(Score("verifier", float(v is goal), f"vote {v} vs {target.replace('_', ' ')} {goal}",
                                turn=next(turns)))
    return scores


@reward("verifier_majority", bounds=(0.0, 1.0))
def verifier_majority(transcript: Transcript) -> list[Score] | None:
    """1 per vote that agrees with the majority of its answer's votes."""
    return _verifier(transcript, "judged")


@reward("verifier_truth", bounds=(0.0, 1.0))
def verifier_truth(transcript: Transcript) -> list[Score] | None:
    """1 per vote that matches whether the answer is truly right (abstains when unknown)."""
    return _verifier(transcript, "answers_correct")


SPELL_REWARDS: tuple[Reward, ...] = (responder_verdict, responder_truth, questioner_gaussian, questioner_truth,
                                     verifier_majority, verifier_truth)


# -- monitors

@metric("responder/success_rate", per_match=True)
def success_rate(transcript: Transcript) -> float | None:
    """Share of a match's answers the verifier's majority judged right (the curriculum reads it)."""
    o = _valid(transcript)
    return sum(o["judged"]) / len(o["judged"]) if o and o["judged"] else None


@metric("questioner/valid_rate", per_match=True)
def valid_rate(transcript: Transcript) -> bool | None:
    """Matches in which the questioner wrote a valid question."""
    return bool((transcript.outcome or {}).get("valid_question")) if transcript.outcome is not None else None


@metric("questioner/grounded_rate", per_match=True)
def grounded_rate(transcript: Transcript) -> bool | None:
    """Valid questions whose reference answer is stated in the passage the questioner read."""
    o = _valid(transcript)
    return bool(o["grounded"]) if o else None


@metric("questioner/reference_truth_rate", per_match=True)
def reference_truth_rate(transcript: Transcript) -> bool | None:
    """Valid questions with a known truth whose reference states it."""
    o = _valid(transcript)
    return bool(o["reference_correct"]) if o and o["truth"] is not None else None


@metric("truth_known_rate", per_match=True)
def truth_known_rate(transcript: Transcript) -> bool | None:
    """Valid questions whose truth the document reader could resolve."""
    o = _valid(transcript)
    return o["truth"] is not None if o else None


@metric("document/words", per_match=True)
def document_words(transcript: Transcript) -> float | None:
    """Words of the document a match played (grows with the curriculum)."""
    o = transcript.outcome or {}
    return float(o["words"]) if "words" in o else None


SPELL_MONITORS: tuple[Metric, ...] = (success_rate, valid_rate, grounded_rate, reference_truth_rate, truth_known_rate,
                                      document_words)


def questioner_role() -> Role:
    """Reads a document and writes a question with its reference answer."""
    return Role(
        name="questioner",
        system_prompt=("You write reading questions. Reply with exactly two lines:\n"
                       "Question: <a question answered by the document>\nAnswer: <the short answer, as in the document>"),
        parser=parse_question,
        sampling=SamplingParams(max_new_tokens=64, temperature=1.0),
    )


def responder_role() -> Role:
    """Answers a question about a document, ending with ``Answer: <answer>``."""
    return Role(
        name="responder",
        system_prompt="You answer questions about a document. End with 'Answer: <short answer>'.",
        parser=PARSERS["text"],
        sampling=SamplingParams(max_new_tokens=48, temperature=1.0),
    )


class SpellDocuments(Arena):
    """Questioner asks about a document, responder answers n times, verifier judges each.

    Args:
        documents: ``"synthetic"`` (seeded biographies) or a ``.jsonl`` path of ``{"text": ...}`` lines.
        level: Document level played (level L: 2**(L-1) paragraphs); the curriculum starts here.
        max_level: The highest level the curriculum reaches.
        grow_at: Judged success rate of an iteration at which the level grows.
        samples: Responder answers per question (n).
        votes: Verifier judgements per answer (majority decides).
        evidence: Whether the verifier sees the document sentences stating the reference.
        shown: Consecutive paragraphs of the document the questioner reads (0: all of them).
        sigma: Width of the questioner's Gaussian reward around p = 1/2.
        retries: Extra attempts the questioner gets after a malformed reply.
        eval_levels: Inclusive ``[low, high]`` levels of the held-out documents.
    """

    id = "sparring/spell-documents-v1"
    short_name = "spell-documents"
    roles = ("questioner", "responder", "verifier")
    reward_bounds = (-1.0, 1.0)
    max_turns = 64
    default_rewards = {"questioner": "questioner_gaussian", "responder": "responder_verdict",
                       "verifier": "verifier_majority"}
    examples = {"questioner": ["Question: In which city was Mara Quint born?\nAnswer: Oslo"],
                "responder": ["She was born in Oslo.\nAnswer: Oslo", "Answer: 1962"],
                "verifier": ["Verdict: correct", "Verdict: incorrect"]}

    def __init__(self, documents: str = "synthetic", level: int = 1, max_level: int = 4, grow_at: float = 0.6,
                 samples: int = 4, votes: int = 3, evidence: bool = True, shown: int = 1, sigma: float = 0.2,
                 retries: int = 1, eval_levels: Sequence[int] = (1, 3)) -> None:
        super().__init__()
        self.level = check_level(level)
        self.max_level = check_level(max_level, "max_level")
        if self.max_level < self.level:
            raise TaskError(f"max_level must be >= level ({level}), got {max_level}")
        self.texts = None if documents == "synthetic" else load_documents(documents)
        if isinstance(grow_at, bool) or not isinstance(grow_at, int | float) or not 0.0 <= grow_at <= 1.0:
            raise TaskError(f"grow_at must be a success rate in [0, 1], got {grow_at!r}")
        for name, value, low, high in (("samples", samples, 1, 16), ("votes", votes, 1, 5), ("retries", retries, 0, 3),
                                       ("shown", shown, 0, 64)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise TaskError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        if 1 + retries + samples * (1 + votes) > self.max_turns:
            raise TaskError(f"samples * (1 + votes) + 1 + retries must be at most {self.max_turns}, "
                            f"got {1 + retries + samples * (1 + votes)}; lower samples or votes")
        if isinstance(sigma, bool) or not isinstance(sigma, int | float) or not 0.05 <= sigma <= 1.0:
            raise TaskError(f"sigma must be a number in [0.05, 1], got {sigma!r}")
        self.eval_levels = DocumentEval(levels=eval_levels).levels
        self.grow_at, self.samples, self.votes, self.evidence = float(grow_at), samples, votes, bool(evidence)
        self.sigma, self.retries, self.shown = float(sigma), retries, shown

    def default_roles(self) -> dict[str, Role]:
        """Questioner, responder and the built-in verifier."""
        return {"questioner": questioner_role(), "responder": responder_role(), "verifier": builtin_roles.verifier()}

    def rewards(self) -> Sequence[Reward]:
        """Verdict, Gaussian and majority rewards, and their programmatic-truth twins."""
        return SPELL_REWARDS

    def monitors(self) -> Sequence[Metric]:
        """Judged success, valid and grounded questions, reference truth, document length."""
        return SPELL_MONITORS

    def evaluation(self) -> Evaluation:
        """Held-out synthetic documents at ``eval_levels``, greedy: ``responder_accuracy``."""
        return Evaluation(arena=DocumentEval(levels=list(self.eval_levels)), metrics=DOCUMENT_EVAL_METRICS,
                          item=document_item)

    def curriculum(self) -> Curriculum:
        """``level`` grows by one after an iteration whose judged success rate reaches ``grow_at``."""
        return Curriculum("level", self.max_level, success_rate, self.grow_at)

    def document(self, match: Match) -> Document:
        """The match's training-split document at this arena's level."""
        if self.texts is None:
            return draw_document(match.rng, self.level, "train")
        return user_document(self.texts, match.rng, self.level, "train")

    async def play(self, match: Match) -> Outcome:
        """Question (with retries), n answers, ``votes`` verdicts per answer."""
        document = self.document(match)
        passage = self.passage(document, match)
        prompt = (f"Document:\n{passage}\n\nWrite one question whose short answer is stated in the document, "
                  "and that answer. Reply with two lines: 'Question: ...' and 'Answer: ...'.")
        question = await match.ask("questioner", prompt)
        for _ in range(self.retries):
            if question.ok:
                break
            question = await match.ask("questioner", f"{prompt}\nYour last reply was invalid: {question.parse_error}.")
        values: dict[str, Any] = {"level": self.level, "words": document.words, "passage_words": len(passage.split()),
                                  "document_key": document_key(document.text), "valid_question": question.ok,
                                  "sigma": self.sigma}
        if not question.ok:
            return Outcome(values, f"level {self.level}: no valid question")
        q, reference = question.parsed["question"], question.parsed["answer"]
        answers: list[Reply] = await match.ask("responder", item_prompt(document.text, q), n=self.samples)
        votes: list[list[Reply]] = await match.gather(
            match.ask("verifier", self.verify_prompt(document, q, reference, a), n=self.votes) for a in answers)
        truth = document.solve(q)
        values.update(
            question=q, reference=reference, grounded=states(passage, reference), truth=truth,
            reference_correct=truth is not None and answer_matches(reference, truth),
            answers=[a.parsed if a.ok else None for a in answers],
            answers_correct=[a.ok and truth is not None and answer_matches(a.parsed, truth) for a in answers],
            votes=[[v.parsed if v.ok else None for v in vs] for vs in votes],
            judged=[2 * sum(1 for v in vs if v.ok and v.parsed) > len(vs) for vs in votes],
        )
        summary = (f"level {self.level}: {q} -> {reference!r} ({'grounded' if values['grounded'] else 'not in the document'}); "
                   f"{sum(values['judged'])}/{len(answers)} judged right, {sum(values['answers_correct'])} truly right")
        return Outcome(values, summary)

    def passage(self, document: Document, match: Match) -> str:
        """What the questioner reads: ``shown`` consecutive paragraphs drawn with the match seed
        (the whole document when ``shown`` is 0 or covers it)."""
        parts = document.text.split("\n\n")
        if self.shown == 0 or self.shown >= len(parts):
            return document.text
        start = match.rng.randrange(len(parts) - self.shown + 1)
        return "\n\n".join(parts[start:start + self.shown])

    def verify_prompt(self, document: Document, question: str, reference: str, answer: Reply) -> str:
        """What the verifier sees: question, reference, one answer, and (``evidence``) the sentences stating the reference."""
        proposed = answer.parsed if answer.ok else answer.text.strip()[:200] or "(no answer)"
        shown = ""
        if self.evidence:
            shown = "Document sentences stating the reference: " + (" ".join(document.evidence(reference)) or "none") + "\n"
        return (f"Question: {question}\nReference answer: {reference}\n{shown}Proposed answer: {proposed}\n"
                "Is the proposed answer correct?")

    def reference_reply(self, transcript: Any, turn: Any) -> str | None:
        """The truth as a responder reply, for SPIN / SFT controls (``None`` where unknown or another seat)."""
        o = transcript.outcome or {}
        return f"Answer: {o['truth']}" if turn.role == "responder" and o.get("valid_question") and o.get("truth") else None
