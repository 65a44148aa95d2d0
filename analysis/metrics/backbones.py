"""Image backbones VBench uses, written in plain torch so they load the official checkpoints' state dicts.

Why not torchvision/timm/clip: torchvision is not importable beside the CPU torch wheel used here, and the
metrics must not depend on packages that fetch weights from hubs. The modules below mirror the parameter
names of the released checkpoints, so ``load_state_dict(strict=True)`` checks every key and shape:

* :class:`DinoViT` - DINO ViT (``dino_vitbase16_pretrain.pth``: ``cls_token``, ``pos_embed``,
  ``patch_embed.proj.*``, ``blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*``, ``norm.*``).
  Returns the final-norm CLS token; position embeddings are bicubically resized for non-square inputs as
  DINO does (VBench resizes the short side to 224 and keeps the aspect ratio: a 16:9 clip gives 14 x 24
  patches).
* :class:`ClipVisual` - OpenAI CLIP's image tower (``visual.*`` keys: ``conv1``, ``class_embedding``,
  ``positional_embedding``, ``ln_pre``, ``transformer.resblocks.N.{attn.in_proj_*,attn.out_proj,ln_1,mlp.c_fc,
  mlp.c_proj,ln_2}``, ``ln_post``, ``proj``), QuickGELU, returning the projected CLS embedding.
* :class:`AestheticHead` - LAION's ``Linear(768, 1)`` on L2-normalised CLIP ViT-L/14 embeddings.

Architectures are inferred from a state dict's shapes (heads = width / 64 as in both families), so tiny
random checkpoints in the same layout exercise the same code in tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class ViTConfig:
    """Shape of a ViT: patch size (pixels), token width, depth, heads, grid of the trained position table."""

    patch: int
    width: int
    depth: int
    heads: int
    grid: int
    out_dim: int = 0  # CLIP projection width; 0 for DINO (no projection)


DINO_VITB16 = ViTConfig(patch=16, width=768, depth=12, heads=12, grid=14)
CLIP_VITB32 = ViTConfig(patch=32, width=768, depth=12, heads=12, grid=7, out_dim=512)
CLIP_VITL14 = ViTConfig(patch=14, width=1024, depth=24, heads=16, grid=16, out_dim=768)


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, causal: bool = False) -> torch.Tensor:
    # (B, N, D) x3 -> (B, N, D); scaled dot-product attention over `heads` heads of width D / heads.
    # causal: token i attends to tokens <= i only (CLIP's text tower).
    b, n, d = q.shape
    q, k, v = (t.reshape(b, n, heads, d // heads).transpose(1, 2) for t in (q, k, v))
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).reshape(b, n, d)


class _DinoAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        return self.proj(_attention(q, k, v, self.heads))


class _DinoMlp(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, 4 * width)
        self.fc2 = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class _DinoBlock(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attn = _DinoAttention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = _DinoMlp(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, patch: int, width: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, width, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class DinoViT(nn.Module):
    """DINO Vision Transformer returning the CLS token after the final LayerNorm.

    Input: (B, 3, H, W) float, ImageNet-normalised; H and W need not be equal or multiples of the patch
    (the remainder is dropped by the strided convolution, as in DINO). Output: (B, width) features.
    """

    def __init__(self, cfg: ViTConfig = DINO_VITB16) -> None:
        super().__init__()
        self.cfg = cfg
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.grid * cfg.grid + 1, cfg.width))
        self.patch_embed = _PatchEmbed(cfg.patch, cfg.width)
        self.blocks = nn.ModuleList(_DinoBlock(cfg.width, cfg.heads) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.width, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def position_table(self, h: int, w: int) -> torch.Tensor:
        """Position embeddings for an input of h x w pixels: (1, 1 + h//p * w//p, width).

        DINO's rule: the trained grid is resized bicubically with scale factor (h//p + 0.1) / grid per axis
        (the 0.1 guards the floor that turns the scale back into a size).
        """
        p, g = self.cfg.patch, self.cfg.grid
        gh, gw = h // p, w // p
        # DINO keeps the table only for square inputs with the trained token count; a 224 x 230 input is
        # still resampled (at scale 14.1 / 14), and we follow it exactly.
        if gh * gw == g * g and h == w:
            return self.pos_embed
        table = self.pos_embed[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
        table = F.interpolate(table, scale_factor=((gh + 0.1) / g, (gw + 0.1) / g), mode="bicubic")
        if table.shape[-2:] != (gh, gw):
            raise RuntimeError(f"position table resized to {tuple(table.shape[-2:])}, expected {(gh, gw)}")
        table = table.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)
        return torch.cat([self.pos_embed[:, :1], table], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        tokens = self.patch_embed(x)
        tokens = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), tokens], dim=1)
        tokens = tokens + self.position_table(h, w)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)[:, 0]


class _QuickGELU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class _ClipAttention(nn.Module):
    # Same parameter names as nn.MultiheadAttention, which OpenAI's checkpoints were saved from.
    def __init__(self, width: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.causal = causal
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = F.linear(x, self.in_proj_weight, self.in_proj_bias).chunk(3, dim=-1)
        return self.out_proj(_attention(q, k, v, self.heads, self.causal))


class _ClipMlp(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, 4 * width)
        self.gelu = _QuickGELU()
        self.c_proj = nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class _ClipBlock(nn.Module):
    def __init__(self, width: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        self.attn = _ClipAttention(width, heads, causal)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = _ClipMlp(width)
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class ClipTransformer(nn.Module):
    """CLIP's stack of residual attention blocks (sequence-first, as OpenAI's state dicts store it); ``causal``
    masks future tokens, as the text tower does."""

    def __init__(self, width: int, depth: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        self.resblocks = nn.ModuleList(_ClipBlock(width, heads, causal) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x)
        return x


class ClipVisual(nn.Module):
    """OpenAI CLIP image tower (``model.visual``) returning ``encode_image`` embeddings.

    Input: (B, 3, R, R) float, CLIP-normalised, R = grid * patch (224 for the released ViTs).
    Output: (B, out_dim) unnormalised embeddings.
    """

    def __init__(self, cfg: ViTConfig = CLIP_VITB32) -> None:
        super().__init__()
        self.cfg = cfg
        scale = cfg.width**-0.5
        self.conv1 = nn.Conv2d(3, cfg.width, kernel_size=cfg.patch, stride=cfg.patch, bias=False)
        self.class_embedding = nn.Parameter(scale * torch.randn(cfg.width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(cfg.grid * cfg.grid + 1, cfg.width))
        self.ln_pre = nn.LayerNorm(cfg.width)
        self.transformer = ClipTransformer(cfg.width, cfg.depth, cfg.heads)
        self.ln_post = nn.LayerNorm(cfg.width)
        self.proj = nn.Parameter(scale * torch.randn(cfg.width, cfg.out_dim))

    @property
    def input_resolution(self) -> int:
        return self.cfg.grid * self.cfg.patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.to(tokens.dtype).expand(x.shape[0], 1, -1)
        tokens = torch.cat([cls, tokens], dim=1) + self.positional_embedding.to(tokens.dtype)
        tokens = self.transformer(self.ln_pre(tokens))
        return self.ln_post(tokens[:, 0]) @ self.proj


class AestheticHead(nn.Module):
    """LAION aesthetic predictor: ``Linear(dim, 1)`` on L2-normalised CLIP embeddings (score ~1-10)."""

    def __init__(self, dim: int = 768) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, dim))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(features.float(), dim=-1, p=2), self.weight, self.bias).squeeze(-1)


class ClipAesthetic(nn.Module):
    """CLIP image tower followed by the LAION head: images -> aesthetic score (LAION's ~1-10 scale)."""

    def __init__(self, visual: ClipVisual, head: AestheticHead) -> None:
        super().__init__()
        self.visual = visual
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.visual(x)).unsqueeze(-1)


