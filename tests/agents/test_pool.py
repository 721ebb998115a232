"""The model pool: loading, adapters, versions, snapshots and saving."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sparring.agents.pool import ModelPool, _load_cast, load_base, parse_dtype
from sparring.agents.tiny import tiny_model


def _lora_tables(pool: ModelPool, adapter: str) -> list[torch.Tensor]:
    loaded = pool.get("default")
    return [
        getattr(m, attr)[adapter].weight
        for m in loaded.base.modules()
        for attr in ("lora_A", "lora_B")
        if getattr(m, attr, None) is not None and adapter in getattr(m, attr)
    ]


def test_load_tiny(tiny_pool: ModelPool) -> None:
    loaded = tiny_pool.get("default")
    assert loaded.source == "tiny" and loaded.dtype == torch.float32
    assert tiny_pool.names == ["default"] and "default" in tiny_pool
    assert tiny_pool.load("default", "tiny") is loaded  # loading again is a no-op
    described = loaded.describe()
    assert described["dtype"] == "float32" and described["parameters"] > 0


def test_load_errors(tiny_pool: ModelPool) -> None:
    with pytest.raises(ValueError, match="already loaded from 'tiny'; pick another name"):
        tiny_pool.load("default", "tiny:1")
    with pytest.raises(KeyError, match=r"model 'nope' is not loaded \(loaded: default\); call pool.load"):
        tiny_pool.get("nope")
    with pytest.raises(ValueError, match="neither a local folder nor an embedded alias"):
        ModelPool().load("x", "no-such-model")


def test_tiny_seed_source() -> None:
    pool = ModelPool(dtype="fp32")
    a, b = pool.load("a", "tiny"), pool.load("b", "tiny:3")
    assert not torch.equal(a.model.model.embed_tokens.weight, b.model.model.embed_tokens.weight)


@pytest.mark.parametrize("sharded", [False, True])
def test_cast_load_equals_from_pretrained(tmp_path: Path, sharded: bool) -> None:
    # An fp32 checkpoint loaded as bf16 is read tensor by tensor (no whole-file mapping held
    # while casting); the model must be exactly what from_pretrained(path, dtype=...) builds.
    from transformers import AutoModelForCausalLM

    model, tokenizer = tiny_model(seed=5)
    model.save_pretrained(tmp_path, max_shard_size="20KB" if sharded else "1GB")
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors.index.json").exists() == sharded
    assert _load_cast(tmp_path, torch.float32) is None  # nothing to cast: from_pretrained maps the file
    ours, _, dtype = load_base(str(tmp_path), "bf16")
    reference = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16).eval()
    assert dtype is torch.bfloat16 and not ours.training
    a, b = ours.state_dict(), reference.state_dict()
    assert list(a) == list(b)
    assert all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a)
    assert all(torch.equal(x, y) for x, y in zip(ours.buffers(), reference.buffers(), strict=True))
    assert ours.lm_head.weight is ours.model.embed_tokens.weight  # still tied
    assert ours.generation_config.to_dict() == reference.generation_config.to_dict()
    assert ours.config.to_dict() == reference.config.to_dict()
    assert ours.name_or_path == reference.name_or_path == str(tmp_path)
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    with torch.no_grad():
        assert torch.equal(ours(ids).logits, reference(ids).logits)


def test_parse_dtype() -> None:
    assert parse_dtype("fp32") is torch.float32 and parse_dtype("bfloat16") is torch.bfloat16
    assert parse_dtype(torch.float16) is torch.float16
    assert parse_dtype("auto") in (torch.float32, torch.bfloat16)
    with pytest.raises(ValueError, match="unknown dtype 'fp8'"):
        parse_dtype("fp8")


def test_add_adapter_and_versions(tiny_pool: ModelPool) -> None:
    epoch = tiny_pool.get("default").weights_epoch
    info = tiny_pool.add_adapter("default", "solver", rank=4)
    assert (info.name, info.version, info.rank, info.frozen) == ("solver", 0, 4, False)
    tiny_pool.add_adapter("default", "verifier", rank=4, init="random", seed=1)
    assert tiny_pool.adapter_names("default") == ["solver", "verifier"]
    assert tiny_pool.get("default").weights_epoch == epoch + 2
    assert tiny_pool.version("default", "solver") == 0
    assert tiny_pool.version("default", None) is None
    assert tiny_pool.bump_version("default", "solver") == 1
    assert tiny_pool.bump_version("default", "solver") == 2
    assert tiny_pool.version("default", "solver") == 2
    assert tiny_pool.version("default", "verifier") == 0
    # peft's default init has B = 0; the random init does not, and LoRA weights are fp32.
    assert all(t.dtype == torch.float32 for t in _lora_tables(tiny_pool, "solver"))
    b_default = [t for t in _lora_tables(tiny_pool, "solver") if t.shape[1] == 4]
    b_random = [t for t in _lora_tables(tiny_pool, "verifier") if t.shape[1] == 4]
    assert b_default and all(not t.any() for t in b_default)
    assert any(t.any() for t in b_random)


def test_lora_on_bf16_base_computes_in_bf16_into_fp32_weights() -> None:
    # fp32 LoRA weights on a bf16 base: the LoRA matmuls take the bf16 hidden states as they
    # are (no fp32 copy per wrapped layer for autograd to keep), gradients reach fp32 weights.
    pool = ModelPool(dtype="bf16")
    loaded = pool.load("default", "tiny")
    pool.add_adapter("default", "solver", rank=4, init="random", seed=3)
    pool.snapshot("default", "solver")
    seen: list[torch.dtype] = []
    linears = [table[name] for m in loaded.base.modules() for attr in ("lora_A", "lora_B")
               if (table := getattr(m, attr, None)) is not None for name in table]
    hooks = [lin.register_forward_pre_hook(lambda _, args: seen.append(args[0].dtype)) for lin in linears]
    ids = torch.tensor([[5, 17, 42, 99, 7]])
    loaded.model(ids).logits.float().logsumexp(-1).sum().backward()
    for hook in hooks:
        hook.remove()
    assert seen and set(seen) == {torch.bfloat16}
    weights = _lora_tables(pool, "solver")
    assert all(w.dtype == torch.float32 for w in weights + _lora_tables(pool, "solver@v1"))
    assert all(w.grad is not None and w.grad.dtype == torch.float32 for w in weights)
    assert any(w.grad.any() for w in weights)
    # The result is the bf16 matmul of the cast weights.
    lin = linears[0]
    x = torch.randn(3, lin.in_features, dtype=torch.bfloat16)
    assert torch.equal(lin(x), x @ lin.weight.to(torch.bfloat16).T)


def test_adapter_errors(tiny_pool: ModelPool) -> None:
    tiny_pool.add_adapter("default", "solver", rank=4)
    with pytest.raises(ValueError, match="adapter 'solver' already exists on model 'default'"):
        tiny_pool.add_adapter("default", "solver")
    with pytest.raises(ValueError, match="may not contain '@'"):
        tiny_pool.add_adapter("default", "a@b")
    with pytest.raises(ValueError, match="init must be 'default' or 'random'"):
        tiny_pool.add_adapter("default", "x", init="zeros")
    message = (
        r"adapter 'solvr' does not exist on model 'default' \(adapters: solver\); "
        r"add it with pool.add_adapter\('default', 'solvr'\)"
    )
    with pytest.raises(KeyError, match=message):
        tiny_pool.version("default", "solvr")
    with pytest.raises(KeyError, match=message):
        tiny_pool.bump_version("default", "solvr")
    with pytest.raises(KeyError, match=message):
        tiny_pool.snapshot("default", "solvr")
    with pytest.raises(KeyError, match=message):
        tiny_pool.save_adapter("default", "solvr", "/tmp/unused")


def test_snapshot_is_a_frozen_copy(tiny_pool: ModelPool) -> None:
    tiny_pool.add_adapter("default", "solver", rank=4, init="random", seed=2)
    tiny_pool.bump_version("default", "solver")
    snap = tiny_pool.snapshot("default", "solver")
    assert snap == "solver@v1"
    info = tiny_pool.get("default").adapters[snap]
    assert (info.frozen, info.version, info.source) == (True, 1, "solver")
    live, frozen = _lora_tables(tiny_pool, "solver"), _lora_tables(tiny_pool, snap)
    assert len(live) == len(frozen) > 0
    assert all(torch.equal(a, b) for a, b in zip(live, frozen, strict=True))
    assert all(not t.requires_grad for t in frozen)
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(live, frozen, strict=True))
    # Updating the live adapter leaves the snapshot as it was.
    with torch.no_grad():
        for t in live:
            t.add_(1.0)
    tiny_pool.bump_version("default", "solver")
    assert not any(torch.equal(a, b) for a, b in zip(live, _lora_tables(tiny_pool, snap), strict=True))
    assert tiny_pool.snapshot("default", "solver", name="solver@v1") == "solver@v1"  # existing name
    with pytest.raises(ValueError, match="frozen snapshot; it cannot be updated"):
        tiny_pool.bump_version("default", snap)


def test_drop_snapshot_removes_only_snapshots(tiny_pool: ModelPool) -> None:
    tiny_pool.add_adapter("default", "solver", rank=4, init="random", seed=2)
    snap = tiny_pool.snapshot("default", "solver")
    epoch = tiny_pool.get("default").weights_epoch
    tiny_pool.drop_snapshot("default", snap)
    assert snap not in tiny_pool.adapter_names("default") and _lora_tables(tiny_pool, snap) == []
    assert tiny_pool.get("default").weights_epoch == epoch + 1  # engines drop stacked copies
    assert len(_lora_tables(tiny_pool, "solver")) > 0
    with pytest.raises(ValueError, match="only snapshots can be dropped"):
        tiny_pool.drop_snapshot("default", "solver")
    with pytest.raises(KeyError):
        tiny_pool.drop_snapshot("default", snap)


def test_save_adapter_writes_safetensors(tiny_pool: ModelPool, tmp_path: Path) -> None:
    tiny_pool.add_adapter("default", "solver", rank=4)
    tiny_pool.add_adapter("default", "verifier", rank=4)
    out = tiny_pool.save_adapter("default", "verifier", tmp_path / "ckpt")
    assert (out / "adapter_model.safetensors").exists()
    assert (out / "adapter_config.json").exists()
    from safetensors.torch import load_file

    tensors = load_file(out / "adapter_model.safetensors")
    assert tensors and all("lora_" in k for k in tensors)


def test_adopt_takes_a_model_built_in_process() -> None:
    model, tokenizer = tiny_model(seed=3)
    model = model.to(torch.bfloat16)
    pool = ModelPool()
    loaded = pool.adopt("default", model, tokenizer, source="random:tiny")
    assert loaded.dtype == torch.bfloat16 and loaded.device == "cpu" and loaded.source == "random:tiny"
    pool.add_adapter("default", "solver", rank=4)
    assert pool.adapter_names("default") == ["solver"]
    with pytest.raises(ValueError, match="model name 'default' is already loaded from 'random:tiny'; pick another"):
        pool.adopt("default", *tiny_model(seed=4))
