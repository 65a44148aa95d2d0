"""Figures: check what was drawn (labels, order, interval ends, cell values, colours, files), never pixels."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display in CI, and must precede pyplot's import

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from analysis import plots  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated():
    """Each test starts with matplotlib defaults and an empty colour registry, and leaves no figures open."""
    plots.reset_colors()
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        yield
    plt.close("all")
    plots.reset_colors()


@pytest.fixture
def board() -> pd.DataFrame:
    """A small leaderboard, rows deliberately not in rating order (the plots must sort, not trust the input)."""
    return pd.DataFrame({
        "model": ["Sora", "Veo 3", "Mochi 1", "Kling 2.1", "Hailuo 02"],
        "rating": [1010.0, 1150.0, 1000.0, 1080.0, 1040.0],
        "lower": [990.0, 1120.0, 1000.0, 1050.0, 1001.0],
        "upper": [1031.0, 1175.0, 1000.0, 1110.0, 1069.5],
        "rank": [4, 1, 5, 2, 3],
        "rank_lower": [3, 1, 4, 2, 2],
        "rank_upper": [5, 1, 5, 3, 4],
    })


def _win_matrix(board: pd.DataFrame) -> pd.DataFrame:
    """Bradley-Terry P(row beats column), long form with a NaN diagonal, rows in the board's (unsorted) order."""
    r = board.set_index("model")["rating"]
    rows = [(a, b, np.nan if a == b else 1 / (1 + 10 ** ((r[b] - r[a]) / 400))) for a in r.index for b in r.index]
    return pd.DataFrame(rows, columns=["model_a", "model_b", "p"])


def _by_gid(ax, gid: str) -> list:
    return [a for a in ax.get_children() if a.get_gid() == gid]


def _rows_top_down(ax) -> list[str]:
    """Y tick labels from the top of the axes down, whatever the axis direction."""
    ticks = [(t.get_position()[1], t.get_text()) for t in ax.get_yticklabels()]
    return [text for _, text in sorted(ticks, reverse=not ax.yaxis_inverted())]


def _row_of(ax) -> dict[float, str]:
    return {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()}


def _assert_ends(drawn: dict[str, tuple[float, float]], frame: pd.DataFrame, lower: str, upper: str) -> None:
    """Drawn interval ends equal the frame's bounds, model by model."""
    assert sorted(drawn) == sorted(frame["model"])
    expected = frame.set_index("model").loc[sorted(drawn), [lower, upper]].to_numpy(float)
    np.testing.assert_allclose([drawn[m] for m in sorted(drawn)], expected)


def _intervals(ax, gid: str) -> dict[str, tuple[float, float]]:
    """Model -> (left, right) end of each drawn interval, matched through the row positions."""
    rows = _row_of(ax)
    out = {}
    for collection in _by_gid(ax, gid):
        for seg in collection.get_segments():
            (x0, y0), (x1, _) = seg
            out[rows[round(y0)]] = (x0, x1)
    return out


# ---------------------------------------------------------------------------------------------- theme


def test_set_theme_sets_the_house_style_and_is_idempotent():
    plots.set_theme("paper")
    first = dict(matplotlib.rcParams)
    plots.set_theme("paper")
    assert dict(matplotlib.rcParams) == first
    rc = matplotlib.rcParams
    assert rc["figure.constrained_layout.use"] is True
    assert rc["axes.spines.top"] is False and rc["axes.spines.right"] is False
    assert rc["axes.grid"] is True and rc["axes.axisbelow"] is True
    assert rc["savefig.dpi"] == 300
    assert [to_hex(c) for c in rc["axes.prop_cycle"].by_key()["color"]] == list(plots.SERIES_PALETTE)
    sizes = [plots.theme_rc(c)["font.size"] for c in ("paper", "notebook", "talk")]
    assert sizes == sorted(sizes) and sizes[0] >= 9  # paper fonts still readable
    bigger = plots.theme_rc("notebook", font_scale=1.5)
    assert bigger["axes.labelsize"] == pytest.approx(1.5 * plots.theme_rc("notebook")["axes.labelsize"])
    assert bigger["lines.linewidth"] == plots.theme_rc("notebook")["lines.linewidth"]
    with pytest.raises(ValueError, match="context"):
        plots.set_theme("poster-xxl")


def test_plot_functions_do_not_change_global_style(board):
    before = dict(matplotlib.rcParams)
    plots.forest(board)
    assert dict(matplotlib.rcParams) == before


# ---------------------------------------------------------------------------------------------- colours


