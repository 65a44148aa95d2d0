"""Publication figures for arena leaderboards: one house style, one stable model-to-colour map.

Why this shape
--------------
* Seaborn-like calls: every plot function takes a tidy ``data=`` frame, column names and ``ax=``, and returns the
  Axes, so figures compose into subplot grids and notebooks stay thin. The theme is set once, by
  :func:`set_theme`; plot functions never touch global state.
* Only matplotlib is needed, and each function draws plain, named artists (a ``LineCollection`` for intervals, a
  ``PathCollection`` for points, an ``AxesImage`` for heatmaps, each with a ``gid``), so tests and reviewers can
  read back what was drawn (interval ends, cell values, labels) instead of comparing pixels.
* A model keeps its colour in every figure. Colours come from a fixed colour-blind-safe palette indexed by a
  stable hash of the name (blake2b, not ``hash()``, which is salted per process), and a session registry pins
  each name to the colour it first got, so resolving a clash in one figure never recolours a model in another.
  Calling ``model_colors(all_models)`` once, early, makes the whole session's colours as distinct as possible.
* :func:`save_figure` writes PNG (300 dpi) and SVG side by side, atomically, with no timestamps in the files,
  so re-running a notebook does not leave half-written or needlessly changed figures behind.

Example
-------
>>> import analysis, analysis.plots as ap
>>> ap.set_theme("paper")
>>> board = analysis.leaderboard(votes)                         # doctest: +SKIP
>>> ax = ap.forest(board, highlight="Veo 3")                     # doctest: +SKIP
>>> ap.save_figure(ax.figure, "figures/leaderboard")             # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import hashlib
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from cycler import cycler
from matplotlib.axes import Axes
from matplotlib.colors import Colormap, to_hex
from matplotlib.figure import Figure, SubFigure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .io import atomic_path

__all__ = [
    "MODEL_PALETTE",
    "SERIES_PALETTE",
    "MissingColumnError",
    "corr_forest",
    "corr_scatter",
    "forest",
    "heatmap",
    "metric_profile",
    "model_colors",
    "palette",
    "rank_intervals",
    "register_colors",
    "reset_colors",
    "save_figure",
    "set_theme",
    "theme_rc",
    "trajectories",
]

# ---------------------------------------------------------------------------------------------- palettes

#: Model colours: Paul Tol's "muted" qualitative scheme. Its nine colours stay distinct under the common
#: colour-vision deficiencies and all read on white; more colours than this cannot stay colour-blind safe, so
#: boards with more models share colours (names and tick labels, not colour, identify models there).
MODEL_PALETTE: tuple[str, ...] = (
    "#332288", "#88ccee", "#44aa99", "#117733", "#999933", "#ddcc77", "#cc6677", "#882255", "#aa4499",
)

#: Colours for things that are not models (hue levels such as "ours" vs "published", the default line cycle):
#: the Okabe-Ito scheme without its yellow, which is too light on white. Kept apart from MODEL_PALETTE's order so
#: that a hue level is never mistaken for a model.
SERIES_PALETTE: tuple[str, ...] = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")

# Redundant marker shapes for hue levels: the overlay stays readable in greyscale print.
_SERIES_MARKERS: tuple[str, ...] = ("o", "s", "D", "^", "v", "P", "X")

# Axis labels for the kit's standard column names; any other column is shown as "Column name".
_LABELS: dict[str, str] = {
    "rating": "Rating",
    "model": "Model",
    "model_a": "Model A",
    "model_b": "Model B",
    "p": "P(row beats column)",
    "rank": "Rank",
    "win_rate": "Win rate",
    "n_battles": "Battles",
}

# ---------------------------------------------------------------------------------------------- theme

# Font-size multipliers per context, as in seaborn: "paper" for single-column figures, "talk" for slides.
_CONTEXTS: dict[str, float] = {"paper": 0.8, "notebook": 1.0, "talk": 1.5}

# Sizes at the "notebook" context; scaled together so proportions hold in every context.
_SCALED: dict[str, float] = {
    "font.size": 12.0,
    "axes.labelsize": 12.0,
    "axes.titlesize": 12.5,
    "xtick.labelsize": 11.0,
    "ytick.labelsize": 11.0,
    "legend.fontsize": 11.0,
    "legend.title_fontsize": 11.5,
    "figure.titlesize": 13.0,
    "lines.linewidth": 1.6,
    "lines.markersize": 6.0,
    "axes.linewidth": 0.9,
    "grid.linewidth": 0.7,
    "xtick.major.width": 0.9,
    "ytick.major.width": 0.9,
    "xtick.major.size": 3.5,
    "ytick.major.size": 3.5,
    "patch.linewidth": 0.8,
}

# Only these follow font_scale: line widths and tick lengths scale with the context alone.
_FONT_KEYS = frozenset(key for key in _SCALED if key.endswith(("font.size", "labelsize", "titlesize", "fontsize")))

_INK = "#1a1a1a"  # near-black text: full black on white is harsher than print needs
_FRAME = "#4d4d4d"  # spines and ticks recede behind the data


def theme_rc(context: str = "notebook", *, font_scale: float = 1.0) -> dict[str, Any]:
    """The house style as a matplotlib rc dictionary, without applying it.

    Use it to style one block of code, ``with matplotlib.rc_context(theme_rc("paper")): ...``, or read it to see
    exactly what :func:`set_theme` sets.

    Parameters
    ----------
    context : {"paper", "notebook", "talk"}
        Sizes for a paper column (0.8x), a notebook (1x) or slides (1.5x).
    font_scale : float
        Extra multiplier on font sizes only.

    Returns
    -------
    dict
        rcParams keys and values.
    """
    if context not in _CONTEXTS:
        raise ValueError(f"context must be one of {sorted(_CONTEXTS)}, got {context!r}")
    if not font_scale > 0:
        raise ValueError(f"font_scale must be positive, got {font_scale!r}")
    scale = _CONTEXTS[context]
    rc: dict[str, Any] = {
        key: value * scale * (font_scale if key in _FONT_KEYS else 1.0) for key, value in _SCALED.items()
    }
    rc.update({
        # Constrained layout keeps labels, colour bars and outside legends inside the figure without tuning.
        "figure.constrained_layout.use": True,
        "figure.facecolor": "white",
        "axes.facecolor": "white",
        "savefig.facecolor": "white",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.edgecolor": _FRAME,
        "axes.labelcolor": _INK,
        "text.color": _INK,
        "xtick.color": _FRAME,
        "ytick.color": _FRAME,
        "xtick.labelcolor": _INK,
        "ytick.labelcolor": _INK,
        # A light grid drawn below the data helps reading values off without competing with them.
        "axes.grid": True,
        "axes.axisbelow": True,
        "grid.color": "#e5e5e5",
        "grid.linestyle": "-",
        "axes.prop_cycle": cycler(color=list(SERIES_PALETTE)),
        "image.cmap": "viridis",
        "legend.frameon": False,
        "errorbar.capsize": 0.0,
        "savefig.dpi": 300,
        # TrueType fonts in PDF/PS: editable text, and journals reject Type 3 fonts.
        "pdf.fonttype": 42,
        "ps.fonttype": 42,
        # Fixed SVG ids: re-saving an unchanged figure gives an identical file (clean diffs).
        "svg.hashsalt": "video-arena-lab",
    })
    return rc


def set_theme(context: str = "notebook", *, font_scale: float = 1.0, rc: Mapping[str, Any] | None = None) -> None:
    """Apply the house style to matplotlib, once per session (calling it again is harmless).

    Clean, publication-ready defaults: readable fonts scaled for the context, a light grid below the data, no top
    or right spines, constrained layout, the colour-blind-safe :data:`SERIES_PALETTE` as the line cycle and
    300 dpi when saving. Plot functions in this module never change global state; they follow whatever theme
    is active.

    Parameters
    ----------
    context : {"paper", "notebook", "talk"}
        Sizes for a paper column, a notebook or slides.
    font_scale : float
        Extra multiplier on font sizes.
    rc : mapping, optional
        rcParams to override after the theme is applied.
    """
    params = theme_rc(context, font_scale=font_scale)
    if rc:
        params.update(rc)
    # rcParams.update assigns absolute values, so a second call with the same arguments changes nothing.
    mpl.rcParams.update(params)


# ---------------------------------------------------------------------------------------------- model colours

_REGISTRY: dict[str, str] = {}
_REGISTRY_LOCK = threading.Lock()


def _slot(name: str) -> int:
    """Palette index for a name: a stable hash, identical in every process and on every platform."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % len(MODEL_PALETTE)


