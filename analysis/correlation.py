"""Human judgements against automatic metrics, at four levels, with intervals that carry both sides' uncertainty.

The question: does a metric (a VBench dimension, CLIP Score, ...) order models and videos the way people do, and
how sure can we be? Published work reports one Spearman number over a handful of models; :func:`correlate`
reports every level, each with an interval and a note saying what limits the reading.

Levels
------
``model``
    Per-model human score (a Bradley-Terry board fitted to within-item comparisons, a win ratio, or a mean
    rating) against the per-model metric: Spearman / Kendall / Pearson plus pairwise accuracy (the share of
    model pairs both sides order alike).
``pair``
    Per pair of models, the human preference rate (ties half) against the metric difference. Each pair enters
    in both orientations, so the result does not depend on which model is called "a".
``vote``
    Per human pairwise judgement, does the metric prefer the same clip? An agreement rate; metric ties are
    counted explicitly (half an agreement, or left out), human ties are left out and counted.
``video``
    Per-video correlation of the human and the metric score, pooled and per model.

Why bootstrap items (prompts), not models
-----------------------------------------
The models are the population a reader cares about here ("these 7 models"); the prompts are the sample. So
intervals resample clusters of items (prompts, by default each item) and recompute *both* sides on every
resample: the human board is refitted and per-video metric means are recomputed on the same draw, so the
uncertainty of both sides and their pairing is carried. Published per-model metric values (VBench) have no
per-video scores: they stay fixed, and the note says so. With only published aggregates on both sides
(GenAI-Arena vs VBench) nothing can be resampled but models; ``ci="fisher"`` then gives a normal interval on
the Fisher z scale (Bonett-Wright for Spearman, Fieller for Kendall), which treats the models as a sample.

How it stays fast
-----------------
A resample is a vector of cluster multiplicities ``w`` (multinomial over clusters). Everything is reduced once
to per-cluster sufficient statistics (rating sums and counts per model, pair outcome counts, vote agreements),
so a resample is one matrix product ``W @ stats``. Bradley-Terry boards for all resamples are refitted together
by a batched Newton solve (K x K systems, warm-started at the full fit; ties count half, as in FastChat); the
full-data board comes from :func:`analysis.bt.fit_bt`. Video-level Spearman under weights uses exact weighted
mid-ranks (the ranks the expanded resample would have) and Kendall's tau-b three products with N x N sign
matrices, so no resample is materialised.

Reading the model level
-----------------------
With a handful of models the item bootstrap often gives a narrow (even zero-width) interval: the human order of
these models is settled, so the items are not what limits the reading; the number of models is. The
``p_value`` column (an exact permutation test over the models) and the note say so.
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from . import bt
from .bt import fit_bt_batch as bt_batch  # noqa: F401  (the old name; the engine lives in analysis.bt)
from .datasets import ratings_to_pairwise
from .votes import read_votes

__all__ = [
    "CASES",
    "COLUMNS",
    "LEVELS",
    "METHODS",
    "CorrelationError",
    "correlate",
    "correlate_main",
    "coverage",
    "genai_arena_vbench",
    "load_mapping",
    "match_models",
    "model_scores",
    "pair_agreement",
    "plot_correlations",
    "run_case",
    "simulate_ratings",
    "t2vscore",
    "videobench_vbench",
]

LEVELS = ("model", "pair", "vote", "video")
METHODS = ("spearman", "kendall", "pearson")
CI_METHODS = ("bootstrap", "fisher", "none")
HUMAN_SCALES = ("bt", "winrate", "mean")
COLUMNS = ["case", "level", "human", "metric", "method", "group", "estimate", "lower", "upper", "n", "n_clusters",
           "ci", "p_value", "note"]
_ELO = 400.0 / math.log(10.0)  # Elo points per natural log-odds unit, the scale the boards use
_EXACT_PERMUTATIONS = 8  # up to 8! = 40,320 orderings the permutation p-value is exact
_KENDALL_MATRIX_MAX = 5000  # beyond this many videos, N x N sign matrices cost too much memory
_DATA = Path(__file__).resolve().parents[1] / "data"


class CorrelationError(ValueError):
    """Human and metric data that cannot be compared (nothing in common, a missing column, ...)."""


# ---------------------------------------------------------------------------------------------- statistics


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row pair; NaN where either row is constant or has a NaN."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((xc * xc).sum(-1) * (yc * yc).sum(-1))
    num = (xc * yc).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    # Rounding leaves |r| a hair above 1 for perfectly related rows; a constant row gives 0/0.
    r = np.where(den > 1e-12 * np.maximum(1.0, np.abs(num)), np.clip(r, -1.0, 1.0), np.nan)
    return r


def _rank_rows(x: np.ndarray) -> np.ndarray:
    # Mid-ranks keep tied models tied (Spearman's usual tie rule); NaN rows stay NaN.
    return scipy.stats.rankdata(x, axis=-1, nan_policy="propagate")


def _signs(x: np.ndarray) -> np.ndarray:
    """Sign of every within-row difference x_i - x_j over the upper triangle i < j: (B, K(K-1)/2)."""
    i, j = np.triu_indices(x.shape[-1], k=1)
    return np.sign(x[..., i] - x[..., j])


def _kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall tau-b of each row pair (ties in either row shrink the denominator)."""
    sx, sy = _signs(x), _signs(y)
    den = np.sqrt((sx * sx).sum(-1) * (sy * sy).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        tau = (sx * sy).sum(-1) / den
    return np.where(den > 0, tau, np.nan)


def _accuracy_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pairwise accuracy: share of pairs ordered alike; a pair tied on either side counts half."""
    prod = _signs(x) * _signs(y)
    score = np.where(prod > 0, 1.0, np.where(prod < 0, 0.0, 0.5))
    out = score.mean(-1) if score.shape[-1] else np.full(score.shape[:-1], np.nan)
    bad = np.isnan(x).any(-1) | np.isnan(y).any(-1)
    return np.where(bad, np.nan, out)


def _corr_rows(x: np.ndarray, y: np.ndarray, method: str) -> np.ndarray:
    """Correlation (or pairwise accuracy) between matching rows of x and y, shapes (B, K) broadcastable."""
    x, y = np.broadcast_arrays(np.atleast_2d(x), np.atleast_2d(y))
    if method == "pearson":
        return _pearson_rows(x, y)
    if method == "spearman":
        return _pearson_rows(_rank_rows(x), _rank_rows(y))
    # Kendall and accuracy build (B, K(K-1)/2) sign arrays: chunk B so memory stays bounded for large K.
    func = _kendall_rows if method == "kendall" else _accuracy_rows
    n_pairs = max(x.shape[-1] * (x.shape[-1] - 1) // 2, 1)
    step = max(1, 4_000_000 // n_pairs)
    return np.concatenate([func(x[s:s + step], y[s:s + step]) for s in range(0, len(x), step)])


def _weighted_midranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mid-ranks of x in the sample where observation j appears w[b, j] times, for every row b of w.

    The rank of a value is (weight strictly below) + (weight of its tie group + 1) / 2: exactly the
    mid-rank it has in the expanded resample, so Spearman under weights is the weighted Pearson of these.
    """
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    group = np.cumsum(np.r_[True, xs[1:] != xs[:-1]]) - 1
    tot = np.add.reduceat(w[:, order], starts, axis=1)  # (B, G) weight per tie group
    below = np.cumsum(tot, axis=1) - tot
    ranks_sorted = (below + (tot + 1.0) / 2.0)[:, group]
    out = np.empty_like(ranks_sorted)
    out[:, order] = ranks_sorted
    return out


def _weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson correlation under observation weights w (B, N); x, y are (N,) or (B, N)."""
    sw = w.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = (w * x).sum(-1, keepdims=True) / sw
        my = (w * y).sum(-1, keepdims=True) / sw
        xc, yc = x - mx, y - my
        sxy = (w * xc * yc).sum(-1)
        den = np.sqrt((w * xc * xc).sum(-1) * (w * yc * yc).sum(-1))
        r = sxy / den
    return np.where(den > 1e-12 * np.maximum(1.0, np.abs(sxy)), np.clip(r, -1.0, 1.0), np.nan)


def _weighted_corr(x: np.ndarray, y: np.ndarray, w: np.ndarray, method: str) -> np.ndarray:
    """Correlation of paired observations under each row of weights w (B, N): one value per row."""
    if method == "pearson":
        return _weighted_pearson(x, y, w)
    if method == "spearman":
        return _weighted_pearson(_weighted_midranks(x, w), _weighted_midranks(y, w), w)
    if len(x) <= _KENDALL_MATRIX_MAX:
        return _weighted_kendall(x, y, w)
    # Too many videos for the N x N sign matrices: expand each resample (O(N log N) per row in scipy).
    out = np.full(len(w), np.nan)
    for b, row in enumerate(w):
        idx = np.repeat(np.arange(len(x)), row.astype(np.int64))
        if len(idx) > 1:
            out[b] = scipy.stats.kendalltau(x[idx], y[idx]).statistic
    return out


def _weighted_kendall(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Kendall tau-b of the expanded resample for each row of weights w (B, N), without expanding it.

    Over pairs of expanded observations, concordance sums to w' (Sx * Sy) w / 2 with Sx the N x N matrix of
    sign(x_i - x_j) (copies of one observation are tied, sign 0), and the untied pair counts to w' |Sx| w / 2:
    three matrix products per batch of resamples instead of B sorts.
    """
    # Signs are exact in float32; resample batches use it to halve memory and time, the point estimate float64.
    dtype = np.float64 if len(w) == 1 else np.float32
    sx = np.sign(x[:, None] - x[None, :]).astype(dtype)
    sy = np.sign(y[:, None] - y[None, :]).astype(dtype)
    wd = w.astype(dtype)
    num = ((wd @ (sx * sy)) * wd).sum(-1, dtype=np.float64)
    tx = ((wd @ np.abs(sx)) * wd).sum(-1, dtype=np.float64)
    ty = ((wd @ np.abs(sy)) * wd).sum(-1, dtype=np.float64)
    den = np.sqrt(tx * ty)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.clip(num / den, -1.0, 1.0), np.nan)


