"""The engine: per-model scores under resampling weights, one function per unit, and :func:`correlate`.

A resample is a vector of cluster multiplicities ``w`` (multinomial over clusters). :mod:`.prepare` reduced
both sides to per-cluster sufficient statistics, so a resample is one matrix product ``W @ stats``.
Bradley-Terry boards for all resamples are refitted together by :func:`analysis.bt.fit_bt_batch` (ties half,
warm-started at the full fit); the full-data board comes from :func:`analysis.bt.fit_bt`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import bt
from .options import (
    COLUMNS,
    CORRELATION_CI,
    HUMAN_SCALES,
    METHODS,
    METRIC_TIES,
    UNITS,
    CorrelationCI,
    CorrelationError,
    CorrelationMethod,
    HumanScale,
    MetricTies,
    Unit,
    check_level,
    renamed,
)
from .prepare import (
    Human,
    Metric,
    as_frame,
    as_list,
    check_columns,
    check_numeric,
    human_models,
    match_models,
    prepare_both,
    prepare_human,
    prepare_metric,
    rename_models,
)
from .stats import corr_rows, fisher_interval, percentile_interval, permutation_p, weighted_corr, wilson_interval

__all__ = [
    "ELO",
    "Context",
    "bt_strengths",
    "cluster_weights",
    "correlate",
    "human_point",
    "human_scores",
    "metric_scores",
    "model_scores",
    "pair_agreement",
]

ELO = 400.0 / math.log(10.0)  # Elo points per natural log-odds unit, the scale the boards use


# ---------------------------------------------------------------------------------------------- per-model scores


def bt_strengths(h: Human) -> np.ndarray:
    """(K,) full-data Bradley-Terry strengths (natural log-odds, ties half) by :func:`analysis.bt.fit_bt`.

    Models without any comparison are left out of the fit and get NaN.
    """
    tot = h.pc.sum(0)
    keep = tot.sum(1) > 0
    k = len(h.models)
    played = np.zeros(k, dtype=bool)
    played[h.pi[keep]] = True
    played[h.pj[keep]] = True
    code = np.cumsum(played) - 1  # codes among the models that played, in the same (sorted) order
    table = bt.pair_table_from_arrays(np.asarray(h.models, dtype=object)[played], code[h.pi[keep]],
                                      code[h.pj[keep]], tot[keep])
    theta = np.full(k, np.nan)
    theta[played] = bt.fit_bt(table, ties="half").theta
    return theta


def human_scores(h: Human, w: np.ndarray, scale: str, theta0: np.ndarray | None = None) -> np.ndarray:
    """(B, K) human per-model scores under cluster weights w (B, C)."""
    if h.kind == "aggregate":
        return np.broadcast_to(h.values, (len(w), len(h.models)))
    if scale == "mean":
        if h.h_sum is None:
            raise CorrelationError("human_scale='mean' needs ratings; battles have no rating to average")
        with np.errstate(invalid="ignore", divide="ignore"):
            return (w @ h.h_sum) / (w @ h.h_cnt)
    pc = (w @ h.pc.reshape(len(h.pc), -1)).reshape(len(w), *h.pc.shape[1:])
    k = len(h.models)
    if scale == "winrate":
        # VBench's human-alignment score: (wins + half the ties) / comparisons, per model.
        ei, ej = np.eye(k)[h.pi], np.eye(k)[h.pj]
        wins = pc[..., 0] @ ei + pc[..., 1] @ ej + 0.5 * pc[..., 2] @ (ei + ej)
        games = pc.sum(-1) @ (ei + ej)
        with np.errstate(invalid="ignore", divide="ignore"):
            return wins / games
    return bt.fit_bt_batch(pc, h.pi, h.pj, k, theta0) * ELO + 1000.0


def human_point(h: Human, scale: str) -> np.ndarray:
    """(K,) full-data human scores; the Bradley-Terry board comes from the exact engine."""
    if h.kind != "aggregate" and scale == "bt":
        return bt_strengths(h) * ELO + 1000.0
    return human_scores(h, _ones(h), scale)[0]


def _ones(h: Human) -> np.ndarray:
    """Weights of the full data: every cluster once."""
    return np.ones((1, len(h.clusters) if h.clusters is not None else 1))


def metric_scores(m: Metric, w: np.ndarray) -> np.ndarray:
    """(B, K) per-model metric scores under cluster weights w (fixed values broadcast)."""
    if m.m_sum is None:
        return np.broadcast_to(m.values, (len(w), len(m.values)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w @ m.m_sum) / (w @ m.m_cnt)


def cluster_weights(n_clusters: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(B, C) multiplicities of each cluster in each resample: n_clusters draws with replacement."""
    wrng = np.random.default_rng(rng.integers(2**63))
    return wrng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=resamples).astype(float)


