"""The sections of a recipe: model and server, arena, adapters, roles, schedule phases,
training, held-out evaluation and the league; each field documented where it is declared.

:class:`~sparring.runs.recipes.recipe.Recipe` composes them and :func:`~sparring.runs.recipes.recipe.load_recipe`
reads a file; both modules are one schema, split so each stays readable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sparring.runs.recipes.config import (
    Section,
    show_value,
)
from sparring.runs.training.algorithms import check_reference, get_algorithm

ADAPTER_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
PREVIOUS = "previous"  # roles.<seat>.adapter = "NAME@previous": NAME's previous iterate
"""Adapter names: letters, digits, ``_``, ``-``, ``.`` (a name is a folder under ``adapters/``)."""


def checked_adapter_name(name: str) -> str:
    if not ADAPTER_NAME.match(name) or name in (".", ".."):
        raise ValueError(
            f"adapter name {name!r} must be letters, digits, '_', '-' or '.' (it names a folder "
            "under adapters/); to start from a saved adapter folder use adapters.<name>.init_from = \"PATH\""
        )
    return name


class ServerSection(Section):
    """Settings of a model served over HTTP (``model.engine = "openai"`` or ``"vllm"``)."""

    base_url: str | None = None
    """``openai``: the server's root including ``/v1`` (``http://127.0.0.1:8000/v1``); ``vllm``:
    a vLLM server already running on this machine (default: the engine starts its own)."""
    model: str | None = None
    """``openai``: the model name the server knows (``GET /v1/models`` lists them)."""
    api_key_env: str | None = None
    """``openai``: name of the environment variable holding the API key (the key itself is
    never written anywhere); omit for servers without a key."""
    concurrency: int = Field(8, ge=1)
    """``openai``: most requests in flight at once."""
    timeout: float = Field(120.0, gt=0)
    """Seconds to wait for each request's answer."""
    retries: int = Field(4, ge=0)
    """``openai``: retries of transient failures (429, 5xx, connection, timeout), with backoff."""
    allow_insecure: bool = False
    """``openai``: send the API key over plain ``http://`` to a host other than this machine
    (refused otherwise, as anyone on the path could read it; ``https://`` and a loopback
    ``http://`` need nothing). The key never follows a redirect to another origin."""
    enforce_eager: bool = False
    """``vllm``: skip graph capture (starts in ~30 s instead of ~90-140 s on CPU; slower generation)."""
    max_lora_rank: int = Field(16, ge=1)
    """``vllm``: largest adapter rank the server accepts."""
    max_loaded_adapters: int = Field(8, ge=2)
    """``vllm``: adapter versions kept loaded on the server (least recently used ones go)."""


class ModelSection(Section):
    """The base model every role runs on."""

    source: str = "default"
    """``default`` (embedded SmolLM2-135M-Instruct), ``tiny[:seed]`` or a local folder."""
    dtype: Literal["auto", "fp32", "bf16"] = "auto"
    """``auto`` (bf16 only with native hardware support), ``fp32``, ``bf16``."""
    device: Literal["cpu", "cuda"] = "cpu"
    """``cpu`` or ``cuda`` (checked against the machine before the model loads)."""
    batch_size: int = Field(32, ge=1)
    """Most rows per generation batch."""
    engine: Literal["hf", "vllm", "openai"] = "hf"
    """``hf`` (transformers in this process), ``vllm`` (a managed vLLM server with every adapter
    version a LoRA; ``python -m sparring.agents.engines.vllm_setup`` builds its venv) or
    ``openai`` (any OpenAI-compatible server; its roles are frozen: ``[model.server]``)."""
    server: ServerSection = Field(default_factory=ServerSection)
    """Settings of the ``vllm`` and ``openai`` engines."""

    @model_validator(mode="after")
    def _server(self) -> ModelSection:
        if self.engine == "openai":
            for name in ("base_url", "model"):
                if getattr(self.server, name) is None:
                    raise ValueError(f"model.engine = \"openai\" needs model.server.{name} (e.g. base_url = "
                                     "\"http://127.0.0.1:8000/v1\", model = \"NAME\")")
        elif self.server.model is not None or (self.engine == "hf" and self.server.base_url is not None):
            raise ValueError(f"model.server.base_url and model.server.model are not read by engine "
                             f"{show_value(self.engine)}; remove them or set model.engine = \"openai\"")
        return self

    @field_validator("source")
    @classmethod
    def _home(cls, value: str) -> str:
        # ``~/models/x`` is a folder to the user; loaders given it verbatim would look it up as a hub id
        return str(Path(value).expanduser()) if value.startswith("~") else value


