"""sparring: multi-agent self-play with language models.

Roles share base models through LoRA adapters, meet in async arenas, and every match
leaves a transcript that rewards, preference data, ratings and viewers are computed from.
"""

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
from sparring.agents.pool import ModelPool
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
    make,
    register,
    registered,
    replay,
    resolve,
)
from sparring.rewards import Reward, Score, check_reward, reward
from sparring.rewards.conformance import check_role
from sparring.runs import PlayConfig, RunDir, Store, play

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_ROLES", "Arena", "ArenaError", "ArenaSpec", "Completion", "ConformanceError",
    "Engine", "GenerationRequest", "Match", "ModelPool", "Outcome", "ParseError", "PlayConfig",
    "QuestionAnswerVerify", "Reply", "Reward", "RewardRecord", "Role", "RunDir", "Runner",
    "SamplingParams", "Score", "ScriptedEngine", "Store", "Transcript", "Turn", "builtin_roles",
    "check_arena", "check_reward", "check_role", "make", "parsers", "play", "register",
    "registered", "replay", "resolve", "reward",
]
