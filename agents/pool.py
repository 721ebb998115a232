"""The model pool: each base model loaded once, with named, versioned LoRA adapters.

Adapters are peft LoRA adapters injected into the one copy of the base weights. An
adapter's version grows by one with every update. A snapshot is a frozen copy of an
adapter version stored as another (non-trainable) adapter named ``"<adapter>@v<N>"``, so
a reference policy or a past opponent costs the adapter's few megabytes, never a second
copy of the base.
"""

from __future__ import annotations

import functools
import json
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sparring.agents.embedded import embedded_model_path

EMBEDDED_ALIASES = ("default", "smollm2", "embedded", "SmolLM2-135M-Instruct")


def default_dtype(device: str = "cpu") -> torch.dtype:
    """bf16 where the hardware computes it natively, else fp32.

    On CPUs without AVX512-BF16/AMX, bf16 matmuls are emulated: measured 4x *slower*
    than fp32 on an AVX2 machine (46 vs 194 tokens/s), while a CPU with native bf16 is
    about 2x faster. So the choice must follow the hardware.
    """
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return torch.float32
    return torch.bfloat16 if ("avx512_bf16" in flags or "amx_bf16" in flags) else torch.float32


def parse_dtype(dtype: str | torch.dtype, device: str = "cpu") -> torch.dtype:
    """``"auto"``, ``"fp32"``/``"float32"``, ``"bf16"``/``"bfloat16"``, ``"fp16"`` → dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    names = {
        "fp32": torch.float32, "float32": torch.float32,
        "bf16": torch.bfloat16, "bfloat16": torch.bfloat16,
        "fp16": torch.float16, "float16": torch.float16,
    }
    if dtype == "auto":
        return default_dtype(device)
    if dtype not in names:
        raise ValueError(f"unknown dtype {dtype!r}; use auto, fp32, bf16 or fp16")
    return names[dtype]


@dataclass
class AdapterInfo:
    """Bookkeeping of one adapter on a base model."""

    name: str
    version: int = 0
    rank: int = 8
    alpha: int = 16
    target_modules: Any = "all-linear"
    frozen: bool = False
    source: str | None = None  # for snapshots: the adapter they were copied from


@dataclass
class LoadedModel:
    """A base model in the pool with its tokenizer and adapters."""

    name: str
    source: str
    model: Any  # PreTrainedModel, or PeftModel once an adapter exists
    tokenizer: Any
    dtype: torch.dtype
    device: str
    adapters: dict[str, AdapterInfo] = field(default_factory=dict)
    weights_epoch: int = 0  # bumps whenever any adapter weight changes; engines re-stack then

    @property
    def base(self) -> Any:
        """The underlying transformers model (peft layers injected, if any)."""
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    def describe(self) -> dict[str, Any]:
        """JSON description recorded in run configs."""
        return {
            "name": self.name,
            "source": self.source,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device,
            "parameters": sum(p.numel() for p in self.base.parameters()),
        }


def load_base(source: str, dtype: str | torch.dtype = "auto", device: str = "cpu") -> tuple[Any, Any, torch.dtype]:
    """Load ``(model, tokenizer, dtype)`` from ``source``.

    ``source`` is one of the embedded aliases (``default``, ``smollm2``), ``tiny`` or
    ``tiny:<seed>`` for a tiny random test model, or a local folder / HF model id.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = parse_dtype(dtype, device)
    if source == "tiny" or source.startswith("tiny:"):
        from sparring.agents.tiny import tiny_model

        seed = int(source.split(":", 1)[1]) if ":" in source else 0
        model, tokenizer = tiny_model(seed=seed)
        model = model.to(device=device, dtype=torch_dtype)
    else:
        path = str(embedded_model_path()) if source in EMBEDDED_ALIASES else source
        if not Path(path).exists() and not Path(path).expanduser().exists() and "/" not in path:
            raise ValueError(
                f"model {source!r} is neither a local folder nor an embedded alias "
                f"({', '.join(EMBEDDED_ALIASES)}) nor 'tiny[:seed]'"
            )
        tokenizer = AutoTokenizer.from_pretrained(path)
        model = _load_cast(Path(path).expanduser(), torch_dtype)
        if model is None:
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
        model = model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer, torch_dtype


