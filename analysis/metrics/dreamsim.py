"""DreamSim's ensemble image embedding and VBench++'s ``i2v_background`` dimension, in plain torch.

VBench++ (``vbench2_beta_i2v``, shipped in the vbench 0.1.5 wheel) scores an image-to-video clip's background
with ``dreamsim(pretrained=True)`` from the ``dreamsim`` package, unpinned; vbench 0.1.5 (January 2025) resolves
it to dreamsim 0.2.1, whose default ``dreamsim_type="ensemble"`` is what is rebuilt here:

* three ViT-B/16 backbones in DINO's ViT layout, each run on the 224 x 224 input scaled to [0, 1] and normalised
  with its own statistics: DINO ViT-B/16 (ImageNet statistics; the CLS token of block 11's output, before the
  final LayerNorm), OpenAI CLIP ViT-B/16 and OpenCLIP ViT-B/16 (LAION-400M), both converted by DreamSim to DINO's
  layout (CLIP's ``ln_pre`` sits in ``pos_drop``, every LayerNorm has eps 1e-5, OpenAI's tower uses QuickGELU),
  each giving its final-norm CLS token times its ``proj`` matrix (768 -> 512);
* LoRA adapters on every block's ``attn.qkv`` of all three (peft's ``lora_A`` / ``lora_B``, scaling
  ``lora_alpha / r`` from ``adapter_config.json``), as fine-tuned on NIGHTS;
* the concatenation (768 + 512 + 512 = 1792 values), centred and scaled to unit length (DreamSim's
  ``normalize_embeds=True``).

Files, with DreamSim's names and layout (its ``cache_dir``; VBench++ leaves it at the default ``./models`` in the
working directory, here it is ``$VBENCH_CACHE_DIR/dreamsim_model/``): ``checkpoints/dino_vitbase16_pretrain.pth``
(DINO's released backbone, which ``torch.hub`` puts there for DreamSim), ``clip_vitb16_pretrain.pth.tar`` and
``open_clip_vitb16_pretrain.pth.tar`` (``{"state_dict": ...}`` in DINO's key layout plus ``proj``),
``ensemble_lora/adapter_config.json`` and ``ensemble_lora/adapter_model.safetensors`` (peft's keys,
``base_model.model.extractor_list.{i}.model.blocks.{j}.attn.qkv.lora_{A,B}.weight``). The module below carries the
same names, so each file loads strictly: :class:`DreamSimEnsemble`'s keys are the backbone files' keys under
``extractor_list.{i}.model.``, the ``proj`` matrices under ``extractor_list.{i}.proj`` and the adapter's keys less
peft's ``base_model.model.`` prefix. DreamSim also reads ``dino_vitb16_pretrain.pth`` (DINO's projection head),
which the ensemble's DINO CLS feature never uses, so it is not read here.

i2v_background per video (VBench++): s = max(0, cosine) of these embeddings; 0.4 max_i s(image, f_i) +
0.3 mean_i s(f_{i-1}, f_i) + 0.3 min_i s(f_{i-1}, f_i); aggregate = mean over videos. Frames: float 0-255 levels
resized to 224 x 224 (bicubic, torchvision's default antialiasing, not rounded), divided by 255; the image:
Pillow's bicubic resize to 224 x 224, then divided by 255.
"""

from __future__ import annotations

import json
import math
import os
from concurrent.futures import Executor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import DinoViT, ViTConfig, dino_config_from_state_dict
from .batching import FrameRunner
from .dimensions import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD, I2VSubject, Unavailable, shared_network
from .weights import load_state_dict, require

BACKEND = "dreamsim_ensemble"
SIZE = 224  # DreamSim's and VBench++'s input side
KINDS = ("dino", "clip", "open_clip")  # DreamSim's extractor_list order: dino_vitb16, clip_vitb16, open_clip_vitb16
DINO_LAYER = 11  # DreamSim reads the DINO CLS token from this block's output (a forward hook on blocks[11])
FILES = (
    "dreamsim_dino_vitb16",
    "dreamsim_clip_vitb16",
    "dreamsim_open_clip_vitb16",
    "dreamsim_ensemble_lora",
    "dreamsim_ensemble_lora_config",
)
ADAPTER_PREFIX = "base_model.model."  # peft's wrapping of DreamSim's PerceptualModel in the adapter's keys


