"""The ``openai`` engine: frozen roles served by any OpenAI-compatible HTTP server.

For roles that are not trained here: an external judge, a stronger tournament
opponent, a model behind vLLM's, llama.cpp's or SGLang's server. Each row of a batch is
one ``POST /v1/chat/completions`` (the server applies its own chat template); rows of a
batch run concurrently, at most ``concurrency`` at a time.

Transient failures (HTTP 408/409/425/429/5xx, refused or dropped connections, timeouts,
a body that is not the JSON of a completion) are retried with exponential backoff
(``backoff * 2**attempt`` seconds, jittered, honouring ``Retry-After``), up to
``retries`` times; other HTTP errors (a bad key, an unknown model) fail at once. Every
failure is one line naming the server, the request and the fix.

The API key is read from the environment variable named by ``api_key_env`` at each
request; it is never stored on the engine, in its description, a run directory or a
transcript. It goes only to ``base_url``'s origin: a redirect to another origin (host,
port or scheme) is refused with one line instead of followed (urllib's default would
forward the ``Authorization`` header to any host), and a key over plain ``http://`` to a
host other than this machine is refused unless ``allow_insecure`` is set.

Log-probs and token ids come back only when the server returns them (``logprobs`` in
the OpenAI format; token ids as vLLM's ``token_id:<N>`` token strings or
``token_ids`` field, which ``extra_body={"return_tokens_as_token_ids": True}`` asks vLLM
for). Otherwise :attr:`Completion.logprobs` is empty and :attr:`OpenAIEngine.stats`
counts the row under ``rows_without_logprobs``; the engine reports ``trainable = False``
and a recipe that trains a role on it is refused before anything loads.

Only the standard library is used (``urllib`` in a thread pool): no extra dependency.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.client import HTTPException
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from sparring.agents.engines.base import Completion, GenerationRequest, ScoreRequest, refuse_scoring

TRANSIENT_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
"""HTTP statuses worth retrying: rate limits, overload, gateways, server hiccups."""

_sleep = time.sleep  # the backoff wait (tests record it instead of waiting)


class ServerError(RuntimeError):
    """A server request failed for good (after retries, or at once for a non-transient error)."""


class _Transient(Exception):
    """A failure worth retrying; carries its one-line description and any ``Retry-After``."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, the default port filled in."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (``localhost``, ``127.0.0.0/8``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the origin it was sent to when the request carries a
    key; another origin is a :class:`ServerError` (the key is never sent there)."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> urllib.request.Request | None:
        if req.has_header("Authorization") and origin(newurl) != origin(req.full_url):
            fp.close()
            scheme, host, port = origin(newurl)
            raise ServerError(f"{req.get_method()} {req.full_url}: the server redirected (HTTP {code}) to "
                              f"{scheme}://{host}:{port}, another origin; the API key is sent only to the "
                              "base_url's origin, so the redirect is not followed: set base_url to where "
                              "the server lives")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameOriginRedirects)


