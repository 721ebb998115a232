"""The openai engine against a small local fake server: replies, retries, timeouts, garbage.

The fake is a real HTTP server on 127.0.0.1 (stdlib, in a thread) that answers each
request from a script of behaviours, so the engine's whole HTTP path runs. The engine
against a real server (vLLM's) is in ``test_vllm.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sparring.agents.engines import Engine
from sparring.agents.engines import openai as openai_engine
from sparring.agents.engines.base import GenerationRequest
from sparring.agents.engines.openai import OpenAIEngine, ServerError
from sparring.agents.sampling import SamplingParams


def completion(text: str = "hello", logprobs: bool = True, ids: bool = True, finish: str = "stop") -> dict[str, Any]:
    tokens = [f"token_id:{100 + i}" if ids else f"t{i}" for i in range(3)]
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
    if logprobs:
        choice["logprobs"] = {"content": [{"token": t, "logprob": -0.5 * (i + 1)} for i, t in enumerate(tokens)]}
    return {"id": "x", "object": "chat.completion", "choices": [choice],
            "usage": {"prompt_tokens": 7, "completion_tokens": 3}}


class FakeServer:
    """Answers requests in order from ``script``; an entry is ``(status, body, delay, headers)``
    (``body``: JSON data, raw bytes, or a function of the request's JSON).

    The last entry repeats. ``requests`` records each request's path, headers and JSON body.
    """

    def __init__(self) -> None:
        self.script: list[tuple[int, Any, float, dict[str, str]]] = [(200, completion(), 0.0, {})]
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak = 0
        lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with lock:
                    fake.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "json": json.loads(body or b"null")})
                    status, reply, delay, headers = fake.script[min(len(fake.requests) - 1, len(fake.script) - 1)]
                    fake.in_flight += 1
                    fake.peak = max(fake.peak, fake.in_flight)
                try:
                    time.sleep(delay)
                    if callable(reply):  # a function of the request body
                        reply = reply(json.loads(body))
                    data = reply if isinstance(reply, bytes) else json.dumps(reply).encode()
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)
                finally:
                    with lock:
                        fake.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    server = FakeServer()
    yield server
    server.close()


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record backoff sleeps instead of waiting."""
    waits: list[float] = []
    monkeypatch.setattr(openai_engine, "_sleep", waits.append)
    return waits


def req(content: str = "hi", seed: int = 3, adapter: str | None = None, **sampling: Any) -> GenerationRequest:
    return GenerationRequest([{"role": "system", "content": "be brief"}, {"role": "user", "content": content}],
                             adapter, SamplingParams(**sampling), seed)


def test_reply_with_logprobs_and_token_ids(fake: FakeServer) -> None:
    engine = OpenAIEngine(fake.url, "judge-model", max_batch_size=5)
    assert isinstance(engine, Engine) and engine.max_batch_size == 5 and not engine.trainable
    [out] = engine.generate([req(max_new_tokens=9, temperature=0.3, top_p=0.9, stop=("END",))])
    assert out.text == "hello" and out.finish_reason == "stop" and out.prompt_tokens == 7
    assert out.token_ids == [100, 101, 102]
    assert out.logprobs == [-0.5, -1.0, -1.5]
    sent = fake.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["json"] == {"model": "judge-model", "messages": req().messages, "max_tokens": 9, "temperature": 0.3,
                            "top_p": 0.9, "seed": 3, "n": 1, "stop": ["END"], "logprobs": True}
    assert "Authorization" not in sent["headers"]


def test_length_finish_and_extra_body(fake: FakeServer) -> None:
    fake.script = [(200, completion("cut", finish="length"), 0.0, {})]
    engine = OpenAIEngine(fake.url, "m", extra_body={"return_tokens_as_token_ids": True}, logprobs=False)
    [out] = engine.generate([req()])
    assert out.finish_reason == "length"
    assert fake.requests[0]["json"]["return_tokens_as_token_ids"] is True
    assert "logprobs" not in fake.requests[0]["json"]


def test_logprobs_absent_are_marked(fake: FakeServer) -> None:
    fake.script = [(200, completion(logprobs=False), 0.0, {})]
    engine = OpenAIEngine(fake.url, "m")
    outs = engine.generate([req(), req(seed=4)])
    assert [(c.text, c.logprobs, c.token_ids) for c in outs] == [("hello", [], [])] * 2
    assert engine.stats["rows_without_logprobs"] == 2


def test_logprobs_without_token_ids_are_kept(fake: FakeServer) -> None:
    fake.script = [(200, completion(ids=False), 0.0, {})]
    [out] = OpenAIEngine(fake.url, "m").generate([req()])
    assert out.token_ids == [] and out.logprobs == [-0.5, -1.0, -1.5]


def test_transient_errors_are_retried_with_exponential_backoff(fake: FakeServer, no_sleep: list[float]) -> None:
    fake.script = [(500, {"error": {"message": "boom"}}, 0.0, {}), (503, b"busy", 0.0, {}),
                   (502, b"<html>bad gateway</html>", 0.0, {}), (200, completion("finally"), 0.0, {})]
    engine = OpenAIEngine(fake.url, "m", retries=4, backoff=1.0)
    [out] = engine.generate([req()])
    assert out.text == "finally"
    assert len(fake.requests) == 4 and engine.client.stats["retries"] == 3
    # backoff * 2**attempt, jittered by a factor in [0.5, 1.5)
    for attempt, wait in enumerate(no_sleep):
        assert 0.5 * 2**attempt <= wait < 1.5 * 2**attempt


def test_rate_limit_honours_retry_after(fake: FakeServer, no_sleep: list[float]) -> None:
    fake.script = [(429, {"error": "slow down"}, 0.0, {"Retry-After": "2"}), (200, completion(), 0.0, {})]
    [out] = OpenAIEngine(fake.url, "m", backoff=0.01).generate([req()])
    assert out.text == "hello" and no_sleep == [2.0]


def test_persistent_5xx_fails_with_one_line(fake: FakeServer, no_sleep: list[float]) -> None:
    fake.script = [(500, {"error": {"message": "CUDA out of memory"}}, 0.0, {})]
    with pytest.raises(ServerError) as err:
        OpenAIEngine(fake.url, "m", retries=2).generate([req()])
    message = str(err.value)
    assert "\n" not in message and "failed after 3 attempts" in message and "HTTP 500 CUDA out of memory" in message
    assert len(fake.requests) == 3 and len(no_sleep) == 2


def test_client_errors_fail_at_once(fake: FakeServer, no_sleep: list[float]) -> None:
    fake.script = [(401, {"error": {"message": "invalid key"}}, 0.0, {})]
    with pytest.raises(ServerError, match=r"HTTP 401 invalid key; is the API key right\?"):
        OpenAIEngine(fake.url, "m").generate([req()])
    assert len(fake.requests) == 1 and no_sleep == []
    fake.script = [(404, {"error": {"message": "model 'x' not found"}}, 0.0, {})]
    with pytest.raises(ServerError, match="HTTP 404 model 'x' not found; is base_url right"):
        OpenAIEngine(fake.url, "x").generate([req()])


def test_garbage_is_retried_then_named(fake: FakeServer, no_sleep: list[float]) -> None:
    fake.script = [(200, b"\x00\xffnot json at all", 0.0, {}), (200, completion("ok"), 0.0, {})]
    assert OpenAIEngine(fake.url, "m").generate([req()])[0].text == "ok"
    fake.requests.clear()
    fake.script = [(200, b"<html>proxy error</html>", 0.0, {})]
    with pytest.raises(ServerError, match=r"failed after 2 attempts: the body is not JSON: '<html>proxy error</html>'"):
        OpenAIEngine(fake.url, "m", retries=1).generate([req()])


def test_json_that_is_not_a_completion(fake: FakeServer) -> None:
    for body in ({"choices": []}, {"result": "hi"}, {"choices": [{"message": {"content": 5}}]}, [1, 2]):
        fake.script = [(200, body, 0.0, {})]
        with pytest.raises(ServerError, match="answered something that is not a chat completion"):
            OpenAIEngine(fake.url, "m").generate([req()])


def test_timeout_is_retried_then_reported(fake: FakeServer) -> None:
    fake.script = [(200, completion("late"), 1.0, {}), (200, completion("on time"), 0.0, {})]
    engine = OpenAIEngine(fake.url, "m", timeout=0.2, retries=1, backoff=0.0)
    assert engine.generate([req()])[0].text == "on time"
    fake.script = [(200, completion("late"), 1.0, {})]
    fake.requests.clear()
    with pytest.raises(ServerError, match=r"failed after 2 attempts: no answer within 0.2 s"):
        engine.generate([req()])


def test_connection_refused() -> None:
    server = FakeServer()
    url = server.url
    server.close()  # nothing listens there now
    with pytest.raises(ServerError, match="failed after 2 attempts: cannot connect"):
        OpenAIEngine(url, "m", retries=1, backoff=0.0).generate([req()])


def test_api_key_comes_from_the_environment_and_is_never_described(
        fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="environment variable SPARRING_TEST_KEY is not set"):
        OpenAIEngine(fake.url, "m", api_key_env="SPARRING_TEST_KEY")
    monkeypatch.setenv("SPARRING_TEST_KEY", "sk-secret-123")
    engine = OpenAIEngine(fake.url, "m", api_key_env="SPARRING_TEST_KEY")
    engine.generate([req()])
    assert fake.requests[0]["headers"]["Authorization"] == "Bearer sk-secret-123"
    assert engine.describe() == {"engine": "openai", "base_url": fake.url, "model": "m",
                                 "api_key_env": "SPARRING_TEST_KEY"}
    assert "sk-secret" not in json.dumps(engine.describe()) and "sk-secret" not in repr(vars(engine))


def test_rows_run_concurrently_up_to_the_limit(fake: FakeServer) -> None:
    fake.script = [(200, completion(), 0.2, {})]
    engine = OpenAIEngine(fake.url, "m", concurrency=3)
    started = time.perf_counter()
    outs = engine.generate([req(seed=i) for i in range(9)])
    elapsed = time.perf_counter() - started
    assert len(outs) == 9 and fake.peak == 3
    assert elapsed < 9 * 0.2 * 0.7  # concurrent, not one by one
    assert sorted(r["json"]["seed"] for r in fake.requests) == list(range(9))


def test_results_keep_request_order(fake: FakeServer) -> None:
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.05 * (5 - body["seed"]))  # later rows answer first
        return completion(body["messages"][-1]["content"])

    fake.script = [(200, echo, 0.0, {})]
    engine = OpenAIEngine(fake.url, "m", concurrency=6)
    outs = engine.generate([req(content=str(i), seed=i) for i in range(6)])
    assert [c.text for c in outs] == [str(i) for i in range(6)]
    assert engine.stats["calls"] == 1 and engine.stats["generated_tokens"] == 18