class ArenaSection(Section):
    """The arena matches are played in."""

    name: str = "qa-verify"
    """Arena id, short name, ``file.py:Class`` or ``module:Class``."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Constructor arguments of the arena."""


class AdapterSection(Section):
    """Shape of one LoRA adapter."""

    rank: int = Field(8, ge=1)
    """LoRA rank r."""
    alpha: int = Field(16, ge=1)
    """LoRA alpha (scaling alpha / r)."""
    target_modules: str | list[str] = "all-linear"
    """Which linear layers get LoRA (peft's ``target_modules``)."""
    init_from: str | None = None
    """A saved peft adapter folder (e.g. ``RUN/adapters/solver/v12``) to start from instead
    of peft's fresh init; its rank and targets must match this section."""

    @field_validator("target_modules")
    @classmethod
    def _targets(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list):
            if not value or not all(name.strip() for name in value):
                raise ValueError("must be \"all-linear\" or a non-empty list of module names, e.g. [\"q_proj\", \"v_proj\"]")
            return value
        if value != "all-linear":
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"a string other than \"all-linear\" is a regular expression of module paths, "
                                 f"and this one does not compile ({exc}); list names instead: [\"q_proj\", \"v_proj\"]") from None
        return value

    @field_validator("init_from")
    @classmethod
    def _home(cls, value: str | None) -> str | None:
        return str(Path(value).expanduser()) if value is not None and value.startswith("~") else value


class RoleSection(Section):
    """How one seat is played and trained."""

    adapter: str | None = None
    """LoRA adapter of this seat; seats naming the same adapter share one set of tensors.
    Omit for the frozen base weights. ``"NAME@previous"`` plays a frozen copy of adapter
    ``NAME``'s previous iterate (its weights before its latest update; the initial weights
    until it has been updated once), moved along as ``NAME`` trains: CREAM's previous-iterate
    judge. ``NAME`` must be trained by another seat; a ``@previous`` seat cannot train."""
    update: str = "none"
    """Update algorithm for this seat's data (``none`` keeps it frozen); a name in the
    algorithm table (``sparring.runs.training.algorithms``; ``sparring.register_update`` adds one)."""
    temperature: float | None = Field(None, ge=0)
    """Sampling temperature override."""
    top_p: float | None = Field(None, gt=0, le=1)
    """Nucleus mass override."""
    max_new_tokens: int | None = Field(None, ge=1)
    """Reply length cap override."""
    reward: str | None = None
    """Name of the reward that trains this seat (default: the arena's declared default for
    the seat); only with an update, and it must score this seat."""
    targets: Literal["own", "reference"] = "own"
    """For ``sft`` only: imitate the seat's own well-rewarded replies (``own``, rejection
    sampling) or the arena's ground-truth replies (``reference``, an SFT control)."""
    group: Literal["ask", "depth"] | None = None
    """For the group-relative updates (``grpo``, ``rloo``, ``sppo``): which replies share a
    baseline. ``ask``: the replies to one prompt; ``depth``: the seat's replies in one match
    at the same conversation depth, pooled across asks (SCoRe's second attempts of a task
    over all its first attempts, so the correction bonus is not absorbed by the baseline).
    Default: what the arena declares for the seat (``default_groups``), else ``ask``."""
    reference: Literal["base", "iterate"] | None = None
    """Reference policy of the seat's update, for the updates that offer a choice (``dpo``,
    ``dpo_cream``, ``dpo_temporal``, ``dpo_temporal_anchored``, ``dpo_scir``, ``dpo_target``): ``base`` (the
    adapter disabled) or
    ``iterate`` (a frozen snapshot of the iterate that generated the iteration's data,
    moved on after every update: M_t+1 is trained from M_t against M_t, as the iterative
    self-rewarding papers do). Default: the update's own (``base`` for those six)."""
    band: list[float] | None = Field(None, min_length=2, max_length=2)
    """Agreement band ``[low, high]``: a match's samples of this seat train only when the
    share agreeing with the majority (the mean of ``band_reward`` over them) lies in it
    (R-Zero keeps 3-7 of 10: ``[0.3, 0.7]``); see :mod:`sparring.runs.training.band`."""
    band_reward: str | None = None
    """The 0/1 agreement reward the band reads (default: the training reward, or the
    reward a ``random:`` control is the twin of)."""
    truth_reward: str | None = None
    """A truth reward logged beside the band, never trained on: the majority's accuracy
    on kept and dropped matches (``band/<seat>/majority_accuracy_kept``, ``..._dropped``)."""

    @field_validator("update")
    @classmethod
    def _known_update(cls, value: str) -> str:
        if value != "none":
            get_algorithm(value)
        return value

    @field_validator("adapter")
    @classmethod
    def _adapter_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name, at, suffix = value.partition("@")
        if at and suffix != PREVIOUS:
            raise ValueError(f"adapter {value!r}: the only suffix is '@{PREVIOUS}' (the adapter's previous iterate, "
                             f"e.g. \"{name}@{PREVIOUS}\")")
        checked_adapter_name(name)
        return value

    @property
    def previous_of(self) -> str | None:
        """The adapter whose previous iterate this seat plays (``"NAME@previous"``), else None."""
        name, at, _ = (self.adapter or "").partition("@")
        return name if at else None

    @model_validator(mode="after")
    def _needs_adapter(self) -> RoleSection:
        if self.update != "none" and self.adapter is None:
            raise ValueError(f"update = {show_value(self.update)} needs an adapter to train; set adapter = \"NAME\"")
        if self.update != "none" and self.previous_of is not None:
            raise ValueError(f"adapter = {show_value(self.adapter)} is a frozen previous iterate and cannot train "
                             f"(update = {show_value(self.update)}); train {self.previous_of!r} on another seat, "
                             "or set update = \"none\"")
        # settings that only an update reads would otherwise be ignored without a word
        if self.update == "none" and self.reward is not None:
            raise ValueError(f"reward = {show_value(self.reward)} has no effect without an update; "
                             "set update (e.g. \"grpo\") or remove the reward")
        check_reference(self.update, self.reference)
        if self.group is not None and self.update == "none":
            raise ValueError(f"group = {show_value(self.group)} has no effect without an update; "
                             "set update (e.g. \"grpo\") or remove the group")
        if self.band is not None and not 0.0 <= self.band[0] <= self.band[1] <= 1.0:
            raise ValueError(f"band = {list(self.band)} must be [low, high] with 0 <= low <= high <= 1 "
                             "(shares of samples agreeing with the majority), e.g. [0.3, 0.7]")
        if (self.band is not None or self.band_reward or self.truth_reward) and self.update == "none":
            raise ValueError("band, band_reward and truth_reward filter and log training data; "
                             "set update (e.g. \"sft\") or remove them")
        if self.targets != "own" and self.update != "sft":
            raise ValueError(f"targets = {show_value(self.targets)} is read only by update = \"sft\" "
                             f"(this seat's update is {show_value(self.update)}); remove it or use sft")
        return self


