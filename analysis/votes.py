"""Pairwise votes: read and validate battles, reduce them to sufficient statistics.

A Bradley-Terry (or Elo-like) board depends on the votes only through how many times each ordered pair
(model shown first, model shown second) ended in each outcome. ``aggregate`` reduces millions of battles to
those few thousand cells once; every later step (fits, bootstraps, plots) works on the cells.

Battle schema (what :func:`read_votes` returns), as LMArena publishes it:

=============  =======================================================================
model_a        model shown first (categorical; model_a and model_b share categories)
model_b        model shown second
winner         ``model_a``, ``model_b``, ``tie`` or ``tie (bothbad)`` (categorical)
optional       voter_id, prompt_id, category, timestamp, language, turn (kept if present)
=============  =======================================================================

Count schema (what :func:`aggregate` returns): model_a, model_b, outcome in
``win_a, win_b, tie, tie_bothbad``, count (int64), plus any ``by`` columns. The shown-first orientation is
kept so that position effects can be fitted later.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
OUTCOMES = ("win_a", "win_b", "tie", "tie_bothbad")
REQUIRED = ("model_a", "model_b", "winner")
OPTIONAL = ("voter_id", "prompt_id", "category", "timestamp", "language", "turn")

# Common spellings of the optional columns in published battle files, mapped to ours.
_ALIASES = {
    "judge": "voter_id",
    "judge_id": "voter_id",
    "voter": "voter_id",
    "user_id": "voter_id",
    "question_id": "prompt_id",
    "prompt_idx": "prompt_id",
    "tag": "category",
    "tstamp": "timestamp",
    "time": "timestamp",
}
# Winner spellings seen in the wild (GenAI-Arena, Artificial Analysis exports), mapped to LMArena's.
_WINNER_ALIASES = {
    "a": "model_a",
    "b": "model_b",
    "left": "model_a",
    "right": "model_b",
    "leftvote": "model_a",
    "rightvote": "model_b",
    "tievote": "tie",
    "bothbad_vote": "tie (bothbad)",
    "tie_bothbad": "tie (bothbad)",
    "bothbad": "tie (bothbad)",
}
_FILE_KINDS = (".csv", ".csv.gz", ".parquet", ".pq", ".jsonl", ".json", ".jsonl.gz")


class VoteError(ValueError):
    """Raised for invalid vote input; the message names the column, value and row count."""


# ---------------------------------------------------------------------------------------------- reading


def _expand_source(source: str | os.PathLike) -> list[Path]:
    text = os.fspath(source)
    if any(ch in text for ch in "*?["):
        paths = sorted(Path(p) for p in glob.glob(text, recursive=True))
        if not paths:
            raise FileNotFoundError(f"no files match the glob {text!r}")
        return paths
    path = Path(text)
    if not path.exists():
        raise FileNotFoundError(f"votes file not found: {path}")
    if path.is_dir():
        paths = sorted(p for p in path.rglob("*") if p.name.endswith(_FILE_KINDS))
        if not paths:
            raise FileNotFoundError(f"no vote files ({', '.join(_FILE_KINDS)}) in folder {path}")
        return paths
    return [path]


def _read_one(path: Path) -> pd.DataFrame:
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path)
    if name.endswith((".jsonl", ".jsonl.gz")):
        return pd.read_json(path, lines=True)
    if name.endswith(".json"):
        # LMArena ships battles as one JSON array; fall back to JSON lines.
        try:
            return pd.read_json(path)
        except ValueError:
            return pd.read_json(path, lines=True)
    raise VoteError(f"cannot read {path}: unknown file type (expected one of {', '.join(_FILE_KINDS)})")


def _load(source: Any) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, str | os.PathLike):
        frames = [_read_one(p) for p in _expand_source(source)]
        return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    if isinstance(source, Sequence) and source and all(isinstance(s, str | os.PathLike) for s in source):
        return pd.concat([_load(s) for s in source], ignore_index=True)
    raise TypeError(f"votes must be a DataFrame, a file path or a glob, not {type(source).__name__}")


def _example(df: pd.DataFrame, mask: np.ndarray) -> str:
    row = int(np.flatnonzero(mask)[0])
    cols = [c for c in REQUIRED if c in df.columns]
    values = ", ".join(f"{c}={df[c].iloc[row]!r}" for c in cols)
    return f"row {row}: {values}"


def _normalise_winner(winner: pd.Series) -> pd.Series:
    # Normalise the few distinct labels, not every row: millions of votes carry a handful of labels.
    codes, labels = pd.factorize(winner, use_na_sentinel=True)
    clean = [_WINNER_ALIASES.get(str(v).strip().lower(), str(v).strip().lower()) for v in labels]
    values = np.asarray(clean + [None], dtype=object)[codes]
    return pd.Series(values, index=winner.index, dtype="string")


def read_votes(
    source: pd.DataFrame | str | os.PathLike | Sequence[str],
    *,
    columns: Mapping[str, str] | None = None,
    allow_self: bool = False,
) -> pd.DataFrame:
    """Read and validate pairwise battles.

    Parameters
    ----------
    source
        A DataFrame, a CSV / Parquet / JSONL file, a folder of them, or a glob such as ``"votes/*.parquet"``.
    columns
        Renames applied first, ``{their_name: our_name}``, e.g. ``{"left": "model_a", "vote": "winner"}``.
    allow_self
        Self-battles (``model_a == model_b``) carry no information about a ranking. By default they are an
        error; with ``allow_self=True`` they are excluded and counted in the report.

    Returns
    -------
    pandas.DataFrame
        One row per battle: ``model_a``, ``model_b`` (categoricals sharing the sorted model names),
        ``winner`` (categorical over :data:`WINNERS`), the optional columns present (timestamps parsed) and
        any other columns unchanged. The validation
        report (rows read, rows used, each exclusion with its count) is in ``df.attrs["report"]``.

    Raises
    ------
    VoteError
        A required column is missing, a model is null, a winner label is unknown (each label with its count
        and an example row), or self-battles are present and ``allow_self`` is False.
    """
    raw = _load(source)
    if columns:
        missing = [c for c in columns if c not in raw.columns]
        if missing:
            raise VoteError(f"columns= renames {missing}, which are not in the data (columns: {list(raw.columns)})")
        raw = raw.rename(columns=dict(columns))
    aliases = {k: v for k, v in _ALIASES.items() if k in raw.columns and v not in raw.columns}
    raw = raw.rename(columns=aliases)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise VoteError(
            f"votes are missing required column(s) {missing}; found {list(raw.columns)}. "
            "Map other names with columns={'their_name': 'model_a', ...}."
        )
    n_read = len(raw)
    if n_read == 0:
        raise VoteError("votes are empty (0 rows)")

    for col in ("model_a", "model_b"):
        null = raw[col].isna().to_numpy()
        if null.any():
            raise VoteError(f"column {col!r} has {int(null.sum())} null model name(s) of {n_read} rows; first at "
                            f"{_example(raw, null)}")

    winner = _normalise_winner(raw["winner"])
    bad = ~winner.isin(WINNERS).to_numpy() | winner.isna().to_numpy()
    if bad.any():
        labels = raw.loc[bad, "winner"].astype("string").fillna("<null>")
        counts = labels.value_counts()
        detail = "; ".join(
            f"{lab!r} x{cnt} (e.g. {_example(raw, (labels == lab).reindex(raw.index, fill_value=False).to_numpy())})"
            for lab, cnt in counts.head(10).items()
        )
        raise VoteError(f"column 'winner' has {int(bad.sum())} unknown label(s) of {n_read} rows: {detail}. "
                        f"Expected one of {list(WINNERS)}.")

    # Work on the distinct names (factorize), not on every row: a few hundred models across millions of votes.
    codes_a, names_a = pd.factorize(raw["model_a"])
    codes_b, names_b = pd.factorize(raw["model_b"])
    names_a = pd.Index([str(n).strip() for n in names_a])
    names_b = pd.Index([str(n).strip() for n in names_b])
    all_names = pd.Index(sorted(set(names_a) | set(names_b)))
    ia = all_names.get_indexer(names_a)[codes_a]
    ib = all_names.get_indexer(names_b)[codes_b]
    same = ia == ib
    excluded: dict[str, int] = {}
    if same.any():
        if not allow_self:
            raise VoteError(f"{int(same.sum())} self-battle(s) (model_a == model_b) of {n_read} rows, first at "
                            f"{_example(raw, same)}; pass allow_self=True to exclude and report them")
        excluded["self_battle"] = int(same.sum())

    keep = ~same
    used = np.unique(np.concatenate([ia[keep], ib[keep]]))
    models = all_names[used]
    remap = np.full(len(all_names), -1, dtype=np.int32)
    remap[used] = np.arange(len(used), dtype=np.int32)
    win_codes = pd.Categorical(winner, categories=list(WINNERS)).codes
    out = pd.DataFrame(
        {
            "model_a": pd.Categorical.from_codes(remap[ia[keep]], categories=models),
            "model_b": pd.Categorical.from_codes(remap[ib[keep]], categories=models),
            "winner": pd.Categorical.from_codes(win_codes[keep], categories=list(WINNERS)),
        }
    )
    for col in OPTIONAL:
        if col in raw.columns:
            values = raw[col][keep].reset_index(drop=True)
            if col == "timestamp" and not pd.api.types.is_datetime64_any_dtype(values):
                values = _to_datetime(values)
            out[col] = values
    # Other columns (strata such as a benchmark dimension) are kept as they are, so by= and cluster= can use them.
    for col in raw.columns:
        if col not in out.columns and col not in REQUIRED:
            out[col] = raw[col][keep].reset_index(drop=True)
    out.attrs["report"] = {
        "rows_read": n_read,
        "rows_used": int(keep.sum()),
        "excluded": excluded,
        "models": len(models),
    }
    return out


def _to_datetime(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        # LMArena's tstamp is Unix seconds.
        return pd.to_datetime(values, unit="s", utc=True)
    return pd.to_datetime(values, utc=True, errors="raise")


def validation_report(votes: pd.DataFrame) -> str:
    """A one-paragraph summary of ``votes.attrs["report"]`` for printing."""
    rep = votes.attrs.get("report")
    if not rep:
        return "no validation report attached"
    parts = [f"{rep['rows_used']:,} of {rep['rows_read']:,} votes used among {rep['models']} models"]
    for why, n in rep.get("excluded", {}).items():
        parts.append(f"excluded {n:,} ({why.replace('_', ' ')})")
    return "; ".join(parts)


# ---------------------------------------------------------------------------------------------- aggregate


def _is_counts(df: pd.DataFrame) -> bool:
    return {"model_a", "model_b", "outcome", "count"} <= set(df.columns)


def _outcome_codes(winner: pd.Categorical) -> np.ndarray:
    # winner categories are WINNERS in order, so their codes are the OUTCOMES codes.
    return np.asarray(winner.codes, dtype=np.int8)


def _aggregate_pandas(votes: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    if not isinstance(votes["winner"].dtype, pd.CategoricalDtype) or list(votes["winner"].cat.categories) != list(
        WINNERS
    ):
        votes = read_votes(votes)
    models = votes["model_a"].cat.categories
    k = len(models)
    ia = votes["model_a"].cat.codes.to_numpy(np.int64)
    ib = votes["model_b"].cat.codes.to_numpy(np.int64)
    io = _outcome_codes(votes["winner"].array).astype(np.int64)
    if not by:
        # One bincount over a dense (a, b, outcome) key is an order of magnitude faster than groupby.
        key = (ia * k + ib) * 4 + io
        counts = np.bincount(key, minlength=k * k * 4)
        nz = np.flatnonzero(counts)
        cell_a, rest = np.divmod(nz, k * 4)
        cell_b, cell_o = np.divmod(rest, 4)
        return _counts_frame(models, cell_a, cell_b, cell_o, counts[nz], {})
    frame = pd.DataFrame({"_a": ia, "_b": ib, "_o": io})
    for col in by:
        frame[col] = votes[col].to_numpy()
    grouped = frame.groupby(by + ["_a", "_b", "_o"], sort=True, observed=True, dropna=False).size()
    idx = grouped.index.to_frame(index=False)
    extra = {col: idx[col].to_numpy() for col in by}
    return _counts_frame(models, idx["_a"].to_numpy(), idx["_b"].to_numpy(), idx["_o"].to_numpy(),
                         grouped.to_numpy(), extra)


def _counts_frame(models, ia, ib, io, count, extra: dict) -> pd.DataFrame:
    out = pd.DataFrame(extra)
    out["model_a"] = pd.Categorical.from_codes(np.asarray(ia, dtype=np.int32), categories=models)
    out["model_b"] = pd.Categorical.from_codes(np.asarray(ib, dtype=np.int32), categories=models)
    out["outcome"] = pd.Categorical.from_codes(np.asarray(io, dtype=np.int8), categories=list(OUTCOMES))
    out["count"] = np.asarray(count, dtype=np.int64)
    cols = list(extra) + ["model_a", "model_b", "outcome", "count"]
    return out[cols].reset_index(drop=True)


def _sql_path(source: Any) -> str | None:
    """A DuckDB table expression for a Parquet/CSV file, folder or glob; None when DuckDB cannot read it."""
    if isinstance(source, pd.DataFrame) or not isinstance(source, str | os.PathLike):
        return None
    text = os.fspath(source)
    lower = text.lower()
    if os.path.isdir(text):
        text = os.path.join(text, "**", "*.parquet")
        lower = text.lower()
    if lower.endswith((".parquet", ".pq")):
        return f"read_parquet('{text}')"
    if lower.endswith((".csv", ".csv.gz")):
        return f"read_csv_auto('{text}')"
    return None


def _duckdb_connect():
    import duckdb

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # keep stdout clean for scripts and notebooks
    return con


def _aggregate_duckdb(source: Any, by: list[str], columns: Mapping[str, str] | None) -> pd.DataFrame:
    import duckdb

    if isinstance(source, pd.DataFrame):
        table, con = "votes_df", _duckdb_connect()
        con.register(table, source)
    else:
        _expand_source(source)  # a clear FileNotFoundError before DuckDB's own
        table = _sql_path(source)
        if table is None:
            raise VoteError(f"engine='duckdb' reads Parquet or CSV files and globs, not {source!r}")
        con = _duckdb_connect()
    con.execute(f"SET threads TO {max(1, os.cpu_count() or 1)}")
    cols = {c: c for c in REQUIRED + tuple(by)}
    for theirs, ours in (columns or {}).items():
        if ours in cols:
            cols[ours] = theirs
    try:
        names = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {table}").fetchall()]
    except duckdb.Error as exc:
        raise VoteError(f"cannot read votes from {source}: {str(exc).splitlines()[0]}") from exc
    missing = [ours for ours, theirs in cols.items() if theirs not in names]
    if missing:
        raise VoteError(f"votes are missing required column(s) {missing}; found {names}")
    qa, qb, qw = (f'"{cols[c]}"' for c in REQUIRED)
    by_sql = "".join(f'"{cols[c]}" AS "{c}", ' for c in by)
    sql = f"""
        SELECT {by_sql}CAST({qa} AS VARCHAR) AS model_a, CAST({qb} AS VARCHAR) AS model_b,
               lower(trim(CAST({qw} AS VARCHAR))) AS winner, count(*) AS n
        FROM {table}
        GROUP BY ALL
    """
    grouped = con.execute(sql).df()
    con.close()
    # Validation on the grouped rows is cheap: the same rules as read_votes, with counts weighted.
    grouped["winner"] = grouped["winner"].map(lambda v: _WINNER_ALIASES.get(v, v))
    bad = ~grouped["winner"].isin(WINNERS)
    if bad.any():
        detail = grouped.loc[bad].groupby("winner", dropna=False)["n"].sum()
        raise VoteError("column 'winner' has unknown label(s): "
                        + "; ".join(f"{k!r} x{v}" for k, v in detail.items()))
    for col in ("model_a", "model_b"):
        null = grouped[col].isna()
        if null.any():
            raise VoteError(f"column {col!r} has {int(grouped.loc[null, 'n'].sum())} null model name(s)")
    same = grouped["model_a"] == grouped["model_b"]
    n_self = int(grouped.loc[same, "n"].sum())
    grouped = grouped.loc[~same]
    models = sorted(set(grouped["model_a"]) | set(grouped["model_b"]))
    ia = pd.Categorical(grouped["model_a"], categories=models).codes
    ib = pd.Categorical(grouped["model_b"], categories=models).codes
    io = pd.Categorical(grouped["winner"], categories=list(WINNERS)).codes
    extra = {c: grouped[c].to_numpy() for c in by}
    out = _counts_frame(pd.Index(models), ia, ib, io, grouped["n"].to_numpy(), extra)
    out = out.sort_values(by + ["model_a", "model_b", "outcome"], kind="stable", ignore_index=True)
    out.attrs["report"] = {"rows_read": int(grouped["n"].sum()) + n_self, "rows_used": int(grouped["n"].sum()),
                           "excluded": {"self_battle": n_self} if n_self else {}, "models": len(models)}
    return out


def aggregate(
    votes: pd.DataFrame | str | os.PathLike,
    *,
    by: str | Sequence[str] | None = None,
    engine: str = "auto",
    columns: Mapping[str, str] | None = None,
    allow_self: bool = False,
) -> pd.DataFrame:
    """Reduce battles to sufficient statistics: counts per (model_a, model_b, outcome[, by]).

    Parameters
    ----------
    votes
        Battles (a :func:`read_votes` frame or any frame it accepts), or a path / glob of vote files.
        Counts already in the count schema are returned unchanged (after validation).
    by
        Column(s) to keep as strata, e.g. ``"category"``; one set of counts per value.
    engine
        ``"pandas"`` (in memory), ``"duckdb"`` (SQL over Parquet/CSV files or globs, out of core) or ``"auto"``:
        DuckDB for Parquet/CSV paths (it never materialises the battles), pandas for frames.
    columns, allow_self
        As in :func:`read_votes`. With the DuckDB engine self-battles are always excluded and reported.

    Returns
    -------
    pandas.DataFrame
        Columns ``[*by], model_a, model_b, outcome, count``; ``outcome`` is one of :data:`OUTCOMES`,
        ``count`` an int64 number of votes. Orientation is as shown (model_a first). Only non-zero cells.
    """
    by_list = [by] if isinstance(by, str) else list(by or [])
    if engine not in ("auto", "pandas", "duckdb"):
        raise ValueError(f"engine must be 'auto', 'pandas' or 'duckdb', not {engine!r}")
    if isinstance(votes, pd.DataFrame) and _is_counts(votes):
        return validate_counts(votes)
    if engine == "auto":
        engine = "duckdb" if _sql_path(votes) is not None else "pandas"
    if engine == "duckdb":
        return _aggregate_duckdb(votes, by_list, columns)
    battles = read_votes(votes, columns=columns, allow_self=allow_self)
    missing = [c for c in by_list if c not in battles.columns]
    if missing:
        raise VoteError(f"by= names column(s) {missing} that the votes do not have (columns: {list(battles.columns)})")
    out = _aggregate_pandas(battles, by_list)
    out.attrs["report"] = battles.attrs["report"]
    return out


def _normalised(counts: pd.DataFrame) -> bool:
    """Model columns categorical with the same sorted categories, all used; outcome with our categories."""
    a, b, o = counts["model_a"], counts["model_b"], counts["outcome"]
    if not all(isinstance(x.dtype, pd.CategoricalDtype) for x in (a, b, o)):
        return False
    cats = a.cat.categories
    if not (cats.equals(b.cat.categories) and list(o.cat.categories) == list(OUTCOMES) and cats.is_monotonic_increasing
            and cats.is_unique):
        return False
    used = np.zeros(len(cats) + 1, dtype=bool)
    used[a.cat.codes.to_numpy()] = True
    used[b.cat.codes.to_numpy()] = True
    return bool(used[:-1].all())


def _check_values(values: np.ndarray) -> None:
    if (values < 0).any():
        i = int(np.flatnonzero(values < 0)[0])
        raise VoteError(f"column 'count' has {int((values < 0).sum())} negative value(s), e.g. {values[i]} at row {i}")
    if not np.all(values == np.round(values)):
        i = int(np.flatnonzero(values != np.round(values))[0])
        raise VoteError(f"column 'count' has non-integer value(s), e.g. {values[i]} at row {i}")


def validate_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Check a count table (negative, non-integer or null counts, unknown outcomes) and normalise its dtypes."""
    missing = [c for c in ("model_a", "model_b", "outcome", "count") if c not in counts.columns]
    if missing:
        raise VoteError(f"counts are missing column(s) {missing}; found {list(counts.columns)}")
    cnt = pd.to_numeric(counts["count"], errors="coerce")
    if cnt.isna().any():
        bad = counts.loc[cnt.isna(), "count"]
        raise VoteError(f"column 'count' has {len(bad)} non-numeric or null value(s), e.g. {bad.iloc[0]!r}")
    values = cnt.to_numpy(dtype=float)
    if _normalised(counts):
        # Already our dtypes (e.g. validated before): only the value checks, no string round trip.
        _check_values(values)
        codes_a = counts["model_a"].cat.codes.to_numpy()
        codes_b = counts["model_b"].cat.codes.to_numpy()
        if (codes_a < 0).any() or (codes_b < 0).any():
            col = "model_a" if (codes_a < 0).any() else "model_b"
            raise VoteError(f"column {col!r} has {int((counts[col].cat.codes < 0).sum())} null model name(s)")
        same = codes_a == codes_b
        if same.any():
            raise VoteError(f"counts contain {int(same.sum())} self-pair row(s) (model_a == model_b), "
                            f"e.g. {counts['model_a'][same].iloc[0]!r}")
        out = counts.copy(deep=False)
        if out["count"].dtype != np.int64:
            out["count"] = values.astype(np.int64)
        return out
    _check_values(values)
    outcome = counts["outcome"].astype("string")
    bad = ~outcome.isin(OUTCOMES)
    if bad.any():
        raise VoteError(f"column 'outcome' has unknown value(s) {sorted(outcome[bad].unique())[:10]}; "
                        f"expected {list(OUTCOMES)}")
    for col in ("model_a", "model_b"):
        if counts[col].isna().any():
            raise VoteError(f"column {col!r} has {int(counts[col].isna().sum())} null model name(s)")
    a = counts["model_a"].astype("string")
    b = counts["model_b"].astype("string")
    same = (a == b).to_numpy(dtype=bool)
    if same.any():
        raise VoteError(f"counts contain {int(same.sum())} self-pair row(s) (model_a == model_b), "
                        f"e.g. {a[same].iloc[0]!r}")
    models = sorted(set(a.unique()) | set(b.unique()))
    out = counts.copy()
    out["model_a"] = pd.Categorical(a, categories=models)
    out["model_b"] = pd.Categorical(b, categories=models)
    out["outcome"] = pd.Categorical(outcome, categories=list(OUTCOMES))
    out["count"] = values.astype(np.int64)
    out.attrs = dict(counts.attrs)
    return out


