"""The replay buffer through the real CLI on the tiny model: each update trains on its
fresh data plus samples rebuilt from earlier iterations' stored matches."""

from __future__ import annotations

import random
from pathlib import Path

from sparring.cli import main
from sparring.runs.storage.store import Store
from sparring.runs.training.replay_buffer import draw
from tests.runs.test_stabilisers import votes_recipe


def test_replay_mixes_earlier_iterations_data(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(votes_recipe(tmp_path)), "--out", str(out), "replay.window=1", "replay.ratio=1.0",
                 "train.steps_per_epoch=1"]) == 0
    with Store(out / "store.sqlite") as store:
        metrics = {(i, name): value for i, name, value in store.metrics()}
        agreeing = [sum(r.value == 1.0 for t in store.transcripts(iteration=i) if not t.match_id.startswith("eval-")
                        for r in t.rewards if r.reward == "agree") for i in range(3)]
    assert (0, "update/voter/replayed") not in metrics  # nothing earlier to replay
    for i in (1, 2):  # ratio 1: as many replayed as fresh, capped by what iteration i - 1 offers
        replayed = metrics[(i, "update/voter/replayed")]
        assert replayed == min(agreeing[i], agreeing[i - 1])
        assert metrics[(i, "update/voter/samples")] == agreeing[i] + replayed


def test_draw_keeps_groups_whole_and_caps_at_size() -> None:
    class Sample:
        def __init__(self, group: str) -> None:
            self.group_id = group

    buffer = [Sample(g) for g in "aabbbcc"]
    for seed in range(5):
        drawn = draw(list(range(4)), buffer, 0.5, None, random.Random(seed))  # target 2 samples
        groups = {s.group_id for s in drawn}
        assert sorted(s.group_id for s in drawn) == sorted(s.group_id for s in buffer if s.group_id in groups)
        assert len(drawn) >= 2 and len(groups) == 1  # every group has 2 or 3: the first drawn reaches the target
    assert len(draw(list(range(100)), list(range(50)), 1.0, 7, random.Random(0))) == 7
