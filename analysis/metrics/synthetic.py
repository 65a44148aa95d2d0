"""Procedural test clips with known flicker, motion and static content, and a lossless writer for them.

Every clip is a (T, H, W, 3) uint8 RGB array built from a smooth random texture, so the ground truth of each
metric is known by construction:

* :func:`static_clip` - the same frame T times: temporal flickering exactly 1.0, zero flow, consistency 1.0.
* :func:`flicker_clip` - the texture with +a added on every other frame (no clipping, by construction of the
  texture range): every consecutive pair differs by exactly a grey levels, so flickering = (255 - a) / 255.
* :func:`moving_clip` - the texture translated by ``speed`` pixels per frame (wrapping around): flow magnitude
  ``speed`` everywhere, so dynamic degree is 1 when speed * step clearly exceeds 6 min(H, W) / 256.

:func:`write_video` stores clips losslessly (FFV1 in Matroska, 8-bit RGB) so that decoding returns the exact
arrays; ``codec="libx264"`` writes an ordinary lossy MP4 to exercise the usual container.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np


def texture(height: int, width: int, seed: int = 0, lo: int = 16, hi: int = 200, blur: int = 3) -> np.ndarray:
    """Smooth random RGB texture, (H, W, 3) uint8 with values in [lo, hi].

    Box-blurred noise (``blur`` passes of a 5x5 box, wrapping) gives the gradients dense flow needs; the
    value range leaves head-room for :func:`flicker_clip` offsets up to 255 - hi.
    """
    rng = np.random.default_rng(seed)
    x = rng.random((height, width, 3))
    for _ in range(blur):
        x = sum(np.roll(np.roll(x, dy, 0), dx, 1) for dy in range(-2, 3) for dx in range(-2, 3)) / 25.0
    x = (x - x.min()) / max(x.max() - x.min(), 1e-12)
    return np.round(lo + x * (hi - lo)).astype(np.uint8)


def static_clip(frames: int = 16, height: int = 64, width: int = 96, seed: int = 0) -> np.ndarray:
    """The same textured frame repeated: (T, H, W, 3) uint8."""
    return np.repeat(texture(height, width, seed)[None], frames, axis=0)


def flicker_clip(
    frames: int = 16, height: int = 64, width: int = 96, amplitude: int = 20, seed: int = 0
) -> np.ndarray:
    """Static texture whose odd frames are brighter by ``amplitude`` grey levels (exact, no clipping)."""
    if not 0 <= amplitude <= 55:
        raise ValueError("amplitude must be in [0, 55] so that texture + amplitude stays <= 255")
    clip = static_clip(frames, height, width, seed).copy()
    clip[1::2] += np.uint8(amplitude)
    return clip


def moving_clip(
    frames: int = 16, height: int = 64, width: int = 96, speed: int = 4, seed: int = 0, vertical: bool = False
) -> np.ndarray:
    """Texture translated by ``speed`` pixels per frame (horizontal unless ``vertical``), wrapping around."""
    base = texture(height, width, seed)
    axis = 0 if vertical else 1
    return np.stack([np.roll(base, t * speed, axis=axis) for t in range(frames)])


def write_video(
    path: str | os.PathLike[str], clip: np.ndarray, fps: float = 8.0, codec: str = "ffv1"
) -> Path:
    """Write a (T, H, W, 3) uint8 RGB clip; ``ffv1`` (default) is lossless, ``libx264`` a normal lossy MP4.

    The container follows the codec: ``.mkv`` for FFV1, ``.mp4`` for H.264 (the suffix of ``path`` is
    replaced).
    """
    from fractions import Fraction

    import av

    path = Path(path).with_suffix(".mkv" if codec == "ffv1" else ".mp4")
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = clip.shape[2], clip.shape[1]
        stream.pix_fmt = "bgr0" if codec == "ffv1" else "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast"}
        for frame in clip:
            for packet in stream.encode(
                av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            ):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# A few merges in the format of OpenAI's bpe_simple_vocab_16e6.txt.gz (a header line, then "a b" per line): a
# synthetic vocabulary of 256 + 256 + 16 + 1 + 2 = 531 tokens for tests, which must not download the real one
# (the final newline reads as one more, empty, merge in OpenAI's reader, and in ours).
SYNTHETIC_MERGES = (
    "t h", "th e</w>", "a n", "an d</w>", "i n", "in g</w>", "e r", "o n", "s t", "l a",
    "la k", "lak e</w>", "c a", "ca l", "cal m</w>", "o g</w>",
)  # fmt: skip


def write_vocabulary(path: str | os.PathLike[str], merges: tuple[str, ...] = SYNTHETIC_MERGES) -> Path:
    """A gzip BPE merges file in OpenAI's format (header line, one merge per line), for tests and demos."""
    import gzip

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("\n".join(["#version: synthetic", *merges]) + "\n")
    return path


