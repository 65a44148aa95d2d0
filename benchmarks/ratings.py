"""Rating-engine speed on the real Chatbot Arena counts (1,670,250 votes, 129 models), against the peers.

Prints two Markdown tables. "Conditions": the 1,000-resample bootstrap board and the choix loop over the same
resampled matrices, side by side, as a user meets them: warm (no competitor started), first call in a fresh
process (import and first board timed in a child interpreter), with one and with two other CPU-bound processes
running (this script starts them), and a large sparse board (10,000 models, 40,000 votes, prior 1). Then the
engine table: the exact Bradley-Terry fit, the board and the batched bootstrap alone, against a loop of
``choix.ilsr_pairwise_dense`` over the same 1,000 resampled count matrices (goal: board <= 1 s and >= 6x faster
than the loop), then single fits of choix, FastChat's scikit-learn recipe, arena-rank and arenakit with their
time, ratio to ours and largest rating difference from our exact fit.

    .venv/bin/python benchmarks/ratings.py                  # full run (~1.5-2.5 min on 2 cores)
    .venv/bin/python benchmarks/ratings.py --quick          # fewer repeats, no 3.3M-row FastChat design
    PEERS_PYTHON=/tmp/peers-venv/bin/python .venv/bin/python benchmarks/ratings.py   # + arena-rank, arenakit

Peers that do not import in this interpreter run under ``$PEERS_PYTHON`` (see ``_peers.py``), else are
reported as skipped. ``--blas-threads 1`` limits numpy's and scipy's OpenBLAS pools (threadpoolctl) for the
whole run, including the peers' workers; torch keeps its own threads.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import _peers
import numpy as np
from _peers import (
    ELO,
    Competitor,
    PairData,
    Row,
    fmt_ratio,
    fmt_spread,
    fmt_time,
    load_now,
    measure,
    median,
    run_python,
)

RESAMPLES = 1000
SEED = 2024
VERSIONS = ("numpy", "scipy", "pandas", "torch", "choix", "sklearn", "threadpoolctl")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats; skip the 3.3M-row FastChat design")
    p.add_argument("--repeats", type=int, default=None,
                   help="repeats of the board and bootstrap timings (default 5, quick 3; peers 2 fewer, >= 3)")
    p.add_argument("--choix-draws", type=int, default=RESAMPLES,
                   help="resamples the choix loop fits; fewer are extrapolated to 1,000 and labelled so")
    p.add_argument("--blas-threads", type=int, default=None, help="limit OpenBLAS threads (default: library default)")
    p.add_argument("--no-peers", action="store_true", help="skip the single-fit peer comparison")
    p.add_argument("--no-conditions", action="store_true",
                   help="skip the conditions table (fresh process, competing processes, large sparse board)")
    return p.parse_args()


def limit_blas(threads: int | None) -> str:
    """Apply an OpenBLAS thread limit to this process and the peers' workers; a line saying what was set."""
    if threads is None:
        return "threads: library defaults (OpenBLAS in numpy and scipy, OpenMP/MKL in torch)"
    from threadpoolctl import threadpool_limits  # ships with scikit-learn; only needed for this option

    threadpool_limits(threads, user_api="blas")
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)
    return f"threads: OpenBLAS limited to {threads} (threadpoolctl; OPENBLAS_NUM_THREADS for workers), torch default"


# ---------------------------------------------------------------------------------------------- ours


def load():
    """Real counts, the pair table and the exact fit."""
    from analysis import bt, datasets

    counts = datasets.chatbot_arena_2024_08_14("counts")
    table = bt.pair_table(counts)
    return counts, table, bt.fit_bt(table)


def time_fit(table, repeats: int, label: str) -> Row:
    from analysis import bt

    times, fit = measure(lambda: bt.fit_bt(table, ties="half"), repeats)
    return Row(label, median(times), fmt_spread(times),
               note=f"Newton, {fit.iterations} iterations, gradient norm {fit.grad_norm:.1e}")


def time_fit_blas1(table, repeats: int) -> Row:
    label = "exact fit, OpenBLAS 1 thread (diagnostic)"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return Row(label, note="skipped (threadpoolctl not installed)")
    with threadpool_limits(1, user_api="blas"):
        return time_fit(table, repeats, label)


