"""Exact Bradley-Terry maximum likelihood on pair counts, with four tie rules and a first-shown advantage.

Why pair counts: the likelihood of any model here depends on the votes only through, for each pair of models
(and each order of showing them, when position matters), how many votes ended in each outcome. Millions of
votes collapse to a few thousand rows, so the log-likelihood, the gradient and the K x K Hessian cost O(pairs)
and Newton's method converges in a handful of steps to machine precision (gradient norm <= 1e-10).

Model. Each model i has a strength theta_i on the natural log-odds scale. For a battle with model a shown first,
the linear predictor is ``d = theta_a - theta_b + gamma`` (gamma, the first-shown advantage, only with
``position=True``). Tie rules:

- ``"half"``: a tie is half a win for each side; P(a beats b) = sigmoid(d) (FastChat, Artificial Analysis).
- ``"drop"``: ties are left out; P(a beats b) = sigmoid(d).
- ``"rao-kupper"`` (Rao and Kupper 1967): P(a) = sigmoid(d - eta), P(b) = sigmoid(-d - eta), P(tie) = the rest;
  eta > 0 is the tie threshold, fitted as ``tau = log(eta)``.
- ``"davidson"`` (Davidson 1970): P(a) : P(b) : P(tie) = exp(d/2) : exp(-d/2) : nu; nu > 0 fitted as
  ``tau = log(nu)``. At equal strength P(tie) = nu / (2 + nu).

Ratings on the published (Elo-like) scale are ``init + scale / ln(base) * theta`` after fixing the gauge
(ratings are defined up to a constant): the mean at ``init`` or one anchor model at a given value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from numpy.typing import NDArray
from scipy.special import expit, log_expit

from ..accel import single_threaded_blas
from ..vocab import TIE_RULES
from ..votes import OUTCOMES, validate_counts

_DENSE_MAX = 1000  # beyond this many models the Hessian is solved as a sparse system

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Matrix = FloatArray | scipy.sparse.csr_matrix  # dense up to _DENSE_MAX parameters, sparse beyond
_F = TypeVar("_F", bound=Callable[..., Any])



def centred_covariance(cov: FloatArray, k: int) -> FloatArray:
    """A parameter covariance moved to the mean-zero gauge of the first ``k`` (rating) parameters:
    theta_c = C theta with C = I - 11'/k on those, identity on the rest (tie, position, covariates)."""
    c = np.eye(cov.shape[0])
    c[:k, :k] -= 1.0 / k
    return c @ cov @ c.T

class FitError(ValueError):
    """Raised when the data cannot identify the ratings (disconnected graph, perfect records, ...)."""


# ---------------------------------------------------------------------------------------------- pair table


@dataclass(frozen=True)
class PairTable:
    """Counts per group of battles: a pair of models (ordered as shown when ``ordered``) and its outcomes.

    Attributes
    ----------
    models : pandas.Index of model names (position k is model code k).
    i, j : int arrays (G,), the first and second model of each group.
    counts : float array (G, 3): wins of i, wins of j, ties (each tie kind merged unless dropped).
    ordered : whether i was shown first in every vote of the group (needed for a position term).
    weight : float array (G,), multiplies each group's log-likelihood (1 unless reweighted).
    """

    models: pd.Index
    i: IntArray
    j: IntArray
    counts: FloatArray
    ordered: bool
    weight: FloatArray
    cell_group: IntArray = field(repr=False)  # group of each input count row (-1 when dropped)
    cell_outcome: IntArray = field(repr=False)  # column 0/1/2 of each input count row (-1 when dropped)

    @property
    def n_models(self) -> int:
        return len(self.models)

    @property
    def n_votes(self) -> int:
        return int(round(self.counts.sum()))

    def with_counts(self, counts: NDArray[np.floating]) -> PairTable:
        return replace(self, counts=counts)


