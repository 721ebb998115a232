"""``sparring play --engine/--server`` and tournaments on the ``openai`` and ``vllm`` engines.

The openai engine runs against the small local fake OpenAI-compatible server of
``tests/agents/engines/test_openai.py`` (a real HTTP server on 127.0.0.1), so the whole
path from the flags to stored transcripts runs. No vLLM server is started here (that takes
minutes; ``tests/agents/engines/test_vllm.py`` covers the engine itself): the tournament's
vllm test swaps the ``VLLMEngine`` class for a recording one on the hf engine, to check that
the tournament builds the engine ``[model] engine`` names, with its server settings, plays
adapter players on it and closes it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sparring.agents.engines.hf import HFEngine
from sparring.cli import main
from sparring.runs.storage.store import Store
from tests.agents.engines.test_openai import FakeServer, completion

ARENAS = Path(__file__).with_name("duel_arena.py")


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


def _question(body: dict[str, Any]) -> dict[str, Any]:
    return completion(f"Question: what is 2 + {body['seed'] % 5}?")


# -- play ------------------------------------------------------------------------------
def test_play_through_the_cli_on_the_openai_engine(fake: FakeServer, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    fake.script = [(200, _question, 0.0, {})]
    out = tmp_path / "remote"
    command = ["play", "qa-verify", "-n", "3", "--out", str(out), "-q", "--engine", "openai",
               "--server", f"base_url={fake.url}", "--server", 'model="remote-judge"', "--server", "concurrency=2",
               "--server", "timeout=30"]
    assert main(command) == 0
    assert "matches: 3 played, 0 already stored, 0 errors" in capsys.readouterr().out
    assert fake.requests and all(r["json"]["model"] == "remote-judge" for r in fake.requests)
    with Store(out / "store.sqlite") as store:
        turns = [u for t in store.transcripts() for u in t.turns]
    assert len(turns) == len(fake.requests) and all(u.text.startswith("Question: what is 2 + ") for u in turns)
    recorded = tomllib.loads((out / "config.toml").read_text())
    assert recorded["play"]["engine"] == "openai"
    assert recorded["play"]["server"] == {"base_url": fake.url, "model": "remote-judge", "concurrency": 2,
                                          "timeout": 30}
    assert recorded["model"] == {"engine": "openai", "base_url": fake.url, "model": "remote-judge"}
    # the same settings finish the run; another remote model is another experiment
    sent = len(fake.requests)
    assert main(command) == 0
    assert "matches: 0 played, 3 already stored" in capsys.readouterr().out and len(fake.requests) == sent
    assert main([*command[:-6], "--server", 'model="other"']) == 2
    assert "model.model: recorded 'remote-judge', now 'other'" in capsys.readouterr().out


@pytest.mark.parametrize(("flags", "message"), [
    (["--engine", "openai", "--server", "colour=1"],
     "error: --server colour: unknown field; the server takes base_url, model, api_key_env, concurrency, timeout, "
     "retries, allow_insecure, enforce_eager, max_lora_rank, max_loaded_adapters"),
    (["--engine", "openai", "--server", "timeout=-1"], "error: --server timeout = -1: Input should be greater than 0"),
    (["--engine", "openai", "--server", "concurrency=true"],
     "error: --server concurrency = true: Input should be a valid integer"),
    (["--engine", "openai", "--server", "concurrency"], "error: --server 'concurrency' must look like key=value"),
    (["--engine", "openai", "--server", 'model="m"'],
     'error: engine settings: model.engine = "openai" needs model.server.base_url (e.g. base_url = '
     '"http://127.0.0.1:8000/v1", model = "NAME"); with sparring play: --server base_url=URL --server model=NAME'),
    (["--server", "base_url=http://127.0.0.1:9/v1"],
     'error: engine settings: model.server.base_url and model.server.model are not read by engine "hf"; remove them '
     "or set model.engine = \"openai\"; with sparring play: drop --server base_url/model, or pass --engine openai"),
    (["--engine", "openai", "--server", "base_url=http://127.0.0.1:9/v1", "--server", "model=m",
      "--role", "solver.adapter=solver"],
     'error: roles.solver.adapter = \'solver\': engine "openai" serves the remote model as it is, without adapters; '
     "remove the adapter"),
    (["--engine", "openai", "--server", "base_url=http://127.0.0.1:9/v1", "--server", "model=m",
      "--server", 'api_key_env="SPARRING_UNSET_KEY_VARIABLE"'],
     "error: --server api_key_env = \"SPARRING_UNSET_KEY_VARIABLE\": the environment variable "
     "SPARRING_UNSET_KEY_VARIABLE is not set; export it with the API key"),
])
def test_play_refuses_bad_engine_settings_in_one_line(flags: list[str], message: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from sparring.agents.pool import ModelPool

    def no_load(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a model was loaded before the settings were checked")

    monkeypatch.setattr(ModelPool, "load", no_load)
    monkeypatch.delenv("SPARRING_UNSET_KEY_VARIABLE", raising=False)
    assert main(["play", "qa-verify", "-n", "1", "--out", str(tmp_path / "out"), "-q", *flags]) == 2
    out = capsys.readouterr().out
    assert out.strip() == message, out
    assert "\n" not in out.strip() and not (tmp_path / "out").exists()


def test_an_unknown_engine_is_an_argument_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["play", "qa-verify", "--out", str(tmp_path / "out"), "--engine", "gpt"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    # argparse quotes the choices on some Python versions, not on others
    assert err.startswith("error: sparring play: argument --engine: invalid choice: 'gpt' (choose from ")
    assert err.replace("'", "").endswith("hf, vllm, openai) (see sparring play --help)")
    assert "\n" not in err and not (tmp_path / "out").exists()


def test_play_config_names_the_engine_flag() -> None:
    from sparring.runs.playing.play import PlayConfig, play

    with pytest.raises(ValueError, match="^--engine 'gpt': must be one of hf, vllm, openai$"):
        play(PlayConfig(arena="qa-verify", out="unused", engine="gpt"), progress=False)


# -- tournaments ---------------------------------------------------------------------
def _tournament(tmp: Path, model: str, players: str, schedule: str = "[schedule]\ngames = 1\n") -> Path:
    path = tmp / "tournament.toml"
    path.write_text(f'{model}[arena]\nname = "{ARENAS}:Duel"\n{players}{schedule}')
    return path


def _openai(url: str, extra: str = "") -> str:
    return f'[model]\nengine = "openai"\n[model.server]\nbase_url = "{url}"\nmodel = "remote"\n{extra}'


SCRIPTED = '[players.base]\n[players.anchor]\nreply = "aaaa"\n[players.picker]\nchoices = ["a", "bbbbbbbbbbbb"]\n'


def test_tournament_on_the_openai_engine(fake: FakeServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake.script = [(200, completion("hello"), 0.0, {})]
    config = _tournament(tmp_path, _openai(fake.url), SCRIPTED, "[schedule]\ngames = 2\nbudget = 6\n")
    out = tmp_path / "remote"
    assert main(["tournament", str(config), "--out", str(out), "-q"]) == 0
    assert "6 matches scheduled in 1 round(s), 6 played, 0 already stored, 0 errors" in capsys.readouterr().out
    # the remote base sits in 4 of the 6 matches (both orders against each scripted player), once a match
    assert len(fake.requests) == 4 and {r["json"]["model"] for r in fake.requests} == {"remote"}
    with Store(out / "store.sqlite") as store:
        t = store.get("anchor:base:g0")
        assert (t.roles["first"]["player"], t.roles["second"]["player"]) == ("anchor", "base")
        assert t.roles["second"]["model"] == "default" and t.turns[1].text == "hello"
        assert t.reward_of("second") == 1.0  # "hello" is longer than "aaaa"
        assert store.get("picker:anchor:g0").turns[0].text in ("a", "bbbbbbbbbbbb")
    recorded = tomllib.loads((out / "config.toml").read_text())
    assert recorded["model"] == {"engine": "openai", "base_url": fake.url, "model": "remote"}
    assert recorded["tournament"]["model"]["engine"] == "openai"
    assert main(["ratings", str(out), "--bootstrap", "20", "--no-plots"]) == 0
    assert "ratings of 6 games" in capsys.readouterr().out
    # how the server is reached may change between calls; which remote model plays may not
    assert main(["tournament", str(config), "model.server.timeout=30", "schedule.budget=12", "--out", str(out), "-q"]) == 0
    assert "12 matches scheduled in 1 round(s), 6 played, 6 already stored" in capsys.readouterr().out
    assert len(fake.requests) == 8
    assert main(["tournament", str(config), 'model.server.model="other"', "--out", str(out), "-q"]) == 2
    assert "model.server.model: recorded \"remote\", now \"other\"" in capsys.readouterr().out


@pytest.mark.parametrize(("model", "players", "message"), [
    ('[model]\nengine = "gpt"\n', SCRIPTED, "tournament field 'model.engine' = \"gpt\": Input should be 'hf', "
                                            "'vllm' or 'openai'"),
    ("OPENAI", SCRIPTED + '[players.v1]\nadapter = "runs/x/adapters/solver/v1"\n',
     "tournament field 'players.v1.adapter' = \"runs/x/adapters/solver/v1\": model.engine = \"openai\" serves the "
     "remote model as it is, without adapters; remove the adapter or set model.engine = \"hf\" or \"vllm\""),
    ("OPENAI", '[players.a]\nreply = "x"\n[players.b]\nreply = "y"\n[roles.judge]\nadapter = "judge/v2"\n',
     "tournament field 'roles.judge.adapter' = \"judge/v2\": model.engine = \"openai\" serves"),
    ('[model]\nengine = "openai"\n[model.server]\nmodel = "remote"\n', SCRIPTED,
     "tournament field 'model': model.engine = \"openai\" needs model.server.base_url"),
    ('[model]\nengine = "openai"\n[model.server]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\ncolour = 1\n',
     SCRIPTED, "tournament field 'model.server.colour': unknown field"),
    ('[model]\nengine = "openai"\n[model.server]\nbase_url = "http://127.0.0.1:9/v1"\nmodel = "m"\n'
     'api_key_env = "SPARRING_UNSET_KEY_VARIABLE"\n', SCRIPTED,
     "tournament field 'model.server.api_key_env' = \"SPARRING_UNSET_KEY_VARIABLE\": the environment variable "
     "SPARRING_UNSET_KEY_VARIABLE is not set"),
])
def test_tournament_refuses_bad_engine_settings_in_one_line(
        model: str, players: str, message: str, fake: FakeServer, tmp_path: Path,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPARRING_UNSET_KEY_VARIABLE", raising=False)
    if "judge" in message:  # a three-seat arena, so that a fixed seat is bound
        path = tmp_path / "t.toml"
        path.write_text(f'{_openai(fake.url)}[arena]\nname = "{Path(__file__).parents[2] / "examples" / "debate.py"}'
                        f':Debate"\nseats = ["pro", "con"]\n{players}')
    else:
        path = _tournament(tmp_path, _openai(fake.url) if model == "OPENAI" else model, players)
    assert main(["tournament", str(path), "--out", str(tmp_path / "out"), "-q"]) == 2
    out = capsys.readouterr().out.strip()
    assert out.startswith("error:") and message in out and "\n" not in out, out
    assert not (tmp_path / "out").exists() and fake.requests == []


class RecordingVLLM(HFEngine):
    """Stands in for the vLLM engine (whose server takes minutes to start): generates with
    the hf engine on the same loaded model, and records its options and whether it was closed."""

    made: list[RecordingVLLM] = []

    def __init__(self, loaded: Any, *, max_batch_size: int = 32, **options: Any) -> None:
        super().__init__(loaded, max_batch_size=max_batch_size)
        self.options = options
        self.closed = False
        RecordingVLLM.made.append(self)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved as a model folder (vLLM serves folders, not ``tiny``), and a
    saved adapter of it at ``RUN/adapters/solver/v1``."""
    from sparring.agents.pool import ModelPool
    from sparring.agents.tiny import tiny_model
    from sparring.runs.training.checkpoint import save_adapter_version

    root = tmp_path_factory.mktemp("vllm")
    model, tokenizer = tiny_model(seed=0)
    model.save_pretrained(root / "model")
    tokenizer.save_pretrained(root / "model")
    pool = ModelPool(dtype="fp32")
    pool.load("default", str(root / "model"))
    pool.add_adapter("default", "s1", rank=4, init="random", seed=1)
    pool.get("default").adapters["s1"].version = 1
    saved = save_adapter_version(pool, "default", "s1", root / "run")
    (root / "run" / "adapters" / "solver").mkdir(parents=True)
    saved.rename(root / "run" / "adapters" / "solver" / "v1")
    return root


