"""Simulator: reproducibility, schema, and that the draws follow the documented generative model.

Statistical checks compare an empirical share with its model probability within 4 standard errors; seeds are
fixed, so each check is deterministic (and would fail by chance with probability about 6e-5 for a fresh seed).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats
from scipy.sparse.csgraph import connected_components

from analysis.simulate import (
    OUTCOMES,
    PAIRINGS,
    WINNERS,
    SimulationError,
    simulate_arena,
    simulate_counts,
    simulate_from_board,
    true_ratings,
)


def bt_prob(diff: float, scale: float = 400.0, base: float = 10.0) -> float:
    """P(first beats second) for a rating difference ``diff`` in Elo points."""
    return 1.0 / (1.0 + base ** (-diff / scale))


def within(successes: int, n: int, p: float, z: float = 4.0) -> bool:
    return abs(successes / n - p) <= z * math.sqrt(p * (1 - p) / n)


# ---------------------------------------------------------------------------------------------- basics


def test_same_seed_same_frame_and_different_seed_differs():
    kw = dict(tie_rate=0.1, n_voters=50, voter_sd=30.0, n_prompts=20, start="2024-03-01", pairing="adaptive")
    one = simulate_arena(6, 5000, seed=7, **kw)
    two = simulate_arena(6, 5000, seed=7, **kw)
    pd.testing.assert_frame_equal(one, two)
    assert one.attrs == two.attrs
    other = simulate_arena(6, 5000, seed=8, **kw)
    assert not one["winner"].equals(other["winner"])
    assert true_ratings(one).ne(true_ratings(other)).any()


def test_adding_voters_does_not_change_pairs_or_outcomes():
    # Separate random streams: asking for voter ids (without voter effects) must not shift anything else.
    plain = simulate_arena(5, 3000, tie_rate=0.2, seed=3)
    voters = simulate_arena(5, 3000, tie_rate=0.2, n_voters=40, seed=3)
    pd.testing.assert_frame_equal(plain, voters.drop(columns="voter_id"))


def test_schema_and_attrs():
    df = simulate_arena(12, 4000, n_voters=30, n_prompts=10, start="2024-01-01", freq="1min", seed=1)
    assert list(df.columns) == ["model_a", "model_b", "winner", "voter_id", "prompt_id", "timestamp"]
    names = [f"m{i:02d}" for i in range(12)]
    assert list(df["model_a"].cat.categories) == names
    assert list(df["model_b"].cat.categories) == names
    assert list(df["winner"].cat.categories) == list(WINNERS)
    assert df["voter_id"].dtype == np.int64 and df["prompt_id"].dtype == np.int64
    assert df["voter_id"].between(0, 29).all() and df["prompt_id"].between(0, 9).all()
    assert str(df["timestamp"].dt.tz) == "UTC"
    assert (df["timestamp"].diff().dropna() == pd.Timedelta("1min")).all()
    truth = true_ratings(df)
    assert list(truth.index) == names
    assert truth.mean() == pytest.approx(1000.0)
    assert truth.std() > 20  # drawn from N(1000, 100^2), not constant
    params = df.attrs["params"]
    assert params["n_votes"] == 4000 and params["seed"] == 1 and params["pairing"] == "uniform"


def test_schema_matches_the_vote_layer():
    from analysis.votes import aggregate, read_votes

    df = simulate_arena(5, 2000, tie_rate=0.2, seed=2)
    read = read_votes(df)
    for col in ("model_a", "model_b", "winner"):
        assert read[col].dtype == df[col].dtype
        assert (read[col].astype(str) == df[col].astype(str)).all()
    agg = aggregate(df)
    counts = simulate_counts(5, 2000, tie_rate=0.2, seed=2)
    assert list(agg.columns) == list(counts.columns)
    for col in agg.columns:
        assert agg[col].dtype == counts[col].dtype, col


def test_given_ratings_names_sorted_and_recentred():
    ratings = {"zeta": 1300.0, "alpha": 1100.0, "mid": 1200.0}
    df = simulate_arena(None, 100, ratings=ratings, init=1500, seed=0)
    assert list(df["model_a"].cat.categories) == ["alpha", "mid", "zeta"]
    assert true_ratings(df).to_dict() == pytest.approx({"alpha": 1400.0, "mid": 1500.0, "zeta": 1600.0})
    assert df.attrs["params"]["ratings"] == "given"


def test_concat_of_columns_keeps_working():
    # pandas compares attrs with == in concat; the truth is a plain dict so that this does not raise.
    df = simulate_arena(4, 200, seed=0)
    both = pd.concat([df["model_a"], df["model_b"]])
    assert len(both) == 400
    pd.concat([df, df[df["winner"] == "tie"]])


@pytest.mark.parametrize("pairing", PAIRINGS)
def test_no_self_battles_and_balanced_exposure(pairing):
    df = simulate_arena(15, 30000, pairing=pairing, seed=4)
    assert (df["model_a"].cat.codes != df["model_b"].cat.codes).all()
    appearances = np.bincount(df["model_a"].cat.codes, minlength=15) + np.bincount(df["model_b"].cat.codes,
                                                                                   minlength=15)
    # Equal expected exposure by default in every scheme (adaptive only approximately).
    tolerance = 0.25 if pairing == "adaptive" else 0.1
    assert np.abs(appearances / appearances.mean() - 1).max() < tolerance


# ---------------------------------------------------------------------------------------------- outcomes


def test_two_model_win_rate_matches_bradley_terry():
    n = 20000
    df = simulate_arena(2, n, ratings=[1000.0, 1100.0], model_names=["weak", "strong"], seed=11)
    strong_wins = int((((df["model_a"] == "strong") & (df["winner"] == "model_a"))
                       | ((df["model_b"] == "strong") & (df["winner"] == "model_b"))).sum())
    assert within(strong_wins, n, bt_prob(100.0))


def test_fixed_tie_rate_and_bothbad_share():
    n = 20000
    df = simulate_arena(4, n, ratings=[900, 1000, 1100, 1300], tie_rate=0.25, bothbad_share=0.3, seed=5)
    ties = int(df["winner"].isin(["tie", "tie (bothbad)"]).sum())
    assert within(ties, n, 0.25)
    assert within(int((df["winner"] == "tie (bothbad)").sum()), ties, 0.3)


def test_davidson_ties_thin_out_with_the_gap():
    n, t = 20000, 0.3
    nu = 2 * t / (1 - t)
    equal = simulate_arena(2, n, ratings=[1000, 1000], tie_rate=t, tie_model="davidson", seed=6)
    assert within(int(equal["winner"].isin(["tie", "tie (bothbad)"]).sum()), n, t)
    # A 400-point gap: d = ln 10, P(tie) = nu / (e^{d/2} + e^{-d/2} + nu).
    apart = simulate_arena(2, n, ratings=[1000, 1400], tie_rate=t, tie_model="davidson", seed=6)
    half = math.sqrt(10.0)
    assert within(int(apart["winner"].isin(["tie", "tie (bothbad)"]).sum()), n, nu / (half + 1 / half + nu))
    assert apart.attrs["params"]["davidson_nu"] == pytest.approx(nu)


def test_position_bias_shows_in_model_a_share():
    n = 20000
    df = simulate_arena(3, n, ratings=[1000, 1000, 1000], position_bias=100.0, seed=9)
    assert within(int((df["winner"] == "model_a").sum()), n, bt_prob(100.0))


def test_voter_effects_make_votes_cluster():
    # Two equal models: with voter tastes, each voter's win share for m1 is overdispersed across voters.
    def dispersion(voter_sd: float) -> float:
        df = simulate_arena(2, 40000, ratings=[1000, 1000], n_voters=200, voter_sd=voter_sd,
                            zipf_exponent=0.5, seed=12)
        m1_wins = ((df["model_a"] == "m1") & (df["winner"] == "model_a")) | (
            (df["model_b"] == "m1") & (df["winner"] == "model_b"))
        per_voter = pd.DataFrame({"v": df["voter_id"], "w": m1_wins}).groupby("v")["w"].agg(["sum", "count"])
        expected = per_voter["count"] * 0.5
        return float((((per_voter["sum"] - expected) ** 2) / (expected * 0.5)).sum() / (len(per_voter) - 1))

    assert dispersion(0.0) < 1.3
    assert dispersion(150.0) > 3.0


def test_voter_ids_are_zipf_like():
    df = simulate_arena(4, 20000, n_voters=1000, seed=13)
    counts = df["voter_id"].value_counts()
    assert counts.index[0] == 0  # id 0 is the most active voter
    assert counts.iloc[:10].sum() > 0.25 * len(df)  # a few voters cast many votes


# ---------------------------------------------------------------------------------------------- pairing


@pytest.mark.parametrize("width", [1, 3])
def test_sparse_graph_is_connected_and_local(width):
    k = 30
    df = simulate_arena(k, 20000, pairing="sparse", neighbours=width, seed=14)
    a, b = df["model_a"].cat.codes.to_numpy(), df["model_b"].cat.codes.to_numpy()
    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(k, k)).tocsr()
    n_components, _ = connected_components(graph, directed=False)
    assert n_components == 1
    # Each model meets exactly 2 * width opponents, all within 2 * width rating ranks.
    opponents = ((graph + graph.T) > 0).sum(axis=1)
    assert (np.asarray(opponents).ravel() == 2 * width).all()
    rank = true_ratings(df).rank(method="first").to_numpy()
    assert np.abs(rank[a] - rank[b]).max() <= 2 * width


def test_uniform_pair_counts_are_uniform():
    k, n = 6, 30000
    df = simulate_arena(k, n, seed=15)
    cells = pd.crosstab(df["model_a"], df["model_b"]).to_numpy()
    observed = cells[~np.eye(k, dtype=bool)]
    assert len(observed) == k * (k - 1)
    assert stats.chisquare(observed).pvalue > 1e-3


def test_adaptive_prefers_close_matches():
    def mean_gap(df: pd.DataFrame) -> float:
        r = true_ratings(df).to_numpy()
        return float(np.abs(r[df["model_a"].cat.codes] - r[df["model_b"].cat.codes]).mean())

    uniform = mean_gap(simulate_arena(20, 20000, pairing="uniform", seed=16))
    assert mean_gap(simulate_arena(20, 20000, pairing="adaptive", seed=16)) < 0.95 * uniform
    assert mean_gap(simulate_arena(20, 20000, pairing="adaptive", closeness=40.0, seed=16)) < 0.6 * uniform


def test_model_weights_set_exposure():
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    df = simulate_arena(5, 60000, model_weights=weights, seed=17)
    appearances = np.bincount(df["model_a"].cat.codes, minlength=5) + np.bincount(df["model_b"].cat.codes,
                                                                                  minlength=5)
    np.testing.assert_allclose(appearances / appearances.sum(), weights / weights.sum(), atol=0.01)


def test_unreachable_exposure_on_a_sparse_ring_warns_but_stays_connected():
    k = 12
    weights = np.r_[8.0, np.ones(k - 1)]  # one model in 84% of battles: impossible with 2 opponents
    with pytest.warns(RuntimeWarning, match="cannot give every model its requested share"):
        df = simulate_arena(k, 20000, pairing="sparse", neighbours=1, model_weights=weights, seed=21)
    a, b = df["model_a"].cat.codes.to_numpy(), df["model_b"].cat.codes.to_numpy()
    graph = sparse.coo_matrix((np.ones(len(a)), (a, b)), shape=(k, k))
    assert connected_components(graph, directed=False)[0] == 1


# ------------------------------------------------------------------------------------------ counts, boards


def test_counts_schema_total_and_truth():
    counts = simulate_counts(8, 50000, tie_rate=0.1, seed=18)
    assert list(counts.columns) == ["model_a", "model_b", "outcome", "count"]
    assert list(counts["outcome"].cat.categories) == list(OUTCOMES)
    assert counts["count"].dtype == np.int64 and (counts["count"] > 0).all()
    assert int(counts["count"].sum()) == 50000
    assert (counts["model_a"].cat.codes != counts["model_b"].cat.codes).all()
    # Same seed, same truth as the battle simulator.
    assert true_ratings(counts).equals(true_ratings(simulate_arena(8, 10, tie_rate=0.1, seed=18)))


def test_counts_follow_bradley_terry_and_scale_to_huge_n():
    n = 10**9
    counts = simulate_counts(2, n, ratings=[1000.0, 1100.0], position_bias=30.0, seed=19)
    by = counts.set_index(["model_a", "model_b", "outcome"], drop=True)["count"]
    first_strong = by.loc[("m1", "m0")]
    assert within(int(first_strong["win_a"]), int(first_strong.sum()), bt_prob(130.0))
    first_weak = by.loc[("m0", "m1")]
    assert within(int(first_weak["win_a"]), int(first_weak.sum()), bt_prob(-70.0))


def test_from_board_uses_ratings_and_appearances():
    board = pd.DataFrame({"model": ["veo", "kling", "sora", "wan"], "elo": [1250.0, 1200.0, 1150.0, 1050.0],
                          "appearances": [4000, 3000, 2000, 1000]})
    df = simulate_from_board(board, 50000, seed=20, tie_rate=0.05)
    assert true_ratings(df).to_dict() == pytest.approx(dict(zip(board["model"], board["elo"], strict=True)))
    seen = (pd.concat([df["model_a"], df["model_b"]]).value_counts(normalize=True)
            .reindex(board["model"]).to_numpy())
    np.testing.assert_allclose(seen, board["appearances"] / board["appearances"].sum(), atol=0.01)
    counts = simulate_from_board(board, 1000, seed=20, counts=True, pairing="adaptive")
    assert int(counts["count"].sum()) == 1000
    with pytest.raises(SimulationError, match=r"missing column\(s\) \['rating'\]"):
        simulate_from_board(board.drop(columns="elo"), 10)
    with pytest.raises(SimulationError, match="from the board"):
        simulate_from_board(board, 10, init=0.0)


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(n_models=1), r"n_models must be an integer >= 2"),
        (dict(tie_rate=1.0), r"tie_rate must lie in \[0, 1\)"),
        (dict(tie_rate=-0.1), r"tie_rate must lie in \[0, 1\)"),
        (dict(ratings=[1000.0, 1100.0]), r"ratings has 2 values for n_models=4"),
        (dict(pairing="swiss"), r"unknown pairing 'swiss'; valid: 'uniform', 'adaptive', 'sparse'"),
        (dict(tie_model="rao"), r"unknown tie_model 'rao'; valid: 'fixed', 'davidson'"),
        (dict(voter_sd=10.0), r"voter_sd=10.0 needs n_voters"),
        (dict(model_names=["a", "b", "a", "c"]), r"model names must be unique; repeated: \['a'\]"),
        (dict(n_votes=-5), r"n_votes must be a non-negative integer"),
        (dict(model_weights=[10.0, 0.1, 0.1, 0.1]), r"at most 50% is possible"),
        (dict(pairing="sparse", neighbours=0), r"neighbours must be an integer >= 1"),
    ],
)
def test_input_errors_are_named(kwargs, message):
    args = dict(n_models=4, n_votes=100) | kwargs
    with pytest.raises(SimulationError, match=message):
        simulate_arena(args.pop("n_models"), args.pop("n_votes"), **args)
