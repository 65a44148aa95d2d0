"""VBench's imaging_quality: MUSIQ (Ke et al., ICCV 2021) trained on SPAQ, written in plain torch.

The network follows the paper and the layout of the released PyTorch checkpoint ``musiq_spaq_ckpt-358bb6af.pth``
(IQA-PyTorch's conversion of Google's model), so that file loads with ``strict=True`` unchanged:

* **multi-scale input**: the frame, scaled to [-1, 1], is seen at three scales: resized (bicubic, no
  antialiasing, aspect kept, sides ``round(side * L / longer side)``) to a longer side of 224 and of 384, and at
  its own resolution. Each scale is zero-padded, split evenly before/after as TensorFlow's "SAME" rule, to a
  multiple of the patch size (32 pixels) and cut into non-overlapping patches, row by row.
* **patch stem** (``conv_root``, ``gn_root``, ``block1``): each 32 x 32 patch goes alone through a
  weight-standardised 7 x 7 stride-2 convolution (64 channels), GroupNorm(32 groups), ReLU, a 3 x 3 stride-2
  max-pool, and one bottleneck residual block (1x1, 3x3, 1x1 to 256 channels, projection shortcut;
  GroupNorm(32) after every convolution). All convolutions standardise their filters (zero mean, unit
  sample standard deviation + 1e-5 per output channel) and pad as TensorFlow's "SAME".
* **tokens** (``embedding``, ``transformer_encoder``): the 8 x 8 x 256 map of a patch, flattened row-major with
  channels last, is projected to 384 dims; a hashed spatial embedding is added (a 10 x 10 table, a patch at
  row i of an h-patch-high grid using table row ``nearest(i * 10 / h)``, likewise for columns, at every scale)
  and a scale embedding (0: 224, 1: 384, 2: native); a learnt CLS token goes first.
* **transformer**: 14 pre-norm blocks (LayerNorm eps 1e-6, 6-head self-attention with separate q/k/v
  projections, GELU MLP 384 -> 1152 -> 384), a final LayerNorm; ``head`` maps the CLS token to the SPAQ
  quality score (a mean opinion score, roughly 0-100).

The reference pads each of the two resized scales with empty patches up to ``ceil(L / 32) ** 2`` tokens and
masks them (attention logit -1000, so their softmax weight underflows to exactly 0 for every real token). We
leave those tokens out instead: the real tokens' arithmetic is the same, with the padded ones' zero terms
missing from the attention sums (differences of float rounding only).

VBench's per-frame handling (``vbench/imaging_quality.py``, default ``imaging_quality_preprocessing_mode``
"longer"): frames as float32 0-255 levels; a frame whose longer side exceeds 512 is resized (bilinear, no
antialiasing, float, so neither rounded nor clamped) with scale ``512 / longer`` to
``(int(scale * h), int(scale * w))``; then divided by 255. One frame per network pass. Per video: the mean of
the per-frame MUSIQ scores (VBench's JSON value, 0-100); our ``score`` is that mean / 100, VBench's scale for
the dimension, whose aggregate is the mean over videos / 100. VBench's other preprocessing modes ("shorter",
"shorter_centercrop", "None", chosen by a keyword of its ``evaluate``) are not offered.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .batching import FrameRunner
from .dimensions import Chunk, Dimension, NetworkDimension, VideoState, make_record, shared_network
from .weights import load_state_dict, require

BACKEND = "musiq_spaq"
LONGER_SIDES = (224, 384)  # the resized scales; the native resolution comes last
MAX_LONGER_SIDE = 512  # VBench's "longer" preprocessing: frames beyond this are downscaled first
STEM_WIDTH = 64  # channels of the patch stem (fixed in MUSIQ); the bottleneck widens them 4x


@dataclass(frozen=True)
class MusiqConfig:
    """Shape of a MUSIQ network: patch size (pixels), token width, MLP width, depth, heads, hash grid, scales."""

    patch: int = 32
    width: int = 384
    mlp: int = 1152
    depth: int = 14
    heads: int = 6
    grid: int = 10
    scales: int = 3


MUSIQ_SPAQ = MusiqConfig()


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    # TensorFlow's "SAME": output ceil(size / stride); the padding split evenly, the odd pixel after.
    total = max(0, (math.ceil(size / stride) - 1) * stride + kernel - size)
    return total // 2, total - total // 2


def pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad (N, C, H, W) as TensorFlow's "SAME" rule for a square ``kernel`` and ``stride``."""
    top, bottom = _same_padding(x.shape[-2], kernel, stride)
    left, right = _same_padding(x.shape[-1], kernel, stride)
    return F.pad(x, (left, right, top, bottom))


