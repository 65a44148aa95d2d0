"""Parity plugin for motion_smoothness (AMT-S frame interpolation), see benchmarks/vbench_parity.py.

Weights: VBench's own AMT-S ``Model`` (vbench/third_party/amt/networks/AMT-S.py), built by VBench's
``build_from_cfg`` from a network config, seeded random parameters (the class's own initialisation, then every
bias and PReLU slope drawn away from its constant), saved as the released checkpoint is read:
``torch.save({"state_dict": state_dict})`` at ``amt_model/amt-s.pth``, the path VBench's ``init_submodules``
gives. ``full`` is VBench's own ``cfgs/AMT-S.yaml`` (about 3.0 M parameters, float32 as released). ``tiny`` is
the smallest configuration the same class accepts without changing what the dimension computes: AMT-S's update
blocks hard-code the first three pyramid widths (20, 32, 44), the 76-wide hidden layers and the 84-channel
correlation encoder, so only the coarsest width (8 instead of 56) and the side channels of the residual blocks
(8 instead of 20) shrink; correlation radius 3, 4 levels and 3 flow fields stay, since our loader reads only
the widths from the file. That is still 2.40 M parameters (2.99 M at full size), stored as float16 values
(read exactly by both sides, which compute in float32): 4.86 MB, over the fixture's usual budget because the
architecture allows no smaller. The tiny config is written beside the weights as ``amt_model/AMT-S-tiny.yaml`` (the
``network`` section VBench's loader reads).

Scoring: ``MotionSmoothness(config, ckpt, device)`` and ``motion_smoothness(motion, videos)`` as VBench's
``compute_motion_smoothness`` calls them. VBench's side loads the model outside the timed call; our side's time
includes loading the checkpoint.

The side venv lacks two of the imports on this path (``omegaconf`` in motion_smoothness.py, ``imageio`` in
AMT's utils): ``SIDE_PACKAGES`` adds them with omegaconf's parser runtime (``--no-deps``; PyYAML, numpy and
Pillow are already there). For a shared side venv put them in an overlay venv whose ``base.pth`` points at the
side venv's site-packages and pass ``--venv`` the overlay.
"""

from __future__ import annotations

from pathlib import Path

DIMS = ["motion_smoothness"]
SIDE_PACKAGES = ["omegaconf==2.3.0", "antlr4-python3-runtime==4.9.3", "imageio==2.38.2"]
SIDE_DEPS: list[str] = []
CACHE_DIRS = ["amt_model"]

CHECKPOINT = "amt_model/amt-s.pth"
TINY_CONFIG = "amt_model/AMT-S-tiny.yaml"
TINY = {"corr_radius": 3, "corr_lvls": 4, "num_flows": 3, "channels": [20, 32, 44, 8], "skip_channels": 8}


def _config(cache: Path, profile: str) -> Path:
    """The network config VBench's loader reads: its own AMT-S.yaml, or the tiny one written beside the weights."""
    if profile == "full":
        import vbench

        return Path(vbench.__file__).parent / "third_party" / "amt" / "cfgs" / "AMT-S.yaml"
    path = cache / TINY_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    params = "\n".join(f"    {k}: {v}" for k, v in TINY.items())
    path.write_text(f"network:\n  name: networks.AMT-S.Model\n  params:\n{params}\n")
    return path


def weights(cache: Path, profile: str, seed: int) -> None:
    """Seeded random AMT-S parameters built by VBench's ``build_from_cfg``; biases and PReLU slopes perturbed."""
    import torch
    from omegaconf import OmegaConf
    from vbench.third_party.amt.utils.build_utils import build_from_cfg

    torch.manual_seed(seed + 23)  # the class initialises its convolutions from the global generator
    model = build_from_cfg(OmegaConf.load(_config(cache, profile)).network).eval()
    gen = torch.Generator().manual_seed(seed + 29)
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.dim() == 1:  # biases (init uniform around 0) and PReLU slopes (init 0.25)
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
    sd = model.state_dict()
    if profile == "tiny":
        # The smallest configuration of VBench's class still has 2.4M parameters (its update blocks fix most
        # widths). Weight tensors become ternary, {-s, 0, +s} with s their standard deviation, in float16: still
        # random features, read exactly by both sides, and a file git stores compressed to a fraction of its size.
        def ternary(v: torch.Tensor) -> torch.Tensor:
            if v.dim() < 2:
                return v.half()
            s = v.float().std()
            return (torch.sign(v) * (v.abs() > 0.5 * s) * s).half()

        sd = {k: ternary(v) if v.is_floating_point() else v for k, v in sd.items()}
    (cache / CHECKPOINT).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": sd}, cache / CHECKPOINT)


def scorers(cache: Path, profile: str, videos: list[str], device: object) -> dict:
    """VBench's ``motion_smoothness`` with the model loaded as ``compute_motion_smoothness`` loads it."""
    from vbench.motion_smoothness import MotionSmoothness, motion_smoothness

    motion = MotionSmoothness(str(_config(cache, profile)), str(cache / CHECKPOINT), device)
    return {"motion_smoothness": lambda: motion_smoothness(motion, videos)}
