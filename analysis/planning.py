"""Sample-size planning: how many more votes for a target interval width, or to separate two models.

Why analytic. Under Bradley-Terry the Fisher information of the strengths is a weighted graph Laplacian,
``I = sum over pairs of n_ab p_ab (1 - p_ab) (e_a - e_b)(e_a - e_b)'``: it depends on the votes only through how
many each pair gets, and adding votes adds Laplacians. The variance of any contrast ``c`` (a model against
the mean, against an anchor, or against another model) is ``c' I^+ c`` (natural scale), times
``(scale / ln base)^2`` in Elo points. So "how many votes until ..." is a one-dimensional monotone search over
the number of added votes, each step one K x K solve. :func:`simulate_plan` checks the answer by simulating the
planned arena (with :mod:`analysis.simulate` when the truth is a published board) and refitting.

Units: ratings, gaps and widths in Elo points; widths are full widths (upper - lower) of a ``level`` interval.
With ties counted as half wins a tie carries less sampling noise than a decisive vote (a per-vote score
variance of ``p (1 - p) - tie / 4`` instead of ``p (1 - p)``), so when the design has ties the variance is the
sandwich ``c' H^+ J H^+ c`` (H with ``p (1 - p)``, J with the tie-aware variance), which is what the vote
bootstrap measures; without ties it is the model-based ``c' H^+ c``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse
import scipy.sparse.csgraph
from scipy import stats
from scipy.special import expit

from . import bt
from .ratings import Ratings, model_index
from .results import Result

ALLOCATIONS = ("model", "pair", "arena")


@dataclass(frozen=True, eq=False)  # compared by identity: it holds arrays
class Design:
    """An arena's pairing and truth: who meets whom how often, and the strengths that set each vote's information.

    Attributes
    ----------
    models : pandas.Index of names.
    theta : natural-scale strengths (K,).
    i, j : pair codes (G,), i < j.
    n : votes per pair (G,), possibly fractional (an expected pairing).
    factor : Elo points per natural unit (scale / ln base).
    anchor : index of the anchor model (intervals relative to it), or None for the mean gauge.
    source : "ratings" (pairing observed) or "board" (pairing assumed from appearances).
    tie : share of ties per pair (G,), counted as half wins; zeros when there are none or they are not used.
    """

    models: pd.Index
    theta: np.ndarray
    i: np.ndarray
    j: np.ndarray
    n: np.ndarray
    factor: float
    anchor: int | None
    source: str
    tie: np.ndarray | None = None

    @property
    def p(self) -> np.ndarray:
        return expit(self.theta[self.i] - self.theta[self.j])

    @property
    def curvature(self) -> np.ndarray:
        """Per-vote Fisher information of each pair, p (1 - p) (the Hessian of the half-tie likelihood)."""
        p = self.p
        return p * (1 - p)

    @property
    def noise(self) -> np.ndarray:
        """Per-vote variance of the score, p (1 - p) - tie / 4: a tie scores exactly 1/2, so it is less noisy."""
        tie = 0.0 if self.tie is None else self.tie
        return np.clip(self.curvature - tie / 4.0, 1e-12, None)

    @property
    def votes(self) -> float:
        return float(self.n.sum())


# ---------------------------------------------------------------------------------------------- designs


def balanced_pairing(appearances: np.ndarray, total_votes: float, tol: float = 1e-10) -> tuple[np.ndarray, ...]:
    """Expected votes per pair when every pair can meet and each model's appearances follow ``appearances``.

    Pair (a, b) gets votes in proportion to ``w_a w_b``, with w solved (a damped Sinkhorn iteration) so that
    each model's expected share of appearances equals its share of ``appearances``: the "uniform" pairing of
    :func:`analysis.simulate.simulate_arena` with ``model_weights``.

    Returns
    -------
    (i, j, n): pair codes (i < j) and expected votes per pair, summing to ``total_votes``.
    """
    app = np.asarray(appearances, float)
    if (app <= 0).any() or len(app) < 2:
        raise ValueError("appearances must be positive, for at least two models")
    target = app / app.sum()
    w = np.sqrt(target)
    for _ in range(5000):
        share = w * (w.sum() - w)
        share /= share.sum()
        if np.max(np.abs(share - target)) < tol:
            break
        w = w * np.sqrt(target / share)
    i, j = np.triu_indices(len(app), 1)
    prob = w[i] * w[j]
    return i, j, total_votes * prob / prob.sum()


def design_from_ratings(ratings: Ratings) -> Design:
    """The observed pairing (votes per unordered pair), tie shares and fitted strengths of a :class:`Ratings`.

    Under ``ties="half"`` all votes count and each pair keeps its observed tie share (added votes are assumed to
    tie as often); under the other tie rules only decisive votes count, and added votes mean decisive votes.
    """
    if not isinstance(ratings, Ratings) or ratings.fit is None:
        raise ValueError("planning needs a Bradley-Terry fit: pass a Ratings from analysis.rate(..., method='bt')")
    fit = ratings.fit
    table = fit.table
    lo, hi = np.minimum(table.i, table.j), np.maximum(table.i, table.j)
    k = table.n_models
    key, inv = np.unique(lo * k + hi, return_inverse=True)
    half = fit.ties == "half"
    # Under "half" every vote informs the fit (ties as half wins); under the other rules the decisive ones do.
    used = table.counts.sum(1) if half else table.counts[:, :2].sum(1)
    n = np.bincount(inv, weights=used, minlength=len(key))
    tie = None
    if half:
        ties = np.bincount(inv, weights=table.counts[:, 2], minlength=len(key))
        tie = np.divide(ties, n, out=np.zeros_like(n), where=n > 0)
    anchor = _anchor_model(ratings.board.attrs.get("anchor", "mean"), ratings.models)
    return Design(models=ratings.models, theta=fit.theta.copy(), i=key // k, j=key % k, n=n,
                  factor=ratings.factor, anchor=anchor, source="ratings", tie=tie)


def _anchor_model(anchor: str | Mapping[str, float] | None, models: pd.Index) -> int | None:
    """Index of the anchored model: None / "mean" for the mean gauge, a model name, or ``{model: value}``."""
    if anchor is None or (isinstance(anchor, str) and anchor == "mean"):
        return None
    if isinstance(anchor, Mapping):
        if len(anchor) != 1:
            raise ValueError(f"anchor must fix one model, {{model: value}}, not {dict(anchor)!r}")
        anchor = str(next(iter(anchor)))
    return model_index(models, anchor)


def design_from_board(board: pd.DataFrame, *, model: str = "model", rating: str | None = None,
                      appearances: str = "appearances", total_votes: float | None = None,
                      anchor: str | Mapping[str, float] | None = None, scale: float = 400.0,
                      base: float = 10.0) -> Design:
    """A design from a published board: its ratings as the truth and a balanced pairing by appearances.

    Parameters
    ----------
    board
        One row per model with model, rating (Elo points; default column ``rating`` or else ``elo``) and
        appearances columns (each vote is two appearances).
    total_votes
        Votes in the arena; default half the sum of appearances.
    anchor
        The gauge: ``"mean"`` or None (intervals relative to the mean), or the model whose rating is fixed, as a
        name or ``{model: value}`` (intervals relative to it, as Artificial Analysis publishes; the value does
        not change a width).
    """
    rating = rating or ("rating" if "rating" in board.columns else "elo")
    missing = [c for c in (model, rating, appearances) if c not in board.columns]
    if missing:
        raise KeyError(f"board is missing column(s) {missing}; found {list(board.columns)}")
    models = pd.Index([str(m) for m in board[model]], name="model")
    factor = scale / math.log(base)
    r = board[rating].to_numpy(float)
    app = board[appearances].to_numpy(float)
    total = app.sum() / 2 if total_votes is None else float(total_votes)
    i, j, n = balanced_pairing(app, total)
    idx = _anchor_model(anchor, models)
    return Design(models=models, theta=(r - r.mean()) / factor, i=i, j=j, n=n, factor=factor, anchor=idx,
                  source="board")


# ---------------------------------------------------------------------------------------------- information


def _laplacian(k: int, i: np.ndarray, j: np.ndarray, w: np.ndarray) -> np.ndarray:
    lap = np.zeros((k, k))
    np.add.at(lap, (i, j), -w)
    np.add.at(lap, (j, i), -w)
    lap[np.diag_indices(k)] = -lap.sum(1)
    return lap


def _contrast_var(info: np.ndarray, c: np.ndarray, meat: np.ndarray | None = None) -> float:
    """Variance of the estimated contrast c'theta (natural units squared), c orthogonal to the constant vector.

    ``c' H^+ c`` with ``info`` = H, or the sandwich ``c' H^+ J H^+ c`` with ``meat`` = J. Infinite when the
    models of the contrast are not connected by the information graph.
    """
    n_comp, label = scipy.sparse.csgraph.connected_components(scipy.sparse.csr_matrix(info != 0), directed=False)
    keep = np.ones(len(c), dtype=bool)
    if n_comp > 1:
        # Disconnected (e.g. head-to-head votes only): estimable iff the contrast lives in one component.
        used = np.unique(label[c != 0])
        if len(used) != 1:
            return math.inf
        keep = label == used[0]
    sub, cc = info[np.ix_(keep, keep)], c[keep]
    m = len(cc)
    # H + 11'/m is invertible on a connected graph and agrees with H^+ on contrasts (c'1 = 0).
    try:
        x = np.linalg.solve(sub + np.ones((m, m)) / m, cc)
    except np.linalg.LinAlgError:
        return math.inf
    return float(x @ cc) if meat is None else float(x @ meat[np.ix_(keep, keep)] @ x)


def _contrast(design: Design, model: int, versus: int | None) -> np.ndarray:
    k = len(design.models)
    c = np.zeros(k)
    c[model] += 1.0
    if versus is not None:
        c[versus] -= 1.0
    elif design.anchor is not None:
        c[design.anchor] -= 1.0
    else:
        c -= 1.0 / k
    return c


def _added_weights(design: Design, allocation: str, model: int, versus: int | None) -> np.ndarray:
    """Share of each pair in one added vote (sums to 1), by allocation."""
    n = design.n
    if allocation == "arena":
        return n / n.sum()
    if allocation == "pair":
        if versus is None:
            raise ValueError("allocation='pair' needs versus= (the votes go to the pair model vs versus)")
        share = ((design.i == min(model, versus)) & (design.j == max(model, versus))).astype(float)
        if share.sum() == 0:  # the pair never met: the design has no row for it yet
            raise ValueError("the two models never met; use allocation='model' or 'arena'")
        return share
    # "model": each named model's new votes follow its current mix of opponents, split evenly between them.
    out = np.zeros_like(n)
    named = [model] if versus is None else [model, versus]
    for m in named:
        own = ((design.i == m) | (design.j == m)) * n
        if own.sum() == 0:
            raise ValueError(f"model {design.models[m]!r} has no votes, so it has no pairing to extend; use "
                             "allocation='arena' with a board design")
        out += own / own.sum() / len(named)
    return out


def _variance_curve(design: Design, c: np.ndarray, added: np.ndarray, extra: np.ndarray, base: bool) -> np.ndarray:
    """Variance (Elo points squared) of the contrast after ``extra`` added votes, for each value of ``extra``."""
    k = len(design.models)
    n_now = design.n if base else np.zeros_like(design.n)
    h_now, h_unit = (_laplacian(k, design.i, design.j, w * design.curvature) for w in (n_now, added))
    if design.tie is None or not np.any(design.tie > 0):
        return np.array([_contrast_var(h_now + x * h_unit, c) for x in extra]) * design.factor**2
    j_now, j_unit = (_laplacian(k, design.i, design.j, w * design.noise) for w in (n_now, added))
    return np.array([_contrast_var(h_now + x * h_unit, c, j_now + x * j_unit) for x in extra]) * design.factor**2


def _power(gap: float, sd: np.ndarray, level: float) -> np.ndarray:
    z = stats.norm.ppf(0.5 + level / 2)
    ratio = np.divide(abs(gap), sd, out=np.full_like(sd, np.inf), where=sd > 0)
    return stats.norm.cdf(ratio - z) + stats.norm.cdf(-ratio - z)


# ---------------------------------------------------------------------------------------------- plan


@dataclass(frozen=True, eq=False, repr=False)
class VotePlan(Result):
    """How many votes a goal needs (:func:`plan_votes`), with what :func:`simulate_plan` needs to check it.

    Attributes
    ----------
    table : pandas.DataFrame
        One row: goal, model, versus, allocation, from_scratch, votes_now, current, target, gap, votes_needed,
        achieved, floor, note (see :func:`plan_votes`).
    curve : pandas.DataFrame
        extra_votes, sd, width (and power for a separation goal) over a log grid of added votes.
    design : Design
        The arena planned (with the gap moved to the one asked, for a separation goal).
    added : numpy.ndarray
        Share of each design pair in one added vote (sums to 1).
    contrast : numpy.ndarray
        The contrast planned for, on the natural scale (model minus the mean, the anchor, or ``versus``).
    level : float
        Confidence level of the widths and of the test.
    """

    curve: pd.DataFrame
    design: Design
    added: np.ndarray
    contrast: np.ndarray
    level: float

    title = "vote plan"

    def summary(self) -> pd.Series:
        """The plan's one row, plus the confidence level."""
        row = self.table.iloc[0]
        return pd.Series({**row.to_dict(), "level": self.level}, name=self.title, dtype=object)


