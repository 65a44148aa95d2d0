"""Batched Bradley-Terry refits: many count tables refitted together around one fit, through one entry point.

Why batched: a bootstrap refits the same model to hundreds of resampled count tables that all sit close to the
full-data counts. :func:`refit_batch` (and the reusable :class:`Refitter` behind it) solves them together and
chooses the method per table:

1. **Chord iteration** ``params += H0^-1 grad(params)``, H0 the full-data negative Hessian factored once. The
   gradients of all tables are one gather, one elementwise pass and one scatter over the (groups x tables) array
   (tables last, so gathers and scatters move whole contiguous rows). Warm-started at the full-data fit it
   contracts by roughly the relative sampling noise of the Hessian per step (5-7 steps to 1e-6 on Chatbot
   Arena). For half / drop ties with ``tol >= 1e-7`` (and under 2**24 votes) the linear predictor and score are
   computed in float32 around the float64 full-data values (mixed precision: the solution moves by < 1e-7
   natural units); parameters and the solve stay float64.
2. **Newton with preconditioned conjugate gradients** for the tables where the chord stalls (sparse comparison
   graphs: one shared Hessian is too far from each table's), logistic ties: each Newton step solves the table's
   own Hessian by CG preconditioned with H0^-1; a Hessian-vector product costs one gather and one scatter.
3. **Exact one-by-one fits** (:func:`analysis.bt.fit_bt`) for whatever is left (Davidson or Rao-Kupper tables
   far from the fit). A table with no finite maximum (a model won or lost all its votes, no prior) is flagged,
   never returned as a number.

Every converged table equals its own exact fit to ``tol`` (the last step's largest change, natural units).

Backends. On CPU the refits run in numpy on the calling thread (no thread pool: a refit is never slowed by a
busy core, and torch is not imported), with H0 inverted densely up to 1,000 parameters. Beyond, H0 is factored
as a sparse LU (Davidson and Rao-Kupper chords), and logistic-tie tables go straight to a compiled Newton-CG
kernel (:mod:`analysis.bt._kernels`, one table per thread on the free cores). On a torch device (a GPU) the same
iteration runs in torch with a dense inverse.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from numpy.typing import NDArray

from .core import BTFit, FitError, cell_derivatives, evaluate, fit_bt, pair_table_from_arrays, single_threaded_blas

DENSE_MAX = 1000  # parameters up to which H0 is inverted densely; a sparse LU factorisation beyond

FloatArray = NDArray[np.float64]


@dataclass
class BatchRefit:
    """Refits of R count tables around one fit.

    Attributes
    ----------
    params : (R, P) float64, theta (in the centre fit's gauge, not re-centred), then gamma and tau when fitted;
        rows of tables that did not converge are undefined (NaN or a partial iterate).
    converged : (R,) bool; False only for tables with no finite maximum (or, rarely, no convergence at all).
    iterations : the largest number of chord or Newton steps any table took.
    max_step : the largest last step (natural units) over the converged chord / Newton tables; their numerical
        error is below it. NaN when none converged that way.
    newton : tables solved by Newton with conjugate gradients after the chord iteration stalled.
    exact : tables solved one by one by :func:`analysis.bt.fit_bt`.
    """

    params: FloatArray
    converged: NDArray[np.bool_]
    iterations: int
    max_step: float
    newton: int = 0
    exact: int = 0


def _is_torch_device(device: Any) -> bool:
    return device is not None and not isinstance(device, str) and type(device).__module__.startswith("torch")


class Refitter:
    """Batched refits around one full-data fit; H0 is factored once, then :meth:`__call__` per block of tables.

    Parameters
    ----------
    fit
        The full-data fit (its Hessian is H0; its parameters are the starting point).
    device
        None or ``"cpu"``: numpy on the calling thread. A ``torch.device``: torch on that device.
    tol
        Convergence when no parameter of a table moved by more than ``tol`` (natural units) in the last step.
    max_iter
        Most chord steps (logistic ties switch to Newton after at most 15).
    """

    @single_threaded_blas
    def __init__(self, fit: BTFit, device: Any = None, tol: float = 1e-6, max_iter: int = 50):
        self.fit, self.tol, self.max_iter = fit, float(tol), int(max_iter)
        self.use_torch = _is_torch_device(device)
        self.device = device
        table = fit.table
        k = table.n_models
        self.k = k
        self.use_tau = fit.tau is not None
        self.logistic = fit.ties in ("half", "drop")
        self.weighted = bool((table.weight != 1.0).any())
        small = float(table.counts.sum()) < 2**24  # float32 holds every count exactly below 2**24 votes
        mixed = self.logistic and tol >= 1e-7 and small
        p = fit.n_params
        # Gauge: without a prior the last model is held at its full-data value (a zero row and column in the
        # padded inverse); the draws are re-centred by the caller.
        self.free = np.arange(p) if fit.prior > 0 else np.delete(np.arange(p), k - 1)
        free = self.free
        h = fit.hessian
        if h is None:
            h = evaluate(table, fit.theta, fit.gamma, fit.tau, fit.ties, fit.prior, position=fit.position)[2]
        sparse = scipy.sparse.issparse(h) and len(free) > DENSE_MAX and not self.use_torch
        self.lu = None
        self._h_inv32 = None
        h_inv = None
        if sparse:
            sub = scipy.sparse.csc_matrix(h)[free][:, free]
            self.lu = scipy.sparse.linalg.splu(sub.tocsc())
        else:
            dense = np.asarray(h.toarray() if scipy.sparse.issparse(h) else h, dtype=np.float64)
            h_inv = np.zeros((p, p))
            sub = dense[np.ix_(free, free)]
            try:
                h_inv[np.ix_(free, free)] = scipy.linalg.cho_solve(scipy.linalg.cho_factor(sub), np.eye(len(free)))
            except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
                h_inv[np.ix_(free, free)] = np.linalg.pinv(sub, hermitian=True)
        extras = ([fit.gamma] if fit.position else []) + ([fit.tau] if self.use_tau else [])
        start = np.concatenate([fit.theta, extras])[:, None]
        d0 = (fit.theta[table.i] - fit.theta[table.j] + (fit.gamma if fit.position else 0.0))[:, None]
        if self.use_torch:
            import torch

            self.torch = torch
            self.dtype = torch.float32 if mixed else torch.float64

            def t(x, dtype=torch.float64):
                return torch.as_tensor(np.ascontiguousarray(x), dtype=dtype, device=device)

            self.h_inv = t(h_inv)
            self.i, self.j = t(table.i, torch.long), t(table.j, torch.long)
            self.weight = t(table.weight[:, None], self.dtype)
            self.start, self.d0, self.d0_64 = t(start), t(d0, self.dtype), t(d0)
        else:
            self.torch = None
            self.dtype = np.float32 if mixed else np.float64
            self.h_inv = h_inv
            self.i, self.j = np.asarray(table.i, np.intp), np.asarray(table.j, np.intp)
            self.weight = np.ascontiguousarray(table.weight[:, None], self.dtype)
            self.start, self.d0, self.d0_64 = start, d0.astype(self.dtype), d0
            with np.errstate(over="ignore"):
                self.e0 = np.exp(-d0).astype(self.dtype)  # exp(-d) at the full-data fit, per group
            g = len(table.i)
            # The scatter (transpose of the gather) as a sparse (K x G) matrix: +1 at (i_g, g), -1 at (j_g, g).
            inc = scipy.sparse.csr_matrix(
                (np.concatenate([np.ones(g), -np.ones(g)]),
                 (np.concatenate([self.i, self.j]), np.concatenate([np.arange(g), np.arange(g)]))), shape=(k, g))
            self._scatter = {np.dtype(np.float64): inc, np.dtype(np.float32): inc.astype(np.float32)}
            # ... and the gather itself, (G x K): a sparse product writes each (G, R) row once, about 10x faster than
            # two np.take row gathers and a subtraction; the two nonzeros per row add up exactly as a difference.
            self._gather = {dt: m.T.tocsr() for dt, m in self._scatter.items()}
            self._gather_neg = {dt: -m for dt, m in self._gather.items()}
            self._i32, self._j32 = self.i.astype(np.int32), self.j.astype(np.int32)

    # ------------------------------------------------------------------------------------------ array helpers

    def _as_work(self, counts: Any) -> Any:
        """Counts (G, 3, R) in the backend's working precision, on its device."""
        if self.use_torch:
            return self.torch.as_tensor(counts, device=self.device).to(self.dtype)
        if hasattr(counts, "cpu"):  # a torch tensor given to the numpy backend
            counts = counts.cpu().numpy()
        return np.asarray(counts, dtype=self.dtype)

    @property
    def _f64_dtype(self) -> Any:
        return self.torch.float64 if self.use_torch else np.float64

    def _f64(self, x: Any) -> Any:
        return x.to(self.torch.float64) if self.use_torch else x.astype(np.float64, copy=False)

    def _cast(self, x: Any, dtype: Any) -> Any:
        return x.to(dtype) if self.use_torch else x.astype(dtype, copy=False)

    def _zeros(self, rows: int, cols: int) -> Any:
        if self.use_torch:
            return self.torch.zeros((rows, cols), dtype=self.torch.float64, device=self.device)
        return np.zeros((rows, cols))

    def _colmax_abs(self, x: Any) -> Any:
        return x.abs().amax(0) if self.use_torch else np.abs(x).max(0)

    def _where(self, mask: Any, a: Any, b: Any) -> Any:
        """``a`` where ``mask`` (per column), else ``b``."""
        if self.use_torch:
            b = b if hasattr(b, "shape") else self.torch.zeros_like(a) + b
            return self.torch.where(mask, a, b)
        return np.where(mask, a, b)

    def _sigmoid_(self, x: Any) -> Any:
        if self.use_torch:
            return self.torch.sigmoid_(x)
        np.negative(x, out=x)
        np.exp(x, out=x)
        x += 1.0
        return np.reciprocal(x, out=x)

    def _precondition32(self, x: Any) -> Any:
        """:meth:`_precondition` for the float32 inner solves (numpy)."""
        if self.lu is None:
            if self._h_inv32 is None:
                self._h_inv32 = self.h_inv.astype(np.float32)
            return self._h_inv32 @ x
        return self._precondition(x.astype(np.float64)).astype(np.float32)

    def _precondition(self, x: Any) -> Any:
        """H0^-1 x for a (P, R) float64 array (zero in the gauge coordinate)."""
        if self.lu is None:
            return self.h_inv @ x
        out = np.zeros_like(x)
        out[self.free] = self.lu.solve(np.ascontiguousarray(x[self.free]))
        return out

    def _linear(self, v: Any) -> Any:
        """(P, R) -> (G, R): the change of each group's linear predictor for a change v of the parameters."""
        k = self.k
        if self.use_torch:
            out = v[:k].index_select(0, self.i).sub_(v[:k].index_select(0, self.j))  # fresh tensor: in place
        else:
            out = np.asarray(self._gather[v.dtype] @ v[:k])
        if self.fit.position:
            out += v[k : k + 1]
        return out

    def _linear_t(self, u: Any) -> Any:
        """(G, R) -> (P', R): the transpose of :meth:`_linear` (scatter to models, sum for the position term)."""
        if self.use_torch:
            torch = self.torch
            g = torch.zeros((self.k, u.shape[1]), dtype=u.dtype, device=u.device)
            g.index_add_(0, self.i, u).index_add_(0, self.j, u, alpha=-1.0)
            return torch.cat([g, u.sum(0, keepdim=True)]) if self.fit.position else g
        g = np.asarray(self._scatter[u.dtype] @ u)
        return np.concatenate([g, u.sum(0, keepdims=True)]) if self.fit.position else g

    # ------------------------------------------------------------------------------------------ iterations

    def _gradient(self, delta: Any, counts: Any, logistic: Any) -> Any:
        """Score of every table at start + delta: (P, R) float64 from delta (P, R) in the working precision."""
        k = self.k
        if logistic is not None and not self.use_torch:
            # exp(-d) = exp(-d0) exp(-(d - d0)): the gather writes -(d - d0) and the full-data factor multiplies
            # in, two passes fewer over the (G, R) array than adding d0 and negating.
            d = np.asarray(self._gather_neg[delta.dtype] @ delta[:k])
            if self.fit.position:
                d -= delta[k : k + 1]
            np.exp(d, out=d)
            d *= self.e0
        else:
            d = self._linear(delta)
            d += self.d0
        if logistic is not None:
            # Half / drop ties: the score is y - m * sigmoid(d), no tie parameter.
            y, m = logistic
            if self.use_torch:
                l_d = _torch_score(self.torch, d, y, m)
            else:
                l_d = _numpy_score(d, y, m)
            l_t = None
        else:
            idx = k + int(self.fit.position)
            tau = self.start[idx : idx + 1] + delta[idx : idx + 1] if self.use_tau else 0.0
            wa, wb, tt = (counts[:, c] * self.weight for c in range(3))
            xp = self.torch if self.use_torch else np
            _, l_d, l_t, *_ = cell_derivatives(d, tau, wa, wb, tt, self.fit.ties, xp=xp)
        grad = self._f64(self._linear_t(l_d))  # theta rows, then the position row when fitted
        if self.fit.prior:
            grad[:k] -= self.fit.prior * (self.start[:k] + self._f64(delta[:k]))
        if self.use_tau:
            row = self._f64(l_t.sum(0, keepdim=True) if self.use_torch else l_t.sum(0, keepdims=True))
            grad = self.torch.cat([grad, row], dim=0) if self.use_torch else np.concatenate([grad, row])
        return grad

    def refit(self, counts: Any) -> tuple[Any, Any, int, float]:
        """Chord, then Newton-CG: counts (G, 3, R) -> params (P, R) float64, converged (R,), iterations, last step.

        Arrays are the backend's (numpy, or torch tensors on the device). A table without a finite maximum does
        not converge (its strengths drift off at every step) and is flagged. :meth:`__call__` adds the exact
        one-by-one fallback and returns numpy.
        """
        params, converged, iterations, last, _ = self._refit(counts)
        return params, converged, iterations, last

    def _refit(self, counts: Any) -> tuple[Any, Any, int, float, int]:
        """:meth:`refit`, plus the number of tables handed to Newton-CG."""
        counts = self._as_work(counts)
        newton = 0
        if self.lu is not None and self.logistic and not self.use_torch:
            return self._refit_compiled(counts)
        logistic = None
        if self.logistic:
            wa, wb, tt = (counts[:, c] * self.weight for c in range(3)) if self.weighted else counts.unbind(1) \
                if self.use_torch else (counts[:, 0], counts[:, 1], counts[:, 2])
            if self.fit.ties == "half":
                y = tt * 0.5
                y += wa
                m = wa + wb
                m += tt
            else:
                y, m = wa, wa + wb
            logistic = (y, m)
        delta = self._zeros(self.start.shape[0], counts.shape[-1])
        chord_iter = min(self.max_iter, 15) if logistic is not None else self.max_iter
        iterations = 0
        with np.errstate(all="ignore"):
            # A table stops moving at its first step <= tol, whatever the others in the block do: its result
            # depends on its own counts only (not on the block size, the order, or the other tables).
            per_draw = self._colmax_abs(delta) + math.inf
            done = per_draw < 0
            stalled = done
            while iterations < chord_iter:
                iterations += 1
                step = self._precondition(self._gradient(self._cast(delta, self.dtype), counts, logistic))
                size = self._colmax_abs(step)
                frozen = done | stalled
                step[:, frozen] = 0.0
                delta += step
                # Converged when the step and the error left after it are both <= tol: under linear contraction
                # by rho = size / previous size the remaining error is size * rho / (1 - rho).
                rate = size / per_draw
                newly = (size <= self.tol) & (size * rate <= self.tol * (1.0 - rate))
                per_draw = self._where(frozen, per_draw, size)
                done = done | (newly & ~stalled)
                if logistic is not None and iterations >= 3:
                    # Contracting by less than half per step (sparse graphs, the float32 noise floor): Newton-CG
                    # finishes those sooner than more chord steps.
                    stalled = stalled | (~done & ~(rate < 0.5))
                if bool((done | stalled).all()):
                    break
            finite = self.torch.isfinite(delta).all(0) if self.use_torch else np.isfinite(delta).all(0)
            converged = finite & done
            if logistic is not None and self.dtype != self._f64_dtype and bool(converged.any()):
                # Mixed precision stops at the float32 fixed point, which sits off the exact root by H0^-1 times
                # the float32 rounding of the score (up to ~1e-4 Elo on sparse boards): one chord step with the
                # score in float64 removes that to first order.
                y, m = (self._f64(x) for x in logistic)
                grad, _ = self._logistic_score64(delta, y, m)
                step = self._precondition(grad)
                step[:, ~converged] = 0.0
                delta += step
                size = self._colmax_abs(step)
                per_draw = self._where(converged, self._where(size > per_draw, size, per_draw), per_draw)
                converged = converged & (size <= self.tol)
            if logistic is not None and not bool(converged.all()):
                if self.use_torch:
                    todo = self.torch.nonzero(~converged).flatten()
                    y, m = (x.index_select(1, todo).to(self.torch.float64) for x in logistic)
                else:
                    todo = np.flatnonzero(~converged)
                    y, m = (x[:, todo].astype(np.float64) for x in logistic)
                # Newton starts where the chord left each table (its iterate is finite and usually closer).
                start = delta[:, todo]
                start = self._where(self.torch.isfinite(start) if self.use_torch else np.isfinite(start), start, 0.0)
                sub, sub_step, newton_iter = self._newton(y, m, start=start)
                delta[:, todo] = sub
                per_draw[todo] = sub_step
                finite = self.torch.isfinite(sub).all(0) if self.use_torch else np.isfinite(sub).all(0)
                converged[todo] = finite & (sub_step <= self.tol)
                iterations = max(iterations, newton_iter)
                newton = len(todo)
        last = float(per_draw[converged].max()) if bool(converged.any()) else float("nan")
        return self.start + delta, converged, iterations, last, newton

    def _logistic_score64(self, delta: Any, y: Any, m: Any) -> tuple[Any, Any]:
        """Float64 score (P, R) of logistic-tie tables at start + delta, and their win probabilities (G, R)."""
        d = self._linear(delta)
        d += self.d0_64
        p = self._sigmoid_(d)
        grad = self._linear_t(y - m * p)
        if self.fit.prior:
            grad[: self.k] -= self.fit.prior * (self.start[: self.k] + delta[: self.k])
        return grad, p

    def _newton(self, y: Any, m: Any, max_newton: int = 30, max_cg: int = 200,
                start: Any = None) -> tuple[Any, Any, int]:
        """Newton's method with PCG inner solves for logistic ties, from the full-data fit (or ``start``, deltas).

        Inexact Newton: each step's conjugate-gradient solve stops at a relative residual of 0.1 on the first step,
        then of the previous step's size (at least 1e-4), so the outer convergence stays quadratic-like; a table
        stops at its first step <= tol, and later iterations work on the tables still moving only. The score and
        the steps are float64; on CPU the inner solves run in float32, ample for a search direction, at half the
        memory traffic. Returns deltas (P, R), the last step's largest change per table, and the iterations used.
        """
        torch = self.torch
        delta = self._zeros(self.start.shape[0], y.shape[1]) if start is None else start * 1.0
        inner = self._f64_dtype if self.use_torch else np.float32
        step_max = self._colmax_abs(delta) + math.inf
        active = torch.arange(y.shape[1], device=self.device) if self.use_torch else np.arange(y.shape[1])
        it = 0
        while it < max_newton and len(active):
            it += 1
            d_a, y_a, m_a = delta[:, active], y[:, active], m[:, active]
            grad, p = self._logistic_score64(d_a, y_a, m_a)
            p = self._cast(p, inner)
            w = self._cast(m_a, inner) * p * (1.0 - p)
            prev = step_max[active]
            eta = self._where(prev < 0.1, prev, 0.1)
            eta = self._where(eta > 1e-4, eta, 1e-4)
            step = self._f64(self._pcg(self._cast(grad, inner), w, self._cast(eta * eta, inner), max_cg))
            # Damped: no strength moves by more than 2 natural units (175 Elo points) in one step.
            size = self._colmax_abs(step)
            scale = 2.0 / (size.clamp_min(1e-300) if self.use_torch else np.maximum(size, 1e-300))
            step *= scale.clamp(max=1.0) if self.use_torch else np.minimum(scale, 1.0)
            delta[:, active] = d_a + step
            step_max[active] = size
            active = active[~(size <= self.tol)]
        return delta, step_max, it

    def _refit_compiled(self, counts: Any) -> tuple[Any, Any, int, float, int]:
        """:meth:`refit` for logistic ties on large sparse boards (CPU): Newton-CG from the start, compiled.

        A chord step would cost a sparse triangular solve per table, about what a compiled Newton step costs, and
        contracts slowly where pairs have few votes; so every table goes to the kernel of :mod:`._kernels`, on the
        free cores, one table per thread.
        """
        from ..sampling import numba_threads
        from ._kernels import newton_cg

        weight = self.weight.astype(np.float32)
        wa, wb, tt = (np.ascontiguousarray(counts[:, c].T, dtype=np.float32) * weight[:, 0] for c in range(3))
        if self.fit.ties == "half":
            y, m = wa + 0.5 * tt, wa + wb + tt
        else:
            y, m = wa, wa + wb
        n = y.shape[0]
        delta = np.zeros((n, self.start.shape[0]))
        last, iterations = np.empty(n), np.zeros(n, np.int64)
        gauge = -1 if self.fit.prior > 0 else self.k - 1
        with numba_threads(None):
            newton_cg(self._i32, self._j32, self.d0_64[:, 0], self.start[: self.k, 0], y, m, delta, last, iterations,
                      float(self.fit.prior), int(self.fit.position), gauge, self.tol, 30, 200)
        converged = np.isfinite(delta).all(1) & (last <= self.tol)
        max_step = float(last[converged].max()) if converged.any() else float("nan")
        return self.start + delta.T, converged, int(iterations.max(initial=0)), max_step, n

    def _pcg(self, b: Any, w: Any, eta2: Any, max_iter: int) -> Any:
        """Solve H x = b for every table (column), H = the logistic Hessian with per-group weights w (G, R).

        Conjugate gradients preconditioned with H0^-1. Column c stops once its preconditioned residual is
        <= eta2[c] times the initial one; finished columns leave the working arrays, so a column's arithmetic
        does not depend on the others.
        """
        k, prior = self.k, self.fit.prior

        def precondition(r: Any) -> Any:
            return self._precondition(r) if self.use_torch else self._precondition32(r)

        def hess_vec(v: Any, w: Any) -> Any:
            out = self._linear_t(w * self._linear(v))
            if prior:
                out[:k] += prior * v[:k]
            return out

        x = b * 0.0
        cols = self.torch.arange(b.shape[1], device=b.device) if self.use_torch else np.arange(b.shape[1])
        r = b * 1.0
        z = precondition(r)
        p = z * 1.0
        rz = (r * z).sum(0)
        target = rz * eta2
        floor = 1e-30
        keep = rz > target
        for _ in range(max_iter + 1):
            if not bool(keep.all()):
                cols, r, p, rz, target, w = cols[keep], r[:, keep], p[:, keep], rz[keep], target[keep], w[:, keep]
            if not len(cols):
                break
            q = hess_vec(p, w)
            pq = (p * q).sum(0)
            alpha = rz / (pq.clamp_min(floor) if self.use_torch else np.maximum(pq, floor))
            x[:, cols] += alpha * p
            r -= alpha * q
            z = precondition(r)
            rz_new = (r * z).sum(0)
            keep = rz_new > target
            p = z + (rz_new / (rz.clamp_min(floor) if self.use_torch else np.maximum(rz, floor))) * p
            rz = rz_new
        return x

    # ------------------------------------------------------------------------------------------ entry point

    @single_threaded_blas
    def __call__(self, counts: Any, threads: int | None = None) -> BatchRefit:
        """Refit count tables (G, 3, R): chord, Newton-CG where it stalls, exact fits for the rest.

        On CPU the tables are split between ``threads`` Python threads (None: see
        :func:`analysis.sampling.default_threads`); numpy releases the GIL in its array passes. Each table's arithmetic
        is its own (per-table stopping), so the split changes nothing in the results.
        """
        n = counts.shape[-1]
        split = 1
        if not self.use_torch and self.lu is None and n >= 64:
            from ..sampling import default_threads

            split = max(1, min(threads or default_threads(), n // 32))
        if split > 1:
            from concurrent.futures import ThreadPoolExecutor

            bounds = np.linspace(0, n, split + 1).astype(int)
            with ThreadPoolExecutor(split) as pool:
                blocks = [counts[..., a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
                parts = list(pool.map(self._refit, blocks))
            params = np.concatenate([part[0] for part in parts], axis=1)
            converged = np.concatenate([part[1] for part in parts])
            iterations = max(part[2] for part in parts)
            steps = [part[3] for part in parts if not math.isnan(part[3])]
            last = max(steps) if steps else float("nan")
            newton = sum(part[4] for part in parts)
        else:
            params, converged, iterations, last, newton = self._refit(counts)
        if self.use_torch:
            params, converged = params.T.cpu().numpy(), converged.cpu().numpy()
        else:
            params = np.ascontiguousarray(params.T)
        converged = np.array(converged, dtype=bool)
        exact = 0
        if not converged.all():
            host = counts.cpu().numpy() if hasattr(counts, "cpu") else np.asarray(counts)
            for r in np.flatnonzero(~converged):
                row = _exact_refit(self.fit, host[:, :, r])
                if row is not None:
                    params[r], converged[r] = row, True
                    exact += 1
        return BatchRefit(params=params, converged=converged, iterations=iterations, max_step=last,
                          newton=newton, exact=exact)


def _numpy_score(e: NDArray[np.floating], y: NDArray[np.floating], m: NDArray[np.floating]) -> NDArray[np.floating]:
    """y - m * sigmoid(d) in place of ``e`` = exp(-d): y - m / (1 + e)."""
    e += 1.0
    np.divide(m, e, out=e)
    return np.subtract(y, e, out=e)


def _torch_score(torch: Any, d: Any, y: Any, m: Any) -> Any:
    """y - m * sigmoid(d), in torch (d is overwritten)."""
    return torch.addcmul(y, m, torch.sigmoid_(d), value=-1.0)


def _exact_refit(fit: BTFit, counts: NDArray[Any]) -> FloatArray | None:
    """Exact fit (theta, [gamma], [tau]) of one table (G, 3); None when it has no finite maximum."""
    try:
        one = fit_bt(fit.table.with_counts(np.asarray(counts, dtype=np.float64)), ties=fit.ties,
                     position=fit.position, prior=fit.prior)
    except FitError:
        return None
    return np.concatenate([one.theta, [one.gamma] if fit.position else [], [one.tau] if fit.tau is not None else []])


def refit_batch(fit: BTFit, counts: Any, *, tol: float = 1e-6, max_iter: int = 50, device: Any = None) -> BatchRefit:
    """Refit ``fit``'s model to count tables ``counts`` (G, 3, R) (the groups of ``fit.table``), R at once.

    The one entry point for batched refits: chord iteration, Newton with preconditioned conjugate gradients where
    it stalls, exact one-by-one fits for the rest (see the module docstring). Use a :class:`Refitter` to refit
    several blocks around the same fit without factoring H0 again.
    """
    return Refitter(fit, device, tol, max_iter)(counts)


def fit_bt_batch(pc: NDArray[Any], pi: NDArray[np.integer], pj: NDArray[np.integer], k: int,
                 theta0: NDArray[np.floating] | None = None, *, max_iter: int = 50, tol: float = 1e-9) -> FloatArray:
    """Bradley-Terry strengths (ties as half a win, natural log-odds, mean zero) for many count tables at once.

    Array form of :func:`refit_batch` for callers without a fit (prompt or cluster bootstraps of small boards):
    the tables are refitted around ``theta0`` with the Hessian of their mean table.

    Parameters
    ----------
    pc
        (B, P, 3) counts per table and pair: wins of model ``pi``, wins of ``pj``, ties.
    pi, pj
        (P,) model codes of each pair.
    k
        Number of models.
    theta0
        (K,) starting point, e.g. the full-data fit; zeros if None.

    Returns
    -------
    numpy.ndarray
        (B, K) strengths; a row is NaN where its table has no finite maximum (a model that never lost or never
        won in that table).
    """
    pc = np.asarray(pc, dtype=np.float64)
    b = pc.shape[0]
    if b == 0:
        return np.zeros((0, k))
    table = pair_table_from_arrays(np.arange(k), pi, pj, pc.mean(0))
    theta = np.zeros(k) if theta0 is None else np.asarray(theta0, dtype=np.float64)
    theta = theta - theta.mean()
    _, _, neg_h = evaluate(table, theta, 0.0, None, "half", 0.0)
    centre = BTFit(table=table, theta=theta, ties="half", position=False, prior=0.0, hessian=neg_h)
    out = Refitter(centre, None, tol, max_iter)(np.moveaxis(pc, 0, -1))
    theta = out.params[:, :k] - out.params[:, :k].mean(1, keepdims=True)
    # Odds beyond e^30 between two models are treated as no finite maximum, not as a fit.
    with np.errstate(invalid="ignore"):
        bad = ~out.converged | ~np.isfinite(theta).all(1) | ~(np.ptp(theta, axis=1) <= 30)
    theta[bad] = np.nan
    return theta


__all__ = ["DENSE_MAX", "BatchRefit", "Refitter", "fit_bt_batch", "refit_batch"]
