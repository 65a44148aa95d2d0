"""Dense optical flow for dynamic degree: RAFT when it can be loaded, else OpenCV's Farneback.

VBench uses RAFT (``raft-things.pth``, 20 refinement iterations). RAFT's reference implementation lives in
torchvision here, which is not importable beside the CPU torch wheel this project pins, so RAFT is imported
lazily and only used when both torchvision and the checkpoint are present. Otherwise dynamic degree runs on
Farneback flow and every result says so (``backend = "opencv-farneback"``): its magnitudes are in the same
unit (pixels per frame at native resolution) but are not RAFT's, so scores are comparable only roughly.
"""

from __future__ import annotations

import re

import numpy as np

FARNEBACK = "opencv-farneback"
RAFT = "raft-things"


def top5_mean(flow: np.ndarray) -> float:
    """VBench's per-pair motion statistic: mean of the largest 5% flow magnitudes.

    Parameters
    ----------
    flow : ndarray, shape (H, W, 2)
        Flow in pixels (x, y displacement).

    Returns
    -------
    float
        Mean of the ``int(0.05 * H * W)`` largest magnitudes (NaN for fewer than 20 pixels, as in VBench).
    """
    mag = np.sqrt(np.square(flow[..., 0], dtype=np.float64) + np.square(flow[..., 1], dtype=np.float64))
    k = int(mag.size * 0.05)
    if k == 0:
        return float("nan")
    # partition is O(n) and gives the same set of top-k values as a full sort
    top = np.partition(mag.ravel(), mag.size - k)[mag.size - k :]
    return float(top.mean())


class FarnebackFlow:
    """OpenCV Farneback dense flow on grayscale frames (pixels per frame, native resolution)."""

    backend = FARNEBACK

    def __init__(self) -> None:
        import cv2

        self._cv2 = cv2

    def gray(self, frames: np.ndarray) -> np.ndarray:
        """(n, H, W, 3) uint8 RGB -> (n, H, W) uint8 luma, the representation :meth:`pair` consumes."""
        cv2 = self._cv2
        return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])

    def pair(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow from frame a to frame b, (H, W, 2) float32; standard Farneback settings."""
        return self._cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def raft_key_map(key: str) -> str:
    """Translate a key of the original RAFT checkpoint (princeton-vl layout) to torchvision's ``raft_large``.

    The original code names layers ``fnet/cnet.conv1, norm1, layerN.M.conv1/norm1/downsample.0``,
    ``update_block.encoder.convc1...``, ``update_block.gru.convz1...``, ``update_block.mask.0/2``; torchvision
    wraps conv+norm pairs in ``Conv2dNormActivation`` (indices 0 and 1).
    """
    key = key.removeprefix("module.")
    rules = [
        (r"^fnet\.", "feature_encoder."),
        (r"^cnet\.", "context_encoder."),
        (r"^(feature|context)_encoder\.conv1\.", r"\1_encoder.convnormrelu.0."),
        (r"^(feature|context)_encoder\.norm1\.", r"\1_encoder.convnormrelu.1."),
        (r"^(feature|context)_encoder\.conv2\.", r"\1_encoder.conv."),
        (r"(layer\d\.\d)\.conv(\d)\.", r"\1.convnormrelu\2.0."),
        (r"(layer\d\.\d)\.norm([12])\.", r"\1.convnormrelu\2.1."),
        (r"(layer\d\.\d)\.norm3\.", r"\1.downsample.1."),
        (r"^update_block\.encoder\.convc(\d)\.", r"update_block.motion_encoder.convcorr\1.0."),
        (r"^update_block\.encoder\.convf(\d)\.", r"update_block.motion_encoder.convflow\1.0."),
        (r"^update_block\.encoder\.conv\.", "update_block.motion_encoder.conv.0."),
        (r"^update_block\.gru\.conv([zrq])(\d)\.", r"update_block.recurrent_block.convgru\2.conv\1."),
        (r"^update_block\.mask\.0\.", "mask_predictor.convrelu.0."),
        (r"^update_block\.mask\.2\.", "mask_predictor.conv."),
    ]
    for pattern, repl in rules:
        key = re.sub(pattern, repl, key)
    return key


class RaftFlow:  # pragma: no cover - needs torchvision and the RAFT checkpoint, absent in CI
    """RAFT-large (torchvision's implementation) with VBench's ``raft-things.pth`` weights, 20 iterations."""

    backend = RAFT

    def __init__(self, checkpoint: str, device: object) -> None:
        import torch
        from torchvision.models.optical_flow import raft_large

        from .weights import load_state_dict

        self._torch = torch
        self.device = device
        model = raft_large(weights=None, progress=False)
        sd = {raft_key_map(k): v for k, v in load_state_dict(checkpoint).items()}
        model.load_state_dict(sd, strict=True)
        self.model = model.to(device).eval()

    def gray(self, frames: np.ndarray) -> np.ndarray:
        # RAFT takes RGB; the name is kept so callers treat both backends alike.
        return frames

    def pair(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow a -> b at the size padded to a multiple of 8 (replicate padding, as VBench's InputPadder)."""
        torch = self._torch
        import torch.nn.functional as F

        def prep(x: np.ndarray) -> torch.Tensor:
            t = torch.from_numpy(x).permute(2, 0, 1)[None].float().to(self.device)
            return 2.0 * (t / 255.0) - 1.0

        ta, tb = prep(a), prep(b)
        h, w = ta.shape[-2:]
        ph, pw = (-h) % 8, (-w) % 8
        pad = [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2]
        ta, tb = F.pad(ta, pad, mode="replicate"), F.pad(tb, pad, mode="replicate")
        with torch.inference_mode():
            flow = self.model(ta, tb, num_flow_updates=20)[-1]
        return flow[0].permute(1, 2, 0).cpu().numpy()


def make_flow(checkpoint: str | None, device: object) -> tuple[object, str]:
    """The best available flow backend and a note saying why it was chosen."""
    if checkpoint is not None:
        try:
            return RaftFlow(
                checkpoint, device
            ), "RAFT (torchvision raft_large, raft-things.pth, 20 iterations)"
        except ImportError as e:
            note = f"RAFT unavailable ({e}); OpenCV Farneback flow used instead, scores differ from VBench's"
        except Exception as e:  # a checkpoint that does not load must not stop the run
            note = f"RAFT failed to load ({type(e).__name__}: {e}); OpenCV Farneback flow used instead"
    else:
        note = "raft-things.pth not in the cache; OpenCV Farneback flow used, scores differ from VBench's"
    return FarnebackFlow(), note
