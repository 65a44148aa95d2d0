"""The explorer widget, driven from Python without a browser: controls change the board as they should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import aggregate, leaderboard
from analysis.widgets import ALL, Explorer, default_datasets, demo_video_arena, explorer


def _island_votes(seed: int = 0) -> pd.DataFrame:
    """Battles in two categories: "mixed" links all four models; in "split" only m0-m1 and m2-m3 ever meet."""
    rng = np.random.default_rng(seed)
    winners = np.array(["model_a", "model_b", "tie", "tie (bothbad)"])
    rows = []
    pairs = {"mixed": [("m0", "m1"), ("m1", "m2"), ("m2", "m3"), ("m0", "m3"), ("m0", "m2")],
             "split": [("m0", "m1"), ("m2", "m3")]}
    for category, links in pairs.items():
        for a, b in links:
            for w in rng.choice(winners, size=60, p=[0.45, 0.35, 0.15, 0.05]):
                rows.append((a, b, w, category))
    return pd.DataFrame(rows, columns=["model_a", "model_b", "winner", "category"])


@pytest.fixture(scope="module")
def sim() -> pd.DataFrame:
    return demo_video_arena(12_000, seed=3)


@pytest.fixture
def ex(sim: pd.DataFrame) -> Explorer:
    return explorer(datasets={"sim": sim}, resamples=50)


def _ratings(board: pd.DataFrame) -> pd.Series:
    return board.set_index("model")["rating"]


def test_explorer_is_a_vbox_with_a_board_and_status(ex: Explorer, sim: pd.DataFrame):
    import ipywidgets

    assert isinstance(ex, ipywidgets.VBox)
    assert ex.error is None
    assert len(ex.board) == 12
    assert ex.board.attrs["votes"] == len(sim)
    assert f"{len(sim):,} votes" in ex.status.value and "fit" in ex.status.value
    assert "<table>" in ex.table.value and "Aurora 2" in ex.table.value
    assert ex.plot.value[:8] == b"\x89PNG\r\n\x1a\n"
    # The demo data has categories and timestamps, so both filters are offered.
    assert ex.category.layout.display is None and len(ex.category.options) == 6
    assert ex.period.layout.display is None and len(ex.period.options) >= 20


def test_board_matches_a_direct_fit(ex: Explorer, sim: pd.DataFrame):
    direct = leaderboard(sim, ci="none")
    shown = _ratings(ex.board)
    np.testing.assert_allclose(shown.loc[direct["model"]].to_numpy(), direct["rating"].to_numpy(), atol=1e-6)


def test_tie_rule_changes_ratings(ex: Explorer):
    half = _ratings(ex.board)
    ex.ties.value = "drop"
    assert ex.board.attrs["ties"] == "drop"
    dropped = _ratings(ex.board)
    assert not np.allclose(half.loc[dropped.index], dropped)
    # Dropping ties spreads the ratings: every vote left is decisive.
    assert dropped.std() > half.std()
    ex.ties.value = "davidson"
    assert "tie_param" in ex.board.attrs and "nu =" in ex.status.value


def test_anchor_puts_the_model_at_its_value(ex: Explorer):
    ex.anchor.value = "Fjord"
    ex.anchor_value.value = 1234.5
    row = ex.board.set_index("model").loc["Fjord"]
    assert row["rating"] == pytest.approx(1234.5)
    assert row["lower"] == pytest.approx(1234.5) and row["upper"] == pytest.approx(1234.5)
    assert "(anchor)" in ex.table.value
    ex.anchor.value = "mean"
    assert ex.board["rating"].mean() == pytest.approx(1234.5)


def test_category_filter_changes_battles(ex: Explorer, sim: pd.DataFrame):
    before = ex.board.set_index("model")["n_battles"]
    ex.category.value = "text & logos"
    sub = sim[sim["category"] == "text & logos"]
    after = ex.board.set_index("model")["n_battles"]
    assert ex.board.attrs["votes"] == len(sub)
    assert after.sum() == 2 * len(sub)
    assert (after < before.loc[after.index]).all()
    assert "text &amp; logos" in ex.status.value
    ex.category.value = ALL
    assert ex.board.attrs["votes"] == len(sim)


def test_time_window_keeps_votes_of_those_periods(ex: Explorer, sim: pd.DataFrame):
    ex.select(period=("2025-01-13", "2025-01-26"))  # two weekly periods: the weeks starting on these Mondays
    assert tuple(ex.period.index) == (1, 2)
    t = sim["timestamp"]
    expected = ((t >= pd.Timestamp("2025-01-13", tz="UTC")) & (t < pd.Timestamp("2025-01-27", tz="UTC"))).sum()
    assert ex.board.attrs["votes"] == expected
    assert "weeks 2025-01-13 to 2025-01-20" in ex.status.value


def test_interval_methods(ex: Explorer):
    ex.interval.value = "bootstrap"
    assert ex.board.attrs["ci"] == "bootstrap" and ex.board.attrs["resamples"] == 50
    assert np.isfinite(ex.board[["lower", "upper"]].to_numpy()).all()
    ex.interval.value = "none"
    assert ex.board[["lower", "upper"]].isna().all().all()
    ex.interval.value = "sandwich"
    assert (ex.board["upper"] > ex.board["lower"]).all()


def test_select_sets_several_controls_with_one_refit(ex: Explorer):
    calls = []
    original = ex.refresh
    ex.refresh = lambda: (calls.append(1), original())[1]  # count refits
    ex.select(category="people", ties="drop", anchor="Halo Lite", anchor_value=900.0, interval="none", top=5)
    assert len(calls) == 1
    assert ex.board.set_index("model").loc["Halo Lite", "rating"] == pytest.approx(900.0)
    assert ex.board.attrs["ties"] == "drop"
    ex.select(colour="red")  # never raises: the status line says why
    assert "unknown control" in ex.error and ex.board.attrs["ties"] == "drop"


@pytest.mark.parametrize("bad,words", [
    ({"category": "does-not-exist"}, ["Category", "does-not-exist"]),
    ({"ties": "bogus"}, ["Ties", "bogus"]),
    ({"anchor": "nobody"}, ["Anchor", "nobody"]),
    ({"interval": "jackknife"}, ["Intervals", "jackknife"]),
    ({"dataset": "no such data"}, ["Data set", "no such data"]),
    ({"anchor_value": "abc"}, ["abc"]),
    ({"category": "people", "ties": "bogus"}, ["Ties", "bogus"]),
])
def test_bad_selection_names_control_and_value_and_keeps_board(ex: Explorer, bad, words):
    ex.select(ties="drop")
    board, controls = ex.board.copy(), {n: getattr(ex, n).value for n in ("category", "ties", "anchor", "interval")}
    ex.select(**bad)
    assert all(w in ex.error for w in words), ex.error
    assert all(w in ex.status.value for w in words)
    pd.testing.assert_frame_equal(ex.board, board)
    assert {n: getattr(ex, n).value for n in controls} == controls  # nothing half-applied


def test_disconnected_category_is_reported_not_raised():
    ex = explorer(_island_votes())
    assert ex.error is None and len(ex.board) == 4
    ex.anchor.value = "m3"
    ex.category.value = "split"  # no error escapes the callback
    assert ex.board is None
    assert "disconnected" in ex.error and "disconnected" in ex.status.value
    assert "No board" in ex.table.value
    ex.category.value = "mixed"  # and the explorer recovers
    assert ex.error is None and len(ex.board) == 4
    assert ex.board.set_index("model").loc["m3", "rating"] == pytest.approx(1000.0)


def test_anchor_missing_from_a_selection_falls_back_to_the_mean():
    votes = _island_votes()
    extra = pd.DataFrame({"model_a": ["m4"] * 20, "model_b": ["m0"] * 20, "winner": ["tie", "model_a"] * 10,
                          "category": ["mixed"] * 20})
    ex = explorer(pd.concat([votes, extra], ignore_index=True))
    ex.anchor.value = "m4"
    ex.select(category="split")  # m4 never plays in "split", and split is disconnected anyway
    assert ex.anchor.value == "mean" and "m4" not in ex.anchor.options


def test_counts_with_categories_and_a_dataset_name(sim: pd.DataFrame):
    counts = aggregate(sim, by="category")
    ex = explorer(counts)
    assert ex.period.layout.display == "none"  # counts without timestamps: no time filter
    ex.category.value = "animals"
    assert ex.board.attrs["votes"] == int((sim["category"] == "animals").sum())

    named = explorer("chatbot-arena-2024-08-14")
    assert named.dataset.value == "chatbot-arena-2024-08-14" and len(named.board) == 129


def test_chatbot_arena_refits_within_a_second():
    ex = explorer(datasets=default_datasets(small=True))  # what explorer() offers, with a smaller simulated arena
    assert ex.dataset.value == "Chatbot Arena 2024-08-14"
    assert ex.board.attrs["votes"] == 1_670_250 and len(ex.board) == 129
    assert ex.category.layout.display == "none" and ex.period.layout.display == "none"
    ex.ties.value = "drop"  # the first fit warmed up; this one is a refit on the cached counts
    ex.ties.value = "rao-kupper"
    assert ex.error is None
    assert ex.fit_seconds < 1.0, f"refit took {ex.fit_seconds:.2f} s"
    ex.dataset.value = "Simulated video arena"
    assert len(ex.board) == 12 and len(ex.category.options) == 6


def test_default_datasets_are_what_explorer_offers():
    assert list(default_datasets()) == ["Chatbot Arena 2024-08-14", "Simulated video arena"]
    votes = default_datasets(small=True)["Simulated video arena"]()
    assert {"category", "timestamp"} <= set(votes.columns) and votes["model_a"].nunique() == 12


def test_a_failing_loader_is_reported():
    def broken() -> pd.DataFrame:
        raise OSError("disk on fire")

    ex = explorer(datasets={"ok": _island_votes(), "broken": broken})
    ex.dataset.value = "broken"
    assert ex.board is None and "disk on fire" in ex.status.value
    ex.dataset.value = "ok"
    assert ex.error is None and ex.board is not None
