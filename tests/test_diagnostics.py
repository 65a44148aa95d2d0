"""Board audit: each diagnostics table on data built to show (or not show) what it looks for."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import analysis
from analysis import datasets
from analysis.diagnostics import Diagnostics, diagnostics, intransitive_triads
from analysis.simulate import simulate_counts

TABLES = ["tests", "pairs", "calibration", "triads", "graph", "components", "models", "ties", "position"]


def _votes(pairs: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    rows = []
    for a, b, wa, wb in pairs:
        rows += [(a, b, "model_a")] * wa + [(a, b, "model_b")] * wb
    return pd.DataFrame(rows, columns=["model_a", "model_b", "winner"])


def test_all_tables_on_simulated_bradley_terry_votes():
    counts = simulate_counts(8, 20000, tie_rate=0.1, position_bias=30.0, seed=1)
    out = diagnostics(counts)
    assert isinstance(out, Diagnostics) and all(isinstance(getattr(out, t), pd.DataFrame) for t in TABLES)
    tests = out.tests.set_index("test")
    assert (tests.p_value > 0.05).all()
    assert tests.loc["pairs G", "df"] == 28 - 7  # 28 pairs, 7 free strengths
    pairs = out.pairs
    assert len(pairs) == 28 and pairs.n.sum() == 20000
    models = out.models
    assert models.n_battles.sum() == 2 * 20000 and (models.opponents == 7).all()
    ties = out.ties.iloc[0]
    outcome = counts.outcome.astype(str)
    assert ties.ties == counts["count"][outcome.isin(["tie", "tie_bothbad"])].sum()
    assert ties.bothbad == counts["count"][outcome == "tie_bothbad"].sum()
    graph = out.graph.iloc[0]
    assert graph.components == 1 and graph.density == 1.0 and graph.min_degree == 7
    assert graph.algebraic_connectivity == pytest.approx(8.0)  # complete graph K8: lambda_2 = 8
    pos = out.position.iloc[0]
    assert pos.known and pos.first_share > 0.5
    assert pos.advantage_lower < 30.0 < pos.advantage_upper  # the true first-shown advantage, Elo points


def test_a_deliberately_intransitive_triad_is_found_and_fails_the_fit():
    votes = _votes([("a", "b", 45, 15), ("b", "c", 45, 15), ("c", "a", 45, 15), ("a", "d", 30, 30)])
    out = diagnostics(votes)
    triads = out.triads
    assert len(triads) == 1
    row = triads.iloc[0]
    assert (row.model_a, row.model_b, row.model_c) == ("a", "b", "c")
    assert row.score_ab == row.score_bc == row.score_ca == 0.75 and row.min_z > 3
    assert out.graph.complete_triples.iloc[0] == 1 and out.graph.cyclic_triads.iloc[0] == 1
    tests = out.tests.set_index("test")
    assert tests.loc["pairs G", "p_value"] < 1e-6  # no Bradley-Terry board fits a cycle


def test_transitive_votes_have_no_triads():
    votes = _votes([("a", "b", 40, 20), ("b", "c", 40, 20), ("a", "c", 50, 10)])
    assert intransitive_triads(analysis.aggregate(votes)).empty


def test_disconnected_graph_shows_two_components_and_is_not_fitted():
    votes = _votes([("a", "b", 10, 8), ("c", "d", 7, 9), ("e", "c", 5, 5)])
    out = diagnostics(votes)
    graph = out.graph.iloc[0]
    assert graph.components == 2 and graph.algebraic_connectivity == 0.0
    comps = out.components
    assert comps["size"].tolist() == [3, 2] and comps.models.tolist() == ["c, d, e", "a, b"]
    assert set(out.models.component) == {1, 2}
    assert "disconnected" in out.tests.note.iloc[0] and out.pairs.empty
    assert out.summary()["components"] == 2 and np.isnan(out.summary()["p_value (fit)"])


def test_calibration_of_simulated_bradley_terry_passes_the_g_test_most_of_the_time():
    # 20 seeded boards of true Bradley-Terry votes: the 5% test should pass in about 19 of 20.
    passed, pairs_passed = 0, 0
    for seed in range(20):
        counts = simulate_counts(10, 20000, seed=seed)
        out = diagnostics(counts)
        tests = out.tests.set_index("test")
        passed += tests.loc["calibration G", "p_value"] > 0.05
        pairs_passed += tests.loc["pairs G", "p_value"] > 0.05
        cal = out.calibration
        assert cal.trials.sum() == 20000 and ((cal.predicted >= cal.bin_lower) | cal.trials.eq(0)).all()
    assert passed >= 16 and pairs_passed >= 16


def test_calibration_fails_when_votes_are_not_bradley_terry():
    # Scores pulled toward 1/2 in close pairs and pushed to the extremes in mismatches: miscalibrated.
    rng = np.random.default_rng(0)
    strengths = np.linspace(-2, 2, 8)
    rows = []
    for i in range(8):
        for j in range(i + 1, 8):
            d = strengths[i] - strengths[j]
            p = 1 / (1 + np.exp(-3 * np.sign(d) * d**2))  # a steeper-than-logistic link
            wins = rng.binomial(400, p)
            rows += [(f"m{i}", f"m{j}", "win_a", wins), (f"m{i}", f"m{j}", "win_b", 400 - wins)]
    counts = pd.DataFrame(rows, columns=["model_a", "model_b", "outcome", "count"])
    tests = diagnostics(counts).tests.set_index("test")
    assert tests.loc["calibration G", "p_value"] < 0.01
    assert tests.loc["pairs G", "p_value"] < 0.01


def test_position_unknown_when_pairs_are_stored_alphabetically():
    votes = _votes([("a", "b", 30, 20), ("b", "c", 30, 20), ("a", "c", 35, 15)])
    pos = diagnostics(votes).position.iloc[0]
    assert not pos.known and "alphabetical" in pos.note


def test_uses_a_given_fit():
    counts = simulate_counts(5, 3000, tie_rate=0.2, seed=3)
    fit = analysis.rate(counts, ties="davidson", ci="none")
    out = diagnostics(counts, fit)
    # Davidson compares decisive votes: the trials are the decisive votes.
    decisive = counts["count"][counts.outcome.astype(str).isin(["win_a", "win_b"])].sum()
    assert out.calibration.trials.sum() == decisive
    assert out.tests.set_index("test").loc["pairs G", "df"] == 10 - 4 - 1  # minus the tie parameter


def test_chatbot_arena_audit():
    counts = datasets.chatbot_arena_2024_08_14()
    out = diagnostics(counts, rate_options={"recipe": "fastchat"})
    graph = out.graph.iloc[0]
    assert (graph.models, graph.pairs, graph.components) == (129, 3460, 1)
    assert not out.position.known.iloc[0]
    assert out.ties.tie_rate.iloc[0] == pytest.approx(0.345, abs=0.001)
    tests = out.tests.set_index("test")
    # 1.67M votes: with the tie-aware variance, Bradley-Terry is rejected (a known misfit of this board).
    assert tests.loc["pairs chi-square", "p_value"] < 1e-10
    triads = out.triads
    assert 0 < out.graph.cyclic_share.iloc[0] < 0.05 and triads.min_z.max() < 2


def test_diagnostics_result_summary_view_and_concat():
    one = diagnostics(simulate_counts(5, 3000, seed=1))
    two = diagnostics(simulate_counts(6, 3000, seed=2))
    assert one.table is one.tests and list(one.table.test) == ["pairs G", "pairs chi-square", "calibration G"]
    s = one.summary()
    assert s["models"] == 5 and s["votes"] == 3000 and s["components"] == 1
    assert s["p_value (pairs G)"] == one.tests.set_index("test").loc["pairs G", "p_value"]
    html = one._repr_html_()
    assert "<table" in html and "calibration G" in html and "algebraic_connectivity" in html
    both = pd.concat([one.table.assign(board=1), two.table.assign(board=2)], ignore_index=True)
    assert len(both) == 6
    assert len(pd.concat([one.pairs, two.pairs])) == 10 + 15
    with pytest.raises(TypeError, match="rate_options"):
        diagnostics(simulate_counts(4, 500, seed=0), rate_options="fastchat")
