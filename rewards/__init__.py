"""Rewards: functions of transcripts that score roles and turns: ``sparring.rewards``."""

from sparring.rewards.base import FunctionReward, Reward, Score, apply_rewards, reward
from sparring.rewards.conformance import check_reward

__all__ = ["FunctionReward", "Reward", "Score", "apply_rewards", "check_reward", "reward"]
