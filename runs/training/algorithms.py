"""The algorithm table: one entry per update name, read by the trainer and the validator.

Each :class:`Algorithm` says, in one place, how a seat trained with it is updated
(``make_update``), how its data is built from scored transcripts (``build``), which
reference policy it is anchored to by default (``"base"``: the adapter disabled;
``"iterate"``: a frozen snapshot of the adapter that generated the data, moved on every
iteration; ``"none"``) and the other references a recipe may pick for it
(``references``, chosen with ``roles.<seat>.reference``), and what it needs from the arena
(``requires``). The recipe validator checks those requirements against the arena before
any model loads.

References of the built-ins (the default first; ``roles.<seat>.reference`` picks another):
``dpo``, ``dpo_cream``, ``dpo_temporal``, ``dpo_temporal_anchored``, ``dpo_scir``, ``dpo_target``: base or
iterate; ``grpo``, ``rloo`` (KL term), ``soft_dpo``, ``ipo``: base; ``spin``, ``sppo``, ``sppo_judged``,
``dno``: iterate; ``sft``: none.
``iterate`` is the iterative self-rewarding papers' reference (Self-Rewarding LMs, CREAM,
Temporal SR, SCIR train M_t+1 from M_t with M_t as the reference); the self-rewarding
recipes set it.

A new algorithm, including a user's own, is one call::

    sparring.register_update(Algorithm(
        name="my_dpo", make_update=lambda c: DPOUpdate(c.pool, c.model, c.adapter, beta=c.train.beta,
                                                       **c.common),
        build=lambda c: builders.best_worst_pairs(c.transcripts, c.seat, c.reward, c.encode),
        reference="base", requires=("reward",)))

after which ``roles.<seat>.update = "my_dpo"`` is a valid recipe field.

**Look-ahead updates** (Temporal SR's future-guided chosen). An algorithm with a
``lookahead`` builder asks the trainer, in each iteration, to (a) take an update on the
``lookahead`` data from the live adapter and its optimizer state, (b) play the
iteration's seeds again with those future weights on the seat (matches
``future-i<k>-s<seed>``, :data:`FUTURE_PREFIX`; every other seat of the adapter, the
judge included, plays the current weights from a snapshot), (c) restore the adapter's
weights, optimizer state and version exactly, and only then (d) call ``build`` with the
future matches in ``c.future`` and (e) take the real update. The look-ahead's weights
are thrown away; the adapter's version advances by the real update only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sparring.rewards import builders, judge_pairs
from sparring.rewards.controls import PREFIX

FUTURE_PREFIX = "future-"
"""Match-id prefix of the matches a look-ahead (future) model plays inside an iteration
(``future-i<k>-s<seed>``): neither training nor held-out matches; the trainer, the
export and the viewer keep them apart."""

if TYPE_CHECKING:
    from sparring.agents.pool import ModelPool
    from sparring.agents.roles import Role
    from sparring.agents.updates import Update
    from sparring.arenas.arena import Arena
    from sparring.arenas.transcript import Transcript
    from sparring.runs.recipes.recipe import RoleSection, TrainSection

REQUIREMENTS = {
    "reward": "a training reward for the seat (roles.<seat>.reward or the arena's default)",
    "reference_reply": "ground-truth replies: a method reference_reply(transcript, turn) on the arena",
    "judged_pairs": "a judged_pairs() declaration on the arena (sparring.rewards.judge_pairs.JudgedPairs)",
    "previous_judge": "a frozen judge's scores of the same replies (JudgedPairs.previous_reward)",
    "anchor_seat": "an anchor seat answering the same prompts (JudgedPairs.anchor_seat)",
    "internal_judges": "two or more internal judges of the same replies (JudgedPairs.agreeing_rewards)",
}


@dataclass
class UpdateContext:
    """What an algorithm's ``make_update`` receives."""

    pool: ModelPool
    model: str
    adapter: str
    seat: str
    role: Role
    train: TrainSection
    spec: RoleSection

    @property
    def common(self) -> dict[str, Any]:
        """Keyword arguments every update takes (learning rate and its schedule, micro-batch size)."""
        from sparring.agents.updates.schedules import LRSchedule  # plain Python, no torch

        t = self.train
        schedule = LRSchedule(t.lr_schedule, t.warmup_steps, t.total_decay_steps, t.min_lr_ratio)
        return {"lr": t.lr, "micro_batch_size": t.micro_batch_size, "lr_schedule": schedule}

    def stabilisers(self) -> dict[str, Any]:
        """The entropy bonus and KL anchor settings of ``[train]`` (GRPO/RLOO/SFT), with the
        anchor's reference: the base (``None``) or a frozen snapshot of the adapter now,
        at the run's start (``kl_reference = "start"``)."""
        t = self.train
        reference = self.pool.snapshot(self.model, self.adapter) if t.kl_coef and t.kl_reference == "start" else None
        return {"kl_coef": t.kl_coef, "entropy_coef": t.entropy_coef, "entropy_floor": t.entropy_floor,
                "reference": reference}


