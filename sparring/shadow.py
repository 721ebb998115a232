"""Detect a folder named ``sparring`` that shadows the installed package.

A checkout cloned as ``sparring/`` has no ``__init__.py`` at its top. Python run from the
folder above it (``python my_arena.py``, ``python -c "import sparring"``) finds that folder
on ``sys.path`` first and imports it as an empty namespace package, ahead of an editable
install's import hook; the user then sees ``cannot import name 'Arena' from 'sparring'
(unknown location)``, which says nothing about the cause. The ``sparring`` command itself
is not affected (its script's folder comes first), so it can say so.
"""

from __future__ import annotations

from pathlib import Path


def shadowing_folder(cwd: Path | None = None) -> Path | None:
    """The ``sparring`` folder in ``cwd`` that a ``python`` started there would import instead
    of the installed package, or ``None``."""
    import sparring

    folder = (cwd or Path.cwd()) / "sparring"
    if not folder.is_dir() or (folder / "__init__.py").exists():
        return None
    installed = Path(sparring.__file__).resolve().parent
    return None if folder.resolve() == installed else folder


def shadow_warning(cwd: Path | None = None) -> str | None:
    """One line saying which folder shadows the package and what to do, or ``None``."""
    folder = shadowing_folder(cwd)
    if folder is None:
        return None
    return (f"warning: ./{folder.name}/ here (a folder without __init__.py, e.g. a checkout) shadows the installed "
            "sparring for python run from this folder ('cannot import name ... from 'sparring' (unknown "
            "location)'); run python from another folder or rename it")
