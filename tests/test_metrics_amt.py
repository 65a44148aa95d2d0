"""motion_smoothness with AMT-S (analysis.metrics.amt): checkpoint layout, VBench's procedure, determinism, faults.

The network runs with seeded random weights at the smallest widths the architecture allows (see
benchmarks/vbench_parity_amt.py); parity with VBench's own code is in tests/test_metrics_parity.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.metrics import evaluate
from analysis.metrics import synthetic as syn
from analysis.metrics.amt import AMT, amt_from_state_dict, interpolate_pair, min_side_ok, pad_amount
from analysis.metrics.video import read_frames
from analysis.metrics.weights import load_state_dict

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KEYS = Path(__file__).resolve().parent / "fixtures" / "amt_s_keys.txt"
DIM = "motion_smoothness"
TINY = {"channels": (20, 32, 44, 8), "skip_channels": 8}


def _random_amt(seed: int = 0) -> AMT:
    torch.manual_seed(seed)
    model = AMT(**TINY).eval()
    with torch.no_grad():  # biases and PReLU slopes away from their init constants
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.fixture(scope="module")
def model() -> AMT:
    return _random_amt()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Lossless clips: 8 frames at a size that needs padding (the last frame has no pair), 7 frames at 128 x 128
    (every odd frame is predicted)."""
    root = tmp_path_factory.mktemp("amt_clips")
    made = {
        "moving": syn.moving_clip(8, 120, 136, speed=3, seed=1),
        "odd": syn.moving_clip(7, 128, 128, speed=2, seed=2, vertical=True),
    }
    return {str(syn.write_video(root / f"{name}-0", clip)): clip for name, clip in made.items()}


def _run(videos: list[str], model: AMT, **kwargs: object) -> pd.DataFrame:
    return evaluate(videos, [DIM], device="cpu", progress=False, networks={"amt_s": model}, **kwargs)


@pytest.fixture(scope="module")
def base_run(clips: dict[str, np.ndarray], model: AMT) -> pd.DataFrame:
    return _run(sorted(clips), model, batch_size=1)


def test_state_dict_matches_the_reference_class() -> None:
    # keys and shapes of VBench's own AMT-S Model(), frozen from the side venv
    want = [line.split() for line in KEYS.read_text().splitlines() if not line.startswith("#")]
    got = [[k, "x".join(map(str, v.shape))] for k, v in AMT().state_dict().items()]
    assert got == want


def test_checkpoint_loads_strictly_and_widths_come_from_the_file(tmp_path: Path, model: AMT) -> None:
    path = tmp_path / "amt-s.pth"
    torch.save({"state_dict": model.state_dict()}, path)  # the released file's layout
    loaded = amt_from_state_dict(load_state_dict(path))
    assert loaded.decoder4.convblock[0][0].in_channels == 2 * 8 + 1 and loaded.decoder1.flows == 3
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    sd = load_state_dict(path)
    with pytest.raises(RuntimeError):  # strict: a stray key is an error
        amt_from_state_dict({**sd, "extra.weight": torch.zeros(1)})


def test_padding_and_size_rules() -> None:
    assert pad_amount(120, 136) == [4, 4, 4, 4] and pad_amount(121, 128) == [0, 0, 3, 4]
    assert pad_amount(240, 320) == [0, 0, 0, 0]
    assert min_side_ok(49, 200) and not min_side_ok(48, 200) and not min_side_ok(200, 40)


def test_score_follows_vbench_procedure(base_run: pd.DataFrame, clips: dict[str, np.ndarray], model: AMT) -> None:
    # Even frames are the inputs; frames 2k and 2k + 2 predict frame 2k + 1; uint8 prediction (clip, truncate);
    # per pair the mean |diff| over pixels and channels; per video (255 - mean over pairs) / 255.
    records = base_run.attrs["records"]
    for path in clips:
        frames = read_frames(path)
        maes = []
        for k in range(0, len(frames) - 2, 2):
            pred = interpolate_pair(model, frames[k], frames[k + 2], torch.device("cpu"))
            maes.append(float(np.abs(pred.astype(np.int64) - frames[k + 1]).mean()))
        expected = (255.0 - float(np.mean(maes))) / 255.0
        rec = records[path][DIM]
        assert rec["status"] == "ok" and rec["n_pairs"] == (len(frames) - 1) // 2 == 3
        assert rec["pair_mae"] == pytest.approx(maes, abs=1e-12)
        assert rec["score"] == pytest.approx(expected, abs=1e-12) and rec["nan_pixels"] == 0
        assert 0.5 < rec["score"] < 1.0  # the random network's prediction is neither the frame nor saturated


