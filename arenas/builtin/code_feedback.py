"""Code from execution feedback: CodeDPO (``sparring/code-feedback-v1``).

Seats and what each sees:
    coder: one problem statement (``arenas/builtin/code_problems.py``: "Write a Python
        function sum_multiples(xs) that ..."), answered ``samples`` times with the function
        in a ```python block. It never sees a test.
    tester (only with ``self_tests = true``): the same statement, asked ``testers`` times
        for test lines ``assert name(...) == ...``. It never sees a solution.

Execution (in :class:`sparring.rewards.sandbox.Sandbox`, one run per solution): every
parsed solution runs every hidden test of the problem (eight asserts with expected values
from the problem's reference function, never shown to a seat) and, with ``self_tests``,
every parsed self-generated test; an assert that holds is a pass, anything else (a wrong
value, a raise, a limit) a fail.

Ranking:
    ``self_tests = false`` (default): a solution's score is the share of hidden tests it
        passes ("solutions ranked by tests passed").
    ``self_tests = true`` (CodeDPO): no hidden test enters the score. Solutions and
        self-generated tests verify each other, PageRank-style: with pass matrix ``M``
        (solution i passes test j), scores start at 1 and repeat ``rounds`` times
        ``s_code ← (1 − d) + d · M s_test / Σ s_test`` and
        ``s_test ← (1 − d) + d · Mᵀ s_code / Σ s_code``, ``d = damping``: a solution
        passing the tests that many solutions pass ranks high, a test that many good
        solutions pass ranks high. The hidden tests are then measurement only.

Rewards:
    ``solution_score`` (coder turns, [0, 1]): the score above; the default for the coder:
        ``update = "dpo"`` pairs the best- over the worst-scored solution of a problem.
    ``solution_truth`` (coder turns, [0, 1]): share of hidden tests passed (measurement;
        the training reward itself when ``self_tests`` is off).
    ``test_score`` (tester turns, [0, 1]): mean mutual-verification score of a tester
        reply's tests (0 when it wrote none that parsed); logged, not trained by default.
Monitors: ``code/pass_rate`` (mean hidden-test share), ``code/solved_rate`` (solutions
passing every hidden test), ``code/score_truth_agreement`` (with self tests: whether
the top-scored solution passes at least as many hidden tests as the bottom one).
Evaluation: the test split, one greedy solution per problem, hidden tests:
``code/pass_rate`` and ``code/solved_rate`` (528 distinct test problems; 475 on validation).

Paper: Zhang et al., "CodeDPO: Aligning Code Models with Self Generated and Verified
Source Code" (2024): the model generates solutions and tests for each problem, a
PageRank-like iteration over the pass relation scores both, and DPO trains on pairs of
high- vs low-ranked solutions (with an execution-time preference as a second signal).
Departures: problems come from a seeded generator of small function-writing tasks (the
paper's are collected from open code), with hidden tests; the iteration is normalised by
the total score each round and run a fixed ``rounds`` times (our reading of the paper's
update, which iterates to convergence); no execution-time pairs; one pair per problem
(best over worst), not every pair above a score gap; the tester seat shares the coder's
adapter in the recipe and is not trained.

Versions: v1, first version.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sparring.agents.parsers import MAX_PARSE_CHARS, ParseError, with_examples
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.code_problems import CODE_PROBLEMS
from sparring.arenas.builtin.exec_feedback import python_block
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.items import SplitItems
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import TaskError
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric
from sparring.rewards.sandbox import Sandbox, SandboxLimits

CODER_SYSTEM = "You are a careful Python programmer. Reply with the function in one ```python block."
TESTER_SYSTEM = "You write Python test cases as assert lines."
TESTER_PROMPT = ("{statement}\n\nWrite {n} test cases for this function, one per line, each of the form "
                 "'assert {name}(...) == <expected value>'. Do not write the function.")
HARNESS = "\n\ndef __sparring_test(test):\n    exec(test, globals())\n    return True\n"
EXAMPLE_SOLUTION = "```python\ndef sum_multiples(xs):\n    return sum(x for x in xs if x % 3 == 0 and x > 0)\n```"
EXAMPLE_TESTS = "assert sum_multiples([3, 6, 7]) == 9\nassert sum_multiples([]) == 0"


def parse_solution(text: str) -> str:
    """The first ```python block that defines a function (the arena checks its name)."""
    text = text[:MAX_PARSE_CHARS]
    name = re.search(r"^\s*def\s+([A-Za-z_]\w*)\s*\(", text, re.MULTILINE)
    if name is None:
        raise ParseError("no ```python block defining a function")
    return python_block(text, name.group(1))


def parse_tests(text: str) -> list[str]:
    """The reply's ``assert name(...) == ...`` lines (at most 16)."""
    tests = [line.strip() for line in text[:MAX_PARSE_CHARS].splitlines()
             if re.match(r"\s*assert\s+[A-Za-z_]\w*\(.*\)\s*==\s*\S", line)]
    if not tests:
        raise ParseError("no 'assert name(...) == value' line")
    return tests[:16]


