"""Propose / solve self-play without labels: self-questioning LMs (``sparring/propose-solve-v1``).

Seats and what each sees:
    proposer: a topic (the task family's description at a difficulty drawn from the
        ``difficulty`` range with the match seed) and ``history`` recent problems on that
        topic; writes ``Problem: <one problem>``. A malformed reply is retried ``retries``
        times with the reason; after that the match ends without a problem.
    solver: only the problem. Answers ``samples`` times independently, each ending with
        ``Answer: <answer>``, parsed by the family's answer kind (number, list, text).

Label-free rewards (no programmatic truth enters them):
    ``solver_majority`` (per solver turn, in [0, 1]): 1 when the answer equals the
        majority answer of the match's ``n = samples`` answers, else 0. The majority is
        the most common parsed answer (ties: the one given first), answers compared by
        the family's checker (by value: ``5`` equals ``5.0``;
        :func:`sparring.rewards.equivalence.majority_vote`); it exists only when at least two
        answers agree (or ``n = 1``), so with all answers different every solver turn
        gets 0.
    ``proposer_band`` (per match, in [-1, 1]): with ``m`` the number of answers equal to
        the majority (0 when there is none) and ``p = m / n``::

            r = 1 if 0 < m < n else 0        (solved by neither all nor none of the samples)
            r = -1 when no valid problem was written (format penalty)

    ``proposer_learnability`` (per match, in [-1, 1]): the smooth variant
        ``r = 1 - |2p - 1|`` (1 at p = 1/2, 0 at p = 0 or 1), -1 without a valid problem.
    The arena argument ``proposer_reward = "band" | "learnability"`` picks which of the
    two trains the proposer by default (a recipe may name either with
    ``roles.proposer.reward``).

Programmatic truth, for measurement only: when the family can compute the truth of the
written problem (``TaskFamily.solve``: arithmetic, multiplication, letters, sorting,
units, JSONL prompts; not word problems), it is logged in the outcome (``truth``,
``answers_correct``, ``majority_correct``); otherwise ``truth_known`` is false. Twins
``solver_truth``, ``proposer_band_truth`` and ``proposer_learnability_truth`` compute the
same formulas with "equals the truth" in place of "equals the majority" (``p`` = share
of answers truly right) and abstain when the truth is unknown, so a run shows whether
majority agreement tracks correctness.

Monitors: ``majority_agreement_rate`` (share of answers equal to the majority),
``majority_truth_accuracy`` (the majority answer is right, where the truth is known),
``truth_known_rate``, ``proposer/valid_rate`` and ``proposer/copy_rate`` (problems that
repeat a shown recent question). Evaluation: the family's held-out split at the same
difficulty range, greedy, reporting ``solver_accuracy`` against the truth
(``sparring/task-eval-v1``).

Paper: Chen, Prabhudesai, Fragkiadaki, Liu, Pathak, "Self-Questioning Language Models"
(2025). As there, the proposer is given only a topic, the solver is rewarded for agreeing
with the majority answer and the proposer for problems neither too easy (all samples
agree) nor too hard (none do). Departures: the paper conditions the proposer on its own
previously generated questions; here matches are independent and replay must be exact,
so the ``history`` shown are questions drawn with the match seed from the family's
training split ("recent problems on this topic"), which set the format and push towards
new problems, and ``proposer/copy_rate`` measures copying. The paper's coding variant
(unit tests) is not included. "No majority" when all answers differ is our reading of
"solved by none" under majority voting.

Versions: v1, first version; answers are compared by the family's checker in the vote
and the agreement flags (they were compared by their JSON text, so ``5`` and ``5.0``
differed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sparring.agents import parsers
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.task_eval import TASK_EVAL_METRICS, TaskEval, item_key
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import TaskError, difficulty_range, get_family, normalise, solver_role
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.equivalence import majority_vote
from sparring.rewards.metrics import Metric, metric

PROPOSER_REWARDS = {"band": "proposer_band", "learnability": "proposer_learnability"}


_PROBLEM_LINE = re.compile(r"^[^\S\n]*\**(?:Problem|Question)\**\s*[:：]\s*(.+?)\s*$", re.I | re.M)


def parse_problem(text: str) -> str:
    """The problem on the first ``Problem:`` (or ``Question:``) line, 8 to 500 characters.

    The first such line, not the last: a small model often adds more lines after it
    (``Problem: The answer is 29``).
    """
    found = _PROBLEM_LINE.search(text[: parsers.MAX_PARSE_CHARS])
    if found is None:
        raise parsers.ParseError("expected a line 'Problem: <the problem>'")
    problem = found.group(1)
    if not 8 <= len(problem) <= 500:
        raise parsers.ParseError(f"the problem must be 8 to 500 characters long, got {len(problem)}")
    return problem


parsers.with_examples(parse_problem, "Problem: What is 123 * 45?")


def band(p: float) -> float:
    """1 when 0 < p < 1 (some but not all samples solve it), else 0."""
    return 1.0 if 0.0 < p < 1.0 else 0.0


def learnability(p: float) -> float:
    """1 - |2p - 1|: 1 when half the samples solve it, 0 when all or none do."""
    return 1.0 - abs(2.0 * p - 1.0)


# -- rewards (read from the outcome)

def _valid(transcript: Transcript) -> dict | None:
    return transcript.outcome if transcript.outcome and transcript.outcome.get("valid_problem") else None


def _solver_turns(transcript: Transcript) -> list[int]:
    return [u.index for u in transcript.turns if u.role == "solver"]


@reward("solver_majority", bounds=(0.0, 1.0))
def solver_majority(transcript: Transcript) -> list[Score] | None:
    """1 per answer equal to the match's majority answer, else 0 (label-free)."""
    o = _valid(transcript)
    if o is None:
        return None
    return [Score("solver", 1.0 if ok else 0.0, f"answer {a!r} vs majority {o['majority']!r}", turn=i)
            for i, a, ok in zip(_solver_turns(transcript), o["answers"], o["agree"], strict=True)]