def _names(models: Iterable[Any] | str) -> list[str]:
    # A bare string is one model, not a sequence of one-letter models.
    items = [models] if isinstance(models, str) else list(models)
    return list(dict.fromkeys(str(m) for m in items))


def model_colors(models: Iterable[Any] | str) -> dict[str, str]:
    """The colour of each model, the same in every figure of the session and across sessions.

    A name's own colour is ``MODEL_PALETTE[blake2b(name) % 9]``. When new names in one call would share a colour
    with each other or with a name already in the call, the later name (in sorted order) moves to the next free
    palette colour, so a set of up to nine models gets nine distinct colours when possible. Every colour handed
    out is recorded in a session registry, so a model keeps it in all later figures even where another set would
    have placed it elsewhere. To make a whole session's colours distinct, call this once with all models first.

    Parameters
    ----------
    models : iterable of str, or str
        Model names (duplicates ignored; a single string is one model).

    Returns
    -------
    dict
        Name to ``"#rrggbb"``, in the order the names were given.
    """
    names = _names(models)
    n = len(MODEL_PALETTE)
    with _REGISTRY_LOCK:
        used = {_REGISTRY[name] for name in names if name in _REGISTRY}
        # Sorted, so the result does not depend on the order in which a caller lists the models.
        new = sorted(name for name in names if name not in _REGISTRY)
        clashing = []
        # First pass: every name whose own colour is free keeps it; only genuine clashes move.
        for name in new:
            own = MODEL_PALETTE[_slot(name)]
            if own in used:
                clashing.append(name)
            else:
                _REGISTRY[name] = own
                used.add(own)
        for name in clashing:
            start = _slot(name)
            free = [MODEL_PALETTE[(start + k) % n] for k in range(1, n) if MODEL_PALETTE[(start + k) % n] not in used]
            # More models than colours: a shared colour is unavoidable; the name's own colour is the stable choice.
            colour = free[0] if free else MODEL_PALETTE[start]
            _REGISTRY[name] = colour
            used.add(colour)
        return {name: _REGISTRY[name] for name in names}


def palette(models: Iterable[Any] | str) -> list[str]:
    """Colours for ``models`` as a list in the given order (for ``color=`` or seaborn's ``palette=``)."""
    colours = model_colors(models)
    return [colours[name] for name in _names(models)]


def register_colors(mapping: Mapping[str, Any]) -> None:
    """Pin models to chosen colours for the rest of the session (any matplotlib colour spec).

    Pinned colours win over the hash: use this to give a house model or a reference model a fixed colour.
    """
    converted = {str(name): to_hex(colour) for name, colour in mapping.items()}
    with _REGISTRY_LOCK:
        _REGISTRY.update(converted)


def reset_colors() -> None:
    """Forget every colour handed out or pinned in this session (names fall back to their hash colour)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()


# ---------------------------------------------------------------------------------------------- helpers


class MissingColumnError(KeyError, ValueError):
    """A column named in a plot call is not in ``data``.

    A ``KeyError`` like pandas' own, and a ``ValueError`` because the argument value is wrong.
    """

    def __str__(self) -> str:
        # KeyError's str() wraps the message in quotes; show it as written.
        return str(self.args[0]) if self.args else ""


def _frame(data: Any, func: str) -> pd.DataFrame:
    """A DataFrame from ``data``: a frame, an object with a ``.board`` frame (``analysis.rate``), or dict-like."""
    if isinstance(data, pd.DataFrame):
        return data
    board = getattr(data, "board", None)
    if isinstance(board, pd.DataFrame):
        return board
    if data is None:
        raise TypeError(f"{func}(): data= is required (a tidy DataFrame)")
    try:
        return pd.DataFrame(data)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{func}(): data= must be a DataFrame or DataFrame-like, got {type(data).__name__}") from exc


def _require(data: pd.DataFrame, func: str, **roles: Any) -> None:
    """Raise MissingColumnError naming the first column (and its argument) that is not in ``data``."""
    columns = [str(c) for c in data.columns]
    for role, column in roles.items():
        if column is None or column in data.columns:
            continue
        close = difflib.get_close_matches(str(column), columns, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise MissingColumnError(
            f"{func}(): column {column!r} (given as {role}=) is not in data.{hint} Columns: {', '.join(columns)}"
        )
    if data.empty:
        raise ValueError(f"{func}(): data has no rows")


def _numeric(data: pd.DataFrame, column: str | None, func: str) -> np.ndarray:
    """A float array for a column (NaN where missing; all NaN when the column is None)."""
    if column is None:
        return np.full(len(data), np.nan)
    try:
        values = pd.to_numeric(data[column], errors="raise")
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{func}(): column {column!r} must be numeric") from exc
    return pd.Series(values).to_numpy(dtype=float, na_value=np.nan)


def _text(data: pd.DataFrame, column: str) -> np.ndarray:
    # Model names may arrive as pandas' string dtype, categoricals or ints: compare and label them as str.
    return data[column].astype(str).to_numpy(dtype=object)


def _label(column: str | None) -> str:
    if column is None:
        return ""
    if column in _LABELS:
        return _LABELS[column]
    text = str(column).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    """The caller's Axes, or a new constrained-layout figure sized for the content."""
    if ax is not None:
        return ax
    _, new = plt.subplots(figsize=size, layout="constrained")
    return new


