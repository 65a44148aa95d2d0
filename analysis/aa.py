"""Artificial Analysis video arena: what its published marginals can and cannot tell us.

Artificial Analysis publishes, per model and day, an Elo-like rating with a 95% interval, the number of
appearances and the number of wins; not the pairwise votes. Under Bradley-Terry the likelihood depends on the
votes through each model's wins and each pair's number of votes, so the wins are half of the sufficient
statistics: if the pairing (votes per pair) were known, the published wins would give back the board exactly.
The pairing is not published, so :func:`marginal_refit` assumes the simplest one (every pair can meet, each
model as often as its appearances say) and measures how far the result is from the published board (Kendall
tau, scale). A large gap means the pairing matters, i.e. models were matched non-uniformly.

The other helpers read the daily snapshots: intervals against appearances, and vote resets (days on which
appearances fall, so earlier votes were dropped).

Units: ratings in the publisher's Elo-like points (400 / ln 10 per natural unit, reference model at 1000).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .bt import fit_marginal
from .planning import balanced_pairing
from .ratings import model_index
from .vocab import Anchor, keyword_options, renamed

REFERENCE = {"text-to-video": "Mochi 1", "image-to-video": "Wan 2.1 14B"}


@renamed(anchor_value="anchor")
def marginal_refit(board: pd.DataFrame, *, model: str = "model", appearances: str = "appearances",
                   wins: str = "wins", rating: str | None = "elo", anchor: Anchor = {"Mochi 1": 1000.0},  # noqa: B006
                   init: float = 1000.0, scale: float = 400.0, base: float = 10.0) -> pd.DataFrame:
    """Refit a board from per-model marginals (appearances, wins), assuming a balanced pairing.

    Parameters
    ----------
    board
        One published board (one date, one modality): model, appearances, wins and, for the comparison, the
        published rating.
    model, appearances, wins, rating
        Column names; ``rating=None`` skips the comparison with the published ratings.
    anchor
        ``{model: value}``: that model held at value (Artificial Analysis: Mochi 1 = 1000 for text-to-video);
        ``"mean"``: the mean at ``init``. (The old ``anchor_value=`` is refused, naming ``anchor=``.)
    init, scale, base
        Elo scale: rating = value + scale / ln(base) * (theta - theta_anchor), or init + scale / ln(base) *
        (theta - mean theta) in the mean gauge.

    Returns
    -------
    pandas.DataFrame
        model, appearances, wins, refit (Elo points), refit_rank, and with a published rating: published,
        published_rank, diff (refit - published). ``attrs``: kendall_tau (refit vs published), spearman,
        scale_ratio (slope of refit on published: below 1 means the refit compresses the board), sd_ratio
        (standard deviation of the refit over that of the published ratings), rmse (Elo
        points, after removing the mean difference), wins_scale (the factor applied to wins so that they sum
        to the number of votes, which the score equations need), pairing ("balanced by appearances").

    Notes
    -----
    Votes = appearances / 2 in total; pair (a, b) is assumed to get votes in proportion to ``w_a w_b`` with w
    balanced so each model's appearances match (:func:`analysis.planning.balanced_pairing`). Published wins
    sum to slightly more than the number of votes (models dropped from the board, rounding); they are
    rescaled proportionally so that the likelihood has a maximum.
    """
    missing = [c for c in (model, appearances, wins) + ((rating,) if rating else ()) if c not in board.columns]
    if missing:
        raise KeyError(f"board is missing column(s) {missing}; found {list(board.columns)}")
    names = pd.Index([str(m) for m in board[model]], name="model")
    if names.duplicated().any():
        raise ValueError(f"duplicated models on the board: {names[names.duplicated()].tolist()[:5]}; pass one "
                         "date and one modality")
    app = board[appearances].to_numpy(float)
    won = board[wins].to_numpy(float)
    votes = app.sum() / 2
    i, j, n = balanced_pairing(app, votes)
    wins_scale = votes / won.sum()
    theta, iterations = fit_marginal(won * wins_scale, i, j, n)
    factor = scale / math.log(base)
    if anchor == "mean" or anchor is None:
        refit = init + factor * (theta - theta.mean())
    elif isinstance(anchor, Mapping) and len(anchor) == 1:
        (ref, value), = anchor.items()
        refit = float(value) + factor * (theta - theta[model_index(names, ref)])
    else:
        raise ValueError(f"anchor must be 'mean' or {{model: value}} (one model), not {anchor!r}")
    out = pd.DataFrame({"model": pd.array(list(names), dtype="string"), "appearances": app, "wins": won,
                        "refit": refit, "refit_rank": stats.rankdata(-refit, method="min").astype(int)})
    attrs = {"wins_scale": wins_scale, "pairing": "balanced by appearances", "iterations": iterations,
             "votes": votes}
    if rating:
        pub = board[rating].to_numpy(float)
        out["published"] = pub
        out["published_rank"] = stats.rankdata(-pub, method="min").astype(int)
        out["diff"] = refit - pub
        attrs.update(_agreement(refit, pub))
    out.attrs.update(attrs)
    return out.sort_values("refit", ascending=False, ignore_index=True)


def _agreement(refit: np.ndarray, published: np.ndarray) -> dict[str, float]:
    tau = stats.kendalltau(refit, published)
    slope = np.polyfit(published, refit, 1)[0]
    resid = (refit - refit.mean()) - (published - published.mean())
    return {"kendall_tau": float(tau.statistic), "kendall_p": float(tau.pvalue),
            "spearman": float(stats.spearmanr(refit, published).statistic), "scale_ratio": float(slope),
            "sd_ratio": float(np.std(refit) / np.std(published)),
            "rmse": float(np.sqrt(np.mean(resid**2)))}


def refit_over_time(snapshots: pd.DataFrame, *, date: str = "date", modality: str = "modality",
                    refit_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """:func:`marginal_refit` on every (date, modality) board of :func:`analysis.datasets.aa_video_arena`.

    Each board is anchored on its modality's reference model (:data:`REFERENCE`) at 1000 when present, else in
    the mean gauge; ``refit_options`` (e.g. ``{"rating": "elo", "scale": 400}``) go to :func:`marginal_refit`.

    Returns
    -------
    pandas.DataFrame
        date, modality, models, kendall_tau, spearman, scale_ratio, sd_ratio, rmse: how well the balanced-pairing refit
        recovers each published board.
    """
    refit_options = keyword_options(refit_options, "refit_options", "marginal_refit")
    rows = []
    for (day, mod), sub in snapshots.groupby([date, modality], sort=True):
        ref = REFERENCE.get(str(mod))
        opts = {"anchor": {ref: 1000.0} if ref in set(sub["model"]) else "mean", **refit_options}
        fit = marginal_refit(sub, **opts)
        rows.append({date: day, modality: mod, "models": len(sub),
                     **{k: fit.attrs[k] for k in ("kendall_tau", "spearman", "scale_ratio", "sd_ratio", "rmse")}})
    return pd.DataFrame(rows)


def interval_vs_appearances(snapshots: pd.DataFrame, *, lower: str = "ci_lower", upper: str = "ci_upper",
                            appearances: str = "appearances", by: tuple[str, ...] = ("date", "modality"),
                            model: str = "model", exclude: tuple[str, ...] = tuple(REFERENCE.values())
                            ) -> pd.DataFrame:
    """How published interval half-widths shrink with appearances: a log-log fit per board.

    Under any regular estimator the half-width scales as ``appearances ** -1/2`` at a fixed pairing; the
    fitted exponent shows whether the published intervals do (published widths are rounded to whole points,
    which flattens the fit a little). Reference models (width 0 by construction) are left out.

    Returns
    -------
    pandas.DataFrame
        One row per board (``by``): models, exponent (slope of log half-width on log appearances, with
        exponent_lower / exponent_upper, a 95% interval), half_width_at_5000 (fitted, Elo points), and
        median_half_width.
    """
    data = snapshots[~snapshots[model].isin(exclude)]
    half = (data[upper] - data[lower]).to_numpy(float) / 2
    keep = (half > 0) & (data[appearances].to_numpy(float) > 0)
    data = data[keep].assign(_half=half[keep])
    rows = []
    for key, sub in data.groupby(list(by), sort=True):
        x = np.log(sub[appearances].to_numpy(float))
        y = np.log(sub["_half"].to_numpy(float))
        if len(sub) < 3 or np.ptp(x) == 0:
            continue
        res = stats.linregress(x, y)
        t = stats.t.ppf(0.975, len(sub) - 2)
        rows.append({**dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)), "models": len(sub),
                     "exponent": res.slope, "exponent_lower": res.slope - t * res.stderr,
                     "exponent_upper": res.slope + t * res.stderr,
                     "half_width_at_5000": float(np.exp(res.intercept + res.slope * np.log(5000))),
                     "median_half_width": float(np.median(sub["_half"]))})
    return pd.DataFrame(rows)


def vote_resets(snapshots: pd.DataFrame, *, drop: float = 0.2, date: str = "date", model: str = "model",
                appearances: str = "appearances", modality: str = "modality") -> pd.DataFrame:
    """Days on which a model's appearances fell by more than ``drop`` (a share) from the previous snapshot.

    Appearances only grow while votes accumulate, so a fall means votes were removed (a reset or a cleaning).

    Returns
    -------
    pandas.DataFrame
        modality, model, date, before, after, change (after / before - 1), sorted by date and size of the drop.
    """
    data = snapshots.sort_values([modality, model, date], kind="stable")
    prev = data.groupby([modality, model], sort=False)[appearances].shift()
    change = data[appearances] / prev - 1
    hit = change < -drop
    out = pd.DataFrame({modality: data.loc[hit, modality], model: data.loc[hit, model], date: data.loc[hit, date],
                        "before": prev[hit], "after": data.loc[hit, appearances], "change": change[hit]})
    return out.sort_values([date, "change"], ignore_index=True)


__all__ = ["REFERENCE", "interval_vs_appearances", "marginal_refit", "refit_over_time", "vote_resets"]
