"""Crash-safe files: an append-only per-video journal and the output folder's lock.

Results files (``scores.csv``, ``<dimension>_eval_results.json``) go through the kit's one atomic writer,
:func:`analysis.io.write_text` (temporary file in the same folder, fsync, rename), so a reader (or a crash) never
sees half a file. Progress is an append-only JSON-lines journal per rank: one line per finished video,
written with a single ``os.write`` on an ``O_APPEND`` descriptor and fsynced. A line cut short by a kill is
not valid JSON and is ignored on resume, so the video it described is simply recomputed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

JOURNAL_DIR = ".progress"


def journal_path(out: str | os.PathLike[str], rank: int) -> Path:
    """This rank's journal file inside the output folder."""
    return Path(out) / JOURNAL_DIR / f"journal-rank{rank}.jsonl"


def append_journal(path: Path, entry: dict[str, Any]) -> None:
    """Append one JSON line durably (one write call on an O_APPEND descriptor, then fsync)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)  # less the umask
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


LOCK_NAME = "lock"


class OutputLockedError(RuntimeError):
    """Another live run writes to the same output folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def acquire_lock(out: str | os.PathLike[str]) -> Path:
    """Take ``out/.progress/lock`` for this process, or raise :class:`OutputLockedError` naming the holder.

    The lock file holds the holder's pid and host. A lock left by a process that is gone (same host, pid not
    alive: a killed run) is taken over, so a killed run can always be resumed. A lock from another host is
    respected, since its process cannot be checked from here.
    """
    import socket

    path = Path(out) / JOURNAL_DIR / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname()
    me = json.dumps({"pid": os.getpid(), "host": host})
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            try:
                holder = json.loads(path.read_text(encoding="utf-8") or "{}")
            except (OSError, json.JSONDecodeError):
                holder = {}
            pid, where = holder.get("pid"), holder.get("host")
            if where == host and isinstance(pid, int) and not _alive(pid):
                path.unlink(missing_ok=True)  # stale: its run was killed
                continue
            raise OutputLockedError(
                f"output folder {out} is in use by another run (pid {pid} on host {where}; lock file {path}); "
                f"wait for it to finish, or delete the lock file if that run is gone"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(me)
        return path
    raise OutputLockedError(f"could not take the lock {path}")


def release_lock(path: Path) -> None:
    """Remove a lock taken by :func:`acquire_lock` in this process (a no-op if it is not ours any more)."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    if holder.get("pid") == os.getpid():
        path.unlink(missing_ok=True)
