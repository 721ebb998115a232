"""Run directories: ``config.toml`` (resolved config, package versions, git commit) and the store.

Layout::

    RUN/
      config.toml     resolved config with package versions and git commit
      store.sqlite    transcripts (see sparring.runs.storage.store)
      adapters/       adapter checkpoints (training runs)
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import tomli_w

from sparring.runs.storage.store import Store

_PACKAGES = ("sparring", "torch", "transformers", "peft", "trl", "pydantic")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a run depends on."""
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def git_commit() -> str | None:
    """The commit of the sparring source tree, if it is a git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _toml_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_toml_safe(v) for v in value if v is not None]
    return value


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and a rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class RunDir:
    """A run directory; creating one writes its config and opens its store."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def store_path(self) -> Path:
        """``RUN/store.sqlite``."""
        return self.path / "store.sqlite"

    @property
    def config_path(self) -> Path:
        """``RUN/config.toml``."""
        return self.path / "config.toml"

    def exists(self) -> bool:
        """Whether the directory holds a store."""
        return self.store_path.exists()

    def write_config(self, config: dict[str, Any]) -> dict[str, Any]:
        """Write the resolved config with versions and commit; returns what was written."""
        full = {
            **config,
            "environment": {"packages": package_versions(), "git_commit": git_commit() or "",
                            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
        }
        write_atomic(self.config_path, tomli_w.dumps(_toml_safe(full)).encode())
        return full

    def open_store(self) -> Store:
        """Open (or create) the run's store."""
        self.path.mkdir(parents=True, exist_ok=True)
        return Store(self.store_path)

    @classmethod
    def existing(cls, path: str | Path) -> RunDir:
        """A run directory that must already hold a store (clear error if not)."""
        run = cls(path)
        if not run.exists():
            raise FileNotFoundError(
                f"{run.path} is not a run directory (no store.sqlite); create one with "
                f"'sparring play ARENA --out {run.path}'"
            )
        return run