def _points(key: str = "font.size") -> float:
    """An rc font size in points (rc values may be names such as "medium")."""
    return float(FontProperties(size=mpl.rcParams[key]).get_size_in_points())


def _text_inches(n_chars: int, key: str) -> float:
    # About 0.6 em per character in a sans-serif face: enough to size a figure, not to typeset.
    return 0.6 * _points(key) * n_chars / 72.0


def _unique(values: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _check_known(names: Iterable[str], known: Iterable[Any], func: str, what: str) -> None:
    known = set(known)
    missing = [name for name in names if name not in known]
    if missing:
        raise ValueError(f"{func}(): {what} not in data: {', '.join(map(repr, missing))}")


def _rating_order(ratings: Any, func: str) -> list[str]:
    """Model names, best first, from a board (model, rating columns), a Series or a mapping name -> rating."""
    board = getattr(ratings, "board", None)  # a Ratings object from analysis.rate
    if isinstance(board, pd.DataFrame):
        ratings = board
    if isinstance(ratings, pd.DataFrame):
        _require(ratings, func, model="model", rating="rating")
        series = pd.Series(_numeric(ratings, "rating", func), index=_text(ratings, "model"))
    elif isinstance(ratings, pd.Series):
        series = pd.Series(pd.to_numeric(ratings).to_numpy(float), index=ratings.index.astype(str))
    elif isinstance(ratings, Mapping):
        series = pd.Series({str(k): float(v) for k, v in ratings.items()})
    else:
        raise TypeError(f"{func}(): ratings= must be a board, a Series or a mapping, got {type(ratings).__name__}")
    return list(series.sort_values(ascending=False, kind="stable").index)


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


# ---------------------------------------------------------------------------------------------- intervals


def _interval_plot(
    data: Any,
    func: str,
    *,
    model: str,
    value: str,
    lower: str | None,
    upper: str | None,
    hue: str | None,
    hue_order: Sequence[str] | None,
    order: Sequence[str] | None,
    ax: Axes | None,
    highlight: str | Sequence[str] | None,
    role: str,
    best_is_high: bool,
) -> Axes:
    """Points with horizontal intervals, one row per model, best at the top (forest and rank plots)."""
    frame = _frame(data, func)
    _require(frame, func, model=model, **{role: value}, lower=lower, upper=upper, hue=hue)
    rows = pd.DataFrame({
        "model": _text(frame, model),
        "value": _numeric(frame, value, func),
        "lower": _numeric(frame, lower, func),
        "upper": _numeric(frame, upper, func),
        "hue": _text(frame, hue) if hue is not None else "",
    })
    duplicated = rows.duplicated(["hue", "model"])
    if duplicated.any():
        where = f" within one {hue!r} level" if hue is not None else ""
        raise ValueError(f"{func}(): several rows for model {rows.loc[duplicated, 'model'].iloc[0]!r}{where}")

    levels = [str(h) for h in hue_order] if hue_order is not None else _unique(rows["hue"])
    if hue_order is not None:
        _check_known(levels, rows["hue"], func, "hue_order levels")
        rows = rows[rows["hue"].isin(levels)]

    if order is not None:
        models = [str(m) for m in order]
        _check_known(models, rows["model"], func, "models in order=")
        if not models:
            raise ValueError(f"{func}(): order= is empty")
    else:
        # Rank by the first hue level (the reference board, e.g. ours); models it lacks slot in by their mean.
        first = rows[rows["hue"] == levels[0]].set_index("model")["value"]
        key = rows.groupby("model", sort=False)["value"].mean()
        key.update(first)
        models = list(key.sort_values(ascending=not best_is_high, kind="stable", na_position="last").index)
    position = {name: len(models) - 1 - i for i, name in enumerate(models)}  # best on top, no inverted axis
    # Size from the fonts in force, so "talk" labels and long model names do not squeeze the data area.
    grow = _points() / 12.0
    label_width = _text_inches(max(len(m) for m in models), "ytick.labelsize")
    row_height = max(0.28, 2.0 * _points("ytick.labelsize") / 72.0)
    ax = _axes(ax, (4.6 * grow + label_width + 0.3, max(2.4, row_height * len(models) + 1.0 * grow)))

    # Dodge the hue levels inside each row, first level on top, so overlaid boards do not hide each other.
    width = 0.36 if len(levels) > 1 else 0.0
    offsets = np.linspace(width / 2, -width / 2, len(levels)) if len(levels) > 1 else np.zeros(1)
    colours = model_colors(models)
    for j, level in enumerate(levels):
        sub = rows[(rows["hue"] == level) & rows["model"].isin(position)]
        y = sub["model"].map(position).to_numpy(float) + offsets[j]
        if hue is None:
            colour: Any = [colours[m] for m in sub["model"]]
        else:
            colour = [SERIES_PALETTE[j % len(SERIES_PALETTE)]] * len(sub)
        lo, hi = sub["lower"].to_numpy(), sub["upper"].to_numpy()
        has = np.isfinite(lo) & np.isfinite(hi)  # boards without intervals (e.g. a published one) show points only
        if has.any():
            ax.hlines(y[has], lo[has], hi[has], colors=[c for c, h in zip(colour, has, strict=True) if h],
                      linewidth=mpl.rcParams["lines.linewidth"] * 1.2, gid=f"{func}-interval", zorder=2)
        ax.scatter(sub["value"].to_numpy(), y, c=colour, s=(mpl.rcParams["lines.markersize"] * 1.1) ** 2,
                   marker=_SERIES_MARKERS[j % len(_SERIES_MARKERS)] if hue is not None else "o",
                   edgecolors="white", linewidths=0.6, zorder=3, gid=f"{func}-point",
                   label=level if hue is not None else None)

    ticks = [position[m] for m in models]
    ax.set_yticks(ticks, labels=models)
    ax.set_ylim(-0.6, len(models) - 0.4)
    ax.tick_params(axis="y", length=0)
    ax.grid(False, axis="y")
    marked = _as_list(highlight)
    _check_known(marked, models, func, "highlighted models")
    for tick, name in zip(ax.get_yticklabels(), models, strict=True):
        if name in marked:
            tick.set_fontweight("bold")
            # A pale band carries the highlight to the data, not only the label.
            ax.axhspan(position[name] - 0.5, position[name] + 0.5, color="#f0f0f0", zorder=0, linewidth=0)
    ax.set_ylabel("")
    if hue is not None:
        # Best rows run along one diagonal; the empty corner is bottom right for ratings, top right for ranks.
        ax.legend(title=_label(hue), loc="lower right" if best_is_high else "upper right")
    return ax


def forest(
    data: Any,
    *,
    model: str = "model",
    rating: str = "rating",
    lower: str | None = "lower",
    upper: str | None = "upper",
    hue: str | None = None,
    order: Sequence[str] | None = None,
    ax: Axes | None = None,
    highlight: str | Sequence[str] | None = None,
    hue_order: Sequence[str] | None = None,
) -> Axes:
    """Forest plot of ratings with their intervals, best model at the top.

    Parameters
    ----------
    data : DataFrame
        One row per model (per ``hue`` level), e.g. ``analysis.leaderboard(...)``; a ``Ratings`` object works too.
    model, rating, lower, upper : str
        Columns. ``lower``/``upper`` may be None (points only); rows with missing bounds show a point only.
    hue : str, optional
        Column that tells boards apart (e.g. ``"source"``: ours vs published) for an overlay: each level gets a
        colour and marker, rows are dodged, the legend names the levels.
    order : sequence of str, optional
        Models top to bottom (and only these). Default: by rating in the first ``hue`` level, best first.
    ax : Axes, optional
        Where to draw; default a new figure sized to the number of models.
    highlight : str or sequence of str, optional
        Models shown in bold with a pale band (e.g. the model a paper is about).
    hue_order : sequence of str, optional
        Hue levels to show, in order (the first is the one that sets the row order).

    Returns
    -------
    Axes
        Points are model-coloured (the stable map of :func:`model_colors`) unless ``hue`` is given. Intervals are
        ``LineCollection`` artists with gid ``"forest-interval"``, points have gid ``"forest-point"``.
    """
    ax = _interval_plot(data, "forest", model=model, value=rating, lower=lower, upper=upper, hue=hue,
                        hue_order=hue_order, order=order, ax=ax, highlight=highlight, role="rating", best_is_high=True)
    ax.set_xlabel(_label(rating))
    return ax


def rank_intervals(
    data: Any,
    *,
    model: str = "model",
    rank: str = "rank",
    lower: str | None = "rank_lower",
    upper: str | None = "rank_upper",
    ax: Axes | None = None,
    hue: str | None = None,
    hue_order: Sequence[str] | None = None,
    order: Sequence[str] | None = None,
    highlight: str | Sequence[str] | None = None,
) -> Axes:
    """Rank of each model with its rank interval (e.g. 95% over bootstrap draws), rank 1 at the top left.

    Overlapping rank intervals are the honest reading of a leaderboard: models whose intervals overlap are not
    separated by the data.

    Parameters
    ----------
    data : DataFrame
        One row per model, e.g. ``analysis.leaderboard(...)`` (``rank``, ``rank_lower``, ``rank_upper``).
    model, rank, lower, upper : str
        Columns (``lower``/``upper`` may be None).
    ax : Axes, optional
        Where to draw.
    hue, hue_order, order, highlight
        As in :func:`forest`; default order is by rank, best first.

    Returns
    -------
    Axes
        Intervals have gid ``"rank_intervals-interval"``; the x axis has integer ticks.
    """
    ax = _interval_plot(data, "rank_intervals", model=model, value=rank, lower=lower, upper=upper, hue=hue,
                        hue_order=hue_order, order=order, ax=ax, highlight=highlight, role="rank", best_is_high=False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(_label(rank))
    return ax


# ---------------------------------------------------------------------------------------------- matrices


def _relative_luminance(rgba: Sequence[float]) -> float:
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _matrix_plot(
    matrix: pd.DataFrame,
    ax: Axes | None,
    func: str,
    *,
    cmap: str | Colormap,
    vmin: float | None,
    vmax: float | None,
    annot: bool | None,
    fmt: str,
    cbar: bool,
    cbar_label: str,
    xlabel: str,
    ylabel: str,
) -> Axes:
    """Draw a labelled matrix as an image, with optional cell annotations and a colour bar."""
    n_rows, n_cols = matrix.shape
    longest_row = max((len(str(s)) for s in matrix.index), default=0)
    longest_col = max((len(str(s)) for s in matrix.columns), default=0)
    grow = _points() / 12.0
    cell = 0.42 * grow  # inches: room for a two-decimal annotation in the fonts in force
    # Column labels are rotated 45 degrees: they take about 0.7 of their length in height.
    width = cell * n_cols + _text_inches(longest_row, "ytick.labelsize") + (1.6 if cbar else 0.6) * grow
    height = cell * n_rows + 0.7 * _text_inches(longest_col, "xtick.labelsize") + 0.8 * grow
    ax = _axes(ax, (max(3.5, width), max(2.8, height)))
    colormap = mpl.colormaps[cmap] if isinstance(cmap, str) else cmap
    # Missing cells (the diagonal of a win matrix) read as "not applicable", not as a value.
    colormap = colormap.with_extremes(bad="#eeeeee")
    values = np.ma.masked_invalid(matrix.to_numpy(dtype=float, na_value=np.nan))
    image = ax.imshow(values, cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest",
                      aspect="equal" if n_rows == n_cols else "auto")
    image.set_gid(f"{func}-image")
    ax.set_xticks(range(n_cols), labels=[str(c) for c in matrix.columns], rotation=45, ha="right",
                  rotation_mode="anchor")
    ax.set_yticks(range(n_rows), labels=[str(r) for r in matrix.index])
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if annot is None:
        annot = max(n_rows, n_cols) <= 15  # beyond this the numbers no longer fit their cells
    if annot:
        for (i, j), v in np.ndenumerate(values.filled(np.nan)):
            if np.isfinite(v):
                # White on dark cells, ink on light ones (WCAG luminance threshold), so every number is legible.
                dark = _relative_luminance(image.cmap(image.norm(v))) < 0.179
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize="small",
                        color="white" if dark else _INK, gid=f"{func}-annot")
    if cbar:
        bar = ax.get_figure().colorbar(image, ax=ax, shrink=0.85 if n_rows > 4 else 1.0)
        bar.set_label(cbar_label)
        bar.outline.set_visible(False)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def heatmap(
    data: Any,
    *,
    row: str = "model_a",
    col: str = "model_b",
    value: str = "p",
    ax: Axes | None = None,
    annot: bool | None = None,
    fmt: str = ".2f",
    order: Sequence[str] | None = None,
    ratings: Any = None,
    cmap: str | Colormap | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
    cbar: bool = True,
) -> Axes:
    """Win-probability heatmap: P(row model beats column model), models in rating order.

    Parameters
    ----------
    data : DataFrame
        Long form, one row per (row, col) pair, e.g. ``analysis.win_matrix(board, tidy=True)``.
    row, col, value : str
        Columns for the row model, the column model and the cell value.
    ax : Axes, optional
        Where to draw.
    annot : bool, optional
        Write each value in its cell; default when the matrix is at most 15 x 15.
    fmt : str
        Format spec for the annotations.
    order : sequence of str, optional
        Models for both axes, top to bottom and left to right.
    ratings : DataFrame, Ratings, Series or mapping, optional
        Ratings (a board with model/rating, a ``Ratings``, or name -> rating) that set the order, best first,
        when ``order`` is not given. Default: the order of first appearance, which for ``win_matrix`` output is
        rating order.
    cmap : str or Colormap, optional
        Default: diverging ``"RdBu"`` centred on 0.5 for probabilities, ``"viridis"`` otherwise.
    vmin, vmax : float, optional
        Colour limits; default 0 and 1 for probabilities, the data range otherwise.
    cbar : bool
        Draw a colour bar.

    Returns
    -------
    Axes
        The image has gid ``"heatmap-image"``; ``image.get_array()`` holds the cell values, NaN masked.
    """
    func = "heatmap"
    frame = _frame(data, func)
    _require(frame, func, row=row, col=col, value=value)
    cells = pd.DataFrame({"row": _text(frame, row), "col": _text(frame, col), "value": _numeric(frame, value, func)})
    if cells.duplicated(["row", "col"]).any():
        first = cells[cells.duplicated(["row", "col"])].iloc[0]
        raise ValueError(f"{func}(): several rows for the cell ({first['row']!r}, {first['col']!r})")
    if order is None and ratings is not None:
        order = _rating_order(ratings, func)
    row_names, col_names = _unique(cells["row"]), _unique(cells["col"])
    if order is not None:
        # Keep the given order; models absent from this matrix are skipped, so a full board can order a subset.
        wanted = [str(m) for m in order]
        row_names = [m for m in wanted if m in set(row_names)]
        col_names = [m for m in wanted if m in set(col_names)]
        if not row_names or not col_names:
            raise ValueError(f"{func}(): none of the ordered models appear in data[{row!r}] and data[{col!r}]")
    elif set(row_names) == set(col_names):
        col_names = row_names  # a square matrix reads best with the same order on both axes
    matrix = cells.pivot(index="row", columns="col", values="value").reindex(index=row_names, columns=col_names)
    finite = cells["value"].to_numpy()[np.isfinite(cells["value"].to_numpy())]
    probability = finite.size > 0 and finite.min() >= 0.0 and finite.max() <= 1.0
    if cmap is None:
        cmap = "RdBu" if probability else "viridis"
    if probability:
        vmin = 0.0 if vmin is None else vmin
        vmax = 1.0 if vmax is None else vmax
    return _matrix_plot(matrix, ax, func, cmap=cmap, vmin=vmin, vmax=vmax, annot=annot, fmt=fmt, cbar=cbar,
                        cbar_label=_label(value), xlabel=_label(col), ylabel=_label(row))


# ---------------------------------------------------------------------------------------------- over time


def _time_axis(values: pd.Series) -> tuple[np.ndarray, list[str] | None, bool]:
    """Plot positions for a time column, tick labels if it is categorical, and whether it holds dates."""
    if isinstance(values.dtype, pd.PeriodDtype):
        return values.dt.to_timestamp().to_numpy(), None, True
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values.to_numpy(), None, True
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        return values.to_numpy(dtype=float, na_value=np.nan), None, False
    # Labels ("2024-08", "v1.2"): evenly spaced in their natural order (categorical order when there is one).
    if isinstance(values.dtype, pd.CategoricalDtype):
        levels = [str(c) for c in values.cat.categories if c in set(values)]
    else:
        levels = sorted({str(v) for v in values})
    index = {level: i for i, level in enumerate(levels)}
    return values.astype(str).map(index).to_numpy(dtype=float), levels, False


def _outside_legend(ax: Axes, title: str | None = None) -> None:
    # Right of the axes, so it never covers data; constrained layout makes room for it.
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), title=title, borderaxespad=0.0)


