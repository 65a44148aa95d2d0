"""A live leaderboard explorer for notebooks: choose data, filters and fit options; the board refits as you go.

Why it is fast enough to feel live
----------------------------------
A Bradley-Terry board depends on the votes only through the pair-outcome counts, so each data set is reduced
to counts once, when it is first shown, keeping the category and a time period (day, week or month) as
strata. A category or time-window change is then a mask and a group-by over a few thousand to a few hundred
thousand count rows (cached per selection), and a change of tie rule, anchor or interval method is only a refit
on the counts: about 50 ms on the 1.67M Chatbot Arena votes with sandwich intervals, a few hundred ms with a
small bootstrap. Nothing re-reads or re-aggregates the battles.

Why errors do not raise
-----------------------
Widget callbacks run inside the kernel's comm handler, where an exception only reaches a log the user never
sees, and leaves the controls and the board out of step. Every refit is therefore wrapped: a failure (a
category whose comparison graph is disconnected, a window with no votes, a model with a perfect record) is
written to the status line, the board is cleared and :attr:`Explorer.error` holds the message. A value a
control cannot take (``select(category="no-such")``) is refused the same way, naming the control and the value,
and leaves the controls and the board as they were.

Example
-------
>>> from analysis.widgets import explorer
>>> ex = explorer()                 # Chatbot Arena 2024-08-14 and a simulated video arena   # doctest: +SKIP
>>> ex                              # in a notebook cell: the controls, status, table and forest plot
>>> ex.select(ties="drop", anchor="gpt-4o-2024-05-13")                                      # doctest: +SKIP
>>> ex.board.head()                                                                          # doctest: +SKIP
"""

from __future__ import annotations

import html
import io
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
import pandas as pd
import traitlets
from matplotlib.figure import Figure

from . import datasets as _datasets
from . import plots
from .accel import one_blas_thread
from .ratings import Ratings, rate
from .simulate import simulate_arena
from .votes import aggregate, read_votes, validate_counts

__all__ = ["ALL", "CI_CHOICES", "TIE_CHOICES", "Explorer", "default_datasets", "demo_video_arena", "explorer"]

#: Label of the "no filter" category entry.
ALL = "All categories"

#: Tie rules as (label shown, value passed to :func:`analysis.rate`).
TIE_CHOICES: tuple[tuple[str, str], ...] = (
    ("half (a tie is half a win each)", "half"),
    ("drop (decisive votes only)", "drop"),
    ("Rao-Kupper", "rao-kupper"),
    ("Davidson", "davidson"),
)

#: Interval methods as (label shown, ci= value); the bootstrap label gets its resample count.
CI_CHOICES: tuple[tuple[str, str], ...] = (
    ("sandwich (robust)", "sandwich"),
    ("bootstrap", "bootstrap"),
    ("none", "none"),
)

_MEAN = "mean"
_CACHE_SIZE = 64  # filtered count tables kept per explorer; each is at most the size of the data set's counts
_MAX_PERIODS_DAILY = 62  # more days than this in a data set and the time slider steps by week, then by month
_MAX_PERIODS_WEEKLY = 60
_TABLE_CLASS = "val-board"
_COUNT_COLUMNS = ("model_a", "model_b", "outcome", "count")

# Fictional model names: the demo arena is simulated, and real names would suggest real results.
_DEMO_MODELS: dict[str, float] = {
    "Aurora 2": 1135.0, "Borealis XL": 1110.0, "Cirrus Pro": 1090.0, "Dune 1.5": 1065.0, "Ember Turbo": 1040.0,
    "Fjord": 1020.0, "Glacier 3": 995.0, "Halo Lite": 975.0, "Iris 2.1": 950.0, "Juniper": 925.0,
    "Kestrel mini": 900.0, "Lumen 0.9": 880.0,
}
_DEMO_CATEGORIES: dict[str, float] = {"people": 0.32, "animals": 0.22, "landscapes": 0.2, "motion & physics": 0.16,
                                      "text & logos": 0.1}


# ---------------------------------------------------------------------------------------------- data sets