def mutual_scores(passes: Sequence[Sequence[bool]], damping: float, rounds: int) -> tuple[list[float], list[float]]:
    """PageRank-style scores of solutions (rows) and tests (columns) from the pass matrix."""
    n_code, n_test = len(passes), len(passes[0]) if passes else 0
    code, test = [1.0] * n_code, [1.0] * n_test
    for _ in range(rounds):
        total_test = sum(test) or 1.0
        code = [(1 - damping) + damping * sum(t for t, ok in zip(test, row, strict=True) if ok) / total_test
                for row in passes]
        total_code = sum(code) or 1.0
        test = [(1 - damping) + damping * sum(c for c, row in zip(code, passes, strict=True) if row[j]) / total_code
                for j in range(n_test)]
    return code, test


def _turns(transcript: Transcript, seat: str) -> list[int]:
    return [u.index for u in transcript.turns if u.role == seat]


@reward("solution_score", bounds=(0.0, 1.0))
def solution_score(transcript: Transcript) -> list[Score] | None:
    """Hidden tests passed (share), or the mutual-verification score with self tests."""
    outcome = transcript.outcome or {}
    if "scores" not in outcome:
        return None
    how = "mutual verification on self tests" if outcome["self_tests"] else "share of hidden tests passed"
    return [Score("coder", float(s), f"{how}: {s:.3f}", turn=i)
            for i, s in zip(_turns(transcript, "coder"), outcome["scores"], strict=True)]


@reward("solution_truth", bounds=(0.0, 1.0))
def solution_truth(transcript: Transcript) -> list[Score] | None:
    """Share of the problem's hidden tests each solution passes (measurement)."""
    outcome = transcript.outcome or {}
    if "hidden_pass" not in outcome:
        return None
    return [Score("coder", float(s), f"{round(s * outcome['hidden_tests'])} of {outcome['hidden_tests']} hidden "
                                     "tests pass", turn=i)
            for i, s in zip(_turns(transcript, "coder"), outcome["hidden_pass"], strict=True)]


@reward("test_score", bounds=(0.0, 1.0))
def test_score(transcript: Transcript) -> list[Score] | None:
    """Mean mutual-verification score of each tester reply's tests (0 when none parsed)."""
    outcome = transcript.outcome or {}
    if not outcome.get("self_tests") or "tester_scores" not in outcome:
        return None
    return [Score("tester", float(s), f"mean score of its tests: {s:.3f}", turn=i)
            for i, s in zip(_turns(transcript, "tester"), outcome["tester_scores"], strict=True)]


@metric("code/pass_rate", per_match=True)
def pass_rate(transcript: Transcript) -> float | None:
    """Mean share of hidden tests passed by a match's solutions."""
    shares = (transcript.outcome or {}).get("hidden_pass")
    return sum(shares) / len(shares) if shares else None


@metric("code/solved_rate", per_match=True)
def solved_rate(transcript: Transcript) -> float | None:
    """Share of a match's solutions that pass every hidden test."""
    shares = (transcript.outcome or {}).get("hidden_pass")
    return sum(1 for s in shares if s == 1.0) / len(shares) if shares else None


@metric("code/score_truth_agreement", per_match=True)
def score_truth_agreement(transcript: Transcript) -> float | None:
    """With self tests and two distinct scores: 1 when the top-scored solution passes at
    least as many hidden tests as the bottom-scored one."""
    outcome = transcript.outcome or {}
    scores, truth = outcome.get("scores"), outcome.get("hidden_pass")
    if not outcome.get("self_tests") or not scores or max(scores) == min(scores):
        return None
    return float(truth[scores.index(max(scores))] >= truth[scores.index(min(scores))])


CODE_METRICS: tuple[Metric, ...] = (pass_rate, solved_rate)


def item_key(transcript: Transcript) -> str | None:
    """The problem a held-out match is about (its statement's key)."""
    return (transcript.outcome or {}).get("item_key")


