"""Where network weights live: VBench's local cache, with VBench's file names. Nothing is ever downloaded.

VBench keeps its checkpoints under ``$VBENCH_CACHE_DIR`` (default ``~/.cache/vbench``); we read the same
files so that a machine that has run VBench needs no extra setup. A missing file is an error that names the
file, the exact path we looked at and the public URL to fetch it from by hand: a metric rerun must never
fetch weights behind the user's back (no network on the evaluation machines, and silent downloads make
results depend on whatever is served that day).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch


@dataclass(frozen=True)
class WeightFile:
    """One checkpoint VBench uses: its path inside the cache and where to get it."""

    key: str
    relpath: str
    url: str
    note: str = ""


WEIGHT_FILES = {
    "dino_vitb16": WeightFile(
        "dino_vitb16",
        "dino_model/dino_vitbase16_pretrain.pth",
        "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
    ),
    "clip_vitb32": WeightFile(
        "clip_vitb32",
        "clip_model/ViT-B-32.pt",
        "https://openaipublic.azureedge.net/clip/models/"
        "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt",
    ),
    "clip_vitl14": WeightFile(
        "clip_vitl14",
        "clip_model/ViT-L-14.pt",
        "https://openaipublic.azureedge.net/clip/models/"
        "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
    ),
    "laion_aesthetic_l14": WeightFile(
        "laion_aesthetic_l14",
        "aesthetic_model/emb_reader/sa_0_4_vit_l_14_linear.pth",
        "https://github.com/LAION-AI/aesthetic-predictor/blob/main/sa_0_4_vit_l_14_linear.pth?raw=true",
    ),
    "raft_things": WeightFile(
        "raft_things",
        "raft_model/models/raft-things.pth",
        "https://dl.dropboxusercontent.com/s/4j4z58wuv8o0mfz/models.zip",
        "unzip models.zip into raft_model/",
    ),
}


class MissingWeightsError(FileNotFoundError):
    """A checkpoint is not in the local cache (we never download)."""


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The weight cache: ``override``, else ``$VBENCH_CACHE_DIR``, else VBench's ``~/.cache/vbench``."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("VBENCH_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vbench"


def weight_path(key: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Expected path of checkpoint ``key`` (see ``WEIGHT_FILES``) in the cache; it may not exist."""
    return cache_dir(root) / WEIGHT_FILES[key].relpath


def require(key: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Path of checkpoint ``key``, or :class:`MissingWeightsError` naming the file, its path and its URL."""
    spec = WEIGHT_FILES[key]
    path = weight_path(key, root)
    if not path.is_file():
        how = f" ({spec.note})" if spec.note else ""
        raise MissingWeightsError(
            f"missing weights {Path(spec.relpath).name!r}: expected at {path}. Nothing is downloaded at run "
            f"time; fetch it by hand from {spec.url}{how} and place it there, or point VBENCH_CACHE_DIR at a "
            f"folder holding {spec.relpath}."
        )
    return path


def _is_torchscript(path: Path) -> bool:
    # TorchScript archives (OpenAI's CLIP files) are zips with a constants.pkl beside the pickled code.
    import zipfile

    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as z:
        return any(name.endswith("/constants.pkl") for name in z.namelist())


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, on CPU, as float32 where they are floating point.

    Reads plain ``torch.save`` state dicts (DINO, LAION head, our test fixtures) and OpenAI CLIP's
    TorchScript archives (whose ``state_dict()`` carries the same key names). The OpenAI files store fp16
    weights; we compute in float32 as VBench does on CPU, and leave AMP as an explicit GPU option.
    """
    path = Path(path)
    try:
        if _is_torchscript(path):
            # OpenAI ships CLIP only as TorchScript; jit.load is deprecated but the one way to read it.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                sd = torch.jit.load(str(path), map_location="cpu")
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # report the file; the caller's error should say which checkpoint is bad
        raise RuntimeError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}") from None
    if isinstance(sd, torch.nn.Module):
        sd = sd.state_dict()
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    out = {}
    for k, v in sd.items():
        if isinstance(v, torch.Tensor):
            out[str(k)] = v.float() if v.is_floating_point() else v
    return out
