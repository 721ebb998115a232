"""sparring: multi-agent self-play with language models.

Roles share base models through LoRA adapters, meet in async arenas, and every match
leaves a transcript that rewards, preference data, ratings and viewers are computed from;
preference builders turn transcripts into training samples and updates (GRPO, RLOO, DPO,
IPO, SPIN, SPPO, SFT) train the roles' adapters in alternating iterations (``train``).
"""

import importlib
from typing import Any

from sparring.agents import (
    BUILTIN_ROLES,
    Completion,
    Engine,
    GenerationRequest,
    ParseError,
    Role,
    SamplingParams,
    ScriptedEngine,
    builtin_roles,
    parsers,
)
from sparring.agents.conformance import check_role
from sparring.arenas import (
    Arena,
    ArenaError,
    ArenaSpec,
    ConformanceError,
    Match,
    Outcome,
    QuestionAnswerVerify,
    Reply,
    RewardRecord,
    Runner,
    Transcript,
    Turn,
    check_arena,
    check_reward,
    make,
    register,
    registered,
    replay,
    resolve,
)
from sparring.arenas.builtin.code_feedback import CodeFeedback
from sparring.arenas.builtin.document_eval import DocumentEval
from sparring.arenas.builtin.elicitation import Elicitation
from sparring.arenas.builtin.exec_feedback import ExecFeedback
from sparring.arenas.builtin.graph_debate import GraphDebate
from sparring.arenas.builtin.instructions import InstructionFamily, ResponseEval
from sparring.arenas.builtin.judge_training import JudgeTraining
from sparring.arenas.builtin.preference_game import PreferenceGame
from sparring.arenas.builtin.propose_solve import ProposeSolve
from sparring.arenas.builtin.respond_judge import RespondJudge
from sparring.arenas.builtin.self_correct import SelfCorrect
from sparring.arenas.builtin.solve_review_refine import SolveReviewRefine
from sparring.arenas.builtin.spell_documents import SpellDocuments
from sparring.arenas.builtin.spin import Spin
from sparring.arenas.builtin.task_eval import TaskEval
from sparring.arenas.builtin.tictactoe import TicTacToe
from sparring.arenas.builtin.tree_refine import TreeRefine
from sparring.arenas.competitive import DeclaresWinner
from sparring.arenas.curriculum import Curriculum
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.items import SplitItems
from sparring.arenas.pettingzoo_arena import PettingZooArena
from sparring.arenas.tasks import (
    Item,
    TaskError,
    TaskFamily,
    families,
    get_family,
    load_jsonl,
    register_family,
)
from sparring.rewards import (
    JudgedPairs,
    Reward,
    Score,
    best_worst_pairs,
    consistency_pairs,
    grpo_groups,
    intervals,
    judges,
    margin_pairs,
    measurements,
    reference_sft,
    reward,
    sft_samples,
    spin_pairs,
)
from sparring.rewards.controls import random_twin
from sparring.rewards.metrics import Metric, metric
from sparring.rewards.sandbox import Sandbox, SandboxError, SandboxLimits, SandboxResult