def _permutation_p(x: np.ndarray, y: np.ndarray, method: str, rng: np.random.Generator) -> float:
    """Two-sided permutation p-value for no association between x and y across models.

    Exact (all n! orderings) for n <= 8, else 9,999 random orderings with the usual +1 correction.
    """
    n = len(x)
    if n < 3:
        return float("nan")
    if n <= _EXACT_PERMUTATIONS:
        perms = np.array(list(itertools.permutations(range(n))))
    else:
        perms = rng.permuted(np.tile(np.arange(n), (9_999, 1)), axis=1)
    obs = _corr_rows(x, y, method)[0]
    stats = _corr_rows(np.broadcast_to(x, perms.shape), y[perms], method)
    centre = 0.5 if method == "accuracy" else 0.0
    if np.isnan(obs):
        return float("nan")
    extreme = np.abs(stats - centre) >= abs(obs - centre) - 1e-12
    if n <= _EXACT_PERMUTATIONS:
        return float(extreme.mean())
    return float((1 + extreme.sum()) / (1 + len(perms)))


def _fisher_interval(r: float, n: int, method: str, confidence: float) -> tuple[float, float]:
    """Normal interval on the Fisher z scale; treats the n units (models, videos) as a random sample."""
    z = scipy.stats.norm.ppf(0.5 + confidence / 2)
    if method == "accuracy":
        # With no ties, pairwise accuracy = (1 + Kendall tau) / 2: map Kendall's interval.
        lo, hi = _fisher_interval(2 * r - 1, n, "kendall", confidence)
        return (1 + lo) / 2, (1 + hi) / 2
    min_n = 5 if method == "kendall" else 4
    # |r| = 1 sits at infinity on the z scale: no finite standard error describes it.
    if not np.isfinite(r) or n < min_n or abs(r) > 0.9999:
        return float("nan"), float("nan")
    if method == "kendall":
        se = math.sqrt(0.437 / (n - 4))  # Fieller, Hartley and Pearson (1957)
    elif method == "spearman":
        se = math.sqrt((1 + r * r / 2) / (n - 3))  # Bonett and Wright (2000)
    else:
        se = 1.0 / math.sqrt(n - 3)
    zr = math.atanh(min(max(r, -0.999999), 0.999999))
    return math.tanh(zr - z * se), math.tanh(zr + z * se)


def _percentile(draws: np.ndarray, confidence: float) -> tuple[float, float, int]:
    """Percentile interval of the finite draws and how many draws were undefined."""
    ok = draws[np.isfinite(draws)]
    if len(ok) < 2:
        return float("nan"), float("nan"), int(len(draws) - len(ok))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(ok, [alpha, 1 - alpha])
    return float(lo), float(hi), int(len(draws) - len(ok))


# ---------------------------------------------------------------------------------------------- Bradley-Terry


def _bt_point(pc: np.ndarray, pi: np.ndarray, pj: np.ndarray, models: Sequence[str]) -> np.ndarray:
    """Full-data strengths from the project's engine (:func:`analysis.bt.fit_bt`, ties as half a win)."""
    tot = pc.sum(0)
    keep = tot.sum(1) > 0
    outcomes = ["win_a", "win_b", "tie"]
    rows = [(models[a], models[b], outcomes[c], tot[p, c])
            for p, (a, b) in enumerate(zip(pi, pj, strict=True)) if keep[p] for c in range(3) if tot[p, c] > 0]
    counts = pd.DataFrame(rows, columns=["model_a", "model_b", "outcome", "count"])
    counts["count"] = counts["count"].round().astype(np.int64)
    table = bt.pair_table(counts)
    fit = bt.fit_bt(table, ties="half")
    return pd.Series(fit.theta, index=[str(m) for m in table.models]).reindex(list(models)).to_numpy()


# ---------------------------------------------------------------------------------------------- preparing data


@dataclass
class _Human:
    """One human measure reduced to integer codes and per-cluster sufficient statistics over the matched models.

    Videos are (item, model) cells; ``video`` holds per-video arrays (item, model, cl, value: the mean over
    raters), ``vote`` per-judgement arrays (item, a, b, outcome 0 = a wins / 1 = b wins / 2 = tie, cl).
    """

    name: str
    kind: str  # "ratings", "battles" or "aggregate"
    models: list[str]
    clusters: pd.Index | None = None
    items: pd.Index | None = None  # unique items (a MultiIndex for several item columns)
    video: dict[str, np.ndarray] | None = None
    h_sum: np.ndarray | None = None  # (C, K) sums of per-video mean ratings
    h_cnt: np.ndarray | None = None  # (C, K) numbers of videos
    pi: np.ndarray | None = None  # (P,) pair codes, pi < pj
    pj: np.ndarray | None = None
    pc: np.ndarray | None = None  # (C, P, 3) wins of pi, wins of pj, ties
    vote: dict[str, np.ndarray] | None = None
    values: np.ndarray | None = None  # (K,) per-model values (aggregate kind)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Metric:
    """One metric over the matched models: fixed per-model values, or per-video scores on the human items."""

    name: str
    per_video: bool
    values: np.ndarray | None = None  # (K,) per-model values (fixed)
    table: np.ndarray | None = None  # (I, K) per-video scores on the human side's items, NaN where absent
    m_sum: np.ndarray | None = None  # (C, K) sums over videos the human side also has
    m_cnt: np.ndarray | None = None
    unmatched: int = 0  # metric videos with no human counterpart
    examples: list[str] = field(default_factory=list)


def _as_list(cols: str | Sequence[str] | None) -> list[str]:
    if cols is None:
        return []
    return [cols] if isinstance(cols, str) else list(cols)


def _need(df: pd.DataFrame, cols: Iterable[str], side: str) -> None:
    missing = [c for c in dict.fromkeys(cols) if c not in df.columns]
    if missing:
        raise CorrelationError(f"{side} data lack column(s) {missing}; found {list(df.columns)}")


def _is_battles(df: pd.DataFrame) -> bool:
    return {"model_a", "model_b", "winner"} <= set(df.columns)


def _human_models(human: pd.DataFrame, model_col: str) -> set[str]:
    if _is_battles(human):
        return set(human["model_a"].astype(str)) | set(human["model_b"].astype(str))
    return set(human[model_col].astype(str))


