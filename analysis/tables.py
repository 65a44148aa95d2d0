"""A board as text and as files: the fixed-width table the CLI prints and the writers behind ``--out``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .io import atomic_path


def write_table(board: pd.DataFrame, out: str | Path) -> Path:
    """Write a board as CSV, Parquet, Markdown or HTML (by suffix), atomically."""
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