class LoraLinear(nn.Module):
    """``nn.Linear`` plus peft's LoRA update in evaluation mode: ``W x + b + B(A(x)) * scaling``.

    Keys: ``weight``, ``bias`` (the backbone file's) and ``lora_A.weight`` (r, in), ``lora_B.weight`` (out, r)
    (the adapter's). Summed in peft's order: the base output first, then the low-rank term times the scaling.
    """

    def __init__(self, in_features: int, out_features: int, rank: int, scaling: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.lora_A = nn.Linear(in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, out_features, bias=False)
        self.scaling = scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias) + self.lora_B(self.lora_A(x)) * self.scaling


class _Mlp(nn.Module):
    # DINO's fc1 -> activation -> fc2; CLIP's tower has QuickGELU (x sigmoid(1.702 x)), the others exact GELU.
    def __init__(self, width: int, quick_gelu: bool) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)
        self.quick_gelu = quick_gelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        h = h * torch.sigmoid(1.702 * h) if self.quick_gelu else F.gelu(h)
        return self.fc2(h)


class EnsembleViT(DinoViT):
    """One DreamSim backbone: :class:`~analysis.metrics.backbones.DinoViT` with LoRA on ``attn.qkv``.

    ``kind`` "dino" is DINO's ViT as released (LayerNorm eps 1e-6, GELU); "clip" and "open_clip" are DreamSim's
    conversions of the CLIP towers to DINO's layout: a ``pos_drop`` LayerNorm (CLIP's ``ln_pre``) after the
    position embeddings, LayerNorm eps 1e-5, and QuickGELU for OpenAI's CLIP.
    """

    def __init__(self, cfg: ViTConfig, kind: str, rank: int, scaling: float) -> None:
        super().__init__(cfg)
        if kind not in KINDS:
            raise ValueError(f"unknown DreamSim backbone kind {kind!r}; known: {KINDS}")
        self.kind = kind
        eps = 1e-6 if kind == "dino" else 1e-5
        self.pos_drop = nn.LayerNorm(cfg.width, eps=eps) if kind != "dino" else None
        for block in self.blocks:
            block.attn.qkv = LoraLinear(cfg.width, 3 * cfg.width, rank, scaling)
            block.mlp = _Mlp(cfg.width, quick_gelu=kind == "clip")
        for module in self.modules():
            if isinstance(module, nn.LayerNorm):
                module.eps = eps

    def block_output(self, x: torch.Tensor, last: int) -> torch.Tensor:
        """Tokens (B, 1 + patches, width) after block ``last`` (0-based), before the final LayerNorm."""
        if last >= len(self.blocks):
            raise ValueError(f"DreamSim reads block {last}'s output; this backbone has {len(self.blocks)} blocks")
        h, w = x.shape[-2:]
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + self.position_table(h, w)
        if self.pos_drop is not None:
            tokens = self.pos_drop(tokens)
        for block in self.blocks[: last + 1]:
            tokens = block(tokens)
        return tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The final-norm CLS token, (B, width)."""
        return self.norm(self.block_output(x, len(self.blocks) - 1))[:, 0]


class DreamSimExtractor(nn.Module):
    """One entry of DreamSim's ``extractor_list``: normalisation, backbone (``model``) and feature."""

    def __init__(self, kind: str, cfg: ViTConfig, rank: int, scaling: float) -> None:
        super().__init__()
        self.kind = kind
        self.model = EnsembleViT(cfg, kind, rank, scaling)
        if kind != "dino":
            self.proj = nn.Parameter(torch.empty(cfg.width, cfg.out_dim))
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if kind == "dino" else (CLIP_MEAN, CLIP_STD)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 224, 224) in [0, 1] -> (B, d): DINO's block-11 CLS token, or a CLIP tower's projected CLS."""
        x = (x - self.mean) / self.std
        if self.kind == "dino":
            return self.model.block_output(x, DINO_LAYER)[:, 0]
        return self.model(x) @ self.proj


class DreamSimEnsemble(nn.Module):
    """DreamSim's ensemble embedding (``dreamsim_type="ensemble"``, ``normalize_embeds=True``).

    Input: (B, 3, 224, 224) float in [0, 1]. Output: (B, 1792) embeddings, centred and of unit length (for the
    released widths: 768 DINO + 512 CLIP + 512 OpenCLIP).
    """

    def __init__(self, cfgs: tuple[ViTConfig, ViTConfig, ViTConfig], rank: int, scaling: float) -> None:
        super().__init__()
        self.extractor_list = nn.ModuleList(
            DreamSimExtractor(kind, cfg, rank, scaling) for kind, cfg in zip(KINDS, cfgs, strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embed = torch.cat([extractor(x) for extractor in self.extractor_list], dim=-1)
        embed = embed - embed.mean(dim=-1, keepdim=True)
        return embed / embed.norm(dim=-1, keepdim=True)


_SAFETENSORS_DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


def read_safetensors(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (peft's adapter format), on CPU, floats as float32.

    The format: an 8-byte little-endian header length, a JSON header mapping each name to its dtype, shape and
    byte range, then the little-endian data. Read directly so that no extra package is needed.
    """
    data = Path(path).read_bytes()
    try:
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + n])
        out = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype = _SAFETENSORS_DTYPES[info["dtype"]]
            begin, end = (8 + n + o for o in info["data_offsets"])
            if end > len(data) or end < begin:
                raise ValueError(f"tensor {name!r} lies outside the file")
            raw = bytearray(data[begin:end])
            t = (torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)).reshape(info["shape"])
            out[name] = t.float() if t.is_floating_point() else t
    except (ValueError, KeyError, TypeError, RuntimeError) as e:
        raise RuntimeError(f"cannot read safetensors file {path}: {type(e).__name__}: {e}") from None
    return out


