"""appearance_style: CLIP's tokenizer and text tower, the dimension against an independent per-frame loop.

No download: the tokenizer is checked on a synthetic vocabulary in OpenAI's merges-file format (its ids are
worked out by hand below) and, when OpenAI's real ``bpe_simple_vocab_16e6.txt.gz`` is in the weight cache, on
ids produced by OpenAI's own ``clip.tokenize`` (recorded in the VBench side venv of benchmarks/vbench_parity.py).
The VBench parity of the whole dimension on real architectures is in PARITY.md.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from analysis.metrics import evaluate
from analysis.metrics import synthetic as syn
from analysis.metrics.clip_text import BpeTokenizer, ClipText, clip_text_from_state_dict, style_text
from analysis.metrics.runner import load_network
from analysis.metrics.video import read_frames
from analysis.metrics.weights import WEIGHT_FILES, check_file, weight_path

# One intra-op torch thread per module (tests/conftest.py says why).
pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLIP_MEAN = torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1)
CLIP_STD = torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1)


def _byte_id(ch: str, end: bool = False) -> int:
    # printable bytes '!'..'~' come first in the vocabulary, in order; '</w>' variants follow all 256 bytes
    return ord(ch) - ord("!") + (256 if end else 0)


def test_tokenizer_on_a_synthetic_vocabulary(tmp_path: Path) -> None:
    tok = BpeTokenizer(syn.write_vocabulary(tmp_path / "v.txt.gz"))
    n = len(syn.SYNTHETIC_MERGES) + 1  # the file's final newline reads as an empty merge, as in OpenAI's reader
    assert len(tok) == 512 + n + 2 and (tok.sot, tok.eot) == (512 + n, 513 + n)
    assert tok.encoder[""] == 512 + n - 1
    merge = {m.replace(" ", ""): 512 + i for i, m in enumerate(syn.SYNTHETIC_MERGES)}
    # whole words merged to one token; case, surrounding and repeated spaces removed
    assert tok.encode("  The   LAKE ") == [merge["the</w>"], merge["lake</w>"]]
    assert tok.encode("calm") == [merge["calm</w>"]]
    # a contraction is its own piece; a word with no complete merge keeps its byte symbols
    assert tok.encode("it's") == [_byte_id("i"), _byte_id("t", True), _byte_id("'"), _byte_id("s", True)]
    # HTML entities are unescaped; a digit is a piece on its own; punctuation runs are one piece
    assert tok.encode("&amp;") == [_byte_id("&", True)]
    assert tok.encode("42") == [_byte_id("4", True), _byte_id("2", True)]
    assert tok.encode("?!") == [_byte_id("?"), _byte_id("!", True)]
    # a non-ASCII letter is two UTF-8 bytes, mapped to the byte symbols beyond '~'
    assert len(tok.encode("é")) == 2
    ids = tok.tokenize("the lake", context_length=8)
    assert ids.tolist() == [[tok.sot, merge["the</w>"], merge["lake</w>"], tok.eot, 0, 0, 0, 0]]
    with pytest.raises(ValueError, match="longer than CLIP's context"):
        tok.tokenize("the " * 10, context_length=8)


def test_tokenizer_matches_openai_ids_on_the_real_vocabulary() -> None:
    if check_file("clip_bpe_vocab")[0] != "verified":
        pytest.skip(f"OpenAI's vocabulary is not in the weight cache ({weight_path('clip_bpe_vocab')})")
    tok = BpeTokenizer(weight_path("clip_bpe_vocab"))
    assert len(tok) == 49408
    # ids of OpenAI's clip.tokenize (openai-clip 1.0.1), start and end tokens included
    assert tok.tokenize("Van Gogh style")[0, :5].tolist() == [49406, 2451, 19697, 1844, 49407]
    assert tok.tokenize("by Hokusai, in the style of Ukiyo")[0, :13].tolist() == [
        49406, 638, 606, 1836, 10886, 267, 530, 518, 1844, 539, 37435, 3497, 49407,
    ]  # fmt: skip


def test_vocabulary_is_registered_with_its_published_checksum() -> None:
    spec = WEIGHT_FILES["clip_bpe_vocab"]
    assert spec.url == "https://github.com/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz"
    assert spec.sha256 is not None and len(spec.sha256) == 64
    assert spec.relpath == "clip_model/bpe_simple_vocab_16e6.txt.gz"


def _reference_encode_text(sd: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    # CLIP's encode_text written out with nn.MultiheadAttention and an explicit -inf causal mask (seq-first)
    width = sd["token_embedding.weight"].shape[1]
    heads = max(1, width // 64)
    n = ids.shape[1]
    mask = torch.full((n, n), float("-inf")).triu(1)
    x = (sd["token_embedding.weight"][ids] + sd["positional_embedding"]).permute(1, 0, 2)
    depth = len({k.split(".")[2] for k in sd if k.startswith("transformer.resblocks.")})
    for i in range(depth):
        p = f"transformer.resblocks.{i}."
        mha = torch.nn.MultiheadAttention(width, heads)
        mha.load_state_dict(
            {
                "in_proj_weight": sd[p + "attn.in_proj_weight"],
                "in_proj_bias": sd[p + "attn.in_proj_bias"],
                "out_proj.weight": sd[p + "attn.out_proj.weight"],
                "out_proj.bias": sd[p + "attn.out_proj.bias"],
            }
        )
        h = F.layer_norm(x, (width,), sd[p + "ln_1.weight"], sd[p + "ln_1.bias"])
        x = x + mha(h, h, h, need_weights=False, attn_mask=mask)[0]
        h = F.layer_norm(x, (width,), sd[p + "ln_2.weight"], sd[p + "ln_2.bias"])
        h = F.linear(h, sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"])
        h = h * torch.sigmoid(1.702 * h)
        x = x + F.linear(h, sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
    x = F.layer_norm(x.permute(1, 0, 2), (width,), sd["ln_final.weight"], sd["ln_final.bias"])
    return x[torch.arange(x.shape[0]), ids.argmax(dim=-1)] @ sd["text_projection"]


def test_text_tower_matches_clip_encode_text_with_several_heads() -> None:
    torch.manual_seed(5)
    model = ClipText(vocab=40, context=12, width=128, depth=2, embed=16)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    sd = model.state_dict()
    again = clip_text_from_state_dict({**sd, "visual.transformer.resblocks.0.ln_1.weight": torch.ones(3)})
    ids = torch.tensor([[38, 5, 7, 39, 0, 0, 0, 0, 0, 0, 0, 0], [38, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 39]])
    with torch.no_grad():
        want = _reference_encode_text(sd, ids)
        torch.testing.assert_close(again(ids), want, atol=1e-5, rtol=1e-5)
        # the causal mask: tokens after the end token (padding) cannot change the result
        other = ids.clone()
        other[0, 4:] = 17
        torch.testing.assert_close(again(other)[0], want[0], atol=1e-6, rtol=1e-6)


def test_style_text_follows_vbench_prompt_suite() -> None:
    assert style_text("The bund Shanghai, Van Gogh style") == "Van Gogh style"
    assert style_text("The bund Shanghai by Hokusai, in the style of Ukiyo") == "by Hokusai, in the style of Ukiyo"
    assert style_text("A beautiful coastal beach in spring, waves lapping on sand, oil painting") == "oil painting"
    assert style_text("a running dog") == "a running dog"
    assert style_text("oil painting") == "oil painting"


def _pil_clip_input(frame: np.ndarray) -> torch.Tensor:
    # VBench's clip_transform_Image on a PIL image: Resize(224, bicubic), CenterCrop(224), ToTensor, Normalize
    from PIL import Image

    img = Image.fromarray(frame)
    w, h = img.size
    nw, nh = (int(224 * w / h), 224) if h <= w else (224, int(224 * h / w))
    img = img.resize((nw, nh), Image.BICUBIC)
    left, top = int(round((nw - 224) / 2.0)), int(round((nh - 224) / 2.0))
    img = img.crop((left, top, left + 224, top + 224))
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255.0
    return (x - CLIP_MEAN) / CLIP_STD


def test_appearance_style_matches_vbench_loop(random_weights: Path, tmp_path: Path) -> None:
    clips = {
        "motion/a running dog, oil painting-0": syn.moving_clip(6, 64, 96, speed=5, seed=1),
        "motion/the calm lake-0": syn.flicker_clip(4, 80, 60, amplitude=20, seed=2),
        "still/a small car-0": syn.static_clip(1, 48, 64, seed=3),
    }
    paths = [str(syn.write_video(tmp_path / name, clip)) for name, clip in clips.items()]
    frame = evaluate(
        tmp_path, ["appearance_style"], device="cpu", cache_dir=random_weights, verify_weights=False, progress=False
    )
    assert (frame.status == "ok").all(), frame
    model = load_network("clip_vitb32+text", random_weights, verify=False)
    sd = torch.load(random_weights / "clip_model" / "ViT-B-32.pt", weights_only=True)
    scale = float(sd["logit_scale"].exp())
    records = frame.attrs["records"]
    sims_all = []
    for path in paths:
        prompt = Path(path).stem.rsplit("-", 1)[0]
        text = "oil painting" if prompt.endswith("oil painting") else prompt
        assert records[path]["appearance_style"]["text"] == text
        ids = model.tokenizer.tokenize(text, 77)
        with torch.no_grad():
            t = F.normalize(_reference_encode_text(sd, ids), dim=-1)
            sims = []
            for f in read_frames(path):  # VBench: one frame at a time, logits_per_text / 100
                i = F.normalize(model.visual(_pil_clip_input(f)), dim=-1)
                sims.append(float(scale * i @ t.T) / 100)
        sims_all += sims
        got = float(frame[frame.video == path].score.iloc[0])
        assert got == pytest.approx(float(np.mean(sims)), abs=1e-6), path
        assert records[path]["appearance_style"]["n_frames"] == len(sims)
    # VBench's aggregate is the mean over all frames of all videos, not over videos
    assert frame.attrs["aggregates"]["appearance_style"] == pytest.approx(float(np.mean(sims_all)), abs=1e-6)
    assert abs(float(np.mean(sims_all)) - float(frame.score.mean())) > 1e-9


def test_appearance_style_without_prompt_or_too_long_fails_that_video(random_weights: Path, tmp_path: Path) -> None:
    clip = syn.static_clip(3, 48, 64)
    ok = syn.write_video(tmp_path / "a calm lake-0", clip)
    unnamed = syn.write_video(tmp_path / "untitled-0", clip)
    long = syn.write_video(tmp_path / ("x " * 80).strip(), clip)  # 80 tokens + start and end > 77
    manifest = tmp_path / "m.csv"
    prompts = ["", "the lake", "x " * 80]
    pd.DataFrame({"video": [ok.name, unnamed.name, long.name], "model": "m", "prompt": prompts}).to_csv(
        manifest, index=False
    )
    frame = evaluate(
        manifest, ["appearance_style"], device="cpu", cache_dir=random_weights, verify_weights=False, progress=False
    )
    rows = {Path(v).name: (s, e) for v, s, e in zip(frame.video, frame.status, frame.error, strict=True)}
    assert rows[ok.name][0] == "failed" and "no prompt" in rows[ok.name][1]
    assert rows[long.name][0] == "failed" and "context" in rows[long.name][1]
    assert rows[unnamed.name][0] == "ok"
    assert math.isfinite(float(frame[frame.video.str.endswith(unnamed.name)].score.iloc[0]))