def trajectories(
    data: Any,
    *,
    time: str = "period",
    model: str = "model",
    rating: str = "rating",
    lower: str | None = "lower",
    upper: str | None = "upper",
    ax: Axes | None = None,
    order: Sequence[str] | None = None,
    band_alpha: float = 0.18,
    legend: bool = True,
) -> Axes:
    """Ratings over time, one line per model with its interval as a band, in the stable model colours.

    Parameters
    ----------
    data : DataFrame
        One row per (time, model), e.g. boards fitted per month and concatenated with a ``period`` column.
    time : str
        Time column: dates, pandas periods, numbers, or labels (spaced evenly in sorted or categorical order).
    model, rating : str
        Columns.
    lower, upper : str or None
        Interval columns for the band; None for lines only.
    ax : Axes, optional
        Where to draw.
    order : sequence of str, optional
        Models to show, in legend order. Default: all, ordered by their latest rating, best first, so the legend
        reads like the line ends.
    band_alpha : float
        Opacity of the interval bands.
    legend : bool
        Draw a legend to the right of the axes.

    Returns
    -------
    Axes
        Lines have gid ``"trajectories-line"`` and the model name as label; bands ``"trajectories-band"``.
    """
    func = "trajectories"
    frame = _frame(data, func)
    _require(frame, func, time=time, model=model, rating=rating, lower=lower, upper=upper)
    x, tick_labels, dated = _time_axis(frame[time])
    rows = pd.DataFrame({"x": x, "model": _text(frame, model), "rating": _numeric(frame, rating, func),
                         "lower": _numeric(frame, lower, func), "upper": _numeric(frame, upper, func)})
    rows = rows.sort_values("x", kind="stable")
    if rows.duplicated(["x", "model"]).any():
        dup = rows[rows.duplicated(["x", "model"])].iloc[0]
        raise ValueError(f"{func}(): several rows for model {dup['model']!r} at one {time!r}")
    if order is not None:
        models = [str(m) for m in order]
        _check_known(models, rows["model"], func, "models in order=")
    else:
        latest = rows.dropna(subset=["rating"]).groupby("model", sort=False)["rating"].last()
        models = list(latest.sort_values(ascending=False, kind="stable").index)
    ax = _axes(ax, (7.0 * _points() / 12.0, 4.0 * _points() / 12.0))
    colours = model_colors(models)
    few = rows["x"].nunique() <= 30  # markers show the sampled periods; on dense series they only add noise
    for name in models:
        sub = rows[rows["model"] == name]
        xs = sub["x"].to_numpy()
        if lower is not None and upper is not None:
            ax.fill_between(xs, sub["lower"].to_numpy(), sub["upper"].to_numpy(), color=colours[name],
                            alpha=band_alpha, linewidth=0, gid=f"{func}-band")
        ax.plot(xs, sub["rating"].to_numpy(), color=colours[name], marker="o" if few else None,
                markersize=mpl.rcParams["lines.markersize"] * 0.7, label=name, gid=f"{func}-line")
    if tick_labels is not None:
        ax.set_xticks(range(len(tick_labels)), labels=tick_labels)
        if max((len(t) for t in tick_labels), default=0) * len(tick_labels) > 60:
            ax.tick_params(axis="x", labelrotation=45)
    elif dated:
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel(_label(time))
    ax.set_ylabel(_label(rating))
    if legend:
        _outside_legend(ax)
    return ax


