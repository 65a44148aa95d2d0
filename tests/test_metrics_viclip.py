"""temporal_style and overall_consistency (ViCLIP): sampling, text, network, loading, determinism, bad input.

The frozen numbers below were produced by VBench 0.1.5's own code in the side venv of benchmarks/vbench_parity.py:
``vbench.utils.get_frame_indices(8, n, sample="middle")`` and ViCLIP's ``CLIP_TEXT.tokenize(text,
context_length=32)`` on the synthetic vocabulary of ``synthetic.write_vocabulary``; the key list in
``fixtures/viclip_state_dict_keys.txt`` is ``ViCLIP(pretrain=None).state_dict()`` (names and shapes). The whole
dimension against VBench's functions is in tests/test_metrics_parity.py (tiny weights) and PARITY.md (full size).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from analysis.metrics import evaluate, viclip
from analysis.metrics import synthetic as syn
from analysis.metrics.clip_text import BpeTokenizer, ClipText
from analysis.metrics.viclip import ViClip, ViClipVision, frame_indices, viclip_from_state_dict, viclip_transform

pytestmark = pytest.mark.usefixtures("one_torch_thread")

KEYS = Path(__file__).resolve().parent / "fixtures" / "viclip_state_dict_keys.txt"
DIMS = ["temporal_style", "overall_consistency"]

VBENCH_INDICES = {  # get_frame_indices(8, n, sample="middle") of VBench 0.1.5
    1: [0, 0, 0, 0, 0, 0, 0, 0],
    2: [0, 1, 1, 1, 1, 1, 1, 1],
    5: [0, 1, 2, 3, 4, 4, 4, 4],
    8: [0, 1, 2, 3, 4, 5, 6, 7],
    9: [0, 1, 2, 3, 4, 5, 6, 7],
    10: [0, 1, 2, 3, 5, 6, 7, 8],
    11: [0, 1, 2, 4, 5, 6, 8, 9],
    13: [0, 1, 3, 4, 6, 8, 9, 11],
    17: [0, 2, 4, 6, 8, 10, 12, 15],
    24: [1, 4, 7, 10, 13, 16, 19, 22],
    33: [1, 5, 9, 13, 17, 21, 25, 30],
    49: [2, 8, 14, 20, 26, 32, 38, 45],
    77: [4, 13, 23, 32, 42, 52, 61, 71],
    121: [7, 22, 37, 52, 67, 82, 97, 112],
    197: [11, 36, 60, 85, 110, 134, 159, 184],
    1001: [62, 187, 312, 437, 562, 687, 812, 937],
}
VBENCH_IDS = {  # CLIP_TEXT.tokenize(text, context_length=32) with the synthetic vocabulary
    "the calm lake": [529, 513, 526, 523, 530] + [0] * 27,
    "the lake " * 20: [529] + [513, 523] * 15 + [530],  # truncated: 32 ids, the end token last
    "Iron Man flying in the sky, racking focus": [
        529, 72, 81, 78, 333, 76, 64, 333, 69, 75, 88, 517, 72, 333, 513, 82, 74, 344, 267, 81, 64, 66, 74, 517,
        69, 78, 66, 84, 338, 530, 0, 0,
    ],
}  # fmt: skip


def test_frame_indices_match_vbench() -> None:
    for n, want in VBENCH_INDICES.items():
        assert frame_indices(n) == want, n
    with pytest.raises(ValueError):
        frame_indices(0)


def _tiny(vocabulary: Path, seed: int = 0, width: int = 32) -> ViClip:
    tok = BpeTokenizer(vocabulary)
    torch.manual_seed(seed)
    model = ViClip(ViClipVision(14, width, 1, 16, 16), ClipText(len(tok), 32, 32, 1, 16), tok)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * (p.shape[-1] ** -0.5 if p.dim() >= 2 else 0.5) + (p.dim() == 1))
    return model.eval()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("viclip_cache")
    vocab = syn.write_vocabulary(root / "ViCLIP" / "bpe_simple_vocab_16e6.txt.gz")
    torch.save({"model": _tiny(vocab).state_dict()}, root / "ViCLIP" / "ViClip-InternVid-10M-FLT.pth")
    return root


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    d = tmp_path_factory.mktemp("viclip_clips")
    paths = [
        syn.write_video(d / "the calm lake-0.mp4", syn.moving_clip(13, 48, 64, speed=3, seed=1), codec="libx264"),
        syn.write_video(d / "a dog-1.mp4", syn.flicker_clip(9, 64, 48, amplitude=30, seed=2), codec="libx264"),
        syn.write_video(d / "the lake-0.mp4", syn.moving_clip(20, 40, 72, speed=2, seed=3), codec="libx264"),
    ]
    return [str(p) for p in paths]


def test_token_ids_match_vbench_including_truncation(cache: Path) -> None:
    model = _tiny(cache / "ViCLIP" / "bpe_simple_vocab_16e6.txt.gz")
    for text, want in VBENCH_IDS.items():
        assert model.token_ids(text)[0].tolist() == want, text


def test_released_key_names_and_shapes_load_strictly(cache: Path) -> None:
    lines = [line.split() for line in KEYS.read_text().splitlines()]
    shapes = {k: () if s == "scalar" else tuple(int(x) for x in s.split("x")) for k, s in lines}
    assert len(shapes) == 447
    sd = {k: torch.empty(s, device="meta") for k, s in shapes.items()}
    vocab = cache / "ViCLIP" / "bpe_simple_vocab_16e6.txt.gz"
    model = viclip_from_state_dict(sd, vocab)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == shapes
    # ViT-L/14 video tower (24 blocks, 16 heads), 12-block text tower (12 heads), 32-token context, 8 frames
    assert len(model.vision_encoder.transformer.resblocks) == 24 and model.text_encoder.context_length == 32
    with pytest.raises(RuntimeError, match="ln_post"):
        viclip_from_state_dict({k: v for k, v in sd.items() if "ln_post" not in k}, vocab)
    with pytest.raises(RuntimeError, match="extra.weight"):
        viclip_from_state_dict({**sd, "extra.weight": torch.empty(1)}, vocab)


def test_saved_random_weights_round_trip(cache: Path) -> None:
    model = viclip.load_viclip(cache, verify=False)
    again = _tiny(cache / "ViCLIP" / "bpe_simple_vocab_16e6.txt.gz")
    for (k, a), (k2, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b), k


def _reference_vision(sd: dict[str, torch.Tensor], x: torch.Tensor, heads: int) -> torch.Tensor:
    # ViCLIP's video tower written out: per-frame 3-D patch convolution, every frame's tokens with the class token
    # and spatial table, frame 0's class token kept, temporal rows added to the patch tokens ordered (patch, time),
    # seq-first nn.MultiheadAttention blocks, ln_post of the class token, proj
    p = {k[len("vision_encoder.") :]: v for k, v in sd.items() if k.startswith("vision_encoder.")}
    b, t = x.shape[:2]
    y = F.conv3d(x.permute(0, 2, 1, 3, 4), p["conv1.weight"], stride=p["conv1.weight"].shape[2:])
    width = y.shape[1]
    y = y.permute(0, 2, 3, 4, 1).reshape(b * t, -1, width)
    y = torch.cat([p["class_embedding"].expand(b * t, 1, width), y], dim=1) + p["positional_embedding"]
    cls = y[:b, :1]
    patches = y[:, 1:].reshape(b, t, -1, width).transpose(1, 2) + p["temporal_positional_embedding"][:, None]
    y = torch.cat([cls, patches.reshape(b, -1, width)], dim=1)
    y = F.layer_norm(y, (width,), p["ln_pre.weight"], p["ln_pre.bias"]).transpose(0, 1)
    q = "transformer.resblocks.0."
    mha = torch.nn.MultiheadAttention(width, heads)
    mha.load_state_dict(
        {
            "in_proj_weight": p[q + "attn.in_proj_weight"],
            "in_proj_bias": p[q + "attn.in_proj_bias"],
            "out_proj.weight": p[q + "attn.out_proj.weight"],
            "out_proj.bias": p[q + "attn.out_proj.bias"],
        }
    )
    h = F.layer_norm(y, (width,), p[q + "ln_1.weight"], p[q + "ln_1.bias"])
    y = y + mha(h, h, h, need_weights=False)[0]
    h = F.linear(F.layer_norm(y, (width,), p[q + "ln_2.weight"], p[q + "ln_2.bias"]), p[q + "mlp.c_fc.weight"])
    h = h + p[q + "mlp.c_fc.bias"]
    y = y + F.linear(h * torch.sigmoid(1.702 * h), p[q + "mlp.c_proj.weight"], p[q + "mlp.c_proj.bias"])
    return F.layer_norm(y[0], (width,), p["ln_post.weight"], p["ln_post.bias"]) @ p["proj"]


def test_video_tower_matches_a_written_out_viclip_with_several_heads(cache: Path) -> None:
    model = _tiny(cache / "ViCLIP" / "bpe_simple_vocab_16e6.txt.gz", seed=3, width=128)  # 2 heads
    x = torch.randn(2, 8, 3, 224, 224)
    with torch.no_grad():
        got = model(x[:1])
        want = _reference_vision(model.state_dict(), x[:1], heads=2)
        # one frame: the temporal table's mean is added (ViCLIP's rule), and the result is a clip of one
        one = model(x[:1, :1])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert one.shape == (1, 16) and torch.isfinite(one).all()
    with pytest.raises(ValueError, match="8 frames"):
        model(x[:1, :3])


def test_transform_rounds_resized_frames_to_uint8_levels() -> None:
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.integers(0, 256, (2, 3, 96, 128), dtype=np.uint8))
    out = viclip_transform(frames)
    assert out.shape == (2, 3, 224, 224)
    mean = torch.tensor(viclip.CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(viclip.CLIP_STD).view(1, 3, 1, 1)
    levels = (out * std + mean) * 255
    # torchvision rounds and clamps a resized uint8 tensor: integer levels in 0..255 (noise overshoots otherwise)
    assert (levels - levels.round()).abs().max() < 1e-3 and levels.min() > -1e-3 and levels.max() < 255 + 1e-3


def _scores(clips: list[str], cache: Path, **kw: object) -> pd.DataFrame:
    return evaluate(clips, DIMS, device="cpu", cache_dir=cache, progress=False, verify_weights=False, **kw)


def test_scores_do_not_depend_on_batch_size_or_threads(clips: list[str], cache: Path) -> None:
    base = _scores(clips, cache, batch_size=1)
    assert (base.status == "ok").all(), base.error.tolist()
    assert base.score.abs().max() <= 1.0
    # both dimensions compare the same clip with the same prompt: one value per video
    pivot = base.pivot(index="video", columns="dimension", values="score")
    assert (pivot.temporal_style == pivot.overall_consistency).all()
    assert pivot.temporal_style.nunique() == len(clips)
    assert base.attrs["aggregates"]["temporal_style"] == pytest.approx(pivot.temporal_style.mean(), abs=1e-15)
    wide = _scores(clips, cache, batch_size=4)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # two workers, each pass still single-threaded
    try:
        two = _scores(clips, cache, batch_size=2)
    finally:
        torch.set_num_threads(threads)
    for other in (wide, two):
        assert other.score.tolist() == base.score.tolist()
    records = base.attrs["records"]
    assert records[clips[0]]["temporal_style"]["frame_indices"] == VBENCH_INDICES[13]
    assert records[clips[0]]["temporal_style"]["text"] == "the calm lake"


def test_one_frame_video_is_its_frame_eight_times(tmp_path: Path, cache: Path) -> None:
    frame = syn.static_clip(1, 48, 64, seed=5)
    # lossless (FFV1): the 8-frame video decodes to exactly 8 copies of the 1-frame video's frame
    one = syn.write_video(tmp_path / "one" / "the lake-0.mkv", frame)
    eight = syn.write_video(tmp_path / "eight" / "the lake-0.mkv", np.repeat(frame, 8, axis=0))
    out = _scores([str(one), str(eight)], cache)
    assert (out.status == "ok").all(), out.error.tolist()
    assert out.score.iloc[0] == out.score.iloc[2]  # VBench pads a short video's sample with its last frame


def test_missing_weights_give_a_one_line_reason_naming_the_file(tmp_path: Path, clips: list[str]) -> None:
    out = _scores(clips[:1], tmp_path)
    assert (out.status == "failed").all()
    assert out.error.str.contains("bpe_simple_vocab_16e6.txt.gz").all()
    syn.write_vocabulary(tmp_path / "ViCLIP" / "bpe_simple_vocab_16e6.txt.gz")
    out = _scores(clips[:1], tmp_path)
    assert (out.status == "failed").all() and out.error.str.contains("ViClip-InternVid-10M-FLT.pth").all()
    assert not out.error.str.contains("\n").any()
    (tmp_path / "ViCLIP" / "ViClip-InternVid-10M-FLT.pth").write_bytes(b"not a checkpoint")
    out = _scores(clips[:1], tmp_path)
    assert (out.status == "failed").all() and out.error.str.contains("ViClip-InternVid-10M-FLT.pth").all()


def test_bad_input_fails_that_video_only(tmp_path: Path, clips: list[str], cache: Path) -> None:
    broken = tmp_path / "broken-0.mp4"
    broken.write_bytes(b"\x00" * 100)
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(
        {"video": [clips[0], clips[1], str(broken)], "model": "m", "prompt": ["the calm lake", "", "a dog"]}
    ).to_csv(manifest, index=False)
    out = _scores(str(manifest), cache, manifest=manifest)
    by_video = {(v, d): (s, e) for v, d, s, e in zip(out.video, out.dimension, out.status, out.error, strict=True)}
    for dim in DIMS:
        assert by_video[(clips[0], dim)][0] == "ok"
        status, error = by_video[(clips[1], dim)]
        assert status == "failed" and "no prompt" in error and "\n" not in error
        status, error = by_video[(str(broken), dim)]
        assert status == "failed" and "broken-0.mp4" in error


def test_a_container_that_lists_more_frames_than_decode_fails_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, clips: list[str], cache: Path
) -> None:
    assert viclip.count_frames(clips[0]) == 13
    monkeypatch.setattr(viclip, "count_frames", lambda path: 40)
    out = _scores(clips[:1], cache)
    assert (out.status == "failed").all()
    assert out.error.str.contains("lists 40 frames but only 13 were decoded").all()
