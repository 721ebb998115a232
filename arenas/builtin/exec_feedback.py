"""Instruction following from execution feedback: AutoIF (``sparring/exec-feedback-v1``).

Seats and what each sees:
    writer: a plain writing task ("Describe trains to a friend.", drawn from the
        ``instructions`` family's tasks and topics with the match seed) and the request to
        add one constraint a program can check; replies ``Instruction: <constraint>``.
    checker: the writer's instruction (not the task, not the responses), asked ``checkers``
        times for a Python function ``evaluate(response) -> bool`` in a ```python block
        and test cases, one per line, ``PASS: <response>`` or ``FAIL: <response>``.
    responder: the task followed by the instruction, answered ``samples`` times. It never
        sees a checker, a test or a verdict.

Execution (in :class:`sparring.rewards.sandbox.Sandbox`, never in the trainer's process):
each parsed checker runs once on every test case of every checker of the match (the
pooled tests) and on every response. Cross-validation: a checker is *kept* when its
accuracy on the pooled tests (a test's label is its writer's PASS/FAIL; a crash or a
non-bool counts as wrong) is at least ``min_accuracy``. A response's score is the share of
kept checkers that return True on it; with no kept checker the instruction is dropped and
the responses are not scored.

Rewards:
    ``response_pass`` (responder turns, [0, 1]): share of kept checkers passing the
        response; abstains when no checker was kept. The default for the responder:
        ``update = "dpo"`` pairs the best- over the worst-scored response of a prompt
        (passing vs failing), as AutoIF's DPO data.
    ``checker_valid`` (checker turns, [0, 1]): the checker's accuracy on the pooled tests
        (0 when it did not parse or did not run).
    ``instruction_kept`` (writer turn, [0, 1]): 1 when at least one checker was kept.
Monitors: ``exec_feedback/checker_kept_rate``, ``exec_feedback/instruction_kept_rate``,
``exec_feedback/response_pass_rate`` (share of scored responses with score >= 0.5),
``exec_feedback/sandbox_failure_rate`` (checker runs that did not pass cleanly).
Evaluation: ``response-eval`` on the ``instructions`` family's test split (IFEval-style
constraints checked by the family's own program, never by a model-written checker),
greedy: ``responder_accuracy``, ``responder_satisfaction``.

Paper: Dong et al., "Self-play with Execution Feedback: Improving Instruction-following
Capabilities of Large Language Models" (AutoIF, 2024): seed instructions are augmented by
the model, which writes verification functions and test cases for each; functions are
cross-validated on the test cases, responses are sampled and scored by the surviving
functions, and passing vs failing responses give SFT and DPO data.
Departures: one new instruction per match (AutoIF augments a seed set in bulk, then
filters); no back-translation consistency check between instruction and function (an
NLI model there); a response's score is the share of kept functions that pass it (AutoIF
keeps responses that pass all, with a 0.5 threshold in its query-level filtering); the
writer and checker seats may share one adapter (the recipe binds both to ``writer``) but
are not trained by default (AutoIF trains only the responder; their rewards are logged).
A checker that hits a sandbox limit at the margin (CPU time on a busy machine) may give a
different verdict when the match is replayed.

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
from sparring.arenas.builtin.instructions import (
    RESPONSE_EVAL_METRICS,
    TASKS,
    TOPICS,
    ResponseEval,
    item_key,
    responder_role,
)
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.match import Match, Reply
from sparring.arenas.tasks import TaskError, get_family
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.metrics import Metric, metric
from sparring.rewards.sandbox import Sandbox, SandboxLimits, SandboxResult

WRITER_PROMPT = ("Here is a writing task:\n{task}\n\nAdd one extra instruction to it whose result a Python program "
                 "can check, for example a limit on the number of words, a word that must appear, or a format. "
                 "Reply with one line: 'Instruction: <the instruction>'.")
CHECKER_PROMPT = ("Instruction: {instruction}\n\nWrite a Python function evaluate(response) that returns True when "
                  "the response follows this instruction and False otherwise, in a ```python block. Then write "
                  "test cases, one per line: 'PASS: <a response that follows it>' or 'FAIL: <a response that "
                  "does not>'. Write at least one of each.")
WRITER_SYSTEM = "You write instructions for writing tasks that a program can check."
CHECKER_SYSTEM = "You write Python functions that check whether a response follows an instruction, with tests."
EXAMPLE_INSTRUCTION = "Instruction: Answer in at most 12 words."
EXAMPLE_CHECKER = ("```python\ndef evaluate(response):\n    return len(response.split()) <= 12\n```\n"
                   "PASS: Trains are long and fast.\n"
                   "FAIL: Trains are long machines that carry many people and goods across the whole country "
                   "every day.")
_CODE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)
_TEST = re.compile(r"^\s*(PASS|FAIL)\s*:\s*(.+?)\s*$", re.MULTILINE)


def python_block(text: str, function: str) -> str:
    """The first fenced code block of a reply that defines ``function`` (ParseError if none)."""
    for block in _CODE.findall(text):
        if re.search(rf"^\s*def\s+{re.escape(function)}\s*\(", block, re.MULTILINE):
            return block.strip() + "\n"
    raise ParseError(f"no ```python block defining {function}(...)")


def parse_instruction(text: str) -> str:
    """The writer's ``Instruction: ...`` line."""
    match = re.search(r"Instruction\s*:\s*(.+)", text[:MAX_PARSE_CHARS])
    if not match or not match.group(1).strip():
        raise ParseError("no 'Instruction: <instruction>' line")
    return match.group(1).strip()[:400]


