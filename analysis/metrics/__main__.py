"""Command line ``python -m analysis.metrics VIDEOS --dimensions a,b --out DIR``, a thin wrapper of evaluate.

Under ``torchrun --nproc_per_node N -m analysis.metrics ...`` the videos are sharded over N processes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .runner import DIMENSIONS, SUPPORTED, evaluate
from .weights import MissingWeightsError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m analysis.metrics",
        description="Score videos on VBench dimensions: VBench's JSON plus scores.csv.",
    )
    p.add_argument(
        "videos", nargs="+", help="folder (model subfolders or manifest.csv), manifest CSV, or files"
    )
    p.add_argument(
        "--dimensions", default=",".join(SUPPORTED), help=f"comma-separated, among: {', '.join(DIMENSIONS)}"
    )
    p.add_argument("--out", required=True, help="output folder (scores.csv, *_eval_results.json, journal)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--batch-size", type=int, default=16, help="frames per network pass, across videos")
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
    p.add_argument("--amp", action="store_true", help="float16 autocast on CUDA")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
        )
    except (MissingWeightsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return 0
    for name, agg in frame.attrs.get("aggregates", {}).items():
        print(f"{name}: {'n/a' if agg is None else f'{agg:.6f}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
