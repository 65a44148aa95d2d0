"""``python -m analysis correlate``: the subcommand's arguments and its handler, for the one CLI to mount.

:func:`add_correlate_parser` adds the subcommand to an argparse ``subparsers`` object and sets ``func`` to
:func:`correlate_command`, which runs :func:`analysis.correlation.correlate` (or a real case), prints the
table and, with ``--out``, writes it through :mod:`analysis.io` and the figure through
:func:`analysis.plots.save_figure`. Bad input surfaces as :class:`CorrelationError` (a ``ValueError``) for the
CLI's one error handler to report.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import atomic_path
from ..vocab import check_level
from .cases import CASES, run_case
from .engine import correlate
from .options import CORRELATION_CI, HUMAN_SCALES, METHODS, UNITS, CorrelationError

__all__ = ["add_correlate_parser", "correlate_command"]

DESCRIPTION = "Human judgements against a metric, at model / pair / vote / video unit, with intervals."


def _confidence(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--level is the confidence level (e.g. 0.95), not {text!r}; the grain "
                                         f"of the correlation is --unit") from None
    try:
        return check_level(value, "--level")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_correlate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``correlate`` subcommand to ``subparsers`` (from ``ArgumentParser.add_subparsers``).

    The subparser is built by ``subparsers``' parser class (so it reports errors the way the main parser
    does) and sets ``func=correlate_command``. Returns the subparser.
    """
    p = subparsers.add_parser("correlate", help="human judgements against a metric, with intervals",
                              description=DESCRIPTION)
    p.add_argument("human", nargs="?", help="human CSV: ratings (model, item, score[, rater]), battles, or a board")
    p.add_argument("metric", nargs="?", help="metric CSV: per model or per video (item columns + model)")
    p.add_argument("--case", choices=list(CASES), help="run a real case instead of your own files")
    p.add_argument("--out", help="folder for the table (CSV) and the figure (PNG)")
    p.add_argument("--human-col", nargs="+", default=["score"])
    p.add_argument("--metric-col", nargs="+", default=["score"])
    p.add_argument("--unit", nargs="+", default=["model"], choices=list(UNITS), help="the grain (default: model)")
    p.add_argument("--method", nargs="+", default=["spearman"], choices=list(METHODS))
    p.add_argument("--model-col", default="model")
    p.add_argument("--item-col", nargs="+", help="column(s) naming an item (what every model generated for)")
    p.add_argument("--rater-col")
    p.add_argument("--cluster", nargs="+", help="column(s) resampled whole (default: the item)")
    p.add_argument("--human-scale", choices=list(HUMAN_SCALES), default="bt")
    p.add_argument("--ci", choices=list(CORRELATION_CI), default="bootstrap")
    p.add_argument("--level", type=_confidence, default=0.95, help="confidence level of the intervals")
    p.add_argument("--resamples", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=correlate_command)
    return p


def _format(table: pd.DataFrame) -> str:
    cols = ["unit", "human", "metric", "method", "group", "estimate", "lower", "upper", "n"]
    return table[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}", max_colwidth=36)


def _write(table: pd.DataFrame, out: Path, stem: str, title: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plots import corr_forest, save_figure

    csv = out / f"{stem}.csv"
    with atomic_path(csv) as tmp:
        table.to_csv(tmp, index=False)
    # The figure shows the headline rows: pooled groups and one rank method, so it stays readable.
    shown = table[(table["group"] == "all") & table["method"].isin(["spearman", "accuracy", "agreement"])]
    shown = shown if len(shown) else table
    ax = corr_forest(shown.dropna(subset=["estimate"]).reset_index(drop=True))
    ax.set_title(title)
    try:
        png = save_figure(ax, out / stem, formats=("png",))
    finally:
        plt.close(ax.figure)
    return [csv, *png]


def correlate_command(args: argparse.Namespace) -> int:
    """Run the subcommand from parsed arguments: a real case (``--case``) or HUMAN.csv METRIC.csv.

    Prints the table and its notes; with ``--out DIR`` writes ``DIR/correlation_<name>.csv`` and ``.png``.

    Raises
    ------
    CorrelationError
        Both or neither of ``--case`` and the two files; anything :func:`correlate` rejects.
    """
    if args.case:
        if args.human or args.metric:
            raise CorrelationError("give either --case or HUMAN.csv METRIC.csv, not both")
        opts: dict[str, Any] = {"level": args.level, "seed": args.seed}
        if args.case != "genai-arena-vbench":  # published aggregates: nothing to resample
            opts["resamples"] = args.resamples
        table = run_case(args.case, **opts)
        stem, title = f"correlation_{args.case}", f"{args.case}: human vs metric"
    else:
        if not (args.human and args.metric):
            raise CorrelationError("give HUMAN.csv and METRIC.csv, or --case NAME")
        human, metric = pd.read_csv(args.human), pd.read_csv(args.metric)
        table = correlate(human, metric, unit=args.unit, method=args.method, ci=args.ci, level=args.level,
                          resamples=args.resamples, cluster=args.cluster, seed=args.seed,
                          human_col=args.human_col, metric_col=args.metric_col, model_col=args.model_col,
                          item_cols=args.item_col, rater_col=args.rater_col, human_scale=args.human_scale,
                          case=Path(args.human).stem)
        stem, title = f"correlation_{Path(args.human).stem}", f"{Path(args.human).name} vs {Path(args.metric).name}"
    print(_format(table))
    notes = table["note"].dropna().unique()
    if len(notes):
        print("\nnotes:\n" + "\n".join(f"- {n}" for n in notes[:12]))
    if args.out:
        for path in _write(table, Path(args.out), stem, title):
            print(f"wrote {path}")
    return 0

