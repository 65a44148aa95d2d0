"""The one command line, ``python -m analysis``: argparse subcommands, each a thin wrapper over one public function.

    python -m analysis leaderboard SOURCE [--recipe fastchat|arena-rank|aa] [--ties ...] [--ci ...] [--out FILE]
    python -m analysis reproduce SOURCE PUBLISHED.csv [--recipe ...] --out report.html|.md
    python -m analysis correlate --case videobench-vbench|t2vscore|genai-arena-vbench --out DIR
    python -m analysis correlate HUMAN.csv METRIC.csv --human-col ... --metric-col ... --unit model|pair|vote|video
    python -m analysis metrics VIDEOS --dimensions a,b --out DIR    (also: python -m analysis.metrics ...)
    python -m analysis demo                (what `make demo` runs: every notebook in full, figures, report)
    python -m analysis datasets            (list the known data sets)

Bad input ends with exit code 2 and a one-line reason on stderr, never a traceback. What the vote reader
excluded, and why, is printed on stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

# What a user can cause with bad input or options; anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, TypeError, PermissionError, IsADirectoryError,
               NotADirectoryError)


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit code 2, argparse's own code for usage errors)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message}\n")


def _anchor(text: str | None):
    if text is None or text == "mean":
        return text
    model, sep, value = text.rpartition("=")
    if not sep or not model:
        raise ValueError(f"--anchor takes 'mean' or MODEL=VALUE, not {text!r}")
    try:
        return {model: float(value)}
    except ValueError:
        raise ValueError(f"--anchor {text!r}: the value after '=' must be a number") from None


# ---------------------------------------------------------------------------------------------- subcommands


def _add_leaderboard(sub: Any) -> None:
    from .bt import TIE_RULES
    from .vocab import CI_METHODS

    p = sub.add_parser("leaderboard", help="fit a leaderboard from votes, counts or a data set name",
                       description="Fit a leaderboard from votes, counts or a data set name.")
    p.add_argument("source", help="data set name (e.g. chatbot-arena-2024-08-14), or a votes file, folder or glob")
    p.add_argument("--recipe", choices=["fastchat", "arena-rank", "aa"])
    p.add_argument("--method", choices=["bt", "elo"])
    p.add_argument("--ties", choices=list(TIE_RULES))
    p.add_argument("--bothbad", choices=["tie", "drop"])
    p.add_argument("--position", action="store_true", default=None, help="fit a first-shown advantage")
    p.add_argument("--reweight", choices=["inverse_pair"])
    p.add_argument("--prior", type=float)
    p.add_argument("--anchor", help="'mean' or MODEL=VALUE")
    p.add_argument("--ci", choices=list(CI_METHODS))
    p.add_argument("--cluster", help="column to resample as clusters (ci=cluster) or for cluster-robust sandwich")
    p.add_argument("--resamples", type=int)
    p.add_argument("--level", type=float, help="confidence level, e.g. 0.95")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:N")
    p.add_argument("--allow-self", action="store_true", default=None,
                   help="exclude self-battles (and report them) instead of stopping")
    p.add_argument("--top", type=int, default=20, help="rows to print (0 = all)")
    p.add_argument("--out", help="write the board: .csv, .parquet, .md or .html")
    p.set_defaults(func=_leaderboard)


def _leaderboard(args: argparse.Namespace) -> int:
    from .ratings import leaderboard
    from .tables import format_board, write_table
    from .votes import format_report

    if args.out and Path(args.out).suffix.lower() not in (".csv", ".parquet", ".md", ".html"):
        raise ValueError(f"--out must end in .csv, .parquet, .md or .html, not {Path(args.out).name!r}")
    if args.top is not None and args.top < 0:
        raise ValueError(f"--top must be >= 0, not {args.top}")
    opts = {k: getattr(args, k) for k in ("recipe", "method", "ties", "bothbad", "position", "reweight", "prior",
                                          "ci", "cluster", "resamples", "level", "seed", "device", "allow_self")}
    board = leaderboard(args.source, anchor=_anchor(args.anchor), progress=True, **opts)
    print(f"votes: {format_report(board.attrs.get('report'))}", file=sys.stderr)
    print(format_board(board, args.top or None))
    if args.out:
        print(f"wrote {write_table(board, args.out)}")
    return 0


def _add_datasets(sub: Any) -> None:
    p = sub.add_parser("datasets", help="list the known data sets", description="List the known data sets.")
    p.set_defaults(func=_datasets)


def _datasets(args: argparse.Namespace) -> int:
    from . import datasets

    for name, ds in datasets.DATASETS.items():
        print(f"{name:28s} {ds.description}")
    return 0


def _add_demo(sub: Any) -> None:
    p = sub.add_parser("demo", help="run every notebook on the embedded data, write figures and a report",
                       description="Run the main job on embedded data.")
    p.add_argument("--out", default="figures", help="folder for figures")
    p.add_argument("--reports", default="reports", help="folder for executed notebooks and HTML exports")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--small", action="store_true", help="run the notebooks with their small CI parameters")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from .report import demo

    for path in demo(args.out, reports=args.reports, resamples=args.resamples, small=args.small):
        print(f"wrote {path}")
    return 0


def _add_metrics(sub: Any) -> None:
    # The metric runner keeps its own parser (torchrun starts it as `-m analysis.metrics`); this mounts it here.
    p = sub.add_parser("metrics", help="score videos on VBench dimensions (see python -m analysis metrics -h)",
                       add_help=False, description="Score videos on VBench dimensions.")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_metrics)


def _metrics(args: argparse.Namespace) -> int:
    from .metrics.__main__ import main as metrics_main

    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    return metrics_main(rest)


def _add_reproduce(sub: Any) -> None:
    from .reproduce import add_reproduce_parser

    add_reproduce_parser(sub)


def _add_correlate(sub: Any) -> None:
    from .correlation import add_correlate_parser

    add_correlate_parser(sub)


# Subcommand -> the function that adds it; each imports its module only when its subcommand is built.
SUBCOMMANDS: dict[str, Callable[[Any], None]] = {
    "leaderboard": _add_leaderboard, "reproduce": _add_reproduce, "correlate": _add_correlate,
    "metrics": _add_metrics, "demo": _add_demo, "datasets": _add_datasets,
}


def build_parser(commands: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The ``python -m analysis`` parser with ``commands`` (default: every subcommand, as help lists them)."""
    parser = _Parser(prog="python -m analysis", description=__doc__.split("\n\n")[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in commands or SUBCOMMANDS:
        SUBCOMMANDS[name](sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; bad input returns 2 with a one-line reason on stderr."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only the subcommand asked for is built: `leaderboard` need not import the correlation or report modules.
    parser = build_parser([argv[0]] if argv and argv[0] in SUBCOMMANDS else None)
    if not argv:
        parser.print_help()
        return 0
    if argv[0] == "metrics":
        # The metric runner parses its own options (and --help); argparse's REMAINDER would not pass a leading one.
        argv = ["metrics", "--", *argv[1:]]
    try:
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"error: {' '.join(str(message).split())}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse's usage errors (code 2) and --help (code 0)
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
