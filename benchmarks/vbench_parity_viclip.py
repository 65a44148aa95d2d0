"""Parity plugin for temporal_style and overall_consistency (ViCLIP ViT-L/14), see benchmarks/vbench_parity.py.

Weights: VBench's own ``ViCLIP`` class (vbench/third_party/ViCLIP), seeded random parameters, saved as the released
checkpoint is read: ``torch.save({"model": state_dict})`` at ``ViCLIP/ViClip-InternVid-10M-FLT.pth``, with CLIP's
vocabulary beside it at ``ViCLIP/bpe_simple_vocab_16e6.txt.gz``, where VBench's ViCLIP tokenizer reads it (a copy of
the harness's ``clip_model/`` vocabulary: OpenAI's file in the full profile, the synthetic one in the tiny one).
``full`` is ViCLIP as VBench builds it (ViT-L/14 video tower, 12-layer 768-wide text tower, 49,408 tokens); ``tiny``
builds VBench's same ``VisionTransformer`` and ``CLIP_TEXT`` classes at width 32, one block each, the synthetic
vocabulary's size and ViCLIP's 32-token context, by swapping the two builder functions ViCLIP calls.

Scoring: ``temporal_style(viclip, video_dict, tokenizer, device)`` and ``overall_consistency(...)`` as VBench's
``compute_*`` call them, one entry per clip whose prompt is the clip's file name ``<prompt>-<i>.mp4`` without
the index (what our side reads). VBench's side loads the model once, outside the timed call; our side's time
includes loading the checkpoint.

The side venv lacks two of ViCLIP's imports (timm's ``DropPath``, einops): ``SIDE_PACKAGES`` adds them
(``--no-deps``: timm would pull a CUDA torch); for a shared side venv, put them in an overlay venv whose
``base.pth`` points at the side venv's site-packages and pass ``--venv`` the overlay.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

DIMS = ["temporal_style", "overall_consistency"]
SIDE_PACKAGES = ["timm==1.0.12", "einops==0.8.2"]  # timm as DreamSim's plugin pins it (only DropPath is used)
SIDE_DEPS: list[str] = []
CACHE_DIRS = ["ViCLIP"]

CHECKPOINT = "ViCLIP/ViClip-InternVid-10M-FLT.pth"
VOCAB = "ViCLIP/bpe_simple_vocab_16e6.txt.gz"
# tiny: vision width, vision blocks, text width, text blocks, embedding width (patch 14, 8 frames, 224 px as in ViCLIP)
TINY = (32, 1, 32, 1, 16)


def _vocabulary(cache: Path) -> Path:
    """Copy the harness's CLIP vocabulary into ViCLIP's folder (before VBench's ViCLIP modules are imported:
    its tokenizer module resolves, and would download, the file at import time)."""
    target = cache / VOCAB
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(cache / "clip_model" / "bpe_simple_vocab_16e6.txt.gz", target)
    return target


def _tiny_builders(cache: Path) -> None:
    """Make ViCLIP build VBench's own tower classes at the tiny sizes (its builders hard-code ViT-L/14)."""
    from vbench.third_party.ViCLIP import viclip
    from vbench.third_party.ViCLIP.simple_tokenizer import SimpleTokenizer
    from vbench.third_party.ViCLIP.viclip_text import CLIP_TEXT
    from vbench.third_party.ViCLIP.viclip_vision import VisionTransformer

    vw, vl, tw, tl, embed = TINY
    vocab = len(SimpleTokenizer(str(cache / VOCAB)).encoder)

    def vision(**kw: object) -> VisionTransformer:
        return VisionTransformer(
            input_resolution=kw["input_resolution"],
            patch_size=14,
            width=vw,
            layers=vl,
            heads=max(1, vw // 64),
            output_dim=embed,
            kernel_size=kw["kernel_size"],
            num_frames=kw["num_frames"],
            drop_path=kw["drop_path"],
            checkpoint_num=0,
        ).eval()

    def text(**kw: object) -> CLIP_TEXT:
        return CLIP_TEXT(embed, kw["context_length"], vocab, tw, max(1, tw // 64), tl, 0).eval()

    viclip.clip_joint_l14 = vision
    viclip.clip_text_l14 = text


def weights(cache: Path, profile: str, seed: int) -> None:
    """Seeded random ViCLIP parameters (VBench's class), every one of them drawn: the towers leave
    ``proj``, ``text_projection`` and the text ``positional_embedding`` uninitialised (``torch.empty``)."""
    _vocabulary(cache)
    import torch

    if profile == "tiny":
        _tiny_builders(cache)
    from vbench.third_party.ViCLIP.viclip import ViCLIP

    model = ViCLIP(pretrain=None)
    gen = torch.Generator().manual_seed(seed + 11)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=gen)
            if name.endswith("bias"):
                p.copy_(0.05 * noise)
            elif ".ln_" in name:
                p.copy_(1.0 + 0.1 * noise)  # LayerNorm gains
            elif name == "temp":
                p.copy_(0.01 + 0.001 * noise)
            elif name.endswith(("proj", "text_projection")):  # x @ proj: fan-in is the first axis
                p.copy_(noise * p.shape[0] ** -0.5)
            elif p.dim() >= 2 and "embedding" not in name:  # linear and patch weights: fan-in scaling
                p.copy_(noise * (p[0].numel() ** -0.5))
            else:  # class, spatial, temporal and token embeddings
                p.copy_(0.5 * noise)
    (cache / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, cache / CHECKPOINT)


def scorers(cache: Path, profile: str, videos: list[str], device: object) -> dict:
    """VBench's two functions on one ViCLIP loaded as ``compute_temporal_style`` loads it."""
    _vocabulary(cache)
    if profile == "tiny":
        _tiny_builders(cache)
    from vbench.overall_consistency import overall_consistency
    from vbench.temporal_style import temporal_style
    from vbench.third_party.ViCLIP.simple_tokenizer import SimpleTokenizer
    from vbench.third_party.ViCLIP.viclip import ViCLIP
    from vbench.utils import CACHE_DIR

    assert Path(CACHE_DIR) == cache, (CACHE_DIR, cache)
    tokenizer = SimpleTokenizer(str(cache / VOCAB))
    model = ViCLIP(tokenizer=tokenizer, pretrain=str(cache / CHECKPOINT)).to(device)
    # VBench's prompt-file entries; here the prompt of each file name, "<prompt>-<i>.mp4", as our side reads it
    video_dict = [{"prompt": re.sub(r"-\d+$", "", Path(v).stem), "video_list": [v]} for v in videos]
    return {
        "temporal_style": lambda: temporal_style(model, video_dict, tokenizer, device),
        "overall_consistency": lambda: overall_consistency(model, video_dict, tokenizer, device),
    }
