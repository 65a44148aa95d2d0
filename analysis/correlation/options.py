"""The words of :mod:`analysis.correlation`, written once: the grain of a correlation, methods, interval methods.

``unit`` is the grain a correlation is measured at (model, pair, vote, video); ``level`` is the confidence
level of an interval, as everywhere in the kit. Old spellings raise a ``TypeError`` that names the new one
(no silent aliases in 0.x).
"""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args

import numpy as np

__all__ = [
    "CI_METHODS",
    "COLUMNS",
    "HUMAN_SCALES",
    "METHODS",
    "METRIC_TIES",
    "UNITS",
    "CIMethod",
    "CorrelationError",
    "HumanScale",
    "Method",
    "MetricTies",
    "Unit",
    "check_level",
    "renamed",
]

Unit = Literal["model", "pair", "vote", "video"]
Method = Literal["spearman", "kendall", "pearson"]
CIMethod = Literal["bootstrap", "fisher", "none"]
HumanScale = Literal["bt", "winrate", "mean"]
MetricTies = Literal["half", "drop"]

UNITS: tuple[str, ...] = get_args(Unit)
METHODS: tuple[str, ...] = get_args(Method)
CI_METHODS: tuple[str, ...] = get_args(CIMethod)
HUMAN_SCALES: tuple[str, ...] = get_args(HumanScale)
METRIC_TIES: tuple[str, ...] = get_args(MetricTies)

#: Columns of a :func:`analysis.correlation.correlate` table, in order.
COLUMNS = ["case", "unit", "human", "metric", "method", "group", "estimate", "lower", "upper", "n", "n_clusters",
           "ci", "p_value", "note"]


class CorrelationError(ValueError):
    """Human and metric data that cannot be compared (nothing in common, a missing column, ...)."""


F = TypeVar("F", bound=Callable[..., Any])


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Decorator: a call with an old keyword raises a ``TypeError`` naming the new one.

    The wrapped function keeps its signature (``inspect.signature`` and ``help()`` show the new names only).
    """

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    raise TypeError(f"{func.__name__}(): {old}= was renamed; use {new}=")
            return func(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def check_level(level: object, func: str) -> float:
    """The confidence level as a float in (0, 1); a grain passed as ``level`` (the old spelling) is a TypeError."""
    if isinstance(level, str) or (isinstance(level, list | tuple | np.ndarray)
                                  and all(isinstance(x, str) for x in level)):
        raise TypeError(f"{func}(): level= is the confidence level (e.g. 0.95); the grain of the correlation is "
                        f"unit= (e.g. unit={level!r})")
    if isinstance(level, bool) or not isinstance(level, numbers.Real):
        raise TypeError(f"{func}(): level= is the confidence level, a number in (0, 1), not {level!r}")
    if not 0 < float(level) < 1:
        raise CorrelationError(f"level must be in (0, 1), got {level}")
    return float(level)
