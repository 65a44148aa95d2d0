"""Bradley-Terry with per-battle covariates: exact Newton, sandwich covariance and batched bootstrap refits.

Model. For a battle with model a shown first and covariate vector x (already transformed, e.g. the standardised
difference of the two videos' durations), the linear predictor is

    d = theta_a - theta_b + gamma + x . beta

(gamma, the first-shown advantage, only with ``position=True``), and the outcome follows one of the tie rules of
:mod:`analysis.bt.core` with exactly its parametrisation (``half``, ``drop``, ``rao-kupper`` with tau = log eta,
``davidson`` with tau = log nu). theta and beta are on the natural log-odds scale: one unit of x moves the
log-odds of "a preferred" by beta, i.e. by ``400 / ln(10) * beta`` Elo points on the usual scale.

Why this shape. The log-likelihood depends on the battles only through, for each distinct (model_a, model_b,
x, cluster, weight) cell, how many battles ended in each outcome. When covariates take few values (resolution,
frame rate, audio) millions of battles collapse to a few thousand cells and every step costs O(cells); with
continuous per-battle covariates each battle is its own cell. Either way Newton's method with the analytic
Hessian converges in a handful of steps to a gradient norm <= 1e-10; the gradient and the Hessian are gathered
in one compiled pass over the cells (numba), so a step on 1M battles costs a few tens of milliseconds.

Intervals.

- Sandwich ``H^-1 J H^-1``: J sums squared per-vote scores (robust to a misspecified tie rule or link), or the
  outer products of per-cluster score sums (cluster-robust: voters, prompts), as :func:`analysis.intervals.covariance`
  does for the plain model.
- Bootstrap: the Poisson bootstrap (each battle, or each cluster, enters a resample Poisson(1) times; Hanley and
  MacGibbon 2006, Chamandy et al. 2012). Independent weights per battle make a cell with n battles draw
  Poisson(n), so the aggregated and the per-battle representations resample the same law, and resample r
  depends only on the seed and r (keyed counter-based streams), never on block sizes or threads. Its law is
  asymptotically that of the multinomial vote bootstrap. Refits are ``"exact"``: chord Newton iterations
  with the full-data Hessian on all resamples at once, each to its own maximum (step <= 1e-9), stragglers
  refitted by full Newton; or ``"one-step"``: the first of those iterations, ``theta* = theta + H^-1 g*`` with
  g* the resample's score at the full-data fit (the score bootstrap; Kline and Santos 2012). One step costs one
  pass over the cells per resample and is within O(1/N) of the exact refit (measured in
  ``benchmarks/covariates.py``); ``"auto"`` refits exactly while resamples x cells <= 3e7.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.linalg
from scipy.special import expit, log_expit

from ..accel import get_num_threads, njit, prange, splitmix64
from .core import (
    TIE_RULES,
    FitError,
    PairTable,
    cell_derivatives,
    centred_covariance,
    check_identifiable,
    fit_bt,
    single_threaded_blas,
)

EXACT_BUDGET = 3e7  # resamples x cells refitted exactly by refit="auto" (~2-3 s); beyond, one-step


class CovariateError(ValueError):
    """Bad covariates: missing or non-numeric values, a constant column, collinearity, unmatched video ids."""


# ---------------------------------------------------------------------------------------------- the cells


@dataclass(frozen=True)
class CovariateTable:
    """Battles reduced to cells: one row per distinct (model_a, model_b, x, cluster, weight).

    Attributes
    ----------
    models : pandas.Index of model names (position k is model code k).
    features : the covariate names, in the column order of ``x``.
    i, j : int64 arrays (G,), the model shown first and second.
    counts : float64 (G, 3): wins of i, wins of j, ties (both-bad votes are ties unless dropped).
    x : float64 (G, P), C-contiguous: the covariates of each cell, oriented as a minus b.
    weight : float64 (G,), multiplies each cell's log-likelihood (1 unless reweighted).
    cluster : int64 (G,) cluster code of each cell, or None.
    n_battles : battles read; ``aggregated`` is True when cells are fewer than battles.
    """

    models: pd.Index
    features: tuple[str, ...]
    i: np.ndarray
    j: np.ndarray
    counts: np.ndarray
    x: np.ndarray
    weight: np.ndarray
    cluster: np.ndarray | None = field(default=None, repr=False)
    n_clusters: int = 0
    n_battles: int = 0
    aggregated: bool = False

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_features(self) -> int:
        return self.x.shape[1]

    @property
    def n_cells(self) -> int:
        return len(self.i)

    def with_counts(self, counts: np.ndarray) -> CovariateTable:
        return replace(self, counts=counts)

    def pair_table(self) -> PairTable:
        """The covariate-free pair table of the same battles (for the model-only board and warm starts)."""
        k = self.n_models
        key = self.i * k + self.j
        if k * k <= 4 * max(len(key), 1):  # bincount over all ordered pairs: O(cells), no sort
            present = np.bincount(key, minlength=k * k) > 0
            uniq = np.flatnonzero(present)
            group = np.cumsum(present)[key] - 1
        else:
            uniq, group = np.unique(key, return_inverse=True)
        counts = np.zeros((len(uniq), 3))
        for c in range(3):
            counts[:, c] = np.bincount(group, self.counts[:, c] * self.weight, len(uniq))
        return PairTable(models=self.models, i=(uniq // k).astype(np.int64), j=(uniq % k).astype(np.int64),
                         counts=counts, ordered=True, weight=np.ones(len(uniq)),
                         cell_group=np.zeros(0, np.int64), cell_outcome=np.zeros(0, np.int64))


def covariate_table(
    model_a: np.ndarray,
    model_b: np.ndarray,
    outcome: np.ndarray,
    x: np.ndarray,
    *,
    models: pd.Index | None = None,
    features: list[str] | tuple[str, ...] | None = None,
    weight: np.ndarray | None = None,
    cluster: np.ndarray | None = None,
    bothbad: str = "tie",
    aggregate: str | bool = "auto",
) -> CovariateTable:
    """Reduce battles with covariates to cells.

    Parameters
    ----------
    model_a, model_b
        Integer model codes (N,) of the model shown first and second (index into ``models``).
    outcome
        (N,) codes: 0 model_a won, 1 model_b won, 2 tie, 3 both bad.
    x
        (N, P) covariates, oriented as a minus b, finite.
    models, features
        Names of the model codes and of the covariate columns.
    weight
        (N,) non-negative battle weights (e.g. inverse pair frequencies), multiplying each log-likelihood term.
    cluster
        (N,) cluster labels (voters, prompts) for cluster-robust intervals and the cluster bootstrap.
    bothbad
        ``"tie"`` (a both-bad vote is a tie) or ``"drop"``.
    aggregate
        ``"auto"``: merge battles with equal (pair, x, cluster, weight) when that leaves fewer cells (checked
        cheaply first: a covariate with more than N/2 distinct values rules it out); True / False force it.
    """
    a = np.asarray(model_a, dtype=np.int64)
    b = np.asarray(model_b, dtype=np.int64)
    o = np.asarray(outcome, dtype=np.int64)
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float64).reshape(len(a), -1))
    n, p = x.shape
    if not (len(b) == len(o) == n):
        raise ValueError(f"model_a, model_b, outcome and x must have the same length, got {len(a)}, {len(b)}, "
                         f"{len(o)}, {n}")
    if bothbad not in ("tie", "drop"):
        raise ValueError(f"bothbad must be 'tie' or 'drop', not {bothbad!r}")
    k = int(max(a.max(initial=-1), b.max(initial=-1)) + 1) if models is None else len(models)
    models = pd.Index([f"m{c}" for c in range(k)] if models is None else models, name="model")
    features = tuple(features) if features is not None else tuple(f"x{c}" for c in range(p))
    if len(features) != p:
        raise ValueError(f"{len(features)} feature names for {p} covariate columns")
    bad = ~np.isfinite(x)
    if bad.any():
        col = int(np.flatnonzero(bad.any(0))[0])
        raise CovariateError(f"covariate {features[col]!r} has {int(bad[:, col].sum())} missing or non-finite "
                             f"value(s) of {n} battles")
    keep = o <= 2 if bothbad == "drop" else np.ones(n, dtype=bool)
    col = np.minimum(o, 2)
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    if weight is not None and (not np.isfinite(w).all() or (w < 0).any()):
        raise ValueError(f"weight must be finite and >= 0; {int((~np.isfinite(w) | (w < 0)).sum())} are not")
    clus = None
    n_clusters = 0
    if cluster is not None:
        clus, uniq = pd.factorize(np.asarray(cluster), use_na_sentinel=True)
        if (clus < 0).any():
            raise CovariateError(f"cluster has {int((clus < 0).sum())} missing value(s) of {n} battles")
        clus = clus.astype(np.int64)
        n_clusters = len(uniq)
    if not keep.all():
        a, b, col, x, w = a[keep], b[keep], col[keep], x[keep], w[keep]
        clus = None if clus is None else clus[keep]
        n = len(a)

    group = None
    if aggregate is True or (aggregate == "auto" and n > 0):
        group = _cell_groups(a, b, x, clus, w, k, force=aggregate is True)
    if group is None:  # one cell per battle
        counts = np.zeros((n, 3))
        counts[np.arange(n), col] = 1.0
        return CovariateTable(models=models, features=features, i=a, j=b, counts=counts, x=x, weight=w,
                              cluster=clus, n_clusters=n_clusters, n_battles=int(keep.size), aggregated=False)
    g, first = group
    n_cells = len(first)
    counts = np.bincount(g * 3 + col, minlength=3 * n_cells).reshape(n_cells, 3).astype(np.float64)
    return CovariateTable(models=models, features=features, i=a[first], j=b[first], counts=counts,
                          x=np.ascontiguousarray(x[first]), weight=w[first],
                          cluster=None if clus is None else clus[first], n_clusters=n_clusters,
                          n_battles=int(keep.size), aggregated=True)


def _cell_groups(a, b, x, clus, w, k, force=False):
    """Cell code of each battle and the first battle of each cell, or None when merging would not pay."""
    n = len(a)
    columns = [x[:, c] for c in range(x.shape[1])] + [w]
    if not force and n > 40_000:
        # A covariate with more than 20,000 distinct values in the first 40,000 battles is continuous: merging
        # could not leave fewer cells than about one per battle, so skip the full factorisation.
        for values in columns[:-1]:
            if len(pd.unique(values[:40_000])) > 20_000:
                return None
    codes = []
    for values in columns:
        c, uniq = pd.factorize(values)
        if not force and len(uniq) > n // 2:
            return None  # a continuous covariate: (almost) every battle is its own cell
        codes.append((c.astype(np.int64), len(uniq)))
    if clus is not None:
        codes.append((clus, int(clus.max()) + 1 if n else 0))
    key = a * k + b
    key, _ = pd.factorize(key)
    key = key.astype(np.int64)
    card = int(key.max()) + 1 if n else 0
    for c, m in codes:
        key, uniq = pd.factorize(key * m + c)  # < card * m <= n^2: no overflow below 3e9 battles
        key = key.astype(np.int64)
        card = len(uniq)
    if not force and card > 0.8 * n:
        return None
    first = np.full(card, n, dtype=np.int64)
    np.minimum.at(first, key, np.arange(n))
    return key, first


# ---------------------------------------------------------------------------------------------- kernels


@njit(cache=True)
def _gather_chunk(i, j, x, l_d, l_t, a_dd, a_dt, a_tt, k, position, use_tau, want_hess, lo, hi, gr, h):
    """Serial part of :func:`_gather` over cells lo..hi into private accumulators (numba compiles a plain loop
    inside a called function far better than the same loop inlined in a prange body)."""
    p_x = x.shape[1]
    off_b = k + position + use_tau
    t_idx = k + position
    m = 2 + position + p_x
    idx = np.empty(m, np.int64)
    val = np.empty(m)
    for r in range(lo, hi):
        idx[0] = i[r]
        val[0] = 1.0
        idx[1] = j[r]
        val[1] = -1.0
        q = 2
        if position:
            idx[q] = k
            val[q] = 1.0
            q += 1
        for f in range(p_x):
            idx[q] = off_b + f
            val[q] = x[r, f]
            q += 1
        ld = l_d[r]
        for u in range(m):
            gr[idx[u]] += ld * val[u]
        if use_tau:
            gr[t_idx] += l_t[r]
        if want_hess:
            a = a_dd[r]
            for u in range(m):
                au = a * val[u]
                iu = idx[u]
                for v in range(u, m):
                    h[iu, idx[v]] += au * val[v]
            if use_tau:
                e = a_dt[r]
                for u in range(m):
                    h[idx[u], t_idx] += e * val[u]
                h[t_idx, t_idx] += a_tt[r]


def _chunks(n_cells: int) -> int:
    """Chunks for :func:`_gather`. One: a serial pass costs ~10-25 ns per cell, and threads for a pass of a few
    tens of milliseconds lost more than they won on a shared 2-core machine (OpenMP workers waiting on a
    descheduled sibling: 5x slower under load)."""
    return 1


@njit(cache=True)
def _gather(i, j, x, l_d, l_t, a_dd, a_dt, a_tt, k, position, use_tau, want_hess, n_chunks):
    """Gradient and information over (theta, [gamma], [tau], beta) from per-cell derivatives, in one pass.

    The per-cell design vector z has +1 at theta_i, -1 at theta_j, 1 at gamma, x at beta; the gradient is
    sum l_d z (+ l_t at tau) and the information sum a_dd z z' + a_dt (z e_tau' + e_tau z') + a_tt e_tau e_tau'.
    Each chunk of cells accumulates its own copy (threads never share a row), summed at the end.
    """
    g_count = i.shape[0]
    p = k + position + use_tau + x.shape[1]
    grads = np.zeros((n_chunks, p))
    hp = p if want_hess else 1
    hess = np.zeros((n_chunks, hp, hp))
    step = (g_count + n_chunks - 1) // n_chunks
    for c in range(n_chunks):
        _gather_chunk(i, j, x, l_d, l_t, a_dd, a_dt, a_tt, k, position, use_tau, want_hess, c * step,
                      min(g_count, (c + 1) * step), grads[c], hess[c])
    grad = np.zeros(p)
    out = np.zeros((hp, hp))
    for c in range(n_chunks):
        grad += grads[c]
        out += hess[c]
    if want_hess:
        # Each contribution was written to one side of the diagonal (u <= v says nothing about idx order):
        # symmetrise by adding the transpose of the off-diagonal part.
        full = out + out.T
        for q in range(p):
            full[q, q] = out[q, q]
        out = full
    return grad, out


@njit(cache=True)
def _logistic_chunk(i, j, x, wa, wb, t, theta, beta, gamma, half, want_hess, want_ll, lo, hi, gt, gx, hpair, hc,
                    hbb, tot):
    """Cells lo..hi of the logistic tie rules (``half``, ``drop``): the log-likelihood, its gradient and the
    information, accumulated in blocks that need no index indirection.

    Per cell d = theta_i - theta_j + gamma + x . beta, y = wins of i (+ half the ties), m = votes, p = sigmoid(d),
    ll = y d - m log(1 + e^d), score l = y - m p, curvature a = m p (1 - p). Accumulates: gt (theta gradient),
    gx (beta gradient), hpair[i, j] += a (the theta block is its Laplacian), hc (theta x beta), hbb (beta x beta,
    upper triangle), tot = [ll, sum l (gamma gradient), sum a, sum a x_f ...].
    """
    p_x = x.shape[1]
    ll = 0.0
    lsum = 0.0
    asum = 0.0
    for r in range(lo, hi):
        ii = i[r]
        jj = j[r]
        d = theta[ii] - theta[jj] + gamma
        for f in range(p_x):
            d += x[r, f] * beta[f]
        if half:
            y = wa[r] + 0.5 * t[r]
            m = wa[r] + wb[r] + t[r]
        else:
            y = wa[r]
            m = wa[r] + wb[r]
        if m == 0.0:
            continue
        e = math.exp(-abs(d))
        prob = 1.0 / (1.0 + e) if d >= 0 else e / (1.0 + e)
        if want_ll:
            ll += y * d - m * (max(d, 0.0) + math.log1p(e))
        ld = y - m * prob
        gt[ii] += ld
        gt[jj] -= ld
        lsum += ld
        for f in range(p_x):
            gx[f] += ld * x[r, f]
        if want_hess:
            a = m * prob * (1.0 - prob)
            hpair[ii, jj] += a
            asum += a
            for f in range(p_x):
                ax = a * x[r, f]
                hc[ii, f] += ax
                hc[jj, f] -= ax
                tot[3 + f] += ax
                for g in range(f, p_x):
                    hbb[f, g] += ax * x[r, g]
    tot[0] += ll
    tot[1] += lsum
    tot[2] += asum


@njit(cache=True)
def _logistic_pass(i, j, x, wa, wb, t, theta, beta, gamma, k, position, half, want_hess, want_ll, gr, h, n_chunks):
    """:func:`_logistic_chunk` over ``n_chunks`` contiguous chunks (private accumulators summed in a fixed order),
    assembled into the gradient ``gr`` and the information ``h`` over (theta, [gamma], beta). Returns the
    log-likelihood (0 unless ``want_ll``). Serial: a parallel region's start-up cost more than the pass on small
    boards, and a second thread did not pay on the shared 2-core machine (see ``_Problem.threads``)."""
    g_count = i.shape[0]
    p_x = x.shape[1]
    gts = np.zeros((n_chunks, k))
    gxs = np.zeros((n_chunks, p_x))
    hps = np.zeros((n_chunks, k, k))
    hcs = np.zeros((n_chunks, k, p_x))
    hbs = np.zeros((n_chunks, p_x, p_x))
    tots = np.zeros((n_chunks, 3 + p_x))
    step = (g_count + n_chunks - 1) // n_chunks
    for c in range(n_chunks):
        _logistic_chunk(i, j, x, wa, wb, t, theta, beta, gamma, half, want_hess, want_ll, c * step,
                        min(g_count, (c + 1) * step), gts[c], gxs[c], hps[c], hcs[c], hbs[c], tots[c])
    gt = gts[0].copy()
    gx = gxs[0].copy()
    hp = hps[0].copy()
    hcb = hcs[0].copy()
    hb = hbs[0].copy()
    tot = tots[0].copy()
    for c in range(1, n_chunks):
        gt += gts[c]
        gx += gxs[c]
        hp += hps[c]
        hcb += hcs[c]
        hb += hbs[c]
        tot += tots[c]
    off = k + position
    gr[:k] += gt
    gr[off:] += gx
    if position:
        gr[k] += tot[1]
    if want_hess:
        # theta block: the Laplacian of the pair curvatures; gamma enters every cell with +1.
        for u in range(k):
            for v in range(k):
                if u != v:
                    h[u, v] -= hp[u, v] + hp[v, u]
                    h[u, u] += hp[u, v] + hp[v, u]
        for u in range(k):
            for f in range(p_x):
                h[u, off + f] += hcb[u, f]
                h[off + f, u] += hcb[u, f]
        for f in range(p_x):
            for g in range(f, p_x):
                h[off + f, off + g] += hb[f, g]
                if g != f:
                    h[off + g, off + f] += hb[f, g]
        if position:
            h[k, k] += tot[2]
            for u in range(k):
                cross = 0.0
                for v in range(k):
                    cross += hp[u, v] - hp[v, u]
                h[u, k] += cross
                h[k, u] += cross
            for f in range(p_x):
                h[k, off + f] += tot[3 + f]
                h[off + f, k] += tot[3 + f]
    return tot[0]


# ceil(F(k) * 2^53) for the Poisson(1) CDF F: compared with the top 53 bits of a random word (see _poisson1).
_POISSON1_CDF = np.ceil(np.cumsum([math.exp(-1.0) / math.factorial(n) for n in range(19)]) * 2.0**53).astype(
    np.uint64)


@njit(cache=True, inline="always")
def _unit(z):
    return float(z >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _poisson1(z53, cdf1):
    """Poisson(1) by inversion of a 53-bit uniform integer ``z53`` (u = z53 / 2^53): ``cdf1`` holds
    ceil(F(k) 2^53), so ``z53 >= cdf1[k]`` is exactly ``u >= F(k)``. Eight branch-free comparisons; a loop only
    past 8 (probability 1e-5)."""
    kk = ((z53 >= cdf1[0]) + (z53 >= cdf1[1]) + (z53 >= cdf1[2]) + (z53 >= cdf1[3]) + (z53 >= cdf1[4])
          + (z53 >= cdf1[5]) + (z53 >= cdf1[6]) + (z53 >= cdf1[7]))
    if kk == 8:
        while kk < 18 and z53 >= cdf1[kk]:
            kk += 1
    return kk


_RECIPROCALS = np.r_[0.0, 1.0 / np.arange(1, 256)]  # 1/k for k < 256 (k = 0 unused)


@njit(cache=True, inline="always")
def _poisson(lam, key, slot, cdf1):
    """Poisson(lam) for one (resample, cell, outcome) slot, by inversion on counter-based uniforms.

    The uniform number q of a slot is ``splitmix(key ^ splitmix(slot * 2^24 + q))``: it depends only on the
    resample's key and the slot. lam = 1 (one battle) uses one uniform against the tabulated Poisson(1) CDF;
    other means are split in pieces <= 20 (so exp never underflows), one uniform each.
    """
    base = slot << np.uint64(24)
    if lam == 1.0:
        return float(_poisson1(splitmix64(key ^ splitmix64(base)) >> np.uint64(11), cdf1))
    total = 0
    pieces = int(math.ceil(lam / 20.0)) if lam > 20.0 else 1
    mu = lam / pieces
    e = math.exp(-mu)
    for piece in range(pieces):
        u = _unit(splitmix64(key ^ splitmix64(base + np.uint64(piece))))
        kk = 0
        prob = e
        cdf = e
        while u >= cdf and prob > 1e-300:
            kk += 1
            # A multiply by a tabulated 1/k instead of a division: the loop is latency-bound.
            prob *= mu * _RECIPROCALS[kk] if kk < 256 else mu / kk
            cdf += prob
        total += kk
    return float(total)


@njit(cache=True)
def _poisson_one(counts, key, out, cdf1):
    for g in range(counts.shape[0]):
        for c in range(3):
            lam = counts[g, c]
            out[g, c] = _poisson(lam, key, np.uint64(3 * g + c), cdf1) if lam > 0 else 0.0


@njit(parallel=True, cache=True)
def _poisson_weights(counts, keys, out, cdf1):
    """out[b, g, c] ~ Poisson(counts[g, c]) for resample b, from the stream keyed by keys[b]."""
    for b in prange(keys.shape[0]):
        _poisson_one(counts, keys[b], out[b], cdf1)


@njit(cache=True)
def _score_block(counts, s_d, s_t, a_vote, orig, starts, x, keys, k, position, use_tau, i, j, acc, wsum, cdf1):
    """Resampled scores of a block of resamples, cells stored pair by pair (segments ``starts``); ``orig`` is
    each cell's index in the table, which fixes its random stream (so the order of visits changes nothing).

    Rows outer, resamples inner: each cell is read once for the block, and every inner loop runs over the
    block's resamples in contiguous memory (vectorised by LLVM), so the pass is bound by generating the
    Poisson draws. The theta part is summed per pair segment first and scattered to the two models once.
    A cell with one battle (the per-battle case) takes a branch-free path with its slot hash hoisted out.
    """
    p_x = x.shape[1]
    off_b = k + position + use_tau
    t_idx = k + position
    nb = keys.shape[0]
    sdv = np.zeros(nb)
    dv = np.zeros(nb)
    stv = np.zeros(nb)
    seg = np.zeros(nb)
    xb = np.zeros((p_x, nb))
    tb = np.zeros(nb)
    pb = np.zeros(nb)
    t0, t1, t2, t3, t4, t5, t6, t7 = cdf1[0], cdf1[1], cdf1[2], cdf1[3], cdf1[4], cdf1[5], cdf1[6], cdf1[7]
    for q in range(starts.shape[0] - 1):
        seg[:] = 0.0
        for g in range(starts[q], starts[q + 1]):
            slot = 3 * orig[g]
            single = -1
            if counts[g, 0] + counts[g, 1] + counts[g, 2] == 1.0 and not use_tau:
                for c in range(3):
                    if counts[g, c] == 1.0:
                        single = c
            if single >= 0:
                h = splitmix64(np.uint64(slot + single) << np.uint64(24))
                sdg = s_d[g, single]
                # Branch-free inversion on the first eight CDF values (vectorises); the rare draw >= 8
                # (probability 1e-5) is redone exactly below.
                tail = 0
                for b in range(nb):
                    z = splitmix64(keys[b] ^ h) >> np.uint64(11)
                    kk = ((z >= t0) + (z >= t1) + (z >= t2) + (z >= t3) + (z >= t4) + (z >= t5) + (z >= t6)
                          + (z >= t7))
                    tail += kk == 8
                    dv[b] = kk - 1.0
                    sdv[b] = (kk - 1.0) * sdg
                if tail:
                    for b in range(nb):
                        z = splitmix64(keys[b] ^ h) >> np.uint64(11)
                        dv[b] = float(_poisson1(z, cdf1)) - 1.0
                        sdv[b] = dv[b] * sdg
            else:
                for b in range(nb):
                    sd = 0.0
                    st = 0.0
                    dsum = 0.0
                    for c in range(3):
                        lam = counts[g, c]
                        if lam > 0:
                            delta = _poisson(lam, keys[b], np.uint64(slot + c), cdf1) - lam
                            sd += delta * s_d[g, c]
                            st += delta * s_t[g, c]
                            dsum += delta
                    sdv[b] = sd
                    dv[b] = dsum
                    stv[b] = st
                if use_tau:
                    for b in range(nb):
                        tb[b] += stv[b]
            ag = a_vote[g]
            for b in range(nb):
                seg[b] += sdv[b]
                wsum[b] += dv[b] * ag
            for f in range(p_x):
                xf = x[g, f]
                row = xb[f]
                for b in range(nb):
                    row[b] += sdv[b] * xf
        ig = i[starts[q]]
        jg = j[starts[q]]
        for b in range(nb):
            acc[b, ig] += seg[b]
            acc[b, jg] -= seg[b]
            pb[b] += seg[b]
    for b in range(nb):
        if position:
            acc[b, k] += pb[b]
        if use_tau:
            acc[b, t_idx] += tb[b]
        for f in range(p_x):
            acc[b, off_b + f] += xb[f, b]


@njit(parallel=True, cache=True)
def _score_sums(counts, s_d, s_t, a_vote, orig, starts, x, keys, k, position, use_tau, i, j, out, wsum, cdf1,
                n_blocks):
    """One-step bootstrap scores: out[b] = sum over cells and outcomes of (n* - n) * (per-vote score) * z.

    n* ~ Poisson(n) for the same (resample, cell, outcome) slot as :func:`_poisson_weights`, so resample b has
    the same weights here and there. ``wsum[b]`` gets sum (n* - n) * a_vote, the change in total curvature.
    Threads take disjoint blocks of resamples.
    """
    size = (keys.shape[0] + n_blocks - 1) // n_blocks
    for q in prange(n_blocks):
        lo = q * size
        hi = min(keys.shape[0], lo + size)
        if lo < hi:
            _score_block(counts, s_d, s_t, a_vote, orig, starts, x, keys[lo:hi], k, position, use_tau, i, j,
                         out[lo:hi], wsum[lo:hi], cdf1)


@njit(cache=True)
def _cluster_scores(cluster, n_clusters, l_d, l_t, i, j, x, k, position, use_tau):
    """Per-cluster score sums (C, p): the rows of the cluster-robust meat and of the cluster bootstrap."""
    p_x = x.shape[1]
    p = k + position + use_tau + p_x
    off_b = k + position + use_tau
    t_idx = k + position
    out = np.zeros((n_clusters, p))
    for r in range(cluster.shape[0]):
        row = out[cluster[r]]
        ld = l_d[r]
        row[i[r]] += ld
        row[j[r]] -= ld
        if position:
            row[k] += ld
        for f in range(p_x):
            row[off_b + f] += ld * x[r, f]
        if use_tau:
            row[t_idx] += l_t[r]
    return out


# ---------------------------------------------------------------------------------------------- likelihood


def _derivatives(d, tau, wa, wb, t, ties):
    """Per-cell ll and derivatives in (d, tau); the logistic rules take a shorter exact path (one log_expit)."""
    if ties in ("half", "drop"):
        y = wa + 0.5 * t if ties == "half" else wa
        m = wa + wb + t if ties == "half" else wa + wb
        p = expit(d)
        # y log p + (m - y) log(1 - p) = y d + m log(1 - p)
        ll = y * d + m * log_expit(-d)
        zero = np.zeros(1)
        return ll, y - m * p, zero, m * p * (1.0 - p), zero, zero
    ll, l_d, l_t, l_dd, l_dt, l_tt = cell_derivatives(d, tau, wa, wb, t, ties)
    return ll, l_d, l_t, -l_dd, -l_dt, -l_tt


@dataclass
class CovariateFit:
    """A fitted covariate Bradley-Terry model, natural log-odds scale, theta with mean zero.

    ``hessian`` is the observed information (minus the Hessian of the log-likelihood, priors included) over
    (theta, [gamma], [tau], beta), in that order.
    """

    table: CovariateTable
    theta: np.ndarray
    beta: np.ndarray
    ties: str
    position: bool
    prior: float
    coef_prior: float
    gamma: float = 0.0
    tau: float | None = None
    loglik: float = float("nan")
    iterations: int = 0
    grad_norm: float = float("nan")
    hessian: np.ndarray | None = field(default=None, repr=False)

    @property
    def models(self) -> pd.Index:
        return self.table.models

    @property
    def features(self) -> tuple[str, ...]:
        return self.table.features

    @property
    def n_params(self) -> int:
        return self.table.n_models + int(self.position) + int(self.tau is not None) + self.table.n_features

    @property
    def beta_index(self) -> np.ndarray:
        """Positions of beta in the parameter vector."""
        k = self.table.n_models + int(self.position) + int(self.tau is not None)
        return np.arange(k, k + self.table.n_features)


class _Problem:
    """The cells as contiguous arrays, the likelihood and its derivatives at one parameter point."""

    def __init__(self, table: CovariateTable, ties: str, position: bool, prior: float, coef_prior: float):
        if ties not in TIE_RULES:
            raise ValueError(f"ties must be one of {TIE_RULES}, not {ties!r}")
        self.table, self.ties, self.position = table, ties, position
        self.prior, self.coef_prior = float(prior), float(coef_prior)
        self.k, self.p_x = table.n_models, table.n_features
        self.use_tau = ties in ("rao-kupper", "davidson")
        self.p = self.k + int(position) + int(self.use_tau) + self.p_x
        self.off_b = self.p - self.p_x
        self.chunks = _chunks(table.n_cells)
        # One thread: a pass over 1M cells is ~50-70 ms on one core, and on this shared 2-core machine a second
        # OpenMP thread made passes slower, not faster (a descheduled sibling stalls the pass; the kit's solves run
        # single-threaded for the same reason). The bootstrap, long and coarse-grained, does use every thread.
        self.threads = 1
        self.set_counts(table.counts)

    def set_counts(self, counts: np.ndarray) -> None:
        w = self.table.weight
        self.wa = np.ascontiguousarray(counts[:, 0] * w)
        self.wb = np.ascontiguousarray(counts[:, 1] * w)
        self.t = np.ascontiguousarray(counts[:, 2] * w) if self.ties != "drop" else np.zeros(len(w))

    def unpack(self, vec: np.ndarray):
        k = self.k
        gamma = float(vec[k]) if self.position else 0.0
        tau = float(vec[k + int(self.position)]) if self.use_tau else 0.0
        return vec[:k], gamma, tau, vec[self.off_b:]

    def predictor(self, vec: np.ndarray) -> np.ndarray:
        theta, gamma, _, beta = self.unpack(vec)
        tab = self.table
        d = theta[tab.i] - theta[tab.j]
        if self.p_x:
            d += tab.x @ beta
        if self.position:
            d += gamma
        return d

    def evaluate(self, vec: np.ndarray, hessian: bool = True):
        """(loglik, gradient, information) at vec; priors included."""
        theta, gamma, tau, beta = self.unpack(vec)
        tab = self.table
        if not self.use_tau:
            grad = np.zeros(self.p)
            info = np.zeros((self.p, self.p) if hessian else (1, 1))
            total = _logistic_pass(tab.i, tab.j, tab.x, self.wa, self.wb, self.t, np.ascontiguousarray(theta),
                                   np.ascontiguousarray(beta), gamma, self.k, int(self.position),
                                   self.ties == "half", hessian, True, grad, info, self.threads)
        else:
            d = self.predictor(vec)
            ll, l_d, l_t, a_dd, a_dt, a_tt = _derivatives(d, tau, self.wa, self.wb, self.t, self.ties)
            total = float(ll.sum())
            grad, info = _gather(tab.i, tab.j, tab.x, np.ascontiguousarray(l_d), np.ascontiguousarray(l_t),
                                 np.ascontiguousarray(a_dd), np.ascontiguousarray(a_dt), np.ascontiguousarray(a_tt),
                                 self.k, int(self.position), int(self.use_tau), hessian, self.chunks)
        grad[: self.k] -= self.prior * theta
        grad[self.off_b:] -= self.coef_prior * beta
        total -= 0.5 * self.prior * float(theta @ theta) + 0.5 * self.coef_prior * float(beta @ beta)
        if hessian:
            info[np.arange(self.k), np.arange(self.k)] += self.prior
            info[np.arange(self.off_b, self.p), np.arange(self.off_b, self.p)] += self.coef_prior
        return total, grad, info if hessian else None

    def free(self) -> np.ndarray:
        """Coordinates solved for: all but the last model when no prior fixes the gauge."""
        idx = np.arange(self.p)
        return idx if self.prior > 0 else np.delete(idx, self.k - 1)


@single_threaded_blas
def fit_covariates(
    table: CovariateTable,
    *,
    ties: str = "half",
    position: bool = False,
    prior: float = 0.0,
    coef_prior: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 100,
    start: CovariateFit | None = None,
    check: bool = True,
) -> CovariateFit:
    """Maximum-likelihood covariate Bradley-Terry by Newton's method with the analytic Hessian.

    Parameters
    ----------
    table
        From :func:`covariate_table`.
    ties
        One of :data:`analysis.bt.TIE_RULES`, parametrised as in :func:`analysis.bt.fit_bt`.
    position
        Fit a first-shown advantage gamma (natural log-odds).
    prior, coef_prior
        Precision of N(0, 1/prior) priors on each theta and on each beta (summed log-likelihood units; 0 is plain
        maximum likelihood). arena-rank's ``ContextualBradleyTerry(reg=r)`` penalises the *mean* loss, which is
        ``coef_prior = r * n_rows``.
    tol
        Convergence when the gradient norm (log-likelihood units) is at most ``tol``.
    start
        A fit to start from (e.g. the full-data fit for a reweighted refit).

    Returns
    -------
    CovariateFit
        theta (mean zero), beta, gamma, tau, log-likelihood, iterations, gradient norm, information matrix.

    Raises
    ------
    FitError
        Disconnected comparison graph, infinite maximum, or no convergence.
    CovariateError
        A covariate is constant or collinear with the model indicators (or with the other covariates).
    """
    prob = _Problem(table, ties, position, prior, coef_prior)
    pair = table.pair_table() if (check or start is None) else None
    if check:
        check_identifiable(pair, prior, ties)
        _check_covariates(table)
    k = prob.k
    vec = np.zeros(prob.p)
    if start is not None:
        vec[:k] = start.theta
        vec[prob.off_b:] = start.beta
        if position:
            vec[k] = start.gamma
        if prob.use_tau and start.tau is not None:
            vec[k + int(position)] = start.tau
    else:
        try:  # the covariate-free fit is close, so Newton needs no damping from there
            base = fit_bt(pair, ties=ties, position=position, prior=prior, check=False)
            vec[:k] = base.theta
            if position:
                vec[k] = base.gamma
            if prob.use_tau:
                vec[k + int(position)] = base.tau
        except FitError:
            if prob.use_tau:
                vec[k + int(position)] = -1.0
    free = prob.free()
    ll, grad, info = prob.evaluate(vec)
    gnorm = float(np.linalg.norm(grad[free]))
    it = 0
    if check and table.n_features:
        _check_collinear(table, info, prob)
    while gnorm > tol:
        it += 1
        if it > max_iter:
            raise FitError(f"Newton did not converge in {max_iter} iterations (gradient norm {gnorm:.3g}); the data "
                           "may be (nearly) separable by the covariates: try coef_prior= or prior=")
        step = np.zeros(prob.p)
        step[free] = _solve(info[np.ix_(free, free)], grad[free])
        scale = 1.0
        for _ in range(40):
            cand = vec + scale * step
            ll_new, grad_new, info_new = prob.evaluate(cand)
            if ll_new >= ll - 1e-12 * abs(ll) or scale < 1e-9:
                break
            scale *= 0.5
        if np.max(np.abs(scale * step)) < 1e-15 and float(np.linalg.norm(grad_new[free])) >= gnorm:
            # Rounding floor: the summed gradient of millions of cells cannot go lower; say so.
            warnings.warn(f"Newton stopped at the rounding floor with gradient norm {gnorm:.2g} > tol {tol:.2g} "
                          "(steps below 1e-15); the fit is as exact as float64 sums allow", stacklevel=2)
            break
        vec, ll, grad, info = cand, ll_new, grad_new, info_new
        gnorm = float(np.linalg.norm(grad[free]))
    theta, gamma, tau, beta = prob.unpack(vec)
    theta = theta - theta.mean()
    return CovariateFit(table=table, theta=theta.copy(), beta=beta.copy(), ties=ties, position=position,
                        prior=float(prior), coef_prior=float(coef_prior), gamma=gamma if position else 0.0,
                        tau=tau if prob.use_tau else None, loglik=ll, iterations=it, grad_norm=gnorm, hessian=info)


def null_loglik(fit: CovariateFit) -> float:
    """Log-likelihood of the fit's battles with every model equal, no covariate and no position term (d = 0 in
    every battle): the baseline of McFadden's R^2. The tie parameter of the Rao-Kupper and Davidson rules is
    refitted (a one-dimensional maximum)."""
    from scipy.optimize import minimize_scalar

    tab = replace(fit.table, x=np.zeros((fit.table.n_cells, 0)), features=())
    prob = _Problem(tab, fit.ties, False, 0.0, 0.0)
    vec = np.zeros(prob.p)
    if not prob.use_tau:
        return float(prob.evaluate(vec, hessian=False)[0])

    def neg(t: float) -> float:
        vec[prob.k] = t
        return -prob.evaluate(vec, hessian=False)[0]

    res = minimize_scalar(neg, bracket=(fit.tau - 1.0, fit.tau + 1.0), tol=1e-12)
    return float(-res.fun)


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    try:
        return scipy.linalg.solve(a, b, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        return scipy.linalg.lstsq(a, b)[0]


def _check_covariates(table: CovariateTable) -> None:
    x = table.x
    n_b = table.counts.sum(1)
    used = x if bool(np.all(n_b > 0)) else x[n_b > 0]
    spread = used.max(0) - used.min(0) if used.shape[0] else np.zeros(x.shape[1])
    for c, name in enumerate(table.features):
        col = x[:, c]
        if col.size == 0 or spread[c] == 0:
            raise CovariateError(f"covariate {name!r} is constant ({col[0] if col.size else 'no value'}) over "
                                 f"all {int(n_b.sum()):,} battles, so its coefficient is not identified")


def _check_collinear(table: CovariateTable, info: np.ndarray, prob: _Problem) -> None:
    """A covariate that the model indicators (and the other covariates) explain exactly has no coefficient.

    Uses the information matrix at the start: its beta block minus what theta, gamma and tau explain (the Schur
    complement) is the weighted residual variance of each covariate; relative to the covariate's own
    information it is ~0 for a per-model constant (e.g. each model's fixed resolution: x_a - x_b is a
    difference of model effects) or for a copy of another covariate.
    """
    free = prob.free()
    bi = np.arange(prob.off_b, prob.p)
    rest = np.setdiff1d(free, bi)
    h_bb = info[np.ix_(bi, bi)]
    h_br = info[np.ix_(bi, rest)]
    h_rr = info[np.ix_(rest, rest)]
    try:
        schur = h_bb - h_br @ scipy.linalg.solve(h_rr, h_br.T, assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        return
    own = np.diag(h_bb)
    n = int(table.counts.sum())
    for c, name in enumerate(table.features):
        if own[c] <= 0 or schur[c, c] <= 1e-9 * own[c]:
            raise CovariateError(f"covariate {name!r} is collinear with the model indicators (a per-model constant "
                                 f"over its {n:,} battles: {schur[c, c] / max(own[c], 1e-300):.1e} of its variance "
                                 "is left once models are accounted for), so its coefficient is not identified")
    if len(bi) > 1:
        d = np.sqrt(np.clip(np.diag(schur), 1e-300, None))
        corr = schur / np.outer(d, d)
        w, v = np.linalg.eigh(corr)
        if w[0] < 1e-9:
            names = [table.features[c] for c in np.flatnonzero(np.abs(v[:, 0]) > 0.1)]
            raise CovariateError(f"covariates {names} are collinear with each other (given the models) over "
                                 f"{n:,} battles, so their coefficients are not identified; drop one")


# ---------------------------------------------------------------------------------------------- covariance


def _per_vote_scores(fit: CovariateFit):
    """Per-vote scores in (d, tau) for each cell and outcome (G, 3), weights included."""
    prob = _Problem(fit.table, fit.ties, fit.position, fit.prior, fit.coef_prior)
    d = prob.predictor(_param_vector(fit))
    w = fit.table.weight
    s_d, s_t = np.zeros((len(d), 3)), np.zeros((len(d), 3))
    if fit.ties in ("half", "drop"):
        # Logistic rules: a win of i scores 1 - p, a win of j -p, a tie 1/2 - p (half) or nothing (drop).
        p = expit(d)
        s_d[:, 0] = (1.0 - p) * w
        s_d[:, 1] = -p * w
        if fit.ties == "half":
            s_d[:, 2] = (0.5 - p) * w
        return s_d, s_t
    one, zero = np.ones_like(d), np.zeros_like(d)
    for c in range(3):
        unit = [zero, zero, zero]
        unit[c] = one
        _, l_d, l_t, *_ = cell_derivatives(d, fit.tau, *unit, fit.ties)
        s_d[:, c] = l_d * w
        s_t[:, c] = l_t * w
    return s_d, s_t


def _cell_curvature(fit: CovariateFit) -> np.ndarray:
    """Minus the second derivative of each cell's log-likelihood in its linear predictor d, at the fit."""
    prob = _Problem(fit.table, fit.ties, fit.position, fit.prior, fit.coef_prior)
    d = prob.predictor(_param_vector(fit))
    tau = 0.0 if fit.tau is None else fit.tau
    a_dd = _derivatives(d, tau, prob.wa, prob.wb, prob.t, fit.ties)[3]
    return np.broadcast_to(np.asarray(a_dd, float), d.shape).copy()


