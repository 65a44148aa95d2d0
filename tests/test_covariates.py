"""Covariate Bradley-Terry and controlled boards: closed forms, statsmodels, direct likelihoods, the peer
(arena-rank, under $PEERS_PYTHON), simulated truth with interval coverage, bad input, real data."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize
import statsmodels.api as sm
from conftest import need_shared
from scipy.special import expit

import analysis as A
from analysis import bt, controlled
from analysis.bt import covariates as C
from analysis.sampling import draw_keys

FACTOR = 400 / math.log(10)
ROOT = Path(__file__).resolve().parents[1]


def simulate(n=4000, k=6, p=2, seed=0, tie_rate=0.0, position=0.0, discrete=False):
    """Battles with known theta (mean zero) and beta: logistic outcomes, ties with probability ``tie_rate``."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 0.5, k)
    theta -= theta.mean()
    beta = rng.normal(0, 0.5, p)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    x = rng.integers(-2, 3, size=(n, p)).astype(float) if discrete else rng.normal(size=(n, p))
    d = theta[a] - theta[b] + x @ beta + position
    u = rng.random(n)
    o = np.where(u < (1 - tie_rate) * expit(d), 0, np.where(u < 1 - tie_rate, 1, 2))
    return a, b, o, x, theta, beta


def design(a, b, x, k):
    """Dense logistic design: model indicators (last model dropped: the gauge) and covariates."""
    z = np.zeros((len(a), k - 1 + x.shape[1]))
    rows = np.arange(len(a))
    z[rows[a < k - 1], a[a < k - 1]] = 1.0
    z[rows[b < k - 1], b[b < k - 1]] = -1.0
    z[:, k - 1:] = x
    return z


def centred(params, k):
    th = np.r_[params[: k - 1], 0.0]
    return th - th.mean()


# ---------------------------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("ties", ["half", "drop"])
def test_two_models_binary_covariate_closed_form(ties):
    # Two models, covariate 0 or 1: the model is saturated, so theta_a - theta_b = logit(score share at x=0)
    # and beta = logit(share at x=1) - logit(share at x=0), ties half a win (or left out).
    cells = {0: (30, 12, 6), 1: (18, 20, 4)}
    a, b, o, x = [], [], [], []
    for xv, (w, l, t) in cells.items():
        for code, n in ((0, w), (1, l), (2, t)):
            a += [0] * n
            b += [1] * n
            o += [code] * n
            x += [xv] * n
    tab = C.covariate_table(np.array(a), np.array(b), np.array(o), np.array(x, float)[:, None])
    assert tab.aggregated and tab.n_cells == 2
    fit = C.fit_covariates(tab, ties=ties)

    def logit_share(w, l, t):
        return math.log((w + t / 2) / (l + t / 2)) if ties == "half" else math.log(w / l)

    gap0 = logit_share(*cells[0])
    assert fit.theta[0] - fit.theta[1] == pytest.approx(gap0, abs=1e-10)
    assert fit.beta[0] == pytest.approx(logit_share(*cells[1]) - gap0, abs=1e-10)
    assert fit.grad_norm <= 1e-10


@pytest.mark.parametrize("ties", bt.TIE_RULES)
def test_no_covariates_is_the_plain_fit(ties):
    a, b, o, _, _, _ = simulate(3000, tie_rate=0.2, seed=1)
    tab = C.covariate_table(a, b, o, np.zeros((len(a), 0)))
    fit = C.fit_covariates(tab, ties=ties, position=True)
    plain = bt.fit_bt(tab.pair_table(), ties=ties, position=True)
    np.testing.assert_allclose(fit.theta, plain.theta, atol=1e-9)
    assert fit.gamma == pytest.approx(plain.gamma, abs=1e-9)
    if plain.tau is not None:
        assert fit.tau == pytest.approx(plain.tau, abs=1e-9)
    assert fit.loglik == pytest.approx(plain.loglik, rel=1e-12)


# ---------------------------------------------------------------------------------------------- statsmodels


