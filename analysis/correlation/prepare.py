"""Input preparation: human and metric data in any of their forms, reduced once to codes and per-cluster sums.

Human data come as ratings (one row per rating), battles (``model_a``, ``model_b``, ``winner``) or per-model
aggregates (a published board); metric data per model or per video. Both sides are matched on model names
(never silently: models on one side only are listed), then reduced to integer codes and per-cluster sufficient
statistics, so that a bootstrap resample of clusters is one matrix product in :mod:`.engine`.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..datasets import ratings_to_pairwise
from ..votes import read_votes
from .options import CorrelationError

__all__ = [
    "Human",
    "Metric",
    "as_list",
    "check_columns",
    "human_models",
    "is_battles",
    "match_models",
    "prepare_both",
    "prepare_human",
    "prepare_metric",
    "rename_models",
]


@dataclass
class Human:
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
class Metric:
    """One metric over the matched models: fixed per-model values, or per-video scores on the human items."""

    name: str
    per_video: bool
    values: np.ndarray | None = None  # (K,) per-model values (fixed)
    table: np.ndarray | None = None  # (I, K) per-video scores on the human side's items, NaN where absent
    m_sum: np.ndarray | None = None  # (C, K) sums over videos the human side also has
    m_cnt: np.ndarray | None = None
    unmatched: int = 0  # metric videos with no human counterpart
    examples: list[str] = field(default_factory=list)


def as_frame(data: object, side: str) -> pd.DataFrame:
    """``data`` as a frame: a DataFrame, or a CSV / Parquet / JSON (lines) file read by its suffix."""
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"{side} file not found: {path}")
        suffix = path.name.lower()
        if suffix.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        if suffix.endswith((".jsonl", ".jsonl.gz")):
            return pd.read_json(path, lines=True)
        if suffix.endswith(".json"):
            return pd.read_json(path)
        return pd.read_csv(path)
    raise TypeError(f"correlate(): {side} must be a DataFrame or a file path (CSV, Parquet, JSON), not "
                    f"{type(data).__name__} {data!r}")


def check_numeric(frame: pd.DataFrame, cols: Iterable[str], side: str) -> None:
    """Scores must be numbers: text that is not one is an error naming the column, never a dropped row."""
    for col in cols:
        if col not in frame.columns or pd.api.types.is_numeric_dtype(frame[col]):
            continue
        values = frame[col]
        parsed = pd.to_numeric(values, errors="coerce")
        bad = parsed.isna() & values.notna()
        if bad.any():
            shown = ", ".join(repr(v) for v in values[bad].unique()[:5])
            raise CorrelationError(f"{side} column {col!r} has {int(bad.sum())} non-numeric value(s) of "
                                   f"{len(values)} ({shown}); fix or drop those rows")


def as_list(cols: str | Sequence[str] | None) -> list[str]:
    """One name or several as a list (None: empty)."""
    if cols is None:
        return []
    return [cols] if isinstance(cols, str) else list(cols)


def _need(df: pd.DataFrame, cols: Iterable[str], side: str) -> None:
    missing = [c for c in dict.fromkeys(cols) if c not in df.columns]
    if missing:
        raise CorrelationError(f"{side} data lack column(s) {missing}; found {list(df.columns)}")


def is_battles(df: pd.DataFrame) -> bool:
    """Whether a human frame holds battles (``model_a``, ``model_b``, ``winner``) rather than ratings."""
    return {"model_a", "model_b", "winner"} <= set(df.columns)


def human_models(human: pd.DataFrame, model_col: str) -> set[str]:
    """The model names a human frame mentions."""
    if is_battles(human):
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


def rename_models(df: pd.DataFrame, model_col: str, model_map: Mapping[str, str] | None) -> pd.DataFrame:
    """Human model names spelled the metric's way (model_map: human name -> metric name)."""
    if not model_map:
        return df
    out = df.copy()
    cols = ["model_a", "model_b"] if is_battles(df) else [model_col]
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
                     rater_col: str | None, cluster: list[str], need_pairs: bool) -> Human:
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
    h = Human(col, "ratings", models, clusters, items_index, video, h_sum, h_cnt, notes=notes)
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
                     ) -> Human:
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
    h = Human(col, "battles", models, clusters, items_index, vote=vote)
    h.pi, h.pj, h.pc = _pair_counts(vote["a"], vote["b"], vote["outcome"], cl, len(models), len(clusters))
    return h