def pair_table(counts: pd.DataFrame, *, ordered: bool = False, bothbad: str = "tie") -> PairTable:
    """Group count cells by pair (and by showing order when ``ordered``).

    Parameters
    ----------
    counts
        Output of :func:`analysis.votes.aggregate` (model_a, model_b, outcome, count).
    ordered
        Keep (a, b) and (b, a) apart so a first-shown advantage can be fitted.
    bothbad
        ``"tie"``: a both-bad vote is a tie (FastChat, LMArena); ``"drop"``: left out.
    """
    if bothbad not in ("tie", "drop"):
        raise ValueError(f"bothbad must be 'tie' or 'drop', not {bothbad!r}")
    counts = validate_counts(counts)
    models = counts["model_a"].cat.categories
    a = counts["model_a"].cat.codes.to_numpy(np.int64)
    b = counts["model_b"].cat.codes.to_numpy(np.int64)
    o = counts["outcome"].cat.codes.to_numpy(np.int64)
    n = counts["count"].to_numpy(np.float64)
    # Outcome column of each cell from model a's view: win_a -> 0, win_b -> 1, ties -> 2.
    col = np.minimum(o, 2)
    keep = np.ones(len(counts), dtype=bool) if bothbad == "tie" else o != OUTCOMES.index("tie_bothbad")
    if not ordered:
        flip = a > b
        a, b = np.where(flip, b, a), np.where(flip, a, b)
        col = np.where(flip & (col < 2), 1 - col, col)
    k = len(models)
    key = a * k + b
    uniq, group = np.unique(key[keep], return_inverse=True)
    table = np.zeros((len(uniq), 3))
    np.add.at(table, (group, col[keep]), n[keep])
    cell_group = np.full(len(counts), -1)
    cell_group[keep] = group
    cell_outcome = np.where(keep, col, -1)
    return PairTable(
        models=pd.Index(models, name="model"),
        i=(uniq // k).astype(np.int64),
        j=(uniq % k).astype(np.int64),
        counts=table,
        ordered=ordered,
        weight=np.ones(len(uniq)),
        cell_group=cell_group,
        cell_outcome=cell_outcome,
    )


def pair_table_from_arrays(models: Any, i: Any, j: Any, counts: Any, *, ordered: bool = False,
                           weight: Any = None) -> PairTable:
    """A pair table straight from arrays, one group per row (no count frame to build and validate).

    Parameters
    ----------
    models
        Model names; code k is ``models[k]``.
    i, j
        (G,) codes of each group's first and second model (the first shown first, when ``ordered``).
    counts
        (G, 3) wins of i, wins of j, ties; may be fractional (weights, resampled counts).
    ordered
        Whether i was shown first in every vote of its group (needed for a position term).
    weight
        (G,) multiplier of each group's log-likelihood; ones if None.

    Each entry of ``counts`` counts as one input cell: ``cell_group`` and ``cell_outcome`` describe
    ``counts.ravel()``.
    """
    names = pd.Index(models, name="model")
    if names.has_duplicates:
        raise ValueError(f"model names repeat: {names[names.duplicated()].tolist()[:5]}")
    i = np.array(i, dtype=np.int64).reshape(-1)
    j = np.array(j, dtype=np.int64).reshape(-1)
    counts = np.array(counts, dtype=np.float64)
    g = len(i)
    if j.shape != (g,) or counts.shape != (g, 3):
        raise ValueError(f"i, j and counts must have shapes (G,), (G,), (G, 3); got {i.shape}, {j.shape}, "
                         f"{counts.shape}")
    if g and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= len(names)):
        raise ValueError(f"model codes must lie in [0, {len(names)})")
    if (i == j).any():
        raise ValueError(f"{int((i == j).sum())} group(s) pair a model with itself")
    if not np.isfinite(counts).all() or (counts < 0).any():
        raise ValueError("counts must be finite and non-negative")
    weight = np.ones(g) if weight is None else np.array(weight, dtype=np.float64).reshape(-1)
    if weight.shape != (g,):
        raise ValueError(f"weight must have shape ({g},), got {weight.shape}")
    return PairTable(models=names, i=i, j=j, counts=counts, ordered=ordered, weight=weight,
                     cell_group=np.repeat(np.arange(g), 3), cell_outcome=np.tile(np.arange(3), g))


def inverse_pair_weights(table: PairTable) -> FloatArray:
    """LMArena-style weights: each unordered pair gets the same total weight, scaled so weights sum to N.

    A pair's weight is ``N / (P * n_pair)`` for N votes over P observed pairs, so heavily sampled pairs
    (popular models shown together often) do not dominate the fit.
    """
    lo, hi = np.minimum(table.i, table.j), np.maximum(table.i, table.j)
    key = lo * table.n_models + hi
    uniq, inv = np.unique(key, return_inverse=True)
    n_group = table.counts.sum(1)
    n_pair = np.bincount(inv, weights=n_group, minlength=len(uniq))
    total = n_group.sum()
    return total / (len(uniq) * n_pair[inv])