def time_board(counts, repeats: int, device: str = "auto") -> tuple[Row, object]:
    import analysis

    def board():
        return analysis.leaderboard(counts, ci="bootstrap", resamples=RESAMPLES, seed=SEED, device=device,
                                    progress=False)

    times, out = measure(board, repeats)
    note = (f"leaderboard(counts, ci='bootstrap', resamples={RESAMPLES}): fit + draws + refits + ranks; "
            f"refit iterations {out.attrs.get('refit_iterations')}")
    return Row(f"bootstrap board, {RESAMPLES:,} resamples ({device})", median(times), fmt_spread(times),
               note=note), out


def time_bootstrap(fit, repeats: int, device: str = "auto") -> tuple[Row, object]:
    from analysis import intervals

    times, draws = measure(lambda: intervals.bootstrap(fit, RESAMPLES, seed=SEED, device=device, progress=False),
                           repeats)
    note = f"intervals.bootstrap alone: {draws.iterations} chord steps, last step {draws.max_step:.1e}"
    return Row(f"intervals.bootstrap, {RESAMPLES:,} resamples ({device})", median(times), fmt_spread(times),
               note=note), draws


def resampled_counts(table, n_draws: int, seed: int) -> np.ndarray:
    """The resampled counts ``intervals.bootstrap(fit, n_draws, seed=seed)`` refits on CPU, as (n_draws, G, 3)."""
    from analysis import intervals

    return intervals.multinomial_counts(table, n_draws, seed)


def time_draws(table, repeats: int) -> Row:
    times, _ = measure(lambda: resampled_counts(table, RESAMPLES, SEED), repeats)
    return Row(f"resampled counts alone, {RESAMPLES:,} draws (intervals.multinomial_counts)", median(times),
               fmt_spread(times), note="exact multinomial (analysis.sampling: Poisson tables, then thinning or fill), "
                                       "one block; intervals.bootstrap draws the same resamples in blocks of 256")


# ---------------------------------------------------------------------------------------------- choix loop


def choix_matrices(table, n_fit: int) -> list[np.ndarray]:
    data = PairData(table.i, table.j, table.counts, table.n_models)
    draws = resampled_counts(table, RESAMPLES, SEED)
    return [data.win_matrix(c) for c in draws[:n_fit]]


def choix_loop(table, n_fit: int, mats: list[np.ndarray] | None = None) -> tuple[float, np.ndarray]:
    """Fit the first ``n_fit`` of the 1,000 resampled count matrices with choix; (seconds for all, theta)."""
    import choix

    mats = choix_matrices(table, n_fit) if mats is None else mats  # built outside the timer
    start = time.perf_counter()
    theta = np.array([choix.ilsr_pairwise_dense(m) for m in mats])
    return (time.perf_counter() - start) * RESAMPLES / len(mats), theta


def choix_rows(table, draws, board_s: float, boot_s: float, n_fit: int) -> list[Row]:
    total, theta = choix_loop(table, n_fit)
    label = f"choix.ilsr_pairwise_dense loop, {RESAMPLES:,} resampled matrices"
    note = "only the loop is timed (draws and K x K matrices built before)"
    if n_fit < RESAMPLES:
        label += f" (EXTRAPOLATED: {n_fit} fitted, x{RESAMPLES / n_fit:g})"
    ours = draws.theta[:n_fit] * ELO
    theirs = (theta - theta.mean(1, keepdims=True)) * ELO
    same = np.abs(ours - theirs).max()
    if same < 1.0:
        note += f"; the same draws as intervals.bootstrap(seed): max per-draw difference {same:.2g} Elo"
    else:
        note += "; not the draws intervals.bootstrap(seed) made (its chunking or sampler differs)"
    if n_fit >= 200:
        lo_o, hi_o = np.percentile(ours, [2.5, 97.5], axis=0)
        lo_c, hi_c = np.percentile(theirs, [2.5, 97.5], axis=0)
        note += f"; 95% bounds differ by <= {max(np.abs(lo_o - lo_c).max(), np.abs(hi_o - hi_c).max()):.2g} Elo"
    return [
        Row(label, total, "1 run", note=note),
        Row("ratio: choix loop / bootstrap board", float("nan"), "", fmt_ratio(total / board_s), "goal >= 6x"),
        Row("ratio: choix loop / intervals.bootstrap", float("nan"), "", fmt_ratio(total / boot_s), ""),
    ]


