"""Crash-safe files: atomic whole-file writes and an append-only per-video journal.

Results files (``scores.csv``, ``<dimension>_eval_results.json``) are written to a temporary file in the same
folder, flushed to disk and renamed over the target with :func:`os.replace`, so a reader (or a crash) never
sees half a file. Progress is an append-only JSON-lines journal per rank: one line per finished video,
written with a single ``os.write`` on an ``O_APPEND`` descriptor and fsynced. A line cut short by a kill is
not valid JSON and is ignored on resume, so the video it described is simply recomputed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically: temp file, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


JOURNAL_DIR = ".progress"


def journal_path(out: str | os.PathLike[str], rank: int) -> Path:
    """This rank's journal file inside the output folder."""
    return Path(out) / JOURNAL_DIR / f"journal-rank{rank}.jsonl"


def append_journal(path: Path, entry: dict[str, Any]) -> None:
    """Append one JSON line durably (one write call on an O_APPEND descriptor, then fsync)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_journals(out: str | os.PathLike[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Finished work recorded in all ranks' journals: video path -> dimension -> record.

    Lines that do not parse (a write cut short by a kill) are skipped. A failed record never replaces a
    successful one, whichever journal file holds the later line (a retried video may land on another rank).
    """
    done: dict[str, dict[str, dict[str, Any]]] = {}
    folder = Path(out) / JOURNAL_DIR
    if not folder.is_dir():
        return done
    for path in sorted(folder.glob("journal-rank*.jsonl")):
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                    video, results = entry["video"], dict(entry["results"])
                except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                    continue
                have = done.setdefault(video, {})
                for dim, rec in results.items():
                    if (
                        dim not in have
                        or rec.get("status") != "failed"
                        or have[dim].get("status") == "failed"
                    ):
                        have[dim] = rec
    return done


def clear_journals(out: str | os.PathLike[str]) -> None:
    """Remove old journals (a fresh, non-resumed run starts from nothing)."""
    folder = Path(out) / JOURNAL_DIR
    if folder.is_dir():
        for path in folder.glob("journal-rank*.jsonl"):
            path.unlink()
