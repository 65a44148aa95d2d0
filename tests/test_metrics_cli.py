"""Bad input to the metric command line and the weights command: one-line reasons, exit code 2, no traceback,
per-video records for bad videos and unusable checkpoints, the output lock, file permissions."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.metrics import io
from analysis.metrics import synthetic as syn
from analysis.metrics.__main__ import main
from analysis.metrics.weights import WEIGHT_FILES, check_file, weight_path

# One intra-op torch thread per module (tests/conftest.py says why).
pytestmark = pytest.mark.usefixtures("one_torch_thread")

DIMS = "temporal_flickering,subject_consistency,background_consistency"


@pytest.fixture(scope="module")
def bad_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two good clips beside a corrupt, a truncated, a one-frame and a 17 x 9 video."""
    root = tmp_path_factory.mktemp("bad")
    syn.write_video(root / "m" / "good-0", syn.moving_clip(6, 32, 48, speed=3))
    good = syn.write_video(root / "m" / "good-1", syn.static_clip(6, 32, 48), codec="libx264")
    (root / "m" / "corrupt-0.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    data = good.read_bytes()
    (root / "m" / "truncated-0.mp4").write_bytes(data[: len(data) // 3])
    syn.write_video(root / "m" / "single-0", syn.static_clip(1, 32, 48))
    syn.write_video(root / "m" / "odd-0", syn.moving_clip(5, 9, 17, speed=1))
    return root


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(err: str) -> str:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_missing_or_empty_input_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = _run(capsys, str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--device", "cpu")
    assert code == 2 and "no videos found in" in _one_line_error(err)
    code, _, err = _run(capsys, str(tmp_path / "nowhere"), "--out", str(tmp_path / "o"), "--device", "cpu")
    assert code == 2 and f"no such file or folder: {tmp_path / 'nowhere'}" in _one_line_error(err)


@pytest.mark.parametrize("device", ["bogus", "cuda:x"] + ([] if torch.cuda.is_available() else ["cuda"]))
def test_bad_device_is_one_line(
    bad_videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], device: str
) -> None:
    code, _, err = _run(capsys, str(bad_videos), "--out", str(tmp_path), "--device", device)
    assert code == 2 and device in _one_line_error(err)


def test_unknown_dimension(bad_videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, str(bad_videos), "--out", str(tmp_path), "--dimensions", "sharpness")
    assert code == 2 and "sharpness" in _one_line_error(err)


def test_bad_videos_are_recorded_and_the_others_scored(
    bad_videos: Path, random_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [str(bad_videos), "--out", str(tmp_path), "--device", "cpu", "--dimensions", DIMS, "--no-progress"]
    code, out, err = _run(capsys, *args, "--cache-dir", str(random_weights), "--no-verify-weights")
    assert code == 0, err
    scores = pd.read_csv(tmp_path / "scores.csv", keep_default_na=False)
    status = {
        (Path(v).stem, d): (s, e)
        for v, d, s, e in zip(scores.video, scores.dimension, scores.status, scores.error, strict=True)
    }
    for dim in DIMS.split(","):
        assert status[("good-0", dim)][0] == "ok" and status[("good-1", dim)][0] == "ok"
        assert status[("odd-0", dim)][0] == "ok"  # 17 x 9 is small but valid
        for name in ("corrupt-0", "truncated-0"):
            state, error = status[(name, dim)]
            assert state == "failed" and f"{name}.mp4" in error and "\n" not in error
    state, error = status[("single-0", "temporal_flickering")]
    assert state == "skipped" and "single-0" in error and "1 frame" in error
    for name in ("corrupt-0", "truncated-0"):
        assert any(name in line for line in err.splitlines() if line.startswith("failed: "))
    assert "temporal_flickering:" in out


def test_missing_and_wrong_checksum_weights_fail_their_dimension_only(
    bad_videos: Path, random_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    partial = tmp_path / "cache"
    (partial / "clip_model").mkdir(parents=True)
    # DINO absent; a CLIP file of the right name whose SHA-256 is not OpenAI's
    (partial / "clip_model" / "ViT-B-32.pt").write_bytes((random_weights / "clip_model" / "ViT-B-32.pt").read_bytes())
    out = tmp_path / "o"
    code, _, err = _run(
        capsys,
        str(bad_videos),
        "--out",
        str(out),
        "--device",
        "cpu",
        "--dimensions",
        DIMS,
        "--no-progress",
        "--cache-dir",
        str(partial),
    )
    assert code == 2
    scores = pd.read_csv(out / "scores.csv", keep_default_na=False)
    good = scores[scores.video.str.contains("good-0")].set_index("dimension")
    assert good.loc["temporal_flickering", "status"] == "ok"
    assert good.loc["subject_consistency", "status"] == "failed"
    assert "dino_vitbase16_pretrain.pth" in good.loc["subject_consistency", "error"]
    assert good.loc["background_consistency", "status"] == "failed"
    assert "wrong checksum" in good.loc["background_consistency", "error"]
    assert (
        "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af"
        in good.loc["background_consistency", "error"]
    )
    errors = [x for x in err.splitlines() if x.startswith("error: ")]
    assert len(errors) == 2 and "Traceback" not in err


def test_output_lock_names_its_holder_and_stale_locks_are_taken_over(
    bad_videos: Path, random_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [
        str(bad_videos / "m" / "good-0.mkv"),
        "--out",
        str(tmp_path),
        "--device",
        "cpu",
        "--dimensions",
        "temporal_flickering",
        "--no-progress",
    ]
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock = tmp_path / ".progress" / "lock"
        lock.parent.mkdir(parents=True)
        lock.write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname()}))
        code, _, err = _run(capsys, *args)
        line = _one_line_error(err)
        assert code == 2 and f"pid {sleeper.pid}" in line and socket.gethostname() in line
        assert not (tmp_path / "scores.csv").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    code, _, err = _run(capsys, *args)  # its holder is gone now: a killed run can be resumed
    assert code == 0, err
    assert not lock.exists()  # released at the end


def test_outputs_follow_the_umask(bad_videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = os.umask(0o022)
    try:
        code, _, err = _run(
            capsys,
            str(bad_videos / "m" / "good-0.mkv"),
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            "--dimensions",
            "temporal_flickering",
            "--no-progress",
        )
    finally:
        os.umask(old)
    assert code == 0, err
    for name in ("scores.csv", "summary.json", "temporal_flickering_eval_results.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE(io.journal_path(tmp_path, 0).stat().st_mode) == 0o644


# --------------------------------------------------------------------------- weights command


def test_weights_lists_paths_sizes_checksums_and_status(
    random_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys, "weights", "--dimensions", "subject_consistency,background_consistency", "--cache-dir",
        str(random_weights),
    )
    assert code == 2  # the random CLIP file is not OpenAI's
    assert "wrong-checksum" in out and "unverified" in out  # DINO has no published SHA-256: said, not guessed
    assert str(random_weights / "clip_model" / "ViT-B-32.pt") in out
    assert "published: unknown" in out and "published: 40d36571" in out
    assert "error: clip_vitb32: wrong-checksum" in err
    code, out, err = _run(capsys, "weights", "--dimensions", "aesthetic_quality", "--cache-dir", str(tmp_path))
    assert code == 2 and out.count("missing") == 2 and str(tmp_path / "clip_model" / "ViT-L-14.pt") in out
    assert not any(tmp_path.iterdir())  # listing never downloads or creates anything
    code, out, _ = _run(capsys, "weights", "--dimensions", "human_action", "--cache-dir", str(tmp_path))
    assert code == 0 and "l16_ptk710" in out and "human_action (not implemented here)" in out  # listed only
    code, _, err = _run(capsys, "weights", "--dimensions", "nope")
    assert code == 2 and "nope" in _one_line_error(err)


def test_weights_fetch_downloads_only_when_asked_and_checks_the_hash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    import pooch

    calls: list[tuple[str, object]] = []

    def fake_retrieve(url: str, known_hash: object, fname: str, path: object, **kw: object) -> str:
        # stands in for the network: writes what "the server" sends, then checks like pooch does
        calls.append((url, known_hash))
        target = Path(str(path)) / fname
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"not the real DINO weights")
        if known_hash is not None and known_hash != "sha256:" + hashlib.sha256(target.read_bytes()).hexdigest():
            target.unlink()
            raise ValueError(f"SHA256 hash of downloaded file ({fname}) does not match the known hash")
        return str(target)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    code, out, err = _run(
        capsys,
        "weights",
        "--dimensions",
        "subject_consistency,background_consistency",
        "--cache-dir",
        str(tmp_path),
        "--fetch",
    )
    assert [c[0] for c in calls] == [WEIGHT_FILES["dino_vitb16"].url, WEIGHT_FILES["clip_vitb32"].url]
    assert calls[0][1] is None and calls[1][1] == f"sha256:{WEIGHT_FILES['clip_vitb32'].sha256}"
    assert check_file("dino_vitb16", tmp_path)[0] == "unverified"
    assert not weight_path("clip_vitb32", tmp_path).exists()  # a bad download is not kept
    assert code == 2 and "does not match the known hash" in err


def test_missing_weights_unsupported_and_fallback_are_said(
    bad_videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 11's command: with an empty cache it names each missing file; the other dimensions are still scored.
    video = str(bad_videos / "m" / "good-0.mkv")
    dims = "motion_smoothness,imaging_quality,dynamic_degree"
    base = [video, "--device", "cpu", "--no-progress", "--dimensions"]
    code, out, err = _run(capsys, *base, dims, "--out", str(tmp_path / "a"), "--cache-dir", str(tmp_path / "none"))
    assert code == 2 and "dynamic_degree: 1.000000" in out
    assert "note: dynamic_degree: raft-things.pth not in the cache" in err
    assert "'amt-s.pth'" in err and "'musiq_spaq_ckpt-358bb6af.pth'" in err
    assert str(tmp_path / "none" / "amt_model" / "amt-s.pth") in err
    # With the checkpoints present (the parity fixture's small random weights in VBench's formats) it runs.
    cache = Path(__file__).resolve().parent / "fixtures" / "vbench_parity" / "cache"
    code, out, err = _run(
        capsys, *base, dims, "--out", str(tmp_path / "b"), "--cache-dir", str(cache), "--no-verify-weights"
    )
    assert code == 0, err
    for dim in ("motion_smoothness", "imaging_quality", "dynamic_degree"):
        assert f"{dim}: " in out
    code, out, err = _run(capsys, *base, "human_action,scene", "--out", str(tmp_path / "c"))
    assert "unsupported: human_action: needs the UMT" in err and "unsupported: scene" in err


def test_weights_fetch_downloads_an_archive_once_for_all_its_members(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # DreamSim's four files come from one zip: --fetch must download it once and put each member in its place.
    import zipfile

    import pooch

    served = tmp_path / "served.zip"
    with zipfile.ZipFile(served, "w") as z:  # each member's content is its key
        for spec in WEIGHT_FILES.values():
            if spec.key.startswith("dreamsim_") and spec.archive_member:
                z.writestr(spec.archive_member, spec.key)
    downloads: list[str] = []

    def fake_retrieve(url: str, known_hash: object, fname: str, path: object, processor: object = None) -> object:
        target = Path(str(path)) / fname
        action = "fetch" if target.exists() else "download"
        if action == "download":
            downloads.append(url)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(served.read_bytes())
        return processor(str(target), action, None) if processor else str(target)

    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    cache = tmp_path / "cache"
    code, out, err = _run(capsys, "weights", "--dimensions", "i2v_background", "--cache-dir", str(cache), "--fetch")
    zips = [WEIGHT_FILES[k] for k in WEIGHT_FILES if k.startswith("dreamsim_") and WEIGHT_FILES[k].archive_member]
    assert len(zips) == 4 and downloads.count(zips[0].url) == 1  # one download for the four members
    for spec in zips:
        assert weight_path(spec.key, cache).read_bytes() == spec.key.encode()
