"""Judges: answer equivalence, judge prompts and parsers, votes, P(True), judge measurements.

Pieces that arenas with a judge (a seat that scores other seats' replies, or a reward
that checks an answer) share. Everything here is a pure function of text, numbers or
stored transcripts; nothing calls a model.

Equivalence (:func:`equivalent`): exact text after normalisation, then numbers (with
thousands separators, fractions, within a relative/absolute tolerance), then math
expressions through ``sympy`` (``2*x + x`` equals ``3x``; ``1/2`` equals ``0.5``). Model
text is never handed to ``eval``: an expression is accepted only when every character
is from a small math alphabet and every name is a single letter or a whitelisted
function, and exponents are bounded, before ``sympy`` parses it.

Judge prompts and parsers:
    pointwise (:func:`pointwise_prompt`, :func:`parse_score`): the additive 5-point rubric of
        Self-Rewarding LMs (Yuan et al. 2024, after Li et al.'s LLM-as-a-judge prompt): a
        point per criterion met, ``Score: <0-5>`` first, then a brief justification. With
        ``reference=`` the prompt is *self-reference judging*: the judge first writes its
        own answer, then critiques the response against it, in the same reply.
    pairwise (:func:`pairwise_prompt`, :func:`parse_winner`, :func:`pairwise_preference`):
        ``Winner: A | B | tie``; asked in both orders and averaged, so a judge that always
        picks the first position gives 1/2, not a preference.
    verdict (:func:`verdict_prompt`, :func:`parse_verdict`, :func:`verdict_p_true`): the reply
        starts with ``Yes`` or ``No``; P(True) is read from the verdict token's log-prob.

P(True) (Kadavath et al. 2022) is the judge's probability of the token ``Yes``. The
engine returns only the log-prob of each *sampled* token, under the sampling distribution
(temperature-scaled logits before top-p; raw logits when greedy). So :func:`p_true` returns
``exp(lp)`` when the sampled verdict was yes and ``1 - exp(lp)`` when it was no: exact
when the verdict is one token and the judge's mass is split between the two verdict
tokens; otherwise it approximates P(yes | the verdict is yes or no) from below (no) or
exactly (yes), at the judge's sampling temperature, not at temperature 1.
The log-prob must be the verdict token's: :func:`verdict_p_true` reads it at the first
token only when the verdict word opens the reply (at most one leading space, which BPE
tokenizers fold into the word's token). :func:`parse_verdict` also accepts a verdict after
leading punctuation (``**Yes**``), but then the first token is ``**``, and a stored reply
keeps token ids, not token texts, so the verdict token's position is unknown: such a
judgement parses (its verdict is logged) and has no P(True) (``None``, like a judgement
that does not parse), rather than the probability of the punctuation.

Self-certainty (Kang et al. 2025) is the mean over reply positions of KL(U || p), the
divergence of the next-token distribution from uniform. It needs the full distribution;
:func:`self_certainty` computes it from full log-prob rows, and
:func:`mean_token_logprob` is what stored transcripts allow (the average log-likelihood
of the sampled tokens), a confidence proxy that ranks replies similarly but is not the
same number.

Measurements (``Metric`` factories, usable as held-out metrics or monitors):
    :func:`self_preference_metric` (DBG, "self-preference bias", Chen et al. 2025): mean
        judge score (in [0, 1]) of a model's own answers minus the mean gold judgement of
        the same answers on the judge's own scale (a verdict judge's P(True) against gold
        yes/no, :func:`gold_verdicts`; a pairwise judge's win rate against the gold win
        rate, :func:`gold_win_rates`); > 0 means the judge rates its own answers above
        their worth. A rubric score has no gold judgement derivable from a checker, so
        the arena gives none for it (the metric is then absent), instead of comparing
        rubric points with a share of constraints met.
    :func:`position_consistency_metric`: share of pairwise comparisons whose verdicts
        agree when the order of the two replies is swapped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from sparring.agents import parsers
from sparring.agents.parsers import ParseError
from sparring.rewards.base import FunctionReward, Score
from sparring.rewards.metrics import Metric

if TYPE_CHECKING:
    from sparring.arenas.transcript import Transcript

# -- equivalence -------------------------------------------------------------------------------

_THOUSANDS = re.compile(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d])")
_PLAIN_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$")
_FRACTION = re.compile(r"^([-+]?\d+)\s*/\s*(\d+)$")
_MATH_CHARS = re.compile(r"^[0-9A-Za-z+\-*/^().,\s]+$")
_NAMES = re.compile(r"[A-Za-z]+")
_FUNCTIONS = frozenset({"sqrt", "sin", "cos", "tan", "log", "ln", "exp", "pi", "abs"})
_POWER = re.compile(r"(\*\*|\^)\s*\(?\s*(\d+)")
MAX_EXPONENT = 64
"""Largest literal exponent an expression may contain (bounds sympy's work on model text)."""
MAX_EXPRESSION = 200
"""Longest expression (characters) handed to sympy."""


def normalise_answer(text: Any) -> str:
    """Lowercase, single spaces, no surrounding punctuation, ``$``, or thousands separators."""
    value = " ".join(str(text).lower().split()).strip(" .!?'\"$")
    return _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), value)


