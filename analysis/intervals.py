"""Uncertainty for Bradley-Terry ratings: batched bootstrap, cluster bootstrap and sandwich covariance.

Why it is fast. Resampling N votes with replacement is the same as drawing the cell counts from a multinomial
over the cells, so a resample costs O(cells), not O(votes). We draw it exactly (:mod:`analysis.sampling`:
Poisson counts by table inversion plus a one-by-one fill, compiled with numba; torch binomials on a GPU).
The B refits are B independent Newton systems around the full-data fit; we solve them together with a chord
iteration (the full-data Hessian inverted once, the gradients of all draws as one gather / scatter pass over a
groups-by-draws table, mixed precision for logistic ties; :mod:`analysis.bt.refit`), in numpy on CPU (no torch
import; a block's tables split between the free cores) or in torch on a GPU, in chunks that keep memory under a
budget. This module only resamples and turns draws into intervals; every likelihood is maximised in
:mod:`analysis.bt`.

A cluster bootstrap (voters, prompts) resamples clusters: counts are a (clusters x cells) sparse matrix times
multinomial cluster weights, then the same batched refit. The sandwich covariance is ``H^-1 J H^-1`` with J
summed per vote (robust to misspecification) or per cluster; the model-based covariance is ``H^-1``.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
from numpy.typing import NDArray

from . import bt
from .bt import BTFit, PairTable, cell_derivatives, centred_covariance, info_matrix, single_threaded_blas
from .devices import resolve_device

FloatArray = NDArray[np.float64]

_MEMORY_BUDGET = 512 * 2**20  # bytes of float64 temporaries per chunk


@dataclass
class Draws:
    """Bootstrap draws of strengths (natural scale, mean-zero gauge), plus tie/position parameters."""

    theta: FloatArray  # (B, K)
    gamma: FloatArray | None  # (B,)
    tau: FloatArray | None  # (B,)
    iterations: int
    kind: str
    max_step: float  # the last chord step of the kept draws, natural units: their numerical error is below it
    failed: int = 0  # resamples left out: no finite maximum (some models won or lost all their resampled votes)
    newton: int = 0  # resamples the chord iteration handed to Newton-CG (sparse comparison graphs)


# ---------------------------------------------------------------------------------------------- resampling


def _tree_multinomial(total: Any, probs: Any, generator: Any) -> Any:
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


def _torch_resamples(table: PairTable, n_draws: int, seed: int, device: Any) -> Any:
    """(G, 3, n_draws) float32 exact vote-bootstrap counts drawn with torch on ``device`` (the GPU path)."""
    import torch

    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    flat = torch.as_tensor(table.counts.reshape(-1), dtype=torch.float64, device=device)
    total = flat.sum()
    draws = _tree_multinomial(total.expand(n_draws).contiguous(), flat / total, gen)
    return draws.T.reshape(-1, 3, n_draws).to(torch.float32 if float(total) < 2**24 else torch.float64)


def multinomial_counts(table: PairTable, n_draws: int, seed: int | None = None, *,
                       method: str = "auto") -> FloatArray:
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


def _draw_params(fit: BTFit, produce: Callable[[int, int], Any], sizes: list[int], device: Any, tol: float,
                 max_iter: int, progress: bool | None, kind: str, threads: int | None = None) -> Draws:
    """Draw and refit chunks of resamples in order; ``produce(chunk, size)`` returns (G, 3, size) counts.

    Refits go through :class:`analysis.bt.Refitter` (chord, Newton-CG where it stalls, exact fits for the rest).
    ``progress``: True shows a bar, False never, None shows one once the work has taken more than a second.
    """
    refitter = bt.Refitter(fit, device, tol, max_iter)
    out, iters, worst, failed, newton = [], 0, 0.0, 0, 0
    bar = _Progress(sum(sizes), f"{kind} refits", progress)
    try:
        with _inference_mode(device):
            for c, size in enumerate(sizes):
                res = refitter(produce(c, size), threads=threads)
                out.append(res.params[res.converged])
                failed += size - int(res.converged.sum())
                iters = max(iters, res.iterations)
                newton += res.newton
                if not math.isnan(res.max_step):  # NaN when no draw of this chunk converged by chord or Newton
                    worst = max(worst, res.max_step)
                bar.update(size)
    finally:
        bar.close()
    params = np.concatenate(out)
    if not len(params):
        raise ValueError(f"{kind}: none of the {sum(sizes)} resamples has a finite maximum (in each, some model "
                         "won or lost all its votes); set prior= (e.g. prior=0.01) to refit them with a penalty")
    k = fit.table.n_models
    theta = params[:, :k] - params[:, :k].mean(1, keepdims=True)
    idx = k + int(fit.position)
    return Draws(theta=theta, gamma=params[:, k] if fit.position else None,
                 tau=params[:, idx] if fit.tau is not None else None, iterations=iters, kind=kind, max_step=worst,
                 failed=failed, newton=newton)


class _Progress:
    """A tqdm.auto bar shown from the start (``progress=True``), never (False), or once the work has run for a
    second (None). tqdm (and, in a notebook, ipywidgets) is imported only when a bar is shown, so a board that
    takes 0.2 s does not pay for the import."""

    def __init__(self, total: int, desc: str, progress: bool | None):
        self.total, self.desc, self.progress = total, desc, progress
        self.done, self.start, self.bar = 0, time.perf_counter(), None
        if progress is True:
            self._open()

    def _open(self) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=self.total, initial=self.done, desc=self.desc, leave=False)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.progress is None and self.done < self.total and time.perf_counter() - self.start > 1.0:
            self._open()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _inference_mode(device: Any) -> Any:
    """torch's inference mode on a torch device, nothing on the numpy path."""
    if device is None:
        return contextlib.nullcontext()
    import torch

    return torch.inference_mode()