def prepare_human(human: pd.DataFrame, col: str, models: list[str], *, model_col: str, items: list[str],
                  rater_col: str | None, cluster: list[str], need_pairs: bool) -> Human:
    """Reduce one human measure to codes and per-cluster statistics over the matched models."""
    if is_battles(human):
        return _prepare_battles(human, col, models, items=items, cluster=cluster)
    if not items:
        df = human[[model_col, col]].copy()
        df[model_col] = df[model_col].astype(str)
        dup = df[model_col].duplicated(keep=False)
        if dup.any():
            raise CorrelationError(f"human data have several rows per model (e.g. {df.loc[dup, model_col].iloc[0]!r})"
                                   f": name the item column(s) with item_cols=, or give one row per model")
        values = pd.to_numeric(df.set_index(model_col)[col], errors="coerce").reindex(models).to_numpy(float)
        return Human(col, "aggregate", models, values=values)
    return _prepare_ratings(human, col, models, model_col=model_col, items=items, rater_col=rater_col,
                            cluster=cluster, need_pairs=need_pairs)


def prepare_metric(metric: pd.DataFrame, col: str, h: Human, *, model_col: str, items: list[str]) -> Metric:
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
        return Metric(col, False, values=pd.Series(score, index=names.to_numpy()).reindex(models).to_numpy(float))
    model = pd.Index(models).get_indexer(names)
    if h.items is None:
        # Nothing to pair videos with (per-model human data): the metric enters as its per-model mean, fixed.
        ok = model >= 0
        values = pd.Series(score[ok]).groupby(model[ok]).mean().reindex(range(len(models))).to_numpy(float)
        return Metric(col, True, values=values)
    item = h.items.get_indexer(_keys(metric, items))
    ok = (item >= 0) & (model >= 0) & np.isfinite(score)
    k = len(models)
    cell, inv = np.unique(item[ok] * k + model[ok], return_inverse=True)
    table = np.full((len(h.items), k), np.nan)
    table[cell // k, cell % k] = np.bincount(inv, score[ok]) / np.bincount(inv)  # duplicates: their mean
    out = Metric(col, True, table=table)
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
        # Battles carry no per-video human score: the metric's per-model means stay fixed at the model unit.
        cnt = np.isfinite(table).sum(0)
        out.values = np.where(cnt > 0, np.nansum(table, 0) / np.maximum(cnt, 1), np.nan)
    out.examples = [str(x) for x in _keys(metric, items)[:3]]
    return out


def check_columns(human: pd.DataFrame, metric: pd.DataFrame, hcols: list[str], mcols: list[str], model_col: str,
                  items: list[str], cluster: list[str], rater_col: str | None, ci: str) -> None:
    """Raise :class:`CorrelationError` naming the first column either side lacks."""
    _need(metric, [model_col, *mcols], "metric")
    if is_battles(human):
        if ci == "bootstrap" and not cluster:
            raise CorrelationError("battles need cluster= (e.g. the prompt column) to be resampled; or use ci='none'")
        _need(human, [*items, *cluster], "human battle")
    else:
        _need(human, [model_col, *hcols, *items, *cluster, *([rater_col] if rater_col else [])], "human")


def prepare_both(human: pd.DataFrame, metric: pd.DataFrame, human_col: str, metric_col: str, model_col: str,
                 item_cols: str | Sequence[str] | None, rater_col: str | None, cluster: str | Sequence[str] | None,
                 model_map: Mapping[str, str] | None, need_pairs: bool) -> tuple[Human, Metric]:
    """Both sides over the matched models, as :func:`analysis.correlation.correlate` prepares them."""
    items, cl = as_list(item_cols), as_list(cluster) or as_list(item_cols)
    check_columns(human, metric, [human_col], [metric_col], model_col, items, cl, rater_col, "none")
    human = rename_models(human, model_col, model_map)
    models, _, _ = match_models(human_models(human, model_col), metric[model_col].astype(str))
    h = prepare_human(human, human_col, models, model_col=model_col, items=items, rater_col=rater_col, cluster=cl,
                      need_pairs=need_pairs)
    return h, prepare_metric(metric, metric_col, h, model_col=model_col, items=items)