def dino_config_from_state_dict(sd: dict[str, torch.Tensor]) -> ViTConfig:
    """Infer a :class:`ViTConfig` from a DINO-layout state dict (heads = width / 64, as in all DINO ViTs)."""
    width, _, patch, _ = sd["patch_embed.proj.weight"].shape
    depth = len({k.split(".")[1] for k in sd if k.startswith("blocks.")})
    grid = math.isqrt(sd["pos_embed"].shape[1] - 1)
    return ViTConfig(patch=patch, width=width, depth=depth, heads=max(1, width // 64), grid=grid)


def clip_config_from_state_dict(sd: dict[str, torch.Tensor]) -> ViTConfig:
    """Infer a :class:`ViTConfig` from ``visual.*`` keys of a CLIP state dict (heads = width / 64)."""
    width, _, patch, _ = sd["visual.conv1.weight"].shape
    depth = len({k.split(".")[3] for k in sd if k.startswith("visual.transformer.resblocks.")})
    grid = math.isqrt(sd["visual.positional_embedding"].shape[0] - 1)
    out_dim = sd["visual.proj"].shape[1]
    return ViTConfig(
        patch=patch, width=width, depth=depth, heads=max(1, width // 64), grid=grid, out_dim=out_dim
    )


def dino_from_state_dict(sd: dict[str, torch.Tensor]) -> DinoViT:
    """Build a :class:`DinoViT` shaped like ``sd`` and load it strictly (every key and shape checked)."""
    with torch.device("meta"):
        model = DinoViT(dino_config_from_state_dict(sd))
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval()


def clip_visual_from_state_dict(sd: dict[str, torch.Tensor]) -> ClipVisual:
    """Build a :class:`ClipVisual` from the ``visual.*`` keys of a full CLIP state dict, loaded strictly."""
    visual = {k[len("visual.") :]: v for k, v in sd.items() if k.startswith("visual.")}
    with torch.device("meta"):
        model = ClipVisual(clip_config_from_state_dict(sd))
    model.load_state_dict(visual, strict=True, assign=True)
    return model.eval()


def aesthetic_head_from_state_dict(sd: dict[str, torch.Tensor]) -> AestheticHead:
    """Build the LAION head from its ``{'weight': (1, dim), 'bias': (1,)}`` state dict."""
    head = AestheticHead(sd["weight"].shape[1])
    head.load_state_dict(sd, strict=True)
    return head.eval()