# ---------------------------------------------------------------------------------------------- correlation

_METHODS: dict[str, str] = {"spearman": "Spearman", "pearson": "Pearson", "kendall": "Kendall"}


def _as_interval(interval: Any) -> tuple[float, float] | None:
    if interval is None:
        return None
    if isinstance(interval, Mapping | pd.Series):
        return float(interval["lower"]), float(interval["upper"])
    lo, hi = interval
    return float(lo), float(hi)


def corr_scatter(
    data: Any,
    *,
    x: str,
    y: str,
    hue: str | None = None,
    label: str | None = None,
    estimate: float | None = None,
    interval: Any = None,
    ax: Axes | None = None,
    method: str = "spearman",
) -> Axes:
    """Scatter of two scores with the correlation and its interval in the legend.

    The legend entry reads e.g. ``"Spearman 0.82 [0.41, 0.96]"``: the number a reader needs, with its
    uncertainty, next to the points it summarises.

    Parameters
    ----------
    data : DataFrame
        One row per unit (model, video, pair), e.g. human rating vs metric score.
    x, y : str
        Columns plotted (and correlated).
    hue : str, optional
        Column coloured by level through :func:`model_colors`, so a column of model names keeps the models'
        colours from the other figures.
    label : str, optional
        Column whose values are written next to each point (e.g. model names).
    estimate : float, optional
        The correlation to report (e.g. from ``analysis.correlation``); default: computed here with ``method``.
    interval : (lower, upper) or mapping with lower/upper, optional
        Its interval, shown in brackets.
    ax : Axes, optional
        Where to draw.
    method : str
        ``"spearman"``, ``"pearson"`` or ``"kendall"`` (computed when ``estimate`` is None); any other name is
        only used as the legend text, and then ``estimate`` is required.

    Returns
    -------
    Axes
        Points have gid ``"corr_scatter-point"``; labels ``"corr_scatter-label"``.
    """
    func = "corr_scatter"
    frame = _frame(data, func)
    _require(frame, func, x=x, y=y, hue=hue, label=label)
    xs, ys = _numeric(frame, x, func), _numeric(frame, y, func)
    keep = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[keep], ys[keep]
    ax = _axes(ax, (5.0 * _points() / 12.0, 4.2 * _points() / 12.0))
    if hue is not None:
        groups = _text(frame, hue)[keep]
        colours = model_colors(_unique(groups))
        for level, colour in colours.items():
            mask = groups == level
            ax.scatter(xs[mask], ys[mask], color=colour, label=level, edgecolors="white", linewidths=0.6,
                       s=(mpl.rcParams["lines.markersize"] * 1.3) ** 2, zorder=3, gid=f"{func}-point")
    else:
        ax.scatter(xs, ys, color=SERIES_PALETTE[0], edgecolors="white", linewidths=0.6,
                   s=(mpl.rcParams["lines.markersize"] * 1.3) ** 2, zorder=3, gid=f"{func}-point")
    if label is not None:
        for text, xi, yi in zip(_text(frame, label)[keep], xs, ys, strict=True):
            ax.annotate(text, (xi, yi), xytext=(4, 3), textcoords="offset points", fontsize="x-small",
                        color=_INK, gid=f"{func}-label")

    name = _METHODS.get(method.lower(), method)
    if estimate is None:
        if method.lower() not in _METHODS:
            raise ValueError(f"{func}(): estimate= is required for method {method!r} (computed only for "
                             f"{', '.join(_METHODS)})")
        estimate = float(pd.Series(xs).corr(pd.Series(ys), method=method.lower())) if xs.size >= 3 else np.nan
    text = f"{name} {estimate:.2f}"
    bounds = _as_interval(interval)
    if bounds is not None:
        text += f" [{bounds[0]:.2f}, {bounds[1]:.2f}]"
    # An invisible handle: the entry is a statement about all points, not a mark of its own.
    stat = Line2D([], [], linestyle="none", marker="none", label=text)
    handles, labels = ax.get_legend_handles_labels()
    ax.legend([stat, *handles], [text, *labels], loc="best", handletextpad=0.0 if not handles else 0.8)
    ax.set_xlabel(_label(x))
    ax.set_ylabel(_label(y))
    return ax