def test_prediction_is_truncated_not_rounded(model: AMT, clips: dict[str, np.ndarray]) -> None:
    frames = read_frames(sorted(clips)[0])
    a, b = frames[0], frames[2]
    pad = pad_amount(*a.shape[:2])
    ta, tb = (
        torch.nn.functional.pad(torch.from_numpy(x).permute(2, 0, 1)[None] / 255.0, pad, mode="replicate")
        for x in (a, b)
    )
    with torch.inference_mode():
        raw = model(ta, tb, torch.full((1, 1, 1, 1), 0.5))[0, :, pad[2] : pad[2] + 120, pad[0] : pad[0] + 136]
    raw = (raw * 255.0).permute(1, 2, 0).numpy()
    got = interpolate_pair(model, a, b, torch.device("cpu"))
    np.testing.assert_array_equal(got, np.floor(np.clip(raw, 0, 255)).astype(np.uint8))
    assert (np.round(raw) != got).any()  # rounding would differ somewhere


@pytest.mark.parametrize(("batch_size", "threads"), [(4, 1), (1, 2)])
def test_scores_do_not_depend_on_batch_size_or_threads(
    base_run: pd.DataFrame, clips: dict[str, np.ndarray], model: AMT, batch_size: int, threads: int
) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        frame = _run(sorted(clips), model, batch_size=batch_size, chunk_frames=3)
    finally:
        torch.set_num_threads(before)
    pd.testing.assert_frame_equal(frame, base_run, check_exact=True)
    for path in clips:
        assert frame.attrs["records"][path][DIM]["pair_mae"] == base_run.attrs["records"][path][DIM]["pair_mae"]
    assert frame.attrs["aggregates"] == base_run.attrs["aggregates"]
    assert base_run.attrs["aggregates"][DIM] == math.fsum(base_run.score) / 2


def test_missing_or_unreadable_weights_give_one_line_reason(tmp_path: Path, clips: dict[str, np.ndarray]) -> None:
    videos = sorted(clips)[:1]
    frame = evaluate(videos, [DIM], device="cpu", cache_dir=tmp_path, progress=False)
    (error,) = frame.error
    assert frame.status.iloc[0] == "failed" and "amt-s.pth" in error and "\n" not in error
    (tmp_path / "amt_model").mkdir()
    (tmp_path / "amt_model" / "amt-s.pth").write_bytes(b"not a checkpoint")
    frame = evaluate(videos, [DIM], device="cpu", cache_dir=tmp_path, progress=False, verify_weights=False)
    (error,) = frame.error
    assert frame.status.iloc[0] == "failed" and "amt-s.pth" in error and "\n" not in error


def test_bad_videos_get_a_reason_and_the_others_are_scored(
    tmp_path: Path, base_run: pd.DataFrame, clips: dict[str, np.ndarray], model: AMT
) -> None:
    short = syn.write_video(tmp_path / "short-0", syn.moving_clip(2, 128, 128, seed=3))
    small = syn.write_video(tmp_path / "small-0", syn.moving_clip(5, 40, 64, seed=4))
    good = sorted(clips)[0]
    frame = _run([str(short), str(small), good], model).set_index("video")
    assert frame.loc[str(short), "status"] == "skipped" and "too short: 2 frame(s)" in frame.loc[str(short), "error"]
    assert frame.loc[str(small), "status"] == "failed" and "larger than 48 pixels" in frame.loc[str(small), "error"]
    assert frame.loc[good, "status"] == "ok"
    assert frame.loc[good, "score"] == base_run.set_index("video").loc[good, "score"]


def test_one_cell_correlation_level_scores_against_black_as_vbench(tmp_path: Path, model: AMT) -> None:
    # 96 rows: the coarsest correlation level is one cell high, the lookup divides by zero and the prediction
    # is NaN whatever the weights; VBench's uint8 cast makes it black, and so do we (and count the pixels).
    clip = syn.moving_clip(3, 96, 128, seed=5)
    path = str(syn.write_video(tmp_path / "low-0", clip))
    rec = _run([path], model).attrs["records"][path][DIM]
    target = read_frames(path)[1]
    assert rec["nan_pixels"] == 96 * 128
    assert rec["score"] == pytest.approx((255.0 - target.mean()) / 255.0, abs=1e-12)
