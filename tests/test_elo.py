"""Online Elo (analysis.elo): closed-form updates, conservation, order dependence and the order bootstrap."""

import math

import numpy as np
import pandas as pd
import pytest

import analysis as A
from analysis import elo
from analysis.simulate import simulate_arena
from analysis.votes import read_votes


def battles(rows):
    return read_votes(pd.DataFrame(rows, columns=["model_a", "model_b", "winner"]))


def test_one_vote_moves_both_models_by_k_times_the_surprise():
    r = elo.online_elo(battles([("a", "b", "model_a")]), k_factor=4.0)
    assert r["a"] == pytest.approx(1002.0) and r["b"] == pytest.approx(998.0)  # expected score 0.5 at equal ratings
    # A second win is less surprising: E = 1 / (1 + 10 ** (-4 / 400)).
    r = elo.online_elo(battles([("a", "b", "model_a"), ("a", "b", "model_a")]), k_factor=4.0)
    expected = 1.0 / (1.0 + 10 ** ((998.0 - 1002.0) / 400.0))
    assert r["a"] == pytest.approx(1002.0 + 4.0 * (1.0 - expected))


def test_ties_between_equals_change_nothing_and_updates_are_zero_sum():
    r = elo.online_elo(battles([("a", "b", "tie"), ("b", "a", "tie (bothbad)")]))
    assert r.to_numpy() == pytest.approx([1000.0, 1000.0])
    votes = read_votes(simulate_arena(6, 3000, tie_rate=0.2, seed=3))
    r = elo.online_elo(votes, k_factor=16.0, init=1500.0)
    assert r.mean() == pytest.approx(1500.0)  # every update adds to one model what it takes from the other


def test_vote_order_matters_but_labels_do_not():
    votes = read_votes(simulate_arena(5, 2000, seed=4))
    forward = elo.online_elo(votes)
    backward = elo.online_elo(votes.iloc[::-1].reset_index(drop=True))
    assert not np.allclose(forward.to_numpy(), backward.to_numpy())
    swapped = votes.rename(columns={"model_a": "model_b", "model_b": "model_a"})
    swapped["winner"] = swapped["winner"].map({"model_a": "model_b", "model_b": "model_a", "tie": "tie",
                                               "tie (bothbad)": "tie (bothbad)"}).astype(votes["winner"].dtype)
    pd.testing.assert_series_equal(elo.online_elo(swapped[["model_a", "model_b", "winner"]]), forward)


def test_bootstrap_rows_are_elo_over_resampled_orders():
    votes = read_votes(simulate_arena(4, 500, seed=5))
    draws = elo.elo_bootstrap(votes, 5, seed=11, chunk=2)
    assert draws.shape == (5, 4)
    np.testing.assert_array_equal(draws, elo.elo_bootstrap(votes, 5, seed=11, chunk=2))
    rng = np.random.default_rng(11)
    orders = rng.integers(0, len(votes), size=(2, len(votes)))  # the first chunk's draws
    again = elo.online_elo(votes.iloc[orders[1]].reset_index(drop=True))
    np.testing.assert_allclose(draws[1], again.reindex(votes["model_a"].cat.categories).to_numpy())


def test_leaderboard_elo_runs_in_timestamp_order():
    votes = simulate_arena(4, 800, seed=6)
    votes["timestamp"] = pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(len(votes))[::-1], unit="min")
    board = A.leaderboard(votes, method="elo", ci="none")
    ordered = read_votes(votes).sort_values("timestamp", kind="stable", ignore_index=True)
    want = elo.online_elo(ordered)
    got = board.set_index("model")["rating"]
    # The board is put in the mean gauge, which online Elo already satisfies (zero-sum updates).
    np.testing.assert_allclose(got.reindex(want.index).to_numpy(), want.to_numpy())
    assert math.isclose(board["rating"].mean(), 1000.0)
