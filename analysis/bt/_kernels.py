"""Compiled kernel of the batched refit: Newton with conjugate gradients, one table per thread (numba).

Used on CPU for large sparse boards (more parameters than :data:`analysis.bt.refit.DENSE_MAX`), where the shared
Hessian H0 cannot be inverted densely and numpy's whole-array passes over (groups x tables) arrays cost more in
memory traffic than the arithmetic: here one table's parameters and work vectors (a few hundred KB for 10,000
models) stay in cache while its groups are streamed. Each table is solved on its own, so its result does not
depend on the others, on the block or on the thread count.
"""

from __future__ import annotations

import math

import numpy as np

from ..accel import njit, prange


@njit(parallel=True, nogil=True, cache=True)
def newton_cg(i, j, d0, theta0, y, m, delta, last_step, iterations, prior, position, gauge, tol, max_newton,
              max_cg):  # pragma: no cover - compiled
    """Logistic-tie Bradley-Terry fits of R tables from starting deltas, in place.

    ``i``, ``j``: (G,) model codes of each group; ``d0``: (G,) linear predictor at the centre fit; ``theta0``:
    (K,) centre strengths (for the prior); ``y``, ``m``: (R, G) half-tie wins and votes of each table;
    ``delta``: (R, P) parameters minus the centre's (theta, then gamma when ``position``), updated in place;
    ``gauge``: the parameter held fixed (-1 with a prior). A Newton step solves the table's own Hessian by
    conjugate gradients preconditioned with its diagonal, inexactly (relative residual min(0.1, last step), at
    least 1e-3: the stopping rule is on the step, not on the solve), and is damped so that no parameter moves
    by more than 2; a table stops at its first step <= tol. ``last_step`` and ``iterations`` receive the last
    step size and the Newton steps of each table.
    """
    n_tables, n_groups = y.shape
    n_par = delta.shape[1]
    k = n_par - position
    for r in prange(n_tables):
        x = delta[r]
        grad = np.empty(n_par)
        diag = np.empty(n_par)
        # The inner solve works in float32 (a search direction to 1e-3): half the cache footprint.
        w = np.empty(n_groups, np.float32)
        inv = np.empty(n_par, np.float32)
        s = np.empty(n_par, np.float32)
        res = np.empty(n_par, np.float32)
        pdir = np.empty(n_par, np.float32)
        q = np.empty(n_par, np.float32)
        prev = np.inf
        it = 0
        while it < max_newton:
            it += 1
            grad[:] = 0.0
            diag[:] = 0.0
            gamma = x[k] if position else 0.0
            for g in range(n_groups):
                a = i[g]
                b = j[g]
                lin = d0[g] + x[a] - x[b] + gamma
                p = 1.0 / (1.0 + math.exp(-lin))
                sc = y[r, g] - m[r, g] * p
                wg = m[r, g] * p * (1.0 - p)
                w[g] = wg
                grad[a] += sc
                grad[b] -= sc
                diag[a] += wg
                diag[b] += wg
                if position:
                    grad[k] += sc
                    diag[k] += wg
            for c in range(k):
                grad[c] -= prior * (theta0[c] + x[c])
                diag[c] += prior
            if gauge >= 0:
                grad[gauge] = 0.0
            eta = min(0.1, max(prev, 1e-3))
            rz = 0.0
            for c in range(n_par):
                inv[c] = 1.0 / diag[c] if diag[c] > 0.0 and c != gauge else 0.0
                s[c] = 0.0
                res[c] = grad[c]
                pdir[c] = res[c] * inv[c]
                rz += res[c] * pdir[c]
            target = rz * eta * eta
            fprior = np.float32(prior)
            for _ in range(max_cg):
                if rz <= target or rz <= 0.0:
                    break
                q[:] = 0.0
                gp = pdir[k] if position else np.float32(0.0)
                for g in range(n_groups):
                    a = i[g]
                    b = j[g]
                    t = w[g] * (pdir[a] - pdir[b] + gp)
                    q[a] += t
                    q[b] -= t
                    if position:
                        q[k] += t
                pq = 0.0
                for c in range(n_par):
                    if c < k:
                        q[c] += fprior * pdir[c]
                    if c == gauge:
                        q[c] = 0.0
                    pq += pdir[c] * q[c]
                if pq <= 0.0:
                    break
                alpha = np.float32(rz / pq)
                rz_new = 0.0
                for c in range(n_par):
                    s[c] += alpha * pdir[c]
                    res[c] -= alpha * q[c]
                    rz_new += res[c] * res[c] * inv[c]
                beta = np.float32(rz_new / rz)
                for c in range(n_par):
                    pdir[c] = res[c] * inv[c] + beta * pdir[c]
                rz = rz_new
            size = 0.0
            for c in range(n_par):
                size = max(size, abs(s[c]))
            scale = 1.0 if size <= 2.0 else 2.0 / size
            for c in range(n_par):
                x[c] += scale * s[c]
            prev = size
            if not size > tol:  # also stops on NaN, which the caller flags through last_step
                break
        last_step[r] = prev
        iterations[r] = it
