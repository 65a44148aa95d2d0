"""Real data sets as tidy frames: arena votes, published leaderboards, human ratings of generated videos.

Every loader returns a pandas DataFrame with one row per observation and documents where the numbers come
from (source, licence) and what they measure (units). Three kinds of data live here:

* **Votes** (pairwise battles): :func:`chatbot_arena_2024_08_14`, the real Chatbot Arena pair counts shipped
  inside the PyPI package ``leaderbot``. Returned in the :func:`analysis.votes.aggregate` count schema, so the
  rating engine can use them directly; ``form="battles"`` expands them to one row per vote.
* **Published leaderboards** (aggregates, no votes): :func:`aa_video_arena` (Artificial Analysis daily boards),
  :func:`genai_arena_video` (GenAI-Arena), and the published figures kept in the repository's ``data/``
  folder (:func:`published_vbench`, :func:`published_aa_t2v_2026_04_30`,
  :func:`published_chatbot_arena_2024_08_14`), each row with a ``source`` citation.
* **Absolute human ratings** of videos: :func:`videobench_human`, :func:`t2vscore_tvge`.
  :func:`ratings_to_pairwise` turns such ratings into battles (same item, higher score wins) so that the
  arena machinery can rank the models the raters saw side by side.

Where the larger public files are looked for (first hit wins): an explicit ``path=`` argument, the folder
named by the environment variable ``VIDEO_ARENA_DATA``, the repository's ``data/`` folder, then
``../shared/data`` beside the repository. The files are not copied into the repository; :func:`download`
fetches them from their public GitHub addresses (pinned commits) for users with internet access.

:data:`DATASETS` lists every data set by name, and :func:`load` loads one by name.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import importlib.util
import io
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io import write_bytes, write_text
from .votes import (
    OUTCOMES,
    aggregate,
    expand_counts,
    looks_like_path,
    read_votes,
)

__all__ = [
    "PROVENANCE",
    "DATASETS",
    "ENV_VAR",
    "Dataset",
    "aa_video_arena",
    "chatbot_arena_2024_08_14",
    "download",
    "find_data",
    "genai_arena_video",
    "load",
    "name_mapping",
    "published_aa_t2v_2026_04_30",
    "published_chatbot_arena_2024_08_14",
    "provenance",
    "published_vbench",
    "ratings_to_pairwise",
    "t2vscore_tvge",
    "videobench_human",
]

ENV_VAR = "VIDEO_ARENA_DATA"
# Where a published number comes from, carried beside it by every published-figures table in data/.
PROVENANCE = ("sampled_by", "evaluated_by", "source", "date", "sample_size")
_REPO = Path(__file__).resolve().parents[1]
# Published figures that the repository itself carries (small CSVs with a source column).
_REPO_DATA = _REPO / "data"
# The workplace keeps the public data sets beside the repository; resolve() so messages show a clean path.
_SHARED_DATA = (_REPO / ".." / "shared" / "data").resolve()

# ---------------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Dataset:
    """One entry of :data:`DATASETS`.

    Attributes
    ----------
    name
        Registry name, e.g. ``"videobench-human"``; for folder data sets also the folder name.
    loader
        The function that returns the tidy frame.
    description
        One line: what a row is and what the values measure.
    kind
        ``"votes"``, ``"ratings"``, ``"leaderboard"`` or ``"published"``.
    source
        Public address (repository and commit) of the original files.
    licence
        Licence as stated upstream.
    marker
        For folder data sets: a file or folder whose presence shows the data set is there.
    remote
        For :func:`download`: ``(raw URL, file name in the data set folder)`` pairs.
    """

    name: str
    loader: Callable[..., pd.DataFrame]
    description: str
    kind: str
    source: str
    licence: str
    marker: str | None = None
    remote: tuple[tuple[str, str], ...] = field(default=(), repr=False)


def _raw(repo: str, commit: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{urllib.parse.quote(path)}"


_VB_REPO, _VB_COMMIT = "Video-Bench/Video-Bench", "d40b917c4238011aea27d24f85b1e3bf996715bd"
_VB_DIMENSIONS = (
    "action",
    "aesthetic_quality",
    "color",
    "imaging_quality",
    "motion_effects",
    "object_class",
    "scene",
    "temporal_consistency",
    "video-text consistency",
)
_T2V_REPO, _T2V_COMMIT = "linzhiqiu/t2v_metrics", "6ecb74f92028f42c7e64546d3a71e98c8c73068f"
_T2V_FILES = ("t2vscore_alignment_score.json", "t2vscore_quality_score.json", "t2vscore_results.csv")
_GENAI_REPO, _GENAI_COMMIT = "ukitako1030/EVAL", "1fca05359d3cc94b0155f18cdd164607ee72c9bb"
_GENAI_DATES = ("20240526", "20250322")
_AA_REPO, _AA_COMMIT = "oolong-tea-2026/artificial-analysis-leaderboards", "ed1690f664bd134e6f949b0764e781db0bea7f28"
# Dates the upstream repository holds (SOURCE.txt): 2026-04-10 .. 2026-05-15 daily, plus 2026-07-10.
_AA_DATES = tuple(
    (date(2026, 4, 10) + timedelta(days=d)).isoformat() for d in range((date(2026, 5, 15) - date(2026, 4, 10)).days + 1)
) + ("2026-07-10",)
_AA_MODALITIES = ("text-to-video", "image-to-video")
_AA_ALIASES = {"t2v": "text-to-video", "i2v": "image-to-video", "text": "text-to-video", "image": "image-to-video"}


# ---------------------------------------------------------------------------------------------- locating data


def find_data(name: str, path: str | os.PathLike | None = None) -> Path:
    """The folder that holds data set ``name``.

    Parameters
    ----------
    name
        A folder data set of :data:`DATASETS` (``"aa-video-arena"``, ``"videobench-human"``,
        ``"t2vscore-tvge"``, ``"genai-arena-video"``).
    path
        Either the data set folder itself or a folder that contains it. When given, nothing else is searched.

    Returns
    -------
    pathlib.Path
        The first of: ``path``; ``$VIDEO_ARENA_DATA/<name>``; ``<repo>/data/<name>``; ``<repo>/../shared/data/<name>``
        that contains the data set's files.

    Raises
    ------
    FileNotFoundError
        None of those places holds it; the message says where to put the files and their public address.
    """
    ds = _get(name)
    if ds.marker is None:
        raise ValueError(f"data set {ds.name!r} is not a folder data set ({ds.kind}); load it with load({ds.name!r})")
    if path is not None:
        base = Path(path).expanduser()
        candidates = [base / ds.name, base]
    else:
        candidates = []
        env = os.environ.get(ENV_VAR)
        if env:
            candidates.append(Path(env).expanduser() / ds.name)
        candidates += [_REPO_DATA / ds.name, _SHARED_DATA / ds.name]
    for folder in candidates:
        if (folder / ds.marker).exists():
            return folder
    tried = "\n".join(f"  - {c}" for c in candidates)
    raise FileNotFoundError(
        f"data set {ds.name!r} not found (looked for {ds.marker!r} in:\n{tried}\n). "
        f"Put its files in {_REPO_DATA / ds.name}/ (or in <folder>/{ds.name}/ and set {ENV_VAR}=<folder>, "
        f"or pass path=...). With internet access, analysis.datasets.download({ds.name!r}) fetches them. "
        f"Public source: {ds.source}"
    )


def available(name: str, path: str | os.PathLike | None = None) -> bool:
    """Whether data set ``name`` can be loaded here (packaged data always can; folder data sets when found)."""
    ds = _get(name)
    if ds.marker is None:
        return True
    try:
        find_data(ds.name, path)
    except FileNotFoundError:
        return False
    return True


# ---------------------------------------------------------------------------------------------- Chatbot Arena


_CBA_SOURCE = (
    "LMSYS Chatbot Arena anonymous battles, snapshot 2024-08-14, as pair counts in the PyPI package leaderbot 0.4.3 "
    "(file leaderbot/data/chatbotarena_20240814.json; BSD-3-Clause)"
)


@lru_cache(maxsize=1)
def _chatbot_arena_arrays() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    # find_spec locates the installed package without executing leaderbot/__init__.py (which imports numba,
    # scikit-learn and plotting code); the JSON file is all we need.
    spec = importlib.util.find_spec("leaderbot")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the Chatbot Arena 2024-08-14 counts ship inside the PyPI package 'leaderbot' (BSD-3-Clause), "
            "which is not installed: pip install 'leaderbot>=0.4.3'"
        )
    file = Path(next(iter(spec.submodule_search_locations))) / "data" / "chatbotarena_20240814.json"
    if not file.exists():
        raise FileNotFoundError(f"leaderbot is installed but its data file is missing: {file}")
    raw = json.loads(file.read_text())
    x = np.asarray(raw["X"], dtype=np.int64)
    y = np.asarray(raw["Y"], dtype=np.int64)
    if x.ndim != 2 or x.shape[1] != 2 or y.shape != (len(x), 4):
        raise ValueError(f"unexpected layout in {file}: X {x.shape}, Y {y.shape} (expected (n, 2) and (n, 4))")
    return tuple(raw["models"]), x, y


def chatbot_arena_2024_08_14(form: str = "counts") -> pd.DataFrame:
    """Real Chatbot Arena votes of 2024-08-14: 1,670,250 anonymous battles among 129 language models.

    Parameters
    ----------
    form
        ``"counts"`` (default): the :func:`analysis.votes.aggregate` schema, one row per non-empty
        (model_a, model_b, outcome) cell (13,621 rows). ``"battles"``: one row per vote with model_a,
        model_b, winner (1,670,250 rows), the :func:`analysis.votes.read_votes` schema.

    Returns
    -------
    pandas.DataFrame
        counts: model_a, model_b (categoricals over the 129 sorted model names), outcome (categorical over
        ``win_a, win_b, tie, tie_bothbad``), count (int64 number of votes). ``attrs["source"]`` cites the data.

    Notes
    -----
    Source: LMSYS Chatbot Arena (lmarena.ai) anonymous battles behind the public board of 2024-08-13/14,
    as pair counts shipped in the PyPI package ``leaderbot`` 0.4.3 (BSD-3-Clause), file
    ``leaderbot/data/chatbotarena_20240814.json``: ``models`` (129 names), ``X`` (3,460 pairs ``[i, j]``,
    ``i < j``), ``Y`` (per pair: wins of i, losses of i, ties, both-bad ties). Read from the installed package
    without importing leaderbot's code. The published board of that date lists 128 models on 1,671,145 votes.

    Orientation: model_a is ``models[i]``, model_b is ``models[j]`` with ``i < j`` (the alphabetically
    earlier name), ``win_a`` counts wins of model_a. The file stores each pair lower index first with the
    outcome flipped to match, so which model was shown first is lost: a position (left/right) effect
    cannot be estimated from these data. Units: numbers of votes.
    """
    if form not in ("counts", "battles"):
        raise ValueError(f"form must be 'counts' or 'battles', not {form!r}")
    models, x, y = _chatbot_arena_arrays()
    # Categories in sorted order, as read_votes makes them, so these frames mix with any other votes.
    names = sorted(models)
    rank = np.empty(len(models), dtype=np.int32)
    rank[np.argsort(np.array(models, dtype=object), kind="stable")] = np.arange(len(models), dtype=np.int32)
    n_out = len(OUTCOMES)
    # Y's columns are (win_i, loss_i, tie, both_bad) = OUTCOMES in order, so a row-major ravel lines up.
    ia = np.repeat(rank[x[:, 0]], n_out)
    ib = np.repeat(rank[x[:, 1]], n_out)
    io = np.tile(np.arange(n_out, dtype=np.int8), len(x))
    count = y.ravel()
    keep = count > 0
    counts = pd.DataFrame(
        {
            "model_a": pd.Categorical.from_codes(ia[keep], categories=names),
            "model_b": pd.Categorical.from_codes(ib[keep], categories=names),
            "outcome": pd.Categorical.from_codes(io[keep], categories=list(OUTCOMES)),
            "count": count[keep].astype(np.int64),
        }
    )
    counts.attrs["source"] = _CBA_SOURCE
    if form == "counts":
        return counts
    battles = expand_counts(counts)
    battles.attrs["source"] = _CBA_SOURCE
    return battles


# ---------------------------------------------------------------------------------------------- Artificial Analysis

_AA_SOURCE = (
    f"Artificial Analysis video arena (artificialanalysis.ai), daily copies of its public JSON in "
    f"https://github.com/{_AA_REPO} at commit {_AA_COMMIT} (MIT)"
)


def _aa_ci(ci95: str) -> tuple[float, float]:
    # Published as text, e.g. "-9/+9"; the reference model shows "-0/+0".
    minus, plus = ci95.split("/")
    return float(minus), float(plus)


def _flatten_aa(raw: dict, snapshot_date: str) -> tuple[list[dict], list[dict]]:
    """Rows of snapshots.csv and tag_snapshots.csv from one upstream JSON file (no value changed)."""
    meta = raw["meta"]
    modality = meta["endpoint"]
    boards: list[dict] = []
    tags: list[dict] = []
    for m in raw["models"]:
        minus, plus = _aa_ci(m["ci95"])
        boards.append(
            {
                "snapshot_date": snapshot_date,
                "fetched_at": meta["fetched_at"],
                "modality": modality,
                "model": m["name"],
                "creator": m["creator"]["name"],
                "release_date": m["release_date"],
                "elo": m["elo"],
                "rank": m["rank"],
                "ci95_minus": minus,
                "ci95_plus": plus,
                "appearances": m["appearances"],
                "wins": m["wins"],
                "win_rate": m["win_rate"],
                "open_weights": m["open_weights_url"] is not None,
            }
        )
        for e in m["elos"]:
            if e["tag"] is None:  # the overall board, already above
                continue
            minus, plus = _aa_ci(e["ci95"])
            tags.append(
                {
                    "snapshot_date": snapshot_date,
                    "modality": modality,
                    "model": m["name"],
                    "tag_type": e["tag"]["type"],
                    "tag": e["tag"]["slug"],
                    "elo": e["elo"],
                    "ci95_minus": minus,
                    "ci95_plus": plus,
                    "appearances": e["appearances"],
                    "wins": e["wins"],
                    "win_rate": e["win_rate"],
                }
            )
    return boards, tags


def _aa_modality(modality: str | None) -> str | None:
    if modality is None:
        return None
    key = _AA_ALIASES.get(modality.strip().lower(), modality.strip().lower())
    if key not in _AA_MODALITIES:
        raise ValueError(f"modality must be one of {list(_AA_MODALITIES)} (or t2v / i2v), not {modality!r}")
    return key


def _aa_tidy(df: pd.DataFrame) -> pd.DataFrame:
    """Common columns of the overall and the per-tag boards: absolute CI bounds, datetimes."""
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(df["snapshot_date"]),
            "arena": "artificial-analysis",
            "modality": df["modality"].astype("str"),
            "model": df["model"].astype("str"),
        }
    )
    for col in ("creator", "tag_type", "tag"):
        if col in df.columns:
            out[col] = df[col].astype("str")
    out["elo"] = df["elo"].astype(float)
    # Published CIs are offsets from elo in whole points; rounding to the published 0.01 removes float noise.
    out["ci_lower"] = (df["elo"] + df["ci95_minus"]).round(2)
    out["ci_upper"] = (df["elo"] + df["ci95_plus"]).round(2)
    if "rank" in df.columns:
        out["rank"] = df["rank"].astype("Int64")
    for col in ("appearances", "wins"):
        out[col] = df[col].astype(np.int64)
    out["win_rate"] = df["win_rate"].astype(float)
    if "open_weights" in df.columns:
        out["open_weights"] = df["open_weights"].astype(bool)
    if "release_date" in df.columns:
        out["release_date"] = pd.to_datetime(df["release_date"], errors="coerce")
    if "fetched_at" in df.columns:
        out["fetched_at"] = pd.to_datetime(df["fetched_at"], utc=True, format="ISO8601")
    return out


def aa_video_arena(modality: str | None = None, *, tags: bool = False, path: str | os.PathLike | None = None
                   ) -> pd.DataFrame:
    """Artificial Analysis video arena: daily published leaderboards, 2026-04-10 .. 2026-05-14.

    Parameters
    ----------
    modality
        ``"text-to-video"`` (or ``"t2v"``), ``"image-to-video"`` (``"i2v"``) or None for both.
    tags
        False: the overall boards (one row per date x modality x model, 5,438 rows).
        True: the per-tag boards (one row per date x modality x model x tag, 149,847 rows), with
        ``tag_type`` (subject / style / format) and ``tag`` (e.g. physics, people, text, moving-camera).
    path
        The ``aa-video-arena`` folder or a folder containing it; default: see :func:`find_data`.

    Returns
    -------
    pandas.DataFrame
        date (datetime64, snapshot day), arena (``"artificial-analysis"``), modality, model, creator,
        [tag_type, tag,] elo, ci_lower, ci_upper (absolute 95% bounds: elo + published minus / plus offset),
        rank (Int64; the overall boards only, <NA> for models no longer current on the board), appearances,
        wins (votes), win_rate, and for the overall boards open_weights, release_date, fetched_at (UTC).

    Notes
    -----
    Source: the public JSON behind artificialanalysis.ai's video arena pages, copied daily by
    https://github.com/oolong-tea-2026/artificial-analysis-leaderboards (MIT) at commit ed1690f6; flattened to
    CSV without changing values. Units: Elo-like points from a Bradley-Terry fit rescaled by the publisher,
    anchored so that one reference model sits at exactly 1000 with CI 0 (Mochi 1 for text-to-video,
    Wan 2.1 14B for image-to-video): CIs are relative to that reference. Only per-model marginals are
    published, no pairwise votes. On 2026-05-01 appearances dropped for several models (a vote reset).
    ``creator`` of the tag boards is taken from the same day's overall board.
    """
    folder = find_data("aa-video-arena", path)
    mod = _aa_modality(modality)
    board = pd.read_csv(folder / "snapshots.csv")
    if mod is not None:
        board = board[board["modality"] == mod]
    if tags:
        tag = pd.read_csv(folder / "tag_snapshots.csv.gz")
        if mod is not None:
            tag = tag[tag["modality"] == mod]
        keys = ["snapshot_date", "modality", "model"]
        # validate= makes a duplicated model on a board an error instead of silently duplicating tag rows.
        tag = tag.merge(board[keys + ["creator"]], on=keys, how="left", validate="many_to_one")
        tag = tag.sort_values(["snapshot_date", "modality", "tag_type", "tag", "elo"],
                              ascending=[True, True, True, True, False], kind="stable")
        out = _aa_tidy(tag)
    else:
        board = board.sort_values(["snapshot_date", "modality", "rank", "model"], na_position="last", kind="stable")
        out = _aa_tidy(board)
    out = out.reset_index(drop=True)
    out.attrs["source"] = _AA_SOURCE
    return out


# ---------------------------------------------------------------------------------------------- Video-Bench


def videobench_human(dimension: str | Sequence[str] | None = None, *, path: str | os.PathLike | None = None
                     ) -> pd.DataFrame:
    """Video-Bench human annotations: 4 ratings per video, 7 text-to-video models, 9 dimensions (63,588 rows).

    Parameters
    ----------
    dimension
        One dimension or a list of them (file stems, e.g. ``"imaging_quality"``, ``"video-text consistency"``);
        None for all nine.
    path
        The ``videobench-human`` folder or a folder containing it; default: see :func:`find_data`.

    Returns
    -------
    pandas.DataFrame
        One row per rating: dimension, item (index of the prompt x generation item within the dimension's
        file), prompt, generation (0, 1 or 2, the ``_k`` suffix of the video file: three generations per
        prompt), model, rater (0-3, the rating slot), score (int64), video (relative path upstream),
        grid_view (Int64; only in motion_effects and temporal_consistency, meaning undocumented upstream).

    Notes
    -----
    Source: https://github.com/Video-Bench/Video-Bench ``data/human_anno/*.json`` at commit d40b917c
    (Apache-2.0; cite Han et al. 2025, "Video-Bench: Human-Aligned Video Generation Benchmark").
    Models: cogvideox5b, kling, gen3, videocrafter2, pika, show1, lavie, all rated on every item, so
    within-item comparisons are paired (see :func:`ratings_to_pairwise`). Units: integer ratings on
    scales that differ by dimension: 1-3 for action, color, object_class, scene (scene has a few 0s);
    1-5 for aesthetic_quality, imaging_quality, video-text consistency; 0-5 for motion_effects and
    temporal_consistency. The upstream README does not say who fills the four slots; most likely four
    annotators, so treat ``rater`` as a slot, not a person known to be the same across items.

    Every 0 in the data (35 in motion_effects, 35 in temporal_consistency, 7 in scene) is one rater slot
    giving 0 to all seven models of an item (11 such item x slot blocks): it looks like a "not rated" mark
    rather than a score. Values are returned as published; drop those blocks before analysis if you agree
    (they only add ties in :func:`ratings_to_pairwise`, but they pull means down).
    """
    folder = find_data("videobench-human", path) / "human_anno"
    if dimension is None:
        dims = list(_VB_DIMENSIONS)
    else:
        dims = [dimension] if isinstance(dimension, str) else list(dimension)
        unknown = [d for d in dims if d not in _VB_DIMENSIONS]
        if unknown:
            raise ValueError(f"unknown Video-Bench dimension(s) {unknown}; known: {list(_VB_DIMENSIONS)}")
    suffix = re.compile(r"_(\d+)\.[A-Za-z0-9]+$")
    cols: dict[str, list] = {k: [] for k in
                             ("dimension", "item", "prompt", "generation", "model", "rater", "score", "video",
                              "grid_view")}
    for dim in dims:
        items = json.loads((folder / f"{dim}.json").read_text())
        for i, it in enumerate(items):
            grid = it.get("grid_view", {})
            for model, scores in it["human_anno"].items():
                video = it["videos"][model]
                found = suffix.search(video)
                if found is None:
                    raise ValueError(f"{dim}.json item {i}: video name {video!r} has no _<generation> suffix")
                for rater, score in enumerate(scores):
                    cols["dimension"].append(dim)
                    cols["item"].append(i)
                    cols["prompt"].append(it["prompt_en"])
                    cols["generation"].append(int(found.group(1)))
                    cols["model"].append(model)
                    cols["rater"].append(rater)
                    cols["score"].append(score)
                    cols["video"].append(video)
                    cols["grid_view"].append(grid.get(model))
    out = pd.DataFrame(cols)
    for col in ("item", "generation", "rater", "score"):
        out[col] = out[col].astype(np.int64)
    out["grid_view"] = out["grid_view"].astype("Int64")
    out.attrs["source"] = (f"Video-Bench human annotations, https://github.com/{_VB_REPO} data/human_anno "
                           f"at commit {_VB_COMMIT} (Apache-2.0)")
    return out


# ---------------------------------------------------------------------------------------------- T2VScore / TVGE

_T2V_METRICS = {
    "CLIP Score": "clip_score",
    "X-CLIP Score": "xclip_score",
    "BLIP-BLEU": "blip_bleu",
    "T2VScore-A (GPT-4V)": "t2vscore_a",
}


def t2vscore_tvge(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """T2VScore TVGE: human quality and alignment ratings plus automatic metric scores, one row per video.

    Parameters
    ----------
    path
        The ``t2vscore-tvge`` folder or a folder containing it; default: see :func:`find_data`.

    Returns
    -------
    pandas.DataFrame
        2,543 rows (512 EvalCrafter prompts x 5 models; gen2 missing on 17 prompts): model (floor33, gen2,
        pika, modelscope, zeroscope), prompt_id (0-511), prompt, quality and alignment (human, 1-5 in 0.1
        steps, an aggregate over annotators), clip_score, xclip_score, blip_bleu, t2vscore_a (automatic
        metrics, NOT human). ``attrs["report"]`` records the join check.

    Notes
    -----
    Source: https://github.com/linzhiqiu/t2v_metrics ``datasets/t2vscore_*`` at commit 6ecb74f9 (repository
    licence Apache-2.0; no separate data licence). The ratings come from the T2VScore paper's TVGE data
    (Wu et al. 2024, arXiv:2401.07781); videos and prompts from EvalCrafter: cite both.
    Units: quality / alignment are mean opinion scores on 1-5; clip_score is 100 x CLIP cosine similarity
    (about 10-40 here), xclip_score likewise for X-CLIP (about 9), blip_bleu a BLEU score in [0, 1],
    t2vscore_a the GPT-4V alignment score in [0, 1].

    The metric file is joined on (model, prompt_id) = (model_name, video_id). Prompt text is not a key:
    four prompts occur twice under different ids. The join is checked: unmatched videos (kept, with
    missing values) and prompt texts that disagree are counted in ``attrs["report"]`` and warned about.
    """
    folder = find_data("t2vscore-tvge", path)
    quality = json.loads((folder / "t2vscore_quality_score.json").read_text())
    alignment = json.loads((folder / "t2vscore_alignment_score.json").read_text())
    rows = []
    for key in sorted(set(quality) | set(alignment), key=int):
        q = quality.get(key, {"prompt": None, "models": {}})
        a = alignment.get(key, {"prompt": None, "models": {}})
        for model in sorted(set(q["models"]) | set(a["models"])):
            rows.append(
                {
                    "model": model,
                    "prompt_id": int(key),
                    "prompt": q["prompt"] if q["prompt"] is not None else a["prompt"],
                    # Each value is a one-element list upstream.
                    "quality": _single(q["models"].get(model)),
                    "alignment": _single(a["models"].get(model)),
                }
            )
    human = pd.DataFrame(rows)
    metrics = pd.read_csv(folder / "t2vscore_results.csv").rename(
        columns={"model_name": "model", "video_id": "prompt_id", "prompt": "_metric_prompt", **_T2V_METRICS}
    )
    merged = human.merge(metrics, on=["model", "prompt_id"], how="outer", indicator=True, validate="one_to_one")
    both = merged["_merge"] == "both"
    mismatch = both & (merged["prompt"] != merged["_metric_prompt"])
    report = {
        "videos": len(merged),
        "matched": int(both.sum()),
        "ratings_without_metrics": int((merged["_merge"] == "left_only").sum()),
        "metrics_without_ratings": int((merged["_merge"] == "right_only").sum()),
        "prompt_text_mismatch": int(mismatch.sum()),
    }
    if report["matched"] != len(merged) or report["prompt_text_mismatch"]:
        warnings.warn(f"T2VScore join of ratings and metric scores is not clean: {report}", stacklevel=2)
    merged["prompt"] = merged["prompt"].fillna(merged["_metric_prompt"])
    out = merged[["model", "prompt_id", "prompt", "quality", "alignment", *_T2V_METRICS.values()]]
    out = out.sort_values(["prompt_id", "model"], kind="stable", ignore_index=True)
    out.attrs["report"] = report
    out.attrs["source"] = (f"T2VScore TVGE ratings and metric scores, https://github.com/{_T2V_REPO} datasets/ "
                           f"at commit {_T2V_COMMIT} (Apache-2.0); Wu et al. 2024, arXiv:2401.07781")
    return out


def _single(value: Any) -> float:
    if value is None:
        return np.nan
    if isinstance(value, list):
        if len(value) != 1:
            raise ValueError(f"expected a one-element list of ratings, got {value!r}")
        value = value[0]
    return float(value)


# ---------------------------------------------------------------------------------------------- GenAI-Arena


def genai_arena_video(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """GenAI-Arena text-to-video leaderboards as published: snapshots 2024-05-26 (6 models), 2025-03-22 (15).

    Parameters
    ----------
    path
        The ``genai-arena-video`` folder or a folder containing it; default: see :func:`find_data`.

    Returns
    -------
    pandas.DataFrame
        date (datetime64, snapshot), arena (``"genai-arena"``), modality (``"text-to-video"``), model,
        key (upstream key), organization, license (of the model), elo_anony (Elo from anonymous battles),
        elo_full (all battles), rank (1 = highest elo_anony within the snapshot; the files carry no rank, the
        published board orders by the anonymous rating), link.

    Notes
    -----
    Source: TIGER-Lab GenAI-Arena Hugging Face Space files
    ``arena_elo/results/{20240526,20250322}/video_generation_leaderboard.csv`` (Space card: MIT), in verbatim
    copies at https://github.com/ukitako1030/EVAL ``pipeline/test/fixtures/genai-arena/sample-video-*.csv``
    at commit 1fca0535. Units: Elo points (Bradley-Terry fit, Elo scale). Aggregates only; the 2,953 raw
    battles live only on the Hugging Face Space. Model names are as published and change spelling between
    snapshots (e.g. ``AnimateDiffTurbo`` in 2024, ``AnimateDiff Turbo`` in 2025).
    """
    folder = find_data("genai-arena-video", path)
    frames = []
    for file in sorted(folder.glob("video_generation_leaderboard_*.csv")):
        stamp = re.search(r"_(\d{8})\.csv$", file.name)
        if stamp is None:
            continue
        df = pd.read_csv(file)
        frames.append(
            pd.DataFrame(
                {
                    "date": pd.to_datetime(stamp.group(1), format="%Y%m%d"),
                    "arena": "genai-arena",
                    "modality": "text-to-video",
                    "model": df["Model"].astype("str"),
                    "key": df["key"].astype("str"),
                    "organization": df["Organization"].astype("str"),
                    "license": df["License"].astype("str"),
                    "elo_anony": df["Arena Elo rating (anony)"].astype(float),
                    "elo_full": df["Arena Elo rating (full)"].astype(float),
                    "rank": df["Arena Elo rating (anony)"].rank(ascending=False, method="min").astype(np.int64),
                    "link": df["Link"].astype("str"),
                }
            )
        )
    if not frames:
        raise FileNotFoundError(f"no video_generation_leaderboard_YYYYMMDD.csv files in {folder}")
    out = pd.concat(frames, ignore_index=True).sort_values(["date", "rank"], kind="stable", ignore_index=True)
    out.attrs["source"] = (f"GenAI-Arena video leaderboard (TIGER-Lab HF Space, MIT), copies at "
                           f"https://github.com/{_GENAI_REPO} commit {_GENAI_COMMIT}")
    return out


# ---------------------------------------------------------------------------------------------- published figures


def _published(file: str, path: str | os.PathLike | None) -> pd.DataFrame:
    target = Path(path) if path is not None else _REPO_DATA / file
    if not target.exists():
        raise FileNotFoundError(f"published figures file not found: {target} (it ships in the repository's data/ "
                                f"folder; see data/README.md for its source)")
    return pd.read_csv(target)


def published_vbench(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Published VBench scores (percent) of 27 text-to-video models, one row per model.

    Parameters
    ----------
    path
        A CSV with the same columns; default ``data/vbench_published_scores.csv`` in the repository.

    Returns
    -------
    pandas.DataFrame
        model, source_code (A, B, A+B, D, E), verified (yes / self-reported / no), the 16 VBench dimension
        scores (subject_consistency ... overall_consistency), total_score, quality_score, semantic_score, the
        provenance columns (:data:`PROVENANCE`: sampled_by and evaluated_by, as VBench's leaderboard separates
        who generated the videos from who scored them, ``unknown`` where the source does not say; date of the
        source; sample_size, empty where not published) and source (the citation of source_code).

    Notes
    -----
    Sources: A = VBench++ paper (arXiv:2411.13503) Table II; B = the public VBench leaderboard as reproduced in
    the Goku paper README (arXiv:2502.04896), agreeing with A where both exist; D = FlashVideo paper Table 1
    (VBench-Long) via a secondary summary, unverified; E = a third-party leaderboard snapshot, unverified.
    Units: percent. Totals of A/B rows follow from their 16 dimensions and the VBench weights.
    """
    return _published("vbench_published_scores.csv", path)


