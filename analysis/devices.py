"""The torch device for GPU-capable work (bootstrap refits, metric backbones), checked with a one-line reason.

``"auto"`` takes CUDA when this torch has it and a GPU is visible, else the CPU. Other values are checked before
any work starts, so a typo or a CUDA request on a CPU-only torch is a clear error rather than a traceback.
"""

from __future__ import annotations

import os
import re
from typing import Any

_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?|mps)$")


def check_device(device: Any) -> None:
    """Raise ValueError naming ``device`` unless it is ``"auto"``, ``"cpu"``, ``"cuda[:N]"``, ``"mps"`` or a
    ``torch.device``; checks availability only for CUDA and MPS (importing torch then)."""
    if device is None or type(device).__name__ == "device":
        return
    text = str(device)
    if not _DEVICE.match(text):
        raise ValueError(f"device {text!r} is not a device: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if text.startswith(("cuda", "mps")):
        resolve_device(text)


def resolve_device(device: Any = "auto"):
    """A ``torch.device``: ``"auto"`` picks CUDA when available (this rank's GPU under torchrun), else the CPU; an
    unavailable or misspelt device is a ValueError naming it."""
    import torch

    if type(device).__name__ == "device":
        return device
    text = "auto" if device is None else str(device)
    if not _DEVICE.match(text):
        raise ValueError(f"device {text!r} is not a device: use 'auto', 'cpu', 'cuda' or 'cuda:N'")
    if text == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        # Under torchrun each rank takes its own GPU.
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else "a CUDA build, but no GPU is visible"
            raise ValueError(f"device {text!r} requested, but this torch {torch.__version__} is {build}; "
                             "use device='cpu' or 'auto'")
        index = int(text.split(":")[1]) if ":" in text else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {text!r} requested, but only {torch.cuda.device_count()} GPU(s) are visible")
    if text == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError("device 'mps' requested, but MPS is not available here; use device='cpu' or 'auto'")
    return torch.device(text)