# Names whose modules import torch are loaded on first use (PEP 562), so that
# ``import sparring.arenas`` (which imports this package first) stays light.
_LAZY = {
    "ModelPool": "sparring.agents.pool",
    **{name: "sparring.agents.updates" for name in (
        "DPOUpdate", "GroupSample", "IPOUpdate", "PolicyGradientUpdate", "PreferencePair",
        "SFTSample", "SFTUpdate", "SPINUpdate", "SPPOUpdate", "Update", "LRSchedule", "entropy_bonus",
        "kl_anchor")},
    "Algorithm": "sparring.runs.training.algorithms",
    "register_update": "sparring.runs.training.algorithms",
    **{name: "sparring.runs" for name in (
        "PlayConfig", "Recipe", "RecipeError", "RunDir", "Store", "Trainer", "export",
        "load_recipe", "play", "train")},
    "rescore": "sparring.runs.analysis.rescore",
    **{name: "sparring.runs.analysis.whatif" for name in ("WhatIf", "Swap", "whatif")},
    "BranchDiff": "sparring.runs.analysis.effects",
    "evaluate_targets": "sparring.runs.training.adapter_eval",
    **{name: "sparring.runs.tournaments.tournament" for name in (
        "TournamentConfig", "load_tournament", "rate_run", "run_tournament")},
    "to_pettingzoo": "sparring.arenas.pettingzoo_env",  # subclasses PettingZoo's AECEnv
    **{name: "sparring.runs.tournaments.ratings" for name in (
        "Game", "RatingReport", "bootstrap_intervals", "bradley_terry", "rate")},
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sparring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    # task families and the arenas built on them (propose-solve, spin, task-eval)
    "Item", "ProposeSolve", "Spin", "TaskError", "TaskEval", "TaskFamily", "families", "get_family", "load_jsonl",
    "register_family", "SplitItems",
    # learning figures you can trust: intervals, paired comparisons, random-reward controls, standalone eval
    "intervals", "random_twin", "evaluate_targets",
    # self-correction, solve-review-refine (MAgICoRe) and graph debate; measurements over stored
    # transcripts; rescoring them
    "GraphDebate", "SelfCorrect", "SolveReviewRefine", "measurements", "rescore",
    # counterfactual branches of stored matches (sparring whatif)
    "BranchDiff", "Swap", "WhatIf", "whatif",
    # judged self-play (self-rewarding, preference game), judges and judge training (J1), the open-instruction family
    "InstructionFamily", "JudgeTraining", "JudgedPairs", "PreferenceGame", "RespondJudge", "ResponseEval", "judges",
    "Algorithm", "BUILTIN_ROLES", "Arena", "ArenaError", "ArenaSpec", "Completion", "ConformanceError",
    # STaR-GATE: asking clarifying questions of a hidden persona, scored by the gold reply's likelihood
    "Elicitation",
    # self-play with tree-search refinement (SPaR): actor and refiner
    "TreeRefine",
    # SPELL's document mode (curriculum over document length) and its held-out reading evaluation
    "Curriculum", "DocumentEval", "SpellDocuments",
    # PettingZoo both ways (to_pettingzoo needs the pettingzoo extra)
    "PettingZooArena", "TicTacToe", "to_pettingzoo",
    # tournaments and ratings
    "DeclaresWinner", "Game", "RatingReport", "TournamentConfig", "bootstrap_intervals", "bradley_terry",
    "load_tournament", "rate", "rate_run", "run_tournament",
    "DPOUpdate", "Engine", "Evaluation", "GenerationRequest", "GroupSample", "IPOUpdate", "Match", "Metric", "ModelPool",
    "Outcome", "ParseError", "PlayConfig", "PolicyGradientUpdate", "PreferencePair",
    "QuestionAnswerVerify", "Recipe", "RecipeError", "Reply", "Reward", "RewardRecord", "Role",
    "RunDir", "Runner", "SFTSample", "SFTUpdate", "SPINUpdate", "SPPOUpdate", "SamplingParams",
    "Score", "ScriptedEngine", "Store", "Trainer", "Transcript", "Turn", "Update",
    "best_worst_pairs", "builtin_roles", "check_arena", "check_reward", "check_role",
    "consistency_pairs", "export", "grpo_groups", "load_recipe", "make", "margin_pairs", "metric", "parsers",
    "play", "reference_sft", "register", "register_update", "registered", "replay", "resolve", "reward",
    "sft_samples", "spin_pairs", "train",
    # stabilisers of label-free self-training (learning-rate schedules, entropy bonus, KL anchor)
    "LRSchedule", "entropy_bonus", "kl_anchor",
    # execution feedback (AutoIF, CodeDPO): model-written code run in a sandboxed subprocess, and the arenas
    "CodeFeedback", "ExecFeedback", "Sandbox", "SandboxError", "SandboxLimits", "SandboxResult",
]