def test_model_colours_are_the_hard_coded_hash_colours():
    # Computed once from blake2b(name) % 9 into MODEL_PALETTE; if this changes, every saved figure recolours.
    assert plots.model_colors(["Veo 3"]) == {"Veo 3": "#999933"}
    assert plots.model_colors(["Hailuo 02"]) == {"Hailuo 02": "#882255"}
    assert plots.model_colors("Mochi 1") == {"Mochi 1": "#cc6677"}  # a bare string is one model


def test_model_colours_are_stable_across_processes():
    code = "import analysis.plots as p; print(p.palette(['Veo 3', 'Hailuo 02', 'Sora', 'Kling 2.1']))"
    # Another process with its own str-hash salt (this one's is random or different): colours must not use hash().
    env = {**os.environ, "PYTHONHASHSEED": "12345", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                            check=True, timeout=60)
    assert result.stdout.strip() == str(plots.palette(["Veo 3", "Hailuo 02", "Sora", "Kling 2.1"]))


def test_model_colours_resolve_clashes_within_a_set_and_then_stay_pinned():
    # "Sora" and "Kling 2.1" hash to the same colour; in one set they must differ, independent of input order.
    pair = plots.model_colors(["Sora", "Kling 2.1"])
    assert pair["Sora"] != pair["Kling 2.1"]
    assert pair == {"Kling 2.1": "#44aa99", "Sora": "#117733"}
    plots.reset_colors()
    assert plots.model_colors(["Kling 2.1", "Sora"]) == pair
    # Registry: Sora keeps its moved colour even when shown alone later in the session.
    assert plots.model_colors(["Sora"]) == {"Sora": "#117733"}
    nine = [f"model {i}" for i in range(9)]
    assert len(set(plots.palette(nine))) == 9  # up to the palette size, a set gets distinct colours
    assert set(plots.palette([f"x{i}" for i in range(20)])) <= set(plots.MODEL_PALETTE)
    plots.register_colors({"ours": "black"})
    assert plots.model_colors(["ours"]) == {"ours": "#000000"}


def test_a_model_has_the_same_colour_in_different_figures(board):
    forest_ax = plots.forest(board)
    points = _by_gid(forest_ax, "forest-point")[0]
    rows = _row_of(forest_ax)
    forest_colours = {rows[round(y)]: to_hex(c) for (_, y), c in zip(points.get_offsets(), points.get_facecolors(),
                                                                       strict=True)}
    history = pd.concat([board.assign(period=p, rating=board["rating"] + i) for i, p in enumerate(["2025-01",
                                                                                                   "2025-02"])])
    traj_ax = plots.trajectories(history)
    line_colours = {line.get_label(): to_hex(line.get_color()) for line in _by_gid(traj_ax, "trajectories-line")}
    assert forest_colours == line_colours == plots.model_colors(board["model"])


# ---------------------------------------------------------------------------------------------- forest


def test_forest_puts_the_best_model_on_top_and_bars_match_the_data(board):
    ax = plots.forest(board, highlight="Hailuo 02")
    assert _rows_top_down(ax) == list(board.sort_values("rating", ascending=False)["model"])
    assert ax.get_xlabel() == "Rating"
    _assert_ends(_intervals(ax, "forest-interval"), board, "lower", "upper")
    points = _by_gid(ax, "forest-point")[0]
    rows = _row_of(ax)
    assert {rows[round(y)]: x for x, y in points.get_offsets()} == dict(zip(board["model"], board["rating"],
                                                                            strict=True))
    bold = [t.get_text() for t in ax.get_yticklabels() if t.get_fontweight() == "bold"]
    assert bold == ["Hailuo 02"]


def test_forest_overlays_a_second_board_with_hue(board):
    published = board.assign(rating=board["rating"] + [30, -5, 0, 0, 50], lower=np.nan, upper=np.nan)
    both = pd.concat([board.assign(source="ours"), published.assign(source="published")])
    ax = plots.forest(both, hue="source")
    assert _rows_top_down(ax) == list(board.sort_values("rating", ascending=False)["model"])  # ours sets order
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "Source"
    assert [t.get_text() for t in legend.get_texts()] == ["ours", "published"]
    # Only "ours" has intervals; published points sit below ours within each row (dodged, not hidden).
    assert len(_by_gid(ax, "forest-interval")) == 1
    ours, theirs = _by_gid(ax, "forest-point")
    assert np.all(ours.get_offsets()[:, 1] > theirs.get_offsets()[:, 1])