# ---------------------------------------------------------------------------------------------- metric profiles


def metric_profile(
    data: Any,
    *,
    model: str = "model",
    dimension: str = "dimension",
    score: str = "score",
    kind: str = "heatmap",
    ax: Axes | None = None,
    order: Sequence[str] | None = None,
    dimension_order: Sequence[str] | None = None,
    annot: bool | None = None,
    fmt: str = ".2f",
    cmap: str | Colormap = "viridis",
    provenance: str | None = None,
) -> Axes:
    """Each model's score on each metric dimension (e.g. VBench dimensions), as a heatmap or as profiles.

    Several rows for one (model, dimension), e.g. per-video scores, are averaged.

    Parameters
    ----------
    data : DataFrame
        Long form: model, dimension, score.
    model, dimension, score : str
        Columns.
    kind : {"heatmap", "lines"}
        A models x dimensions heatmap, or one line per model across the dimensions (stable model colours).
    ax : Axes, optional
        Where to draw.
    order : sequence of str, optional
        Models (rows / legend order). Default: by mean score over dimensions, best first.
    dimension_order : sequence of str, optional
        Dimensions, left to right. Default: order of first appearance.
    annot, fmt, cmap
        Heatmap annotations (default when at most 15 x 15), their format and the sequential colour map.
    provenance : str, optional
        A column saying where each model's scores come from (e.g. ``"evaluated_by"`` of
        :func:`analysis.datasets.published_vbench`): shown beside the model's name, ``"LaVie · VBench Team"``.

    Returns
    -------
    Axes
        Heatmap image gid ``"metric_profile-image"``; lines gid ``"metric_profile-line"``.
    """
    func = "metric_profile"
    if kind not in ("heatmap", "lines"):
        raise ValueError(f"{func}(): kind must be 'heatmap' or 'lines', got {kind!r}")
    frame = _frame(data, func)
    _require(frame, func, model=model, dimension=dimension, score=score)
    cells = pd.DataFrame({"model": _text(frame, model), "dimension": _text(frame, dimension),
                          "score": _numeric(frame, score, func)})
    matrix = cells.groupby(["model", "dimension"], sort=False)["score"].mean().unstack("dimension")
    dims = [str(d) for d in dimension_order] if dimension_order is not None else _unique(cells["dimension"])
    _check_known(dims, matrix.columns, func, "dimensions in dimension_order=")
    if order is not None:
        models = [str(m) for m in order]
        _check_known(models, matrix.index, func, "models in order=")
    else:
        models = list(matrix[dims].mean(axis=1).sort_values(ascending=False, kind="stable").index)
    matrix = matrix.reindex(index=models, columns=dims)
    labels = {m: m for m in models}
    if provenance is not None:
        _require(frame, func, provenance=provenance)
        source = pd.Series(_text(frame, provenance), index=cells["model"].to_numpy())
        first = source[~source.index.duplicated()]
        labels = {m: f"{m} · {first.get(m, 'unknown')}" for m in models}

    if kind == "heatmap":
        return _matrix_plot(matrix.rename(index=labels), ax, func, cmap=cmap, vmin=None, vmax=None, annot=annot,
                            fmt=fmt, cbar=True, cbar_label=_label(score), xlabel=_label(dimension), ylabel="")
    grow = _points() / 12.0
    ax = _axes(ax, (max(5.0, 0.7 * len(dims) + 3.0) * grow, 4.0 * grow))
    colours = model_colors(models)
    positions = np.arange(len(dims))
    for name in models:
        ax.plot(positions, matrix.loc[name].to_numpy(dtype=float), color=colours[name], marker="o",
                markersize=mpl.rcParams["lines.markersize"] * 0.8, label=labels[name], gid=f"{func}-line")
    ax.set_xticks(positions, labels=dims)
    if max((len(d) for d in dims), default=0) * len(dims) > 50:
        ax.tick_params(axis="x", labelrotation=30)
        for tick in ax.get_xticklabels():
            tick.set_horizontalalignment("right")
            tick.set_rotation_mode("anchor")
    ax.set_xlabel(_label(dimension))
    ax.set_ylabel(_label(score))
    _outside_legend(ax)
    return ax