@dataclass
class HTTPClient:
    """A small JSON-over-HTTP client with retries, backoff and timeouts.

    Attributes:
        base_url: Server root, e.g. ``http://127.0.0.1:8000/v1``.
        api_key_env: Name of the environment variable holding the API key (``None``: no key).
        timeout: Seconds to wait on each connect and read.
        retries: Retries after the first attempt for transient failures.
        backoff: First backoff in seconds; doubles with every retry.
        max_backoff: Cap of one backoff (and of a server's ``Retry-After``).
        seed: Seed of the jitter generator (never the global RNG).
        allow_insecure: Send the API key over plain ``http://`` to a host other than this
            machine (refused otherwise: anyone on the path could read it).
    """

    base_url: str
    api_key_env: str | None = None
    timeout: float = 120.0
    retries: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    seed: int = 0
    allow_insecure: bool = False
    stats: dict[str, int] = field(default_factory=lambda: {"requests": 0, "retries": 0})

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url {self.base_url!r} must start with http:// or https:// "
                             "(e.g. http://127.0.0.1:8000/v1)")
        if self.retries < 0 or self.timeout <= 0 or self.backoff < 0:
            raise ValueError(f"retries must be >= 0, timeout > 0 and backoff >= 0 (got {self.retries}, "
                             f"{self.timeout}, {self.backoff})")
        if self.api_key_env is not None and not os.environ.get(self.api_key_env):
            raise ValueError(f"api_key_env = {self.api_key_env!r}: the environment variable {self.api_key_env} "
                             "is not set; export it with the server's API key (or drop api_key_env)")
        scheme, host, _ = origin(self.base_url)
        if self.api_key_env is not None and scheme == "http" and not is_loopback(host) and not self.allow_insecure:
            raise ValueError(f"base_url {self.base_url!r} would send the API key ({self.api_key_env}) unencrypted "
                             f"to {host}, which is not this machine; use https://, or set allow_insecure = true "
                             "in [model.server] (--server allow_insecure=true) if the network is private")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key_env is not None:
            # read now, never kept: the key must not end up in any object that is described or saved
            headers["Authorization"] = "Bearer " + os.environ.get(self.api_key_env, "")
        return headers

    def request(self, method: str, path: str, payload: dict[str, Any] | None = None, *, json_reply: bool = True) -> Any:
        """Send one JSON request and return the decoded JSON body (the text with
        ``json_reply=False``), retrying transient failures."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        data = None if payload is None else json.dumps(payload).encode()
        last = ""
        for attempt in range(self.retries + 1):
            with self._lock:
                self.stats["requests"] += 1
            try:
                return self._once(method, url, data, json_reply)
            except _Transient as exc:
                last = str(exc)
                if attempt == self.retries:
                    break
                with self._lock:
                    self.stats["retries"] += 1
                    jitter = 0.5 + self._rng.random()
                wait = min(self.max_backoff, exc.retry_after if exc.retry_after is not None
                           else self.backoff * (2 ** attempt) * jitter)
                _sleep(wait)
        raise ServerError(f"{method} {url} failed after {self.retries + 1} attempts: {last}; "
                          "check that the server is up and not overloaded (or raise timeout/retries)")

    def _once(self, method: str, url: str, data: bytes | None, json_reply: bool = True) -> Any:
        req = urllib.request.Request(url, data=data, method=method, headers=self._headers())
        try:
            with _OPENER.open(req, timeout=self.timeout) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            if exc.code in TRANSIENT_STATUS:
                raise _Transient(f"HTTP {exc.code} {detail}", _retry_after(exc)) from None
            hint = {401: "; is the API key right?", 403: "; is the API key allowed this model?",
                    404: "; is base_url right (it usually ends in /v1) and the model served?"}.get(exc.code, "")
            raise ServerError(f"{method} {url}: HTTP {exc.code} {detail}{hint}") from None
        except TimeoutError as exc:
            raise _Transient(f"no answer within {self.timeout:g} s ({exc or 'timed out'})") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError):
                raise _Transient(f"no answer within {self.timeout:g} s") from None
            raise _Transient(f"cannot connect ({reason})") from None
        except (ConnectionError, HTTPException, OSError) as exc:
            raise _Transient(f"connection failed ({type(exc).__name__}: {exc})") from None
        if not json_reply:
            return body.decode("utf-8", "replace")
        try:
            return json.loads(body)
        except ValueError:
            raise _Transient(f"the body is not JSON: {_clip(body)}") from None


def _clip(body: bytes, limit: int = 120) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read()
    except OSError:
        return exc.reason or ""
    try:
        data = json.loads(body)
        message = data.get("error", data) if isinstance(data, dict) else data
        if isinstance(message, dict):
            message = message.get("message", message)
        return " ".join(str(message).split())[:300]
    except ValueError:
        return _clip(body)


def _retry_after(exc: urllib.error.HTTPError) -> float | None:
    value = exc.headers.get("Retry-After") if exc.headers else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def parse_choice(choice: Any, where: str) -> tuple[str, list[int], list[float], str]:
    """Text, token ids, log-probs and finish reason of one ``choices[i]`` (chat or completions).

    Raises:
        _Transient: The choice does not look like a completion (retried: a proxy or an
            overloaded server may send anything once).
    """
    if not isinstance(choice, dict):
        raise _Transient(f"{where}: a choice is {type(choice).__name__}, not an object")
    message = choice.get("message")
    text = message.get("content") if isinstance(message, dict) else choice.get("text")
    if text is None and isinstance(message, dict):
        text = ""  # a reply of only a tool call or refusal: no text to play
    if not isinstance(text, str):
        raise _Transient(f"{where}: the choice has no text (message.content or text)")
    finish = choice.get("finish_reason") or "stop"
    finish = "length" if finish == "length" else "stop"
    logprobs: list[float] = []
    tokens: list[Any] = []
    lp = choice.get("logprobs")
    if isinstance(lp, dict):
        if isinstance(lp.get("content"), list):  # chat format: [{"token", "logprob", ...}]
            entries = lp["content"]
            logprobs = [float(e["logprob"]) for e in entries if isinstance(e, dict) and e.get("logprob") is not None]
            tokens = [e.get("token") for e in entries if isinstance(e, dict)]
        elif isinstance(lp.get("token_logprobs"), list):  # completions format
            logprobs = [float(v) for v in lp["token_logprobs"] if v is not None]
            tokens = list(lp.get("tokens") or [])
    ids: list[int] = []
    if isinstance(choice.get("token_ids"), list):  # vLLM's return_token_ids
        ids = [int(t) for t in choice["token_ids"]]
    elif tokens and all(isinstance(t, str) and t.startswith("token_id:") for t in tokens):
        ids = [int(t.split(":", 1)[1]) for t in tokens]  # vLLM's return_tokens_as_token_ids
    return text, ids, logprobs, finish


class OpenAIEngine:
    """Generation by an OpenAI-compatible server (chat completions), for frozen roles.

    Args:
        base_url: Server root including ``/v1`` (``http://127.0.0.1:8000/v1``).
        model: Model name the server knows (``GET /v1/models`` lists them).
        api_key_env: Environment variable holding the API key (``None``: no key sent).
        concurrency: Most requests in flight at once.
        timeout: Seconds to wait on each connect and read.
        retries: Retries of a transient failure (see module docs).
        backoff: First retry delay in seconds (doubles each retry).
        max_batch_size: Rows the runner may hand over in one call.
        logprobs: Ask the server for log-probs of the sampled tokens.
        extra_body: More fields sent with every request (e.g. vLLM's
            ``{"return_tokens_as_token_ids": True}``; ``{"top_k": 40}``).
        allow_insecure: Send the API key over plain ``http://`` to a host other than this
            machine (refused otherwise).
    """

    name = "openai"
    trainable = False
    """Nothing here can update the served weights: roles on this engine stay frozen."""

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None = None, concurrency: int = 8,
                 timeout: float = 120.0, retries: int = 4, backoff: float = 0.5, max_batch_size: int = 64,
                 logprobs: bool = True, extra_body: dict[str, Any] | None = None,
                 allow_insecure: bool = False) -> None:
        if concurrency < 1 or max_batch_size < 1:
            raise ValueError(f"concurrency and max_batch_size must be >= 1 (got {concurrency}, {max_batch_size})")
        if not model:
            raise ValueError("the openai engine needs the served model's name (model = \"NAME\"; GET /v1/models lists them)")
        self.client = HTTPClient(base_url, api_key_env, timeout=timeout, retries=retries, backoff=backoff,
                                 allow_insecure=allow_insecure)
        self.model = model
        self.concurrency = concurrency
        self.logprobs = logprobs
        self.extra_body = dict(extra_body or {})
        self._max_batch_size = max_batch_size
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="openai-engine")
        self.stats = {"generated_tokens": 0, "prompt_tokens": 0, "seconds": 0.0, "calls": 0,
                      "rows_without_logprobs": 0}

    @property
    def max_batch_size(self) -> int:
        """Rows per generate call."""
        return self._max_batch_size

    def describe(self) -> dict[str, Any]:
        """What a run records about this engine (the variable's name, never the key)."""
        return {"engine": self.name, "base_url": self.client.base_url, "model": self.model,
                "api_key_env": self.client.api_key_env}

    def payload(self, request: GenerationRequest) -> dict[str, Any]:
        """The chat-completions body of one row."""
        if request.adapter is not None:
            raise ValueError(f"the openai engine serves {self.model!r} as it is; a role on it cannot use adapter "
                             f"{request.adapter!r} (bind the seat without an adapter)")
        s = request.sampling
        body: dict[str, Any] = {
            "model": self.model, "messages": list(request.messages), "max_tokens": s.max_new_tokens,
            "temperature": s.temperature, "top_p": s.top_p, "seed": request.seed % (1 << 31), "n": 1,
        }
        if s.stop:
            body["stop"] = list(s.stop)
        if self.logprobs:
            body["logprobs"] = True
        return {**body, **self.extra_body}

    def _one(self, request: GenerationRequest) -> Completion:
        data = self.client.request("POST", "chat/completions", self.payload(request))
        where = f"{self.client.base_url}/chat/completions"
        try:
            choices = data["choices"]
            if not isinstance(choices, list) or not choices:
                raise TypeError("empty choices")
            text, ids, logprobs, finish = parse_choice(choices[0], where)
        except (KeyError, TypeError, ValueError, _Transient) as exc:
            raise ServerError(f"{where} answered something that is not a chat completion ({exc}): "
                              f"{_clip(json.dumps(data).encode())}") from None
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        if ids and logprobs and len(ids) != len(logprobs):
            logprobs = []  # misaligned with the tokens: better absent than wrong
        return Completion(text, ids, logprobs, int(usage.get("prompt_tokens") or 0), finish)

    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """One completion per request, in order; requests run concurrently."""
        for r in requests:  # fail on a bad row before sending anything
            self.payload(r)
        started = time.perf_counter()
        out = list(self._pool.map(self._one, requests))
        self.stats["seconds"] += time.perf_counter() - started
        self.stats["calls"] += 1
        self.stats["generated_tokens"] += sum(len(c.token_ids) for c in out)
        self.stats["prompt_tokens"] += sum(c.prompt_tokens for c in out)
        self.stats["rows_without_logprobs"] += sum(1 for c in out if not c.logprobs)
        return out

    def score(self, requests: list[ScoreRequest]) -> list[Completion]:
        """Refused: chat completions give no log-likelihood of a given reply."""
        raise refuse_scoring(self.name)

    def close(self) -> None:
        """Stop the request threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)
