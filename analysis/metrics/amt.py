"""Motion smoothness with AMT-S (Li et al., "AMT: All-Pairs Multi-Field Transforms for Efficient Frame
Interpolation", CVPR 2023), the frame-interpolation network VBench scores it with, in plain torch.

Written from the paper and the published architecture so that the released ``amt-s.pth`` (a dict whose
``state_dict`` holds the weights) loads with ``strict=True``: module and parameter names follow that checkpoint.

Network (the AMT-S configuration: correlation radius 3, 4 correlation levels, 3 flow fields per pixel):

* a correlation encoder (7x7 stride-2 convolution and three stages of two bottleneck blocks, instance norm,
  84 channels at 1/8 scale) builds the all-pairs correlation of the two frames, pooled into 4 levels and read
  in both directions in (2 r + 1)^2 windows;
* a 4-level context pyramid (two 3x3 convolutions with PReLU per level: 20, 32, 44 and 56 channels at 1/2 to
  1/16 scale) feeds decoders that go from 1/16 to full scale, each predicting the two flows from the middle
  frame to its neighbours and a feature map of the middle frame; at 1/8, 1/4 and 1/2 scale an update block
  refines flows and features from correlation windows read where the flows (scaled by 1/t and 1/(1-t))
  point;
* the last decoder predicts 3 flow pairs, blending masks and residuals at full scale; the 3 warped blends
  are averaged and corrected by a small convolution (``comb_block``); the result is clamped to [0, 1].

Input: two (1, 3, H, W) frames in [0, 1], H and W multiples of 16 (see :func:`pad_to_16`), and the time
t = 1/2 as a (1, 1, 1, 1) tensor. Output: the interpolated frame (1, 3, H, W) in [0, 1].

VBench's motion_smoothness (``vbench/motion_smoothness.py``), reproduced by :class:`MotionSmoothness`: every
frame of the clip (OpenCV decoding, RGB) is read; the even-indexed frames (0, 2, 4, ...) are the network's
inputs, each consecutive pair of them predicts the odd frame between them (frame 2k + 1 from frames 2k and
2k + 2). Frames are scaled to [0, 1] (uint8 / 255), replicate-padded to multiples of 16 (split evenly, the
extra pixel after) and interpolated at full resolution (scale factor 1: VBench's memory-based down-scaling of
large frames runs only when its device is the string ``"cuda"``, and VBench's evaluate passes
``torch.device("cuda")``, which never equals it). The prediction, cropped back, becomes uint8 by
``(x * 255)`` clipped to [0, 255] and truncated (not rounded). Per pair: mean absolute difference (0-255
levels) to the real odd frame over all pixels and channels; per video: the mean over pairs m, score
(255 - m) / 255; aggregate: the mean over videos. A clip needs at least 3 frames (two inputs) and sides
larger than 48 pixels (the correlation pyramid's coarsest level must keep a cell).

A quirk kept for parity: when a padded side is 64 to 112 pixels, the coarsest correlation level is one cell
wide, its window lookup divides by zero (``2 x / (W - 1)``) and the whole prediction is NaN, whatever the
weights; VBench's uint8 cast turns NaN into 0, so such a clip is scored against black frames. We do the same,
explicitly, and count the NaN pixels in the record (``nan_pixels``) so that such scores can be spotted.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor
from contextlib import nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .dimensions import Chunk, Dimension, PairJobs, VideoState, abs_diff_sum, make_record, shared_network

BACKEND = "amt_s"
CORR_RADIUS = 3
CORR_LEVELS = 4
NUM_FLOWS = 3
CHANNELS = (20, 32, 44, 56)  # context pyramid; the update blocks fix the first three
SKIP_CHANNELS = 20
FEATURE_DIM = 84  # correlation features
HIDDEN = 76  # update blocks: hidden width, flow and correlation features, fused features
FLOW_DIM, CORR_DIM, FUSED_DIM = 20, 64, 68
MULTIPLE = 16  # inputs are padded to multiples of this (the 1/16-scale pyramid level)


def resize(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Bilinear rescaling by ``scale`` (corners not aligned)."""
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