def expand_counts(counts: pd.DataFrame) -> pd.DataFrame:
    """Battles from counts: one row per vote (model_a, model_b, winner), in cell order.

    The inverse of :func:`aggregate` up to row order; extra (``by``) columns are repeated too.
    """
    counts = validate_counts(counts)
    reps = counts["count"].to_numpy()
    idx = np.repeat(np.arange(len(counts)), reps)
    models = counts["model_a"].cat.categories
    out = pd.DataFrame(
        {
            "model_a": pd.Categorical.from_codes(counts["model_a"].cat.codes.to_numpy()[idx], categories=models),
            "model_b": pd.Categorical.from_codes(counts["model_b"].cat.codes.to_numpy()[idx], categories=models),
            "winner": pd.Categorical.from_codes(counts["outcome"].cat.codes.to_numpy()[idx], categories=list(WINNERS)),
        }
    )
    for col in counts.columns:
        if col not in ("model_a", "model_b", "outcome", "count"):
            out[col] = counts[col].to_numpy()[idx]
    out.attrs["report"] = {"rows_read": len(out), "rows_used": len(out), "excluded": {}, "models": len(models)}
    return out


def as_counts(data: Any, **kwargs: Any) -> pd.DataFrame:
    """Counts from anything the rating functions accept: counts, battles, a path, or a dataset name."""
    if isinstance(data, pd.DataFrame) and _is_counts(data):
        return validate_counts(data)
    if isinstance(data, str) and not _looks_like_path(data):
        from . import datasets

        return datasets.load(data, form="counts")
    return aggregate(data, **kwargs)


def _looks_like_path(text: str) -> bool:
    return (os.path.sep in text or any(ch in text for ch in "*?[") or text.lower().endswith(_FILE_KINDS)
            or os.path.exists(text))