def published_aa_t2v_2026_04_30(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The Artificial Analysis text-to-video leaderboard as published on 2026-04-30 (80 models).

    Parameters
    ----------
    path
        A CSV with the same columns; default ``data/aa_t2v_2026-04-30.csv`` in the repository.

    Returns
    -------
    pandas.DataFrame
        date, modality, model, creator, elo, ci95_minus, ci95_plus (published offsets), ci_lower, ci_upper
        (absolute bounds), rank (Int64; <NA> for 7 models listed but no longer current), appearances, wins,
        win_rate, sampled_by (Artificial Analysis generates the clips), evaluated_by (its arena voters),
        sample_size (the model's appearances, votes), source.

    Notes
    -----
    Published figures from artificialanalysis.ai (fetched 2026-04-30 07:37 UTC), via the daily copy
    ``data/2026-04-30/text-to-video.json`` of https://github.com/oolong-tea-2026/artificial-analysis-leaderboards
    (MIT). Units: Elo-like points, Mochi 1 fixed at 1000 (CI 0); appearances and wins are vote counts.
    """
    df = _published("aa_t2v_2026-04-30.csv", path)
    df["date"] = pd.to_datetime(df["date"])
    df["rank"] = df["rank"].astype("Int64")
    at = df.columns.get_loc("ci95_plus") + 1
    df.insert(at, "ci_lower", (df["elo"] + df["ci95_minus"]).round(2))
    df.insert(at + 1, "ci_upper", (df["elo"] + df["ci95_plus"]).round(2))
    return df


def published_chatbot_arena_2024_08_14(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Published Chatbot Arena figures of 2024-08-13/14: the top three models (and #1's score of 1314).

    Parameters
    ----------
    path
        A CSV with the same columns; default ``data/chatbot_arena_published_2024-08-14.csv``.

    Returns
    -------
    pandas.DataFrame
        date, rank, model (as published), leaderbot_name (the name in :func:`chatbot_arena_2024_08_14`),
        elo (Arena score; published here only for #1, <NA> otherwise), board_models (128), board_votes
        (1,671,145), sampled_by, evaluated_by, sample_size (the board's votes), source.

    Notes
    -----
    The public LMSYS Chatbot Arena leaderboard as cited by gabormelli.com (LMSYS Chatbot Arena leaderboard
    page). Units: Arena Elo points (Bradley-Terry, 400/ln 10 scale, mixtral-8x7b-instruct-v0.1 anchored at
    1114). board_models / board_votes describe the whole published board (the leaderbot file has 129 models
    and 1,670,250 votes: close, not identical).
    """
    df = _published("chatbot_arena_published_2024-08-14.csv", path)
    df["date"] = pd.to_datetime(df["date"])
    df["elo"] = df["elo"].astype("Float64")
    return df


def name_mapping(name: str, path: str | os.PathLike | None = None) -> pd.DataFrame:
    """A name mapping between two sources, shipped in the repository's ``data/`` folder with notes and sources.

    Parameters
    ----------
    name
        ``"videobench_vbench"`` (Video-Bench dimensions and model names -> VBench) or ``"genai_arena_vbench"``
        (GenAI-Arena model names -> VBench rows): the file ``data/<name>_mapping.csv``.
    path
        A CSV with the same columns instead.

    Returns
    -------
    pandas.DataFrame
        kind (``dimension`` or ``model``), source_name, target_name (empty: no counterpart), status, notes,
        source; all text, so an empty cell stays ``""``.
    """
    target = Path(path) if path is not None else _REPO_DATA / f"{name}_mapping.csv"
    if not target.exists():
        raise FileNotFoundError(f"mapping file not found: {target} (mappings ship in the repository's data/ "
                                f"folder; see data/README.md)")
    return pd.read_csv(target, dtype=str, keep_default_na=False)


# ---------------------------------------------------------------------------------------------- ratings -> votes


def ratings_to_pairwise(
    ratings: pd.DataFrame,
    item_cols: str | Sequence[str],
    model_col: str = "model",
    score_col: str = "score",
) -> pd.DataFrame:
    """Battles from absolute ratings: within an item, every pair of rated models is one battle.

    The higher score wins; equal scores are a ``tie``. Pairs are only formed inside an item (the same prompt,
    seed and rater, say), so each battle compares two models under identical conditions, which is what an
    arena vote does. This is the usual way to put absolute ratings on a Bradley-Terry / Elo scale.

    Parameters
    ----------
    ratings
        One row per (item, model) rating. Rows whose score is missing are skipped (counted in the report).
    item_cols
        Column(s) that define an item, e.g. ``["dimension", "item", "rater"]`` for :func:`videobench_human`
        (one battle per rater and model pair) or ``["prompt_id"]`` for :func:`t2vscore_tvge`.
    model_col, score_col
        The model and the (numeric) score columns.

    Returns
    -------
    pandas.DataFrame
        The :func:`analysis.votes.read_votes` schema: model_a, model_b, winner (``model_a``, ``model_b`` or
        ``tie``; never ``tie (bothbad)``), prompt_id (int64 code of the item, or the item column itself when
        item_cols contains ``prompt_id``), then the item columns as given, score_a and score_b.
        ``attrs["report"]`` adds items, ratings_used, ratings_missing_score, items_with_one_model.

    Raises
    ------
    ValueError
        A column is missing, a model or item value is null, a score is not numeric, or a model is rated more
        than once in an item (the message lists the duplicated items and models).

    Notes
    -----
    Orientation carries no information here (nothing was shown first): model_a is always the model whose
    name sorts first, so position effects must not be fitted on these battles. An item with n rated models
    gives n(n-1)/2 battles; battles within an item are dependent, so intervals should resample items
    (cluster on ``prompt_id``).

    Examples
    --------
    >>> r = pd.DataFrame({"prompt": ["p", "p", "p"], "model": ["A", "B", "C"], "score": [3, 1, 3]})
    >>> ratings_to_pairwise(r, "prompt")[["model_a", "model_b", "winner"]].astype(str).values.tolist()
    [['A', 'B', 'model_a'], ['A', 'C', 'tie'], ['B', 'C', 'model_b']]
    """
    items = [item_cols] if isinstance(item_cols, str) else list(item_cols)
    if not items:
        raise ValueError("item_cols must name at least one column")
    missing = [c for c in [*items, model_col, score_col] if c not in ratings.columns]
    if missing:
        raise ValueError(f"ratings are missing column(s) {missing}; found {list(ratings.columns)}")
    for col in [*items, model_col]:
        null = ratings[col].isna()
        if null.any():
            first = int(np.flatnonzero(null.to_numpy())[0])
            raise ValueError(f"column {col!r} has {int(null.sum())} null value(s), first at row {first}")
    try:
        score_all = pd.to_numeric(ratings[score_col], errors="raise")
    except (TypeError, ValueError) as err:
        raise ValueError(f"column {score_col!r} must be numeric: {err}") from None
    has_score = score_all.notna().to_numpy()
    df = ratings.loc[has_score]
    score = score_all.to_numpy(dtype=float)[has_score]

    # Integer codes for items and models; everything after this is numpy on int arrays.
    if len(items) == 1:
        item_code = pd.factorize(df[items[0]], sort=True)[0].astype(np.int64)
    else:
        item_code = df.groupby(items, sort=True, observed=True).ngroup().to_numpy(np.int64)
    model_code, models = pd.factorize(df[model_col].astype("str"), sort=True)
    model_code = model_code.astype(np.int64)
    n_models = max(len(models), 1)

    key = item_code * n_models + model_code
    dup = pd.Series(key).duplicated(keep=False).to_numpy()
    if dup.any():
        shown = df.loc[dup, [*items, model_col]].astype("str").value_counts().head(5)
        listing = "; ".join(f"{dict(zip([*items, model_col], k, strict=True))} x{n}" for k, n in shown.items())
        n_pairs = int(pd.Series(key[dup]).nunique())
        raise ValueError(f"{n_pairs} (item, model) combination(s) rated more than once, e.g. {listing}. "
                         f"Add the column that tells the ratings apart (a rater?) to item_cols, or average first.")

    # Sort by (item, model): inside each item the rows are then in model-name order, so for every pair the
    # left row is model_a. Each row pairs with the rows after it in its item.
    order = np.lexsort((model_code, item_code))
    g, m, s = item_code[order], model_code[order], score[order]
    n = len(g)
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if n else np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.r_[starts, n])
    pos = np.arange(n) - np.repeat(starts, sizes)
    after = np.repeat(sizes, sizes) - pos - 1
    left = np.repeat(np.arange(n), after)
    block = np.repeat(np.cumsum(after) - after, after)
    right = left + (np.arange(left.size) - block) + 1

    sa, sb = s[left], s[right]
    # WINNERS order: 0 = model_a, 1 = model_b, 2 = tie.
    win = np.where(sa > sb, 0, np.where(sa < sb, 1, 2)).astype(np.int8)
    battles = pd.DataFrame(
        {
            "model_a": pd.Categorical.from_codes(m[left].astype(np.int32), categories=models),
            "model_b": pd.Categorical.from_codes(m[right].astype(np.int32), categories=models),
            "winner": pd.Categorical.from_codes(win, categories=["model_a", "model_b", "tie", "tie (bothbad)"]),
        }
    )
    take = order[left]
    # A prompt_id among the item columns is the natural cluster; otherwise the item code stands in for it.
    battles["prompt_id"] = df["prompt_id"].iloc[take].reset_index(drop=True) if "prompt_id" in items else g[left]
    if battles.empty:
        raise ValueError("no item has two or more rated models, so there are no pairs to compare")
    out = read_votes(battles)
    for col in items:
        if col not in out.columns:
            out[col] = df[col].iloc[take].reset_index(drop=True)
    out["score_a"] = sa
    out["score_b"] = sb
    out.attrs["report"] = {
        **out.attrs["report"],
        "items": len(sizes),
        "ratings_used": n,
        "ratings_missing_score": int((~has_score).sum()),
        "items_with_one_model": int((sizes == 1).sum()),
    }
    return out


# ---------------------------------------------------------------------------------------------- download


# SHA-256 of each file at its pinned commit (from byte-for-byte copies): a download that differs is refused.
_SHA256: dict[str, str] = {
    "human_anno/action.json": "0bb88b7b75b5dcf8d1ca8f6b8d6d81fe900f96b122bf5ee2f8dc0d24681fd0d6",
    "human_anno/aesthetic_quality.json": "b748d049298509a35202980d455f8c68e92844f08193ac7be5abc0d9472ca1e9",
    "human_anno/color.json": "b69de8e09ba47fd0a23940dfb7c1999a1b3c9c3ab56938d8c87e0e3b05cafaf1",
    "human_anno/imaging_quality.json": "5ae9d35af484d6ba6770a23bc0e44e4b3c44aaf0baaee13ff5727187006eb237",
    "human_anno/motion_effects.json": "31cc404e1b4fef586606521db1c8c3a480dd5547b36ed384fd1690b5bff86a1a",
    "human_anno/object_class.json": "7b69de35b76acb4b55367d56b606946e20f0c0efa66b542053b12e8c79ca03cd",
    "human_anno/scene.json": "a71705e8d8ade3e46bf8918fa81eec6879f2d03de57192e1f161726b3aa5d72d",
    "human_anno/temporal_consistency.json": "5f591657db738b4c065f2cc1230271d1c4a137acf54f5b1054fa8591d0ca0024",
    "human_anno/video-text consistency.json": "f78c5456bf7c5aec283cd179ba327d15bc86998cf3501e3eea7c4742dfb19d71",
    "t2vscore_alignment_score.json": "b65340b4f08a55ee1b336efb36ca82d439bba4791745cd8e80bb8d237fccd043",
    "t2vscore_quality_score.json": "f5bc6c2e3e109cbd3a0471c03caf02405476533777e2ffd2a81cf2e760d9c811",
    "t2vscore_results.csv": "f58f27125e45eed9ec37357e4ffdee48aff5345a7c56d8adbd8985cbc323a6a2",
    "video_generation_leaderboard_20240526.csv": "610cc7f432456a5d96066c8bdee7fc48c6cb9ec2580341acf07fef65ed3cb10d",
    "video_generation_leaderboard_20250322.csv": "32a769b5f80093ebe7b2e145f1efa912593b85f847f966a6e63e161febac409e",
}


def _verified(content: bytes, rel: str, url: str) -> bytes:
    expected = _SHA256.get(rel)
    got = hashlib.sha256(content).hexdigest()
    if expected is not None and got != expected:
        raise ValueError(f"download of {url} has SHA-256 {got}, expected {expected} (the pinned file): not saved")
    return content


def _fetch(url: str) -> bytes:
    # One place for network access, so tests can replace it.
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.read()


def download(name: str, dest: str | os.PathLike | None = None, *, overwrite: bool = False) -> Path:
    """Fetch a folder data set from its public GitHub address (pinned commit) into ``dest/<name>/``.

    Parameters
    ----------
    name
        ``"aa-video-arena"``, ``"videobench-human"``, ``"t2vscore-tvge"`` or ``"genai-arena-video"``.
    dest
        Folder to hold ``<name>/``; default ``$VIDEO_ARENA_DATA`` if set, else the repository's ``data/``.
    overwrite
        Replace files that are already there.

    Returns
    -------
    pathlib.Path
        The data set folder, ready for the loaders (``find_data`` looks there).

    Notes
    -----
    Needs internet access; never called by the tests. Each file is checked against the SHA-256 of the pinned
    file and refused when it differs. For aa-video-arena the daily upstream JSON files are
    flattened into snapshots.csv and tag_snapshots.csv.gz exactly as the loaders expect (dates missing
    upstream are skipped with a warning).
    """
    ds = _get(name)
    if ds.marker is None:
        raise ValueError(f"{ds.name!r} needs no download: {ds.source}")
    root = Path(dest) if dest is not None else Path(os.environ.get(ENV_VAR) or _REPO_DATA)
    folder = root.expanduser() / ds.name
    folder.mkdir(parents=True, exist_ok=True)
    if ds.name == "aa-video-arena":
        _download_aa(folder, overwrite)
    else:
        for url, rel in ds.remote:
            target = folder / rel
            if target.exists() and not overwrite:
                continue
            write_bytes(target, _verified(_fetch(url), rel, url))
    note = folder / "SOURCE.txt"
    if overwrite or not note.exists():
        write_text(note, f"Downloaded by analysis.datasets.download({ds.name!r}).\nSource : {ds.source}\n"
                         f"Licence: {ds.licence}\n")
    return folder


def _download_aa(folder: Path, overwrite: bool) -> None:
    if (folder / "snapshots.csv").exists() and not overwrite:
        return
    boards: list[dict] = []
    tags: list[dict] = []
    skipped = []
    for day in _AA_DATES:
        for modality in _AA_MODALITIES:
            url = _raw(_AA_REPO, _AA_COMMIT, f"data/{day}/{modality}.json")
            try:
                content = _fetch(url)
            except urllib.error.HTTPError as err:
                if err.code != 404:
                    raise
                skipped.append(f"{day}/{modality}")
                continue
            if day == "2026-04-30" and modality == "text-to-video":
                (folder / "raw").mkdir(exist_ok=True)
                write_bytes(folder / "raw" / "2026-04-30-text-to-video.json", content)
            b, t = _flatten_aa(json.loads(content), day)
            boards += b
            tags += t
    if skipped:
        warnings.warn(f"aa-video-arena: {len(skipped)} upstream file(s) not found, skipped: {skipped}", stacklevel=3)
    if not boards:
        raise FileNotFoundError(f"no Artificial Analysis snapshot could be downloaded from {_AA_REPO}@{_AA_COMMIT}")
    write_bytes(folder / "snapshots.csv", pd.DataFrame(boards).to_csv(index=False).encode())
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(pd.DataFrame(tags).to_csv(index=False).encode())
    write_bytes(folder / "tag_snapshots.csv.gz", buf.getvalue())


# ---------------------------------------------------------------------------------------------- registry


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset(
            "chatbot-arena-2024-08-14",
            chatbot_arena_2024_08_14,
            "Chatbot Arena 2024-08-14: 1,670,250 votes among 129 LLMs as pair counts (or battles with form=)",
            "votes",
            "PyPI package leaderbot 0.4.3, leaderbot/data/chatbotarena_20240814.json (data from LMSYS Chatbot Arena)",
            "BSD-3-Clause (leaderbot package)",
        ),
        Dataset(
            "aa-video-arena",
            aa_video_arena,
            "Artificial Analysis video arena daily boards (T2V, I2V): Elo, 95% CI, rank, appearances, wins; tags",
            "leaderboard",
            f"https://github.com/{_AA_REPO} (data/<date>/<modality>.json at commit {_AA_COMMIT})",
            "MIT (upstream repository)",
            marker="snapshots.csv",
        ),
        Dataset(
            "videobench-human",
            videobench_human,
            "Video-Bench human ratings: 7 T2V models x 9 dimensions x 4 ratings per video, 63,588 rows",
            "ratings",
            f"https://github.com/{_VB_REPO} (data/human_anno/*.json at commit {_VB_COMMIT})",
            "Apache-2.0 (repository licence)",
            marker="human_anno",
            remote=tuple(
                (_raw(_VB_REPO, _VB_COMMIT, f"data/human_anno/{d}.json"), f"human_anno/{d}.json")
                for d in _VB_DIMENSIONS
            ),
        ),
        Dataset(
            "t2vscore-tvge",
            t2vscore_tvge,
            "T2VScore TVGE: human quality / alignment (1-5) and 4 metric scores for 2,543 videos of 5 models",
            "ratings",
            f"https://github.com/{_T2V_REPO} (datasets/t2vscore_* at commit {_T2V_COMMIT})",
            "Apache-2.0 (repository licence; no separate data licence)",
            marker="t2vscore_results.csv",
            remote=tuple((_raw(_T2V_REPO, _T2V_COMMIT, f"datasets/{f}"), f) for f in _T2V_FILES),
        ),
        Dataset(
            "genai-arena-video",
            genai_arena_video,
            "GenAI-Arena text-to-video Elo boards, snapshots 2024-05-26 and 2025-03-22 (15 open models)",
            "leaderboard",
            f"https://github.com/{_GENAI_REPO} (pipeline/test/fixtures/genai-arena/sample-video-*.csv at commit "
            f"{_GENAI_COMMIT}; copies of TIGER-Lab GenAI-Arena HF Space files)",
            "MIT (GenAI-Arena Space card)",
            marker="video_generation_leaderboard_20250322.csv",
            remote=tuple(
                (_raw(_GENAI_REPO, _GENAI_COMMIT, f"pipeline/test/fixtures/genai-arena/sample-video-{d}.csv"),
                 f"video_generation_leaderboard_{d}.csv")
                for d in _GENAI_DATES
            ),
        ),
        Dataset(
            "vbench-published",
            published_vbench,
            "Published VBench scores (percent) of 27 T2V models, with source citations",
            "published",
            "VBench++ (arXiv:2411.13503) Table II; VBench leaderboard via Goku README (arXiv:2502.04896); others",
            "published figures (facts), cited per row",
        ),
        Dataset(
            "aa-t2v-2026-04-30",
            published_aa_t2v_2026_04_30,
            "Artificial Analysis text-to-video board as published on 2026-04-30 (80 models)",
            "published",
            "artificialanalysis.ai via https://github.com/oolong-tea-2026/artificial-analysis-leaderboards",
            "published figures (facts); upstream copy MIT",
        ),
        Dataset(
            "chatbot-arena-published-2024-08-14",
            published_chatbot_arena_2024_08_14,
            "Chatbot Arena published top three of 2024-08-14 (#1 at 1314), with source",
            "published",
            "LMSYS Chatbot Arena leaderboard, as cited by gabormelli.com",
            "published figures (facts)",
        ),
    )
}


