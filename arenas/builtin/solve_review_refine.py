"""Solve, review, refine on a task family: MAgICoRe (``sparring/solve-review-refine-v1``).

Seats and what each sees:
    solver: the family's prompt (training split, or ``split = "test"`` for evaluation),
        answered ``samples`` times, each ending with ``Answer: <answer>``.
    reviewer: for one solution of a hard problem, the problem and that solution with its
        lines numbered as steps (``Step 1: ...``), asked to name each wrong step, say what
        is wrong and how to fix it, and end with ``Verdict: correct`` or ``Verdict:
        incorrect``. One ask per solution; it sees neither the other solutions nor the truth.
    refiner: the problem, the solution by steps and the reviewer's feedback on it, asked to
        rewrite the solution fixing the steps the feedback names, ending with ``Answer:
        <answer>``.
    No seat ever sees the truth.

Protocol (``mode = "magicore"``, the default):
    1. The solver samples ``samples`` answers; the library's one majority vote
       (:func:`sparring.rewards.equivalence.majority_vote`, answers compared by the family's
       checker) gives the majority answer and its agreement = votes / samples.
    2. Routing: agreement >= ``threshold`` is *easy*, answered by the majority (coarse
       aggregation, nothing refined); below it the problem is *hard*.
    3. A hard problem is refined in rounds (at most ``rounds``): the reviewer reviews each
       pending solution; solutions judged ``correct`` are kept as they are (targeted
       refinement: no over-correction of what the review accepts), the others (judged
       incorrect, or no verdict read) go to the refiner with their feedback. After the
       refinements the answers are re-scored: when their agreement reaches ``threshold``
       the problem is resolved; otherwise the next round reviews the solutions just
       refined. The loop ends when a round's reviews judge every pending solution correct
       (``judged good``), the agreement is reached (``agreement``) or the round limit is
       met (``round limit``).
    4. The final answer is the majority of the final solutions.
    ``mode = "critique-revise"`` is plain critique-and-revise (the Self-Refine-like
    baseline the paper compares with): no routing (every problem is refined), one round,
    and every solution is revised whatever the verdict (``rounds`` must be 1).

Rewards (``right(x)``: 1 when the answer ``x`` checks against the family's truth, else 0;
programmatic truth, so this method is *not* label-free):
    ``solver_truth`` (solver turns, [0, 1]): ``right(answer)``.
    ``refiner_improvement`` (refiner turns, [-1, 1]): ``right(after) - right(before)``, the
        revised solution against the one it revised: +1 wrong→right, -1 right→wrong.
    ``reviewer_feedback`` (reviewer turns, [-1, 1]): for a review whose solution was then
        refined, ``right(after) - right(before)`` of that refinement (feedback that turned
        wrong into right +1, a penalty of -1 for right into wrong); 0 for a review whose
        solution was kept (judged correct: nothing changed). So in ``magicore`` mode a
        truthful verdict is what pays: judging a right solution incorrect can only lose, a
        wrong one correct gains nothing. In ``critique-revise`` every review is followed by
        a revision, so only the feedback's effect counts, not the verdict.

Monitors and evaluation: ``refine/<key>`` over (initial majority right, final answer right)
per match (:func:`sparring.rewards.measurements.correction_decomposition`:
``accuracy_first`` is the solver's plain majority vote, ``accuracy_second`` the method's
answer, ``delta``, ``kept_rate``, ``fixed_rate`` and the transition counts);
``refinement/<key>`` the same over every single refinement (before, after);
``routing/hard_rate`` (share of problems routed hard), ``routing/easy_accuracy``
(majority right among the easy ones: how well agreement routes) and ``routing/rounds``
(refinement rounds run per hard problem). The declared evaluation plays the arena on the
family's test split with the same kwargs, *sampled* (greedy samples would all agree, so
every problem would route easy); ``eval/refine/accuracy_second`` is the headline.

Paper: Chen et al., "MAgICoRe: Multi-Agent, Iterative, Coarse-to-Fine Refinement for
Reasoning" (2024; EMNLP 2025), and the authors' code (``refine.py``): k solutions per
problem (k = 40); a problem is hard when the normalised reward-model score of its
majority-answer solutions is below average and the confidence of the RM-weighted vote
(from its entropy) is low; every solution of a hard problem is reviewed (the reviewer sees
its steps with a process reward model's per-step scores) and refined; the refined
solutions are scored by the RMs and the hard/easy test applied again, for up to 3
iterations; the answer is the RM-weighted vote over the best k solutions.

Departures: MAgICoRe is a test-time method with no training; the rewards here (refiner
improvement, reviewer feedback, solver truth) are this library's addition so the reviewer
and refiner can be trained. There is no reward model: routing and re-scoring use the
unweighted agreement of the answers (the library's majority vote) instead of the RM score
and the RM-weighted vote's entropy; the reviewer sees the solution's lines as steps without
per-step scores and ends with its own verdict, which stands in for the RM's judgement: a
solution judged correct is kept rather than refined (the paper refines every solution of a
hard problem), and a later round reviews only the solutions the last round refined; the
final answer is a plain majority of the final solutions, not an RM-weighted vote over the
best k of two iterations. Fewer samples and rounds by default (4 and 2, for CPU budgets),
and the family's checker as the oracle instead of the paper's math datasets.

Versions: v1, first version.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sparring.agents import parsers
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.task_eval import item_key
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.items import SplitItems
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import TaskError, difficulty_range, get_family, solver_role
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.equivalence import majority_vote
from sparring.rewards.measurements import correction_metric
from sparring.rewards.metrics import Metric, metric

MODES = ("magicore", "critique-revise")
REVIEW_PROMPT = ("Problem: {problem}\n\nProposed solution, by step:\n{steps}\n\nCheck each step. For every step with an "
          "error, name it (e.g. 'Step 2: ...'), say what is wrong and how to fix it. End with 'Verdict: correct' if "
          "the solution's final answer is right, or 'Verdict: incorrect'.")
REFINE_PROMPT = ("Problem: {problem}\n\nYour earlier solution, by step:\n{steps}\n\nA reviewer's feedback:\n{feedback}\n\n"
          "Rewrite the solution, fixing the steps the feedback points out. End with 'Answer: <answer>'.")
_VERDICT = re.compile(r"verdict\s*\**\s*[:：]\s*\**\s*(correct|incorrect|right|wrong)\b", re.I)


def parse_review(text: str) -> bool:
    """The review's last ``Verdict:`` line: ``True`` for correct (or right), ``False`` for
    incorrect (or wrong)."""
    found = _VERDICT.findall(text[: parsers.MAX_PARSE_CHARS])
    if not found:
        raise parsers.ParseError("expected a last line 'Verdict: correct' or 'Verdict: incorrect'")
    return found[-1].lower() in ("correct", "right")


parsers.with_examples(parse_review, "Step 2: 7 + 5 is 12, not 13.\nVerdict: incorrect",
                      "Every step checks.\nVerdict: correct")


def by_steps(solution: str) -> str:
    """The solution's non-empty lines numbered as steps (what the reviewer and refiner see)."""
    lines = [line.strip() for line in solution.splitlines() if line.strip()] or ["(empty)"]
    return "\n".join(f"Step {k}: {line}" for k, line in enumerate(lines, 1))


