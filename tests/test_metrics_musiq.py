"""imaging_quality with MUSIQ-SPAQ (analysis.metrics.musiq): checkpoint layout, VBench's frame handling,
determinism, faults.

The network runs with seeded random weights at a small width and depth of the same architecture (the tiny profile
of benchmarks/vbench_parity_musiq.py); parity with VBench's own code (pyiqa's MUSIQ) is in
tests/test_metrics_parity.py and PARITY.md.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from analysis.metrics import evaluate
from analysis.metrics import synthetic as syn
from analysis.metrics.dimensions import Chunk
from analysis.metrics.musiq import (
    Musiq,
    MusiqConfig,
    build_dimension,
    frame_size,
    hashed_grid,
    musiq_from_state_dict,
    musiq_transform,
    patches,
    scale_sizes,
)
from analysis.metrics.video import VideoMeta, read_frames
from analysis.metrics.weights import weight_path

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KEYS = Path(__file__).resolve().parent / "fixtures" / "musiq_spaq_keys.txt"
DIM = "imaging_quality"
FILE = "musiq_spaq_ckpt-358bb6af.pth"
TINY = MusiqConfig(patch=16, width=32, mlp=64, depth=2, heads=1)


def _random_musiq(seed: int = 0) -> Musiq:
    torch.manual_seed(seed)
    model = Musiq(TINY).eval()
    with torch.no_grad():  # norms, biases and the CLS token away from their init constants; scores around 50
        for name, p in model.named_parameters():
            if p.dim() == 1 or name.endswith("cls"):
                p.add_(0.1 * torch.randn_like(p))
        model.head.weight.normal_(0.0, 20.0 / TINY.width**0.5)
        model.head.bias.fill_(50.0)
    return model


@pytest.fixture(scope="module")
def model() -> Musiq:
    return _random_musiq()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory, model: Musiq) -> Path:
    """The random weights saved as the released file is (a plain state dict) under VBench's path."""
    root = tmp_path_factory.mktemp("musiq_cache")
    path = weight_path("musiq_spaq", root)
    path.parent.mkdir(parents=True)
    torch.save(model.state_dict(), path)
    return root


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """Lossless clips: 16:9 under 512 pixels, portrait with a longer side over 512 (resized first), one frame."""
    root = tmp_path_factory.mktemp("musiq_clips")
    made = {
        "wide": syn.moving_clip(4, 72, 128, speed=3, seed=1),
        "tall": syn.moving_clip(2, 540, 160, speed=2, seed=2, vertical=True),
        "single": syn.static_clip(1, 96, 96, seed=3),
    }
    return {str(syn.write_video(root / f"{name}-0", clip)): clip for name, clip in made.items()}


def _run(videos: list[str], cache: Path, **kwargs: object) -> pd.DataFrame:
    return evaluate(videos, [DIM], device="cpu", progress=False, cache_dir=cache, verify_weights=False, **kwargs)


@pytest.fixture(scope="module")
def base_run(clips: dict[str, np.ndarray], cache: Path) -> pd.DataFrame:
    return _run(sorted(clips), cache, batch_size=1)


def test_state_dict_matches_the_reference_class() -> None:
    # keys and shapes of pyiqa's MUSIQ() (the SPAQ checkpoint's architecture), frozen from the side venv
    want = [line.split() for line in KEYS.read_text().splitlines() if not line.startswith("#")]
    with torch.device("meta"):
        got = [[k, "x".join(map(str, v.shape))] for k, v in Musiq().state_dict().items()]
    assert got == want


def test_checkpoint_loads_strictly_and_sizes_come_from_the_file(model: Musiq) -> None:
    sd = model.state_dict()
    loaded = musiq_from_state_dict(dict(sd))
    assert loaded.cfg == TINY
    for k, v in sd.items():
        assert torch.equal(loaded.state_dict()[k], v), k
    # DataParallel's prefix is dropped, as IQA-PyTorch's loader drops it
    assert musiq_from_state_dict({f"module.{k}": v for k, v in sd.items()}).cfg == TINY
    with pytest.raises(RuntimeError, match="Missing key"):
        musiq_from_state_dict({k: v for k, v in sd.items() if not k.startswith("block1.gn2")})


def test_vbench_frame_handling() -> None:
    # longer side > 512 -> scaled by 512 / longer with int() truncation; at most 512 -> untouched
    assert frame_size(1080, 1920) == (288, 512) and frame_size(700, 300) == (512, 219)
    assert frame_size(512, 300) == (512, 300) and frame_size(252, 448) == (252, 448)
    # MUSIQ's scales: longer side 224 and 384, the other side rounded (Python's round)
    assert scale_sizes(252, 448) == [(126, 224), (216, 384)] and scale_sizes(96, 128) == [(168, 224), (288, 384)]
    # float levels in, 0-1 out, not rounded: a constant frame stays constant through the bilinear resize
    x = musiq_transform(torch.full((1, 3, 600, 200), 100.5))
    assert x.shape == (1, 3, 512, 170) and torch.allclose(x, torch.full_like(x, 100.5 / 255.0))
    assert torch.equal(musiq_transform(torch.full((1, 3, 60, 80), 51.0)), torch.full((1, 3, 60, 80), 51.0 / 255.0))


