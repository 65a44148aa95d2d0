"""Parity plugin for VBench++'s i2v_background (DreamSim 0.2.1's ensemble), see ``plugins()`` in vbench_parity.py.

VBench side: ``vbench2_beta_i2v.i2v_background.i2v_background(model, [(image, video), ...], device)`` with the model
from ``dreamsim(pretrained=True, ...)``, the call VBench++'s ``compute_i2v_background`` makes, with two arguments
added: ``device`` (DreamSim defaults to "cuda") and ``cache_dir`` (VBench++ leaves DreamSim's default
``./models``; here a temporary folder linking the cache's ``dreamsim_model/`` files and, as
``facebookresearch_dino_main``, the DINO checkout, which DreamSim loads with ``torch.hub.load`` from that folder).
The conditioning image is ``<stem>.png`` beside each clip.

Weights are made with the reference classes: DINO's ``VisionTransformer`` (hubconf's ``vit_base`` settings) for the
DINO backbone, DreamSim's own ``VisionTransformer`` with its ``pos_drop`` LayerNorm for the CLIP and OpenCLIP
conversions (saved as ``{"state_dict": ..., "proj"}`` in ``*_pretrain.pth.tar``), and the LoRA adapter by peft's
``get_peft_model`` on DreamSim's ``PerceptualModel`` and ``save_pretrained`` (``adapter_config.json``,
``adapter_model.safetensors``). ``dino_vitb16_pretrain.pth`` holds DINO's projection head under ``student``, which
DreamSim reads but the ensemble's DINO CLS feature never uses. Random values everywhere: LoRA's ``B`` (zero at
init), biases, LayerNorms, ``cls_token`` and ``pos_embed`` (zero in DreamSim's copy of the class) included.

Profiles: ``full`` is the released architecture (three ViT-B/16, 12 blocks, width 768, LoRA r 16, alpha 8 as in
DreamSim's ensemble training config). DreamSim's builders hard-code ViT-B (``vit_base`` in its CLIP loaders,
DINO's hubconf ``dino_vitb16``) and read block 11's output, so ``tiny`` keeps 12 blocks and the same classes but
swaps those two ``vit_base`` builders for width 16, one head (as ``backbones`` infers heads = width / 64), LoRA r 4.

The DINO checkout is the harness's ``--dino-repo``: read from ``$VBPARITY_DINO_REPO`` or the worker's command line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

DIMS = ["i2v_background"]
# installed --no-deps (versions of vbench 0.1.5's time, January 2025, that import beside CPU torch 2.13; vbench pins
# transformers==4.33.2, which peft 0.14 cannot import, and DreamSim imports transformers for its MAE loader only)
SIDE_PACKAGES = [
    "dreamsim==0.2.1",
    "peft==0.14.0",
    "open-clip-torch==2.29.0",
    "timm==1.0.12",
    "transformers==4.46.3",
    "tokenizers==0.20.3",
    "huggingface-hub==0.26.5",
    "safetensors==0.4.5",
    "accelerate==1.2.1",
]
SIDE_DEPS = ["requests", "psutil"]
CACHE_DIRS = ["dreamsim_model"]

# width, heads, output of the CLIP projections, LoRA rank, LoRA alpha (12 blocks in both)
SHAPES = {"full": (768, 12, 512, 16, 8.0), "tiny": (16, 1, 8, 4, 4.0)}
FOLDER = "dreamsim_model"
DINO_HUB_FILE = "checkpoints/dino_vitbase16_pretrain.pth"


def _dino_repo() -> Path:
    """The facebookresearch/dino checkout the harness was given (``--dino-repo``)."""
    if os.environ.get("VBPARITY_DINO_REPO"):
        path = Path(os.environ["VBPARITY_DINO_REPO"])
    else:  # vbench_parity.py _worker weights CACHE TORCH_HOME DINO_REPO ... / _worker score CACHE DINO_REPO ...
        kind = sys.argv[2] if len(sys.argv) > 2 else ""
        index = {"weights": 5, "score": 4}.get(kind)
        if index is None or len(sys.argv) <= index:
            raise RuntimeError("set VBPARITY_DINO_REPO to a facebookresearch/dino checkout")
        path = Path(sys.argv[index])
    if not (path / "hubconf.py").is_file():
        raise RuntimeError(f"no DINO checkout (hubconf.py) at {path}")
    return path.resolve()


@contextlib.contextmanager
def _dreamsim_dir(cache: Path) -> Iterator[Path]:
    """A temporary DreamSim ``cache_dir``: links to the cache's files and the DINO checkout as torch.hub's copy.

    torch.hub's directory is global state that DreamSim changes (``torch.hub.set_dir``): it is restored after.
    """
    import torch

    previous = torch.hub.get_dir()
    with tempfile.TemporaryDirectory(prefix="dreamsim-cache-") as tmp:
        root = Path(tmp)
        for item in (cache / FOLDER).iterdir():
            (root / item.name).symlink_to(item.resolve())
        (root / "facebookresearch_dino_main").symlink_to(_dino_repo())
        try:
            yield root
        finally:
            torch.hub.set_dir(previous)


@contextlib.contextmanager
def _builders(profile: str) -> Iterator[None]:
    """The ``vit_base`` builders DreamSim reaches, at the profile's width (unchanged for ``full``)."""
    if profile == "full":
        yield
        return
    from dreamsim.feature_extraction import load_clip_as_dino, load_open_clip_as_dino
    from dreamsim.feature_extraction import vision_transformer as ds_vits
    from torch import nn

    width, heads = SHAPES[profile][:2]
    sys.path.insert(0, str(_dino_repo()))
    import vision_transformer as dino_vits  # the module DINO's hubconf imports (then found in sys.modules)

    def small(cls: type, patch_size: int = 16, **kwargs: object) -> nn.Module:
        return cls(
            patch_size=patch_size,
            embed_dim=width,
            depth=12,
            num_heads=heads,
            mlp_ratio=4,
            qkv_bias=True,
            norm_layer=partial(nn.LayerNorm, eps=1e-6),
            **kwargs,
        )

    saved = [(m, m.vit_base) for m in (load_clip_as_dino, load_open_clip_as_dino, dino_vits)]
    load_clip_as_dino.vit_base = load_open_clip_as_dino.vit_base = partial(small, ds_vits.VisionTransformer)
    dino_vits.vit_base = partial(small, dino_vits.VisionTransformer)
    try:
        yield
    finally:
        for module, fn in saved:
            module.vit_base = fn


