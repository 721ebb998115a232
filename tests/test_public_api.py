"""The package root re-exports the public API, each name documented."""

from __future__ import annotations

import inspect

import sparring


def test_every_public_name_exists_and_has_a_docstring() -> None:
    missing = [name for name in sparring.__all__ if not hasattr(sparring, name)]
    assert not missing
    undocumented = [
        name for name in sparring.__all__
        if (inspect.isclass(getattr(sparring, name)) or inspect.isfunction(getattr(sparring, name))
            or inspect.ismodule(getattr(sparring, name)))
        and not (inspect.getdoc(getattr(sparring, name)) or "").strip()
    ]
    assert not undocumented


def test_training_api_is_reachable_from_the_root() -> None:
    for name in ("Trainer", "train", "load_recipe", "export", "DPOUpdate", "PolicyGradientUpdate",
                 "PreferencePair", "GroupSample", "grpo_groups", "best_worst_pairs", "spin_pairs"):
        assert name in sparring.__all__


def test_names_that_share_a_submodule_name_are_the_functions() -> None:
    import types

    import sparring.runs.playing.play  # noqa: F401
    import sparring.runs.storage.export  # noqa: F401  (importing a submodule must not shadow its function)
    import sparring.runs.training.train  # noqa: F401
    from sparring import export, play, train
    from sparring.runs import export as runs_export
    from sparring.runs import play as runs_play
    from sparring.runs import train as runs_train

    for f in (export, play, train, runs_export, runs_play, runs_train):
        assert callable(f) and not isinstance(f, types.ModuleType), f
