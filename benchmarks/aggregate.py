"""Vote aggregation speed and memory: battles in Parquet -> sufficient statistics (counts per pair and outcome).

Prints one Markdown table:

1. The 1,670,250 real Chatbot Arena votes (2024-08-14) written to one Parquet file as plain strings (model_a,
   model_b, winner, as LMArena publishes battles), reduced to counts by ``analysis.votes.aggregate`` with the
   auto (DuckDB) and pandas engines, beside a plain ``pd.read_parquet(...).groupby([...]).size()``.
   Goal: <= 0.5 s median on 2 cores.
2. 10M simulated votes written as a glob of Parquet files, aggregated by the DuckDB engine in a child process
   whose peak resident memory (``ru_maxrss`` from ``os.wait4``) is the figure reported. Goal: < 2 GB.

    .venv/bin/python benchmarks/aggregate.py            # 7 repeats (~1-2 min on 2 cores)
    .venv/bin/python benchmarks/aggregate.py --quick    # 5 repeats, no pandas comparison on the 10M votes
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _peers
import numpy as np
import pandas as pd
from _peers import Row, fmt_ratio, fmt_spread, measure, median

VERSIONS = ("numpy", "pandas", "pyarrow", "duckdb")
KEYS = ["model_a", "model_b", "winner"]
MEMORY_GOAL = 2 * 10**9  # bytes
REAL_GOAL = 0.5  # seconds


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="5 repeats; skip the pandas children on 10M votes")
    p.add_argument("--repeats", type=int, default=None, help="repeats on the real votes (default 7, quick 5)")
    p.add_argument("--votes", type=int, default=10_000_000, help="simulated votes for the memory test")
    p.add_argument("--files", type=int, default=10, help="Parquet files the simulated votes are split into")
    p.add_argument("--dir", default=None, help="folder for the Parquet files (default: a temporary folder)")
    return p.parse_args()


# ---------------------------------------------------------------------------------------------- Parquet


def write_parquet(battles: pd.DataFrame, path: Path) -> None:
    """Battles as plain string columns, without pandas metadata (so readers see strings, not categoricals)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(battles[KEYS], preserve_index=False)
    table = pa.table({name: table[name].cast(pa.string()) for name in KEYS})
    pq.write_table(table.replace_schema_metadata(None), path)


def write_real(folder: Path) -> tuple[Path, int]:
    from analysis import datasets

    battles = datasets.chatbot_arena_2024_08_14("battles")
    # The loader expands counts cell by cell; real battle files are in time order, so shuffle (seeded).
    battles = battles.sample(frac=1.0, random_state=0, ignore_index=True)
    path = folder / "chatbot_arena_2024_08_14.parquet"
    write_parquet(battles, path)
    return path, len(battles)