# ---------------------------------------------------------------------------------------------- conditions

_ROOT = str(Path(__file__).resolve().parents[1])

FIRST_CALL = f"""
import json, sys, time
sys.path.insert(0, {_ROOT!r})
t0 = time.perf_counter()
import analysis
t1 = time.perf_counter()
from analysis import datasets
counts = datasets.chatbot_arena_2024_08_14("counts")
t2 = time.perf_counter()
analysis.leaderboard(counts, ci="bootstrap", resamples={RESAMPLES}, seed={SEED})
t3 = time.perf_counter()
analysis.leaderboard(counts, ci="bootstrap", resamples={RESAMPLES}, seed={SEED})
t4 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "first": t3 - t2, "second": t4 - t3, "torch": "torch" in sys.modules,
                  "numba": "numba" in sys.modules}}))
"""

EXPLORER_FIRST = f"""
import json, sys, time
sys.path.insert(0, {_ROOT!r})
t0 = time.perf_counter()
import analysis
t1 = time.perf_counter()
from analysis.widgets import explorer
e = explorer("chatbot-arena-2024-08-14", resamples=200)
t2 = time.perf_counter()
e.interval.value = "bootstrap"  # the first refit after opening: a 200-resample bootstrap board, table and plot
t3 = time.perf_counter()
assert e.error is None, e.error
print(json.dumps({{"import": t1 - t0, "open": t2 - t1, "refit": t3 - t2, "fit": e.fit_seconds}}))
"""

CHOIX_FIRST = f"""
import json, sys, time
sys.path.insert(0, {_ROOT!r})
sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})
import ratings as bench
counts, table, fit = bench.load()
mats = bench.choix_matrices(table, {{n_fit}})
t0 = time.perf_counter()
import choix
t1 = time.perf_counter()
for m in mats:
    choix.ilsr_pairwise_dense(m)
t2 = time.perf_counter()
print(json.dumps({{"import": t1 - t0, "loop": (t2 - t1) * {RESAMPLES} / len(mats)}}))
"""


def sparse_counts(k: int = 10_000, votes: int = 40_000, seed: int = 7):
    """A large sparse arena: each vote pairs a model with one of its two ring neighbours on either side (the
    comparison graph of ``simulate_counts(..., pairing="sparse")``), Bradley-Terry outcomes, 10% ties."""
    import pandas as pd
    from scipy.special import expit

    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, k)
    a = rng.integers(0, k, votes)
    b = (a + rng.choice([-2, -1, 1, 2], votes)) % k
    tie = rng.random(votes) < 0.1
    win = rng.random(votes) < expit(theta[a] - theta[b])
    outcome = np.where(tie, "tie", np.where(win, "win_a", "win_b"))
    names = np.array([f"model-{x:05d}" for x in range(k)])
    frame = pd.DataFrame({"model_a": names[a], "model_b": names[b], "outcome": outcome})
    return frame.groupby(["model_a", "model_b", "outcome"], as_index=False).size().rename(columns={"size": "count"})