# ---------------------------------------------------------------------------------------------- units


@dataclass
class Context:
    """What every unit needs: options, the resampling weights, and the notes that apply to every row."""

    methods: list[str]
    ci: str
    level: float
    scale: str
    metric_ties: str
    weights: np.ndarray | None  # (B, C) cluster multiplicities, None without a bootstrap
    rng: np.random.Generator
    cluster_label: str
    notes: list[str]
    cache: dict[str, np.ndarray] = field(default_factory=dict)  # human draws, shared by the metrics of a call


def _row(unit: str, h: str, m: str, method: str, est: float, lo: float, hi: float, n: int, notes: list[str],
         *, group: str = "all", n_clusters: int | None = None, ci: str = "", p: float = float("nan")) -> dict:
    return {"unit": unit, "human": h, "metric": m, "method": method, "group": group, "estimate": float(est),
            "lower": float(lo), "upper": float(hi), "n": int(n), "n_clusters": n_clusters, "ci": ci,
            "p_value": float(p), "note": "; ".join(x for x in notes if x)}


def _interval(ctx: Context, est: float, draws: np.ndarray | None, n: int, method: str, notes: list[str]
              ) -> tuple[float, float, str]:
    """Interval for one estimate by the requested method; a note when some resamples were undefined."""
    if ctx.ci == "none" or not np.isfinite(est):
        return float("nan"), float("nan"), "none"
    if ctx.ci == "fisher" or draws is None:
        lo, hi = fisher_interval(est, n, method, ctx.level)
        if not np.isfinite(lo):
            notes.append(f"no Fisher interval at n = {n}" + (" with perfect agreement" if abs(est) > 0.9999 else ""))
        elif n < 10:
            notes.append(f"Fisher interval over n = {n} units is a rough approximation")
        return lo, hi, "fisher"
    lo, hi, undefined = percentile_interval(draws, ctx.level)
    if undefined:
        notes.append(f"{undefined} of {len(draws)} resamples undefined (constant side or no finite board), "
                     f"left out of the interval")
    if lo == hi:
        notes.append("zero-width interval: the order never changed over the resamples, so the number of units, "
                     "not the items, limits the reading (see p_value)")
    return lo, hi, f"bootstrap/{ctx.cluster_label}"


def _constant_note(x: np.ndarray, y: np.ndarray, h: str, m: str, unit: str) -> str:
    if np.nanstd(y) == 0:
        return f"metric {m!r} is constant over the {len(y)} {unit}: correlation undefined"
    if np.nanstd(x) == 0:
        return f"human {h!r} is constant over the {len(x)} {unit}: correlation undefined"
    return ""


