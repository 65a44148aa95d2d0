"""Tests for analysis.metrics: VBench formulas on synthetic clips, networks, batching, faults, resume.

Networks run with random weights of the real architectures (and tiny configurations of them for speed), saved
in VBench's cache layout so that the real loading path is exercised. Expected values are computed here
independently, following VBench's own per-frame loops.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from analysis.metrics import MissingWeightsError, evaluate, vbench_scores
from analysis.metrics import synthetic as syn
from analysis.metrics.backbones import (
    CLIP_VITB32,
    CLIP_VITL14,
    DINO_VITB16,
    AestheticHead,
    ClipAesthetic,
    ClipVisual,
    DinoViT,
    ViTConfig,
)
from analysis.metrics.batching import FrameRunner
from analysis.metrics.dimensions import count_rule, dino_transform, is_dynamic, sample_interval, threshold
from analysis.metrics.runner import load_network
from analysis.metrics.vbench import ALL_DIMENSIONS, aggregate_dimension
from analysis.metrics.video import discover, read_frames

# One intra-op torch thread per module (tests/conftest.py says why).
pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
NET_DIMS = ["subject_consistency", "background_consistency", "aesthetic_quality"]
ALL_SUPPORTED = ["temporal_flickering", "dynamic_degree", *NET_DIMS, "appearance_style"]

TINY_DINO = ViTConfig(patch=16, width=64, depth=2, heads=1, grid=14)
TINY_CLIP_B = ViTConfig(patch=32, width=64, depth=1, heads=1, grid=7, out_dim=32)
TINY_CLIP_L = ViTConfig(patch=14, width=64, depth=1, heads=1, grid=16, out_dim=48)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    """Known clips in model subfolders plus a corrupt, an empty and a one-frame video."""
    root = tmp_path_factory.mktemp("videos")
    known = syn.make_dataset(root, frames=10)
    bad = root / "broken"
    bad.mkdir()
    (bad / "garbage-0.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    (bad / "empty-0.mp4").write_bytes(b"")
    one = syn.write_video(bad / "single-0", syn.static_clip(1, 48, 64))
    known[str(one)] = syn.static_clip(1, 48, 64)
    return root, known


@pytest.fixture(scope="module")
def full_run(clips: tuple[Path, dict], random_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("run_full")
    frame = evaluate(
        clips[0],
        ALL_SUPPORTED + ["human_action"],
        out,
        device="cpu",
        batch_size=4,
        cache_dir=random_weights,
        verify_weights=False,
        progress=False,
    )
    frame.attrs["out"] = out
    return frame


def _score(frame: pd.DataFrame, video: str, dim: str) -> float:
    row = frame[(frame.video == video) & (frame.dimension == dim)]
    assert len(row) == 1
    return float(row.score.iloc[0])


# --------------------------------------------------------------------------- VBench aggregation


def test_vbench_scores_reproduce_published_verified_rows() -> None:
    table = pd.read_csv(ROOT / "data" / "vbench_published_scores.csv")
    verified = table[table.verified == "yes"]
    assert len(verified) >= 15
    got = vbench_scores(verified[list(ALL_DIMENSIONS)], scale=100.0)
    for col in ("total_score", "quality_score", "semantic_score"):
        err = got[col].to_numpy() - verified[col].to_numpy()
        assert np.abs(err).max() < 0.01, (col, verified.model[np.abs(err).argmax()])
    one = vbench_scores(verified.iloc[0][list(ALL_DIMENSIONS)].to_dict(), scale=100.0)
    assert one["total_score"] == pytest.approx(verified.iloc[0].total_score, abs=0.01)


def test_vbench_scores_rules() -> None:
    base = dict.fromkeys(ALL_DIMENSIONS, 1.0)
    base.update(
        {
            "scene": 0.8222,
            "motion_smoothness": 0.9975,
            "appearance_style": 0.2855,
            "temporal_style": 0.364,
            "overall_consistency": 0.364,
        }
    )
    s = vbench_scores(base)  # every dimension at its max -> all scores exactly 1 (weights cancel)
    assert s["quality_score"] == pytest.approx(1.0) and s["semantic_score"] == pytest.approx(1.0)
    worse = dict(base, dynamic_degree=0.0)  # dynamic degree weighs 0.5 of 6.5 in Quality
    assert vbench_scores(worse)["quality_score"] == pytest.approx(6.0 / 6.5)
    assert vbench_scores(worse)["total_score"] == pytest.approx((4 * 6.0 / 6.5 + 1) / 5)
    with pytest.raises(ValueError, match="color"):
        vbench_scores({k: v for k, v in base.items() if k != "color"})


def test_aggregate_weighted_by_pairs_not_videos() -> None:
    recs = [
        {"status": "ok", "score": 0.5, "sim_sum": 1.0, "n_pairs": 2},
        {"status": "ok", "score": 1.0, "sim_sum": 8.0, "n_pairs": 8},
        {"status": "failed", "score": None},
    ]
    assert aggregate_dimension("subject_consistency", recs) == pytest.approx(9.0 / 10.0)
    assert aggregate_dimension("temporal_flickering", recs) == pytest.approx(0.75)
    assert aggregate_dimension("aesthetic_quality", recs[2:]) is None


# --------------------------------------------------------------------------- pixels: flicker, motion


def _vbench_flicker(frames: np.ndarray) -> float:
    # VBench: mean over pairs of mean(absdiff(float32 frames)), then (255 - m) / 255.
    maes = [
        np.mean(np.abs(frames[i].astype(np.float32) - frames[i + 1].astype(np.float32))) for i in range(len(frames) - 1)
    ]
    return (255.0 - float(np.mean(maes))) / 255.0


def test_decoding_is_lossless_for_synthetic_clips(clips: tuple[Path, dict]) -> None:
    for path, clip in clips[1].items():
        assert np.array_equal(read_frames(path), clip)


def test_temporal_flickering_matches_formula(full_run: pd.DataFrame, clips: tuple[Path, dict]) -> None:
    for path, clip in clips[1].items():
        if len(clip) < 2:
            continue
        assert _score(full_run, path, "temporal_flickering") == pytest.approx(_vbench_flicker(clip), abs=1e-6)
    static = next(p for p in clips[1] if "calm lake" in p)
    assert _score(full_run, static, "temporal_flickering") == 1.0  # exactly
    lamp = next(p for p in clips[1] if "flickering" in p)
    assert _score(full_run, lamp, "temporal_flickering") == pytest.approx((255 - 20) / 255, abs=1e-12)


def test_dynamic_degree_rules() -> None:
    assert [count_rule(t) for t in (2, 3, 6, 10, 16, 17)] == [0, 1, 2, 2, 4, 4]  # Python round: half to even
    assert threshold(256, 512) == 6.0 and threshold(720, 1280) == pytest.approx(16.875)
    assert [sample_interval(f) for f in (8, 12, 16, 24, 30, 0)] == [1, 2, 2, 3, 4, 1]
    assert is_dynamic([7.0, 7.0, 1.0, 7.0], 16, 256, 256) is False  # 3 of 4 needed pairs
    assert is_dynamic([7.0, 7.0, 7.0, 7.0], 16, 256, 256) is True


def _vbench_dynamic(frames: np.ndarray, fps: float) -> bool:
    import cv2

    step = max(1, round(fps / 8))
    sampled = frames[::step]
    scores = []
    for a, b in zip(sampled[:-1], sampled[1:], strict=True):
        ga, gb = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (a, b))
        flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        rad = np.sqrt(flow[..., 0].astype(np.float64) ** 2 + flow[..., 1].astype(np.float64) ** 2).ravel()
        cut = int(rad.size * 0.05)
        scores.append(np.mean(np.abs(np.sort(-rad))[:cut]))
    thres, need = 6.0 * min(frames.shape[1:3]) / 256.0, round(4 * len(sampled) / 16)
    return sum(s > thres for s in scores) >= need


def test_dynamic_degree_matches_formula(full_run: pd.DataFrame, clips: tuple[Path, dict]) -> None:
    for path, clip in clips[1].items():
        if len(clip) < 2:
            continue
        expected = _vbench_dynamic(clip, 8.0)
        assert _score(full_run, path, "dynamic_degree") == float(expected)
        assert ("motion" in path) == expected  # moving clips move, still ones do not
    assert set(full_run[full_run.dimension == "dynamic_degree"].backend) == {"opencv-farneback"}


def test_dynamic_degree_subsamples_to_8fps(tmp_path: Path) -> None:
    clip = syn.moving_clip(24, 64, 64, speed=1)  # 1 px/frame at 24 fps -> 3 px between sampled frames
    path = syn.write_video(tmp_path / "m" / "slow-0", clip, fps=24)
    out = evaluate([path], ["dynamic_degree"], tmp_path / "o", device="cpu", progress=False)
    assert out.score.iloc[0] == float(_vbench_dynamic(clip, 24.0))
    js = json.loads((tmp_path / "o" / "dynamic_degree_eval_results.json").read_text())
    assert isinstance(js["dynamic_degree"][1][0]["video_results"], bool)


# --------------------------------------------------------------------------- networks


def _dino_keys(cfg: ViTConfig) -> dict[str, tuple[int, ...]]:
    w, p = cfg.width, cfg.patch
    keys = {
        "cls_token": (1, 1, w),
        "pos_embed": (1, cfg.grid**2 + 1, w),
        "patch_embed.proj.weight": (w, 3, p, p),
        "patch_embed.proj.bias": (w,),
        "norm.weight": (w,),
        "norm.bias": (w,),
    }
    for i in range(cfg.depth):
        b = f"blocks.{i}."
        keys.update(
            {
                b + "norm1.weight": (w,),
                b + "norm1.bias": (w,),
                b + "attn.qkv.weight": (3 * w, w),
                b + "attn.qkv.bias": (3 * w,),
                b + "attn.proj.weight": (w, w),
                b + "attn.proj.bias": (w,),
                b + "norm2.weight": (w,),
                b + "norm2.bias": (w,),
                b + "mlp.fc1.weight": (4 * w, w),
                b + "mlp.fc1.bias": (4 * w,),
                b + "mlp.fc2.weight": (w, 4 * w),
                b + "mlp.fc2.bias": (w,),
            }
        )
    return keys


def _clip_keys(cfg: ViTConfig) -> dict[str, tuple[int, ...]]:
    w, p = cfg.width, cfg.patch
    keys = {
        "visual.class_embedding": (w,),
        "visual.positional_embedding": (cfg.grid**2 + 1, w),
        "visual.proj": (w, cfg.out_dim),
        "visual.conv1.weight": (w, 3, p, p),
        "visual.ln_pre.weight": (w,),
        "visual.ln_pre.bias": (w,),
        "visual.ln_post.weight": (w,),
        "visual.ln_post.bias": (w,),
    }
    for i in range(cfg.depth):
        b = f"visual.transformer.resblocks.{i}."
        keys.update(
            {
                b + "attn.in_proj_weight": (3 * w, w),
                b + "attn.in_proj_bias": (3 * w,),
                b + "attn.out_proj.weight": (w, w),
                b + "attn.out_proj.bias": (w,),
                b + "ln_1.weight": (w,),
                b + "ln_1.bias": (w,),
                b + "mlp.c_fc.weight": (4 * w, w),
                b + "mlp.c_fc.bias": (4 * w,),
                b + "mlp.c_proj.weight": (w, 4 * w),
                b + "mlp.c_proj.bias": (w,),
                b + "ln_2.weight": (w,),
                b + "ln_2.bias": (w,),
            }
        )
    return keys


def test_state_dict_layout_matches_official_checkpoints() -> None:
    with torch.device("meta"):
        dino, clip_b, clip_l = DinoViT(DINO_VITB16), ClipVisual(CLIP_VITB32), ClipVisual(CLIP_VITL14)
    got = {k: tuple(v.shape) for k, v in dino.state_dict().items()}
    assert got == _dino_keys(DINO_VITB16)
    assert len(got) == 150 and got["pos_embed"] == (1, 197, 768) and got["blocks.11.attn.qkv.weight"] == (2304, 768)
    for model, cfg in [(clip_b, CLIP_VITB32), (clip_l, CLIP_VITL14)]:
        got = {f"visual.{k}": tuple(v.shape) for k, v in model.state_dict().items()}
        assert got == _clip_keys(cfg)
    assert {k: tuple(v.shape) for k, v in AestheticHead().state_dict().items()} == {
        "weight": (1, 768),
        "bias": (1,),
    }
    assert _clip_keys(CLIP_VITB32)["visual.positional_embedding"] == (50, 768)
    assert _clip_keys(CLIP_VITL14)["visual.proj"] == (1024, 768)


def test_missing_weights_error_names_file_path_and_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VBENCH_CACHE_DIR", str(tmp_path / "nothing"))
    with pytest.raises(MissingWeightsError) as err:
        load_network("dino_vitb16")
    msg = str(err.value)
    assert "dino_vitbase16_pretrain.pth" in msg
    assert str(tmp_path / "nothing" / "dino_model" / "dino_vitbase16_pretrain.pth") in msg
    assert "https://dl.fbaipublicfiles.com/dino/" in msg
    with pytest.raises(MissingWeightsError, match="sa_0_4_vit_l_14_linear.pth"):
        load_network("clip_vitl14+laion_aesthetic")
    assert not (tmp_path / "nothing").exists()  # nothing fetched or created


def test_checkpoints_load_strictly_from_cache(random_weights: Path) -> None:
    dino = load_network("dino_vitb16", random_weights, verify=False)
    assert dino.cfg == TINY_DINO
    torch.manual_seed(0)
    assert torch.equal(dino.pos_embed, DinoViT(TINY_DINO).pos_embed)  # the saved weights, not a fresh init
    assert load_network("clip_vitb32", random_weights, verify=False).cfg == TINY_CLIP_B
    assert isinstance(load_network("clip_vitl14+laion_aesthetic", random_weights, verify=False), ClipAesthetic)


def test_runner_output_is_the_single_frame_pass() -> None:
    # Each frame goes through the network alone, so the runner's output is bit-for-bit the one-frame pass,
    # on a thread pool or inline, whatever the number of frames in flight.
    from concurrent.futures import ThreadPoolExecutor

    torch.manual_seed(1)
    dino = DinoViT(TINY_DINO).eval()
    frames = np.random.default_rng(1).integers(0, 256, (5, 40, 72, 3), dtype=np.uint8)
    with torch.inference_mode():
        single = torch.cat([dino(dino_transform(torch.from_numpy(f).permute(2, 0, 1)[None].float())) for f in frames])
    results = []
    with ThreadPoolExecutor(2) as pool:
        for executor, pending in [(None, 1), (pool, 1), (pool, 3), (pool, 16)]:
            got: list[torch.Tensor] = []
            r = FrameRunner(dino, dino_transform, torch.device("cpu"), executor, max_pending=pending)
            r.submit(frames[:2], got.append)
            r.submit(frames[2:], got.append)
            r.flush()
            assert r.frames_run == 5 and all(g.shape[0] == 1 for g in got)
            results.append(torch.cat(got))
    for out in results:
        assert torch.equal(out, single)


def _vbench_resize(x: torch.Tensor, mode: str) -> torch.Tensor:
    # VBench: load_video gives float32 levels; torchvision's Resize(224, antialias=False) on a float tensor is a
    # plain interpolate (no clamp, no rounding: those apply to uint8 input only); then .float().div(255.0).
    h, w = x.shape[-2:]
    size = (224, int(224 * w / h)) if h <= w else (int(224 * h / w), 224)
    if size == (h, w):
        return x.float().div(255.0)
    y = F.interpolate(x.float(), size=size, mode=mode, align_corners=False, antialias=False)
    return y.div(255.0)


def test_resize_keeps_float_levels_as_torchvision_does_for_float_input() -> None:
    from analysis.metrics.dimensions import resize_short_side

    # A sharp edge: bicubic overshoots below 0 and above 255, and lands between integer levels.
    x = torch.zeros(1, 3, 8, 12)
    x[..., 6:] = 255.0
    y = resize_short_side(x, 224, "bicubic")
    assert y.shape == (1, 3, 224, 336)
    assert y.min() < 0 and y.max() > 255  # not clamped
    assert not torch.equal(y, y.round())  # not rounded
    short = x[..., :8]
    assert resize_short_side(short, 8, "bilinear") is short  # already at size: returned untouched


def _vbench_consistency(feats: list[torch.Tensor]) -> tuple[float, int]:
    # VBench's loop: normalise, cosine with previous and first, clamp at 0, average the two.
    total, first, prev = 0.0, None, None
    for i, f in enumerate(feats):
        f = F.normalize(f, dim=-1, p=2)
        if i == 0:
            first = f
        else:
            total += (
                max(0.0, F.cosine_similarity(prev, f).item()) + max(0.0, F.cosine_similarity(first, f).item())
            ) / 2
        prev = f
    return total, len(feats) - 1


def _expected_network_scores(path: str, random_weights: Path) -> dict[str, float]:
    frames = torch.from_numpy(read_frames(path)).permute(0, 3, 1, 2)
    mean_in = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std_in = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    mean_c = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std_c = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    dino_in = (_vbench_resize(frames, "bilinear") - mean_in) / std_in
    clip_in = _vbench_resize(frames, "bicubic")
    h, w = clip_in.shape[-2:]
    top, left = int(round((h - 224) / 2)), int(round((w - 224) / 2))
    clip_in = (clip_in[..., top : top + 224, left : left + 224] - mean_c) / std_c
    dino = load_network("dino_vitb16", random_weights, verify=False)
    clip_b = load_network("clip_vitb32", random_weights, verify=False)
    aes = load_network("clip_vitl14+laion_aesthetic", random_weights, verify=False)
    with torch.no_grad():  # one frame at a time, as VBench feeds DINO
        sub = _vbench_consistency([dino(f[None]) for f in dino_in])
        bg = _vbench_consistency([clip_b(f[None]) for f in clip_in])
        a = [aes.head(aes.visual(f[None])).item() / 10 for f in clip_in]
    return {
        "subject_consistency": sub[0] / sub[1],
        "background_consistency": bg[0] / bg[1],
        "aesthetic_quality": float(np.mean(a)),
    }


def test_network_dimensions_match_vbench_loop(full_run: pd.DataFrame, clips: tuple[Path, dict],
                                              random_weights: Path) -> None:
    for path, clip in clips[1].items():
        if len(clip) < 2:
            continue
        expected = _expected_network_scores(path, random_weights)
        for dim, value in expected.items():
            assert _score(full_run, path, dim) == pytest.approx(value, abs=1e-6), (path, dim)
    static = next(p for p in clips[1] if "calm lake" in p)
    assert _score(full_run, static, "subject_consistency") == pytest.approx(1.0, abs=1e-6)
    assert _score(full_run, static, "background_consistency") == pytest.approx(1.0, abs=1e-6)


def test_consistency_aggregate_is_pair_weighted(full_run: pd.DataFrame) -> None:
    out = full_run.attrs["out"]
    js = json.loads((out / "subject_consistency_eval_results.json").read_text())
    agg, per_video = js["subject_consistency"]
    ok = full_run[(full_run.dimension == "subject_consistency") & (full_run.status == "ok")]
    assert len(per_video) == len(ok) == 4
    pairs = {p: len(read_frames(p)) - 1 for p in ok.video}
    expected = sum(v["video_results"] * pairs[v["video_path"]] for v in per_video) / sum(pairs.values())
    assert agg == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- outputs, faults, resume


def test_outputs_and_fault_statuses(full_run: pd.DataFrame, clips: tuple[Path, dict]) -> None:
    out = full_run.attrs["out"]
    csv = pd.read_csv(out / "scores.csv", keep_default_na=False)
    assert list(csv.columns) == [
        "video",
        "model",
        "prompt",
        "dimension",
        "score",
        "status",
        "error",
        "backend",
    ]
    status = {(Path(v).stem, d): s for v, d, s in zip(csv.video, csv.dimension, csv.status, strict=True)}
    for dim in ALL_SUPPORTED:
        assert status[("garbage-0", dim)] == "failed"
        assert status[("empty-0", dim)] == "failed"
        assert status[("a calm lake-0", dim)] == "ok"
    assert status[("single-0", "temporal_flickering")] == "skipped"
    assert status[("single-0", "aesthetic_quality")] == "ok"  # one frame is enough for an aesthetic score
    assert (csv[csv.dimension == "human_action"].status == "unsupported").all()
    assert "UMT" in csv[csv.dimension == "human_action"].error.iloc[0]
    empty = csv[(csv.video.str.contains("empty-0")) & (csv.dimension == "temporal_flickering")]
    assert "empty file" in empty.error.iloc[0] and empty.score.iloc[0] == ""
    for dim in ALL_SUPPORTED:
        js = json.loads((out / f"{dim}_eval_results.json").read_text())
        agg, per_video = js[dim]
        assert set(per_video[0]) >= {"video_path", "video_results"}
        assert agg == pytest.approx(full_run.attrs["aggregates"][dim])
    assert not (out / "human_action_eval_results.json").exists()
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    assert set(csv[csv.video.str.contains("/still/")].model) == {"still"}
    assert set(csv[csv.video.str.contains("calm lake")].prompt) == {"a calm lake"}


def test_rerun_identical_and_chunking_invariant(
    full_run: pd.DataFrame, clips: tuple[Path, dict], random_weights: Path, tmp_path: Path
) -> None:
    # Small chunks (a long video's path) and another batch size give bit-identical scores.
    again = evaluate(
        clips[0],
        ALL_SUPPORTED + ["human_action"],
        tmp_path,
        device="auto",
        batch_size=4,
        chunk_frames=3,
        cache_dir=random_weights,
        verify_weights=False,
        progress=False,
    )
    pd.testing.assert_frame_equal(again, full_run, check_exact=True)
    assert (tmp_path / "scores.csv").read_bytes() == (full_run.attrs["out"] / "scores.csv").read_bytes()


def test_frames_reach_the_network_in_bounded_batches(clips: tuple[Path, dict], random_weights: Path) -> None:
    seen: list[int] = []
    dino = load_network("dino_vitb16", random_weights, verify=False)
    dino.register_forward_hook(lambda m, inp, out: seen.append(inp[0].shape[0]))
    evaluate(
        clips[0],
        ["subject_consistency"],
        device="cpu",
        batch_size=3,
        chunk_frames=4,
        networks={"dino_vitb16": dino},
        progress=False,
    )
    assert seen and set(seen) == {1}  # every pass is exactly one frame, never a whole clip or a mixed batch


class _Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_identical_scores(
    full_run: pd.DataFrame, clips: tuple[Path, dict], random_weights: Path, tmp_path: Path
) -> None:
    done: list[str] = []

    def crash_after_three(path: str) -> None:
        done.append(path)
        if len(done) == 3:
            raise _Interrupt

    dims = ALL_SUPPORTED + ["human_action"]
    with pytest.raises(_Interrupt):
        evaluate(
            clips[0],
            dims,
            tmp_path,
            device="cpu",
            batch_size=4,
            cache_dir=random_weights,
            verify_weights=False,
            progress=False,
            on_video_done=crash_after_three,
        )
    assert not (tmp_path / "scores.csv").exists()
    # A write cut short by the kill leaves a partial last line; it must be ignored.
    journal = tmp_path / ".progress" / "journal-rank0.jsonl"
    with open(journal, "a") as f:
        f.write('{"video": "half a line')
    resumed: list[str] = []
    frame = evaluate(
        clips[0],
        dims,
        tmp_path,
        device="cpu",
        batch_size=4,
        cache_dir=random_weights,
        verify_weights=False,
        progress=False,
        resume=True,
        on_video_done=resumed.append,
    )
    # failed videos (garbage, empty) are tried again on resume; others, the one-frame video included, are kept
    failed = {p for p in done if "garbage" in p or "empty" in p}
    assert set(resumed) == {i.path for i in discover(clips[0])} - (set(done) - failed)
    pd.testing.assert_frame_equal(frame, full_run, check_exact=True)
    assert (tmp_path / "scores.csv").read_bytes() == (full_run.attrs["out"] / "scores.csv").read_bytes()
    for dim in ALL_SUPPORTED:
        name = f"{dim}_eval_results.json"
        assert (tmp_path / name).read_text() == (full_run.attrs["out"] / name).read_text()


def test_inputs_manifest_and_file_list(clips: tuple[Path, dict], tmp_path: Path) -> None:
    paths = [p for p, c in clips[1].items() if len(c) > 1]
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"video": paths, "model": ["x", "y", "x", "y"], "prompt": ["p1", "p2", "p3", "p4"]}).to_csv(
        manifest, index=False
    )
    items = discover("ignored", manifest=manifest)
    assert [i.model for i in items] == ["x", "y", "x", "y"] and items[0].prompt == "p1"
    assert [i.path for i in discover(manifest)] == paths
    listed = discover(paths[:2])
    assert [i.model for i in listed] == [Path(p).parent.name for p in paths[:2]]
    frame = evaluate(paths[:2], "temporal_flickering", device="cpu", progress=False)
    assert list(frame.status) == ["ok", "ok"]
    with pytest.raises(ValueError, match="unknown dimension"):
        evaluate(paths[:1], ["flicker"], progress=False)


def test_raft_parameters_match_the_released_checkpoint_layout() -> None:
    from analysis.metrics.raft import RAFT

    with torch.device("meta"):
        sd = {f"module.{k}": tuple(v.shape) for k, v in RAFT().state_dict().items()}
    expected = {
        "module.fnet.conv1.weight": (64, 3, 7, 7),
        "module.fnet.layer3.0.downsample.0.weight": (128, 96, 1, 1),
        "module.fnet.conv2.weight": (256, 128, 1, 1),
        "module.cnet.norm1.running_var": (64,),
        "module.cnet.layer2.0.norm3.weight": (96,),
        "module.cnet.layer2.0.downsample.1.running_mean": (96,),
        "module.update_block.encoder.convc1.weight": (256, 324, 1, 1),
        "module.update_block.encoder.conv.weight": (126, 256, 3, 3),
        "module.update_block.gru.convz1.weight": (128, 384, 1, 5),
        "module.update_block.gru.convq2.weight": (128, 384, 5, 1),
        "module.update_block.flow_head.conv2.weight": (2, 256, 3, 3),
        "module.update_block.mask.2.weight": (576, 256, 1, 1),
    }
    for key, shape in expected.items():
        assert sd[key] == shape, key
    assert not any("fnet" in k and ("running" in k or "norm1.weight" in k) for k in sd)  # instance norm: no state
    assert sum(math.prod(s) for k, s in sd.items() if "num_batches" not in k) > 5_000_000  # RAFT-large, ~5.3M


def test_dynamic_degree_runs_raft_when_the_checkpoint_is_present(clips: tuple[Path, dict], tmp_path: Path) -> None:
    from analysis.metrics.raft import RAFT

    torch.manual_seed(0)
    (tmp_path / "raft_model" / "models").mkdir(parents=True)
    sd = {f"module.{k}": v for k, v in RAFT().state_dict().items()}
    torch.save(sd, tmp_path / "raft_model" / "models" / "raft-things.pth")
    path = syn.write_video(tmp_path / "v" / "m" / "x-0", syn.moving_clip(3, 64, 72, speed=4))
    small = syn.write_video(tmp_path / "v" / "m" / "small-0", syn.moving_clip(3, 24, 40, speed=4))
    tiny = evaluate([small], ["dynamic_degree"], device="cpu", cache_dir=tmp_path, progress=False)
    assert (
        tiny.status.iloc[0] == "failed" and "at least 57 x 57" in tiny.error.iloc[0] and "small-0" in tiny.error.iloc[0]
    )
    runs = [
        evaluate([path], ["dynamic_degree"], device="cpu", cache_dir=tmp_path, progress=False, batch_size=b)
        for b in (1, 5)
    ]
    assert runs[0].backend.iloc[0] == "raft-things" and runs[0].status.iloc[0] == "ok"
    assert "RAFT" in runs[0].attrs["notes"]["dynamic_degree"]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)


def test_flicker_is_exact_for_long_static_video(tmp_path: Path) -> None:
    # 70 frames in chunks of 8: the running integer sum must stay exact across chunk borders.
    path = syn.write_video(tmp_path / "s" / "still-0", syn.static_clip(70, 32, 48), fps=24)
    frame = evaluate([path], ["temporal_flickering", "dynamic_degree"], device="cpu", chunk_frames=8, progress=False)
    assert frame.score.tolist() == [1.0, 0.0]
    assert math.isclose(_vbench_flicker(read_frames(str(path))), 1.0)


def test_runner_bounds_frames_in_flight() -> None:
    from concurrent.futures import ThreadPoolExecutor

    in_flight: list[int] = []

    class Probe(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean(dim=(2, 3))

    got: list[torch.Tensor] = []
    with ThreadPoolExecutor(2) as pool:
        r = FrameRunner(Probe(), lambda x: x, torch.device("cpu"), pool, max_pending=3)
        for w in range(8, 16):  # eight shapes, three frames each
            r.submit(np.full((3, 8, w, 3), w, np.uint8), got.append)
            in_flight.append(len(r._pending))
        r.flush()
    assert max(in_flight) <= 3
    assert torch.equal(torch.cat(got)[:, 0], torch.tensor([float(w) for w in range(8, 16) for _ in range(3)]))


def test_failed_video_is_retried_on_resume(clips: tuple[Path, dict], tmp_path: Path) -> None:
    import av

    audio = tmp_path / "v" / "m" / "sound-0.mkv"  # a container without a video stream
    audio.parent.mkdir(parents=True)
    with av.open(str(audio), "w") as c:
        stream = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            c.mux(packet)
    late = tmp_path / "v" / "m" / "late-0.mkv"
    late.write_bytes(b"still uploading")
    first = evaluate(tmp_path / "v", "temporal_flickering", tmp_path / "o", device="cpu", progress=False)
    assert list(first.status) == ["failed", "failed"]
    assert "cannot open" in first.error.iloc[1]
    syn.write_video(late, syn.flicker_clip(6, 32, 32, amplitude=5))
    again = evaluate(tmp_path / "v", "temporal_flickering", tmp_path / "o", device="cpu", progress=False, resume=True)
    assert list(again.status) == ["ok", "failed"]
    assert again.score.iloc[0] == pytest.approx(250 / 255, abs=1e-12)


def test_multi_head_layout_matches_reference_attention() -> None:
    # CLIP blocks against torch's nn.MultiheadAttention (the module OpenAI's weights were saved from) and DINO
    # blocks against the qkv -> (3, heads, head_dim) split of the DINO/timm code, with several heads.
    torch.manual_seed(3)
    clip = ClipVisual(ViTConfig(patch=32, width=128, depth=1, heads=2, grid=7, out_dim=16)).eval()
    block = clip.transformer.resblocks[0]
    mha = torch.nn.MultiheadAttention(128, 2, batch_first=True)
    mha.load_state_dict(
        {
            "in_proj_weight": block.attn.in_proj_weight,
            "in_proj_bias": block.attn.in_proj_bias,
            "out_proj.weight": block.attn.out_proj.weight,
            "out_proj.bias": block.attn.out_proj.bias,
        }
    )
    x = torch.randn(2, 50, 128)
    with torch.no_grad():
        torch.testing.assert_close(block.attn(x), mha(x, x, x, need_weights=False)[0], atol=1e-5, rtol=1e-5)
    dino = DinoViT(ViTConfig(patch=16, width=128, depth=1, heads=4, grid=14)).eval()
    attn = dino.blocks[0].attn
    with torch.no_grad():
        b, n, c = x.shape
        qkv = attn.qkv(x).reshape(b, n, 3, 4, c // 4).permute(2, 0, 3, 1, 4)
        w = (qkv[0] @ qkv[1].transpose(-2, -1)) * (c // 4) ** -0.5
        ref = attn.proj((w.softmax(-1) @ qkv[2]).transpose(1, 2).reshape(b, n, c))
        torch.testing.assert_close(attn(x), ref, atol=1e-5, rtol=1e-5)


def test_dino_position_table_follows_dino_resampling() -> None:
    torch.manual_seed(4)
    dino = DinoViT(TINY_DINO)
    assert dino.position_table(224, 224) is dino.pos_embed
    g = TINY_DINO.grid
    grid = dino.pos_embed[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
    # 224 x 230: same token count, yet DINO resamples at scale 14.1 / 14 because the input is not square
    ref = F.interpolate(grid, scale_factor=(14.1 / 14, 14.1 / 14), mode="bicubic")
    torch.testing.assert_close(dino.position_table(224, 230)[:, 1:], ref.permute(0, 2, 3, 1).reshape(1, 196, -1))
    assert dino.position_table(224, 398).shape == (1, 1 + 14 * 24, TINY_DINO.width)


def test_network_failure_is_fatal_not_a_bad_video(clips: tuple[Path, dict]) -> None:
    from analysis.metrics.batching import BatchError

    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("CUDA out of memory (simulated)")

    with pytest.raises(BatchError, match="out of memory"):
        evaluate(
            clips[0],
            ["subject_consistency"],
            batch_size=2,
            networks={"dino_vitb16": Broken()},
            progress=False,
        )


def test_abs_diff_sum_is_exact() -> None:
    from analysis.metrics.dimensions import abs_diff_sum

    rng = np.random.default_rng(5)
    for shape in [(3, 7, 9, 3), (1, 1, 1, 3), (2, 270, 480, 3)]:
        a, b = (rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2))
        assert abs_diff_sum(a, b) == int(np.abs(a.astype(np.int64) - b).sum())
    full, zero = np.full((2, 540, 960, 3), 255, np.uint8), np.zeros((2, 540, 960, 3), np.uint8)
    assert abs_diff_sum(full, zero) == 255 * full.size


def test_unreadable_raft_checkpoint_falls_back_with_a_note(tmp_path: Path) -> None:
    (tmp_path / "raft_model" / "models").mkdir(parents=True)
    (tmp_path / "raft_model" / "models" / "raft-things.pth").write_bytes(b"placeholder")
    path = syn.write_video(tmp_path / "v" / "m" / "x-0", syn.moving_clip(6, 32, 48, speed=4))
    frame = evaluate([path], ["dynamic_degree"], device="cpu", cache_dir=tmp_path, progress=False)
    assert frame.backend.iloc[0] == "opencv-farneback" and frame.status.iloc[0] == "ok"
    assert (
        "Farneback" in frame.attrs["notes"]["dynamic_degree"]
        and "RAFT failed" in frame.attrs["notes"]["dynamic_degree"]
    )
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CPU-only build|no GPU is visible"):
            evaluate([path], ["temporal_flickering"], device="cuda", progress=False)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace, used only to build the fixture
def test_openai_style_torchscript_checkpoint_loads(tmp_path: Path) -> None:
    # OpenAI's ViT-*.pt files are TorchScript archives of the whole CLIP model with fp16 weights.
    from analysis.metrics.backbones import clip_visual_from_state_dict
    from analysis.metrics.weights import load_state_dict

    class Whole(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.visual = ClipVisual(TINY_CLIP_B)
            self.logit_scale = torch.nn.Parameter(torch.ones([]))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.visual(x) * self.logit_scale

    torch.manual_seed(6)
    whole = Whole().eval()
    x = torch.randn(1, 3, 224, 224)
    traced = torch.jit.trace(copy.deepcopy(whole), x).half()  # a copy: .half() acts on the traced weights
    traced.save(str(tmp_path / "ViT-B-32.pt"))
    sd = load_state_dict(tmp_path / "ViT-B-32.pt")
    assert sd["visual.proj"].dtype == torch.float32 and "logit_scale" in sd
    visual = clip_visual_from_state_dict(sd)
    torch.testing.assert_close(visual.proj, whole.visual.proj.half().float())
    with torch.no_grad():
        torch.testing.assert_close(visual(x), whole.visual(x), atol=2e-2, rtol=2e-2)


# --------------------------------------------------------------------------- determinism by construction


@pytest.mark.parametrize(("batch_size", "threads", "chunk"), [(1, 1, 32), (16, 1, 5), (4, 2, 32), (16, 2, 3)])
def test_scores_do_not_depend_on_batch_size_threads_or_chunks(
    full_run: pd.DataFrame, clips: tuple[Path, dict], random_weights: Path, batch_size: int, threads: int, chunk: int
) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        frame = evaluate(
            clips[0],
            ALL_SUPPORTED + ["human_action"],
            device="cpu",
            batch_size=batch_size,
            chunk_frames=chunk,
            cache_dir=random_weights,
            verify_weights=False,
            progress=False,
        )
    finally:
        torch.set_num_threads(before)
    pd.testing.assert_frame_equal(frame, full_run, check_exact=True)
    assert frame.attrs["aggregates"] == full_run.attrs["aggregates"]
    assert torch.get_num_threads() == before  # the run's single-threaded passes do not leak


def test_killed_at_any_video_resumes_to_identical_scores(
    full_run: pd.DataFrame, clips: tuple[Path, dict], random_weights: Path, tmp_path: Path
) -> None:
    dims = ALL_SUPPORTED + ["human_action"]
    opts = {"device": "cpu", "cache_dir": random_weights, "verify_weights": False, "progress": False}
    n = len(discover(clips[0]))
    for stop in range(1, n):
        out = tmp_path / f"stop{stop}"
        done: list[str] = []

        def crash(path: str, stop: int = stop, done: list[str] = done) -> None:
            done.append(path)
            if len(done) == stop:
                raise _Interrupt

        with pytest.raises(_Interrupt):
            evaluate(clips[0], dims, out, batch_size=3, on_video_done=crash, **opts)
        frame = evaluate(clips[0], dims, out, batch_size=7, resume=True, **opts)
        pd.testing.assert_frame_equal(frame, full_run, check_exact=True)
        assert (out / "scores.csv").read_bytes() == (full_run.attrs["out"] / "scores.csv").read_bytes()


# --------------------------------------------------------------------------- image to video


def _vbench_i2v_subject(image: Path, frames: np.ndarray, dino: torch.nn.Module) -> float:
    # VBench++ (vbench2_beta_i2v): PIL image -> Resize(256, bicubic) -> CenterCrop(224) -> ToTensor -> Normalize;
    # frames as float32 levels -> tensor Resize(256, bicubic, torchvision's default antialias) -> crop -> /255.
    from PIL import Image

    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def crop(x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
        return x[..., top : top + 224, left : left + 224]

    img = Image.open(image).convert("RGB")
    w, h = img.size
    img = img.resize((int(256 * w / h), 256) if h <= w else (256, int(256 * h / w)), Image.BICUBIC)
    x = (crop(torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255.0) - mean) / std
    v = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    h, w = v.shape[-2:]
    size = (256, int(256 * w / h)) if h <= w else (int(256 * h / w), 256)
    v = (crop(F.interpolate(v, size=size, mode="bicubic", align_corners=False, antialias=True)) / 255.0 - mean) / std
    with torch.no_grad():
        ref = F.normalize(dino(x), dim=-1)
        feats = [F.normalize(dino(f[None]), dim=-1) for f in v]
    conform = [max(0.0, F.cosine_similarity(ref, f).item()) for f in feats]
    consec = [max(0.0, F.cosine_similarity(a, b).item()) for a, b in zip(feats[:-1], feats[1:], strict=True)]
    return 0.4 * max(conform) + 0.3 * float(np.mean(consec)) + 0.3 * min(consec)


def test_i2v_subject_follows_vbench_and_needs_its_image(random_weights: Path, tmp_path: Path) -> None:
    from PIL import Image

    clip = syn.moving_clip(5, 48, 80, speed=3, seed=8)
    with_image = syn.write_video(tmp_path / "m" / "a cat-0", clip)
    Image.fromarray(clip[0]).resize((60, 50)).save(with_image.with_suffix(".png"))
    without = syn.write_video(tmp_path / "m" / "a dog-0", clip)
    frame = evaluate(tmp_path, ["i2v_subject"], device="cpu", cache_dir=random_weights, verify_weights=False,
                     progress=False)
    rows = frame.set_index(frame.video.map(lambda v: Path(v).stem))
    dino = load_network("dino_vitb16", random_weights, verify=False)
    expected = _vbench_i2v_subject(with_image.with_suffix(".png"), read_frames(str(with_image)), dino)
    assert rows.loc["a cat-0", "status"] == "ok"
    assert rows.loc["a cat-0", "score"] == pytest.approx(expected, abs=1e-6)
    assert rows.loc["a dog-0", "status"] == "failed"
    assert "no input image" in rows.loc["a dog-0", "error"] and str(without) in rows.loc["a dog-0", "error"]
    manifest = tmp_path / "manifest.csv"  # the manifest's image column serves the same purpose
    pd.DataFrame({"video": [str(without)], "model": ["m"], "image": [str(with_image.with_suffix(".png"))]}).to_csv(
        manifest, index=False
    )
    again = evaluate(manifest, ["i2v_subject"], device="cpu", cache_dir=random_weights, verify_weights=False,
                     progress=False)
    assert again.score.iloc[0] == rows.loc["a cat-0", "score"]  # same frames, same image


# --------------------------------------------------------------------------- every supported dimension


def test_random_weights_run_every_supported_dimension(tmp_path: Path) -> None:
    # synthetic.write_random_weights covers every supported dimension's files, in the released formats and paths
    from PIL import Image

    from analysis.metrics import SUPPORTED
    from analysis.metrics.amt import AMT, amt_from_state_dict
    from analysis.metrics.weights import load_state_dict, weight_path

    cache = syn.write_random_weights(tmp_path / "cache")
    # 128 x 160 and 144 x 128 (make_dataset's other size): padded sides beyond AMT-S's one-cell NaN case (64-112)
    clips = syn.make_dataset(tmp_path / "videos", frames=5, height=128, width=160)
    for path, clip in clips.items():
        Image.fromarray(clip[0]).save(Path(path).with_suffix(".png"))  # the i2v dimensions' conditioning image
    frame = evaluate(
        tmp_path / "videos", list(SUPPORTED), device="cpu", cache_dir=cache, verify_weights=False, progress=False
    )
    assert len(frame) == len(SUPPORTED) * len(clips) and set(frame.dimension) == set(SUPPORTED)
    assert not frame.attrs["unavailable"]
    bad = frame[frame.status != "ok"]
    assert bad.empty, bad[["video", "dimension", "status", "error"]].to_string()
    # [0, 1] up to rounding: a static clip's cosines can come out as 1 + 2e-16
    assert np.isfinite(frame.score.to_numpy(float)).all() and frame.score.between(0.0, 1.0 + 1e-12).all()
    nan_pixels = [r["motion_smoothness"]["nan_pixels"] for r in frame.attrs["records"].values()]
    assert nan_pixels == [0] * len(clips)
    # the released sizes are built too (AMT-S here: 12 MB; the others are hundreds of MB to GBs)
    full = syn.write_random_weights(tmp_path / "full", tiny=False, dimensions=["motion_smoothness"])
    assert [p.name for p in full.rglob("*") if p.is_file()] == ["amt-s.pth"]
    model = amt_from_state_dict(load_state_dict(weight_path("amt_s", full)))
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in AMT().state_dict().items()}