def plan_votes(
    source: Ratings | pd.DataFrame | Design,
    model: str,
    *,
    target_width: float | None = None,
    versus: str | None = None,
    gap: float | None = None,
    power: float = 0.8,
    level: float = 0.95,
    allocation: str = "model",
    from_scratch: bool = False,
    max_votes: float = 1e9,
    anchor: str | Mapping[str, float] | None = None,
) -> VotePlan:
    """Votes needed for a target interval width, or to tell two models apart at a given gap with given power.

    Parameters
    ----------
    source
        A :class:`Ratings` (its observed pairing and fitted ratings), a published board with model, rating (or
        elo) and appearances columns (ratings taken as the truth, pairing balanced by appearances), or a
        :class:`Design` (:func:`design_from_board` for other columns, total votes or scale).
    model
        The model to plan for.
    target_width
        Goal 1: the full width (Elo points) of the ``level`` interval of ``model``'s rating (in the board's
        gauge: relative to the mean, or to the anchor), or of the difference ``model - versus`` when
        ``versus`` is given.
    versus, gap, power
        Goal 2 (when ``gap`` is given): the votes after which a ``level`` test of ``model - versus`` rejects
        "no difference" with probability ``power``, if the true gap is ``gap`` Elo points (default: the
        current rating difference).
    allocation
        Where the added votes go: ``"model"`` (the named model(s), against their current mix of opponents,
        split evenly between model and versus), ``"pair"`` (head-to-head model vs versus) or ``"arena"`` (every
        pair grows in proportion to its current votes: the answer is arena-wide votes).
    from_scratch
        Ignore the votes already cast: the answer is then the total votes of an arena with this pairing.
    max_votes
        Search limit; a goal not reached by then is reported as unreachable (NaN votes_needed, with a note).
    anchor
        For a board source only: its gauge, ``"mean"`` / None or the model whose rating is fixed (a name or
        ``{model: value}``, as in :func:`design_from_board`). A Ratings or Design carries its own gauge.

    Returns
    -------
    VotePlan
        ``.table``, one row: goal, model, versus, allocation, from_scratch, votes_now (in the design), current
        (width now, Elo points, or power now), target, gap, votes_needed (added votes, or total when
        ``from_scratch``), achieved (width or power at votes_needed), floor (the width approached as votes grow
        without bound, for the width goal), note. ``.curve``: extra_votes, sd, width, power over a log grid;
        ``.design``, ``.added`` (share of each pair in an added vote) and ``.contrast`` for
        :func:`simulate_plan`.
    """
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation must be one of {ALLOCATIONS}, not {allocation!r}")
    if (target_width is None) == (gap is None and versus is None):
        raise ValueError("give target_width= (interval goal) or versus= / gap= (separation goal), not both")
    design = _design(source, anchor)
    im = model_index(design.models, model)
    iv = None if versus is None else model_index(design.models, versus)
    if iv == im:
        raise ValueError(f"model and versus are the same ({model!r})")
    c = _contrast(design, im, iv)
    added = _added_weights(design, allocation, im, iv)
    z = stats.norm.ppf(0.5 + level / 2)
    goal = "width" if target_width is not None else "separate"
    if goal == "separate":
        if iv is None:
            raise ValueError("the separation goal needs versus=")
        if not 0 < power < 1:
            raise ValueError(f"power must be in (0, 1), got {power}")
        now_gap = float((design.theta[im] - design.theta[iv]) * design.factor)
        if gap is None:
            gap = now_gap
        elif gap != now_gap:
            # Plan (and later simulate) the world where the gap is as asked: move the model, keep the rest.
            theta = design.theta.copy()
            theta[im] += (gap - now_gap) / design.factor
            design = replace(design, theta=theta)

    def value(extra: np.ndarray) -> np.ndarray:
        sd = np.sqrt(_variance_curve(design, c, added, extra, not from_scratch))
        return 2 * z * sd if goal == "width" else _power(gap, sd, level)

    def reached(v: float) -> bool:
        return v <= target_width if goal == "width" else v >= power

    start = 1.0 if from_scratch else 0.0
    now = float(value(np.array([start]))[0]) if not from_scratch else math.nan
    needed, note = _search(value, reached, start, max_votes)
    floor = float(value(np.array([max_votes * 1e3]))[0]) if goal == "width" else math.nan
    if needed is None:
        note = (f"not reached within {max_votes:.3g} votes" +
                (f"; the width levels off at {floor:.3g} points because the opponents' ratings stay uncertain"
                 if goal == "width" else ""))
    achieved = float(value(np.array([needed]))[0]) if needed is not None else math.nan
    grid = np.unique(np.concatenate([[0.0] if not from_scratch else [], np.geomspace(10, max(10 * (needed or 1e4),
                                                                                              1e3), 60)]))
    sd_grid = np.sqrt(_variance_curve(design, c, added, grid, not from_scratch))
    curve = pd.DataFrame({"extra_votes": grid, "sd": sd_grid, "width": 2 * z * sd_grid})
    if goal == "separate":
        curve["power"] = _power(gap, sd_grid, level)
    row = {
        "goal": goal, "model": str(design.models[im]), "versus": None if iv is None else str(design.models[iv]),
        "allocation": allocation, "from_scratch": from_scratch, "votes_now": design.votes, "current": now,
        "target": target_width if goal == "width" else power, "gap": gap if goal == "separate" else math.nan,
        "votes_needed": math.nan if needed is None else float(math.ceil(needed)), "achieved": achieved,
        "floor": floor, "note": note,
    }
    out = pd.DataFrame([row])
    out.attrs["units"] = "Elo points (widths, gap); votes"
    return VotePlan(table=out, curve=curve, design=design, added=np.asarray(added, float), contrast=c,
                    level=level)


