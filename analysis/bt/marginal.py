"""Bradley-Terry maximum likelihood from per-model marginals: wins of each model and votes of each pair.

Why it is enough: under Bradley-Terry with ties counted as half a win, the log-likelihood depends on the votes
only through each model's (half-tie) wins and each pair's number of votes. Boards that publish wins and
appearances but not the pairwise votes (Artificial Analysis) can therefore be refitted exactly once a pairing
(votes per pair) is assumed; :func:`analysis.aa.marginal_refit` does that.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import expit

from .core import single_threaded_blas


@single_threaded_blas
def fit_marginal(wins: NDArray[np.floating], i: NDArray[np.integer], j: NDArray[np.integer],
                 n: NDArray[np.floating], *, tol: float = 1e-10,
                 max_iter: int = 100) -> tuple[NDArray[np.float64], int]:
    """Bradley-Terry MLE from per-model wins and votes per pair (natural scale, mean zero); Newton's method.

    Parameters
    ----------
    wins
        (K,) wins of each model (ties as half a win); they must sum to the number of votes ``n.sum()``.
    i, j, n
        (P,) the two models of each pair and its number of votes.
    tol
        Convergence when the score's norm is at most ``tol`` times the total wins (at least ``tol``).

    Returns
    -------
    (theta, iterations)
        theta (K,) with mean zero, and the Newton iterations used.

    Notes
    -----
    The score equations are ``sum_b n_ab sigmoid(theta_a - theta_b) = wins_a``: the per-pair wins are not
    needed. The Hessian is the Fisher-information Laplacian; the gauge is fixed by solving on K - 1 models.
    """
    wins = np.asarray(wins, dtype=np.float64)
    i, j = np.asarray(i, dtype=np.intp), np.asarray(j, dtype=np.intp)
    n = np.asarray(n, dtype=np.float64)
    k = len(wins)
    theta = np.zeros(k)
    for it in range(1, max_iter + 1):
        p = expit(theta[i] - theta[j])
        expected = np.bincount(i, n * p, k) + np.bincount(j, n * (1 - p), k)
        grad = wins - expected
        if np.linalg.norm(grad) <= tol * max(1.0, wins.sum()):
            return theta - theta.mean(), it
        w = n * p * (1 - p)
        lap = np.zeros((k, k))
        np.add.at(lap, (i, j), -w)
        np.add.at(lap, (j, i), -w)
        lap[np.diag_indices(k)] = -lap.sum(1)
        step = np.zeros(k)
        step[:-1] = np.linalg.solve(lap[:-1, :-1], grad[:-1])
        theta = theta + step
    raise ValueError(f"the marginal refit did not converge in {max_iter} Newton steps")


__all__ = ["fit_marginal"]
