"""Command line, a thin wrapper of :func:`evaluate` and of the weight listing.

``python -m analysis.metrics VIDEOS --dimensions a,b --out DIR [--long-clips 2]`` scores videos (with
``--long-clips``, VBench-Long's clip-by-clip procedure, :mod:`analysis.metrics.long`); under ``torchrun
--nproc_per_node N -m analysis.metrics ...`` the videos are sharded over N processes.
``python -m analysis.metrics weights [--dimensions a,b] [--fetch]`` lists (and on request downloads) the
checkpoints. Bad input ends with exit code 2 and a one-line reason, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .batching import BatchError
from .io import OutputLockedError
from .runner import DIMENSIONS, SUPPORTED, UNSUPPORTED, evaluate
from .weights import DIMENSION_WEIGHTS, MissingWeightsError, WeightsChecksumError, fetch, weights_table

MAX_LISTED_FAILURES = 20


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.metrics",
        description="Score videos on VBench dimensions: VBench's JSON plus scores.csv. "
        "`python -m analysis.metrics weights --help` for the checkpoints.",
    )
    p.add_argument(
        "videos", nargs="+", help="folder (model subfolders or manifest.csv), manifest CSV, or files"
    )
    p.add_argument(
        "--dimensions", default=",".join(SUPPORTED), help=f"comma-separated, among: {', '.join(DIMENSIONS)}"
    )
    p.add_argument("--out", required=True, help="output folder (scores.csv, *_eval_results.json, journal)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument(
        "--batch-size", type=int, default=16, help="frames in flight per network (memory only; scores never change)"
    )
    p.add_argument("--chunk-frames", type=int, default=32, help="frames decoded and moved at a time")
    p.add_argument(
        "--resume",
        action="store_true",
        help="skip videos already in the output's journal (failed ones are retried)",
    )
    p.add_argument("--manifest", default=None, help="CSV with video, model[, prompt] columns")
    p.add_argument(
        "--cache-dir", default=None, help="weight cache (default $VBENCH_CACHE_DIR or ~/.cache/vbench)"
    )
    p.add_argument(
        "--long-clips",
        default=None,
        metavar="SECONDS",
        help="VBench-Long: split each video into SECONDS-long clips (int(fps) * SECONDS frames; leftover frames "
        "make one more clip ending at the last frame, overlapping the one before), score every clip, report the "
        "mean over clips per video and the mean over videos per dimension. VBench-Long uses 2 for custom videos; "
        "'mix' takes its per-dimension durations (10 for human_action, temporal_style, overall_consistency). "
        "Scene-cut splitting, the slow-fast consistency fusion and the static filter are not applied",
    )
    p.add_argument("--no-verify-weights", action="store_true", help="skip the SHA-256 check of checkpoints")
    p.add_argument("--amp", action="store_true", help="float16 autocast on CUDA")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def build_weights_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.metrics weights",
        description="List the checkpoints the dimensions need: path under the cache, size, SHA-256, status. "
        "Runs never download; --fetch does, only when asked.",
    )
    p.add_argument(
        "--dimensions",
        default=",".join(DIMENSION_WEIGHTS),
        help=f"comma-separated, among: {', '.join(DIMENSION_WEIGHTS)} (default: all)",
    )
    p.add_argument(
        "--cache-dir", default=None, help="weight cache (default $VBENCH_CACHE_DIR or ~/.cache/vbench)"
    )
    p.add_argument("--fetch", action="store_true", help="download the missing files (pooch, checksum-verified)")
    return p


def _size(n: object) -> str:
    if not isinstance(n, int):
        return "-"
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} B"


def weights_main(argv: Sequence[str]) -> int:
    """``weights`` sub-command: the table, and downloads with ``--fetch``; 2 if anything is missing or wrong."""
    args = build_weights_parser().parse_args(argv)
    dims = [d.strip() for d in args.dimensions.split(",") if d.strip()]
    try:
        rows = weights_table(dims, args.cache_dir)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.fetch:
        for row in rows:
            if row["status"] == "missing":
                print(f"fetching {row['key']} from {row['url']}", file=sys.stderr)
                try:
                    fetch(str(row["key"]), args.cache_dir)
                except Exception as e:  # network, HTTP or checksum: one line per file, go on with the others
                    print(f"error: {row['key']}: {type(e).__name__}: {e}", file=sys.stderr)
        rows = weights_table(dims, args.cache_dir)
    width = max((len(str(r["key"])) for r in rows), default=0)  # keys aligned whatever their length
    for row in rows:
        dims_text = ", ".join(d + (" (not implemented here)" if d in UNSUPPORTED else "") for d in row["dimensions"])
        print(
            f"{row['status']:<15} {row['key']:<{width}} {_size(row['size']):>11}  {row['path']}\n"
            f"{'':<15} dimensions: {dims_text}\n"
            f"{'':<15} sha256: {row['sha256'] or '-'} (published: {row['published_sha256']})"
        )
    # Exit status: files that a dimension run here needs; the others are listed for reference only.
    bad = [
        r
        for r in rows
        if r["status"] in ("missing", "wrong-checksum") and any(d not in UNSUPPORTED for d in r["dimensions"])
    ]
    for r in bad:
        print(f"error: {r['key']}: {r['status']} at {r['path']}", file=sys.stderr)
    return 2 if bad else 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["weights"]:
        return weights_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.batch_size < 1 or args.chunk_frames < 1:
        print("error: --batch-size and --chunk-frames must be >= 1", file=sys.stderr)
        return 2
    videos = args.videos[0] if len(args.videos) == 1 else args.videos
    try:
        frame = evaluate(
            videos,
            args.dimensions,
            args.out,
            device=args.device,
            batch_size=args.batch_size,
            resume=args.resume,
            manifest=args.manifest,
            chunk_frames=args.chunk_frames,
            cache_dir=args.cache_dir,
            amp=args.amp,
            progress=not args.no_progress,
            verify_weights=not args.no_verify_weights,
            long_clips=args.long_clips,
        )
    except (MissingWeightsError, WeightsChecksumError, OutputLockedError, ValueError, BatchError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    failed = frame[frame.status == "failed"]
    for error in list(dict.fromkeys(failed.error))[:MAX_LISTED_FAILURES]:
        print(f"failed: {error}", file=sys.stderr)
    for name, agg in frame.attrs.get("aggregates", {}).items():
        print(f"{name}: {'n/a' if agg is None else f'{agg:.6f}'}")
    unavailable = frame.attrs.get("unavailable", {})
    for name, note in frame.attrs.get("notes", {}).items():
        if name not in unavailable:  # e.g. dynamic degree on Farneback because raft-things.pth is missing
            print(f"note: {name}: {note}", file=sys.stderr)
    for name in dict.fromkeys(frame.dimension[frame.status == "unsupported"]):
        print(f"unsupported: {name}: {UNSUPPORTED[name]}", file=sys.stderr)
    for name, reason in unavailable.items():
        print(f"error: {name}: {reason}", file=sys.stderr)
    return 2 if unavailable else 0


if __name__ == "__main__":
    sys.exit(main())
