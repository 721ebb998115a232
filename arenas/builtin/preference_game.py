"""A preference game: k samples per prompt, compared round-robin by a judge (``sparring/preference-game-v1``).

Seats and what each sees:
    responder (the policy): one prompt of the task family's training split (default
        ``instructions``), drawn with the match seed at a difficulty in the given range;
        answers ``samples`` times. Never sees a verdict or the checker.
    judge: the prompt and two of the policy's replies at a time, labelled A and B; every
        ordered pair is asked once, so each unordered pair is judged in both orders
        (``Winner: A | B | tie``). Bind it in the recipe to the policy's adapter (a judge
        seat of the same model, SPO-style self-play) or leave it unbound / on a frozen
        adapter (``adapters.<name>.init_from``) for a frozen judge (SPPO, DNO use a
        fixed preference model). Never sees the checker.

The win matrix ``W`` (stored whole in the outcome, ``win_matrix``): for replies i != j,
``W[i][j] = (v(i shown first) + v(i shown second)) / 2`` with v = 1 for a win, 1/2 a
tie, 0 a loss (a verdict that does not parse is left out; ``None`` when neither
parses), so ``W[j][i] = 1 - W[i][j]``.

Rewards (per responder turn, in [0, 1]):
    ``win_rate``: ``w_i = mean_{j != i} W[i][j]``, the estimate of ``P(y_i beats the
        policy | x)`` from the other samples of the *same* prompt (never across prompts).
        SPPO's target (update ``sppo_judged``: squared loss to ``eta * (w_i - 1/2)``, anchored
        to the generating iterate), SPO's win-proportion reward (update ``grpo``), and the
        ranking of DNO's pairs (update ``dno``: best over worst by ``w`` when
        ``w_best - w_worst >= margin``, DPO against the generating iterate).
    ``truth_score``: the checker's score of each reply (measurement only).

Monitors: ``judge/position_consistency`` (verdicts that survive the order swap),
``judge/truth_agreement`` (the top win-rate reply has the best checker score),
``truth_score_mean``, ``judge/tie_rate``. Evaluation: ``response-eval`` on the family's
held-out split, greedy.

Papers: Wu et al., "Self-Play Preference Optimization for Language Model Alignment" (SPPO,
2024): k samples per prompt, win rates against the other samples from a preference model
(PairRM), the squared loss on the log-ratio to the previous iterate. Swamy et al., "A
Minimaximalist Approach to RLHF" (SPO, 2024): the reward of a sample is the proportion of
other samples it beats. Rosset et al., "Direct Nash Optimization" (DNO, 2024): pairs of the
best and worst samples under the preference function, kept with a large margin, trained
with a DPO-style loss against the previous iterate. Departures: the preference model is a
judge prompt on an LM (the policy itself or a frozen copy), not PairRM or GPT-4; both
orders are averaged to cancel position bias; DNO's teacher (gold) responses are not used:
the paper adds a stronger model's replies (GPT-4) to each prompt's candidates, and here
every candidate is the policy's own sample (no teacher model runs beside the embedded one;
the task family's reference replies would make the method supervised, not DNO's
teacher-in-the-loop comparison).

Versions: v1, first version.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sparring.agents.roles import Role
from sparring.arenas.arena import Arena, Outcome
from sparring.arenas.builtin.instructions import (
    RESPONSE_EVAL_METRICS,
    ResponseEval,
    item_key,
    responder_role,
    truth_score,
)
from sparring.arenas.evaluation import Evaluation
from sparring.arenas.judging import (
    JUDGE_EXAMPLE,
    judge_role,
    round_robin,
    truth_agreement,
    truth_score_mean,
)
from sparring.arenas.match import Match
from sparring.arenas.tasks import TaskError, difficulty_range, get_family
from sparring.arenas.transcript import Transcript
from sparring.rewards.base import Reward, Score, reward
from sparring.rewards.judge_bias import position_consistency_metric
from sparring.rewards.judge_pairs import JudgedPairs, win_rates_from_matrix
from sparring.rewards.metrics import Metric, metric


def _policy_scores(transcript: Transcript, key: str, what: str) -> list[Score] | None:
    outcome = transcript.outcome or {}
    turns = [turn.index for turn in transcript.turns if turn.role == "responder"]
    if not isinstance(outcome.get(key), list) or len(outcome[key]) != len(turns):
        return None
    return [Score("responder", float(v), f"{what}: {v:.3f}", turn=i) for i, v in zip(turns, outcome[key], strict=True)
            if v is not None] or None


@reward("win_rate", bounds=(0.0, 1.0))
def win_rate(transcript: Transcript) -> list[Score] | None:
    """Each reply's mean win against the other replies to the same prompt (both orders)."""
    return _policy_scores(transcript, "win_rates", "win rate")


