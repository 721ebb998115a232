"""The arms of ``method_efficacy.py``: each family's one evaluation protocol and each arm's
recipe and overrides (read by the benchmark; the protocol itself lives there)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    """The one evaluation protocol every arm of a family shares."""

    arena: str
    kwargs: dict
    seat: str = "solver"
    metric: str = "solver_accuracy"
    max_new_tokens: int = 64


@dataclass(frozen=True)
class Arm:
    recipe: str
    family: str
    label_free: bool
    overrides: tuple[str, ...] = ()
    role: str | None = None  # the recipe role that plays the held-out seat (if named differently)
    signal: tuple[str, str, str] | None = None  # (seat, training reward, truth reward) to compare


FAMILIES = {
    "units": Family("task-eval", {"family": "units", "difficulty": [1, 1]}),
    "instructions": Family("response-eval", {"family": "instructions", "difficulty": [1, 2]},
                           "responder", "responder_accuracy", 96),
    "arithmetic": Family("task-eval", {"family": "arithmetic", "difficulty": [1, 2]}),
    # held-out pairs (J1): the frozen base writes the candidates (sampled with the match seeds, so
    # every checkpoint judges the same pairs), the judge greedy, one verdict per order
    "judging": Family("judge-training", {"family": "instructions", "difficulty": [1, 2], "source": "mixed",
                                          "split": "test"}, "judge", "judge_consistent_accuracy", 128),
    # held-out synthetic documents (1000 distinct items per split) at fixed levels, whatever the curriculum reached
    "documents": Family("document-eval", {"levels": [1, 3]}, "responder", "responder_accuracy", 32),
    # held-out personas (2000 distinct test items), one greedy dialogue each, scored under the trained questioner
    "personas": Family("elicitation", {"k": 3, "dialogues": 1, "keep": 1}, "questioner", "elicitation/gold_logprob", 32),
    # one greedy solution per test problem, the share of its hidden tests passed in the sandbox
    "code": Family("code-feedback", {"samples": 1, "split": "test"}, "coder", "code/pass_rate", 160),
}
_SFT = ("roles.solver.update=\"sft\"", "roles.solver.targets=\"reference\"")


def _majority(*extra: str, label_free: bool = True) -> Arm:
    return Arm("majority_vote.toml", "units", label_free, extra, role="debater",
               signal=("debater", "debater_majority", "debater_truth"))


# Stabilisers of label-free self-training (issue 21), as overrides of the majority-vote recipe.
# The budget is CPU minutes (train.iterations is set out of reach), so the decay's length is
# explicit: about 40 iterations of 2 steps; set it to the budget measured.
BAND = ("roles.debater.band=[0.3, 0.7]", "roles.debater.truth_reward=\"debater_truth\"")  # the truth is only logged
ENTROPY = ("train.entropy_coef=0.05", "train.entropy_floor=0.3")
KL = ("train.kl_coef=0.1", "train.kl_reference=\"start\"")
SCHEDULE = ("train.lr_schedule=\"cosine\"", "train.warmup_steps=4", "train.decay_steps=80", "train.min_lr_ratio=0.1")
REPLAY = ("replay.window=3", "replay.ratio=0.5")
# The guard acts inside Trainer.iteration (roll-backs); run_arm's loop below does not read its
# stop, so after max_rollbacks the run goes on unguarded (guard/stop is still logged).
GUARD = ("guard.below={\"debater/entropy\" = 0.15}", "guard.above={\"reward/debater_majority/debater\" = 0.95}",
         "guard.lr_factor=0.5", "guard.max_rollbacks=3")
ALL = (*BAND, *ENTROPY, *KL, *SCHEDULE, *REPLAY, *GUARD)
TTRL = ("roles.debater.update=\"grpo\"", "roles.debater.reward=\"debater_majority\"")
WARM = ("adapters.debater.init_from=\"out/warmstart/adapters/debater/v8\"",)
"""A few labels: first ``sparring train recipes/warmstart_sft.toml --out out/warmstart`` (32
labelled draws); the warm-start arms are not label-free."""
J1_JUDGE = ("adapters.judge.init_from=\"out/efficacy/judge_training-s0/adapters/judge/best\"",)
"""The judge of respond_judge_j1: first run the ``judge_training`` arm (``--out out/efficacy``,
seed 0); its validation-selected adapter. Trained on programmatic labels, so not label-free."""

ARMS = {
    "majority_units": _majority(),
    "random_units": _majority("roles.debater.reward=\"random:debater_majority\"", label_free=False),
    "ttrl_units": _majority("roles.debater.update=\"grpo\"", "roles.debater.reward=\"debater_majority\""),
    "majority_units_band": _majority(*BAND),
    "majority_units_entropy": _majority(*ENTROPY),
    "majority_units_kl": _majority(*KL),
    "majority_units_schedule": _majority(*SCHEDULE),
    "majority_units_replay": _majority(*REPLAY),
    "majority_units_guard": _majority(*GUARD),
    "majority_units_all": _majority(*ALL),
    "random_units_all": _majority("roles.debater.reward=\"random:debater_majority\"", *ALL, label_free=False),
    "ttrl_units_all": _majority(*TTRL, *ALL),
    "majority_units_warm": _majority(*WARM, label_free=False),
    "majority_units_warm_all": _majority(*WARM, *ALL, label_free=False),
    "sft_units": Arm("spin.toml", "units", False,
                     ("arena.kwargs={family=\"units\", difficulty=[1, 1], samples=1}", *_SFT)),
    "respond_judge": Arm("respond_judge.toml", "instructions", True, signal=("responder", "judge_score", "truth_score")),
    # does a J1-trained judge give self-rewarding a signal that tracks the truth? (signal: judge vs checker)
    "respond_judge_j1": Arm("respond_judge_j1.toml", "instructions", False, J1_JUDGE,
                            signal=("responder", "judge_score", "truth_score")),
    "respond_judge_pairwise": Arm("respond_judge_j1.toml", "instructions", True,
                                  signal=("responder", "judge_score", "truth_score")),
    "judge_training": Arm("judge_training.toml", "judging", False),
    "preference_game": Arm("preference_game.toml", "instructions", True,
                           signal=("responder", "win_rate", "truth_score")),
    # SPaR: the actor's adapter answers the held-out instructions (the refiner is not measured by this protocol)
    "tree_refine": Arm("tree_refine.toml", "instructions", True, role="actor",
                       signal=("actor", "actor_judged", "actor_truth")),
    # AutoIF: checkers written by the policy, cross-validated and run in the sandbox; the responder answers
    # the held-out instructions, checked by the family's own program
    "exec_feedback": Arm("exec_feedback.toml", "instructions", True),
    "sft_instructions": Arm("spin.toml", "instructions", False,
                            ("arena.kwargs={family=\"instructions\", difficulty=[1, 2], samples=1}",
                             "roles.solver.max_new_tokens=96", *_SFT), role="solver"),
    "propose_solve": Arm("propose_solve.toml", "arithmetic", True, signal=("solver", "solver_majority", "solver_truth")),
    "graph_debate": Arm("graph_debate.toml", "arithmetic", True, ("arena.kwargs.difficulty=[1, 2]",), role="debater",
                        signal=("debater", "debater_majority", "debater_truth")),
    "self_correct": Arm("self_correct.toml", "arithmetic", False),
    # the protocol reads the solver seat alone (one greedy answer on task-eval), not the routed answer the
    # arena reports (eval/refine/accuracy_second): it measures what training the reviewer and refiner on
    # the shared adapter does to plain solving
    "solve_review_refine": Arm("solve_review_refine.toml", "arithmetic", False),
    "spin": Arm("spin.toml", "arithmetic", False),
    "sft_arithmetic": Arm("spin.toml", "arithmetic", False, _SFT),
    "elicitation": Arm("elicitation.toml", "personas", True),
    "code_feedback": Arm("code_feedback.toml", "code", False,
                          signal=("coder", "solution_score", "solution_truth")),
    "code_feedback_self": Arm("code_feedback.toml", "code", True, ("arena.kwargs.self_tests=true",),
                               signal=("coder", "solution_score", "solution_truth")),
    "spell_documents": Arm("spell_documents.toml", "documents", True,
                           signal=("responder", "responder_verdict", "responder_truth")),
}
