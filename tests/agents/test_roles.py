"""Roles: rendering, templates, system prompts, parsing, binding and description."""

from __future__ import annotations

import json

import pytest

from sparring.agents import BUILTIN_ROLES, builtin_roles, parsers
from sparring.agents.parsers import ParseError
from sparring.agents.roles import Role
from sparring.agents.sampling import SamplingParams


def test_render_string_prompt() -> None:
    role = Role(name="solver", system_prompt="Be careful.", template="Q: {content}\nA:")
    assert role.render("What is 2 + 2?") == [
        {"role": "system", "content": "Be careful."},
        {"role": "user", "content": "Q: What is 2 + 2?\nA:"},
    ]


def test_render_without_system_prompt() -> None:
    assert Role(name="solver").render("hi") == [{"role": "user", "content": "hi"}]


def test_render_messages_templates_the_last_user_message() -> None:
    role = Role(name="solver", system_prompt="sys", template="[{content}]")
    prompt = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "second"},
        {"role": "assistant", "content": "draft"},
    ]
    messages = role.render(prompt)
    assert messages == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "[second]"},
        {"role": "assistant", "content": "draft"},
    ]
    assert prompt[2]["content"] == "second"  # the caller's messages are not mutated


def test_render_keeps_an_existing_system_message() -> None:
    role = Role(name="solver", system_prompt="default")
    messages = role.render([{"role": "system", "content": "own"}, {"role": "user", "content": "x"}])
    assert messages == [{"role": "system", "content": "own"}, {"role": "user", "content": "x"}]


def test_template_braces_in_content_are_kept() -> None:
    role = Role(name="solver", template="<{content}>")
    assert role.render("{not a field} {content}")[-1]["content"] == "<{not a field} {content}>"


@pytest.mark.parametrize(
    "bad", [[{"role": "user"}], [{"role": "user", "content": 3}], [{"role": "user", "content": "x", "name": "n"}]]
)
def test_render_rejects_malformed_messages(bad: list) -> None:
    with pytest.raises(ValueError, match="exactly 'role' and 'content'"):
        Role(name="solver").render(bad)


def test_role_validation() -> None:
    with pytest.raises(ValueError, match="template must contain '{content}'"):
        Role(name="solver", template="no placeholder")
    with pytest.raises(ValueError, match="non-empty identifier"):
        Role(name="")
    with pytest.raises(ValueError, match="non-empty identifier"):
        Role(name="two words")
    Role(name="seat_one-b")  # underscores and dashes are fine


def test_parse_returns_errors_instead_of_raising() -> None:
    role = Role(name="solver", parser=parsers.answer_number)
    assert role.parse("Answer: 42") == (42, None)
    value, error = role.parse("no idea")
    assert value is None
    assert error == "expected a number in the reply, found none"


@pytest.mark.parametrize("exc", [ValueError("v"), TypeError("t"), KeyError("k"), IndexError("i")])
def test_parse_reports_common_exceptions(exc: Exception) -> None:
    def parser(text: str) -> str:
        raise exc

    value, error = Role(name="solver", parser=parser).parse("x")
    assert value is None
    assert error is not None and error.startswith(type(exc).__name__ + ": ")


def test_parse_error_message_has_no_type_prefix() -> None:
    def parser(text: str) -> str:
        raise ParseError("expected a haiku")

    assert Role(name="poet", parser=parser).parse("x") == (None, "expected a haiku")


def test_parse_without_parser_keeps_text() -> None:
    assert Role(name="free").parse(" raw ") == (" raw ", None)


def test_bind() -> None:
    role = builtin_roles.solver()
    bound = role.bind(model="big", adapter="solver", temperature=1.0, max_new_tokens=8)
    assert (bound.model, bound.adapter) == ("big", "solver")
    assert bound.sampling == SamplingParams(max_new_tokens=8, temperature=1.0)
    assert bound.parser is role.parser and bound.system_prompt == role.system_prompt
    assert (role.model, role.adapter, role.sampling.temperature) == ("default", None, 0.8)  # frozen
    assert bound.bind(adapter=None).adapter is None  # None means the base weights
    assert bound.bind(model="other").adapter == "solver"  # unset adapter is kept
    greedy = SamplingParams(temperature=0.0)
    assert role.bind(sampling=greedy).sampling is greedy
    with pytest.raises(TypeError, match="unknown sampling option"):
        role.bind(temprature=1.0)


def test_builtin_factories_take_overrides() -> None:
    role = builtin_roles.verifier(adapter="v", temperature=0.0)
    assert role.adapter == "v" and role.sampling.temperature == 0.0
    assert role.name == "verifier"


def test_describe_is_json() -> None:
    role = builtin_roles.judge(adapter="j")
    described = role.describe()
    assert json.loads(json.dumps(described)) == described
    assert described == {
        "name": "judge",
        "system_prompt": role.system_prompt,
        "template": "{content}",
        "parser": "choice_A_B",
        "sampling": {"max_new_tokens": 64, "temperature": 0.0, "top_p": 1.0, "stop": []},
        "model": "default",
        "adapter": "j",
    }
    assert Role(name="free").describe()["parser"] is None


def test_builtin_roles_are_named_after_their_key() -> None:
    for name, factory in BUILTIN_ROLES.items():
        role = factory()
        assert role.name == name
        assert role.parser is not None
