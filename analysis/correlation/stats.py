"""Statistics kernels: correlations of many rows at once, weighted (resampled) correlations, and intervals.

Every kernel takes plain arrays. Row kernels compute one statistic per row of (B, K) arrays, so B resamples cost
one vectorised call. Weighted kernels compute the statistic of the sample in which observation j appears w[b, j]
times, without expanding it. scipy and statsmodels do the rest (ranks, the normal quantile, Wilson).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import scipy.stats

__all__ = [
    "EXACT_PERMUTATIONS",
    "KENDALL_MATRIX_MAX",
    "accuracy_rows",
    "corr_rows",
    "fisher_interval",
    "kendall_rows",
    "pearson_rows",
    "percentile_interval",
    "permutation_p",
    "rank_rows",
    "weighted_corr",
    "weighted_kendall",
    "weighted_midranks",
    "weighted_pearson",
    "wilson_interval",
]

EXACT_PERMUTATIONS = 8  # up to 8! = 40,320 orderings the permutation p-value is exact
KENDALL_MATRIX_MAX = 5000  # beyond this many videos, N x N sign matrices cost too much memory


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row pair; NaN where either row is constant or has a NaN."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((xc * xc).sum(-1) * (yc * yc).sum(-1))
    num = (xc * yc).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    # Rounding leaves |r| a hair above 1 for perfectly related rows; a constant row gives 0/0.
    r = np.where(den > 1e-12 * np.maximum(1.0, np.abs(num)), np.clip(r, -1.0, 1.0), np.nan)
    return r


def rank_rows(x: np.ndarray) -> np.ndarray:
    """Mid-ranks within each row (tied values share their mean rank, Spearman's tie rule); NaN rows stay NaN."""
    return scipy.stats.rankdata(x, axis=-1, nan_policy="propagate")


def _signs(x: np.ndarray) -> np.ndarray:
    """Sign of every within-row difference x_i - x_j over the upper triangle i < j: (B, K(K-1)/2)."""
    i, j = np.triu_indices(x.shape[-1], k=1)
    return np.sign(x[..., i] - x[..., j])


def kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall tau-b of each row pair (ties in either row shrink the denominator)."""
    sx, sy = _signs(x), _signs(y)
    den = np.sqrt((sx * sx).sum(-1) * (sy * sy).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (sx * sy).sum(-1) / den
    return np.where(den > 0, tau, np.nan)


def accuracy_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairwise accuracy: share of pairs ordered alike; a pair tied on either side counts half."""
    prod = _signs(x) * _signs(y)
    score = np.where(prod > 0, 1.0, np.where(prod < 0, 0.0, 0.5))
    out = score.mean(-1) if score.shape[-1] else np.full(score.shape[:-1], np.nan)
    bad = np.isnan(x).any(-1) | np.isnan(y).any(-1)
    return np.where(bad, np.nan, out)


def corr_rows(x: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """Correlation (or pairwise accuracy, ``method="accuracy"``) between matching rows of x and y.

    Shapes (B, K), broadcastable; returns (B,).
    """
    x, y = np.broadcast_arrays(np.atleast_2d(x), np.atleast_2d(y))
    if method == "pearson":
        return pearson_rows(x, y)
    if method == "spearman":
        return pearson_rows(rank_rows(x), rank_rows(y))
    # Kendall and accuracy build (B, K(K-1)/2) sign arrays: chunk B so memory stays bounded for large K.
    func = kendall_rows if method == "kendall" else accuracy_rows
    n_pairs = max(x.shape[-1] * (x.shape[-1] - 1) // 2, 1)
    step = max(1, 4_000_000 // n_pairs)
    return np.concatenate([func(x[s:s + step], y[s:s + step]) for s in range(0, len(x), step)])


def weighted_midranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mid-ranks of x in the sample where observation j appears w[b, j] times, for every row b of w.

    The rank of a value is (weight strictly below) + (weight of its tie group + 1) / 2: exactly the
    mid-rank it has in the expanded resample, so Spearman under weights is the weighted Pearson of these.
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    group = np.cumsum(np.r_[True, xs[1:] != xs[:-1]]) - 1
    tot = np.add.reduceat(w[:, order], starts, axis=1)  # (B, G) weight per tie group
    below = np.cumsum(tot, axis=1) - tot
    ranks_sorted = (below + (tot + 1.0) / 2.0)[:, group]
    out = np.empty_like(ranks_sorted)
    out[:, order] = ranks_sorted
    return out


def weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson correlation under observation weights w (B, N); x, y are (N,) or (B, N)."""
    sw = w.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (w * x).sum(-1, keepdims=True) / sw
        my = (w * y).sum(-1, keepdims=True) / sw
        xc, yc = x - mx, y - my
        sxy = (w * xc * yc).sum(-1)
        den = np.sqrt((w * xc * xc).sum(-1) * (w * yc * yc).sum(-1))
        r = sxy / den
    return np.where(den > 1e-12 * np.maximum(1.0, np.abs(sxy)), np.clip(r, -1.0, 1.0), np.nan)


def weighted_kendall(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Kendall tau-b of the expanded resample for each row of weights w (B, N), without expanding it.

    Over pairs of expanded observations, concordance sums to w' (Sx * Sy) w / 2 with Sx the N x N matrix of
    sign(x_i - x_j) (copies of one observation are tied, sign 0), and the untied pair counts to w' |Sx| w / 2:
    three matrix products per batch of resamples instead of B sorts.
    """
    # Signs are exact in float32; resample batches use it to halve memory and time, the point estimate float64.
    dtype = np.float64 if len(w) == 1 else np.float32
    sx = np.sign(x[:, None] - x[None, :]).astype(dtype)
    sy = np.sign(y[:, None] - y[None, :]).astype(dtype)
    wd = w.astype(dtype)
    num = ((wd @ (sx * sy)) * wd).sum(-1, dtype=np.float64)
    tx = ((wd @ np.abs(sx)) * wd).sum(-1, dtype=np.float64)
    ty = ((wd @ np.abs(sy)) * wd).sum(-1, dtype=np.float64)
    den = np.sqrt(tx * ty)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.clip(num / den, -1.0, 1.0), np.nan)


def weighted_corr(x: np.ndarray, y: np.ndarray, w: np.ndarray, method: str) -> np.ndarray:
    """Correlation of paired observations (N,) under each row of weights w (B, N): one value per row."""
    if method == "pearson":
        return weighted_pearson(x, y, w)
    if method == "spearman":
        return weighted_pearson(weighted_midranks(x, w), weighted_midranks(y, w), w)
    if len(x) <= KENDALL_MATRIX_MAX:
        return weighted_kendall(x, y, w)
    # Too many videos for the N x N sign matrices: expand each resample (O(N log N) per row in scipy).
    out = np.full(len(w), np.nan)
    for b, row in enumerate(w):
        idx = np.repeat(np.arange(len(x)), row.astype(np.int64))
        if len(idx) > 1:
            out[b] = scipy.stats.kendalltau(x[idx], y[idx]).statistic
    return out


def permutation_p(x: np.ndarray, y: np.ndarray, method: str, rng: np.random.Generator) -> float:
    """Two-sided permutation p-value for no association between x and y across models.

    Exact (all n! orderings) for n <= 8, else 9,999 random orderings with the usual +1 correction. A
    permutation is as extreme as the data when its statistic is at least as far from the null centre (0, or
    0.5 for pairwise accuracy).
    """
    n = len(x)
    if n < 3:
        return float("nan")
    if n <= EXACT_PERMUTATIONS:
        perms = np.array(list(itertools.permutations(range(n))))
    else:
        perms = rng.permuted(np.tile(np.arange(n), (9_999, 1)), axis=1)
    obs = corr_rows(x, y, method)[0]
    stats = corr_rows(np.broadcast_to(x, perms.shape), y[perms], method)
    centre = 0.5 if method == "accuracy" else 0.0
    if np.isnan(obs):
        return float("nan")
    extreme = np.abs(stats - centre) >= abs(obs - centre) - 1e-12
    if n <= EXACT_PERMUTATIONS:
        return float(extreme.mean())
    return float((1 + extreme.sum()) / (1 + len(perms)))


def fisher_interval(r: float, n: int, method: str, level: float = 0.95) -> tuple[float, float]:
    """Normal interval on the Fisher z scale; treats the n units (models, videos) as a random sample.

    Standard errors on the z scale: 1 / sqrt(n - 3) for Pearson, sqrt((1 + r^2 / 2) / (n - 3)) for Spearman
    (Bonett and Wright 2000), sqrt(0.437 / (n - 4)) for Kendall's tau (Fieller, Hartley and Pearson 1957).
    Pairwise accuracy maps Kendall's interval (without ties, accuracy = (1 + tau) / 2). NaN when n is too small
    (Kendall n < 5, others n < 4) or |r| > 0.9999 (|r| = 1 sits at infinity on the z scale).
    """
    z = scipy.stats.norm.ppf(0.5 + level / 2)
    if method == "accuracy":
        lo, hi = fisher_interval(2 * r - 1, n, "kendall", level)
        return (1 + lo) / 2, (1 + hi) / 2
    min_n = 5 if method == "kendall" else 4
    if not np.isfinite(r) or n < min_n or abs(r) > 0.9999:
        return float("nan"), float("nan")
    if method == "kendall":
        se = math.sqrt(0.437 / (n - 4))
    elif method == "spearman":
        se = math.sqrt((1 + r * r / 2) / (n - 3))
    else:
        se = 1.0 / math.sqrt(n - 3)
    zr = math.atanh(min(max(r, -0.999999), 0.999999))
    return math.tanh(zr - z * se), math.tanh(zr + z * se)


def wilson_interval(successes: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion (statsmodels' ``proportion_confint``).

    ``successes`` may be fractional (a tie counted as half an agreement), which scipy's ``binomtest`` refuses.
    """
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(successes, n, alpha=1 - level, method="wilson")
    return float(lo), float(hi)


def percentile_interval(draws: np.ndarray, level: float) -> tuple[float, float, int]:
    """Percentile interval of the finite draws and how many draws were undefined."""
    ok = draws[np.isfinite(draws)]
    if len(ok) < 2:
        return float("nan"), float("nan"), int(len(draws) - len(ok))
    alpha = (1 - level) / 2
    lo, hi = np.quantile(ok, [alpha, 1 - alpha])
    return float(lo), float(hi), int(len(draws) - len(ok))