def test_matches_statsmodels_logit_estimates_and_covariances():
    k = 6
    a, b, o, x, _, _ = simulate(5000, k=k, p=3, seed=2)
    voter = np.random.default_rng(0).integers(0, 60, len(a))
    tab = C.covariate_table(a, b, o, x, cluster=voter)
    fit = C.fit_covariates(tab)
    assert fit.grad_norm <= 1e-10
    z, y = design(a, b, x, k), (o == 0).astype(float)
    res = sm.Logit(y, z).fit(method="newton", tol=1e-12, disp=0)
    np.testing.assert_allclose(fit.theta, centred(res.params, k), atol=1e-8)
    np.testing.assert_allclose(fit.beta, res.params[k - 1:], atol=1e-8)
    assert fit.loglik == pytest.approx(res.llf, rel=1e-12)
    bi = fit.beta_index
    for kind, cov_type, kw in (("model", "nonrobust", {}), ("sandwich", "HC0", {}),
                               ("sandwich", "cluster", {"cov_kwds": {"groups": voter, "use_correction": False}})):
        cov = C.covariance(fit, kind, cluster=cov_type == "cluster")
        ref = sm.Logit(y, z).fit(method="newton", tol=1e-12, disp=0, cov_type=cov_type, **kw)
        np.testing.assert_allclose(cov[np.ix_(bi, bi)], ref.cov_params()[k - 1:, k - 1:], rtol=1e-7)


@pytest.mark.parametrize("ties", ["davidson", "rao-kupper"])
def test_tie_rules_match_direct_likelihood(ties):
    a, b, o, x, _, _ = simulate(1500, k=4, p=2, seed=3, tie_rate=0.25)
    tab = C.covariate_table(a, b, o, x)
    fit = C.fit_covariates(tab, ties=ties, position=True)
    counts = np.eye(3)[o]

    def negll(v):
        theta = np.r_[v[:3], 0.0]
        d = theta[a] - theta[b] + v[3] + x @ v[5:]
        ll = bt.cell_derivatives(d, v[4], counts[:, 0], counts[:, 1], counts[:, 2], ties)[0]
        return -ll.sum()

    res = scipy.optimize.minimize(negll, np.zeros(7), method="BFGS", options={"gtol": 1e-9})
    th = np.r_[res.x[:3], 0.0]
    np.testing.assert_allclose(fit.theta, th - th.mean(), atol=1e-5)
    np.testing.assert_allclose(fit.beta, res.x[5:], atol=1e-5)
    assert fit.gamma == pytest.approx(res.x[3], abs=1e-5)
    assert fit.tau == pytest.approx(res.x[4], abs=1e-5)
    assert fit.loglik >= -res.fun - 1e-9


@pytest.mark.parametrize("ties", bt.TIE_RULES)
def test_aggregated_cells_give_the_per_battle_fit(ties):
    a, b, o, x, _, _ = simulate(4000, seed=4, tie_rate=0.15, discrete=True, position=0.2)
    agg = C.covariate_table(a, b, o, x, aggregate=True)
    per = C.covariate_table(a, b, o, x, aggregate=False)
    assert agg.n_cells < per.n_cells == 4000
    fa = C.fit_covariates(agg, ties=ties, position=True)
    fp = C.fit_covariates(per, ties=ties, position=True)
    np.testing.assert_allclose(fa.theta, fp.theta, atol=1e-9)
    np.testing.assert_allclose(fa.beta, fp.beta, atol=1e-9)
    assert fa.loglik == pytest.approx(fp.loglik, rel=1e-12)
    np.testing.assert_allclose(C.covariance(fa), C.covariance(fp), atol=1e-12)
    # Resample r has the same law (and here the same weights per battle would not apply), but both paths are
    # deterministic given the seed:
    ba = C.bootstrap(fa, 20, seed=5, refit="one-step")
    np.testing.assert_array_equal(ba.beta, C.bootstrap(fa, 20, seed=5, refit="one-step").beta)


# ---------------------------------------------------------------------------------------------- bootstrap


def test_exact_bootstrap_refits_each_resample_to_its_maximum_and_one_step_is_close():
    a, b, o, x, _, _ = simulate(6000, seed=6, tie_rate=0.1)
    tab = C.covariate_table(a, b, o, x)
    fit = C.fit_covariates(tab, ties="davidson")
    exact = C.bootstrap(fit, 40, seed=9, refit="exact")
    one = C.bootstrap(fit, 40, seed=9, refit="one-step")
    assert exact.method == "exact" and exact.failed == 0 and exact.max_step <= 1e-9
    keys = draw_keys(9, 40)
    for r in (0, 17):
        w = np.empty((tab.n_cells, 3))
        C._poisson_one(tab.counts, keys[r], w, C._POISSON1_CDF)
        assert set(np.unique(w)) <= set(range(12))  # Poisson(1) draws per battle
        ref = C.fit_covariates(tab.with_counts(w), ties="davidson", start=fit, check=False)
        np.testing.assert_allclose(exact.beta[r], ref.beta, atol=1e-8)
        np.testing.assert_allclose(exact.theta[r], ref.theta, atol=1e-8)
    sd = exact.beta.std(0)
    assert np.abs(one.beta - exact.beta).max() < 0.2 * sd.min()  # O(1/N) apart
    se = np.sqrt(np.diag(C.covariance(fit)))[fit.beta_index]
    np.testing.assert_allclose(sd, se, rtol=0.35)  # 40 resamples: SD of an SD ~ 11%


