"""What a plain ``pip install -e .`` gives: the documented tournament and ratings commands need
no extra (openskill, matplotlib and networkx are core dependencies); Parquet export names its extra."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


CORE = _names(PYPROJECT["project"]["dependencies"])
# distributions only an extra installs (what a plain install lacks), by import name
EXTRA_ONLY = {"trl", "datasets", "tensorboard", "pettingzoo", "gymnasium", "pygame", "rlcard", "ray", "playwright"}


def test_rating_packages_are_core_dependencies() -> None:
    assert {"networkx", "openskill", "matplotlib"} <= CORE
    # every package the tournament code imports on use is among them
    required = set()
    for path in (ROOT / "runs").rglob("*.py"):
        required |= {m.split(".")[0] for m in re.findall(r'require\("([\w.]+)"\)', path.read_text())}
    assert required and required <= CORE
    assert "datasets" not in CORE and PYPROJECT["project"]["optional-dependencies"]["parquet"] == ["datasets"]


def test_readme_names_the_extra_next_to_each_command_that_needs_one() -> None:
    readme = (ROOT / "README.md").read_text()
    for line in readme.splitlines():
        if line.startswith("sparring export") and ".parquet" in line:
            assert "sparring[parquet]" in line, line
    assert "sparring[tournament]" not in readme


def test_tournament_and_ratings_run_without_any_extra(tmp_path: Path) -> None:
    config = tmp_path / "rps.toml"
    config.write_text(f'[arena]\nname = "{ROOT / "tests" / "runs" / "duel_arena.py"}:RockPaperScissors"\n'
                      '[players.rock]\nreply = "rock"\n[players.paper]\nreply = "paper"\n'
                      '[players.scissors]\nreply = "scissors"\n[schedule]\ngames = 1\n')
    out = tmp_path / "t"
    # the CLI in a process where every package only an extra installs fails to import
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in {sorted(EXTRA_ONLY)!r}:
                    raise ImportError(f"{{name}} is not installed (an extra)")
        sys.meta_path.insert(0, Block())
        from sparring.cli import main
        code = main(["tournament", {str(config)!r}, "--out", {str(out)!r}, "-q"])
        sys.exit(code or main(["ratings", {str(out)!r}, "--bootstrap", "20"]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pip install" not in done.stdout
    assert (out / "win_matrix.png").stat().st_size > 1000 and (out / "ratings.json").exists()
