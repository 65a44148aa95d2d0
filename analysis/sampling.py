"""Exact multinomial resampling of count tables on CPU, compiled with numba.

Resampling N votes with replacement is the same as drawing the cell counts from Multinomial(N, n_c / N). Two
exact samplers, both parallel over cores and releasing the GIL:

- Poisson + thin / fill (the default): independent Poisson((N - sqrt(N)) n_c / N) counts per cell, drawn by
  inverting each cell's tabulated CDF (one uniform and ~0.1 comparisons per draw, ~5 ns per draw on one core);
  a resample whose total overshoots N (16%) loses its excess votes one by one, uniformly without replacement;
  the others get their missing votes one by one from an alias table of n_c / N. Exact because independent
  Poisson counts given their sum are multinomial, a uniformly thinned multinomial sample is multinomial, and two
  independent multinomials with the same probabilities add up to one. The tabulated CDFs are within 1e-11 of the
  exact values (checked against mpmath up to a Poisson mean of 1.6e7); tails beyond +-7 sd of the table are walked
  exactly.
- A chain of binomials (group totals by the conditional method, then each group's ties and first-model wins)
  with our BTRS sampler (Hormann 1993, "The generation of binomial random variates") for means of 10 or more
  and inversion below; log-factorials by Stirling's series to 1/(1260 x^5) (error < 1e-10 for x >= 10) and a
  table below 10. ~50 ns per draw; used when the Poisson tables would not fit in memory.

Why not numpy or torch: both spend 60-90 ns per large-count binomial (setup of BTPE/BTRS, a locked generator).
Every resample has its own random streams keyed by one 64-bit number (counter-based SplitMix64 for the Poisson
path, xoshiro256+ for the chain), so a resample depends only on the seed and its index, not on block sizes or
thread count.

Threads: the parallel stages run on :func:`default_threads` threads (the cores no other process is using right
now), so on a busy machine they take the single-threaded path rather than wait for a descheduled thread.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from .accel import GOLDEN, njit, prange, splitmix64

_TAIL_SMALL = np.array([math.lgamma(k + 1.0) - (k + 0.5) * math.log(k + 1.0) + (k + 1.0) - 0.5 * math.log(2 * math.pi)
                        for k in range(10)])


@njit(cache=True, inline="always")
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@njit(cache=True)
def _seed_state(key, state):
    """Fill the 4-word xoshiro256+ state from a 64-bit key with splitmix64 (never all zero)."""
    for w in range(4):
        state[w] = splitmix64(np.uint64(key) + np.uint64(w) * GOLDEN)


@njit(cache=True, inline="always")
def _uniform(s):
    """A double in [0, 1) from xoshiro256+ (top 53 bits)."""
    result = s[0] + s[3]
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = _rotl(s[3], 45)
    return float(result >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, inline="always")
def _tail(k, small):
    """log(k!) - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2]: exact table below 10, series above."""
    if k < 10.0:
        return small[int(k)]
    x = k + 1.0
    r = 1.0 / (x * x)
    return (1.0 / 12.0 - r * (1.0 / 360.0 - r / 1260.0)) / x


@njit(cache=True, error_model="numpy")
def _binomial(s, n, p, small):
    """One Binomial(n, p) draw (n a non-negative integer-valued float), returned as a float."""
    if n <= 0.0 or p <= 0.0:
        return 0.0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - _binomial_low(s, n, 1.0 - p, small)
    return _binomial_low(s, n, p, small)


@njit(cache=True, error_model="numpy")
def _binomial_low(s, n, p, small):
    """Binomial(n, p) for n > 0 and 0 < p <= 1/2."""
    q = 1.0 - p
    if n * p < 10.0:
        # Inversion: walk up the pmf from 0; expected steps mean + 1 <= 11.
        ratio = p / q
        a = (n + 1.0) * ratio
        r0 = math.exp(n * math.log1p(-p))
        while True:
            u = _uniform(s)
            r = r0
            k = 0.0
            while u > r and k <= n:
                u -= r
                k += 1.0
                r *= a / k - ratio
            if k <= n:
                return k
    spq = math.sqrt(n * p * q)
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = 0.0
    m = math.floor((n + 1.0) * p)
    r = p / q
    h = math.nan  # the k-free part of log(f(k) / f(m)), computed only when the squeeze fails
    while True:
        u = _uniform(s) - 0.5
        v = _uniform(s)
        us = 0.5 - abs(u)
        if us <= 0.0:
            continue
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0.0 or k > n:
            continue
        if us >= 0.07 and v <= v_r:
            return k
        if h != h:
            alpha = (2.83 + 5.1 / b) * spq
            h = (m + 0.5) * math.log((m + 1.0) / (r * (n - m + 1.0))) + _tail(m, small) + _tail(n - m, small)
        # log(f(k) / f(m)) for the binomial pmf f, with log(x!) by Stirling; the (x + 1) terms cancel.
        log_ratio = (h + (n + 1.0) * math.log((n - m + 1.0) / (n - k + 1.0))
                     + (k + 0.5) * math.log(r * (n - k + 1.0) / (k + 1.0)) - _tail(k, small) - _tail(n - k, small))
        if math.log(v * alpha / (a / (us * us) + b)) <= log_ratio:
            return k


@njit(cache=True)
def _binomial_many(n, p, keys, small):
    """Binomial draws: out[r, e] ~ Binomial(n[e], p[e]) with stream ``keys[r]`` (test helper)."""
    out = np.empty((keys.shape[0], n.shape[0]))
    state = np.empty(4, np.uint64)
    for r in range(keys.shape[0]):
        _seed_state(keys[r], state)
        for e in range(n.shape[0]):
            out[r, e] = _binomial(state, n[e], p[e], small)
    return out


@njit(parallel=True, nogil=True, cache=True)
def _resample_chain(counts, keys, small, out):
    """Fill ``out`` (R, G, 3) with resamples of a (G, 3) table by a chain of 3G binomials per resample."""
    g_n = counts.shape[0]
    n_g = np.empty(g_n)
    for g in range(g_n):
        n_g[g] = counts[g, 0] + counts[g, 1] + counts[g, 2]
    # Conditional method: X_g ~ Binomial(N - sum of earlier X, n_g / (n_g + later groups' n)).
    tail = np.zeros(g_n + 1)
    for g in range(g_n - 1, -1, -1):
        tail[g] = tail[g + 1] + n_g[g]
    p_total = np.empty(g_n)
    p_tie = np.empty(g_n)
    p_win = np.empty(g_n)
    for g in range(g_n):
        p_total[g] = n_g[g] / tail[g] if tail[g] > 0 else 0.0
        p_tie[g] = counts[g, 2] / n_g[g] if n_g[g] > 0 else 0.0
        decisive = counts[g, 0] + counts[g, 1]
        p_win[g] = counts[g, 0] / decisive if decisive > 0 else 0.0
    for r in prange(keys.shape[0]):
        state = np.empty(4, np.uint64)
        _seed_state(keys[r], state)
        left = tail[0]
        for g in range(g_n):
            t = _binomial(state, left, p_total[g], small)
            left -= t
            ties = _binomial(state, t, p_tie[g], small)
            wins = _binomial(state, t - ties, p_win[g], small)
            out[r, g, 0] = wins
            out[r, g, 1] = t - ties - wins
            out[r, g, 2] = ties


# ---------------------------------------------------------------------------------------------- Poisson + fill

_GUIDE = 4  # guide entries per table entry: fewer search steps (and mispredicted branches) per draw
_FILL_KEY = 0x5851F42D4C957F2D  # xor-ed into a resample's key for its fill draws
_THIN_KEY = 0x14057B7EF767814F  # xor-ed into a resample's key for its thinning draws


@njit(cache=True, inline="always")
def _counter_uniform(key, counter):
    """A double in [0, 1) from a counter-based SplitMix64 stream: the draw depends only on (key, counter)."""
    x = splitmix64(key + counter * GOLDEN)
    # the top 53 bits fit an int64 exactly, and a signed int-to-float is a single instruction (unsigned is not)
    return np.int64(x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(parallel=True, cache=True)
def _fill_tables(lam, lo, offsets, low_tail, pmf_lo, cdf, guide, pmf_hi):
    """Per cell: CDF of Poisson(lam) on lo..hi (P(X < lo) included) and an inversion guide over it."""
    for c in prange(lam.shape[0]):
        a, e = offsets[c], offsets[c + 1]
        width = e - a
        k = lo[c]
        pm = pmf_lo[c]
        acc = low_tail[c]
        for t in range(width):
            acc += pm
            cdf[a + t] = acc
            if t < width - 1:
                pm *= lam[c] / (k + t + 1.0)
        pmf_hi[c] = pm
        # guide[j] = first index whose CDF exceeds j / n_guide, less 1e-15 so that rounding in the threshold or in
        # the bucket index int(u * n_guide) can only start the search early: inversion starts there (~0.1 steps).
        n_guide = _GUIDE * width
        step = 1.0 / n_guide
        t = 0
        for j in range(n_guide):
            threshold = j * step - 1e-15
            while t < width - 1 and cdf[a + t] <= threshold:
                t += 1
            guide[_GUIDE * a + j] = t


@njit(cache=True, inline="always")
def _table_index(u, table, index, buckets):
    """The first t with table[t] > u, for u below the table's last entry: start at the guide's bucket of u (at or
    before the answer), then step (~0.1 steps on average)."""
    t = index[int(u * buckets)]
    while table[t] <= u:
        t += 1
    return t


@njit(cache=True, inline="always")
def _poisson_inverse(u, c, lam, lo, offsets, low_tail, cdf, guide, pmf_hi):
    """The Poisson(lam[c]) quantile of u: tabulated CDF with its guide, exact tail walks outside the table."""
    a = offsets[c]
    width = offsets[c + 1] - a
    if u < low_tail[c]:  # below the table (probability < 1e-11): walk down with CDF(k-1) = CDF(k) - pmf(k)
        k = lo[c] - 1.0
        acc = low_tail[c]
        pm = (cdf[a] - low_tail[c]) * lo[c] / lam[c]  # pmf(lo - 1) = pmf(lo) lo / lam
        while k > 0.0 and acc - pm > u:
            acc -= pm
            pm *= k / lam[c]
            k -= 1.0
        return k
    if u < cdf[a + width - 1]:
        return lo[c] + _table_index(u, cdf[a : a + width], guide[_GUIDE * a : _GUIDE * (a + width)], _GUIDE * width)
    k = lo[c] + width - 1.0  # above the table: walk up with pmf(k+1) = pmf(k) lam / (k+1)
    acc = cdf[a + width - 1]
    pm = pmf_hi[c]
    while acc <= u and pm > 0.0:
        k += 1.0
        pm *= lam[c] / k
        acc += pm
    return k


@njit(parallel=True, nogil=True, cache=True)
def _poisson_stage(cells, lam, lo, offsets, low_tail, cdf, guide, pmf_hi, inv_n, keys, out, partial, ratio):
    """out[cells[c], r] ~ Poisson(lam[c]) for every cell and resample r; per task, partial[task, r] sums them
    and ratio[task, r] keeps their largest out / n_c (the thinning's rejection bound).

    Cell-major, so each cell's table stays in cache while all resamples draw from it. Draw (r, c) uses counter c
    of stream keys[r], whatever the thread or the other resamples. Per cell, the uniforms are made in one
    branch-free loop (which the compiler vectorises) before the inversions, and the in-table inversion
    (:func:`_table_index`, as :func:`_poisson_inverse` does it) runs with the cell's table slices hoisted: 40% less
    time than one loop of :func:`_poisson_inverse` calls.
    """
    n_cells = cells.shape[0]
    n_tasks = partial.shape[0]
    per = (n_cells + n_tasks - 1) // n_tasks
    nq = keys.shape[0]
    for task in prange(n_tasks):
        sums = partial[task]
        most = ratio[task]
        sums[:] = 0.0
        most[:] = 0.0
        u = np.empty(nq)
        for c in range(task * per, min(n_cells, (task + 1) * per)):
            row = out[cells[c]]
            counter = np.uint64(c)
            for q in range(nq):
                u[q] = _counter_uniform(keys[q], counter)
            a = offsets[c]
            width = offsets[c + 1] - a
            first, below = lo[c], low_tail[c]
            table = cdf[a : a + width]
            index = guide[_GUIDE * a : _GUIDE * (a + width)]
            buckets = _GUIDE * width
            top = table[width - 1]
            inv = inv_n[c]
            for q in range(nq):
                v = u[q]
                if v < below or v >= top:  # a tail (probability ~1e-11): the exact walks
                    x = _poisson_inverse(v, c, lam, lo, offsets, low_tail, cdf, guide, pmf_hi)
                else:
                    x = first + _table_index(v, table, index, buckets)
                row[q] = x
                sums[q] += x
                most[q] = max(most[q], x * inv)


@njit(parallel=True, nogil=True, cache=True)
def _thin_stage(cells, inv_n, alias_p, alias_i, keys, over, excess, bound, out):
    """Remove excess[q] votes, uniformly without replacement, from resample r = over[q].

    A vote is removed from cell c with probability out[c, r] / (votes left): propose c from the alias table of
    n_c / N and accept with probability (out[c, r] / n_c) / bound[q], where bound[q] >= max_c out[c, r] / n_c
    (it only falls as votes go). Removing a uniformly random subset of a multinomial sample's votes leaves a
    multinomial sample of the rest, so this is as exact as redrawing the resample.
    """
    n_cells = cells.shape[0]
    for q in prange(over.shape[0]):
        r = over[q]
        key = keys[r] ^ np.uint64(_THIN_KEY)
        counter = 0
        left = excess[q]
        while left > 0:
            v = _counter_uniform(key, np.uint64(counter)) * n_cells
            w = _counter_uniform(key, np.uint64(counter + 1))
            counter += 2
            c = int(v)
            c = alias_i[c] if v - c >= alias_p[c] else c
            x = out[cells[c], r]
            if w * bound[q] < x * inv_n[c]:
                out[cells[c], r] = x - 1.0
                left -= 1


@njit(parallel=True, nogil=True, cache=True)
def _fill_stage(cells, need, alias_p, alias_i, keys, out):
    """Add need[r] votes to resample r, one by one from the alias table of the cell probabilities."""
    n_cells = cells.shape[0]
    for r in prange(keys.shape[0]):
        key = keys[r] ^ np.uint64(_FILL_KEY)
        for i in range(need[r]):
            v = _counter_uniform(key, np.uint64(i)) * n_cells
            c = int(v)
            c = alias_i[c] if v - c >= alias_p[c] else c
            out[cells[c], r] += 1.0


@njit(cache=True)
def _alias(p):
    """Walker's alias table for a categorical law p (Vose's construction): (probabilities, aliases)."""
    n = p.shape[0]
    scaled = p * (n / p.sum())
    prob = np.ones(n)
    alias = np.arange(n)
    small = np.empty(n, np.int64)
    large = np.empty(n, np.int64)
    ns = nl = 0
    for c in range(n):
        if scaled[c] < 1.0:
            small[ns] = c
            ns += 1
        else:
            large[nl] = c
            nl += 1
    while ns > 0 and nl > 0:
        ns -= 1
        s_ = small[ns]
        l_ = large[nl - 1]
        prob[s_] = scaled[s_]
        alias[s_] = l_
        scaled[l_] -= 1.0 - scaled[s_]
        if scaled[l_] < 1.0:
            nl -= 1
            small[ns] = l_
            ns += 1
    return prob, alias


class _PoissonTables:
    """Per-cell Poisson inversion tables and the fill's alias table for one count table."""

    # The slack (standard deviations of the total) trades the one-by-one fill (~1.1 sqrt(N) votes at 1) against
    # thinning the resamples whose Poisson total overshoots N (16% at 1, ~0.3 sqrt(N) votes each, ~6 proposals per
    # vote); measured on the arena table, 1 beats 0.5 and 0.25 by 15-25%.
    SLACK_SD = 1.0
    WIDTH_SD = 7.0  # table half-width in standard deviations; beyond it the exact tail walks take over

    def __init__(self, flat_counts: NDArray[np.float64]):
        from scipy.special import pdtr

        self.cells = np.flatnonzero(flat_counts > 0)
        n_c = flat_counts[self.cells]
        self.total = float(n_c.sum())
        slack = min(self.total, self.SLACK_SD * math.sqrt(self.total))
        lam = (self.total - slack) * n_c / self.total
        sd = np.sqrt(lam)
        lo = np.maximum(0.0, np.floor(lam - self.WIDTH_SD * sd - 1.0))
        hi = np.ceil(lam + self.WIDTH_SD * sd + 1.0)
        self.offsets = np.concatenate([[0], np.cumsum((hi - lo + 1).astype(np.int64))])
        self.lam, self.lo = lam, lo
        # P(X < lo) and P(X = lo) from the regularised incomplete gamma function: 7 sd below the mean both are
        # tiny, so their difference keeps full relative precision (k log lam - lam - lgamma(k + 1) would not:
        # it cancels terms of size lam log lam, losing ~1e-8 relative at lam = 1e7).
        rate = np.maximum(lam, 1e-300)
        self.low_tail = np.where(lo > 0, pdtr(np.maximum(lo - 1.0, 0.0), rate), 0.0)
        pmf_lo = np.where(lo > 0, pdtr(lo, rate) - self.low_tail, np.exp(-lam))
        self.cdf = np.empty(self.offsets[-1])
        # int16 guides (a quarter of the table memory) unless a table is wider than 32,767 entries (N > ~5M)
        wide = (hi - lo + 1).max(initial=0) > np.iinfo(np.int16).max
        self.guide = np.empty(_GUIDE * self.offsets[-1], np.int32 if wide else np.int16)
        self.pmf_hi = np.empty(len(lam))
        _fill_tables(lam, lo, self.offsets, self.low_tail, pmf_lo, self.cdf, self.guide, self.pmf_hi)
        self.alias_p, self.alias_i = _alias(n_c / self.total)
        self.inv_n = 1.0 / n_c

    @staticmethod
    def entries(flat_counts: NDArray[np.float64]) -> float:
        n_c = flat_counts[flat_counts > 0]
        return float(np.sum(2 * _PoissonTables.WIDTH_SD * np.sqrt(n_c) + 4))

    def draw(self, keys: NDArray[np.uint64], out: NDArray[np.floating]) -> None:
        """Fill ``out`` (3G, R), zeros on entry, with one exact Multinomial(N, p) resample per key."""
        from numba import get_num_threads

        tables = (self.lam, self.lo, self.offsets, self.low_tail, self.cdf, self.guide, self.pmf_hi, self.inv_n)
        tasks = 4 * get_num_threads()
        partial, ratio = np.empty((tasks, len(keys))), np.empty((tasks, len(keys)))
        _poisson_stage(self.cells, *tables, keys, out, partial, ratio)
        totals = partial.sum(0)
        over = np.flatnonzero(totals > self.total)
        if len(over):
            excess = (totals[over] - self.total).astype(np.int64)
            bound = ratio[:, over].max(0)
            _thin_stage(self.cells, self.inv_n, self.alias_p, self.alias_i, keys, over, excess, bound, out)
        need = np.maximum(self.total - totals, 0.0).astype(np.int64)
        _fill_stage(self.cells, need, self.alias_p, self.alias_i, keys, out)


