"""Arenas, matches, transcripts, the runner and the registry: ``sparring.arenas``."""

from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.code_feedback import CodeFeedback
from sparring.arenas.builtin.document_eval import DocumentEval
from sparring.arenas.builtin.elicitation import Elicitation
from sparring.arenas.builtin.exec_feedback import ExecFeedback
from sparring.arenas.builtin.graph_debate import GraphDebate
from sparring.arenas.builtin.instructions import InstructionFamily, ResponseEval
from sparring.arenas.builtin.judge_training import JudgeTraining
from sparring.arenas.builtin.preference_game import PreferenceGame
from sparring.arenas.builtin.propose_solve import ProposeSolve
from sparring.arenas.builtin.qa_eval import QAEval
from sparring.arenas.builtin.qa_verify import QuestionAnswerVerify
from sparring.arenas.builtin.respond_judge import RespondJudge
from sparring.arenas.builtin.self_correct import SelfCorrect
from sparring.arenas.builtin.solve_review_refine import SolveReviewRefine
from sparring.arenas.builtin.spell_documents import SpellDocuments
from sparring.arenas.builtin.spin import Spin
from sparring.arenas.builtin.task_eval import TaskEval
from sparring.arenas.builtin.tictactoe import TicTacToe
from sparring.arenas.builtin.tree_refine import TreeRefine
from sparring.arenas.conformance import ConformanceError, check_arena, check_reward
from sparring.arenas.errors import ArenaError
from sparring.arenas.match import Match, Reply
from sparring.arenas.pettingzoo_arena import PettingZooArena
from sparring.arenas.registry import make, make_from_spec, register, registered, resolve
from sparring.arenas.replay import ReplayResult, replay
from sparring.arenas.runner import Runner, RunnerStats
from sparring.arenas.scoring import apply_rewards
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
register(SelfCorrect)
register(SolveReviewRefine)
register(GraphDebate)
register(TaskEval)
register(RespondJudge)
register(PreferenceGame)
register(JudgeTraining)
register(ResponseEval)
register(TicTacToe)
register(SpellDocuments)
register(DocumentEval)
register(ExecFeedback)
register(CodeFeedback)
register(Elicitation)
register(TreeRefine)

__all__ = [
    "Arena", "ArenaError", "ArenaSpec", "ConformanceError", "Match", "Outcome",
    "QAEval", "QuestionAnswerVerify", "ReplayResult", "Reply", "RewardRecord", "Runner", "RunnerStats",
    "Transcript", "Turn", "apply_rewards", "check_arena", "check_reward", "make", "make_from_spec", "register", "registered",
    "replay", "resolve",
    # task families and the arenas built on them
    "GraphDebate", "Item", "ProposeSolve", "SelfCorrect", "SolveReviewRefine", "Spin", "TaskError", "TaskEval", "TaskFamily", "families", "get_family", "load_jsonl",
    "register_family",
    # PettingZoo both ways (to_pettingzoo needs the pettingzoo extra; loaded on first use)
    "PettingZooArena", "TicTacToe", "to_pettingzoo",
    # SPELL's document mode and its held-out reading evaluation
    "DocumentEval", "SpellDocuments",
    # STaR-GATE: eliciting a hidden persona's preferences by asking (scored by the engine)
    "Elicitation",
    # the method library, part 2
    "TreeRefine",
    # judged arenas (self-rewarding, preference game, judge training) and the open-instruction family
    "InstructionFamily", "JudgeTraining", "PreferenceGame", "RespondJudge", "ResponseEval",
    # execution feedback (AutoIF, CodeDPO): model-written checkers and solutions run in the sandbox
    "CodeFeedback", "ExecFeedback",
]


def __getattr__(name: str) -> object:
    # PEP 562: ``to_pettingzoo`` subclasses PettingZoo's AECEnv, so importing its module
    # imports pettingzoo; ``import sparring.arenas`` must not.
    if name == "to_pettingzoo":
        from sparring.arenas.pettingzoo_env import to_pettingzoo

        return to_pettingzoo
    raise AttributeError(f"module 'sparring.arenas' has no attribute {name!r}")