def test_forest_order_and_clear_errors(board):
    ax = plots.forest(board, order=["Mochi 1", "Veo 3"])
    assert _rows_top_down(ax) == ["Mochi 1", "Veo 3"]
    with pytest.raises(KeyError, match=r"column 'elo' \(given as rating=\)"):
        plots.forest(board, rating="elo")
    with pytest.raises(ValueError, match="Did you mean 'lower'"):  # also a ValueError, with a suggestion
        plots.forest(board, lower="lowr")
    with pytest.raises(ValueError, match="'Nope'"):
        plots.forest(board, highlight="Nope")
    with pytest.raises(ValueError, match="several rows"):
        plots.forest(pd.concat([board, board]))


def test_rank_intervals_order_and_extents(board):
    ax = plots.rank_intervals(board)
    assert _rows_top_down(ax) == list(board.sort_values("rank")["model"])
    assert ax.get_xlabel() == "Rank"
    _assert_ends(_intervals(ax, "rank_intervals-interval"), board, "rank_lower", "rank_upper")
    with pytest.raises(KeyError, match="'rk'.*rank="):
        plots.rank_intervals(board, rank="rk")


def test_plots_on_a_fitted_leaderboard():
    import analysis
    from analysis.simulate import simulate_arena

    fitted = analysis.leaderboard(simulate_arena(5, 2000, seed=1), resamples=40, seed=0)
    fig, (left, right) = plt.subplots(1, 2, layout="constrained")
    assert plots.forest(fitted, ax=left) is left  # draws on the Axes it is given and returns it
    assert plots.rank_intervals(fitted, ax=right) is right
    assert _rows_top_down(left) == list(fitted.sort_values("rating", ascending=False)["model"])
    _assert_ends(_intervals(left, "forest-interval"), fitted, "lower", "upper")
    _assert_ends(_intervals(right, "rank_intervals-interval"), fitted, "rank_lower", "rank_upper")
    tidy = analysis.win_matrix(fitted, tidy=True)
    heat = plots.heatmap(tidy)
    best_first = list(fitted.sort_values("rating", ascending=False)["model"])
    assert [t.get_text() for t in heat.get_yticklabels()] == best_first
    expected = tidy.pivot(index="model_a", columns="model_b", values="p").loc[best_first, best_first]
    np.testing.assert_allclose(_by_gid(heat, "heatmap-image")[0].get_array().filled(np.nan), expected,
                               equal_nan=True)


# ---------------------------------------------------------------------------------------------- heatmap


def test_heatmap_cells_equal_the_data_in_rating_order(board):
    tidy = _win_matrix(board)
    ax = plots.heatmap(tidy, ratings=board)
    best_first = list(board.sort_values("rating", ascending=False)["model"])
    assert [t.get_text() for t in ax.get_yticklabels()] == best_first
    assert [t.get_text() for t in ax.get_xticklabels()] == best_first
    image = _by_gid(ax, "heatmap-image")[0]
    expected = tidy.pivot(index="model_a", columns="model_b", values="p").loc[best_first, best_first].to_numpy()
    drawn = image.get_array()
    assert np.ma.getmaskarray(drawn).diagonal().all()
    np.testing.assert_allclose(drawn.filled(np.nan), expected, equal_nan=True)
    assert ax.get_xlabel() == "Model B" and ax.get_ylabel() == "Model A"
    assert image.get_clim() == (0.0, 1.0)
    annotations = [t.get_text() for t in _by_gid(ax, "heatmap-annot")]
    assert annotations == [f"{v:.2f}" for v in expected.ravel() if np.isfinite(v)]


def test_heatmap_default_order_is_first_appearance_and_errors_name_columns(board):
    tidy = _win_matrix(board)
    ax = plots.heatmap(tidy, annot=False)
    assert [t.get_text() for t in ax.get_yticklabels()] == list(board["model"])
    assert not _by_gid(ax, "heatmap-annot")
    with pytest.raises(KeyError, match="'prob'.*value="):
        plots.heatmap(tidy, value="prob")


# ---------------------------------------------------------------------------------------------- trajectories


def test_trajectories_lines_and_bands_follow_the_data(board):
    periods = pd.period_range("2025-01", periods=3, freq="M")
    history = pd.concat([board.assign(period=p, rating=board["rating"] + 10 * i, lower=board["lower"] + 10 * i,
                                      upper=board["upper"] + 10 * i) for i, p in enumerate(periods)])
    ax = plots.trajectories(history.sample(frac=1, random_state=0))  # shuffled rows: lines must still run in time
    lines = {line.get_label(): line for line in _by_gid(ax, "trajectories-line")}
    assert list(lines) == list(board.sort_values("rating", ascending=False)["model"])  # legend order = line ends
    veo = lines["Veo 3"]
    np.testing.assert_allclose(veo.get_ydata(), [1150, 1160, 1170])
    assert list(pd.to_datetime(veo.get_xdata())) == list(periods.to_timestamp())
    assert len(_by_gid(ax, "trajectories-band")) == len(board)
    assert ax.get_xlabel() == "Period" and ax.get_ylabel() == "Rating"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(lines)


