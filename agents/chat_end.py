"""The tokens that end an assistant turn, read from the model's own chat template.

A reply the model generates ends with the token it stops on, and for chat models that
is the template's end-of-turn marker (``<|im_end|>`` in ChatML, ``<end_of_turn>`` in
Gemma, ``<|eot_id|>`` in Llama 3), which need not be ``tokenizer.eos_token`` (Gemma's
is ``<eos>``; base-model tokenizers of ChatML families name ``<|endoftext|>``). The
embedded SmolLM2-Instruct happens to use ``<|im_end|>`` for both. Training targets
that are written rather than sampled (SPIN's chosen replies, reference SFT) must end the
same way: otherwise the model is taught to end turns with a token its template never
writes, and a SPIN pair's chosen and rejected replies differ in their last token for a
reason that has nothing to do with their content.

:func:`end_of_turn_ids` finds the marker by rendering a short conversation whose last
assistant message is a sentinel string and tokenizing what the template writes after it.
"""

from __future__ import annotations

from typing import Any

#: Assistant content no template rewrites and no tokenizer merges with a following marker.
_SENTINEL = "SPARRING-END-OF-TURN-PROBE"


def _render(tokenizer: Any, messages: list[dict[str, str]]) -> str | None:
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    except Exception:  # noqa: BLE001 - no template, or one that rejects this conversation
        return None
    return text if isinstance(text, str) else None


def end_of_turn_ids(tokenizer: Any) -> list[int]:
    """Token ids a reply must end with: the chat template's end-of-turn marker.

    The template is rendered for ``[user, assistant]`` messages (some templates insist on
    alternation starting with the user; a lone assistant message is tried next); the text
    after the assistant's sentinel content is tokenized without special-token additions,
    leading whitespace-only tokens are skipped, and the run of tokens up to the next
    whitespace-only token (the newline most templates put between turns) is the answer.

    Falls back to ``[tokenizer.eos_token_id]`` when the tokenizer has no chat template,
    the template rejects both conversations, or it writes nothing after the content.

    Args:
        tokenizer: A transformers tokenizer.

    Returns:
        One or more token ids (one for every template seen so far).

    Raises:
        ValueError: No marker in the template and no EOS token either.

    Example:
        >>> from sparring.agents.tiny import tiny_tokenizer
        >>> tok = tiny_tokenizer()
        >>> tok.convert_ids_to_tokens(end_of_turn_ids(tok))
        ['<|im_end|>']
    """
    for messages in (
        [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _SENTINEL}],
        [{"role": "assistant", "content": _SENTINEL}],
    ):
        text = _render(tokenizer, messages)
        if text is None or _SENTINEL not in text:
            continue
        after = text[text.rindex(_SENTINEL) + len(_SENTINEL) :]
        ids = list(tokenizer(after, add_special_tokens=False)["input_ids"])
        marker: list[int] = []
        for token_id in ids:
            if tokenizer.decode([token_id]).strip() == "":
                if marker:
                    break
                continue  # whitespace before the marker
            marker.append(token_id)
        if marker:
            return marker
        break  # the template writes nothing after a turn: the model stops on EOS
    if tokenizer.eos_token_id is None:
        raise ValueError(
            "end_of_turn_ids: the chat template writes no end-of-turn marker after an assistant message "
            "and the tokenizer has no eos_token; set tokenizer.eos_token to the token the model stops on"
        )
    return [tokenizer.eos_token_id]
