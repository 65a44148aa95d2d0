"""Frozen slice of the VBench parity harness: our scores against numbers produced by VBench 0.1.5's own code.

``tests/fixtures/vbench_parity`` holds six H.264 clips, seeded random weights in VBench's checkpoint formats
(DINO state dict, OpenAI-style TorchScript CLIP archives with fp16 weights, the LAION head) and the per-video
values VBench's dimension functions (and VBench++'s i2v_subject, with the ``<stem>.png`` conditioning images;
appearance_style with a synthetic vocabulary in OpenAI's merges format, ``cache/clip_model/``) gave
on them in a side venv (``benchmarks/vbench_parity.py run --profile
tiny --fixture ...``; see PARITY.md). No side venv, network or download is needed here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from analysis.metrics import evaluate

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "vbench_parity"
REFERENCE = json.loads((FIXTURE / "vbench_reference.json").read_text())
# every dimension the reference file holds, less dynamic_degree (RAFT-large, 20 MB, stays out of the fixture)
DIMS = [d for d in REFERENCE if d not in ("source", "dynamic_degree")]
TOLERANCE = 1e-6  # float noise between two implementations; measured ~1e-7 (PARITY.md)


def _run() -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    videos = sorted(str(p) for p in FIXTURE.glob("*.mp4"))
    # random weights under the real file names: their SHA-256 is not the published one
    frame = evaluate(
        videos, DIMS, device="cpu", cache_dir=FIXTURE / "cache", progress=False, verify_weights=False
    )
    assert (frame.status == "ok").all(), frame[frame.status != "ok"]
    scores = {d: {} for d in DIMS}
    for video, dim, score in zip(frame.video, frame.dimension, frame.score, strict=True):
        scores[dim][Path(video).name] = float(score)
    return scores, frame.attrs["aggregates"]


@pytest.fixture(scope="module")
def ours() -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    return _run()


@pytest.mark.parametrize("dim", DIMS)
def test_matches_vbench_per_video_and_aggregate(ours: tuple[dict, dict], dim: str) -> None:
    scores, aggregates = ours
    ref = REFERENCE[dim]
    assert set(scores[dim]) == set(ref["videos"]) and len(ref["videos"]) == 6
    for name, value in ref["videos"].items():
        assert abs(scores[dim][name] - value) <= TOLERANCE, (dim, name, scores[dim][name], value)
    assert abs(aggregates[dim] - ref["aggregate"]) <= TOLERANCE


def test_fixture_catches_uint8_rounding_of_resized_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    # The bug of issue 11: resized frames rounded and clamped to 0..255 as if VBench resized uint8 frames.
    # The frozen slice must see it, or it could not guard against its return.
    from analysis.metrics import dimensions

    exact = dimensions.resize_short_side

    def rounded(x: torch.Tensor, size: int, mode: str, antialias: bool = False) -> torch.Tensor:
        return exact(x, size, mode, antialias).clamp(0, 255).round()

    monkeypatch.setattr(dimensions, "resize_short_side", rounded)
    scores, _ = _run()
    worst = max(
        abs(scores[d][name] - value)
        for d in ("subject_consistency", "background_consistency", "aesthetic_quality", "i2v_subject")
        for name, value in REFERENCE[d]["videos"].items()
    )
    assert worst > 10 * TOLERANCE