_MAX_TABLE_ENTRIES = 12_000_000  # ~200 MB (an 8-byte CDF value and four guides per entry); beyond: binomial chain


def draw_keys(seed: int | None, n_draws: int) -> NDArray[np.uint64]:
    """One independent 64-bit stream key per resample, from ``seed`` (None: fresh entropy)."""
    return np.random.SeedSequence(seed).generate_state(n_draws, np.uint64)


class Resampler:
    """Exact vote-bootstrap resamples of one (G, 3) table of integer counts, drawn for blocks of stream keys.

    Each resample is a Multinomial(N, n_c / N) draw over the 3G cells, N the table's total: the same as
    resampling its N votes with replacement. ``method="poisson"`` (the default when its tables fit in ~200 MB):
    independent Poisson((N - sqrt(N)) n_c / N) counts per cell by table inversion; where their sum exceeds N (16%
    of resamples) the excess votes removed one by one, uniformly without replacement, elsewhere the missing votes
    drawn one by one from n_c / N. Given their sum, independent
    Poisson counts are multinomial, and two independent multinomials with the same p add up to one, so the
    result is exactly Multinomial(N, p). ``"binomial"``: a chain of 3G binomial draws (BTRS), no tables.
    Both are exact up to floating point, and resample r depends only on ``keys[r]``.

    Returns (G, 3, R) arrays: resamples last, the layout the batched refit works in. float32 (half the memory
    and traffic) while N < 2**24 votes, so every count is exact; float64 above.
    """

    def __init__(self, counts: NDArray[np.floating], method: str = "auto", *, threads: int | None = None):
        counts = np.ascontiguousarray(counts, dtype=np.float64)
        if counts.ndim != 2 or counts.shape[1] != 3:
            raise ValueError(f"Resampler: counts must be (groups, 3), got shape {counts.shape}")
        if method not in ("auto", "poisson", "binomial"):
            raise ValueError(f"Resampler: method must be 'auto', 'poisson' or 'binomial', got {method!r}")
        bad = ~np.isfinite(counts) | (counts < 0) | (counts != np.round(counts))
        if bad.any():
            g, o = np.argwhere(bad)[0]
            raise ValueError(f"Resampler: counts must be non-negative integers; {int(bad.sum())} are not, e.g. "
                             f"{float(counts[g, o])} at group {g}, column {o}")
        if threads is not None and int(threads) < 1:
            raise ValueError(f"Resampler: threads must be >= 1 or None, got {threads!r}")
        self.counts = counts
        self.threads = None if threads is None else int(threads)
        self.dtype = np.float32 if counts.sum() < 2**24 else np.float64
        flat = counts.reshape(-1)
        use_tables = method == "poisson" or (method == "auto" and _PoissonTables.entries(flat) <= _MAX_TABLE_ENTRIES)
        with numba_threads(self.threads):
            self.tables = _PoissonTables(flat) if use_tables and flat.sum() > 0 else None
        self.method = "poisson" if use_tables else "binomial"

    def __call__(self, keys: NDArray[np.uint64], out: NDArray[np.floating] | None = None) -> NDArray[np.floating]:
        """Resamples for ``keys``: (G, 3, len(keys)). ``out``: an array of that shape and dtype returned by an
        earlier call, reused (saves page faults on large blocks; its previous contents are overwritten)."""
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        shape = (self.counts.shape[0], 3, keys.shape[0])
        if out is None or out.shape != shape or out.dtype != self.dtype:
            out = np.zeros(shape, self.dtype)  # cells with no votes stay zero: the samplers never write them
        with numba_threads(self.threads):
            if self.tables is not None:
                self.tables.draw(keys, out.reshape(-1, keys.shape[0]))
            elif self.method == "binomial":
                rows = np.empty((keys.shape[0], self.counts.shape[0], 3), self.dtype)
                _resample_chain(self.counts, keys, _TAIL_SMALL, rows)
                out[...] = rows.transpose(1, 2, 0)
        return out