def _normalise(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().lower())


# Loader function names work too (e.g. "published_vbench", "t2vscore_tvge").
_ALIASES = {_normalise(d.loader.__name__): d.name for d in DATASETS.values()}


def _get(name: str) -> Dataset:
    key = _normalise(name)
    key = _ALIASES.get(key, key)
    if key in DATASETS:
        return DATASETS[key]
    # Names that contain what was typed ("chatbot") first, then spelling neighbours ("videobench-humans").
    close = [n for n in DATASETS if key and key in n]
    close += difflib.get_close_matches(key, list(DATASETS) + list(_ALIASES), n=3, cutoff=0.5)
    close = list(dict.fromkeys(_ALIASES.get(c, c) for c in close))[:4]
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown data set {name!r}.{hint} Known: {', '.join(DATASETS)}")


def load(name: str, **kwargs: Any) -> pd.DataFrame:
    """Load a data set of :data:`DATASETS` by name.

    Parameters
    ----------
    name
        e.g. ``"chatbot-arena-2024-08-14"``, ``"videobench-human"``, ``"t2vscore-tvge"``,
        ``"genai-arena-video"``, ``"aa-video-arena"``; case, ``_`` and spaces do not matter, and the loader's
        function name works too.
    **kwargs
        Passed to the loader (e.g. ``form="battles"``, ``modality="t2v"``, ``path=...``).

    Raises
    ------
    ValueError
        Unknown name (the message lists the known names and close matches), or ``form=`` given for a data
        set that holds no votes.
    """
    ds = _get(name)
    if "form" in kwargs and ds.kind != "votes":
        hint = " (turn ratings into battles with ratings_to_pairwise)" if ds.kind == "ratings" else ""
        raise ValueError(f"form= applies to vote data sets only; {ds.name!r} is {ds.kind} data{hint}")
    return ds.loader(**kwargs)


