"""The recipe sections that measure a run: held-out evaluation (``[eval]``) and the in-loop
league (``[league]``); each field documented where it is declared.

Split from :mod:`sparring.runs.recipes.sections`, which re-exports both classes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sparring.runs.recipes.config import Section


class EvalSection(Section):
    """Held-out evaluation (never used for training): the test split, and with
    ``select = "validation"`` the validation split that picks the best checkpoint.

    By default the arena's own declared evaluation runs (see
    :mod:`sparring.arenas.evaluation`); ``arena`` names a different held-out arena. Test
    figures are logged as ``eval/<metric>``, validation figures as ``validation/<metric>``,
    each with ``/ci_low``, ``/ci_high`` (95% interval), ``/n_items`` and ``/n_distinct``.
    Every evaluated seat samples with the settings of this section (and otherwise the
    evaluation arena's own role defaults), never with the training role's, so every arm
    of a comparison is evaluated alike.
    """

    every: int = Field(1, ge=0)
    """Evaluate every N iterations (0: only before and after training)."""
    size: int = Field(64, ge=1)
    """Test items (distinct items of the test split where the evaluation plays a task
    family's items; a size above the split's distinct items is refused)."""
    seed: int = 10_000
    """Seed of the held-out seeds of evaluations that draw from seeds rather than items
    (kept disjoint from training seeds)."""
    select: Literal["none", "validation"] = "none"
    """``validation``: also evaluate the validation split at every evaluation, keep the
    adapters that score best there as ``adapters/<adapter>/best`` and log the test
    figures of that selected iteration as ``select/...``; test never decides anything."""
    validation_size: int | None = Field(None, ge=1)
    """Validation items (default: ``size``)."""
    test: Literal["every", "end"] = "every"
    """When the test split is played: at ``every`` evaluation (curves; never read by a
    decision), or only before training and at the end (``end``: cheaper), where the
    validation-selected adapters are tested too."""
    metric: str | None = None
    """The validation metric selection and early stopping read (a metric name of the
    evaluation, without ``eval/``); default: the evaluation's first declared metric."""
    mode: Literal["max", "min"] = "max"
    """Whether a higher (``max``) or lower (``min``) ``metric`` is better."""
    patience: int = Field(0, ge=0)
    """Stop training after this many evaluations without a new best on validation
    (0: never; needs ``select = "validation"``)."""
    max_new_tokens: int | None = Field(None, ge=1)
    """Generation cap of every evaluated seat (default: the evaluation arena's role default,
    not the training role's)."""
    system_prompt: str | None = None
    """System prompt of every evaluated seat (default: the evaluation arena's role's)."""
    stop: list[str] | None = None
    """Stop strings of every evaluated seat (default: the evaluation arena's role's)."""
    arena: str | None = None
    """Another arena to evaluate on (id, short name, ``file.py:Class``); its own declared
    metrics are reported, else its per-seat mean rewards."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Constructor arguments of ``eval.arena``."""
    greedy: bool | None = None
    """Sample every seat at temperature 0 (default: what the evaluation declares, greedy)."""
    temperature: float | None = Field(None, gt=0)
    """Sample every held-out seat at this temperature instead (sampled pass@1, e.g. 0.7);
    not with ``greedy = true``."""
    roles: dict[str, str] = Field(default_factory=dict)
    """Held-out seat -> the recipe role whose adapter and sampling play it, for a held-out
    arena whose seats are named differently (``{ solver = "debater" }`` evaluates the
    debater's adapter on ``task-eval``'s solver seat). Seats not named here are played by
    the recipe role of the same name, else by the base model."""


    @model_validator(mode="after")
    def _one_decoding(self) -> EvalSection:
        if self.temperature is not None and self.greedy:
            raise ValueError(f"eval.greedy = true and eval.temperature = {self.temperature} contradict each other; "
                             "remove one (temperature samples the held-out seats, greedy takes the argmax)")
        if self.patience and self.select != "validation":
            raise ValueError(f"eval.patience = {self.patience} stops on validation figures; "
                             "set eval.select = \"validation\" or remove patience")
        return self


class LeagueSection(Section):
    """The in-loop league: every ``every`` iterations the current version of ``adapter`` plays
    its past versions (frozen snapshot adapters on the one base) and fixed anchors in two
    competing seats; ratings go to the metrics as ``league/...`` (see :mod:`sparring.runs.tournaments.league`)."""

    every: int = Field(0, ge=0)
    """Play a league round after every K-th iteration (0: no league)."""
    adapter: str | None = None
    """The adapter whose versions compete (default: the only trained adapter)."""
    seats: list[str] | None = None
    """The two competing seats (default: the arena's seats when it has exactly two)."""
    games: int = Field(2, ge=1)
    """Matches per opponent and seat order in each league round."""
    pool_size: int = Field(4, ge=1)
    """Most past versions kept as opponents (the newest ones)."""
    base: bool = True
    """Whether the base model (adapter off) plays as an anchor."""
    anchors: dict[str, str] = Field(default_factory=dict)
    """Scripted anchors: a name and the fixed reply that player always gives."""
    policies: dict[str, str] = Field(default_factory=dict)
    """Policy anchors: a name and a ``"module:function"`` called as ``function(messages, rng)``
    for each reply, as a tournament's ``policy`` player (e.g. tic-tac-toe's
    ``sparring.arenas.builtin.tictactoe:win_block_random``)."""
    reward: str | None = None
    """Decide winners by this reward (default: each seat's mean reward; an arena's
    ``winner(transcript)`` takes precedence)."""
    bootstrap: int = Field(200, ge=10)
    """Bootstrap resamples of the BT intervals logged each league round."""
    opponents: Literal["latest", "uniform", "prioritised"] = "latest"
    """Who the adapter trains against in the competing seats: ``latest`` (itself, in both
    seats: plain self-play), ``uniform`` (per match, one seat is played by a version drawn
    uniformly from the league's past versions and the latest), ``prioritised`` (drawn with
    weight ``(1 - score against it) ** priority``, the league's last results: fictitious
    self-play that favours the opponents it still loses to)."""
    priority: float = Field(2.0, gt=0)
    """Exponent of the ``prioritised`` weights (higher: focus harder on the strongest)."""

    @field_validator("anchors", "policies")
    @classmethod
    def _anchor_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", name) or re.fullmatch(r"v\d+|base", name):
                raise ValueError(f"anchor name {name!r} must be letters, digits, '_' or '-' starting with a letter, "
                                 "and not 'base' or v<N> (the names of versions)")
        return value

    @field_validator("policies")
    @classmethod
    def _policies_load(cls, value: dict[str, str]) -> dict[str, str]:
        from sparring.arenas.pettingzoo_arena import load_function

        for name, ref in value.items():
            try:
                load_function(ref, "policy")
            except (ValueError, RuntimeError) as exc:  # ArenaError is a RuntimeError
                raise ValueError(f"{name}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _distinct_anchor_names(self) -> LeagueSection:
        both = sorted(set(self.anchors) & set(self.policies))
        if both:
            raise ValueError(f"{', '.join(both)} named both in anchors and in policies; give each player one name")
        return self
