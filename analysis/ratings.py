"""Leaderboards: fit, intervals and the tidy board, in one call.

``rate(data, ...)`` returns a :class:`Ratings` (the board plus what is needed for follow-up questions: draws,
covariance, the fit); ``leaderboard(data, ...)`` returns just the board, one row per model, sorted by rating:

model, rating, lower, upper, se, rank, rank_lower, rank_upper, rank_ub, n_battles, wins, losses, ties, win_rate

Ratings are on the published Elo-like scale ``init + scale / ln(base) * theta`` (scale 400, base 10: a
100-point gap means the higher model wins 64% of decisive votes). ``lower``/``upper`` bound a ``level``
interval in the same gauge as the rating: around the mean, or relative to an anchor model (which then has a
zero-width interval, as Artificial Analysis publishes its reference model).
"""

from __future__ import annotations

import difflib
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import bt, intervals
from .datasets import as_counts
from .devices import check_device
from .vocab import CI_METHODS, Anchor, CIMethod, Method, Recipe, TieRule, check_level
from .votes import (
    OUTCOMES,
    aggregate,
    expand_counts,
    is_counts,
    looks_like_path,
    read_votes,
    validate_counts,
)

RECIPES: dict[str, dict[str, Any]] = {
    # FastChat (lmsys/FastChat fastchat/serve/monitor/elo_analysis.py, the Chatbot Arena board to mid-2025):
    # "Bradley-Terry maximum likelihood on battles; tie and tie (bothbad) each count as half a win for both
    # sides; ratings 400/ln(10) * theta + 1000, shifted so mixtral-8x7b-instruct-v0.1 sits at 1114; 95% CI from
    # a bootstrap of the battles; Rank (UB) = 1 + models whose lower bound exceeds this model's upper bound".
    "fastchat": {"method": "bt", "ties": "half", "bothbad": "tie", "scale": 400, "base": 10, "init": 1000,
                 "anchor": {"mixtral-8x7b-instruct-v0.1": 1114}, "ci": "bootstrap"},
    # LMArena's arena-rank package (models/bradley_terry.py, since July 2025): "Bradley-Terry with ties and
    # both-bad as 0.5; scale 400, base 10, offset 1000; confidence intervals from the sandwich estimator".
    "arena-rank": {"method": "bt", "ties": "half", "bothbad": "tie", "scale": 400, "base": 10, "init": 1000,
                   "anchor": "mean", "ci": "sandwich"},
    # Artificial Analysis (artificialanalysis.ai/video/methodology): "Bradley-Terry maximum likelihood on blind
    # pairwise votes, rescaled to an Elo-like range; a reference model fixed at 1000 with CI -0/+0 (Mochi 1 for
    # text-to-video, Wan 2.1 14B for image-to-video)". The first reference present on the board is used.
    "aa": {"method": "bt", "ties": "half", "bothbad": "tie", "scale": 400, "base": 10, "init": 1000,
           "anchor": {"Mochi 1": 1000, "Wan 2.1 14B": 1000}, "ci": "bootstrap", "_soft_anchor": True},
}

_DEFAULTS: dict[str, Any] = {
    "method": "bt", "ties": "half", "position": False, "reweight": None, "prior": 0.0, "anchor": "mean",
    "scale": 400.0, "base": 10.0, "init": 1000.0, "ci": "bootstrap", "resamples": 1000, "level": 0.95,
    "cluster": None, "seed": None, "device": "auto", "bothbad": "tie", "k_factor": 4.0, "progress": None,
    "allow_self": False,
}
BOARD_COLUMNS = ["model", "rating", "lower", "upper", "se", "rank", "rank_lower", "rank_upper", "rank_ub",
                 "n_battles", "wins", "losses", "ties", "win_rate"]


@dataclass
class Ratings:
    """A fitted board and what follow-up questions need.

    Attributes
    ----------
    board : the tidy leaderboard (see module docstring); fit details in ``board.attrs``.
    draws : (B, K) rating draws in the board's gauge and scale (bootstrap, or normal draws from the
        sandwich covariance), columns in ``models`` order; None when ``ci="none"``.
    cov : (K, K) rating covariance (Elo points squared) for sandwich/model intervals, else None.
    fit : the Bradley-Terry fit (natural scale), None for Elo.
    options : the resolved options.
    """

    board: pd.DataFrame
    models: pd.Index
    ratings: np.ndarray
    draws: np.ndarray | None = None
    cov: np.ndarray | None = None
    fit: bt.BTFit | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def factor(self) -> float:
        """Elo points per unit of natural log-odds: scale / ln(base)."""
        return self.options["scale"] / math.log(self.options["base"])

    def _index(self, model: str) -> int:
        return model_index(self.models, model)

    def __repr__(self) -> str:
        o = self.options
        return (f"Ratings({len(self.models)} models, method={o['method']!r}, ties={o['ties']!r}, ci={o['ci']!r}, "
                f"votes={self.board.attrs.get('votes', '?')})")