def condition_rows(counts, table, fit, quiet_board: float, quiet_choix: float, n_fit: int) -> list[Row]:
    """Board and choix loop side by side: first call, one and two competing processes, large sparse board."""
    import analysis
    from analysis import intervals

    rows = [Row("warm, no competitor started: board", quiet_board, "",
                fmt_ratio(quiet_choix / quiet_board),
                f"choix loop {fmt_time(quiet_choix)} (engine table below); {load_now()}")]

    children = [run_python(FIRST_CALL) for _ in range(3)]
    imports, firsts, seconds = ([c[key] for c in children] for key in ("import", "first", "second"))
    fresh_choix = run_python(CHOIX_FIRST.replace("{n_fit}", str(n_fit)))
    choix_first = fresh_choix["import"] + fresh_choix["loop"]
    rows.append(Row("fresh process: `import analysis`", median(imports), fmt_spread(imports),
                    note=f"goal <= 1.0 s: {'met' if median(imports) <= 1.0 else 'NOT met'}; {load_now()}"))
    rows.append(Row("fresh process: first board (after import and loading the counts)", median(firsts),
                    fmt_spread(firsts), fmt_ratio(choix_first / median(firsts)),
                    f"goal <= 1.0 s: {'met' if median(firsts) <= 1.0 else 'NOT met'}; second board in the same "
                    f"process {fmt_time(median(seconds))}; torch imported: {children[0]['torch']}; choix in a fresh "
                    f"process (import {fmt_time(fresh_choix['import'])} + loop) {fmt_time(choix_first)}; "
                    f"{load_now()}"))

    explorers = [run_python(EXPLORER_FIRST) for _ in range(3)]
    refits, opens = [c["refit"] for c in explorers], [c["open"] for c in explorers]
    rows.append(Row("fresh process: explorer's first refit after opening (200-resample bootstrap, table, plot)",
                    median(refits), fmt_spread(refits),
                    note=f"goal <= 1.0 s: {'met' if median(refits) <= 1.0 else 'NOT met'}; of which the fit "
                         f"{fmt_time(median(c['fit'] for c in explorers))}; opening the explorer on Chatbot Arena's "
                         f"1.67M votes (load, aggregate, first sandwich board) {fmt_time(median(opens))}; "
                         f"{load_now()}"))

    def board():
        return analysis.leaderboard(counts, ci="bootstrap", resamples=RESAMPLES, seed=SEED, progress=False)

    cpu = []
    for _ in range(3):
        start = time.process_time()
        board()
        cpu.append(time.process_time() - start)
    rows[0].note += (f"; CPU time per board, all threads: {fmt_time(median(cpu))} (what one dedicated core would "
                     "take at one thread)")

    mats = choix_matrices(table, n_fit)
    for n in (1, 2):
        with Competitor(n):
            load = load_now()
            times, _ = measure(board, 3)
            # Default threads, one thread and two threads in interleaved rounds, so that a change in the
            # background load falls on all three alike.
            boot_auto, boot_one, boot_two = [], [], []
            for _ in range(5):
                for threads, into in ((None, boot_auto), (1, boot_one), (2, boot_two)):
                    start = time.perf_counter()
                    intervals.bootstrap(fit, RESAMPLES, seed=SEED, threads=threads, progress=False)
                    into.append(time.perf_counter() - start)
            choix_s, _ = choix_loop(table, n_fit, mats)
        goal = ""
        if n == 1:
            met = median(times) <= 0.8 and choix_s >= 5 * median(times)
            goal = f"; goal <= 0.8 s and >= 5x choix: {'met' if met else 'NOT met'}"
        rows.append(Row(f"{n} other CPU-bound process{'es' if n > 1 else ''}: board", median(times),
                        fmt_spread(times), fmt_ratio(choix_s / median(times)),
                        f"choix loop {fmt_time(choix_s)}; intervals.bootstrap (5 interleaved rounds) default threads "
                        f"{fmt_time(median(boot_auto))}, 1 thread {fmt_time(median(boot_one))}, 2 threads "
                        f"{fmt_time(median(boot_two))}{goal}; {load} (competitors started by this script)"))

    big = sparse_counts()
    analysis.leaderboard(sparse_counts(2000, 8000), prior=1.0, resamples=100, seed=1, progress=False)  # warm-up
    times, out = measure(lambda: analysis.leaderboard(big, prior=1.0, seed=1, progress=False), 2, warmup=0)
    rows.append(Row("10,000 models, 40,000 sparse votes, prior 1: leaderboard with 1,000-resample intervals",
                    median(times), fmt_spread(times),
                    note=f"goal <= 10 s: {'met' if median(times) <= 10 else 'NOT met'}; refit iterations "
                         f"{out.attrs.get('refit_iterations')}, failed {out.attrs.get('refit_failed')}; a progress "
                         f"bar appears after 1 s (progress=None, the default; off here); {load_now()}"))
    return rows


# ---------------------------------------------------------------------------------------------- peers


PEER_LABELS = {
    "choix": "choix single fit",
    "fastchat": "FastChat recipe (sklearn, duplicated battles)",
    "fastchat-weighted": "FastChat recipe (sklearn, weighted pivot cells, 2024 code)",
    "arena-rank": "arena-rank fit",
    "arena-rank-sandwich": "arena-rank fit + sandwich CI",
    "arenakit": "arenakit fit",
}


