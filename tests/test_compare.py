"""Comparisons: head-to-head records and tests, win matrices, simultaneous tiers, boards by category and period."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

import analysis
from analysis import compare
from analysis.simulate import simulate_arena, simulate_counts

TIERED = {"A": 1200, "B": 1195, "C": 1190, "D": 1000, "E": 995, "F": 805, "G": 800}


@pytest.fixture(scope="module")
def tiered():
    counts = simulate_counts(None, 20000, ratings=TIERED, model_names=list(TIERED), tie_rate=0.1, seed=1)
    return counts, analysis.rate(counts, resamples=200, seed=0)


def _votes(pairs: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    """Battles from (a, b, wins of a, wins of b), decisive only."""
    rows = []
    for a, b, wa, wb in pairs:
        rows += [(a, b, "model_a")] * wa + [(a, b, "model_b")] * wb
    return pd.DataFrame(rows, columns=["model_a", "model_b", "winner"])


# ---------------------------------------------------------------------------------------------- head to head


def test_head_to_head_record_prediction_and_residual(tiered):
    counts, fit = tiered
    row = compare.head_to_head(fit, "A", "D").iloc[0]
    a, b = counts.model_a.astype(str), counts.model_b.astype(str)
    pair = counts[((a == "A") & (b == "D")) | ((a == "D") & (b == "A"))]
    a_first = pair.model_a == "A"
    wins = pair["count"][(a_first & (pair.outcome == "win_a")) | (~a_first & (pair.outcome == "win_b"))].sum()
    losses = pair["count"][(a_first & (pair.outcome == "win_b")) | (~a_first & (pair.outcome == "win_a"))].sum()
    ties = pair["count"][pair.outcome.isin(["tie", "tie_bothbad"])].sum()
    assert (row.wins, row.losses, row.ties, row.n) == (wins, losses, ties, wins + losses + ties)
    assert row.observed == pytest.approx((wins + ties / 2) / row.n)
    wp = analysis.win_probability(fit, "A", "D")
    assert row.predicted == pytest.approx(wp["p"], rel=1e-9)
    assert row.pred_lower < row.predicted < row.pred_upper
    assert row.residual == pytest.approx(row.observed - row.predicted)
    assert 0.01 < row.p_value <= 1  # the data are Bradley-Terry: no misfit
    assert np.isnan(row.p_value_exact)  # half-ties: the score is not binomial
    assert row.diff_lower < row.rating_diff < row.diff_upper


def test_head_to_head_flags_a_pair_that_disagrees_with_the_board():
    # A ~ B and B ~ C, but A crushes C: no Bradley-Terry board fits all three pairs.
    votes = _votes([("A", "B", 50, 50), ("B", "C", 50, 50), ("A", "C", 85, 15)])
    fit = analysis.rate(votes, ci="model")
    row = compare.head_to_head(fit, "A", "C").iloc[0]
    assert row.observed == pytest.approx(0.85)
    assert row.predicted < 0.8 and row.residual > 0.05
    assert row.p_value < 0.01 and row.p_value_exact < 0.01  # no ties: the exact binomial test applies
    ok = compare.head_to_head(fit, "A", "B").iloc[0]
    assert ok.p_value > row.p_value


def test_head_to_head_unknown_model_suggests_close_name(tiered):
    _, fit = tiered
    with pytest.raises(KeyError, match="did you mean 'A'"):
        compare.head_to_head(fit, "AA", "B")
    with pytest.raises(ValueError, match="same model"):
        compare.head_to_head(fit, "A", "A")


def test_head_to_head_and_win_matrices_refuse_raw_votes(tiered):
    counts, _ = tiered
    with pytest.raises(TypeError, match=r"analysis\.rate\(data"):
        compare.head_to_head(counts, "A", "B")
    with pytest.raises(TypeError, match=r"analysis\.rate\(data"):
        compare.win_matrices(counts)


def test_win_matrices_observed_and_predicted_side_by_side(tiered):
    _, fit = tiered
    table = compare.win_matrices(fit)
    assert len(table) == 7 * 6  # every pair met, both ways round
    obs = compare.pivot_matrix(table, "observed")
    assert list(obs.index) == list(fit.board.model)
    np.testing.assert_allclose((obs + obs.T).to_numpy()[~np.eye(7, dtype=bool)], 1.0)
    pred = compare.pivot_matrix(table, "predicted")
    np.testing.assert_allclose(pred.to_numpy(), analysis.win_matrix(fit).to_numpy(), equal_nan=True)
    assert table["z"].abs().max() < 4


# ---------------------------------------------------------------------------------------------- tiers


@pytest.mark.parametrize("method", ["max-t", "holm"])
def test_tiers_recover_clear_tiers(tiered, method):
    _, fit = tiered
    out = compare.tiers(fit, method=method)
    got = dict(zip(out.table.model, out.table.tier, strict=True))
    assert got == {"A": 1, "B": 1, "C": 1, "D": 2, "E": 2, "F": 3, "G": 3}
    pairs = out.pairs
    assert len(pairs) == 21 and (pairs.p_adjusted >= pairs.p_value - 1e-12).all()
    assert out.table.tier_size.tolist() == [3, 3, 3, 2, 2, 2, 2]


def test_tiers_from_a_board_frame_use_the_standard_errors(tiered):
    _, fit = tiered
    out = compare.tiers(fit.board)
    assert out.table.tier.tolist() == [1, 1, 1, 2, 2, 3, 3]
    assert "independent" in out.note


def test_tiers_control_errors_over_all_pairs_when_all_models_are_equal():
    # Twelve equal models: 66 pairs. Pairwise 95% tests would split some pair in most boards; max-t must not
    # in at least 9 of 10 boards (expected about 95%).
    single = 0
    naive_splits = 0
    for seed in range(10):
        counts = simulate_counts(12, 6000, ratings=np.zeros(12), seed=seed)
        fit = analysis.rate(counts, ci="sandwich", resamples=2000, seed=seed)
        out = compare.tiers(fit, method="max-t", seed=seed)
        single += out.n_tiers == 1
        naive_splits += (out.pairs.p_value < 0.05).any()
        assert out.critical > 2.5  # wider than the pointwise 1.96
    assert single >= 9
    assert naive_splits >= 3  # the multiplicity problem that tiers avoid


def test_holm_matches_statsmodels():
    p = np.random.default_rng(0).uniform(0, 0.2, 40)
    np.testing.assert_allclose(compare._holm(p), multipletests(p, method="holm")[1])


def test_tiers_bad_input(tiered):
    _, fit = tiered
    with pytest.raises(ValueError, match="method"):
        compare.tiers(fit, method="bonferroni")
    with pytest.raises(KeyError, match="se"):
        compare.tiers(fit.board[["model", "rating"]])
    none = analysis.rate(tiered[0], ci="none")
    with pytest.raises(ValueError, match="uncertainty"):
        compare.tiers(none)


# ---------------------------------------------------------------------------------------------- by subset


def test_by_category_one_board_per_value_and_a_flagged_unratable_one():
    votes = simulate_arena(4, 3000, seed=2)
    votes["category"] = np.where(np.arange(3000) % 2 == 0, "people", "physics")
    extra = _votes([("x", "y", 5, 5), ("z", "w", 4, 6)]).assign(category="text")  # two separate pairs
    data = pd.concat([votes.astype({"model_a": str, "model_b": str, "winner": str}), extra], ignore_index=True)
    out = compare.by_category(data, rate_options={"ci": "model"})
    assert set(out.category) == {"people", "physics", "text"}
    text = out[out.category == "text"]
    assert len(text) == 1 and text.model.isna().all() and "disconnected" in text.note.iloc[0]
    people = out[out.category == "people"]
    assert len(people) == 4 and (people.n_battles > 0).all() and (people.lower < people.rating).all()
    assert set(out.category[out.note != ""]) == {"text"}


def test_by_category_accepts_a_column_read_votes_does_not_keep():
    votes = simulate_arena(3, 1500, seed=4)
    votes["style"] = np.where(np.arange(1500) % 3 == 0, "anime", "photo")
    out = compare.by_category(votes, by="style", rate_options={"ci": "none"})
    assert set(out["style"]) == {"anime", "photo"}


def test_by_period_reports_an_empty_week_and_rolls_windows():
    votes = simulate_arena(4, 4000, start="2024-01-01", freq="10min", seed=3)  # about four weeks
    votes = votes[(votes.timestamp < "2024-01-15") | (votes.timestamp >= "2024-01-22")]
    weekly = compare.by_period(votes, freq="W", rate_options={"ci": "model"})
    periods = weekly.period.astype(str).unique().tolist()
    assert len(periods) == 4  # 4000 votes 10 minutes apart: 2024-01-01 .. 01-28
    empty = weekly[weekly.note == "no votes"]
    assert len(empty) == 1 and empty.n_battles.iloc[0] == 0 and empty.model.isna().all()
    rolling = compare.by_period(votes, freq="W", window=2, rate_options={"ci": "model"})
    assert (rolling.note == "no votes").sum() == 0  # the empty week is covered by its neighbour
    grow = compare.by_period(votes, freq="W", window="expanding", rate_options={"ci": "none"})
    per_model = grow.dropna(subset=["model"]).groupby("model").n_battles.apply(lambda s: s.is_monotonic_increasing)
    assert per_model.all()


def test_trajectories_follow_each_model_with_changes():
    votes = simulate_arena(3, 3000, start="2024-01-01", freq="5min", seed=5)
    traj = compare.trajectories(compare.by_period(votes, freq="D", rate_options={"ci": "model"}), ["m0"])
    assert set(traj.model) == {"m0"} and traj.periods_seen.tolist() == list(range(1, len(traj) + 1))
    assert np.isnan(traj.change.iloc[0]) and traj.change.iloc[1] == pytest.approx(traj.rating.diff().iloc[1])
    with pytest.raises(KeyError, match="m1"):
        compare.trajectories(traj, ["m11"])


def test_by_period_needs_timestamps():
    with pytest.raises(KeyError, match="timestamp"):
        compare.by_period(simulate_arena(3, 100, seed=0))


def test_results_of_different_boards_concatenate(tiered):
    # The tables of two results concatenate; attrs hold provenance strings only.
    counts, fit = tiered
    other = analysis.rate(counts.sample(frac=0.5, random_state=1), resamples=100, seed=2)
    one, two = compare.tiers(fit), compare.tiers(other, method="holm")
    both = pd.concat([one.table.assign(board="full"), two.table.assign(board="half")])
    assert len(both) == 14 and all(isinstance(v, str) for v in both.attrs.values())
    assert len(pd.concat([one.pairs, two.pairs])) == 42
    assert type(one.pairs[one.pairs.p_value < 1]) is pd.DataFrame


def test_tiers_result_summary_and_notebook_view(tiered):
    _, fit = tiered
    out = compare.tiers(fit)
    assert isinstance(out, compare.Tiers)
    s = out.summary()
    assert isinstance(s, pd.Series) and s["tiers"] == out.n_tiers == 3 and s["models"] == 7
    assert s["pairs_different"] == int(out.pairs.different.sum()) and s["method"] == "max-t"
    html = out._repr_html_()
    assert "<table" in html and "tier_size" in html and "pairs_different" in html
    assert "tiers" in str(out) and "Tiers" in repr(out)


def test_by_subset_takes_rate_options_as_a_mapping():
    votes = simulate_arena(3, 1500, seed=4).assign(category="x")
    with pytest.raises(TypeError, match="rate_options"):
        compare.by_category(votes, rate_options="model")
    with pytest.raises(TypeError):
        compare.by_category(votes, ci="model")  # no hidden keywords