def test_cluster_bootstrap_widens_with_correlated_voters():
    rng = np.random.default_rng(7)
    a, b, o, x, _, _ = simulate(6000, seed=7)
    voter = rng.integers(0, 30, len(a))
    # Each voter has a private taste for the covariate: clustered scores, so cluster-robust intervals widen.
    taste = rng.normal(0, 1.0, 30)[voter]
    d = x[:, 0] * (0.5 + taste)
    o = np.where(rng.random(len(a)) < expit(d), 0, 1)
    tab = C.covariate_table(a, b, o, x, cluster=voter)
    fit = C.fit_covariates(tab)
    plain = np.sqrt(C.covariance(fit)[fit.beta_index[0], fit.beta_index[0]])
    robust = np.sqrt(C.covariance(fit, cluster=True)[fit.beta_index[0], fit.beta_index[0]])
    boot = C.bootstrap(fit, 200, seed=1, cluster=True, refit="one-step").beta[:, 0].std()
    assert robust > 2 * plain
    assert boot == pytest.approx(robust, rel=0.25)


def test_known_truth_is_recovered_with_nominal_coverage():
    # 200 simulated arenas of 4,000 battles (fixed seed); 95% sandwich intervals for every theta (mean gauge) and
    # beta. (With 1,500 battles the sandwich's small-sample bias shows: theta coverage ~0.93.)
    reps, k, p = 200, 5, 2
    hits_beta = hits_theta = 0
    for rep in range(reps):
        a, b, o, x, theta, beta = simulate(4000, k=k, p=p, seed=1000 + rep)
        fit = C.fit_covariates(C.covariate_table(a, b, o, x))
        se = np.sqrt(np.diag(C.covariance(fit)))
        hits_beta += int((np.abs(fit.beta - beta) <= 1.96 * se[fit.beta_index]).sum())
        hits_theta += int((np.abs(fit.theta - theta) <= 1.96 * se[:k]).sum())
    for hits, n in ((hits_beta, reps * p), (hits_theta, reps * k)):
        tol = 3 * math.sqrt(0.95 * 0.05 / n)  # 3 binomial SDs
        assert abs(hits / n - 0.95) <= tol, (hits, n)


# ---------------------------------------------------------------------------------------------- bad input


def battles_with_sides(n=600, seed=0):
    a, b, o, x, _, _ = simulate(n, k=4, p=1, seed=seed)
    names = np.array(["Alpha", "Beta", "Gamma", "Delta"])
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"model_a": names[a], "model_b": names[b],
                       "winner": np.array(["model_a", "model_b", "tie"])[o]})
    df["duration_a"] = rng.uniform(2, 10, n)
    df["duration_b"] = rng.uniform(2, 10, n)
    df["video_a"] = [f"v{i}a" for i in range(n)]
    df["video_b"] = [f"v{i}b" for i in range(n)]
    return df


def test_bad_covariates_name_the_column_and_the_count():
    df = battles_with_sides()
    bad = df.copy()
    bad.loc[[3, 8, 9], "duration_a"] = np.nan
    with pytest.raises(controlled.CovariateError, match=r"'duration' has 3 missing"):
        controlled.control(bad, ["duration"])
    board = controlled.controlled_board(bad, ["duration"], missing="drop")
    assert board.attrs["report"]["battles_dropped_missing"] == 3
    assert board.attrs["report"]["battles_used"] == len(df) - 3
    txt = df.astype({"duration_b": object})
    txt.loc[[1, 2], "duration_b"] = "long"
    with pytest.raises(controlled.CovariateError, match=r"'duration_b' has 2 non-numeric"):
        controlled.control(txt, ["duration"])
    const = df.assign(duration_a=5.0, duration_b=5.0)
    with pytest.raises(controlled.CovariateError, match=r"'duration' is constant"):
        controlled.control(const, ["duration"])
    with pytest.raises(controlled.CovariateError, match=r"'motion' not found"):
        controlled.control(df, ["motion"])
    neg = df.assign(duration_a=df["duration_a"] - 5)
    with pytest.raises(controlled.CovariateError, match=r"negative value"):
        controlled.control(neg, {"duration": "normdiff"})