def expected_intervals(source: Ratings | pd.DataFrame | Design, *, level: float = 0.95,
                       anchor: str | Mapping[str, float] | None = None) -> pd.DataFrame:
    """Model-based interval half-widths every model would have under a design (Elo points).

    Parameters
    ----------
    source
        As in :func:`plan_votes`; a published board gives the widths its appearances imply if the pairing were
        balanced (e.g. to set against the published 95% intervals).
    anchor
        For a board source: its gauge, as in :func:`plan_votes`.

    Returns
    -------
    pandas.DataFrame
        model, votes (appearances in the design), se, half_width (z * se), in the design's gauge (relative to
        the anchor when there is one, whose width is then 0). With ties (half wins) the covariance is the
        sandwich ``H^+ J H^+``, which is what a vote bootstrap estimates; without ties it is ``H^+``.
    """
    design = _design(source, anchor)
    k = len(design.models)
    info = _laplacian(k, design.i, design.j, design.n * design.curvature)
    h_plus = np.linalg.inv(info + np.ones((k, k)) / k) - np.ones((k, k)) / k  # = H^+ on the mean-zero subspace
    cov = h_plus @ _laplacian(k, design.i, design.j, design.n * design.noise) @ h_plus
    gauge = np.eye(k) - (1.0 / k if design.anchor is None else 0.0)
    if design.anchor is not None:
        gauge[:, design.anchor] -= 1.0
    var = np.einsum("ij,jk,ik->i", gauge, cov, gauge) * design.factor**2
    se = np.sqrt(np.clip(var, 0, None))
    z = stats.norm.ppf(0.5 + level / 2)
    return pd.DataFrame({"model": pd.array([str(m) for m in design.models], dtype="string"),
                         "votes": _appearances(design), "se": se, "half_width": z * se})


