"""Controlled boards: Bradley-Terry ratings with per-battle covariates, beside the raw board.

Why. A raw arena board answers "who wins"; a controlled board answers "who wins once measurable properties of the
two videos are held equal" (LMArena's style control, its default text board). Video votes are plausibly swayed
by duration, resolution, frame rate, audio and motion; and this kit holds per-video metric scores, so the same
model answers "how much of human preference does a metric explain".

Model (see :mod:`analysis.bt.covariates`): P(a beats b) = sigmoid(theta_a - theta_b [+ gamma] + beta . f), where
f are covariates built from the two videos' features by a transform:

- ``"normdiff"``: (x_a - x_b) / (x_a + x_b), for sizes (duration, resolution, tokens); 0 when both are 0
  (LMArena's ``add_style_feature_cols``). Needs x >= 0.
- ``"diff"``: x_a - x_b, for scores (metric values, ratings).
- ``"none"``: a per-battle column used as it is.

then, by default, divided by its standard deviation over the battles (``standardize="scale"``), so beta is the
log-odds effect of one SD of the covariate and ``400 / ln(10) * beta`` its worth in Elo points.
``standardize="z"`` also centres it (LMArena and arena-rank do: z-scores). Centring moves "equal videos" away
from 0, which acts as a first-shown advantage when model_a is not shown in random order (battles built from
ratings put the alphabetically first model in slot a), so "scale" is the default here.

Features come from per-side columns of the battles (``duration_a``, ``duration_b``), from a per-video table joined
by video id (``video_a`` / ``video_b``), or from a per-battle column. Bad input stops with a one-line
:class:`CovariateError` naming the column and the count; with ``missing="drop"`` battles lacking a covariate are
left out and counted in ``attrs["report"]``.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from . import intervals
from .bt.covariates import (
    CovariateError,
    CovariateFit,
    bootstrap,
    covariance,
    covariate_table,
    fit_covariates,
    null_loglik,
)
from .votes import read_votes

TRANSFORMS = ("normdiff", "diff", "none")
STANDARDIZE = ("scale", "z", "none")
CI_METHODS = ("sandwich", "bootstrap", "model", "none")

__all__ = [
    "CI_METHODS",
    "STANDARDIZE",
    "TRANSFORMS",
    "Controlled",
    "CovariateError",
    "control",
    "controlled_board",
    "covariate_leaderboard",
    "covariate_frame",
    "explained_preference",
    "t2vscore_case",
    "videobench_case",
]


# ---------------------------------------------------------------------------------------------- covariates


def _numeric(values: pd.Series, column: str, n: int) -> np.ndarray:
    """Float values of a column; non-numeric entries are an error naming the column and how many."""
    if pd.api.types.is_bool_dtype(values):
        return values.astype(float).to_numpy()
    num = pd.to_numeric(values, errors="coerce")
    bad = num.isna() & values.notna()
    if bad.any():
        example = values[bad].iloc[0]
        raise CovariateError(f"covariate column {column!r} has {int(bad.sum())} non-numeric value(s) of {n} "
                             f"battles, e.g. {example!r}")
    return num.to_numpy(dtype=float)


def _feature_lookup(features: pd.DataFrame, video_column: str) -> pd.DataFrame:
    """The per-video table indexed by video id (its index, or a ``video`` / ``video_id`` column)."""
    table = features
    for col in ("video", "video_id"):
        if col in table.columns:
            table = table.set_index(col)
            break
    if not table.index.is_unique:
        dup = table.index[table.index.duplicated()]
        raise CovariateError(f"the feature table has {len(dup)} duplicated video id(s), e.g. {dup[0]!r}")
    return table


def _side_values(battles: pd.DataFrame, name: str, features: pd.DataFrame | None,
                 video_cols: tuple[str, str]) -> tuple[np.ndarray, np.ndarray] | None:
    n = len(battles)
    col_a, col_b = f"{name}_a", f"{name}_b"
    if col_a in battles.columns and col_b in battles.columns:
        return _numeric(battles[col_a], col_a, n), _numeric(battles[col_b], col_b, n)
    if features is not None and name in features.columns:
        missing_cols = [c for c in video_cols if c not in battles.columns]
        if missing_cols:
            raise CovariateError(f"covariate {name!r} is in the feature table, but the battles have no video id "
                                 f"column(s) {missing_cols} to join it on")
        out = []
        for vc in video_cols:
            ids = battles[vc]
            unknown = ~ids.isin(features.index)
            if unknown.any():
                raise CovariateError(f"column {vc!r}: {int(unknown.sum())} of {n} battles have a video id missing "
                                     f"from the feature table, e.g. {ids[unknown].iloc[0]!r}")
            out.append(_numeric(features[name].reindex(ids.to_numpy()).reset_index(drop=True), name, n))
        return out[0], out[1]
    return None


def covariate_frame(
    battles: pd.DataFrame,
    covariates: Sequence[str] | Mapping[str, str],
    *,
    features: pd.DataFrame | None = None,
    transform: str = "diff",
    standardize: str = "scale",
    video_cols: tuple[str, str] = ("video_a", "video_b"),
    missing: str = "raise",
) -> tuple[pd.DataFrame, np.ndarray, dict[str, Any]]:
    """Transformed covariates, one row per battle, and which battles keep them.

    Parameters
    ----------
    battles
        Battles with per-side columns (``{name}_a``, ``{name}_b``), video ids, or per-battle covariate columns.
    covariates
        Names, or ``{name: transform}`` to choose the transform per covariate.
    features
        Per-video table (index or ``video`` / ``video_id`` column = video id; one column per feature).
    transform
        Default transform: ``"normdiff"``, ``"diff"`` or ``"none"`` (per-battle columns are always ``"none"``).
    standardize
        ``"scale"`` (divide by the SD over battles), ``"z"`` (centre and scale, as LMArena) or ``"none"``.
    missing
        ``"raise"`` (default): a missing value is an error; ``"drop"``: such battles are left out, counted.

    Returns
    -------
    (frame, keep, info)
        ``frame``: one column per covariate for the kept battles (float64); ``keep``: boolean mask over the
        battles; ``info``: per covariate its source, transform, centre and SD (raw units, before scaling), and
        the dropped counts.
    """
    if isinstance(covariates, str):
        covariates = [covariates]
    spec = dict(covariates) if isinstance(covariates, Mapping) else {c: None for c in covariates}
    if not spec:
        raise CovariateError("no covariates given")
    if standardize not in STANDARDIZE:
        raise ValueError(f"standardize must be one of {STANDARDIZE}, not {standardize!r}")
    if missing not in ("raise", "drop"):
        raise ValueError(f"missing must be 'raise' or 'drop', not {missing!r}")
    n = len(battles)
    table = _feature_lookup(features, video_cols[0]) if features is not None else None
    raw: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {"covariates": {}, "dropped": {}}
    for name, how in spec.items():
        how = how or transform
        if how not in TRANSFORMS:
            raise ValueError(f"transform for {name!r} must be one of {TRANSFORMS}, not {how!r}")
        sides = _side_values(battles, name, table, video_cols)
        if sides is None:
            if name not in battles.columns:
                where = "the battles" + (" or the feature table" if table is not None else "")
                raise CovariateError(f"covariate {name!r} not found: no {name}_a / {name}_b or {name} column in "
                                     f"{where}")
            values = _numeric(battles[name], name, n)
            how, source = "none", "per-battle column"
        else:
            xa, xb = sides
            source = "per-side columns" if f"{name}_a" in battles.columns else "feature table"
            if how == "normdiff":
                neg = (xa < 0) | (xb < 0)
                if neg.any():
                    raise CovariateError(f"covariate {name!r}: normdiff needs sizes >= 0, but {int(neg.sum())} of "
                                         f"{n} battles have a negative value")
                total = xa + xb
                values = (xa - xb) / np.where(total == 0, 1.0, total)
            elif how == "diff":
                values = xa - xb
            else:
                raise CovariateError(f"covariate {name!r} has two sides; transform 'none' needs one per-battle "
                                     f"column {name!r}")
        raw[name] = values
        info["covariates"][name] = {"source": source, "transform": how}
    keep = np.ones(n, dtype=bool)
    for name, values in raw.items():
        bad = ~np.isfinite(values)
        if bad.any():
            if missing == "raise":
                raise CovariateError(f"covariate {name!r} has {int(bad.sum())} missing or non-finite value(s) of {n} "
                                     "battles; pass missing='drop' to leave those battles out (they are counted)")
            info["dropped"][name] = int(bad.sum())
            keep &= ~bad
    info["battles_dropped"] = int((~keep).sum())
    out = {}
    for name, values in raw.items():
        v = values[keep]
        sd = float(v.std()) if v.size else 0.0
        if v.size == 0 or sd == 0.0:
            raise CovariateError(f"covariate {name!r} is constant ({v[0] if v.size else 'no values'}) over all "
                                 f"{int(keep.sum())} battles, so its effect cannot be estimated")
        centre = float(v.mean()) if standardize == "z" else 0.0
        div = sd if standardize in ("scale", "z") else 1.0
        out[name] = (v - centre) / div
        info["covariates"][name].update(sd=sd, centre=centre, unit_sd=div)
    return pd.DataFrame(out), keep, info


# ---------------------------------------------------------------------------------------------- the board


@dataclass
class Controlled:
    """A controlled board and its model-only counterpart on the same battles.

    Attributes
    ----------
    board : one row per model: model, rating, lower, upper, se, rank, rating_raw, lower_raw, upper_raw, rank_raw,
        rank_shift (raw rank minus controlled rank: positive = moves up once covariates are held equal), n_battles.
    coefficients : one row per covariate: feature, transform, beta (log-odds per unit of the covariate as
        fitted), elo (Elo points per SD of the transformed feature), lower, upper, se (Elo), z, p_value, sd (the
        feature's SD in its transformed units).
    fit, raw_fit : the covariate and the model-only fits (natural scale).
    fit_stats : loglik of both fits and of the null (all models equal), McFadden R^2 of the controlled board
        against the model-only board (1 - ll_cov / ll_raw) and against the null, likelihood-ratio test.
    """

    board: pd.DataFrame
    coefficients: pd.DataFrame
    fit: CovariateFit
    raw_fit: CovariateFit
    fit_stats: dict[str, float]
    options: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        s = self.fit_stats
        lines = [f"controlled board: {len(self.board)} models, {self.board.attrs['report']['battles_used']:,} "
                 f"battles, covariates {list(self.coefficients['feature'])}",
                 f"McFadden R^2 vs the model-only board {s['r2_vs_board']:.4f} (LR {s['lr_stat']:.1f}, "
                 f"df {s['lr_df']}, p {s['lr_p']:.2g}); vs all-equal {s['r2_controlled']:.4f} "
                 f"(model-only {s['r2_raw']:.4f})"]
        for r in self.coefficients.itertuples():
            lines.append(f"  {r.feature}: {r.elo:+.1f} Elo per SD [{r.lower:+.1f}, {r.upper:+.1f}]")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return (f"<pre>{self.summary()}</pre>" + self.coefficients.to_html(index=False, float_format="%.4g")
                + self.board.to_html(index=False, float_format="%.1f"))


def _outcome_codes(winner: pd.Series) -> np.ndarray:
    codes = {"model_a": 0, "model_b": 1, "tie": 2, "tie (bothbad)": 3}
    return winner.astype(str).map(codes).to_numpy(np.int64)


def _gauge_matrix(models: pd.Index, anchor: str | Mapping[str, float]) -> tuple[np.ndarray, str | None, float]:
    k = len(models)
    g = np.eye(k)
    if anchor == "mean" or anchor is None:
        return g, None, 0.0
    if not isinstance(anchor, Mapping) or len(anchor) != 1:
        raise ValueError(f"anchor must be 'mean' or {{model: value}}, not {anchor!r}")
    (model, value), = anchor.items()
    if model not in models:
        raise KeyError(f"anchor model {model!r} is not on the board ({k} models)")
    g[:, models.get_loc(model)] -= 1.0
    return g, str(model), float(value)


def _draws_or_cov(fit: CovariateFit, ci: str, cluster: bool, resamples: int, seed, refit: str):
    if ci in ("sandwich", "model"):
        return covariance(fit, "model" if ci == "model" else "sandwich", cluster=cluster), None
    if ci == "bootstrap":
        return None, bootstrap(fit, resamples, seed=seed, refit=refit, cluster=cluster)
    return None, None


def control(
    votes: Any,
    covariates: Sequence[str] | Mapping[str, str],
    *,
    features: pd.DataFrame | None = None,
    transform: str = "diff",
    standardize: str = "scale",
    video_cols: tuple[str, str] = ("video_a", "video_b"),
    ties: str = "half",
    position: bool = False,
    bothbad: str = "tie",
    prior: float = 0.0,
    coef_prior: float = 0.0,
    weights: str | None = None,
    anchor: str | Mapping[str, float] = "mean",
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    ci: str = "sandwich",
    cluster: str | None = None,
    resamples: int = 1000,
    refit: str = "auto",
    level: float = 0.95,
    seed: int | None = None,
    missing: str = "raise",
    aggregate: str | bool = "auto",
) -> Controlled:
    """Fit a board controlled for covariates and the model-only board on the same battles.

    Parameters
    ----------
    votes
        Battles (DataFrame or file, :func:`analysis.votes.read_votes` schema) carrying the covariates.
    covariates, features, transform, standardize, video_cols, missing
        See :func:`covariate_frame`.
    ties, position, bothbad, prior
        As in :func:`analysis.leaderboard` (same tie parametrisation, first-shown advantage, both-bad votes).
    coef_prior
        Precision of a N(0, 1/coef_prior) prior on each coefficient (summed log-likelihood units); 0: none.
    weights
        None, or the name of a per-battle weight column.
    anchor, scale, base, init
        Gauge and scale: rating = init + scale / ln(base) * theta, mean at init or ``{model: value}``.
    ci
        ``"sandwich"`` (cluster-robust when ``cluster=`` is set), ``"bootstrap"`` (Poisson bootstrap of battles,
        or of clusters with ``cluster=``), ``"model"`` or ``"none"``.
    resamples, refit, seed
        Bootstrap size; ``"exact"`` / ``"one-step"`` / ``"auto"`` refits (see :func:`analysis.bt.covariates.bootstrap`).
    level
        Interval level.
    aggregate
        Fit on aggregated (pair, covariate) cells when covariates repeat (``"auto"``), always, or never.

    Returns
    -------
    Controlled
    """
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, not {ci!r}")
    if isinstance(votes, pd.DataFrame) and {"outcome", "count"} <= set(votes.columns):
        raise CovariateError("covariates need battles (one row per vote, with the covariate columns); pair counts "
                             "were given, and counts carry no covariates")
    battles = read_votes(votes) if not isinstance(votes, pd.DataFrame) or "winner" not in votes else votes
    if not isinstance(battles["model_a"].dtype, pd.CategoricalDtype):
        battles = read_votes(battles)
    n_read = len(battles)
    frame, keep, info = covariate_frame(battles, covariates, features=features, transform=transform,
                                        standardize=standardize, video_cols=video_cols, missing=missing)
    used = battles.loc[keep] if not keep.all() else battles
    models = used["model_a"].cat.categories
    a = used["model_a"].cat.codes.to_numpy(np.int64)
    b = used["model_b"].cat.codes.to_numpy(np.int64)
    present = np.unique(np.concatenate([a, b]))
    lost = [str(m) for m in np.delete(np.asarray(models), present)]
    if len(present) < len(models):  # models left without battles after dropping: re-code
        remap = np.full(len(models), -1)
        remap[present] = np.arange(len(present))
        a, b, models = remap[a], remap[b], models[present]
    o = _outcome_codes(used["winner"])
    w = None
    if weights is not None:
        if weights not in used.columns:
            raise CovariateError(f"weights={weights!r} is not a column of the battles")
        w = _numeric(used[weights], weights, len(used))
    clus = None
    if cluster is not None:
        if cluster not in used.columns:
            raise CovariateError(f"cluster={cluster!r} is not a column of the battles")
        clus = used[cluster].to_numpy()
    table = covariate_table(a, b, o, frame.to_numpy(), models=pd.Index([str(m) for m in models]),
                            features=list(frame.columns), weight=w, cluster=clus, bothbad=bothbad,
                            aggregate=aggregate)
    fit = fit_covariates(table, ties=ties, position=position, prior=prior, coef_prior=coef_prior)
    # The model-only board on the same battles: without covariates they collapse to (pair, outcome[, cluster])
    # cells, the same likelihood and per-vote scores at a fraction of the cost.
    raw_table = covariate_table(a, b, o, np.zeros((len(a), 0)), models=table.models, weight=w, cluster=clus,
                                bothbad=bothbad, aggregate=True)
    raw_fit = fit_covariates(raw_table, ties=ties, position=position, prior=prior, check=False)
    factor = scale / math.log(base)
    use_cluster = cluster is not None
    cov, draws = _draws_or_cov(fit, ci, use_cluster, resamples, seed, refit)
    cov_raw, draws_raw = _draws_or_cov(raw_fit, ci, use_cluster, resamples, seed, refit)
    g, anchor_model, anchor_value = _gauge_matrix(table.models, anchor)
    offset = anchor_value if anchor_model is not None else init

    def rated(f, c, d):
        k = table.n_models
        ratings = g @ f.theta * factor + offset
        if c is not None:
            tcov = g @ c[:k, :k] @ g.T * factor**2
            se = np.sqrt(np.clip(np.diag(tcov), 0, None))
            lo, hi = intervals.z_interval(ratings, se, level)
            rng = np.random.default_rng(seed)
            rdraws = rng.multivariate_normal(ratings, tcov, size=int(resamples), method="eigh")
        elif d is not None:
            rdraws = d.theta @ g.T * factor + offset
            lo, hi = intervals.percentile_interval(rdraws, level)
            se = rdraws.std(0, ddof=1)
        else:
            lo = hi = se = np.full(k, np.nan)
            rdraws = None
        rank = 1 + (ratings[None, :] > ratings[:, None]).sum(1)
        if rdraws is not None:
            rd = intervals.rank_draws(rdraws)
            alpha = (1 - level) / 2
            rlo = np.floor(np.quantile(rd, alpha, axis=0, method="lower")).astype(int)
            rhi = np.ceil(np.quantile(rd, 1 - alpha, axis=0, method="higher")).astype(int)
        else:
            rlo = rhi = rank
        return ratings, lo, hi, se, rank, rlo, rhi

    r, lo, hi, se, rank, rlo, rhi = rated(fit, cov, draws)
    r0, lo0, hi0, _, rank0, _, _ = rated(raw_fit, cov_raw, draws_raw)
    n_battles = (np.bincount(table.i, table.counts.sum(1), table.n_models)
                 + np.bincount(table.j, table.counts.sum(1), table.n_models)).astype(np.int64)
    board = pd.DataFrame({
        "model": pd.array(list(table.models), dtype="string"), "rating": r, "lower": lo, "upper": hi, "se": se,
        "rank": rank, "rank_lower": rlo, "rank_upper": rhi, "rating_raw": r0, "lower_raw": lo0, "upper_raw": hi0,
        "rank_raw": rank0, "rank_shift": rank0 - rank, "n_battles": n_battles,
    }).sort_values(["rating", "model"], ascending=[False, True], ignore_index=True)

    coefs = _coefficients(fit, cov, draws, info, factor, level)
    ll0 = null_loglik(raw_fit)
    stats = _fit_stats(fit, raw_fit, ll0)
    report = {"battles_read": n_read, "battles_used": int(table.counts.sum()),
              "battles_dropped_missing": info["battles_dropped"], "dropped_by_covariate": info["dropped"],
              "battles_dropped_bothbad": int(n_read - info["battles_dropped"] - table.counts.sum()),
              "ties_ignored": int(table.counts[:, 2].sum()) if ties == "drop" else 0,
              "models_without_battles": lost,
              "cells": table.n_cells, "aggregated": table.aggregated,
              "fit": "aggregated (pair, covariate) cells" if table.aggregated else "per battle"}
    board.attrs.update({
        "method": "covariate-bt", "ties": ties, "position": position, "ci": ci, "level": level,
        "resamples": resamples if ci == "bootstrap" else 0, "scale": scale, "base": base, "init": init,
        "anchor": anchor_model or "mean", "cluster": cluster, "covariates": list(frame.columns),
        "coefficients": coefs.to_dict("records"), "fit_stats": stats, "report": report,
        "iterations": fit.iterations, "grad_norm": fit.grad_norm, "votes": report["battles_used"],
    })
    if position:
        board.attrs["position"] = {"estimate": fit.gamma * factor}
    if fit.tau is not None:
        board.attrs["tie_param"] = {"name": "eta" if ties == "rao-kupper" else "nu", "estimate": math.exp(fit.tau)}
    if draws is not None:
        board.attrs.update(refit=draws.method, refit_failed=draws.failed)
    opts = {"ties": ties, "position": position, "ci": ci, "cluster": cluster, "level": level, "scale": scale,
            "base": base, "init": init, "anchor": anchor, "standardize": standardize}
    return Controlled(board=board, coefficients=coefs, fit=fit, raw_fit=raw_fit, fit_stats=stats, options=opts)


def _coefficients(fit, cov, draws, info, factor, level) -> pd.DataFrame:
    bi = fit.beta_index
    rows = []
    for q, name in enumerate(fit.features):
        meta = info["covariates"][name]
        per_sd = meta["sd"] / meta["unit_sd"]  # SDs of the feature per unit of the fitted covariate
        beta = float(fit.beta[q])
        elo = beta * factor / per_sd
        if cov is not None:
            se = math.sqrt(max(cov[bi[q], bi[q]], 0.0)) * factor / per_sd
            lo, hi = intervals.z_interval(elo, se, level)
        elif draws is not None:
            d = draws.beta[:, q] * factor / per_sd
            se = float(d.std(ddof=1))
            lo, hi = intervals.percentile_interval(d, level)
        else:
            se = lo = hi = float("nan")
        z = elo / se if se and math.isfinite(se) and se > 0 else float("nan")
        rows.append({"feature": name, "transform": meta["transform"], "source": meta["source"], "beta": beta,
                     "elo": elo, "lower": float(lo), "upper": float(hi), "se": float(se), "z": z,
                     "p_value": float(2 * scipy.stats.norm.sf(abs(z))) if math.isfinite(z) else float("nan"),
                     "sd": meta["sd"]})
    return pd.DataFrame(rows)


def _fit_stats(fit: CovariateFit, raw: CovariateFit, ll0: float) -> dict[str, float]:
    lr = 2.0 * (fit.loglik - raw.loglik)
    df = fit.table.n_features
    return {"loglik": fit.loglik, "loglik_raw": raw.loglik, "loglik_null": ll0,
            "r2_vs_board": 1.0 - fit.loglik / raw.loglik if raw.loglik != 0 else float("nan"),
            "r2_controlled": 1.0 - fit.loglik / ll0 if ll0 else float("nan"),
            "r2_raw": 1.0 - raw.loglik / ll0 if ll0 else float("nan"),
            "lr_stat": lr, "lr_df": df, "lr_p": float(scipy.stats.chi2.sf(max(lr, 0.0), df))}


def controlled_board(votes: Any, covariates: Sequence[str] | Mapping[str, str], **options: Any) -> pd.DataFrame:
    """The controlled board beside the raw one (see :func:`control` for the options and :class:`Controlled`).

    Returns
    -------
    pandas.DataFrame
        One row per model sorted by controlled rating: model, rating, lower, upper, se, rank, rank_lower,
        rank_upper, rating_raw, lower_raw, upper_raw, rank_raw, rank_shift, n_battles. ``attrs``: coefficients
        (records: Elo per SD with interval), fit_stats (McFadden R^2 vs the model-only board, LR test),
        report (battles read, used, dropped and why; aggregated or per battle), the options.
    """
    return control(votes, covariates, **options).board


# help(), signature() and notebook completion show control's parameters for the board too.
controlled_board.__signature__ = inspect.signature(control).replace(return_annotation=pd.DataFrame)  # type: ignore[attr-defined]


def covariate_leaderboard(data: Any, covariates: Sequence[str] | Mapping[str, str], **options: Any) -> pd.DataFrame:
    """:func:`analysis.leaderboard` with ``covariates=``: its options mapped onto :func:`controlled_board`.

    ``ci="cluster"`` becomes the cluster bootstrap (``ci="bootstrap"`` with ``cluster=``); options the covariate
    board does not have (``method="elo"``, ``reweight``, ``recipe``, ``k_factor``) are an error if set.
    """
    given = {k: v for k, v in options.items() if v is not None}
    unsupported = [k for k in ("reweight", "recipe", "k_factor") if k in given]
    if given.get("method", "bt") != "bt":
        unsupported.append("method")
    if unsupported:
        raise ValueError(f"covariates= fits the covariate Bradley-Terry board, which has no option(s) {unsupported}")
    for key in ("method", "device", "progress", "allow_self"):
        given.pop(key, None)
    if given.get("ci") == "cluster":
        given["ci"] = "bootstrap"
    return controlled_board(data, covariates, **given)


# ---------------------------------------------------------------------------------------------- explained preference


def explained_preference(
    votes: pd.DataFrame,
    covariates: Sequence[str],
    *,
    joint: bool = True,
    **options: Any,
) -> tuple[pd.DataFrame, dict[str, Controlled]]:
    """How much of human preference each covariate explains, one at a time and jointly.

    Returns a tidy frame, one row per (fit, feature): fit (the covariate, or ``"joint"``), feature, elo (per SD)
    with lower / upper, p_value, r2_vs_board (McFadden R^2 of the controlled board against the model-only board
    on the same battles), lr_stat, lr_p, kendall_tau (raw vs controlled ratings), max_rank_shift, battles; and
    the :class:`Controlled` results by fit name.
    """
    fits: dict[str, Controlled] = {}
    sets = [[c] for c in covariates] + ([list(covariates)] if joint and len(covariates) > 1 else [])
    rows = []
    for cols in sets:
        name = cols[0] if len(cols) == 1 else "joint"
        res = control(votes, cols, **options)
        fits[name] = res
        tau = scipy.stats.kendalltau(res.board["rating"], res.board["rating_raw"]).statistic
        for r in res.coefficients.to_dict("records"):
            rows.append({"fit": name, "feature": r["feature"], "elo": r["elo"], "lower": r["lower"],
                         "upper": r["upper"], "p_value": r["p_value"], "r2_vs_board": res.fit_stats["r2_vs_board"],
                         "lr_stat": res.fit_stats["lr_stat"], "lr_p": res.fit_stats["lr_p"],
                         "kendall_tau": float(tau), "max_rank_shift": int(res.board["rank_shift"].abs().max()),
                         "battles": res.board.attrs["report"]["battles_used"]})
    return pd.DataFrame(rows), fits


def t2vscore_case(
    human: str = "quality",
    metrics: Sequence[str] = ("clip_score", "xclip_score", "blip_bleu", "t2vscore_a"),
    *,
    path: Any = None,
    **options: Any,
) -> tuple[pd.DataFrame, dict[str, Controlled]]:
    """T2VScore TVGE: battles within a prompt from the human ``quality`` (or ``alignment``) ratings, metric
    differences of the two videos as covariates (plain difference, scaled by its SD), intervals clustered on the
    prompt (the battles of one prompt share videos). See :func:`explained_preference` for the output."""
    from .datasets import ratings_to_pairwise, t2vscore_tvge

    videos = t2vscore_tvge(path)
    videos = videos.assign(video=videos["model"].astype(str) + "/" + videos["prompt_id"].astype(str))
    battles = ratings_to_pairwise(videos, "prompt_id", score_col=human)
    battles["video_a"] = battles["model_a"].astype(str) + "/" + battles["prompt_id"].astype(str)
    battles["video_b"] = battles["model_b"].astype(str) + "/" + battles["prompt_id"].astype(str)
    options.setdefault("cluster", "prompt_id")
    return explained_preference(battles, list(metrics), features=videos.set_index("video")[list(metrics)],
                                **options)


VIDEOBENCH_GROUPS = {
    # target dimension: the other human dimensions rated on the same videos
    "video-text consistency": ("aesthetic_quality", "imaging_quality"),
    "action": ("motion_effects", "temporal_consistency"),
}


def videobench_case(
    target: str = "video-text consistency",
    *,
    path: Any = None,
    **options: Any,
) -> tuple[pd.DataFrame, dict[str, Controlled]]:
    """Video-Bench: battles from one dimension's ratings (within an item and rater slot), the other dimensions'
    mean human scores of the same two videos (differences, scaled) as covariates, intervals clustered on the
    item. The two groups of videos rated on three dimensions each are in :data:`VIDEOBENCH_GROUPS`."""
    from .datasets import ratings_to_pairwise, videobench_human

    if target not in VIDEOBENCH_GROUPS:
        raise ValueError(f"target must be one of {list(VIDEOBENCH_GROUPS)}, not {target!r}")
    others = VIDEOBENCH_GROUPS[target]
    vb = videobench_human(path=path)
    # Slots giving 0 to all seven models of an item are "not rated" marks (see videobench_human): left out.
    block = vb.groupby(["dimension", "item", "rater"])["score"].transform("max") == 0
    vb = vb[~block]
    scores = vb[vb["dimension"].isin(others)].groupby(["video", "dimension"])["score"].mean().unstack()
    scores.columns = [c.replace(" ", "_").replace("-", "_") for c in scores.columns]
    rated = vb[vb["dimension"] == target]
    battles = ratings_to_pairwise(rated, ["item", "rater"])
    video_of = rated.drop_duplicates(["item", "model"]).set_index(["item", "model"])["video"]
    for side in ("a", "b"):
        idx = pd.MultiIndex.from_arrays([battles["item"].to_numpy(), battles[f"model_{side}"].astype(str)])
        battles[f"video_{side}"] = video_of.reindex(idx).to_numpy()
    options.setdefault("cluster", "item")
    return explained_preference(battles, list(scores.columns), features=scores, **options)
