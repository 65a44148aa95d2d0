"""Where network weights live: VBench's local cache, with VBench's file names. Runs never download.

VBench keeps its checkpoints under ``$VBENCH_CACHE_DIR`` (default ``~/.cache/vbench``); we read the same
files so that a machine that has run VBench needs no extra setup. A missing file is an error that names the
file, the exact path we looked at and the public URL to fetch it from by hand: a metric rerun must never
fetch weights behind the user's back (no network on the evaluation machines, and silent downloads make
results depend on whatever is served that day). ``python -m analysis.metrics weights`` lists what the chosen
dimensions need, with sizes and SHA-256s, and ``--fetch`` downloads the missing files (pooch, checksum-verified
where a checksum is published) only when asked.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

HF_VBENCH = "https://huggingface.co/OpenGVLab/VBench_Used_Models/resolve/main/"
DREAMSIM_ZIP = "https://github.com/ssundaram21/dreamsim/releases/download/v0.2.0-checkpoints/dreamsim_ensemble_checkpoint.zip"


@dataclass(frozen=True)
class WeightFile:
    """One checkpoint VBench uses: its path inside the cache, where to get it and its SHA-256 when known.

    ``sha256`` is recorded only where it can be established from a public source: OpenAI's CLIP URLs carry
    the file's SHA-256 (OpenAI's ``clip.load`` checks it); CLIP's tokenizer vocabulary was hashed from a copy
    whose git blob id equals the one in openai/CLIP. ``sha256_prefix`` is the first hex digits of the
    SHA-256 carried in a file name by the torch-hub convention (pyiqa's MUSIQ). Everything else is
    ``None``: unknown, and reported as such, never guessed.
    """

    key: str
    relpath: str
    url: str
    note: str = ""
    sha256: str | None = None
    sha256_prefix: str | None = None
    archive_member: str | None = None  # the file sits inside a zip at ``url`` (RAFT)


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
        sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    ),
    "clip_vitl14": WeightFile(
        "clip_vitl14",
        "clip_model/ViT-L-14.pt",
        "https://openaipublic.azureedge.net/clip/models/"
        "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt",
        sha256="b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
    ),
    "clip_bpe_vocab": WeightFile(
        "clip_bpe_vocab",
        "clip_model/bpe_simple_vocab_16e6.txt.gz",
        "https://github.com/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz",
        "CLIP's tokenizer vocabulary (BPE merges), a data file: 1,356,917 bytes",
        # from a real copy (openai-clip 1.0.1's wheel), whose git blob id equals openai/CLIP's
        # clip/bpe_simple_vocab_16e6.txt.gz (7b5088a527f720063f044eb928eee315f63b2fc0)
        sha256="924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
    ),
    "laion_aesthetic_l14": WeightFile(
        "laion_aesthetic_l14",
        "aesthetic_model/emb_reader/sa_0_4_vit_l_14_linear.pth",
        "https://raw.githubusercontent.com/LAION-AI/aesthetic-predictor/main/sa_0_4_vit_l_14_linear.pth",
    ),
    "raft_things": WeightFile(
        "raft_things",
        "raft_model/models/raft-things.pth",
        "https://dl.dropboxusercontent.com/s/4j4z58wuv8o0mfz/models.zip",
        "inside models.zip, unzipped into raft_model/",
        archive_member="models/raft-things.pth",
    ),
    "amt_s": WeightFile("amt_s", "amt_model/amt-s.pth", "https://huggingface.co/lalala125/AMT/resolve/main/amt-s.pth"),
    "musiq_spaq": WeightFile(
        "musiq_spaq",
        "pyiqa_model/musiq_spaq_ckpt-358bb6af.pth",
        "https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/musiq_spaq_ckpt-358bb6af.pth",
        sha256_prefix="358bb6af",
    ),
    "viclip_l14": WeightFile(
        "viclip_l14", "ViCLIP/ViClip-InternVid-10M-FLT.pth", HF_VBENCH + "ViClip-InternVid-10M-FLT.pth"
    ),
    "viclip_bpe_vocab": WeightFile(
        "viclip_bpe_vocab",
        "ViCLIP/bpe_simple_vocab_16e6.txt.gz",  # where VBench's ViCLIP tokenizer reads (and fetches) it
        "https://raw.githubusercontent.com/openai/CLIP/main/clip/bpe_simple_vocab_16e6.txt.gz",
        "the same file as clip_bpe_vocab (CLIP's BPE merges), in ViCLIP's folder",
        sha256="924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a",
    ),
    "umt_l16": WeightFile(
        "umt_l16",
        "umt_model/l16_ptk710_ftk710_ftk400_f16_res224.pth",
        HF_VBENCH + "l16_ptk710_ftk710_ftk400_f16_res224.pth",
    ),
    "grit_b": WeightFile(
        "grit_b", "grit_model/grit_b_densecap_objectdet.pth", HF_VBENCH + "grit_b_densecap_objectdet.pth"
    ),
    "tag2text_swin": WeightFile(
        "tag2text_swin",
        "caption_model/tag2text_swin_14m.pth",
        "https://huggingface.co/spaces/xinyu1205/recognize-anything/resolve/main/tag2text_swin_14m.pth",
    ),
    # DreamSim 0.2.1's ensemble (VBench++ i2v_background): DreamSim's cache_dir layout, which VBench++ leaves at
    # ./models in its working directory; the first file is what torch.hub stores there for DreamSim's DINO
    "dreamsim_dino_vitb16": WeightFile(
        "dreamsim_dino_vitb16",
        "dreamsim_model/checkpoints/dino_vitbase16_pretrain.pth",
        "https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth",
        "the same file as dino_model/dino_vitbase16_pretrain.pth",
    ),
    **{
        key: WeightFile(key, f"dreamsim_model/{member}", DREAMSIM_ZIP, "inside the zip", archive_member=member)
        for key, member in (
            ("dreamsim_clip_vitb16", "clip_vitb16_pretrain.pth.tar"),
            ("dreamsim_open_clip_vitb16", "open_clip_vitb16_pretrain.pth.tar"),
            ("dreamsim_ensemble_lora", "ensemble_lora/adapter_model.safetensors"),
            ("dreamsim_ensemble_lora_config", "ensemble_lora/adapter_config.json"),
        )
    },
}

# Checkpoints each VBench dimension reads (VBench's init_submodules), whether or not it runs here.
DIMENSION_WEIGHTS: dict[str, tuple[str, ...]] = {
    "subject_consistency": ("dino_vitb16",),
    "background_consistency": ("clip_vitb32",),
    "temporal_flickering": (),
    "dynamic_degree": ("raft_things",),
    "aesthetic_quality": ("clip_vitl14", "laion_aesthetic_l14"),
    "motion_smoothness": ("amt_s",),
    "imaging_quality": ("musiq_spaq",),
    "appearance_style": ("clip_vitb32", "clip_bpe_vocab"),
    "temporal_style": ("viclip_l14", "viclip_bpe_vocab"),
    "overall_consistency": ("viclip_l14", "viclip_bpe_vocab"),
    "human_action": ("umt_l16",),
    "object_class": ("grit_b",),
    "multiple_objects": ("grit_b",),
    "color": ("grit_b",),
    "spatial_relationship": ("grit_b",),
    "scene": ("tag2text_swin",),
    "i2v_subject": ("dino_vitb16",),
    "i2v_background": (
        "dreamsim_dino_vitb16",
        "dreamsim_clip_vitb16",
        "dreamsim_open_clip_vitb16",
        "dreamsim_ensemble_lora",
        "dreamsim_ensemble_lora_config",
    ),
}


class MissingWeightsError(FileNotFoundError):
    """A checkpoint is not in the local cache (we never download)."""


class WeightsChecksumError(ValueError):
    """A checkpoint's SHA-256 differs from the published one: a truncated, corrupt or different file."""


def cache_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The weight cache: ``override``, else ``$VBENCH_CACHE_DIR``, else VBench's ``~/.cache/vbench``."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get("VBENCH_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vbench"


def weight_path(key: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Expected path of checkpoint ``key`` (see ``WEIGHT_FILES``) in the cache; it may not exist."""
    return cache_dir(root) / WEIGHT_FILES[key].relpath


_HASHES: dict[tuple[str, int, int], str] = {}


def sha256_of(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex) of a file, memoised per process on (path, size, modification time)."""
    st = os.stat(path)
    memo = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _HASHES:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _HASHES[memo] = h.hexdigest()
    return _HASHES[memo]


def check_file(key: str, root: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """State of checkpoint ``key`` in the cache: (status, detail).

    Status is ``missing``, ``verified`` (SHA-256 equals the published one, or its published prefix),
    ``unverified`` (present; no published checksum to compare with) or ``wrong-checksum``.
    """
    spec, path = WEIGHT_FILES[key], weight_path(key, root)
    if not path.is_file():
        return "missing", f"expected at {path}"
    if spec.sha256 is None and spec.sha256_prefix is None:
        return "unverified", "no published SHA-256 to compare with"
    got = sha256_of(path)
    want = spec.sha256 or spec.sha256_prefix or ""
    if got.startswith(want):
        return "verified", got
    return "wrong-checksum", f"SHA-256 {got}, expected {want}{'...' if spec.sha256 is None else ''}"


def require(key: str, root: str | os.PathLike[str] | None = None, verify: bool = True) -> Path:
    """Path of checkpoint ``key``, checked; nothing is ever downloaded here.

    Raises
    ------
    MissingWeightsError
        The file is absent: the message names the file, the path looked at and the public URL.
    WeightsChecksumError
        ``verify`` and the file's SHA-256 differs from the published one (only checked where one is known).
    """
    spec = WEIGHT_FILES[key]
    path = weight_path(key, root)
    if not path.is_file():
        how = f" ({spec.note})" if spec.note else ""
        raise MissingWeightsError(
            f"missing weights {Path(spec.relpath).name!r}: expected at {path}. Nothing is downloaded at run "
            f"time; run `python -m analysis.metrics weights --fetch`, or fetch it by hand from {spec.url}{how} "
            f"and place it there, or point VBENCH_CACHE_DIR at a folder holding {spec.relpath}."
        )
    if verify:
        status, detail = check_file(key, root)
        if status == "wrong-checksum":
            raise WeightsChecksumError(
                f"wrong checksum for weights {Path(spec.relpath).name!r} at {path}: {detail} (a truncated or "
                f"different file; delete it and run `python -m analysis.metrics weights --fetch`)"
            )
    return path


def weights_table(
    dimensions: list[str] | tuple[str, ...] | None = None, root: str | os.PathLike[str] | None = None
) -> list[dict[str, object]]:
    """One row per checkpoint the dimensions need: key, dimensions, path, size (bytes), SHA-256, status.

    ``size`` and ``sha256`` describe the file on disk (None when missing); ``published_sha256`` is the
    published checksum or ``"unknown"``.
    """
    dims = list(DIMENSION_WEIGHTS) if dimensions is None else list(dimensions)
    unknown = [d for d in dims if d not in DIMENSION_WEIGHTS]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; known: {', '.join(DIMENSION_WEIGHTS)}")
    rows, seen = [], {}
    for dim in dims:
        for key in DIMENSION_WEIGHTS[dim]:
            if key in seen:
                seen[key]["dimensions"].append(dim)
                continue
            spec, path = WEIGHT_FILES[key], weight_path(key, root)
            status, _ = check_file(key, root)
            present = path.is_file()
            row = {
                "key": key,
                "dimensions": [dim],
                "path": str(path),
                "size": path.stat().st_size if present else None,
                "sha256": sha256_of(path) if present else None,
                "published_sha256": spec.sha256 or (f"{spec.sha256_prefix}..." if spec.sha256_prefix else "unknown"),
                "status": status,
                "url": spec.url,
            }
            seen[key] = row
            rows.append(row)
    return rows


def fetch(key: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Download checkpoint ``key`` into the cache with pooch, verifying the SHA-256 where one is published.

    Called only by ``python -m analysis.metrics weights --fetch``: runs never download.
    """
    try:
        import pooch
    except ImportError as e:  # pragma: no cover - pooch is a dependency
        raise RuntimeError("fetching weights needs the 'pooch' package (pip install pooch)") from e
    spec, path = WEIGHT_FILES[key], weight_path(key, root)
    known = f"sha256:{spec.sha256}" if spec.sha256 else None
    if spec.archive_member is not None:
        # One download per archive, whichever of its members is asked for (DreamSim's zip holds four), kept in
        # the cache's .downloads folder; each member is unzipped beside it and moved to its place.
        downloads = cache_dir(root) / ".downloads"
        members = pooch.retrieve(
            spec.url,
            known_hash=None,
            fname=Path(spec.url).name,
            path=downloads,
            processor=pooch.Unzip(members=[spec.archive_member], extract_dir=str(downloads / Path(spec.url).stem)),
        )
        got = Path(next(m for m in members if m.endswith(Path(spec.relpath).name)))
        if got != path:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(got, path)
    else:
        pooch.retrieve(spec.url, known_hash=known, fname=path.name, path=path.parent)
    status, detail = check_file(key, root)
    if status == "wrong-checksum":
        raise WeightsChecksumError(f"downloaded {path.name} has the wrong checksum: {detail}")
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