def _design(source: Any, anchor: str | Mapping[str, float] | None) -> Design:
    if isinstance(source, Design | Ratings) and anchor is not None:
        raise TypeError(f"anchor= applies to a board source only; a {type(source).__name__} carries its own gauge")
    if isinstance(source, Design):
        return source
    if isinstance(source, Ratings):
        return design_from_ratings(source)
    if isinstance(source, pd.DataFrame):
        return design_from_board(source, anchor=anchor)
    raise TypeError(f"source must be a Ratings, a board DataFrame or a Design, not {type(source).__name__}")


def _search(value, reached, start: float, max_votes: float) -> tuple[float | None, str]:
    """Smallest number of votes in [start, max_votes] at which ``reached(value(n))``; bisection in log space."""
    if reached(float(value(np.array([start]))[0])):
        return start, "already reached" if start == 0 else ""
    if not reached(float(value(np.array([max_votes]))[0])):
        return None, ""
    lo, hi = max(start, 1.0), max_votes
    if reached(float(value(np.array([lo]))[0])):
        return lo, ""
    # Invariant: not reached at lo, reached at hi. 60 halvings of the log range: far below one vote.
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if reached(float(value(np.array([mid]))[0])):
            hi = mid
        else:
            lo = mid
        if hi - lo < 0.5:
            break
    return hi, ""


