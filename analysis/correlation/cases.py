"""The three real cases: Video-Bench ratings vs VBench, T2VScore TVGE, GenAI-Arena vs VBench.

All data come through :mod:`analysis.datasets`: the loaders find the public data (and say where to get it when
it is absent), and the name mappings between the sides ship in the repository's ``data/`` folder with their
sources (:func:`analysis.datasets.name_mapping`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import datasets
from .engine import correlate
from .options import CorrelationError, CorrelationMethod, Unit, renamed

__all__ = ["CASES", "genai_arena_vbench", "load_mapping", "run_case", "t2vscore", "videobench_vbench"]


def load_mapping(name: str) -> pd.DataFrame:
    """The name mapping a case uses (``videobench_vbench`` or ``genai_arena_vbench``), via
    :func:`analysis.datasets.name_mapping`.

    Returns
    -------
    pandas.DataFrame
        kind (``dimension`` or ``model``), source_name, target_name (empty: no counterpart), status, notes,
        source.
    """
    return datasets.name_mapping(name)


def _drop_unrated(vb: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    # A rater slot giving 0 to every model of an item looks like "not rated" (see videobench_human's notes).
    block = vb.groupby(["dimension", "item", "rater"])["score"].transform("max") == 0
    n_blocks = int(vb.loc[block, ["dimension", "item", "rater"]].drop_duplicates().shape[0])
    return vb[~block], n_blocks


def _published_rows(vbench: pd.DataFrame, evaluated_by: str | None) -> pd.DataFrame:
    """Published VBench rows, optionally only those scored by ``evaluated_by`` (e.g. ``"VBench Team"``)."""
    if evaluated_by is None:
        return vbench
    known = sorted(set(vbench["evaluated_by"].astype(str)))
    if evaluated_by not in known:
        raise CorrelationError(f"evaluated_by={evaluated_by!r} matches no published VBench row; the table has "
                               f"{known}")
    return vbench[vbench["evaluated_by"] == evaluated_by]


def provenance_note(rows: pd.DataFrame) -> str:
    """Who sampled and who scored the published rows in use, with counts (shown beside every estimate)."""
    prov = datasets.provenance(rows)
    who = (prov["sampled_by"] + " / " + prov["evaluated_by"]).value_counts()
    return "published rows sampled / evaluated by: " + ", ".join(f"{k} x{v}" for k, v in who.items())


@renamed(levels="units")
def videobench_vbench(*, units: Sequence[Unit] = ("model", "pair", "vote"),
                      methods: Sequence[CorrelationMethod] = ("spearman", "kendall"), human_scale: str = "bt",
                      level: float = 0.95, resamples: int = 1000, seed: int = 0, path: str | None = None,
                      evaluated_by: str | None = None) -> pd.DataFrame:
    """Video-Bench human ratings of 7 models against their published VBench scores, per mapped dimension.

    The dimension and model-name mappings are in ``data/videobench_vbench_mapping.csv`` (with notes and
    sources). Human side: the 4 rating slots of every item, compared within item and slot; items resampled
    by prompt (3 generations per prompt share it). Metric side: published per-model percentages, fixed.
    Rater-slot blocks scored 0 for all seven models (11 blocks, a "not rated" mark) are left out.
    ``evaluated_by`` keeps only the published rows scored by that party (see :data:`analysis.datasets.PROVENANCE`);
    every row's ``note`` says who sampled and who evaluated the published rows used.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS` rows; ``human`` is the Video-Bench dimension, ``metric`` ``vbench:<dimension>``.
        ``attrs["models"]``: the model mapping with, per model, whether a published VBench row exists.
    """
    mapping = load_mapping("videobench_vbench")
    dims = mapping[mapping["kind"] == "dimension"]
    names = mapping[mapping["kind"] == "model"]
    model_map = dict(zip(names["source_name"], names["target_name"], strict=True))
    vbench = _published_rows(datasets.published_vbench(), evaluated_by)
    check = names.assign(has_vbench_row=names["target_name"].isin(vbench["model"]))
    # Only the mapped rows: the other 20 VBench models are not part of this comparison.
    vbench = vbench[vbench["model"].isin(names["target_name"])]
    missing = check.loc[~check["has_vbench_row"], "source_name"].tolist()
    vb, n_blocks = _drop_unrated(datasets.videobench_human(path=path))
    versions = check.loc[check["status"] != "same-model", "source_name"].tolist()
    extra = [f"{n_blocks} all-zero rater blocks left out" if n_blocks else "",
             f"model version differs or is unstated: {', '.join(versions)}" if versions else "",
             f"no VBench row: {', '.join(missing)}" if missing else "", provenance_note(vbench)]
    frames = []
    for dim, targets in dims.groupby("source_name", sort=False)["target_name"]:
        res = correlate(vb[vb["dimension"] == dim], vbench, unit=units, method=methods, level=level,
                        human_col="score", metric_col=list(targets), item_cols="item", rater_col="rater",
                        cluster="prompt", human_scale=human_scale, aliases=model_map, resamples=resamples,
                        seed=seed, case="videobench-vbench")
        res["human"] = dim
        res["metric"] = "vbench:" + res["metric"]
        frames.append(res)
    out = pd.concat(frames, ignore_index=True)
    out["note"] = ["; ".join(x for x in [note, *extra] if x) for note in out["note"]]
    out.attrs["models"] = check
    out.attrs["dimensions"] = dims
    return out


@renamed(levels="units")
def t2vscore(*, units: Sequence[Unit] = ("video", "model", "pair", "vote"),
             methods: Sequence[CorrelationMethod] = ("spearman", "kendall"), human_scale: str = "bt",
             level: float = 0.95, resamples: int = 1000, seed: int = 0, path: str | None = None) -> pd.DataFrame:
    """T2VScore TVGE: human quality and alignment of 2,543 videos against CLIP Score, X-CLIP, BLIP-BLEU, T2VScore-A.

    Both sides are per video, so every unit is available and a resample of prompts recomputes both. Prompts
    are clustered by text (four texts occur under two ids each).
    """
    df = datasets.t2vscore_tvge(path=path)
    return correlate(df, df, unit=units, method=methods, level=level, human_col=["quality", "alignment"],
                     metric_col=["clip_score", "xclip_score", "blip_bleu", "t2vscore_a"], item_cols="prompt_id",
                     cluster="prompt", human_scale=human_scale, resamples=resamples, seed=seed, case="t2vscore")


def genai_arena_vbench(*, methods: Sequence[CorrelationMethod] = ("spearman", "kendall"),
                       metrics: Sequence[str] = ("total_score", "quality_score", "semantic_score"),
                       level: float = 0.95, seed: int = 0, path: str | None = None,
                       evaluated_by: str | None = None) -> pd.DataFrame:
    """GenAI-Arena video Elo (anonymous battles) against published VBench totals, for the models in both.

    Both sides are published aggregates, so the only sampling left is of models: intervals are Fisher-z
    intervals over models (``ci="fisher"``); ``seed`` fixes the permutation p-values of boards with more than
    8 matched models (random orderings there). Names are matched by ``data/genai_arena_vbench_mapping.csv``.
    Two variants per snapshot: ``strict`` (same model, VBench row verified: sources A/B) and ``broad`` (adds
    models whose VBench row is unverified or whose version is uncertain). ``evaluated_by`` keeps only the
    published rows scored by that party; each row's ``note`` says who sampled and evaluated the rows used.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS` rows; ``human`` is ``genai-arena <date> elo (strict|broad)``.
    """
    mapping = load_mapping("genai_arena_vbench")
    arena = datasets.genai_arena_video(path=path)
    vbench = _published_rows(datasets.published_vbench(), evaluated_by)
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
                res = correlate(human, metric, unit="model", method=methods, ci="fisher", level=level,
                                human_col="elo_anony", metric_col=list(metrics), aliases=model_map, seed=seed,
                                case="genai-arena-vbench")
            except CorrelationError as err:
                res = pd.DataFrame([{"case": "genai-arena-vbench", "unit": "model", "human": "elo_anony",
                                     "metric": ",".join(metrics), "method": "", "group": "all",
                                     "estimate": np.nan, "lower": np.nan, "upper": np.nan, "n": 0,
                                     "n_clusters": pd.NA, "ci": "none", "p_value": np.nan, "note": str(err)}])
            res["human"] = f"genai-arena {pd.Timestamp(day).date()} elo ({variant})"
            res["note"] = ["; ".join(x for x in (note, provenance_note(metric)) if x) for note in res["note"]]
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