class PhaseSection(Section):
    """One phase of the alternating schedule."""

    roles: list[str]
    """Seats whose adapters update during this phase."""
    iterations: int = Field(1, ge=1)
    """How many iterations the phase lasts before the next phase starts."""


class TrainSection(Section):
    """Training loop settings."""

    iterations: int = Field(10, ge=1)
    """Iterations to run (play, score, build data, update)."""
    matches_per_iteration: int = Field(32, ge=1)
    """Matches played per iteration."""
    seed: int = 0
    """Run seed; every match seed and data order derives from it."""
    lr: float = Field(5e-5, gt=0)
    """AdamW learning rate of adapter updates."""
    beta: float = Field(0.1, gt=0)
    """DPO / soft-DPO / IPO / SPIN temperature of the implicit reward (not used by GRPO)."""
    kl_coef: float = Field(0.0, ge=0)
    """GRPO/RLOO KL penalty, and SFT's KL anchor, to ``kl_reference`` (0: none, and no
    reference forward)."""
    kl_reference: Literal["base", "start"] = "base"
    """What ``kl_coef`` anchors GRPO/RLOO/SFT to: ``base`` (the adapter disabled) or
    ``start`` (a frozen snapshot of the adapter as the run began: its ``init_from``
    weights, e.g. a warm start)."""
    entropy_coef: float = Field(0.0, ge=0)
    """GRPO/RLOO/SFT entropy bonus: minus this times the sampled-token entropy estimate
    of the trained replies (score-function gradient; 0: none)."""
    entropy_floor: float = Field(0.0, ge=0)
    """With ``entropy_coef``: act only while the batch's entropy estimate (nats per token)
    is below this floor (0: always act)."""
    lr_schedule: Literal["constant", "linear", "cosine"] = "constant"
    """Learning rate after the warm-up: ``constant``, or ``linear`` / ``cosine`` decay to
    ``lr * min_lr_ratio`` at ``decay_steps`` optimizer steps (exact on resume: a function
    of the saved step count)."""
    warmup_steps: int = Field(0, ge=0)
    """Optimizer steps of linear learning-rate warm-up."""
    decay_steps: int | None = Field(None, ge=1)
    """Optimizer steps (warm-up included) the decay spans; default ``iterations * epochs *
    steps_per_epoch`` (set it when ``iterations`` is not the real budget)."""
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    """The learning rate at the end of the decay, as a share of ``lr``."""
    sppo_eta: float = Field(10.0, gt=0)
    """SPPO's eta: the loss pulls log(pi/pi_ref) of a reply toward eta * (P(win) - 1/2)."""
    clip_eps: float = Field(0.2, gt=0)
    """GRPO/RLOO ratio clipping."""
    normalize_std: bool = True
    """GRPO: divide each reward's deviation from its group mean by the group's standard
    deviation (as in DeepSeekMath and TRL); ``false`` keeps the raw centred reward (Dr. GRPO),
    so groups with a small spread are not scaled up and a shaped bonus keeps its size."""
    micro_batch_size: int = Field(8, ge=1)
    """Sequences per forward/backward; gradient accumulation covers the rest."""
    epochs: int = Field(1, ge=1)
    """Passes over each iteration's data."""
    steps_per_epoch: int = Field(1, ge=1)
    """Optimizer steps per pass: the data is shuffled (seeded) and split into this many
    mini-batches, keeping each GRPO group whole so its baseline stays intact."""
    max_in_flight: int = Field(64, ge=1)
    """Most matches alive at once."""

    @property
    def total_decay_steps(self) -> int:
        """``decay_steps``, else the most optimizer steps the run can take."""
        return self.decay_steps or self.iterations * self.epochs * self.steps_per_epoch

    @model_validator(mode="after")
    def _decay_after_warmup(self) -> TrainSection:
        if self.lr_schedule != "constant" and self.total_decay_steps <= self.warmup_steps:
            raise ValueError(f"train.lr_schedule = \"{self.lr_schedule}\" decays over {self.total_decay_steps} steps, "
                             f"not more than train.warmup_steps = {self.warmup_steps}; set train.decay_steps above "
                             "the warm-up or lower warmup_steps")
        return self