def reviewer_role() -> Role:
    """The reviewer: step-targeted feedback ending with a verdict."""
    return Role(name="reviewer", parser=parse_review,
                system_prompt="You are a careful reviewer of solutions. Point out the wrong steps; end with a verdict.",
                sampling=SamplingParams(max_new_tokens=96, temperature=0.7))


def refiner_role(family: Any) -> Role:
    """The refiner: revises a solution from feedback; parsed like the family's answers."""
    return Role(name="refiner", parser=family.parser,
                system_prompt="You are a careful refiner. Fix the solution as the review says; end with "
                              "'Answer: <answer>'.",
                sampling=SamplingParams(max_new_tokens=64, temperature=0.7))


# -- rewards (read from the outcome; each refinement and review carries its ask)

def _turn_of_ask(transcript: Transcript, role: str) -> dict[int, int]:
    return {u.ask: u.index for u in transcript.turns if u.role == role}


def _refinements(outcome: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for round_ in outcome.get("rounds", []) for r in round_["refines"]]


@reward("solver_truth", bounds=(0.0, 1.0))
def solver_truth(transcript: Transcript) -> list[Score] | None:
    """1 per solver answer that checks against the truth."""
    outcome = transcript.outcome or {}
    if "initial_correct" not in outcome:
        return None
    turns = [u.index for u in transcript.turns if u.role == "solver"]
    return [Score("solver", float(ok), f"answer {a!r} vs truth {outcome['truth']!r}", turn=i)
            for i, a, ok in zip(turns, outcome["initial_answers"], outcome["initial_correct"], strict=True)]


@reward("refiner_improvement", bounds=(-1.0, 1.0))
def refiner_improvement(transcript: Transcript) -> list[Score] | None:
    """right(after) - right(before) per refinement."""
    outcome = transcript.outcome or {}
    turn = _turn_of_ask(transcript, "refiner")
    return [Score("refiner", float(r["after_correct"]) - float(r["before_correct"]),
                  f"{r['before']!r} -> {r['after']!r} (truth {outcome['truth']!r})", turn=turn[r["ask"]])
            for r in _refinements(outcome)] or None


