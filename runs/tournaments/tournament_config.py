"""The tournament file: players, the arena and its competing seats, the schedule.

``load_tournament`` reads a TOML file (or a dict), applies ``KEY=VALUE`` overrides and
validates every field before anything loads; errors name the field and the fix.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from sparring.runs.recipes.config import (
    RecipeError,
    Section,
    apply_overrides,
    format_validation_error,
)
from sparring.runs.recipes.recipe import ModelSection

MODEL = "default"
PLAYER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
"""Player names: letters, digits, ``_`` and ``-``, starting with a letter or digit (they
appear in match ids and name the player's adapter; ``_seat_<seat>`` names a fixed seat's)."""


class TournamentError(RecipeError):
    """A tournament config is invalid; the message names the field."""


class PlayerSection(Section):
    """One player (or the fixed binding of a non-competing seat).

    Set at most one of ``adapter``, ``reply``, ``choices``, ``policy``; none is the base model.
    """

    adapter: str | None = None
    """A saved peft adapter folder, e.g. ``RUN/adapters/solver/v3`` (its ``vN`` is recorded
    as the adapter version on every turn)."""
    reply: str | None = None
    """A scripted player that always replies this text (an anchor)."""
    choices: list[str] | None = None
    """A scripted player that replies one of these at random (seeded by the row)."""
    policy: str | None = None
    """A scripted player computed by a function ``"package.module:function"`` or
    ``"file.py:function"``: ``function(messages, rng) -> reply text``, given the prompt's chat
    messages and a ``random.Random`` seeded by the row (e.g.
    ``"sparring.arenas.builtin.tictactoe:win_block_random"``)."""
    temperature: float | None = Field(None, ge=0)
    """Sampling temperature override (model players)."""
    top_p: float | None = Field(None, gt=0, le=1)
    """Nucleus mass override (model players)."""
    max_new_tokens: int | None = Field(None, ge=1)
    """Reply length cap override (model players)."""

    @field_validator("adapter")
    @classmethod
    def _home(cls, value: str | None) -> str | None:
        return str(Path(value).expanduser()) if value is not None and value.startswith("~") else value

    @field_validator("choices")
    @classmethod
    def _some(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError("needs at least one reply to choose from")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> PlayerSection:
        given = [k for k in ("adapter", "reply", "choices", "policy") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"sets {' and '.join(given)}; a player is one of: a saved adapter folder (adapter), "
                             "a fixed reply (reply), a random choice (choices), a function (policy), or the base "
                             "model (none of them)")
        if given and given[0] != "adapter" and any(
                getattr(self, k) is not None for k in ("temperature", "top_p", "max_new_tokens")):
            raise ValueError(f"a scripted player ({given[0]}) does not sample; remove temperature/top_p/max_new_tokens")
        return self

    @property
    def kind(self) -> Literal["base", "adapter", "fixed", "random", "policy"]:
        """``base``, ``adapter``, ``fixed`` (reply), ``random`` (choices) or ``policy``."""
        if self.adapter is not None:
            return "adapter"
        if self.reply is not None:
            return "fixed"
        if self.policy is not None:
            return "policy"
        return "random" if self.choices is not None else "base"

    def sampling(self) -> dict[str, Any]:
        """The sampling overrides that are set."""
        return {k: getattr(self, k) for k in ("temperature", "top_p", "max_new_tokens") if getattr(self, k) is not None}


class TournamentArena(Section):
    """The arena and its two competing seats."""

    name: str
    """Arena id, short name, ``file.py:Class`` or ``module:Class``."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Constructor arguments of the arena."""
    seats: list[str] | None = None
    """The two competing seats (default: the arena's seats when it has exactly two)."""
    reward: str | None = None
    """Decide winners by this reward only (default: each seat's mean reward); ignored when
    the arena declares ``winner(transcript)``."""


class ScheduleSection(Section):
    """Who plays whom, how often."""

    kind: Literal["round-robin", "swiss"] = "round-robin"
    """``round-robin`` (every pair) or ``swiss`` (rounds of pairings by standing)."""
    games: int = Field(2, ge=1)
    """Matches per pairing: per seat order in round-robin, per round in swiss."""
    both_orders: bool = True
    """Round-robin: play each pair in both seat orders (swiss balances seat order instead)."""
    rounds: int = Field(4, ge=1)
    """Swiss rounds."""
    budget: int | None = Field(None, ge=1)
    """Most matches in total (default: the whole schedule)."""
    seed: int = 0
    """Tournament seed: match seeds derive from it (swiss ties are broken by player order)."""
    max_in_flight: int = Field(64, ge=1)
    """Most matches alive at once."""


class TournamentConfig(Section):
    """A tournament: model, arena, players, fixed roles of other seats, schedule."""

    name: str = "tournament"
    """Human name."""
    model: ModelSection = Field(default_factory=ModelSection)
    arena: TournamentArena
    players: dict[str, PlayerSection]
    """Players by name (at least two)."""
    roles: dict[str, PlayerSection] = Field(default_factory=dict)
    """Bindings of the non-competing seats (e.g. a judge on a saved adapter); default: base model."""
    schedule: ScheduleSection = Field(default_factory=ScheduleSection)

    @field_validator("players")
    @classmethod
    def _players(cls, value: dict[str, PlayerSection]) -> dict[str, PlayerSection]:
        for name in value:
            if not PLAYER_NAME.match(name):
                raise ValueError(f"player name {name!r} must be letters, digits, '_' or '-', starting with a letter "
                                 "or digit (it is part of match ids)")
        if len(value) < 2:
            raise ValueError(f"a tournament needs at least two players, got {len(value)}")
        return value


def tournament_message(message: str) -> str:
    """A recipe validation message reworded for a tournament file."""
    return message.replace("recipe field", "tournament field").replace("recipe: ", "tournament: ")


def load_tournament(source: str | Path | dict[str, Any], overrides: Sequence[str] = ()) -> TournamentConfig:
    """Load and validate a tournament TOML (or dict); errors are one line naming the field."""
    if isinstance(source, dict):
        data = json.loads(json.dumps(source))
        folder = Path.cwd()
    else:
        path = Path(source)
        if not path.is_file():
            raise TournamentError(f"tournament config {source} does not exist (a .toml file)")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise TournamentError(f"tournament config {path} is not valid TOML: {' '.join(str(exc).split())}") from None
        folder = path.parent
    data = apply_overrides(data, list(overrides))
    arena = data.get("arena")
    if isinstance(arena, dict) and isinstance(arena.get("name"), str) and ".py:" in arena["name"]:
        file, _, cls = arena["name"].rpartition(":")
        for candidate in (Path(file), folder / file):
            if candidate.is_file():
                arena["name"] = f"{candidate.resolve()}:{cls}"
                break
    for section in ("players", "roles"):  # adapter folders resolve like arena files
        for entry in (data.get(section) or {}).values():
            policy = entry.get("policy") if isinstance(entry, dict) else None
            if isinstance(policy, str) and ".py:" in policy:  # like arena files: here or next to the config
                file, _, fn = policy.rpartition(":")
                if not Path(file).is_file() and (folder / file).is_file():
                    entry["policy"] = f"{(folder / file).resolve()}:{fn}"
            if isinstance(entry, dict) and isinstance(entry.get("adapter"), str):
                given = Path(entry["adapter"]).expanduser()
                if not given.is_absolute() and not given.exists() and (folder / given).exists():
                    entry["adapter"] = str((folder / given).resolve())
    try:
        return TournamentConfig.model_validate(data)
    except ValidationError as exc:
        raise TournamentError(tournament_message(format_validation_error(exc, TournamentConfig))) from None

