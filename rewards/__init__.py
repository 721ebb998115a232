"""Rewards: functions of transcripts that score roles and turns: ``sparring.rewards``."""

from sparring.rewards import judges, measurements
from sparring.rewards.base import FunctionReward, Reward, Score, reward
from sparring.rewards.builders import (
    best_worst_pairs,
    consistency_pairs,
    grpo_groups,
    margin_pairs,
    match_groups,
    reference_sft,
    sft_samples,
    spin_pairs,
    win_rates,
)
from sparring.rewards.judge_pairs import (
    JudgedPairs,
    agreement_pairs,
    anchored_pairs,
    future_pairs,
    judged_win_rates,
    large_margin_pairs,
    win_rates_from_matrix,
)
from sparring.rewards.sandbox import Sandbox, SandboxError, SandboxLimits, SandboxResult

__all__ = [
    "FunctionReward", "Reward", "Score", "best_worst_pairs",
    "consistency_pairs", "grpo_groups", "margin_pairs", "match_groups", "measurements", "reference_sft", "reward",
    "sft_samples", "spin_pairs", "win_rates",
    # judges and the judged pair builders
    "JudgedPairs", "agreement_pairs", "anchored_pairs", "future_pairs", "judged_win_rates", "judges",
    "large_margin_pairs", "win_rates_from_matrix",
    # running model-written code (checkers, solutions, tests) in a subprocess with limits
    "Sandbox", "SandboxError", "SandboxLimits", "SandboxResult",
]