def _resolve(recipe: str | None, given: dict[str, Any]) -> dict[str, Any]:
    opts = dict(_DEFAULTS)
    if recipe is not None:
        if recipe not in RECIPES:
            raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
        opts.update(RECIPES[recipe])
    opts.update({k: v for k, v in given.items() if v is not None})
    if "anchor" in given and given["anchor"] is not None:
        opts.pop("_soft_anchor", None)
    opts["recipe"] = recipe
    if opts["method"] not in ("bt", "elo"):
        raise ValueError(f"method must be 'bt' or 'elo', not {opts['method']!r}")
    if opts["ties"] not in bt.TIE_RULES:
        raise ValueError(f"ties must be one of {bt.TIE_RULES}, not {opts['ties']!r}")
    if opts["ci"] not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, not {opts['ci']!r}")
    if opts["ci"] == "cluster" and not opts["cluster"]:
        raise ValueError("ci='cluster' needs cluster= naming a column of the battles, e.g. cluster='voter_id'")
    if opts["reweight"] not in (None, "inverse_pair"):
        raise ValueError(f"reweight must be None or 'inverse_pair', not {opts['reweight']!r}")
    _check_numbers(opts)
    check_device(opts["device"])
    if opts["method"] == "elo" and (opts["position"] or opts["ties"] not in ("half",)):
        raise ValueError("method='elo' scores ties as half a win and has no position term")
    return opts


