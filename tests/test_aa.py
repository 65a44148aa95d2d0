"""analysis.aa: refits of published boards from their marginals, through analysis.bt's marginal fit."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis import aa, bt
from analysis.planning import balanced_pairing


def test_marginal_refit_recovers_the_ratings_behind_expected_wins():
    # Expected wins under a balanced pairing are exactly the marginals of those ratings: the refit returns them.
    rng = np.random.default_rng(0)
    k = 8
    theta = rng.normal(0, 0.6, k)
    app = rng.integers(2000, 9000, k).astype(float)
    i, j, n = balanced_pairing(app, app.sum() / 2)
    p = 1 / (1 + np.exp(-(theta[i] - theta[j])))
    wins = np.bincount(i, n * p, k) + np.bincount(j, n * (1 - p), k)
    names = [f"m{x}" for x in range(k)]
    board = pd.DataFrame({"model": names, "appearances": app, "wins": wins})
    refit = aa.marginal_refit(board, rating=None, anchor={"m0": 1000.0}).set_index("model")
    want = 1000.0 + 400 / math.log(10) * (theta - theta[0])
    np.testing.assert_allclose(refit.loc[names, "refit"].to_numpy(), want, atol=1e-6)
    assert refit.attrs["wins_scale"] == pytest.approx(1.0, rel=1e-12)


def test_marginal_fit_is_the_bt_engine():
    rng = np.random.default_rng(2)
    i, j = np.triu_indices(5, k=1)
    n = rng.integers(10, 50, len(i)).astype(float)
    w = rng.binomial(n.astype(int), 0.5).astype(float)
    wins = np.bincount(i, w, 5) + np.bincount(j, n - w, 5)
    theta, _ = bt.fit_marginal(wins, i, j, n)
    full = bt.fit_bt(bt.pair_table_from_arrays(list("abcde"), i, j, np.stack([w, n - w, 0 * n], 1)))
    np.testing.assert_allclose(theta, full.theta, atol=1e-9)


def test_marginal_refit_speaks_the_anchor_vocabulary():
    board = pd.DataFrame({"model": ["a", "b", "c"], "appearances": [200, 200, 200], "wins": [130, 100, 70]})
    mean = aa.marginal_refit(board, rating=None, anchor="mean", init=1500.0)
    assert mean["refit"].mean() == pytest.approx(1500.0)
    fixed = aa.marginal_refit(board, rating=None, anchor={"b": 1000.0}).set_index("model")
    assert fixed.loc["b", "refit"] == pytest.approx(1000.0)
    np.testing.assert_allclose(np.diff(np.sort(fixed["refit"].to_numpy())),
                               np.diff(np.sort(mean["refit"].to_numpy())))
    with pytest.raises(TypeError, match="anchor="):
        aa.marginal_refit(board, rating=None, anchor="b", anchor_value=1000.0)
    with pytest.raises(ValueError, match="'mean' or"):
        aa.marginal_refit(board, rating=None, anchor="b")