def test_feature_table_joins_by_video_and_reports_missing_ids():
    df = battles_with_sides()
    rng = np.random.default_rng(1)
    videos = pd.DataFrame({"video": np.r_[df["video_a"], df["video_b"]]})
    videos["motion"] = rng.normal(size=len(videos))
    board = controlled.controlled_board(df, ["motion"], features=videos)
    motion = videos["motion"].to_numpy()
    per_side = df.assign(motion_a=motion[: len(df)], motion_b=motion[len(df):])
    same = controlled.controlled_board(per_side, ["motion"])
    np.testing.assert_allclose(board["rating"], same["rating"], atol=1e-9)
    with pytest.raises(controlled.CovariateError, match=r"'video_b': 5 of 600 battles have a video id missing"):
        controlled.control(df, ["motion"], features=videos.drop(index=range(len(df), len(df) + 5)))


def test_collinear_covariates_are_refused():
    df = battles_with_sides()
    # A per-model constant (each model's resolution): x_a - x_b is a difference of model effects.
    res = {"Alpha": 720, "Beta": 1080, "Gamma": 480, "Delta": 720}
    per_model = df.assign(res_a=df["model_a"].map(res), res_b=df["model_b"].map(res))
    with pytest.raises(controlled.CovariateError, match=r"'res' is collinear with the model indicators"):
        controlled.control(per_model, ["res"])
    twice = df.assign(dur2_a=2 * df["duration_a"], dur2_b=2 * df["duration_b"])
    with pytest.raises(controlled.CovariateError, match=r"collinear with each other"):
        controlled.control(twice, ["duration", "dur2"])


# ---------------------------------------------------------------------------------------------- the board


def test_controlled_board_beside_the_raw_board():
    df = battles_with_sides(3000, seed=3)
    rng = np.random.default_rng(3)
    # Longer videos win more: plant the effect on top of the simulated outcomes.
    nd = (df["duration_a"] - df["duration_b"]) / (df["duration_a"] + df["duration_b"])
    flip = rng.random(len(df)) < 0.4 * np.abs(nd)
    df.loc[flip, "winner"] = np.where(nd[flip] > 0, "model_a", "model_b")
    res = controlled.control(df, {"duration": "normdiff"}, anchor={"Alpha": 1000}, ci="sandwich")
    board = res.board
    assert board.loc[board["model"] == "Alpha", "rating"].item() == pytest.approx(1000)
    assert (board["rank_shift"] == board["rank_raw"] - board["rank"]).all()
    coef = res.coefficients.iloc[0]
    assert coef["elo"] > 0 and coef["lower"] > 0 and coef["p_value"] < 1e-3
    assert coef["elo"] == pytest.approx(coef["beta"] * FACTOR, rel=1e-12)  # scaled by its SD: beta is per SD
    stats = res.fit_stats
    assert 0 < stats["r2_vs_board"] < 1 and stats["lr_stat"] > 0
    assert stats["r2_vs_board"] == pytest.approx(1 - stats["loglik"] / stats["loglik_raw"])
    # The model-only board is the plain Bradley-Terry board of the same battles.
    plain = A.leaderboard(df, ci="none", anchor={"Alpha": 1000}).set_index("model")["rating"]
    np.testing.assert_allclose(board.set_index("model")["rating_raw"].loc[plain.index], plain, atol=1e-6)


def test_bootstrap_board_and_all_tie_rules_run():
    df = battles_with_sides(1500, seed=5)
    for ties in bt.TIE_RULES:
        board = controlled.controlled_board(df, ["duration"], ties=ties, position=True, ci="bootstrap",
                                            resamples=60, seed=1)
        assert board.attrs["refit"] == "exact" and board.attrs["refit_failed"] == 0
        assert (board["lower"] <= board["rating"]).all() and (board["rating"] <= board["upper"]).all()


# ---------------------------------------------------------------------------------------------- the peer


