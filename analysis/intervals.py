"""Uncertainty for Bradley-Terry ratings: batched bootstrap, cluster bootstrap and sandwich covariance.

Why it is fast. Resampling N votes with replacement is the same as drawing the cell counts from a multinomial
over the cells, so a resample costs O(cells), not O(votes). We draw it exactly (:mod:`analysis.sampling`:
Poisson counts by table inversion plus a one-by-one fill, compiled with numba; torch binomials on a GPU).
The B refits are B independent Newton systems around the full-data fit; we solve them together with a chord
iteration (the full-data Hessian inverted once, the gradients of all draws as one gather / scatter pass over a
groups-by-draws table, mixed precision for logistic ties), in torch on CPU or GPU, in chunks that keep memory
under a budget.

A cluster bootstrap (voters, prompts) resamples clusters: counts are a (clusters x cells) sparse matrix times
multinomial cluster weights, then the same batched refit. The sandwich covariance is ``H^-1 J H^-1`` with J
summed per vote (robust to misspecification) or per cluster; the model-based covariance is ``H^-1``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse

from .bt import BTFit, PairTable, cell_derivatives, info_matrix, single_threaded_blas

_MEMORY_BUDGET = 512 * 2**20  # bytes of float64 temporaries per chunk


def resolve_device(device: str | Any = "auto"):
    """A torch device: ``"auto"`` picks CUDA when available, else CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class Draws:
    """Bootstrap draws of strengths (natural scale, mean-zero gauge), plus tie/position parameters."""

    theta: np.ndarray  # (B, K)
    gamma: np.ndarray | None  # (B,)
    tau: np.ndarray | None  # (B,)
    iterations: int
    kind: str
    max_step: float  # the last chord step of the kept draws, natural units: their numerical error is below it
    failed: int = 0  # resamples left out: no finite maximum (some models won or lost all their resampled votes)


# ---------------------------------------------------------------------------------------------- resampling


def _tree_multinomial(total, probs, generator):
    """Exact Multinomial(total, probs) draws on a torch device, one row per entry of ``total``, by binary splitting.

    Each internal node of a balanced binary tree over the categories splits its count between its two
    children with one binomial draw, so a draw costs C - 1 binomials, batched across rows (used on GPU, where
    torch's binomial kernel is fast; the CPU path uses :mod:`analysis.sampling`).
    """
    import torch

    levels = [probs]
    p = probs
    while p.shape[0] > 1:
        if p.shape[0] % 2:
            p = torch.cat([p, p.new_zeros(1)])
        p = p.view(-1, 2).sum(1)
        levels.append(p)
    counts = total.reshape(-1, 1)
    rows = counts.shape[0]
    for level in reversed(levels[:-1]):
        n = level.shape[0]
        if n % 2:
            level = torch.cat([level, level.new_zeros(1)])
        pair = level.view(-1, 2)
        s = pair.sum(1)
        frac = torch.where(s > 0, pair[:, 0] / s.clamp_min(1e-300), torch.zeros_like(s))
        left = torch.binomial(counts, frac.expand(rows, -1).contiguous(), generator=generator)
        counts = torch.stack([left, counts - left], -1).view(rows, -1)[:, :n]
    return counts


def _torch_resamples(table: PairTable, n_draws: int, seed: int, device):
    """(G, 3, n_draws) float32 exact vote-bootstrap counts drawn with torch on ``device`` (the GPU path)."""
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    flat = torch.as_tensor(table.counts.reshape(-1), dtype=torch.float64, device=device)
    total = flat.sum()
    draws = _tree_multinomial(total.expand(n_draws).contiguous(), flat / total, gen)
    return draws.T.reshape(-1, 3, n_draws).to(torch.float32 if float(total) < 2**24 else torch.float64)


