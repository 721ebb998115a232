"""Run directories: config.toml with versions, atomic writes and clear errors."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest

from sparring.runs.storage.rundir import RunDir, package_versions, write_atomic


def test_config_has_package_versions(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    written = run.write_config({"play": {"arena": "qa-verify", "matches": 2, "note": None},
                                "roles": {"solver": {"adapter": None, "temperature": 1.0}}})
    config = tomllib.loads(run.config_path.read_text())
    assert config["play"] == {"arena": "qa-verify", "matches": 2}  # None values are left out
    assert config["roles"] == {"solver": {"temperature": 1.0}}
    packages = config["environment"]["packages"]
    assert packages["sparring"] == importlib.metadata.version("sparring")
    assert packages["torch"] == importlib.metadata.version("torch")
    assert {"python", "transformers", "pydantic"} <= set(packages)
    assert "git_commit" in config["environment"] and config["environment"]["created"]
    assert written["environment"]["packages"] == packages


def test_package_versions() -> None:
    versions = package_versions()
    assert versions["python"].count(".") == 2
    assert "no-such-package" not in versions


def test_store_and_existing(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    assert not run.exists()
    with pytest.raises(FileNotFoundError, match="is not a run directory \\(no store.sqlite\\); create one with "
                                                "'sparring play ARENA --out"):
        RunDir.existing(run.path)
    run.open_store().close()
    assert run.exists() and RunDir.existing(run.path).store_path == run.path / "store.sqlite"


def test_write_atomic(tmp_path: Path) -> None:
    path = tmp_path / "a" / "file.txt"
    write_atomic(path, b"one")
    write_atomic(path, b"two")
    assert path.read_bytes() == b"two"
    assert [p.name for p in path.parent.iterdir()] == ["file.txt"]  # no temporary files left
