"""Recipes: validated TOML configs of self-play training runs, with dotted overrides.

A recipe names the base model, the arena and its kwargs, each seat's adapter binding,
sampling and update algorithm, the alternating schedule, training and evaluation
settings. Unknown fields and bad values are errors that name the field and the fix::

    sparring train recipes/qa_verify_selfplay.toml train.lr=1e-4 roles.solver.adapter=shared
"""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator, model_validator

from sparring.runs.recipes.config import (
    RecipeError,
    Section,
    apply_overrides,
    format_validation_error,
    show_value,
)
from sparring.runs.recipes.sections import (
    ADAPTER_NAME,
    PREVIOUS,
    AdapterSection,
    ArenaSection,
    EvalSection,
    GuardSection,
    LeagueSection,
    ModelSection,
    PhaseSection,
    ReplaySection,
    RoleSection,
    ServerSection,
    TrainSection,
    checked_adapter_name,
)

__all__ = ['ADAPTER_NAME', 'PREVIOUS', 'AdapterSection', 'ArenaSection', 'EvalSection', 'GuardSection', 'LeagueSection', 'ModelSection', 'PhaseSection', 'ReplaySection', 'RoleSection', 'ServerSection', 'TrainSection', 'Recipe', 'RecipeError', 'load_recipe', 'show_value']


class Recipe(Section):
    """A complete training run description."""

    name: str = "run"
    """Human name of the recipe."""
    model: ModelSection = Field(default_factory=ModelSection)
    arena: ArenaSection = Field(default_factory=ArenaSection)
    adapters: dict[str, AdapterSection] = Field(default_factory=dict)
    """Adapter shapes by name (adapters not listed use the defaults); every name listed
    must be some seat's adapter."""
    roles: dict[str, RoleSection] = Field(default_factory=dict)
    """Per-seat bindings; seats not listed play on the base weights, untrained."""
    schedule: list[PhaseSection] = Field(default_factory=list)
    """Alternating phases; empty means every trained seat updates every iteration. When
    given, every trained seat must be in some phase."""
    train: TrainSection = Field(default_factory=TrainSection)
    eval: EvalSection = Field(default_factory=EvalSection)
    league: LeagueSection = Field(default_factory=LeagueSection)
    replay: ReplaySection = Field(default_factory=ReplaySection)
    guard: GuardSection = Field(default_factory=GuardSection)

    @model_validator(mode="after")
    def _guard_validation(self) -> Recipe:
        if self.guard.validation and self.eval.select != "validation":
            raise ValueError("recipe field 'guard.validation' = true reads validation figures; "
                             "set eval.select = \"validation\" (and eval.every) or remove it")
        return self

    @model_validator(mode="after")
    def _league_adapter(self) -> Recipe:
        if not self.league.every:
            if self.league.opponents != "latest":
                raise ValueError(f"recipe field 'league.opponents' = \"{self.league.opponents}\": past versions come "
                                 "from league rounds; set league.every >= 1 (or opponents = \"latest\")")
            return self
        trained = sorted({r.adapter for r in self.roles.values() if r.update != "none" and r.adapter})
        if self.league.adapter is None:
            if len(trained) != 1:
                raise ValueError(f"recipe field 'league.adapter': {len(trained)} adapters train "
                                 f"({', '.join(trained) or 'none'}); name the one whose versions play the league")
            self.league.adapter = trained[0]
        elif self.league.adapter not in trained:
            raise ValueError(f"recipe field 'league.adapter' = {show_value(self.league.adapter)}: not a trained adapter "
                             f"(trained: {', '.join(trained) or 'none'})")
        return self

    @model_validator(mode="after")
    def _stabilisers_read(self) -> Recipe:
        # entropy bonus and KL anchor are terms of the GRPO/RLOO/SFT losses only
        readers = {"grpo", "rloo", "sft"}
        updates = sorted({r.update for r in self.roles.values() if r.update != "none"})
        for name in ("entropy_coef", "kl_coef"):
            if getattr(self.train, name) and not readers & set(updates):
                raise ValueError(f"recipe field 'train.{name}' is read by the grpo, rloo and sft updates only "
                                 f"(this recipe trains with {', '.join(updates) or 'none'}); remove it")
        return self

    @field_validator("adapters")
    @classmethod
    def _adapter_names(cls, value: dict[str, AdapterSection]) -> dict[str, AdapterSection]:
        for name in value:
            checked_adapter_name(name)
        return value

    @model_validator(mode="after")
    def _frozen_engine(self) -> Recipe:
        if self.model.engine != "openai":
            return self
        for seat, role in self.roles.items():
            if role.update != "none":
                raise ValueError(f"recipe field 'roles.{seat}.update' = {show_value(role.update)}: model.engine = "
                                 "\"openai\" serves frozen roles only (nothing here can update a remote model's "
                                 "weights); train on engine \"hf\" or \"vllm\"")
            if role.adapter is not None:
                raise ValueError(f"recipe field 'roles.{seat}.adapter' = {show_value(role.adapter)}: model.engine = "
                                 "\"openai\" serves the remote model as it is, without adapters; remove it")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> Recipe:
        trained = {seat for seat, r in self.roles.items() if r.update != "none"}
        for i, phase in enumerate(self.schedule):
            for seat in phase.roles:
                if seat not in trained:
                    raise ValueError(
                        f"recipe field 'schedule[{i}].roles' = {show_value(phase.roles)}: schedule[{i}].roles names "
                        f"{seat!r}, which has no update; set roles.{seat}.update or remove it from the phase"
                    )
        if self.schedule:
            scheduled = {seat for phase in self.schedule for seat in phase.roles}
            for seat in sorted(trained - scheduled):
                raise ValueError(
                    f"recipe field 'roles.{seat}.update' = {show_value(self.roles[seat].update)}: never runs, no schedule phase "
                    f"names {seat!r}; add it to a phase's roles, or set roles.{seat}.update = \"none\""
                )
        for seat, role in self.roles.items():
            source = role.previous_of
            if source is not None and not any(r.adapter == source and r.update != "none" for r in self.roles.values()):
                raise ValueError(f"recipe field 'roles.{seat}.adapter' = {show_value(role.adapter)}: no seat trains "
                                 f"adapter {source!r}, so it has no previous iterate; train it on a seat "
                                 f"(roles.<seat>.adapter = \"{source}\", update = \"...\") or bind this seat "
                                 f"to \"{source}\" or the base")
        used = {r.adapter for r in self.roles.values() if r.adapter is not None}
        for name in self.adapters:
            if name not in used:
                raise ValueError(
                    f"recipe field 'adapters.{name}': no seat plays on adapter {name!r} (adapters in use: "
                    f"{', '.join(sorted(used)) or 'none'}); bind one with roles.<seat>.adapter = \"{name}\" "
                    "or fix the name"
                )
        by_adapter: dict[str, tuple[str, str]] = {}
        for seat, role in self.roles.items():
            if role.adapter is None or role.update == "none":
                continue
            if role.adapter in by_adapter and by_adapter[role.adapter][1] != role.update:
                other, algo = by_adapter[role.adapter]
                raise ValueError(
                    f"recipe field 'roles.{seat}.update' = {show_value(role.update)}: roles.{seat} and roles.{other} "
                    f"share adapter {role.adapter!r} but use "
                    f"updates {role.update!r} and {algo!r}; shared adapters need one update"
                )
            by_adapter.setdefault(role.adapter, (seat, role.update))
        return self

    def trained_seats(self, iteration: int) -> list[str]:
        """Seats whose adapters update at ``iteration`` (0-based) under the schedule."""
        trained = [seat for seat, r in self.roles.items() if r.update != "none"]
        if not self.schedule:
            return trained
        cycle = sum(p.iterations for p in self.schedule)
        position = iteration % cycle
        for phase in self.schedule:
            if position < phase.iterations:
                return [s for s in trained if s in phase.roles]
            position -= phase.iterations
        return []

    def adapter_shape(self, adapter: str) -> AdapterSection:
        """Shape of ``adapter`` (defaults when not listed)."""
        return self.adapters.get(adapter, AdapterSection())


