"""RAFT optical flow (Teed and Deng, ECCV 2020), the large model VBench's dynamic degree runs, in plain torch.

Written from the paper and the published architecture so that the released ``raft-things.pth`` loads with
``strict=True`` (parameter names as in princeton-vl's checkpoint, the ``module.`` prefix of its DataParallel
wrapper removed). torchvision's RAFT would need key renaming and torchvision itself, which does not import
beside the CPU torch wheel used here.

Model (``small=False``, 20 refinement iterations, test mode, as VBench calls it):

* feature encoder (instance norm) and context encoder (batch norm): 7x7 stride-2 convolution, three stages of
  two residual blocks (64, 96, 128 channels; strides 1, 2, 2), 1x1 projection to 256 channels at 1/8 scale;
* all-pairs correlation of the two feature maps divided by sqrt(256), pooled into 4 levels; a 9 x 9 window of
  each level is sampled bilinearly around the current correspondence (radius 4);
* a separable convolutional GRU (1x5 then 5x1) updates a 128-channel hidden state from the context features,
  the correlation features and the current flow; a head predicts the flow update; a learned convex
  combination of 3 x 3 neighbours upsamples the 1/8-scale flow by 8.

Input: two (N, 3, H, W) float frames of 0-255 levels, H and W multiples of 8 (see :func:`pad_to_8`). Output: the
upsampled flow (N, 2, H, W) in pixels (x, y).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CORR_LEVELS = 4
CORR_RADIUS = 4
HIDDEN = 128
CONTEXT = 128


def _norm(kind: str, channels: int) -> nn.Module:
    # "instance": no affine parameters and no running statistics, as nn.InstanceNorm2d's defaults.
    return nn.InstanceNorm2d(channels) if kind == "instance" else nn.BatchNorm2d(channels)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with norm and ReLU, plus the (strided 1x1 + norm) shortcut when downsampling."""

    def __init__(self, in_planes: int, planes: int, norm: str, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1)
        self.norm1 = _norm(norm, planes)
        self.norm2 = _norm(norm, planes)
        self.downsample: nn.Module | None = None
        if stride != 1:
            # The checkpoint stores this norm twice (as norm3 and downsample.1): one module, two names.
            self.norm3 = _norm(norm, planes)
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride), self.norm3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return F.relu(x + y)