@reward("solver_truth", bounds=(0.0, 1.0))
def solver_truth(transcript: Transcript) -> list[Score] | None:
    """1 per answer equal to the programmatic truth (abstains when the truth is unknown)."""
    o = _valid(transcript)
    if o is None or not o.get("truth_known"):
        return None
    return [Score("solver", 1.0 if ok else 0.0, f"answer {a!r} vs truth {o['truth']!r}", turn=i)
            for i, a, ok in zip(_solver_turns(transcript), o["answers"], o["answers_correct"], strict=True)]


def _proposer(transcript: Transcript, formula: Any, solved: list[bool] | None, what: str) -> list[Score] | None:
    if not transcript.outcome or not transcript.outcome.get("valid_problem"):
        return [Score("proposer", -1.0, "no valid problem after retries (format penalty)")]
    if solved is None:
        return None
    p = sum(solved) / len(solved)
    return [Score("proposer", formula(p), f"{sum(solved)}/{len(solved)} answers {what}: p={p:.2f}")]


@reward("proposer_band", bounds=(-1.0, 1.0))
def proposer_band(transcript: Transcript) -> list[Score] | None:
    """1 when some but not all answers equal the majority, 0 otherwise; -1 without a problem."""
    return _proposer(transcript, band, (transcript.outcome or {}).get("agree"), "equal the majority")


@reward("proposer_learnability", bounds=(-1.0, 1.0))
def proposer_learnability(transcript: Transcript) -> list[Score] | None:
    """1 - |2p - 1| with p the share of answers equal to the majority; -1 without a problem."""
    return _proposer(transcript, learnability, (transcript.outcome or {}).get("agree"), "equal the majority")


@reward("proposer_band_truth", bounds=(-1.0, 1.0))
def proposer_band_truth(transcript: Transcript) -> list[Score] | None:
    """``proposer_band`` with p = share of answers truly right (abstains when unknown)."""
    return _proposer(transcript, band, (transcript.outcome or {}).get("answers_correct"), "truly right")