def _short(names: Sequence[str], limit: int = 8) -> str:
    names = list(names)
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def match_models(human_models: Iterable[str], metric_models: Iterable[str]) -> tuple[list[str], str, dict]:
    """Models on both sides, a note on those on one side only, and the full lists.

    Raises
    ------
    CorrelationError
        No model in common; the message lists both sides (and close spellings, which often explain it).
    """
    h, m = set(map(str, human_models)), set(map(str, metric_models))
    common = sorted(h & m)
    h_only, m_only = sorted(h - m), sorted(m - h)
    hints = []
    for name in h_only:
        close = difflib.get_close_matches(name, m_only, n=1, cutoff=0.6)
        if close:
            hints.append(f"{name}~{close[0]}")
    hint = f" (close spellings: {', '.join(hints)}; pass model_map= to pair them)" if hints else ""
    if not common:
        raise CorrelationError(f"no models in common between the human side [{_short(sorted(h), 20)}] and the "
                               f"metric side [{_short(sorted(m), 30)}]{hint}")
    parts = []
    if h_only:
        parts.append(f"human-only models left out (no metric score): {', '.join(h_only)}")
    if m_only:
        parts.append(f"{len(m_only)} metric-only model(s) left out: {_short(m_only, 6)}")
    note = "; ".join(parts) + hint if parts else ""
    return common, note, {"human_only": h_only, "metric_only": m_only, "matched": common}


def _rename_models(df: pd.DataFrame, model_col: str, model_map: Mapping[str, str] | None) -> pd.DataFrame:
    """Human model names spelled the metric's way (model_map: human name -> metric name)."""
    if not model_map:
        return df
    out = df.copy()
    cols = ["model_a", "model_b"] if _is_battles(df) else [model_col]
    for col in cols:
        out[col] = out[col].astype(str).map(lambda v: model_map.get(v, v))
    return out


def _keys(df: pd.DataFrame, cols: list[str]) -> pd.Index:
    """The rows' key values as an Index (one column) or a MultiIndex (several), for lookups by get_indexer."""
    return pd.Index(df[cols[0]]) if len(cols) == 1 else pd.MultiIndex.from_frame(df[cols])


def _factorize(df: pd.DataFrame, cols: list[str]) -> tuple[np.ndarray, pd.Index]:
    """Integer code of each row's key and the sorted unique keys."""
    codes, uniques = pd.factorize(_keys(df, cols), sort=True)
    return codes.astype(np.int64), pd.Index(uniques) if len(cols) == 1 else uniques


def _pair_counts(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, cl: np.ndarray, k: int, n_clusters: int
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C, P, 3) per-cluster pair outcome counts from per-judgement codes (outcome: 0 a wins, 1 b wins, 2 tie)."""
    pi, pj = np.triu_indices(k, k=1)
    pair_of = np.full((k, k), -1)
    pair_of[pi, pj] = np.arange(len(pi))
    flip = a > b
    lo, hi = np.where(flip, b, a), np.where(flip, a, b)
    col = np.where(flip & (outcome < 2), 1 - outcome, outcome)
    pc = np.zeros((n_clusters, len(pi), 3))
    np.add.at(pc, (cl, pair_of[lo, hi], col), 1.0)
    return pi, pj, pc


def _outcome_codes(winner: pd.Series) -> np.ndarray:
    win = winner.astype(str).to_numpy()
    return np.where(win == "model_a", 0, np.where(win == "model_b", 1, 2))


def _ratings_votes(item: np.ndarray, rater: np.ndarray | None, model: np.ndarray, score: np.ndarray,
                   models: list[str]) -> dict[str, np.ndarray]:
    """Human pairwise judgements via :func:`analysis.datasets.ratings_to_pairwise`: within an item (and rater),
    every pair of rated models, the higher score wins, equal scores tie."""
    frame = pd.DataFrame({"_item": item, "model": np.asarray(models, dtype=object)[model], "score": score})
    keys = ["_item"]
    if rater is not None:
        frame["_rater"] = rater
        keys.append("_rater")
    battles = ratings_to_pairwise(frame, keys, "model", "score")
    code = pd.Index(models)
    return {"item": battles["_item"].to_numpy(np.int64),
            "a": code.get_indexer(battles["model_a"].astype(str)),
            "b": code.get_indexer(battles["model_b"].astype(str)),
            "outcome": _outcome_codes(battles["winner"])}


def _prepare_ratings(human: pd.DataFrame, col: str, models: list[str], *, model_col: str, items: list[str],
                     rater_col: str | None, cluster: list[str], need_pairs: bool) -> _Human:
    """Ratings -> per-video means, per-cluster sums, and (if needed) per-cluster pair counts."""
    k = len(models)
    df = human[human[model_col].astype(str).isin(models)]
    score = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    notes = []
    if np.isnan(score).all():
        raise CorrelationError(f"human column {col!r} has no numeric value")
    if np.isnan(score).any():
        notes.append(f"{int(np.isnan(score).sum())} human rating(s) without a value left out")
        df, score = df[~np.isnan(score)], score[~np.isnan(score)]
    item, items_index = _factorize(df, items)
    cl_row, clusters = _factorize(df, cluster)
    # Items are resampled whole, so each item must sit inside one cluster.
    item_cl = np.full(len(items_index), -1)
    item_cl[item] = cl_row
    if (item_cl[item] != cl_row).any():
        raise CorrelationError(f"cluster column(s) {cluster} vary within an item, so items cannot be resampled "
                               f"whole; choose a coarser cluster (e.g. the prompt) or a finer item")
    model = pd.Index(models).get_indexer(df[model_col].astype(str))
    cell, inv = np.unique(item * k + model, return_inverse=True)
    value = np.bincount(inv, score) / np.bincount(inv)
    video = {"item": cell // k, "model": cell % k, "cl": item_cl[cell // k], "value": value}
    c = len(clusters)
    h_sum = np.zeros((c, k))
    h_cnt = np.zeros((c, k))
    np.add.at(h_sum, (video["cl"], video["model"]), value)
    np.add.at(h_cnt, (video["cl"], video["model"]), 1.0)
    h = _Human(col, "ratings", models, clusters, items_index, video, h_sum, h_cnt, notes=notes)
    if need_pairs:
        if rater_col is not None:
            vote = _ratings_votes(item, df[rater_col].to_numpy(), model, score, models)
        else:
            # No rater column: compare videos by their mean rating.
            vote = _ratings_votes(video["item"], None, video["model"], value, models)
        vote["cl"] = item_cl[vote["item"]]
        h.vote = vote
        h.pi, h.pj, h.pc = _pair_counts(vote["a"], vote["b"], vote["outcome"], vote["cl"], k, c)
    return h


def _prepare_battles(human: pd.DataFrame, col: str, models: list[str], *, items: list[str], cluster: list[str]
                     ) -> _Human:
    """Battles (validated by :func:`analysis.votes.read_votes`) -> per-cluster pair counts and judgements."""
    checked = read_votes(human[["model_a", "model_b", "winner"]])  # same rows, same order (or an error)
    code = pd.Index(models)
    a = code.get_indexer(checked["model_a"].astype(str))
    b = code.get_indexer(checked["model_b"].astype(str))
    keep = (a >= 0) & (b >= 0)
    sub = human[keep]
    if cluster:
        cl, clusters = _factorize(sub, cluster)
    else:  # nothing to resample (ci='none' or 'fisher'): one cluster holds everything
        cl, clusters = np.zeros(len(sub), dtype=np.int64), pd.Index(["all"])
    vote = {"a": a[keep], "b": b[keep], "outcome": _outcome_codes(checked["winner"][keep]), "cl": cl}
    items_index = None
    if items:
        vote["item"], items_index = _factorize(sub, items)
    h = _Human(col, "battles", models, clusters, items_index, vote=vote)
    h.pi, h.pj, h.pc = _pair_counts(vote["a"], vote["b"], vote["outcome"], cl, len(models), len(clusters))
    return h


def _prepare_human(human: pd.DataFrame, col: str, models: list[str], *, model_col: str, items: list[str],
                   rater_col: str | None, cluster: list[str], need_pairs: bool) -> _Human:
    """Reduce one human measure to codes and per-cluster statistics over the matched models."""
    if _is_battles(human):
        return _prepare_battles(human, col, models, items=items, cluster=cluster)
    if not items:
        df = human[[model_col, col]].copy()
        df[model_col] = df[model_col].astype(str)
        dup = df[model_col].duplicated(keep=False)
        if dup.any():
            raise CorrelationError(f"human data have several rows per model (e.g. {df.loc[dup, model_col].iloc[0]!r})"
                                   f": name the item column(s) with item_cols=, or give one row per model")
        values = pd.to_numeric(df.set_index(model_col)[col], errors="coerce").reindex(models).to_numpy(float)
        return _Human(col, "aggregate", models, values=values)
    return _prepare_ratings(human, col, models, model_col=model_col, items=items, rater_col=rater_col,
                            cluster=cluster, need_pairs=need_pairs)


def _prepare_metric(metric: pd.DataFrame, col: str, h: _Human, *, model_col: str, items: list[str]) -> _Metric:
    """One metric over the matched models: per video when the metric has the item columns, else per model."""
    models = h.models
    score = pd.to_numeric(metric[col], errors="coerce").to_numpy(float)
    names = metric[model_col].astype(str)
    per_video = bool(items) and set(items) <= set(metric.columns)
    if not per_video:
        dup = names.duplicated(keep=False)
        if dup.any():
            raise CorrelationError(f"metric data have several rows per model (e.g. {names[dup].iloc[0]!r}) but not "
                                   f"the item column(s) {items}: give per-video keys or one row per model")
        return _Metric(col, False, values=pd.Series(score, index=names.to_numpy()).reindex(models).to_numpy(float))
    model = pd.Index(models).get_indexer(names)
    if h.items is None:
        # Nothing to pair videos with (per-model human data): the metric enters as its per-model mean, fixed.
        ok = model >= 0
        values = pd.Series(score[ok]).groupby(model[ok]).mean().reindex(range(len(models))).to_numpy(float)
        return _Metric(col, True, values=values)
    item = h.items.get_indexer(_keys(metric, items))
    ok = (item >= 0) & (model >= 0) & np.isfinite(score)
    k = len(models)
    cell, inv = np.unique(item[ok] * k + model[ok], return_inverse=True)
    table = np.full((len(h.items), k), np.nan)
    table[cell // k, cell % k] = np.bincount(inv, score[ok]) / np.bincount(inv)  # duplicates: their mean
    out = _Metric(col, True, table=table)
    if h.video is not None:
        has_human = np.zeros_like(table, dtype=bool)
        has_human[h.video["item"], h.video["model"]] = True
        out.unmatched = int((~ok & (model >= 0)).sum() + (np.isfinite(table) & ~has_human).sum())
        # Per-cluster sums over the videos both sides have, so a resample recomputes the metric means too.
        v = np.isfinite(table[h.video["item"], h.video["model"]])
        cl, mk = h.video["cl"][v], h.video["model"][v]
        out.m_sum = np.zeros((len(h.clusters), k))
        out.m_cnt = np.zeros((len(h.clusters), k))
        np.add.at(out.m_sum, (cl, mk), table[h.video["item"][v], mk])
        np.add.at(out.m_cnt, (cl, mk), 1.0)
    else:
        # Battles carry no per-video human score: the metric's per-model means stay fixed at the model level.
        cnt = np.isfinite(table).sum(0)
        out.values = np.where(cnt > 0, np.nansum(table, 0) / np.maximum(cnt, 1), np.nan)
    out.examples = [str(x) for x in _keys(metric, items)[:3]]
    return out


# ---------------------------------------------------------------------------------------------- per-model scores


def _human_scores(h: _Human, w: np.ndarray, scale: str, theta0: np.ndarray | None = None) -> np.ndarray:
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
    return bt.fit_bt_batch(pc, h.pi, h.pj, k, theta0) * _ELO + 1000.0


def _human_point(h: _Human, scale: str) -> np.ndarray:
    """(K,) full-data human scores; the Bradley-Terry board comes from the project's engine."""
    if h.kind != "aggregate" and scale == "bt":
        return _bt_point(h.pc, h.pi, h.pj, h.models) * _ELO + 1000.0
    return _human_scores(h, _ones(h), scale)[0]


