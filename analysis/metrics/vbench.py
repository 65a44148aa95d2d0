"""VBench's score aggregation: per-video results -> dimension score -> Quality, Semantic and Total.

Two levels, both as VBench defines them (Vchitect/VBench ``scripts/constant.py``, ``cal_final_score.py`` and
the per-dimension modules):

1. A dimension's aggregate over videos. For subject and background consistency VBench sums the frame-pair
   similarities of all videos and divides by the number of frame pairs (long videos weigh more); every other
   dimension here is a plain mean over videos. Sums use :func:`math.fsum`, which is exactly rounded and so
   does not depend on the order in which shards deliver their videos: 2 ranks give bit-for-bit the 1-rank
   result.
2. The leaderboard scores: each dimension (0-1 scale) is min-max normalised with VBench's constants, weighted
   (dynamic degree 0.5, everything else 1), Quality = weighted mean of the 7 quality dimensions, Semantic =
   mean of the 9 semantic ones, Total = (4 Quality + 1 Semantic) / 5. No clipping, as in VBench.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

QUALITY_DIMENSIONS = (
    "subject_consistency",
    "background_consistency",
    "temporal_flickering",
    "motion_smoothness",
    "aesthetic_quality",
    "imaging_quality",
    "dynamic_degree",
)
SEMANTIC_DIMENSIONS = (
    "object_class",
    "multiple_objects",
    "human_action",
    "color",
    "spatial_relationship",
    "scene",
    "appearance_style",
    "temporal_style",
    "overall_consistency",
)
ALL_DIMENSIONS = QUALITY_DIMENSIONS + SEMANTIC_DIMENSIONS

# (min, max) on the 0-1 scale; a dimension not listed uses (0, 1).
NORMALIZE = {
    "subject_consistency": (0.1462, 1.0),
    "background_consistency": (0.2615, 1.0),
    "temporal_flickering": (0.6293, 1.0),
    "motion_smoothness": (0.706, 0.9975),
    "scene": (0.0, 0.8222),
    "appearance_style": (0.0009, 0.2855),
    "temporal_style": (0.0, 0.364),
    "overall_consistency": (0.0, 0.364),
}
WEIGHTS = {"dynamic_degree": 0.5}
QUALITY_WEIGHT, SEMANTIC_WEIGHT = 4.0, 1.0

# Dimensions whose aggregate is weighted by frame pairs rather than by videos.
PAIR_WEIGHTED = frozenset({"subject_consistency", "background_consistency"})
# Dimensions whose aggregate is the mean over all frames of all videos (VBench's running sum / frame count).
FRAME_WEIGHTED = frozenset({"appearance_style"})


def normalized(dimension: str, value: float) -> float:
    """VBench's weighted, min-max normalised value of one dimension score.

    Parameters
    ----------
    dimension : str
        VBench dimension name, e.g. ``"subject_consistency"``.
    value : float
        The dimension score on VBench's native 0-1 scale.

    Returns
    -------
    float
        ``(value - min) / (max - min) * weight``; not clipped, so it may leave [0, weight].
    """
    lo, hi = NORMALIZE.get(dimension, (0.0, 1.0))
    return (value - lo) / (hi - lo) * WEIGHTS.get(dimension, 1.0)


def _scores_one(values: Mapping[str, float], scale: float) -> dict[str, float]:
    missing = [d for d in ALL_DIMENSIONS if d not in values or pd.isna(values[d])]
    if missing:
        raise ValueError(f"vbench_scores needs all 16 dimensions; missing: {', '.join(missing)}")

    def group(dims: Iterable[str]) -> float:
        dims = tuple(dims)
        total = sum(normalized(d, float(values[d]) / scale) for d in dims)
        return total / sum(WEIGHTS.get(d, 1.0) for d in dims)

    quality = group(QUALITY_DIMENSIONS)
    semantic = group(SEMANTIC_DIMENSIONS)
    total = (QUALITY_WEIGHT * quality + SEMANTIC_WEIGHT * semantic) / (QUALITY_WEIGHT + SEMANTIC_WEIGHT)
    return {
        "quality_score": quality * scale,
        "semantic_score": semantic * scale,
        "total_score": total * scale,
    }


def vbench_scores(per_dimension: Mapping[str, float] | pd.DataFrame, *, scale: float = 1.0) -> Any:
    """Quality, Semantic and Total scores from the 16 dimension scores, as VBench computes them.

    Parameters
    ----------
    per_dimension : mapping or DataFrame
        Dimension name -> score, or a frame with one row per model and one column per dimension
        (other columns are carried along untouched).
    scale : float, default 1.0
        Scale of the inputs and outputs: 1.0 for VBench's native 0-1 scores, 100.0 for the percentages of
        the published leaderboard.

    Returns
    -------
    dict or DataFrame
        ``{"quality_score", "semantic_score", "total_score"}`` on ``scale``; for a frame input, the frame
        with those three columns added (replacing any of the same name).

    Raises
    ------
    ValueError
        If any of the 16 dimensions is missing or NaN (VBench's totals are undefined without them).
    """
    if isinstance(per_dimension, pd.DataFrame):
        rows = [_scores_one(row, scale) for row in per_dimension.to_dict("records")]
        out = per_dimension.copy()
        for key in ("quality_score", "semantic_score", "total_score"):
            out[key] = [r[key] for r in rows]
        return out
    return _scores_one(per_dimension, scale)


def aggregate_dimension(dimension: str, results: Iterable[Mapping[str, Any]]) -> float | None:
    """A dimension's score over videos, weighted as VBench weighs it.

    Parameters
    ----------
    dimension : str
        Dimension name.
    results : iterable of mapping
        Per-video records with ``status`` and ``score``; pair-weighted dimensions also need ``sim_sum`` (the
        video's sum of frame-pair similarities) and ``n_pairs``; frame-weighted ones (appearance_style)
        ``sim_sum`` and ``n_frames``. Only ``status == "ok"`` records count.

    Returns
    -------
    float or None
        The aggregate on the 0-1 scale, or None when no video has a score.
    """
    ok = [r for r in results if r.get("status") == "ok"]
    if not ok:
        return None
    if dimension in PAIR_WEIGHTED:
        return math.fsum(float(r["sim_sum"]) for r in ok) / sum(int(r["n_pairs"]) for r in ok)
    if dimension in FRAME_WEIGHTED:
        return math.fsum(float(r["sim_sum"]) for r in ok) / sum(int(r["n_frames"]) for r in ok)
    return math.fsum(float(r["score"]) for r in ok) / len(ok)
