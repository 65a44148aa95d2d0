"""Tests for analysis.correlation: statistics against scipy, hand-computed levels, bad input, coverage, real cases."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from analysis import bt, simulate
from analysis import correlation as C
from analysis.cli import main as cli_main
from analysis.correlation import engine, prepare, stats
from tests.conftest import need_shared

# ---------------------------------------------------------------------------------------------- helpers


def _ratings(seed: int = 0, n_prompts: int = 30, models=("A", "B", "C", "D"), strength=(1.0, 0.5, 0.0, -0.5),
             noise: float = 1.0) -> pd.DataFrame:
    """Integer-free ratings: one video per prompt and model, higher strength -> higher score on average."""
    rng = np.random.default_rng(seed)
    rows = [{"prompt": p, "model": m, "score": s + rng.normal(0, noise)}
            for p in range(n_prompts) for m, s in zip(models, strength, strict=True)]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- statistics


def test_row_statistics_match_scipy():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 5, size=(6, 9)).astype(float)  # ties on purpose
    y = x + rng.integers(-2, 3, size=(6, 9))
    for method, ref in (("spearman", scipy.stats.spearmanr), ("kendall", scipy.stats.kendalltau),
                        ("pearson", scipy.stats.pearsonr)):
        got = stats.corr_rows(x, y, method)
        want = [ref(a, b).statistic for a, b in zip(x, y, strict=True)]
        np.testing.assert_allclose(got, want, atol=1e-12)


def test_weighted_statistics_equal_the_expanded_resample():
    rng = np.random.default_rng(4)
    x = rng.normal(size=40).round(1)
    y = (x + rng.normal(size=40)).round(1)
    w = rng.multinomial(40, np.full(40, 1 / 40), size=4).astype(float)
    for method, ref in (("spearman", scipy.stats.spearmanr), ("kendall", scipy.stats.kendalltau),
                        ("pearson", scipy.stats.pearsonr)):
        got = stats.weighted_corr(x, y, w, method)
        want = [ref(np.repeat(x, r.astype(int)), np.repeat(y, r.astype(int))).statistic for r in w]
        np.testing.assert_allclose(got, want, atol=1e-6 if method == "kendall" else 1e-12)


def test_pairwise_accuracy_and_its_tie_rule():
    x = np.array([[4.0, 3.0, 2.0, 1.0]])
    assert stats.corr_rows(x, x, "accuracy")[0] == 1.0
    assert stats.corr_rows(x, -x, "accuracy")[0] == 0.0
    # One swapped pair of six -> 5/6; a metric tie on one pair counts half -> 5.5/6.
    assert stats.corr_rows(x, np.array([[4.0, 3.0, 1.0, 2.0]]), "accuracy")[0] == pytest.approx(5 / 6)
    assert stats.corr_rows(x, np.array([[4.0, 3.0, 2.0, 2.0]]), "accuracy")[0] == pytest.approx(5.5 / 6)
    # Without ties, accuracy = (1 + Kendall tau) / 2.
    y = np.array([[1.0, 4.0, 2.0, 3.0]])
    assert stats.corr_rows(x, y, "accuracy")[0] == pytest.approx((1 + stats.corr_rows(x, y, "kendall")[0]) / 2)


def test_exact_permutation_p_value():
    rng = np.random.default_rng(0)
    x = np.arange(4.0)
    # A perfect order among 4 models: only the identity and its reverse are as extreme, 2 of 24 orderings.
    assert stats.permutation_p(x, x, "spearman", rng) == pytest.approx(2 / 24)
    y = np.array([0.0, 2.0, 1.0, 3.0])
    every = [scipy.stats.spearmanr(x, np.array(p)).statistic for p in itertools.permutations(y)]
    obs = scipy.stats.spearmanr(x, y).statistic
    assert stats.permutation_p(x, y, "spearman", rng) == pytest.approx(np.mean(np.abs(every) >= abs(obs) - 1e-12))


def test_bt_batch_matches_fit_bt_and_flags_separation():
    models = ["a", "b", "c", "d"]
    pi, pj = np.triu_indices(4, k=1)
    rng = np.random.default_rng(1)
    pc = rng.integers(1, 30, size=(3, len(pi), 3)).astype(float)
    got = bt.fit_bt_batch(pc, pi, pj, 4)
    for row, table in zip(got, pc, strict=True):
        cells = [(models[a], models[b], o, table[p, k]) for p, (a, b) in enumerate(zip(pi, pj, strict=True))
                 for k, o in enumerate(["win_a", "win_b", "tie"])]
        counts = pd.DataFrame(cells, columns=["model_a", "model_b", "outcome", "count"]).astype({"count": np.int64})
        fit = bt.fit_bt(bt.pair_table(counts), ties="half")
        np.testing.assert_allclose(row, fit.theta, atol=1e-8)
        # The same table straight from the arrays (what the full-data board of correlate uses).
        direct = bt.pair_table_from_arrays(models, pi, pj, table)
        np.testing.assert_array_equal(direct.counts, fit.table.counts)
        np.testing.assert_array_equal(bt.fit_bt(direct, ties="half").theta, fit.theta)
    separated = pc[:1].copy()
    separated[0, pi == 0, 1:] = 0.0  # model a never loses or ties: no finite maximum
    assert np.isnan(bt.fit_bt_batch(separated, pi, pj, 4)).all()


def test_fisher_interval_edges():
    lo, hi = stats.fisher_interval(0.5, 20, "pearson", 0.95)
    z = np.arctanh(0.5)
    assert (lo, hi) == pytest.approx((np.tanh(z - 1.959964 / np.sqrt(17)), np.tanh(z + 1.959964 / np.sqrt(17))))
    assert np.isnan(stats.fisher_interval(0.5, 4, "kendall", 0.95)[0])  # Fieller needs n > 4
    assert np.isnan(stats.fisher_interval(1.0, 9, "spearman", 0.95)[0])  # |r| = 1: no finite z


def test_wilson_interval_by_hand_with_half_credits():
    # 4.5 agreements of 7 (a metric tie counted half): the score interval, written out.
    p, n, z = 4.5 / 7, 7, scipy.stats.norm.ppf(0.975)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert stats.wilson_interval(4.5, 7, 0.95) == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert stats.wilson_interval(4, 7, 0.95) == pytest.approx(
        tuple(scipy.stats.binomtest(4, 7).proportion_ci(0.95, method="wilson")), abs=1e-12)


# ---------------------------------------------------------------------------------------------- levels


def test_model_level_known_orders_and_scales():
    human = _ratings(noise=0.3)
    metric = pd.DataFrame({"model": ["A", "B", "C", "D"], "score": [4.0, 3.0, 2.0, 1.0]})
    for scale in ("bt", "winrate", "mean"):
        res = C.correlate(human, metric, item_cols="prompt", method=["spearman", "kendall"], human_scale=scale,
                          resamples=50, seed=0)
        assert list(res["method"]) == ["spearman", "kendall", "accuracy"]
        assert list(res["estimate"]) == [1.0, 1.0, 1.0]
        assert (res["n"] == 4).all() and (res["n_clusters"] == 30).all()
        assert res["note"].str.contains("n = 4 models").all()
    flipped = metric.assign(score=-metric["score"])
    res = C.correlate(human, flipped, item_cols="prompt", resamples=50, seed=0)
    assert list(res["estimate"]) == [-1.0, 0.0]


def test_winrate_is_wins_plus_half_ties_over_comparisons():
    human = pd.DataFrame({"prompt": [0, 0, 0, 1, 1, 1], "model": list("ABCABC"), "score": [3, 2, 2, 1, 2, 3]})
    h = prepare.prepare_human(human, "score", ["A", "B", "C"], model_col="model", items=["prompt"],
                              rater_col=None, cluster=["prompt"], need_pairs=True)
    # A: beats B, C on prompt 0, loses both on 1 -> 2/4. B: 0.5 + 0 + 1 + 0 = 1.5/4. C: 0.5 + 0 + 1 + 1 = 2.5/4.
    np.testing.assert_allclose(engine.human_scores(h, np.ones((1, 2)), "winrate")[0], [0.5, 0.375, 0.625])


def test_model_interval_carries_the_metric_side_when_it_is_per_video():
    rng = np.random.default_rng(5)
    n = 40
    # Human scores fixed per model (no doubt on the human side); a noisy per-video metric with close means.
    human = pd.DataFrame({"prompt": np.repeat(np.arange(n), 3), "model": np.tile(["A", "B", "C"], n),
                          "score": np.tile([3.0, 2.0, 1.0], n)})
    human["metric"] = np.tile([0.1, 0.05, 0.0], n) + rng.normal(0, 1, 3 * n)
    per_video = C.correlate(human, human, human_col="score", metric_col="metric", item_cols="prompt",
                            human_scale="mean", resamples=300, seed=1)
    fixed = human.groupby("model", as_index=False)["metric"].mean()
    per_model = C.correlate(human, fixed, human_col="score", metric_col="metric", item_cols="prompt",
                            human_scale="mean", resamples=300, seed=1)
    assert per_video["estimate"].iloc[0] == per_model["estimate"].iloc[0]
    assert per_video["upper"].iloc[0] - per_video["lower"].iloc[0] > 0.5
    assert per_model["lower"].iloc[0] == per_model["upper"].iloc[0]
    assert per_video["note"].iloc[0].count("both sides") == 1
    assert "human side only" in per_model["note"].iloc[0] and "zero-width" in per_model["note"].iloc[0]


def test_vote_level_by_hand_with_metric_ties():
    human = pd.DataFrame({"prompt": np.repeat([1, 2, 3], 3), "model": list("ABC") * 3,
                          "score": [3, 2, 1, 1, 2, 2, 3, 1, 1]})
    metric = pd.DataFrame({"model": ["A", "B", "C"], "score": [5.0, 4.0, 4.0]})
    # Decisive human judgements: p1 AB agree, AC agree, BC metric tie; p2 AB disagree, AC disagree (BC human tie);
    # p3 AB agree, AC agree (BC human tie): 7 decisive, 4 agree, 1 metric tie.
    half = C.correlate(human, metric, unit="vote", item_cols="prompt", resamples=50, seed=0)
    drop = C.correlate(human, metric, unit="vote", item_cols="prompt", metric_ties="drop", resamples=50, seed=0)
    assert half["estimate"].iloc[0] == pytest.approx(4.5 / 7) and half["n"].iloc[0] == 7
    assert drop["estimate"].iloc[0] == pytest.approx(4 / 6) and drop["n"].iloc[0] == 6
    assert "metric ties: 1 (counted as half)" in half["note"].iloc[0]
    assert "human ties left out: 2" in half["note"].iloc[0]
    assert half["method"].iloc[0] == "agreement"


def test_vote_level_from_battles_with_rater_slots():
    # Two raters per video: votes form within (prompt, rater), so 2 x 3 judgements per prompt.
    human = pd.DataFrame({"prompt": np.repeat([0, 1], 6), "rater": np.tile(np.repeat([0, 1], 3), 2),
                          "model": list("ABC") * 4, "score": [3, 2, 1, 2, 3, 1, 3, 1, 2, 1, 2, 3]})
    metric = pd.DataFrame({"model": ["A", "B", "C"], "score": [3.0, 2.0, 1.0]})
    res = C.correlate(human, metric, unit="vote", item_cols="prompt", rater_col="rater", ci="none")
    assert res["n"].iloc[0] == 12
    battles = prepare.prepare_human(human, "score", ["A", "B", "C"], model_col="model", items=["prompt"],
                                    rater_col="rater", cluster=["prompt"], need_pairs=True)
    assert len(battles.vote["a"]) == 12
    # Agreements by hand: rater 0 p0 3/3, rater 1 p0 2/3 (B>A), rater 0 p1 2/3 (C>B), rater 1 p1 0/3.
    assert res["estimate"].iloc[0] == pytest.approx(7 / 12)


def test_pair_level_is_orientation_free():
    human = _ratings(seed=2)
    metric = pd.DataFrame({"model": ["A", "B", "C", "D"], "score": [1.0, 3.0, 2.0, 0.0]})
    rename = {"A": "z", "B": "y", "C": "x", "D": "w"}  # reverses which model of each pair sorts first
    res = C.correlate(human, metric, unit="pair", method=["spearman", "pearson"], item_cols="prompt",
                      resamples=100, seed=0)
    res2 = C.correlate(human.replace({"model": rename}), metric.replace({"model": rename}), unit="pair",
                       method=["spearman", "pearson"], item_cols="prompt", resamples=100, seed=0)
    np.testing.assert_allclose(res["estimate"], res2["estimate"])
    assert (res["n"] == 6).all()
    table = C.pair_agreement(human, metric, item_cols="prompt", resamples=100, seed=0)
    assert len(table) == 6 and (table["comparisons"] == 30).all()
    assert ((table["rate_lower"] <= table["rate"]) & (table["rate"] <= table["rate_upper"])).all()


def test_video_level_matches_scipy_and_breaks_down_by_model():
    df, _ = simulate.simulate_ratings(n_models=3, n_prompts=30, seed=7)
    res = C.correlate(df, df, unit="video", method=["spearman", "kendall"], human_col="human",
                      metric_col="metric", item_cols="prompt", resamples=100, seed=0)
    assert list(res["group"].unique()) == ["all", "m0", "m1", "m2"]
    pooled = res[(res["group"] == "all") & (res["method"] == "spearman")].iloc[0]
    assert pooled["estimate"] == pytest.approx(scipy.stats.spearmanr(df["human"], df["metric"]).statistic)
    assert pooled["n"] == 90 and pooled["n_clusters"] == 30
    m1 = df[df["model"] == "m1"]
    row = res[(res["group"] == "m1") & (res["method"] == "kendall")].iloc[0]
    assert row["estimate"] == pytest.approx(scipy.stats.kendalltau(m1["human"], m1["metric"]).statistic)
    assert (res["lower"] <= res["estimate"]).all() and (res["estimate"] <= res["upper"]).all()


def test_model_scores_table():
    human = _ratings(noise=0.5)
    metric = pd.DataFrame({"model": ["A", "B", "C", "D"], "score": [4.0, 3.0, 2.0, 1.0]})
    table = C.model_scores(human, metric, item_cols="prompt", resamples=100, seed=0)
    assert list(table["model"]) == ["A", "B", "C", "D"]
    assert table["human"].mean() == pytest.approx(1000.0)  # Elo points, mean at 1000
    assert ((table["human_lower"] < table["human"]) & (table["human"] < table["human_upper"])).all()
    assert table["metric_lower"].isna().all()


# ---------------------------------------------------------------------------------------------- bad input


def test_no_common_models_names_both_sides():
    human = _ratings()
    metric = pd.DataFrame({"model": ["X", "Y"], "score": [1.0, 2.0]})
    with pytest.raises(C.CorrelationError, match=r"no models in common.*A, B, C, D.*X, Y"):
        C.correlate(human, metric, item_cols="prompt")


def test_no_common_videos_is_an_error():
    human = _ratings()
    metric = human.assign(prompt=human["prompt"] + 1000)
    with pytest.raises(C.CorrelationError, match="no videos in common"):
        C.correlate(human, metric, unit="video", item_cols="prompt")


def test_constant_metric_gives_nan_with_reason():
    human = _ratings()
    metric = pd.DataFrame({"model": ["A", "B", "C", "D"], "score": 2.0})
    res = C.correlate(human, metric, unit=["model", "pair"], item_cols="prompt", resamples=20, seed=0)
    assert res["estimate"].isna().all()
    assert res["note"].str.contains("metric 'score' is constant").all()


def test_mismatched_names_are_listed_not_dropped_silently():
    human = _ratings(models=("A", "B", "C", "VideoCrafter2"))
    metric = pd.DataFrame({"model": ["A", "B", "C", "VideoCrafter-2.0", "Other"], "score": [3.0, 2.0, 1.0, 0.0, 5.0]})
    res = C.correlate(human, metric, item_cols="prompt", resamples=20, seed=0)
    note = res["note"].iloc[0]
    assert "human-only models left out (no metric score): VideoCrafter2" in note
    assert "VideoCrafter2~VideoCrafter-2.0" in note and "Other" in note
    assert res.attrs["unmatched"]["human_only"] == ["VideoCrafter2"]
    assert (res["n"] == 3).all()
    mapped = C.correlate(human, metric, item_cols="prompt", resamples=20, seed=0,
                         aliases={"VideoCrafter2": "VideoCrafter-2.0"})
    assert (mapped["n"] == 4).all() and mapped.attrs["unmatched"]["human_only"] == []


def test_option_and_shape_errors():
    human = _ratings()
    metric = pd.DataFrame({"model": ["A", "B", "C", "D"], "score": [4.0, 3.0, 2.0, 1.0]})
    with pytest.raises(C.CorrelationError, match="unit must be"):
        C.correlate(human, metric, unit="prompt", item_cols="prompt")
    with pytest.raises(C.CorrelationError, match="lack column"):
        C.correlate(human, metric, item_cols="item")
    board = metric.rename(columns={"score": "elo"})
    with pytest.raises(C.CorrelationError, match="no items to resample"):
        C.correlate(board, metric, human_col="elo")
    with pytest.raises(C.CorrelationError, match="unit='model' only"):
        C.correlate(board, metric, human_col="elo", unit="vote", ci="none")
    with pytest.raises(C.CorrelationError, match="several rows per model"):
        C.correlate(human, metric, ci="none")
    res = C.correlate(board, metric, human_col="elo", ci="fisher")
    assert res["ci"].iloc[0] == "fisher" and res["estimate"].iloc[0] == 1.0 and np.isnan(res["lower"].iloc[0])


def test_old_spellings_name_the_new_ones():
    human = _ratings()
    metric = pd.DataFrame({"model": ["A", "B", "C", "D"], "score": [4.0, 3.0, 2.0, 1.0]})
    with pytest.raises(TypeError, match=r"unit=.*'vote'"):
        C.correlate(human, metric, level="vote", item_cols="prompt")  # the grain was level=
    with pytest.raises(TypeError, match=r"unit="):
        C.correlate(human, metric, level=["model", "pair"], item_cols="prompt")
    with pytest.raises(TypeError, match=r"takes level= now, not confidence="):
        C.correlate(human, metric, confidence=0.9, item_cols="prompt")
    for func in (C.model_scores, C.pair_agreement):
        with pytest.raises(TypeError, match=r"takes level= now, not confidence="):
            func(human, metric, item_cols="prompt", confidence=0.9)
    with pytest.raises(TypeError, match=r"takes units= now, not levels="):
        C.videobench_vbench(levels=("model",))
    with pytest.raises(TypeError, match=r"takes units= now, not levels="):
        C.run_case("t2vscore", levels=("model",))
    with pytest.raises(ValueError, match=r"level is the confidence level, a number in \(0, 1\)"):
        C.correlate(human, metric, level=95, item_cols="prompt")
    assert "confidence" not in __import__("inspect").signature(C.correlate).parameters


def test_level_is_the_confidence_level():
    human = _ratings(noise=2.0)
    metric = pd.DataFrame({"model": ["A", "B", "C", "D"], "score": [4.0, 3.0, 1.0, 2.0]})
    wide = C.correlate(human, metric, unit="pair", item_cols="prompt", resamples=200, seed=0)
    narrow = C.correlate(human, metric, unit="pair", item_cols="prompt", resamples=200, seed=0, level=0.5)
    assert narrow.attrs["options"]["level"] == 0.5 and wide.attrs["options"]["level"] == 0.95
    assert (narrow["estimate"] == wide["estimate"]).all()
    assert ((narrow["lower"] >= wide["lower"]) & (narrow["upper"] <= wide["upper"])).all()
    assert (narrow["upper"] - narrow["lower"] < wide["upper"] - wide["lower"]).all()


def test_battles_input_matches_ratings_input():
    human = _ratings(seed=4)
    metric = pd.DataFrame({"model": ["A", "B", "C", "D"], "score": [4.0, 1.0, 2.0, 3.0]})
    from analysis.datasets import ratings_to_pairwise

    battles = ratings_to_pairwise(human, "prompt")
    a = C.correlate(human, metric, unit=["model", "pair", "vote"], item_cols="prompt", resamples=50, seed=3)
    b = C.correlate(battles, metric, unit=["model", "pair", "vote"], cluster="prompt", resamples=50, seed=3)
    np.testing.assert_allclose(a["estimate"], b["estimate"])
    np.testing.assert_allclose(a[["lower", "upper"]], b[["lower", "upper"]])
    # A per-video metric is looked up through the battles' item column.
    per_video = human.assign(metric=human["score"] + np.random.default_rng(0).normal(0, 1, len(human)))
    a = C.correlate(human, per_video, unit="vote", metric_col="metric", item_cols="prompt", ci="none")
    b = C.correlate(battles, per_video, unit="vote", metric_col="metric", item_cols="prompt", cluster="prompt",
                    ci="none")
    assert a["estimate"].iloc[0] == b["estimate"].iloc[0] and a["n"].iloc[0] == b["n"].iloc[0] == 180


# ---------------------------------------------------------------------------------------------- coverage


def test_cluster_bootstrap_covers_the_known_truth():
    cov = simulate.correlation_coverage(200, n_prompts=60, resamples=200, seed=0)
    assert set(zip(cov["unit"], cov["method"], strict=True)) == {
        ("video", "spearman"), ("video", "pearson"), ("vote", "agreement")}
    assert (cov["reps"] == 200).all()
    assert cov["coverage"].between(0.88, 0.99).all(), cov
    assert (cov["mean_estimate"] - cov["truth"]).abs().max() < 0.02


def test_ignoring_prompt_clusters_undercovers():
    # Videos of a prompt share its effect; resampling single videos ignores that, and coverage falls short
    # (about 0.7-0.8 here against 0.9-0.95 for the prompt bootstrap on the same design).
    cov = simulate.correlation_coverage(100, n_prompts=60, prompt_sd=2.0, resamples=200, seed=0, cluster=False)
    assert (cov["coverage"] < 0.85).all(), cov


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_user_files(tmp_path, capsys):
    df, _ = simulate.simulate_ratings(n_prompts=20, seed=2)
    df.to_csv(tmp_path / "human.csv", index=False)
    df.to_csv(tmp_path / "metric.csv", index=False)
    out = tmp_path / "out"
    code = cli_main(["correlate", str(tmp_path / "human.csv"), str(tmp_path / "metric.csv"), "--human-col",
                     "human", "--metric-col", "metric", "--unit", "video", "vote", "--item-col", "prompt",
                     "--resamples", "50", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "video" in printed and "agreement" in printed
    table = pd.read_csv(out / "correlation_human.csv")
    assert list(table.columns) == C.COLUMNS
    assert (out / "correlation_human.png").stat().st_size > 1000


@pytest.mark.parametrize("argv, reason", [
    (["--unit", "nonsense"], "invalid choice"),
    (["--level", "model"], "the grain of the correlation is --unit"),
    (["--level", "1.5"], "--level is the confidence level, a number in (0, 1)"),
    ([], "give HUMAN.csv and METRIC.csv"),
    (["missing.csv", "also_missing.csv"], "No such file"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, reason, capsys):
    assert cli_main(["correlate", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert reason in err and len(err.splitlines()) == 1


def test_cli_bad_column_exits_2(tmp_path, capsys):
    _ratings().to_csv(tmp_path / "h.csv", index=False)
    pd.DataFrame({"model": ["A"], "score": [1.0]}).to_csv(tmp_path / "m.csv", index=False)
    assert cli_main(["correlate", str(tmp_path / "h.csv"), str(tmp_path / "m.csv"), "--item-col", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert "lack column(s) ['nope']" in err and len(err.splitlines()) == 1


# ---------------------------------------------------------------------------------------------- real cases


def test_case_videobench_vbench():
    need_shared("videobench-human")
    res = C.videobench_vbench(units=("model", "vote"), methods=("spearman",), resamples=100, seed=0)
    models = res.attrs["models"]
    assert len(models) == 7 and models["has_vbench_row"].all()  # all 7 have a published VBench row
    assert set(res["human"]) == {"action", "aesthetic_quality", "color", "imaging_quality", "motion_effects",
                                 "object_class", "scene", "temporal_consistency", "video-text consistency"}
    assert {"vbench:subject_consistency", "vbench:temporal_flickering", "vbench:human_action"} <= set(res["metric"])
    model_rows = res[res["unit"] == "model"]
    assert (model_rows["n"] == 7).all() and model_rows["note"].str.contains("n = 7 models").all()
    assert res["note"].str.contains("kling, pika").all()
    aq = model_rows[(model_rows["human"] == "aesthetic_quality") & (model_rows["method"] == "spearman")].iloc[0]
    assert aq["estimate"] == pytest.approx(5 / 7)  # measured: one ordering away from 0.8
    votes = res[res["unit"] == "vote"]
    assert ((votes["lower"] < votes["estimate"]) & (votes["estimate"] < votes["upper"])).all()
    assert (votes["n_clusters"] < votes["n"]).all()  # prompts are resampled, not judgements


def test_case_videobench_mean_rating_agrees_with_a_direct_computation():
    need_shared("videobench-human")
    from analysis.datasets import published_vbench, videobench_human

    vb = videobench_human("imaging_quality")
    mapping = C.load_mapping("videobench_vbench")
    names = dict(mapping.loc[mapping["kind"] == "model", ["source_name", "target_name"]].to_numpy())
    means = vb.groupby("model")["score"].mean().rename(index=names)
    vbench = published_vbench().set_index("model")["imaging_quality"]
    want = scipy.stats.spearmanr(means, vbench.reindex(means.index)).statistic
    res = C.correlate(vb, published_vbench(), metric_col="imaging_quality", item_cols="item", rater_col="rater",
                      cluster="prompt", human_scale="mean", aliases=names, ci="none")
    assert res["estimate"].iloc[0] == pytest.approx(want)


def test_case_t2vscore():
    need_shared("t2vscore-tvge")
    from analysis.datasets import t2vscore_tvge

    res = C.t2vscore(units=("video", "model"), methods=("spearman",), resamples=50, seed=0)
    df = t2vscore_tvge()
    pooled = res[(res["unit"] == "video") & (res["group"] == "all")].set_index(["human", "metric"])
    assert len(pooled) == 8 and (pooled["n"] == 2543).all()
    for (human, metric), row in pooled.iterrows():
        assert row["estimate"] == pytest.approx(scipy.stats.spearmanr(df[human], df[metric]).statistic)
        assert row["lower"] < row["estimate"] < row["upper"]
    # T2VScore-A is the metric closest to human alignment at the video level, CLIP Score next.
    align = pooled.loc["alignment", "estimate"].sort_values(ascending=False)
    assert list(align.index[:2]) == ["t2vscore_a", "clip_score"]
    groups = res[(res["unit"] == "video")]["group"].unique()
    assert set(groups) == {"all", "floor33", "gen2", "modelscope", "pika", "zeroscope"}
    assert (res.loc[res["unit"] == "model", "n"] == 5).all()


def test_case_genai_arena_vbench():
    need_shared("genai-arena-video")
    res = C.genai_arena_vbench(methods=("spearman",))
    strict = res[(res["human"] == "genai-arena 2025-03-22 elo (strict)") & (res["metric"] == "vbench:total_score")]
    row = strict[strict["method"] == "spearman"].iloc[0]
    assert row["n"] == 6 and row["estimate"] == pytest.approx(1 - 6 * 2 / (6 * 35))  # one adjacent swap
    assert row["ci"] == "fisher" and row["lower"] < row["estimate"] < row["upper"]
    assert "T2V-Turbo" in row["note"] and "Mochi1" in row["note"]  # left out and listed
    broad = res[(res["human"] == "genai-arena 2025-03-22 elo (broad)") & (res["method"] == "spearman")]
    assert (broad["n"] == 9).all()


def test_cli_case_writes_table_and_figure(tmp_path, capsys):
    need_shared("genai-arena-video")
    assert cli_main(["correlate", "--case", "genai-arena-vbench", "--out", str(tmp_path)]) == 0
    table = pd.read_csv(tmp_path / "correlation_genai-arena-vbench.csv")
    assert list(table.columns) == C.COLUMNS and len(table) > 0
    assert (tmp_path / "correlation_genai-arena-vbench.png").stat().st_size > 1000
    assert "genai-arena 2025-03-22" in capsys.readouterr().out


def test_cases_show_and_filter_provenance():
    need_shared("genai-arena-video")
    from analysis.correlation.cases import genai_arena_vbench

    out = genai_arena_vbench()
    assert out["note"].str.contains("sampled / evaluated by").all()
    team = genai_arena_vbench(evaluated_by="VBench Team")
    assert team["note"].str.contains("VBench Team / VBench Team").all()
    assert not team["note"].str.contains("unknown /").any()
    with pytest.raises(C.CorrelationError, match="evaluated_by=.nobody."):
        genai_arena_vbench(evaluated_by="nobody")