@reward("reviewer_feedback", bounds=(-1.0, 1.0))
def reviewer_feedback(transcript: Transcript) -> list[Score] | None:
    """+1 when the refinement a review led to turned wrong into right, -1 right into wrong;
    0 otherwise and for a kept solution."""
    outcome = transcript.outcome or {}
    turn = _turn_of_ask(transcript, "reviewer")
    led_to = {r["review_ask"]: r for r in _refinements(outcome)}
    scores = []
    for round_ in outcome.get("rounds", []):
        for review in round_["reviews"]:
            r = led_to.get(review["ask"])
            if r is None:
                scores.append(Score("reviewer", 0.0, f"verdict {review['verdict']!r}: solution kept",
                                    turn=turn[review["ask"]]))
            else:
                value = float(r["after_correct"]) - float(r["before_correct"])
                scores.append(Score("reviewer", value, f"verdict {review['verdict']!r}; refined {r['before']!r} -> "
                                                       f"{r['after']!r} (truth {outcome['truth']!r})",
                                    turn=turn[review["ask"]]))
    return scores or None


# -- monitors

REFINE = correction_metric(lambda t: [(bool((t.outcome or {})["initial_majority_correct"]),
                                       bool((t.outcome or {})["final_correct"]))]
                           if "final_correct" in (t.outcome or {}) else [], name="refine")
REFINEMENT = correction_metric(lambda t: [(bool(r["before_correct"]), bool(r["after_correct"]))
                                          for r in _refinements(t.outcome or {})], name="refinement")


@metric("routing/hard_rate", per_match=True)
def hard_rate(transcript: Transcript) -> bool | None:
    """Whether the problem was routed hard (refined)."""
    return (transcript.outcome or {}).get("hard")


@metric("routing/easy_accuracy", per_match=True)
def easy_accuracy(transcript: Transcript) -> bool | None:
    """Among problems routed easy: whether the majority was right."""
    outcome = transcript.outcome or {}
    return None if outcome.get("hard", True) else bool(outcome["initial_majority_correct"])


@metric("routing/rounds", per_match=True)
def rounds_run(transcript: Transcript) -> int | None:
    """Refinement rounds run on a hard problem (a round of reviews that kept everything counts)."""
    outcome = transcript.outcome or {}
    return len(outcome["rounds"]) if outcome.get("hard") else None


