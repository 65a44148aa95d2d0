"""Parity plugin for imaging_quality: VBench 0.1.5's ``technical_quality`` with IQA-PyTorch's own MUSIQ class.

Loaded by ``benchmarks/vbench_parity.py`` (see its ``plugins()``); importable in both environments, with
VBench and pyiqa imported only inside the functions, which run in the side venv.

* **Reference network**: ``pyiqa.archs.musiq_arch.MUSIQ`` from pyiqa 0.1.13, the release current when VBench
  0.1.5 was published (2025-01-16, its requirements then an unpinned ``pyiqa``; its MUSIQ code differs from
  0.1.10, pinned before, only in how weight URLs are spelt). Installed ``--no-deps`` with only what importing
  ``pyiqa.archs.musiq_arch`` pulls in (``requests``, ``huggingface_hub``, ``pandas``; pyiqa's package
  ``__init__`` imports its dataset modules).
* **Weights**: the class itself, seeded; biases, GroupNorm / LayerNorm parameters and the CLS token perturbed
  away from their initial constants, the head set so that scores spread around 50 as SPAQ's mean opinion
  scores do (a random head would give scores near 0, where every difference looks small). Saved as the
  released file is: a plain state dict (``torch.save(model.state_dict())``), at VBench's path
  ``pyiqa_model/musiq_spaq_ckpt-358bb6af.pth``; pyiqa's ``load_pretrained_network`` reads it with
  ``torch.load``, drops a ``module.`` prefix if any (no ``params`` wrapper for MUSIQ) and loads it strictly.
  ``full``: MUSIQ's default architecture (patch 32, width 384, 14 layers, 6 heads), which is the SPAQ
  checkpoint's. ``tiny``: the same class with patch 16, width 32, MLP 64, 2 layers, 1 head (the patch stem,
  64 -> 256 channels, is fixed by the class), about 0.9 MB.
* **VBench side**: the model built as ``compute_imaging_quality`` builds it (``MUSIQ(pretrained_model_path=...)``,
  ``model.training = False``, the tiny profile passing its sizes too), then ``technical_quality(model, videos,
  device)`` with VBench's default preprocessing ("longer"). VBench's per-video value is the mean MUSIQ score
  (0-100) and its aggregate the mean over videos / 100; the per-video values are returned here divided by 100,
  the scale of the aggregate and of our per-video ``score`` (our JSON value ``video_results`` keeps 0-100).
"""

from __future__ import annotations

from pathlib import Path

DIMS = ["imaging_quality"]
SIDE_PACKAGES = ["pyiqa==0.1.13"]
SIDE_DEPS = ["requests", "huggingface_hub==0.26.5", "pandas==2.2.3"]
CACHE_DIRS = ["pyiqa_model"]
CHECKPOINT = "pyiqa_model/musiq_spaq_ckpt-358bb6af.pth"
# MUSIQ's keyword arguments per profile (full: the class defaults, the SPAQ checkpoint's architecture)
SHAPES = {
    "full": {},
    "tiny": {"patch_size": 16, "hidden_size": 32, "mlp_dim": 64, "num_heads": 1, "num_layers": 2},
}


def weights(cache: Path, profile: str, seed: int) -> None:
    """Seeded random MUSIQ weights from pyiqa's class, saved as a plain state dict under VBench's file name."""
    import torch
    from pyiqa.archs.musiq_arch import MUSIQ

    torch.manual_seed(seed + 358)  # the class initialises from torch's global generator
    model = MUSIQ(pretrained=False, **SHAPES[profile])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "gn" in name or "norm" in name or name.endswith(".cls"):
                p.add_(0.1 * torch.randn_like(p))
        width = model.head.weight.shape[1]
        model.head.weight.normal_(0.0, 20.0 / width**0.5)
        model.head.bias.fill_(50.0)
    path = cache / CHECKPOINT
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)


def scorers(cache: Path, profile: str, videos: list[str], device: object) -> dict:
    """``{"imaging_quality": fn}``: VBench's ``technical_quality`` on the model loaded as VBench loads it."""
    from pyiqa.archs.musiq_arch import MUSIQ
    from vbench.imaging_quality import technical_quality

    model = MUSIQ(pretrained_model_path=str(cache / CHECKPOINT), **SHAPES[profile])
    model.to(device)
    model.training = False  # what compute_imaging_quality does (not .eval(); no dropout or batch norm to differ)

    def run() -> tuple[float, list[dict]]:
        aggregate, per_video = technical_quality(model, videos, device)
        # per-video mean MUSIQ score (0-100) -> the aggregate's 0-1 scale, which our `score` uses
        return aggregate, [
            {"video_path": r["video_path"], "video_results": r["video_results"] / 100.0} for r in per_video
        ]

    return {"imaging_quality": run}