@dataclass
class BuildContext:
    """What an algorithm's ``build`` receives: one seat's scored transcripts and encoders."""

    transcripts: list[Transcript]
    seat: str
    reward: str | None
    reward_bounds: tuple[float, float] | None
    """The training reward's own declared bounds (``None``: it declares none)."""
    arena: Arena
    spec: RoleSection
    encode: Callable[[list[dict[str, str]]], list[int]]
    encode_reply: Callable[[str], list[int]]
    future: list[Transcript] = field(default_factory=list)
    """For a look-ahead algorithm's ``build``: the finished matches the future model played
    on this iteration's seeds (empty for every other builder)."""

    def reference(self) -> Callable[[Transcript, Any], str | None]:
        """The arena's ground-truth replies (checked at load time by ``requires``)."""
        return self.arena.reference_reply  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Algorithm:
    """One update algorithm: how to make its update, build its data, and what it needs."""

    name: str
    make_update: Callable[[UpdateContext], Update]
    build: Callable[[BuildContext], list[Any]]
    reference: Literal["base", "iterate", "none"] = "none"
    requires: Sequence[str] = field(default=("reward",))
    description: str = ""
    references: Sequence[str] = ()
    """References a recipe may choose with ``roles.<seat>.reference`` besides ``reference``
    (``make_update`` then reads :func:`reference_of` of ``c.spec``); empty: no choice."""
    lookahead: Callable[[BuildContext], list[Any]] | None = None
    """The data of a look-ahead update (see the module docs); ``None``: no look-ahead, and
    ``build`` never sees future matches."""

    def __post_init__(self) -> None:
        unknown = [r for r in self.requires if r not in REQUIREMENTS]
        if unknown:
            raise ValueError(f"algorithm {self.name!r}: unknown requirement(s) {unknown}; known: {sorted(REQUIREMENTS)}")
        if any(r not in ("base", "iterate", "none") for r in (self.reference, *self.references)):
            raise ValueError(f"algorithm {self.name!r}: reference must be 'base', 'iterate' or 'none'")


ALGORITHMS: dict[str, Algorithm] = {}


def register_update(algorithm: Algorithm, *, replace: bool = False) -> Algorithm:
    """Add an algorithm to the table (its name becomes a valid ``roles.<seat>.update``)."""
    if not algorithm.name or algorithm.name == "none" or not algorithm.name.replace("_", "").isalnum():
        raise ValueError(f"algorithm name must be letters, digits and '_' (not 'none'), got {algorithm.name!r}")
    if algorithm.name in ALGORITHMS and not replace:
        raise ValueError(f"update {algorithm.name!r} is already registered; pass replace=True to override it")
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def reference_of(spec: RoleSection) -> str:
    """The reference policy a seat's update is anchored to: the recipe's
    ``roles.<seat>.reference``, else its algorithm's default."""
    return spec.reference or get_algorithm(spec.update).reference