class ReplaySection(Section):
    """Replay buffer: each update trains on its iteration's data plus samples rebuilt from
    the stored matches of earlier iterations (see :mod:`sparring.runs.training.replay_buffer`)."""

    window: int = Field(0, ge=0)
    """Earlier iterations the buffer holds (0: no replay)."""
    ratio: float = Field(0.5, gt=0)
    """Replayed samples per fresh sample (whole GRPO groups; 0.5: a third of a batch replayed)."""
    size: int | None = Field(None, ge=1)
    """Most replayed samples per update (default: no cap beyond ``ratio``)."""


class GuardSection(Section):
    """The collapse guard: after each iteration, stop or roll the trained adapters back to
    their last good version (and lower the learning rate) when a label-free monitor crosses
    its threshold or the validation metric drops by more than its interval (see
    :mod:`sparring.runs.training.guard`)."""

    action: Literal["rollback", "stop"] = "rollback"
    """``rollback``: load the last good version's weights as a new version, reset the
    optimizer's moments, multiply the learning rate by ``lr_factor`` (after
    ``max_rollbacks`` the next alarm stops); ``stop``: end training."""
    below: dict[str, float] = Field(default_factory=dict)
    """Alarm when an iteration metric falls below its threshold, e.g.
    ``{ "debater/entropy" = 0.2, "debater/distinct" = 0.3 }``."""
    above: dict[str, float] = Field(default_factory=dict)
    """Alarm when an iteration metric rises above its threshold, e.g. reply length
    ``{ "debater/length" = 60 }`` or agreement saturation
    ``{ "reward/debater_majority/debater" = 0.95 }``."""
    validation: bool = False
    """Alarm when the validation metric (``eval.metric``) falls below the best so far by
    more than its interval (its 95% upper bound under the best); needs
    ``eval.select = "validation"``."""
    lr_factor: float = Field(0.5, gt=0, le=1)
    """Learning-rate multiplier applied at each roll-back."""
    max_rollbacks: int = Field(3, ge=0)
    """Roll-backs allowed; the next alarm stops training."""

    @property
    def active(self) -> bool:
        """Whether anything is watched."""
        return bool(self.below or self.above or self.validation)

    @model_validator(mode="after")
    def _deterministic(self) -> GuardSection:
        # a decision read from a clock would differ on resume
        timed = sorted(k for k in [*self.below, *self.above] if k.startswith(("time/", "play/tokens_per_s")))
        if timed:
            raise ValueError(f"guard thresholds on {', '.join(timed)}: timings differ from run to run, so a "
                             "resumed run would decide differently; watch a monitor (entropy, distinct, length, "
                             "a reward) instead")
        return self


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
