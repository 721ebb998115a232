"""end_of_turn_ids: the token a chat model really stops on, read from its template."""

from __future__ import annotations

import doctest

import pytest

from sparring.agents import chat_end
from sparring.agents.chat_end import end_of_turn_ids
from sparring.agents.tiny import tiny_tokenizer

# Gemma-style: the user must speak first, turns end with "<end_of_turn>\n", and EOS is another token.
GEMMA_LIKE = (
    "{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def test_chatml_with_a_different_eos_gives_im_end_not_eos() -> None:
    tok = tiny_tokenizer()
    tok.add_special_tokens({"eos_token": "<|endoftext|>"})
    im_end = tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.eos_token_id != im_end  # the case that matters: EOS is not where a turn ends
    assert end_of_turn_ids(tok) == [im_end]


def test_template_that_needs_a_user_turn_first() -> None:
    tok = tiny_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"], "eos_token": "<eos>"})
    tok.chat_template = GEMMA_LIKE
    assert tok.convert_ids_to_tokens(end_of_turn_ids(tok)) == ["<end_of_turn>"]


def test_a_plain_text_marker_is_returned_whole() -> None:
    tok = tiny_tokenizer()
    tok.chat_template = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} ###\n\n{% endfor %}"
    assert tok.decode(end_of_turn_ids(tok)) == "###"


@pytest.mark.parametrize(
    "template",
    [
        None,  # no template at all
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{% endfor %}",  # nothing after a turn
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}",  # only a newline
        "{{ raise_exception('no assistant messages here') }}",
    ],
)
def test_falls_back_to_eos(template: str | None) -> None:
    tok = tiny_tokenizer()
    tok.add_special_tokens({"eos_token": "<|endoftext|>"})
    tok.chat_template = template
    assert end_of_turn_ids(tok) == [tok.eos_token_id]


def test_no_marker_and_no_eos_is_an_error() -> None:
    tok = tiny_tokenizer()
    tok.chat_template = None
    tok.eos_token = None
    with pytest.raises(ValueError, match="no end-of-turn marker"):
        end_of_turn_ids(tok)


def test_docstring_example() -> None:
    assert doctest.testmod(chat_end).failed == 0