def demo_video_arena(n_votes: int = 240_000, *, seed: int = 7) -> pd.DataFrame:
    """A simulated text-to-video arena with prompt categories and six months of timestamps.

    Twelve fictional models; each prompt category has its own true ratings (a shared base plus a per-category
    offset of about 40 Elo points), so filtering by category really changes the board. Votes arrive at a
    constant rate from 2025-01-06 for 26 weeks; ties are 20% of votes.

    Parameters
    ----------
    n_votes
        Total number of battles, split over the categories by their share.
    seed
        Seed of the simulation; the same seed gives the same frame.

    Returns
    -------
    pandas.DataFrame
        Battles in the :func:`analysis.votes.read_votes` schema: model_a, model_b, winner, voter_id, prompt_id,
        category, timestamp (UTC), sorted by time. ``attrs["true_ratings"]`` maps category -> {model: rating}.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2025-01-06", tz="UTC")
    span_s = 26 * 7 * 86_400
    frames, truth = [], {}
    for i, (category, share) in enumerate(_DEMO_CATEGORIES.items()):
        n = max(int(round(n_votes * share)), 100)
        offsets = rng.normal(0.0, 40.0, len(_DEMO_MODELS))
        ratings = {m: r + o for (m, r), o in zip(_DEMO_MODELS.items(), offsets, strict=True)}
        # Each category's votes are spread over the same six months, so categories interleave in time.
        step = max(span_s // n, 1)
        sim = simulate_arena(None, n, ratings=ratings, tie_rate=0.2, n_voters=max(n // 40, 10), n_prompts=120,
                             prompt_sd=25.0, start=start, freq=f"{step}s", seed=seed * 100 + i)
        sim["category"] = category
        sim["prompt_id"] += i * 1000  # prompt ids unique across categories
        truth[category] = dict(sim.attrs["true_ratings"])
        frames.append(sim)
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values("timestamp", kind="stable", ignore_index=True)
    # concat of categoricals with equal categories keeps the dtype; make sure, since read_votes expects names.
    for col in ("model_a", "model_b"):
        out[col] = out[col].astype("string")
    out.attrs = {"true_ratings": truth, "source": f"analysis.widgets.demo_video_arena(n_votes={n_votes}, seed={seed})"}
    return out


def default_datasets(small: bool = False) -> dict[str, Callable[[], pd.DataFrame]]:
    """The explorer's default data sets, loaded lazily (only when first selected).

    Parameters
    ----------
    small
        Use a smaller simulated arena (for quick notebook runs in tests).

    Returns
    -------
    dict
        ``{"Chatbot Arena 2024-08-14": loader, "Simulated video arena": loader}``: the real 1.67M-vote counts of
        :func:`analysis.datasets.chatbot_arena_2024_08_14`, and :func:`demo_video_arena` (categories, timestamps).
    """
    n = 30_000 if small else 240_000
    return {
        "Chatbot Arena 2024-08-14": _datasets.chatbot_arena_2024_08_14,
        "Simulated video arena": lambda: demo_video_arena(n),
    }


@dataclass
class _Source:
    """One data set reduced to strata counts: (category?, period?, model_a, model_b, outcome) -> count."""

    name: str
    counts: pd.DataFrame
    categories: list[str]
    periods: list[pd.Timestamp]
    period_unit: str | None
    cat_code: np.ndarray | None  # per count row: index into categories
    period_code: np.ndarray | None  # per count row: index into periods
    votes: int


def _period_unit(times: pd.Series) -> str:
    """Day, week or month: the finest step that keeps the time slider to a usable number of positions."""
    days = (times.max() - times.min()) / pd.Timedelta(days=1)
    if days <= _MAX_PERIODS_DAILY:
        return "D"
    if days / 7 <= _MAX_PERIODS_WEEKLY:
        return "W"
    return "M"


def _period_start(times: pd.Series, unit: str) -> pd.Series:
    if getattr(times.dt, "tz", None) is not None:
        # Periods carry no time zone; UTC wall time is the published convention for arena logs.
        times = times.dt.tz_convert("UTC").dt.tz_localize(None)
    return times.dt.to_period(unit).dt.start_time


def _codes(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    cat = pd.Categorical(values)
    return np.asarray(cat.codes, dtype=np.int64), list(cat.categories)


def _prepare(name: str, data: Any) -> _Source:
    """Reduce one data set to strata counts, once."""
    if callable(data):
        data = data()
    if isinstance(data, str):
        data = _datasets.load(data)
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"data set {name!r} must be battles or counts as a DataFrame, got {type(data).__name__}")
    strata = [c for c in ("category", "timestamp") if c in data.columns]
    if set(_COUNT_COLUMNS) <= set(data.columns):
        counts = validate_counts(data)
        if "timestamp" in strata:
            counts["timestamp"] = pd.to_datetime(counts["timestamp"], utc=True)
    else:
        battles = read_votes(data)
        if "timestamp" in strata:
            # Aggregating on the raw timestamp would keep one stratum per second; the slider needs periods.
            unit = _period_unit(battles["timestamp"])
            battles = battles.assign(timestamp=_period_start(battles["timestamp"], unit))
        counts = aggregate(battles, by=strata) if strata else aggregate(battles)
    unit = None
    if "timestamp" in strata:
        unit = _period_unit(counts["timestamp"])
        counts["timestamp"] = _period_start(counts["timestamp"], unit)
    if "category" in strata:
        counts["category"] = counts["category"].astype("string").fillna("(none)")
    if strata:
        # Counts given per finer strata (e.g. per second) collapse to the period level here, once.
        counts = counts.groupby([*strata, *_COUNT_COLUMNS[:3]], observed=True, as_index=False, sort=True)["count"].sum()
    counts = counts[counts["count"] > 0].reset_index(drop=True)
    cat_code = period_code = None
    categories: list[str] = []
    periods: list[pd.Timestamp] = []
    if "category" in strata:
        cat_code, categories = _codes(counts["category"])
        categories = [str(c) for c in categories]
    if "timestamp" in strata:
        period_code, periods = _codes(counts["timestamp"])
    return _Source(name=name, counts=counts, categories=categories, periods=list(periods), period_unit=unit,
                   cat_code=cat_code, period_code=period_code, votes=int(counts["count"].sum()))


_WARM = False


def _warm_up() -> None:
    """Fit a three-model board once per process, so the first fit shown is not charged for lazy imports.

    The engine imports some of its numerical dependencies on first use (scipy.stats for normal quantiles
    takes 1-2 s) and loads its compiled bootstrap kernels from numba's cache on the first bootstrap (~1 s, most
    of it numba initialising its targets); without this the status line would report those one-off costs as the
    first fit's time, and the first switch to bootstrap intervals would take over 2 s instead of ~0.2 s.
    """
    global _WARM
    if _WARM:
        return
    tiny = pd.DataFrame({"model_a": ["a", "a", "b", "b", "a"], "model_b": ["b", "c", "c", "c", "b"],
                         "outcome": ["win_a", "tie", "win_a", "win_b", "win_b"], "count": [3, 2, 2, 1, 2]})
    with one_blas_thread():
        rate(tiny, ci="sandwich", resamples=10, seed=0)
        rate(tiny, ci="bootstrap", resamples=10, seed=0, progress=False)
    _WARM = True


def _period_label(when: pd.Timestamp, unit: str | None) -> str:
    return when.strftime("%Y-%m") if unit == "M" else when.strftime("%Y-%m-%d")


# ---------------------------------------------------------------------------------------------- rendering


_CONTROLS = ("dataset", "category", "period", "ties", "anchor", "anchor_value", "interval", "top")


class _BadSelection(ValueError):
    """A value a control cannot take (reported in the status line, never raised to the user)."""


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _fmt(value: float, digits: int = 1) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:,.{digits}f}"


def _table_html(board: pd.DataFrame, level: float, anchor: str | None) -> str:
    """The board as an HTML table; model names escaped, since they come from data files."""
    pct = f"{level:.0%}"
    head = ("<tr><th>Rank</th><th>Model</th><th>Rating</th><th>" + pct + " lower</th><th>" + pct
            + " upper</th><th>Rank range</th><th>Battles</th><th>Win rate</th></tr>")
    rows = []
    for r in board.itertuples(index=False):
        name = html.escape(str(r.model))
        if anchor is not None and str(r.model) == anchor:
            name = f"<b>{name}</b> (anchor)"
        ranks = f"{r.rank_lower}–{r.rank_upper}" if r.rank_lower != r.rank_upper else f"{r.rank_lower}"
        rows.append(f"<tr><td>{r.rank}</td><td class='model'>{name}</td><td>{_fmt(r.rating)}</td>"
                    f"<td>{_fmt(r.lower)}</td><td>{_fmt(r.upper)}</td><td>{ranks}</td>"
                    f"<td>{r.n_battles:,}</td><td>{_fmt(100 * r.win_rate)}%</td></tr>")
    style = ("<style>.val-board table{border-collapse:collapse;font-size:12px;font-variant-numeric:tabular-nums}"
             ".val-board th,.val-board td{padding:2px 8px;text-align:right;border-bottom:1px solid #e5e5e5}"
             ".val-board td.model,.val-board th:nth-child(2){text-align:left}"
             ".val-board thead th{position:sticky;top:0;background:#fafafa}</style>")
    return f"{style}<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _forest_png(board: pd.DataFrame, top: int, anchor: str | None, level: float) -> bytes:
    """A forest plot of the top models as PNG bytes.

    Drawn on a bare :class:`~matplotlib.figure.Figure` (no pyplot), so it neither opens inline figures in the
    notebook nor depends on the backend, and the house style is applied to this figure only.
    """
    sub = board.head(top)
    with mpl.rc_context(plots.theme_rc("notebook", font_scale=0.85)):
        fig = Figure(figsize=(6.2, max(2.4, 0.24 * len(sub) + 1.1)), dpi=96, layout="constrained")
        ax = fig.add_subplot()
        highlight = anchor if anchor is not None and anchor in set(sub["model"].astype(str)) else None
        plots.forest(sub, ax=ax, highlight=highlight)
        shown = f"top {len(sub)} of {len(board)} models" if len(sub) < len(board) else f"{len(board)} models"
        has_ci = bool(np.isfinite(sub["lower"].to_numpy(float)).any())
        ax.set_title(shown + (f", {level:.0%} intervals" if has_ci else ", no intervals"), loc="left")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=96)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- explorer


class Explorer(widgets.VBox):
    """The explorer widget: controls, a status line, the board as a table and a forest plot.

    Build it with :func:`explorer`. It is a :class:`ipywidgets.VBox`, so a notebook cell displays it; the
    current state is readable from Python (and is what tests check).

    Attributes
    ----------
    board : pandas.DataFrame or None
        The board now shown (:func:`analysis.leaderboard` columns and ``attrs``); None after an error.
    ratings : analysis.Ratings or None
        The full fit behind the board (draws, covariance), for follow-up questions.
    counts : pandas.DataFrame or None
        The pair-outcome counts of the current selection (what was fitted).
    error : str or None
        The last refit's error message, also shown in the status line.
    fit_seconds, refresh_seconds : float
        Time of the last fit alone, and of fit plus table and plot.
    dataset, category, period, ties, anchor, anchor_value, interval, top : ipywidgets.Widget
        The controls; set their ``value`` to drive the explorer from code (each change refits once), or use
        :meth:`select` to change several with one refit.
    status, table, plot : ipywidgets.Widget
        The status line (HTML), the board table (HTML) and the forest plot (Image).
    """

    def __init__(self, sources: Mapping[str, Any], *, resamples: int = 200, top: int = 20, seed: int = 0,
                 level: float = 0.95) -> None:
        super().__init__()
        if not sources:
            raise ValueError("explorer needs at least one data set")
        self._raw = dict(sources)
        self._sources: dict[str, _Source] = {}
        self._cache: OrderedDict[tuple[Any, ...], pd.DataFrame] = OrderedDict()
        self._holding = False
        self.resamples, self.seed, self.level = int(resamples), seed, float(level)
        self.board: pd.DataFrame | None = None
        self.ratings: Ratings | None = None
        self.counts: pd.DataFrame | None = None
        self.error: str | None = None
        self.fit_seconds = self.refresh_seconds = float("nan")

        wide = {"description_width": "initial"}
        self.dataset = widgets.Dropdown(options=list(self._raw), description="Data set", style=wide,
                                        layout=widgets.Layout(width="330px"))
        self.category = widgets.Dropdown(options=[ALL], description="Category", style=wide,
                                         layout=widgets.Layout(width="260px"))
        self.period = widgets.SelectionRangeSlider(options=[("–", 0)], index=(0, 0), description="Period",
                                                   continuous_update=False, style=wide,
                                                   layout=widgets.Layout(width="520px"))
        self.ties = widgets.Dropdown(options=list(TIE_CHOICES), value="half", description="Ties", style=wide,
                                     layout=widgets.Layout(width="300px"))
        self.anchor = widgets.Dropdown(options=[_MEAN], description="Anchor", style=wide,
                                       layout=widgets.Layout(width="300px"))
        self.anchor_value = widgets.FloatText(value=1000.0, description="at", style=wide,
                                              layout=widgets.Layout(width="130px"))
        ci_options = [(f"bootstrap ({self.resamples} resamples)" if v == "bootstrap" else label, v)
                      for label, v in CI_CHOICES]
        self.interval = widgets.Dropdown(options=ci_options, value="sandwich", description="Intervals", style=wide,
                                         layout=widgets.Layout(width="300px"))
        self.top = widgets.IntSlider(value=int(top), min=2, max=max(int(top), 2), description="Plot top", style=wide,
                                     continuous_update=False, layout=widgets.Layout(width="300px"))
        # DOM classes give the browser test stable handles that do not depend on labels or layout.
        for name in _CONTROLS:
            getattr(self, name).add_class(f"val-{name.replace('_', '-')}")
        self.status = widgets.HTML(layout=widgets.Layout(margin="4px 0 4px 0"))
        self.status.add_class("val-status")
        self.table = widgets.HTML(layout=widgets.Layout(max_height="560px", overflow="auto", width="auto",
                                                        margin="0 16px 0 0", flex="0 1 auto"))
        self.table.add_class(_TABLE_CLASS)
        self.plot = widgets.Image(format="png", layout=widgets.Layout(width="auto", height="auto",
                                                                       flex="0 0 auto"))
        self.plot.add_class("val-plot")

        self.children = [
            widgets.HBox([self.dataset, self.category, self.period], layout=widgets.Layout(flex_flow="row wrap")),
            widgets.HBox([self.ties, self.anchor, self.anchor_value, self.interval, self.top],
                         layout=widgets.Layout(flex_flow="row wrap")),
            self.status,
            widgets.HBox([self.table, self.plot], layout=widgets.Layout(flex_flow="row wrap",
                                                                        align_items="flex-start")),
        ]
        self.add_class("val-explorer")

        _warm_up()
        self.dataset.observe(self._on_dataset, names="value")
        for control in (self.category, self.period):
            control.observe(self._on_filter, names="value")
        for control in (self.ties, self.anchor, self.anchor_value, self.interval, self.top):
            control.observe(self._on_option, names="value")
        self._on_dataset()

    # ------------------------------------------------------------------ public

    @property
    def source(self) -> _Source | None:
        """The current data set's strata counts (None if it failed to load)."""
        return self._sources.get(self.dataset.value)

    def select(self, **values: Any) -> None:
        """Set several controls at once, then refit once.

        Parameters
        ----------
        **values
            Control name -> value, e.g. ``select(dataset="Simulated video arena", category="people",
            ties="drop", anchor="Fjord", anchor_value=1000, interval="none", top=10)``. ``period`` takes a pair
            of period start dates (``"2025-02-03"``) or of slider positions. A ``dataset`` is applied first, so
            the other values may refer to its categories and models.

        A value a control cannot take (an unknown category, tie rule, anchor, interval or data set, a period on
        data without timestamps) raises nothing: the status line and :attr:`error` name the control and the
        value, and the controls and the board stay as they were.
        """
        unknown = sorted(set(values) - set(_CONTROLS))
        if unknown:
            self._reject(f"unknown control(s) {unknown}; the controls are {list(_CONTROLS)}")
            return
        if "dataset" in values:
            name = values.pop("dataset")
            if name not in self._raw:
                self._reject(f"Data set: {name!r} is not one of {list(self._raw)}")
                return
            self.dataset.value = name  # loads the data set and refits it once
        before = {name: getattr(self, name).value for name in _CONTROLS if name != "dataset"}
        before_index = tuple(self.period.index)
        with self._hold():
            try:
                if "category" in values:
                    self._set("category", values.pop("category") or ALL)
                if "period" in values:
                    window = values.pop("period")
                    try:
                        self.period.index = self._period_index(window)
                    except (ValueError, TypeError, traitlets.TraitError) as exc:
                        raise _BadSelection(f"Period: {window!r} cannot be chosen ({_first_line(exc)})") from None
                self._update_anchor_options()
                for name, value in values.items():
                    self._set(name, value)
            except _BadSelection as exc:
                for name, value in before.items():
                    if name != "period":
                        getattr(self, name).value = value
                self.period.index = before_index
                self._update_anchor_options()
                self.anchor.value = before["anchor"] if before["anchor"] in self.anchor.options else _MEAN
                self._reject(str(exc))
                return
        self.refresh()

    def _set(self, name: str, value: Any) -> None:
        control = getattr(self, name)
        options = getattr(control, "options", None)
        if options is not None and name != "period":
            allowed = [o[1] if isinstance(o, tuple) else o for o in options]
            if value not in allowed:
                label = control.description or name
                shown = allowed if len(allowed) <= 12 else [*allowed[:12], "..."]
                raise _BadSelection(f"{label}: {value!r} is not one of {shown}")
        try:
            control.value = value
        except traitlets.TraitError as exc:
            label = control.description or name
            raise _BadSelection(f"{label}: {value!r} cannot be set ({_first_line(exc)})") from None

    def _reject(self, message: str) -> None:
        """A bad selection: say so in the status line; the controls and the board shown stay as they were."""
        self.error = message
        self.status.value = f"<span style='color:#b00020'>⚠ {html.escape(message)}</span>"

    def refresh(self) -> None:
        """Refit the current selection and redraw; errors go to the status line and :attr:`error`."""
        start = time.perf_counter()
        try:
            counts = self._selection()
            self.counts = counts
            anchor = None if self.anchor.value == _MEAN else str(self.anchor.value)
            ci = self.interval.value
            opts: dict[str, Any] = {"ties": self.ties.value, "ci": ci, "seed": self.seed, "level": self.level}
            if ci == "bootstrap":
                opts["resamples"] = self.resamples
            if anchor is None:
                opts.update(anchor=_MEAN, init=float(self.anchor_value.value))
            else:
                opts["anchor"] = {anchor: float(self.anchor_value.value)}
            t0 = time.perf_counter()
            with one_blas_thread():
                ratings = rate(counts, **opts)
            self.fit_seconds = time.perf_counter() - t0
            board = ratings.board
            self.table.value = _table_html(board, self.level, anchor)
            self.plot.value = _forest_png(board, int(self.top.value), anchor, self.level)
        except Exception as exc:  # noqa: BLE001 - a widget callback must report, not raise (module docstring)
            self._fail(f"{type(exc).__name__}: {exc}")
            return
        self.ratings, self.board, self.error = ratings, board, None
        self.refresh_seconds = time.perf_counter() - start
        self._set_status(board)

    # ------------------------------------------------------------------ events

    def _on_dataset(self, change: Any = None) -> None:
        name = self.dataset.value
        try:
            if name not in self._sources:
                self._sources[name] = _prepare(name, self._raw[name])
        except Exception as exc:  # noqa: BLE001 - shown in the status line, see module docstring
            self._fail(f"could not load {name!r}: {type(exc).__name__}: {exc}")
            return
        src = self._sources[name]
        with self._hold():
            self.category.options = [ALL, *src.categories]
            self.category.value = ALL
            self.category.layout.display = None if src.categories else "none"
            if src.periods:
                self.period.options = [(_period_label(p, src.period_unit), i) for i, p in enumerate(src.periods)]
                self.period.index = (0, len(src.periods) - 1)
                unit = {"D": "day", "W": "week", "M": "month"}[src.period_unit or "D"]
                self.period.description = f"Period ({unit})"
            else:
                self.period.options = [("–", 0)]
                self.period.index = (0, 0)
            self.period.layout.display = None if src.periods else "none"
            self._update_anchor_options(reset=True)
        self.refresh()

    def _on_filter(self, change: Any = None) -> None:
        if self._holding:
            return
        with self._hold():
            self._update_anchor_options()
        self.refresh()

    def _on_option(self, change: Any = None) -> None:
        if not self._holding:
            self.refresh()

    @contextmanager
    def _hold(self) -> Iterator[None]:
        # Setting options and values of several controls fires their observers; one refit at the end is enough.
        held, self._holding = self._holding, True
        try:
            yield
        finally:
            self._holding = held

    # ------------------------------------------------------------------ helpers

    def _period_index(self, window: Any) -> tuple[int, int]:
        src = self.source
        if src is None or not src.periods:
            raise ValueError("this data set has no timestamps, so no period can be chosen")
        lo, hi = window
        if isinstance(lo, int | np.integer) and isinstance(hi, int | np.integer):
            return int(lo), int(hi)
        stamps = pd.DatetimeIndex(src.periods)
        return (int(stamps.searchsorted(pd.Timestamp(lo), side="left")),
                int(stamps.searchsorted(pd.Timestamp(hi), side="right")) - 1)

    def _selection(self) -> pd.DataFrame:
        """Counts of the current category and period, from the cache or one mask and group-by."""
        src = self.source
        if src is None:
            raise RuntimeError(self.error or "no data set loaded")
        category = None if self.category.value == ALL else str(self.category.value)
        window = tuple(self.period.index) if src.periods else None
        if window is not None and window == (0, len(src.periods) - 1):
            window = None  # the full range is the unfiltered table: share its cache entry
        key = (src.name, category, window)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        counts = src.counts
        if category is not None or window is not None:
            mask = np.ones(len(counts), dtype=bool)
            if category is not None:
                mask &= src.cat_code == src.categories.index(category)
            if window is not None:
                mask &= (src.period_code >= window[0]) & (src.period_code <= window[1])
            counts = counts.loc[mask]
        if len(counts.columns) > len(_COUNT_COLUMNS):
            counts = counts.groupby(list(_COUNT_COLUMNS[:3]), observed=True, as_index=False, sort=True)["count"].sum()
        counts = counts[counts["count"] > 0].reset_index(drop=True)
        if counts.empty:
            raise ValueError("no votes in this selection; widen the period or choose another category")
        # String model columns: validate_counts (inside rate) rebuilds the categories from the models present,
        # so a model with no votes in the selection is left out instead of breaking the fit.
        counts = counts.assign(model_a=counts["model_a"].astype("string"), model_b=counts["model_b"].astype("string"))
        self._cache[key] = counts
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return counts

    def _update_anchor_options(self, reset: bool = False) -> None:
        """Anchor choices are the models in the current selection; a vanished anchor falls back to the mean."""
        try:
            counts = self._selection()
        except Exception:  # noqa: BLE001 - an empty selection is reported by the refit that follows
            models: list[str] = []
        else:
            models = sorted(set(counts["model_a"]) | set(counts["model_b"]))
        current = self.anchor.value
        self.anchor.options = [_MEAN, *models]
        self.anchor.value = current if (not reset and current in models) else _MEAN
        self.top.max = max(len(models), 2)

    def _set_status(self, board: pd.DataFrame) -> None:
        attrs = board.attrs
        src = self.source
        parts = [f"<b>{html.escape(self.dataset.value)}</b>"]
        if self.category.value != ALL:
            parts.append(f"category <b>{html.escape(str(self.category.value))}</b>")
        if src is not None and src.periods and tuple(self.period.index) != (0, len(src.periods) - 1):
            labels = [label for label, _ in self.period.options]
            lo, hi = self.period.index
            unit = {"D": "days", "W": "weeks", "M": "months"}[src.period_unit or "D"]
            parts.append(f"{unit} {labels[lo]} to {labels[hi]}")
        parts.append(f"{int(attrs.get('votes') or 0):,} votes")
        parts.append(f"{len(board)} models")
        parts.append(f"ties: {attrs.get('ties')}")
        if "tie_param" in attrs:
            tp = attrs["tie_param"]
            parts.append(f"{tp['name']} = {tp['estimate']:.3f}")
        parts.append(f"intervals: {attrs.get('ci')}" + (f" ({attrs.get('resamples')})" if attrs.get("ci") ==
                                                        "bootstrap" else ""))
        parts.append(f"fit {1000 * self.fit_seconds:.0f} ms (with table and plot {1000 * self.refresh_seconds:.0f} ms)")
        note = attrs.get("anchor_note")
        text = " · ".join(parts) + (f" · {html.escape(note)}" if note else "")
        self.status.value = f"<span style='color:#1a1a1a'>{text}</span>"

    def _fail(self, message: str) -> None:
        self.error = message
        self.board = self.ratings = None
        self.fit_seconds = float("nan")
        self.table.value = "<p><i>No board for this selection.</i></p>"
        self.plot.value = b""
        self.status.value = f"<span style='color:#b00020'>⚠ {html.escape(message)}</span>"