def _perturb(model: object, std: float = 0.05) -> None:
    # Biases and LayerNorms start at constants, and DreamSim's copy of DINO's class leaves cls_token and pos_embed
    # at zero (its trunc_normal_ is a no-op): move them all so that every parameter matters.
    import torch

    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in ("cls_token", "pos_embed"):
                p.normal_(0.0, 0.02)
            elif name.endswith("bias") or "norm" in name or "pos_drop" in name:
                p.add_(std * torch.randn_like(p))


def weights(cache: Path, profile: str, seed: int) -> None:
    """Seeded random DreamSim ensemble files in DreamSim's formats and names under ``cache/dreamsim_model``."""
    import torch
    from torch import nn

    torch.manual_seed(seed + 2024)
    width, heads, out_dim, rank, alpha = SHAPES[profile]
    dst = cache / FOLDER
    if dst.exists():
        shutil.rmtree(dst)
    (dst / "checkpoints").mkdir(parents=True)
    with _builders(profile):
        from dreamsim.feature_extraction import load_clip_as_dino

        sys.path.insert(0, str(_dino_repo()))
        import vision_transformer as dino_vits

        dino = dino_vits.vit_base(patch_size=16, num_classes=0)  # hubconf's dino_vitb16 architecture
        _perturb(dino)
        torch.save(dino.state_dict(), dst / DINO_HUB_FILE)
        hidden, bottleneck = (2048, 256) if profile == "full" else (32, 8)  # DINO's head, read by DreamSim only
        head = {
            "module.head.mlp.0.weight": torch.randn(hidden, width),
            "module.head.mlp.0.bias": torch.randn(hidden),
            "module.head.mlp.2.weight": torch.randn(hidden, hidden),
            "module.head.mlp.2.bias": torch.randn(hidden),
            "module.head.mlp.4.weight": torch.randn(bottleneck, hidden),
            "module.head.mlp.4.bias": torch.randn(bottleneck),
            "module.head.last_layer.weight": torch.randn(hidden, bottleneck),
        }
        torch.save({"student": head}, dst / "dino_vitb16_pretrain.pth")
        for name in ("clip", "open_clip"):
            vit = load_clip_as_dino.vit_base(patch_size=16)  # DreamSim's class, as its loaders build it
            vit.pos_drop = nn.LayerNorm(width)
            _perturb(vit)
            sd = dict(vit.state_dict(), proj=torch.randn(width, out_dim) * width**-0.5)
            torch.save({"state_dict": sd}, dst / f"{name}_vitb16_pretrain.pth.tar")

        from dreamsim.config import dreamsim_args
        from dreamsim.model import PerceptualModel
        from peft import LoraConfig, get_peft_model

        with _dreamsim_dir(cache) as load_dir:
            base = PerceptualModel(
                **dreamsim_args["model_config"]["ensemble"], device="cpu", load_dir=str(load_dir), normalize_embeds=True
            )
        config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.3, bias="none", target_modules=["qkv"])
        model = get_peft_model(base, config)
        with torch.no_grad():  # peft starts B at zero (no update): random A and B
            for pname, p in model.named_parameters():
                if "lora_" in pname:
                    p.normal_(0.0, 0.5 / rank**0.5)
        model.save_pretrained(str(dst / "ensemble_lora"))
        (dst / "ensemble_lora" / "README.md").unlink(missing_ok=True)  # peft's model card, not a weight


def _vbench_model(cache: Path, profile: str, device: object) -> object:
    """DreamSim's ensemble as VBench++ loads it: ``dreamsim(pretrained=True)``, plus device and cache folder."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from dreamsim import dreamsim

    with _builders(profile), _dreamsim_dir(cache) as load_dir:
        model, _ = dreamsim(pretrained=True, device=str(device), cache_dir=str(load_dir))
    return model


def scorers(cache: Path, profile: str, videos: list[str], device: object) -> dict:
    """``{"i2v_background": fn}``: VBench++'s own function on (``<stem>.png``, clip) pairs (model loaded here, so
    that the harness's timing covers scoring only)."""
    from vbench2_beta_i2v.i2v_background import i2v_background

    model = _vbench_model(cache, profile, device)
    pairs = [(str(Path(v).with_suffix(".png")), v) for v in videos]
    return {"i2v_background": lambda: i2v_background(model, pairs, device)}
