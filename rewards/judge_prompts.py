"""Judge prompts and their parsers: pointwise, pairwise and yes/no verdict judgements.

pointwise (:func:`pointwise_prompt`, :func:`parse_score`): the additive 5-point rubric of
    Self-Rewarding LMs (Yuan et al. 2024, after Li et al.'s LLM-as-a-judge prompt): a
    point per criterion met, ``Score: <0-5>`` first, then a brief justification. With
    ``reference=`` the prompt is *self-reference judging*: the judge first writes its
    own answer, then critiques the response against it, in the same reply.
pairwise (:func:`pairwise_prompt`, :func:`parse_winner`, :func:`pairwise_preference`):
    ``Winner: A | B | tie``; asked in both orders and averaged, so a judge that always
    picks the first position gives 1/2, not a preference. ``thinking=True``: J1's
    thinking-then-verdict form, the verdict last.
verdict (:func:`verdict_prompt`, :func:`parse_verdict`): the reply starts with ``Yes`` or
    ``No``; its P(True) is :func:`sparring.rewards.confidence.verdict_p_true`.
"""

from __future__ import annotations

import re

from sparring.agents import parsers
from sparring.agents.parsers import ParseError

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


THINKING = ("First think it through inside <think> ... </think>: what a good response to the instruction needs, "
            "your own answer to it, and how each response measures up. Then, after </think>, write one line: "
            "Winner: A or Winner: B.")
"""J1's thinking-then-verdict steps (Whitehouse et al. 2025): criteria, the judge's own
reference answer and the comparison first, the verdict last (no tie)."""


def pairwise_prompt(instruction: str, first: str, second: str, reference: bool = False,
                    thinking: bool = False) -> str:
    """Which of two responses follows the instruction better: ``Winner: A | B | tie`` first.

    ``reference=True`` asks for self-reference judging (Shi et al. 2024): the judge first
    writes its own answer, then picks the winner of the two responses measured against it.
    ``thinking=True`` asks for J1's thinking-then-verdict format (:data:`THINKING`): the
    verdict comes last, after the thoughts, and :func:`parse_winner` reads the last
    ``Winner:`` line. The two are exclusive (J1's thoughts already hold its own answer).
    """
    if reference and thinking:
        raise ValueError("pairwise_prompt: reference and thinking are exclusive (J1's thoughts hold its own answer)")
    steps = THINKING if thinking else (
        "First write your own short answer to the instruction on one line 'My answer: ...'. Then write one "
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