def _ones(h: _Human) -> np.ndarray:
    """Weights of the full data: every cluster once."""
    return np.ones((1, len(h.clusters) if h.clusters is not None else 1))


def _metric_scores(m: _Metric, w: np.ndarray) -> np.ndarray:
    if m.m_sum is None:
        return np.broadcast_to(m.values, (len(w), len(m.values)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w @ m.m_sum) / (w @ m.m_cnt)


# ---------------------------------------------------------------------------------------------- levels


@dataclass
class _Ctx:
    """What every level needs: options, the resampling weights, and the notes that apply to every row."""

    methods: list[str]
    ci: str
    confidence: float
    scale: str
    metric_ties: str
    weights: np.ndarray | None  # (B, C) cluster multiplicities, None without a bootstrap
    rng: np.random.Generator
    cluster_label: str
    notes: list[str]
    cache: dict[str, np.ndarray] = field(default_factory=dict)  # human draws, shared by the metrics of a call


def _row(level: str, h: str, m: str, method: str, est: float, lo: float, hi: float, n: int, notes: list[str],
         *, group: str = "all", n_clusters: int | None = None, ci: str = "", p: float = float("nan")) -> dict:
    return {"level": level, "human": h, "metric": m, "method": method, "group": group, "estimate": float(est),
            "lower": float(lo), "upper": float(hi), "n": int(n), "n_clusters": n_clusters, "ci": ci,
            "p_value": float(p), "note": "; ".join(x for x in notes if x)}


def _interval(ctx: _Ctx, est: float, draws: np.ndarray | None, n: int, method: str, notes: list[str]
              ) -> tuple[float, float, str]:
    """Interval for one estimate by the requested method; a note when some resamples were undefined."""
    if ctx.ci == "none" or not np.isfinite(est):
        return float("nan"), float("nan"), "none"
    if ctx.ci == "fisher" or draws is None:
        lo, hi = _fisher_interval(est, n, method, ctx.confidence)
        if not np.isfinite(lo):
            notes.append(f"no Fisher interval at n = {n}" + (" with perfect agreement" if abs(est) > 0.9999 else ""))
        elif n < 10:
            notes.append(f"Fisher interval over n = {n} units is a rough approximation")
        return lo, hi, "fisher"
    lo, hi, undefined = _percentile(draws, ctx.confidence)
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


def _model_level(h: _Human, m: _Metric, ctx: _Ctx) -> list[dict]:
    """Per-model human score against the per-model metric: the requested correlations plus pairwise accuracy."""
    x = _human_point(h, ctx.scale)
    y = _metric_scores(m, _ones(h))[0]
    ok = np.isfinite(x) & np.isfinite(y)
    x_draws = y_draws = None
    if ctx.weights is not None and ctx.ci == "bootstrap":
        if "model" not in ctx.cache:  # one refit of the human board per resample, whatever the metric
            theta0 = (x - 1000.0) / _ELO if ctx.scale == "bt" else None
            ctx.cache["model"] = _human_scores(h, ctx.weights, ctx.scale, theta0)
        x_draws = ctx.cache["model"]
        y_draws = _metric_scores(m, ctx.weights)
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
            est = float(_corr_rows(x[ok], y[ok], method)[0])
            p = _permutation_p(x[ok], y[ok], method, ctx.rng)
        draws = None if x_draws is None else _corr_rows(x_draws[:, ok], y_draws[:, ok], method)
        lo, hi, how = _interval(ctx, est, draws, n, method, notes)
        rows.append(_row("model", h.name, m.name, method, est, lo, hi, n, notes,
                         n_clusters=None if h.clusters is None else len(h.clusters), ci=how, p=p))
    return rows


def _pair_rates(h: _Human, w: np.ndarray) -> np.ndarray:
    pc = (w @ h.pc.reshape(len(h.pc), -1)).reshape(len(w), *h.pc.shape[1:])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (pc[..., 0] + 0.5 * pc[..., 2]) / pc.sum(-1)


def _symmetric(rate: np.ndarray, diff: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Each pair in both orientations: the correlation no longer depends on which model is called "a".
    return np.concatenate([rate, 1 - rate], axis=-1), np.concatenate([diff, -diff], axis=-1)


def _pair_level(h: _Human, m: _Metric, ctx: _Ctx) -> list[dict]:
    """Per model pair, human preference rate (ties half) against the metric difference, both orientations."""
    if h.pc is None:
        raise CorrelationError("level='pair' needs item-level human ratings or battles, not per-model aggregates")
    ones = np.ones((1, len(h.clusters)))
    rate = _pair_rates(h, ones)[0]
    ys = _metric_scores(m, ones)[0]
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
        dr = _metric_scores(m, ctx.weights)
        xd, yd = _symmetric(ctx.cache["pair"][:, ok], (dr[:, h.pi] - dr[:, h.pj])[:, ok])
    rows = []
    for method in ctx.methods:
        notes = list(notes0)
        est = float(_corr_rows(x, y, method)[0]) if n >= 2 else float("nan")
        draws = None if xd is None else _corr_rows(xd, yd, method)
        lo, hi, how = _interval(ctx, est, draws, n, method, notes)
        rows.append(_row("pair", h.name, m.name, method, est, lo, hi, n, notes, n_clusters=len(h.clusters), ci=how))
    return rows


def _vote_metric(h: _Human, m: _Metric) -> np.ndarray:
    """Metric difference (a minus b) for each human judgement; NaN where a video has no metric score."""
    v = h.vote
    if m.table is None:
        return m.values[v["a"]] - m.values[v["b"]]
    if "item" not in v:
        raise CorrelationError("per-video metric scores need the item column(s) in the human battles")
    return m.table[v["item"], v["a"]] - m.table[v["item"], v["b"]]


def _vote_level(h: _Human, m: _Metric, ctx: _Ctx) -> list[dict]:
    """Share of decisive human judgements whose clip the metric also prefers (metric ties per ``metric_ties``)."""
    if h.vote is None:
        raise CorrelationError("level='vote' needs item-level human ratings or battles, not per-model aggregates")
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
        lo, hi = _wilson(est, n, ctx.confidence)
        how = "wilson"
        notes.append("Wilson interval treats judgements as independent, which judgements of one item are not")
    else:
        lo, hi, how = _interval(ctx, est, draws, n, "pearson", notes)
    return [_row("vote", h.name, m.name, "agreement", est, lo, hi, n, notes, n_clusters=c, ci=how)]


def _wilson(p: float, n: int, confidence: float) -> tuple[float, float]:
    z = scipy.stats.norm.ppf(0.5 + confidence / 2)
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return centre - half, centre + half


def _video_level(h: _Human, m: _Metric, ctx: _Ctx) -> list[dict]:
    """Per-video human score against the metric, pooled (group ``"all"``) and within each model."""
    if h.video is None or m.table is None:
        raise CorrelationError("level='video' needs per-video human ratings and per-video metric scores "
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
            est = float(_weighted_corr(x, y, np.ones((1, n)), method)[0]) if n >= 3 else float("nan")
            draws = None
            if ctx.weights is not None and ctx.ci == "bootstrap" and np.isfinite(est):
                draws = _weighted_corr(x, y, ctx.weights[:, cl], method)
            lo, hi, how = _interval(ctx, est, draws, n, method, notes)
            rows.append(_row("video", h.name, m.name, method, est, lo, hi, n, notes, group=group, n_clusters=n_cl,
                             ci=how))
    return rows


_LEVEL_FUNCS = {"model": _model_level, "pair": _pair_level, "vote": _vote_level, "video": _video_level}


# ---------------------------------------------------------------------------------------------- public API


def correlate(
    human: pd.DataFrame,
    metric: pd.DataFrame,
    *,
    level: str | Sequence[str] = "model",
    method: str | Sequence[str] = "spearman",
    ci: str = "bootstrap",
    resamples: int = 1000,
    cluster: str | Sequence[str] | None = None,
    seed: int | None = None,
    human_col: str | Sequence[str] = "score",
    metric_col: str | Sequence[str] = "score",
    model_col: str = "model",
    item_cols: str | Sequence[str] | None = None,
    rater_col: str | None = None,
    human_scale: str = "bt",
    metric_ties: str = "half",
    model_map: Mapping[str, str] | None = None,
    confidence: float = 0.95,
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
        board), model level only, with ``ci="fisher"`` or ``"none"``.
    metric
        Per-model scores (one row per model) or per-video scores (``item_cols`` + ``model_col``). May be the
        same frame as ``human``.
    level
        ``"model"``, ``"pair"``, ``"vote"``, ``"video"``, or several.
    method
        ``"spearman"``, ``"kendall"`` (tau-b) or ``"pearson"``, or several. The model level adds pairwise
        accuracy (method ``"accuracy"``); the vote level reports an agreement rate (method ``"agreement"``).
    ci
        ``"bootstrap"``: resample clusters of items (see ``cluster``) and recompute both sides;
        ``"fisher"``: normal interval on the Fisher z scale over the units (models, pairs, videos; Wilson for
        votes), for published aggregates; ``"none"``.
    resamples, seed, confidence
        Bootstrap size, random seed, interval level. The same resamples serve every level, measure and metric
        of one call (as long as the measures cover the same clusters), so rows are paired draws.
    cluster
        Column(s) whose values are resampled whole; default: each item. Use the prompt when one prompt has
        several generations (they share the prompt's difficulty).
    human_col, metric_col
        Score column(s); several give one row per combination.
    model_col, item_cols, rater_col
        Column names. ``rater_col`` keeps each rater's comparisons separate when deriving pairwise judgements
        (:func:`analysis.datasets.ratings_to_pairwise`); per-video human scores average over raters.
    human_scale
        Per-model human score at the model level: ``"bt"`` (Bradley-Terry board, Elo points, from within-item
        comparisons, ties half), ``"winrate"`` ((wins + ties / 2) / comparisons, VBench's human-alignment
        score) or ``"mean"`` (mean rating; confounded with item difficulty when models saw different items).
    metric_ties
        Vote level: a judgement where the metric scores both clips equally counts ``"half"`` an agreement or is
        left out (``"drop"``); either way the count is in the note.
    model_map
        Human model name -> metric model name, for spellings that differ. Models on one side only are left
        out and listed in the note (and ``attrs["unmatched"]``), never dropped silently.
    case
        Label for the ``case`` column.

    Returns
    -------
    pandas.DataFrame
        One row per (level, human, metric, method, group) with columns :data:`COLUMNS`: estimate, lower, upper,
        n (models, pairs, decisive judgements or videos), n_clusters (clusters resampled), ci (how the interval
        was made), p_value (model level: permutation test of no association across the models, exact up to 8
        models) and note (what limits the reading). ``group`` is ``"all"`` or, at the video level, a model.
        A constant side gives estimate NaN with the reason in the note. ``attrs``: unmatched, models, options.

    Raises
    ------
    CorrelationError
        No model (or, at the video level, no video) in common; the message lists both sides. A missing
        column, or a level the data cannot support.
    """
    levels, methods = _as_list(level), _as_list(method)
    hcols, mcols = _as_list(human_col), _as_list(metric_col)
    items, cluster_cols = _as_list(item_cols), _as_list(cluster) or _as_list(item_cols)
    _check_options(levels, methods, ci, human_scale, metric_ties, resamples, confidence)
    _check_columns(human, metric, hcols, mcols, model_col, items, cluster_cols, rater_col, ci)
    human = _rename_models(human, model_col, model_map)
    models, match_note, unmatched = match_models(_human_models(human, model_col), metric[model_col].astype(str))
    rng = np.random.default_rng(seed)
    need_pairs = bool({"pair", "vote"} & set(levels)) or ("model" in levels and human_scale != "mean")
    label = "+".join(cluster_cols) if cluster_cols else "item"
    rows: list[dict] = []
    weights, drawn_for = None, None
    for hcol in hcols:
        h = _prepare_human(human, hcol, models, model_col=model_col, items=items, rater_col=rater_col,
                           cluster=cluster_cols, need_pairs=need_pairs)
        _check_kind(h, levels, ci)
        # One set of resamples for every measure, metric and level on the same clusters: rows are paired draws.
        if ci == "bootstrap" and (drawn_for is None or not drawn_for.equals(h.clusters)):
            weights, drawn_for = _cluster_weights(len(h.clusters), resamples, rng), h.clusters
        ctx = _Ctx(methods, ci, confidence, human_scale, metric_ties, weights, rng, label, [match_note])
        for mcol in mcols:
            m = _prepare_metric(metric, mcol, h, model_col=model_col, items=items)
            for lev in levels:
                rows += _LEVEL_FUNCS[lev](h, m, ctx)
    out = pd.DataFrame(rows)
    out.insert(0, "case", case)
    out = out[COLUMNS]
    out["n_clusters"] = out["n_clusters"].astype("Int64")
    out.attrs.update(unmatched=unmatched, models=models,
                     options={"ci": ci, "resamples": resamples if ci == "bootstrap" else 0, "cluster": cluster_cols,
                              "human_scale": human_scale, "metric_ties": metric_ties, "confidence": confidence,
                              "seed": seed})
    return out


def _cluster_weights(n_clusters: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(B, C) multiplicities of each cluster in each resample: n_clusters draws with replacement."""
    wrng = np.random.default_rng(rng.integers(2**63))
    return wrng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters), size=resamples).astype(float)


def _check_columns(human: pd.DataFrame, metric: pd.DataFrame, hcols: list[str], mcols: list[str], model_col: str,
                   items: list[str], cluster: list[str], rater_col: str | None, ci: str) -> None:
    _need(metric, [model_col, *mcols], "metric")
    if _is_battles(human):
        if ci == "bootstrap" and not cluster:
            raise CorrelationError("battles need cluster= (e.g. the prompt column) to be resampled; or use ci='none'")
        _need(human, [*items, *cluster], "human battle")
    else:
        _need(human, [model_col, *hcols, *items, *cluster, *([rater_col] if rater_col else [])], "human")


def _check_kind(h: _Human, levels: list[str], ci: str) -> None:
    if h.kind != "aggregate":
        return
    if ci == "bootstrap":
        raise CorrelationError("the human data are per-model aggregates: there are no items to resample; use "
                               "ci='fisher' (treats the models as a sample) or ci='none'")
    if set(levels) - {"model"}:
        raise CorrelationError(f"levels {sorted(set(levels) - {'model'})} need item-level human data; "
                               "per-model aggregates support level='model' only")


def _check_options(levels: list[str], methods: list[str], ci: str, scale: str, ties: str, resamples: int,
                   confidence: float) -> None:
    bad = [x for x in levels if x not in LEVELS]
    if bad or not levels:
        raise CorrelationError(f"level must be among {list(LEVELS)}, not {bad or levels}")
    bad = [x for x in methods if x not in METHODS]
    if bad or not methods:
        raise CorrelationError(f"method must be among {list(METHODS)}, not {bad or methods}")
    if ci not in CI_METHODS:
        raise CorrelationError(f"ci must be one of {list(CI_METHODS)}, not {ci!r}")
    if scale not in HUMAN_SCALES:
        raise CorrelationError(f"human_scale must be one of {list(HUMAN_SCALES)}, not {scale!r}")
    if ties not in ("half", "drop"):
        raise CorrelationError(f"metric_ties must be 'half' or 'drop', not {ties!r}")
    if ci == "bootstrap" and int(resamples) < 2:
        raise CorrelationError(f"resamples must be at least 2, got {resamples}")
    if not 0 < confidence < 1:
        raise CorrelationError(f"confidence must be in (0, 1), got {confidence}")


def _prepare_both(human: pd.DataFrame, metric: pd.DataFrame, human_col: str, metric_col: str, model_col: str,
                  item_cols: str | Sequence[str] | None, rater_col: str | None, cluster: str | Sequence[str] | None,
                  model_map: Mapping[str, str] | None, need_pairs: bool) -> tuple[_Human, _Metric]:
    """Both sides over the matched models, as :func:`correlate` prepares them."""
    items, cl = _as_list(item_cols), _as_list(cluster) or _as_list(item_cols)
    _check_columns(human, metric, [human_col], [metric_col], model_col, items, cl, rater_col, "none")
    human = _rename_models(human, model_col, model_map)
    models, _, _ = match_models(_human_models(human, model_col), metric[model_col].astype(str))
    h = _prepare_human(human, human_col, models, model_col=model_col, items=items, rater_col=rater_col, cluster=cl,
                       need_pairs=need_pairs)
    return h, _prepare_metric(metric, metric_col, h, model_col=model_col, items=items)


def model_scores(human: pd.DataFrame, metric: pd.DataFrame, *, human_col: str = "score", metric_col: str = "score",
                 model_col: str = "model", item_cols: str | Sequence[str] | None = None, rater_col: str | None = None,
                 cluster: str | Sequence[str] | None = None, human_scale: str = "bt",
                 model_map: Mapping[str, str] | None = None, resamples: int = 1000, seed: int | None = None,
                 confidence: float = 0.95) -> pd.DataFrame:
    """The per-model table behind the model level: human score with its interval beside the metric score.

    Parameters are those of :func:`correlate` (one human and one metric column).

    Returns
    -------
    pandas.DataFrame
        model, human (Elo points for ``human_scale="bt"``), human_lower, human_upper (percentile interval over
        resampled clusters; NaN for aggregates), metric, metric_lower, metric_upper (NaN for fixed per-model
        metric values), sorted by human score.
    """
    h, m = _prepare_both(human, metric, human_col, metric_col, model_col, item_cols, rater_col, cluster, model_map,
                         need_pairs=human_scale != "mean")
    x = _human_point(h, human_scale)
    out = pd.DataFrame({"model": h.models, "human": x, "human_lower": np.nan, "human_upper": np.nan,
                        "metric": _metric_scores(m, _ones(h))[0], "metric_lower": np.nan, "metric_upper": np.nan})
    alpha = (1 - confidence) / 2
    if h.clusters is not None:
        w = _cluster_weights(len(h.clusters), resamples, np.random.default_rng(seed))
        xd = _human_scores(h, w, human_scale, (x - 1000.0) / _ELO if human_scale == "bt" else None)
        out["human_lower"], out["human_upper"] = np.nanquantile(xd, [alpha, 1 - alpha], axis=0)
        if m.m_sum is not None:
            out["metric_lower"], out["metric_upper"] = np.nanquantile(_metric_scores(m, w), [alpha, 1 - alpha], axis=0)
    return out.sort_values("human", ascending=False, ignore_index=True)


def pair_agreement(human: pd.DataFrame, metric: pd.DataFrame, *, human_col: str = "score",
                   metric_col: str = "score", model_col: str = "model", item_cols: str | Sequence[str] | None = None,
                   rater_col: str | None = None, cluster: str | Sequence[str] | None = None,
                   model_map: Mapping[str, str] | None = None, resamples: int = 1000, seed: int | None = None,
                   confidence: float = 0.95) -> pd.DataFrame:
    """The per-pair table behind the pair level: human preference rate with its interval beside the metric gap.

    Returns
    -------
    pandas.DataFrame
        One row per model pair: model_a, model_b, comparisons, rate (share of comparisons model_a won, ties
        half), rate_lower, rate_upper (percentile interval over resampled clusters), metric_a, metric_b,
        metric_diff (a minus b), agree (both sides prefer the same model; NaN when either is exactly even).
    """
    h, m = _prepare_both(human, metric, human_col, metric_col, model_col, item_cols, rater_col, cluster, model_map,
                         need_pairs=True)
    if h.pc is None:
        raise CorrelationError("pair_agreement needs item-level human ratings or battles")
    rate = _pair_rates(h, _ones(h))[0]
    w = _cluster_weights(len(h.clusters), resamples, np.random.default_rng(seed))
    alpha = (1 - confidence) / 2
    lo, hi = np.nanquantile(_pair_rates(h, w), [alpha, 1 - alpha], axis=0)
    ys = _metric_scores(m, _ones(h))[0]
    names = np.array(h.models)
    diff = ys[h.pi] - ys[h.pj]
    sign = np.sign(rate - 0.5) * np.sign(diff)
    return pd.DataFrame({
        "model_a": names[h.pi], "model_b": names[h.pj], "comparisons": h.pc.sum((0, 2)).astype(np.int64),
        "rate": rate, "rate_lower": lo, "rate_upper": hi, "metric_a": ys[h.pi], "metric_b": ys[h.pj],
        "metric_diff": diff, "agree": np.where(sign == 0, np.nan, sign > 0),
    })


# ---------------------------------------------------------------------------------------------- simulated truth


def simulate_ratings(n_models: int = 4, n_prompts: int = 40, *, prompt_sd: float = 1.0, rho_prompt: float = 0.5,
                     rho_video: float = 0.4, seed: int | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Human and metric scores with a known population agreement, for checking interval coverage.

    Every prompt has a shared effect on both sides, ``(u, v) ~ N(0, prompt_sd^2, corr rho_prompt)``; every video
    adds ``(e, f) ~ N(0, 1, corr rho_video)``: human = u + e, metric = v + f. Models have no effect, so a video's
    (human, metric) pair is bivariate normal with correlation rho = (prompt_sd^2 rho_prompt + rho_video) /
    (prompt_sd^2 + 1).

    Returns
    -------
    (pandas.DataFrame, dict)
        One row per video (model, prompt, human, metric), and the truth: ``video_pearson`` = rho,
        ``video_spearman`` = 6 / pi asin(rho / 2), and ``vote_agreement`` = 1/2 + asin(rho_video) / pi (two
        videos of one prompt share u and v, so the metric orders them like people with that probability).
    """
    rng = np.random.default_rng(seed)
    cov_p = prompt_sd**2 * np.array([[1.0, rho_prompt], [rho_prompt, 1.0]])
    uv = rng.multivariate_normal([0.0, 0.0], cov_p, size=n_prompts)
    ef = rng.multivariate_normal([0.0, 0.0], [[1.0, rho_video], [rho_video, 1.0]], size=(n_prompts, n_models))
    scores = uv[:, None, :] + ef
    df = pd.DataFrame({
        "model": np.tile([f"m{k}" for k in range(n_models)], n_prompts),
        "prompt": np.repeat(np.arange(n_prompts), n_models),
        "human": scores[..., 0].ravel(),
        "metric": scores[..., 1].ravel(),
    })
    rho = (prompt_sd**2 * rho_prompt + rho_video) / (prompt_sd**2 + 1)
    truth = {"video_pearson": rho, "video_spearman": 6 / math.pi * math.asin(rho / 2),
             "vote_agreement": 0.5 + math.asin(rho_video) / math.pi}
    return df, truth


def coverage(reps: int = 200, *, n_models: int = 4, n_prompts: int = 40, prompt_sd: float = 1.0,
             resamples: int = 200, cluster: bool = True, seed: int = 0, confidence: float = 0.95) -> pd.DataFrame:
    """How often the intervals of :func:`correlate` cover the known truth of :func:`simulate_ratings`.

    Parameters
    ----------
    reps, n_models, n_prompts, prompt_sd
        Repetitions, and the size and prompt effect of each simulated data set (see :func:`simulate_ratings`).
    cluster
        Resample prompts (True, the right unit here) or single videos (False: ignores that a prompt's videos
        share its effect, so intervals come out too narrow; useful as a check that coverage can fail).

    Returns
    -------
    pandas.DataFrame
        One row per (level, method): truth, coverage (share of reps whose interval holds the truth), its
        binomial standard error, mean width, mean estimate, reps.
    """
    rng = np.random.default_rng(seed)
    hits: dict[tuple[str, str], list[tuple[bool, float, float]]] = {}
    truth: dict[str, float] = {}
    for _ in range(reps):
        df, truth = simulate_ratings(n_models, n_prompts, prompt_sd=prompt_sd, seed=int(rng.integers(2**63)))
        df["video"] = np.arange(len(df))
        # Without clusters each video is its own item, so there are no within-item pairs: video level only.
        res = correlate(df, df, level=["video", "vote"] if cluster else "video", method=["spearman", "pearson"],
                        human_col="human", metric_col="metric", item_cols="prompt" if cluster else "video",
                        resamples=resamples, seed=int(rng.integers(2**63)), confidence=confidence)
        res = res[res["group"] == "all"]
        for r in res.itertuples():
            key = f"{r.level}_{r.method}" if r.level == "video" else "vote_agreement"
            hits.setdefault((r.level, r.method), []).append(
                (bool(r.lower <= truth[key] <= r.upper), r.upper - r.lower, r.estimate))
    rows = []
    for (lev, meth), got in hits.items():
        arr = np.array(got, dtype=float)
        cov = arr[:, 0].mean()
        key = f"{lev}_{meth}" if lev == "video" else "vote_agreement"
        rows.append({"level": lev, "method": meth, "truth": truth[key], "coverage": cov,
                     "coverage_se": math.sqrt(cov * (1 - cov) / len(arr)), "mean_width": arr[:, 1].mean(),
                     "mean_estimate": arr[:, 2].mean(), "reps": len(arr)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- real cases


def load_mapping(name: str) -> pd.DataFrame:
    """A name mapping shipped in the repository's ``data/`` folder (``videobench_vbench`` or ``genai_arena_vbench``).

    Returns
    -------
    pandas.DataFrame
        kind (``dimension`` or ``model``), source_name, target_name (empty: no counterpart), status, notes,
        source.
    """
    path = _DATA / f"{name}_mapping.csv"
    if not path.exists():
        raise FileNotFoundError(f"mapping file not found: {path}")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _drop_unrated(vb: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    # A rater slot giving 0 to every model of an item looks like "not rated" (see videobench_human's notes).
    block = vb.groupby(["dimension", "item", "rater"])["score"].transform("max") == 0
    n_blocks = int(vb.loc[block, ["dimension", "item", "rater"]].drop_duplicates().shape[0])
    return vb[~block], n_blocks


def videobench_vbench(*, levels: Sequence[str] = ("model", "pair", "vote"),
                      methods: Sequence[str] = ("spearman", "kendall"), human_scale: str = "bt",
                      resamples: int = 1000, seed: int = 0, path: str | None = None) -> pd.DataFrame:
    """Video-Bench human ratings of 7 models against their published VBench scores, per mapped dimension.

    The dimension and model-name mappings are in ``data/videobench_vbench_mapping.csv`` (with notes and
    sources). Human side: the 4 rating slots of every item, compared within item and slot; items resampled
    by prompt (3 generations per prompt share it). Metric side: published per-model percentages, fixed.
    Rater-slot blocks scored 0 for all seven models (11 blocks, a "not rated" mark) are left out.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS` rows; ``human`` is the Video-Bench dimension, ``metric`` ``vbench:<dimension>``.
        ``attrs["models"]``: the model mapping with, per model, whether a published VBench row exists.
    """
    from .datasets import published_vbench, videobench_human

    mapping = load_mapping("videobench_vbench")
    dims = mapping[mapping["kind"] == "dimension"]
    names = mapping[mapping["kind"] == "model"]
    model_map = dict(zip(names["source_name"], names["target_name"], strict=True))
    vbench = published_vbench()
    check = names.assign(has_vbench_row=names["target_name"].isin(vbench["model"]))
    # Only the mapped rows: the other 20 VBench models are not part of this comparison.
    vbench = vbench[vbench["model"].isin(names["target_name"])]
    missing = check.loc[~check["has_vbench_row"], "source_name"].tolist()
    vb, n_blocks = _drop_unrated(videobench_human(path=path))
    versions = check.loc[check["status"] != "same-model", "source_name"].tolist()
    extra = [f"{n_blocks} all-zero rater blocks left out" if n_blocks else "",
             f"model version differs or is unstated: {', '.join(versions)}" if versions else "",
             f"no VBench row: {', '.join(missing)}" if missing else ""]
    frames = []
    for dim, targets in dims.groupby("source_name", sort=False)["target_name"]:
        res = correlate(vb[vb["dimension"] == dim], vbench, level=levels, method=methods, human_col="score",
                        metric_col=list(targets), item_cols="item", rater_col="rater", cluster="prompt",
                        human_scale=human_scale, model_map=model_map, resamples=resamples, seed=seed,
                        case="videobench-vbench")
        res["human"] = dim
        res["metric"] = "vbench:" + res["metric"]
        frames.append(res)
    out = pd.concat(frames, ignore_index=True)
    out["note"] = ["; ".join(x for x in [note, *extra] if x) for note in out["note"]]
    out.attrs["models"] = check
    out.attrs["dimensions"] = dims
    return out


def t2vscore(*, levels: Sequence[str] = ("video", "model", "pair", "vote"),
             methods: Sequence[str] = ("spearman", "kendall"), human_scale: str = "bt", resamples: int = 1000,
             seed: int = 0, path: str | None = None) -> pd.DataFrame:
    """T2VScore TVGE: human quality and alignment of 2,543 videos against CLIP Score, X-CLIP, BLIP-BLEU, T2VScore-A.

    Both sides are per video, so every level is available and a resample of prompts recomputes both. Prompts
    are clustered by text (four texts occur under two ids each).
    """
    from .datasets import t2vscore_tvge

    df = t2vscore_tvge(path=path)
    out = correlate(df, df, level=levels, method=methods, human_col=["quality", "alignment"],
                    metric_col=["clip_score", "xclip_score", "blip_bleu", "t2vscore_a"], item_cols="prompt_id",
                    cluster="prompt", human_scale=human_scale, resamples=resamples, seed=seed, case="t2vscore")
    return out


def genai_arena_vbench(*, methods: Sequence[str] = ("spearman", "kendall"),
                       metrics: Sequence[str] = ("total_score", "quality_score", "semantic_score"),
                       path: str | None = None) -> pd.DataFrame:
    """GenAI-Arena video Elo (anonymous battles) against published VBench totals, for the models in both.

    Both sides are published aggregates, so the only sampling left is of models: intervals are Fisher-z
    intervals over models (``ci="fisher"``). Names are matched by ``data/genai_arena_vbench_mapping.csv``.
    Two variants per snapshot: ``strict`` (same model, VBench row verified: sources A/B) and ``broad`` (adds
    models whose VBench row is unverified or whose version is uncertain).

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS` rows; ``human`` is ``genai-arena <date> elo (strict|broad)``.
    """
    from .datasets import genai_arena_video, published_vbench

    mapping = load_mapping("genai_arena_vbench")
    arena = genai_arena_video(path=path)
    vbench = published_vbench()
    verified = set(vbench.loc[vbench["verified"] == "yes", "model"])
    frames = []
    for variant in ("strict", "broad"):
        usable = mapping[mapping["target_name"] != ""]
        if variant == "strict":
            usable = usable[(usable["status"] == "same-model") & usable["target_name"].isin(verified)]
        model_map = dict(zip(usable["source_name"], usable["target_name"], strict=True))
        for day, board in arena.groupby("date"):
            # Models outside the mapping keep their arena name, so match_models lists them as unmatched.
            human = board[["model", "elo_anony"]]
            # Only the VBench rows of models on this board: the rest of VBench is not part of the comparison.
            targets = {model_map[m] for m in board["model"] if m in model_map}
            metric = vbench[vbench["model"].isin(targets)]
            try:
                res = correlate(human, metric, level="model", method=methods, ci="fisher", human_col="elo_anony",
                                metric_col=list(metrics), model_map=model_map, case="genai-arena-vbench")
            except CorrelationError as err:
                res = pd.DataFrame([{"case": "genai-arena-vbench", "level": "model", "human": "elo_anony",
                                     "metric": ",".join(metrics), "method": "", "group": "all",
                                     "estimate": np.nan, "lower": np.nan, "upper": np.nan, "n": 0,
                                     "n_clusters": pd.NA, "ci": "none", "p_value": np.nan, "note": str(err)}])
            res["human"] = f"genai-arena {pd.Timestamp(day).date()} elo ({variant})"
            res["metric"] = "vbench:" + res["metric"]
            frames.append(res)
    out = pd.concat(frames, ignore_index=True)
    out.attrs["mapping"] = mapping
    return out


CASES = {"videobench-vbench": videobench_vbench, "t2vscore": t2vscore, "genai-arena-vbench": genai_arena_vbench}


def run_case(name: str, **options: Any) -> pd.DataFrame:
    """Run one real case by name (see :data:`CASES`); options go to the case function."""
    if name not in CASES:
        raise CorrelationError(f"unknown case {name!r}; choose one of {list(CASES)}")
    return CASES[name](**options)


# ---------------------------------------------------------------------------------------------- figure


def plot_correlations(data: pd.DataFrame, *, ax: Any = None, title: str | None = None) -> Any:
    """Forest plot: one line per row of a :func:`correlate` table, estimate with its interval, coloured by level.

    Returns the matplotlib Axes (seaborn-style: pass ``ax=`` to draw into an existing one).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 1.2 + 0.26 * len(data)))
    colours = dict(zip(LEVELS, ["C0", "C1", "C2", "C3"], strict=True))
    y = np.arange(len(data))[::-1]
    labels = []
    for yi, r in zip(y, data.itertuples(), strict=True):
        colour = colours.get(r.level, "C4")
        if np.isfinite(r.lower) and np.isfinite(r.upper):
            ax.plot([r.lower, r.upper], [yi, yi], color=colour, lw=1.6)
        ax.plot([r.estimate], [yi], "o", color=colour, ms=4)
        group = "" if r.group == "all" else f" [{r.group}]"
        labels.append(f"{r.level}: {r.human} ~ {r.metric} ({r.method}){group}")
    ax.set_yticks(y, labels, fontsize=7)
    ax.axvline(0, color="0.6", lw=0.8)
    if (data["level"] == "vote").any() or (data["method"] == "accuracy").any():
        ax.axvline(0.5, color="0.6", lw=0.8, ls=":")
    ax.set_xlabel("estimate (correlation; agreement / accuracy: chance 0.5)")
    ax.set_ylim(-1, len(data))
    for lev, colour in colours.items():
        if (data["level"] == lev).any():
            ax.plot([], [], "o-", color=colour, label=lev)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    if title:
        ax.set_title(title, fontsize=9)
    return ax


# ---------------------------------------------------------------------------------------------- CLI


class _ArgumentError(ValueError):
    """argparse complaint, turned into the one-line error and exit code 2 like every other bad input."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgumentError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m analysis correlate",
                description="Human judgements against a metric, at model / pair / vote / video level, with intervals.")
    p.add_argument("human", nargs="?", help="human CSV: ratings (model, item, score[, rater]), battles, or a board")
    p.add_argument("metric", nargs="?", help="metric CSV: per model or per video (item columns + model)")
    p.add_argument("--case", choices=list(CASES), help="run a real case instead of your own files")
    p.add_argument("--out", help="folder for the table (CSV) and the figure (PNG)")
    p.add_argument("--human-col", nargs="+", default=["score"])
    p.add_argument("--metric-col", nargs="+", default=["score"])
    p.add_argument("--level", nargs="+", default=["model"], choices=list(LEVELS))
    p.add_argument("--method", nargs="+", default=["spearman"], choices=list(METHODS))
    p.add_argument("--model-col", default="model")
    p.add_argument("--item-col", nargs="+", help="column(s) naming an item (what every model generated for)")
    p.add_argument("--rater-col")
    p.add_argument("--cluster", nargs="+", help="column(s) resampled whole (default: the item)")
    p.add_argument("--human-scale", choices=list(HUMAN_SCALES), default="bt")
    p.add_argument("--ci", choices=list(CI_METHODS), default="bootstrap")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    return p


def _format(table: pd.DataFrame) -> str:
    cols = ["level", "human", "metric", "method", "group", "estimate", "lower", "upper", "n"]
    return table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}", max_colwidth=36)


def _write(table: pd.DataFrame, out: Path, stem: str, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .io import atomic_path

    out.mkdir(parents=True, exist_ok=True)
    csv, png = out / f"{stem}.csv", out / f"{stem}.png"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    # The figure shows the headline rows: pooled groups and one rank method, so it stays readable.
    shown = table[(table["group"] == "all") & table["method"].isin(["spearman", "accuracy", "agreement"])]
    shown = shown if len(shown) else table
    ax = plot_correlations(shown.dropna(subset=["estimate"]).reset_index(drop=True), title=title)
    ax.figure.tight_layout()
    with atomic_path(png) as tmp:
        ax.figure.savefig(tmp, dpi=130)
    plt.close(ax.figure)
    return [csv, png]


def correlate_main(argv: Sequence[str] | None = None) -> int:
    """``python -m analysis correlate``: a real case (``--case``) or your own HUMAN.csv METRIC.csv.

    Prints the table; with ``--out DIR`` writes ``DIR/<name>.csv`` and ``DIR/<name>.png``. Bad input ends
    with exit code 2 and a one-line reason on stderr.
    """
    try:
        args = _parser().parse_args(argv)
        if args.case:
            if args.human or args.metric:
                raise CorrelationError("give either --case or HUMAN.csv METRIC.csv, not both")
            opts = {} if args.case == "genai-arena-vbench" else {"resamples": args.resamples, "seed": args.seed}
            table = run_case(args.case, **opts)
            stem, title = f"correlation_{args.case}", f"{args.case}: human vs metric"
        else:
            if not (args.human and args.metric):
                raise CorrelationError("give HUMAN.csv and METRIC.csv, or --case NAME")
            human, metric = pd.read_csv(args.human), pd.read_csv(args.metric)
            table = correlate(human, metric, level=args.level, method=args.method, ci=args.ci,
                              resamples=args.resamples, cluster=args.cluster, seed=args.seed,
                              human_col=args.human_col, metric_col=args.metric_col, model_col=args.model_col,
                              item_cols=args.item_col, rater_col=args.rater_col, human_scale=args.human_scale,
                              case=Path(args.human).stem)
            stem, title = f"correlation_{Path(args.human).stem}", f"{Path(args.human).name} vs {Path(args.metric).name}"
        print(_format(table))
        notes = table["note"].dropna().unique()
        if len(notes):
            print("\nnotes:\n" + "\n".join(f"- {n}" for n in notes[:12]))
        if args.out:
            for path in _write(table, Path(args.out), stem, title):
                print(f"wrote {path}")
        return 0
    except (ValueError, KeyError, FileNotFoundError, TypeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {message}".splitlines()[0], file=sys.stderr)
        return 2