def test_patches_and_hashed_positions() -> None:
    # 40 x 70 with 16-pixel patches: padded to 48 x 80 (4 + 4 rows, 5 + 5 columns of zeros), 3 x 5 patches
    img = torch.arange(3 * 40 * 70, dtype=torch.float32).view(1, 3, 40, 70) + 1
    p, rows, cols = patches(img, 16)
    assert (rows, cols) == (3, 5) and p.shape == (15, 3, 16, 16)
    padded = torch.zeros(1, 3, 48, 80)
    padded[..., 4:44, 5:75] = img
    assert torch.equal(p[7], padded[0, :, 16:32, 32:48])  # row 1, column 2
    # the 10 x 10 table's rows for 4 and 20 patches: nearest neighbour, floor(i * 10 / n)
    assert hashed_grid(10, 4).tolist() == [0, 2, 5, 7]
    assert hashed_grid(10, 20).tolist() == [i // 2 for i in range(20)]
    assert hashed_grid(10, 10).tolist() == list(range(10))


def test_scores_are_the_mean_frame_score(base_run: pd.DataFrame, clips: dict[str, np.ndarray], model: Musiq) -> None:
    assert (base_run.status == "ok").all(), base_run
    records = base_run.attrs["records"]
    for video in clips:
        frames = torch.from_numpy(read_frames(video)).permute(0, 3, 1, 2).float()
        with torch.inference_mode():
            per_frame = [float(model(musiq_transform(f[None]))) for f in frames]
        rec = records[video][DIM]
        assert rec["n_frames"] == len(per_frame)
        assert rec["video_results"] == pytest.approx(sum(per_frame) / len(per_frame), abs=1e-9)  # VBench's 0-100
        assert rec["score"] == pytest.approx(rec["video_results"] / 100.0, abs=1e-12)  # VBench's 0-1 scale
        assert 0.0 < rec["score"] < 1.0
    assert len({round(s, 6) for s in base_run.score}) == len(clips)  # the videos are told apart
    agg = base_run.attrs["aggregates"][DIM]
    assert agg == pytest.approx(float(np.mean(base_run.score)), abs=1e-12)


def test_independent_of_batch_size_and_threads(base_run: pd.DataFrame, clips: dict, cache: Path) -> None:
    def scores(frame: pd.DataFrame) -> dict[str, float]:
        return {r["video"]: r["score"] for r in frame.to_dict("records")}

    assert scores(_run(sorted(clips), cache, batch_size=4)) == scores(base_run)
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # two concurrent single-threaded passes
    try:
        two = _run(sorted(clips), cache, batch_size=3)
    finally:
        torch.set_num_threads(before)
    assert scores(two) == scores(base_run)


def test_missing_and_wrong_weights_name_the_file(tmp_path: Path, clips: dict, cache: Path) -> None:
    dim = build_dimension(DIM, torch.device("cpu"), 4, tmp_path / "empty")
    assert dim.backend == "musiq_spaq" and FILE in dim.reason and "\n" not in dim.reason
    frame = _run([next(iter(clips))], tmp_path / "empty")
    assert frame.status.tolist() == ["failed"] and FILE in frame.error.iloc[0]
    # a file with another SHA-256 than the published prefix (358bb6af...) is refused when verifying
    dim = build_dimension(DIM, torch.device("cpu"), 4, cache, verify_weights=True)
    assert "wrong checksum" in dim.reason and FILE in dim.reason
    # a state dict of something else: one line naming the file
    bad = tmp_path / "bad"
    path = weight_path("musiq_spaq", bad)
    path.parent.mkdir(parents=True)
    torch.save({"weight": torch.zeros(3)}, path)
    dim = build_dimension(DIM, torch.device("cpu"), 4, bad, verify_weights=False)
    assert FILE in dim.reason and "not a MUSIQ checkpoint" in dim.reason and "\n" not in dim.reason


def test_bad_input_fails_only_that_video(tmp_path: Path, clips: dict, cache: Path, model: Musiq) -> None:
    broken = tmp_path / "broken-0.mp4"
    broken.write_bytes(b"not a video")
    good = next(iter(sorted(clips)))
    shutil.copy(good, tmp_path / Path(good).name)
    frame = _run([str(broken), str(tmp_path / Path(good).name)], cache)
    by_video = dict(zip(frame.video, frame.status, strict=True))
    assert by_video[str(broken)] == "failed" and by_video[str(tmp_path / Path(good).name)] == "ok"
    assert str(broken) in frame.error[frame.video == str(broken)].iloc[0]
    # a frame so elongated that a MUSIQ scale would have no rows: a reason, not a crash of the run
    dim = build_dimension(DIM, torch.device("cpu"), 2, networks={"musiq_spaq": model})
    state = dim.start(VideoMeta(8.0))
    dim.feed(state, Chunk(np.zeros((2, 2, 1200, 3), dtype=np.uint8)))
    rec = dim.finish(state)
    assert rec["status"] == "failed" and "too elongated" in rec["error"]