@reward("truth_score", bounds=(0.0, 1.0))
def game_truth_score(transcript: Transcript) -> list[Score] | None:
    """The checker's score of each reply (measurement only)."""
    return _policy_scores(transcript, "truth_scores", "checker")


@metric("judge/tie_rate", per_match=True)
def tie_rate(transcript: Transcript) -> float | None:
    """Share of parsed verdicts that are ties."""
    verdicts = [v for pair in (transcript.outcome or {}).get("pairwise_verdicts") or [] for v in pair if v is not None]
    return sum(v == "tie" for v in verdicts) / len(verdicts) if verdicts else None


PREFERENCE_GAME_MONITORS: tuple[Metric, ...] = (position_consistency_metric(), truth_agreement("win_rates"),
                                                truth_score_mean, tie_rate)


class PreferenceGame(Arena):
    """k samples of one prompt, every pair judged in both orders; win rates per reply.

    Args:
        family: Task family (name, ``.jsonl`` path or ``module:attribute``).
        difficulty: A difficulty or an inclusive ``[low, high]`` range drawn per match.
        samples: Policy replies per prompt (k); the judge is asked k(k-1) times.
        margin: Smallest win-rate gap of a DNO pair (offered to the ``dno`` update).
    """

    id = "sparring/preference-game-v1"
    short_name = "preference-game"
    roles = ("responder", "judge")
    reward_bounds = (0.0, 1.0)
    max_turns = 8 + 8 * 7
    default_rewards = {"responder": "win_rate"}

    def __init__(self, family: str = "instructions", difficulty: int | Sequence[int] = (1, 2), samples: int = 4,
                 margin: float = 0.5) -> None:
        super().__init__()
        self.family = get_family(family)
        self.difficulty = difficulty_range(difficulty, self.family)
        if isinstance(samples, bool) or not isinstance(samples, int) or not 2 <= samples <= 8:
            raise TaskError(f"samples must be an integer in 2..8, got {samples!r}")
        if not 0 < margin <= 1:
            raise TaskError(f"margin must be in (0, 1], got {margin!r}")
        self.samples, self.margin = samples, margin
        self.examples = {"judge": [JUDGE_EXAMPLE, "Both are fine.\nWinner: tie", "B is shorter.\nWinner: B"]}  # type: ignore[misc]

    def default_roles(self) -> dict[str, Role]:
        """The responder (the same role as respond-judge's, so the held-out evaluation binds
        it too) and a pairwise judge."""
        return {"responder": responder_role(self.family), "judge": judge_role("pairwise")}

    def rewards(self) -> Sequence[Reward]:
        """Judged win rate (trains) and the checker's score (measures)."""
        return (win_rate, game_truth_score)

    def evaluation(self) -> Evaluation:
        """The family's held-out split, greedy: responder accuracy and satisfaction."""
        family = str(self.kwargs.get("family", self.family.name))
        return Evaluation(arena=ResponseEval(family=family, difficulty=list(self.difficulty)),
                          metrics=RESPONSE_EVAL_METRICS, item=item_key)

    def monitors(self) -> Sequence[Metric]:
        """Position consistency, judge/checker agreement, checker mean, tie rate."""
        return PREFERENCE_GAME_MONITORS

    def judged_pairs(self) -> JudgedPairs:
        """The DNO margin (no anchor seat or previous judge here)."""
        return JudgedPairs(agreeing_rewards=("win_rate",), margin=self.margin)

    async def play(self, match: Match) -> Outcome:
        """k replies, the round-robin, the win matrix and win rates; the checker logged."""
        low, high = self.difficulty
        item = self.family.sample(match.rng, match.rng.randint(low, high), "train")
        replies = await match.ask("responder", item.prompt, n=self.samples)
        matrix, verdicts = await round_robin(match, "judge", item.prompt, [r.text for r in replies])
        rates = win_rates_from_matrix(matrix)
        truth = [truth_score(self.family, r.text if r.ok else None, r.parsed if r.ok else None, item.answer)
                 for r in replies]
        values: dict[str, Any] = {
            "family": self.family.name, "difficulty": item.difficulty, "prompt": item.prompt, "item_key": item.key,
            "truth": item.answer, "answers": [r.text for r in replies], "win_matrix": matrix, "win_rates": rates,
            "pairwise_verdicts": verdicts, "truth_scores": truth,
        }
        shown = ", ".join("-" if w is None else f"{w:.2f}" for w in rates)
        return Outcome(values, f"{item.prompt[:60]}: win rates [{shown}], checker {sum(truth) / len(truth):.2f}")
