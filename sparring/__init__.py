"""sparring: multi-agent self-play with language models.

Roles share base models through LoRA adapters, meet in async arenas, and every match
leaves a transcript that rewards, preference data, ratings and viewers are computed from;
preference builders turn transcripts into training samples and updates (GRPO, RLOO, DPO,
IPO, SPIN, SPPO, SFT) train the roles' adapters in alternating iterations (``train``).
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
from sparring.agents.updates import (
    DPOUpdate,
    GroupSample,
    IPOUpdate,
    PolicyGradientUpdate,
    PreferencePair,
    SFTSample,
    SFTUpdate,
    SPINUpdate,
    SPPOUpdate,
    Update,
)
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
from sparring.rewards import (
    Reward,
    Score,
    best_worst_pairs,
    check_reward,
    consistency_pairs,
    grpo_groups,
    margin_pairs,
    reference_sft,
    reward,
    sft_samples,
    spin_pairs,
)
from sparring.rewards.conformance import check_role
from sparring.runs import (
    PlayConfig,
    Recipe,
    RecipeError,
    RunDir,
    Store,
    Trainer,
    export,
    load_recipe,
    play,
    train,
)

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_ROLES", "Arena", "ArenaError", "ArenaSpec", "Completion", "ConformanceError",
    "DPOUpdate", "Engine", "GenerationRequest", "GroupSample", "IPOUpdate", "Match", "ModelPool",
    "Outcome", "ParseError", "PlayConfig", "PolicyGradientUpdate", "PreferencePair",
    "QuestionAnswerVerify", "Recipe", "RecipeError", "Reply", "Reward", "RewardRecord", "Role",
    "RunDir", "Runner", "SFTSample", "SFTUpdate", "SPINUpdate", "SPPOUpdate", "SamplingParams",
    "Score", "ScriptedEngine", "Store", "Trainer", "Transcript", "Turn", "Update",
    "best_worst_pairs", "builtin_roles", "check_arena", "check_reward", "check_role",
    "consistency_pairs", "export", "grpo_groups", "load_recipe", "make", "margin_pairs", "parsers",
    "play", "reference_sft", "register", "registered", "replay", "resolve", "reward",
    "sft_samples", "spin_pairs", "train",
]