def resample_counts(counts: NDArray[np.floating], keys: NDArray[np.uint64],
                    method: str = "auto") -> NDArray[np.floating]:
    """Exact vote-bootstrap resamples of a (G, 3) count table, one per key: (G, 3, R); see :class:`Resampler`."""
    return Resampler(counts, method)(keys)


# ---------------------------------------------------------------------------------------------- threads

_PROBE_TTL = 0.5  # seconds a free-core count is reused before the machine is looked at again
_probe: list[float] = [0.0, -1.0]  # [free cores, time of the probe]


def usable_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup v2 CPU quota when there is one and by
    ``NUMBA_NUM_THREADS`` / ``OMP_NUM_THREADS`` when the user set them."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) >= 1:
            n = min(n, int(value))
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, n)


def _other_runnable() -> int | None:
    """Runnable tasks on the machine that are not this process's own (from /proc), None when unknown."""
    try:
        with open("/proc/loadavg") as f:
            running = int(f.read().split()[3].split("/")[0])
        own = 0
        for task in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{task}/stat") as f:
                    own += f.read().rsplit(")", 1)[1].split()[0] == "R"
            except OSError:
                continue
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - max(own, 1))


def _free_now() -> int:
    """:func:`usable_cores` less the other runnable tasks (may be <= 0 on a full machine); reused for 0.5 s."""
    now = time.monotonic()
    if now - _probe[1] < _PROBE_TTL:
        return int(_probe[0])
    seen = []
    for attempt in range(3):
        if attempt:
            time.sleep(0.001)
        other = _other_runnable()
        if other is not None:
            seen.append(other)
    usable = usable_cores()
    free = usable - min(seen) if seen else usable
    _probe[:] = [min(usable, free), time.monotonic()]
    return int(_probe[0])


