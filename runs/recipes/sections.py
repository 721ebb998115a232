"""The sections of a recipe: model and server, arena, adapters, roles, schedule phases,
training, held-out evaluation and the league; each field documented where it is declared.
The evaluation and league sections are in :mod:`sparring.runs.recipes.eval_sections`
(re-exported here).

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
from sparring.runs.recipes.eval_sections import EvalSection, LeagueSection
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


# the evaluation and league sections live in runs/recipes/eval_sections.py; re-exported here
__all__ = ["ADAPTER_NAME", "PREVIOUS", "AdapterSection", "ArenaSection", "EvalSection", "GuardSection",
           "LeagueSection", "ModelSection", "PhaseSection", "ReplaySection", "RoleSection", "ServerSection",
           "TrainSection", "checked_adapter_name"]