def lora_settings(config: dict[str, Any]) -> tuple[int, float]:
    """(rank, scaling) from peft's ``adapter_config.json``; only what DreamSim's adapters use is accepted."""
    targets = config.get("target_modules")
    targets = [targets] if isinstance(targets, str) else list(targets or [])
    if targets != ["qkv"]:
        raise ValueError(f"DreamSim's LoRA adapts attn.qkv only; adapter_config.json targets {targets}")
    if config.get("use_dora") or config.get("rank_pattern") or config.get("alpha_pattern"):
        raise ValueError("adapter_config.json asks for DoRA or per-layer ranks, which DreamSim's adapters do not use")
    rank, alpha = int(config["r"]), float(config["lora_alpha"])
    scaling = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank  # peft's rule
    return rank, scaling


def ensemble_from_state_dicts(
    backbones: tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], dict[str, torch.Tensor]],
    adapter: dict[str, torch.Tensor],
    adapter_config: dict[str, Any],
) -> DreamSimEnsemble:
    """Build :class:`DreamSimEnsemble` from the three backbone state dicts (DINO, CLIP, OpenCLIP: the CLIP ones
    with ``proj``) and peft's adapter, every key and shape checked (strict loading)."""
    rank, scaling = lora_settings(adapter_config)
    full: dict[str, torch.Tensor] = {}
    cfgs = []
    for i, (kind, sd) in enumerate(zip(KINDS, backbones, strict=True)):
        sd = dict(sd)
        proj = sd.pop("proj", None)
        if (proj is None) != (kind == "dino"):
            raise ValueError(f"the {kind} backbone's file {'lacks' if proj is None else 'has an unexpected'} 'proj'")
        cfg = dino_config_from_state_dict(sd)
        if proj is not None:
            cfg = replace(cfg, out_dim=proj.shape[1])
            full[f"extractor_list.{i}.proj"] = proj
        cfgs.append(cfg)
        full.update({f"extractor_list.{i}.model.{k}": v for k, v in sd.items()})
    for key, value in adapter.items():
        if not key.startswith(ADAPTER_PREFIX):
            raise ValueError(f"unexpected key {key!r} in the LoRA adapter (expected {ADAPTER_PREFIX}...)")
        full[key[len(ADAPTER_PREFIX) :]] = value
    with torch.device("meta"):
        model = DreamSimEnsemble(tuple(cfgs), rank, scaling)
    model.load_state_dict(full, strict=True, assign=True)
    for extractor in model.extractor_list:  # non-persistent buffers stay on the meta device after assign
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if extractor.kind == "dino" else (CLIP_MEAN, CLIP_STD)
        extractor.mean = torch.tensor(mean).view(1, 3, 1, 1)
        extractor.std = torch.tensor(std).view(1, 3, 1, 1)
    return model.eval()


