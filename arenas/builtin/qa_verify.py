"""Question / answer / verify self-play on generated arithmetic (``sparring/qa-verify-v1``).

Seats and what each sees:
    questioner: a topic (operation and number of digits) and a format example drawn from
        the match seed. Writes ``Question: ...`` and ``Answer: <reference>``. A malformed
        question is retried once with the reason; a second failure ends the match.
    solver: only the question. Answers ``group_size`` times independently.
    verifier: the question, the questioner's reference answer and one solver answer (never
        the other answers); replies ``Verdict: correct|incorrect``.

Programmatic truth: the arithmetic expression in the question is evaluated exactly, so
every reward is also logged against the truth (the verifier never sees it).

Rewards (all in [-1, 1]):
    ``solver_verdict``: per solver turn, 1 if the verifier judged it correct else 0.
    ``questioner_learnability``: 1 - |2p - 1| where p is the fraction of answers judged
        correct: highest when the solver is right about half the time, 0 when always or
        never; -1 when no valid question was produced (format penalty).
    ``questioner_checked`` (the questioner's default): the same, but 0 when the reference
        answer is not the programmatic truth (see below).
    ``verifier_majority``: per verdict, 1 if it agrees with the majority of this match's
        verdicts, else 0.
    ``*_truth`` variants of the three measure the same against the programmatic truth.

Can the questioner game the verdict? The verifier judges answers against the
questioner's own reference, so a wrong reference could make a question look "half right"
and raise ``questioner_learnability``. Measured with ``python benchmarks/questioner_gaming.py
--iterations 3 --out out/gaming --resume`` (``docs/questioner_gaming.json``: the questioner
trained alone for 3 iterations x 32 matches on the embedded model, truth logged): the
untrained questioner's reference is wrong for 95% of its valid questions; wrong-reference
questions earned 0.08 more verdict-learnability than right ones at the first iteration,
but the sign flipped in the next two (-0.43, -0.02), and the wrong-reference rate *fell*
under both rewards (0.95 to 0.73 with ``questioner_learnability``, 0.95 to 0.76 with
``questioner_checked``). No gaming was observed in that budget; the default questioner
reward is ``questioner_checked`` anyway, which pays 0 for a wrong reference, so the
incentive cannot arise however long a run trains.

Reproduces the questioner/solver/verifier loop of SPELL-style self-play on a verifiable
task. Simplified: one operation per question, integer answers only.

Versions: v1, first version (``questioner_checked`` and the declared evaluation, monitors
and default rewards were added without changing play; the id stays v1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sparring.agents import builtin_roles, parsers
from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.arithmetic import evaluate, find_expression
from sparring.arenas.builtin.qa_eval import QAEval, expression_key
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.match import Match, Reply
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric

_OPS = {"+": "addition", "-": "subtraction", "*": "multiplication"}


def parse_question(text: str) -> dict[str, Any]:
    """Parse a questioner reply into question, expression, reference answer and truth."""
    question = parsers.field_value("Question")(text)
    expression = find_expression(question)
    if expression is None:
        raise parsers.ParseError("the question must contain an arithmetic expression like '12 + 34'")
    try:
        truth = evaluate(expression)
    except ValueError as exc:
        raise parsers.ParseError(str(exc)) from exc
    try:
        reference = parsers.last_number(parsers.field_value("Answer")(text))
    except parsers.ParseError as exc:
        raise parsers.ParseError("expected a line 'Answer: <number>' with the reference answer") from exc
    return {"question": question, "expression": expression, "reference": reference, "truth": truth}


# -- rewards (read from the outcome; each model-judged one has a programmatic-truth twin,
# so a run can tell whether the verifier is lenient: verdict reward up, truth reward flat)

def learnability(p: float) -> float:
    """1 - |2p - 1|: 1 when half the answers are right, 0 when all or none are."""
    return 1.0 - abs(2.0 * p - 1.0)


def _turns(transcript: Transcript, role: str) -> list[int]:
    return [turn.index for turn in transcript.turns if turn.role == role]


def _outcome(transcript: Transcript) -> dict | None:
    return transcript.outcome if transcript.outcome and transcript.outcome.get("valid_question") else None


@reward("solver_verdict", bounds=(0.0, 1.0))
def solver_verdict(transcript: Transcript) -> list[Score] | None:
    """1 per solver answer the verifier judged correct, else 0."""
    outcome = _outcome(transcript)
    if outcome is None:
        return None
    return [
        Score("solver", 1.0 if v else 0.0, f"verifier said {'correct' if v else 'incorrect' if v is False else 'nothing parseable'}", turn=i)
        for i, v in zip(_turns(transcript, "solver"), outcome["verdicts"], strict=True)
    ]


@reward("solver_truth", bounds=(0.0, 1.0))
def solver_truth(transcript: Transcript) -> list[Score] | None:
    """1 per solver answer equal to the true value of the expression, else 0."""
    outcome = _outcome(transcript)
    if outcome is None:
        return None
    return [
        Score("solver", 1.0 if ok else 0.0, f"answer {a!r} vs truth {outcome['truth']}", turn=i)
        for i, a, ok in zip(_turns(transcript, "solver"), outcome["answers"], outcome["answers_correct"], strict=True)
    ]


def _questioner(transcript: Transcript, judged: list[bool]) -> list[Score]:
    if not transcript.outcome or not transcript.outcome.get("valid_question"):
        return [Score("questioner", -1.0, "no valid question after retries (format penalty)")]
    p = sum(judged) / len(judged)
    return [Score("questioner", learnability(p), f"{sum(judged)}/{len(judged)} right: p={p:.2f}")]


@reward("questioner_learnability", bounds=(-1.0, 1.0))
def questioner_learnability(transcript: Transcript) -> list[Score] | None:
    """Learnability of the question as judged by the verifier."""
    outcome = transcript.outcome or {}
    return _questioner(transcript, [bool(v) for v in outcome.get("verdicts", [])])


@reward("questioner_truth", bounds=(-1.0, 1.0))
def questioner_truth(transcript: Transcript) -> list[Score] | None:
    """Learnability against the truth; 0 when the reference answer itself is wrong."""
    outcome = transcript.outcome or {}
    scores = _questioner(transcript, list(outcome.get("answers_correct", [])))
    if outcome.get("valid_question") and not outcome.get("reference_correct"):
        return [Score("questioner", 0.0, f"reference {outcome['reference']} != truth {outcome['truth']}")]
    return scores


@reward("questioner_checked", bounds=(-1.0, 1.0))
def questioner_checked(transcript: Transcript) -> list[Score] | None:
    """Learnability as judged by the verifier, but 0 when the reference answer is wrong.

    The verifier compares answers with the questioner's own reference, so a questioner
    can make the solver look right half the time by writing wrong references; checking
    the reference against the logged truth removes that gain (see the module docs).
    """
    outcome = transcript.outcome or {}
    if outcome.get("valid_question") and not outcome.get("reference_correct"):
        return [Score("questioner", 0.0, f"reference {outcome['reference']} != truth {outcome['truth']}")]
    return _questioner(transcript, [bool(v) for v in outcome.get("verdicts", [])])


def _majority(verdicts: list[bool | None]) -> bool:
    yes = sum(1 for v in verdicts if v)
    return yes * 2 > len(verdicts)


@reward("verifier_majority", bounds=(0.0, 1.0))
def verifier_majority(transcript: Transcript) -> list[Score] | None:
    """1 per verdict that agrees with the majority of this match's verdicts."""
    outcome = _outcome(transcript)
    if outcome is None:
        return None
    major = _majority(outcome["verdicts"])
    return [
        Score("verifier", 1.0 if v is major else 0.0, f"verdict {v} vs majority {major}", turn=i)
        for i, v in zip(_turns(transcript, "verifier"), outcome["verdicts"], strict=True)
    ]