def _model_unit(h: Human, m: Metric, ctx: Context) -> list[dict]:
    """Per-model human score against the per-model metric: the requested correlations plus pairwise accuracy."""
    x = human_point(h, ctx.scale)
    y = metric_scores(m, _ones(h))[0]
    ok = np.isfinite(x) & np.isfinite(y)
    x_draws = y_draws = None
    if ctx.weights is not None and ctx.ci == "bootstrap":
        if "model" not in ctx.cache:  # one refit of the human board per resample, whatever the metric
            theta0 = (x - 1000.0) / ELO if ctx.scale == "bt" else None
            ctx.cache["model"] = human_scores(h, ctx.weights, ctx.scale, theta0)
        x_draws = ctx.cache["model"]
        y_draws = metric_scores(m, ctx.weights)
    n = int(ok.sum())
    side = ("both sides (human scores refitted, metric means recomputed)" if m.m_sum is not None
            else "the human side only (metric: fixed per-model values)")
    base = [f"n = {n} models", f"interval resamples {ctx.cluster_label}s with models fixed: it carries {side}, "
            "not which models were chosen" if x_draws is not None else ""]
    constant = _constant_note(x[ok], y[ok], h.name, m.name, "models")
    rows = []
    for method in [*ctx.methods, "accuracy"]:
        notes = [*base, constant, *h.notes, *ctx.notes]
        if constant or n < 3:
            est, p = float("nan"), float("nan")
            if n < 3:
                notes.append("fewer than 3 models: no correlation")
        else:
            est = float(corr_rows(x[ok], y[ok], method)[0])
            p = permutation_p(x[ok], y[ok], method, ctx.rng)
        draws = None if x_draws is None else corr_rows(x_draws[:, ok], y_draws[:, ok], method)
        lo, hi, how = _interval(ctx, est, draws, n, method, notes)
        rows.append(_row("model", h.name, m.name, method, est, lo, hi, n, notes,
                         n_clusters=None if h.clusters is None else len(h.clusters), ci=how, p=p))
    return rows


