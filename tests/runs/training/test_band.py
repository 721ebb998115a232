"""Agreement-band filtering through the real CLI on the tiny model: only matches whose
share agreeing with the majority lies in the band train, and the band is logged."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparring.cli import main
from sparring.runs.storage.store import Store
from sparring.runs.training import band
from tests.runs.test_stabilisers import votes_recipe

BAND = [0.5, 0.8]


def test_band_keeps_only_matches_in_the_band_and_logs_it(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["train", str(votes_recipe(tmp_path)), "--out", str(out), f"roles.voter.band={BAND}",
                 'roles.voter.truth_reward="truth"', "train.steps_per_epoch=1"]) == 0
    with Store(out / "store.sqlite") as store:
        metrics = {(i, name): value for i, name, value in store.metrics()}
        for iteration in range(3):
            played = [t for t in store.transcripts(iteration=iteration) if not t.match_id.startswith("eval-")]
            shares = [band.share(t, "voter", "agree") for t in played]
            kept = [t for t, s in zip(played, shares, strict=True) if BAND[0] <= s <= BAND[1]]
            assert metrics[(iteration, "band/voter/kept_share")] == pytest.approx(len(kept) / len(played))
            # SFT on the agreeing samples of the kept matches only
            agreeing = sum(r.value == 1.0 for t in kept for r in t.rewards if r.reward == "agree")
            assert metrics.get((iteration, "update/voter/samples"), 0.0) == agreeing
            # the majority is right in a match when its agreeing answers are true (one answer, one truth)
            right = [next(r.value for r in t.rewards if r.reward == "truth" and r.turn == a.turn)
                     for t in kept for a in t.rewards if a.reward == "agree" and a.value == 1.0 and a.turn == min(
                         b.turn for b in t.rewards if b.reward == "agree" and b.value == 1.0)]
            if right:
                assert metrics[(iteration, "band/voter/majority_accuracy_kept")] == pytest.approx(sum(right) / len(right))
        assert 0 < sum(metrics[(i, "band/voter/kept_share")] for i in range(3)) < 3  # the band drops some, keeps some


@pytest.mark.parametrize(("override", "message"), [
    ("roles.voter.band=[0.9, 0.2]", "band = [0.9, 0.2] must be [low, high] with 0 <= low <= high <= 1"),
    ('roles.voter.truth_reward="oracle"', "recipe field 'roles.voter.truth_reward': 'oracle' is not a reward of tests/votes-v1"),
])
def test_bad_band_fields_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], override: str,
                                      message: str) -> None:
    assert main(["train", str(votes_recipe(tmp_path)), "--out", str(tmp_path / "run"), override]) != 0
    assert message in capsys.readouterr().out