def test_tournament_builds_closes_and_plays_adapters_on_the_vllm_engine(
        model_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from sparring.agents.engines import vllm

    monkeypatch.setattr(vllm, "VLLMEngine", RecordingVLLM)
    monkeypatch.setattr(RecordingVLLM, "made", [])
    model = (f'[model]\nsource = "{model_folder / "model"}"\ndtype = "fp32"\nengine = "vllm"\n'
             '[model.server]\nbase_url = "http://127.0.0.1:9/v1"\nmax_loaded_adapters = 3\n')
    players = f'[players.v1]\nadapter = "{model_folder}/run/adapters/solver/v1"\n[players.base]\n' \
              '[players.anchor]\nreply = "aaaa"\n'
    out = tmp_path / "vllm"
    assert main(["tournament", str(_tournament(tmp_path, model, players)), "--out", str(out), "-q"]) == 0
    assert "6 matches scheduled in 1 round(s), 6 played, 0 already stored, 0 errors" in capsys.readouterr().out
    [engine] = RecordingVLLM.made
    assert engine.closed  # the server stops with the tournament
    assert engine.options == {"max_lora_rank": 16, "max_loaded_adapters": 3, "timeout": 120.0,
                              "base_url": "http://127.0.0.1:9/v1"}
    with Store(out / "store.sqlite") as store:
        t = store.get("v1:base:g0")
    assert [(u.adapter, u.adapter_version) for u in t.turns] == [("v1", 1), (None, None)]
    assert tomllib.loads((out / "config.toml").read_text())["tournament"]["model"]["engine"] == "vllm"