def _pair_rates(h: Human, w: np.ndarray) -> np.ndarray:
    pc = (w @ h.pc.reshape(len(h.pc), -1)).reshape(len(w), *h.pc.shape[1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pc[..., 0] + 0.5 * pc[..., 2]) / pc.sum(-1)


def _symmetric(rate: np.ndarray, diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Each pair in both orientations: the correlation no longer depends on which model is called "a".
    return np.concatenate([rate, 1 - rate], axis=-1), np.concatenate([diff, -diff], axis=-1)


def _pair_unit(h: Human, m: Metric, ctx: Context) -> list[dict]:
    """Per model pair, human preference rate (ties half) against the metric difference, both orientations."""
    if h.pc is None:
        raise CorrelationError("unit='pair' needs item-level human ratings or battles, not per-model aggregates")
    ones = np.ones((1, len(h.clusters)))
    rate = _pair_rates(h, ones)[0]
    ys = metric_scores(m, ones)[0]
    diff = ys[h.pi] - ys[h.pj]
    ok = np.isfinite(rate) & np.isfinite(diff)
    n = int(ok.sum())
    notes0 = [f"n = {n} model pairs from {len(h.models)} models (pairs share models, so they are not independent)",
              _constant_note(rate[ok], diff[ok], h.name, m.name, "pairs"), *h.notes, *ctx.notes]
    x, y = _symmetric(rate[ok], diff[ok])
    xd = yd = None
    if ctx.weights is not None and ctx.ci == "bootstrap":
        if "pair" not in ctx.cache:
            ctx.cache["pair"] = _pair_rates(h, ctx.weights)
        dr = metric_scores(m, ctx.weights)
        xd, yd = _symmetric(ctx.cache["pair"][:, ok], (dr[:, h.pi] - dr[:, h.pj])[:, ok])
    rows = []
    for method in ctx.methods:
        notes = list(notes0)
        est = float(corr_rows(x, y, method)[0]) if n >= 2 else float("nan")
        draws = None if xd is None else corr_rows(xd, yd, method)
        lo, hi, how = _interval(ctx, est, draws, n, method, notes)
        rows.append(_row("pair", h.name, m.name, method, est, lo, hi, n, notes, n_clusters=len(h.clusters), ci=how))
    return rows


def _vote_metric(h: Human, m: Metric) -> np.ndarray:
    """Metric difference (a minus b) for each human judgement; NaN where a video has no metric score."""
    v = h.vote
    if m.table is None:
        return m.values[v["a"]] - m.values[v["b"]]
    if "item" not in v:
        raise CorrelationError("per-video metric scores need the item column(s) in the human battles")
    return m.table[v["item"], v["a"]] - m.table[v["item"], v["b"]]


def _vote_unit(h: Human, m: Metric, ctx: Context) -> list[dict]:
    """Share of decisive human judgements whose clip the metric also prefers (metric ties per ``metric_ties``)."""
    if h.vote is None:
        raise CorrelationError("unit='vote' needs item-level human ratings or battles, not per-model aggregates")
    d = _vote_metric(h, m)
    v = h.vote
    has = np.isfinite(d)
    hs = np.where(v["outcome"] == 0, 1, np.where(v["outcome"] == 1, -1, 0))
    ms = np.sign(np.where(has, d, 0.0))
    decisive = (hs != 0) & has
    agree = decisive & (hs * ms > 0)
    mtie = decisive & (ms == 0)
    # Metric ties: half an agreement (VBench's win-ratio convention), or left out of the denominator.
    credit = agree + (0.5 * mtie if ctx.metric_ties == "half" else 0.0)
    counted = decisive & ~mtie if ctx.metric_ties == "drop" else decisive
    c = len(h.clusters)
    a_c = np.bincount(v["cl"], credit.astype(float), c)
    n_c = np.bincount(v["cl"], counted.astype(float), c)
    n = int(n_c.sum())
    est = a_c.sum() / n if n else float("nan")
    notes = [f"{n} decisive human judgements; human ties left out: {int(((hs == 0) & has).sum())}",
             f"metric ties: {int(mtie.sum())} ({'counted as half' if ctx.metric_ties == 'half' else 'left out'})",
             "chance = 0.5"]
    if (~has).any():
        notes.append(f"{int((~has).sum())} judgement(s) without a metric score for one of the videos left out")
    notes += [*h.notes, *ctx.notes]
    draws = None
    if ctx.weights is not None and ctx.ci == "bootstrap":
        with np.errstate(invalid="ignore", divide="ignore"):
            draws = (ctx.weights @ a_c) / (ctx.weights @ n_c)
    if ctx.ci == "fisher" and np.isfinite(est):
        lo, hi = wilson_interval(a_c.sum(), n, ctx.level)
        how = "wilson"
        notes.append("Wilson interval treats judgements as independent, which judgements of one item are not")
    else:
        lo, hi, how = _interval(ctx, est, draws, n, "pearson", notes)
    return [_row("vote", h.name, m.name, "agreement", est, lo, hi, n, notes, n_clusters=c, ci=how)]


def _video_unit(h: Human, m: Metric, ctx: Context) -> list[dict]:
    """Per-video human score against the metric, pooled (group ``"all"``) and within each model."""
    if h.video is None or m.table is None:
        raise CorrelationError("unit='video' needs per-video human ratings and per-video metric scores "
                               "(both keyed by the item column(s) and the model)")
    vid = h.video
    y_all = m.table[vid["item"], vid["model"]]
    both = np.isfinite(y_all)
    if not both.any():
        shown = [str(x) for x in h.items[np.unique(vid["item"])[:3]]]
        raise CorrelationError(f"no videos in common: the human side has {len(vid['item'])} "
                               f"videos (items e.g. {shown}), the metric side has none of them (items e.g. "
                               f"{m.examples})")
    x_all, cl_all, mk_all = vid["value"][both], vid["cl"][both], vid["model"][both]
    y_all = y_all[both]
    unmatched = int((~both).sum()) + m.unmatched
    groups = [("all", np.ones(len(x_all), bool))] + [(mod, mk_all == k) for k, mod in enumerate(h.models)]
    extra = [f"{unmatched} video(s) on one side only left out"] if unmatched else []
    rows = []
    for method in ctx.methods:
        for group, mask in groups:
            x, y, cl = x_all[mask], y_all[mask], cl_all[mask]
            n, n_cl = len(x), len(np.unique(cl))
            notes = [f"n = {n} videos in {n_cl} {ctx.cluster_label}s", _constant_note(x, y, h.name, m.name, "videos"),
                     *extra, *h.notes, *ctx.notes]
            est = float(weighted_corr(x, y, np.ones((1, n)), method)[0]) if n >= 3 else float("nan")
            draws = None
            if ctx.weights is not None and ctx.ci == "bootstrap" and np.isfinite(est):
                draws = weighted_corr(x, y, ctx.weights[:, cl], method)
            lo, hi, how = _interval(ctx, est, draws, n, method, notes)
            rows.append(_row("video", h.name, m.name, method, est, lo, hi, n, notes, group=group, n_clusters=n_cl,
                             ci=how))
    return rows


_UNIT_FUNCS: dict[str, Callable[[Human, Metric, Context], list[dict]]] = {
    "model": _model_unit, "pair": _pair_unit, "vote": _vote_unit, "video": _video_unit}


# ---------------------------------------------------------------------------------------------- public API


@renamed(confidence="level", model_map="aliases")
def correlate(
    human: pd.DataFrame | str | os.PathLike,
    metric: pd.DataFrame | str | os.PathLike,
    *,
    unit: Unit | Sequence[Unit] = "model",
    method: CorrelationMethod | Sequence[CorrelationMethod] = "spearman",
    ci: CorrelationCI = "bootstrap",
    level: float = 0.95,
    resamples: int = 1000,
    cluster: str | Sequence[str] | None = None,
    seed: int | None = None,
    human_col: str | Sequence[str] = "score",
    metric_col: str | Sequence[str] = "score",
    model_col: str = "model",
    item_cols: str | Sequence[str] | None = None,
    rater_col: str | None = None,
    human_scale: HumanScale = "bt",
    metric_ties: MetricTies = "half",
    aliases: Mapping[str, str] | None = None,
    case: str = "",
) -> pd.DataFrame:
    """Agreement between human judgements and an automatic metric, with intervals.

    Parameters
    ----------
    human
        Human data in one of three forms. Ratings: one row per rating, with ``model_col``, the ``item_cols``
        (what all models were generated for: a prompt, a prompt x seed) and ``human_col``; optionally a
        ``rater_col``. Battles: ``model_a``, ``model_b``, ``winner`` (:func:`analysis.votes.read_votes` labels)
        plus the cluster (and, for per-video metrics, item) columns. Aggregates: one row per model (a published
        board), unit ``"model"`` only, with ``ci="fisher"`` or ``"none"``.
    metric
        Per-model scores (one row per model) or per-video scores (``item_cols`` + ``model_col``). May be the
        same frame as ``human``.
    unit
        The grain: ``"model"``, ``"pair"``, ``"vote"``, ``"video"``, or several.
    method
        ``"spearman"``, ``"kendall"`` (tau-b) or ``"pearson"``, or several. The model unit adds pairwise
        accuracy (method ``"accuracy"``); the vote unit reports an agreement rate (method ``"agreement"``).
    ci
        ``"bootstrap"``: resample clusters of items (see ``cluster``) and recompute both sides;
        ``"fisher"``: normal interval on the Fisher z scale over the units (models, pairs, videos; Wilson for
        votes), for published aggregates; ``"none"``.
    level
        Confidence level of the intervals.
    resamples, seed
        Bootstrap size and random seed. The same resamples serve every unit, measure and metric of one call
        (as long as the measures cover the same clusters), so rows are paired draws.
    cluster
        Column(s) whose values are resampled whole; default: each item. Use the prompt when one prompt has
        several generations (they share the prompt's difficulty).
    human_col, metric_col
        Score column(s); several give one row per combination.
    model_col, item_cols, rater_col
        Column names. ``rater_col`` keeps each rater's comparisons separate when deriving pairwise judgements
        (:func:`analysis.datasets.ratings_to_pairwise`); per-video human scores average over raters.
    human_scale
        Per-model human score at the model unit: ``"bt"`` (Bradley-Terry board, Elo points, from within-item
        comparisons, ties half), ``"winrate"`` ((wins + ties / 2) / comparisons, VBench's human-alignment
        score) or ``"mean"`` (mean rating; confounded with item difficulty when models saw different items).
    metric_ties
        Vote unit: a judgement where the metric scores both clips equally counts ``"half"`` an agreement or is
        left out (``"drop"``); either way the count is in the note.
    aliases
        Human model name -> metric model name, for spellings that differ. Models on one side only are left
        out and listed in the note (and ``attrs["unmatched"]``), never dropped silently.
    case
        Label for the ``case`` column.

    Returns
    -------
    pandas.DataFrame
        One row per (unit, human, metric, method, group) with columns :data:`COLUMNS`: estimate, lower, upper,
        n (models, pairs, decisive judgements or videos), n_clusters (clusters resampled), ci (how the interval
        was made), p_value (model unit: permutation test of no association across the models, exact up to 8
        models) and note (what limits the reading). ``group`` is ``"all"`` or, at the video unit, a model.
        A constant side gives estimate NaN with the reason in the note. ``attrs``: unmatched, models, options.

    Raises
    ------
    CorrelationError
        No model (or, at the video unit, no video) in common; the message lists both sides. A missing
        column, or a unit the data cannot support.
    TypeError
        An old spelling: ``confidence=`` (now ``level=``) or a grain passed as ``level=`` (now ``unit=``).
    """
    level = check_level(level, "correlate")
    human, metric = as_frame(human, "human"), as_frame(metric, "metric")
    units, methods = as_list(unit), as_list(method)
    hcols, mcols = as_list(human_col), as_list(metric_col)
    items, cluster_cols = as_list(item_cols), as_list(cluster) or as_list(item_cols)
    _check_options(units, methods, ci, human_scale, metric_ties, resamples)
    check_columns(human, metric, hcols, mcols, model_col, items, cluster_cols, rater_col, ci)
    check_numeric(human, hcols, "human")
    check_numeric(metric, mcols, "metric")
    human = rename_models(human, model_col, aliases)
    models, match_note, unmatched = match_models(human_models(human, model_col), metric[model_col].astype(str))
    rng = np.random.default_rng(seed)
    need_pairs = bool({"pair", "vote"} & set(units)) or ("model" in units and human_scale != "mean")
    label = "+".join(cluster_cols) if cluster_cols else "item"
    rows: list[dict] = []
    weights, drawn_for = None, None
    for hcol in hcols:
        h = prepare_human(human, hcol, models, model_col=model_col, items=items, rater_col=rater_col,
                          cluster=cluster_cols, need_pairs=need_pairs)
        _check_kind(h, units, ci)
        # One set of resamples for every measure, metric and unit on the same clusters: rows are paired draws.
        if ci == "bootstrap" and (drawn_for is None or not drawn_for.equals(h.clusters)):
            weights, drawn_for = cluster_weights(len(h.clusters), resamples, rng), h.clusters
        ctx = Context(methods, ci, level, human_scale, metric_ties, weights, rng, label, [match_note])
        for mcol in mcols:
            m = prepare_metric(metric, mcol, h, model_col=model_col, items=items)
            for u in units:
                rows += _UNIT_FUNCS[u](h, m, ctx)
    out = pd.DataFrame(rows)
    out.insert(0, "case", case)
    out = out[COLUMNS]
    out["n_clusters"] = out["n_clusters"].astype("Int64")
    out.attrs.update(unmatched=unmatched, models=models,
                     options={"ci": ci, "resamples": resamples if ci == "bootstrap" else 0, "cluster": cluster_cols,
                              "human_scale": human_scale, "metric_ties": metric_ties, "level": level,
                              "seed": seed})
    return out


def _check_kind(h: Human, units: list[str], ci: str) -> None:
    if h.kind != "aggregate":
        return
    if ci == "bootstrap":
        raise CorrelationError("the human data are per-model aggregates: there are no items to resample; use "
                               "ci='fisher' (treats the models as a sample) or ci='none'")
    if set(units) - {"model"}:
        raise CorrelationError(f"units {sorted(set(units) - {'model'})} need item-level human data; "
                               "per-model aggregates support unit='model' only")


def _check_options(units: list[str], methods: list[str], ci: str, scale: str, ties: str, resamples: int) -> None:
    bad = [x for x in units if x not in UNITS]
    if bad or not units:
        raise CorrelationError(f"unit must be among {list(UNITS)}, not {bad or units}")
    bad = [x for x in methods if x not in METHODS]
    if bad or not methods:
        raise CorrelationError(f"method must be among {list(METHODS)}, not {bad or methods}")
    if ci not in CORRELATION_CI:
        raise CorrelationError(f"ci must be one of {list(CORRELATION_CI)}, not {ci!r}")
    if scale not in HUMAN_SCALES:
        raise CorrelationError(f"human_scale must be one of {list(HUMAN_SCALES)}, not {scale!r}")
    if ties not in METRIC_TIES:
        raise CorrelationError(f"metric_ties must be 'half' or 'drop', not {ties!r}")
    if ci == "bootstrap" and int(resamples) < 2:
        raise CorrelationError(f"resamples must be at least 2, got {resamples}")


@renamed(confidence="level")
def model_scores(human: pd.DataFrame, metric: pd.DataFrame, *, human_col: str = "score", metric_col: str = "score",
                 model_col: str = "model", item_cols: str | Sequence[str] | None = None, rater_col: str | None = None,
                 cluster: str | Sequence[str] | None = None, human_scale: HumanScale = "bt",
                 aliases: Mapping[str, str] | None = None, resamples: int = 1000, seed: int | None = None,
                 level: float = 0.95) -> pd.DataFrame:
    """The per-model table behind the model unit: human score with its interval beside the metric score.

    Parameters are those of :func:`correlate` (one human and one metric column).

    Returns
    -------
    pandas.DataFrame
        model, human (Elo points for ``human_scale="bt"``), human_lower, human_upper (percentile interval over
        resampled clusters; NaN for aggregates), metric, metric_lower, metric_upper (NaN for fixed per-model
        metric values), sorted by human score.
    """
    level = check_level(level, "model_scores")
    h, m = prepare_both(human, metric, human_col, metric_col, model_col, item_cols, rater_col, cluster, aliases,
                        need_pairs=human_scale != "mean")
    x = human_point(h, human_scale)
    out = pd.DataFrame({"model": h.models, "human": x, "human_lower": np.nan, "human_upper": np.nan,
                        "metric": metric_scores(m, _ones(h))[0], "metric_lower": np.nan, "metric_upper": np.nan})
    alpha = (1 - level) / 2
    if h.clusters is not None:
        w = cluster_weights(len(h.clusters), resamples, np.random.default_rng(seed))
        xd = human_scores(h, w, human_scale, (x - 1000.0) / ELO if human_scale == "bt" else None)
        out["human_lower"], out["human_upper"] = np.nanquantile(xd, [alpha, 1 - alpha], axis=0)
        if m.m_sum is not None:
            out["metric_lower"], out["metric_upper"] = np.nanquantile(metric_scores(m, w), [alpha, 1 - alpha], axis=0)
    return out.sort_values("human", ascending=False, ignore_index=True)


@renamed(confidence="level")
def pair_agreement(human: pd.DataFrame, metric: pd.DataFrame, *, human_col: str = "score",
                   metric_col: str = "score", model_col: str = "model", item_cols: str | Sequence[str] | None = None,
                   rater_col: str | None = None, cluster: str | Sequence[str] | None = None,
                   aliases: Mapping[str, str] | None = None, resamples: int = 1000, seed: int | None = None,
                   level: float = 0.95) -> pd.DataFrame:
    """The per-pair table behind the pair unit: human preference rate with its interval beside the metric gap.

    Returns
    -------
    pandas.DataFrame
        One row per model pair: model_a, model_b, comparisons, rate (share of comparisons model_a won, ties
        half), rate_lower, rate_upper (percentile interval over resampled clusters), metric_a, metric_b,
        metric_diff (a minus b), agree (both sides prefer the same model; NaN when either is exactly even).
    """
    level = check_level(level, "pair_agreement")
    h, m = prepare_both(human, metric, human_col, metric_col, model_col, item_cols, rater_col, cluster, aliases,
                        need_pairs=True)
    if h.pc is None:
        raise CorrelationError("pair_agreement needs item-level human ratings or battles")
    rate = _pair_rates(h, _ones(h))[0]
    w = cluster_weights(len(h.clusters), resamples, np.random.default_rng(seed))
    alpha = (1 - level) / 2
    lo, hi = np.nanquantile(_pair_rates(h, w), [alpha, 1 - alpha], axis=0)
    ys = metric_scores(m, _ones(h))[0]
    names = np.array(h.models)
    diff = ys[h.pi] - ys[h.pj]
    sign = np.sign(rate - 0.5) * np.sign(diff)
    return pd.DataFrame({
        "model_a": names[h.pi], "model_b": names[h.pj], "comparisons": h.pc.sum((0, 2)).astype(np.int64),
        "rate": rate, "rate_lower": lo, "rate_upper": hi, "metric_a": ys[h.pi], "metric_b": ys[h.pj],
        "metric_diff": diff, "agree": np.where(sign == 0, np.nan, sign > 0),
    })