def _param_vector(fit: CovariateFit) -> np.ndarray:
    parts = [fit.theta]
    if fit.position:
        parts.append([fit.gamma])
    if fit.tau is not None:
        parts.append([fit.tau])
    parts.append(fit.beta)
    return np.concatenate([np.asarray(p, float) for p in parts])


def cluster_scores(fit: CovariateFit) -> np.ndarray:
    """(C, p) score of each cluster at the fit: the sum of its battles' scores over (theta, [gamma], [tau], beta)."""
    tab = fit.table
    if tab.cluster is None:
        raise ValueError("the table has no clusters: build it with cluster=")
    s_d, s_t = _per_vote_scores(fit)
    n = tab.counts
    l_d = (n * s_d).sum(1)
    l_t = (n * s_t).sum(1)
    return _cluster_scores(tab.cluster, tab.n_clusters, l_d, l_t, tab.i, tab.j, tab.x, tab.n_models,
                           int(fit.position), int(fit.tau is not None))


@single_threaded_blas
def covariance(fit: CovariateFit, kind: str = "sandwich", *, cluster: bool = False) -> np.ndarray:
    """Covariance of (theta, [gamma], [tau], beta), theta in the mean-zero gauge (natural log-odds units).

    kind ``"model"``: inverse observed information. ``"sandwich"``: ``H^-1 J H^-1`` with J summed over votes
    (squared per-vote scores), or over clusters (outer products of cluster score sums) when ``cluster=True``.
    """
    tab = fit.table
    k, p = tab.n_models, fit.n_params
    free = np.arange(p) if fit.prior > 0 else np.delete(np.arange(p), k - 1)
    h = np.asarray(fit.hessian)
    h_inv = np.zeros((p, p))
    chol = scipy.linalg.cho_factor(h[np.ix_(free, free)])
    h_inv[np.ix_(free, free)] = scipy.linalg.cho_solve(chol, np.eye(len(free)))
    if kind == "model":
        cov = h_inv
    elif kind == "sandwich":
        if cluster:
            u = cluster_scores(fit)
            meat = u.T @ u
        else:
            s_d, s_t = _per_vote_scores(fit)
            n = tab.counts
            a_dd = np.ascontiguousarray((n * s_d**2).sum(1))
            use_tau = fit.tau is not None
            a_dt = np.ascontiguousarray((n * s_d * s_t).sum(1)) if use_tau else np.zeros(1)
            a_tt = np.ascontiguousarray((n * s_t**2).sum(1)) if use_tau else np.zeros(1)
            chunks = _chunks(tab.n_cells)
            _, meat = _gather(tab.i, tab.j, tab.x, np.zeros(tab.n_cells), np.zeros(1), a_dd, a_dt, a_tt, k,
                              int(fit.position), int(use_tau), True, chunks)
        cov = h_inv @ meat @ h_inv
    else:
        raise ValueError(f"kind must be 'sandwich' or 'model', not {kind!r}")
    return centred_covariance(cov, k)


