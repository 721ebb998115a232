"""Held-out reading accuracy on synthetic documents (``sparring/document-eval-v1``).

Seats and what each sees:
    responder: one held-out synthetic document (of the ``test`` or ``validation`` split,
        never the ``train`` documents that SPELL's questioner reads) and its question;
        answers greedily, ending with ``Answer: <answer>``.

Items: match seed ``k`` plays item ``k`` of the split's fixed enumeration at levels
``levels`` (:func:`sparring.arenas.builtin.documents.pool_item`), 1,000 distinct items
per split, the same for every run and arm. Programmatic truth: the document's own
question has one answer stated in it (logged with the parsed answer and whether it
states the truth, :func:`~sparring.arenas.builtin.documents.answer_matches`).

Rewards (in [0, 1]): ``eval_responder_truth``. Metrics (``DOCUMENT_EVAL_METRICS``):
``responder_accuracy``. The declared evaluation of ``spell-documents``.

Versions: v1, first version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.documents import (
    LEVELS,
    POOL_SIZE,
    answer_matches,
    check_level,
    item_prompt,
    pool_item,
)
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.match import Match
from sparring.arenas.tasks import TaskError
from sparring.arenas.tasks.answers import PARSERS
from sparring.arenas.tasks.family import check_split
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric


def document_item(transcript: Transcript) -> str | None:
    """The key of the document a match read (``outcome["document_key"]``)."""
    return (transcript.outcome or {}).get("document_key") or None


@reward("eval_responder_truth", bounds=(0.0, 1.0))
def eval_responder_truth(transcript: Transcript) -> list[Score] | None:
    """1 when the responder's answer states the document's answer, else 0."""
    o = transcript.outcome or {}
    turns = [u.index for u in transcript.turns if u.role == "responder"]
    if not turns or "truth" not in o:
        return None
    return [Score("responder", float(o["correct"]), f"answer {o['answer']!r} vs truth {o['truth']!r}", turn=turns[0])]


@metric("responder_accuracy", per_match=True)
def responder_accuracy(transcript: Transcript) -> bool | None:
    """The greedy answer states the truth."""
    o = transcript.outcome or {}
    return bool(o["correct"]) if "truth" in o else None


DOCUMENT_EVAL_METRICS: tuple[Metric, ...] = (responder_accuracy,)


class DocumentEval(Arena):
    """One held-out synthetic document and its question per match, answered greedily.

    Args:
        levels: A level or an inclusive ``[low, high]`` range of document levels.
        split: ``test`` (default) or ``validation`` (``held_out`` is read as ``test``).
    """

    id = "sparring/document-eval-v1"
    short_name = "document-eval"
    roles = ("responder",)
    reward_bounds = (0.0, 1.0)
    max_turns = 1

    def __init__(self, levels: int | Sequence[int] = (1, 3), split: str = "test") -> None:
        super().__init__()
        if isinstance(levels, int) and not isinstance(levels, bool):
            levels = (levels, levels)
        if isinstance(levels, str) or not isinstance(levels, Sequence) or len(levels) != 2:
            raise TaskError(f"levels must be a level or [low, high] in {LEVELS[0]}..{LEVELS[1]}, got {levels!r}")
        low, high = check_level(levels[0], "levels[0]"), check_level(levels[1], "levels[1]")
        if low > high:
            raise TaskError(f"levels [low, high] needs low <= high, got {list(levels)!r}")
        self.levels = (low, high)
        self.split = check_split(split)
        if self.split == "train":
            raise TaskError("document-eval plays held-out documents: split must be test or validation, got 'train'")

    def default_roles(self) -> dict[str, Role]:
        """A greedy responder reading the ``Answer:`` line."""
        return {"responder": Role(name="responder", parser=PARSERS["text"],
                                  system_prompt="You answer questions about a document. End with 'Answer: <short answer>'.",
                                  sampling=SamplingParams(max_new_tokens=48, temperature=0.0))}

    def rewards(self) -> Sequence[Reward]:
        """Accuracy against the document's answer."""
        return (eval_responder_truth,)

    def evaluation(self) -> Evaluation:
        """Played as is (greedy); reports ``responder_accuracy``."""
        return Evaluation(metrics=DOCUMENT_EVAL_METRICS, item=document_item)

    def distinct_items(self) -> int:
        """Distinct items of the split (seeds ``0..n-1`` are ``n`` of them)."""
        return POOL_SIZE

    async def play(self, match: Match) -> Outcome:
        """Item ``seed`` of the split, one answer."""
        item = pool_item(self.split, self.levels, match.seed % POOL_SIZE)
        reply = await match.ask("responder", item_prompt(item.document.text, item.question))
        answer = reply.parsed if reply.ok else None
        correct = answer is not None and answer_matches(answer, item.truth)
        values = {"level": item.document.level, "words": item.document.words, "document_key": item.key,
                  "question": item.question, "truth": item.truth, "answer": answer, "correct": correct}
        return Outcome(values, f"level {item.document.level}: {item.question} -> {answer!r} "
                               f"(truth {item.truth!r}, {'right' if correct else 'wrong'})")

    def reference_reply(self, transcript: Any, turn: Any) -> str | None:
        """``Answer: <truth>`` for the responder's turn."""
        o = transcript.outcome or {}
        return f"Answer: {o['truth']}" if turn.role == "responder" and "truth" in o else None
