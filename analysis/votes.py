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
import gzip
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
# pandas' default missing-value spellings, kept for the columns that are not model names or winners.
_PANDAS_NA = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>",
              "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]


class VoteError(ValueError):
    """Raised for invalid vote input; the message names the file, column, value and row count."""


# ---------------------------------------------------------------------------------------------- files
#
# One reader: every way votes come in (a frame, a file, a folder, a glob, the CLI, leaderboard(path), the
# explorer) goes through the files listed by vote_files, the column map of _column_map and the rules of
# _validate. The two engines differ only in who counts the raw rows: pandas in memory, DuckDB out of core.


def looks_like_path(text: str) -> bool:
    """True when ``text`` names a file, folder or glob rather than a data set name."""
    return (os.path.sep in text or any(ch in text for ch in "*?[") or text.lower().endswith(_FILE_KINDS)
            or os.path.exists(text))


def vote_files(source: str | os.PathLike) -> list[Path]:
    """The vote files a path, folder or glob stands for, sorted.

    A folder stands for every file in it (recursively) except hidden ones; a file whose type the reader does not
    know is an error naming it, so nothing in a folder is skipped silently.
    """
    text = os.fspath(source)
    if any(ch in text for ch in "*?[") and not os.path.exists(text):
        paths = sorted(Path(p) for p in glob.glob(text, recursive=True) if os.path.isfile(p))
        if not paths:
            raise FileNotFoundError(f"no files match the glob {text!r}")
    else:
        path = Path(text)
        if not path.exists():
            raise FileNotFoundError(f"votes file not found: {path}")
        if path.is_dir():
            paths = sorted(p for p in path.rglob("*") if p.is_file()
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not paths:
                raise FileNotFoundError(f"folder {path} holds no vote files ({', '.join(_FILE_KINDS)})")
        else:
            paths = [path]
    unknown = [p for p in paths if not p.name.lower().endswith(_FILE_KINDS)]
    if unknown:
        raise VoteError(f"cannot read {unknown[0]}: unknown file type (expected one of {', '.join(_FILE_KINDS)}); "
                        f"{len(unknown)} such file(s) in {text}; name the vote files with a glob such as "
                        f"'{os.path.join(text, '*.csv') if os.path.isdir(text) else text}'")
    return paths


def _kind(path: Path) -> str:
    name = path.name.lower()
    for kind, suffixes in (("parquet", (".parquet", ".pq")), ("csv", (".csv", ".csv.gz")),
                           ("jsonl", (".jsonl", ".jsonl.gz")), ("json", (".json",))):
        if name.endswith(suffixes):
            return kind
    raise VoteError(f"cannot read {path}: unknown file type (expected one of {', '.join(_FILE_KINDS)})")


def csv_delimiter(path: Path) -> str:
    """The delimiter of a CSV file (``,``, ``;``, tab or ``|``), sniffed from its first 64 kB; both engines use it."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            sample = fh.read(65536)
    except OSError as exc:
        raise VoteError(f"cannot read {path}: {exc}") from exc
    if not sample.strip():
        return ","
    header = sample.splitlines()[0]
    # The header decides: the delimiter that splits it into the most fields (a model name may contain a comma).
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_layout(path: Path, columns: Mapping[str, str] | None) -> tuple[str, list[str], dict[str, str], list[str]]:
    """What both engines need before reading a CSV file: its delimiter, header, map to our names, and the columns
    to read as text (the model and winner columns: ``"01"`` stays ``"01"``, ``"NA"`` is a model)."""
    sep = csv_delimiter(path)
    try:
        names = list(pd.read_csv(path, sep=sep, nrows=0).columns)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise VoteError(f"cannot read {path}: {str(exc).splitlines()[0]}") from exc
    mapping = _column_map(names, columns, str(path))
    return sep, names, mapping, [n for n in names if mapping.get(n, n) in REQUIRED]


def _column_map(names: Sequence[str], columns: Mapping[str, str] | None, where: str) -> dict[str, str]:
    """``{their_name: our_name}`` for one file's columns: explicit renames first, then common aliases."""
    names = list(names)
    mapping: dict[str, str] = {}
    if columns:
        missing = [c for c in columns if c not in names]
        if missing:
            raise VoteError(f"{where}: columns= renames {missing}, which are not in the data (columns: {names})")
        mapping.update(columns)
    ours = {mapping.get(n, n) for n in names}
    for theirs, target in _ALIASES.items():
        if theirs in names and theirs not in mapping and target not in ours:
            mapping[theirs] = target
            ours.add(target)
    have = {mapping.get(n, n) for n in names}
    missing = [c for c in REQUIRED if c not in have]
    if missing:
        raise VoteError(f"{where}: missing required column(s) {missing}; found {names}. "
                        "Map other names with columns={'their_name': 'model_a', ...}.")
    return mapping


def _jsonl_error(path: Path, exc: Exception) -> VoteError:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except json.JSONDecodeError as bad:
                return VoteError(f"{path} line {number}: not valid JSON ({bad.msg} at column {bad.colno})")
    return VoteError(f"cannot read {path}: {str(exc).splitlines()[0]}")


def _read_parquet(path: Path, columns: Mapping[str, str] | None) -> tuple[pd.DataFrame, dict[str, str]]:
    """A Parquet file with its model and winner columns read as dictionaries (categoricals): millions of votes
    carry a few hundred names, so the reader's rules then run on the names, not on every row. Also its column
    map."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    mapping = _column_map(schema.names, columns, str(path))
    text = [f.name for f in schema if mapping.get(f.name, f.name) in REQUIRED
            and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
    return pq.read_table(path, read_dictionary=text).to_pandas(), mapping


def _read_file(path: Path, columns: Mapping[str, str] | None) -> pd.DataFrame:
    """One vote file as a frame with our column names; model and winner columns kept as the text in the file."""
    kind = _kind(path)
    mapping = None
    try:
        if kind == "csv":
            sep, names, mapping, text_cols = _csv_layout(path, columns)
            raw = pd.read_csv(path, sep=sep, dtype={c: str for c in text_cols}, keep_default_na=False,
                              na_values={c: [""] for c in text_cols} | {c: _PANDAS_NA for c in names
                                                                         if c not in text_cols})
        elif kind == "parquet":
            raw, mapping = _read_parquet(path, columns)
        elif kind == "jsonl":
            try:
                raw = pd.read_json(path, lines=True, dtype=False)
            except ValueError as exc:
                raise _jsonl_error(path, exc) from exc
        else:
            # LMArena ships battles as one JSON array; JSON lines under .json are read too.
            try:
                raw = pd.read_json(path, dtype=False)
            except ValueError:
                try:
                    raw = pd.read_json(path, lines=True, dtype=False)
                except ValueError as exc:
                    raise _jsonl_error(path, exc) from exc
    except VoteError:
        raise
    except (ValueError, OSError, UnicodeDecodeError, ImportError) as exc:
        raise VoteError(f"cannot read {path}: {str(exc).splitlines()[0]}") from exc
    if mapping is None:  # JSON: the columns are known only once the file is parsed
        mapping = _column_map(raw.columns, columns, str(path))
    return raw.rename(columns=mapping)


def _parts(source: Any, columns: Mapping[str, str] | None) -> list[tuple[str, pd.DataFrame]]:
    """(where, frame with our column names) for each input: a frame, or each file of a path, folder or glob."""
    if isinstance(source, pd.DataFrame):
        return [("votes", source.rename(columns=_column_map(source.columns, columns, "votes")))]
    if isinstance(source, str | os.PathLike):
        return [(str(p), _read_file(p, columns)) for p in vote_files(source)]
    if isinstance(source, Sequence) and source and all(isinstance(s, str | os.PathLike) for s in source):
        return [part for s in source for part in _parts(s, columns)]
    raise TypeError(f"votes must be a DataFrame, a file path, a folder or a glob, not {type(source).__name__}")


# ---------------------------------------------------------------------------------------------- validation


@dataclass
class _Checked:
    """One validated input: model names and winner codes, with row weights (DuckDB groups) or one per row."""

    where: str
    names: pd.Index  # distinct stripped model names of this input
    ia: np.ndarray  # per row, index into names
    ib: np.ndarray
    win: np.ndarray  # per row, index into WINNERS
    keep: np.ndarray  # rows used
    weight: np.ndarray | None  # votes per row (None: one each)
    excluded: dict[str, int]

    def votes(self, mask: np.ndarray | None = None) -> int:
        if mask is None:
            return len(self.ia) if self.weight is None else int(self.weight.sum())
        return int(mask.sum()) if self.weight is None else int(self.weight[mask].sum())


def _example(df: pd.DataFrame, mask: np.ndarray, weighted: bool) -> str:
    row = int(np.flatnonzero(mask)[0])
    values = ", ".join(f"{c}={df[c].iloc[row]!r}" for c in REQUIRED if c in df.columns)
    return values if weighted else f"row {row}: {values}"


def _distinct(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes and distinct labels (-1 for null): a categorical's own, else one factorize."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), values.cat.categories
    codes, labels = pd.factorize(values, use_na_sentinel=True)
    return codes, pd.Index(labels)


def _model_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """Codes into the distinct stripped names, and a mask of null or blank names."""
    codes, labels = _distinct(values)
    stripped = [str(v).strip() for v in labels]
    names = pd.Index(sorted({s for s in stripped if s}), dtype="str")
    lookup = np.asarray(names.get_indexer(stripped).tolist() + [-1], dtype=np.int32)
    idx = lookup[codes]
    return idx, names, idx < 0


def _winner_codes(values: pd.Series) -> np.ndarray:
    """Codes into WINNERS (-1 unknown or null); labels compared stripped and case-folded, aliases mapped."""
    codes, labels = _distinct(values)
    clean = [_WINNER_ALIASES.get(str(v).strip().lower(), str(v).strip().lower()) for v in labels]
    lookup = np.asarray([WINNERS.index(c) if c in WINNERS else -1 for c in clean] + [-1], dtype=np.int8)
    return lookup[codes]


def _validate(raw: pd.DataFrame, where: str, weight: np.ndarray | None, allow_self: bool) -> _Checked:
    """The reader's rules, the same for every engine (``weight``: votes per row when rows are DuckDB groups)."""
    weighted = weight is not None
    n_read = len(raw) if weight is None else int(weight.sum())

    def count(mask):
        return int(mask.sum()) if weight is None else int(weight[mask].sum())

    side = {}
    for col in ("model_a", "model_b"):
        idx, names, null = _model_codes(raw[col])
        if null.any():
            raise VoteError(f"{where}: column {col!r} has {count(null)} null or blank model name(s) of {n_read} "
                            f"rows; first at {_example(raw, null, weighted)}")
        side[col] = (idx, names)
    names = side["model_a"][1].union(side["model_b"][1])
    ia = names.get_indexer(side["model_a"][1]).astype(np.int32)[side["model_a"][0]]
    ib = names.get_indexer(side["model_b"][1]).astype(np.int32)[side["model_b"][0]]

    win = _winner_codes(raw["winner"])
    bad = win < 0
    if bad.any():
        labels = raw.loc[bad, "winner"].astype("string").fillna("<null>")
        w = pd.Series(weight[bad] if weighted else np.ones(int(bad.sum()), dtype=np.int64), index=labels.index)
        totals = w.groupby(labels.to_numpy(), sort=False).sum().sort_values(ascending=False)
        detail = "; ".join(
            f"{lab!r} x{int(cnt)} (e.g. {_example(raw, (labels == lab).reindex(raw.index, fill_value=False).to_numpy(), weighted)})"  # noqa: E501
            for lab, cnt in totals.head(10).items())
        raise VoteError(f"{where}: column 'winner' has {count(bad)} unknown label(s) of {n_read} rows: {detail}. "
                        f"Expected one of {list(WINNERS)}.")

    same = ia == ib
    excluded: dict[str, int] = {}
    if same.any():
        if not allow_self:
            raise VoteError(f"{where}: {count(same)} self-battle(s) (model_a == model_b) of {n_read} rows, first at "
                            f"{_example(raw, same, weighted)}; pass allow_self=True (--allow-self) to exclude and "
                            "report them")
        excluded["self_battle"] = count(same)
    return _Checked(where, names, ia, ib, win, ~same, weight, excluded)


def _merge_names(parts: list[_Checked]) -> tuple[pd.Index, list[tuple[np.ndarray, np.ndarray]]]:
    """The models used by any input, sorted, and each input's rows recoded into them."""
    used: set[str] = set()
    for p in parts:
        n = len(p.names)
        ia, ib = (p.ia, p.ib) if p.keep.all() else (p.ia[p.keep], p.ib[p.keep])
        seen = (np.bincount(ia, minlength=n) + np.bincount(ib, minlength=n)) > 0
        used.update(p.names[seen])
    models = pd.Index(sorted(used), dtype="str")
    recoded = []
    for p in parts:
        remap = models.get_indexer(p.names).astype(np.int32)
        recoded.append((remap[p.ia], remap[p.ib]))
    return models, recoded


def _report(parts: list[_Checked], models: pd.Index) -> dict[str, Any]:
    excluded: dict[str, int] = {}
    for p in parts:
        for why, n in p.excluded.items():
            excluded[why] = excluded.get(why, 0) + n
    rows_read = sum(p.votes() for p in parts)
    rows_used = sum(p.votes(p.keep) for p in parts)
    assert rows_read == rows_used + sum(excluded.values())  # every vote is used or reported
    return {"rows_read": rows_read, "rows_used": rows_used, "excluded": excluded, "models": len(models),
            "files": [p.where for p in parts]}


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
        A DataFrame, a CSV / Parquet / JSONL / JSON file, a folder of them (every file is read; a file of
        another type is an error), a glob such as ``"votes/*.parquet"``, or a list of these. CSV delimiters
        (``,``, ``;``, tab, ``|``) are taken from the header line.
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
        any other columns unchanged. The validation report (rows read, rows used, each exclusion with its
        count, the files read) is in ``df.attrs["report"]``.

    Notes
    -----
    The rules, the same for every engine and entry point: model names are text with surrounding whitespace
    removed (case kept: ``"GPT-4"`` and ``"gpt-4"`` are two models); a null or blank name is an error; winner
    labels are compared without surrounding whitespace and case, with common spellings mapped (``"left"`` ->
    ``"model_a"``); an unknown label is an error listing each label with its count; self-battles are an error
    unless ``allow_self=True``. Identical rows are separate votes (a battle file has no vote key).

    Raises
    ------
    VoteError
        A file cannot be read (named with its line for JSON lines), a required column is missing, a model is
        null, a winner label is unknown, or self-battles are present and ``allow_self`` is False.
    """
    inputs = _parts(source, columns)
    checked = [_validate(raw, where, None, allow_self) for where, raw in inputs]
    if sum(len(c.ia) for c in checked) == 0:
        raise VoteError(f"votes are empty (0 rows in {', '.join(c.where for c in checked)})")
    models, codes = _merge_names(checked)
    keep = np.concatenate([c.keep for c in checked])
    everything = bool(keep.all())

    def joined(arrays: list[np.ndarray]) -> np.ndarray:
        out = arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
        return out if everything else out[keep]

    out = pd.DataFrame(
        {
            "model_a": pd.Categorical.from_codes(joined([a for a, _ in codes]), categories=models),
            "model_b": pd.Categorical.from_codes(joined([b for _, b in codes]), categories=models),
            "winner": pd.Categorical.from_codes(joined([c.win for c in checked]), categories=list(WINNERS)),
        }
    )
    frames = [raw for _, raw in inputs]
    extra = [c for c in dict.fromkeys(col for f in frames for col in f.columns) if c not in REQUIRED]
    for col in extra:
        pieces = [f[col] if col in f.columns else pd.Series([None] * len(f), dtype=object) for f in frames]
        values = (pieces[0] if len(pieces) == 1 else pd.concat(pieces, ignore_index=True))
        values = values.reset_index(drop=True) if everything else values[keep].reset_index(drop=True)
        if col == "timestamp" and not pd.api.types.is_datetime64_any_dtype(values):
            values = _to_datetime(values)
        out[col] = values
    # Optional columns first (after the required ones), then the others as they came.
    order = list(REQUIRED) + [c for c in OPTIONAL if c in out.columns] + [c for c in extra if c not in OPTIONAL]
    out = out[order]
    out.attrs["report"] = _report(checked, models)
    return out


def _to_datetime(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        # LMArena's tstamp is Unix seconds.
        return pd.to_datetime(values, unit="s", utc=True)
    return pd.to_datetime(values, utc=True, errors="raise")


def format_report(report: Mapping[str, Any] | None) -> str:
    """One line from a reader's report: votes used of read, models, and each exclusion with its reason."""
    if not report or "rows_used" not in report:
        return "no validation report attached"
    parts = [f"{report['rows_used']:,} of {report['rows_read']:,} votes used"
             + (f" among {report['models']} models" if report.get("models") is not None else "")]
    for why, n in (report.get("excluded") or {}).items():
        parts.append(f"excluded {n:,} ({why.replace('_', ' ')})")
    if report.get("merged_duplicate_cells"):
        parts.append(f"{report['merged_duplicate_cells']:,} duplicate count cell(s) summed")
    files = report.get("files") or []
    if len(files) > 1 or (files and files[0] != "votes"):
        parts.append(f"{len(files)} file(s) read")
    return "; ".join(parts)


def validation_report(votes: pd.DataFrame) -> str:
    """A one-line summary of ``votes.attrs["report"]`` for printing."""
    return format_report(votes.attrs.get("report"))


# ---------------------------------------------------------------------------------------------- aggregate


def is_counts(df: pd.DataFrame) -> bool:
    """True for a frame in the count schema (model_a, model_b, outcome, count)."""
    return {"model_a", "model_b", "outcome", "count"} <= set(df.columns)


def _outcome_codes(winner: pd.Categorical) -> np.ndarray:
    # winner categories are WINNERS in order, so their codes are the OUTCOMES codes.
    return np.asarray(winner.codes, dtype=np.int8)


def _already_valid(votes: pd.DataFrame) -> bool:
    """A frame that already obeys the reader's rules (a :func:`read_votes` result, or a filtered one).

    The rules are checked on the few distinct labels and on the integer codes, so a validated frame of millions
    of votes is not parsed again: shared model categories, none null or blank or padded with whitespace, winner
    categories exactly :data:`WINNERS`, no null codes and no self-battles.
    """
    if not {"model_a", "model_b", "winner"} <= set(votes.columns) or len(votes) == 0:
        return False
    a, b, w = votes["model_a"], votes["model_b"], votes["winner"]
    if not all(isinstance(x.dtype, pd.CategoricalDtype) for x in (a, b, w)):
        return False
    cats = a.cat.categories
    if not cats.equals(b.cat.categories) or list(w.cat.categories) != list(WINNERS):
        return False
    if not all(isinstance(c, str) and c and c == c.strip() for c in cats):
        return False
    ca, cb, cw = (x.cat.codes.to_numpy() for x in (a, b, w))
    return bool((ca >= 0).all() and (cb >= 0).all() and (cw >= 0).all() and (ca != cb).all())


def _drop_unused_models(votes: pd.DataFrame) -> pd.DataFrame:
    """The same battles with only the models that appear (a filtered frame keeps every category)."""
    cats = votes["model_a"].cat.categories
    ca = votes["model_a"].cat.codes.to_numpy()
    cb = votes["model_b"].cat.codes.to_numpy()
    used = np.bincount(ca, minlength=len(cats)) + np.bincount(cb, minlength=len(cats)) > 0
    if used.all():
        return votes
    remap = np.cumsum(used) - 1
    out = votes.copy(deep=False)
    out["model_a"] = pd.Categorical.from_codes(remap[ca].astype(np.int32), categories=cats[used])
    out["model_b"] = pd.Categorical.from_codes(remap[cb].astype(np.int32), categories=cats[used])
    return out


def _aggregate_pandas(votes: pd.DataFrame, by: list[str]) -> pd.DataFrame:
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


def _duckdb_connect():
    import duckdb

    con = duckdb.connect(config={"threads": max(1, os.cpu_count() or 1)})
    con.execute("SET enable_progress_bar = false")  # a constant: keep stdout clean for scripts and notebooks
    return con


def _duckdb_groups(con, path: Path, columns: Mapping[str, str] | None, by: list[str]) -> pd.DataFrame:
    """Distinct (model_a, model_b, winner[, by]) rows of one file with their vote count ``n``, out of core.

    Paths and column names reach DuckDB through its relation API (never pasted into SQL text); model and winner
    values come back as the text in the file, so the reader's rules (:func:`_validate`) apply unchanged.
    """
    import duckdb
    import duckdb.sqltypes as T
    from duckdb import ColumnExpression

    kind = _kind(path)
    try:
        if kind == "csv":
            sep, _, mapping, text_cols = _csv_layout(path, columns)
            rel = con.read_csv(str(path), sep=sep, header=True, dtype={c: "VARCHAR" for c in text_cols},
                               quotechar='"', escapechar='"')
        elif kind == "parquet":
            rel = con.read_parquet(str(path))
            mapping = _column_map(rel.columns, columns, str(path))
        else:
            return pd.DataFrame()  # JSON files are read by pandas (see aggregate)
        theirs = {ours: name for name, ours in ((n, mapping.get(n, n)) for n in rel.columns)}
        missing = [c for c in by if c not in theirs]
        if missing:
            raise VoteError(f"{path}: by= names column(s) {missing} that the votes do not have "
                            f"(columns: {list(theirs)})")
        keys = [f"k{i}" for i in range(3 + len(by))]
        exprs = [ColumnExpression(theirs[c]).cast(T.VARCHAR).alias(k) for c, k in zip(REQUIRED, keys, strict=False)]
        exprs += [ColumnExpression(theirs[c]).alias(k) for c, k in zip(by, keys[3:], strict=True)]
        group = ", ".join(keys)  # our own fixed names k0, k1, ...: no user text in this SQL
        grouped = rel.select(*exprs).aggregate(f"{group}, count(*) AS n", group).df()
    except duckdb.Error as exc:
        raise VoteError(f"cannot read {path}: {str(exc).splitlines()[0]}") from exc
    return grouped.rename(columns=dict(zip(keys, list(REQUIRED) + by, strict=True)))


def _aggregate_duckdb(source: Any, by: list[str], columns: Mapping[str, str] | None,
                      allow_self: bool) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        raise VoteError("engine='duckdb' counts vote files (a path, folder or glob); use engine='pandas' for frames")
    paths = [p for s in (source if isinstance(source, list | tuple) else [source]) for p in vote_files(s)]
    con = _duckdb_connect()
    groups = []
    try:
        for path in paths:
            if _kind(path) in ("jsonl", "json"):
                raw = _read_file(path, columns)
                missing = [c for c in by if c not in raw.columns]
                if missing:
                    raise VoteError(f"{path}: by= names column(s) {missing} that the votes do not have")
                grouped = (raw[list(REQUIRED) + by].astype({c: "string" for c in REQUIRED})
                           .groupby(list(REQUIRED) + by, dropna=False, sort=False, observed=True).size()
                           .rename("n").reset_index())
            else:
                grouped = _duckdb_groups(con, path, columns, by)
            groups.append((str(path), grouped))
    finally:
        con.close()
    checked = [_validate(g, where, g["n"].to_numpy(np.int64), allow_self) for where, g in groups]
    if sum(c.votes() for c in checked) == 0:
        raise VoteError(f"votes are empty (0 rows in {', '.join(str(p) for p in paths)})")
    models, codes = _merge_names(checked)
    keep = np.concatenate([c.keep for c in checked])
    frame = pd.DataFrame({"_a": np.concatenate([a for a, _ in codes])[keep],
                          "_b": np.concatenate([b for _, b in codes])[keep],
                          "_o": np.concatenate([c.win for c in checked])[keep],
                          "n": np.concatenate([c.weight for c in checked])[keep]})
    for col in by:
        frame[col] = pd.concat([g[col] for _, g in groups], ignore_index=True)[keep].to_numpy()
    # Rows that differed only in whitespace or case of the labels are one cell once normalised.
    summed = frame.groupby(by + ["_a", "_b", "_o"], sort=True, dropna=False)["n"].sum().reset_index()
    extra = {c: summed[c].to_numpy() for c in by}
    out = _counts_frame(models, summed["_a"].to_numpy(), summed["_b"].to_numpy(), summed["_o"].to_numpy(),
                        summed["n"].to_numpy(), extra)
    out.attrs["report"] = _report(checked, models)
    return out


def aggregate(
    votes: pd.DataFrame | str | os.PathLike | Sequence[str],
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
        Battles (a :func:`read_votes` frame or any frame it accepts), or a path, folder or glob of vote files.
        Counts already in the count schema are returned after :func:`validate_counts`.
    by
        Column(s) to keep as strata, e.g. ``"category"``; one set of counts per value.
    engine
        Who counts the rows: ``"pandas"`` (in memory), ``"duckdb"`` (SQL over the files, out of core: the
        battles are never held in memory) or ``"auto"`` (DuckDB for paths, pandas for frames). Both apply the
        reader's rules (see :func:`read_votes`) and give identical counts and reports.
    columns, allow_self
        As in :func:`read_votes`.

    Returns
    -------
    pandas.DataFrame
        Columns ``[*by], model_a, model_b, outcome, count``; ``outcome`` is one of :data:`OUTCOMES`,
        ``count`` an int64 number of votes. Orientation is as shown (model_a first). Only non-zero cells.
        ``attrs["report"]``: rows read, rows used, exclusions with counts, files read.
    """
    by_list = [by] if isinstance(by, str) else list(by or [])
    if engine not in ("auto", "pandas", "duckdb"):
        raise ValueError(f"engine must be 'auto', 'pandas' or 'duckdb', not {engine!r}")
    if isinstance(votes, pd.DataFrame) and is_counts(votes):
        return merge_duplicate_cells(validate_counts(votes))
    if engine == "auto":
        engine = "pandas" if isinstance(votes, pd.DataFrame) else "duckdb"
    if engine == "duckdb":
        return _aggregate_duckdb(votes, by_list, columns, allow_self)
    if isinstance(votes, pd.DataFrame) and not columns and _already_valid(votes):
        battles = _drop_unused_models(votes)
        n = len(battles)
        report = votes.attrs.get("report")
        if not report or report.get("rows_used") != n:
            report = {"rows_read": n, "rows_used": n, "excluded": {}, "models": len(battles["model_a"].cat.categories),
                      "files": ["votes"]}
        battles.attrs["report"] = report
    else:
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


_MAX_COUNT = 2**53  # counts are summed in float64 by the fits: beyond this they are no longer exact


def _check_values(values: np.ndarray) -> None:
    if not np.isfinite(values).all():
        i = int(np.flatnonzero(~np.isfinite(values))[0])
        raise VoteError(f"column 'count' has {int((~np.isfinite(values)).sum())} infinite value(s), e.g. row {i}")
    if (values < 0).any():
        i = int(np.flatnonzero(values < 0)[0])
        raise VoteError(f"column 'count' has {int((values < 0).sum())} negative value(s), e.g. {values[i]} at row {i}")
    if (values > _MAX_COUNT).any():
        i = int(np.flatnonzero(values > _MAX_COUNT)[0])
        raise VoteError(f"column 'count' has {int((values > _MAX_COUNT).sum())} value(s) above 2**53, e.g. "
                        f"{values[i]:g} at row {i}; counts must be whole numbers of votes")
    if not np.all(values == np.round(values)):
        i = int(np.flatnonzero(values != np.round(values))[0])
        raise VoteError(f"column 'count' has non-integer value(s), e.g. {values[i]} at row {i}")


def merge_duplicate_cells(counts: pd.DataFrame) -> pd.DataFrame:
    """Sum cells listed more than once (e.g. two count tables concatenated), with a warning and
    ``attrs["report"]["merged_duplicate_cells"]``; user counts pass here on their way in."""
    keys = [c for c in counts.columns if c != "count"]
    dup = counts.duplicated(keys, keep=False).to_numpy()
    if not dup.any():
        return counts
    n_rows = int(dup.sum())
    merged = counts.groupby(keys, sort=False, observed=True, dropna=False, as_index=False)["count"].sum()
    merged = merged[keys + ["count"]]
    report = dict(counts.attrs.get("report") or {})
    report["merged_duplicate_cells"] = n_rows - (len(counts) - len(merged))
    merged.attrs = {**counts.attrs, "report": report}
    warnings.warn(f"counts list {n_rows} rows for {report['merged_duplicate_cells']} cell(s) more than once "
                  f"(same {', '.join(keys)}); their counts were summed", stacklevel=3)
    return merged


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
    outcome = counts["outcome"].astype("string").str.strip().str.lower()
    bad = ~outcome.isin(OUTCOMES)
    if bad.any():
        raise VoteError(f"column 'outcome' has unknown value(s) {sorted(outcome[bad].unique())[:10]}; "
                        f"expected {list(OUTCOMES)}")
    # The reader's rules: names without surrounding whitespace, blank names are null.
    a = counts["model_a"].astype("string").str.strip().replace("", pd.NA)
    b = counts["model_b"].astype("string").str.strip().replace("", pd.NA)
    for col, names in (("model_a", a), ("model_b", b)):
        if names.isna().any():
            raise VoteError(f"column {col!r} has {int(names.isna().sum())} null or blank model name(s) of "
                            f"{len(names)} rows")
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