def check_reference(update: str, reference: str | None) -> None:
    """Refuse a ``roles.<seat>.reference`` that update ``update`` does not offer."""
    if reference is None:
        return
    algorithm = get_algorithm(update) if update != "none" else None
    offered = () if algorithm is None else (algorithm.reference, *algorithm.references)
    if reference not in offered:
        choices = f"its reference is {algorithm.reference!r}" if algorithm and len(offered) == 1 else \
            f"it offers {', '.join(repr(r) for r in offered)}" if algorithm else "it has no update"
        raise ValueError(f"reference = {reference!r} is not a choice of update {update!r} ({choices}); "
                         "remove it or pick one the update offers (dpo, dpo_cream, dpo_temporal, dpo_temporal_anchored, "
                         "dpo_scir and dpo_target offer 'base' and 'iterate')")


def get_algorithm(name: str) -> Algorithm:
    """The algorithm registered under ``name``; a clear error otherwise."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(f"unknown update {name!r} (known: none, {', '.join(sorted(ALGORITHMS))})") from None


# -- built-ins --------------------------------------------------------------------------

def _updates() -> Any:
    # torch loads here, when an update is made, not when a recipe is validated
    from sparring.agents import updates

    return updates


def _policy_gradient(kind: str) -> Callable[[UpdateContext], Update]:
    def make(c: UpdateContext) -> Update:
        t = c.train
        return _updates().PolicyGradientUpdate(
            c.pool, c.model, c.adapter, advantage=kind, clip_eps=t.clip_eps, normalize_std=t.normalize_std,
            temperature=c.role.sampling.temperature or 1.0,  # fallback: turns carry their own
            **c.stabilisers(), **c.common)
    return make


def group_of(arena: Arena, seat: str, spec: RoleSection) -> str:
    """How ``seat``'s replies form GRPO groups: the recipe's ``roles.<seat>.group``, else
    what the arena declares for the seat (``default_groups``), else ``"ask"``
    (:data:`sparring.rewards.builders.GROUPINGS`)."""
    return spec.group or dict(getattr(arena, "default_groups", {})).get(seat, "ask")


def _group_samples(c: BuildContext) -> list[Any]:
    return builders.grpo_groups(c.transcripts, c.seat, c.reward, c.encode, group=group_of(c.arena, c.seat, c.spec))


def _dpo(c: UpdateContext) -> Update:
    """DPO against the base, or with ``reference = "iterate"`` against a frozen snapshot of
    the generating iterate (the trainer moves it on after each update, as for SPIN)."""
    reference = c.pool.snapshot(c.model, c.adapter) if reference_of(c.spec) == "iterate" else None
    return _updates().DPOUpdate(c.pool, c.model, c.adapter, beta=c.train.beta, reference=reference, **c.common)


def _own_or_reference_sft(c: BuildContext) -> list[Any]:
    if c.spec.targets == "reference":
        return builders.reference_sft(c.transcripts, c.seat, c.reference(), c.encode, c.encode_reply)
    return builders.sft_samples(c.transcripts, c.seat, c.reward, c.encode)


for _algorithm in (
    Algorithm("grpo", _policy_gradient("grpo"), _group_samples, "base",
              description="group-relative policy gradient (clipped ratio, KL to the base when train.kl_coef > 0)"),
    Algorithm("rloo", _policy_gradient("rloo"), _group_samples, "base",
              description="leave-one-out baseline policy gradient"),
    Algorithm("dpo", _dpo,
              lambda c: builders.best_worst_pairs(c.transcripts, c.seat, c.reward, c.encode), "base",
              description="DPO on best/worst replies of each group", references=("iterate",)),
    Algorithm("soft_dpo", lambda c: _updates().DPOUpdate(c.pool, c.model, c.adapter, beta=c.train.beta, **c.common),
              lambda c: builders.margin_pairs(c.transcripts, c.seat, c.reward, c.encode, margin=1e-6,
                                              bounds=c.reward_bounds), "base",
              description="DPO on every ordered pair, labels from the reward gap over the reward's span"),
    Algorithm("ipo", lambda c: _updates().IPOUpdate(c.pool, c.model, c.adapter, beta=c.train.beta, **c.common),
              lambda c: builders.best_worst_pairs(c.transcripts, c.seat, c.reward, c.encode), "base",
              description="IPO on best/worst replies of each group"),
    Algorithm("sppo", lambda c: _updates().SPPOUpdate(c.pool, c.model, c.adapter, eta=c.train.sppo_eta,
                                                       reference=c.pool.snapshot(c.model, c.adapter), **c.common),
              lambda c: builders.win_rates(_group_samples(c), c.seat), "iterate",
              description="SPPO: squared loss to eta*(P(win) - 1/2), anchored to the generating iterate"),
    Algorithm("spin", lambda c: _updates().SPINUpdate(c.pool, c.model, c.adapter, beta=c.train.beta, **c.common),
              lambda c: builders.spin_pairs(c.transcripts, c.seat, c.reference(), c.encode, c.encode_reply),
              "iterate", requires=("reference_reply",),
              description="SPIN: ground-truth reply preferred over the model's own, anchored to the generating iterate"),
    Algorithm("dpo_target", _dpo,
              lambda c: builders.spin_pairs(c.transcripts, c.seat, c.reference(), c.encode, c.encode_reply),
              "base", requires=("reference_reply",), references=("iterate",),
              description="DPO on the arena's target reply for a turn (reference_reply: e.g. a refinement of the "
                          "seat's own reply, SPaR) over the seat's own reply"),
    Algorithm("sft", lambda c: _updates().SFTUpdate(c.pool, c.model, c.adapter, **c.stabilisers(), **c.common),
              _own_or_reference_sft, "none",
              description="SFT on well-rewarded own replies (targets='own') or ground truth (targets='reference')"),
):
    register_update(_algorithm)


# -- judged self-play: what the arena's judged_pairs() declaration offers ------------------------

def _judged(c: BuildContext) -> judge_pairs.JudgedPairs:
    declared = getattr(c.arena, "judged_pairs", None)
    if not callable(declared):
        raise ValueError(f"{c.arena.id} has no judged_pairs() declaration; the judged updates need one")
    return declared()


def _judged_missing(arena: Arena, need: str) -> bool:
    """Whether ``arena`` lacks what requirement ``need`` (one of the judged ones) asks for."""
    declared = getattr(arena, "judged_pairs", None)
    if not callable(declared):
        return True
    d = declared()
    return {"judged_pairs": False, "previous_judge": d.previous_reward is None,
            "anchor_seat": d.anchor_seat is None, "internal_judges": len(d.agreeing_rewards) < 2}[need]


def _anchored(c: BuildContext) -> list[Any]:
    return judge_pairs.anchored_pairs(c.transcripts, c.seat, _judged(c).anchor_seat, c.reward, c.encode)  # type: ignore[arg-type]


def _agreeing(c: BuildContext) -> tuple[str, ...]:
    return (c.reward, *[r for r in _judged(c).agreeing_rewards if r != c.reward])  # type: ignore[return-value]


for _algorithm in (
    Algorithm("dpo_cream", _dpo,
              lambda c: builders.consistency_pairs(c.transcripts, c.seat, c.reward, _judged(c).previous_reward,
                                                   c.encode),
              "base", requires=("reward", "judged_pairs", "previous_judge"), references=("iterate",),
              description="CREAM: best/worst pairs labelled by the consistency rate with a frozen judge's ranking"),
    Algorithm("dpo_temporal", _dpo,
              lambda c: judge_pairs.future_pairs(c.transcripts, c.future, c.seat, _judged(c).anchor_seat, c.reward,
                                                 c.encode),
              "base", requires=("reward", "judged_pairs", "anchor_seat"), references=("iterate",),
              lookahead=_anchored,
              description="Temporal SR: the future model's best reply (after a look-ahead update on the anchored "
                          "pairs) over the anchor (initial model)'s worst, by the current judge"),
    Algorithm("dpo_temporal_anchored", _dpo, _anchored,
              "base", requires=("reward", "judged_pairs", "anchor_seat"), references=("iterate",),
              description="Temporal SR's anchored rejection only (no look-ahead): own best reply over the "
                          "anchor (initial model)'s worst, by the judge"),
    Algorithm("dpo_scir", _dpo, lambda c: judge_pairs.agreement_pairs(c.transcripts, c.seat, _agreeing(c), c.encode),
              "base", requires=("reward", "judged_pairs", "internal_judges"), references=("iterate",),
              description="DPO on pairs every internal judge orders alike (SCIR-style consistency filter)"),
    Algorithm("dno", lambda c: _updates().SPINUpdate(c.pool, c.model, c.adapter, beta=c.train.beta, **c.common),
              lambda c: judge_pairs.large_margin_pairs(c.transcripts, c.seat, c.reward, c.encode,
                                                       margin=_judged(c).margin),
              "iterate", requires=("reward", "judged_pairs"),
              description="DNO: best over worst by win rate when the gap >= the arena's margin, DPO against the iterate"),
    Algorithm("sppo_judged", lambda c: _updates().SPPOUpdate(c.pool, c.model, c.adapter, eta=c.train.sppo_eta,
                                                              reference=c.pool.snapshot(c.model, c.adapter), **c.common),
              lambda c: judge_pairs.judged_win_rates(c.transcripts, c.seat, c.reward, c.encode),
              "iterate", description="SPPO on the judge's per-prompt win rates (the reward, used as is)"),
):
    register_update(_algorithm)


# -- validation against an arena ----------------------------------------------------------

def training_reward(arena: Arena, seat: str, named: str | None) -> str:
    """The reward that trains ``seat``: the recipe's, else the arena's declared default,
    else the arena's only reward; a :class:`ValueError` naming the field otherwise."""
    names = [r.name for r in arena.rewards()]
    listed = ", ".join(names) or "none"
    if named is not None and named.startswith(PREFIX):  # a control: the random twin of a reward
        if named[len(PREFIX):] not in names:
            raise ValueError(f"recipe field 'roles.{seat}.reward': {named!r} is the random twin of "
                             f"{named[len(PREFIX):]!r}, which is not a reward of {arena.id} (rewards: {listed})")
        return named
    if named is not None:
        if named not in names:
            raise ValueError(f"recipe field 'roles.{seat}.reward': {named!r} is not a reward of {arena.id} (rewards: {listed})")
        return named
    declared = dict(arena.default_rewards).get(seat)
    if declared is not None:
        if declared not in names:
            raise ValueError(f"{type(arena).__name__}.default_rewards names {declared!r} for seat {seat!r}, "
                             f"but rewards() has no such reward (rewards: {listed})")
        return declared
    if len(names) == 1:
        return names[0]
    raise ValueError(f"recipe field 'roles.{seat}.reward': {arena.id} declares no default reward for seat {seat!r}; "
                     f"set roles.{seat}.reward to one of: {listed}")