def load_dreamsim(cache: str | os.PathLike[str] | None = None, verify: bool = True) -> DreamSimEnsemble:
    """DreamSim's ensemble from the weight cache (files in ``$VBENCH_CACHE_DIR/dreamsim_model/``).

    Raises
    ------
    MissingWeightsError, WeightsChecksumError
        A file is absent or (``verify``) has the wrong checksum; all five are checked before the slow load.
    RuntimeError, ValueError
        A file cannot be read, or its keys or shapes are not DreamSim's.
    """
    paths = {key: require(key, cache, verify) for key in FILES}
    backbones = tuple(load_state_dict(paths[k]) for k in FILES[:3])
    try:
        config = json.loads(Path(paths["dreamsim_ensemble_lora_config"]).read_text())
    except (OSError, ValueError) as e:
        raise RuntimeError(f"cannot read {paths['dreamsim_ensemble_lora_config']}: {e}") from None
    adapter = read_safetensors(paths["dreamsim_ensemble_lora"])
    return ensemble_from_state_dicts(backbones, adapter, config)


def dreamsim_transform(frames: torch.Tensor) -> torch.Tensor:
    """VBench++'s ``dreamsim_transform(224)`` on (n, 3, H, W) float32 levels: resize to 224 x 224 (bicubic,
    torchvision's default antialiasing; float input is neither rounded nor clamped), then / 255."""
    if tuple(frames.shape[-2:]) != (SIZE, SIZE):  # torchvision returns an input of the target size untouched
        frames = F.interpolate(frames, size=(SIZE, SIZE), mode="bicubic", align_corners=False, antialias=True)
    return frames / 255.0


def dreamsim_image(path: str) -> torch.Tensor:
    """VBench++'s ``dreamsim_transform_Image(224)`` for the conditioning image: Pillow's bicubic resize to
    224 x 224 (rounded to uint8 by Pillow), then / 255: (1, 3, 224, 224)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")  # VBench++ passes the file's own mode; only RGB reaches its networks intact
        if img.size != (SIZE, SIZE):
            img = img.resize((SIZE, SIZE), Image.BICUBIC)
        x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)[None].float()
    return x.div(255.0)


class I2VBackground(I2VSubject):
    """VBench++ i2v_background: DreamSim similarity of the frames to the conditioning image and to each other.

    Same formula as i2v_subject (0.4 max to the image + 0.3 mean + 0.3 min of consecutive frames, cosines
    clipped at 0) on DreamSim ensemble embeddings; aggregate = mean over videos. The image comes from the
    manifest's ``image`` column or ``<video stem>.png`` beside the video; a video without one fails with that
    reason. At least two frames are needed (VBench++ fails on a one-frame video).
    """

    name = "i2v_background"
    transform = staticmethod(dreamsim_transform)
    image_input = staticmethod(dreamsim_image)


def build_dimension(
    name: str,
    device: torch.device,
    batch_size: int,
    cache: str | os.PathLike[str] | None = None,
    networks: dict[str, nn.Module] | None = None,
    amp: bool = False,
    executor: Executor | None = None,
    verify_weights: bool = True,
) -> I2VBackground | Unavailable:
    """The i2v_background dimension, or an :class:`Unavailable` one naming the missing or bad file.

    ``networks[BACKEND]`` may hold an already built :class:`DreamSimEnsemble` (tests); otherwise it is loaded
    from the cache and stored there. Each frame (and the image) runs through the ensemble alone, on one thread.
    """
    if name != "i2v_background":
        raise KeyError(name)
    model, unavailable = shared_network(name, BACKEND, networks, lambda: load_dreamsim(cache, verify_weights))
    if unavailable is not None:
        return unavailable
    runner = FrameRunner(
        model.to(device).eval(), I2VBackground.transform, device, executor, amp=amp, max_pending=batch_size
    )
    return I2VBackground(runner, BACKEND)
