"""Covariate (style-controlled) boards: agreement with arena-rank's ContextualBradleyTerry, and speed.

Prints one Markdown report:

1. Peer agreement: the same fit as arena-rank's ``ContextualBradleyTerry`` on the same battles (its defaults:
   inverse-pair weights with min_pair_count 50, ``reg=1.0`` on the coefficients; and plain maximum likelihood),
   ratings and coefficients compared, sandwich standard errors beside each other.
2. Speed on 1M simulated battles with 4 continuous per-battle covariates (nothing to aggregate): cells + exact
   Newton fit + sandwich, the whole controlled board, statsmodels ``Logit`` (Newton) on the same design, arena-rank
   (fit, fit + sandwich) on the same battles, and a 1,000-resample bootstrap with the one-step error measured
   against exact refits of some of the same resamples.

    .venv/bin/python benchmarks/covariates.py                   # ~1-2 min on 2 cores
    PEERS_PYTHON=/work/peers-venv/bin/python .venv/bin/python benchmarks/covariates.py     # + arena-rank
    .venv/bin/python benchmarks/covariates.py --quick           # 200k battles, fewer repeats

arena-rank pins jax and numpy versions that cannot live in the project venv, so it runs in a worker under
``$PEERS_PYTHON`` (this file, ``--worker IN OUT``), which imports only numpy, jax and arena-rank.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ELO = 400.0 / math.log(10.0)


# ---------------------------------------------------------------------------------------------- peer worker


def _worker(src: str, dst: str) -> None:
    """Runs under $PEERS_PYTHON: fit arena-rank's ContextualBradleyTerry on the arrays in ``src``."""
    import jax
    import jax.numpy as jnp
    from arena_rank.models.contextual_bradley_terry import ContextualBradleyTerry
    from arena_rank.utils.data_utils import ContextualPairDataset

    z = np.load(src)
    k, p = int(z["n_models"]), z["features"].shape[1]
    ds = ContextualPairDataset(competitors=[str(m) for m in range(k)], pairs=jnp.asarray(z["pairs"].astype(np.int32)),
                               outcomes=jnp.asarray(z["outcomes"]), features=jnp.asarray(z["features"]),
                               weights=jnp.asarray(z["weights"]))
    kw = {"reg": float(z["reg"]), "gtol": float(z["gtol"]), "ftol": float(z["ftol"]), "max_iter": int(z["max_iter"])}
    repeats = int(z["repeats"])

    def fit_only():
        m = ContextualBradleyTerry(k, p, **kw)
        m.fit(ds)
        jax.block_until_ready(m.params["ratings"])
        return m

    def with_sandwich():
        m = ContextualBradleyTerry(k, p, **kw)
        out = m.compute_ratings_and_cis(ds, ci_method="sandwich")
        jax.block_until_ready(out["rating_upper"])
        return m, out

    start = time.perf_counter()
    m = fit_only()
    first = time.perf_counter() - start
    fit_times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        m = fit_only()
        fit_times.append(time.perf_counter() - t0)
    sw_times = []
    out = None
    for _ in range(max(repeats, 1)):
        t0 = time.perf_counter()
        m2, out = with_sandwich()
        sw_times.append(time.perf_counter() - t0)
    np.savez(dst, ratings=np.asarray(m.params["ratings"]), coeffs=np.asarray(m.params["coeffs"]),
             variances=np.asarray(out["variances"]), fit_times=np.array(fit_times), sw_times=np.array(sw_times),
             first=first, version=__import__("importlib.metadata").metadata.version("arena-rank"),
             jax=jax.__version__)