def as_number(text: Any) -> Fraction | float | None:
    """``text`` as a number (``"1,000"``, ``"-3.5"``, ``"3/4"``, ``"1e3"``), else ``None``."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return Fraction(text)
    if isinstance(text, float):
        return text if math.isfinite(text) else None
    value = normalise_answer(text)
    if _PLAIN_NUMBER.match(value) and len(value) <= 40:
        number = float(value)
        if not math.isfinite(number):
            return None
        return Fraction(value) if "e" not in value else number
    found = _FRACTION.match(value)
    if found and int(found.group(2)) != 0 and len(value) <= 40:
        return Fraction(int(found.group(1)), int(found.group(2)))
    return None


def numeric_equal(a: Any, b: Any, rel_tol: float = 1e-9, abs_tol: float = 1e-6) -> bool:
    """Whether ``a`` and ``b`` read as numbers are equal (exactly, or within the tolerances)."""
    x, y = as_number(a), as_number(b)
    if x is None or y is None:
        return False
    if isinstance(x, Fraction) and isinstance(y, Fraction):
        return x == y or math.isclose(float(x), float(y), rel_tol=rel_tol, abs_tol=abs_tol)
    return math.isclose(float(x), float(y), rel_tol=rel_tol, abs_tol=abs_tol)


def _safe_expression(text: str) -> str | None:
    """``text`` rewritten for sympy when it is a small math expression, else ``None``."""
    value = normalise_answer(text)
    if not value or len(value) > MAX_EXPRESSION or not _MATH_CHARS.match(value) or "," in value:
        return None
    for name in _NAMES.findall(value):
        if len(name) > 1 and name not in _FUNCTIONS:
            return None
    if any(int(m.group(2)) > MAX_EXPONENT for m in _POWER.finditer(value)):
        return None
    return value.replace("^", "**").replace("ln", "log")


def _sympify(text: str) -> Any:
    # imported here: sympy takes about a second to import and most callers never need it
    import sympy
    from sympy.parsing.sympy_parser import (
        convert_xor,
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    transformations = (*standard_transformations, implicit_multiplication_application, convert_xor)
    tree = parse_expr(text, transformations=transformations, evaluate=False)
    for power in tree.atoms(sympy.Pow):
        # 9^9^9 would hang sympy: exponents must be small numbers or contain no power
        exponent = power.exp
        if exponent.atoms(sympy.Pow) or (exponent.is_number and abs(exponent) > MAX_EXPONENT):
            raise ValueError(f"exponent {exponent} is too large")
    return sympy.sympify(tree)


def math_equal(a: Any, b: Any) -> bool:
    """Whether two math expressions are equal (``sympy.simplify(a - b) == 0``); ``False``
    when either is not a small, safe expression or sympy cannot decide."""
    x, y = _safe_expression(str(a)), _safe_expression(str(b))
    if x is None or y is None:
        return False
    try:
        import sympy

        difference = sympy.simplify(_sympify(x) - _sympify(y))
        return bool(difference == 0)
    except Exception:  # noqa: BLE001 - sympy raises many types on odd input; unequal then
        return False


def equivalent(answer: Any, truth: Any, rel_tol: float = 1e-9, abs_tol: float = 1e-6) -> bool:
    """Exact (normalised text), numeric, then math-expression equivalence (``sympy``).

    >>> equivalent("1,000", 1000), equivalent("3/4", "0.75"), equivalent("2x + x", "3*x")
    (True, True, True)
    """
    if answer is None or truth is None:
        return False
    if normalise_answer(answer) == normalise_answer(truth):
        return True
    if as_number(answer) is not None and as_number(truth) is not None:
        return numeric_equal(answer, truth, rel_tol, abs_tol)
    return math_equal(answer, truth)


def majority_vote(answers: Sequence[Any], same: Callable[[Any, Any], bool] = equivalent,
                  min_votes: int = 1) -> tuple[Any, int]:
    """The most common answer under ``same`` and its count: the one majority vote of the
    library (arenas pass their task family's ``check``, which compares answers by value).

    ``None`` answers do not vote; ties go to the answer given first. Each answer joins the
    first earlier class it is ``same`` as (``same`` need not be transitive). The winner
    needs ``min_votes`` votes, or every answer when there are fewer (``min_votes=2``: no
    majority when all answers differ, but a single answer is its own majority);
    ``(None, 0)`` when no answer wins.

    >>> majority_vote([5, 5.0, "5", 7])
    (5, 3)
    >>> majority_vote([1, 2, 3], min_votes=2), majority_vote([4], min_votes=2)
    ((None, 0), (4, 1))
    """
    classes: list[list[Any]] = []
    for a in answers:
        if a is None:
            continue
        for members in classes:
            if same(a, members[0]):
                members.append(a)
                break
        else:
            classes.append([a])
    if not classes:
        return None, 0
    best = max(classes, key=len)  # max keeps the first of equal lengths
    if len(best) < min(min_votes, len(answers)):
        return None, 0
    return best[0], len(best)


# -- judge prompts and parsers -----------------------------------------------------------------

RUBRIC = """Review the user's instruction and the response using the additive 5-point scoring system below. \
Points accumulate as each criterion is met:
- Add 1 point if the response is relevant and gives some information related to the instruction, even if \
incomplete or partly off-topic.
- Add another point if it addresses a substantial part of the instruction but does not fully resolve it.
- Award a third point if it answers the basic elements of the instruction in a useful way.
- Grant a fourth point if it addresses the instruction directly and completely, is well organised and \
helpful, with slight room for improvement in clarity, concision or focus.
- Bestow a fifth point if it is impeccably tailored to the instruction, follows every constraint, has no \
extraneous content and is of expert quality."""
MAX_SCORE = 5


def pointwise_prompt(instruction: str, response: str, reference: bool = False) -> str:
    """The additive-rubric judge prompt; ``reference=True`` asks for self-reference judging.

    The score line comes first (after the judge's own answer, with ``reference``), before
    the justification: a small judge with a short reply budget otherwise runs out of
    tokens before it gets to the score (Self-Rewarding LMs asks for it last).
    """
    steps = ("First write your own short answer to the instruction on one line 'My answer: ...'. Then write the "
             "score line. Then compare the response against your answer in up to 50 words."
             if reference else "Start your reply with the score line, then justify it in up to 50 words.")
    return (f"{RUBRIC}\n\nInstruction: {instruction}\n<response>{response}</response>\n\n"
            f"{steps}\nThe score line is: Score: <total points from 0 to 5>")


_SCORE = re.compile(r"\bscore\**\s*[:：]\s*\**\s*(\d+(?:\.\d+)?)(?:\s*/\s*5)?\b", re.I)


def parse_score(text: str) -> float:
    """The points of the last ``Score: N`` (0 to 5)."""
    found = _SCORE.findall(text[: parsers.MAX_PARSE_CHARS])
    if not found:
        raise ParseError("expected a line 'Score: <0-5>'")
    value = float(found[-1])
    if not 0 <= value <= MAX_SCORE:
        raise ParseError(f"the score must be between 0 and {MAX_SCORE}, got {found[-1]}")
    return value


parsers.with_examples(parse_score, "Relevant and complete.\nScore: 4", "Off-topic.\nScore: 1")


def pairwise_prompt(instruction: str, first: str, second: str, reference: bool = False) -> str:
    """Which of two responses follows the instruction better: ``Winner: A | B | tie`` first.

    ``reference=True`` asks for self-reference judging (Shi et al. 2024): the judge first
    writes its own answer, then picks the winner of the two responses measured against it.
    """
    steps = ("First write your own short answer to the instruction on one line 'My answer: ...'. Then write one "
             "line: Winner: A, Winner: B or Winner: tie, judging both responses against your answer. Then explain "
             "briefly." if reference else
             "Start your reply with one line: Winner: A, Winner: B or Winner: tie. Then explain briefly.")
    return (f"Compare two responses to the same instruction. Judge which one follows the instruction better "
            f"(helpful, correct, obeys every constraint); the order they are shown in does not matter.\n\n"
            f"Instruction: {instruction}\n<response A>{first}</response A>\n<response B>{second}</response B>\n\n"
            f"{steps}")


_WINNER = re.compile(r"\bwinner\**\s*[:：]\s*\**\s*(?:response\s+)?(a|b|tie)\b", re.I)
# "Response A ..." or a bare "A." / "B," / "tie" (not the article in "A response ...")
_LEADING_WINNER = re.compile(r"^\W*(?:response\s+(a|b)\b|(a|b|tie)\s*(?:[.,:;)!\n]|$))", re.I)


def parse_winner(text: str) -> str:
    """``"A"``, ``"B"`` or ``"tie"``: the last ``Winner: X``, else a reply that begins with
    ``A``, ``B``, ``Response A`` or ``tie`` (small judges often answer with the bare letter)."""
    clipped = text[: parsers.MAX_PARSE_CHARS]
    found = _WINNER.findall(clipped)
    if not found:
        leading = _LEADING_WINNER.match(clipped[:100])
        found = [leading.group(1) or leading.group(2)] if leading else []
    if not found:
        raise ParseError("expected a line 'Winner: A', 'Winner: B' or 'Winner: tie'")
    value = found[-1].lower()
    return "tie" if value == "tie" else value.upper()


parsers.with_examples(parse_winner, "Winner: A\nA obeys the length limit.", "Winner: tie")


def pairwise_preference(first_order: str | None, swapped_order: str | None) -> float | None:
    """P(the first reply beats the second) from verdicts in both orders, averaged.

    ``first_order`` judged (first as A, second as B); ``swapped_order`` judged (second as A,
    first as B). A verdict counts 1 for a win of the first reply, 1/2 for a tie, 0 for a
    loss; a missing verdict (``None``) is left out; ``None`` when both are missing.
    """
    votes = []
    if first_order is not None:
        votes.append({"A": 1.0, "tie": 0.5, "B": 0.0}[first_order])
    if swapped_order is not None:
        votes.append({"B": 1.0, "tie": 0.5, "A": 0.0}[swapped_order])
    return sum(votes) / len(votes) if votes else None


def position_consistent(first_order: str, swapped_order: str) -> bool:
    """Whether two verdicts on the same pair agree once the swap is undone."""
    return {"A": "B", "B": "A", "tie": "tie"}[swapped_order] == first_order


def verdict_prompt(instruction: str, response: str) -> str:
    """A yes/no judgement whose first word is the verdict (for :func:`p_true`)."""
    return (f"Instruction: {instruction}\n<response>{response}</response>\n\n"
            "Is this response a good answer that follows every part of the instruction? Begin your reply "
            "with Yes or No, then give one sentence of reason.")


_VERDICT = re.compile(r"^\W*(yes|no)\b", re.I)


def parse_verdict(text: str) -> bool:
    """``True`` for a reply starting with Yes, ``False`` for No."""
    found = _VERDICT.match(text[:200])
    if not found:
        raise ParseError("expected the reply to begin with Yes or No")
    return found.group(1).lower() == "yes"


parsers.with_examples(parse_verdict, "Yes. It follows the instruction.", "No, it is too long.")


def p_true(verdict: bool, logprobs: Sequence[float], position: int = 0) -> float | None:
    """P(yes) from the log-prob of the verdict token at ``position`` (see the module docs).

    ``exp(lp)`` when the sampled verdict is yes, ``1 - exp(lp)`` when it is no; ``None``
    without a log-prob at that position.
    """
    if not 0 <= position < len(logprobs) or not math.isfinite(logprobs[position]):
        return None
    p = min(1.0, math.exp(min(0.0, logprobs[position])))
    return p if verdict else 1.0 - p


_VERDICT_FIRST = re.compile(r"^ ?(yes|no)\b", re.I)


def verdict_position(text: str) -> int | None:
    """The token index the verdict of ``text`` came from, when it is known from the text
    alone: ``0`` when the verdict word opens the reply (at most one leading space), else
    ``None`` (see the module docs).

    >>> verdict_position("Yes, it does."), verdict_position(" no"), verdict_position("**Yes**")
    (0, 0, None)
    """
    return 0 if _VERDICT_FIRST.match(text) else None


def verdict_p_true(text: str, logprobs: Sequence[float]) -> float | None:
    """P(yes) of a verdict reply, read at the token its verdict came from; ``None`` when the
    reply has no verdict or the verdict token's position is unknown (see the module docs)."""
    try:
        verdict = parse_verdict(text)
    except ParseError:
        return None
    position = verdict_position(text)
    return None if position is None else p_true(verdict, logprobs, position)


def mean_token_logprob(logprobs: Sequence[float]) -> float | None:
    """Average log-prob of a reply's sampled tokens (what stored transcripts allow)."""
    values = [v for v in logprobs if math.isfinite(v)]
    return sum(values) / len(values) if values else None


def self_certainty(rows: Sequence[Sequence[float]]) -> float:
    """Kang et al.'s self-certainty: mean over positions of KL(U || p).

    Each row holds the full next-token log-probs at one position (length V):
    ``KL(U || p) = -log V - (1/V) * sum_j log p_j``; 0 for a uniform distribution,
    larger for peaked ones.
    """
    if not rows:
        raise ValueError("self_certainty needs at least one row of log-probs")
    total = 0.0
    for row in rows:
        if not row:
            raise ValueError("self_certainty: a row of log-probs is empty")
        total += -math.log(len(row)) - sum(row) / len(row)
    return total / len(rows)


def format_penalty(role: str, penalty: float = -1.0, truncated: bool = True,
                   name: str | None = None) -> FunctionReward:
    """A reward: ``penalty`` for each turn of ``role`` that did not parse (or, with
    ``truncated``, hit the length limit), 0 for the others; abstains without turns."""
    if not penalty < 0:
        raise ValueError(f"format_penalty: penalty must be negative, got {penalty}")

    def score(t: Transcript) -> list[Score] | None:
        out = []
        for u in t.turns:
            if u.role != role:
                continue
            bad = u.parse_error is not None or (truncated and u.finish_reason == "length")
            why = u.parse_error or ("hit the length limit" if bad else "well-formed")
            out.append(Score(role, penalty if bad else 0.0, why, turn=u.index))
        return out or None

    return FunctionReward(name or f"{role}_format", score, bounds=(penalty, 0.0))


# -- measurements -------------------------------------------------------------------------------

def gold_verdicts(truth_scores: Sequence[float | None]) -> list[float | None]:
    """Gold yes/no judgements on the verdict judge's scale: 1.0 when the checker found the
    answer meets every constraint (or is right), else 0.0; ``None`` stays ``None``."""
    return [None if t is None else float(float(t) >= 1.0) for t in truth_scores]


def gold_win_rates(truth_scores: Sequence[float | None]) -> list[float | None]:
    """Gold win rates on the pairwise judge's scale: each answer's mean win (1, tie 1/2,
    loss 0) over the other answers by checker score; ``None`` without a score or a rival."""
    out: list[float | None] = []
    for i, mine in enumerate(truth_scores):
        rivals = [float(t) for j, t in enumerate(truth_scores) if j != i and t is not None]
        if mine is None or not rivals:
            out.append(None)
            continue
        out.append(sum(1.0 if float(mine) > r else 0.5 if float(mine) == r else 0.0 for r in rivals) / len(rivals))
    return out


def self_preference_bias(judge_scores: Sequence[float | None], truth_scores: Sequence[float | None]) -> float | None:
    """DBG: mean judge score minus mean gold score over answers that have both (in [-1, 1]).

    Both must be on the judge's own scale (the gold judgement of the same question the
    judge answered: :func:`gold_verdicts`, :func:`gold_win_rates`), as the DBG score compares
    a judge's score of its own answers with gold judgements of them.
    """
    both = [(j, t) for j, t in zip(judge_scores, truth_scores, strict=True) if j is not None and t is not None]
    if not both:
        return None
    return sum(j - float(t) for j, t in both) / len(both)


def position_consistency(verdicts: Sequence[tuple[str | None, str | None]]) -> float | None:
    """Share of (first order, swapped order) verdict pairs that agree; ``None`` if none is complete."""
    complete = [(a, b) for a, b in verdicts if a is not None and b is not None]
    if not complete:
        return None
    return sum(position_consistent(a, b) for a, b in complete) / len(complete)


def self_preference_metric(name: str = "judge/self_preference_bias", judge_key: str = "judge_scores",
                           truth_key: str = "gold_scores") -> Metric:
    """DBG over transcripts: pooled :func:`self_preference_bias` of the outcome lists
    ``judge_key`` (judge scores in [0, 1]) and ``truth_key`` (gold judgements on the judge's
    own scale, in [0, 1] or bools)."""

    def compute(transcripts: Sequence[Transcript]) -> float | None:
        judged: list[float | None] = []
        truth: list[float | None] = []
        for t in transcripts:
            o = t.outcome or {}
            if isinstance(o.get(judge_key), list) and isinstance(o.get(truth_key), list):
                judged.extend(o[judge_key])
                truth.extend(None if v is None else float(v) for v in o[truth_key])
        return self_preference_bias(judged, truth)

    return Metric(name, compute)


def position_consistency_metric(name: str = "judge/position_consistency", key: str = "pairwise_verdicts") -> Metric:
    """:func:`position_consistency` pooled over the outcome lists ``key`` of
    ``[first order, swapped order]`` verdicts (``"A"``, ``"B"``, ``"tie"`` or ``None``)."""

    def compute(transcripts: Sequence[Transcript]) -> float | None:
        pairs = [tuple(v) for t in transcripts for v in (t.outcome or {}).get(key) or []]
        return position_consistency(pairs)  # type: ignore[arg-type]

    return Metric(name, compute)