def free_cores() -> int:
    """Cores free for this process now: :func:`usable_cores` less the other runnable tasks, at least 1.

    The count of runnable tasks is read three times 1 ms apart and the smallest kept, so a short-lived process
    does not count while a CPU-bound one (runnable at every look) does. Reused for 0.5 s.
    """
    return max(1, _free_now())


def default_threads() -> int:
    """Threads for a parallel stage when none is asked for: :func:`free_cores`.

    Measured on 2 cores in interleaved rounds: beside one or two CPU-bound competitors two threads were often
    10-30% faster than one (two runnable tasks get a larger share of the machine, and these stages are a few long
    parallel regions), but beside other bursty jobs they were 10-20% slower than one thread. Only the free cores
    keep the default at or near the one-thread time whatever else runs, which is the rule here.
    """
    return free_cores()


@contextlib.contextmanager
def numba_threads(threads: int | None) -> Iterator[None]:
    """Run the numba stages inside on ``threads`` threads (None: :func:`default_threads`), then restore the
    setting."""
    import numba

    n = max(1, min(default_threads() if threads is None else threads, numba.config.NUMBA_NUM_THREADS))
    before = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def binomial(n: NDArray[np.floating], p: NDArray[np.floating] | float,
             keys: NDArray[np.uint64]) -> NDArray[np.float64]:
    """Binomial(n, p) draws, one row per stream key, one column per (n, p) pair (float64)."""
    n = np.ascontiguousarray(n, dtype=np.float64)
    p = np.ascontiguousarray(np.broadcast_to(p, n.shape), dtype=np.float64)
    return _binomial_many(n, p, np.ascontiguousarray(keys, dtype=np.uint64), _TAIL_SMALL)