_FLOAT_DTYPES = {"F64": torch.float64, "F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
_PLAIN_DTYPES = {*_FLOAT_DTYPES, "I64", "I32", "I16", "I8", "U8", "BOOL"}


def _load_cast(folder: Path, dtype: torch.dtype) -> Any | None:
    """Load a local safetensors checkpoint that needs a cast to ``dtype``, tensor by tensor.

    ``from_pretrained(path, dtype=...)`` memory-maps the checkpoint and keeps every page it
    read mapped until the whole model is loaded, so casting fp32 weights to bf16 peaked at
    the fp32 file *plus* the bf16 copy: 1.2 GB for the embedded model (517 MiB file), which
    is resident at 0.69 GB afterwards. Here each tensor is read on its own (``pread``, no
    mapping) and cast straight away, so the peak is the cast model plus two source tensors;
    transformers then builds the model around those tensors without copying them (key
    renames and weight tying still apply).

    Returns ``None``, for :func:`load_base` to call ``from_pretrained`` as usual, when no cast
    is needed (the read-only mapping then costs nothing extra and its pages are shared
    between processes), and for what this path does not handle: hub ids, ``.bin`` weights,
    quantized checkpoints, remote-code models, safetensors without the ``pread`` backend.
    """
    from transformers import MODEL_FOR_CAUSAL_LM_MAPPING, AutoConfig, GenerationConfig

    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = [folder / name for name in sorted(set(json.loads(index.read_text())["weight_map"].values()))]
    elif (folder / "model.safetensors").is_file():
        files = [folder / "model.safetensors"]
    else:
        return None
    config = AutoConfig.from_pretrained(folder)
    model_class = MODEL_FOR_CAUSAL_LM_MAPPING.get(type(config), None)
    if model_class is None or getattr(config, "quantization_config", None) is not None:
        return None
    from safetensors import safe_open

    try:
        handles = [safe_open(str(file), framework="pt", device="cpu", backend="pread") for file in files]
    except TypeError:  # safetensors < 0.8: memory mapping only
        return None
    stored = {h.get_slice(key).get_dtype() for h in handles for key in h.keys()}
    if not stored <= _PLAIN_DTYPES or all(_FLOAT_DTYPES.get(d, dtype) == dtype for d in stored):
        return None  # nothing to cast (from_pretrained's mapping is the cheaper load), or fp8 & co.

    def read(handle: Any, key: str) -> torch.Tensor:
        tensor = handle.get_tensor(key)
        return tensor.to(dtype) if tensor.is_floating_point() else tensor

    # Two reader threads, like transformers' own small pool: on a busy 2-core machine reading
    # and casting the embedded model took 0.3-0.7 s there against 1.8-3.5 s on the main
    # thread. At most two source tensors exist at once.
    state: dict[str, torch.Tensor] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for handle in handles:
            with handle:
                keys = list(handle.keys())
                state.update(zip(keys, pool.map(functools.partial(read, handle), keys), strict=True))
    model = model_class.from_pretrained(None, config=config, state_dict=state, dtype=dtype)
    model.config.name_or_path = model.name_or_path = str(folder)  # as from_pretrained(path) records it
    if model.can_generate() and (folder / "generation_config.json").is_file():
        # without the file, the generation config derived from the model config stays
        model.generation_config = GenerationConfig.from_pretrained(folder)
    return model


def _linear_in_input_dtype(linear: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """``linear(x)`` computed in ``x``'s dtype, on a cast of the weights (differentiable)."""
    bias = None if linear.bias is None else linear.bias.to(x.dtype)
    return torch.nn.functional.linear(x, linear.weight.to(x.dtype), bias)


class ModelPool:
    """Loads each base model once and manages its adapters, versions and snapshots.

    Example:
        >>> pool = ModelPool()
        >>> _ = pool.load("default", "tiny")
        >>> pool.add_adapter("default", "solver", rank=4)
        >>> pool.version("default", "solver")
        0
    """

    def __init__(self, device: str = "cpu", dtype: str | torch.dtype = "auto") -> None:
        self.device = device
        self.dtype = dtype
        self._models: dict[str, LoadedModel] = {}

    def load(self, name: str, source: str) -> LoadedModel:
        """Load base model ``source`` under ``name`` (no-op if already loaded from it)."""
        if name in self._models:
            if self._models[name].source != source:
                raise ValueError(
                    f"model name {name!r} is already loaded from {self._models[name].source!r}; "
                    f"pick another name for {source!r}"
                )
            return self._models[name]
        model, tokenizer, dtype = load_base(source, self.dtype, self.device)
        loaded = LoadedModel(name, source, model, tokenizer, dtype, self.device)
        self._models[name] = loaded
        return loaded

    def adopt(self, name: str, model: Any, tokenizer: Any, source: str = "in-memory") -> LoadedModel:
        """Take a model built in this process (e.g. randomly initialised from a config) under ``name``.

        For benchmarks and tests of real model shapes without their weights: the model is
        used as it is (its dtype and device are read from its parameters, not cast).

        Args:
            name: Name of the model in the pool (taken: ``ValueError``).
            model: A transformers causal LM (no adapters yet).
            tokenizer: Its tokenizer; ``pad_token`` falls back to ``eos_token``.
            source: What to record as its source.
        """
        if name in self._models:
            raise ValueError(f"model name {name!r} is already loaded from {self._models[name].source!r}; "
                             "pick another name")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        param = next(model.parameters())
        loaded = LoadedModel(name, source, model.eval(), tokenizer, param.dtype, str(param.device))
        self._models[name] = loaded
        return loaded

    def get(self, name: str) -> LoadedModel:
        """The loaded model called ``name``."""
        if name not in self._models:
            raise KeyError(
                f"model {name!r} is not loaded (loaded: {', '.join(self._models) or 'none'}); "
                f"call pool.load({name!r}, SOURCE) first"
            )
        return self._models[name]

    def __contains__(self, name: str) -> bool:
        return name in self._models

    @property
    def names(self) -> list[str]:
        """Names of the loaded models."""
        return list(self._models)

    def add_adapter(
        self,
        model: str,
        adapter: str,
        *,
        rank: int = 8,
        alpha: int = 16,
        target_modules: Any = "all-linear",
        init: str = "default",
        seed: int = 0,
    ) -> AdapterInfo:
        """Attach a new LoRA adapter called ``adapter`` to ``model``.

        ``init="default"`` is peft's init (B = 0, so the adapter starts equal to the base);
        ``init="random"`` makes B non-zero (useful for tests and benchmarks).
        """
        from peft import LoraConfig, PeftModel, get_peft_model

        loaded = self.get(model)
        if adapter in loaded.adapters:
            raise ValueError(f"adapter {adapter!r} already exists on model {model!r}")
        if "@" in adapter:
            raise ValueError(f"adapter names may not contain '@' (reserved for snapshots): {adapter!r}")
        if init not in ("default", "random"):
            raise ValueError(f"init must be 'default' or 'random', got {init!r}")
        config = LoraConfig(
            r=rank,
            lora_alpha=alpha,
            target_modules=target_modules,
            lora_dropout=0.0,
            bias="none",
            task_type="CAUSAL_LM",
            init_lora_weights=(init == "default"),
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            if isinstance(loaded.model, PeftModel):
                loaded.model.add_adapter(adapter, config)
            else:
                with warnings.catch_warnings():
                    # peft's PeftModel.__init__ reads transformers' deprecated `is_gradient_checkpointing`
                    # property (not our call): silence that one FutureWarning, not the category
                    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated",
                                            category=FutureWarning)
                    loaded.model = get_peft_model(loaded.model, config, adapter_name=adapter)
        self._cast_adapter(loaded, adapter)
        info = AdapterInfo(adapter, 0, rank, alpha, target_modules)
        loaded.adapters[adapter] = info
        loaded.weights_epoch += 1
        return info

    def _cast_adapter(self, loaded: LoadedModel, adapter: str) -> None:
        """Keep ``adapter``'s LoRA weights in fp32 but run its matmuls in the base's dtype.

        The weights stay fp32 even on a bf16 base: updates are tiny and bf16 would round
        them away. peft would then cast each wrapped layer's *input* to fp32 for the LoRA
        matmuls, and autograd keeps every such copy for the backward pass (one per wrapped
        layer, so q, k and v each keep their own copy of the same hidden states): 37% of
        the activations a bf16 SmolLM2 training step saves. So on a lower-precision base
        the LoRA matmuls take the input as it is and a cast of the (small) weights, as
        autocast would do; gradients still reach the fp32 weights. The inference path
        (``MultiLora``) casts a stacked copy of the weights the same way.
        """
        from peft.tuners.lora import Linear as LoraLinear

        low = loaded.dtype != torch.float32
        for module in loaded.base.modules():
            for attr in ("lora_A", "lora_B"):
                table = getattr(module, attr, None)
                if table is not None and adapter in table:
                    table[adapter].to(torch.float32)
                    if low and isinstance(module, LoraLinear):
                        table[adapter].forward = functools.partial(_linear_in_input_dtype, table[adapter])
            if low and isinstance(module, LoraLinear):
                module.cast_input_dtype_enabled = False  # every adapter of the layer is patched

    def adapter_names(self, model: str) -> list[str]:
        """Adapters (snapshots included) on ``model``."""
        return list(self.get(model).adapters)

    def version(self, model: str, adapter: str | None) -> int | None:
        """Current version of ``adapter`` (``None`` for the base weights)."""
        if adapter is None:
            return None
        loaded = self.get(model)
        if adapter not in loaded.adapters:
            raise KeyError(self._unknown(loaded, adapter))
        return loaded.adapters[adapter].version

    def bump_version(self, model: str, adapter: str) -> int:
        """Record that ``adapter``'s weights changed; returns the new version."""
        loaded = self.get(model)
        if adapter not in loaded.adapters:
            raise KeyError(self._unknown(loaded, adapter))
        info = loaded.adapters[adapter]
        if info.frozen:
            raise ValueError(f"{adapter!r} is a frozen snapshot; it cannot be updated")
        info.version += 1
        loaded.weights_epoch += 1
        return info.version

    def snapshot(self, model: str, adapter: str, name: str | None = None) -> str:
        """Freeze a copy of ``adapter``'s current weights; returns the snapshot's adapter name."""
        loaded = self.get(model)
        if adapter not in loaded.adapters:
            raise KeyError(self._unknown(loaded, adapter))
        info = loaded.adapters[adapter]
        snap = name or f"{adapter}@v{info.version}"
        if snap in loaded.adapters:
            return snap
        from peft import LoraConfig

        config = LoraConfig(
            r=info.rank, lora_alpha=info.alpha, target_modules=info.target_modules,
            lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
        )
        loaded.model.add_adapter(snap, config)
        with torch.no_grad():
            for module in loaded.base.modules():
                for attr in ("lora_A", "lora_B"):
                    table = getattr(module, attr, None)
                    if table is not None and adapter in table:
                        table[snap].weight.copy_(table[adapter].weight)
                        table[snap].weight.requires_grad_(False)
        self._cast_adapter(loaded, snap)
        loaded.adapters[snap] = AdapterInfo(
            snap, info.version, info.rank, info.alpha, info.target_modules, frozen=True,
            source=adapter,
        )
        loaded.weights_epoch += 1
        return snap

    def drop_snapshot(self, model: str, name: str) -> None:
        """Delete the frozen snapshot ``name`` (e.g. a reference an iterative method moved past)."""
        loaded = self.get(model)
        info = loaded.adapters.get(name)
        if info is None:
            raise KeyError(self._unknown(loaded, name))
        if not info.frozen:
            raise ValueError(f"{name!r} is a live adapter, not a snapshot; only snapshots can be dropped")
        loaded.model.delete_adapter(name)
        del loaded.adapters[name]
        loaded.weights_epoch += 1

    def save_adapter(self, model: str, adapter: str, path: str | Path) -> Path:
        """Save ``adapter`` as a peft adapter folder (safetensors) at ``path``."""
        loaded = self.get(model)
        if adapter not in loaded.adapters:
            raise KeyError(self._unknown(loaded, adapter))
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        loaded.model.save_pretrained(str(out), selected_adapters=[adapter])
        # peft nests non-default adapters in a sub-folder named after them.
        nested = out / adapter
        return nested if nested.exists() else out

    @staticmethod
    def _unknown(loaded: LoadedModel, adapter: str) -> str:
        known = ", ".join(loaded.adapters) or "none"
        return (
            f"adapter {adapter!r} does not exist on model {loaded.name!r} (adapters: {known}); "
            f"add it with pool.add_adapter({loaded.name!r}, {adapter!r})"
        )