# ---------------------------------------------------------------------------------------------- bootstrap


@dataclass
class CovariateDraws:
    """Bootstrap refits: theta (B, K) mean zero, beta (B, P), gamma (B,), tau (B,), natural scale.

    ``method`` is ``"exact"`` or ``"one-step"``; ``failed`` counts resamples with no finite maximum (left out);
    ``max_step`` is the last chord step (exact) and ``refitted`` the resamples finished by full Newton.
    """

    theta: np.ndarray
    beta: np.ndarray
    gamma: np.ndarray
    tau: np.ndarray
    method: str
    cluster: bool
    failed: int = 0
    iterations: int = 0
    max_step: float = float("nan")
    refitted: int = 0


def _inverse_free(fit: CovariateFit):
    k, p = fit.table.n_models, fit.n_params
    free = np.arange(p) if fit.prior > 0 else np.delete(np.arange(p), k - 1)
    h = np.asarray(fit.hessian)[np.ix_(free, free)]
    return free, scipy.linalg.cho_factor(h)


def _split(fit: CovariateFit, vecs: np.ndarray) -> CovariateDraws:
    k = fit.table.n_models
    theta = vecs[:, :k] - vecs[:, :k].mean(1, keepdims=True)
    gamma = vecs[:, k] if fit.position else np.zeros(len(vecs))
    tau = vecs[:, k + int(fit.position)] if fit.tau is not None else np.full(len(vecs), np.nan)
    beta = vecs[:, k + int(fit.position) + int(fit.tau is not None):]
    return CovariateDraws(theta=theta, beta=beta, gamma=gamma, tau=tau, method="", cluster=False)