@reward("verifier_truth", bounds=(0.0, 1.0))
def verifier_truth(transcript: Transcript) -> list[Score] | None:
    """1 per verdict that matches whether the answer is truly correct."""
    outcome = _outcome(transcript)
    if outcome is None:
        return None
    return [
        Score("verifier", 1.0 if v is ok else 0.0, f"verdict {v} vs truly {'right' if ok else 'wrong'}", turn=i)
        for i, v, ok in zip(_turns(transcript, "verifier"), outcome["verdicts"], outcome["answers_correct"], strict=True)
    ]


QA_VERIFY_REWARDS: tuple[Reward, ...] = (
    solver_verdict, solver_truth, questioner_learnability, questioner_checked, questioner_truth,
    verifier_majority, verifier_truth,
)


# -- monitors (logged every training iteration)

@metric("questioner/difficulty")
def questioner_difficulty(transcripts: list[Transcript]) -> dict[str, float] | None:
    """Histogram of the fraction of answers truly right per question."""
    bins = [0, 0, 0, 0, 0]
    for transcript in transcripts:
        right = (transcript.outcome or {}).get("answers_correct")
        if right:
            bins[min(4, int(sum(right) / len(right) * 5))] += 1
    total = sum(bins)
    labels = ["0-20", "20-40", "40-60", "60-80", "80-100"]
    return {label: b / total for label, b in zip(labels, bins, strict=True)} if total else None