class SolveReviewRefine(SplitItems, Arena):
    """Solver samples; easy/hard routing by agreement; reviewer and refiner fix the hard ones.

    Args:
        family: Task family (name, ``.jsonl`` path or ``module:attribute``).
        difficulty: A difficulty or an inclusive ``[low, high]`` range drawn per match.
        samples: Solver samples per problem (2 to 16).
        threshold: Agreement (share of samples on the majority answer) at which a problem
            is easy, and at which refinement stops, in (0, 1].
        rounds: Most review-and-refine rounds on a hard problem (1 to 4); must be 1 in
            ``critique-revise`` mode.
        mode: ``magicore`` (routing, targeted, iterative) or ``critique-revise`` (every
            problem, every solution revised once).
        split: ``train`` (training), ``validation`` or ``test`` (evaluation).
    """

    id = "sparring/solve-review-refine-v1"
    short_name = "solve-review-refine"
    roles = ("solver", "reviewer", "refiner")
    default_rewards = {"solver": "solver_truth", "reviewer": "reviewer_feedback", "refiner": "refiner_improvement"}
    reward_bounds = (-1.0, 1.0)
    max_turns = 144  # 16 samples + 4 rounds of 16 reviews and 16 refinements

    def __init__(self, family: str = "arithmetic", difficulty: int | Sequence[int] = (1, 2), samples: int = 4,
                 threshold: float = 0.75, rounds: int = 2, mode: str = "magicore", split: str = "train") -> None:
        super().__init__()
        self.family = get_family(family)
        self.difficulty = difficulty_range(difficulty, self.family)
        for name, value, low, high in (("samples", samples, 2, 16), ("rounds", rounds, 1, 4)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise TaskError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 < threshold <= 1:
            raise TaskError(f"threshold must be a number in (0, 1] (the agreement that makes a problem easy), "
                            f"got {threshold!r}")
        if mode not in MODES:
            raise TaskError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if mode == "critique-revise" and rounds != 1:
            raise TaskError(f"mode 'critique-revise' revises once: set rounds = 1 (got {rounds}), or use mode "
                            "'magicore' for several rounds")
        self.set_split(split)
        self.samples, self.threshold, self.rounds, self.mode = samples, float(threshold), rounds, mode
        example = f"Answer: {self.family.items(1, 0, self.difficulty[0])[0].answer}"
        self.examples = {"solver": [example], "refiner": [example],  # type: ignore[misc]
                         "reviewer": list(parse_review.examples)}  # type: ignore[attr-defined]

    def default_roles(self) -> dict[str, Role]:
        """Solver and refiner parse the family's kind of answer; the reviewer a verdict."""
        return {"solver": solver_role(self.family), "reviewer": reviewer_role(), "refiner": refiner_role(self.family)}

    def rewards(self) -> Sequence[Reward]:
        """Solver truth, refiner improvement, reviewer feedback."""
        return (solver_truth, refiner_improvement, reviewer_feedback)

    def evaluation(self) -> Evaluation:
        """The test split, same protocol, sampled: ``refine/*``, ``refinement/*``, ``routing/*``."""
        family = str(self.kwargs.get("family", self.family.name))
        variant = SolveReviewRefine(family=family, difficulty=list(self.difficulty), samples=self.samples,
                                    threshold=self.threshold, rounds=self.rounds, mode=self.mode, split="test")
        return Evaluation(arena=variant, metrics=list(self.monitors()), greedy=False, item=item_key)

    def monitors(self) -> Sequence[Metric]:
        """Method vs plain majority, each refinement's transitions, routing."""
        return (REFINE, REFINEMENT, hard_rate, easy_accuracy, rounds_run)

    def _agreement(self, answers: list[Any]) -> tuple[Any, float]:
        top, votes = majority_vote(answers, self.family.check)
        return top, votes / len(answers)

    def _right(self, answer: Any, truth: Any) -> bool:
        return answer is not None and bool(self.family.check(answer, truth))

    async def play(self, match: Match) -> Outcome:
        """Sample, route, then review and refine a hard problem in rounds (see the module docs)."""
        item = self.draw_item(match)
        firsts: list[Reply] = await match.ask("solver", item.prompt, n=self.samples)
        texts = [r.text for r in firsts]
        answers = [r.parsed if r.ok else None for r in firsts]
        initial_answers = list(answers)  # ``answers`` follows each solution through its refinements
        initial, agreement = self._agreement(answers)
        hard = self.mode == "critique-revise" or agreement < self.threshold
        rounds: list[dict[str, Any]] = []
        pending, stop = list(range(self.samples)), "easy"
        while hard and len(rounds) < self.rounds:
            reviews: list[Reply] = await match.gather(
                match.ask("reviewer", REVIEW_PROMPT.format(problem=item.prompt, steps=by_steps(texts[i]))) for i in pending)
            verdicts = [r.parsed if r.ok else None for r in reviews]
            chosen = [(i, r) for i, r, v in zip(pending, reviews, verdicts, strict=True)
                      if self.mode == "critique-revise" or v is not True]
            refined: list[Reply] = await match.gather(
                match.ask("refiner", REFINE_PROMPT.format(problem=item.prompt, steps=by_steps(texts[i]), feedback=r.text))
                for i, r in chosen)
            refines = []
            for (i, review), new in zip(chosen, refined, strict=True):
                after = new.parsed if new.ok else None
                refines.append({"solution": i, "review_ask": review.ask, "ask": new.ask, "before": answers[i],
                                "after": after, "before_correct": self._right(answers[i], item.answer),
                                "after_correct": self._right(after, item.answer)})
                texts[i], answers[i] = new.text, after
            rounds.append({"reviews": [{"solution": i, "ask": r.ask, "verdict": v}
                                       for i, r, v in zip(pending, reviews, verdicts, strict=True)],
                           "refines": refines})
            if not chosen:
                stop = "judged good"
                break
            if self.mode == "magicore" and self._agreement(answers)[1] >= self.threshold:
                stop = "agreement"
                break
            pending, stop = [i for i, _ in chosen], "round limit"
        final, final_agreement = self._agreement(answers)
        values: dict[str, Any] = {
            "family": self.family.name, "difficulty": item.difficulty, "split": self.split, "prompt": item.prompt,
            "item_key": item.key, "truth": item.answer, "mode": self.mode,
            "initial_answers": initial_answers,
            "initial_correct": [self._right(a, item.answer) for a in initial_answers],
            "initial_majority": initial, "initial_majority_correct": self._right(initial, item.answer),
            "agreement": agreement, "hard": hard, "rounds": rounds, "stop": stop, "final_answers": answers,
            "final_answer": final, "final_agreement": final_agreement,
            "final_correct": self._right(final, item.answer),
        }
        fixed = sum(1 for r in rounds for x in r["refines"] if x["after_correct"] and not x["before_correct"])
        return Outcome(values, f"{item.prompt} -> {'hard' if hard else 'easy'} (agreement {agreement:.2f}), "
                               f"{len(rounds)} round(s), {fixed} fixed, stop: {stop}; final {final!r} "
                               f"(truth {item.answer!r})")
