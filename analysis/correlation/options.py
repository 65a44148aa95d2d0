"""The words of :mod:`analysis.correlation` beyond the kit's vocabulary (:mod:`analysis.vocab`).

From the vocabulary: ``unit`` is the grain a correlation is measured at (:data:`UNITS`: model, pair, vote,
video) and ``level`` the confidence level of an interval, as everywhere in the kit; old spellings raise a
``TypeError`` naming the new one (:func:`analysis.vocab.renamed`). Here only: the correlation methods, the
interval methods of a correlation (a Fisher-z interval over units has no counterpart on a rating board, so
they are not :data:`analysis.vocab.CI_METHODS`), the human per-model scales and the metric tie rule.
"""

from __future__ import annotations

from typing import Literal, get_args

import numpy as np

from .. import vocab
from ..vocab import UNITS, Unit, renamed

__all__ = [
    "COLUMNS",
    "CORRELATION_CI",
    "HUMAN_SCALES",
    "METHODS",
    "METRIC_TIES",
    "UNITS",
    "CorrelationCI",
    "CorrelationError",
    "CorrelationMethod",
    "HumanScale",
    "MetricTies",
    "Unit",
    "check_level",
    "renamed",
]

CorrelationMethod = Literal["spearman", "kendall", "pearson"]
CorrelationCI = Literal["bootstrap", "fisher", "none"]
HumanScale = Literal["bt", "winrate", "mean"]
MetricTies = Literal["half", "drop"]

METHODS: tuple[str, ...] = get_args(CorrelationMethod)
CORRELATION_CI: tuple[str, ...] = get_args(CorrelationCI)
HUMAN_SCALES: tuple[str, ...] = get_args(HumanScale)
METRIC_TIES: tuple[str, ...] = get_args(MetricTies)

#: Columns of a :func:`analysis.correlation.correlate` table, in order.
COLUMNS = ["case", "unit", "human", "metric", "method", "group", "estimate", "lower", "upper", "n", "n_clusters",
           "ci", "p_value", "note"]


class CorrelationError(ValueError):
    """Human and metric data that cannot be compared (nothing in common, a missing column, ...)."""


def check_level(level: object, func: str) -> float:
    """:func:`analysis.vocab.check_level`, after refusing a grain passed as ``level=`` (the old spelling of
    ``unit=``) with a TypeError that names ``unit=``."""
    if isinstance(level, str) or (isinstance(level, list | tuple | np.ndarray)
                                  and all(isinstance(x, str) for x in level)):
        raise TypeError(f"{func}(): level= is the confidence level (e.g. 0.95); the grain of the correlation is "
                        f"unit= (e.g. unit={level!r})")
    return vocab.check_level(level)
