"""The machinery every update shares: one optimizer over one adapter, micro-batched.

An :class:`Update` owns an AdamW optimizer over the LoRA weights of exactly one adapter
of one pool model. ``step(batch)`` splits the batch into micro-batches, backpropagates
each one's share of the full-batch loss (so peak memory follows ``micro_batch_size``, not
the batch), clips the gradient norm, steps the optimizer and bumps the adapter's version
in the pool. Subclasses in :mod:`~sparring.agents.updates.step` only say how a
micro-batch turns into a loss.

Simplifications, on purpose:

* The model stays in eval mode. Pool adapters have ``lora_dropout=0`` and the supported
  bases have no dropout, so train mode would change nothing but make runs less
  reproducible, and the engines share the same module.
* The learning rate of each step is ``lr * lr_scale * schedule.factor(steps)``
  (:mod:`~sparring.agents.updates.schedules`): a pure function of saved state, so a
  resumed run steps at exactly the rate an uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

from sparring.agents.gqa_attention import gqa_attention
from sparring.agents.heap import release_free_memory
from sparring.agents.pool import ModelPool
from sparring.agents.updates.fused_lora import fused_lora
from sparring.agents.updates.logprobs import use_adapter
from sparring.agents.updates.losses import Metrics
from sparring.agents.updates.schedules import LRSchedule


def adapter_parameters(model: Any, adapter: str) -> dict[str, torch.nn.Parameter]:
    """The LoRA parameters of ``adapter`` on a peft model, by parameter name.

    Matches whole name components, so ``"solver"`` does not pick up the snapshot
    ``"solver@v2"``.
    """
    params = {}
    for name, param in model.named_parameters():
        parts = name.split(".")
        # peft names them "<module path>.lora_A.<adapter>.weight" (or lora_B, lora_embedding_A...).
        if any(a.startswith("lora_") and b == adapter for a, b in zip(parts, parts[1:], strict=False)):
            params[name] = param
    return params


class Update:
    """One optimizer over one adapter's LoRA weights; ``step(batch)`` trains on a batch.

    Subclasses implement :meth:`_prepare` (full-batch quantities such as advantages or
    token counts) and :meth:`_micro_loss` (the loss of one micro-batch, with the weight
    that makes the weighted sum of micro-batch losses equal the full-batch loss).

    Args:
        pool: The model pool holding the model and its adapters.
        model_name: Name of the model in the pool.
        adapter: Adapter to train; only its LoRA weights are optimized.
        lr: AdamW learning rate.
        weight_decay: AdamW decoupled weight decay.
        max_grad_norm: Clip the global gradient norm to this; ``None`` disables clipping.
        micro_batch_size: Samples (pairs, for preference updates) per forward/backward.
        reference: Reference policy where the algorithm has one: ``None`` for the base
            weights or an adapter name, typically a frozen snapshot ``"adapter@vN"``.
        lr_schedule: Warm-up and decay of the learning rate by step (default: constant).
    """

    algorithm: ClassVar[str] = "update"
    sample_type: ClassVar[type] = object

    def __init__(
        self,
        pool: ModelPool,
        model_name: str,
        adapter: str,
        *,
        lr: float = 1e-5,
        weight_decay: float = 0.0,
        max_grad_norm: float | None = 1.0,
        micro_batch_size: int = 8,
        reference: str | None = None,
        lr_schedule: LRSchedule | None = None,
    ) -> None:
        loaded = pool.get(model_name)
        pool.version(model_name, adapter)  # raises a KeyError naming the known adapters
        info = loaded.adapters[adapter]
        if info.frozen:
            raise ValueError(
                f"adapter {adapter!r} is a frozen snapshot and cannot be trained; "
                f"train its source adapter {info.source!r} instead"
            )
        if micro_batch_size < 1:
            raise ValueError(f"micro_batch_size must be >= 1, got {micro_batch_size}")
        self.pool = pool
        self.model_name = model_name
        self.adapter = adapter
        self.max_grad_norm = max_grad_norm
        self.micro_batch_size = micro_batch_size
        self.reference = reference
        self.steps = 0
        self.lr = lr
        self.lr_schedule = lr_schedule or LRSchedule()
        self.lr_scale = 1.0  # lowered by the collapse guard after a roll-back; saved in state_dict
        named = adapter_parameters(loaded.model, adapter)
        if not named:
            raise ValueError(f"adapter {adapter!r} on model {model_name!r} has no LoRA parameters")
        self.param_names = list(named)
        self.params = list(named.values())
        self.optimizer = torch.optim.AdamW(self.params, lr=lr, weight_decay=weight_decay)
        self._check_reference()

    # -- what subclasses provide ---------------------------------------------------
    def _prepare(self, batch: Sequence[Any]) -> tuple[Any, Metrics]:
        """Full-batch quantities passed to every micro-batch, and full-batch metrics."""
        return None, {}

    def _micro_loss(self, items: Sequence[Any], offset: int, plan: Any) -> tuple[Tensor, Metrics, float]:
        """Loss of ``items`` (``batch[offset:offset + len(items)]``), its metrics and weight.

        The weight is this micro-batch's share of the full-batch normaliser (pairs,
        samples or tokens), so ``sum(weight * loss)`` is the full-batch loss.
        """
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The pool's (peft) model."""
        return self.pool.get(self.model_name).model

    @property
    def pad_id(self) -> int:
        """Padding token id of the model's tokenizer."""
        return self.pool.get(self.model_name).tokenizer.pad_token_id

    def snapshot_reference(self) -> str:
        """Freeze the adapter's current version and make that snapshot the reference.

        This is how iterative methods advance: SPIN and SPPO train iteration ``t + 1``
        against a frozen copy of iterate ``t``. Returns the snapshot's name
        (``"adapter@vN"``); an existing snapshot of the same version is reused.
        """
        self.reference = self.pool.snapshot(self.model_name, self.adapter)
        return self.reference

    def _check_reference(self) -> None:
        ref = self.reference
        if ref is None:
            return
        known = self.pool.adapter_names(self.model_name)
        if ref not in known:
            raise KeyError(
                f"reference {ref!r} is not an adapter of model {self.model_name!r} (adapters: "
                f"{', '.join(known)}); make a snapshot with pool.snapshot({self.model_name!r}, {self.adapter!r})"
            )
        if ref == self.adapter:
            raise ValueError(
                f"the reference cannot be the trained adapter {ref!r} itself (it would move with every "
                f"step); freeze a copy with pool.snapshot({self.model_name!r}, {ref!r}) and use that"
            )

    def _check_batch(self, batch: Sequence[Any]) -> None:
        if not batch:
            raise ValueError(f"{type(self).__name__}.step got an empty batch")
        for item in batch:
            if not isinstance(item, self.sample_type):
                raise TypeError(
                    f"{type(self).__name__} trains on {self.sample_type.__name__} items, "
                    f"got {type(item).__name__}"
                )

    def _accumulate(self, batch: Sequence[Any]) -> Metrics:
        """Backpropagate the full-batch loss micro-batch by micro-batch into ``.grad``."""
        self._check_batch(batch)
        self._check_reference()
        plan, metrics = self._prepare(batch)
        totals: Metrics = {}
        mine = {id(p) for p in self.params}
        # gqa_attention: keys and values stay grouped in the forwards whose activations the
        # backward keeps (agents/gqa_attention.py: what grew with prompt length x samples).
        with use_adapter(self.model, self.adapter) as model, fused_lora(model, self.adapter), \
                gqa_attention(model):
            # Only this adapter's weights may collect gradients; use_adapter restores
            # every flag on exit.
            for p in model.parameters():
                p.requires_grad_(id(p) in mine)
            self.optimizer.zero_grad(set_to_none=True)
            for offset in range(0, len(batch), self.micro_batch_size):
                items = batch[offset : offset + self.micro_batch_size]
                loss, micro_metrics, weight = self._micro_loss(items, offset, plan)
                (loss * weight).backward()
                # Metrics are means too; weighting them like the loss gives full-batch means.
                for key, value in {"loss": loss.item(), **micro_metrics}.items():
                    totals[key] = totals.get(key, 0.0) + weight * value
        return {**totals, **metrics}

    def gradients(self, batch: Sequence[Any]) -> tuple[dict[str, Tensor], Metrics]:
        """The gradient of the full-batch loss by parameter name, and the metrics; no step.

        For checks and tests (micro-batching must not change either). Changes no weight,
        no optimizer state and no version; leaves ``.grad`` empty.
        """
        metrics = self._accumulate(batch)
        grads = {
            name: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
            for name, p in zip(self.param_names, self.params, strict=True)
        }
        self.optimizer.zero_grad(set_to_none=True)
        return grads, metrics

    def step(self, batch: Sequence[Any]) -> Metrics:
        """Train on ``batch``: accumulate, clip, step, then bump the adapter's version.

        The version bump (``pool.bump_version``) happens here, so engines see that the
        adapter changed and snapshots name the right version; callers must not bump again.

        Args:
            batch: Samples of this update's ``sample_type``.

        Returns:
            Full-batch means of the loss and the algorithm's metrics, plus ``grad_norm``
            (before clipping), ``samples``, ``micro_batches`` and the new ``version``.
        """
        metrics = self._accumulate(batch)
        limit = self.max_grad_norm if self.max_grad_norm is not None else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.params, limit)
        lr = self.current_lr()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        release_free_memory()  # the step's activations, before generation reuses the heap (agents/heap.py)
        self.steps += 1
        version = self.pool.bump_version(self.model_name, self.adapter)
        return {
            **metrics,
            "grad_norm": float(grad_norm),
            "samples": float(len(batch)),
            "micro_batches": float(-(-len(batch) // self.micro_batch_size)),
            "version": float(version),
            "lr": lr,
        }

    def current_lr(self) -> float:
        """The learning rate of the next step: ``lr * lr_scale * schedule.factor(steps)``."""
        return self.lr * self.lr_scale * self.lr_schedule.factor(self.steps)

    def reset_optimizer(self) -> None:
        """Forget AdamW's moments (the collapse guard's roll-back: they point along the
        path that was rolled back); the step count, and so the schedule, goes on."""
        self.optimizer.state.clear()

    # -- checkpoints ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Optimizer state and step count, for resumable checkpoints.

        The adapter weights themselves are saved by ``pool.save_adapter``.
        """
        return {
            "algorithm": self.algorithm,
            "adapter": self.adapter,
            "steps": self.steps,
            "reference": self.reference,
            "lr_scale": self.lr_scale,
            "optimizer": self.optimizer.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (same algorithm and adapter)."""
        if state.get("algorithm") != self.algorithm or state.get("adapter") != self.adapter:
            raise ValueError(
                f"checkpoint is for a {state.get('algorithm')!r} update of adapter {state.get('adapter')!r}; "
                f"this is a {self.algorithm!r} update of {self.adapter!r}"
            )
        self.optimizer.load_state_dict(state["optimizer"])
        self.steps = int(state["steps"])
        self.lr_scale = float(state.get("lr_scale", 1.0))
        self.reference = state.get("reference", self.reference)
        self._check_reference()
