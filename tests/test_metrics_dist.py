"""The metrics command line (kill and resume, missing weights) and torchrun sharding with gloo on CPU.

Subprocesses run with one thread each, as torchrun's workers do; the in-process reference run also uses one
thread, for speed only: each frame's network pass is single-threaded by design whatever the setting (see
analysis.metrics.batching), and test_metrics.py checks 1 vs 2 threads for equality.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from analysis.metrics import evaluate
from analysis.metrics import synthetic as syn
from analysis.metrics.__main__ import main

# One intra-op torch thread per module (tests/conftest.py says why).
pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
DIMS = (
    "temporal_flickering,dynamic_degree,subject_consistency,background_consistency,aesthetic_quality,"
    "appearance_style"
)


def _env(cache: Path) -> dict[str, str]:
    env = dict(os.environ, VBENCH_CACHE_DIR=str(cache), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _cli(videos: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "analysis.metrics",
        str(videos),
        "--dimensions",
        DIMS,
        "--out",
        str(out),
        "--device",
        "cpu",
        "--batch-size",
        "4",
        "--no-progress",
        "--no-verify-weights",  # random weights under the real file names
        *extra,
    ]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, one_torch_thread: object) -> tuple[Path, Path, Path]:
    """Weights, videos, and a 1-process, 1-thread reference run."""
    cache = syn.write_random_weights(tmp_path_factory.mktemp("cache"))
    videos = tmp_path_factory.mktemp("videos")
    syn.make_dataset(videos, frames=9)
    # odd numbers of clips and frames, so that shards differ in size and batches stay partial
    syn.write_video(videos / "motion" / "extra-0", syn.moving_clip(7, 48, 80, speed=3, seed=9))
    (videos / "motion" / "broken-0.mp4").write_bytes(b"not a video")
    reference = tmp_path_factory.mktemp("reference")
    evaluate(
        videos, DIMS, reference, device="cpu", batch_size=4, cache_dir=cache, progress=False, verify_weights=False
    )
    return cache, videos, reference


def test_torchrun_two_ranks_equal_one_process(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    cache, videos, reference = setup
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "--monitor-interval",
        "0.05",
        *_cli(videos, tmp_path)[1:],
    ]
    proc = subprocess.run(cmd, env=_env(cache), capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    journals = {p.name: p.read_text().count("\n") for p in (tmp_path / ".progress").iterdir()}
    assert journals == {"journal-rank0.jsonl": 3, "journal-rank1.jsonl": 3}  # 6 videos, 3 per rank
    two = pd.read_csv(tmp_path / "scores.csv")
    pd.testing.assert_frame_equal(two, pd.read_csv(reference / "scores.csv"), check_exact=True)
    for dim in DIMS.split(","):
        one = json.loads((reference / f"{dim}_eval_results.json").read_text())
        assert json.loads((tmp_path / f"{dim}_eval_results.json").read_text()) == one  # aggregates exact
    assert proc.stdout.count("subject_consistency:") == 1  # only rank 0 reports


def test_cli_killed_run_resumes_to_identical_scores(setup: tuple[Path, Path, Path], tmp_path: Path) -> None:
    cache, videos, reference = setup
    journal = tmp_path / ".progress" / "journal-rank0.jsonl"
    proc = subprocess.Popen(
        _cli(videos, tmp_path, "--chunk-frames", "2"),
        env=_env(cache),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            if journal.exists() and journal.read_text().count("\n") >= 2:
                proc.kill()
                break
            time.sleep(0.005)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode != 0 and not (tmp_path / "scores.csv").exists()  # it really was cut short
    resumed = subprocess.run(
        _cli(videos, tmp_path, "--resume"),
        env=_env(cache),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (tmp_path / "scores.csv").read_bytes() == (reference / "scores.csv").read_bytes()
    assert "temporal_flickering:" in resumed.stdout


def test_cli_missing_weights_exits_with_message(
    setup: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, videos, _ = setup
    code = main(
        [
            str(videos),
            "--dimensions",
            DIMS,
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            "--no-progress",
            "--cache-dir",
            str(tmp_path / "no-cache"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "dino_vitbase16_pretrain.pth" in err and "https://dl.fbaipublicfiles.com" in err
    assert str(tmp_path / "no-cache" / "dino_model") in err