@reward("proposer_learnability_truth", bounds=(-1.0, 1.0))
def proposer_learnability_truth(transcript: Transcript) -> list[Score] | None:
    """``proposer_learnability`` with p = share of answers truly right (abstains when unknown)."""
    return _proposer(transcript, learnability, (transcript.outcome or {}).get("answers_correct"), "truly right")


PROPOSE_SOLVE_REWARDS: tuple[Reward, ...] = (
    solver_majority, solver_truth, proposer_band, proposer_learnability, proposer_band_truth,
    proposer_learnability_truth,
)


# -- monitors

@metric("majority_agreement_rate", per_match=True)
def majority_agreement_rate(transcript: Transcript) -> float | None:
    """Share of a match's answers equal to its majority answer."""
    o = _valid(transcript)
    return sum(o["agree"]) / len(o["agree"]) if o and o["agree"] else None


@metric("majority_truth_accuracy", per_match=True)
def majority_truth_accuracy(transcript: Transcript) -> bool | None:
    """The majority answer is the truth (matches with a majority and a known truth)."""
    o = _valid(transcript)
    return o["majority_correct"] if o and o.get("majority_correct") is not None else None


@metric("truth_known_rate", per_match=True)
def truth_known_rate(transcript: Transcript) -> bool | None:
    """Valid problems whose truth the family could compute."""
    o = _valid(transcript)
    return bool(o["truth_known"]) if o else None


@metric("proposer/valid_rate", per_match=True)
def valid_rate(transcript: Transcript) -> bool | None:
    """Matches in which the proposer wrote a valid problem."""
    return bool((transcript.outcome or {}).get("valid_problem")) if transcript.outcome is not None else None


@metric("proposer/copy_rate", per_match=True)
def copy_rate(transcript: Transcript) -> bool | None:
    """Valid problems identical (normalised) to one of the recent questions shown."""
    o = _valid(transcript)
    return bool(o["copied"]) if o else None


PROPOSE_SOLVE_MONITORS: tuple[Metric, ...] = (
    majority_agreement_rate, majority_truth_accuracy, truth_known_rate, valid_rate, copy_rate,
)


def proposer_role() -> Role:
    """Writes one problem on a topic: ``Problem: <the problem>``."""
    return Role(
        name="proposer",
        system_prompt="You write practice problems. Reply with one line: 'Problem: <the problem>'.",
        parser=parse_problem,
        sampling=SamplingParams(max_new_tokens=64, temperature=1.0),
    )