def parse_checker(text: str) -> dict[str, Any]:
    """``{"code": ..., "tests": [[response, expected], ...]}`` with at least one PASS and one FAIL test."""
    text = text[:MAX_PARSE_CHARS]
    code = python_block(text, "evaluate")
    after = text.split("```", 2)[-1] if text.count("```") >= 2 else text
    tests = [[body, kind == "PASS"] for kind, body in _TEST.findall(after)]
    if not any(t[1] for t in tests) or all(t[1] for t in tests):
        raise ParseError("needs at least one 'PASS: <response>' and one 'FAIL: <response>' test line")
    return {"code": code, "tests": tests[:16]}


def cross_validate(verdicts: Sequence[bool | None], tests: Sequence[tuple[str, bool]]) -> float:
    """Share of pooled tests on which a checker's verdict equals the test's label."""
    return sum(1 for v, (_, want) in zip(verdicts, tests, strict=True) if v is want) / len(tests) if tests else 0.0


def run_checkers(sandbox: Sandbox, codes: Sequence[str | None], inputs: Sequence[str],
                 workers: int) -> list[tuple[list[bool | None], SandboxResult | None]]:
    """Each checker's verdicts on ``inputs`` (all None for a checker that did not parse).

    Synchronous on purpose: arenas may only await asks (the runner's determinism), so the
    match blocks while its checkers run, side by side in ``workers`` threads.
    """
    def one(code: str | None) -> tuple[list[bool | None], SandboxResult | None]:
        if code is None:
            return [None] * len(inputs), None
        return sandbox.check(code, "evaluate", list(inputs))

    with ThreadPoolExecutor(max(1, min(workers, len(codes) or 1))) as pool:
        return list(pool.map(one, codes))


def _turns(transcript: Transcript, seat: str) -> list[int]:
    return [u.index for u in transcript.turns if u.role == seat]


@reward("response_pass", bounds=(0.0, 1.0))
def response_pass(transcript: Transcript) -> list[Score] | None:
    """Share of kept (cross-validated) checkers that pass each response."""
    outcome = transcript.outcome or {}
    scores = outcome.get("response_scores")
    if scores is None:
        return None
    kept = sum(1 for c in outcome["checkers"] if c["kept"])
    return [Score("responder", float(s), f"{round(s * kept)} of {kept} kept checker(s) pass", turn=i)
            for i, s in zip(_turns(transcript, "responder"), scores, strict=True)]