def write_random_weights(root: str | os.PathLike[str], seed: int = 0, tiny: bool = True) -> Path:
    """Random-weight networks saved under VBench's cache file names and key layouts (for tests and demos).

    ``tiny`` (default) uses 1-2 block, width-64 versions of DINO ViT-B/16, CLIP ViT-B/32 and ViT-L/14 with
    the real key names, so that the whole loading and scoring path runs in seconds. Scores from these
    networks are meaningless; they only exercise the code. Returns the cache folder.
    """
    import torch

    from .backbones import (
        CLIP_VITB32,
        CLIP_VITL14,
        DINO_VITB16,
        AestheticHead,
        ClipVisual,
        DinoViT,
        ViTConfig,
    )
    from .clip_text import BpeTokenizer, ClipText

    if tiny:
        dino_cfg = ViTConfig(patch=16, width=64, depth=2, heads=1, grid=14)
        clip_b = ViTConfig(patch=32, width=64, depth=1, heads=1, grid=7, out_dim=32)
        clip_l = ViTConfig(patch=14, width=64, depth=1, heads=1, grid=16, out_dim=48)
    else:
        dino_cfg, clip_b, clip_l = DINO_VITB16, CLIP_VITB32, CLIP_VITL14
    root = Path(root)
    torch.manual_seed(seed)
    (root / "dino_model").mkdir(parents=True, exist_ok=True)
    torch.save(DinoViT(dino_cfg).state_dict(), root / "dino_model" / "dino_vitbase16_pretrain.pth")
    (root / "clip_model").mkdir(exist_ok=True)
    vocab = write_vocabulary(root / "clip_model" / "bpe_simple_vocab_16e6.txt.gz")
    for cfg, name in [(clip_b, "ViT-B-32.pt"), (clip_l, "ViT-L-14.pt")]:
        sd = {f"visual.{k}": v for k, v in ClipVisual(cfg).state_dict().items()}
        # the text tower (appearance_style reads ViT-B/32's): the synthetic vocabulary's size, CLIP's 77 tokens
        text = ClipText(len(BpeTokenizer(vocab)), 77, cfg.width, cfg.depth, cfg.out_dim)
        torch.nn.init.normal_(text.positional_embedding, std=0.01)
        torch.nn.init.normal_(text.text_projection, std=cfg.width**-0.5)
        sd.update(text.state_dict())
        sd["logit_scale"] = torch.tensor(math.log(1 / 0.07))  # CLIP's initial temperature
        torch.save(sd, root / "clip_model" / name)
    head = AestheticHead(clip_l.out_dim)
    torch.nn.init.normal_(head.weight, std=2.0)  # spread the scores around LAION's typical 5
    torch.nn.init.constant_(head.bias, 5.0)
    (root / "aesthetic_model" / "emb_reader").mkdir(parents=True, exist_ok=True)
    torch.save(head.state_dict(), root / "aesthetic_model" / "emb_reader" / "sa_0_4_vit_l_14_linear.pth")
    return root


def make_dataset(
    root: str | os.PathLike[str], frames: int = 12, height: int = 64, width: int = 96, fps: float = 8.0
) -> dict[str, np.ndarray]:
    """A small folder ``root/<model>/<prompt>-0.mkv`` of known clips for tests and benchmarks.

    Model ``still`` holds a static and a flickering clip, model ``motion`` a moving clip and one at another
    resolution. Returns path -> clip array (the exact decoded content).
    """
    root = Path(root)
    clips = {
        root / "still" / "a calm lake-0": static_clip(frames, height, width, seed=1),
        root / "still" / "a flickering lamp-0": flicker_clip(frames, height, width, amplitude=20, seed=2),
        root / "motion" / "a running dog-0": moving_clip(frames, height, width, speed=6, seed=3),
        root / "motion" / "a small car-0": moving_clip(
            frames, height + 16, width - 32, speed=5, seed=4, vertical=True
        ),
    }
    return {str(write_video(path, clip, fps)): clip for path, clip in clips.items()}