# ---------------------------------------------------------------------------------------------- likelihood


def cell_derivatives(d: Any, tau: Any, wa: Any, wb: Any, t: Any, rule: str, xp: Any = np) -> tuple[Any, ...]:
    """Log-likelihood of one group and its derivatives in the linear predictor d and the tie parameter tau.

    Works elementwise on numpy arrays or torch tensors (``xp`` is the module). Counts may be fractional
    (weights, half ties). Returns ``(ll, l_d, l_t, l_dd, l_dt, l_tt)``; tau terms are zero when unused.
    """
    sig = expit if xp is np else xp.sigmoid
    logsig = log_expit if xp is np else _torch_logsigmoid
    if rule in ("half", "drop"):
        y = wa + 0.5 * t if rule == "half" else wa
        m = wa + wb + t if rule == "half" else wa + wb
        p = sig(d)
        ll = y * logsig(d) + (m - y) * logsig(-d)
        zero = d * 0.0
        return ll, y - m * p, zero, -m * p * (1.0 - p), zero, zero
    if rule == "davidson":
        m = wa + wb + t
        nu = xp.exp(tau)
        # Stable log Z = log(exp(d/2) + exp(-d/2) + nu) with |d|/2 factored out.
        h = xp.abs(d) * 0.5
        log_z = h + xp.log(1.0 + xp.exp(-2.0 * h) + nu * xp.exp(-h))
        pa = xp.exp(0.5 * d - log_z)
        pb = xp.exp(-0.5 * d - log_z)
        pt = xp.exp(tau - log_z)
        ll = 0.5 * d * (wa - wb) + t * tau - m * log_z
        diff = pa - pb
        return (ll, 0.5 * (wa - wb) - 0.5 * m * diff, t - m * pt, -0.25 * m * ((pa + pb) - diff * diff),
                0.5 * m * diff * pt, -m * pt * (1.0 - pt))
    if rule == "rao-kupper":
        eta = xp.exp(tau)
        pa, pb = sig(d - eta), sig(-d - eta)
        # 1 - pa - pb, computed without cancellation: sigmoid(x - e) + sigmoid(-x - e) summed in closed form.
        pt = _rk_tie_prob(d, eta, xp)
        sa, sb = pa * (1.0 - pa), pb * (1.0 - pb)
        ga, gb = sa * (1.0 - 2.0 * pa), sb * (1.0 - 2.0 * pb)
        ll = wa * logsig(d - eta) + wb * logsig(-d - eta) + t * xp.log(pt)
        l_d = wa * (1.0 - pa) - wb * (1.0 - pb) + t * (sb - sa) / pt
        l_e = -wa * (1.0 - pa) - wb * (1.0 - pb) + t * (sa + sb) / pt
        l_dd = -wa * sa - wb * sb + t * ((-gb - ga) / pt - (sb - sa) ** 2 / pt**2)
        l_de = wa * sa - wb * sb + t * ((ga - gb) / pt - (sb - sa) * (sa + sb) / pt**2)
        l_ee = -wa * sa - wb * sb + t * ((-ga - gb) / pt - (sa + sb) ** 2 / pt**2)
        # Chain rule to tau = log(eta).
        return ll, l_d, eta * l_e, l_dd, eta * l_de, eta * eta * l_ee + eta * l_e
    raise ValueError(f"unknown tie rule {rule!r}; choose one of {TIE_RULES}")


def _torch_logsigmoid(x: Any) -> Any:
    import torch.nn.functional as F

    return F.logsigmoid(x)


def _rk_tie_prob(d: Any, eta: Any, xp: Any) -> Any:
    # 1 - s(d-e) - s(-d-e) = (e^{2e} - 1) / ((1 + e^{e-d})(1 + e^{e+d})) * e^{-... }; the exact identity is
    # (exp(eta)^2 - 1) / ((exp(eta) + exp(d)) * (exp(eta) + exp(-d))); use it in a form safe for large |d|.
    h = xp.abs(d)
    num = xp.expm1(2.0 * eta)
    den = (xp.exp(eta - h) + 1.0) * (xp.exp(eta) + xp.exp(-h))
    return num * xp.exp(-h) / den


# ---------------------------------------------------------------------------------------------- the fit


