"""VBench-Long's clip-by-clip procedure (analysis.metrics.long): splitting as VBench-Long's own function splits,
clip scores equal to scoring each clip as a video, means over clips and videos, memory bounded by one clip,
and invariance to batch size, threads, chunking and resuming.

The splitting reference, ``tests/fixtures/vbench_long/splits.json``, is VBench-Long's
``split_video_into_clips`` run on 144 (frame rate, length, duration) cases by ``benchmarks/vbench_long_splits.py``.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import weakref
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.metrics import evaluate, long
from analysis.metrics import synthetic as syn
from analysis.metrics import video as video_module
from analysis.metrics.__main__ import main
from analysis.metrics.video import read_frames

# One intra-op torch thread per module (tests/conftest.py says why).
pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
SPLITS = json.loads((ROOT / "tests" / "fixtures" / "vbench_long" / "splits.json").read_text())["cases"]
DIMS = [
    "temporal_flickering",
    "dynamic_degree",
    "subject_consistency",
    "background_consistency",
    "aesthetic_quality",
    "appearance_style",
    "overall_consistency",  # samples 8 frames of the clip: its length must be the clip's, not the file's
    "imaging_quality",
]
# (model folder, prompt, frame rate, frames): lengths and rates that the frozen VBench-Long cases cover.
VIDEOS = [
    ("m", "a flickering lamp", Fraction(8), 17),
    ("m", "a running dog", Fraction(25, 2), 23),
    ("n", "a small car", Fraction(24000, 1001), 45),
    ("n", "a still lake", Fraction(8), 1),
]


def _vbench_clips(fps: Fraction, frames: int, seconds: int) -> list[list[int]]:
    [case] = [
        c
        for c in SPLITS
        if Fraction(c["fps_num"], c["fps_den"]) == fps and c["frames"] == frames and c["seconds"] == seconds
    ]
    return case["clips"]


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("long_videos")
    for i, (model, prompt, fps, n) in enumerate(VIDEOS):
        clip = syn.moving_clip(n, 32, 48, speed=2 + i, seed=i) if i % 2 else syn.flicker_clip(n, 32, 48, 12, seed=i)
        syn.write_video(root / model / f"{prompt}-0", clip, fps)
    (root / "n" / "garbage-0.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    return root


def _run(videos: Path, cache: Path, out: Path | None = None, **kw: object) -> pd.DataFrame:
    opts = {"device": "cpu", "batch_size": 4, "chunk_frames": 5, "cache_dir": cache, "verify_weights": False}
    opts.update(progress=False, long_clips=1)
    opts.update(kw)
    return evaluate(videos, DIMS, out, **opts)


@pytest.fixture(scope="module")
def long_run(videos: Path, random_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("long_out")
    frame = _run(videos, random_weights, out)
    frame.attrs["out"] = out
    return frame


def test_clip_ranges_match_vbench_long_splitter() -> None:
    assert len(SPLITS) == 144
    for case in SPLITS:
        fps = float(Fraction(case["fps_num"], case["fps_den"]))
        got = long.clip_ranges(case["frames"], fps, case["seconds"])
        assert [list(r) for r in got] == case["clips"], case
        assert case["clip_fps"] == int(fps)  # clips are written, and scored, at the truncated rate
    with pytest.raises(ValueError, match="no frame"):
        long.clip_ranges(10, 0.5, 2)


def test_long_clips_option_values() -> None:
    dims = ["temporal_flickering", "overall_consistency"]
    assert long.resolve_long_clips(None, dims) == {}
    assert long.resolve_long_clips(2, dims) == long.resolve_long_clips("2", dims) == dict.fromkeys(dims, 2)
    assert long.resolve_long_clips("mix", dims) == {"temporal_flickering": 2, "overall_consistency": 10}
    assert long.resolve_long_clips({"overall_consistency": 4}, dims) == {"overall_consistency": 4}
    for bad in (0, 1.5, "two", True, -2):
        with pytest.raises(ValueError, match="long_clips"):
            long.resolve_long_clips(bad, dims)


def test_clips_are_vbench_long_clips_scored_as_videos(
    long_run: pd.DataFrame, videos: Path, random_weights: Path, tmp_path: Path
) -> None:
    records = long_run.attrs["records"]
    assert long_run.attrs["long_clips"] == dict.fromkeys(DIMS, 1)
    # Every clip written as a video of its own, at VBench-Long's int(fps), and scored whole.
    expected_clips = {}
    for model, prompt, fps, n in VIDEOS:
        path = str(videos / model / f"{prompt}-0.mkv")
        frames = read_frames(path)
        ranges = _vbench_clips(fps, n, 1)
        expected_clips[path] = ranges
        for k, (a, b) in enumerate(ranges):
            syn.write_video(tmp_path / "clips" / f"{model}_{n}" / f"{prompt}-{k}", frames[a:b], int(fps))
    whole = evaluate(
        tmp_path / "clips", DIMS, device="cpu", cache_dir=random_weights, verify_weights=False, progress=False
    )
    per_clip = whole.attrs["records"]
    for model, prompt, fps, n in VIDEOS:
        path = str(videos / model / f"{prompt}-0.mkv")
        for dim in DIMS:
            rec = records[path][dim]
            assert [[c["start"], c["end"]] for c in rec["clips"]] == expected_clips[path]
            assert rec["long_clips"] == 1 and rec["clip_frames"] == int(fps)
            for k, c in enumerate(rec["clips"]):
                ref = per_clip[str(tmp_path / "clips" / f"{model}_{n}" / f"{prompt}-{k}.mkv")][dim]
                assert {key: c[key] for key in ref if key != "error"} == {
                    key: v for key, v in ref.items() if key != "error"
                }
            ok = [c["score"] for c in rec["clips"] if c["status"] == "ok"]
            if ok:
                # the JSON value is the mean of the clips' JSON values (0-100 for imaging quality, as VBench's)
                results = [c["video_results"] for c in rec["clips"] if c["status"] == "ok"]
                assert rec["status"] == "ok" and rec["score"] == math.fsum(ok) / len(ok)
                assert rec["video_results"] == pytest.approx(math.fsum(results) / len(results), rel=1e-15)
            else:  # one frame: too short for temporal flickering, dynamic degree and the consistencies
                assert rec["status"] == "skipped" and "too short" in rec["error"]
    # The aggregate is the plain mean over videos for every dimension (pair- and frame-weighted ones included).
    for dim in DIMS:
        ok = long_run[(long_run.dimension == dim) & (long_run.status == "ok")].score
        assert long_run.attrs["aggregates"][dim] == math.fsum(ok) / len(ok)
    garbage = long_run[long_run.video.str.contains("garbage")]
    assert (garbage.status == "failed").all() and garbage.error.str.contains("garbage-0.mp4").all()


def test_outputs_carry_clip_results(long_run: pd.DataFrame) -> None:
    out = long_run.attrs["out"]
    agg, per_video = json.loads((out / "subject_consistency_eval_results.json").read_text())["subject_consistency"]
    assert agg == long_run.attrs["aggregates"]["subject_consistency"]
    by_path = {v["video_path"]: v for v in per_video}
    for path, res in long_run.attrs["records"].items():
        r = res["subject_consistency"]
        if r["status"] == "ok":
            assert by_path[path]["video_results"] == r["score"]
            assert [c["video_results"] for c in by_path[path]["clip_results"]] == [c["score"] for c in r["clips"]]
    scores = pd.read_csv(out / "scores.csv")
    assert len(scores) == 5 * len(DIMS)


def test_scores_do_not_depend_on_batch_size_threads_or_chunks(
    long_run: pd.DataFrame, videos: Path, random_weights: Path
) -> None:
    # The reference ran with batch size 4, 1 thread, 5-frame chunks; here 1, 2 threads, 2-frame chunks.
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        frame = _run(videos, random_weights, batch_size=1, chunk_frames=2)
    finally:
        torch.set_num_threads(before)
    pd.testing.assert_frame_equal(frame, long_run, check_exact=True)
    assert frame.attrs["records"] == long_run.attrs["records"]  # per-clip records too, bit for bit
    assert frame.attrs["aggregates"] == long_run.attrs["aggregates"]


class _Interrupt(Exception):
    pass


def test_interrupted_and_resumed_run_is_identical(
    long_run: pd.DataFrame, videos: Path, random_weights: Path, tmp_path: Path
) -> None:
    ref = long_run.attrs["out"]
    for stop in (2,):
        out = tmp_path / f"stop{stop}"
        done: list[str] = []

        def crash(path: str, stop: int = stop, done: list[str] = done) -> None:
            done.append(path)
            if len(done) == stop:
                raise _Interrupt

        with pytest.raises(_Interrupt):
            _run(videos, random_weights, out, batch_size=3, on_video_done=crash)
        frame = _run(videos, random_weights, out, batch_size=2, chunk_frames=7, resume=True)
        pd.testing.assert_frame_equal(frame, long_run, check_exact=True)
        assert frame.attrs["records"] == long_run.attrs["records"]
        for name in ["scores.csv", *(f"{d}_eval_results.json" for d in DIMS)]:
            assert (out / name).read_bytes() == (ref / name).read_bytes(), name
    # A journal of whole-video scores is not taken for clip scores (nor the reverse): resuming rescores.
    out, dims = tmp_path / "switch", ["temporal_flickering", "dynamic_degree"]
    opts = {"device": "cpu", "cache_dir": random_weights, "progress": False, "resume": True}
    whole = evaluate(videos, dims, out, **{**opts, "resume": False})
    frame = evaluate(videos, dims, out, long_clips=1, **opts)
    assert frame.attrs["records"] == {v: {d: r[d] for d in dims} for v, r in long_run.attrs["records"].items()}
    back = evaluate(videos, dims, out, **opts)
    pd.testing.assert_frame_equal(back, whole, check_exact=True)


def test_memory_is_bounded_by_one_clip_not_the_video(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2,000 frames at 24 fps (83 s): 2 s clips of 48 frames, the last one overlapping. Decoded chunks are counted
    # while alive (views such as the clip ring keep their chunk alive), so this is every decoded frame held.
    n, fps, seconds, chunk = 2000, 24, 2, 8
    base = syn.texture(24, 32, seed=5)
    clip = np.stack([np.roll(base, 3 * t, axis=1) for t in range(n)])  # moving, so dynamic degree computes flow
    path = syn.write_video(tmp_path / "v" / "long take-0", clip, fps)
    del clip
    live = {"frames": 0, "peak": 0}
    original = video_module.iter_chunks

    def counted(p: str, chunk_frames: int = 32) -> tuple[object, object]:
        meta, chunks = original(p, chunk_frames)

        def gen():  # noqa: ANN202
            for c in chunks:
                live["frames"] += len(c)
                live["peak"] = max(live["peak"], live["frames"])
                weakref.finalize(c, _drop, live, len(c))
                yield c

        return meta, gen()

    monkeypatch.setattr(video_module, "iter_chunks", counted)
    t0 = time.perf_counter()
    frame = evaluate(
        [path],
        ["temporal_flickering", "dynamic_degree"],
        device="cpu",
        cache_dir=tmp_path,  # no RAFT checkpoint: Farneback flow, fast
        chunk_frames=chunk,
        long_clips=seconds,
        progress=False,
    )
    elapsed = time.perf_counter() - t0
    rec = frame.attrs["records"][str(path)]["temporal_flickering"]
    assert [(c["start"], c["end"]) for c in rec["clips"]] == long.clip_ranges(n, fps, seconds)
    assert len(rec["clips"]) == 42 and rec["clips"][-1]["start"] == n - 48
    assert (frame.status == "ok").all()
    # One clip (48) plus the chunk straddling its start, the prefetch queue (4 chunks) and the chunk in hand.
    bound = fps * seconds + (4 + 3) * chunk
    assert live["peak"] <= bound < n // 10
    with capsys.disabled():
        print(
            f"\n2000-frame video, {seconds} s clips: peak decoded frames held {live['peak']} (bound {bound}), "
            f"{elapsed:.1f} s"
        )


def _drop(live: dict[str, int], k: int) -> None:
    live["frames"] -= k


def test_torchrun_two_ranks_equal_one_process(videos: Path, random_weights: Path, tmp_path: Path) -> None:
    dims = "temporal_flickering,dynamic_degree"
    env = dict(os.environ, VBENCH_CACHE_DIR=str(random_weights), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["--monitor-interval", "0.05", "-m", "analysis.metrics", str(videos), "--dimensions", dims]
    cmd += ["--out", str(tmp_path / "two"), "--device", "cpu", "--no-progress", "--long-clips", "1"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    journals = {p.name: p.read_text().count("\n") for p in (tmp_path / "two" / ".progress").iterdir()}
    assert journals == {"journal-rank0.jsonl": 3, "journal-rank1.jsonl": 2}  # 5 videos over 2 ranks
    one = evaluate(videos, dims, tmp_path / "one", device="cpu", cache_dir=random_weights, long_clips=1, progress=False)
    for name in ["scores.csv", *(f"{d}_eval_results.json" for d in dims.split(","))]:
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert one.attrs["long_clips"] == {"temporal_flickering": 1, "dynamic_degree": 1}


def test_cli_long_clips(videos: Path, random_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = [str(videos), "--dimensions", "temporal_flickering", "--device", "cpu", "--no-progress"]
    assert main([*base, "--out", str(tmp_path / "a"), "--long-clips", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: long_clips") and "\n" not in err
    assert main([*base, "--out", str(tmp_path / "b"), "--long-clips", "1"]) == 0
    out = capsys.readouterr().out
    ref = evaluate(videos, ["temporal_flickering"], device="cpu", long_clips=1, progress=False)
    assert f"temporal_flickering: {ref.attrs['aggregates']['temporal_flickering']:.6f}" in out
    assert "clip_results" in (tmp_path / "b" / "temporal_flickering_eval_results.json").read_text()


def test_frame_rate_below_one_is_a_per_video_reason(tmp_path: Path) -> None:
    slow = syn.write_video(tmp_path / "m" / "slow-0", syn.static_clip(4, 16, 16), Fraction(1, 2))
    fine = syn.write_video(tmp_path / "m" / "fine-0", syn.static_clip(4, 16, 16), 8)
    frame = evaluate([slow, fine], ["temporal_flickering"], device="cpu", long_clips=2, progress=False)
    row = frame.set_index("video").loc[str(slow)]
    assert row.status == "failed" and "int(fps) * seconds" in row.error and str(slow) in row.error
    assert frame.set_index("video").loc[str(fine)].status == "ok"
