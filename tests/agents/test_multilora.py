"""Batched multi-LoRA path: per-row results equal peft's own single- and mixed-adapter forwards."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from peft.tuners.lora import Linear as LoraLinear
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

from sparring.agents.engines.multilora import MultiLora
from tests.helpers import assert_close

ROWS = ["red", None, "green", "blue", "red", None]
REL = 5e-5
"""Largest difference allowed, as a share of the largest logit (see ``tests.helpers.assert_close``)."""


def build() -> torch.nn.Module:
    """Tiny fp32 Llama wrapped by peft with adapters red (r=4), green (r=8), blue (r=4), B non-zero."""
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    base = LlamaForCausalLM(config).eval()
    model = None
    for name, r in (("red", 4), ("green", 8), ("blue", 4)):
        cfg = LoraConfig(
            r=r,
            lora_alpha=2 * r + 1,
            target_modules="all-linear",
            lora_dropout=0.0,
            init_lora_weights=False,
        )
        if model is None:
            model = get_peft_model(base, cfg, adapter_name=name)
        else:
            model.add_adapter(name, cfg)
    return model.eval()


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return build()


@pytest.fixture(scope="module")
def ids() -> torch.Tensor:
    return torch.randint(3, 128, (len(ROWS), 7), generator=torch.Generator().manual_seed(1))


@torch.no_grad()
def reference(model: torch.nn.Module, ids: torch.Tensor, rows: list[str | None]) -> torch.Tensor:
    """Row i from a whole-batch forward with rows[i]'s adapter set alone (or adapters disabled)."""
    out = torch.empty(ids.shape + (model.config.vocab_size,))
    for name in set(rows):
        idx = [i for i, r in enumerate(rows) if r == name]
        if name is None:
            with model.disable_adapter():
                logits = model(input_ids=ids).logits
        else:
            model.set_adapter(name)
            logits = model(input_ids=ids).logits
        out[idx] = logits[idx]
    model.set_adapter("red")
    return out


def lora_layers(model: torch.nn.Module) -> list[LoraLinear]:
    return [m for m in model.modules() if isinstance(m, LoraLinear)]


@torch.no_grad()
def test_rows_match_single_adapter_and_peft_mixed(
    model: torch.nn.Module, ids: torch.Tensor
) -> None:
    ml = MultiLora(model)
    with ml.rows(ROWS):
        got = model(input_ids=ids).logits
    assert_close(got, reference(model, ids, ROWS), rel=REL)
    peft_mixed = model(input_ids=ids, adapter_names=[r or "__base__" for r in ROWS]).logits
    assert_close(got, peft_mixed, rel=REL)
    # Deltas really differ per row, so the comparison above is not vacuous.
    assert (got[0] - got[1]).abs().max() > 1e-2 and (got[0] - got[2]).abs().max() > 1e-2


@torch.no_grad()
def test_single_adapter_and_all_base_batches(model: torch.nn.Module, ids: torch.Tensor) -> None:
    ml = MultiLora(model)
    for rows in (["green"] * len(ROWS), [None] * len(ROWS)):
        with ml.rows(rows):
            got = model(input_ids=ids).logits
        assert_close(got, reference(model, ids, rows), rel=REL)


@torch.no_grad()
def test_outside_context_unchanged_and_forwards_restored(
    model: torch.nn.Module, ids: torch.Tensor
) -> None:
    model.set_adapter("blue")
    before = model(input_ids=ids).logits
    ml = MultiLora(model)
    with ml.rows(ROWS):
        assert all("forward" in layer.__dict__ for layer in lora_layers(model))
    with pytest.raises(RuntimeError, match="boom"), ml.rows(ROWS):
        raise RuntimeError("boom")
    assert all("forward" not in layer.__dict__ for layer in lora_layers(model))
    assert torch.equal(model(input_ids=ids).logits, before)
    model.set_adapter("red")


@torch.no_grad()
def test_select_after_dropping_rows(model: torch.nn.Module, ids: torch.Tensor) -> None:
    ml = MultiLora(model)
    ref = full_ref = reference(model, ids, ROWS)
    full = ids
    with ml.rows(ROWS) as binding:
        model(input_ids=ids)
        # mixed -> mixed -> one adapter plus base rows -> one adapter only (no mask)
        for keep in ([5, 3, 2, 0, 4], [3, 4, 0], [2, 0], [1]):
            k = torch.tensor(keep)
            binding.select(k)
            ref, ids = ref[k], ids[k]
            assert_close(model(input_ids=ids).logits, ref, rel=REL)
        assert binding.adapters == ["red"]
    with ml.rows(ROWS) as binding:
        binding.select(torch.tensor([1, 5]))  # only base rows left: pure base layers
        assert binding.adapters == [None, None]
        assert_close(model(input_ids=full[[1, 5]]).logits, full_ref[[1, 5]], rel=REL)