class CodeFeedback(SplitItems, Arena):
    """CodeDPO: solutions ranked by tests passed in the sandbox (hidden or self-generated).

    Args:
        samples: Solutions per problem (1 to 16; DPO needs two to pair).
        self_tests: Rank by mutual verification against the tester seat's tests (CodeDPO)
            instead of by the hidden tests.
        testers: Tester replies per problem with ``self_tests`` (1 to 8).
        damping: ``d`` of the mutual-verification iteration, in (0, 1).
        rounds: Iterations of the mutual verification (1 to 100).
        timeout: Wall-clock seconds of one sandboxed run (0.5 to 60).
        workers: Sandboxed runs of one match side by side (threads, 1 to 8).
        split: ``train``, ``validation`` or ``test`` problems.
    """

    id = "sparring/code-feedback-v1"
    short_name = "code-feedback"
    roles = ("coder", "tester")
    reward_bounds = (0.0, 1.0)
    max_turns = 32
    default_rewards = {"coder": "solution_score", "tester": "test_score"}
    examples = {"coder": [EXAMPLE_SOLUTION], "tester": [EXAMPLE_TESTS]}

    def __init__(self, samples: int = 4, self_tests: bool = False, testers: int = 2, damping: float = 0.85,
                 rounds: int = 20, timeout: float = 5.0, workers: int = 2, split: str = "train") -> None:
        super().__init__()
        for name, value, low, high in (("samples", samples, 1, 16), ("testers", testers, 1, 8),
                                       ("rounds", rounds, 1, 100), ("workers", workers, 1, 8)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise TaskError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        if not isinstance(self_tests, bool):
            raise TaskError(f"self_tests must be true or false, got {self_tests!r}")
        if isinstance(damping, bool) or not isinstance(damping, int | float) or not 0 < damping < 1:
            raise TaskError(f"damping must be a number in (0, 1), got {damping!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.5 <= timeout <= 60:
            raise TaskError(f"timeout must be a number of seconds in [0.5, 60], got {timeout!r}")
        self.family, self.difficulty = CODE_PROBLEMS, (1, 1)
        self.set_split(split)
        self.samples, self.self_tests, self.testers, self.rounds, self.workers = samples, self_tests, testers, rounds, workers
        self.damping = float(damping)
        self.sandbox = Sandbox(SandboxLimits(wall_s=float(timeout), cpu_s=max(1.0, float(timeout) / 2)))

    def default_roles(self) -> dict[str, Role]:
        """The coder and the tester."""
        return {"coder": Role("coder", CODER_SYSTEM, parser=with_examples(parse_solution, EXAMPLE_SOLUTION),
                              sampling=SamplingParams(max_new_tokens=192, temperature=0.8)),
                "tester": Role("tester", TESTER_SYSTEM, parser=with_examples(parse_tests, EXAMPLE_TESTS),
                               sampling=SamplingParams(max_new_tokens=160, temperature=0.8))}

    def rewards(self) -> Sequence[Reward]:
        """The ranking score (trains the coder), hidden-test truth, the testers' scores."""
        return (solution_score, solution_truth, test_score)

    def evaluation(self) -> Evaluation:
        """Test-split problems, one greedy solution each, hidden tests."""
        variant = CodeFeedback(samples=1, timeout=float(self.sandbox.limits.wall_s), split="test")
        return Evaluation(arena=variant, metrics=CODE_METRICS, item=item_key)

    def monitors(self) -> Sequence[Metric]:
        """Hidden-test pass and solve rates, and with self tests the ranking's agreement with them."""
        return (pass_rate, solved_rate, score_truth_agreement)

    def _run(self, codes: Sequence[str | None], tests: Sequence[str]) -> list[list[bool]]:
        """Pass matrix: each solution (None: did not parse) against every test, in the sandbox."""
        def one(code: str | None) -> list[bool]:
            if code is None or not tests:
                return [False] * len(tests)
            result = self.sandbox.run(code + HARNESS, "__sparring_test", [[t] for t in tests])
            passed = [c.ok and c.value is True for c in result.calls]
            return passed + [False] * (len(tests) - len(passed))

        with ThreadPoolExecutor(max(1, min(self.workers, len(codes) or 1))) as pool:
            return list(pool.map(one, codes))

    async def play(self, match: Match) -> Outcome:
        """Problem -> solutions (and tests) -> sandboxed pass matrix -> scores."""
        item = self.draw_item(match)
        name, hidden = item.answer["name"], list(item.answer["tests"])
        asks = [match.ask("coder", item.prompt, n=self.samples)]
        if self.self_tests:
            asks.append(match.ask("tester", TESTER_PROMPT.format(statement=item.prompt, n=4, name=name),
                                  n=self.testers))
        answered: list[list[Reply]] = await match.gather(*asks)
        solutions, testers = answered[0], answered[1] if self.self_tests else []
        codes = [r.parsed if r.ok and re.search(rf"def\s+{name}\s*\(", r.parsed) else None for r in solutions]
        own = [[t for t in r.parsed if f"{name}(" in t] if r.ok else [] for r in testers]
        self_tests = [t for tests in own for t in tests]
        matrix = self._run(codes, hidden + self_tests)
        hidden_pass = [sum(row[:len(hidden)]) / len(hidden) for row in matrix]
        values: dict[str, Any] = {"prompt": item.prompt, "item_key": item.key, "split": self.split, "name": name,
                                  "hidden_tests": len(hidden), "self_tests": self.self_tests,
                                  "parsed": [c is not None for c in codes], "hidden_pass": hidden_pass}
        if self.self_tests:
            own_matrix = [row[len(hidden):] for row in matrix]
            scores, weights = (mutual_scores(own_matrix, self.damping, self.rounds) if self_tests
                               else ([0.0] * len(codes), []))
            starts = [sum(len(t) for t in own[:k]) for k in range(len(own))]
            tester_scores = [sum(weights[s:s + len(t)]) / len(t) if t else 0.0 for s, t in zip(starts, own, strict=True)]
            values |= {"tests": self_tests, "pass_matrix": own_matrix, "test_weights": weights,
                       "tester_scores": tester_scores}
        else:
            scores = hidden_pass
        values["scores"] = scores
        return Outcome(values, f"{name}: hidden-test shares {[round(s, 2) for s in hidden_pass]}, scores "
                               f"{[round(s, 3) for s in scores]}")
