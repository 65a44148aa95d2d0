"""Reproduce a published board: rebuild it from votes with the publisher's recipe and say where it disagrees.

``compare_to_published(board, published)`` lines up our board with published figures (names matched exactly,
case-insensitively, or through an explicit alias map; unmatched models are listed on both sides, never dropped)
and measures agreement: Kendall tau with an interval, Spearman, rank changes, rating differences after putting
the two boards in one gauge (``anchor=``), the share of published ratings inside our intervals and of published
intervals overlapping ours. The answer is a :class:`Reproduction` (``.table``, ``.agreement``, ``.summary()``).

``write_report`` writes the comparison as one self-contained HTML or Markdown file (the figure is embedded as a
base64 PNG), and :func:`add_reproduce_parser` mounts ``python -m analysis reproduce`` on the one CLI.

Units: ratings and differences in Elo points of the board's scale; ranks are competition ranks (1 = best).
Why a common anchor: a board's ratings are defined up to a constant (the gauge: the mean, or an anchor model), so
two boards are compared after removing any constant offset between them, unless both already use the same anchor.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import difflib
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .correlation.stats import fisher_interval
from .datasets import PROVENANCE
from .io import write_text
from .ratings import RECIPES, Ratings
from .results import Result
from .vocab import keyword_options, renamed
from .votes import format_report

_SYNONYMS = {
    "model": ("model", "name", "model_name", "Model"),
    "rating": ("rating", "elo", "score", "arena_score", "arena score", "arena elo rating", "arena elo"),
    "lower": ("lower", "ci_lower", "rating_lower", "lower_ci"),
    "upper": ("upper", "ci_upper", "rating_upper", "upper_ci"),
    "rank": ("rank", "published_rank", "rank_ub", "rank (ub)"),
}


# ---------------------------------------------------------------------------------------------- inputs


def read_published(published: pd.DataFrame | str | os.PathLike) -> pd.DataFrame:
    """Published figures from a frame, a CSV / JSON / Parquet file, or a published data set name."""
    if isinstance(published, pd.DataFrame):
        return published
    text = os.fspath(published)
    path = Path(text)
    if path.exists():
        suffix = path.suffix.lower()
        if suffix == ".json":
            return pd.read_json(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    if any(sep in text for sep in ("/", "\\")) or path.suffix:
        raise FileNotFoundError(f"published figures file not found: {text}")
    from . import datasets

    return datasets.load(text)


def _find_column(frame: pd.DataFrame, role: str, given: str | None, required: bool) -> str | None:
    if given is not None:
        if given not in frame.columns:
            raise KeyError(f"published figures have no {role} column {given!r}; found {list(frame.columns)}")
        return given
    lowered = {str(c).strip().lower(): c for c in frame.columns}
    for name in _SYNONYMS[role]:
        if name.lower() in lowered:
            return lowered[name.lower()]
    if required:
        raise KeyError(f"published figures have no {role} column (looked for {list(_SYNONYMS[role])}); "
                       f"found {list(frame.columns)}. Name it with {role}=")
    return None


def _numeric(values: pd.Series, column: str, models: pd.Series, *, missing_ok: bool) -> np.ndarray:
    """A published column as floats; text that is not a number (and a missing rating) is an error naming it."""
    parsed = pd.to_numeric(values, errors="coerce").astype(float)
    missing = values.isna().to_numpy()
    bad = parsed.isna().to_numpy() & (~missing | (not missing_ok))
    if bad.any():
        shown = "; ".join(f"{values.iloc[i]!r} for model {models.iloc[i]!r}" if not missing[i]
                          else f"no value for model {models.iloc[i]!r}" for i in np.flatnonzero(bad)[:5])
        raise ValueError(f"published column {column!r} has {int(bad.sum())} missing or non-numeric value(s) of "
                         f"{len(values)}: {shown}; fix or drop those rows")
    return parsed.to_numpy()


def _published_frame(published: pd.DataFrame, model: str | None, rating: str | None, lower: str | None,
                     upper: str | None, rank: str | None) -> pd.DataFrame:
    """model, rating, lower, upper, rank (absolute bounds; offsets such as ci95_minus/plus are converted)."""
    mcol = _find_column(published, "model", model, True)
    rcol = _find_column(published, "rating", rating, True)
    names = published[mcol].astype("string").str.strip()
    out = pd.DataFrame({"model": names, "rating": _numeric(published[rcol], rcol, names, missing_ok=True)})
    lcol, ucol = _find_column(published, "lower", lower, False), _find_column(published, "upper", upper, False)
    if lcol and ucol:
        out["lower"] = _numeric(published[lcol], lcol, names, missing_ok=True)
        out["upper"] = _numeric(published[ucol], ucol, names, missing_ok=True)
    elif {"ci95_minus", "ci95_plus"} <= set(published.columns):
        # Artificial Analysis publishes offsets ("-9/+9"): absolute bounds are rating + offset.
        out["lower"] = out["rating"] + published["ci95_minus"].to_numpy(float)
        out["upper"] = out["rating"] + published["ci95_plus"].to_numpy(float)
    else:
        out["lower"] = out["upper"] = np.nan
    kcol = _find_column(published, "rank", rank, False)
    out["rank"] = _numeric(published[kcol], kcol, names, missing_ok=True) if kcol else np.nan
    if out["model"].isna().any():
        raise ValueError(f"published column {mcol!r} has {int(out['model'].isna().sum())} empty model name(s)")
    dup = out["model"][out["model"].duplicated()]
    if len(dup):
        raise ValueError(f"published figures list model(s) more than once: {dup.tolist()[:5]}")
    if out["rating"].isna().all() and out["rank"].isna().all():
        raise ValueError(f"published column {rcol!r} has no numeric rating and there is no rank to compare")
    return out


def read_aliases(aliases: Mapping[str, str] | str | os.PathLike | None) -> dict[str, str]:
    """An alias map ``{published name: our name}`` from a dict, a JSON object file, or a two-column CSV.

    The CSV may name its columns ``published`` and ``ours`` (any order); otherwise the first column is the
    published name and the second ours.
    """
    if aliases is None:
        return {}
    if isinstance(aliases, Mapping):
        return {str(k): str(v) for k, v in aliases.items()}
    path = Path(os.fspath(aliases))
    if not path.exists():
        raise FileNotFoundError(f"alias file not found: {path}")
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text())
        if not isinstance(data, dict):
            raise ValueError(f"alias file {path} must hold a JSON object {{published name: our name}}")
        return {str(k): str(v) for k, v in data.items()}
    frame = pd.read_csv(path)
    if {"published", "ours"} <= set(frame.columns):
        pub, ours = frame["published"], frame["ours"]
    elif frame.shape[1] >= 2:
        pub, ours = frame.iloc[:, 0], frame.iloc[:, 1]
    else:
        raise ValueError(f"alias file {path} needs two columns (published, ours); found {list(frame.columns)}")
    return dict(zip(pub.astype(str).str.strip(), ours.astype(str).str.strip(), strict=True))


def _our_board(board: Ratings | pd.DataFrame) -> pd.DataFrame:
    frame = board.board if isinstance(board, Ratings) else board
    missing = [c for c in ("model", "rating") if c not in frame.columns]
    if missing:
        raise KeyError(f"our board is missing column(s) {missing}; found {list(frame.columns)}")
    out = pd.DataFrame({"model": frame["model"].astype("string"), "rating": frame["rating"].to_numpy(float)})
    for col in ("lower", "upper"):
        out[col] = frame[col].to_numpy(float) if col in frame.columns else np.nan
    out["rank"] = (frame["rank"].to_numpy(float) if "rank" in frame.columns
                   else stats.rankdata(-out["rating"], method="min").astype(float))
    out.attrs = dict(frame.attrs)
    return out


def _normal(name: str) -> str:
    return " ".join(str(name).lower().split())


def match_models(ours: Sequence[str], published: Sequence[str], aliases: Mapping[str, str] | None = None
                 ) -> pd.DataFrame:
    """Match published names to ours: alias map first, then exact, then case- and space-insensitive.

    Returns
    -------
    pandas.DataFrame
        published_model, model (ours, <NA> when unmatched), match (``alias``, ``exact``, ``case`` or ``none``),
        suggestion (for an unmatched name: the closest of our names, for the user to confirm in an alias map).
    """
    aliases = dict(aliases or {})
    ours_list = [str(m) for m in ours]
    ours_set = set(ours_list)
    by_normal: dict[str, str] = {}
    for m in ours_list:
        by_normal.setdefault(_normal(m), m)
    bad = {p: o for p, o in aliases.items() if o not in ours_set}
    if bad:
        first = next(iter(bad.items()))
        raise KeyError(f"alias map points {len(bad)} name(s) at models not on our board, e.g. {first[0]!r} -> "
                       f"{first[1]!r}")
    rows, taken = [], set()
    for name in published:
        name = str(name)
        if name in aliases:
            hit, kind = aliases[name], "alias"
        elif name in ours_set:
            hit, kind = name, "exact"
        elif _normal(name) in by_normal:
            hit, kind = by_normal[_normal(name)], "case"
        else:
            hit, kind = None, "none"
        if hit is not None and hit in taken:
            raise ValueError(f"two published models map to our {hit!r}; fix the alias map")
        if hit is not None:
            taken.add(hit)
        close = difflib.get_close_matches(name, ours_list, n=1, cutoff=0.6) if hit is None else []
        rows.append({"published_model": name, "model": hit, "match": kind, "suggestion": close[0] if close else None})
    out = pd.DataFrame(rows, columns=["published_model", "model", "match", "suggestion"])
    for col in ("published_model", "model", "suggestion"):
        out[col] = out[col].astype("string")
    return out


# ---------------------------------------------------------------------------------------------- comparison


def kendall_interval(x: np.ndarray, y: np.ndarray, *, level: float = 0.95, method: str = "fieller",
                     resamples: int = 2000, seed: int | None = 0) -> tuple[float, float, float, float]:
    """Kendall tau-b of x and y with a ``level`` interval and the p-value of tau = 0.

    ``method="fieller"``: Fisher z of tau with variance 0.437 / (n - 4) (Fieller, Hartley and Pearson 1957,
    :func:`analysis.correlation.stats.fisher_interval`), needs n >= 5 and |tau| <= 0.9999. ``"bootstrap"``:
    percentile interval over ``resamples`` resamples of the pairs (x_k, y_k).
    """
    n = len(x)
    if n < 2:
        return math.nan, math.nan, math.nan, math.nan
    res = stats.kendalltau(x, y)
    tau = float(res.statistic)
    lo = hi = math.nan
    if method == "fieller":
        lo, hi = fisher_interval(tau, n, "kendall", level)
    elif method == "bootstrap":
        rng = np.random.default_rng(seed)
        taus = []
        for _ in range(resamples):
            idx = rng.integers(0, n, n)
            t = stats.kendalltau(x[idx], y[idx]).statistic
            if np.isfinite(t):
                taus.append(t)
        if taus:
            lo, hi = np.quantile(taus, [(1 - level) / 2, (1 + level) / 2])
    else:
        raise ValueError(f"method must be 'fieller' or 'bootstrap', not {method!r}")
    return tau, float(lo), float(hi), float(res.pvalue)


#: The agreement numbers shown by :meth:`Reproduction.summary` and :func:`summary_table`, in this order.
SUMMARY_KEYS = ("n_ours", "n_published", "n_matched", "n_compared", "kendall_tau", "tau_lower", "tau_upper",
                "tau_p_value", "spearman", "anchor", "shift", "max_abs_diff", "mean_abs_diff", "share_inside",
                "share_overlap", "rank_changes", "same_top")


@dataclass(frozen=True, eq=False, repr=False)
class Reproduction(Result):
    """Our board against published figures (:func:`compare_to_published`, :func:`reproduce`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model of either board (columns in :func:`compare_to_published`).
    agreement : dict
        Every agreement number: n_ours, n_published, n_matched, n_compared, kendall_tau, tau_lower, tau_upper,
        tau_p_value, tau_method, spearman, anchor (the gauge used: "mean", "none" or a model), shift,
        max_abs_diff, mean_abs_diff, n_rating_diffs, share_inside, n_inside_checked, share_overlap,
        n_overlap_checked, rank_changes, same_top, top_n.
    unmatched_published, unmatched_ours : list of str
        Names on one board only.
    suggestions : dict
        For an unmatched published name, the closest of our names (to confirm in an alias map).
    notes : list of str
        What the comparison chose or could not do (the gauge, too few models for an interval, ...).
    level : float
        Confidence level of the Kendall tau interval.
    context : tuple of str
        How our board was made (:func:`reproduce` fills it; empty for :func:`compare_to_published`).
    """

    agreement: dict[str, Any]
    unmatched_published: list[str]
    unmatched_ours: list[str]
    suggestions: dict[str, str]
    notes: list[str]
    level: float
    context: tuple[str, ...] = ()

    title = "reproduction"

    def summary(self) -> pd.Series:
        """The headline agreement numbers (:data:`SUMMARY_KEYS`) as a Series."""
        return pd.Series({k: self.agreement[k] for k in SUMMARY_KEYS}, name=self.title, dtype=object)

    def __str__(self) -> str:
        return "\n".join([*self.context, *summary_lines(self)])


@renamed(align="anchor")
def compare_to_published(
    board: Ratings | pd.DataFrame,
    published: pd.DataFrame | str | os.PathLike,
    *,
    aliases: Mapping[str, str] | str | os.PathLike | None = None,
    alias_column: str | None = None,
    model: str | None = None,
    rating: str | None = None,
    lower: str | None = None,
    upper: str | None = None,
    rank: str | None = None,
    anchor: str = "auto",
    level: float = 0.95,
    tau_method: str = "fieller",
    seed: int | None = 0,
) -> Reproduction:
    """Line up our board with published figures and measure how well they agree.

    Parameters
    ----------
    board
        Our board (:func:`analysis.leaderboard` output: model, rating, lower, upper, rank) or a Ratings.
    published
        A frame or file (CSV / JSON / Parquet) or published data set name with at least a model column and a
        rating column (found by name: rating, elo, score, arena_score, ...; or given by ``rating=``), and
        optionally lower / upper (or Artificial Analysis's ci95_minus / ci95_plus offsets) and rank. Rows
        without a rating still take part in the rank comparison when a rank is given.
    aliases
        ``{published name: our name}``, or a JSON / two-column CSV file of them.
    alias_column
        A published column holding our name for each row (e.g. ``leaderbot_name``); used where non-empty.
    model, rating, lower, upper, rank
        Published column names, when the defaults do not find them.
    anchor
        The common gauge in which ratings are differenced (the constant offset between the boards removed):
        ``"mean"`` (shift ours by the mean of published - ours over matched models), ``"none"`` (no shift), or
        a model name (shift so that model agrees). ``"auto"``: ``"none"`` when our board is anchored to a model
        (a publisher's recipe already puts it in the published gauge), else ``"mean"``. (Formerly ``align=``.)
    level
        Confidence level of the Kendall tau interval.
    tau_method
        ``"fieller"`` or ``"bootstrap"`` (see :func:`kendall_interval`).

    Returns
    -------
    Reproduction
        ``.table``, one row per model of either board: status (``matched``, ``only ours``, ``only
        published``), model (our name), published_model, match, rating, lower, upper, rank (ours),
        published_rating, published_lower, published_upper, published_rank, aligned (our rating + shift), diff
        (aligned - published), rank_matched / published_rank_matched (ranks among matched models), rank_change
        (published - ours among matched: positive when we place the model higher), inside (published rating
        inside our aligned interval), overlap (published interval overlaps ours). ``.agreement``: Kendall tau
        with its interval, Spearman, differences, coverage; ``.unmatched_published``, ``.unmatched_ours``,
        ``.suggestions``, ``.notes``; ``.summary()`` the headline numbers.

    Raises
    ------
    KeyError
        A required column is missing (named), or an alias points at a model not on our board.
    ValueError
        No model matches between the boards.
    """
    ours = _our_board(board)
    pub_raw = read_published(published)
    pub = _published_frame(pub_raw, model, rating, lower, upper, rank)
    alias_map = read_aliases(aliases)
    if alias_column is not None:
        if alias_column not in pub_raw.columns:
            raise KeyError(f"published figures have no alias column {alias_column!r}; found {list(pub_raw.columns)}")
        col = pub_raw[alias_column].astype("string").str.strip()
        for name, ours_name in zip(pub["model"], col, strict=True):
            if pd.notna(ours_name) and ours_name and name not in alias_map:
                alias_map[str(name)] = str(ours_name)
    matches = match_models(ours["model"], pub["model"], alias_map)
    if matches["model"].isna().all():
        hint = "; ".join(f"{p!r} ~ {s!r}" for p, s in matches[["published_model", "suggestion"]].dropna().head(3)
                         .itertuples(index=False))
        raise ValueError(f"no published model matches a model on our board ({len(pub)} published, {len(ours)} ours; "
                         f"e.g. published {pub['model'].head(3).tolist()} vs ours {ours['model'].head(3).tolist()})."
                         f" Pass aliases={{published: ours}}{'; close names: ' + hint if hint else ''}")
    # Where each published number comes from (who sampled, who evaluated, source, date, sample size) travels
    # beside it into the table and the report.
    provenance = [c for c in PROVENANCE if c in pub_raw.columns]
    for col in provenance:
        pub[col] = pub_raw[col].astype("string").fillna("unknown").to_numpy()
    table = _join(ours, pub, matches, provenance)
    shift, anchor_used, notes = _shift(table, anchor, ours.attrs)
    table, order_key = _agreement_columns(table, shift)
    agreement = _agreement(table, order_key, shift, anchor_used, notes, level, tau_method, seed, ours, pub)
    table.attrs = {"anchor": anchor_used}
    return Reproduction(
        table=table, agreement=agreement, level=level, notes=notes,
        unmatched_published=matches.loc[matches["model"].isna(), "published_model"].tolist(),
        unmatched_ours=table.loc[table["status"] == "only ours", "model"].tolist(),
        suggestions={r.published_model: r.suggestion for r in matches.itertuples() if pd.notna(r.suggestion)},
    )


def _join(ours: pd.DataFrame, pub: pd.DataFrame, matches: pd.DataFrame, provenance: list[str]) -> pd.DataFrame:
    pub = pub.rename(columns={"model": "published_model", "rating": "published_rating", "lower": "published_lower",
                              "upper": "published_upper", "rank": "published_rank"})
    pub = pub.merge(matches[["published_model", "model", "match"]], on="published_model", how="left")
    table = ours.merge(pub, on="model", how="outer", indicator=True)
    # An outer join on <NA> would pair unmatched published rows with nothing, which is what we want.
    table["status"] = table["_merge"].astype(str).map({"both": "matched", "left_only": "only ours",
                                                       "right_only": "only published"})
    table = table.drop(columns="_merge")
    table["match"] = table["match"].fillna("none")
    order = {"matched": 0, "only published": 1, "only ours": 2}
    table["_o"] = table["status"].map(order).astype(int)
    key = table["published_rank"].fillna(-table["published_rating"]).fillna(table["rank"])
    table = table.assign(_k=key).sort_values(["_o", "_k", "rating"], ascending=[True, True, False],
                                             na_position="last", ignore_index=True)
    cols = ["status", "model", "published_model", "match", "rating", "lower", "upper", "rank", "published_rating",
            "published_lower", "published_upper", "published_rank", *provenance]
    out = table[cols].copy()
    out["status"] = out["status"].astype("string")
    out["match"] = out["match"].astype("string")
    return out


def _shift(table: pd.DataFrame, anchor: str, attrs: Mapping[str, Any]) -> tuple[float, str, list[str]]:
    notes: list[str] = []
    if not isinstance(anchor, str):
        raise TypeError(f"anchor must be 'auto', 'mean', 'none' or a model name, not {type(anchor).__name__}")
    both = table[(table["status"] == "matched") & table["published_rating"].notna()]
    if anchor == "auto":
        anchored = attrs.get("anchor") not in (None, "mean")
        anchor = "none" if anchored else "mean"
        gauge = f"anchored to {attrs.get('anchor')}" if anchored else "in the mean gauge"
        notes.append(f"anchor='auto' chose {anchor!r} (our board is {gauge})")
    if anchor == "none":
        return 0.0, "none", notes
    if both.empty:
        notes.append("no matched model has a published rating: ratings not compared")
        return math.nan, anchor, notes
    if anchor == "mean":
        if len(both) == 1:
            notes.append("only one matched rating: the mean gauge makes its difference 0 by construction")
        return float((both["published_rating"] - both["rating"]).mean()), "mean", notes
    row = both[(both["model"] == anchor) | (both["published_model"] == anchor)]
    if row.empty:
        raise KeyError(f"anchor model {anchor!r} is not a matched model with a published rating; matched: "
                       f"{both['model'].head(5).tolist()}")
    return float(row["published_rating"].iloc[0] - row["rating"].iloc[0]), str(row["model"].iloc[0]), notes


def _agreement_columns(table: pd.DataFrame, shift: float) -> tuple[pd.DataFrame, pd.Series]:
    out = table.copy()
    matched = (out["status"] == "matched").to_numpy()
    out["aligned"] = out["rating"] + shift
    out["diff"] = out["aligned"] - out["published_rating"]
    # Ranks among matched models only, so models missing on one side do not count as rank changes.
    ours_r = out["rating"].where(matched)
    pub_key = _published_order(out, matched)
    out["rank_matched"] = ours_r.rank(ascending=False, method="min").astype("Int64")
    out["published_rank_matched"] = pub_key.rank(ascending=False, method="min").astype("Int64")
    out["rank_change"] = out["published_rank_matched"] - out["rank_matched"]
    lo, hi = out["lower"] + shift, out["upper"] + shift
    has_ci = out["lower"].notna() & out["upper"].notna()
    inside = (out["published_rating"] >= lo) & (out["published_rating"] <= hi)
    out["inside"] = inside.where(matched & has_ci & out["published_rating"].notna()).astype("boolean")
    has_pub_ci = out["published_lower"].notna() & out["published_upper"].notna()
    overlap = (out["published_lower"] <= hi) & (out["published_upper"] >= lo)
    out["overlap"] = overlap.where(matched & has_ci & has_pub_ci).astype("boolean")
    return out, pub_key


def _published_order(table: pd.DataFrame, matched: np.ndarray) -> pd.Series:
    """Higher is better: published ratings, or minus the published rank when some matched ratings are missing."""
    rating, rank = table["published_rating"].where(matched), table["published_rank"].where(matched)
    if rating[matched].isna().any() and rank[matched].notna().all():
        return -rank
    return rating


def _agreement(table, order_key, shift, anchor, notes, level, tau_method, seed, ours, pub) -> dict[str, Any]:
    m = table[table["status"] == "matched"]
    key = order_key[m.index]
    usable = key.notna() & m["rating"].notna()
    x, y = m.loc[usable, "rating"].to_numpy(float), key[usable].to_numpy(float)
    tau, lo, hi, p = kendall_interval(x, y, level=level, method=tau_method, seed=seed)
    rho = float(stats.spearmanr(x, y).statistic) if len(x) >= 2 else math.nan
    diff = m["diff"].dropna().abs()
    top = min(3, len(m))
    same_top = bool(len(m) and (m.sort_values("rank_matched")["model"].head(top).tolist() ==
                                m.sort_values("published_rank_matched")["model"].head(top).tolist()))
    if len(x) and len(x) < 5 and tau_method == "fieller":
        notes.append(f"Kendall tau interval needs at least 5 matched models (have {len(x)})")
    inside, overlap = m["inside"].dropna(), m["overlap"].dropna()
    return {
        "n_ours": len(ours), "n_published": len(pub), "n_matched": len(m), "n_compared": int(len(x)),
        "kendall_tau": tau, "tau_lower": lo, "tau_upper": hi, "tau_p_value": p, "tau_method": tau_method,
        "spearman": rho, "anchor": anchor, "shift": shift,
        "max_abs_diff": float(diff.max()) if len(diff) else math.nan,
        "mean_abs_diff": float(diff.mean()) if len(diff) else math.nan, "n_rating_diffs": int(len(diff)),
        "share_inside": float(inside.mean()) if len(inside) else math.nan, "n_inside_checked": int(len(inside)),
        "share_overlap": float(overlap.mean()) if len(overlap) else math.nan, "n_overlap_checked": int(len(overlap)),
        "rank_changes": int((m["rank_change"].fillna(0) != 0).sum()), "same_top": same_top, "top_n": top,
    }


def _reproduction(comparison: Any, func: str) -> Reproduction:
    if not isinstance(comparison, Reproduction):
        raise TypeError(f"{func}() takes the Reproduction that compare_to_published() or reproduce() returns, "
                        f"not {type(comparison).__name__}")
    return comparison


def summary_table(comparison: Reproduction) -> pd.DataFrame:
    """The headline agreement numbers of a :class:`Reproduction` as a tidy (statistic, value) frame."""
    s = _reproduction(comparison, "summary_table").summary()
    return pd.DataFrame({"statistic": s.index, "value": s.to_numpy()})


def summary_lines(comparison: Reproduction, *, limit: int = 8) -> list[str]:
    """A few printable lines: tau, Spearman, rating differences, unmatched models."""
    rep = _reproduction(comparison, "summary_lines")
    s = rep.agreement

    def fmt(v: float, digits: int = 3) -> str:
        return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"

    def names(items: list[str]) -> str:
        if not items:
            return "none"
        more = f" (+{len(items) - limit} more)" if len(items) > limit else ""
        return ", ".join(items[:limit]) + more

    lines = [
        f"matched {s['n_matched']} of {s['n_published']} published models ({s['n_ours']} on our board)",
        f"Kendall tau {fmt(s['kendall_tau'])} [{fmt(s['tau_lower'])}, {fmt(s['tau_upper'])}] over "
        f"{s['n_compared']} models; Spearman {fmt(s['spearman'])}; top {s['top_n']} "
        f"{'the same' if s['same_top'] else 'differ'}",
        f"rating difference (anchor {s['anchor']}, shift {fmt(s['shift'], 1)}): max {fmt(s['max_abs_diff'], 1)}, "
        f"mean {fmt(s['mean_abs_diff'], 1)} points over {s['n_rating_diffs']} models; published inside our "
        f"interval {fmt(s['share_inside'], 2)}, intervals overlapping {fmt(s['share_overlap'], 2)}",
        f"unmatched published: {names(rep.unmatched_published)}",
        f"unmatched ours: {len(rep.unmatched_ours)} model(s)" + (f" ({names(rep.unmatched_ours)})"
                                                                 if rep.unmatched_ours else ""),
    ]
    return lines


# ---------------------------------------------------------------------------------------------- report


def forest_figure(comparison: Reproduction, *, top: int = 40, title: str | None = None):
    """Both boards as one forest plot: our aligned rating and interval against the published one, per model.

    The matched models (at most ``top``, by published rank) are drawn with :func:`analysis.plots.forest`, the
    two boards as hue levels dodged within each row. Built on a bare ``Figure`` (no pyplot state), so report
    writing does not open windows or leak figures. Returns the Figure.
    """
    from matplotlib.figure import Figure

    from .plots import forest

    table = _reproduction(comparison, "forest_figure").table
    m = table[table["status"] == "matched"]
    m = m.sort_values(["published_rank_matched", "rank_matched"], na_position="last").head(top)
    shift = m["aligned"] - m["rating"]
    long = pd.concat([
        pd.DataFrame({"model": m["model"], "rating": m["aligned"], "lower": m["lower"] + shift,
                      "upper": m["upper"] + shift, "board": "ours (aligned)"}),
        pd.DataFrame({"model": m["model"], "rating": m["published_rating"], "lower": m["published_lower"],
                      "upper": m["published_upper"], "board": "published"}),
    ], ignore_index=True)
    long = long[long["rating"].notna()]
    order = [str(x) for x in m["model"]]
    fig = Figure(figsize=(8.0, max(2.5, 0.3 * len(order) + 1.2)), layout="constrained")
    ax = forest(long, hue="board", order=order, ax=fig.add_subplot())
    ax.set_xlabel("rating (Elo points)")
    if title:
        ax.set_title(title)
    return fig


def _png_base64(fig) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return base64.b64encode(buf.getvalue()).decode("ascii")


_REPORT_COLUMNS = ["status", "model", "published_model", "rating", "lower", "upper", "rank", "published_rating",
                   "published_lower", "published_upper", "published_rank", "diff", "rank_change", "inside", "overlap"]


def _for_display(frame: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """Numbers as text in ``fmt``, missing values as empty cells (so to_markdown / to_html print them alike)."""

    def cell(v: Any) -> str:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return ""
        return f"{v:{fmt}}" if isinstance(v, float | np.floating) else str(v)

    return frame.astype(object).map(cell)


def write_report(comparison: Reproduction, path: str | os.PathLike, *, title: str = "Reproduction of a "
                 "published board", context: Sequence[str] | None = None, top: int = 40,
                 max_rows: int = 200) -> Path:
    """Write a self-contained HTML or Markdown report (by the file suffix): summary, forest figure, table.

    Parameters
    ----------
    comparison
        A :class:`Reproduction` (:func:`compare_to_published` or :func:`reproduce`).
    path
        ``.html`` / ``.htm`` or ``.md``; the figure is embedded as a base64 PNG, so the file stands alone.
    context
        Lines for the top of the report (data source, recipe, votes); default the reproduction's own context.
    top
        Models in the figure (matched, by published rank).
    max_rows
        Rows of the table (matched first, then unmatched); the rest are counted.
    """
    rep = _reproduction(comparison, "write_report")
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in (".html", ".htm", ".md"):
        raise ValueError(f"report must end in .html or .md, not {path.name!r}")
    context = rep.context if context is None else context
    lines = [*context, *summary_lines(rep, limit=20)] + [f"note: {n}" for n in rep.notes]
    png = _png_base64(forest_figure(rep, top=top, title=title))
    shown = _REPORT_COLUMNS + [c for c in PROVENANCE if c in rep.table.columns and c != "source"]
    table = _for_display(rep.table[shown].head(max_rows), ".1f")
    more = len(rep.table) - len(table)
    stats_table = _for_display(summary_table(rep), ".4g")
    if kind == ".md":
        text = "\n\n".join([
            f"# {title}", "\n".join(f"- {line}" for line in lines), "## Agreement",
            stats_table.to_markdown(index=False, disable_numparse=True), "## Both boards",
            f"![forest plot of both boards](data:image/png;base64,{png})", "## Models",
            table.to_markdown(index=False, disable_numparse=True)
            + (f"\n\n({more} more rows not shown)" if more > 0 else ""),
        ]) + "\n"
    else:
        style = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse;"
                 "font-size:0.85em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
                 "td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}")
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        text = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
                f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1><ul>{items}</ul>"
                f"<h2>Agreement</h2>{stats_table.to_html(index=False, border=0)}<h2>Both boards</h2>"
                f"<img alt='forest plot of both boards' src='data:image/png;base64,{png}'>"
                f"<h2>Models</h2>{table.to_html(index=False, border=0)}"
                + (f"<p>({more} more rows not shown)</p>" if more > 0 else "") + "</body></html>\n")
    return write_text(path, text)


# ---------------------------------------------------------------------------------------------- end to end


def _is_marginal_table(source: Any) -> pd.DataFrame | None:
    """A per-model marginals board (model, appearances, wins; no battles), read if ``source`` is one."""
    frame = None
    if isinstance(source, pd.DataFrame):
        frame = source
    elif isinstance(source, str | os.PathLike) and Path(source).is_file() and str(source).lower().endswith(".csv"):
        head = pd.read_csv(source, nrows=1)
        if {"model", "appearances", "wins"} <= set(head.columns) and "model_a" not in head.columns:
            frame = pd.read_csv(source)
    if frame is not None and {"model", "appearances", "wins"} <= set(frame.columns) and "model_a" not in frame:
        return frame
    return None


def rebuild_board(source: Any, recipe: str = "fastchat", *,
                  rate_options: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Our board from ``source`` with a publisher's recipe; ``attrs["context"]`` says how it was made.

    Parameters
    ----------
    source
        Votes (frame, file, glob), counts, or a data set name; with ``recipe="aa"`` it may also be a per-model
        marginals table (model, appearances, wins), refitted by :func:`analysis.aa.marginal_refit`.
    recipe
        The publisher's recipe (:data:`analysis.RECIPES`).
    rate_options
        Further keyword arguments of :func:`analysis.rate`, e.g. ``{"resamples": 200, "seed": 0}``.

    Returns
    -------
    pandas.DataFrame
        The board (model, rating, lower, upper, rank, ...); ``attrs["context"]``: a tuple of lines (source,
        recipe, votes, what the reader excluded).
    """
    rate_opts = keyword_options(rate_options, "rate_options", "analysis.rate")
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
    marginals = _is_marginal_table(source)
    if marginals is not None:
        if recipe != "aa":
            raise ValueError("a per-model marginals table (appearances, wins) can only be refitted with --recipe aa")
        from .aa import REFERENCE, marginal_refit

        anchor = next((r for r in REFERENCE.values() if r in set(marginals["model"].astype(str))), None)
        fit = marginal_refit(marginals, rating=None, anchor={anchor: 1000.0} if anchor else "mean")
        board = pd.DataFrame({"model": fit["model"], "rating": fit["refit"], "lower": np.nan, "upper": np.nan,
                              "rank": fit["refit_rank"]})
        board.attrs["anchor"] = anchor or "mean"
        board.attrs["context"] = (f"source: per-model marginals of {len(board)} models refitted assuming a "
                                  f"balanced pairing (the pairwise votes are not published; anchor {anchor})",)
        return board
    from .ratings import rate

    fitted = rate(source, recipe=recipe, **rate_opts)
    board = fitted.board
    name = source if isinstance(source, str | os.PathLike) else type(source).__name__
    board.attrs["context"] = (
        f"source: {name}; recipe {recipe}; {board.attrs.get('votes', '?'):,} votes, {len(board)} models, ci "
        f"{board.attrs.get('ci')} ({board.attrs.get('resamples')} resamples), anchor {board.attrs.get('anchor')}",
        f"votes read: {format_report(board.attrs.get('report'))}",
    )
    return board


@renamed(align="anchor")
def reproduce(source: Any, published: pd.DataFrame | str | os.PathLike, *, recipe: str = "fastchat",
              aliases: Mapping[str, str] | str | os.PathLike | None = None, alias_column: str | None = None,
              anchor: str = "auto", out: str | os.PathLike | None = None,
              rate_options: Mapping[str, Any] | None = None) -> Reproduction:
    """Rebuild a board from ``source`` with ``recipe`` and compare it with ``published``; optionally write a report.

    Parameters
    ----------
    source, recipe, rate_options
        As in :func:`rebuild_board` (``rate_options``: further keyword arguments of :func:`analysis.rate`,
        e.g. ``{"resamples": 200, "seed": 0}``).
    published, aliases, alias_column, anchor
        As in :func:`compare_to_published` (``anchor``: the common gauge, formerly ``align=``).
    out
        Write the report there too (``.html`` or ``.md``, :func:`write_report`).

    Returns
    -------
    Reproduction
        As :func:`compare_to_published`, with ``.context`` describing the rebuild and the published source.
    """
    board = rebuild_board(source, recipe, rate_options=rate_options)
    comparison = compare_to_published(board, published, aliases=aliases, alias_column=alias_column, anchor=anchor)
    pub_name = published if isinstance(published, str | os.PathLike) else "a published frame"
    comparison = dataclasses.replace(comparison, context=(*board.attrs["context"], f"published: {pub_name}"))
    if out is not None:
        write_report(comparison, out)
    return comparison


def add_reproduce_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``reproduce`` to the one CLI's ``subparsers``; its handler is :func:`reproduce_command`."""
    p = subparsers.add_parser("reproduce", help="rebuild a published board from votes and report the agreement",
                              description="Rebuild a published board from votes with its recipe and report the "
                                          "agreement.")
    p.add_argument("source", help="votes file / glob, counts, a data set name (e.g. chatbot-arena-2024-08-14), "
                                  "or with --recipe aa a per-model marginals CSV (model, appearances, wins)")
    p.add_argument("published", help="published figures: CSV / JSON / Parquet with model and rating columns")
    p.add_argument("--recipe", default="fastchat", choices=sorted(RECIPES))
    p.add_argument("--alias", help="alias map: JSON object or CSV (published, ours)")
    p.add_argument("--alias-column", help="published column with our model names (e.g. leaderbot_name)")
    p.add_argument("--anchor", default="auto",
                   help="common gauge of the two boards: auto | mean | none | MODEL (default auto)")
    p.add_argument("--align", help=argparse.SUPPRESS)  # the old spelling: refused with the new name
    p.add_argument("--resamples", type=int, default=None, help="bootstrap resamples (default: the recipe's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="report file, .html or .md")
    p.set_defaults(func=reproduce_command)
    return p


def reproduce_command(ns: argparse.Namespace) -> int:
    """Print a short summary (Kendall tau, Spearman, maximum difference, unmatched models) and write the report.

    Bad input (missing columns, no overlapping models, an unknown data set, a missing file) raises; the CLI's
    one handler turns it into exit code 2 with a one-line reason.
    """
    if ns.align is not None:
        raise ValueError(f"--align is now --anchor (auto | mean | none | MODEL): use --anchor {ns.align!r}")
    if Path(ns.out).suffix.lower() not in (".html", ".htm", ".md"):
        raise ValueError(f"--out must end in .html or .md, not {ns.out!r}")
    rate_opts = {"seed": ns.seed}
    if ns.resamples is not None:
        rate_opts["resamples"] = ns.resamples
    comparison = reproduce(ns.source, ns.published, recipe=ns.recipe, aliases=ns.alias,
                           alias_column=ns.alias_column, anchor=ns.anchor, out=ns.out, rate_options=rate_opts)
    print(comparison)
    print(f"report written to {ns.out}")
    return 0


__all__ = [
    "SUMMARY_KEYS",
    "Reproduction",
    "compare_to_published",
    "forest_figure",
    "kendall_interval",
    "match_models",
    "read_aliases",
    "read_published",
    "rebuild_board",
    "reproduce",
    "add_reproduce_parser",
    "reproduce_command",
    "summary_lines",
    "summary_table",
    "write_report",
]