@torch.no_grad()
def test_invalidate_picks_up_changed_weights() -> None:
    model = build()
    ids = torch.randint(3, 128, (len(ROWS), 5), generator=torch.Generator().manual_seed(2))
    ml = MultiLora(model)
    old = reference(model, ids, ROWS)
    with ml.rows(ROWS):
        model(input_ids=ids)  # builds and caches the stacks for {a, b, c}
    for layer in lora_layers(model):
        layer.lora_B["green"].weight.mul_(-2.0)
    new = reference(model, ids, ROWS)
    # Documented behaviour: without invalidate() the cached (stale) stacks are used.
    with ml.rows(ROWS):
        assert_close(model(input_ids=ids).logits, old, rel=REL)
    ml.invalidate("green")
    with ml.rows(ROWS):
        assert_close(model(input_ids=ids).logits, new, rel=REL)
    # A stack not involving "green" survives invalidate("green"); invalidate() drops all.
    with ml.rows(["red", "blue"]):
        model(input_ids=ids[:2])
    ml.invalidate("green")
    assert list(ml._cache) == [("blue", "red")]
    ml.invalidate()
    assert not ml._cache
    # invalidate() inside an active context: the running binding keeps working and the
    # forwards are still restored on exit.
    with ml.rows(ROWS):
        ml.invalidate()
        assert_close(model(input_ids=ids).logits, new, rel=REL)
    assert all("forward" not in layer.__dict__ for layer in lora_layers(model))


@torch.no_grad()
def test_clear_errors(model: torch.nn.Module, ids: torch.Tensor) -> None:
    ml = MultiLora(model)
    with (
        pytest.raises(ValueError, match=r"unknown adapter 'zzz'.*blue, green, red"),
        ml.rows(["red", "zzz"]),
    ):
        pass
    with pytest.raises(ValueError, match="bound to 6 rows.*batch of 4"), ml.rows(ROWS):
        model(input_ids=ids[:4])
    with ml.rows(ROWS), pytest.raises(RuntimeError, match="nested"), ml.rows(ROWS):
        pass
    with ml.rows(ROWS) as binding, pytest.raises(ValueError, match="keep indices"):
        binding.select(torch.tensor([0, 6]))
    assert all("forward" not in layer.__dict__ for layer in lora_layers(model))


def test_unsupported_setups() -> None:
    model = build()
    model.add_adapter("dora", LoraConfig(r=4, target_modules=["q_proj"], use_dora=True))
    ml = MultiLora(model)
    with pytest.raises(ValueError, match="'dora' uses DoRA"), ml.rows(["red", "dora"]):
        pass
    model.add_adapter("emb", LoraConfig(r=4, target_modules=["embed_tokens"]))
    with pytest.raises(ValueError, match="linear layers only.*embed_tokens"):
        MultiLora(model)


@torch.no_grad()
def test_kv_cache_decode_step_with_padding(model: torch.nn.Module, ids: torch.Tensor) -> None:
    mask = torch.ones_like(ids)
    mask[1, :3] = 0  # left padding on two rows
    mask[4, :1] = 0
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    nxt = torch.randint(3, 128, (len(ROWS), 1), generator=torch.Generator().manual_seed(3))
    mask2 = torch.cat([mask, torch.ones_like(nxt)], dim=1)
    pos2 = pos[:, -1:] + 1

    def run(**kw: object) -> tuple[torch.Tensor, torch.Tensor]:
        cache = DynamicCache()
        first = model(
            input_ids=ids, attention_mask=mask, position_ids=pos, past_key_values=cache, **kw
        ).logits
        step = model(
            input_ids=nxt, attention_mask=mask2, position_ids=pos2, past_key_values=cache, **kw
        ).logits
        return first, step

    ml = MultiLora(model)
    with ml.rows(ROWS):
        got = run()
    want = run(adapter_names=[r or "__base__" for r in ROWS])
    for g, w in zip(got, want, strict=True):
        assert_close(g, w, rel=REL)


@torch.no_grad()
def test_bf16_base_with_fp32_adapter_weights(ids: torch.Tensor) -> None:
    """The pool's setup: bf16 base layers, fp32 LoRA master weights (stacks run in bf16)."""
    model = build().to(torch.bfloat16)
    for layer in lora_layers(model):
        layer.lora_A.float()
        layer.lora_B.float()
    ml = MultiLora(model)
    with ml.rows(ROWS):
        got = model(input_ids=ids).logits.float()
    want = model(input_ids=ids, adapter_names=[r or "__base__" for r in ROWS]).logits.float()
    assert got.dtype == want.dtype
    assert_close(got, want, rel=0.1)  # bf16: 8 significant bits, rounded in a different order