@dataclass
class BTFit:
    """A fitted Bradley-Terry model; strengths on the natural log-odds scale, mean zero."""

    table: PairTable
    theta: FloatArray
    ties: str
    position: bool
    prior: float
    gamma: float = 0.0
    tau: float | None = None
    loglik: float = float("nan")
    iterations: int = 0
    grad_norm: float = float("nan")
    hessian: Matrix | None = field(default=None, repr=False)  # negative Hessian in reduced coordinates

    @property
    def models(self) -> pd.Index:
        return self.table.models

    @property
    def n_params(self) -> int:
        return self.table.n_models + int(self.position) + int(self.tau is not None)


def _uses_tau(ties: str) -> bool:
    return ties in ("rao-kupper", "davidson")


def _initial_tau(table: PairTable, ties: str) -> float:
    share = table.counts[:, 2].sum() / max(table.counts.sum(), 1.0)
    share = float(np.clip(share, 1e-3, 0.95))
    if ties == "davidson":
        return float(np.log(2.0 * share / (1.0 - share)))
    # Rao-Kupper at equal strength: P(tie) = tanh(eta / 2).
    return float(np.log(2.0 * np.arctanh(share)))


def evaluate(table: PairTable, theta: FloatArray, gamma: float, tau: float | None, ties: str, prior: float, *,
             position: bool = False, hessian: bool = True) -> tuple[float, FloatArray, Matrix | None]:
    """Log-likelihood, gradient and negative Hessian over (theta, [gamma], [tau]) at one parameter point.

    Returns ``(ll, grad, neg_hess)``; the Hessian is dense for <= 1000 models, else scipy sparse.
    """
    wa, wb, t = (table.counts[:, c] * table.weight for c in range(3))
    if ties == "drop":
        t = t * 0.0
    # In an ordered table model i was shown first in every vote, so gamma enters every group with sign +1.
    d = theta[table.i] - theta[table.j] + gamma
    ll, l_d, l_t, l_dd, l_dt, l_tt = cell_derivatives(d, 0.0 if tau is None else tau, wa, wb, t, ties)
    k = table.n_models
    use_tau = tau is not None
    g_theta = np.bincount(table.i, l_d, k) - np.bincount(table.j, l_d, k) - prior * theta
    parts = [g_theta]
    if position:
        parts.append(np.array([l_d.sum()]))
    if use_tau:
        parts.append(np.array([l_t.sum()]))
    grad = np.concatenate(parts)
    total = float(ll.sum() - 0.5 * prior * theta @ theta)
    if not hessian:
        return total, grad, None
    return total, grad, info_matrix(table, -l_dd, -l_dt, -l_tt, position=position, use_tau=use_tau, prior=prior)


def info_matrix(table: PairTable, a_dd: FloatArray, a_dt: Any, a_tt: Any, *, position: bool, use_tau: bool,
                prior: float = 0.0) -> Matrix:
    """Assemble a (theta, [gamma], [tau]) information matrix from per-group curvatures.

    ``a_dd``, ``a_dt``, ``a_tt`` are per-group second moments in (d, tau): minus the log-likelihood's second
    derivatives for the observed information, or summed squared per-vote scores for the sandwich's meat.
    Dense for <= 1000 models, scipy sparse CSR beyond.
    """
    k = table.n_models
    p = k + int(position) + int(use_tau)
    rows = [table.i, table.j, table.i, table.j]
    cols = [table.i, table.j, table.j, table.i]
    vals = [a_dd, a_dd, -a_dd, -a_dd]

    def border(idx: int, per_group) -> None:
        # d moves with theta_i (+1) and theta_j (-1): the border row is a signed bincount.
        cross = np.bincount(table.i, per_group, k) - np.bincount(table.j, per_group, k)
        rows.extend([np.full(k, idx), np.arange(k)])
        cols.extend([np.arange(k), np.full(k, idx)])
        vals.extend([cross, cross])

    idx = k
    if position:
        border(idx, a_dd)
        rows.append([idx]), cols.append([idx]), vals.append([np.sum(a_dd)])
        idx += 1
    if use_tau:
        border(idx, a_dt)
        rows.append([idx]), cols.append([idx]), vals.append([np.sum(a_tt)])
        if position:
            rows.extend([[idx], [idx - 1]]), cols.extend([[idx - 1], [idx]])
            vals.extend([[np.sum(a_dt)], [np.sum(a_dt)]])
    if prior > 0:
        rows.append(np.arange(k)), cols.append(np.arange(k)), vals.append(np.full(k, prior))
    mat = scipy.sparse.coo_matrix(
        (np.concatenate([np.asarray(v, float) for v in vals]),
         (np.concatenate([np.asarray(r) for r in rows]), np.concatenate([np.asarray(c) for c in cols]))),
        shape=(p, p),
    ).tocsr()
    return mat.toarray() if k <= _DENSE_MAX else mat