def explorer(
    data: Any = None,
    *,
    datasets: Mapping[str, Any] | None = None,
    resamples: int = 200,
    top: int = 20,
    seed: int = 0,
    level: float = 0.95,
) -> Explorer:
    """An interactive leaderboard: data set, category, time window, tie rule, anchor and interval method.

    Parameters
    ----------
    data
        One data set to explore: battles (:func:`analysis.votes.read_votes` format, optionally with ``category``
        and ``timestamp`` columns), counts (:func:`analysis.votes.aggregate`, optionally ``by="category"``), or a
        vote data set name such as ``"chatbot-arena-2024-08-14"``. Shown first, as "data" (or under its name).
    datasets
        ``{name: data}``, each value as ``data`` above or a zero-argument callable returning it (loaded when first
        selected). Default, when ``data`` is also None: :func:`default_datasets`, i.e. Chatbot Arena 2024-08-14
        (1.67M real votes, 129 models) and a simulated video arena with categories and timestamps.
    resamples
        Bootstrap resamples when the bootstrap interval is chosen (small keeps the refit interactive).
    top
        Models shown in the forest plot at first (the table shows all).
    seed
        Seed for bootstrap and parametric draws, so a selection always shows the same board.
    level
        Interval level.

    Returns
    -------
    Explorer
        A :class:`ipywidgets.VBox`; display it in a notebook. ``.board`` is the board shown, ``.status`` the
        status line; see :class:`Explorer`.

    Notes
    -----
    Each data set is aggregated once (to counts by category and period); filters are cached; each change
    refits only the model on the counts. On Chatbot Arena's 1.67M votes the rating engine takes about 20 ms with
    sandwich intervals and 50 ms with a 200-resample bootstrap (2 cores); redrawing the widgets adds to that.
    """
    sources: dict[str, Any] = {}
    if data is not None:
        sources[data if isinstance(data, str) else "data"] = data
    if datasets is not None:
        sources.update(datasets)
    elif data is None:
        sources.update(default_datasets())
    return Explorer(sources, resamples=resamples, top=top, seed=seed, level=level)
