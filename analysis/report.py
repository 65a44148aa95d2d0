"""The demo job: a board rebuilt from real votes, its figure and a short Markdown report."""

from __future__ import annotations

from pathlib import Path

from .io import write_text


def demo(out: str | Path = "figures", *, resamples: int = 1000) -> list[Path]:
    """Chatbot Arena 2024-08-14 with the FastChat recipe: board CSV, forest figure, Markdown report.

    Returns the paths written (figures under ``out``, the report beside them).
    """
    import matplotlib

    matplotlib.use("Agg")
    from . import plots
    from .cli import format_board, write_table
    from .datasets import chatbot_arena_2024_08_14
    from .ratings import leaderboard

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