# ---------------------------------------------------------------------------------------------- saving

# No timestamps in the files (and fixed SVG ids): re-running a notebook rewrites unchanged figures byte for byte.
_METADATA: dict[str, dict[str, Any]] = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}


def save_figure(
    fig: Figure | SubFigure | Axes,
    path: str | os.PathLike[str],
    *,
    formats: Sequence[str] = ("png", "svg"),
    dpi: float = 300,
) -> list[Path]:
    """Write a figure as PNG (300 dpi) and SVG with the same stem, atomically; create the folder.

    Each file goes through :func:`analysis.io.atomic_path`, so a reader (a notebook export, a LaTeX build) never
    sees a half-written figure.

    Parameters
    ----------
    fig : Figure or Axes
        The figure (an Axes stands for its figure).
    path : str or PathLike
        Target without or with a format suffix: ``figures/forest`` and ``figures/forest.png`` both write
        ``figures/forest.png`` and ``figures/forest.svg``.
    formats : sequence of str
        File formats, by extension.
    dpi : float
        Resolution of raster formats.

    Returns
    -------
    list of Path
        The files written, in ``formats`` order.
    """
    figure: Any = fig
    while isinstance(figure, Axes | SubFigure):  # climb to the root figure, whatever the nesting
        figure = figure.figure
    if not isinstance(figure, Figure):
        raise TypeError(f"save_figure(): expected a matplotlib Figure or Axes, got {type(fig).__name__}")
    supported = figure.canvas.get_supported_filetypes()
    formats = [f.lower().lstrip(".") for f in formats]
    unknown = [f for f in formats if f not in supported]
    if unknown:
        raise ValueError(f"save_figure(): unsupported format(s) {unknown}; choose from {sorted(supported)}")
    target = Path(path)
    # Strip only a real format suffix, so "forest.v2" keeps its dot.
    stem = target.with_suffix("") if target.suffix.lower().lstrip(".") in supported else target
    stem.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        final = stem.with_name(f"{stem.name}.{fmt}")
        with atomic_path(final) as temp, mpl.rc_context({"svg.hashsalt": "video-arena-lab"}):
            figure.savefig(temp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_METADATA.get(fmt))
        written.append(final)
    return written


# ---------------------------------------------------------------------------------------------- correlation tables

# The grains of analysis.correlation, in its order; each keeps one series colour in every figure. (Written out
# here so that plots stays a leaf module: it imports nothing from the analysis modules it draws for.)
_CORR_UNITS: tuple[str, ...] = ("model", "pair", "vote", "video")
_CHANCE_HALF = ("accuracy", "agreement")  # methods whose no-information value is 0.5, not 0


def _corr_label(row: Mapping[str, Any]) -> str:
    group = row.get("group", "all")
    group = "" if group in ("all", None) or pd.isna(group) else f" [{group}]"
    return f"{row.get('unit', '')}: {row.get('human', '')} ~ {row.get('metric', '')} ({row.get('method', '')}){group}"


def _row_forest(ax: Axes | None, est: np.ndarray, lo: np.ndarray, hi: np.ndarray, labels: Sequence[str],
                colour: Sequence[str], func: str, *, pad: float, min_height: float) -> Axes:
    """One labelled row per estimate, top to bottom, with its interval and a line at zero (sized to the labels)."""
    n = len(labels)
    grow = _points() / 12.0
    label_width = _text_inches(max((len(t) for t in labels), default=1), "ytick.labelsize")
    row_height = max(0.22, 1.6 * _points("ytick.labelsize") / 72.0)
    ax = _axes(ax, (4.0 * grow + label_width + pad, max(min_height, row_height * n + 1.0 * grow)))
    y = np.arange(n)[::-1].astype(float)
    has = np.isfinite(lo) & np.isfinite(hi)
    if has.any():
        ax.hlines(y[has], lo[has], hi[has], colors=[c for c, h in zip(colour, has, strict=True) if h],
                  linewidth=mpl.rcParams["lines.linewidth"], gid=f"{func}-interval", zorder=2)
    ax.scatter(est, y, c=colour, s=mpl.rcParams["lines.markersize"] ** 2, edgecolors="white", linewidths=0.5,
               zorder=3, gid=f"{func}-point")
    ax.set_yticks(y, labels=labels)
    ax.set_ylim(-0.8, n - 0.2)
    ax.tick_params(axis="y", length=0)
    ax.grid(False, axis="y")
    ax.axvline(0.0, color="#999999", linewidth=0.8, zorder=1)
    return ax