class ProposeSolve(Arena):
    """Proposer writes a problem on a topic; the solver answers it n times; no labels.

    Args:
        family: Task family (name, ``.jsonl`` path or ``module:attribute``) whose topic
            the proposer is given and whose held-out split evaluates the solver.
        difficulty: A difficulty or an inclusive ``[low, high]`` range drawn per match.
        samples: Solver answers per problem (n).
        history: Recent questions on the topic shown to the proposer (0: none).
        proposer_reward: ``"band"`` or ``"learnability"``: the proposer's default reward.
        retries: Extra attempts the proposer gets after a malformed reply.
    """

    id = "sparring/propose-solve-v1"
    short_name = "propose-solve"
    roles = ("proposer", "solver")
    reward_bounds = (-1.0, 1.0)
    max_turns = 40

    def __init__(self, family: str = "arithmetic", difficulty: int | Sequence[int] = (1, 2), samples: int = 4,
                 history: int = 3, proposer_reward: str = "band", retries: int = 1) -> None:
        super().__init__()
        self.family = get_family(family)
        self.difficulty = difficulty_range(difficulty, self.family)
        if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= self.max_turns - 1 - retries:
            raise TaskError(f"samples must be an integer in 1..{self.max_turns - 1 - retries}, got {samples!r}")
        if isinstance(history, bool) or not isinstance(history, int) or not 0 <= history <= 10:
            raise TaskError(f"history must be an integer in 0..10, got {history!r}")
        if proposer_reward not in PROPOSER_REWARDS:
            raise TaskError(f"proposer_reward must be one of {', '.join(PROPOSER_REWARDS)}, got {proposer_reward!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 3:
            raise TaskError(f"retries must be an integer in 0..3, got {retries!r}")
        self.samples = samples
        self.history = history
        self.retries = retries
        self.default_rewards = {"proposer": PROPOSER_REWARDS[proposer_reward],  # type: ignore[misc]
                                "solver": "solver_majority"}
        example = self.family.items(1, 0, self.difficulty[0])[0].prompt
        self.examples = {"proposer": [f"Problem: {example}"],  # type: ignore[misc]
                         "solver": list(getattr(self.family.parser, "examples", ()))}

    def default_roles(self) -> dict[str, Role]:
        """The proposer and a solver whose parser reads the family's kind of answer."""
        return {"proposer": proposer_role(), "solver": solver_role(self.family)}

    def rewards(self) -> Sequence[Reward]:
        """Majority and band/learnability rewards, and their programmatic-truth twins."""
        return PROPOSE_SOLVE_REWARDS

    def evaluation(self) -> Evaluation:
        """The family's held-out split at the same difficulty range, greedy: ``solver_accuracy``."""
        return Evaluation(arena=TaskEval(family=self.family_source, difficulty=list(self.difficulty)),
                          metrics=TASK_EVAL_METRICS, item=item_key)

    def monitors(self) -> Sequence[Metric]:
        """Majority agreement, majority accuracy, truth coverage, valid and copied problems."""
        return PROPOSE_SOLVE_MONITORS

    @property
    def family_source(self) -> str:
        """The ``family`` argument this arena was made with."""
        return str(self.kwargs.get("family", self.family.name))

    def proposer_prompt(self, topic: str, recent: Sequence[str]) -> str:
        """What the proposer sees: the topic and recent questions on it, nothing else."""
        shown = "".join(f"Problem: {q}\n" for q in recent)
        recent_block = f"Recent problems on this topic:\n{shown}" if recent else ""
        return (f"Topic: {topic}.\n{recent_block}"
                "Write one new problem on this topic, different from the recent ones, with a single short "
                "answer. Do not solve it. Reply with one line: Problem: <the problem>")

    async def play(self, match: Match) -> Outcome:
        """Topic -> problem -> n answers; majority and (where computable) truth logged."""
        low, high = self.difficulty
        difficulty = match.rng.randint(low, high)
        topic = self.family.topic(difficulty)
        recent = [self.family.sample(match.rng, difficulty, "train").prompt for _ in range(self.history)]
        prompt = self.proposer_prompt(topic, recent)
        proposal = await match.ask("proposer", prompt)
        for _ in range(self.retries):
            if proposal.ok:
                break
            proposal = await match.ask("proposer", f"{prompt}\nYour last reply was invalid: {proposal.parse_error}.")
        base = {"family": self.family.name, "difficulty": difficulty, "topic": topic, "recent": recent}
        if not proposal.ok:
            return Outcome({**base, "valid_problem": False}, "no valid problem")
        problem: str = proposal.parsed
        replies: list[Reply] = await match.ask("solver", problem, n=self.samples)
        answers = [r.parsed if r.ok else None for r in replies]
        top, count = majority_vote(answers, self.family.check, min_votes=2)
        agree = [top is not None and a is not None and self.family.check(a, top) for a in answers]
        truth = self.family.solve(problem)
        known = truth is not None
        correct = [self.family.check(a, truth) for a in answers] if known else None
        values = {
            **base, "valid_problem": True, "problem": problem, "item_key": normalise(problem),
            "copied": normalise(problem) in {normalise(q) for q in recent},
            "answers": answers, "majority": top, "majority_count": count, "agree": agree,
            "truth_known": known, "truth": truth, "answers_correct": correct,
            "majority_correct": (self.family.check(top, truth) if known and top is not None else None),
        }
        truth_note = f"truth {truth!r}, {sum(correct)} right" if correct is not None else "truth unknown"
        return Outcome(values, f"{problem[:80]}: majority {top!r} ({sum(agree)}/{len(answers)}); {truth_note}")
