"""Model comparisons: head-to-head records, observed vs predicted win matrices, tiers, and boards by subset.

Everything here is read off one Bradley-Terry fit (:func:`analysis.rate`) and the vote counts it was fitted on.
The unit of comparison is the fit's own pair group (a pair of models, or an ordered pair when a first-shown
advantage is fitted): observed and predicted scores then use exactly the votes and tie rule of the likelihood.

Ratings and differences are in Elo points (``rating = init + scale / ln(base) * theta``; scale 400, base 10 by
default: a 100-point gap is a 64% expected score). Probabilities are on [0, 1].

Tiers control the error rate simultaneously over all pairs (max-t band or Holm), because reading K(K-1)/2
pairwise 95% intervals as if each were the only one finds "differences" by chance on any large board.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit
from statsmodels.stats.multitest import multipletests

from . import bt, intervals
from .ratings import Ratings, model_index, rate
from .results import Result
from .vocab import check_level, keyword_options
from .votes import OUTCOMES, WINNERS, read_votes

# ---------------------------------------------------------------------------------------------- pair groups


def _elo_factor(ratings: Ratings) -> float:
    return ratings.options["scale"] / math.log(ratings.options["base"])


def _need_fit(ratings: Ratings) -> bt.BTFit:
    if not isinstance(ratings, Ratings) or ratings.fit is None:
        raise ValueError("this needs a Bradley-Terry fit: pass a Ratings from analysis.rate(..., method='bt')")
    return ratings.fit


def group_predictions(fit: bt.BTFit) -> pd.DataFrame:
    """Observed and predicted outcome of every pair group of a fit, in the units of its likelihood.

    Parameters
    ----------
    fit
        A :class:`analysis.bt.BTFit` (``Ratings.fit``).

    Returns
    -------
    pandas.DataFrame
        One row per group of ``fit.table``: model_a, model_b (model_a shown first when the table is ordered),
        wins, losses, ties (of model_a, as the fit counts them), n (votes), y and m (the "successes" and
        "trials" the tie rule compares: with ``ties="half"`` y = wins + ties / 2 out of m = n; otherwise the
        decisive votes y = wins out of m = wins + losses), p (predicted y / m: the expected score under "half",
        P(a wins | decisive) otherwise), var (per-trial variance of y under the model; with half ties it uses
        the group's observed tie share, since a tie scores exactly 1/2).
    """
    table = fit.table
    wins, losses, ties = table.counts.T
    d = fit.theta[table.i] - fit.theta[table.j] + (fit.gamma if fit.position else 0.0)
    if fit.ties == "half":
        y, m = wins + 0.5 * ties, wins + losses + ties
        p = expit(d)
        tie_share = np.divide(ties, m, out=np.zeros_like(m), where=m > 0)
        var = np.clip(p * (1 - p) - tie_share / 4.0, 0.0, None)
    else:
        y, m = wins, wins + losses
        if fit.ties == "rao-kupper":
            eta = math.exp(fit.tau)
            pa, pb = expit(d - eta), expit(-d - eta)
            p = pa / (pa + pb)
        else:  # drop, davidson: P(a | decisive) = sigmoid(d)
            p = expit(d)
        var = p * (1 - p)
    names = np.asarray([str(x) for x in table.models], dtype=object)
    return pd.DataFrame({
        "model_a": pd.array(names[table.i], dtype="string"), "model_b": pd.array(names[table.j], dtype="string"),
        "wins": wins, "losses": losses, "ties": ties, "n": wins + losses + ties, "y": y, "m": m, "p": p,
        "var": var,
    })


def score_test(y: np.ndarray, m: np.ndarray, p: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided score (z) test of observed y against m * p; NaN where there is no variance."""
    sd = np.sqrt(m * var)
    z = np.divide(y - m * p, sd, out=np.full_like(sd, np.nan), where=sd > 0)
    return z, 2 * stats.norm.sf(np.abs(z))


def _fitted(ratings: Any, func: str) -> Ratings:
    """``ratings`` if it is a fitted :class:`Ratings`; raw data is refused (no silent refit with hidden options)."""
    if isinstance(ratings, Ratings):
        return ratings
    raise TypeError(f"{func}() takes a fitted Ratings, not {type(ratings).__name__}: call "
                    f"ratings = analysis.rate(data, ...) first (choosing recipe=, ties=, ci=, ...) and pass it")


# ---------------------------------------------------------------------------------------------- head to head


def head_to_head(ratings: Ratings, a: str, b: str, *, level: float = 0.95) -> pd.DataFrame:
    """Is ``a`` really better than ``b``? Their record, the model's prediction, and the residual with a test.

    Parameters
    ----------
    ratings
        A Bradley-Terry :class:`Ratings` from :func:`analysis.rate` (its votes, fit and draws or covariance are
        reused). Raw votes raise ``TypeError``: fit once with the options you mean, then compare.
    a, b
        Model names; a name that is not on the board raises ``KeyError`` naming close matches.
    level
        Confidence level of the intervals of the predicted probability (percentiles of the rating draws) and
        of the rating difference.

    Returns
    -------
    pandas.DataFrame
        One row: model_a, model_b, wins, losses, ties (of a, as the fit counts them), n, observed (a's score:
        (wins + ties / 2) / n under ``ties="half"``, else wins / decisive votes), predicted (the model's P, from
        the rating difference in Elo points; pooled over showing order when a position term is fitted),
        pred_lower, pred_upper, residual (observed - predicted), z and p_value (score test of the residual,
        two-sided), p_value_exact (exact binomial test of y successes in m trials against the prediction; NaN
        under ``ties="half"`` when the pair had ties, since a half-win score is not binomial),
        rating_diff (Elo points, a - b) with diff_lower / diff_upper. ``attrs`` (provenance strings): ties,
        units, and a note when the two never met.

    Notes
    -----
    The prediction is fitted on these same votes too, so a large residual means the pair disagrees with what
    the rest of the board implies; on a pair that holds most of both models' votes the test is conservative.
    """
    fit_r = _fitted(ratings, "head_to_head")
    level = check_level(level)
    fit = _need_fit(fit_r)
    models = fit_r.models
    ia, ib = model_index(models, a), model_index(models, b)
    if ia == ib:
        raise ValueError(f"a and b are the same model ({a!r})")
    groups = group_predictions(fit)
    table = fit.table
    fwd = (table.i == ia) & (table.j == ib)
    rev = (table.i == ib) & (table.j == ia)
    # Reverse groups count from b's side: swap wins and losses, and predict 1 - p.
    sign = np.where(fwd, 1.0, -1.0)[fwd | rev]
    g = groups[fwd | rev]
    wins = np.where(sign > 0, g["wins"], g["losses"]).sum()
    losses = np.where(sign > 0, g["losses"], g["wins"]).sum()
    ties = g["ties"].sum()
    y = np.where(sign > 0, g["y"], g["m"] - g["y"]).sum()
    m = g["m"].sum()
    mp = np.where(sign > 0, g["p"], 1 - g["p"]) @ g["m"].to_numpy()
    var_m = (g["var"] * g["m"]).sum()
    observed = y / m if m > 0 else np.nan
    predicted = mp / m if m > 0 else _decisive_p(fit, ia, ib)
    z, p_value = score_test(np.array([y]), np.array([1.0]), np.array([mp]), np.array([var_m]))
    p_exact = np.nan
    # The exact test needs whole successes: decisive votes, or "half" ties on a pair that had no ties.
    if m > 0 and (fit.ties != "half" or ties == 0):
        p_exact = stats.binomtest(int(round(y)), int(round(m)), min(max(predicted, 0.0), 1.0)).pvalue
    prob = _prob_interval(fit_r, ia, ib, level)
    diff = _difference(fit_r, ia, ib, level)
    row = {
        "model_a": str(models[ia]), "model_b": str(models[ib]), "wins": wins, "losses": losses, "ties": ties,
        "n": wins + losses + ties, "observed": observed, "predicted": predicted, "pred_lower": prob[0],
        "pred_upper": prob[1], "residual": observed - predicted, "z": float(z[0]), "p_value": float(p_value[0]),
        "p_value_exact": p_exact, "rating_diff": diff[0], "diff_lower": diff[1], "diff_upper": diff[2],
    }
    out = pd.DataFrame([row])
    out.attrs.update(ties=str(fit.ties), units="Elo points (rating_diff); probabilities (others)")
    if m == 0:
        out.attrs["note"] = f"{a!r} and {b!r} never met: the prediction comes from the rest of the board"
    return out


def _decisive_p(fit: bt.BTFit, ia: int, ib: int) -> float:
    d = fit.theta[ia] - fit.theta[ib]
    if fit.ties == "rao-kupper":
        eta = math.exp(fit.tau)
        pa, pb = expit(d - eta), expit(-d - eta)
        return float(pa / (pa + pb))
    return float(expit(d))


def _prob_interval(ratings: Ratings, ia: int, ib: int, level: float) -> tuple[float, float]:
    if ratings.draws is None:
        return math.nan, math.nan
    diff = (ratings.draws[:, ia] - ratings.draws[:, ib]) / _elo_factor(ratings)
    lo, hi = intervals.percentile_interval(expit(diff), level)
    return float(lo), float(hi)


def _difference(ratings: Ratings, ia: int, ib: int, level: float) -> tuple[float, float, float]:
    est = float(ratings.ratings[ia] - ratings.ratings[ib])
    if ratings.cov is not None:
        se = math.sqrt(max(ratings.cov[ia, ia] + ratings.cov[ib, ib] - 2 * ratings.cov[ia, ib], 0.0))
        lo, hi = intervals.z_interval(est, se, level)
    elif ratings.draws is not None:
        lo, hi = intervals.percentile_interval(ratings.draws[:, ia] - ratings.draws[:, ib], level)
    else:
        lo = hi = math.nan
    return est, float(lo), float(hi)


# ---------------------------------------------------------------------------------------------- win matrices


def win_matrices(ratings: Ratings) -> pd.DataFrame:
    """Observed and predicted scores for every pair of models that met, both ways round (long form).

    Parameters
    ----------
    ratings
        A Bradley-Terry :class:`Ratings` from :func:`analysis.rate` (raw votes raise ``TypeError``).

    Returns
    -------
    pandas.DataFrame
        One row per (model_a, model_b) that met, in both orientations: n (votes), observed (model_a's score
        under the fit's tie rule), predicted (model-implied), residual, z (standardised residual). Pairs that
        never met are absent; the predicted matrix for all pairs is :func:`analysis.win_matrix`. Rows are in
        rating order (model_a, then model_b), which :func:`pivot_matrix` keeps. ``attrs["ties"]``: the tie rule.
    """
    fit_r = _fitted(ratings, "win_matrices")
    g = group_predictions(_need_fit(fit_r))
    # Pool showing orders (ordered tables) into unordered pairs first.
    key_a = np.minimum(g["model_a"].to_numpy(object), g["model_b"].to_numpy(object))
    flip = g["model_a"].to_numpy(object) != key_a
    pooled = pd.DataFrame({
        "model_a": key_a, "model_b": np.where(flip, g["model_a"], g["model_b"]),
        "n": g["n"], "y": np.where(flip, g["m"] - g["y"], g["y"]), "m": g["m"],
        "mp": np.where(flip, 1 - g["p"], g["p"]) * g["m"], "vm": g["var"] * g["m"],
    }).groupby(["model_a", "model_b"], as_index=False, sort=False).sum()
    mirror = pooled.rename(columns={"model_a": "model_b", "model_b": "model_a"})
    mirror["y"] = mirror["m"] - mirror["y"]
    mirror["mp"] = mirror["m"] - mirror["mp"]
    both = pd.concat([pooled, mirror[pooled.columns]], ignore_index=True)
    m = both["m"].to_numpy(float)
    observed = np.divide(both["y"], m, out=np.full_like(m, np.nan), where=m > 0)
    predicted = np.divide(both["mp"], m, out=np.full_like(m, np.nan), where=m > 0)
    z, _ = score_test(both["y"].to_numpy(float), np.ones_like(m), both["mp"].to_numpy(float),
                       both["vm"].to_numpy(float))
    out = pd.DataFrame({
        "model_a": pd.array(both["model_a"].astype(str), dtype="string"),
        "model_b": pd.array(both["model_b"].astype(str), dtype="string"),
        "n": both["n"].to_numpy(float), "observed": observed, "predicted": predicted,
        "residual": observed - predicted, "z": z,
    })
    order = [str(fit_r.models[k]) for k in np.argsort(-fit_r.ratings, kind="stable")]
    out = out.sort_values(["model_a", "model_b"], key=lambda s: s.map({mm: r for r, mm in enumerate(order)}),
                          ignore_index=True)
    out.attrs["ties"] = str(fit_r.fit.ties)
    return out


def pivot_matrix(table: pd.DataFrame, value: str = "observed") -> pd.DataFrame:
    """Wide matrix of one column of :func:`win_matrices`: rows model_a, columns model_b, in the table's order.

    :func:`win_matrices` lists model_a in rating order, so the matrix is in rating order too.
    """
    if value not in table.columns:
        raise KeyError(f"no column {value!r}; choose one of {[c for c in table.columns if c not in ('model_a',)]}")
    order = list(dict.fromkeys([*table["model_a"], *table["model_b"]]))
    wide = table.pivot(index="model_a", columns="model_b", values=value)
    return wide.reindex(index=order, columns=order).rename_axis(index="model_a", columns="model_b")


# ---------------------------------------------------------------------------------------------- tiers


def _board_inputs(obj: Any, rating: str, lower: str, upper: str, se: str, level: float):
    """Names, ratings and either draws (B, K) or a covariance (K, K), from a Ratings or a board frame."""
    if isinstance(obj, Ratings):
        names = [str(m) for m in obj.models]
        if obj.draws is not None:
            return names, np.asarray(obj.ratings, float), obj.draws, None, None
        if obj.cov is not None:
            return names, np.asarray(obj.ratings, float), None, obj.cov, None
        raise ValueError("tiers needs uncertainty: rate(..., ci='bootstrap' | 'sandwich' | 'model'), not ci='none'")
    if not isinstance(obj, pd.DataFrame):
        raise TypeError(f"expected a Ratings or a board DataFrame, not {type(obj).__name__}")
    missing = [c for c in ("model", rating) if c not in obj.columns]
    if missing:
        raise KeyError(f"board is missing column(s) {missing}; found {list(obj.columns)}")
    r = obj[rating].to_numpy(float)
    if se in obj.columns and obj[se].notna().all():
        s = obj[se].to_numpy(float)
    elif {lower, upper} <= set(obj.columns):
        s = (obj[upper].to_numpy(float) - obj[lower].to_numpy(float)) / (2 * intervals.normal_quantile(level))
    else:
        raise KeyError(f"board needs a {se!r} column or {lower!r} and {upper!r} to get standard errors")
    note = ("board only: pairwise differences assume independent ratings, se_ab = sqrt(se_a^2 + se_b^2); pass a "
            "Ratings (with draws or covariance) for the exact joint uncertainty")
    return [str(m) for m in obj["model"]], r, None, np.diag(s**2), note


@dataclass(frozen=True, eq=False, repr=False)
class Tiers(Result):
    """Tiers of models that cannot be told apart (:func:`tiers`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model, by rating: model, rating (Elo points), se, tier (1 = top), tier_size, n_tied (how
        many other models it cannot be told apart from).
    pairs : pandas.DataFrame
        One row per pair, model_a rated higher: difference (Elo points), se, t, p_value (unadjusted),
        p_adjusted, different (p_adjusted < 1 - level).
    method : "max-t" or "holm".
    level : the simultaneous confidence level.
    critical : the max-t critical value (NaN for Holm).
    n_tiers : number of tiers.
    note : how the joint uncertainty was obtained when it was approximated (a board frame), else "".
    """

    pairs: pd.DataFrame
    method: str
    level: float
    critical: float
    n_tiers: int
    note: str = ""

    title = "tiers"

    def summary(self) -> pd.Series:
        """method, level, models, tiers, pairs, pairs told apart, critical value (max-t), note."""
        return pd.Series({
            "method": self.method, "level": self.level, "models": len(self.table), "tiers": self.n_tiers,
            "pairs": len(self.pairs), "pairs_different": int(self.pairs["different"].sum()),
            "critical": self.critical, "note": self.note,
        }, name=self.title, dtype=object)


def tiers(board_or_ratings: Ratings | pd.DataFrame, level: float = 0.95, method: str = "max-t", *,
          rating: str = "rating", lower: str = "lower", upper: str = "upper", se: str = "se",
          draws: int = 4000, seed: int | None = 0) -> Tiers:
    """Groups of models that cannot be told apart, with the error rate controlled over all pairs at once.

    Parameters
    ----------
    board_or_ratings
        A :class:`Ratings` (preferred: its bootstrap draws or covariance give the joint uncertainty of all
        ratings) or a board frame with ``rating`` and ``se`` (or ``lower``/``upper`` at ``level``) columns,
        whose ratings are then treated as independent (an approximation, noted in ``Tiers.note``).
    level
        Simultaneous confidence level: with probability about ``level`` no pair of equally rated models is
        declared different.
    method
        ``"max-t"``: a pair differs when its studentised difference exceeds the ``level`` quantile of the
        maximum over all pairs of ``|difference - estimate| / se`` across the draws (bootstrap, or normal
        draws from the covariance); exact simultaneous coverage under the draws' distribution.
        ``"holm"``: Holm's step-down adjustment of normal two-sided pairwise p-values (valid under any
        dependence, a little more conservative).
    rating, lower, upper, se
        Column names of a board frame.
    draws, seed
        Normal draws used for max-t when only a covariance is known.

    Returns
    -------
    Tiers
        ``.table``: model, rating (Elo points), se, tier (1 = top), tier_size, n_tied (how many other models it
        cannot be told apart from), sorted by rating. A model joins the current tier when it is not
        distinguishable from any model already in it, so within a tier no pair differs; a model can still be
        tied with a neighbour across a tier boundary (see ``.pairs``). ``.pairs``: one row per pair, model_a
        rated higher, with difference, se, t, p_value (unadjusted), p_adjusted and different (p_adjusted < 1 -
        level); ``.critical``: the max-t critical value (NaN for Holm); ``.n_tiers``, ``.method``, ``.level``.
    """
    if method not in ("max-t", "holm"):
        raise ValueError(f"method must be 'max-t' or 'holm', not {method!r}")
    level = check_level(level)
    if isinstance(board_or_ratings, pd.DataFrame) and len(board_or_ratings) < 2:
        raise ValueError(f"tiers needs a board of at least 2 models; this one has {len(board_or_ratings)}")
    names, r, d, cov, note = _board_inputs(board_or_ratings, rating, lower, upper, se, level)
    k = len(names)
    if k < 2:
        raise ValueError(f"tiers needs a board of at least 2 models; this one has {k}")
    order = np.argsort(-r, kind="stable")
    ii, jj = np.triu_indices(k, 1)
    ia, ib = order[ii], order[jj]  # ia rated at least as high as ib
    est = r[ia] - r[ib]
    if d is None:
        var = cov[ia, ia] + cov[ib, ib] - 2 * cov[ia, ib]
        sd = np.sqrt(np.clip(var, 0, None))
    else:
        sd = (d[:, ia] - d[:, ib]).std(0, ddof=1)
    t = np.divide(est, sd, out=np.full_like(est, np.inf), where=sd > 0)
    p_raw = 2 * stats.norm.sf(np.abs(t))
    crit = math.nan
    if method == "holm":
        p_adj = _holm(p_raw)
    else:
        if d is None:
            rng = np.random.default_rng(seed)
            d = rng.multivariate_normal(r, cov, size=draws, method="eigh")
        p_adj, crit = _max_t(d, ia, ib, est, sd, level)
    alpha = 1 - level
    differs = p_adj < alpha
    pairs = pd.DataFrame({
        "model_a": pd.array([names[x] for x in ia], dtype="string"),
        "model_b": pd.array([names[x] for x in ib], dtype="string"),
        "difference": est, "se": sd, "t": t, "p_value": p_raw, "p_adjusted": p_adj, "different": differs,
    })
    tier = _assign_tiers(k, order, ii, jj, differs)
    tied = np.zeros(k, dtype=int)
    np.add.at(tied, ia[~differs], 1)
    np.add.at(tied, ib[~differs], 1)
    se_model = np.sqrt(np.clip(np.diag(cov), 0, None)) if cov is not None else d.std(0, ddof=1)
    out = pd.DataFrame({
        "model": pd.array([names[x] for x in order], dtype="string"), "rating": r[order], "se": se_model[order],
        "tier": tier[order], "n_tied": tied[order],
    })
    out.insert(4, "tier_size", out.groupby("tier")["tier"].transform("size"))
    out.attrs["method"] = method
    return Tiers(table=out, pairs=pairs, method=method, level=level, critical=crit, n_tiers=int(tier.max()),
                 note=note or "")


def _holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (statsmodels' ``multipletests``: monotone, capped at 1)."""
    return multipletests(p, method="holm")[1]


def _max_t(d: np.ndarray, ia: np.ndarray, ib: np.ndarray, est: np.ndarray, sd: np.ndarray, level: float):
    """Single-step max-t adjusted p-values and the critical value from draws of all ratings."""
    safe = np.where(sd > 0, sd, np.inf)
    # Chunk over draws: B x pairs can be large (1000 x 8128 on a 128-model board is fine, 10x that is not).
    step = max(1, 2**24 // max(1, len(ia)))
    maxima = np.concatenate([
        np.abs((d[s : s + step][:, ia] - d[s : s + step][:, ib] - est) / safe).max(1) for s in range(0, len(d), step)
    ])
    crit = float(np.quantile(maxima, level))
    t = np.abs(est) / safe
    sorted_max = np.sort(maxima)
    # P(max >= |t|) over the draws, with the usual +1 so a p-value is never exactly 0.
    p_adj = (len(maxima) - np.searchsorted(sorted_max, t, side="left") + 1) / (len(maxima) + 1)
    return np.where(sd > 0, p_adj, np.where(est == 0, 1.0, 0.0)), crit


def _assign_tiers(k: int, order: np.ndarray, ii: np.ndarray, jj: np.ndarray, differs: np.ndarray) -> np.ndarray:
    # differs is indexed by pairs of positions (ii < jj) in rating order; make it a position x position matrix.
    mat = np.zeros((k, k), dtype=bool)
    mat[ii, jj] = differs
    mat[jj, ii] = differs
    tier = np.zeros(k, dtype=int)
    current, members = 1, [0]
    for pos in range(1, k):
        if mat[pos, members].any():
            current, members = current + 1, [pos]
        else:
            members.append(pos)
        tier[order[pos]] = current
    tier[order[0]] = 1
    return tier


# ---------------------------------------------------------------------------------------------- boards by subset


def _counts_by(data: Any, by: str) -> pd.DataFrame:
    """Counts per (by, model_a, model_b, outcome) from battles (any column) or counts that carry ``by``."""
    if isinstance(data, pd.DataFrame) and {"model_a", "model_b", "outcome", "count"} <= set(data.columns):
        if by not in data.columns:
            raise KeyError(f"counts have no column {by!r}; aggregate the battles with by={by!r} first")
        return data
    battles = _battles(data, [by])
    return _group_counts(battles, by)


def _battles(data: Any, keep: Sequence[str]) -> pd.DataFrame:
    """Validated battles plus columns ``keep`` (read_votes keeps only its known optional columns)."""
    battles = read_votes(data)
    for col in keep:
        if col in battles.columns:
            continue
        if isinstance(data, pd.DataFrame) and col in data.columns and len(data) == len(battles):
            battles[col] = data[col].to_numpy()
        else:
            raise KeyError(f"the votes have no column {col!r} (columns: {list(battles.columns)})")
    return battles


def _group_counts(battles: pd.DataFrame, by: str) -> pd.DataFrame:
    grouped = battles.groupby([by, "model_a", "model_b", "winner"], observed=True, sort=True).size()
    counts = grouped[grouped > 0].rename("count").reset_index()
    counts["outcome"] = counts["winner"].astype("string").map(dict(zip(WINNERS, OUTCOMES, strict=True)))
    return counts.drop(columns="winner")[[by, "model_a", "model_b", "outcome", "count"]]


def _board_rows(counts: pd.DataFrame, rate_opts: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """A board (model, rating, lower, upper, se, rank, n_battles) for one subset, or an empty frame and why."""
    cols = ["model", "rating", "lower", "upper", "se", "rank", "n_battles"]
    counts = counts[counts["count"] > 0]
    if counts.empty:
        return pd.DataFrame(columns=cols), "no votes"
    try:
        board = rate(counts[["model_a", "model_b", "outcome", "count"]], **rate_opts).board
    except bt.FitError as err:
        return pd.DataFrame(columns=cols), f"not rated: {err}"
    return board[cols], ""


def _stack(frames: list[pd.DataFrame], keys: list[dict[str, Any]], notes: list[str]) -> pd.DataFrame:
    rows = []
    for frame, key, note in zip(frames, keys, notes, strict=True):
        if frame.empty:
            # A subset that could not be rated is reported as one flagged row, never silently dropped.
            rows.append(pd.DataFrame([{**key, "model": pd.NA, "n_battles": 0 if note == "no votes" else np.nan,
                                       "note": note}]))
        else:
            rows.append(frame.assign(**key, note=note))
    out = pd.concat(rows, ignore_index=True)
    lead = list(keys[0]) if keys else []
    cols = lead + ["model", "rating", "lower", "upper", "se", "rank", "n_battles", "note"]
    out = out.reindex(columns=cols)
    out["model"] = out["model"].astype("string")
    out["rank"] = out["rank"].astype("Int64")
    out["n_battles"] = out["n_battles"].astype("Int64")
    out["note"] = out["note"].fillna("").astype("string")
    return out


def by_category(data: Any, by: str = "category", *, rate_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One board per value of a column (category, tag, language, ...), stacked in long form.

    Parameters
    ----------
    data
        Battles (or a path) with the column ``by``, or counts aggregated with ``by=``.
    by
        The column that splits the votes.
    rate_options
        Keyword arguments of :func:`analysis.rate` for every sub-board, e.g. ``{"ci": "model"}`` or
        ``{"anchor": {"Mochi 1": 1000}, "resamples": 200, "seed": 0}``; default: rate's defaults.

    Returns
    -------
    pandas.DataFrame
        ``by``, model, rating, lower, upper, se (Elo points), rank, n_battles, note. A value whose votes cannot
        be rated (a disconnected graph, a model that never lost) gives one row with model <NA> and the reason
        in ``note`` (empty for the others). ``attrs["by"]``: the column.
    """
    rate_opts = keyword_options(rate_options, "rate_options", "analysis.rate")
    counts = _counts_by(data, by)
    frames, keys, notes = [], [], []
    for value, sub in counts.groupby(by, observed=True, sort=True):
        board, note = _board_rows(sub, rate_opts)
        frames.append(board)
        keys.append({by: value})
        notes.append(note)
    if not frames:
        raise ValueError(f"no votes with a value in column {by!r}")
    out = _stack(frames, keys, notes)
    out.attrs["by"] = str(by)
    return out


def by_period(data: Any, freq: str = "W", window: int | str = 1, *, time: str = "timestamp",
              rate_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Rolling boards over time: one board per period, fitted on the votes of the last ``window`` periods.

    Parameters
    ----------
    data
        Battles (or a path) with a timestamp column.
    freq
        Period length, a pandas period alias: ``"D"``, ``"W"`` (weeks ending Sunday), ``"M"``, ...
    window
        Number of periods each board uses (1: each period alone; 4 with ``freq="W"``: a four-week rolling
        board), or ``"expanding"``: everything up to the period (the board as it stood then).
    time
        The timestamp column.
    rate_options
        Keyword arguments of :func:`analysis.rate` for every board, e.g. ``{"ci": "model"}``. With
        ``anchor="mean"`` (default) the gauge moves when models enter or leave; anchor a model that is present
        throughout (``{"anchor": {name: value}}``) for trajectories.

    Returns
    -------
    pandas.DataFrame
        period (pandas Period), start, end (the window's first and last day), model, rating, lower, upper, se
        (Elo points), rank, n_battles, note. Every period from the first vote to the last is present: a window
        without votes is one row with model <NA>, n_battles 0 and note "no votes", not a gap. ``attrs``
        (provenance strings): freq, window.
    """
    rate_opts = keyword_options(rate_options, "rate_options", "analysis.rate")
    if not (window == "expanding" or (isinstance(window, int) and window >= 1)):
        raise ValueError(f"window must be a positive number of periods or 'expanding', not {window!r}")
    battles = read_votes(data)
    if time not in battles.columns and "timestamp" in battles.columns and isinstance(data, pd.DataFrame) \
            and time in data.columns:
        time = "timestamp"  # read_votes renamed a known spelling (tstamp, time) and parsed it
    battles = _battles(battles if time in battles.columns else data, [time])
    ts = pd.to_datetime(battles[time], utc=True).dt.tz_convert(None)
    if ts.isna().any():
        raise ValueError(f"column {time!r} has {int(ts.isna().sum())} missing timestamp(s)")
    battles["_period"] = ts.dt.to_period(freq)
    counts = _group_counts(battles, "_period")
    periods = pd.period_range(battles["_period"].min(), battles["_period"].max(), freq=battles["_period"].dt.freq)
    frames, keys, notes = [], [], []
    for pos, period in enumerate(periods):
        first = 0 if window == "expanding" else max(0, pos - int(window) + 1)
        span = periods[first : pos + 1]
        sub = counts[counts["_period"].isin(span)]
        sub = sub.groupby(["model_a", "model_b", "outcome"], observed=True, as_index=False)["count"].sum()
        board, note = _board_rows(sub, rate_opts)
        frames.append(board)
        keys.append({"period": period, "start": span[0].start_time, "end": period.end_time.normalize()})
        notes.append(note)
    out = _stack(frames, keys, notes)
    out.attrs.update(freq=str(freq), window=str(window))
    return out


def trajectories(boards: pd.DataFrame, models: Sequence[str] | None = None, *, time: str = "period",
                 model: str = "model", rating: str = "rating") -> pd.DataFrame:
    """Each model's rating over time, from :func:`by_period` output (or any long frame of dated boards).

    Parameters
    ----------
    boards
        Long frame with a time column, a model column and a rating column (e.g. :func:`by_period`, or
        :func:`analysis.datasets.aa_video_arena` with ``time="date", rating="elo"``).
    models
        Models to keep (default all); an unknown name raises ``KeyError`` naming close matches.

    Returns
    -------
    pandas.DataFrame
        The input rows of those models (flagged rows without a model dropped), sorted by model and time, with
        ``change``: the rating minus the model's previous rating (Elo points; NaN at its first appearance) and
        ``periods_seen``: how many boards the model has been on so far.
    """
    missing = [c for c in (time, model, rating) if c not in boards.columns]
    if missing:
        raise KeyError(f"boards are missing column(s) {missing}; found {list(boards.columns)}")
    rows = boards[boards[model].notna()]
    if models is not None:
        known = pd.Index(rows[model].astype(str).unique())
        for name in models:
            model_index(known, name)
        rows = rows[rows[model].isin(list(models))]
    out = rows.sort_values([model, time], kind="stable", ignore_index=True)
    out["change"] = out.groupby(model, sort=False)[rating].diff()
    out["periods_seen"] = out.groupby(model, sort=False).cumcount() + 1
    return out


__all__ = [
    "Tiers",
    "by_category",
    "by_period",
    "group_predictions",
    "head_to_head",
    "pivot_matrix",
    "tiers",
    "trajectories",
    "win_matrices",
]
