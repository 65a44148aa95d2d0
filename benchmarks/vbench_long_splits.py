"""Freeze VBench-Long's own clip splitting as a fixture for ``tests/test_metrics_long.py``.

VBench-Long (``vbench2_beta_long`` in VBench 0.1.5) splits a long video with
``vbench2_beta_long.utils.split_video_into_clips(video_path, output_path, duration)``, which writes each clip
with torchvision's ``write_video``. Here that function runs unmodified in the side venv on H.264 files whose
frames carry their own index as a row of black and white blocks (12 bits, robust to the codec); its
``write_video`` is replaced by a recorder, so every clip it would write is captured as (frames, fps), and the
blocks read back give the exact frame range of each clip. The result, per (frame rate, frame count, clip
seconds): the clips' [start, end) frame ranges and the frame rate they would be written at.

Usage (project venv; the side venv needs only VBench 0.1.5, decord and torch, as set up by
``benchmarks/vbench_parity.py setup``)::

    python benchmarks/vbench_long_splits.py --venv /work/vbench-venv \
        --out tests/fixtures/vbench_long/splits.json

The ``_worker`` sub-command runs in the side venv and imports VBench, never ``analysis``; the rest runs in the
project venv and imports ``analysis``, never VBench. PySceneDetect and MoviePy, which ``utils`` imports for its
scene-cut path only, are not needed: empty stand-in modules satisfy the imports (the scene path is not run).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

BITS = 12  # frame indices up to 4095
BLOCK = 16  # pixels per bit (width); frames are 32 x (16 * BITS)

# (numerator, denominator) frame rates: integer ones, NTSC ones (int() truncates 23.976 to 23) and 12.5.
RATES = [(8, 1), (25, 2), (24000, 1001), (24, 1), (30000, 1001), (30, 1)]
SECONDS = [1, 2, 10]


def lengths(fps: int) -> list[int]:
    """Frame counts around the clip sizes of 1, 2 and 10 s at integer rate ``fps``."""
    return sorted({1, 2 * fps - 1, 2 * fps, 2 * fps + 1, 3 * fps, 4 * fps + fps // 2, 10 * fps - 1, 11 * fps + 3})


def index_frames(n: int):  # -> np.ndarray (n, 32, 16 * BITS, 3) uint8
    import numpy as np

    bits = (np.arange(n)[:, None] >> np.arange(BITS)[None, :]) & 1  # (n, BITS), least significant first
    row = np.repeat(bits * 255, BLOCK, axis=1).astype(np.uint8)  # (n, W)
    return np.repeat(np.repeat(row[:, None, :, None], 32, axis=1), 3, axis=3)


def read_indices(frames) -> list[int]:  # frames: (n, H, W, 3) array-like of 0-255
    import numpy as np

    x = np.asarray(frames, dtype=np.float64)
    blocks = x[:, 8:24, :, :].reshape(len(x), 16, BITS, BLOCK, 3).mean(axis=(1, 3, 4))  # centre rows, per bit
    bits = (blocks > 127.5).astype(np.int64)
    return [int(v) for v in (bits << np.arange(BITS)[None, :]).sum(axis=1)]


def _worker(folder: Path) -> None:
    """Side venv: run VBench-Long's splitter on every case and print the captured clips as JSON."""
    import types

    for name in ("scenedetect", "scenedetect.detectors", "scenedetect.video_splitter", "moviepy", "moviepy.editor"):
        sys.modules[name] = types.ModuleType(name)
    for mod, attrs in {
        "scenedetect": ("open_video", "SceneManager", "split_video_ffmpeg"),
        "scenedetect.detectors": ("ContentDetector",),
        "scenedetect.video_splitter": ("split_video_ffmpeg",),
        "moviepy.editor": ("VideoFileClip",),
    }.items():
        for attr in attrs:
            setattr(sys.modules[mod], attr, None)
    import torchvision.io

    captured: list[tuple[str, list[int], float]] = []

    def record(path: str, frames, fps) -> None:  # stands in for torchvision.io.write_video
        captured.append((Path(path).name, read_indices(frames.numpy()), float(fps)))

    torchvision.io.write_video = record  # removed in torchvision 0.28; utils imports it by name
    import vbench2_beta_long.utils as utils

    utils.write_video = record
    cases = json.loads((folder / "cases.json").read_text())
    results = []
    for case in cases:
        for seconds in SECONDS:
            captured.clear()
            out = folder / "clips" / f"{seconds}s"
            utils.split_video_into_clips(case["path"], str(out), duration=seconds)
            clips, rates = [], {fps for _, _, fps in captured}
            for name, idx, _ in captured:
                if idx != list(range(idx[0], idx[0] + len(idx))):
                    raise SystemExit(f"{name}: frames are not consecutive: {idx}")
                clips.append([idx[0], idx[-1] + 1])  # [start, end) in the source video's frames
            if len(rates) != 1:
                raise SystemExit(f"{case['path']}: clips written at several rates {rates}")
            results.append(
                {
                    **{k: case[k] for k in ("fps_num", "fps_den", "frames")},
                    "seconds": seconds,
                    "clip_fps": rates.pop(),
                    "clips": clips,
                }
            )
    print(json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    w = sub.add_parser("_worker")
    w.add_argument("folder", type=Path)
    parser.add_argument("--venv", type=Path, default=Path("/work/vbench-venv"))
    parser.add_argument("--out", type=Path, default=Path("tests/fixtures/vbench_long/splits.json"))
    args = parser.parse_args()
    if args.cmd == "_worker":
        _worker(args.folder)
        return

    from analysis.metrics import synthetic as syn

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases = []
        for num, den in RATES:
            for n in lengths(int(Fraction(num, den))):
                path = syn.write_video(folder / f"rate{num}_{den}-n{n}", index_frames(n), Fraction(num, den), "libx264")
                cases.append({"path": str(path), "fps_num": num, "fps_den": den, "frames": n})
        (folder / "cases.json").write_text(json.dumps(cases))
        proc = subprocess.run(
            [str(args.venv / "bin" / "python"), __file__, "_worker", str(folder)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-3000:])
        results = json.loads(proc.stdout.strip().splitlines()[-1])
    fixture = {
        "source": "vbench2_beta_long.utils.split_video_into_clips, VBench 0.1.5 "
        "(run by benchmarks/vbench_long_splits.py)",
        "cases": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    lines = ",\n".join(json.dumps(case) for case in results)  # one case a line: small and diffable
    args.out.write_text(f'{{"source": {json.dumps(fixture["source"])},\n"cases": [\n{lines}\n]}}\n')
    print(f"{len(results)} cases -> {args.out}")


if __name__ == "__main__":
    main()
