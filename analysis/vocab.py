"""The kit's vocabulary, written down once: one name per idea, the same in every module and on the command line.

=============  ==========================================================================================
name           meaning
=============  ==========================================================================================
``level``      confidence level of an interval, in (0, 1) (0.95 gives 95% intervals)
``ties``       tie rule of a Bradley-Terry fit: :data:`TIE_RULES`
``ci``         interval method: :data:`CI_METHODS`
``anchor``     the gauge: ``"mean"`` (mean rating at ``init``) or ``{model: value}`` (that model fixed)
``aliases``    model renaming, ``{their_name: our_name}``
``unit``       the grain of a human-vs-metric correlation: :data:`UNITS`
``data``       the input frame of a plot or analysis; column arguments are named ``x``, ``y``, ``hue``, ...
``ax``         the matplotlib Axes a plot draws on (keyword only); plot functions return it
=============  ==========================================================================================

Old spellings raise a TypeError naming the new one (:func:`renamed`); the package is 0.x and keeps no silent
aliases.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar, get_args

TieRule = Literal["half", "drop", "rao-kupper", "davidson"]
CIMethod = Literal["bootstrap", "cluster", "sandwich", "model", "none"]
Method = Literal["bt", "elo"]
Recipe = Literal["fastchat", "arena-rank", "aa"]
Unit = Literal["model", "pair", "vote", "video"]
Anchor = Literal["mean"] | Mapping[str, float]
Aliases = Mapping[str, str]

TIE_RULES: tuple[str, ...] = get_args(TieRule)
CI_METHODS: tuple[str, ...] = get_args(CIMethod)
UNITS: tuple[str, ...] = get_args(Unit)

F = TypeVar("F", bound=Callable[..., Any])


def renamed(**old_to_new: str) -> Callable[[F], F]:
    """Refuse old keyword spellings with a TypeError naming the new one, e.g. ``@renamed(confidence="level")``."""

    def wrap(func: F) -> F:
        @functools.wraps(func)
        def inner(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                if old in kwargs:
                    raise TypeError(f"{func.__name__}() takes {new}= now, not {old}= (renamed in the vocabulary "
                                    "of analysis.vocab)")
            return func(*args, **kwargs)

        return inner  # type: ignore[return-value]

    return wrap


def check_level(level: Any, name: str = "level") -> float:
    """The confidence level as a float in (0, 1), or a ValueError naming it (``level`` is never a grain here)."""
    try:
        value = float(level)
    except (TypeError, ValueError):
        raise ValueError(f"{name} is the confidence level, a number in (0, 1) such as 0.95, not {level!r}") from None
    if not 0 < value < 1:
        raise ValueError(f"{name} is the confidence level, a number in (0, 1) such as 0.95, not {level!r}")
    return value


def keyword_options(value: Mapping[str, Any] | None, name: str, target: str) -> dict[str, Any]:
    """``value`` as a dict of keywords passed on to ``target`` (``{}`` for None), or a TypeError naming ``name``.

    The one check behind every ``rate_options=`` / ``refit_options=`` argument: options for a nested call travel as
    a mapping, never as hidden ``**options``.
    """
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of {target} keywords, such as {{'seed': 0}}, not "
                        f"{type(value).__name__}")
    return dict(value)