def _free_index(n_params: int, ref: int | None) -> NDArray[np.intp]:
    """Coordinates solved for: all but the reference model when there is no prior to fix the gauge."""
    idx = np.arange(n_params)
    return idx if ref is None else np.delete(idx, ref)


def _solve(neg_h: Matrix, grad: FloatArray, free: NDArray[np.intp]) -> FloatArray:
    if scipy.sparse.issparse(neg_h):
        sub = neg_h[free][:, free].tocsc()
        return scipy.sparse.linalg.spsolve(sub, grad[free])
    sub = neg_h[np.ix_(free, free)]
    try:
        return scipy.linalg.solve(sub, grad[free], assume_a="pos")
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        return scipy.linalg.lstsq(sub, grad[free])[0]


def check_identifiable(table: PairTable, prior: float = 0.0, ties: str = "half") -> None:
    """Raise :class:`FitError` when the maximum likelihood is not finite and no prior makes it so.

    Two causes: a comparison graph in several pieces (ratings of different pieces cannot be compared), and
    a set of models that never lost (or never won) against everyone outside it (their MLE is at infinity).
    """
    k = table.n_models
    if k < 2:
        raise FitError(f"need at least two models to rate, got {k}")
    if prior > 0:
        return
    votes = table.counts.sum(1) if ties != "drop" else table.counts[:, :2].sum(1)
    used = votes > 0
    adj = scipy.sparse.coo_matrix((np.ones(used.sum()), (table.i[used], table.j[used])), shape=(k, k))
    n_comp, label = scipy.sparse.csgraph.connected_components(adj, directed=False)
    if n_comp > 1:
        groups = [table.models[label == c].tolist() for c in range(n_comp)]
        groups.sort(key=len, reverse=True)
        shown = "; ".join(f"[{', '.join(map(str, g[:4]))}{', ...' if len(g) > 4 else ''}] ({len(g)} models)"
                          for g in groups[:5])
        raise FitError(f"the comparison graph has {n_comp} disconnected components, so their ratings are not "
                       f"comparable: {shown}. Rate each component separately, or set prior= to tie them together.")
    # Strong connectivity of the "beat or tied" graph: an edge a -> b when a scored (win or tie) against b.
    wa, wb, t = table.counts.T
    ties_count = t if ties in ("half", "rao-kupper", "davidson") else t * 0
    score_i = (wa + ties_count) > 0
    score_j = (wb + ties_count) > 0
    src = np.concatenate([table.j[score_i], table.i[score_j]])  # loser -> winner edges
    dst = np.concatenate([table.i[score_i], table.j[score_j]])
    g = scipy.sparse.coo_matrix((np.ones(len(src)), (src, dst)), shape=(k, k))
    n_strong, lab = scipy.sparse.csgraph.connected_components(g, directed=True, connection="strong")
    if n_strong > 1:
        # A component with no edge leaving it towards the others never lost to them (or never won).
        comp_out = np.zeros(n_strong, dtype=bool)
        comp_in = np.zeros(n_strong, dtype=bool)
        cross = lab[src] != lab[dst]
        comp_out[lab[src[cross]]] = True
        comp_in[lab[dst[cross]]] = True
        never_lost = [table.models[lab == c].tolist() for c in range(n_strong) if not comp_out[c] and comp_in[c]]
        never_won = [table.models[lab == c].tolist() for c in range(n_strong) if comp_out[c] and not comp_in[c]]
        parts = []
        if never_lost:
            parts.append("never lost to the rest: " + ", ".join(map(str, never_lost[0][:5])))
        if never_won:
            parts.append("never won against the rest: " + ", ".join(map(str, never_won[0][:5])))
        raise FitError("the maximum likelihood ratings are infinite because some models "
                       + " and some ".join(parts)
                       + ". Set prior= (e.g. prior=1.0) to regularise, or gather more votes.")


