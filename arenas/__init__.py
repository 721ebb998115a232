"""Arenas, matches, transcripts, the runner and the registry: ``sparring.arenas``."""

from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.conformance import ConformanceError, check_arena, check_reward
from sparring.arenas.errors import ArenaError
from sparring.arenas.match import Match, Reply
from sparring.arenas.propose_solve import ProposeSolve
from sparring.arenas.qa_eval import QAEval
from sparring.arenas.qa_verify import QuestionAnswerVerify
from sparring.arenas.registry import make, make_from_spec, register, registered, resolve
from sparring.arenas.replay import ReplayResult, replay
from sparring.arenas.runner import Runner, RunnerStats
from sparring.arenas.scoring import apply_rewards
from sparring.arenas.spin import Spin
from sparring.arenas.task_eval import TaskEval
from sparring.arenas.tasks import (
    Item,
    TaskError,
    TaskFamily,
    families,
    get_family,
    load_jsonl,
    register_family,
)
from sparring.arenas.transcript import ArenaSpec, RewardRecord, Transcript, Turn

register(QuestionAnswerVerify)
register(QAEval)
register(ProposeSolve)
register(Spin)
register(TaskEval)

__all__ = [
    "Arena", "ArenaError", "ArenaSpec", "ConformanceError", "Match", "Outcome",
    "QAEval", "QuestionAnswerVerify", "ReplayResult", "Reply", "RewardRecord", "Runner", "RunnerStats",
    "Transcript", "Turn", "apply_rewards", "check_arena", "check_reward", "make", "make_from_spec", "register", "registered",
    "replay", "resolve",
    # task families and the arenas built on them
    "Item", "ProposeSolve", "Spin", "TaskError", "TaskEval", "TaskFamily", "families", "get_family", "load_jsonl",
    "register_family",
]
