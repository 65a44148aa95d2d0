"""analysis.intervals: resampling and interval arithmetic around the bt engine (exact, prefix-stable draws)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from analysis import bt, intervals, sampling
from analysis.simulate import simulate_counts


@pytest.fixture(scope="module")
def fit():
    return bt.fit_bt(bt.pair_table(simulate_counts(7, 8000, tie_rate=0.2, seed=5)))


def test_draws_are_exact_refits_prefix_stable_and_thread_independent(fit):
    many = intervals.bootstrap(fit, 40, seed=3, tol=1e-10, threads=2)
    few = intervals.bootstrap(fit, 10, seed=3, tol=1e-10, threads=1)
    np.testing.assert_array_equal(few.theta, many.theta[:10])
    auto = intervals.bootstrap(fit, 40, seed=3, tol=1e-10)
    np.testing.assert_array_equal(auto.theta, many.theta)
    counts = intervals.multinomial_counts(fit.table, 40, 3)
    for r in (0, 17, 39):
        one = bt.fit_bt(fit.table.with_counts(counts[r].astype(float)))
        np.testing.assert_allclose(many.theta[r], one.theta, atol=1e-8)


def test_default_tolerance_is_within_1e_4_elo_of_exact_refits(fit):
    draws = intervals.bootstrap(fit, 30, seed=8)
    counts = intervals.multinomial_counts(fit.table, 30, 8)
    exact = np.array([bt.fit_bt(fit.table.with_counts(c.astype(float))).theta for c in counts])
    assert np.abs(draws.theta - exact).max() * 400 / np.log(10) < 1e-4


def test_percentile_and_rank_arithmetic():
    draws = np.array([[3.0, 1.0, 2.0], [1.0, 1.0, 0.0], [2.0, 3.0, 3.0]])
    np.testing.assert_array_equal(intervals.rank_draws(draws), [[1, 3, 2], [1, 1, 3], [3, 1, 1]])
    lo, hi = intervals.percentile_interval(np.arange(101.0)[:, None], 0.9)
    assert (lo[0], hi[0]) == (pytest.approx(5.0), pytest.approx(95.0))
    lo, hi = intervals.z_interval(np.array([10.0]), np.array([2.0]), 0.95)
    assert hi[0] - 10.0 == pytest.approx(1.959964 * 2.0, rel=1e-6)


def test_free_cores_is_between_one_and_the_usable_cores():
    usable = sampling.usable_cores()
    assert 1 <= sampling.free_cores() <= usable <= (os.cpu_count() or 1)
    assert 1 <= sampling.default_threads() <= usable


def test_cpu_board_imports_neither_torch_nor_tqdm_bars_it_does_not_need():
    code = ("import sys, analysis\n"
            "from analysis.simulate import simulate_counts\n"
            "board = analysis.leaderboard(simulate_counts(5, 2000, seed=1), resamples=50, seed=0, device='cpu')\n"
            "assert len(board) == 5\n"
            "print('torch' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "False", out.stderr