def _number(opts: dict[str, Any], name: str) -> float:
    value = opts[name]
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, not {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, not {value!r}")
    return float(value)


def _check_numbers(opts: dict[str, Any]) -> None:
    """One-line reasons naming the option for values that would give a meaningless board or a deep traceback."""
    check_level(opts["level"])
    if _number(opts, "scale") <= 0:
        raise ValueError(f"scale must be positive (Elo points per factor of base in odds, e.g. 400), not "
                         f"{opts['scale']!r}")
    base = _number(opts, "base")
    if base <= 0 or base == 1:
        raise ValueError(f"base must be positive and not 1 (e.g. 10), not {opts['base']!r}")
    _number(opts, "init")
    if _number(opts, "prior") < 0:
        raise ValueError(f"prior must be >= 0 (the precision of a Gaussian prior), not {opts['prior']!r}")
    if _number(opts, "k_factor") <= 0:
        raise ValueError(f"k_factor must be positive, not {opts['k_factor']!r}")
    resamples = opts["resamples"]
    if isinstance(resamples, bool) or not isinstance(resamples, int | np.integer) or resamples < 1:
        raise ValueError(f"resamples must be a whole number >= 1, not {resamples!r} (use ci='none' for no interval)")
    seed = opts["seed"]
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
        raise ValueError(f"seed must be a whole number >= 0 or None, not {seed!r}")
    if opts["bothbad"] not in ("tie", "drop"):
        raise ValueError(f"bothbad must be 'tie' or 'drop', not {opts['bothbad']!r}")


def model_index(models: pd.Index, model: str) -> int:
    """Position of ``model`` in ``models``; a KeyError naming close matches when it is not on the board."""
    if model in models:
        return int(models.get_loc(model))
    close = difflib.get_close_matches(str(model), [str(m) for m in models], n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise KeyError(f"model {model!r} is not on the board ({len(models)} models){hint}")


def record(counts: pd.DataFrame) -> pd.DataFrame:
    """Per-model record from counts: n_battles, wins, losses, ties (both tie kinds) and win_rate = wins / n."""
    counts = validate_counts(counts)
    models = counts["model_a"].cat.categories
    a = counts["model_a"].cat.codes.to_numpy()
    b = counts["model_b"].cat.codes.to_numpy()
    o = counts["outcome"].cat.codes.to_numpy()
    n = counts["count"].to_numpy(np.float64)
    k = len(models)

    def tally(mask_a, mask_b):
        return np.rint(np.bincount(a, n * mask_a, k) + np.bincount(b, n * mask_b, k)).astype(np.int64)

    win_a, win_b, tie = o == OUTCOMES.index("win_a"), o == OUTCOMES.index("win_b"), o >= OUTCOMES.index("tie")
    rec = pd.DataFrame({"n_battles": tally(1.0, 1.0), "wins": tally(win_a, win_b), "losses": tally(win_b, win_a),
                        "ties": tally(tie, tie)}, index=pd.Index([str(m) for m in models], name="model"))
    rec["win_rate"] = rec["wins"] / rec["n_battles"]
    return rec


def _gauge(models: pd.Index, points: np.ndarray, opts: dict[str, Any]) -> tuple[np.ndarray, str | None]:
    """Put ratings (Elo points, any constant; a vector or (B, K) draws) in the requested gauge.

    Mean gauge: the mean is ``init``. Anchor ``{model: value}``: that model sits at ``value`` in every draw.
    Returns the gauged ratings and the anchor model used (None for the mean).
    """
    anchor = opts["anchor"]
    centred = points - points.mean(-1, keepdims=True)
    if anchor == "mean" or anchor is None:
        return centred + float(opts["init"]), None
    if not isinstance(anchor, Mapping) or not anchor:
        raise ValueError(f"anchor must be 'mean' or {{model: value}}, not {anchor!r}")
    for model, value in anchor.items():
        if model in models:
            i = models.get_loc(model)
            return points - points[..., i : i + 1] + float(value), model
        if not opts.get("_soft_anchor"):
            model_index(models, model)  # raises, naming close matches
    opts["anchor_note"] = f"none of the recipe's reference models {list(anchor)} is on the board: mean at init"
    return centred + float(opts["init"]), None


def rate(
    data: Any,
    *,
    method: Method | None = None,
    ties: TieRule | None = None,
    position: bool | None = None,
    reweight: str | None = None,
    prior: float | None = None,
    anchor: Anchor | None = None,
    scale: float | None = None,
    base: float | None = None,
    init: float | None = None,
    ci: CIMethod | None = None,
    resamples: int | None = None,
    level: float | None = None,
    cluster: str | None = None,
    seed: int | None = None,
    device: str | None = None,
    recipe: Recipe | None = None,
    bothbad: str | None = None,
    k_factor: float | None = None,
    progress: bool | None = None,
    allow_self: bool | None = None,
) -> Ratings:
    """Fit a board and its intervals; see :func:`leaderboard` for the parameters."""
    given = {k: v for k, v in locals().items() if k not in ("data", "recipe")}
    opts = _resolve(recipe, given)
    if opts["method"] == "elo":
        return _rate_elo(data, opts)
    by = [opts["cluster"]] if opts["ci"] == "cluster" or (opts["ci"] == "sandwich" and opts["cluster"]) else []
    if by:
        if isinstance(data, pd.DataFrame) and {"outcome", "count"} <= set(data.columns) and by[0] not in data:
            raise ValueError(f"cluster={by[0]!r} needs battle-level data with that column; counts were given")
        cluster_counts = aggregate(data, by=by, allow_self=bool(opts["allow_self"]))
        counts = cluster_counts.groupby(["model_a", "model_b", "outcome"], observed=True, as_index=False)["count"].sum()
    else:
        counts = as_counts(data, allow_self=bool(opts["allow_self"]))
    report = _vote_report(counts, cluster_counts if by else None)
    counts = counts[counts["count"] > 0]
    table = bt.pair_table(counts, ordered=bool(opts["position"]), bothbad=opts["bothbad"])
    if opts["reweight"] == "inverse_pair":
        table = bt.PairTable(**{**table.__dict__, "weight": bt.inverse_pair_weights(table)})
    fit = bt.fit_bt(table, ties=opts["ties"], position=bool(opts["position"]), prior=float(opts["prior"]))
    factor = opts["scale"] / math.log(opts["base"])
    models = table.models
    ratings, anchor_model = _gauge(models, fit.theta * factor, opts)

    draws = cov = None
    extras: dict[str, Any] = {}
    rng_seed = opts["seed"]
    if opts["ci"] in ("bootstrap", "cluster"):
        if opts["ci"] == "bootstrap":
            d = intervals.bootstrap(fit, int(opts["resamples"]), seed=rng_seed, device=opts["device"],
                                    progress=opts["progress"])
        else:
            mat, clusters = intervals.cluster_matrix(table, cluster_counts, opts["cluster"])
            extras["clusters"] = len(clusters)
            d = intervals.cluster_bootstrap(fit, mat, int(opts["resamples"]), seed=rng_seed, device=opts["device"],
                                            progress=opts["progress"])
        draws = _gauge(models, d.theta * factor, opts)[0]
        extras.update(refit_iterations=d.iterations, refit_max_step=d.max_step, refit_failed=d.failed)
        if d.failed:
            warnings.warn(f"{d.failed} of {d.failed + len(d.theta)} resamples have no finite maximum (some models "
                          "won or lost all their resampled votes) and were left out, so the intervals are "
                          "conditional on finite refits and too narrow for the sparsest models; set prior= (e.g. "
                          "prior=0.01) to keep every resample", stacklevel=3)
        if fit.position:
            extras["position_draws"] = d.gamma * factor
        if fit.tau is not None:
            extras["tau_draws"] = d.tau
    elif opts["ci"] in ("sandwich", "model"):
        mat = None
        if opts["cluster"]:
            mat, clusters = intervals.cluster_matrix(table, cluster_counts, opts["cluster"])
            extras["clusters"] = len(clusters)
        full = intervals.covariance(fit, opts["ci"], cluster_matrix_=mat)
        k = len(models)
        gauge = np.eye(k)
        if anchor_model is not None:
            gauge[:, models.get_loc(anchor_model)] -= 1.0
        cov = gauge @ full[:k, :k] @ gauge.T * factor**2
        extras["param_cov"] = full
        rng = np.random.default_rng(rng_seed)
        # Parametric draws from N(rating, cov) give rank intervals and P(A above B) under the normal approximation.
        draws = rng.multivariate_normal(ratings, cov, size=int(opts["resamples"]), method="eigh")
    board = _board(models, ratings, draws, cov, counts, opts)
    _attach(board, fit, table, opts, anchor_model, extras, draws)
    board.attrs["report"] = report
    return Ratings(board=board, models=models, ratings=ratings, draws=draws, cov=cov, fit=fit, options=opts)


def _vote_report(counts: pd.DataFrame, cluster_counts: pd.DataFrame | None) -> dict[str, Any]:
    """What reached the fit: the reader's report (rows read, used, excluded with reasons), or the counts' totals."""
    source = cluster_counts if cluster_counts is not None else counts
    report = dict(source.attrs.get("report") or {})
    if "rows_used" not in report:
        total = int(counts["count"].sum())
        report.update(rows_read=total, rows_used=total, excluded={})
    report.setdefault("models", int(len(counts["model_a"].cat.categories)) if isinstance(
        counts["model_a"].dtype, pd.CategoricalDtype) else None)
    return report


def _board(models, ratings, draws, cov, counts, opts) -> pd.DataFrame:
    level = opts["level"]
    if draws is None:
        lower = upper = se = np.full(len(models), np.nan)
    elif cov is not None:
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        lower, upper = intervals.z_interval(ratings, se, level)
    else:
        lower, upper = intervals.percentile_interval(draws, level)
        se = draws.std(0, ddof=1)
    rank = 1 + (ratings[None, :] > ratings[:, None]).sum(1)
    if draws is not None:
        rd = intervals.rank_draws(draws)
        alpha = (1 - level) / 2
        rank_lower = np.floor(np.quantile(rd, alpha, axis=0, method="lower")).astype(int)
        rank_upper = np.ceil(np.quantile(rd, 1 - alpha, axis=0, method="higher")).astype(int)
        rank_ub = 1 + (lower[None, :] > upper[:, None]).sum(1)
    else:
        rank_lower = rank_upper = rank_ub = rank
    rec = record(counts).reindex([str(m) for m in models]).fillna(0)
    board = pd.DataFrame({
        "model": pd.array([str(m) for m in models], dtype="string"), "rating": ratings, "lower": lower,
        "upper": upper, "se": se, "rank": rank, "rank_lower": rank_lower, "rank_upper": rank_upper,
        "rank_ub": rank_ub, "n_battles": rec["n_battles"].to_numpy(np.int64), "wins": rec["wins"].to_numpy(np.int64),
        "losses": rec["losses"].to_numpy(np.int64), "ties": rec["ties"].to_numpy(np.int64),
        "win_rate": rec["win_rate"].to_numpy(float),
    })
    return board.sort_values(["rating", "model"], ascending=[False, True], ignore_index=True)


def _attach(board, fit, table, opts, anchor_model, extras, draws) -> None:
    factor = opts["scale"] / math.log(opts["base"])
    level = opts["level"]
    attrs: dict[str, Any] = {
        "method": opts["method"], "ties": opts["ties"], "bothbad": opts["bothbad"], "recipe": opts["recipe"],
        "ci": opts["ci"], "level": level, "resamples": opts["resamples"] if draws is not None else 0,
        "scale": opts["scale"], "base": opts["base"], "init": opts["init"],
        "anchor": anchor_model or "mean", "votes": table.n_votes if table is not None else None,
        "models": len(board), "prior": opts["prior"], "reweight": opts["reweight"], "cluster": opts["cluster"],
    }
    if "anchor_note" in opts:
        attrs["anchor_note"] = opts["anchor_note"]
    if fit is not None:
        attrs.update(iterations=fit.iterations, loglik=fit.loglik, grad_norm=fit.grad_norm)
        if fit.position:
            est = fit.gamma * factor
            attrs["position"] = {"estimate": est, **_param_interval(est, extras, "position_draws", table.n_models,
                                                                    factor, level)}
        if fit.tau is not None:
            name = "eta" if fit.ties == "rao-kupper" else "nu"
            attrs["tie_param"] = {"name": name, "estimate": math.exp(fit.tau),
                                  **_param_interval(fit.tau, extras, "tau_draws", table.n_models + int(fit.position),
                                                    1.0, level, log=True)}
    for key in ("refit_iterations", "refit_max_step", "refit_failed", "clusters"):
        if key in extras:
            attrs[key] = extras[key]
    board.attrs.update(attrs)


def _param_interval(est, extras, key, index, factor, level, log=False) -> dict[str, float]:
    """Interval of a scalar parameter: percentiles of its draws, or a normal interval from the covariance."""
    if key in extras:
        lo, hi = intervals.percentile_interval(extras[key], level)
    elif "param_cov" in extras:
        se = math.sqrt(max(extras["param_cov"][index, index], 0.0)) * factor
        lo, hi = intervals.z_interval(est, se, level)
    else:
        return {"lower": float("nan"), "upper": float("nan")}
    if log:
        lo, hi = math.exp(lo), math.exp(hi)
    return {"lower": float(lo), "upper": float(hi)}


def _rate_elo(data: Any, opts: dict[str, Any]) -> Ratings:
    from . import elo  # numba compiles Elo's loop: loaded only when method='elo' is asked for

    if (isinstance(data, pd.DataFrame) and is_counts(data)) or (isinstance(data, str) and not looks_like_path(data)):
        # Counts (given, or a dataset's) carry no vote order: expand them and run Elo over a seeded shuffle.
        battles = expand_counts(as_counts(data))
        rng = np.random.default_rng(opts["seed"])
        battles = battles.iloc[rng.permutation(len(battles))].reset_index(drop=True)
        opts["order_note"] = "counts carry no vote order: Elo ran over a random (seeded) order"
    else:
        battles = read_votes(data, allow_self=bool(opts["allow_self"]))
        if "timestamp" in battles.columns:
            battles = battles.sort_values("timestamp", kind="stable", ignore_index=True)
    if opts["bothbad"] == "drop":
        battles = battles[battles["winner"] != "tie (bothbad)"]
    counts = aggregate(battles)
    kw = dict(k_factor=float(opts["k_factor"]), scale=float(opts["scale"]), base=float(opts["base"]),
              init=float(opts["init"]))
    ratings_s = elo.online_elo(battles, **kw)
    models = pd.Index(ratings_s.index)
    ratings = ratings_s.to_numpy()
    draws = None
    if opts["ci"] != "none":
        draws = elo.elo_bootstrap(battles, int(opts["resamples"]), seed=opts["seed"], **kw)
    ratings, anchor_model = _gauge(models, ratings, opts)
    if draws is not None:
        draws = _gauge(models, draws, opts)[0]
    opts = {**opts, "ci": "bootstrap" if draws is not None else "none"}
    board = _board(models, ratings, draws, None, counts, opts)
    _attach(board, None, None, opts, anchor_model, {}, draws)
    board.attrs["votes"] = len(battles)
    board.attrs["report"] = dict(battles.attrs.get("report") or {"rows_read": len(battles),
                                                                   "rows_used": len(battles), "excluded": {}})
    if "order_note" in opts:
        board.attrs["order_note"] = opts["order_note"]
    return Ratings(board=board, models=models, ratings=ratings, draws=draws, fit=None, options=opts)


def leaderboard(
    data: Any,
    *,
    method: Method | None = None,
    ties: TieRule | None = None,
    position: bool | None = None,
    reweight: str | None = None,
    prior: float | None = None,
    anchor: Anchor | None = None,
    scale: float | None = None,
    base: float | None = None,
    init: float | None = None,
    ci: CIMethod | None = None,
    resamples: int | None = None,
    level: float | None = None,
    cluster: str | None = None,
    seed: int | None = None,
    device: str | None = None,
    recipe: Recipe | None = None,
    bothbad: str | None = None,
    k_factor: float | None = None,
    progress: bool | None = None,
    allow_self: bool | None = None,
    covariates: Any = None,
) -> pd.DataFrame:
    """A leaderboard from battles, a votes file, counts or a dataset name.

    Parameters
    ----------
    data
        Battles (:func:`analysis.votes.read_votes` format), a path or glob of vote files, counts from
        :func:`analysis.votes.aggregate`, or a dataset name such as ``"chatbot-arena-2024-08-14"``.
    method
        ``"bt"``: exact Bradley-Terry maximum likelihood on pair counts (Newton, gradient norm <= 1e-10).
        ``"elo"``: online Elo in vote order (K = ``k_factor`` = 4), intervals from an order bootstrap.
    ties
        ``"half"`` (a tie is half a win each), ``"drop"``, ``"rao-kupper"`` or ``"davidson"`` (tie parameter
        fitted, reported in ``attrs["tie_param"]``). ``bothbad="tie"`` (default) counts both-bad votes as ties;
        ``"drop"`` leaves them out.
    position
        Fit a first-shown advantage (Elo points, ``attrs["position"]`` with its interval).
    reweight
        ``"inverse_pair"``: weight each pair by the inverse of its vote count (LMArena style).
    prior
        Precision of a Gaussian N(0, 1/prior) prior on natural-scale strengths (an L2 penalty), for sparse boards.
    anchor
        ``"mean"`` (mean rating = ``init``) or ``{model: value}``: that model fixed at value, with a zero-width
        interval; the other intervals are relative to it.
    scale, base, init
        Rating = init + scale / ln(base) * theta (defaults 400, 10, 1000).
    ci
        ``"bootstrap"`` (exact multinomial resampling of votes, batched refits), ``"cluster"`` (resample whole
        clusters named by ``cluster=``, e.g. ``"voter_id"``), ``"sandwich"`` (robust covariance, cluster-robust
        when ``cluster=`` is set), ``"model"`` (inverse Fisher information) or ``"none"``. Resamples with no
        finite maximum (without a prior, some models won or lost all their resampled votes) are left out with a
        warning; ``attrs["refit_failed"]`` counts them, ``attrs["refit_max_step"]`` bounds the refits' error.
    resamples, level, seed, device
        Bootstrap size, interval level, random seed, torch device (``"auto"``: CUDA when present).
    recipe
        ``"fastchat"``, ``"arena-rank"`` or ``"aa"``: the options each publisher uses (see :data:`RECIPES`);
        options given explicitly win.
    k_factor
        Elo's K (``method="elo"`` only; default 4, FastChat's).
    progress
        Progress bar for the bootstrap: True always, False never, None (default) once it has run for a second.
    allow_self
        Exclude self-battles (model_a == model_b) and report them in ``attrs["report"]``; by default they are an
        error (see :func:`analysis.votes.read_votes` for every rule the reader applies).
    covariates
        Names (or ``{name: transform}``) of per-battle covariates to control for: the controlled board of
        :func:`analysis.controlled.controlled_board` (rating beside rating_raw, rank_shift, coefficients in
        ``attrs``); battles only, no counts.

    Returns
    -------
    pandas.DataFrame
        One row per model (columns in :data:`BOARD_COLUMNS`), sorted by rating; ``rank`` is 1 + the number of
        models rated strictly higher, ``rank_lower``/``rank_upper`` bound the rank over the draws, ``rank_ub`` is
        1 + the number of models whose lower bound is above this model's upper bound. Fit details in ``attrs``;
        ``attrs["report"]`` says how many votes were read and used and what was excluded, and why.
    """
    options = {k: v for k, v in locals().items() if k not in ("data", "covariates")}
    if covariates is not None:
        from .controlled import covariate_leaderboard

        return covariate_leaderboard(data, covariates, **options)
    return rate(data, **options).board


# ---------------------------------------------------------------------------------------------- follow-ups


def _strengths(fit: Ratings | pd.DataFrame) -> tuple[pd.Index, np.ndarray, float, float]:
    if isinstance(fit, Ratings):
        return fit.models, fit.ratings, fit.options["scale"], fit.options["base"]
    if isinstance(fit, pd.DataFrame) and {"model", "rating"} <= set(fit.columns):
        return pd.Index(fit["model"]), fit["rating"].to_numpy(float), fit.attrs.get("scale", 400.0), fit.attrs.get(
            "base", 10.0)
    raise TypeError("expected a Ratings object (from rate()) or a board with model and rating columns")


def _p(diff, scale, base):
    return 1.0 / (1.0 + np.power(base, -np.asarray(diff) / scale))


def win_probability(fit: Ratings | pd.DataFrame, a: str, b: str, *, level: float = 0.95) -> pd.Series:
    """P(a preferred to b) in a decisive vote, with a percentile interval over the draws when available.

    Under Bradley-Terry this is ``1 / (1 + base ** ((R_b - R_a) / scale))``; with the "half" tie rule it is also
    the expected score of a (ties counting half).
    """
    level = check_level(level)
    models, ratings, scale, base = _strengths(fit)
    ia, ib = model_index(models, a), model_index(models, b)
    p = float(_p(ratings[ia] - ratings[ib], scale, base))
    lo = hi = float("nan")
    if isinstance(fit, Ratings) and fit.draws is not None:
        lo, hi = intervals.percentile_interval(_p(fit.draws[:, ia] - fit.draws[:, ib], scale, base), level)
    return pd.Series({"model_a": a, "model_b": b, "p": p, "lower": float(lo), "upper": float(hi)})


def win_matrix(fit: Ratings | pd.DataFrame, *, tidy: bool = False) -> pd.DataFrame:
    """Predicted P(row beats column) for every pair, models in rating order; ``tidy=True`` gives long form."""
    models, ratings, scale, base = _strengths(fit)
    order = np.argsort(-ratings, kind="stable")
    names = [str(m) for m in np.asarray(models)[order]]
    r = ratings[order]
    values = _p(r[:, None] - r[None, :], scale, base)
    np.fill_diagonal(values, np.nan)
    mat = pd.DataFrame(values, index=pd.Index(names, name="model_a"), columns=pd.Index(names, name="model_b"))
    if not tidy:
        return mat
    return mat.stack().rename("p").reset_index()


def prob_better(fit: Ratings, a: str, b: str) -> float:
    """P(a rated above b) over the bootstrap (or sandwich normal) draws."""
    if not isinstance(fit, Ratings) or fit.draws is None:
        raise ValueError("prob_better needs draws: use rate(..., ci='bootstrap' | 'sandwich' | 'cluster')")
    ia, ib = fit._index(a), fit._index(b)
    return float(np.mean(fit.draws[:, ia] > fit.draws[:, ib]))


def difference(fit: Ratings, a: str, b: str, *, level: float = 0.95) -> pd.Series:
    """Rating difference a - b (Elo points) with its interval: delta method from the covariance, or draws."""
    level = check_level(level)
    ia, ib = fit._index(a), fit._index(b)
    est = float(fit.ratings[ia] - fit.ratings[ib])
    if fit.cov is not None:
        c = np.zeros(len(fit.models))
        c[ia], c[ib] = 1.0, -1.0
        se = float(math.sqrt(max(c @ fit.cov @ c, 0.0)))
        lo, hi = intervals.z_interval(est, se, level)
    elif fit.draws is not None:
        diff = fit.draws[:, ia] - fit.draws[:, ib]
        se = float(diff.std(ddof=1))
        lo, hi = intervals.percentile_interval(diff, level)
    else:
        se = lo = hi = float("nan")
    return pd.Series({"model_a": a, "model_b": b, "difference": est, "se": se, "lower": float(lo),
                      "upper": float(hi)})