@metric("questioner/reference_wrong_rate", per_match=True)
def reference_wrong_rate(transcript: Transcript) -> bool | None:
    """Valid questions whose reference answer is not the truth (the gaming measurement)."""
    outcome = transcript.outcome or {}
    return not outcome["reference_correct"] if outcome.get("valid_question") else None


@metric("questioner/learnability_gain_from_wrong_references")
def wrong_reference_gain(transcripts: list[Transcript]) -> float | None:
    """Mean verdict-learnability of wrong-reference questions minus right-reference ones
    (positive: the verdict reward pays for wrong references)."""
    groups: dict[bool, list[float]] = {True: [], False: []}
    for transcript in transcripts:
        outcome = transcript.outcome or {}
        if outcome.get("valid_question") and outcome.get("verdicts"):
            p = sum(bool(v) for v in outcome["verdicts"]) / len(outcome["verdicts"])
            groups[bool(outcome["reference_correct"])].append(learnability(p))
    if not groups[True] or not groups[False]:
        return None
    return sum(groups[False]) / len(groups[False]) - sum(groups[True]) / len(groups[True])


class QuestionAnswerVerify(Arena):
    """Questioner writes an arithmetic question, solver answers n times, verifier judges each.

    Args:
        digits: Digits per operand in the topic the questioner is given (difficulty).
        ops: Operations the topic is drawn from (``+``, ``-``, ``*``).
        group_size: Solver samples per question (n).
        retries: Extra attempts the questioner gets after a malformed question.
    """

    id = "sparring/qa-verify-v1"
    short_name = "qa-verify"
    roles = ("questioner", "solver", "verifier")
    reward_bounds = (-1.0, 1.0)
    max_turns = 40
    default_rewards = {"solver": "solver_verdict", "questioner": "questioner_checked",
                       "verifier": "verifier_majority"}
    examples = {
        "questioner": ["Question: What is 12 + 34?\nAnswer: 46", "Question: What is 3 - 5?\nAnswer: -2"],
        "solver": ["12 + 34 = 46.\nAnswer: 46", "Answer: 7"],
        "verifier": ["Verdict: correct", "Verdict: incorrect"],
    }

    def __init__(self, digits: int = 2, ops: Sequence[str] = ("+", "-"), group_size: int = 4,
                 retries: int = 1) -> None:
        super().__init__()
        if digits < 1 or digits > 6:
            raise ValueError(f"digits must be in 1..6, got {digits}")
        bad = [o for o in ops if o not in _OPS]
        if not ops or bad:
            raise ValueError(f"ops must be a non-empty subset of {list(_OPS)}, got {list(ops)}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if group_size < 1 or 2 * group_size + retries + 1 > self.max_turns:
            raise ValueError(f"group_size must be in 1..{(self.max_turns - retries - 1) // 2}")
        self.digits = digits
        self.ops = tuple(ops)
        self.group_size = group_size
        self.retries = retries

    def default_roles(self) -> dict[str, Role]:
        """Built-in questioner (with the arithmetic parser), solver and verifier."""
        return {
            "questioner": replace(builtin_roles.questioner(), parser=parse_question),
            "solver": builtin_roles.solver(),
            "verifier": builtin_roles.verifier(),
        }

    def rewards(self) -> Sequence[Reward]:
        """Verdict, learnability and majority rewards, plus their programmatic-truth twins."""
        return QA_VERIFY_REWARDS

    def evaluation(self) -> Evaluation:
        """Held-out arithmetic of the same digits and operations (``sparring/qa-eval-v1``):
        greedy solver accuracy, verifier accuracy and false-positive rate; questions the
        training questioner also wrote are left out and counted."""
        return Evaluation(arena=QAEval(digits=self.digits, ops=self.ops), metrics=QAEval().evaluation().metrics,
                          item=expression_key)

    def monitors(self) -> Sequence[Metric]:
        """Question difficulty histogram and the wrong-reference measurements."""
        return (questioner_difficulty, reference_wrong_rate, wrong_reference_gain)

    def topic(self, match: Match) -> tuple[str, str]:
        """Draw the topic and a format example from the match's RNG."""
        op = match.rng.choice(self.ops)
        low, high = 10 ** (self.digits - 1), 10**self.digits - 1
        a, b = match.rng.randint(low, high), match.rng.randint(low, high)
        example = f"Question: What is {a} {op} {b}?\nAnswer: {evaluate(f'{a} {op} {b}')}"
        topic = f"{_OPS[op]} of two {self.digits}-digit numbers"
        return topic, example

    async def play(self, match: Match) -> Outcome:
        """Question, n answers, one verdict per answer."""
        topic, example = self.topic(match)
        prompt = (
            f"Write one new question about {topic}.\nFormat example:\n{example}\n"
            "Use different numbers. Reply with the two lines only."
        )
        question = await match.ask("questioner", prompt)
        for _ in range(self.retries):
            if question.ok:
                break
            question = await match.ask(
                "questioner", f"{prompt}\nYour last reply was invalid: {question.parse_error}."
            )
        if not question.ok:
            return Outcome({"valid_question": False, "topic": topic}, "no valid question")
        q = question.parsed
        answers: list[Reply] = await match.ask("solver", q["question"], n=self.group_size)
        verdicts: list[Reply] = await match.gather(
            match.ask("verifier", self.verify_prompt(q, a)) for a in answers
        )
        values = {
            "valid_question": True,
            "topic": topic,
            "question": q["question"],
            "expression": q["expression"],
            "reference": q["reference"],
            "truth": q["truth"],
            "reference_correct": q["reference"] == q["truth"],
            "answers": [a.parsed for a in answers],
            "answers_correct": [a.ok and a.parsed == q["truth"] for a in answers],
            "verdicts": [v.parsed if v.ok else None for v in verdicts],
        }
        judged = sum(1 for v in verdicts if v.ok and v.parsed)
        true = sum(values["answers_correct"])
        summary = f"{q['expression']} = {q['truth']}: {judged}/{len(answers)} judged right, {true} truly right"
        return Outcome(values, summary)

    def reference_reply(self, transcript: Any, turn: Any) -> str | None:
        """Ground-truth solver reply for SPIN / SFT controls (``None`` for other seats)."""
        outcome = transcript.outcome or {}
        if turn.role != "solver" or not outcome.get("valid_question"):
            return None
        return f"{outcome['expression']} = {outcome['truth']}.\nAnswer: {outcome['truth']}"

    @staticmethod
    def verify_prompt(q: dict[str, Any], answer: Reply) -> str:
        """What the verifier sees: question, reference answer, one proposed answer."""
        proposed = answer.parsed if answer.ok else answer.text.strip()[:200] or "(no answer)"
        return (
            f"Question: {q['question']}\nReference answer: {q['reference']}\n"
            f"Proposed answer: {proposed}\nIs the proposed answer correct?"
        )