def corr_forest(
    data: Any,
    *,
    estimate: str = "estimate",
    lower: str | None = "lower",
    upper: str | None = "upper",
    label: str | None = None,
    hue: str | None = "unit",
    ax: Axes | None = None,
) -> Axes:
    """Forest plot of a correlation table: one line per row, the estimate with its interval, top to bottom.

    Parameters
    ----------
    data : DataFrame
        One row per estimate, e.g. ``analysis.correlation.correlate(...)`` (rows are drawn in data order).
    estimate, lower, upper : str
        Columns (``lower``/``upper`` may be None; rows with missing bounds show a point only).
    label : str, optional
        Column of row labels. Default: ``"unit: human ~ metric (method) [group]"`` from the correlate columns.
    hue : str, optional
        Column that colours the rows. Correlation units (model, pair, vote, video) keep one series colour each
        in every figure; any other column (e.g. ``"group"``, the model of a per-model row) takes the stable
        model colours of :func:`model_colors`. None: one colour.
    ax : Axes, optional
        Where to draw; default a new figure sized to the number of rows.

    Returns
    -------
    Axes
        Intervals are a ``LineCollection`` with gid ``"corr_forest-interval"``, points gid ``"corr_forest-point"``;
        a vertical line marks 0 and, when the table has agreement or accuracy rows, a dotted one marks chance (0.5).
    """
    func = "corr_forest"
    frame = _frame(data, func)
    _require(frame, func, estimate=estimate, lower=lower, upper=upper, label=label, hue=hue)
    est, lo, hi = _numeric(frame, estimate, func), _numeric(frame, lower, func), _numeric(frame, upper, func)
    labels = list(_text(frame, label)) if label is not None else [_corr_label(r) for r in frame.to_dict("records")]
    groups = _text(frame, hue) if hue is not None else np.full(len(frame), "", dtype=object)
    levels = _unique(groups)
    if hue is None:
        colours = {"": SERIES_PALETTE[0]}
    elif set(levels) <= set(_CORR_UNITS):
        colours = {u: SERIES_PALETTE[_CORR_UNITS.index(u)] for u in levels}
    else:
        colours = model_colors(levels)
    colour = [colours[g] for g in groups]

    ax = _row_forest(ax, est, lo, hi, labels, colour, func, pad=1.2, min_height=2.0)
    methods = _text(frame, "method") if "method" in frame.columns else np.array([], dtype=object)
    units = _text(frame, "unit") if "unit" in frame.columns else np.array([], dtype=object)
    chance = bool(np.isin(methods, _CHANCE_HALF).any() or (units == "vote").any())
    if chance:
        ax.axvline(0.5, color="#999999", linewidth=0.8, linestyle=":", zorder=1)
    ax.set_xlabel("Estimate (correlation; agreement and accuracy: chance 0.5)" if chance else _label(estimate))
    if hue is not None:
        handles = [Line2D([], [], color=colours[g], marker="o", label=g) for g in levels]
        ax.legend(handles=handles, title=_label(hue), loc="center left", bbox_to_anchor=(1.02, 0.5),
                  borderaxespad=0.0)
    return ax


# ---------------------------------------------------------------------------------------------- controlled boards


def coef_forest(
    data: Any,
    *,
    estimate: str = "elo",
    lower: str = "lower",
    upper: str = "upper",
    label: str = "feature",
    hue: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Covariate coefficients with intervals, one row each: what one SD of a feature is worth in Elo.

    ``data`` is :attr:`analysis.controlled.Controlled.coefficients` or the table of
    :func:`analysis.controlled.explained_preference` (``hue="fit"`` tells one-at-a-time fits from the joint one).
    A vertical line marks 0 (no effect). Returns the Axes.
    """
    func = "coef_forest"
    frame = _frame(data, func)
    _require(frame, func, estimate=estimate, lower=lower, upper=upper, label=label, hue=hue)
    est, lo, hi = _numeric(frame, estimate, func), _numeric(frame, lower, func), _numeric(frame, upper, func)
    labels = list(_text(frame, label))
    groups = _text(frame, hue) if hue is not None else np.full(len(frame), "", dtype=object)
    levels = _unique(groups)
    colours = {g: SERIES_PALETTE[i % len(SERIES_PALETTE)] for i, g in enumerate(levels)}
    colour = [colours[g] for g in groups]
    if hue is not None:
        labels = [f"{t} ({g})" if g != t else t for t, g in zip(labels, groups, strict=True)]
    ax = _row_forest(ax, est, lo, hi, labels, colour, func, pad=1.0, min_height=1.8)
    ax.set_xlabel("Elo points per SD of the feature" if estimate == "elo" else _label(estimate))
    return ax


def rank_slope(
    data: Any,
    *,
    model: str = "model",
    before: str = "rank_raw",
    after: str = "rank",
    titles: tuple[str, str] = ("raw", "controlled"),
    highlight: str | Iterable[str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Slope chart of ranks before and after controlling for covariates (one line per model, rank 1 on top).

    ``data`` is a controlled board (:func:`analysis.controlled.controlled_board`): columns ``rank_raw`` and
    ``rank``. Models whose rank changes are drawn in their colours, the others in grey, unless ``highlight``
    names the models to colour. Returns the Axes.
    """
    func = "rank_slope"
    frame = _frame(data, func)
    _require(frame, func, model=model, before=before, after=after)
    names = list(_text(frame, model))
    r0, r1 = _numeric(frame, before, func), _numeric(frame, after, func)
    chosen = set(_as_list(highlight)) if highlight is not None else {n for n, a, b in zip(names, r0, r1, strict=True)
                                                                     if a != b}
    if highlight is not None:
        _check_known(chosen, names, func, "highlight models")
    colours = model_colors(names)
    grow = _points() / 12.0
    width = _text_inches(max((len(n) for n in names), default=1), "ytick.labelsize")
    ax = _axes(ax, (2.0 * width + 2.2 * grow, max(2.0, 0.28 * len(names) + 0.8)))
    for name, a, b in zip(names, r0, r1, strict=True):
        on = name in chosen
        c = colours[name] if on else "#bbbbbb"
        ax.plot([0, 1], [a, b], color=c, linewidth=mpl.rcParams["lines.linewidth"] * (1.4 if on else 0.9),
                marker="o", markersize=mpl.rcParams["lines.markersize"] * 0.7, zorder=3 if on else 2,
                gid=f"{func}-{name}")
        ax.text(-0.04, a, name, ha="right", va="center", fontsize=mpl.rcParams["ytick.labelsize"],
                color="black" if on else "#777777")
        ax.text(1.04, b, name, ha="left", va="center", fontsize=mpl.rcParams["ytick.labelsize"],
                color="black" if on else "#777777")
    top = int(np.nanmax(np.r_[r0, r1])) if len(names) else 1
    ax.set_ylim(top + 0.6, 0.4)
    ax.set_xlim(-0.9, 1.9)
    ax.set_xticks([0, 1], labels=list(titles))
    ax.set_yticks([])
    ax.grid(False)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_ylabel("Rank")
    return ax
