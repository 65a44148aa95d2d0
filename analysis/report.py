"""The demo job: every notebook executed in full (figures to figures/, HTML exports to reports/), plus a board
rebuilt from real votes with its figure and a short Markdown report."""

from __future__ import annotations

from pathlib import Path

from .io import write_text


def board_demo(out: str | Path = "figures", *, resamples: int = 1000) -> list[Path]:
    """Chatbot Arena 2024-08-14 with the FastChat recipe: board CSV, forest figure, Markdown report.

    Returns the paths written (figures under ``out``, the report beside them).
    """
    import matplotlib

    matplotlib.use("Agg")
    from . import plots
    from .datasets import chatbot_arena_2024_08_14
    from .ratings import leaderboard
    from .tables import format_board, write_table

    out = Path(out)
    board = leaderboard(chatbot_arena_2024_08_14(), recipe="fastchat", resamples=resamples, seed=0, progress=True)
    written = [write_table(board, out / "chatbot_arena_2024-08-14_fastchat.csv")]
    plots.set_theme()
    ax = plots.forest(data=board.head(25))
    ax.set_title("Chatbot Arena 2024-08-14, FastChat recipe: top 25 (95% bootstrap intervals)")
    written += plots.save_figure(ax.figure, out / "chatbot_arena_forest")
    text = ("# Demo report\n\nChatbot Arena 2024-08-14 (1,670,250 votes), Bradley-Terry with the FastChat recipe.\n\n"
            "```\n" + format_board(board, 25) + "\n```\n")
    written.append(write_text(out / "demo_report.md", text))
    return written


def run_notebooks(
    folder: str | Path = "notebooks",
    *,
    parameters: dict | None = None,
    out: str | Path | None = "reports",
    html: bool = True,
    names: list[str] | None = None,
    timeout: int = 1200,
) -> list[Path]:
    """Execute every notebook in ``folder`` with papermill (in its own folder) and export it to HTML.

    ``parameters`` are injected after the cell tagged ``parameters`` (e.g. ``{"SMALL": True}`` for CI). The
    executed copies go to ``out`` (never over the stored, output-free notebooks). Raises on the first error,
    naming the notebook and the failing cell's error.
    """
    import papermill as pm

    folder = Path(folder)
    out = Path(out) if out is not None else None
    written: list[Path] = []
    paths = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if names:
        paths = [p for p in paths if p.stem in names or p.name in names]
    for nb in paths:
        target = (out or Path(".")) / nb.name
        target.parent.mkdir(parents=True, exist_ok=True)
        pm.execute_notebook(str(nb), str(target), parameters=parameters or {}, cwd=str(folder),
                            kernel_name="python3", progress_bar=False, execution_timeout=timeout)
        written.append(target)
        if html:
            written.append(_export_html(target))
    return written


def _export_html(executed: Path) -> Path:
    import nbformat
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
    return write_text(executed.with_suffix(".html"), body)


def demo(figures: str | Path = "figures", *, reports: str | Path = "reports", resamples: int = 1000,
         small: bool = False) -> list[Path]:
    """What ``make demo`` runs: the board demo, then every notebook in full with HTML exports."""
    written = board_demo(figures, resamples=resamples)
    root = Path(__file__).resolve().parents[1]
    params = {"SMALL": small, "FIG_DIR": str(Path(figures).resolve())}
    written += run_notebooks(root / "notebooks", parameters=params, out=reports)
    return written