def max_pool_3x3_s2(x: torch.Tensor) -> torch.Tensor:
    """3 x 3 max-pooling with stride 2 (no padding) as two separable passes of strided maxima: the same values
    as ``F.max_pool2d(x, 3, 2)`` (a maximum is exact), several times faster on many tiny maps."""
    x = torch.maximum(torch.maximum(x[:, :, 0:-2:2], x[:, :, 1:-1:2]), x[:, :, 2::2])
    return torch.maximum(torch.maximum(x[..., 0:-2:2], x[..., 1:-1:2]), x[..., 2::2])


class StdConv(nn.Conv2d):
    """Convolution with weight standardisation (BiT): each filter minus its mean, over its sample std + 1e-5;
    "SAME" zero padding; no bias."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight
        w = w - w.mean((1, 2, 3), keepdim=True)
        w = w / (w.std((1, 2, 3), keepdim=True) + 1e-5)
        if self.kernel_size == (1, 1) and self.stride == (1, 1):
            # a 1x1 convolution is a matrix product over channels; on the stem's many tiny patches this is ~2-4x
            # faster on CPU than the convolution kernel (same per-output dot products, no padding needed)
            n, c, h, width = x.shape
            return torch.matmul(w.view(w.shape[0], c), x.reshape(n, c, h * width)).view(n, -1, h, width)
        return F.conv2d(pad_same(x, self.kernel_size[0], self.stride[0]), w, None, self.stride)


class Bottleneck(nn.Module):
    """Pre-activation-free ResNet bottleneck with GroupNorm: 1x1, 3x3, 1x1 (x4 channels) + projection."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = StdConv(cin, cin, 1)
        self.gn1 = nn.GroupNorm(32, cin, eps=1e-4)
        self.conv2 = StdConv(cin, cin, 3)
        self.gn2 = nn.GroupNorm(32, cin, eps=1e-4)
        self.conv3 = StdConv(cin, cout, 1)
        self.gn3 = nn.GroupNorm(32, cout, eps=1e-4)
        self.conv_proj = StdConv(cin, cout, 1)
        self.gn_proj = nn.GroupNorm(32, cout, eps=1e-4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.gn_proj(self.conv_proj(x))
        y = F.relu(self.gn1(self.conv1(x)))
        y = F.relu(self.gn2(self.conv2(y)))
        return F.relu(self.gn3(self.conv3(y)) + shortcut)


class Attention(nn.Module):
    """Multi-head self-attention with separate query / key / value projections and an output projection."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(width, width)
        self.key = nn.Linear(width, width)
        self.value = nn.Linear(width, width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (
            p(x).reshape(b, n, self.heads, d // self.heads).transpose(1, 2) for p in (self.query, self.key, self.value)
        )
        return self.out(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, width: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class EncoderBlock(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6)."""

    def __init__(self, width: int, mlp: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.attention = Attention(width, heads)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        self.mlp = Mlp(width, mlp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class HashedPositions(nn.Module):
    """Learnt grid x grid table of spatial embeddings, indexed by hashed patch positions."""

    def __init__(self, grid: int, width: int) -> None:
        super().__init__()
        self.position_emb = nn.Parameter(0.02 * torch.randn(1, grid * grid, width))


class ScaleEmbeddings(nn.Module):
    """One learnt embedding per scale of the multi-scale input."""

    def __init__(self, scales: int, width: int) -> None:
        super().__init__()
        self.scale_emb = nn.Parameter(0.02 * torch.randn(scales, width))


class Encoder(nn.Module):
    """Embeddings, CLS token, transformer blocks (``encoderblock_i``) and the final LayerNorm."""

    def __init__(self, cfg: MusiqConfig) -> None:
        super().__init__()
        self.posembed_input = HashedPositions(cfg.grid, cfg.width)
        self.scaleembed_input = ScaleEmbeddings(cfg.scales, cfg.width)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.width))
        self.encoder_norm = nn.LayerNorm(cfg.width, eps=1e-6)
        self.transformer = nn.ModuleDict(
            {f"encoderblock_{i}": EncoderBlock(cfg.width, cfg.mlp, cfg.heads) for i in range(cfg.depth)}
        )

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """(1, n, width) patch tokens with their hashed positions and scale ids -> (1, width) final CLS token."""
        x = tokens + self.posembed_input.position_emb[0][positions]
        x = x + self.scaleembed_input.scale_emb[scales]
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
        for block in self.transformer.values():
            x = block(x)
        return self.encoder_norm(x[:, 0])


def hashed_grid(grid: int, count: int) -> torch.Tensor:
    """Table row (or column) of each of ``count`` patches along one axis: nearest-neighbour resampling of
    0..grid-1 to ``count`` entries (PyTorch's "nearest" rule: ``floor(i * (grid / count))`` in float32)."""
    table = torch.arange(grid, dtype=torch.float32).view(1, 1, grid)
    return F.interpolate(table, size=count, mode="nearest").view(count).long()


def patches(image: torch.Tensor, patch: int) -> tuple[torch.Tensor, int, int]:
    """(1, 3, h, w) -> ("SAME"-padded non-overlapping patches (n, 3, patch, patch) row by row, rows, cols)."""
    x = pad_same(image, patch, patch)
    rows, cols = x.shape[-2] // patch, x.shape[-1] // patch
    x = x.reshape(3, rows, patch, cols, patch).permute(1, 3, 0, 2, 4)
    return x.reshape(rows * cols, 3, patch, patch), rows, cols


def scale_sizes(h: int, w: int, longer_sides: Sequence[int] = LONGER_SIDES) -> list[tuple[int, int]]:
    """(height, width) of each resized scale: the longer side becomes L, the other ``round(side * L / longer)``."""
    return [(round(h * (size / max(h, w))), round(w * (size / max(h, w)))) for size in sorted(longer_sides)]


class Musiq(nn.Module):
    """MUSIQ: one image in [0, 1], shape (1, 3, H, W), any size -> (1, 1) predicted quality score.

    Parameter names are those of the released checkpoints (``conv_root``, ``gn_root``, ``block1``,
    ``embedding``, ``transformer_encoder.*``, ``head``).
    """

    def __init__(self, cfg: MusiqConfig = MUSIQ_SPAQ) -> None:
        super().__init__()
        if cfg.scales != len(LONGER_SIDES) + 1:
            raise ValueError(
                f"MUSIQ with {cfg.scales} scale embeddings; this implementation has {len(LONGER_SIDES) + 1}"
            )
        self.cfg = cfg
        self.conv_root = StdConv(3, STEM_WIDTH, 7, 2)
        self.gn_root = nn.GroupNorm(32, STEM_WIDTH, eps=1e-6)
        self.block1 = Bottleneck(STEM_WIDTH, 4 * STEM_WIDTH)
        self.embedding = nn.Linear(4 * STEM_WIDTH * (cfg.patch // 4) ** 2, cfg.width)
        self.transformer_encoder = Encoder(cfg)
        self.head = nn.Linear(cfg.width, 1)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """(n, 3, p, p) patches -> (n, (p/4)^2 * 256) features, channels last as the checkpoint was trained."""
        x = F.relu(self.gn_root(self.conv_root(x)))
        x = self.block1(max_pool_3x3_s2(pad_same(x, 3, 2)))
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.shape[0] != 1:
            raise ValueError("MUSIQ here scores one image per pass (batch size 1)")
        x = (image - 0.5) * 2  # [0, 1] -> [-1, 1], as the model was trained
        h, w = x.shape[-2:]
        views = [F.interpolate(x, size=s, mode="bicubic", align_corners=False) for s in scale_sizes(h, w)]
        pieces, positions, scales = [], [], []
        g = self.cfg.grid
        for scale, view in enumerate([*views, x]):
            p, rows, cols = patches(view, self.cfg.patch)
            pos = hashed_grid(g, rows).view(rows, 1) * g + hashed_grid(g, cols).view(1, cols)
            pieces.append(p)
            positions.append(pos.reshape(-1))
            scales.append(torch.full((rows * cols,), scale, dtype=torch.long))
        tokens = self.embedding(self.stem(torch.cat(pieces)))[None]
        pos = torch.cat(positions).to(x.device)
        sc = torch.cat(scales).to(x.device)
        return self.head(self.transformer_encoder(tokens, pos, sc))


def config_from_state_dict(sd: dict[str, torch.Tensor]) -> MusiqConfig:
    """Infer a :class:`MusiqConfig` from a checkpoint's shapes (heads = width / 64, MUSIQ's head width)."""
    width, features = sd["embedding.weight"].shape
    token_side = math.isqrt(features // (4 * STEM_WIDTH))
    prefix = "transformer_encoder.transformer.encoderblock_"
    depth = len({k[len(prefix) :].split(".")[0] for k in sd if k.startswith(prefix)})
    return MusiqConfig(
        patch=4 * token_side,
        width=width,
        mlp=sd[f"{prefix}0.mlp.fc1.weight"].shape[0],
        depth=depth,
        heads=max(1, width // 64),
        grid=math.isqrt(sd["transformer_encoder.posembed_input.position_emb"].shape[1]),
        scales=sd["transformer_encoder.scaleembed_input.scale_emb"].shape[0],
    )


def musiq_from_state_dict(sd: dict[str, torch.Tensor]) -> Musiq:
    """Build a :class:`Musiq` shaped like ``sd`` and load it strictly (every key and shape checked).

    Keys may carry DataParallel's ``module.`` prefix, which is dropped (IQA-PyTorch's loader does the same).
    """
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    with torch.device("meta"):
        model = Musiq(config_from_state_dict(sd))
    model.load_state_dict(sd, strict=True, assign=True)
    return model.eval()


def load_musiq(path: str | os.PathLike[str]) -> Musiq:
    """MUSIQ from a checkpoint file; any problem becomes a one-line RuntimeError naming the file."""
    sd = load_state_dict(path)
    try:
        return musiq_from_state_dict(sd)
    except (KeyError, ValueError, RuntimeError) as e:
        first = " ".join(str(e).split())[:300]
        raise RuntimeError(
            f"{Path(path).name} at {path} is not a MUSIQ checkpoint: {type(e).__name__}: {first}"
        ) from None


def frame_size(h: int, w: int) -> tuple[int, int]:
    """(height, width) of a frame after VBench's "longer" preprocessing (longer side at most 512)."""
    if max(h, w) <= MAX_LONGER_SIDE:
        return h, w
    scale = MAX_LONGER_SIDE / max(h, w)
    return int(scale * h), int(scale * w)  # VBench's int(): e.g. 1080 x 1920 -> 288 x 512


def musiq_transform(frames: torch.Tensor) -> torch.Tensor:
    """VBench's imaging_quality frame input from float32 0-255 levels (n, 3, H, W): longer side > 512 ->
    bilinear resize (no antialiasing, float: not rounded) by ``512 / longer``; then / 255 (range 0-1)."""
    h, w = frames.shape[-2:]
    size = frame_size(h, w)
    if size != (h, w):
        frames = F.interpolate(frames, size=size, mode="bilinear", align_corners=False, antialias=False)
    return frames / 255.0


def unusable_size(h: int, w: int) -> str | None:
    """Why a frame of h x w pixels cannot be scored (a side resized to 0 pixels), else None."""
    sizes = [frame_size(h, w)]
    sizes += scale_sizes(*sizes[0])
    if min(min(s) for s in sizes) < 1:
        return f"frame of {h} x {w} pixels is too elongated for MUSIQ (a side shrinks to 0 pixels at {sizes})"
    return None


class ImagingQuality(NetworkDimension):
    """VBench's imaging_quality: mean MUSIQ-SPAQ score of the frames.

    Per video: ``video_results`` = mean over frames of the per-frame score (0-100, VBench's JSON value, summed in
    float64 in frame order as VBench does); ``score`` = that mean / 100 (0-1). Aggregate: mean over videos.
    """

    name = "imaging_quality"
    min_frames = 1
    transform = staticmethod(musiq_transform)

    def feed(self, state: VideoState, chunk: Chunk) -> None:
        if state.shape is None and state.error is None:
            state.error = unusable_size(*chunk.frames.shape[1:3])
            if state.error is not None:
                return
        super().feed(state, chunk)

    def consume(self, state: VideoState, out: torch.Tensor) -> None:
        state.acc.setdefault("scores", []).extend(out.reshape(-1).double().tolist())

    def result(self, state: VideoState) -> dict[str, Any]:
        scores = state.acc["scores"]
        total = 0.0
        for s in scores:  # VBench's running float64 sum, in frame order
            total += s
        mean = total / len(scores)
        return make_record("ok", mean / 100.0, video_results=mean, backend=self.backend, n_frames=len(scores))


def build_dimension(
    name: str,
    device: torch.device,
    batch_size: int,
    cache: str | os.PathLike[str] | None = None,
    networks: dict[str, nn.Module] | None = None,
    amp: bool = False,
    executor: Executor | None = None,
    verify_weights: bool = True,
) -> Dimension:
    """The imaging_quality dimension on MUSIQ-SPAQ (``networks["musiq_spaq"]`` if given, else the cache's
    ``pyiqa_model/musiq_spaq_ckpt-358bb6af.pth``); missing or bad weights give an :class:`Unavailable` one."""
    def load() -> Musiq:
        return load_musiq(require(BACKEND, cache, verify_weights))

    model, unavailable = shared_network(name, BACKEND, networks, load)
    if unavailable is not None:
        return unavailable
    runner = FrameRunner(model.to(device).eval(), musiq_transform, device, executor, amp=amp, max_pending=batch_size)
    return ImagingQuality(runner, BACKEND)
