"""Reproducing published boards: matching, agreement measures, the report, the CLI, and the real cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis import aa, datasets
from analysis.cli import main as cli_main
from analysis.reproduce import (
    Reproduction,
    compare_to_published,
    kendall_interval,
    match_models,
    summary_table,
    write_report,
)
from analysis.simulate import simulate_counts, simulate_from_board
from tests.conftest import need_shared

TRUTH = {"alpha": 1250.0, "beta": 1200.0, "gamma": 1150.0, "delta": 1100.0, "eps": 1050.0, "zeta": 1000.0}


@pytest.fixture(scope="module")
def fitted():
    counts = simulate_counts(None, 30000, ratings=TRUTH, model_names=list(TRUTH), seed=3)
    return analysis.rate(counts, ci="sandwich", seed=0)


def _published(shift: float = 0.0) -> pd.DataFrame:
    # Published names differ in case for one model and entirely for another; one published model is not ours.
    names = {"alpha": "Alpha", "beta": "B-model", "gamma": "gamma", "delta": "delta", "eps": "eps", "zeta": "zeta"}
    rows = [{"name": names[m], "elo": r + shift, "ci_lower": r + shift - 12, "ci_upper": r + shift + 12}
            for m, r in TRUTH.items() if m != "zeta"]
    rows.append({"name": "omega", "elo": 900.0, "ci_lower": 890.0, "ci_upper": 910.0})
    return pd.DataFrame(rows)


def test_matching_alias_exact_and_case():
    got = match_models(["alpha", "beta", "Gamma X"], ["Alpha", "B-model", "gamma x", "nope"], {"B-model": "beta"})
    assert got["match"].tolist() == ["case", "alias", "case", "none"]
    assert got["model"].tolist()[:3] == ["alpha", "beta", "Gamma X"] and pd.isna(got["model"].iloc[3])
    with pytest.raises(KeyError, match="not on our board"):
        match_models(["alpha"], ["A"], {"A": "alfa"})


def test_compare_to_published_measures_agreement_after_alignment(fitted):
    rep = compare_to_published(fitted, _published(shift=37.0), aliases={"B-model": "beta"})
    table, s = rep.table, rep.agreement
    assert s["n_matched"] == 5 and rep.unmatched_published == ["omega"] and rep.unmatched_ours == ["zeta"]
    assert table.status.tolist() == ["matched"] * 5 + ["only published", "only ours"]
    assert s["anchor"] == "mean"  # our board is in the mean gauge
    m = table[table.status == "matched"]
    # Aligned by the mean difference: the offset of 37 points (plus the gauge) is removed.
    ours = m.set_index("model").rating
    expected_shift = np.mean([TRUTH[k] + 37 for k in ours.index]) - ours.mean()
    assert s["shift"] == pytest.approx(expected_shift)
    assert s["max_abs_diff"] < 10 and s["mean_abs_diff"] < 6
    assert s["kendall_tau"] == pytest.approx(1.0) and s["spearman"] == pytest.approx(1.0) and s["same_top"]
    assert s["share_inside"] == 1.0 and s["share_overlap"] == 1.0
    assert (m.rank_change == 0).all()
    assert set(summary_table(rep).statistic) >= {"kendall_tau", "max_abs_diff", "share_inside"}


def test_rank_changes_and_anchor_alignment(fitted):
    pub = _published()
    pub.loc[pub.name == "gamma", "elo"] = 1260.0  # published gamma above alpha
    rep = compare_to_published(fitted, pub, aliases={"B-model": "beta"}, anchor="delta")
    m = rep.table[rep.table.status == "matched"].set_index("model")
    assert m.loc["gamma", "rank_change"] == -2  # published places it 2 ranks higher than we do
    assert m.loc["delta", "diff"] == pytest.approx(0.0)
    assert rep.agreement["kendall_tau"] < 1 and rep.agreement["anchor"] == "delta"
    assert not m.loc["gamma", "inside"]
    with pytest.raises(TypeError, match="anchor="):
        compare_to_published(fitted, pub, aliases={"B-model": "beta"}, align="delta")
    with pytest.raises(TypeError, match="anchor="):
        analysis.reproduce.reproduce(fitted.board, pub, align="mean")


def test_kendall_interval_methods():
    x = np.arange(30, dtype=float)
    y = x + np.random.default_rng(0).normal(0, 8, 30)
    tau, lo, hi, p = kendall_interval(x, y)
    assert lo < tau < hi and p < 0.001
    tau_b, lo_b, hi_b, _ = kendall_interval(x, y, method="bootstrap", resamples=300)
    assert tau_b == tau and lo_b < tau < hi_b
    assert math.isnan(kendall_interval(x[:3], y[:3])[1])  # too few models for an interval


def test_errors_name_the_problem(fitted):
    with pytest.raises(KeyError, match="rating column"):
        compare_to_published(fitted, pd.DataFrame({"model": ["alpha"], "votes": [3]}))
    with pytest.raises(KeyError, match="model column"):
        compare_to_published(fitted, pd.DataFrame({"who": ["alpha"], "rating": [1.0]}))
    with pytest.raises(ValueError, match="no published model matches"):
        compare_to_published(fitted, pd.DataFrame({"model": ["x", "y"], "rating": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="more than once"):
        compare_to_published(fitted, pd.DataFrame({"model": ["alpha", "alpha"], "rating": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="unknown data set"):
        compare_to_published(fitted, "no-such-board")


def test_alias_files(fitted, tmp_path):
    csv = tmp_path / "aliases.csv"
    pd.DataFrame({"ours": ["beta"], "published": ["B-model"]}).to_csv(csv, index=False)
    js = tmp_path / "aliases.json"
    js.write_text(json.dumps({"B-model": "beta"}))
    for path in (csv, js):
        s = compare_to_published(fitted, _published(), aliases=path).agreement
        assert s["n_matched"] == 5


@pytest.mark.parametrize("suffix", [".html", ".md"])
def test_report_is_self_contained(fitted, tmp_path, suffix):
    rep = compare_to_published(fitted, _published(), aliases={"B-model": "beta"})
    path = write_report(rep, tmp_path / f"report{suffix}", context=["source: simulated"])
    text = path.read_text()
    assert "data:image/png;base64," in text and "Kendall tau" in text and "omega" in text
    assert "source: simulated" in text and "kendall_tau" in text
    assert "http://" not in text and "https://" not in text
    with pytest.raises(ValueError, match="html or .md"):
        write_report(rep, tmp_path / "report.pdf")
    with pytest.raises(TypeError, match="Reproduction"):
        write_report(rep.table, tmp_path / f"again{suffix}")


def test_reproduction_result_summary_view_and_concat(fitted):
    one = compare_to_published(fitted, _published(), aliases={"B-model": "beta"})
    two = compare_to_published(fitted, _published(shift=10.0), aliases={"B-model": "beta"}, anchor="delta")
    assert isinstance(one, Reproduction) and one.context == ()
    s = one.summary()
    assert isinstance(s, pd.Series) and s["n_matched"] == 5 and s["kendall_tau"] == one.agreement["kendall_tau"]
    assert list(summary_table(one).statistic) == list(s.index)
    html = one._repr_html_()
    assert "<table" in html and "kendall_tau" in html and "published_model" in html
    assert "Kendall tau" in str(one) and "unmatched published: omega" in str(one)
    both = pd.concat([one.table.assign(run=1), two.table.assign(run=2)], ignore_index=True)
    assert len(both) == 14 and all(isinstance(v, str) for v in both.attrs.values())


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_reproduces_and_exits_2_on_bad_input(tmp_path, capsys):
    votes = simulate_counts(None, 5000, ratings=TRUTH, model_names=list(TRUTH), seed=5)
    battles = analysis.expand_counts(votes)
    vpath = tmp_path / "votes.csv"
    battles.to_csv(vpath, index=False)
    pub = pd.DataFrame({"model": list(TRUTH), "rating": list(TRUTH.values())})
    ppath = tmp_path / "published.csv"
    pub.to_csv(ppath, index=False)
    out = tmp_path / "r.md"
    rc = cli_main(["reproduce", str(vpath), str(ppath), "--recipe", "arena-rank", "--out", str(out)])
    printed = capsys.readouterr().out
    assert rc == 0 and out.exists()
    assert "Kendall tau 1.000" in printed and "unmatched published: none" in printed

    pub[["model"]].assign(votes=1).to_csv(ppath, index=False)
    assert cli_main(["reproduce", str(vpath), str(ppath), "--recipe", "arena-rank", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "rating column" in err and len(err.strip().splitlines()) == 1
    pub.to_csv(ppath, index=False)
    assert cli_main(["reproduce", "no-such-dataset", str(ppath), "--out", str(out)]) == 2
    assert "unknown data set" in capsys.readouterr().err
    assert cli_main(["reproduce", str(vpath), str(ppath), "--recipe", "nope", "--out", str(out)]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
    assert cli_main(["reproduce", str(vpath), str(ppath), "--align", "mean", "--out", str(out)]) == 2
    assert "--anchor" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- real cases


def test_chatbot_arena_2024_08_14_with_the_fastchat_recipe(tmp_path):
    published = datasets.published_chatbot_arena_2024_08_14()
    rep = analysis.reproduce.reproduce("chatbot-arena-2024-08-14", published, recipe="fastchat",
                                       alias_column="leaderbot_name", rate_options={"resamples": 50, "seed": 0},
                                       out=tmp_path / "cba.html")
    s = rep.agreement
    assert s["n_matched"] == 3 and rep.unmatched_published == [] and s["same_top"]
    assert s["anchor"] == "none"  # both boards anchor mixtral-8x7b-instruct-v0.1 at 1114
    assert rep.context[0].startswith("source: chatbot-arena-2024-08-14; recipe fastchat")
    top = rep.table[rep.table.status == "matched"].set_index("model")
    assert top.loc["chatgpt-4o-latest", "rank"] == 1
    assert abs(top.loc["chatgpt-4o-latest", "rating"] - 1314) <= 2  # measured 1315.2
    assert s["kendall_tau"] == pytest.approx(1.0) and s["max_abs_diff"] <= 2
    assert (tmp_path / "cba.html").exists()


def test_aa_marginal_refit_recovers_the_board_only_partly():
    pub = datasets.published_aa_t2v_2026_04_30()
    refit = aa.marginal_refit(pub)
    # Measured on 2026-04-30 text-to-video: tau 0.647, Spearman 0.81, slope 0.54 (the refit compresses the scale).
    assert refit.attrs["kendall_tau"] == pytest.approx(0.65, abs=0.03)
    assert refit.attrs["scale_ratio"] < 0.8
    assert refit.set_index("model").loc["Mochi 1", "refit"] == 1000.0
    # The top model is still found, the rest of the order is not.
    assert refit.model.iloc[0] == "HappyHorse-1.0"
    rep = compare_to_published(refit.rename(columns={"refit": "rating", "refit_rank": "rank"}), pub)
    assert rep.agreement["kendall_tau"] == pytest.approx(refit.attrs["kendall_tau"])


def test_aa_marginal_refit_is_exact_when_the_pairing_is_balanced():
    # Votes simulated with exactly the balanced pairing: the marginals then carry everything.
    board = pd.DataFrame({"model": list("abcdef"), "rating": [1300, 1250, 1180, 1100, 1050, 1000],
                          "appearances": [6000, 5000, 4000, 4000, 3000, 2000]})
    sim = simulate_from_board(board, 400_000, counts=True, seed=1)
    rec = analysis.record(sim)
    marg = pd.DataFrame({"model": list("abcdef"), "appearances": rec.loc[list("abcdef"), "n_battles"].to_numpy(),
                         "wins": rec.loc[list("abcdef"), "wins"].to_numpy(), "elo": board.rating})
    refit = aa.marginal_refit(marg, anchor={"f": 1000.0})
    assert refit.attrs["kendall_tau"] == pytest.approx(1.0)
    assert refit.attrs["scale_ratio"] == pytest.approx(1.0, abs=0.05)


def test_aa_snapshots_over_time_and_the_vote_reset():
    need_shared("aa-video-arena")
    snaps = datasets.aa_video_arena()
    taus = aa.refit_over_time(snaps[snaps.date.isin(pd.to_datetime(["2026-04-10", "2026-05-14"]))])
    t2v = taus[taus.modality == "text-to-video"]
    assert ((t2v.kendall_tau > 0.6) & (t2v.kendall_tau < 0.7)).all()
    resets = aa.vote_resets(snaps)
    assert set(resets.date.dt.strftime("%Y-%m-%d")) == {"2026-05-01"}
    hh = resets[(resets.model == "HappyHorse-1.0") & (resets.modality == "text-to-video")].iloc[0]
    assert (hh.before, hh.after) == (16982, 8278)
    widths = aa.interval_vs_appearances(snaps)
    # Published half-widths barely shrink with appearances (exponent near 0, not -1/2).
    assert widths.exponent.median() > -0.2


def test_happyhorse_like_simulated_board_is_reproduced_with_the_aa_recipe():
    pub = datasets.published_aa_t2v_2026_04_30()
    votes = int(pub.appearances.sum() // 2)
    sim = simulate_from_board(pub, votes, rating_col="elo", counts=True, seed=0)
    board = analysis.leaderboard(sim, recipe="aa", ci="sandwich", seed=0)
    assert board.attrs["anchor"] == "Mochi 1"
    s = compare_to_published(board, pub).agreement
    assert s["n_matched"] == 80 and s["anchor"] == "none"
    assert s["kendall_tau"] > 0.9 and s["tau_lower"] > 0.85
    assert s["share_inside"] > 0.85  # the truth inside our 95% intervals
    top = board.iloc[0]
    assert top.model == "HappyHorse-1.0" and top.rank_ub == 1


def test_provenance_travels_beside_each_published_number(fitted, tmp_path):
    pub = _published().assign(sampled_by=["VBench Team"] * 3 + ["model's team"] * 3,
                              evaluated_by="VBench Team", sample_size=["", "", "100", "100", "100", "7"])
    rep = compare_to_published(fitted, pub, aliases={"B-model": "beta"})
    row = rep.table.set_index("published_model").loc["Alpha"]
    assert row["sampled_by"] == "VBench Team" and row["evaluated_by"] == "VBench Team"
    assert rep.table.set_index("published_model").loc["delta", "sampled_by"] == "model's team"
    text = write_report(rep, tmp_path / "r.md").read_text()
    assert "sampled_by" in text and "model's team" in text
    # Filtering by provenance is filtering the published table.
    only_team = compare_to_published(fitted, pub[pub["sampled_by"] == "VBench Team"], aliases={"B-model": "beta"})
    assert only_team.agreement["n_matched"] == 3
