"""The exact resamplers in analysis.sampling against closed-form laws (scipy) and each other."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st

from analysis import sampling


def chi_square_p(draws: np.ndarray, pmf: np.ndarray) -> float:
    """Goodness of fit of integer draws to a pmf on 0..len(pmf)-1 (cells with expectation < 5 pooled)."""
    obs = np.bincount(draws.astype(int), minlength=len(pmf))[: len(pmf)].astype(float)
    exp = pmf * len(draws)
    keep = exp >= 5
    o = np.append(obs[keep], obs[~keep].sum() + (len(draws) - obs.sum()))
    e = np.append(exp[keep], len(draws) - exp[keep].sum())
    if e[-1] < 5:
        o, e = o[:-2].tolist() + [o[-2] + o[-1]], e[:-2].tolist() + [e[-2] + e[-1]]
    o, e = np.asarray(o), np.asarray(e)
    return float(st.chi2.sf(((o - e) ** 2 / e).sum(), len(o) - 1))


@pytest.mark.parametrize(("n", "p"), [(20, 0.3), (1000, 0.003), (30, 0.5), (100, 0.2), (5000, 0.7), (40, 0.999),
                                      (12, 0.9), (1_670_250, 0.004)])
def test_binomial_matches_its_law(n, p):
    draws = sampling.binomial(np.array([float(n)]), np.array([p]), sampling.draw_keys(7, 200_000))[:, 0]
    assert draws.min() >= 0 and draws.max() <= n
    if n > 10_000:  # too many atoms for one table: moments instead
        assert abs(draws.mean() - n * p) < 5 * np.sqrt(n * p * (1 - p) / len(draws))
        assert abs(draws.var() / (n * p * (1 - p)) - 1) < 0.02
        return
    assert chi_square_p(draws, st.binom.pmf(np.arange(n + 1), n, p)) > 1e-3


def test_binomial_edge_cases():
    keys = sampling.draw_keys(1, 50)
    out = sampling.binomial(np.array([0.0, 7.0, 7.0, 9.0]), np.array([0.4, 0.0, 1.0, 0.5]), keys)
    assert (out[:, 0] == 0).all() and (out[:, 1] == 0).all() and (out[:, 2] == 7).all()
    assert ((out[:, 3] >= 0) & (out[:, 3] <= 9)).all()


@pytest.mark.parametrize("lam", [0.3, 4.0, 37.5, 900.0])
def test_poisson_tables_invert_the_poisson_cdf(lam):
    # One cell of n votes; the table's Poisson rate is n - sqrt(n) (the slack).
    n = lam + np.sqrt(lam) if lam > 1 else lam
    tables = sampling._PoissonTables(np.array([n]))
    rate = tables.lam[0]
    args = (tables.lam, tables.lo, tables.offsets, tables.low_tail, tables.cdf, tables.guide, tables.pmf_hi)
    # Quantiles everywhere, including the tails outside the table (walked exactly).
    for u in [1e-15, 1e-9, 1e-4, 0.1, 0.5, 0.9, 1 - 1e-6, 1 - 1e-12]:
        got = sampling._poisson_inverse(u, 0, *args)
        want = st.poisson.ppf(u, rate)
        assert abs(got - want) <= 1 if u < 1e-8 or u > 1 - 1e-10 else got == want, (u, got, want)


def test_resampler_totals_and_law_on_small_and_tiny_tables():
    counts = np.array([[30.0, 10.0, 5.0], [0.0, 2.0, 1.0], [12.0, 0.0, 0.0]])
    n = counts.sum()
    for method in ("poisson", "binomial"):
        draws = sampling.resample_counts(counts, sampling.draw_keys(3, 40_000), method)
        assert draws.shape == (3, 3, 40_000)
        assert (draws.sum((0, 1)) == n).all()
        assert (draws[counts == 0] == 0).all()
        # Each cell is Binomial(N, p_c) marginally.
        for (g, o), c in np.ndenumerate(counts):
            if c:
                assert chi_square_p(draws[g, o], st.binom.pmf(np.arange(int(n) + 1), int(n), c / n)) > 1e-3
    # Fewer votes than the slack: everything comes from the one-by-one fill.
    tiny = np.array([[2.0, 1.0, 0.0]])
    draws = sampling.resample_counts(tiny, sampling.draw_keys(4, 20_000), "poisson")
    assert (draws.sum((0, 1)) == 3).all()
    assert chi_square_p(draws[0, 0], st.binom.pmf(np.arange(4), 3, 2 / 3)) > 1e-3


def test_thinning_of_overshooting_resamples_keeps_the_multinomial_law(monkeypatch: pytest.MonkeyPatch) -> None:
    # A negative slack puts the Poisson means above N, so nearly every resample overshoots and is thinned vote by
    # vote: the thinned resamples must still be Multinomial(N, p), cell by cell and in their covariances.
    monkeypatch.setattr(sampling._PoissonTables, "SLACK_SD", -3.0)
    counts = np.array([[40.0, 9.0, 1.0], [0.0, 3.0, 120.0], [7.0, 1.0, 0.0]])
    n, p = counts.sum(), counts.reshape(-1) / counts.sum()
    r = sampling.Resampler(counts, "poisson")
    draws = r(sampling.draw_keys(11, 30_000)).reshape(-1, 30_000)
    assert (draws.sum(0) == n).all() and (draws[p == 0] == 0).all()
    for c in np.flatnonzero(p):
        assert chi_square_p(draws[c], st.binom.pmf(np.arange(int(n) + 1), int(n), p[c])) > 1e-3
    keep = np.flatnonzero(p)
    want = n * (np.diag(p[keep]) - np.outer(p[keep], p[keep]))
    assert np.abs(np.cov(draws[keep]) - want).max() < 0.1 * np.abs(want).max()


def test_poisson_and_binomial_methods_agree_in_law():
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 400, size=(40, 3)).astype(float)
    a = sampling.resample_counts(counts, sampling.draw_keys(5, 4000), "poisson").reshape(-1, 4000)
    b = sampling.resample_counts(counts, sampling.draw_keys(6, 4000), "binomial").reshape(-1, 4000)
    n, p = counts.sum(), counts.reshape(-1) / counts.sum()
    sd = np.sqrt(n * p * (1 - p))
    assert np.abs(a.mean(1) - b.mean(1)).max() < 5 * np.sqrt(2 / 4000) * sd.max()
    keep = p > 0
    ratio = a.var(1)[keep] / b.var(1)[keep]
    assert abs(np.median(ratio) - 1) < 0.03
    # Cell covariances are -N p_i p_j for both.
    ca, cb = np.cov(a[keep][:6]), np.cov(b[keep][:6])
    want = n * (np.diag(p[keep][:6]) - np.outer(p[keep][:6], p[keep][:6]))
    assert np.abs(ca - want).max() < 0.15 * np.abs(want).max()
    assert np.abs(cb - want).max() < 0.15 * np.abs(want).max()


def test_resamples_depend_only_on_their_key_and_reuse_buffers():
    counts = np.array([[300.0, 100.0, 50.0], [20.0, 200.0, 10.0]])
    r = sampling.Resampler(counts)
    keys = sampling.draw_keys(9, 64)
    full = r(keys)
    np.testing.assert_array_equal(full[..., 10:20], r(keys[10:20]))
    buf = r(keys[:16])
    again = r(keys[16:32], out=buf)
    assert again is buf
    np.testing.assert_array_equal(again, full[..., 16:32])


def test_large_totals_switch_to_float64():
    counts = np.array([[2.0**24, 5.0e6, 1.0e6], [3.0e6, 4.0e6, 0.0]])
    draws = sampling.resample_counts(counts, sampling.draw_keys(2, 20))
    assert draws.dtype == np.float64
    assert (draws.sum((0, 1)) == counts.sum()).all()
    small = sampling.resample_counts(np.round(counts / 1000), sampling.draw_keys(2, 3))
    assert small.dtype == np.float32


def test_resampler_rejects_bad_shapes_and_methods():
    with pytest.raises(ValueError, match="groups, 3"):
        sampling.Resampler(np.ones((4, 2)))
    with pytest.raises(ValueError, match="method"):
        sampling.Resampler(np.ones((4, 3)), method="normal")
    with pytest.raises(ValueError, match=r"non-negative integers; 1 are not, e.g. 2.5 at group 1, column 2"):
        sampling.Resampler(np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 2.5]]))


@pytest.mark.parametrize("n", [1_000.0, 1_000_000.0, 16_000_000.0])
def test_poisson_tables_are_accurate_to_1e_11_against_mpmath(n):
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 40
    tables = sampling._PoissonTables(np.array([n]))
    rate, lo, width = tables.lam[0], tables.lo[0], tables.offsets[1]
    for idx in [0, width // 4, width // 2, 3 * width // 4, width - 1]:
        exact = mpmath.gammainc(lo + idx + 1, rate, mpmath.inf, regularized=True)  # P(X <= k)
        assert abs(tables.cdf[idx] - float(exact)) < 1e-11
