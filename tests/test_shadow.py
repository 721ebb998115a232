"""A folder named ``sparring`` (a checkout) in the working directory shadows the installed
package for ``python`` run there; the ``sparring`` command says so in one line."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from sparring.shadow import shadowing_folder

ROOT = Path(__file__).resolve().parents[1]


def _cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("sparring")  # the installed command: its own folder is first on sys.path
    command = [script, *argv] if script else [
        sys.executable, "-c", f"import sys; sys.path.pop(0); from sparring.cli import main; sys.exit(main({list(argv)!r}))"]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=120)


def test_the_command_names_a_shadowing_checkout(tmp_path: Path) -> None:
    (tmp_path / "sparring" / "sparring").mkdir(parents=True)  # a checkout cloned as sparring/
    done = _cli(tmp_path, "arenas")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == ["warning: ./sparring/ here (a folder without __init__.py, e.g. a checkout) shadows the installed "
                     "sparring for python run from this folder ('cannot import name ... from 'sparring' (unknown "
                     "location)'); run python from another folder or rename it"]
    assert "qa-verify" in done.stdout  # the command itself still works


def test_no_warning_elsewhere(tmp_path: Path) -> None:
    assert shadowing_folder(tmp_path) is None
    assert shadowing_folder(ROOT) is None  # inside the checkout, ./sparring is the package itself
    (tmp_path / "sparring").mkdir()
    (tmp_path / "sparring" / "__init__.py").write_text("")  # a regular package: the user's own, not a checkout
    assert shadowing_folder(tmp_path) is None
    assert "warning" not in _cli(ROOT, "arenas").stderr