def test_trajectories_with_label_periods_and_no_bands(board):
    history = pd.concat([board.assign(snapshot=s) for s in ["v10", "v2", "v3"]])
    ax = plots.trajectories(history, time="snapshot", lower=None, upper=None, order=["Sora"], legend=False)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["v10", "v2", "v3"]
    assert not _by_gid(ax, "trajectories-band") and ax.get_legend() is None
    assert [line.get_label() for line in _by_gid(ax, "trajectories-line")] == ["Sora"]
    with pytest.raises(KeyError, match="'period'.*time="):
        plots.trajectories(history, lower=None, upper=None)


# ---------------------------------------------------------------------------------------------- correlation


def test_corr_scatter_puts_the_interval_in_the_legend():
    frame = pd.DataFrame({"model": ["a", "b", "c", "d"], "human": [1.0, 2.0, 3.0, 4.0],
                          "metric": [0.1, 0.3, 0.2, 0.5]})
    ax = plots.corr_scatter(frame, x="human", y="metric", hue="model", label="model", estimate=0.82,
                            interval=(0.41, 0.96))
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[0] == "Spearman 0.82 [0.41, 0.96]"
    assert texts[1:] == ["a", "b", "c", "d"]
    assert ax.get_xlabel() == "Human" and ax.get_ylabel() == "Metric"
    assert sorted(t.get_text() for t in _by_gid(ax, "corr_scatter-label")) == ["a", "b", "c", "d"]
    colours = {c.get_label(): to_hex(c.get_facecolor()[0]) for c in _by_gid(ax, "corr_scatter-point")}
    assert colours == plots.model_colors(["a", "b", "c", "d"])

    computed = plots.corr_scatter(frame, x="human", y="metric", method="pearson",
                                  interval={"lower": 0.1, "upper": 0.99})
    r = np.corrcoef(frame["human"], frame["metric"])[0, 1]
    assert computed.get_legend().get_texts()[0].get_text() == f"Pearson {r:.2f} [0.10, 0.99]"
    with pytest.raises(KeyError, match="'vbench'.*y="):
        plots.corr_scatter(frame, x="human", y="vbench")


# ---------------------------------------------------------------------------------------------- metric profiles


def test_metric_profile_heatmap_and_lines():
    scores = pd.DataFrame({
        "model": ["a", "a", "a", "b", "b", "b"],
        "dimension": ["motion", "motion", "aesthetic", "motion", "aesthetic", "aesthetic"],
        "score": [0.2, 0.4, 0.5, 0.9, 0.7, 0.9],  # repeated (model, dimension) rows are averaged
    })
    ax = plots.metric_profile(scores)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"]  # best mean first
    assert [t.get_text() for t in ax.get_xticklabels()] == ["motion", "aesthetic"]
    np.testing.assert_allclose(_by_gid(ax, "metric_profile-image")[0].get_array(), [[0.9, 0.8], [0.3, 0.5]])

    lines_ax = plots.metric_profile(scores, kind="lines", dimension_order=["aesthetic", "motion"])
    lines = {line.get_label(): line for line in _by_gid(lines_ax, "metric_profile-line")}
    np.testing.assert_allclose(lines["a"].get_ydata(), [0.5, 0.3])
    assert to_hex(lines["a"].get_color()) == plots.model_colors(["a"])["a"]
    assert lines_ax.get_ylabel() == "Score"
    with pytest.raises(ValueError, match="kind"):
        plots.metric_profile(scores, kind="radar")
    with pytest.raises(KeyError, match="'metric'.*dimension="):
        plots.metric_profile(scores, dimension="metric")


# ---------------------------------------------------------------------------------------------- saving


