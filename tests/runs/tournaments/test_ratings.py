"""Ratings on synthetic games with known strengths, bootstrap coverage, cycles."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sparring.runs.tournaments.ratings import (
    ELO_SCALE,
    Game,
    bootstrap_fit,
    bootstrap_intervals,
    bradley_terry,
    bradley_terry_fit,
    cycles,
    elo,
    openskill_ratings,
    rate,
    win_matrix,
)

STRENGTH = {"weak": -1.0, "fair": -0.3, "good": 0.4, "best": 1.2}  # log-odds


def simulate(strength: dict[str, float], games: int, seed: int, draws: float = 0.0, first: float = 0.0,
             pairs: list[tuple[str, str]] | None = None) -> list[Game]:
    """Random pairings (or ``pairs`` in turn, first seat first); P(a beats b) =
    sigmoid(s_a - s_b + first) with ``a`` in the first seat, a share of games drawn."""
    rng = np.random.default_rng(seed)
    names = list(strength)
    out = []
    for k in range(games):
        if pairs is None:
            i, j = rng.choice(len(names), 2, replace=False)
            a, b = names[i], names[j]
        else:
            a, b = pairs[k % len(pairs)]
        if rng.random() < draws:
            out.append(Game(a, b, 0.5))
            continue
        p = 1.0 / (1.0 + math.exp(strength[b] - strength[a] - first))
        out.append(Game(a, b, float(rng.random() < p)))
    return out


def test_bradley_terry_recovers_the_true_order_and_gaps() -> None:
    games = simulate(STRENGTH, 3000, seed=1)
    bt = bradley_terry(games)
    assert sorted(bt, key=bt.get) == ["weak", "fair", "good", "best"]
    mean = sum(STRENGTH.values()) / len(STRENGTH)
    for player, s in STRENGTH.items():
        assert bt[player] == pytest.approx(1000 + ELO_SCALE * (s - mean), abs=40)
    assert sum(bt.values()) / len(bt) == pytest.approx(1000)


def test_elo_and_openskill_agree_on_the_order() -> None:
    games = simulate(STRENGTH, 3000, seed=2)
    online = elo(games)
    skill = openskill_ratings(games)
    assert sorted(online, key=online.get) == ["weak", "fair", "good", "best"]
    assert sorted(skill, key=lambda p: skill[p][0]) == ["weak", "fair", "good", "best"]
    assert all(sigma < 8.3 for _, sigma in skill.values())  # shrunk from openskill's 25/3


def test_bootstrap_intervals_cover_the_truth_near_the_nominal_rate() -> None:
    """95% intervals over 30 seeded tournaments of 200 games: about 95% of 120 cover."""
    mean = sum(STRENGTH.values()) / len(STRENGTH)
    truth = {p: 1000 + ELO_SCALE * (s - mean) for p, s in STRENGTH.items()}
    covered = total = 0
    for rep in range(30):
        games = simulate(STRENGTH, 200, seed=100 + rep)
        for player, (low, high) in bootstrap_intervals(games, rounds=100, seed=rep).items():
            covered += low <= truth[player] <= high
            total += 1
    assert 0.85 <= covered / total <= 1.0, f"coverage {covered}/{total}"


FIRST = 1.0  # log-odds: the first seat wins 73% of games between equals (174 rating points)


def test_bootstrap_covers_ratings_and_the_seat_term_under_a_strong_first_mover_advantage() -> None:
    """A Swiss-like schedule where the strong players hold the first seat three times in
    four: 95% intervals (stratified by pairing and seat order) cover the true ratings and
    the true first-mover advantage near the nominal rate."""
    mean = sum(STRENGTH.values()) / len(STRENGTH)
    truth = {p: 1000 + ELO_SCALE * (s - mean) for p, s in STRENGTH.items()}
    names = sorted(STRENGTH, key=STRENGTH.get, reverse=True)
    stronger_first = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    pairs = stronger_first * 3 + [(b, a) for a, b in stronger_first]
    covered = total = seat_covered = 0
    for rep in range(40):
        games = simulate(STRENGTH, 480, seed=2000 + rep, first=FIRST, pairs=pairs)
        intervals, (low, high) = bootstrap_fit(games, rounds=100, seed=rep)
        for player, (lo, hi) in intervals.items():
            covered += lo <= truth[player] <= hi
            total += 1
        seat_covered += low <= ELO_SCALE * FIRST <= high
    assert 0.85 <= covered / total <= 1.0, f"coverage {covered}/{total}"
    assert seat_covered >= 33, f"first-mover coverage {seat_covered}/40"


def test_the_seat_term_removes_the_first_movers_credit() -> None:
    """Strong players who mostly hold the first seat: without the seat term BT credits them
    with the seat's edge; with it the gaps and the advantage come back."""
    names = sorted(STRENGTH, key=STRENGTH.get, reverse=True)
    stronger_first = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    games = simulate(STRENGTH, 6000, seed=5, first=FIRST, pairs=stronger_first * 3 + [(b, a) for a, b in stronger_first])
    gap = ELO_SCALE * (STRENGTH["best"] - STRENGTH["weak"])
    ratings, advantage = bradley_terry_fit(games)
    assert advantage == pytest.approx(ELO_SCALE * FIRST, abs=30)
    assert ratings["best"] - ratings["weak"] == pytest.approx(gap, abs=50)
    naive = bradley_terry(games, first_mover=False)
    assert naive["best"] - naive["weak"] > gap + 50  # the seat's edge, credited to the strong
    report = rate(games, bootstrap=20)
    assert report.first_mover_low <= report.first_mover_advantage <= report.first_mover_high
    assert report.to_json()["first_mover_advantage"]["bt"] == pytest.approx(advantage)