def multinomial_counts(table: PairTable, n_draws: int, seed: int | None = None, *,
                       method: str = "auto") -> np.ndarray:
    """Exact vote-bootstrap counts: an array (n_draws, G, 3), resample r exactly as :func:`bootstrap` draws it.

    Equivalent to resampling the N votes with replacement: the 3G cells ~ Multinomial(N, n_c / N), drawn by
    :class:`analysis.sampling.Resampler` (``method`` "poisson" or "binomial"; "auto" picks). Resample r depends
    only on ``seed`` and r, so the first 100 of 1,000 draws are the same as 100 draws.
    """
    from .sampling import Resampler, draw_keys

    return np.moveaxis(Resampler(table.counts, method)(draw_keys(seed, n_draws)), -1, 0)


def cluster_matrix(table: PairTable, counts: pd.DataFrame, cluster: str) -> tuple[scipy.sparse.csr_matrix, pd.Index]:
    """Sparse (clusters x 3G) matrix of vote counts per cluster and (group, outcome) cell.

    ``counts`` are aggregated with ``by=cluster`` from the same battles as ``table``.
    """
    from .bt import pair_table

    codes, clusters = pd.factorize(counts[cluster], sort=True)
    # Map each count row to its group and outcome column through the same grouping as the fit.
    mapped = pair_table(counts.drop(columns=[cluster]), ordered=table.ordered,
                        bothbad="tie" if (table.cell_outcome >= 0).all() else "drop")
    if not mapped.models.equals(table.models):
        raise ValueError("cluster counts and fit use different models")
    g_key = table.i * table.n_models + table.j
    m_key = mapped.i * table.n_models + mapped.j
    lookup = pd.Series(np.arange(len(g_key)), index=g_key)
    group = np.full(len(counts), -1)
    keep = mapped.cell_group >= 0
    group[keep] = lookup.reindex(m_key[mapped.cell_group[keep]]).to_numpy()
    col = mapped.cell_outcome
    keep &= group >= 0
    mat = scipy.sparse.coo_matrix(
        (counts["count"].to_numpy(float)[keep], (codes[keep], group[keep] * 3 + col[keep])),
        shape=(len(clusters), 3 * len(g_key)),
    ).tocsr()
    return mat, pd.Index(clusters)


# ---------------------------------------------------------------------------------------------- batched refit