# ---------------------------------------------------------------------------------------------- simulation check


def simulate_plan(plan: VotePlan, votes: float | None = None, *, replications: int = 200,
                  seed: int | None = 0) -> pd.DataFrame:
    """Check a plan by simulation: draw the planned arena many times, refit, and measure width and power.

    Parameters
    ----------
    plan
        A :class:`VotePlan` from :func:`plan_votes`.
    votes
        Added votes to simulate (default the plan's ``votes_needed``).
    replications, seed
        Simulated arenas and the random seed.

    Returns
    -------
    pandas.DataFrame
        One row: votes, replications, fitted (replications whose fit was finite), sd_analytic,
        sd_simulated (standard deviation of the estimated contrast over the replications, Elo points),
        width_analytic, width_simulated (2 z sd), ratio (simulated / analytic), and for a separation plan
        power_analytic and power_simulated (share of replications whose ``level`` interval excludes 0).

    Notes
    -----
    When the design is a published board and the whole arena is planned (``allocation="arena"`` from scratch),
    each replication is :func:`analysis.simulate.simulate_from_board` with the planned number of votes: the
    pair totals are then random, as in a live arena. Otherwise the planned votes per pair are held fixed
    (rounded) and each pair's outcomes are drawn from the design: win, loss, tie with probabilities
    ``p - t/2, 1 - p - t/2, t`` (t the pair's tie share), so the expected score is the model's p.
    """
    if not isinstance(plan, VotePlan):
        raise TypeError(f"simulate_plan() takes the VotePlan that plan_votes() returns, not {type(plan).__name__}")
    design, added, c, level = plan.design, plan.added, plan.contrast, plan.level
    row = plan.table.iloc[0]
    extra = float(row["votes_needed"] if votes is None else votes)
    if not math.isfinite(extra):
        raise ValueError("the plan has no finite votes_needed; pass votes=")
    scratch = bool(row["from_scratch"])
    n_pairs = extra * added + (0 if scratch else design.n)
    rng = np.random.default_rng(seed)
    use_simulator = design.source == "board" and scratch and row["allocation"] == "arena"
    estimates = _replicate(design, n_pairs, replications, rng, use_simulator, int(round(extra)), seed)
    est = estimates @ c * design.factor
    ok = np.isfinite(est)
    z = stats.norm.ppf(0.5 + level / 2)
    sd_a = math.sqrt(_variance_curve(design, c, added, np.array([extra]), not scratch)[0])
    sd_s = float(np.std(est[ok], ddof=1)) if ok.sum() > 2 else math.nan
    out = {"votes": extra, "replications": replications, "fitted": int(ok.sum()), "sd_analytic": sd_a,
           "sd_simulated": sd_s, "width_analytic": 2 * z * sd_a, "width_simulated": 2 * z * sd_s,
           "ratio": sd_s / sd_a}
    if row["goal"] == "separate":
        # Each replication's own model-based interval: its sd from the information at its fitted ratings is
        # close to the planned one, so the planned sd is used for every replication (a Wald test).
        out["power_analytic"] = float(_power(row["gap"], np.array([sd_a]), level)[0])
        out["power_simulated"] = float(np.mean(np.abs(est[ok]) > z * sd_a))
    return pd.DataFrame([out])