def _anchor_arena_files(data: dict[str, Any], folder: Path) -> None:
    """``file.py:Class`` arena names resolve against the working directory, else against
    the recipe's folder (so ``examples/debate.toml`` can name ``debate.py:Debate``); the
    resolved path is made absolute so that the run's saved recipe works from anywhere."""
    for section in ("arena", "eval"):
        node = data.get(section)
        key = "name" if section == "arena" else "arena"
        if not isinstance(node, dict) or not isinstance(node.get(key), str) or ".py:" not in node[key]:
            continue
        file, _, cls = node[key].rpartition(":")
        for candidate in (Path(file), folder / file):
            if candidate.is_file():
                node[key] = f"{candidate.resolve()}:{cls}"
                break


def load_recipe(source: str | Path | dict[str, Any], overrides: list[str] | None = None) -> Recipe:
    """Load and validate a recipe from a TOML file (or a dict), applying dotted overrides."""
    if isinstance(source, dict):
        data = copy.deepcopy(source)  # overrides must not reach into the caller's dict
    else:
        path = Path(source)
        if path.is_dir():
            hint = " (a run directory: continue it with --resume DIR)" if (path / "recipe.toml").exists() else ""
            raise RecipeError(f"recipe {source} is a directory, not a .toml file{hint}")
        if not path.exists():
            builtin = Path(__file__).resolve().parent.parent / "recipes" / f"{source}.toml"
            if builtin.exists():
                path = builtin
            else:
                raise RecipeError(f"recipe {source} does not exist (a path to a .toml file, or a name in recipes/)")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise RecipeError(f"recipe {path} is not a text file (a recipe is UTF-8 TOML)") from None
        except tomllib.TOMLDecodeError as exc:
            raise RecipeError(f"recipe {path} is not valid TOML: {' '.join(str(exc).split())}") from None
        except OSError as exc:
            raise RecipeError(f"recipe {path} cannot be read: {exc.strerror or exc}") from None
    data = apply_overrides(data, overrides or [])
    if not isinstance(source, dict):
        _anchor_arena_files(data, path.parent)
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        raise RecipeError(format_validation_error(exc, Recipe)) from None