def test_agrees_with_arena_rank_contextual_bradley_terry():
    python = os.environ.get("PEERS_PYTHON")
    if not python:
        pytest.skip("PEERS_PYTHON is not set: arena-rank runs in its own venv (jax/numpy pins), see "
                    "benchmarks/_peers.py")
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import covariates as bench  # benchmarks/covariates.py: the worker that runs the peer

    k, n = 8, 4000
    a, b, o, x, _, _ = simulate(n, k=k, p=3, seed=11, tie_rate=0.1)
    xz = (x - x.mean(0)) / x.std(0)
    outcomes = np.where(o == 0, 1.0, np.where(o == 1, 0.0, 0.5))
    for reweight, reg in ((False, 0.0), (True, 1.0)):
        w = bench.inverse_pair_weights(a, b) if reweight else np.ones(n)
        peer = bench.run_arena_rank(np.c_[a, b], outcomes, xz, w, k, reg=reg, gtol=1e-12, ftol=0.0, timeout=600)
        assert not isinstance(peer, str), peer
        fit = C.fit_covariates(C.covariate_table(a, b, o, xz, weight=w), coef_prior=reg * n)
        theta = peer["ratings"] - peer["ratings"].mean()
        assert np.abs(theta - fit.theta).max() * FACTOR < 1e-6
        assert np.abs(peer["coeffs"] - fit.beta).max() < 1e-6


# ---------------------------------------------------------------------------------------------- real data


def test_t2vscore_metric_explained_preference():
    need_shared("t2vscore-tvge")
    table, fits = controlled.t2vscore_case()
    assert set(table["fit"]) == {"clip_score", "xclip_score", "blip_bleu", "t2vscore_a", "joint"}
    assert (table["battles"] == table["battles"].iloc[0]).all()
    clip = table[(table["fit"] == "clip_score")].iloc[0]
    assert clip["lower"] > 0  # CLIP score differences predict the human quality vote beyond model identity
    assert 0 <= table["r2_vs_board"].max() < 0.05  # ... but explain little of it
    joint = fits["joint"]
    assert joint.fit_stats["loglik"] >= max(f.fit_stats["loglik"] for f in fits.values()) - 1e-9
    assert joint.board.attrs["cluster"] == "prompt_id"


def test_videobench_dimension_explained_preference():
    need_shared("videobench-human")
    table, fits = controlled.videobench_case("video-text consistency")
    aq = table[(table["fit"] == "aesthetic_quality")].iloc[0]
    assert aq["lower"] > 0 and aq["r2_vs_board"] > 0
    assert fits["joint"].board["rank_shift"].abs().max() >= 1


def test_leaderboard_covariates_keyword_and_figures():
    import matplotlib

    matplotlib.use("Agg")
    from analysis import plots

    df = battles_with_sides(1500, seed=8)
    board = A.leaderboard(df, covariates={"duration": "normdiff"}, ci="sandwich", seed=3)
    same = controlled.controlled_board(df, {"duration": "normdiff"}, ci="sandwich", seed=3)
    pd.testing.assert_frame_equal(board, same)
    with pytest.raises(ValueError, match="no option"):
        A.leaderboard(df, covariates=["duration"], reweight="inverse_pair")
    res = controlled.control(df, ["duration"])
    ax = plots.coef_forest(res.coefficients)
    (seg,) = [c for c in ax.collections if c.get_gid() == "coef_forest-interval"]
    np.testing.assert_allclose(seg.get_segments()[0][:, 0], res.coefficients[["lower", "upper"]].to_numpy()[0])
    ax = plots.rank_slope(res.board.assign(rank_raw=res.board["rank"][::-1].to_numpy()))
    lines = {ln.get_gid(): ln.get_ydata() for ln in ax.lines}
    first = res.board.iloc[0]
    assert list(lines[f"rank_slope-{first['model']}"]) == [len(res.board), first["rank"]]
    plots.plt.close("all")


def test_cluster_bootstrap_exact_refits_match_weighted_fits():
    a, b, o, x, _, _ = simulate(3000, seed=12, discrete=True, position=0.3)
    prompt = np.random.default_rng(12).integers(0, 40, len(a))
    tab = C.covariate_table(a, b, o, x, cluster=prompt)
    assert tab.n_clusters == 40
    fit = C.fit_covariates(tab, position=True)
    exact = C.bootstrap(fit, 30, seed=4, cluster=True, refit="exact")
    one = C.bootstrap(fit, 30, seed=4, cluster=True, refit="one-step")
    w = C._cluster_weights(tab.n_clusters, draw_keys(4, 30))  # Poisson(1) per cluster
    ref = C.fit_covariates(tab.with_counts(w[3][tab.cluster, None] * tab.counts), position=True, start=fit,
                           check=False)
    np.testing.assert_allclose(exact.beta[3], ref.beta, atol=1e-8)
    assert exact.gamma[3] == pytest.approx(ref.gamma, abs=1e-8)
    assert np.abs(one.beta - exact.beta).max() < 0.3 * exact.beta.std(0).min()