@single_threaded_blas
def bootstrap(
    fit: CovariateFit,
    resamples: int = 1000,
    *,
    seed: int | None = None,
    refit: str = "auto",
    cluster: bool = False,
    tol: float = 1e-9,
    max_iter: int = 30,
) -> CovariateDraws:
    """Poisson-bootstrap refits of a covariate fit (battles, or whole clusters with ``cluster=True``).

    Parameters
    ----------
    fit
        The full-data fit.
    resamples
        Number of resamples B.
    seed
        Resample r depends only on (seed, r).
    refit
        ``"exact"``: every resample to its own maximum (chord Newton with the full-data Hessian, max step
        <= ``tol``, full Newton for stragglers). ``"one-step"``: one Newton step from the fit (score bootstrap,
        O(1/N) from exact). ``"auto"``: exact while resamples x cells <= :data:`EXACT_BUDGET`.
    cluster
        Resample the table's clusters (Poisson(1) weight per cluster) instead of battles.

    Returns
    -------
    CovariateDraws
    """
    from ..sampling import draw_keys

    if refit not in ("auto", "exact", "one-step"):
        raise ValueError(f"refit must be 'auto', 'exact' or 'one-step', not {refit!r}")
    tab = fit.table
    if cluster and tab.cluster is None:
        raise ValueError("cluster=True needs a table built with cluster=")
    units = tab.n_clusters if cluster else tab.n_cells
    if refit == "auto":
        refit = "exact" if resamples * max(tab.n_cells, units) <= EXACT_BUDGET else "one-step"
    keys = draw_keys(seed, resamples)
    base = _param_vector(fit)
    free, chol = _inverse_free(fit)
    p = fit.n_params
    k = tab.n_models
    s_d, s_t = _per_vote_scores(fit)
    if refit == "one-step":
        # The resample's information is about H times the ratio of its total curvature to the data's, so the step
        # is divided by that ratio (a resample with more votes, or heavier clusters, moves less): this removes
        # most of the one-step error when cluster weights vary a lot (measured in the tests).
        curv = _cell_curvature(fit)
        votes = tab.counts.sum(1)
        a_vote = np.where(votes > 0, curv / np.maximum(votes, 1e-300), 0.0)
        if cluster:
            u = cluster_scores(fit)
            w = _cluster_weights(tab.n_clusters, keys) - 1.0
            scores = w @ u
            wsum = w @ np.bincount(tab.cluster, curv, tab.n_clusters)
        else:
            scores = np.zeros((resamples, p))
            wsum = np.zeros(resamples)
            key = tab.i * k + tab.j
            order = np.argsort(key, kind="stable")
            starts = np.flatnonzero(np.r_[True, np.diff(key[order]) != 0, True]).astype(np.int64)
            # Cells stored pair by pair (a gather once, then every block streams through memory in order).
            _score_sums(tab.counts[order], s_d[order], s_t[order], a_vote[order], order, starts,
                        np.ascontiguousarray(tab.x[order]), keys, k, int(fit.position), int(fit.tau is not None),
                        tab.i[order], tab.j[order], scores, wsum, _POISSON1_CDF,
                        max(1, min(resamples // 64, get_num_threads())))
        ratio = np.clip(1.0 + wsum / curv.sum(), 0.05, None)
        step = np.zeros((resamples, p))
        step[:, free] = scipy.linalg.cho_solve(chol, scores[:, free].T).T / ratio[:, None]
        out = _split(fit, base + step)
        out.method, out.cluster, out.iterations = "one-step", cluster, 1
        return out
    # Exact: chord iterations on blocks of resamples, weights regenerated from the same keys.
    block = int(max(1, min(resamples, 1e7 // max(3 * tab.n_cells, 1))))  # ~80 MB of weights per block
    vecs = np.empty((resamples, p))
    failed = refitted = iters = 0
    last = 0.0
    cw = _cluster_weights(tab.n_clusters, keys) if cluster else None
    hinv = np.zeros((p, p))
    hinv[np.ix_(free, free)] = scipy.linalg.cho_solve(chol, np.eye(len(free)))
    for start in range(0, resamples, block):
        sl = slice(start, min(resamples, start + block))
        if cluster:
            weights = cw[sl][:, tab.cluster, None] * tab.counts[None, :, :]
        else:
            weights = np.empty((sl.stop - sl.start, tab.n_cells, 3))
            _poisson_weights(np.ascontiguousarray(tab.counts), keys[sl], weights, _POISSON1_CDF)
        if fit.tau is None:  # logistic rules: compiled chord, one resample per task
            v = np.empty((sl.stop - sl.start, p))
            steps = np.empty(sl.stop - sl.start)
            its = np.zeros(sl.stop - sl.start, np.int64)
            _chord_logistic(weights, tab.weight, tab.i, tab.j, tab.x, base, hinv, k, int(fit.position),
                            fit.ties == "half", fit.prior, fit.coef_prior, tol, max_iter, v, steps, its)
            redo = ~(steps <= tol) & np.isfinite(v).all(1)
            it = int(its.max()) if its.size else 0
            step_max = float(np.max(np.where(redo | ~np.isfinite(steps), 0.0, steps))) if steps.size else 0.0
        else:
            v, it, step_max, redo = _chord(fit, weights, base, free, chol, tol, max_iter)
        for r in np.flatnonzero(redo):
            refitted += 1
            try:
                rf = fit_covariates(tab.with_counts(weights[r]), ties=fit.ties, position=fit.position,
                                    prior=fit.prior, coef_prior=fit.coef_prior, start=fit, check=False)
                v[r] = _param_vector(rf)
            except (FitError, np.linalg.LinAlgError):
                v[r] = np.nan
        vecs[sl] = v
        iters = max(iters, it)
        last = max(last, step_max)
    ok = np.isfinite(vecs).all(1)
    ok &= np.ptp(vecs[:, :k], axis=1) <= 60  # odds beyond e^60 between two models: no finite maximum
    failed = int((~ok).sum())
    out = _split(fit, vecs[ok])
    out.method, out.cluster, out.failed, out.iterations = "exact", cluster, failed, iters
    out.max_step, out.refitted = last, refitted
    return out


@njit(parallel=True, cache=True)
def _chord_logistic(weights, cell_w, i, j, x, base, hinv, k, position, half, prior, coef_prior, tol, max_iter,
                    out, last_step, iters):
    """Chord Newton refits of the logistic tie rules, one resample per thread task: theta_b <- theta_b +
    H^-1 g_b(theta_b) with the full-data inverse information ``hinv`` (zero on the gauge coordinate) until the
    largest step is <= tol. The same iteration as :func:`_chord`, without its (resamples x cells) temporaries."""
    nb, g_count = weights.shape[0], weights.shape[1]
    p = base.shape[0]
    p_x = x.shape[1]
    off = k + position
    for b in prange(nb):
        vec = base.copy()
        grad = np.zeros(p)
        step_max = np.inf
        it = 0
        while it < max_iter and step_max > tol:
            it += 1
            grad[:] = 0.0
            for g in range(g_count):
                wa = weights[b, g, 0] * cell_w[g]
                wb = weights[b, g, 1] * cell_w[g]
                t = weights[b, g, 2] * cell_w[g]
                if half:
                    y = wa + 0.5 * t
                    m = wa + wb + t
                else:
                    y = wa
                    m = wa + wb
                if m == 0.0:
                    continue
                d = vec[i[g]] - vec[j[g]]
                if position:
                    d += vec[k]
                for f in range(p_x):
                    d += x[g, f] * vec[off + f]
                e = math.exp(-abs(d))
                prob = 1.0 / (1.0 + e) if d >= 0 else e / (1.0 + e)
                ld = y - m * prob
                grad[i[g]] += ld
                grad[j[g]] -= ld
                if position:
                    grad[k] += ld
                for f in range(p_x):
                    grad[off + f] += ld * x[g, f]
            for u in range(k):
                grad[u] -= prior * vec[u]
            for f in range(p_x):
                grad[off + f] -= coef_prior * vec[off + f]
            step_max = 0.0
            for u in range(p):
                st = 0.0
                for v in range(p):
                    st += hinv[u, v] * grad[v]
                vec[u] += st
                step_max = max(step_max, abs(st))
            if not np.isfinite(step_max):
                break
        out[b] = vec
        last_step[b] = step_max
        iters[b] = it


def _cluster_weights(n_clusters: int, keys: np.ndarray) -> np.ndarray:
    ones = np.ones((n_clusters, 3))
    ones[:, 1:] = 0.0
    w = np.empty((len(keys), n_clusters, 3))
    _poisson_weights(ones, keys, w, _POISSON1_CDF)
    return w[:, :, 0]


def _chord(fit: CovariateFit, weights: np.ndarray, base: np.ndarray, free, chol, tol, max_iter):
    """Chord Newton for a block of resamples: theta_b <- theta_b + H^-1 g_b(theta_b), H the full-data information.

    Returns the parameter vectors, iterations, the largest last step and the resamples that did not settle.
    """
    tab = fit.table
    b = weights.shape[0]
    k, p = tab.n_models, fit.n_params
    pos, use_tau = int(fit.position), fit.tau is not None
    t_idx, off_b = k + pos, k + pos + int(use_tau)
    w = tab.weight
    wa, wb = weights[:, :, 0] * w, weights[:, :, 1] * w
    t = weights[:, :, 2] * w if fit.ties != "drop" else np.zeros_like(wa)
    vec = np.tile(base, (b, 1))
    active = np.ones(b, dtype=bool)
    step_max = np.full(b, np.inf)
    it = 0
    flat_i = (np.arange(b)[:, None] * k + tab.i[None, :]).ravel()
    flat_j = (np.arange(b)[:, None] * k + tab.j[None, :]).ravel()
    for it in range(1, max_iter + 1):  # noqa: B007
        theta = vec[:, :k]
        d = theta[:, tab.i] - theta[:, tab.j] + vec[:, off_b:] @ tab.x.T
        if pos:
            d += vec[:, k:k + 1]
        tau = vec[:, t_idx:t_idx + 1] if use_tau else 0.0
        _, l_d, l_t, *_ = _derivatives(d, tau, wa, wb, t, fit.ties)
        g = np.zeros((b, p))
        g[:, :k] = (np.bincount(flat_i, l_d.ravel(), b * k) - np.bincount(flat_j, l_d.ravel(), b * k)).reshape(b, k)
        if pos:
            g[:, k] = l_d.sum(1)
        if use_tau:
            g[:, t_idx] = l_t.sum(1)
        g[:, off_b:] = l_d @ tab.x
        g[:, :k] -= fit.prior * theta
        g[:, off_b:] -= fit.coef_prior * vec[:, off_b:]
        step = np.zeros((b, p))
        step[:, free] = scipy.linalg.cho_solve(chol, g[:, free].T).T
        step[~active] = 0.0
        vec = vec + step
        sm = np.abs(step).max(1)
        step_max[active] = sm[active]
        active &= sm > tol
        bad = ~np.isfinite(vec).all(1)
        active &= ~bad
        if not active.any():
            break
    redo = (step_max > tol) & np.isfinite(vec).all(1)
    return vec, it, float(np.nanmax(np.where(redo, 0.0, step_max))) if b else 0.0, redo


__all__ = [
    "CovariateDraws",
    "CovariateError",
    "CovariateFit",
    "CovariateTable",
    "bootstrap",
    "cluster_scores",
    "covariance",
    "covariate_table",
    "fit_covariates",
    "null_loglik",
]