def _refit_device(device: Any) -> Any:
    """None for the numpy path on CPU, else the torch device. ``"auto"`` imports torch only when a GPU may be
    present (torch already imported, or an NVIDIA / ROCm device node), so a CPU-only board never pays for it."""
    if device is None or (isinstance(device, str) and device == "cpu"):
        return None
    if isinstance(device, str) and device == "auto" and "torch" not in sys.modules and not _gpu_visible():
        return None
    dev = resolve_device(device)
    return None if dev.type == "cpu" else dev


def _gpu_visible() -> bool:
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd", "/dev/dxg"))


_Refitter = bt.Refitter  # its former home: the batched refit now lives in analysis.bt.refit


def _chunks(n_draws: int, size: int) -> list[int]:
    return [min(size, n_draws - s) for s in range(0, n_draws, size)]


def bootstrap(
    fit: BTFit,
    resamples: int = 1000,
    *,
    seed: int | None = None,
    device: Any = "auto",
    tol: float = 1e-6,
    max_iter: int = 50,
    progress: bool | None = None,
    sampler: str = "auto",
    threads: int | None = None,
) -> Draws:
    """Vote bootstrap: ``resamples`` exact multinomial resamples of the counts, refitted in batches.

    ``sampler="auto"`` draws on CPU with :mod:`analysis.sampling` (the resamples of :func:`multinomial_counts`
    with the same seed: resample r depends only on the seed and r) and on a GPU with torch binomials there
    (different streams, same law); ``"numba"`` or ``"torch"`` forces one. ``tol`` is the largest change of any
    strength in the last refit step (natural units; 1e-6 is 0.0002 Elo points at scale 400), far below the
    Monte Carlo error of percentile intervals.

    Threads: on CPU the sampler (numba) and the refits (numpy, the tables split between Python threads) use
    ``threads`` threads; None takes :func:`analysis.sampling.default_threads` (the cores free right now), so a
    busy machine gets the single-threaded path instead of threads waiting for a core. The draws do not depend on
    it.
    ``progress``: True shows a progress bar, False never, None once the bootstrap has run for a second.
    """
    if sampler not in ("auto", "numba", "torch"):
        raise ValueError(f"sampler must be 'auto', 'numba' or 'torch', not {sampler!r}")
    refit_dev = _refit_device(device)
    table = fit.table
    sizes = _chunks(resamples, _chunk_size(fit, resamples))
    if sampler == "numba" or (sampler == "auto" and refit_dev is None):
        from .sampling import Resampler, draw_keys

        keys, resampler = draw_keys(seed, resamples), Resampler(table.counts, threads=threads)
        starts = np.concatenate([[0], np.cumsum(sizes)])
        buffer = [None]  # one block reused: each is refitted before the next is drawn

        def produce(chunk: int, n: int) -> Any:
            buffer[0] = resampler(keys[starts[chunk] : starts[chunk] + n], out=buffer[0])
            return buffer[0]
    else:
        from .sampling import draw_keys

        seeds = [int(x) for x in draw_keys(seed, len(sizes))]
        draw_dev = refit_dev if refit_dev is not None else resolve_device("cpu")

        def produce(chunk: int, n: int) -> Any:
            return _torch_resamples(table, n, seeds[chunk], draw_dev)

    return _draw_params(fit, produce, sizes, refit_dev, tol, max_iter, progress, "bootstrap", threads)