def _replicate(design: Design, n_pairs: np.ndarray, reps: int, rng: np.random.Generator, use_simulator: bool,
               votes: int, seed: int | None) -> np.ndarray:
    """(reps, K) fitted strengths (natural scale, mean zero); NaN rows where the fit is not finite."""
    k = len(design.models)
    names = [str(m) for m in design.models]
    keep = np.round(n_pairs) > 0
    i, j, n = design.i[keep], design.j[keep], np.round(n_pairs[keep]).astype(np.int64)
    table = _table(names, i, j)
    p = expit(design.theta[i] - design.theta[j])
    tie = np.zeros_like(p) if design.tie is None else np.minimum(design.tie[keep], 2 * np.minimum(p, 1 - p))
    # Outcome probabilities with the expected score p and the pair's tie share: win p - t/2, loss 1 - p - t/2.
    probs = np.stack([p - tie / 2, 1 - p - tie / 2, tie], 1)
    out = np.full((reps, k), np.nan)
    for r in range(reps):
        if use_simulator:
            counts = _simulated_counts(design, votes, None if seed is None else seed + r, table)
        else:
            counts = rng.multinomial(n, probs).astype(float)
        try:
            out[r] = bt.fit_bt(table.with_counts(counts)).theta
        except bt.FitError:
            continue
    return out