def test_bootstrap_keeps_the_schedule() -> None:
    """A resample redraws results within each (pairing, seat order): a pairing played only
    with 'a' first never appears reversed, so with every game won by the first seat the
    seat term, not the players, explains the results in every resample."""
    games = [Game("a", "b", 1.0)] * 5 + [Game("b", "a", 1.0)] * 5
    intervals, (low, high) = bootstrap_fit(games, rounds=50, seed=0)
    assert intervals["a"] == pytest.approx((1000.0, 1000.0)) and low > 300


def test_bootstrap_is_seeded() -> None:
    games = simulate(STRENGTH, 100, seed=3)
    assert bootstrap_intervals(games, rounds=50, seed=7) == bootstrap_intervals(games, rounds=50, seed=7)
    assert bootstrap_intervals(games, rounds=50, seed=7) != bootstrap_intervals(games, rounds=50, seed=8)


def test_draws_count_half_and_an_undefeated_player_stays_finite() -> None:
    assert bradley_terry([Game("a", "b", 0.5)] * 10) == pytest.approx({"a": 1000.0, "b": 1000.0})
    # without the seat term, one win and one draw each way is the same evidence as 1.5 : 0.5
    mixed = bradley_terry([Game("a", "b", 1.0), Game("b", "a", 0.5)], first_mover=False)
    assert mixed == pytest.approx(bradley_terry([Game("a", "b", 1.0), Game("a", "b", 0.5)], first_mover=False))
    undefeated = bradley_terry([Game("a", "b", 1.0)] * 20)
    assert all(math.isfinite(v) for v in undefeated.values()) and undefeated["a"] > undefeated["b"]


def test_rock_paper_scissors_is_one_cycle_with_its_win_rates() -> None:
    games = ([Game("rock", "scissors", 1.0)] * 3 + [Game("scissors", "rock", 1.0)]
             + [Game("scissors", "paper", 1.0)] * 4 + [Game("paper", "rock", 1.0)] * 2 + [Game("rock", "paper", 0.5)])
    found = cycles(win_matrix(games))
    assert len(found) == 1
    assert found[0].players == ["rock", "scissors", "paper"]
    assert found[0].rates == pytest.approx([0.75, 1.0, 2.5 / 3])
    assert str(found[0]) == "rock beats scissors 75%, scissors beats paper 100%, paper beats rock 83%"
    report = rate(games, bootstrap=20)
    assert not report.transitive


def test_every_cycle_is_listed_and_transitive_results_have_none() -> None:
    assert cycles(win_matrix(simulate(STRENGTH, 3000, seed=4))) == []
    # a 4-cycle a>b>c>d>a with chords a>c and b>d: three cycles
    beats = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("a", "c"), ("b", "d")]
    found = cycles(win_matrix([Game(x, y, 1.0) for x, y in beats]))
    assert [c.players for c in found] == [["a", "b", "d"], ["a", "c", "d"], ["a", "b", "c", "d"]]


def test_rate_reports_records_and_sorts_by_bt() -> None:
    games = [Game("a", "b", 1.0), Game("a", "b", 0.5), Game("b", "c", 1.0), Game("c", "a", 0.0)]
    report = rate(games, bootstrap=50)
    assert [r.player for r in report.ratings] == ["a", "b", "c"]
    a = report.ratings[0]
    assert (a.games, a.wins, a.draws, a.losses) == (3, 2, 1, 0)
    assert a.bt_low < a.bt_high
    assert report.to_json()["win_matrix"]["games"][0][1] == 2


def test_bad_games_are_refused_with_the_rule() -> None:
    with pytest.raises(ValueError, match="two different players"):
        Game("a", "a", 1.0)
    with pytest.raises(ValueError, match="1, 0.5 or 0"):
        Game("a", "b", 0.7)