def write_simulated(folder: Path, n_votes: int, n_files: int) -> tuple[str, float, float]:
    """Simulated votes among the 129 real model names, split into files; (glob, simulate s, write s)."""
    from analysis import datasets
    from analysis.simulate import simulate_arena

    names = list(datasets.chatbot_arena_2024_08_14("counts")["model_a"].cat.categories)
    start = time.perf_counter()
    battles = simulate_arena(len(names), n_votes, model_names=names, tie_rate=0.3, seed=7)
    simulated = time.perf_counter() - start
    start = time.perf_counter()
    sim = folder / "simulated"
    sim.mkdir(exist_ok=True)
    step = -(-n_votes // n_files)
    for k, lo in enumerate(range(0, n_votes, step)):
        write_parquet(battles.iloc[lo : lo + step], sim / f"votes-{k:03d}.parquet")
    return str(sim / "*.parquet"), simulated, time.perf_counter() - start


# ---------------------------------------------------------------------------------------------- real votes


def check_counts(path: Path, n_votes: int) -> str:
    """The DuckDB and pandas engines and the plain groupby agree cell by cell; a note saying so."""
    from analysis.votes import aggregate

    keys = ["model_a", "model_b", "outcome"]
    duck = aggregate(path, engine="duckdb").astype({k: str for k in keys}).set_index(keys)["count"]
    pand = aggregate(path, engine="pandas").astype({k: str for k in keys}).set_index(keys)["count"]
    plain = pd.read_parquet(path).groupby(KEYS).size()
    same = duck.sort_index().equals(pand.sort_index())
    same = same and dense_series(*dictionary_counts(path)).sort_index().equals(duck.sort_index())
    ok = same and int(duck.sum()) == n_votes == int(plain.sum()) and len(duck) == len(plain)
    return (f"engines agree on all {len(duck):,} cells, {int(duck.sum()):,} votes" if ok
            else f"MISMATCH: duckdb {int(duck.sum())} / pandas {int(pand.sum())} / groupby {int(plain.sum())}")


def dictionary_counts(path: Path) -> tuple[list[str], np.ndarray]:
    """Prototype, not in ``analysis``: Parquet's dictionary pages read as codes (no strings), one bincount.

    Shows what reading the dictionary-encoded columns directly costs; winner labels are normalised on the few
    dictionary values, not per row. Returns the model names and the dense (a, b, outcome) count vector.
    """
    import pyarrow.parquet as pq

    from analysis.votes import _WINNER_ALIASES, WINNERS

    table = pq.read_table(path, columns=KEYS, read_dictionary=KEYS)
    chunks = {c: table[c].chunks for c in KEYS}
    names = sorted({v for c in KEYS[:2] for ch in chunks[c] for v in ch.dictionary.to_pylist()})
    index, k = pd.Index(names), len(names)
    total = np.zeros(k * k * 4, dtype=np.int64)
    for ca, cb, cw in zip(chunks["model_a"], chunks["model_b"], chunks["winner"], strict=True):
        labels = [str(v).strip().lower() for v in cw.dictionary.to_pylist()]
        w = np.array([WINNERS.index(_WINNER_ALIASES.get(v, v)) for v in labels])
        a = index.get_indexer(ca.dictionary.to_pylist())[ca.indices.to_numpy()]
        b = index.get_indexer(cb.dictionary.to_pylist())[cb.indices.to_numpy()]
        total += np.bincount((a * k + b) * 4 + w[cw.indices.to_numpy()], minlength=k * k * 4)
    return names, total


def dense_series(names: list[str], dense: np.ndarray) -> pd.Series:
    """The prototype's dense count vector as a Series indexed like aggregate's (model_a, model_b, outcome)."""
    from analysis.votes import OUTCOMES

    k = len(names)
    nz = np.flatnonzero(dense)
    a, rest = np.divmod(nz, k * 4)
    b, o = np.divmod(rest, 4)
    index = pd.MultiIndex.from_arrays([np.array(names)[a], np.array(names)[b], np.array(OUTCOMES)[o]],
                                      names=["model_a", "model_b", "outcome"])
    return pd.Series(dense[nz], index=index, name="count")


def real_rows(path: Path, repeats: int) -> list[Row]:
    from analysis.votes import aggregate

    frame = pd.read_parquet(path)
    timings = {
        "auto": measure(lambda: aggregate(path), repeats)[0],
        "duckdb": measure(lambda: aggregate(path, engine="duckdb"), repeats)[0],
        "pandas": measure(lambda: aggregate(path, engine="pandas"), repeats)[0],
        "frame": measure(lambda: aggregate(frame, engine="pandas"), repeats)[0],
        "plain": measure(lambda: pd.read_parquet(path).groupby(KEYS).size(), repeats)[0],
        "groupby": measure(lambda: frame.groupby(KEYS).size(), repeats)[0],
        "read": measure(lambda: pd.read_parquet(path), repeats)[0],
        "dict": measure(lambda: dictionary_counts(path), repeats)[0],
    }
    base = median(timings["plain"])

    def row(key: str, label: str, note: str = "") -> Row:
        t = median(timings[key])
        return Row(label, t, fmt_spread(timings[key]), fmt_ratio(base / t), note)

    verdict = "met" if median(timings["auto"]) <= REAL_GOAL else "NOT met"
    return [
        row("auto", "aggregate(path) [auto: DuckDB]", f"goal <= {REAL_GOAL} s: {verdict}"),
        row("duckdb", "aggregate(path, engine='duckdb')"),
        row("pandas", "aggregate(path, engine='pandas')", "read_votes (validation) + bincount"),
        row("frame", "aggregate(frame, engine='pandas'), frame in memory", "string frame read beforehand"),
        row("plain", "baseline: pd.read_parquet(path).groupby(keys).size()", "the reference of the ratio column"),
        row("groupby", "baseline: frame.groupby(keys).size(), frame in memory"),
        row("read", "pd.read_parquet(path) alone"),
        row("dict", "prototype: pyarrow dictionary codes + np.bincount", "not in analysis/; same counts (checked)"),
    ]


# ---------------------------------------------------------------------------------------------- 10M votes

CHILD = r"""
import json, sys, time
import pandas as pd
from analysis.votes import aggregate
src, how = sys.argv[1], sys.argv[2]
start = time.perf_counter()
if how == "duckdb":
    out = aggregate(src, engine="duckdb"); votes = int(out["count"].sum())
elif how == "pandas":
    out = aggregate(src, engine="pandas"); votes = int(out["count"].sum())
elif how == "cli-board":
    # What `python -m analysis leaderboard GLOB` does: the DuckDB reader, the fit and 1,000 resamples.
    from analysis.cli import main
    import contextlib, io
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main(["leaderboard", src, "--resamples", "1000", "--seed", "0"])
    out, votes = [0], 1
elif how == "python-board":
    # The same board from Python: read_votes (pandas engine) + leaderboard on the battles frame.
    from analysis import leaderboard, read_votes
    out = leaderboard(read_votes(src), resamples=1000, seed=0); votes = int(out.attrs["report"]["rows_used"])
elif how == "groupby":
    out = pd.read_parquet(sorted(__import__("glob").glob(src))).groupby(["model_a", "model_b", "winner"]).size()
    votes = int(out.sum())
else:
    import duckdb  # noqa: F401 (the import floor: interpreter, pandas, duckdb)
    votes = 0
hwm = [int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM")]
print("\nRESULT", json.dumps({"seconds": time.perf_counter() - start, "votes": votes, "cells": len(out) if votes else 0,
                  "vmhwm_kib": hwm[0] if hwm else -1}))
"""


def simulated_rows(src: str, n_votes: int, n_files: int, sim_s: float, write_s: float, quick: bool) -> list[Row]:
    rows = [
        Row(f"simulate_arena: {n_votes:,} votes, 129 models", sim_s, "1 run"),
        Row(f"write them as {n_files} Parquet files", write_s, "1 run"),
    ]
    _, floor = run_peak(src, "import")
    runs = [run_peak(src, "duckdb") for _ in range(1 if quick else 3)]
    times = [r[0]["seconds"] for r in runs]
    peak = max(r[1] for r in runs)
    cells = runs[0][0]["cells"]
    hwm = max(r[0]["vmhwm_kib"] for r in runs) * 1024
    verdict = "met" if peak < MEMORY_GOAL else "NOT met"
    rows.append(Row(f"aggregate(glob, engine='duckdb'), {n_votes:,} votes", median(times), fmt_spread(times),
                    note=f"peak RSS {peak / 1e9:.2f} GB (goal < 2 GB: {verdict}; VmHWM {hwm / 1e9:.2f} GB); "
                         f"{cells:,} cells; child process, imports alone {floor / 1e9:.2f} GB"))
    boards = {how: run_peak(src, how) for how in ("cli-board", "python-board")}
    cli_s, cli_rss = boards["cli-board"][0]["seconds"], boards["cli-board"][1]
    for how, label in (("cli-board", "board from the CLI: leaderboard GLOB (DuckDB reader), 1,000 resamples"),
                       ("python-board", "board from Python: leaderboard(read_votes(GLOB)), 1,000 resamples")):
        report, rss = boards[how]
        ratio = "" if how == "cli-board" else (
            f"; {report['seconds'] / cli_s:.2f}x the CLI's time, {rss / cli_rss:.2f}x its memory (goal <= 2x)")
        rows.append(Row(f"{label}, {n_votes:,} votes", report["seconds"], "1 run",
                        note=f"peak RSS {rss / 1e9:.2f} GB{ratio}"))
    if not quick:
        for how, label in (("pandas", "aggregate(glob, engine='pandas')"),
                           ("groupby", "baseline: pd.read_parquet(files).groupby(keys).size()")):
            report, rss = run_peak(src, how)
            rows.append(Row(f"{label}, {n_votes:,} votes", report["seconds"], "1 run",
                            note=f"peak RSS {rss / 1e9:.2f} GB (VmHWM {report['vmhwm_kib'] * 1024 / 1e9:.2f} GB); "
                                 "comparison"))
    return rows


# A lean parent for the measured child: ru_maxrss keeps the high-water mark of the image that forked, so a
# child forked straight from this (large) process would report this process's memory as its own.
LAUNCHER = r"""
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = proc.stdout.read(), proc.stderr.read()
_, status, usage = os.wait4(proc.pid, 0)
sys.stderr.write(err.decode())
sys.stdout.write(out.decode())
print("\nUSAGE", json.dumps({"maxrss_kib": usage.ru_maxrss, "exit": os.waitstatus_to_exitcode(status)}))
"""


def run_peak(src: str, how: str) -> tuple[dict, int]:
    """A child's report and its peak RSS in bytes (``os.wait4`` on that one process, from a lean launcher)."""
    child = [sys.executable, "-c", CHILD, src, how]
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, *child], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], check=False)
    # DuckDB may draw its progress bar on stdout, so the two reports are found by their tags.
    found = {line.split(" ", 1)[0]: json.loads(line.split(" ", 1)[1])
             for line in proc.stdout.splitlines() if line.startswith(("RESULT ", "USAGE "))}
    usage = found.get("USAGE", {"exit": proc.returncode})
    if proc.returncode != 0 or usage.get("exit") != 0 or "RESULT" not in found:
        raise RuntimeError(f"child ({how}) failed: {proc.stderr.strip().splitlines()[-1:]}")
    return found["RESULT"], usage["maxrss_kib"] * 1024  # Linux reports KiB


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    args = parse_args()
    repeats = args.repeats or (5 if args.quick else 7)
    started = time.perf_counter()
    print("# benchmarks/aggregate.py")
    for line in _peers.machine_lines(VERSIONS):
        print(f"- {line}")
    with tempfile.TemporaryDirectory(prefix="bench-aggregate-", dir=args.dir) as tmp:
        folder = Path(tmp)
        path, n_votes = write_real(folder)
        print(f"- real votes: {n_votes:,} battles, Parquet {path.stat().st_size / 2**20:.1f} MiB "
              f"(plain strings, snappy); {check_counts(path, n_votes)}")
        rows = real_rows(path, repeats)
        src, sim_s, write_s = write_simulated(folder, args.votes, args.files)
        rows += simulated_rows(src, args.votes, args.files, sim_s, write_s, args.quick)
    print()
    print(_peers.markdown_table(rows, ratio_header="speed-up vs read+groupby"))
    print()
    print(f"- {_peers.load_line()}; total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