class Encoder(nn.Module):
    """RAFT's BasicEncoder: (N, 3, H, W) -> (N, out, H/8, W/8)."""

    def __init__(self, out: int, norm: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.norm1 = _norm(norm, 64)
        self.layer1 = nn.Sequential(ResidualBlock(64, 64, norm, 1), ResidualBlock(64, 64, norm, 1))
        self.layer2 = nn.Sequential(ResidualBlock(64, 96, norm, 2), ResidualBlock(96, 96, norm, 1))
        self.layer3 = nn.Sequential(ResidualBlock(96, 128, norm, 2), ResidualBlock(128, 128, norm, 1))
        self.conv2 = nn.Conv2d(128, out, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm1(self.conv1(x)))
        return self.conv2(self.layer3(self.layer2(self.layer1(x))))


class MotionEncoder(nn.Module):
    """Correlation features and the current flow -> 126 motion channels + the flow itself (128)."""

    def __init__(self) -> None:
        super().__init__()
        planes = CORR_LEVELS * (2 * CORR_RADIUS + 1) ** 2
        self.convc1 = nn.Conv2d(planes, 256, 1, padding=0)
        self.convc2 = nn.Conv2d(256, 192, 3, padding=1)
        self.convf1 = nn.Conv2d(2, 128, 7, padding=3)
        self.convf2 = nn.Conv2d(128, 64, 3, padding=1)
        self.conv = nn.Conv2d(64 + 192, 128 - 2, 3, padding=1)

    def forward(self, flow: torch.Tensor, corr: torch.Tensor) -> torch.Tensor:
        cor = F.relu(self.convc2(F.relu(self.convc1(corr))))
        flo = F.relu(self.convf2(F.relu(self.convf1(flow))))
        out = F.relu(self.conv(torch.cat([cor, flo], dim=1)))
        return torch.cat([out, flow], dim=1)


class SepConvGRU(nn.Module):
    """Convolutional GRU applied twice: with 1x5 kernels, then with 5x1 kernels."""

    def __init__(self, hidden: int = HIDDEN, inp: int = 128 + HIDDEN) -> None:
        super().__init__()
        for gate in "zrq":
            setattr(self, f"conv{gate}1", nn.Conv2d(hidden + inp, hidden, (1, 5), padding=(0, 2)))
            setattr(self, f"conv{gate}2", nn.Conv2d(hidden + inp, hidden, (5, 1), padding=(2, 0)))

    def _step(self, h: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(getattr(self, f"convz{k}")(hx))
        r = torch.sigmoid(getattr(self, f"convr{k}")(hx))
        q = torch.tanh(getattr(self, f"convq{k}")(torch.cat([r * h, x], dim=1)))
        return (1 - z) * h + z * q

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self._step(self._step(h, x, 1), x, 2)


class FlowHead(nn.Module):
    def __init__(self, inp: int = HIDDEN, hidden: int = 256) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inp, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, 2, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(F.relu(self.conv1(x)))


class UpdateBlock(nn.Module):
    """One refinement step: new hidden state, upsampling mask logits (x 0.25) and flow update."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = MotionEncoder()
        self.gru = SepConvGRU()
        self.flow_head = FlowHead()
        self.mask = nn.Sequential(nn.Conv2d(128, 256, 3, padding=1), nn.ReLU(), nn.Conv2d(256, 64 * 9, 1, padding=0))

    def forward(
        self, net: torch.Tensor, inp: torch.Tensor, corr: torch.Tensor, flow: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        net = self.gru(net, torch.cat([inp, self.encoder(flow, corr)], dim=1))
        return net, 0.25 * self.mask(net), self.flow_head(net)


def coords_grid(n: int, h: int, w: int, device: torch.device) -> torch.Tensor:
    """(n, 2, h, w) pixel coordinates, x first."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    return torch.stack([xs, ys], dim=0).float()[None].repeat(n, 1, 1, 1)


def bilinear_sample(img: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Sample ``img`` (B, C, H, W) at pixel coordinates ``coords`` (B, h, w, 2; x, y), corners aligned."""
    h, w = img.shape[-2:]
    x, y = coords.split([1, 1], dim=-1)
    # For a 1-pixel level this divides by zero, exactly as the reference does; the samples are then zero.
    grid = torch.cat([2 * x / (w - 1) - 1, 2 * y / (h - 1) - 1], dim=-1)
    return F.grid_sample(img, grid, align_corners=True)


class CorrPyramid:
    """All-pairs correlation volume of two (N, D, h, w) feature maps, average-pooled into ``CORR_LEVELS``."""

    def __init__(self, f1: torch.Tensor, f2: torch.Tensor) -> None:
        n, d, h, w = f1.shape
        corr = torch.matmul(f1.view(n, d, h * w).transpose(1, 2), f2.view(n, d, h * w))
        corr = corr.view(n * h * w, 1, h, w) / torch.sqrt(torch.tensor(d).float())
        self.levels = [corr]
        for _ in range(CORR_LEVELS - 1):
            corr = F.avg_pool2d(corr, 2, stride=2)
            self.levels.append(corr)

    def lookup(self, coords: torch.Tensor) -> torch.Tensor:
        """(N, 2, h, w) correspondences -> (N, levels * 81, h, w) windowed correlation features."""
        r = CORR_RADIUS
        coords = coords.permute(0, 2, 3, 1)
        n, h, w, _ = coords.shape
        line = torch.linspace(-r, r, 2 * r + 1, device=coords.device)
        # The window's first axis offsets x and its second y (the order of the published model's training).
        first, second = torch.meshgrid(line, line, indexing="ij")
        delta = torch.stack([first, second], dim=-1).view(1, 2 * r + 1, 2 * r + 1, 2)
        out = []
        for i, corr in enumerate(self.levels):
            centre = coords.reshape(n * h * w, 1, 1, 2) / 2**i
            out.append(bilinear_sample(corr, centre + delta).view(n, h, w, -1))
        return torch.cat(out, dim=-1).permute(0, 3, 1, 2).contiguous().float()


class RAFT(nn.Module):
    """RAFT-large; ``forward(a, b, iters)`` returns the final upsampled flow (N, 2, H, W) in pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.fnet = Encoder(256, "instance")
        self.cnet = Encoder(HIDDEN + CONTEXT, "batch")
        self.update_block = UpdateBlock()

    @staticmethod
    def upsample(flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(N, 2, h, w) flow -> (N, 2, 8h, 8w): each fine pixel a softmax-weighted mix of 3x3 coarse ones."""
        n, _, h, w = flow.shape
        mask = torch.softmax(mask.view(n, 1, 9, 8, 8, h, w), dim=2)
        up = F.unfold(8 * flow, [3, 3], padding=1).view(n, 2, 9, 1, 1, h, w)
        up = torch.sum(mask * up, dim=2).permute(0, 1, 4, 2, 5, 3)
        return up.reshape(n, 2, 8 * h, 8 * w)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor, iters: int = 20) -> torch.Tensor:
        image1 = (2 * (image1 / 255.0) - 1.0).contiguous()
        image2 = (2 * (image2 / 255.0) - 1.0).contiguous()
        # Both frames through the feature encoder as one batch of two, as the reference does.
        fmap1, fmap2 = torch.split(self.fnet(torch.cat([image1, image2], dim=0)), [image1.shape[0]] * 2, dim=0)
        pyramid = CorrPyramid(fmap1.float(), fmap2.float())
        net, inp = torch.split(self.cnet(image1), [HIDDEN, CONTEXT], dim=1)
        net, inp = torch.tanh(net), torch.relu(inp)
        n, _, h, w = image1.shape
        coords0 = coords_grid(n, h // 8, w // 8, image1.device)
        coords1 = coords_grid(n, h // 8, w // 8, image1.device)
        flow_up = None
        for _ in range(iters):
            corr = pyramid.lookup(coords1)
            net, mask, delta = self.update_block(net, inp, corr, coords1 - coords0)
            coords1 = coords1 + delta
            flow_up = self.upsample(coords1 - coords0, mask)
        return flow_up


def pad_to_8(*frames: torch.Tensor) -> list[torch.Tensor]:
    """Replicate-pad (N, 3, H, W) frames to multiples of 8, split evenly (extra pixel after), as RAFT's
    InputPadder in its default ("sintel") mode."""
    h, w = frames[0].shape[-2:]
    ph, pw = (((h // 8) + 1) * 8 - h) % 8, (((w // 8) + 1) * 8 - w) % 8
    pad = [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]
    return [F.pad(f, pad, mode="replicate") for f in frames]


def raft_from_state_dict(sd: dict[str, torch.Tensor]) -> RAFT:
    """Build :class:`RAFT` and load a ``raft-things.pth`` state dict strictly (``module.`` prefix removed)."""
    model = RAFT()
    model.load_state_dict({k.removeprefix("module."): v for k, v in sd.items()}, strict=True)
    return model.eval()
