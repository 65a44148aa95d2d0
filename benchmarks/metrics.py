"""Benchmark the metric pipeline against its floors, each measured in the same run.

1. Subject consistency, DINO ViT-B/16 (random weights, real architecture): frames per second of
   (a) the backbone alone on pre-made batches with all intra-op threads (the floor: decoding and resizing
       should hide behind it),
   (b) ``evaluate`` end to end (decode in a thread, resize, one single-threaded pass per frame on a pool of
       as many workers as torch has threads, score): the deterministic path,
   (c) a frame-by-frame loop following VBench's code path (decode the whole clip, resize it, feed DINO one
       frame at a time, one video at a time).
   Goals on CPU: (b) within 15% of (a), never slower than (c). On a GPU: (b) >= 10x (c).
2. Temporal flickering end to end versus decoding the same H.264 clips and doing nothing (goal: within 20%).

Usage: ``python benchmarks/metrics.py [--device cpu|cuda] [--frames N] [--videos N] [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from analysis.metrics import evaluate
from analysis.metrics import synthetic as syn
from analysis.metrics.backbones import DINO_VITB16, DinoViT
from analysis.metrics.dimensions import dino_transform
from analysis.metrics.video import iter_chunks, read_frames


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def backbone_rate(model: DinoViT, batches: list[torch.Tensor], device: torch.device) -> float:
    """Frames per second of the network alone on ready-made, already resized batches."""
    n = sum(b.shape[0] for b in batches)
    with torch.inference_mode():
        model(batches[0][:2])  # warm-up
        _sync(device)
        start = time.perf_counter()
        for b in batches:
            model(b)
        _sync(device)
    return n / (time.perf_counter() - start)


def end_to_end_rate(model: DinoViT, videos: list[str], batch_size: int, device: torch.device) -> float:
    """Frames per second of ``evaluate`` for subject consistency (decode + resize + batch + score)."""
    n = sum(len(read_frames(v)) for v in videos)
    start = time.perf_counter()
    evaluate(
        videos,
        ["subject_consistency"],
        device=device,
        batch_size=batch_size,
        networks={"dino_vitb16": model},
        progress=False,
    )
    _sync(device)
    return n / (time.perf_counter() - start)


def vbench_loop_rate(model: DinoViT, videos: list[str], device: torch.device) -> float:
    """Frames per second of VBench's path: whole clip decoded and resized, DINO fed one frame at a time."""
    n = 0
    start = time.perf_counter()
    with torch.no_grad():
        for path in videos:
            frames = torch.from_numpy(read_frames(path)).permute(0, 3, 1, 2).float()  # VBench: float32
            images = dino_transform(frames)
            first = prev = None
            total = 0.0
            for i in range(len(images)):
                f = F.normalize(model(images[i].unsqueeze(0).to(device)), dim=-1, p=2)
                if i == 0:
                    first = f
                else:
                    total += (
                        max(0.0, F.cosine_similarity(prev, f).item())
                        + max(0.0, F.cosine_similarity(first, f).item())
                    ) / 2
                prev = f
            n += len(images)
    _sync(device)
    return n / (time.perf_counter() - start)


def decode_only_seconds(videos: list[str]) -> float:
    """Seconds to decode every frame of ``videos`` to RGB arrays and discard them."""
    start = time.perf_counter()
    for v in videos:
        _, chunks = iter_chunks(v, 32)
        for _ in chunks:
            pass
    return time.perf_counter() - start


def flicker_seconds(videos: list[str]) -> float:
    """Seconds for ``evaluate`` to score temporal flickering on ``videos`` (decoding included)."""
    start = time.perf_counter()
    evaluate(videos, ["temporal_flickering"], device="cpu", progress=False)
    return time.perf_counter() - start


def make_clips(folder: Path, n: int, frames: int, height: int, width: int, codec: str) -> list[str]:
    """``n`` moving synthetic clips (different textures) written with ``codec``."""
    return [
        str(
            syn.write_video(
                folder / "bench" / f"clip{i}-0",
                syn.moving_clip(frames, height, width, 3, i),
                fps=8,
                codec=codec,
            )
        )
        for i in range(n)
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--videos", type=int, default=2)
    p.add_argument("--frames", type=int, default=16, help="frames per clip for the DINO benchmark")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--rounds", type=int, default=2, help="interleaved repeats; the best of each is reported")
    p.add_argument("--quick", action="store_true", help="fewer frames (a smoke run, not for the record)")
    args = p.parse_args()
    device = torch.device(args.device)
    frames = 4 if args.quick else args.frames
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), device {device}"
        + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
    )

    torch.manual_seed(0)
    model = DinoViT(DINO_VITB16).eval().to(device)
    with tempfile.TemporaryDirectory() as tmp:
        # 256 x 256 clips: short side resized to 224, so DINO sees 224 x 224 (197 tokens).
        videos = make_clips(Path(tmp), args.videos, frames, 256, 256, "libx264")
        pre = [dino_transform(torch.from_numpy(read_frames(v)).permute(0, 3, 1, 2).float()) for v in videos]
        flat = torch.cat(pre).to(device)
        batches = list(flat.split(args.batch_size))
        with torch.inference_mode():
            model(batches[0])  # warm-up at full batch size (allocator, kernel selection)
        long_videos = make_clips(Path(tmp) / "long", 4, 8 if args.quick else 96, 360, 640, "libx264")
        total = sum(len(read_frames(v)) for v in long_videos)
        # Interleaved rounds, best of each: this machine is shared, so a slow round says little.
        forward, e2e, loop = [], [], []
        for _ in range(args.rounds):
            forward.append(backbone_rate(model, batches, device))
            e2e.append(end_to_end_rate(model, videos, args.batch_size, device))
            loop.append(vbench_loop_rate(model, videos[:1], device))  # a rate: one clip is enough
        flicker_seconds(long_videos[:1])  # first call imports OpenCV
        decode, flicker = [], []
        for _ in range(2 * args.rounds + 1):  # cheap, so more rounds
            decode.append(decode_only_seconds(long_videos))
            flicker.append(flicker_seconds(long_videos))
        fw, ee, lp, dec, fl = max(forward), max(e2e), max(loop), min(decode), min(flicker)
        print(
            f"\nsubject_consistency, DINO ViT-B/16 (random weights), {args.videos} clips x {frames} frames "
            f"256x256, batch {args.batch_size}, best of {args.rounds}"
        )
        print(f"  backbone forward only : {fw:8.2f} frames/s   rounds: {_fmt(forward)}")
        print(
            f"  evaluate end to end   : {ee:8.2f} frames/s   rounds: {_fmt(e2e)}  "
            f"-> {ee / fw:.3f} of the backbone rate"
        )
        print(
            f"  VBench-style loop     : {lp:8.2f} frames/s   rounds: {_fmt(loop)}  "
            f"-> end to end / loop = {ee / lp:.2f}x"
        )
        print(f"\ntemporal_flickering, 4 H.264 clips 640x360, {total} frames, best of {len(decode)}")
        print(f"  decode only           : {dec:8.3f} s ({total / dec:.0f} frames/s)   rounds: {_fmt(decode)}")
        print(f"  flickering end to end : {fl:8.3f} s   rounds: {_fmt(flicker)}  -> ratio {fl / dec:.3f}")
        print(
            f"\ngoals: end to end within 15% of backbone: {ee >= 0.85 * fw}; not slower than the loop: "
            f"{ee >= lp}; flickering within 20% of decoding: {fl <= 1.2 * dec}"
        )


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.3g}" for v in values)


if __name__ == "__main__":
    main()