def test_bad_settings_and_adapters_are_refused(fake: FakeServer) -> None:
    with pytest.raises(ValueError, match="must start with http:// or https://"):
        OpenAIEngine("127.0.0.1:8000/v1", "m")
    with pytest.raises(ValueError, match="served model's name"):
        OpenAIEngine(fake.url, "")
    with pytest.raises(ValueError, match="concurrency and max_batch_size must be >= 1"):
        OpenAIEngine(fake.url, "m", concurrency=0)
    with pytest.raises(ValueError, match="a role on it cannot use adapter 'solver'"):
        OpenAIEngine(fake.url, "m").generate([req(), req(adapter="solver")])
    assert fake.requests == []  # a bad row fails the batch before anything is sent


def test_play_an_arena_on_the_openai_engine(fake: FakeServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from sparring.runs.playing.play import PlayConfig, play
    from sparring.runs.storage.store import Store

    monkeypatch.setenv("SPARRING_TEST_KEY", "sk-never-stored")
    fake.script = [(200, lambda body: completion(f"Question: what is 2 + {body['seed'] % 5}?"), 0.0, {})]
    out = tmp_path / "run"
    summary = play(PlayConfig(arena="qa-verify", out=str(out), matches=3, engine="openai",
                              server={"base_url": fake.url, "model": "judge", "api_key_env": "SPARRING_TEST_KEY"}),
                   progress=False)
    assert summary.matches == 3 and summary.errors == 0 and summary.turns == len(fake.requests) > 3
    with Store(out / "store.sqlite") as store:
        turns = [u for t in store.transcripts() for u in t.turns]
    assert all(u.text.startswith("Question: what is 2 + ") and u.logprobs == [-0.5, -1.0, -1.5] for u in turns)
    assert all(r["headers"]["Authorization"] == "Bearer sk-never-stored" for r in fake.requests)
    written = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert b"sk-never-stored" not in written and b"SPARRING_TEST_KEY" in written


def test_play_refuses_adapters_and_missing_settings_on_the_openai_engine(fake: FakeServer, tmp_path: Any) -> None:
    from sparring.runs.playing.play import PlayConfig, play

    with pytest.raises(ValueError, match='roles.solver.adapter = .solver.: engine "openai" serves the remote model'):
        play(PlayConfig(arena="qa-verify", out=str(tmp_path / "a"), engine="openai", roles={"solver": {"adapter": "solver"}},
                        server={"base_url": fake.url, "model": "m"}), progress=False)
    with pytest.raises(ValueError, match='model.engine = "openai" needs model.server.base_url'):
        play(PlayConfig(arena="qa-verify", out=str(tmp_path / "b"), engine="openai"), progress=False)
    assert fake.requests == [] and not (tmp_path / "a").exists()


def test_a_recipe_cannot_train_on_the_openai_engine() -> None:
    from sparring.runs.recipes.recipe import RecipeError, load_recipe

    recipe = {"arena": {"name": "qa-verify"}, "roles": {"solver": {"adapter": "solver", "update": "grpo"}},
              "model": {"engine": "openai", "server": {"base_url": "http://127.0.0.1:1/v1", "model": "m"}}}
    with pytest.raises(RecipeError) as err:
        load_recipe(recipe)
    assert str(err.value) == ("recipe field 'roles.solver.update' = \"grpo\": model.engine = \"openai\" serves frozen "
                              "roles only (nothing here can update a remote model's weights); train on engine \"hf\" "
                              "or \"vllm\"")


class Sink:
    """A server on another origin (another port of 127.0.0.1) that records every request it gets."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                sink.requests.append({"method": self.command, "headers": dict(self.headers)})
                data = json.dumps(completion("stolen")).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _record  # noqa: N815 - http.server's names

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/chat/completions"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_the_key_never_follows_a_redirect_to_another_origin(fake: FakeServer, monkeypatch: pytest.MonkeyPatch,
                                                             code: int) -> None:
    monkeypatch.setenv("SPARRING_TEST_KEY", "sk-secret-123")
    sink = Sink()
    try:
        fake.script = [(code, b"", 0.0, {"Location": sink.url})]
        engine = OpenAIEngine(fake.url, "m", api_key_env="SPARRING_TEST_KEY", retries=0)
        with pytest.raises(ServerError) as err:
            engine.generate([req()])
    finally:
        sink.close()
    port = sink.url.split(":")[2].split("/")[0]
    assert str(err.value) == (
        f"POST {fake.url}/chat/completions: the server redirected (HTTP {code}) to http://127.0.0.1:{port}, another "
        "origin; the API key is sent only to the base_url's origin, so the redirect is not followed: set base_url "
        "to where the server lives")
    assert fake.requests[0]["headers"]["Authorization"] == "Bearer sk-secret-123"
    assert sink.requests == []


def test_without_a_key_a_redirect_is_followed(fake: FakeServer) -> None:
    sink = Sink()
    try:
        fake.script = [(302, b"", 0.0, {"Location": sink.url})]
        [out] = OpenAIEngine(fake.url, "m", retries=0).generate([req()])
    finally:
        sink.close()
    assert out.text == "stolen" and [r["method"] for r in sink.requests] == ["GET"]
    assert "Authorization" not in sink.requests[0]["headers"]


def test_a_key_over_plain_http_to_another_host_needs_allow_insecure(monkeypatch: pytest.MonkeyPatch) -> None:
    from sparring.runs.recipes.machine import check_engine, engine_options
    from sparring.runs.recipes.recipe import ModelSection, RecipeError

    monkeypatch.setenv("SPARRING_TEST_KEY", "sk-secret-123")
    with pytest.raises(ValueError) as err:
        OpenAIEngine("http://192.0.2.7:8000/v1", "m", api_key_env="SPARRING_TEST_KEY")
    assert str(err.value) == (
        "base_url 'http://192.0.2.7:8000/v1' would send the API key (SPARRING_TEST_KEY) unencrypted to 192.0.2.7, "
        "which is not this machine; use https://, or set allow_insecure = true in [model.server] "
        "(--server allow_insecure=true) if the network is private")
    OpenAIEngine("http://192.0.2.7:8000/v1", "m", api_key_env="SPARRING_TEST_KEY", allow_insecure=True)
    OpenAIEngine("http://192.0.2.7:8000/v1", "m")  # no key, nothing to leak
    for url in ("https://api.example.com/v1", "http://127.0.0.1:8000/v1", "http://localhost:8000/v1",
                "http://[::1]:8000/v1", "http://127.0.0.2/v1"):
        OpenAIEngine(url, "m", api_key_env="SPARRING_TEST_KEY")
    server = {"base_url": "http://example.com/v1", "model": "m", "api_key_env": "SPARRING_TEST_KEY"}
    with pytest.raises(RecipeError, match="recipe field 'model.server.base_url' = \"http://example.com/v1\": the API "
                                          "key would go unencrypted to example.com"):
        check_engine(ModelSection(engine="openai", server=server))
    section = ModelSection(engine="openai", server={**server, "allow_insecure": True})
    check_engine(section)
    assert engine_options(section)["allow_insecure"] is True
