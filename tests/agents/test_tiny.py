"""The tiny random test model and its byte-level tokenizer."""

from __future__ import annotations

import torch

from sparring.agents.tiny import tiny_model, tiny_tokenizer


def test_tokenizer_round_trips_bytes() -> None:
    tok = tiny_tokenizer()
    assert len(tok) == 259
    assert (tok.pad_token_id, tok.eos_token_id) == (0, 2)
    for text in ["hello", "Answer: 42\n", "日本語 🎲 é"]:
        ids = tok.encode(text, add_special_tokens=False)
        assert len(ids) == len(text.encode())
        assert tok.decode(ids) == text


def test_chat_template() -> None:
    tok = tiny_tokenizer()
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert rendered == "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n"


def test_same_seed_same_weights() -> None:
    a, _ = tiny_model(seed=0)
    b, _ = tiny_model(seed=0)
    c, _ = tiny_model(seed=1)
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)
    assert a.config.num_hidden_layers == 2 and a.config.hidden_size == 64


def test_building_does_not_touch_the_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny_model(seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_config_overrides() -> None:
    model, _ = tiny_model(num_hidden_layers=1)
    assert model.config.num_hidden_layers == 1