def _chunk_size(fit: BTFit, n_draws: int, max_chunk: int = 256) -> int:
    # Draws per chunk: up to ``max_chunk`` (temporaries of a few MB stay in cache: 2x faster than 1,024 per chunk
    # on Chatbot Arena), memory under the budget: ~10 float32 (G, R) temporaries for logistic ties, ~20 float64
    # ones for Davidson and Rao-Kupper (their cell derivatives).
    per_group = 4 * 10 if fit.ties in ("half", "drop") else 8 * 20
    per_draw = per_group * max(len(fit.table.i), 1)
    return max(1, min(n_draws, max_chunk, _MEMORY_BUDGET // per_draw))


class _Refitter:
    """Chord iteration for many count vectors at once around one full-data fit (torch, CPU or GPU).

    Each step is ``params += H0^-1 grad(params)`` with H0 the full-data negative Hessian, inverted once; the
    gradients of all draws are one gather, one elementwise pass and one scatter over the (G, R) table of groups
    by draws (draws last, so the gathers and scatters move whole contiguous rows). Warm-started at the full-data
    fit, it contracts by roughly the relative sampling noise of the Hessian per step (5-7 steps to 1e-6 on
    Chatbot Arena). For half / drop ties with ``tol >= 1e-7`` (and under 2**24 votes) the linear predictor and
    score are computed in float32 around the float64 full-data values (mixed precision: the solution moves by
    < 1e-7 natural units, twice the speed); parameters and the solve stay float64. Where the chord stalls
    (sparse comparison graphs), logistic-tie draws switch to Newton with preconditioned conjugate gradients.
    """

    @single_threaded_blas
    def __init__(self, fit: BTFit, device, tol: float, max_iter: int):
        import torch

        self.torch = torch
        self.fit, self.device, self.tol, self.max_iter = fit, device, tol, max_iter
        table = fit.table
        k = table.n_models
        self.k = k
        self.use_tau = fit.tau is not None
        self.logistic = fit.ties in ("half", "drop")
        # float32 holds every count exactly below 2**24 votes
        small = float(table.counts.sum()) < 2**24
        self.dtype = torch.float32 if self.logistic and tol >= 1e-7 and small else torch.float64
        p = fit.n_params
        # Gauge: without a prior the last model is held at its full-data value (a zero row and column in the
        # padded inverse); the draws are re-centred afterwards.
        free = np.arange(p) if fit.prior > 0 else np.delete(np.arange(p), k - 1)
        h = np.asarray(fit.hessian.toarray() if scipy.sparse.issparse(fit.hessian) else fit.hessian)
        h_inv = np.zeros((p, p))
        h_inv[np.ix_(free, free)] = scipy.linalg.cho_solve(scipy.linalg.cho_factor(h[np.ix_(free, free)]),
                                                          np.eye(len(free)))

        def t(x, dtype=torch.float64):
            return torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=device)

        self.h_inv = t(h_inv)
        self.i, self.j = t(table.i, torch.long), t(table.j, torch.long)
        self.weight = t(table.weight[:, None], self.dtype)
        extras = ([fit.gamma] if fit.position else []) + ([fit.tau] if self.use_tau else [])
        self.start = t(np.concatenate([fit.theta, extras])[:, None])
        d0 = fit.theta[table.i] - fit.theta[table.j] + (fit.gamma if fit.position else 0.0)
        self.d0 = t(d0[:, None], self.dtype)
        self.d0_64 = t(d0[:, None])

    def _gradient(self, delta, counts, logistic):
        """Score of every draw at start + delta: (P, R) from delta (P, R) in the working precision."""
        torch = self.torch
        k = self.k
        d = self._linear(delta).add_(self.d0)
        if logistic is not None:
            # Half / drop ties: the score is y - m * sigmoid(d), no tie parameter.
            y, m = logistic
            l_d, l_t = torch.addcmul(y, m, torch.sigmoid_(d), value=-1.0), None
        else:
            idx = k + int(self.fit.position)
            tau = self.start[idx : idx + 1] + delta[idx : idx + 1] if self.use_tau else 0.0
            wa, wb, tt = (counts[:, c] * self.weight for c in range(3))
            _, l_d, l_t, *_ = cell_derivatives(d, tau, wa, wb, tt, self.fit.ties, xp=torch)
        grad = self._linear_t(l_d).to(torch.float64)  # theta rows, then the position row when fitted
        if self.fit.prior:
            grad[:k].add_(self.start[:k] + delta[:k].to(torch.float64), alpha=-self.fit.prior)
        if self.use_tau:
            grad = torch.cat([grad, l_t.sum(0, keepdim=True).to(torch.float64)], dim=0)
        return grad

    def refit(self, counts) -> tuple[Any, Any, int, float]:
        """Counts (G, 3, R) -> parameters (P, R) float64, converged (R,) mask, iterations, last max step.

        A resample without a finite maximum (separated: a model won or lost every resampled vote) does not
        converge: its strengths drift off at every step. It is flagged, not returned as a number. On sparse
        comparison graphs the chord iteration can stall or diverge; with logistic ties those draws are then
        solved by Newton's method from the full-data fit, each step an inner conjugate-gradient solve
        preconditioned by H0^-1 (Hessian-vector products cost one gradient each).
        """
        torch = self.torch
        counts = torch.as_tensor(counts, device=self.device).to(self.dtype)
        logistic = None
        if self.logistic:
            wa, wb, tt = (counts[:, c] * self.weight for c in range(3))
            half = self.fit.ties == "half"
            logistic = (wa + 0.5 * tt if half else wa, wa + wb + tt if half else wa + wb)
        delta = torch.zeros((self.start.shape[0], counts.shape[-1]), dtype=torch.float64, device=self.device)
        chord_iter = min(self.max_iter, 15) if logistic is not None else self.max_iter
        iterations = 0
        while iterations < chord_iter:
            iterations += 1
            step = self.h_inv @ self._gradient(delta.to(self.dtype), counts, logistic)
            delta += step
            per_draw = step.abs().amax(0)
            if float(per_draw.max()) <= self.tol:
                break
        converged = torch.isfinite(delta).all(0) & (per_draw <= self.tol)
        if logistic is not None and not bool(converged.all()):
            todo = torch.nonzero(~converged).flatten()
            y, m = (x.index_select(1, todo).to(torch.float64) for x in logistic)
            sub, sub_step, newton_iter = self._newton(y, m)
            delta[:, todo] = sub
            per_draw[todo] = sub_step
            converged[todo] = torch.isfinite(sub).all(0) & (sub_step <= self.tol)
            iterations = max(iterations, newton_iter)
        last = float(per_draw[converged].max()) if bool(converged.any()) else float("nan")
        return self.start + delta, converged, iterations, last

    def _linear(self, v):
        """(P, R) -> (G, R): the change of each group's linear predictor for a change v of the parameters."""
        k = self.k
        out = v[:k].index_select(0, self.i).sub_(v[:k].index_select(0, self.j))  # fresh tensor: in place
        return out.add_(v[k : k + 1]) if self.fit.position else out

    def _linear_t(self, u):
        """(G, R) -> (P, R): the transpose of :meth:`_linear` (scatter to models, sum for the position term)."""
        torch = self.torch
        g = torch.zeros((self.k, u.shape[1]), dtype=u.dtype, device=u.device)
        g.index_add_(0, self.i, u).index_add_(0, self.j, u, alpha=-1.0)
        return torch.cat([g, u.sum(0, keepdim=True)]) if self.fit.position else g

    def _newton(self, y, m, max_newton: int = 30, max_cg: int = 200):
        """Newton's method with PCG inner solves for logistic ties, float64, from the full-data fit.

        Returns deltas (P, R), the last step's largest change per draw, and the Newton iterations used.
        """
        torch = self.torch
        k, prior = self.k, self.fit.prior
        d0 = self.d0_64
        delta = torch.zeros((self.start.shape[0], y.shape[1]), dtype=torch.float64, device=self.device)
        step_max = torch.full((y.shape[1],), float("inf"), dtype=torch.float64, device=self.device)
        it = 0
        while it < max_newton:
            it += 1
            p = torch.sigmoid(d0 + self._linear(delta))
            grad = self._linear_t(y - m * p)
            if prior:
                grad[:k] -= prior * (self.start[:k] + delta[:k])
            w = m * p * (1.0 - p)

            def hess_vec(v, w=w):
                out = self._linear_t(w * self._linear(v))
                if prior:
                    out[:k] += prior * v[:k]
                return out

            step = self._pcg(hess_vec, grad, max_cg)
            # Damped: no strength moves by more than 2 natural units (175 Elo points) in one step.
            step_max = step.abs().amax(0)
            step *= (2.0 / step_max.clamp_min(1e-300)).clamp(max=1.0)
            delta += step
            if float(step_max.max()) <= self.tol:
                break
        return delta, step_max, it

    def _pcg(self, hess_vec, b, max_iter: int):
        """Solve H x = b for every draw (columns) by conjugate gradients preconditioned with H0^-1."""
        torch = self.torch
        x = torch.zeros_like(b)
        r = b.clone()
        z = self.h_inv @ r
        p = z.clone()
        rz = (r * z).sum(0)
        target = rz * 1e-24  # relative residual 1e-12 in the preconditioned norm
        for _ in range(max_iter):
            q = hess_vec(p)
            alpha = rz / (p * q).sum(0).clamp_min(1e-300)
            x += alpha * p
            r -= alpha * q
            z = self.h_inv @ r
            rz_new = (r * z).sum(0)
            if bool((rz_new <= target).all()):
                break
            p = z + (rz_new / rz.clamp_min(1e-300)) * p
            rz = rz_new
        return x


def _draw_params(fit: BTFit, produce, sizes: list[int], device, tol: float, max_iter: int, progress: bool,
                 kind: str) -> Draws:
    """Draw and refit chunks of resamples in order; ``produce(chunk, size)`` returns (G, 3, size) counts.

    Each stage is parallel inside (numba or torch threads), so they run one after the other.
    """
    import torch
    from tqdm.auto import tqdm

    refitter = _Refitter(fit, device, tol, max_iter)
    out, iters, worst, failed = [], 0, 0.0, 0
    with torch.inference_mode(), tqdm(total=sum(sizes), desc=f"{kind} refits", disable=not progress,
                                      leave=False) as bar:
        for c, size in enumerate(sizes):
            counts = produce(c, size)
            params, converged, it, step = refitter.refit(counts)
            params, converged = params.T.cpu().numpy(), converged.cpu().numpy()
            if not converged.all():
                # Far from the full-data fit the chord iteration can stall: refit those resamples exactly, one by
                # one. Those with no finite maximum raise and are left out (counted in ``failed``).
                fixed = _exact_refits(fit, np.asarray(counts.cpu() if hasattr(counts, "cpu") else counts),
                                      np.flatnonzero(~converged))
                for r, row in fixed.items():
                    params[r], converged[r] = row, True
            out.append(params[converged])
            failed += size - int(converged.sum())
            iters = max(iters, it)
            if not math.isnan(step):  # NaN when no draw of this chunk converged
                worst = max(worst, step)
            bar.update(size)
    params = np.concatenate(out)
    if not len(params):
        raise ValueError(f"{kind}: none of the {sum(sizes)} resamples has a finite maximum (in each, some model "
                         "won or lost all its votes); set prior= (e.g. prior=0.01) to refit them with a penalty")
    k = fit.table.n_models
    theta = params[:, :k] - params[:, :k].mean(1, keepdims=True)
    idx = k + int(fit.position)
    return Draws(theta=theta, gamma=params[:, k] if fit.position else None,
                 tau=params[:, idx] if fit.tau is not None else None, iterations=iters, kind=kind, max_step=worst,
                 failed=failed)


def _exact_refits(fit: BTFit, counts: np.ndarray, which: np.ndarray) -> dict[int, np.ndarray]:
    """Exact fits (theta, [gamma], [tau]) of resamples ``which`` of counts (G, 3, R); separated ones are skipped."""
    from .bt import FitError, fit_bt

    out = {}
    for r in which:
        try:
            one = fit_bt(fit.table.with_counts(counts[:, :, r].astype(np.float64)), ties=fit.ties,
                         position=fit.position, prior=fit.prior)
        except FitError:
            continue
        out[int(r)] = np.concatenate([one.theta, [one.gamma] if fit.position else [],
                                      [one.tau] if fit.tau is not None else []])
    return out


def _chunks(n_draws: int, size: int) -> list[int]:
    return [min(size, n_draws - s) for s in range(0, n_draws, size)]


def bootstrap(
    fit: BTFit,
    resamples: int = 1000,
    *,
    seed: int | None = None,
    device: str = "auto",
    tol: float = 1e-6,
    max_iter: int = 50,
    progress: bool = False,
    sampler: str = "auto",
) -> Draws:
    """Vote bootstrap: ``resamples`` exact multinomial resamples of the counts, refitted in batches.

    ``sampler="auto"`` draws on CPU with :mod:`analysis.sampling` (the resamples of :func:`multinomial_counts`
    with the same seed: resample r depends only on the seed and r) and on a GPU with torch binomials there
    (different streams, same law); ``"numba"`` or ``"torch"`` forces one. ``tol`` is the largest change of any
    strength in the last refit step (natural units; 1e-6 is 0.0002 Elo points at scale 400), far below the
    Monte Carlo error of percentile intervals.
    """
    from .sampling import Resampler, draw_keys

    if sampler not in ("auto", "numba", "torch"):
        raise ValueError(f"sampler must be 'auto', 'numba' or 'torch', not {sampler!r}")
    dev = resolve_device(device)
    table = fit.table
    sizes = _chunks(resamples, _chunk_size(fit, resamples))
    if sampler == "numba" or (sampler == "auto" and dev.type == "cpu"):
        keys, resampler = draw_keys(seed, resamples), Resampler(table.counts)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        buffer = [None]  # one block reused: each is refitted before the next is drawn

        def produce(chunk, n):
            buffer[0] = resampler(keys[starts[chunk] : starts[chunk] + n], out=buffer[0])
            return buffer[0]
    else:
        seeds = [int(x) for x in draw_keys(seed, len(sizes))]

        def produce(chunk, n):
            return _torch_resamples(table, n, seeds[chunk], dev)

    return _draw_params(fit, produce, sizes, dev, tol, max_iter, progress, "bootstrap")


def cluster_bootstrap(
    fit: BTFit,
    matrix: scipy.sparse.csr_matrix,
    resamples: int = 1000,
    *,
    seed: int | None = None,
    device: str = "auto",
    tol: float = 1e-6,
    max_iter: int = 50,
    progress: bool = False,
) -> Draws:
    """Cluster bootstrap: resample whole clusters (voters, prompts) with replacement and refit in batches.

    ``matrix`` is :func:`cluster_matrix` output (clusters x 3G vote counts); a resample's counts are the
    cluster weights (Multinomial(n_clusters, uniform)) times that matrix.
    """
    from .sampling import draw_keys

    dev = resolve_device(device)
    n_clusters = matrix.shape[0]
    # The (draws x clusters) weights are int64 too: keep them under the budget as well.
    size = min(_chunk_size(fit, resamples), max(1, _MEMORY_BUDGET // (16 * n_clusters)))
    sizes = _chunks(resamples, size)
    seeds = [int(x) for x in draw_keys(seed, len(sizes))]
    mat_t = matrix.T.tocsr()

    def produce(chunk, n):
        # n_clusters draws with replacement per resample, counted: the Multinomial(n_clusters, uniform) weights,
        # ~10x faster than a multinomial call (one integer per cluster instead of one binomial).
        rng = np.random.default_rng(seeds[chunk])
        picks = rng.integers(0, n_clusters, size=(n, n_clusters)) + np.arange(n)[:, None] * n_clusters
        weights = np.bincount(picks.ravel(), minlength=n * n_clusters).reshape(n, n_clusters)
        return np.asarray(mat_t @ weights.T, dtype=np.float64).reshape(-1, 3, n)

    return _draw_params(fit, produce, sizes, dev, tol, max_iter, progress, "cluster bootstrap")


# ---------------------------------------------------------------------------------------------- sandwich


def _per_vote_scores(fit: BTFit):
    """Per-vote scores in (d, tau) for each group and outcome: arrays (G, 3)."""
    table = fit.table
    d = fit.theta[table.i] - fit.theta[table.j] + (fit.gamma if fit.position else 0.0)
    tau = 0.0 if fit.tau is None else fit.tau
    s_d, s_t = np.zeros((len(d), 3)), np.zeros((len(d), 3))
    for c in range(3):
        unit = [np.zeros_like(d) for _ in range(3)]
        unit[c] = np.ones_like(d)
        if fit.ties == "drop" and c == 2:
            continue
        _, l_d, l_t, *_ = cell_derivatives(d, tau, *unit, fit.ties)
        s_d[:, c], s_t[:, c] = l_d * table.weight, l_t * table.weight
    return s_d, s_t


@single_threaded_blas
def covariance(fit: BTFit, kind: str = "sandwich", *, cluster_matrix_: scipy.sparse.csr_matrix | None = None):
    """Covariance of (theta, [gamma], [tau]) in the mean-zero gauge for theta.

    kind ``"model"``: inverse observed information ``H^-1``. kind ``"sandwich"``: ``H^-1 J H^-1`` with J the sum
    over votes of squared scores (robust to misspecification, e.g. ties that are not half wins), or over clusters
    of summed scores when ``cluster_matrix_`` is given.
    """
    table = fit.table
    k, p = table.n_models, fit.n_params
    free = np.arange(p) if fit.prior > 0 else np.delete(np.arange(p), k - 1)
    h = fit.hessian.toarray() if scipy.sparse.issparse(fit.hessian) else np.asarray(fit.hessian)
    h_inv = np.zeros((p, p))
    h_inv[np.ix_(free, free)] = scipy.linalg.cho_solve(scipy.linalg.cho_factor(h[np.ix_(free, free)]),
                                                      np.eye(len(free)))
    if kind == "model":
        cov = h_inv
    elif kind == "sandwich":
        s_d, s_t = _per_vote_scores(fit)
        use_tau = fit.tau is not None
        if cluster_matrix_ is None:
            n = table.counts
            meat = info_matrix(table, (n * s_d**2).sum(1), (n * s_d * s_t).sum(1), (n * s_t**2).sum(1),
                               position=fit.position, use_tau=use_tau)
            meat = meat.toarray() if scipy.sparse.issparse(meat) else meat
        else:
            meat = _cluster_meat(fit, cluster_matrix_, s_d, s_t)
        cov = h_inv @ meat @ h_inv
    else:
        raise ValueError(f"kind must be 'sandwich' or 'model', not {kind!r}")
    # Move theta to the mean-zero gauge: theta_c = C theta with C = I - 11'/K.
    c = np.eye(p)
    c[:k, :k] -= 1.0 / k
    return c @ cov @ c.T


def _cluster_meat(fit: BTFit, mat: scipy.sparse.csr_matrix, s_d: np.ndarray, s_t: np.ndarray) -> np.ndarray:
    table = fit.table
    k, p = table.n_models, fit.n_params
    # Score of each cluster: sum over its votes; the theta part scatters +s to model i and -s to model j.
    per_cell_d = s_d.reshape(-1)
    g_of_cell = np.repeat(np.arange(len(table.i)), 3)
    sd = mat.multiply(per_cell_d[None, :]).tocsr()
    inc = scipy.sparse.coo_matrix(
        (np.concatenate([np.ones(len(g_of_cell)), -np.ones(len(g_of_cell))]),
         (np.concatenate([np.arange(len(g_of_cell))] * 2),
          np.concatenate([table.i[g_of_cell], table.j[g_of_cell]]))),
        shape=(len(g_of_cell), k),
    ).tocsr()
    scores = [np.asarray((sd @ inc).todense())]
    if fit.position:
        scores.append(np.asarray(sd.sum(1)))
    if fit.tau is not None:
        scores.append(np.asarray(mat @ s_t.reshape(-1))[:, None])
    s = np.hstack(scores)
    assert s.shape[1] == p
    return s.T @ s


# ---------------------------------------------------------------------------------------------- summaries


def percentile_interval(draws: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentile bounds over axis 0."""
    alpha = (1.0 - level) / 2.0
    return np.quantile(draws, alpha, axis=0), np.quantile(draws, 1.0 - alpha, axis=0)


def rank_draws(ratings: np.ndarray) -> np.ndarray:
    """Competition ranks (1 = best) of each model in each draw: 1 + the number of models strictly above."""
    ratings = np.asarray(ratings)
    order = np.argsort(-ratings, axis=1, kind="stable")
    ranked = np.take_along_axis(ratings, order, axis=1)
    # Within a run of equal values every model takes the run's first position (competition ranking).
    position = np.broadcast_to(np.arange(ratings.shape[1]), ranked.shape)
    starts = np.ones(ranked.shape, dtype=bool)
    starts[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
    out = np.empty(ratings.shape, dtype=np.int64)
    np.put_along_axis(out, order, first + 1, axis=1)
    return out


def normal_quantile(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


def z_interval(estimate: np.ndarray, se: np.ndarray, level: float = 0.95):
    z = normal_quantile(level)
    return estimate - z * se, estimate + z * se


__all__ = [
    "Draws",
    "bootstrap",
    "cluster_bootstrap",
    "cluster_matrix",
    "covariance",
    "multinomial_counts",
    "percentile_interval",
    "rank_draws",
    "resolve_device",
    "z_interval",
]
