"""Built-in roles: prompts and parsers that arenas reuse.

Each factory returns a :class:`Role` with sensible defaults; arenas and run configs
rebind them (``role.bind(adapter="solver", temperature=1.0)``).
"""

from __future__ import annotations

from collections.abc import Callable

from sparring.agents import parsers
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams


def questioner(**overrides: object) -> Role:
    """Writes a question and its reference answer (``Question: ...`` / ``Answer: ...``)."""
    role = Role(
        name="questioner",
        system_prompt=(
            "You write exam questions. Reply with exactly two lines:\n"
            "Question: <the question>\nAnswer: <the reference answer>"
        ),
        parser=parsers.field_value("Question"),
        sampling=SamplingParams(max_new_tokens=48, temperature=0.8),
    )
    return role.bind(**overrides) if overrides else role  # type: ignore[arg-type]


def solver(**overrides: object) -> Role:
    """Answers a question, ending with ``Answer: <number>``."""
    role = Role(
        name="solver",
        system_prompt="You are a careful solver. Answer the question; end with 'Answer: <answer>'.",
        parser=parsers.answer_number,
        sampling=SamplingParams(max_new_tokens=48, temperature=0.8),
    )
    return role.bind(**overrides) if overrides else role  # type: ignore[arg-type]


def verifier(**overrides: object) -> Role:
    """Judges one answer against a reference: ``Verdict: correct|incorrect``."""
    role = Role(
        name="verifier",
        system_prompt=(
            "You check answers. Compare the proposed answer with the reference answer and "
            "reply 'Verdict: correct' or 'Verdict: incorrect'."
        ),
        parser=parsers.verdict,
        sampling=SamplingParams(max_new_tokens=16, temperature=0.7),
    )
    return role.bind(**overrides) if overrides else role  # type: ignore[arg-type]


def critic(**overrides: object) -> Role:
    """Critiques an answer and says whether it needs revision."""
    role = Role(
        name="critic",
        system_prompt=(
            "You critique answers. Point out the most important mistake, then give "
            "'Verdict: correct' if the answer needs no change, else 'Verdict: incorrect'."
        ),
        parser=parsers.verdict,
        sampling=SamplingParams(max_new_tokens=96, temperature=0.7),
    )
    return role.bind(**overrides) if overrides else role  # type: ignore[arg-type]


def debater(**overrides: object) -> Role:
    """Argues for an answer over several rounds, ending each turn with ``Answer: ...``."""
    role = Role(
        name="debater",
        system_prompt=(
            "You are in a debate. Read the other side's arguments, argue for the answer you "
            "think is right, and end with 'Answer: <answer>'."
        ),
        parser=parsers.answer_number,
        sampling=SamplingParams(max_new_tokens=96, temperature=0.8),
    )
    return role.bind(**overrides) if overrides else role  # type: ignore[arg-type]


def judge(**overrides: object) -> Role:
    """Compares two responses and names the better one: ``Winner: A|B``."""
    role = Role(
        name="judge",
        system_prompt=(
            "You judge two responses to the same prompt. Explain briefly, then reply "
            "'Winner: A' or 'Winner: B'."
        ),
        parser=parsers.choice("A", "B"),
        sampling=SamplingParams(max_new_tokens=64, temperature=0.0),
    )
    return role.bind(**overrides) if overrides else role  # type: ignore[arg-type]


BUILTIN_ROLES: dict[str, Callable[..., Role]] = {
    "questioner": questioner,
    "solver": solver,
    "verifier": verifier,
    "critic": critic,
    "debater": debater,
    "judge": judge,
}
