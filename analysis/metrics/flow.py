"""Dense optical flow for dynamic degree: RAFT whenever ``raft-things.pth`` is present, else OpenCV's Farneback.

VBench uses RAFT-large (``raft-things.pth``, 20 refinement iterations); :mod:`.raft` implements it in plain
torch and loads that checkpoint strictly. Without the file (or when it does not load) dynamic degree runs on
Farneback flow and every result says so (``backend = "opencv-farneback"`` and a note): its magnitudes are in
the same unit (pixels per frame at native resolution) but are not RAFT's, so scores are comparable only
roughly.
"""

from __future__ import annotations

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


class RaftFlow:
    """RAFT-large (:mod:`.raft`, our implementation) with VBench's ``raft-things.pth`` weights, 20 iterations.

    Each pair is one fixed-shape pass (the two frames only), so a pair's flow never depends on other pairs.
    """

    backend = RAFT

    def __init__(self, checkpoint: str, device: object) -> None:
        import torch

        from .raft import raft_from_state_dict
        from .weights import load_state_dict

        self._torch = torch
        self.device = device
        self.model = raft_from_state_dict(load_state_dict(checkpoint)).to(device)

    def gray(self, frames: np.ndarray) -> np.ndarray:
        # RAFT takes RGB; the name is kept so callers treat both backends alike.
        return frames

    def pair(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flow a -> b, (H', W', 2) float32, at the size padded to multiples of 8 (VBench scores the padded
        flow, so the top 5% are taken over the padded frame too)."""
        torch = self._torch
        from .raft import pad_to_8

        def prep(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(x)).to(self.device).permute(2, 0, 1)[None].float()

        ta, tb = pad_to_8(prep(a), prep(b))
        if min(ta.shape[-2:]) < 64:  # three 2x poolings of the 1/8-scale correlation volume need 8 cells
            raise ValueError(f"RAFT needs frames of at least 57 x 57 pixels, got {a.shape[1]} x {a.shape[0]}")
        with torch.inference_mode():
            flow = self.model(ta, tb, iters=20)
        return flow[0].permute(1, 2, 0).cpu().numpy()


def make_flow(checkpoint: str | None, device: object) -> tuple[object, str]:
    """The best available flow backend and a note saying why it was chosen."""
    if checkpoint is not None:
        try:
            return RaftFlow(checkpoint, device), "RAFT-large (raft-things.pth, 20 iterations), as VBench"
        except Exception as e:  # a checkpoint that does not load must not stop the run
            note = f"RAFT failed to load ({type(e).__name__}: {e}); OpenCV Farneback flow used instead"
    else:
        note = "raft-things.pth not in the cache; OpenCV Farneback flow used, scores differ from VBench's"
    return FarnebackFlow(), note
