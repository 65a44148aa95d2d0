"""analysis.bt, the one Bradley-Terry engine: closed forms, choix, and batched refits against exact one-by-one fits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis import bt, intervals
from analysis.simulate import simulate_counts

FACTOR = 400 / math.log(10)


def ring_table(k: int, seed: int, votes: tuple[int, int] = (2, 30), ties: bool = True) -> bt.PairTable:
    """A sparse board straight from arrays: each model meets its two ring neighbours on each side."""
    rng = np.random.default_rng(seed)
    i = np.concatenate([np.arange(k), np.arange(k)])
    j = np.concatenate([(np.arange(k) + 1) % k, (np.arange(k) + 2) % k])
    strength = rng.normal(0, 1, k)
    n = rng.integers(*votes, size=len(i)).astype(float)
    p = 1 / (1 + np.exp(-(strength[i] - strength[j])))
    t = rng.binomial(n.astype(int), 0.15).astype(float) if ties else np.zeros(len(i))
    w = rng.binomial((n - t).astype(int), p).astype(float)
    return bt.pair_table_from_arrays([f"m{x}" for x in range(k)], i, j, np.stack([w, n - t - w, t], 1))


# ---------------------------------------------------------------------------------------------- exact fit


@pytest.mark.parametrize(("w", "l", "t"), [(30, 10, 0), (7, 13, 5)])
def test_two_models_closed_form(w, l, t):
    table = bt.pair_table_from_arrays(["a", "b"], [0], [1], [[w, l, t]])
    fit = bt.fit_bt(table)
    assert fit.theta[0] - fit.theta[1] == pytest.approx(math.log((w + t / 2) / (l + t / 2)), abs=1e-12)
    assert fit.theta.sum() == pytest.approx(0.0, abs=1e-12)
    # With a N(0, 1/prior) prior the two-model optimum solves y - m sigmoid(d) = prior * d / 2 (theta = +-d/2).
    pen = bt.fit_bt(table, prior=2.0)
    d = pen.theta[0] - pen.theta[1]
    y, m = w + t / 2, w + l + t
    assert y - m / (1 + math.exp(-d)) == pytest.approx(2.0 * d / 2, abs=1e-9)


def test_fit_matches_choix():
    choix = pytest.importorskip("choix")
    table = ring_table(30, seed=1)
    fit = bt.fit_bt(table)
    wins = np.zeros((30, 30))
    a, b, (wa, wb, t) = table.i, table.j, table.counts.T
    np.add.at(wins, (a, b), wa + t / 2)
    np.add.at(wins, (b, a), wb + t / 2)
    theirs = choix.ilsr_pairwise_dense(wins, tol=1e-14, max_iter=100_000)
    np.testing.assert_allclose(fit.theta * FACTOR, (theirs - theirs.mean()) * FACTOR, atol=1e-6)


# ---------------------------------------------------------------------------------------------- batched refits


def resampled(table: bt.PairTable, n: int, seed: int) -> np.ndarray:
    """(G, 3, n) exact vote-bootstrap resamples of ``table`` (resample r depends only on the seed and r)."""
    return np.moveaxis(intervals.multinomial_counts(table, n, seed), 0, -1)


def exact(fit: bt.BTFit, counts: np.ndarray) -> np.ndarray:
    one = bt.fit_bt(fit.table.with_counts(counts.astype(float)), ties=fit.ties, position=fit.position,
                    prior=fit.prior)
    return np.concatenate([one.theta, [one.gamma] if fit.position else [], [one.tau] if fit.tau is not None else []])


def centred(params: np.ndarray, k: int) -> np.ndarray:
    out = params.copy()
    out[:k] -= out[:k].mean()
    return out


@pytest.mark.parametrize(("ties", "position", "prior"), [("half", False, 0.0), ("drop", True, 0.0),
                                                          ("davidson", False, 0.0), ("rao-kupper", True, 0.5),
                                                          ("half", True, 0.05)])
def test_refit_batch_equals_exact_fits(ties, position, prior):
    counts = simulate_counts(6, 5000, tie_rate=0.2, position_bias=40.0 if position else 0.0, seed=7)
    fit = bt.fit_bt(bt.pair_table(counts, ordered=position), ties=ties, position=position, prior=prior)
    draws = resampled(fit.table, 8, 3)
    res = bt.refit_batch(fit, draws, tol=1e-10)
    assert res.converged.all() and res.params.shape == (8, fit.n_params)
    k = fit.table.n_models
    for r in range(8):
        np.testing.assert_allclose(centred(res.params[r], k), exact(fit, draws[:, :, r]), atol=1e-8)


def test_mixed_precision_refits_stay_within_their_tolerance():
    fit = bt.fit_bt(bt.pair_table(simulate_counts(8, 20_000, tie_rate=0.2, seed=2)))
    draws = resampled(fit.table, 16, 5)
    refitter = bt.Refitter(fit, tol=1e-6)
    assert refitter.dtype == np.float32  # half ties, tol >= 1e-7, < 2**24 votes: float32 scores
    res = refitter(draws)
    assert res.converged.all() and res.max_step <= 1e-6
    for r in range(16):
        # 2e-6 natural units is 3.5e-4 Elo points.
        np.testing.assert_allclose(centred(res.params[r], 8), exact(fit, draws[:, :, r]), atol=2e-6)


def test_blocks_and_order_do_not_change_a_refit():
    fit = bt.fit_bt(bt.pair_table(simulate_counts(6, 4000, tie_rate=0.1, seed=4)))
    draws = resampled(fit.table, 12, 9)
    refitter = bt.Refitter(fit, tol=1e-10)
    whole = refitter(draws).params
    parts = np.concatenate([refitter(draws[:, :, :5]).params, refitter(draws[:, :, 5:]).params])
    np.testing.assert_allclose(parts, whole, atol=1e-12)


def test_threads_split_the_tables_without_changing_a_bit():
    fit = bt.fit_bt(bt.pair_table(simulate_counts(8, 20_000, tie_rate=0.2, seed=6)))
    draws = resampled(fit.table, 96, 4)
    refitter = bt.Refitter(fit, tol=1e-6)
    np.testing.assert_array_equal(refitter(draws, threads=1).params, refitter(draws, threads=3).params)


def test_torch_backend_agrees_with_numpy():
    torch = pytest.importorskip("torch")
    fit = bt.fit_bt(bt.pair_table(simulate_counts(5, 3000, tie_rate=0.2, seed=1)), ties="davidson")
    draws = resampled(fit.table, 6, 2)
    a = bt.refit_batch(fit, draws, tol=1e-10)
    b = bt.refit_batch(fit, draws, tol=1e-10, device=torch.device("cpu"))
    np.testing.assert_allclose(a.params, b.params, atol=1e-9)


def test_sparse_board_beyond_the_dense_limit_uses_newton_cg_and_matches_exact_fits():
    # 1,200 models on a ring with a prior: H0 is factored as a sparse LU, and the chord iteration on resamples of
    # two-to-thirty votes per pair stalls, so Newton with conjugate gradients finishes.
    table = ring_table(1200, seed=3)
    fit = bt.fit_bt(table, prior=1.0)
    draws = resampled(table, 4, 1)
    refitter = bt.Refitter(fit, tol=1e-8)
    assert refitter.lu is not None and refitter.h_inv is None
    res = refitter(draws)
    assert res.converged.all() and res.exact == 0
    for r in range(4):
        np.testing.assert_allclose(res.params[r], exact(fit, draws[:, :, r]), atol=1e-7)


def test_separated_tables_are_flagged_not_returned():
    table = bt.pair_table_from_arrays(["a", "b", "c"], [0, 1, 0], [1, 2, 2], [[5, 1, 0], [4, 3, 1], [3, 2, 0]])
    fit = bt.fit_bt(table)
    draws = np.stack([table.counts, np.array([[5.0, 0, 0], [4, 3, 1], [3, 0, 0]])], -1)  # a never loses in #2
    res = bt.refit_batch(fit, draws)
    assert res.converged.tolist() == [True, False]
    np.testing.assert_allclose(centred(res.params[0], 3), fit.theta, atol=1e-6)
    penalised = bt.fit_bt(table, prior=0.1)
    assert bt.refit_batch(penalised, draws).converged.all()


def test_fit_bt_batch_is_the_array_form():
    pi, pj = np.triu_indices(4, k=1)
    pc = np.random.default_rng(1).integers(1, 30, size=(5, len(pi), 3)).astype(float)
    got = bt.fit_bt_batch(pc, pi, pj, 4)
    for row, counts in zip(got, pc, strict=True):
        want = bt.fit_bt(bt.pair_table_from_arrays(list("abcd"), pi, pj, counts)).theta
        np.testing.assert_allclose(row, want, atol=1e-8)
    separated = pc[:2].copy()
    separated[0, pi == 0, 1:] = 0.0
    out = bt.fit_bt_batch(separated, pi, pj, 4, theta0=got[0])
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()


# ---------------------------------------------------------------------------------------------- marginal fit


def test_marginal_fit_equals_the_full_fit_when_wins_sum_per_model():
    # The likelihood depends on the votes only through each model's wins and each pair's votes.
    table = ring_table(12, seed=5)
    fit = bt.fit_bt(table)
    wa, wb, t = table.counts.T
    wins = np.bincount(table.i, wa + t / 2, 12) + np.bincount(table.j, wb + t / 2, 12)
    theta, iterations = bt.fit_marginal(wins, table.i, table.j, table.counts.sum(1))
    np.testing.assert_allclose(theta, fit.theta, atol=1e-9)
    assert iterations < 20