@reward("checker_valid", bounds=(0.0, 1.0))
def checker_valid(transcript: Transcript) -> list[Score] | None:
    """Each checker's accuracy on the match's pooled test cases (0 if it did not parse or run)."""
    outcome = transcript.outcome or {}
    if "checkers" not in outcome:
        return None
    return [Score("checker", float(c["accuracy"]), c["note"], turn=i)
            for i, c in zip(_turns(transcript, "checker"), outcome["checkers"], strict=True)]


@reward("instruction_kept", bounds=(0.0, 1.0))
def instruction_kept(transcript: Transcript) -> list[Score] | None:
    """1 when at least one checker of the writer's instruction survived cross-validation."""
    outcome = transcript.outcome or {}
    turns = _turns(transcript, "writer")
    if not turns or "checkers" not in outcome:
        return None
    kept = any(c["kept"] for c in outcome["checkers"])
    return [Score("writer", float(kept), "a checker was kept" if kept else "no checker was kept", turn=turns[0])]


@metric("exec_feedback/checker_kept_rate", per_match=True)
def checker_kept_rate(transcript: Transcript) -> float | None:
    """Share of a match's checkers kept by cross-validation."""
    checkers = (transcript.outcome or {}).get("checkers")
    return sum(c["kept"] for c in checkers) / len(checkers) if checkers else None


@metric("exec_feedback/instruction_kept_rate", per_match=True)
def instruction_kept_rate(transcript: Transcript) -> float | None:
    """1 when a match's instruction kept a checker (its responses were scored)."""
    outcome = transcript.outcome or {}
    return None if "checkers" not in outcome else float(outcome.get("response_scores") is not None)


@metric("exec_feedback/response_pass_rate", per_match=True)
def response_pass_rate(transcript: Transcript) -> float | None:
    """Share of a match's scored responses passed by at least half of the kept checkers."""
    scores = (transcript.outcome or {}).get("response_scores")
    return sum(1 for s in scores if s >= 0.5) / len(scores) if scores else None


@metric("exec_feedback/sandbox_failure_rate", per_match=True)
def sandbox_failure_rate(transcript: Transcript) -> float | None:
    """Share of a match's checker runs that failed in the sandbox (a limit, a crash, a raise)."""
    runs = [c for c in (transcript.outcome or {}).get("checkers", []) if c["ran"]]
    return sum(1 for c in runs if c["sandbox_reason"]) / len(runs) if runs else None


EXEC_FEEDBACK_MONITORS: tuple[Metric, ...] = (checker_kept_rate, instruction_kept_rate, response_pass_rate,
                                              sandbox_failure_rate)