def run_arena_rank(pairs, outcomes, features, weights, n_models, *, reg=0.0, gtol=1e-12, ftol=0.0,
                   max_iter=20000, repeats=1, timeout=1800.0) -> dict | str:
    """arena-rank under $PEERS_PYTHON; a dict of arrays, or the reason it did not run."""
    python = os.environ.get("PEERS_PYTHON")
    if not python:
        return "PEERS_PYTHON not set (arena-rank needs its own venv: jax and numpy pins)"
    with tempfile.TemporaryDirectory(prefix="peer-cov-") as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, pairs=pairs, outcomes=outcomes, features=features, weights=weights, n_models=n_models,
                 reg=reg, gtol=gtol, ftol=ftol, max_iter=max_iter, repeats=repeats)
        proc = subprocess.run([python, str(Path(__file__).resolve()), "--worker", str(src), str(dst)],
                              capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
            return f"arena-rank worker failed: {last}"
        with np.load(dst) as z:
            return {key: z[key] for key in z.files}


# ---------------------------------------------------------------------------------------------- data


def simulate(n: int, k: int, p: int, seed: int, tie_rate: float = 0.0, sd: float = 0.5):
    """Battles with known truth: theta ~ N(0, sd), beta ~ N(0, 0.3), x ~ N(0, 1) per battle; logistic outcomes,
    a tie with probability ``tie_rate``. Returns model codes a, b, outcome codes (0 a, 1 b, 2 tie), x, theta, beta."""
    from scipy.special import expit

    rng = np.random.default_rng(seed)
    theta = rng.normal(0, sd, k)
    theta -= theta.mean()
    beta = rng.normal(0, 0.3, p)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    x = rng.normal(size=(n, p))
    d = theta[a] - theta[b] + x @ beta
    u = rng.random(n)
    o = np.where(u < (1 - tie_rate) * expit(d), 0, np.where(u < 1 - tie_rate, 1, 2))
    return a, b, o, x, theta, beta


def inverse_pair_weights(a, b, min_pair_count=50):
    """arena-rank's ContextualPairDataset(reweighted=True) weights: 1 / max(pair count, 50), mean 1."""
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * (max(a.max(), b.max()) + 1) + hi
    _, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
    w = 1.0 / np.maximum(cnt[inv], min_pair_count)
    return w / w.mean()


# ---------------------------------------------------------------------------------------------- runs


CPU: dict[int, list[float]] = {}  # process CPU seconds of each timed() call, keyed by id(times)


def timed(fn, repeats):
    """Wall times of ``repeats`` calls (and their process CPU times in ``CPU[id(times)]``), the last result."""
    times, cpu, out = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    CPU[id(times)] = cpu
    return times, out


def cpu_note(times) -> str:
    cpu = CPU.get(id(times))
    return f"CPU {np.median(cpu):.2f} s (all threads)" if cpu else ""


def fmt(times) -> str:
    med = float(np.median(times))
    return (f"{med * 1e3:.0f} ms" if med < 1 else f"{med:.2f} s") + (
        f" ({len(times)} runs, {min(times):.3f} .. {max(times):.3f} s)" if len(times) > 1 else " (1 run)")


def peer_agreement(lines: list[str]) -> None:
    from analysis.bt import covariates as C

    lines.append("\n## Agreement with arena-rank ContextualBradleyTerry\n")
    n, k, p = 50_000, 20, 4
    a, b, o, x, _, _ = simulate(n, k, p, seed=7, tie_rate=0.1)
    outcomes = np.where(o == 0, 1.0, np.where(o == 1, 0.0, 0.5))
    # arena-rank's style-control recipe standardises each feature (z-scores, population SD).
    xz = (x - x.mean(0)) / x.std(0)
    lines.append(f"data: {n:,} simulated battles, {k} models, {p} continuous covariates (z-scored, as arena-rank "
                 "does), 10% ties scored as half a win; ours: exact Newton (gradient norm <= 1e-10)\n")
    lines.append("| setting | max rating diff (Elo) | max coefficient diff | max sandwich SE diff (Elo) | peer "
                 "iterations setting | peer fit time | our fit time |")
    lines.append("|---|---:|---:|---:|---|---:|---:|")
    for label, reweight, reg, gtol, ftol in (
        ("plain ML (reg=0), peer gtol 1e-12", False, 0.0, 1e-12, 0.0),
        ("arena-rank defaults: inverse-pair weights, reg=1.0; peer gtol 1e-12", True, 1.0, 1e-12, 0.0),
        ("arena-rank defaults incl. its tolerances (gtol=ftol=1e-9)", True, 1.0, 1e-9, 1e-9),
    ):
        w = inverse_pair_weights(a, b) if reweight else np.ones(n)
        tab = C.covariate_table(a, b, o, xz, weight=w)
        times, fit = timed(lambda tab=tab, reg=reg: C.fit_covariates(tab, coef_prior=reg * n), 3)
        peer = run_arena_rank(np.c_[a, b], outcomes, xz, w, k, reg=reg, gtol=gtol, ftol=ftol, repeats=1)
        if isinstance(peer, str):
            lines.append(f"| {label} | skipped: {peer} | | | | | {fmt(times)} |")
            continue
        theta = peer["ratings"] - peer["ratings"].mean()
        d_theta = np.abs(theta - fit.theta).max() * ELO
        d_beta = np.abs(peer["coeffs"] - fit.beta).max()
        se_note = "-"
        if reg == 0.0 and not reweight:
            cov = C.covariance(fit)
            se = np.sqrt(np.diag(cov)[:k]) * ELO
            se_note = f"{np.abs(np.sqrt(peer['variances']) - se).max():.2g} (of SE ~{se.mean():.1f})"
        lines.append(f"| {label} | {d_theta:.2g} | {d_beta:.2g} | {se_note} | gtol {gtol:g}, ftol {ftol:g} | "
                     f"{np.median(peer['fit_times']):.2f} s | {np.median(times) * 1e3:.0f} ms |")
    lines.append("\narena-rank's sandwich adds `hessian_reg=1e-5` (mean-loss units) to the Hessian diagonal to make it "
                 "invertible; ours drops one model (the gauge) and maps to mean zero, so SEs differ by that ridge.")


def speed(lines: list[str], n: int, repeats: int, resamples: int) -> None:
    import pandas as pd
    import statsmodels.api as sm

    from analysis import controlled
    from analysis.bt import covariates as C

    k, p = 20, 4
    a, b, o, x, theta, beta = simulate(n, k, p, seed=11)
    lines.append(f"\n## Speed: {n:,} battles, {k} models, {p} continuous per-battle covariates\n")
    lines.append("No ties (so statsmodels' binary Logit fits the same likelihood); every battle is its own cell. "
                 "'After load': the battles are in memory; the first call of each compiled kernel (numba, cached "
                 "on disk) is made before timing.\n")
    # warm the kernels on a small slice
    small = C.covariate_table(a[:5000], b[:5000], o[:5000], x[:5000])
    f_small = C.fit_covariates(small)
    C.covariance(f_small)
    C.bootstrap(f_small, 8, seed=1, refit="one-step")
    C.bootstrap(f_small, 4, seed=1, refit="exact")

    def engine():
        tab = C.covariate_table(a, b, o, x)
        fit = C.fit_covariates(tab)
        return fit, C.covariance(fit)

    t_engine, (fit, cov) = timed(engine, repeats)
    rows = [("cells + exact Newton fit + sandwich (analysis.bt.covariates)", t_engine,
             f"{fit.iterations} Newton steps, gradient norm {fit.grad_norm:.1e}")]
    names = np.array([f"m{c:02d}" for c in range(k)])
    battles = pd.DataFrame({"model_a": names[a], "model_b": names[b],
                            "winner": np.array(["model_a", "model_b", "tie"])[o]})
    for c in range(p):
        battles[f"f{c}"] = x[:, c]
    from analysis.votes import read_votes

    battles = read_votes(battles)
    t_board, board = timed(lambda: controlled.controlled_board(battles, [f"f{c}" for c in range(p)],
                                                               standardize="none", ci="sandwich"), repeats)
    rows.append(("controlled_board(ci='sandwich'): + model-only board, ranks, null fit", t_board, ""))

    design = np.zeros((n, k - 1 + p))
    rr = np.arange(n)
    ma, mb = a < k - 1, b < k - 1
    design[rr[ma], a[ma]] = 1.0
    design[rr[mb], b[mb]] = -1.0
    design[:, k - 1:] = x
    y = (o == 0).astype(float)

    def statsmodels_fit():
        res = sm.Logit(y, design).fit(method="newton", tol=1e-10, maxiter=100, disp=0)
        return res, res.cov_params()

    t_sm, (res, _) = timed(statsmodels_fit, max(1, repeats // 2))
    th = np.r_[res.params[: k - 1], 0.0]
    th -= th.mean()
    agree = max(np.abs(th - fit.theta).max(), np.abs(res.params[k - 1:] - fit.beta).max())
    rows.append(("statsmodels Logit(method='newton') on the dense design + cov_params", t_sm,
                 f"same design matrix built beforehand; max parameter difference {agree:.1e}"))

    peer = run_arena_rank(np.c_[a, b], np.where(o == 0, 1.0, 0.0), x, np.ones(n), k, reg=0.0, gtol=1e-9,
                          ftol=1e-9, repeats=1)
    ours = float(np.median(t_engine))
    table = ["| measurement | median | ratio (other / ours) | notes |", "|---|---|---:|---|"]
    for what, times, note in rows:
        note = "; ".join(n for n in (cpu_note(times), note) if n)
        table.append(f"| {what} | {fmt(times)} | {np.median(times) / ours:.2g}x | {note} |")
    if isinstance(peer, str):
        table.append(f"| arena-rank ContextualBradleyTerry | skipped | | {peer} |")
    else:
        dth = np.abs(peer["ratings"] - peer["ratings"].mean() - fit.theta).max() * ELO
        table.append(f"| arena-rank fit (L-BFGS, jax, its default tolerances) | {fmt(list(peer['fit_times']))} | "
                     f"{np.median(peer['fit_times']) / ours:.2g}x | arena-rank {peer['version']}, jax {peer['jax']}; "
                     f"first call {float(peer['first']):.2f} s (tracing + compile); max rating diff {dth:.2g} Elo |")
        table.append(f"| arena-rank fit + sandwich | {fmt(list(peer['sw_times']))} | "
                     f"{np.median(peer['sw_times']) / ours:.2g}x | compute_ratings_and_cis(ci_method='sandwich') |")

    t_boot, draws = timed(lambda: C.bootstrap(fit, resamples, seed=2024, refit="one-step"), repeats)
    table.append(f"| bootstrap, {resamples:,} Poisson resamples, one-step refits | {fmt(t_boot)} | "
                 f"{np.median(t_boot) / ours:.2g}x | {cpu_note(t_boot)}; score bootstrap: one Newton step per "
                 "resample from the fit, numba threads over resample blocks |")
    lines.extend(table)
    # One-step against exact refits of the same resamples.
    from analysis.sampling import draw_keys

    keys = draw_keys(2024, resamples)
    errs_t, errs_b, sds = [], [], draws.beta.std(0)
    tab = fit.table
    for r in range(3):
        w = np.empty((tab.n_cells, 3))
        C._poisson_one(tab.counts, keys[r], w, C._POISSON1_CDF)
        rf = C.fit_covariates(tab.with_counts(w), start=fit, check=False)
        errs_t.append(np.abs(rf.theta - draws.theta[r]).max() * ELO)
        errs_b.append(np.abs(rf.beta - draws.beta[r]).max())
    lines.append(f"\nOne-step vs exact refit of the same resample (3 resamples): max rating difference "
                 f"{max(errs_t):.2g} Elo, max coefficient difference {max(errs_b):.2g} (bootstrap SD of the "
                 f"coefficients {sds.min():.2g} .. {sds.max():.2g}).")
    se = np.sqrt(np.diag(cov))[fit.beta_index]
    lines.append(f"Bootstrap SD / sandwich SE of the coefficients: {np.round(sds / se, 3).tolist()}.")


def aggregated_section(lines: list[str], n: int, repeats: int) -> None:
    """Few-valued covariates (resolution, frame rate, audio): battles collapse to cells and refits are exact."""
    from scipy.special import expit

    from analysis.bt import covariates as C

    k = 20
    rng = np.random.default_rng(3)
    theta = rng.normal(0, 0.5, k)
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    res = rng.choice([480.0, 720.0, 1080.0], size=(n, 2))
    fps = rng.choice([16.0, 24.0, 30.0], size=(n, 2))
    audio = rng.integers(0, 2, size=(n, 2)).astype(float)
    x = np.column_stack([(res[:, 0] - res[:, 1]) / (res[:, 0] + res[:, 1]), (fps[:, 0] - fps[:, 1]) / 10.0,
                         audio[:, 0] - audio[:, 1]])
    beta = np.array([0.8, 0.2, 0.3])
    o = np.where(rng.random(n) < expit(theta[a] - theta[b] + x @ beta), 0, 1)
    lines.append(f"\n## Few-valued covariates: {n:,} battles, {k} models, resolution / frame rate / audio\n")

    def engine():
        tab = C.covariate_table(a, b, o, x)
        fit = C.fit_covariates(tab)
        return tab, fit, C.covariance(fit)

    t_fit, (tab, fit, _) = timed(engine, repeats)
    C.bootstrap(fit, 4, seed=1, refit="one-step")  # compiled kernels loaded before timing
    C.bootstrap(fit, 2, seed=1, refit="exact")
    t_boot, draws = timed(lambda: C.bootstrap(fit, 1000, seed=1), max(1, repeats - 1))
    t_exact, exact = timed(lambda: C.bootstrap(fit, 100, seed=1, refit="exact"), 1)
    gap = np.abs(exact.beta - draws.beta[:100]).max() / draws.beta.std(0).min()
    lines.append("| measurement | median | notes |")
    lines.append("|---|---|---|")
    lines.append(f"| cells + exact fit + sandwich | {fmt(t_fit)} | {cpu_note(t_fit)}; {tab.n_battles:,} battles -> "
                 f"{tab.n_cells:,} cells (aggregated: {tab.aggregated}); {fit.iterations} Newton steps, gradient "
                 f"norm {fit.grad_norm:.1e}; beta {np.round(fit.beta, 3).tolist()} (true {beta.tolist()}) |")
    lines.append(f"| bootstrap, 1,000 Poisson resamples, refit='auto' ({draws.method}) | {fmt(t_boot)} | "
                 f"{cpu_note(t_boot)} |")
    lines.append(f"| bootstrap, 100 of the same resamples, exact refits | {fmt(t_exact)} | {cpu_note(t_exact)}; chord "
                 f"Newton on all resamples, last step {exact.max_step:.1e}; one-step vs exact: max coefficient "
                 f"difference {gap:.2g} bootstrap SDs |")


def vote_quality_section(lines: list[str], seeds=(1, 2, 3, 4, 5)) -> None:
    """Planted bad voters on the simulator: detection and false-flag rates of analysis.voters."""
    from analysis import voters
    from analysis.simulate import simulate_arena

    lines.append("\n## Vote quality: planted bad voters (analysis.voters)\n")
    lines.append("Each arena: 12 models, 40,000 votes, 200 voters (Zipf 0.5 activity, >= 60 votes for the planted "
                 "ones), 10% ties; 8 voters rewritten to vote for the weaker model (reverse), 8 to flip a coin; "
                 "sequential likelihood-ratio screen, family-wise alpha 0.05.\n")
    lines.append("| seed | reversing found | coin-flippers found | honest flagged | median votes to flag (reverse) | "
                 "screen time |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    tot = np.zeros(4)
    for seed in seeds:
        sim = simulate_arena(12, 40_000, seed=seed, n_voters=200, tie_rate=0.1, zipf_exponent=0.5)
        counts = sim["voter_id"].value_counts()
        chosen = np.random.default_rng(seed).choice(counts.index[counts >= 60].to_numpy(), 16, replace=False)
        rev, coin = set(chosen[:8]), set(chosen[8:])
        sim = voters.plant_bad_voters(sim, list(rev), kind="reverse")
        sim = voters.plant_bad_voters(sim, list(coin), kind="random", seed=seed)
        t0 = time.perf_counter()
        table = voters.vote_consistency(sim, alpha=0.05)
        dt = time.perf_counter() - t0
        flagged = set(table.loc[table["flagged"], "voter"])
        delay = table.loc[table["voter"].isin(rev) & table["flagged"], "flagged_at"].median()
        honest = len(table) - 16
        row = [len(flagged & rev), len(flagged & coin), len(flagged - rev - coin), honest]
        tot += row
        lines.append(f"| {seed} | {row[0]}/8 | {row[1]}/8 | {row[2]}/{honest} | {delay:.0f} | {dt * 1e3:.0f} ms |")
    n = len(seeds)
    lines.append(f"| all | {tot[0] / (8 * n):.0%} | {tot[1] / (8 * n):.0%} | {tot[2]:.0f}/{tot[3]:.0f} | | |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--worker", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    ap.add_argument("--no-peer", action="store_true", help="skip the agreement table")
    ap.add_argument("--only", choices=("peer", "speed", "aggregated", "voters"), help="run one section")
    args = ap.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _peers

    lines = ["# benchmarks/covariates.py", ""]
    lines += [f"- {line}" for line in _peers.machine_lines(("numpy", "scipy", "numba", "statsmodels"))]
    start = time.perf_counter()
    if not args.no_peer and args.only in (None, "peer"):
        peer_agreement(lines)
    if args.only in (None, "speed"):
        speed(lines, 200_000 if args.quick else 1_000_000, 2 if args.quick else 3, 1000)
    if args.only in (None, "aggregated"):
        aggregated_section(lines, 200_000 if args.quick else 1_000_000, 2 if args.quick else 3)
    if args.only in (None, "voters"):
        vote_quality_section(lines)
    lines.append(f"\n- {_peers.load_line()}; total {time.perf_counter() - start:.0f} s")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
