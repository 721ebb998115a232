"""Loading never unpickles: update states round-trip under ``weights_only`` and an
``updates.pt`` holding any other pickled object is refused in one line, unrun; adapters
load from ``adapter_model.safetensors`` only, and a folder holding only a pickled
``adapter_model.bin`` is refused (when loading, and by ``play`` and ``init_from`` checks
before any model loads)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sparring.agents.pool import ModelPool
from sparring.runs.training.checkpoint import (
    load_adapter_weights,
    read_checkpoint,
    save_adapter_version,
    write_checkpoint,
)


def plant(marker: str) -> None:
    """What unpickling a :class:`Planted` calls: it writes a marker file."""
    Path(marker).write_text("unpickled")


class Planted:
    """What a tampered ``updates.pt`` could hold: unpickling it calls :func:`plant`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (plant, (str(self.marker),))


def _update_state() -> dict[str, object]:
    """An update's state dict as :meth:`Update.state_dict` makes it, after one AdamW step."""
    layer = torch.nn.Linear(4, 2)
    optimizer = torch.optim.AdamW(layer.parameters(), lr=1e-3, betas=(0.9, 0.95))
    layer(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    return {"algorithm": "grpo", "adapter": "solver", "steps": 1, "reference": None,
            "optimizer": optimizer.state_dict()}


def test_update_states_round_trip_without_unpickling(tmp_path: Path) -> None:
    state = _update_state()
    write_checkpoint(tmp_path, 1, {"completed_iterations": 1}, {"solver": state})
    found = read_checkpoint(tmp_path)
    assert found is not None
    loaded = found[1]["solver"]
    assert {k: v for k, v in loaded.items() if k != "optimizer"} == {k: v for k, v in state.items() if k != "optimizer"}
    assert loaded["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]  # type: ignore[index]
    for index, saved in state["optimizer"]["state"].items():  # type: ignore[index]
        for key, value in saved.items():
            assert torch.equal(loaded["optimizer"]["state"][index][key], value)


def test_a_checkpoint_holding_a_pickled_object_is_refused_in_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    folder = write_checkpoint(tmp_path, 1, {"completed_iterations": 1}, {"solver": _update_state()})
    torch.save({"solver": {"steps": 1, "optimizer": Planted(marker)}}, folder / "updates.pt")
    with pytest.raises(ValueError) as info:
        read_checkpoint(tmp_path)
    message = str(info.value)
    assert len(message.splitlines()) == 1
    assert message.startswith(f"{folder / 'updates.pt'} holds a pickled tests.runs.training.test_checkpoint.plant, "
                              "which a sparring checkpoint never does")
    assert "refusing to unpickle it" in message
    assert not marker.exists()


@pytest.fixture
def pickled_adapter_folder(tiny_pool: ModelPool, tmp_path: Path) -> tuple[ModelPool, Path, Path]:
    """A real saved adapter of the tiny model whose weights are an ``adapter_model.bin``
    pickle that writes a marker when unpickled (no safetensors); the pool has adapter ``solver``."""
    tiny_pool.add_adapter("default", "solver", rank=4)
    folder = save_adapter_version(tiny_pool, "default", "solver", tmp_path / "run")
    weights = folder / "adapter_model.safetensors"
    marker = tmp_path / "MARKER"
    torch.save({"weights": load_file(weights), "planted": Planted(marker)}, folder / "adapter_model.bin")
    weights.unlink()
    return tiny_pool, folder, marker


def test_an_adapter_is_never_loaded_from_a_pickle(pickled_adapter_folder: tuple[ModelPool, Path, Path]) -> None:
    pool, folder, marker = pickled_adapter_folder
    with pytest.raises(ValueError) as info:
        load_adapter_weights(pool, "default", "solver", folder)
    assert str(info.value) == (
        f"{folder / 'adapter_model.bin'} is a pickle and adapters load only from adapter_model.safetensors "
        "(unpickling can run code); re-save the adapter with peft's save_pretrained (safetensors by default) "
        "where you trust the file")
    assert not marker.exists()


def test_play_and_init_from_refuse_a_pickled_adapter_before_loading(
        pickled_adapter_folder: tuple[ModelPool, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from sparring.cli import main
    from sparring.runs.recipes.machine import check_init_from
    from sparring.runs.recipes.recipe import AdapterSection, RecipeError

    _, folder, marker = pickled_adapter_folder
    assert main(["play", "qa-verify", "--out", str(tmp_path / "r"), "--model", "no-such-model",
                 "--adapter", f"solver={folder}", "--role", "solver.adapter=solver"]) == 2
    out = capsys.readouterr().out
    assert out == f"error: --adapter solver={folder}: {folder / 'adapter_model.bin'} is a pickle and adapters load " \
                  "only from adapter_model.safetensors (unpickling can run code); re-save the adapter with peft's " \
                  "save_pretrained (safetensors by default) where you trust the file\n"
    with pytest.raises(RecipeError, match=r"recipe field 'adapters.solver.init_from' = .*: .*adapter_model.bin is "
                                          "a pickle and adapters load only from adapter_model.safetensors"):
        check_init_from("solver", AdapterSection(rank=4, init_from=str(folder)))
    assert not marker.exists() and not (tmp_path / "r").exists()