def cluster_bootstrap(
    fit: BTFit,
    matrix: scipy.sparse.csr_matrix,
    resamples: int = 1000,
    *,
    seed: int | None = None,
    device: Any = "auto",
    tol: float = 1e-6,
    max_iter: int = 50,
    progress: bool | None = None,
) -> Draws:
    """Cluster bootstrap: resample whole clusters (voters, prompts) with replacement and refit in batches.

    ``matrix`` is :func:`cluster_matrix` output (clusters x 3G vote counts); a resample's counts are the
    cluster weights (Multinomial(n_clusters, uniform)) times that matrix.
    """
    from .sampling import draw_keys

    refit_dev = _refit_device(device)
    n_clusters = matrix.shape[0]
    # The (draws x clusters) weights are int64 too: keep them under the budget as well.
    size = min(_chunk_size(fit, resamples), max(1, _MEMORY_BUDGET // (16 * n_clusters)))
    sizes = _chunks(resamples, size)
    seeds = [int(x) for x in draw_keys(seed, len(sizes))]
    mat_t = matrix.T.tocsr()

    def produce(chunk: int, n: int) -> FloatArray:
        # n_clusters draws with replacement per resample, counted: the Multinomial(n_clusters, uniform) weights,
        # ~10x faster than a multinomial call (one integer per cluster instead of one binomial).
        rng = np.random.default_rng(seeds[chunk])
        picks = rng.integers(0, n_clusters, size=(n, n_clusters)) + np.arange(n)[:, None] * n_clusters
        weights = np.bincount(picks.ravel(), minlength=n * n_clusters).reshape(n, n_clusters)
        return np.asarray(mat_t @ weights.T, dtype=np.float64).reshape(-1, 3, n)

    return _draw_params(fit, produce, sizes, refit_dev, tol, max_iter, progress, "cluster bootstrap")


# ---------------------------------------------------------------------------------------------- sandwich


def _per_vote_scores(fit: BTFit) -> tuple[FloatArray, FloatArray]:
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
def covariance(fit: BTFit, kind: str = "sandwich", *,
               cluster_matrix_: scipy.sparse.csr_matrix | None = None) -> FloatArray:
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
    return centred_covariance(cov, k)


def _cluster_meat(fit: BTFit, mat: scipy.sparse.csr_matrix, s_d: FloatArray, s_t: FloatArray) -> FloatArray:
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


def percentile_interval(draws: NDArray[np.floating], level: float = 0.95) -> tuple[FloatArray, FloatArray]:
    """Lower and upper percentile bounds over axis 0."""
    alpha = (1.0 - level) / 2.0
    # Each model's draws contiguous: the selection runs along rows (5x faster than down strided columns).
    columns = np.ascontiguousarray(np.asarray(draws).T)
    return np.quantile(columns, alpha, axis=-1), np.quantile(columns, 1.0 - alpha, axis=-1)


def rank_draws(ratings: NDArray[np.floating], block: int = 64) -> NDArray[np.int64]:
    """Competition ranks (1 = best) of each model in each draw: 1 + the number of models strictly above.

    Rows are ranked in blocks of ``block`` draws (cache-sized temporaries, int32 positions) with numpy's default
    (SIMD) sort: equal values share their run's first position whatever order the sort leaves them in.
    """
    ratings = np.asarray(ratings)
    n, k = ratings.shape
    out = np.empty((n, k), dtype=np.int64)
    position = np.arange(1, k, dtype=np.int32)
    for s in range(0, n, block):
        rows = ratings[s : s + block]
        order = np.argsort(-rows, axis=1)
        ranked = np.take_along_axis(rows, order, axis=1)
        # Within a run of equal values every model takes the run's first position (competition ranking).
        first = np.zeros((len(rows), k), dtype=np.int32)
        np.copyto(first[:, 1:], position, where=ranked[:, 1:] != ranked[:, :-1])
        np.maximum.accumulate(first, axis=1, out=first)
        first += 1
        np.put_along_axis(out[s : s + block], order, first, axis=1)
    return out


def normal_quantile(level: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + level / 2.0))


def z_interval(estimate: NDArray[np.floating], se: NDArray[np.floating],
               level: float = 0.95) -> tuple[FloatArray, FloatArray]:
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
