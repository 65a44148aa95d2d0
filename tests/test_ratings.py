"""The rating engine against closed forms, direct likelihoods, peers (choix, scipy) and simulated truth."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.optimize

import analysis as A
from analysis import bt, intervals
from analysis.simulate import simulate_arena, simulate_counts, true_ratings

FACTOR = 400 / math.log(10)


def two_model_counts(w, l, t, bothbad=0):
    return pd.DataFrame({"model_a": ["a"] * 4, "model_b": ["b"] * 4,
                         "outcome": ["win_a", "win_b", "tie", "tie_bothbad"], "count": [w, l, t, bothbad]})


def small_counts(seed=0, k=6, n=6000, tie_rate=0.2, **kw):
    return simulate_counts(k, n, tie_rate=tie_rate, seed=seed, **kw)


# ---------------------------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("w,l,t", [(30, 10, 0), (30, 10, 8), (7, 13, 5)])
def test_two_model_half_ties_closed_form(w, l, t):
    board = A.leaderboard(two_model_counts(w, l, t), ci="none")
    gap = board.set_index("model")["rating"]
    want = 400 * math.log10((w + t / 2) / (l + t / 2))
    assert gap["a"] - gap["b"] == pytest.approx(want, abs=1e-9)
    assert gap.mean() == pytest.approx(1000)


def test_two_model_drop_davidson_rao_kupper_closed_forms():
    w, l, t = 40, 16, 24
    n = w + l + t
    drop = A.rate(two_model_counts(w, l, t), ties="drop", ci="none")
    assert np.ptp(drop.ratings) == pytest.approx(400 * math.log10(w / l), abs=1e-9)
    dav = A.rate(two_model_counts(w, l, t), ties="davidson", ci="none")
    # Saturated model: P(a)/P(b) = e^d and nu = t / sqrt(w l).
    assert np.ptp(dav.ratings) == pytest.approx(400 * math.log10(w / l), abs=1e-8)
    assert dav.board.attrs["tie_param"]["estimate"] == pytest.approx(t / math.sqrt(w * l), rel=1e-9)
    rk = A.rate(two_model_counts(w, l, t), ties="rao-kupper", ci="none")
    la, lb = scipy.special.logit(w / n), scipy.special.logit(l / n)
    assert np.ptp(rk.ratings) / FACTOR == pytest.approx((la - lb) / 2, abs=1e-9)
    assert rk.board.attrs["tie_param"]["estimate"] == pytest.approx(-(la + lb) / 2, rel=1e-9)


def test_bothbad_counts_as_tie_unless_dropped():
    with_tie = A.rate(two_model_counts(30, 10, 0, bothbad=10), ci="none")
    assert np.ptp(with_tie.ratings) == pytest.approx(400 * math.log10(35 / 15), abs=1e-9)
    dropped = A.rate(two_model_counts(30, 10, 0, bothbad=10), ci="none", bothbad="drop")
    assert np.ptp(dropped.ratings) == pytest.approx(400 * math.log10(3), abs=1e-9)


# ---------------------------------------------------------------------------------------------- direct likelihoods


def direct_loglik(theta, tau, counts, rule, gamma=0.0):
    """Log-likelihood summed vote by vote from the textbook probabilities (no shared code with the engine)."""
    idx = {m: i for i, m in enumerate(sorted(set(counts.model_a) | set(counts.model_b)))}
    total = 0.0
    for row in counts.itertuples():
        d = theta[idx[row.model_a]] - theta[idx[row.model_b]] + gamma
        pa_, pb_ = math.exp(d / 2), math.exp(-d / 2)
        if rule == "davidson":
            nu = math.exp(tau)
            z = pa_ + pb_ + nu
            probs = {"win_a": pa_ / z, "win_b": pb_ / z, "tie": nu / z, "tie_bothbad": nu / z}
        else:
            eta = math.exp(tau)
            pa = 1 / (1 + math.exp(-(d - eta)))
            pb = 1 / (1 + math.exp(-(-d - eta)))
            probs = {"win_a": pa, "win_b": pb, "tie": 1 - pa - pb, "tie_bothbad": 1 - pa - pb}
        total += row.count * math.log(probs[row.outcome])
    return total


@pytest.mark.parametrize("rule", ["davidson", "rao-kupper"])
def test_tie_models_match_direct_likelihood_and_are_maxima(rule):
    counts = small_counts(seed=4, k=5, n=3000, tie_rate=0.3, tie_model="davidson")
    table = bt.pair_table(counts)
    fit = bt.fit_bt(table, ties=rule)
    assert fit.grad_norm <= 1e-10
    assert fit.loglik == pytest.approx(direct_loglik(fit.theta, fit.tau, counts, rule), rel=1e-12)
    # Any small move of any parameter lowers the direct likelihood.
    rng = np.random.default_rng(0)
    for _ in range(5):
        dt, dtau = rng.normal(0, 1e-3, 5), rng.normal(0, 1e-3)
        assert direct_loglik(fit.theta + dt, fit.tau + dtau, counts, rule) < fit.loglik


def test_davidson_recovers_simulated_tie_parameter():
    counts = simulate_counts(6, 200_000, tie_rate=0.25, tie_model="davidson", seed=3)
    board = A.leaderboard(counts, ties="davidson", ci="sandwich")
    tp = board.attrs["tie_param"]
    assert tp["lower"] < 2 * 0.25 / 0.75 < tp["upper"]


# ---------------------------------------------------------------------------------------------- peers


def test_matches_choix_and_independent_scipy_mle():
    choix = pytest.importorskip("choix")
    counts = small_counts(seed=1, k=7, n=5000)
    board = A.rate(counts, ci="none")
    k = len(board.models)
    idx = {m: i for i, m in enumerate(board.models)}
    wins = np.zeros((k, k))
    for row in counts.itertuples():
        a, b = idx[row.model_a], idx[row.model_b]
        if row.outcome == "win_a":
            wins[a, b] += row.count
        elif row.outcome == "win_b":
            wins[b, a] += row.count
        else:
            wins[a, b] += row.count / 2
            wins[b, a] += row.count / 2
    ours = (board.ratings - board.ratings.mean())
    theirs = choix.ilsr_pairwise_dense(wins, tol=1e-14, max_iter=10_000)
    np.testing.assert_allclose(ours, (theirs - theirs.mean()) * FACTOR, atol=1e-6)

    def nll(theta):
        d = theta[:, None] - theta[None, :]
        return -(wins * -np.logaddexp(0, -d)).sum()

    def grad(theta):
        p = 1 / (1 + np.exp(-(theta[:, None] - theta[None, :])))
        g = wins * (1 - p)
        return -(g.sum(1) - g.sum(0))

    res = scipy.optimize.minimize(nll, np.zeros(k), jac=grad, method="BFGS", options={"gtol": 1e-11, "maxiter": 10_000})
    np.testing.assert_allclose(ours, (res.x - res.x.mean()) * FACTOR, atol=1e-6)


# ---------------------------------------------------------------------------------------------- simulated truth


def test_recovers_simulated_ratings():
    # Ties independent of strength ("fixed" ties) leave decisive votes exactly Bradley-Terry: drop them.
    sim = simulate_arena(8, 200_000, tie_rate=0.15, seed=11)
    board = A.leaderboard(sim, ci="sandwich", ties="drop").set_index("model")
    truth = true_ratings(sim)
    z = (board["rating"] - truth.reindex(board.index)) / board["se"]
    assert np.abs(z).max() < 4
    assert list(board.index) == list(truth.sort_values(ascending=False).index)


def test_bootstrap_intervals_cover_about_95_percent():
    hits, total = 0, 0
    for rep in range(60):
        counts = simulate_counts(5, 3000, ratings=[1000, 1040, 1080, 960, 920], seed=100 + rep)
        board = A.leaderboard(counts, resamples=200, seed=rep, device="cpu").set_index("model")
        t = true_ratings(counts).reindex(board.index)
        inside = (board["lower"] <= t) & (t <= board["upper"])
        hits += int(inside.sum())
        total += len(inside)
    assert 0.88 <= hits / total <= 0.99


def test_batched_refit_equals_individual_fits():
    import torch

    counts = small_counts(seed=2, k=6, n=4000)
    for ties in ("half", "davidson"):
        fit = bt.fit_bt(bt.pair_table(counts), ties=ties)
        resampled = intervals.multinomial_counts(fit.table, 4, 5)
        k = fit.table.n_models
        singles = [bt.fit_bt(fit.table.with_counts(resampled[b].astype(float)), ties=ties).theta for b in range(4)]
        # tol 1e-12 runs in float64; tol 1e-6 in mixed precision for half ties (float32 scores around the fit).
        for tol, atol in ((1e-12, 1e-9), (1e-6, 2e-6)):
            refitter = intervals._Refitter(fit, torch.device("cpu"), tol, 200)
            params, converged, _, _ = refitter.refit(np.moveaxis(resampled, 0, -1))
            assert bool(converged.all())
            for b in range(4):
                got = params[:k, b].numpy()
                np.testing.assert_allclose(got - got.mean(), singles[b], atol=atol)


def test_bootstrap_refits_the_resamples_multinomial_counts_draws():
    counts = small_counts(seed=3, k=5, n=3000)
    fit = bt.fit_bt(bt.pair_table(counts))
    draws = intervals.bootstrap(fit, 6, seed=11, tol=1e-10)
    resampled = intervals.multinomial_counts(fit.table, 6, 11)
    for b in range(6):
        single = bt.fit_bt(fit.table.with_counts(resampled[b].astype(float)))
        np.testing.assert_allclose(draws.theta[b], single.theta, atol=1e-8)


@pytest.mark.parametrize("method", ["poisson", "binomial"])
def test_multinomial_counts_have_multinomial_moments(method):
    counts = small_counts(seed=9, k=4, n=600)
    table = bt.pair_table(counts)
    draws = intervals.multinomial_counts(table, 20_000, 1, method=method).reshape(20_000, -1)
    p = table.counts.reshape(-1) / table.counts.sum()
    n = table.counts.sum()
    assert (draws.sum(1) == n).all()
    np.testing.assert_allclose(draws.mean(0), n * p, atol=4 * np.sqrt(n * p * (1 - p) / 20_000).max())
    cov = np.cov(draws, rowvar=False)
    want = n * (np.diag(p) - np.outer(p, p))
    assert np.abs(cov - want).max() < 0.1 * np.abs(want).max()
    once = intervals.multinomial_counts(table, 5, 1, method=method)
    np.testing.assert_array_equal(once, intervals.multinomial_counts(table, 5, 1, method=method))
    # Resample r depends only on the seed and r: a prefix of a longer run is the shorter run.
    np.testing.assert_array_equal(once, intervals.multinomial_counts(table, 50, 1, method=method)[:5])
    assert not np.array_equal(once, intervals.multinomial_counts(table, 5, 2, method=method))


def test_position_effect_recovered():
    sim = simulate_arena(6, 60_000, position_bias=30.0, seed=8)
    board = A.leaderboard(sim, position=True, resamples=200, seed=1)
    pos = board.attrs["position"]
    assert pos["lower"] < 30 < pos["upper"]
    assert pos["lower"] > 0


def test_sandwich_close_to_bootstrap_and_cluster_wider():
    sim = simulate_arena(6, 40_000, n_voters=150, voter_sd=120.0, tie_rate=0.2, seed=21)
    boot = A.leaderboard(sim, resamples=400, seed=0).set_index("model")
    sand = A.leaderboard(sim, ci="sandwich").set_index("model")
    ratio = (sand["se"] / boot["se"].reindex(sand.index)).to_numpy()
    assert np.all((ratio > 0.8) & (ratio < 1.25))
    clus = A.leaderboard(sim, ci="cluster", cluster="voter_id", resamples=400, seed=0).set_index("model")
    clus_sand = A.leaderboard(sim, ci="sandwich", cluster="voter_id").set_index("model")
    assert (clus["se"] > boot["se"].reindex(clus.index)).mean() >= 0.8
    ratio = (clus_sand["se"] / clus["se"].reindex(clus_sand.index)).to_numpy()
    assert np.all((ratio > 0.7) & (ratio < 1.4))


# ---------------------------------------------------------------------------------------------- board semantics


def test_anchor_fixes_model_with_zero_width_interval():
    counts = small_counts(seed=3)
    ref = "m2"
    board = A.leaderboard(counts, anchor={ref: 1000}, resamples=100, seed=0).set_index("model")
    assert board.loc[ref, "rating"] == pytest.approx(1000)
    assert board.loc[ref, "lower"] == pytest.approx(1000) and board.loc[ref, "upper"] == pytest.approx(1000)
    mean_board = A.leaderboard(counts, ci="none").set_index("model")
    gaps = mean_board["rating"] - mean_board.loc[ref, "rating"] + 1000
    np.testing.assert_allclose(board["rating"], gaps.reindex(board.index), atol=1e-9)
    with pytest.raises(KeyError, match="'m22' is not on the board.*'m2'"):
        A.leaderboard(counts, anchor={"m22": 1000}, ci="none")


def test_board_columns_ranks_and_rank_ub():
    board = A.leaderboard(small_counts(seed=5, n=3000), resamples=200, seed=0)
    assert list(board.columns) == A.ratings.BOARD_COLUMNS
    assert board["rating"].is_monotonic_decreasing
    assert list(board["rank"]) == list(range(1, len(board) + 1))
    for row in board.itertuples():
        assert row.rank_lower <= row.rank <= row.rank_upper
        assert row.rank_ub == 1 + (board["lower"] > row.upper).sum()
        assert row.lower <= row.rating <= row.upper
    assert (board["wins"] + board["losses"] + board["ties"] == board["n_battles"]).all()


def test_win_probability_and_prob_better():
    r = A.rate(small_counts(seed=6), resamples=200, seed=0)
    top, second = r.board["model"].iloc[0], r.board["model"].iloc[1]
    wp = A.win_probability(r, top, second)
    gap = r.board["rating"].iloc[0] - r.board["rating"].iloc[1]
    assert wp["p"] == pytest.approx(1 / (1 + 10 ** (-gap / 400)))
    assert wp["lower"] <= wp["p"] <= wp["upper"]
    assert A.prob_better(r, top, second) + A.prob_better(r, second, top) == pytest.approx(1.0)
    mat = A.win_matrix(r)
    np.testing.assert_allclose(mat.values + mat.values.T, np.where(np.eye(len(mat)), np.nan, 1.0))


def test_reweight_inverse_pair_and_prior():
    counts = small_counts(seed=7, pairing="adaptive")
    plain = A.rate(counts, ci="none")
    rew = A.rate(counts, ci="none", reweight="inverse_pair")
    assert not np.allclose(plain.ratings, rew.ratings)
    shrunk = A.rate(counts, ci="none", prior=50.0)
    assert np.ptp(shrunk.ratings) < np.ptp(plain.ratings)


def test_elo_online_hand_computed():
    votes = pd.DataFrame({"model_a": ["a", "a", "b"], "model_b": ["b", "c", "c"],
                          "winner": ["model_a", "tie", "model_b"]})
    r = A.rate(votes, method="elo", ci="none")
    ra = rb = rc = 1000.0
    ra, rb = ra + 4 * (1 - 0.5), rb + 4 * (0 - 0.5)
    ea = 1 / (1 + 10 ** ((rc - ra) / 400))
    ra, rc = ra + 4 * (0.5 - ea), rc + 4 * (0.5 - (1 - ea))
    eb = 1 / (1 + 10 ** ((rc - rb) / 400))
    rb, rc = rb + 4 * (0 - eb), rc + 4 * (1 - (1 - eb))
    got = r.board.set_index("model")["rating"]
    np.testing.assert_allclose([got["a"], got["b"], got["c"]], [ra, rb, rc], atol=1e-9)


# ---------------------------------------------------------------------------------------------- bad input


def test_disconnected_graph_names_components():
    counts = pd.concat([two_model_counts(5, 3, 1), two_model_counts(4, 4, 0).replace({"a": "x", "b": "y"})])
    with pytest.raises(A.FitError, match=r"2 disconnected components.*\[a, b\].*\[x, y\]"):
        A.leaderboard(counts, ci="none")


def test_perfect_record_suggests_prior_and_prior_handles_it():
    counts = pd.concat([two_model_counts(5, 0, 0), two_model_counts(3, 2, 1).replace({"a": "c"})])
    with pytest.raises(A.FitError, match="never lost.*prior="):
        A.leaderboard(counts, ci="none")
    board = A.leaderboard(counts, ci="none", prior=1.0)
    assert np.isfinite(board["rating"]).all()


def test_other_named_errors():
    with pytest.raises(A.FitError, match="at least two"):
        bt.check_identifiable(bt.PairTable(pd.Index(["a"]), np.array([], int), np.array([], int), np.zeros((0, 3)),
                                           False, np.ones(0), np.array([], int), np.array([], int)))
    with pytest.raises(A.VoteError, match="negative"):
        A.leaderboard(two_model_counts(3, -1, 0), ci="none")
    with pytest.raises(A.VoteError, match="non-integer"):
        A.leaderboard(two_model_counts(3, 1.5, 0), ci="none")
    with pytest.raises(ValueError, match="ties must be one of"):
        A.leaderboard(two_model_counts(3, 1, 0), ties="halfs")
    with pytest.raises(ValueError, match="unknown recipe"):
        A.leaderboard(two_model_counts(3, 1, 0), recipe="lmsys")
    with pytest.raises(ValueError, match="cluster="):
        A.leaderboard(two_model_counts(3, 1, 0), ci="cluster")


# ---------------------------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def arena_counts():
    from analysis import datasets

    return datasets.chatbot_arena_2024_08_14()


def test_fastchat_recipe_reproduces_published_top_three(arena_counts):
    board = A.leaderboard(arena_counts, recipe="fastchat", resamples=200, seed=0)
    assert list(board["model"].head(3)) == ["chatgpt-4o-latest", "gemini-1.5-pro-exp-0801", "gpt-4o-2024-05-13"]
    top = board.iloc[0]
    assert abs(top["rating"] - 1314) <= 5
    assert 3 <= (top["upper"] - top["lower"]) / 2 <= 7
    assert board.attrs["grad_norm"] <= 1e-10
    assert board.set_index("model").loc["mixtral-8x7b-instruct-v0.1", "rating"] == pytest.approx(1114)
    assert board.attrs["votes"] == 1_670_250


def test_elo_on_counts_runs_over_a_seeded_order():
    counts = small_counts(seed=12, k=4, n=800)
    one = A.leaderboard(counts, method="elo", ci="none", seed=3)
    two = A.leaderboard(counts, method="elo", ci="none", seed=3)
    pd.testing.assert_frame_equal(one, two)
    assert "random (seeded) order" in one.attrs["order_note"]
    assert one.attrs["votes"] == 800


def test_gpu_sampler_run_on_cpu_draws_the_same_law():
    # The torch tree sampler used on CUDA, run on CPU: totals exact, cell means and variances multinomial.
    import torch

    table = bt.pair_table(small_counts(seed=4, k=4, n=800))
    draws = intervals._torch_resamples(table, 20_000, 3, torch.device("cpu")).numpy()
    assert draws.shape == (*table.counts.shape, 20_000)
    n, p = table.counts.sum(), table.counts / table.counts.sum()
    assert (draws.sum((0, 1)) == n).all()
    sd = np.sqrt(n * p * (1 - p))
    np.testing.assert_allclose(draws.mean(-1), n * p, atol=5 * sd.max() / np.sqrt(20_000))
    np.testing.assert_allclose(draws.var(-1), sd**2, rtol=0.05, atol=0.5)


SPARSE = pd.DataFrame(
    [("a", "b", "win_a", 10), ("a", "b", "win_b", 1), ("b", "c", "win_a", 30), ("b", "c", "win_b", 25),
     ("a", "c", "win_a", 5), ("c", "d", "win_a", 40), ("c", "d", "win_b", 38), ("b", "d", "tie", 6)],
    columns=["model_a", "model_b", "outcome", "count"],
)


def test_bootstrap_keeps_exact_refits_and_leaves_out_separated_resamples():
    # Model a lost once: about e^-1 of the resamples drop that vote and have no finite maximum; others sit far
    # from the full-data fit, where the chord iteration stalls and the exact fallback takes over.
    fit = bt.fit_bt(bt.pair_table(SPARSE))
    draws = intervals.bootstrap(fit, 200, seed=4)
    resampled = intervals.multinomial_counts(fit.table, 200, 4)
    exact = []
    for r in range(200):
        try:
            exact.append(bt.fit_bt(fit.table.with_counts(resampled[r].astype(float))).theta)
        except bt.FitError:
            continue
    assert draws.failed == 200 - len(exact)
    assert 0.25 < draws.failed / 200 < 0.5
    np.testing.assert_allclose(draws.theta, np.array(exact), atol=1e-5)


def test_board_warns_about_separated_resamples_and_a_prior_keeps_them():
    with pytest.warns(UserWarning, match="no finite maximum"):
        board = A.leaderboard(SPARSE, resamples=200, seed=1)
    assert 0 < board.attrs["refit_failed"] < 200
    assert np.isfinite(board[["lower", "upper"]].to_numpy()).all()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        penalised = A.leaderboard(SPARSE, resamples=200, seed=1, prior=0.01)
    assert penalised.attrs["refit_failed"] == 0


def test_sparse_board_where_the_chord_stalls_is_solved_by_newton():
    # 400 models in a sparse ring of comparisons: one shared Hessian is too far from each resample's, so the chord
    # iteration gives up and Newton with preconditioned conjugate gradients finishes the refits.
    counts = simulate_counts(400, 200_000, pairing="sparse", tie_rate=0.2, seed=1)
    fit = bt.fit_bt(bt.pair_table(counts))
    draws = intervals.bootstrap(fit, 12, seed=1)
    assert draws.failed == 0 and draws.newton > 0
    resampled = intervals.multinomial_counts(fit.table, 12, 1)
    for b in (0, 5, 11):
        single = bt.fit_bt(fit.table.with_counts(resampled[b].astype(float)))
        np.testing.assert_allclose(draws.theta[b], single.theta, atol=1e-6)


@pytest.mark.parametrize(("position", "prior", "ties"), [(True, 0.0, "half"), (False, 0.05, "drop")])
def test_newton_refits_match_exact_fits_with_position_and_prior(position, prior, ties):
    import torch

    counts = simulate_counts(6, 5000, tie_rate=0.2, position_bias=40.0 if position else 0.0, seed=7)
    fit = bt.fit_bt(bt.pair_table(counts, ordered=position), ties=ties, position=position, prior=prior)
    resampled = intervals.multinomial_counts(fit.table, 5, 3)
    refitter = intervals._Refitter(fit, torch.device("cpu"), 1e-10, 50)
    counts_t = torch.as_tensor(np.moveaxis(resampled, 0, -1), dtype=torch.float64)
    wa, wb, tt = (counts_t[:, c] * refitter.weight.double() for c in range(3))
    y, m = (wa + 0.5 * tt, wa + wb + tt) if ties == "half" else (wa, wa + wb)
    with torch.inference_mode():
        delta, step, _ = refitter._newton(y, m)
    params = (refitter.start + delta).numpy()
    k = fit.table.n_models
    for b in range(5):
        one = bt.fit_bt(fit.table.with_counts(resampled[b].astype(float)), ties=ties, position=position, prior=prior)
        got = params[:k, b]
        np.testing.assert_allclose(got - (got.mean() if not prior else 0.0), one.theta, atol=1e-8)
        if position:
            assert params[k, b] == pytest.approx(one.gamma, abs=1e-8)


def test_torch_sampler_path_gives_the_same_intervals_in_law():
    # The GPU path (torch binomial tree + refits) run on CPU: its percentile bounds match the numba sampler's to
    # Monte Carlo error.
    counts = small_counts(seed=12, k=5, n=20_000)
    fit = bt.fit_bt(bt.pair_table(counts))
    a = intervals.bootstrap(fit, 3000, seed=1, sampler="numba").theta
    b = intervals.bootstrap(fit, 3000, seed=2, sampler="torch").theta
    assert not np.array_equal(a[:5], b[:5])
    sd = a.std(0)
    np.testing.assert_allclose(b.std(0), sd, rtol=0.08)
    for q in (0.025, 0.975):
        np.testing.assert_allclose(np.quantile(b, q, axis=0), np.quantile(a, q, axis=0), atol=0.15 * sd.max())
    with pytest.raises(ValueError, match="sampler"):
        intervals.bootstrap(fit, 10, sampler="cuda")
