"""Command line: each subcommand is a thin wrapper over one public function.

    python -m analysis leaderboard SOURCE [--recipe fastchat|arena-rank|aa] [--ties ...] [--ci ...] [--out FILE]
    python -m analysis reproduce SOURCE PUBLISHED.csv [--recipe ...] --out report.html|.md
    python -m analysis correlate --case videobench-vbench|t2vscore|genai-arena-vbench --out DIR
    python -m analysis correlate HUMAN.csv METRIC.csv --human-col ... --metric-col ... --level model|pair|vote|video
    python -m analysis demo                (what `make demo` runs: every notebook in full, figures, report)
    python -m analysis datasets            (list the known data sets)

Bad input ends with exit code 2 and a one-line reason on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

USER_ERRORS = (ValueError, KeyError, FileNotFoundError, TypeError)


def _anchor(text: str | None):
    if text is None or text == "mean":
        return text
    model, sep, value = text.rpartition("=")
    if not sep:
        raise ValueError(f"--anchor takes 'mean' or MODEL=VALUE, not {text!r}")
    return {model: float(value)}


def write_table(board: pd.DataFrame, out: str | Path) -> Path:
    """Write a board as CSV, Parquet, Markdown or HTML (by suffix), atomically."""
    from .io import atomic_path

    out = Path(out)
    suffix = out.suffix.lower()
    writers: dict[str, Callable[[Path], None]] = {
        ".csv": lambda p: board.to_csv(p, index=False),
        ".parquet": lambda p: board.to_parquet(p, index=False),
        ".md": lambda p: p.write_text(board.to_markdown(index=False, floatfmt=".1f") + "\n"),
        ".html": lambda p: p.write_text(board.to_html(index=False, float_format="%.1f")),
    }
    if suffix not in writers:
        raise ValueError(f"--out must end in one of {sorted(writers)}, not {out.name!r}")
    with atomic_path(out) as tmp:
        writers[suffix](tmp)
    return out


def format_board(board: pd.DataFrame, top: int | None = 20) -> str:
    """A readable fixed-width table of the first ``top`` rows."""
    cols = ["rank", "model", "rating", "lower", "upper", "rank_lower", "rank_upper", "n_battles"]
    shown = board[cols].head(top) if top else board[cols]
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.1f}")
    a = board.attrs
    head = (f"{a.get('models')} models, {a.get('votes', 0):,} votes; {a.get('method')} ties={a.get('ties')} "
            f"ci={a.get('ci')} ({a.get('resamples', 0)} draws, {a.get('level', 0.95):.0%}) anchor={a.get('anchor')}")
    more = f"\n... {len(board) - top} more" if top and len(board) > top else ""
    return f"{head}\n{text}{more}"


def leaderboard_main(argv: Sequence[str] | None = None) -> int:
    from .ratings import CI_METHODS, RECIPES, leaderboard

    p = argparse.ArgumentParser(prog="python -m analysis leaderboard",
                                description="Fit a leaderboard from votes, counts or a dataset name.")
    p.add_argument("source", help="dataset name (e.g. chatbot-arena-2024-08-14) or a votes file / glob")
    p.add_argument("--recipe", choices=sorted(RECIPES))
    p.add_argument("--method", choices=["bt", "elo"])
    p.add_argument("--ties", choices=["half", "drop", "rao-kupper", "davidson"])
    p.add_argument("--bothbad", choices=["tie", "drop"])
    p.add_argument("--position", action="store_true", default=None, help="fit a first-shown advantage")
    p.add_argument("--reweight", choices=["inverse_pair"])
    p.add_argument("--prior", type=float)
    p.add_argument("--anchor", help="'mean' or MODEL=VALUE")
    p.add_argument("--ci", choices=list(CI_METHODS))
    p.add_argument("--cluster", help="column to resample as clusters (ci=cluster) or for cluster-robust sandwich")
    p.add_argument("--resamples", type=int)
    p.add_argument("--level", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default=None)
    p.add_argument("--top", type=int, default=20, help="rows to print (0 = all)")
    p.add_argument("--out", help="write the board: .csv, .parquet, .md or .html")
    args = p.parse_args(argv)
    opts = {k: getattr(args, k) for k in ("recipe", "method", "ties", "bothbad", "position", "reweight", "prior",
                                          "ci", "cluster", "resamples", "level", "seed", "device")}
    board = leaderboard(args.source, anchor=_anchor(args.anchor), progress=True, **opts)
    print(format_board(board, args.top or None))
    if args.out:
        print(f"wrote {write_table(board, args.out)}")
    return 0


def datasets_main(argv: Sequence[str] | None = None) -> int:
    from . import datasets

    argparse.ArgumentParser(prog="python -m analysis datasets", description="List the known data sets.").parse_args(
        argv)
    for name, ds in datasets.DATASETS.items():
        print(f"{name:28s} {ds.description}")
    return 0


def demo_main(argv: Sequence[str] | None = None) -> int:
    from .report import demo

    p = argparse.ArgumentParser(prog="python -m analysis demo", description="Run the main job on embedded data.")
    p.add_argument("--out", default="figures", help="folder for figures")
    p.add_argument("--reports", default="reports", help="folder for executed notebooks and HTML exports")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--small", action="store_true", help="run the notebooks with their small CI parameters")
    args = p.parse_args(argv)
    for path in demo(args.out, reports=args.reports, resamples=args.resamples, small=args.small):
        print(f"wrote {path}")
    return 0


def _lazy(module: str, func: str) -> Callable[[Sequence[str] | None], int]:
    def run(argv):
        import importlib

        return getattr(importlib.import_module(f"analysis.{module}"), func)(argv)

    return run


COMMANDS: dict[str, Callable[[Sequence[str] | None], int]] = {
    "leaderboard": leaderboard_main,
    "reproduce": _lazy("reproduce", "reproduce_main"),
    "correlate": _lazy("correlation", "correlate_main"),
    "datasets": datasets_main,
    "demo": demo_main,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown command {argv[0]!r}; choose one of {', '.join(COMMANDS)}", file=sys.stderr)
            return 2
        return 0
    try:
        return COMMANDS[argv[0]](argv[1:])
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {message}".splitlines()[0], file=sys.stderr)
        return 2