def as_counts(data: Any, **kwargs: Any) -> pd.DataFrame:
    """Counts from anything the rating functions accept: counts, battles, a path, folder or glob, or a data set name.

    Paths and frames go through :func:`analysis.votes.aggregate` (the one reader; ``kwargs`` such as ``by=``,
    ``columns=``, ``allow_self=`` are passed on); a name that is not a path is looked up in :data:`DATASETS`.
    """
    if isinstance(data, str) and not looks_like_path(data):
        return load(data, form="counts")
    return aggregate(data, **kwargs)  # counts given as such are validated (and duplicate cells merged) there


def provenance(published: pd.DataFrame, *, model: str = "model") -> pd.DataFrame:
    """One row per model with :data:`PROVENANCE` (who sampled, who evaluated, source, date, sample size).

    Columns a table does not have are filled with ``"unknown"``; use it to label, split or filter published
    figures by where they come from (e.g. ``provenance(vb).query("evaluated_by == 'VBench Team'")``).
    """
    if model not in published.columns:
        raise KeyError(f"provenance(): no {model!r} column; found {list(published.columns)}")
    out = pd.DataFrame({"model": published[model].astype("string")})
    for col in PROVENANCE:
        values = published[col] if col in published.columns else pd.Series("unknown", index=published.index)
        out[col] = values.astype("string").fillna("unknown").replace("", "unknown").to_numpy()
    return out.reset_index(drop=True)