@single_threaded_blas
def fit_bt(
    table: PairTable,
    *,
    ties: str = "half",
    position: bool = False,
    prior: float = 0.0,
    tol: float = 1e-10,
    max_iter: int = 100,
    check: bool = True,
) -> BTFit:
    """Maximum-likelihood (or L2-penalised) Bradley-Terry fit by Newton's method with the analytic Hessian.

    Parameters
    ----------
    table
        From :func:`pair_table` (``ordered=True`` when ``position=True``).
    ties
        One of :data:`TIE_RULES`.
    position
        Fit a first-shown advantage gamma (natural log-odds); needs an ordered table.
    prior
        Precision of a N(0, 1/prior) prior on each theta (natural scale); 0 is plain maximum likelihood.
    tol
        Convergence when the gradient norm (log-likelihood units) is at most ``tol``.

    Returns
    -------
    BTFit
        theta with mean zero, the tie parameter ``tau`` (log eta or log nu), ``gamma``, log-likelihood,
        iterations, final gradient norm and the negative Hessian (observed information).
    """
    if ties not in TIE_RULES:
        raise ValueError(f"ties must be one of {TIE_RULES}, not {ties!r}")
    if position and not table.ordered:
        raise ValueError("position=True needs a pair table built with ordered=True")
    if prior < 0:
        raise ValueError(f"prior must be >= 0, got {prior}")
    if check:
        check_identifiable(table, prior, ties)
    k = table.n_models
    theta = _initial_theta(table)
    gamma = 0.0 if position else None
    tau = _initial_tau(table, ties) if _uses_tau(ties) else None
    p = k + int(position) + int(tau is not None)
    free = _free_index(p, None if prior > 0 else k - 1)
    for it in range(1, max_iter + 1):  # noqa: B007 (it is reported after the loop)
        ll, grad, neg_h = evaluate(table, theta, gamma or 0.0, tau, ties, prior, position=position)
        gnorm = float(np.linalg.norm(grad[free]))
        if gnorm <= tol:
            break
        step = np.zeros(p)
        step[free] = _solve(neg_h, grad, free)
        # Damped Newton: halve the step until the log-likelihood does not decrease (rarely needed).
        scale = 1.0
        for _ in range(30):
            cand = _unpack(np.concatenate([theta, _extras(gamma, tau)]) + scale * step, k, position, tau)
            ll_new = evaluate(table, cand[0], cand[1] or 0.0, cand[2], ties, prior, position=position,
                              hessian=False)[0]
            if ll_new >= ll - 1e-12 * abs(ll) or scale < 1e-6:
                break
            scale *= 0.5
        theta, gamma, tau = cand
    else:
        raise FitError(f"Newton did not converge in {max_iter} iterations (gradient norm {gnorm:.3g}); "
                       "the data may be nearly separable: try prior=")
    theta = theta - theta.mean()
    ll, _, neg_h = evaluate(table, theta, gamma or 0.0, tau, ties, prior, position=position)
    return BTFit(table=table, theta=theta, ties=ties, position=position, prior=prior,
                 gamma=float(gamma) if position else 0.0, tau=None if tau is None else float(tau),
                 loglik=float(ll), iterations=it, grad_norm=gnorm, hessian=neg_h)


def _extras(gamma: float | None, tau: float | None) -> list[float]:
    out = []
    if gamma is not None:
        out.append(gamma)
    if tau is not None:
        out.append(tau)
    return out


def _unpack(vec: FloatArray, k: int, position: bool, tau: Any) -> tuple[FloatArray, float | None, float | None]:
    theta = vec[:k]
    idx = k
    gamma = None
    if position:
        gamma = float(vec[idx])
        idx += 1
    new_tau = float(vec[idx]) if tau is not None else None
    return theta, gamma, new_tau


def _initial_theta(table: PairTable) -> FloatArray:
    # Log of smoothed win shares: close enough that Newton needs no damping on real boards.
    k = table.n_models
    wa, wb, t = table.counts.T
    wins = np.bincount(table.i, wa + 0.5 * t, k) + np.bincount(table.j, wb + 0.5 * t, k)
    games = np.bincount(table.i, wa + wb + t, k) + np.bincount(table.j, wa + wb + t, k)
    share = (wins + 0.5) / (games + 1.0)
    theta = np.log(share / (1 - share))
    return theta - theta.mean()