def _table(names: list[str], i: np.ndarray, j: np.ndarray) -> bt.PairTable:
    """A pair table with one group per design pair (i < j), in design order; counts are filled in later."""
    g = len(i)
    return bt.PairTable(models=pd.Index(names, name="model"), i=i, j=j, counts=np.zeros((g, 3)), ordered=False,
                        weight=np.ones(g), cell_group=np.arange(g), cell_outcome=np.zeros(g, dtype=np.int64))


def _simulated_counts(design: Design, votes: int, seed: int | None, table: bt.PairTable) -> np.ndarray:
    from .simulate import simulate_from_board

    board = pd.DataFrame({"model": [str(m) for m in design.models], "rating": design.theta * design.factor,
                          "appearances": _appearances(design)})
    sim = simulate_from_board(board, votes, counts=True, seed=seed)
    sim.attrs = {}  # pandas deep-copies attrs on every operation; the truth is already known here
    sub = bt.pair_table(sim[sim["count"] > 0], ordered=False)
    out = np.zeros((len(table.i), 3))
    k = len(design.models)
    pos = pd.Series(np.arange(len(table.i)), index=table.i * k + table.j)
    # The simulator names models in the board's order, sorted: map its codes back to the design's.
    code = pd.Index([str(m) for m in design.models]).get_indexer(sub.models)
    a, b = code[sub.i], code[sub.j]
    flip = a > b
    key = np.where(flip, b * k + a, a * k + b)
    rows = pos.reindex(key).to_numpy()
    cnt = sub.counts.copy()
    cnt[flip] = cnt[flip][:, [1, 0, 2]]
    valid = ~np.isnan(rows)
    out[rows[valid].astype(int)] = cnt[valid]
    return out


def _appearances(design: Design) -> np.ndarray:
    k = len(design.models)
    return np.bincount(design.i, design.n, k) + np.bincount(design.j, design.n, k)


__all__ = [
    "ALLOCATIONS",
    "Design",
    "VotePlan",
    "balanced_pairing",
    "design_from_board",
    "design_from_ratings",
    "expected_intervals",
    "plan_votes",
    "simulate_plan",
]