class ExecFeedback(Arena):
    """AutoIF: instructions with model-written checkers, cross-validated and run in a sandbox.

    Args:
        checkers: Checker functions (with tests) written per instruction (1 to 8).
        samples: Responses per instruction (2 to 16; DPO needs two to pair).
        min_accuracy: Pooled-test accuracy a checker needs to be kept, in (0, 1].
        timeout: Wall-clock seconds of one sandboxed checker run (0.5 to 60).
        workers: Checker runs of one match side by side (threads, 1 to 8).
    """

    id = "sparring/exec-feedback-v1"
    short_name = "exec-feedback"
    roles = ("writer", "checker", "responder")
    reward_bounds = (0.0, 1.0)
    max_turns = 32
    default_rewards = {"responder": "response_pass", "checker": "checker_valid", "writer": "instruction_kept"}
    examples = {"writer": [EXAMPLE_INSTRUCTION], "checker": [EXAMPLE_CHECKER],
                "responder": ["Trains are long and fast.", "Trains are long machines that carry many people "
                              "and goods across the whole country every single day of the year."]}

    def __init__(self, checkers: int = 2, samples: int = 4, min_accuracy: float = 0.8, timeout: float = 5.0,
                 workers: int = 2) -> None:
        super().__init__()
        for name, value, low, high in (("checkers", checkers, 1, 8), ("samples", samples, 2, 16),
                                       ("workers", workers, 1, 8)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise TaskError(f"{name} must be an integer in {low}..{high}, got {value!r}")
        if isinstance(min_accuracy, bool) or not isinstance(min_accuracy, int | float) or not 0 < min_accuracy <= 1:
            raise TaskError(f"min_accuracy must be a number in (0, 1], got {min_accuracy!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0.5 <= timeout <= 60:
            raise TaskError(f"timeout must be a number of seconds in [0.5, 60], got {timeout!r}")
        self.checkers, self.samples, self.workers = checkers, samples, workers
        self.min_accuracy = float(min_accuracy)
        self.sandbox = Sandbox(SandboxLimits(wall_s=float(timeout), cpu_s=max(1.0, float(timeout) / 2)))

    def default_roles(self) -> dict[str, Role]:
        """The writer, the checker writer and the instructions family's responder."""
        return {
            "writer": Role("writer", WRITER_SYSTEM, parser=with_examples(parse_instruction, EXAMPLE_INSTRUCTION),
                           sampling=SamplingParams(max_new_tokens=48, temperature=0.8)),
            "checker": Role("checker", CHECKER_SYSTEM, parser=with_examples(parse_checker, EXAMPLE_CHECKER),
                            sampling=SamplingParams(max_new_tokens=256, temperature=0.8)),
            "responder": responder_role(get_family("instructions")),
        }

    def rewards(self) -> Sequence[Reward]:
        """Response pass share (trains the responder), checker accuracy, instruction kept."""
        return (response_pass, checker_valid, instruction_kept)

    def evaluation(self) -> Evaluation:
        """The instructions family's test split, greedy: responder accuracy and satisfaction."""
        return Evaluation(arena=ResponseEval(family="instructions", difficulty=[1, 2]),
                          metrics=RESPONSE_EVAL_METRICS, item=item_key)

    def monitors(self) -> Sequence[Metric]:
        """Checker and instruction keep rates, response pass rate, sandbox failures."""
        return EXEC_FEEDBACK_MONITORS

    async def play(self, match: Match) -> Outcome:
        """Task -> instruction -> checkers and responses -> sandboxed cross-validation and scoring."""
        task = match.rng.choice(TASKS).format(topic=match.rng.choice(TOPICS))
        written: Reply = await match.ask("writer", WRITER_PROMPT.format(task=task))
        if not written.ok:
            return Outcome({"task": task, "instruction": None}, f"{task} -> no instruction ({written.parse_error})")
        instruction = written.parsed
        prompt = f"{task} {instruction}"
        checkers: list[Reply]
        responses: list[Reply]
        checkers, responses = await match.gather(
            match.ask("checker", CHECKER_PROMPT.format(instruction=instruction), n=self.checkers),
            match.ask("responder", prompt, n=self.samples))
        parsed = [c.parsed if c.ok else None for c in checkers]
        tests = [(text, want) for p in parsed if p for text, want in p["tests"]]
        inputs = [t for t, _ in tests] + [r.text for r in responses]
        runs = run_checkers(self.sandbox, [p["code"] if p else None for p in parsed], inputs, self.workers)
        records = []
        for reply, p, (verdicts, result) in zip(checkers, parsed, runs, strict=True):
            accuracy = cross_validate(verdicts[:len(tests)], tests) if p else 0.0
            kept = p is not None and accuracy >= self.min_accuracy
            reason = "" if result is None or result.passed else result.reason
            note = (f"did not parse: {reply.parse_error}" if p is None else
                    f"{accuracy:.2f} on {len(tests)} pooled tests ({'kept' if kept else 'dropped'})"
                    + (f"; sandbox: {reason}" if reason else ""))
            records.append({"ran": p is not None, "kept": kept, "accuracy": accuracy, "note": note,
                            "sandbox_reason": reason[:300], "verdicts": verdicts[len(tests):]})
        kept_rows = [r["verdicts"] for r in records if r["kept"]]
        scores = ([sum(1 for row in kept_rows if row[j] is True) / len(kept_rows) for j in range(len(responses))]
                  if kept_rows else None)
        values = {"task": task, "instruction": instruction, "prompt": prompt, "tests": [list(t) for t in tests],
                  "checkers": records, "response_scores": scores}
        summary = (f"{instruction!r}: {len(kept_rows)}/{len(records)} checker(s) kept; "
                   + (f"response scores {[round(s, 2) for s in scores]}" if scores is not None else "not scored"))
        return Outcome(values, summary)
