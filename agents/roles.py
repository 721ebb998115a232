"""Roles: the seats a model can fill, with their prompt, parser, sampling and adapter binding."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sparring.agents.engines.base import Message
from sparring.agents.parsers import ParseError
from sparring.agents.sampling import SamplingParams

Parser = Callable[[str], Any]
_UNSET: Any = object()


@dataclass(frozen=True)
class Role:
    """A seat a model can fill.

    Attributes:
        name: Seat name, e.g. ``"solver"``.
        system_prompt: System message prepended to every ask (``None``: no system message).
        template: ``str.format`` template applied to the user content of an ask, with
            ``{content}`` as the placeholder.
        parser: Function from reply text to a parsed value; raises :class:`ParseError`
            (or ``ValueError``) on malformed replies. ``None`` keeps the text as is.
        sampling: Default sampling settings; an ask may override them.
        model: Name of the base model in the pool this role runs on.
        adapter: LoRA adapter name; ``None`` means the base weights. Several roles may
            share one adapter (one set of tensors updated from all their data).
    """

    name: str
    system_prompt: str | None = None
    template: str = "{content}"
    parser: Parser | None = None
    sampling: SamplingParams = field(default_factory=SamplingParams)
    model: str = "default"
    adapter: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"role name must be a non-empty identifier, got {self.name!r}")
        if "{content}" not in self.template:
            raise ValueError(
                f"role {self.name!r}: template must contain '{{content}}', got {self.template!r}"
            )

    def render(self, prompt: str | Sequence[Message]) -> list[Message]:
        """Build the full chat messages of an ask: system prompt, then the templated prompt.

        A string becomes one user message through :attr:`template`; a message list is used
        as given (its last user message is templated).
        """
        if isinstance(prompt, str):
            messages: list[Message] = [{"role": "user", "content": prompt}]
        else:
            messages = [dict(m) for m in prompt]
            for m in messages:
                if set(m) != {"role", "content"} or not isinstance(m["content"], str):
                    raise ValueError(
                        f"role {self.name!r}: messages need exactly 'role' and 'content' "
                        f"(str) keys, got {sorted(m)}"
                    )
        for m in reversed(messages):
            if m["role"] == "user":
                m["content"] = self.template.replace("{content}", m["content"])
                break
        if self.system_prompt is not None and (not messages or messages[0]["role"] != "system"):
            messages.insert(0, {"role": "system", "content": self.system_prompt})
        return messages

    def parse(self, text: str) -> tuple[Any, str | None]:
        """Parse a reply; returns ``(value, None)`` or ``(None, error message)``."""
        if self.parser is None:
            return text, None
        try:
            return self.parser(text), None
        except (ParseError, ValueError, TypeError, KeyError, IndexError) as exc:
            return None, f"{type(exc).__name__}: {exc}" if not isinstance(exc, ParseError) else str(exc)

    def bind(
        self,
        *,
        model: str | None = None,
        adapter: str | None = _UNSET,
        sampling: SamplingParams | None = None,
        **sampling_overrides: Any,
    ) -> Role:
        """Return a copy bound to another model/adapter or with other sampling defaults."""
        new = self
        if model is not None:
            new = replace(new, model=model)
        if adapter is not _UNSET:
            new = replace(new, adapter=adapter)
        if sampling is not None:
            new = replace(new, sampling=sampling)
        if sampling_overrides:
            new = replace(new, sampling=new.sampling.updated(**sampling_overrides))
        return new

    def describe(self) -> dict[str, Any]:
        """JSON form recorded in transcripts (the parser by name)."""
        return {
            "name": self.name,
            "system_prompt": self.system_prompt,
            "template": self.template,
            "parser": getattr(self.parser, "__name__", repr(self.parser)) if self.parser else None,
            "sampling": self.sampling.to_dict(),
            "model": self.model,
            "adapter": self.adapter,
        }