def warp(img: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: sample ``img`` (B, C, H, W) at pixel + ``flow`` (B, 2, H, W; x, y in pixels), bilinear,
    border padding, corners aligned."""
    b, _, h, w = flow.shape
    # The base grid in normalised [-1, 1] coordinates; the flow is rescaled into the same units.
    gx = torch.linspace(-1.0, 1.0, w).view(1, 1, 1, w).expand(b, -1, h, -1)
    gy = torch.linspace(-1.0, 1.0, h).view(1, 1, h, 1).expand(b, -1, -1, w)
    base = torch.cat([gx, gy], 1).to(img)
    step = torch.cat([flow[:, 0:1] / ((w - 1.0) / 2.0), flow[:, 1:2] / ((h - 1.0) / 2.0)], 1)
    grid = (base + step).permute(0, 2, 3, 1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)


def pixel_grid(n: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """(n, 2, h, w) pixel coordinates, x first."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.stack([xs, ys], dim=0).float()[None].repeat(n, 1, 1, 1)


def sample_at(img: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Sample ``img`` (B, C, H, W) at pixel coordinates ``coords`` (B, h, w, 2; x, y), corners aligned, zeros
    outside. A 1-pixel level divides by zero, as the published model does."""
    h, w = img.shape[-2:]
    x, y = coords.split([1, 1], dim=-1)
    grid = torch.cat([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)
    return F.grid_sample(img, grid, align_corners=True)


def conv_prelu(cin: int, cout: int, kernel: int = 3, stride: int = 1, padding: int = 1) -> nn.Sequential:
    """Convolution followed by a per-channel PReLU (keys ``0.weight``, ``0.bias``, ``1.weight``)."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding), nn.PReLU(cout))


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 convolutions with instance norm and ReLU, and a strided 1x1 shortcut
    (``downsample``) when the stride is not 1. Instance norm here has no parameters."""

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        mid = planes // 4
        self.conv1 = nn.Conv2d(cin, mid, kernel_size=1, padding=0)
        self.conv2 = nn.Conv2d(mid, mid, kernel_size=3, padding=1, stride=stride)
        self.conv3 = nn.Conv2d(mid, planes, kernel_size=1, padding=0)
        self.norm1, self.norm2, self.norm3 = nn.InstanceNorm2d(mid), nn.InstanceNorm2d(mid), nn.InstanceNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, planes, kernel_size=1, stride=stride), nn.InstanceNorm2d(planes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # in-place activations: fresh tensors each, and no extra allocation
        y = F.relu(self.norm1(self.conv1(x)), inplace=True)
        y = F.relu(self.norm2(self.conv2(y)), inplace=True)
        y = F.relu(self.norm3(self.conv3(y)), inplace=True)
        if self.downsample is not None:
            x = self.downsample(x)
        return F.relu(x + y, inplace=True)


class CorrelationEncoder(nn.Module):
    """Features for the correlation volume: (N, 3, H, W) -> (N, 84, H/8, W/8)."""

    def __init__(self, out: int = FEATURE_DIM) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=7, stride=2, padding=3)
        self.norm1 = nn.InstanceNorm2d(32)
        self.layer1 = nn.Sequential(Bottleneck(32, 32, 1), Bottleneck(32, 32, 1))
        self.layer2 = nn.Sequential(Bottleneck(32, 64, 2), Bottleneck(64, 64, 1))
        self.layer3 = nn.Sequential(Bottleneck(64, 96, 2), Bottleneck(96, 96, 1))
        self.conv2 = nn.Conv2d(96, out, kernel_size=1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Both frames as one batch of two, as the published model runs them (instance norm is per sample).
        x = F.relu(self.norm1(self.conv1(torch.cat([a, b], dim=0))), inplace=True)
        x = self.conv2(self.layer3(self.layer2(self.layer1(x))))
        fa, fb = torch.split(x, [a.shape[0], b.shape[0]], dim=0)
        return fa, fb


class ContextPyramid(nn.Module):
    """Four levels (``pyramid1`` .. ``pyramid4``) at 1/2 .. 1/16 scale, each two 3x3 convolutions with PReLU,
    the first of stride 2."""

    def __init__(self, channels: tuple[int, ...]) -> None:
        super().__init__()
        self.levels = len(channels)
        prev = 3
        for i, ch in enumerate(channels, 1):
            self.add_module(f"pyramid{i}", nn.Sequential(conv_prelu(prev, ch, 3, 2, 1), conv_prelu(ch, ch, 3, 1, 1)))
            prev = ch

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for i in range(1, self.levels + 1):
            x = getattr(self, f"pyramid{i}")(x)
            feats.append(x)
        return feats


class SideResBlock(nn.Module):
    """Residual block whose last ``side`` channels get two extra 3x3 convolutions of their own."""

    def __init__(self, channels: int, side: int) -> None:
        super().__init__()
        self.side = side
        self.conv1 = conv_prelu(channels, channels)
        self.conv2 = conv_prelu(side, side)
        self.conv3 = conv_prelu(channels, channels)
        self.conv4 = conv_prelu(side, side)
        self.conv5 = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)
        self.prelu = nn.PReLU(channels)

    def _side(self, out: torch.Tensor, conv: nn.Module) -> torch.Tensor:
        return torch.cat([out[:, : -self.side], conv(out[:, -self.side :])], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv3(self._side(self.conv1(x), self.conv2))
        out = self.conv5(self._side(out, self.conv4))
        return self.prelu(x + out)


def decoder_block(cin: int, width: int, cout: int, side: int) -> nn.Sequential:
    """3x3 convolution to ``width``, a side residual block, then a 4x4 stride-2 transposed convolution (x2)."""
    return nn.Sequential(
        conv_prelu(cin, width), SideResBlock(width, side), nn.ConvTranspose2d(width, cout, 4, 2, 1, bias=True)
    )


class FirstDecoder(nn.Module):
    """Coarsest decoder: the two 1/16-scale feature maps and t -> flows and middle-frame features at 1/8."""

    def __init__(self, cin: int, cout: int, side: int) -> None:
        super().__init__()
        self.convblock = decoder_block(2 * cin + 1, 2 * cin, cout + 4, side)

    def forward(self, f0: torch.Tensor, f1: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h, w = f0.shape[2:]
        out = self.convblock(torch.cat([f0, f1, t.repeat(1, 1, h, w)], 1))
        flow0, flow1 = torch.chunk(out[:, :4], 2, 1)
        return flow0, flow1, out[:, 4:]


class MiddleDecoder(nn.Module):
    """One scale up: features of the middle frame, both frames' features warped by the current flows, and the
    flows -> flow residuals (added to the 2x upsampled flows) and middle-frame features at twice the scale."""

    def __init__(self, cin: int, cout: int, side: int) -> None:
        super().__init__()
        self.convblock = decoder_block(3 * cin + 4, 3 * cin, cout + 4, side)

    def forward(
        self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        out = self.convblock(torch.cat([ft, warp(f0, flow0), warp(f1, flow1), flow0, flow1], 1))
        d0, d1 = torch.chunk(out[:, :4], 2, 1)
        return d0 + 2.0 * resize(flow0, 2.0), d1 + 2.0 * resize(flow1, 2.0), out[:, 4:]


class MultiFlowDecoder(nn.Module):
    """Last decoder, to full scale: ``flows`` flow pairs, blending masks (sigmoid) and RGB residuals."""

    def __init__(self, cin: int, side: int, flows: int) -> None:
        super().__init__()
        self.flows = flows
        self.convblock = decoder_block(3 * cin + 4, 3 * cin, 8 * flows, side)

    def forward(
        self, ft: torch.Tensor, f0: torch.Tensor, f1: torch.Tensor, flow0: torch.Tensor, flow1: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        n = self.flows
        out = self.convblock(torch.cat([ft, warp(f0, flow0), warp(f1, flow1), flow0, flow1], 1))
        d0, d1, mask, res = torch.split(out, [2 * n, 2 * n, n, 3 * n], 1)
        up0 = 2.0 * resize(flow0, 2.0).repeat(1, n, 1, 1)
        up1 = 2.0 * resize(flow1, 2.0).repeat(1, n, 1, 1)
        return d0 + up0, d1 + up1, torch.sigmoid(mask), res


class UpdateBlock(nn.Module):
    """Refines flows and middle-frame features from the bidirectional correlation windows. ``scale`` (2 or 4)
    is the ratio between the features' scale and the correlation's 1/8: the features are shrunk to 1/8 and the
    updates grown back."""

    def __init__(self, cdim: int, scale: int | None = None, levels: int = CORR_LEVELS, radius: int = CORR_RADIUS):
        super().__init__()
        self.scale = scale
        planes = levels * (2 * radius + 1) ** 2
        self.convc1 = nn.Conv2d(2 * planes, CORR_DIM, 1, padding=0)
        self.convf1 = nn.Conv2d(4, FLOW_DIM * 2, 7, padding=3)
        self.convf2 = nn.Conv2d(FLOW_DIM * 2, FLOW_DIM, 3, padding=1)
        self.conv = nn.Conv2d(CORR_DIM + FLOW_DIM, FUSED_DIM, 3, padding=1)
        self.gru = self._two_convs(FUSED_DIM + 4 + cdim, HIDDEN)
        self.feat_head = self._two_convs(HIDDEN, cdim)
        self.flow_head = self._two_convs(HIDDEN, 4)

    @staticmethod
    def _two_convs(cin: int, cout: int) -> nn.Sequential:
        # keys 0.* and 2.*: the activation sits at index 1
        return nn.Sequential(
            nn.Conv2d(cin, HIDDEN, 3, padding=1), nn.LeakyReLU(0.1, inplace=True), nn.Conv2d(HIDDEN, cout, 3, padding=1)
        )

    def forward(self, net: torch.Tensor, flow: torch.Tensor, corr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.scale is not None:
            net = resize(net, 1 / self.scale)
        cor = F.leaky_relu(self.convc1(corr), 0.1, inplace=True)
        flo = F.leaky_relu(self.convf2(F.leaky_relu(self.convf1(flow), 0.1, inplace=True)), 0.1, inplace=True)
        fused = F.leaky_relu(self.conv(torch.cat([cor, flo], dim=1)), 0.1, inplace=True)
        out = self.gru(torch.cat([fused, flow, net], dim=1))
        d_net, d_flow = self.feat_head(out), self.flow_head(out)
        if self.scale is not None:
            d_net = resize(d_net, scale=self.scale)
            d_flow = self.scale * resize(d_flow, scale=self.scale)
        return d_net, d_flow


class BidirCorrelation:
    """All-pairs correlation of two (N, D, h, w) feature maps, average-pooled into ``levels``, read from frame
    0 to frame 1 and (through the transposed volume) from frame 1 to frame 0."""

    def __init__(self, f0: torch.Tensor, f1: torch.Tensor, levels: int, radius: int) -> None:
        self.radius = radius
        n, d, h, w = f0.shape
        corr = torch.matmul(f0.view(n, d, h * w).transpose(1, 2), f1.view(n, d, h * w))
        corr = corr.view(n, h, w, 1, h, w) / torch.sqrt(torch.tensor(d).float())
        corr_t = corr.clone().permute(0, 4, 5, 3, 1, 2)
        corr, corr_t = corr.reshape(n * h * w, 1, h, w), corr_t.reshape(n * h * w, 1, h, w)
        self.fwd, self.bwd = [corr], [corr_t]
        for _ in range(levels - 1):
            corr, corr_t = F.avg_pool2d(corr, 2, stride=2), F.avg_pool2d(corr_t, 2, stride=2)
            self.fwd.append(corr)
            self.bwd.append(corr_t)

    def __call__(self, coords0: torch.Tensor, coords1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windows around ``coords0`` in the forward volume and ``coords1`` in the backward one, both
        (N, 2, h, w) -> (N, levels * (2 r + 1)^2, h, w)."""
        r = self.radius
        c0, c1 = coords0.permute(0, 2, 3, 1), coords1.permute(0, 2, 3, 1)
        n, h, w, _ = c0.shape
        line = torch.linspace(-r, r, 2 * r + 1, device=c0.device)
        # The window's first axis offsets x and its second y (the order the published model was trained with).
        first, second = torch.meshgrid(line, line, indexing="ij")
        delta = torch.stack([first, second], dim=-1).view(1, 2 * r + 1, 2 * r + 1, 2)
        out0, out1 = [], []
        for i, (a, b) in enumerate(zip(self.fwd, self.bwd, strict=True)):
            out0.append(sample_at(a, c0.reshape(n * h * w, 1, 1, 2) / 2**i + delta).view(n, h, w, -1))
            out1.append(sample_at(b, c1.reshape(n * h * w, 1, 1, 2) / 2**i + delta).view(n, h, w, -1))
        return (
            torch.cat(out0, dim=-1).permute(0, 3, 1, 2).contiguous().float(),
            torch.cat(out1, dim=-1).permute(0, 3, 1, 2).contiguous().float(),
        )


class AMT(nn.Module):
    """AMT-S; ``forward(img0, img1, t)`` returns the frame at time t between them, (N, 3, H, W) in [0, 1].

    ``channels[3]``, ``skip_channels``, ``num_flows``, ``corr_radius`` and ``corr_levels`` are free (smaller
    values give test-size networks of the same class); ``channels[:3]`` are fixed by the update blocks.
    """

    def __init__(
        self,
        corr_radius: int = CORR_RADIUS,
        corr_levels: int = CORR_LEVELS,
        num_flows: int = NUM_FLOWS,
        channels: tuple[int, ...] = CHANNELS,
        skip_channels: int = SKIP_CHANNELS,
    ) -> None:
        super().__init__()
        if tuple(channels[:3]) != CHANNELS[:3] or len(channels) != 4:
            raise ValueError(f"AMT-S's update blocks fix channels[:3] to {CHANNELS[:3]}, got {tuple(channels)}")
        self.radius, self.levels, self.num_flows = corr_radius, corr_levels, num_flows
        c = channels
        self.feat_encoder = CorrelationEncoder()
        self.encoder = ContextPyramid(tuple(c))
        self.decoder4 = FirstDecoder(c[3], c[2], skip_channels)
        self.decoder3 = MiddleDecoder(c[2], c[1], skip_channels)
        self.decoder2 = MiddleDecoder(c[1], c[0], skip_channels)
        self.decoder1 = MultiFlowDecoder(c[0], skip_channels, num_flows)
        self.update4 = UpdateBlock(c[2], None, corr_levels, corr_radius)
        self.update3 = UpdateBlock(c[1], 2, corr_levels, corr_radius)
        self.update2 = UpdateBlock(c[0], 4, corr_levels, corr_radius)
        self.comb_block = nn.Sequential(
            nn.Conv2d(3 * num_flows, 6 * num_flows, 3, 1, 1),
            nn.PReLU(6 * num_flows),
            nn.Conv2d(6 * num_flows, 3, 3, 1, 1),
        )

    @staticmethod
    def _lookup(
        corr: BidirCorrelation,
        grid: torch.Tensor,
        flow0: torch.Tensor,
        flow1: torch.Tensor,
        t: torch.Tensor,
        down: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # Linear motion: flow t->1 scaled by 1/t is the flow 0->1, flow t->0 scaled by 1/(1-t) the flow 1->0.
        if down != 1:
            flow0, flow1 = (1 / down) * resize(flow0, 1 / down), (1 / down) * resize(flow1, 1 / down)
        c0, c1 = corr(grid + flow1 * (1.0 / t), grid + flow0 * (1.0 / (1.0 - t)))
        return torch.cat([c0, c1], dim=1), torch.cat([flow0, flow1], dim=1)

    def _refine(
        self,
        update: UpdateBlock,
        corr: BidirCorrelation,
        grid: torch.Tensor,
        flow0: torch.Tensor,
        flow1: torch.Tensor,
        ft: torch.Tensor,
        t: torch.Tensor,
        down: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        cor, flow = self._lookup(corr, grid, flow0, flow1, t, down)
        d_ft, d_flow = update(ft, flow, cor)
        d0, d1 = torch.chunk(d_flow, 2, 1)
        return flow0 + d0, flow1 + d1, ft + d_ft

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
        # One mean over both frames (stacked along the height), channel then rows then columns, as published.
        mean = torch.cat([img0, img1], 2).mean(1, keepdim=True).mean(2, keepdim=True).mean(3, keepdim=True)
        img0, img1 = img0 - mean, img1 - mean
        x0 = resize(img0, scale) if scale != 1.0 else img0
        x1 = resize(img1, scale) if scale != 1.0 else img1
        n, _, h, w = x0.shape
        grid = pixel_grid(n, h // 8, w // 8, img0.device)
        corr = BidirCorrelation(*self.feat_encoder(x0, x1), self.levels, self.radius)
        f0 = self.encoder(x0)
        f1 = self.encoder(x1)

        flow0, flow1, ft = self.decoder4(f0[3], f1[3], t)
        flow0, flow1, ft = self._refine(self.update4, corr, grid, flow0, flow1, ft, t, 1)
        flow0, flow1, ft = self.decoder3(ft, f0[2], f1[2], flow0, flow1)
        flow0, flow1, ft = self._refine(self.update3, corr, grid, flow0, flow1, ft, t, 2)
        flow0, flow1, ft = self.decoder2(ft, f0[1], f1[1], flow0, flow1)
        flow0, flow1, ft = self._refine(self.update2, corr, grid, flow0, flow1, ft, t, 4)
        flow0, flow1, mask, res = self.decoder1(ft, f0[0], f1[0], flow0, flow1)
        if scale != 1.0:
            flow0 = resize(flow0, 1.0 / scale) * (1.0 / scale)
            flow1 = resize(flow1, 1.0 / scale) * (1.0 / scale)
            mask, res = resize(mask, 1.0 / scale), resize(res, 1.0 / scale)
        return torch.clamp(self._combine(img0, img1, flow0, flow1, mask, res, mean), 0, 1)

    def _combine(
        self,
        img0: torch.Tensor,
        img1: torch.Tensor,
        flow0: torch.Tensor,
        flow1: torch.Tensor,
        mask: torch.Tensor,
        res: torch.Tensor,
        mean: torch.Tensor,
    ) -> torch.Tensor:
        """Warp both frames by each of the k flow pairs, blend by the masks, add the mean back and the residual;
        the k candidates' average plus ``comb_block``'s correction is the frame."""
        b, c, h, w = flow0.shape
        k = c // 2
        flow0, flow1 = (
            flow0.reshape(b, k, 2, h, w).reshape(-1, 2, h, w),
            flow1.reshape(b, k, 2, h, w).reshape(-1, 2, h, w),
        )
        mask = mask.reshape(b, k, 1, h, w).reshape(-1, 1, h, w)
        res = res.reshape(b, k, 3, h, w).reshape(-1, 3, h, w)
        img0 = torch.stack([img0] * k, 1).reshape(-1, 3, h, w)
        img1 = torch.stack([img1] * k, 1).reshape(-1, 3, h, w)
        mean = torch.stack([mean] * k, 1).reshape(-1, 1, 1, 1)
        blends = mask * warp(img0, flow0) + (1 - mask) * warp(img1, flow1) + mean + res
        blends = blends.reshape(b, k, 3, h, w)
        return blends.mean(1) + self.comb_block(blends.view(b, -1, h, w))


def amt_from_state_dict(sd: dict[str, torch.Tensor]) -> AMT:
    """Build :class:`AMT` and load an ``amt-s.pth`` state dict strictly.

    The free widths (``channels[3]``, ``skip_channels``, ``num_flows``) are read from the tensors' shapes, so a
    reduced test network of the same class loads too; the correlation radius and levels are AMT-S's (3, 4).
    """
    try:
        kwargs = {
            "channels": (*CHANNELS[:3], sd["encoder.pyramid4.0.0.weight"].shape[0]),
            "skip_channels": sd["decoder4.convblock.1.conv2.0.weight"].shape[0],
            "num_flows": sd["comb_block.0.weight"].shape[1] // 3,
        }
    except KeyError as e:
        raise RuntimeError(f"not an AMT checkpoint: no tensor {e}") from None
    model = AMT(**kwargs)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def pad_amount(h: int, w: int, multiple: int = MULTIPLE) -> list[int]:
    """[left, right, top, bottom] replicate padding to multiples of ``multiple``, split evenly, extra after."""
    ph, pw = (((h // multiple) + 1) * multiple - h) % multiple, (((w // multiple) + 1) * multiple - w) % multiple
    return [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]


def pad_to_16(*frames: torch.Tensor) -> list[torch.Tensor]:
    """Replicate-pad (N, C, H, W) frames to multiples of 16 (see :func:`pad_amount`)."""
    pad = pad_amount(*frames[0].shape[-2:])
    return [F.pad(f, pad, mode="replicate") for f in frames]


def min_side_ok(h: int, w: int) -> bool:
    """Whether AMT-S can run at this size: the 4-level correlation pyramid at 1/8 of the padded size needs 8
    cells per side (frames larger than 48 pixels each way)."""
    p = pad_amount(h, w)
    return min(h + p[2] + p[3], w + p[0] + p[1]) >= 8 * 2 ** (CORR_LEVELS - 1)


def interpolate_pair(
    model: AMT, a: np.ndarray, b: np.ndarray, device: torch.device, amp: bool = False, count_nan: bool = False
) -> Any:
    """The middle frame between two (H, W, 3) uint8 RGB frames, as VBench turns it into an image: (H, W, 3)
    uint8 of ``clip(x * 255, 0, 255)`` truncated, NaN read as 0; with ``count_nan`` also the number of pixels
    with a NaN channel."""

    def prep(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(x)).to(device).permute(2, 0, 1)[None] / 255.0

    h, w = a.shape[:2]
    ta, tb = pad_to_16(prep(a), prep(b))
    t = torch.tensor(0.5, device=device).float().view(1, 1, 1, 1)
    autocast = torch.autocast("cuda", dtype=torch.float16) if amp and device.type == "cuda" else nullcontext()
    with torch.inference_mode(), autocast:
        pred = model(ta, tb, t).float()
    left, _, top, _ = pad_amount(h, w)
    pred = (pred[0, :, top : top + h, left : left + w] * 255.0).permute(1, 2, 0).cpu().numpy()
    nans = int(np.isnan(pred).any(axis=-1).sum())
    # NaN (see the module notes) becomes 0, what VBench's cast of NaN gives on x86 and ARM, made explicit.
    img = np.nan_to_num(pred, nan=0.0).clip(0, 255).astype(np.uint8)
    return (img, nans) if count_nan else img


class MotionSmoothness(PairJobs):
    """VBench's motion_smoothness: how well AMT-S predicts each odd frame from its even neighbours.

    Each pair of even frames is one network pass (the two frames only, single-threaded under the runner's
    settings), run on ``executor`` when given; its result is the exact integer sum of |prediction - frame| over
    the odd frame's pixels and channels, so a pair's number never depends on other pairs or on threads.
    """

    name = "motion_smoothness"
    backend = BACKEND
    min_frames = 3

    def __init__(
        self,
        model: AMT,
        device: torch.device,
        executor: Executor | None = None,
        max_pending: int = 16,
        amp: bool = False,
    ) -> None:
        super().__init__(executor, max_pending)
        self.model = model
        self.device = device
        self.amp = amp

    def _pair(self, a: np.ndarray, b: np.ndarray, target: np.ndarray) -> tuple[int, int]:
        # (exact sum of |prediction - target| in levels, NaN pixels of the prediction)
        pred, nans = interpolate_pair(self.model, a, b, self.device, self.amp, count_nan=True)
        return abs_diff_sum(pred, target), nans

    def feed(self, state: VideoState, chunk: Chunk) -> None:
        if not state.check_shape(chunk):
            return
        if not min_side_ok(*state.shape[:2]):
            h, w = state.shape[:2]
            state.error = f"AMT-S needs frames larger than 48 pixels each way, got {w} x {h}"
            return
        acc = state.acc
        for k, frame in enumerate(chunk.frames):
            i = state.n_frames + k
            if i % 2:  # odd frames are the targets
                acc["odd"] = frame.copy()
                continue
            frame = frame.copy()
            if "even" in acc:  # frames i - 2 and i predict frame i - 1 (three frames per pair job)
                self.submit(state, self._pair, acc["even"], frame, acc["odd"])
            acc["even"] = frame
        state.n_frames += len(chunk.frames)

    def finish(self, state: VideoState) -> dict[str, Any]:
        self.collect(state, "pairs")
        for key in ("even", "odd"):
            state.acc.pop(key, None)
        return super().finish(state)

    def result(self, state: VideoState) -> dict[str, Any]:
        size = math.prod(state.shape)
        maes = [s / size for s, _ in state.acc["pairs"]]  # per pair: mean |diff| in 0-255 levels
        mae = math.fsum(maes) / len(maes)
        score = (255.0 - mae) / 255.0
        return make_record(
            "ok",
            score,
            video_results=score,
            backend=self.backend,
            n_pairs=len(maes),
            pair_mae=maes,
            nan_pixels=sum(n for _, n in state.acc["pairs"]),
        )


def build_dimension(
    name: str,
    device: torch.device,
    batch_size: int,
    cache: Any = None,
    networks: dict[str, nn.Module] | None = None,
    amp: bool = False,
    executor: Executor | None = None,
    verify_weights: bool = True,
) -> Dimension:
    """The motion_smoothness dimension with AMT-S from ``networks["amt_s"]`` or the cache's ``amt-s.pth``;
    an :class:`Unavailable` one, whose reason names the file, when it is missing or does not load."""
    from .weights import load_state_dict, require

    def load() -> AMT:
        path = require(BACKEND, cache, verify_weights)
        try:
            return amt_from_state_dict(load_state_dict(path))
        except RuntimeError as e:  # the loader's message can span lines: keep its first, name the file
            raise RuntimeError(f"cannot load {path.name} at {path}: {str(e).splitlines()[0]}") from None

    model, unavailable = shared_network(name, BACKEND, networks, load)
    if unavailable is not None:
        return unavailable
    return MotionSmoothness(model.to(device).eval(), device, executor, batch_size, amp)