def reward_bounds(arena: Arena, name: str | None) -> tuple[float, float] | None:
    """The bounds reward ``name`` declares, or ``None``: the arena-wide ``reward_bounds``
    are not used, since a 0/1 reward in a (-1, 1) arena would get a misleading scale."""
    if name is not None and name.startswith(PREFIX):
        name = name[len(PREFIX):]
    for r in arena.rewards():
        if r.name == name and getattr(r, "bounds", None) is not None:
            low, high = r.bounds  # type: ignore[attr-defined]
            return float(low), float(high)
    return None


def check_requirements(arena: Arena, seat: str, spec: RoleSection) -> None:
    """Refuse, naming the field, an update the arena cannot feed."""
    algorithm = get_algorithm(spec.update)
    needs = set(algorithm.requires)
    if spec.targets == "reference":
        needs.add("reference_reply")
    for need in sorted(needs):
        if need == "reference_reply" and not callable(getattr(arena, "reference_reply", None)):
            field, what = (("update", f"update {algorithm.name!r}") if need in algorithm.requires
                           else ("targets", 'targets = "reference"'))
            raise ValueError(f"recipe field 'roles.{seat}.{field}': {what} needs {REQUIREMENTS[need]}, "
                             f"which {arena.id} does not have")
        if need in ("judged_pairs", "previous_judge", "anchor_seat", "internal_judges") and _judged_missing(arena, need):
            raise ValueError(f"recipe field 'roles.{seat}.update': update {algorithm.name!r} needs {REQUIREMENTS[need]}, "
                             f"which {arena.id} with these arena.kwargs does not have")