def peer_rows(table, fit, fit_s: float, sandwich_s: float, quick: bool, repeats: int) -> list[Row]:
    data = PairData(table.i, table.j, table.counts, table.n_models)
    rows = []
    for name, label in PEER_LABELS.items():
        if name == "fastchat" and quick:
            rows.append(Row(label, note="skipped (--quick: a 3.3M x 129 dense design, about a minute)"))
            continue
        reps = 1 if name == "fastchat" else repeats
        res = _peers.run_peer(name, data, reps)
        if res.skipped:
            rows.append(Row(label, note=f"skipped ({res.skipped})"))
            continue
        ours = sandwich_s if name == "arena-rank-sandwich" else fit_s
        diff = np.abs((res.theta - res.theta.mean()) - fit.theta).max() * ELO
        t = median(res.times)
        rows.append(Row(label, t, fmt_spread(res.times), fmt_ratio(t / ours),
                        f"max rating difference {diff:.2g} Elo (mean-aligned); {res.note}"))
    return rows


def time_sandwich(counts, repeats: int) -> Row:
    import analysis

    times, _ = measure(lambda: analysis.leaderboard(counts, recipe="arena-rank"), repeats)
    return Row("our board, recipe='arena-rank' (fit + sandwich CI)", median(times), fmt_spread(times),
               note="reference for the arena-rank sandwich row")


# ---------------------------------------------------------------------------------------------- GPU


def gpu_rows(fit, counts, repeats: int) -> list[Row]:
    import torch

    if not torch.cuda.is_available():
        return [Row("GPU", note="no GPU (torch.cuda.is_available() is False)")]
    name = torch.cuda.get_device_name(0)
    row_boot, _ = time_bootstrap(fit, repeats, device="cuda")
    row_board, _ = time_board(counts, repeats, device="cuda")
    row_boot.note += f"; {name}"
    row_board.note += f"; {name}"
    return [row_boot, row_board]


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    args = parse_args()
    threads = limit_blas(args.blas_threads)
    repeats = args.repeats or (3 if args.quick else 5)
    fit_repeats = 10 if args.quick else 20
    started = time.perf_counter()
    print("# benchmarks/ratings.py")
    for line in _peers.machine_lines(VERSIONS) + [threads]:
        print(f"- {line}")

    counts, table, fit = load()
    print(f"- data: Chatbot Arena 2024-08-14, {table.n_votes:,} votes, {table.n_models} models, "
          f"{len(table.i):,} pairs, {len(counts):,} count cells; seed {SEED}")

    rows = [time_fit(table, fit_repeats, "exact fit (fit_bt on the pair table), before any bootstrap")]
    board_row, _ = time_board(counts, repeats)
    boot_row, draws = time_bootstrap(fit, repeats)
    rows += [board_row, boot_row, time_draws(table, max(3, repeats - 2))]
    rows.append(time_fit(table, fit_repeats, "exact fit, after the bootstrap ran (diagnostic)"))
    rows.append(time_fit_blas1(table, fit_repeats))
    rows.append(Row("board <= 1 s goal", note="met" if board_row.median <= 1.0 else
                    f"NOT met ({fmt_time(board_row.median)})"))
    n_fit = min(args.choix_draws, RESAMPLES)
    choix = choix_rows(table, draws, board_row.median, boot_row.median, n_fit)
    rows += choix
    if not args.no_conditions:
        conditions = condition_rows(counts, table, fit, board_row.median, choix[0].median, n_fit)
        print()
        print("## Conditions (board: leaderboard(counts, ci='bootstrap', resamples=1000); same seed throughout)")
        print()
        print(_peers.markdown_table(conditions, ratio_header="choix loop / board"))
    if not args.no_peers:
        sandwich = time_sandwich(counts, repeats)
        rows.append(sandwich)
        rows += peer_rows(table, fit, rows[0].median, sandwich.median, args.quick, max(3, repeats - 2))
    rows += gpu_rows(fit, counts, repeats)

    print()
    print("## Engine and peers")
    print()
    print(_peers.markdown_table(rows, ratio_header="ratio (peer / ours)"))
    print()
    print(f"- {_peers.load_line()}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
