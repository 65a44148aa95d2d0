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
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


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


def write_random_weights(
    root: str | os.PathLike[str], seed: int = 0, tiny: bool = True, dimensions: Sequence[str] | None = None
) -> Path:
    """Random-weight networks saved under VBench's cache file names, file formats and key layouts (tests, demos).

    Written: DINO ViT-B/16, CLIP ViT-B/32 and ViT-L/14 with CLIP's BPE vocabulary, LAION's aesthetic head,
    AMT-S (``amt-s.pth``, ``{"state_dict": ...}``), MUSIQ-SPAQ (a plain state dict), DreamSim's ensemble (its
    DINO and two CLIP backbones, peft's LoRA adapter as ``.safetensors`` and ``adapter_config.json``) and
    ViCLIP with its vocabulary: every supported dimension but dynamic_degree's RAFT (which falls back to
    Farneback flow without it). ``tiny`` (default) uses small widths and depths of the same classes with the
    real key names (AMT-S's correlation encoder and first three pyramid widths and DreamSim's 12 DINO blocks are
    fixed by the architectures), so that the whole loading and scoring path runs in seconds on a CPU;
    ``tiny=False`` writes the released sizes (gigabytes: for demos on a machine with room). Biases and norm
    weights are moved off their initial constants so that every parameter matters. Scores from these networks
    are meaningless (ViCLIP's towers share a projected direction so that its cosines come out positive); they
    only exercise the code. ``dimensions`` (default: all) limits the files to those these dimensions read (see
    ``weights.DIMENSION_WEIGHTS``); a file's content does not depend on that choice. Returns the cache folder.
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
    from .weights import DIMENSION_WEIGHTS, WEIGHT_FILES

    if dimensions is None:
        keys = set(WEIGHT_FILES)
    else:
        unknown = [d for d in dimensions if d not in DIMENSION_WEIGHTS]
        if unknown:
            raise ValueError(f"unknown dimension(s) {unknown}; known: {', '.join(DIMENSION_WEIGHTS)}")
        keys = {key for d in dimensions for key in DIMENSION_WEIGHTS[d]}
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    # The later networks each start from their own seed: their files do not depend on which others are written.
    for offset, (wanted, write) in enumerate(
        [
            ({"amt_s"}, _write_amt),
            ({"musiq_spaq"}, _write_musiq),
            ({k for k in WEIGHT_FILES if k.startswith("dreamsim_")}, _write_dreamsim),
            ({"viclip_l14", "viclip_bpe_vocab"}, _write_viclip),
        ],
        start=1,
    ):
        if keys & wanted:
            write(root, seed + offset, tiny)
    first = {"dino_vitb16", "clip_vitb32", "clip_vitl14", "clip_bpe_vocab", "laion_aesthetic_l14"}
    if not keys & first:
        return root
    # DINO, the two CLIPs and LAION's head come from one random stream, in this order (made whichever are saved).
    if tiny:
        dino_cfg = ViTConfig(patch=16, width=64, depth=2, heads=1, grid=14)
        clip_b = ViTConfig(patch=32, width=64, depth=1, heads=1, grid=7, out_dim=32)
        clip_l = ViTConfig(patch=14, width=64, depth=1, heads=1, grid=16, out_dim=48)
    else:
        dino_cfg, clip_b, clip_l = DINO_VITB16, CLIP_VITB32, CLIP_VITL14
    torch.manual_seed(seed)
    dino = DinoViT(dino_cfg)
    if "dino_vitb16" in keys:
        (root / "dino_model").mkdir(parents=True, exist_ok=True)
        torch.save(dino.state_dict(), root / "dino_model" / "dino_vitbase16_pretrain.pth")
    (root / "clip_model").mkdir(exist_ok=True)
    vocab = write_vocabulary(root / "clip_model" / "bpe_simple_vocab_16e6.txt.gz")  # sizes the text towers
    for cfg, name, key in [(clip_b, "ViT-B-32.pt", "clip_vitb32"), (clip_l, "ViT-L-14.pt", "clip_vitl14")]:
        sd = {f"visual.{k}": v for k, v in ClipVisual(cfg).state_dict().items()}
        # the text tower (appearance_style reads ViT-B/32's): the synthetic vocabulary's size, CLIP's 77 tokens
        text = ClipText(len(BpeTokenizer(vocab)), 77, cfg.width, cfg.depth, cfg.out_dim)
        torch.nn.init.normal_(text.positional_embedding, std=0.01)
        torch.nn.init.normal_(text.text_projection, std=cfg.width**-0.5)
        sd.update(text.state_dict())
        sd["logit_scale"] = torch.tensor(math.log(1 / 0.07))  # CLIP's initial temperature
        if key in keys:
            torch.save(sd, root / "clip_model" / name)
    head = AestheticHead(clip_l.out_dim)
    torch.nn.init.normal_(head.weight, std=2.0)  # spread the scores around LAION's typical 5
    torch.nn.init.constant_(head.bias, 5.0)
    if "laion_aesthetic_l14" in keys:
        (root / "aesthetic_model" / "emb_reader").mkdir(parents=True, exist_ok=True)
        torch.save(head.state_dict(), root / "aesthetic_model" / "emb_reader" / "sa_0_4_vit_l_14_linear.pth")
    return root


def _perturb(model: torch.nn.Module, std: float) -> None:
    # biases, norm weights, PReLU slopes (every 1-d parameter) away from their initial constants
    import torch

    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(std * torch.randn_like(p))


def _write_amt(root: Path, seed: int, tiny: bool) -> None:
    """AMT-S as released (``amt_model/amt-s.pth``: ``{"state_dict": ...}``); tiny: 8-channel coarsest level and
    skip branches (the rest of AMT-S is fixed by its update blocks and correlation encoder)."""
    import torch

    from .amt import AMT
    from .weights import weight_path

    torch.manual_seed(seed)
    model = AMT(channels=(20, 32, 44, 8), skip_channels=8) if tiny else AMT()
    _perturb(model, 0.05)
    path = weight_path("amt_s", root)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict()}, path)


def _write_musiq(root: Path, seed: int, tiny: bool) -> None:
    """MUSIQ-SPAQ as released (a plain state dict); the head is set so that scores fall around 50 of 100."""
    import torch

    from .musiq import MUSIQ_SPAQ, Musiq, MusiqConfig
    from .weights import weight_path

    torch.manual_seed(seed)
    cfg = MusiqConfig(patch=16, width=32, mlp=64, depth=2, heads=1) if tiny else MUSIQ_SPAQ
    model = Musiq(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():  # norms, biases and the CLS token off their init constants
            if p.dim() == 1 or name.endswith("cls"):
                p.add_(0.1 * torch.randn_like(p))
        model.head.weight.normal_(0.0, 10.0 / cfg.width**0.5)
        model.head.bias.fill_(50.0)
    path = weight_path("musiq_spaq", root)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)


def write_safetensors(path: str | os.PathLike[str], tensors: dict[str, torch.Tensor]) -> Path:
    """Float32 tensors in the ``.safetensors`` format (peft's adapter files): an 8-byte little-endian header
    length, a JSON header (name -> dtype, shape, byte range; padded with spaces to 8 bytes), the data."""
    import json

    import torch

    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name]
        raw = t.detach().to("cpu", torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(len(text).to_bytes(8, "little") + text + b"".join(blobs))
    return path


def _write_dreamsim(root: Path, seed: int, tiny: bool) -> None:
    """DreamSim's five ensemble files in its formats: DINO's plain state dict, the CLIP towers as
    ``{"state_dict": ...}`` in DINO's layout with ``proj``, peft's adapter (``base_model.model.`` keys) and config.

    Tiny: width 16, 12 DINO blocks (DreamSim reads block 11), 2 blocks per CLIP tower, LoRA rank 4."""
    import json

    import torch

    from .backbones import DINO_VITB16, ViTConfig
    from .dreamsim import ADAPTER_PREFIX, FILES, DreamSimEnsemble
    from .weights import weight_path

    if tiny:
        dino = ViTConfig(patch=16, width=16, depth=12, heads=1, grid=14)
        clip = ViTConfig(patch=16, width=16, depth=2, heads=1, grid=14, out_dim=8)
        rank, alpha = 4, 4.0
    else:  # ViT-B/16 x 3, the CLIP ones projected to 512; DreamSim's LoRA settings
        dino, clip = DINO_VITB16, ViTConfig(patch=16, width=768, depth=12, heads=12, grid=14, out_dim=512)
        rank, alpha = 16, 0.5
    torch.manual_seed(seed)
    model = DreamSimEnsemble((dino, clip, clip), rank, alpha / rank)
    with torch.no_grad():
        for name, p in model.named_parameters():
            # left uninitialised by the classes: qkv (3 width, width) and the CLIP projections (width, out)
            if name.endswith("qkv.weight"):
                p.normal_(0.0, p.shape[1] ** -0.5)
            elif name.endswith(".proj"):
                p.normal_(0.0, p.shape[0] ** -0.5)
            elif "lora_" in name:  # peft starts B at zero (no update): random A and B so that the adapter matters
                p.normal_(0.0, 0.5 / rank**0.5)
            elif p.dim() == 1:
                p.add_(0.1 * torch.randn_like(p))
    backbones: list[dict[str, torch.Tensor]] = [{}, {}, {}]
    adapter = {}
    for key, value in model.state_dict().items():
        if ".lora_" in key:
            adapter[ADAPTER_PREFIX + key] = value
            continue
        _, index, rest = key.split(".", 2)  # extractor_list.<i>.model.<key> or extractor_list.<i>.proj
        backbones[int(index)][rest.removeprefix("model.")] = value
    for i, key in enumerate(FILES[:3]):
        path = weight_path(key, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(backbones[i] if i == 0 else {"state_dict": backbones[i]}, path)  # DINO's file is plain
    write_safetensors(weight_path("dreamsim_ensemble_lora", root), adapter)
    config = {  # peft's LoraConfig fields as peft writes them; DreamSim's values
        "base_model_name_or_path": None,
        "bias": "none",
        "fan_in_fan_out": False,
        "inference_mode": True,
        "init_lora_weights": True,
        "lora_alpha": alpha,
        "lora_dropout": 0.3,
        "modules_to_save": None,
        "peft_type": "LORA",
        "r": rank,
        "rank_pattern": {},
        "alpha_pattern": {},
        "target_modules": ["qkv"],
        "task_type": None,
        "use_dora": False,
        "use_rslora": False,
    }
    weight_path("dreamsim_ensemble_lora_config", root).write_text(json.dumps(config, indent=2) + "\n")


def _write_viclip(root: Path, seed: int, tiny: bool) -> None:
    """ViCLIP as released (``{"model": ...}``) and CLIP's BPE vocabulary (the synthetic one) beside it.

    Tiny: both towers width 32, one block, 16-d embeddings; full: ViT-L/14 over 8 frames and CLIP's text tower
    with a 32-token context and the real vocabulary size. Both projections share a component along one direction
    of the embedding space (and the final norms' biases are positive), so video-text cosines come out positive,
    as VBench's scores of real videos are."""
    import torch

    from .clip_text import BpeTokenizer, ClipText
    from .viclip import N_FRAMES, ViClip, ViClipVision
    from .weights import weight_path

    vocab = write_vocabulary(weight_path("viclip_bpe_vocab", root))
    tokenizer = BpeTokenizer(vocab)
    torch.manual_seed(seed)
    if tiny:
        vision = ViClipVision(14, 32, 1, 16, 16, N_FRAMES)
        text = ClipText(len(tokenizer), 32, 32, 1, 16)
    else:
        vision = ViClipVision(14, 1024, 24, 16, 768, N_FRAMES)
        text = ClipText(49408, 32, 768, 12, 768)  # CLIP's 49,408 tokens
    model = ViClip(vision, text, tokenizer)
    with torch.no_grad():
        torch.nn.init.normal_(text.positional_embedding, std=0.01)
        torch.nn.init.normal_(vision.temporal_positional_embedding, std=0.02)
        _perturb(model, 0.1)
        vision.ln_post.bias.add_(0.5)
        text.ln_final.bias.add_(0.5)
        embed = text.text_projection.shape[1]
        shared = torch.nn.functional.normalize(torch.randn(embed), dim=0)
        for proj in (vision.proj, text.text_projection):
            # a normed token sums to about width / 2 (biases near 0.5): a shared part of about 1.5 sqrt(embed)
            # against a random one of about sqrt(embed) gives cosines around 0.7
            width = proj.shape[0]
            proj.copy_(torch.randn_like(proj) * width**-0.5 + shared * (3.0 * embed**0.5 / width))
    path = weight_path("viclip_l14", root)
    torch.save({"model": model.state_dict()}, path)


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