def test_save_figure_writes_png_and_svg_atomically(board, tmp_path):
    from PIL import Image

    ax = plots.forest(board)
    paths = plots.save_figure(ax.figure, tmp_path / "new" / "dir" / "forest")
    assert paths == [tmp_path / "new" / "dir" / "forest.png", tmp_path / "new" / "dir" / "forest.svg"]
    assert sorted(p.name for p in paths[0].parent.iterdir()) == ["forest.png", "forest.svg"]  # no temp files
    with Image.open(paths[0]) as png:
        assert png.format == "PNG"
        assert png.info["dpi"] == pytest.approx((300, 300), abs=0.01)
    svg = paths[1].read_text()
    png_bytes = paths[0].read_bytes()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    # A suffix names the same stem, and an Axes stands for its figure.
    assert plots.save_figure(ax, tmp_path / "new" / "dir" / "forest.png") == paths
    # The same figure built again (a notebook re-run) gives the same bytes: no timestamps, fixed SVG ids.
    rerun = plots.save_figure(plots.forest(board).figure, tmp_path / "rerun")
    assert "<dc:date>" not in svg
    assert rerun[1].read_text() == svg
    assert rerun[0].read_bytes() == png_bytes
    with pytest.raises(ValueError, match="unsupported"):
        plots.save_figure(ax.figure, tmp_path / "x", formats=("png", "docx"))


def test_save_figure_failure_keeps_the_old_file_and_leaves_no_temp(board, tmp_path, monkeypatch):
    fig = plots.forest(board).figure
    old = plots.save_figure(fig, tmp_path / "forest")
    before = [p.read_bytes() for p in old]

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(fig, "savefig", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        plots.save_figure(fig, tmp_path / "forest")
    assert [p.read_bytes() for p in old] == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["forest.png", "forest.svg"]


# ---------------------------------------------------------------------------------------------- correlation tables


def test_corr_forest_draws_rows_in_order_with_unit_colours():
    table = pd.DataFrame({
        "unit": ["model", "model", "vote", "video"], "human": "h", "metric": ["m1", "m1", "m1", "m2"],
        "method": ["spearman", "accuracy", "agreement", "spearman"], "group": ["all", "all", "all", "A"],
        "estimate": [0.8, 0.9, 0.6, 0.2], "lower": [0.5, 0.7, 0.55, np.nan], "upper": [0.95, 1.0, 0.65, np.nan],
    })
    ax = plots.corr_forest(table)
    labels = {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()}
    assert [labels[y] for y in sorted(labels, reverse=True)] == [
        "model: h ~ m1 (spearman)", "model: h ~ m1 (accuracy)", "vote: h ~ m1 (agreement)",
        "video: h ~ m2 (spearman) [A]"]  # data order, first row on top
    points = _by_gid(ax, "corr_forest-point")[0]
    np.testing.assert_allclose(points.get_offsets()[:, 0], table["estimate"])
    segments = _by_gid(ax, "corr_forest-interval")[0].get_segments()
    assert len(segments) == 3  # the row without bounds shows a point only
    np.testing.assert_allclose([s[:, 0] for s in segments], [[0.5, 0.95], [0.7, 1.0], [0.55, 0.65]])
    colours = [to_hex(c) for c in points.get_facecolors()]
    assert colours[0] == colours[1] == plots.SERIES_PALETTE[0]  # a unit keeps its colour in every figure
    assert colours[2] == plots.SERIES_PALETTE[2] and colours[3] == plots.SERIES_PALETTE[3]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["model", "vote", "video"]
    assert sorted(line.get_xdata()[0] for line in ax.lines) == [0.0, 0.5]  # zero and chance

    by_model = plots.corr_forest(table, hue="group", label="metric", ax=plt.subplots()[1])
    facecolors = [to_hex(c) for c in _by_gid(by_model, "corr_forest-point")[0].get_facecolors()]
    assert facecolors[3] == plots.model_colors(["A"])["A"]
    assert [t.get_text() for t in by_model.get_yticklabels()] == ["m1", "m1", "m1", "m2"]
    with pytest.raises(KeyError, match="'est'.*estimate="):
        plots.corr_forest(table, estimate="est")
    with pytest.raises(TypeError):
        plots.corr_forest(table, "estimate")  # options are keyword-only


def test_plot_options_are_keyword_only():
    import inspect

    for name in ("forest", "rank_intervals", "heatmap", "trajectories", "corr_scatter", "metric_profile",
                 "corr_forest", "coef_forest", "rank_slope"):
        params = list(inspect.signature(getattr(plots, name)).parameters.values())
        assert params[0].name == "data", name
        assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[1:]), name
        assert "ax" in {p.name for p in params}, name


def test_metric_profile_labels_rows_with_their_provenance():
    data = pd.DataFrame({"model": ["a", "a", "b", "b"], "dimension": ["x", "y", "x", "y"], "score": [1, 2, 3, 4],
                         "evaluated_by": ["VBench Team"] * 2 + ["unknown"] * 2})
    ax = plots.metric_profile(data, provenance="evaluated_by")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b · unknown", "a · VBench Team"]
    ax = plots.metric_profile(data, kind="lines", provenance="evaluated_by")
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"a · VBench Team", "b · unknown"}
