"""Rating-engine speed on the real Chatbot Arena counts (1,670,250 votes, 129 models), against the peers.

Prints one Markdown table: the exact Bradley-Terry fit, the 1,000-resample bootstrap board and the batched
bootstrap alone, against a loop of ``choix.ilsr_pairwise_dense`` over the same 1,000 resampled count matrices
(goal: board <= 1 s and >= 6x faster than the loop), then single fits of choix, FastChat's scikit-learn recipe,
arena-rank and arenakit with their time, ratio to ours and largest rating difference from our exact fit.

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

import _peers
import numpy as np
from _peers import ELO, PairData, Row, fmt_ratio, fmt_spread, fmt_time, measure, median

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
        return analysis.leaderboard(counts, ci="bootstrap", resamples=RESAMPLES, seed=SEED, device=device)

    times, out = measure(board, repeats)
    note = (f"leaderboard(counts, ci='bootstrap', resamples={RESAMPLES}): fit + draws + refits + ranks; "
            f"refit iterations {out.attrs.get('refit_iterations')}")
    return Row(f"bootstrap board, {RESAMPLES:,} resamples ({device})", median(times), fmt_spread(times),
               note=note), out


def time_bootstrap(fit, repeats: int, device: str = "auto") -> tuple[Row, object]:
    from analysis import intervals

    times, draws = measure(lambda: intervals.bootstrap(fit, RESAMPLES, seed=SEED, device=device), repeats)
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
               fmt_spread(times), note="exact multinomial (analysis.sampling: Poisson tables + fill), one block; "
                                       "intervals.bootstrap draws the same resamples in blocks of 256")


# ---------------------------------------------------------------------------------------------- choix loop


def choix_loop(table, n_fit: int) -> tuple[float, np.ndarray]:
    """Fit the first ``n_fit`` of the 1,000 resampled count matrices with choix; (seconds for all, theta)."""
    import choix

    data = PairData(table.i, table.j, table.counts, table.n_models)
    draws = resampled_counts(table, RESAMPLES, SEED)
    mats = [data.win_matrix(c) for c in draws[:n_fit]]  # built outside the timer
    start = time.perf_counter()
    theta = np.array([choix.ilsr_pairwise_dense(m) for m in mats])
    return time.perf_counter() - start, theta


def choix_rows(table, draws, board_s: float, boot_s: float, n_fit: int) -> list[Row]:
    seconds, theta = choix_loop(table, n_fit)
    total = seconds * RESAMPLES / n_fit
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

    rows = [time_fit(table, fit_repeats, "exact fit (fit_bt on the pair table), before any torch work")]
    board_row, _ = time_board(counts, repeats)
    boot_row, draws = time_bootstrap(fit, repeats)
    rows += [board_row, boot_row, time_draws(table, max(3, repeats - 2))]
    rows.append(time_fit(table, fit_repeats, "exact fit, after the torch bootstrap ran (diagnostic)"))
    rows.append(time_fit_blas1(table, fit_repeats))
    rows.append(Row("board <= 1 s goal", note="met" if board_row.median <= 1.0 else
                    f"NOT met ({fmt_time(board_row.median)})"))
    rows += choix_rows(table, draws, board_row.median, boot_row.median, min(args.choix_draws, RESAMPLES))
    if not args.no_peers:
        sandwich = time_sandwich(counts, repeats)
        rows.append(sandwich)
        rows += peer_rows(table, fit, rows[0].median, sandwich.median, args.quick, max(3, repeats - 2))
    rows += gpu_rows(fit, counts, repeats)

    print()
    print(_peers.markdown_table(rows, ratio_header="ratio (peer / ours)"))
    print()
    print(f"- {_peers.load_line()}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
