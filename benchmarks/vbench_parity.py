"""Parity harness: VBench 0.1.5's own code beside ``analysis.metrics`` on the same mp4 files and weights.

Compatibility is measured, not argued: both sides read the same H.264 clips and the same seeded random
weights, stored in VBench's own checkpoint formats and file names (DINO state dict in the torch-hub cache,
OpenAI CLIP TorchScript archives with fp16 weights, the LAION linear head), and the per-video values are
compared. Nothing of VBench is imported into the package: VBench runs in a side virtual environment.

Steps (commands in PARITY.md)::

    python benchmarks/vbench_parity.py setup --venv /work/vbench-venv     # once: side venv, two patches
    python benchmarks/vbench_parity.py run --venv /work/vbench-venv --dino-repo DINO_CLONE [--profile full]

``setup`` creates the side venv: CPU torch 2.13.0 from the local wheel, ``vbench==0.1.5 --no-deps`` and only
what its code paths for these dimensions import (openai-clip, torchvision's pure-Python parts, decord,
OpenCV, Pillow, numpy<2). Two patches, in the side venv only: torchvision's ``register_fake`` calls for
``torchvision::nms`` / ``qnms`` are skipped (its CUDA ``_C`` does not load beside CPU torch), and
``setuptools<81`` keeps ``pkg_resources`` for openai-clip. ``DINO_CLONE`` is a checkout of
facebookresearch/dino, which VBench loads with ``torch.hub.load(source="local")``; DINO's hubconf ignores the
``path`` VBench passes and reads ``$TORCH_HOME/hub/checkpoints``, so the random DINO weights go there too.

``run`` writes clips (static, moving, flicker, noise, 4:3 and 16:9 downscaled, an upsampled short side),
makes the weights with the reference code (DINO's ``vision_transformer``, OpenAI's ``clip.model.CLIP``),
scores them with VBench's dimension functions (``subject_consistency``, ``background_consistency``,
``laion_aesthetic``, ``temporal_flickering``; models loaded by ``torch.hub.load`` / ``clip.load`` /
``get_aesthetic_model`` as VBench loads them) and with ``analysis.metrics.evaluate``, and prints the table.
``--profile full`` uses the real architectures; ``tiny`` uses small widths of the same classes (DINO then
built from DINO's class directly, since its hubconf only builds ViT-B) and ``--fixture DIR`` stores clips,
weights and VBench's numbers for the unit test ``tests/test_metrics_parity.py``.

This file runs in both environments: the ``_worker`` sub-command (side venv) imports VBench, never
``analysis``; the rest (project venv) imports ``analysis``, never VBench.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORE_DIMS = [
    "temporal_flickering",
    "subject_consistency",
    "background_consistency",
    "aesthetic_quality",
    "dynamic_degree",
    "i2v_subject",
    "appearance_style",
]
CORE_CACHE_DIRS = ["dino_model", "clip_model", "aesthetic_model"]  # raft_model (20 MB) stays out of the fixture
SIDE_PACKAGES = [
    "vbench==0.1.5",
    "openai-clip==1.0.1",
    "torchvision==0.28.0",
    "decord==0.6.0",
]
SIDE_DEPS = [
    "numpy<2",
    "pillow",
    "opencv-python-headless",
    "ftfy",
    "regex",
    "tqdm",
    "setuptools<81",
    "scipy",
    "easydict",
]

# Architectures (CLIP: embed, vision width, layers, patch, text width, text layers, vocab, context).
CLIP_SHAPES = {
    "full": {"ViT-B-32": (512, 768, 12, 32, 512, 12, 49408, 77), "ViT-L-14": (768, 1024, 24, 14, 768, 12, 49408, 77)},
    # LAION's head is Linear(768, 1) in VBench's code, so ViT-L-14 keeps a 768 embedding even when tiny.
    # ViT-B-32's text tower reads appearance_style's text: CLIP's 77-token context and, in the tiny profile, the
    # synthetic vocabulary in the cache (0: its size, read from the file), which both tokenizers then read.
    "tiny": {"ViT-B-32": (32, 64, 1, 32, 64, 1, 0, 77), "ViT-L-14": (768, 64, 1, 14, 64, 1, 64, 8)},
}
VOCAB = "clip_model/bpe_simple_vocab_16e6.txt.gz"


def plugins() -> list:
    """Per-dimension parity modules ``benchmarks/vbench_parity_<name>.py``, in name order.

    Each module is importable in both environments (VBench imported only inside its functions) and defines:
    ``DIMS`` (dimension names it compares), ``SIDE_PACKAGES`` (pip specs installed ``--no-deps`` into the side
    venv), ``SIDE_DEPS`` (pip specs installed with their dependencies), ``CACHE_DIRS`` (cache sub-folders of its
    weights, copied into the fixture), ``weights(cache, profile, seed)`` (side venv: seeded random weights in
    VBench's formats and file names under ``cache``; seeds its own generator) and
    ``scorers(cache, profile, videos, device)`` (side venv: ``{dimension: callable}``, each callable running
    VBench's own function and returning its ``(aggregate, [{"video_path": ..., "video_results": ...}, ...])``).
    """
    import importlib.util

    found = []
    for path in sorted(Path(__file__).resolve().parent.glob("vbench_parity_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.append(module)
    return found


def all_dims() -> list[str]:
    return CORE_DIMS + [d for p in plugins() for d in p.DIMS]


def wanted_dims() -> set[str]:
    """The dimensions a worker call is for (``VBPARITY_DIMS``, default all)."""
    return set(os.environ.get("VBPARITY_DIMS", ",".join(all_dims())).split(","))


DINO_SHAPES = {"full": (768, 12, 12), "tiny": (64, 2, 1)}  # width, depth, heads


# ------------------------------------------------------------------------------------------- side venv


def setup(venv: Path) -> None:
    """Create the side venv with VBench 0.1.5 and patch torchvision's two fake-op registrations."""
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(py), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "torch==2.13.0"], check=True)  # the CPU wheel on local disk
    # the plugins' pins, each once (two plugins may need the same package; their pins must agree)
    extra = list(dict.fromkeys(x for p in plugins() for x in p.SIDE_PACKAGES))
    deps = list(dict.fromkeys(x for p in plugins() for x in p.SIDE_DEPS))
    subprocess.run([*pip, "--no-deps", *SIDE_PACKAGES, *extra], check=True)
    subprocess.run([*pip, *SIDE_DEPS, *deps], check=True)
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    meta = Path(site) / "torchvision" / "_meta_registrations.py"
    text = meta.read_text()
    for op in ("nms", "qnms"):
        text = text.replace(
            f'@torch.library.register_fake("torchvision::{op}")',
            f"@(lambda f: f)  # side-venv patch: torchvision::{op} is in the CUDA _C that does not load",
        )
    meta.write_text(text)
    subprocess.run([str(py), "-c", "import torchvision.transforms, clip, decord, vbench.utils"], check=True)
    print(f"side venv ready: {venv}")


# ------------------------------------------------------------------------------------------- worker (side)


def _dino(dino_repo: Path, profile: str):
    """DINO's own VisionTransformer (ViT-B/16's settings) at the profile's width, from the dino checkout."""
    from functools import partial

    from torch import nn

    sys.path.insert(0, str(dino_repo))
    import vision_transformer as vits

    width, depth, heads = DINO_SHAPES[profile]
    return vits.VisionTransformer(
        patch_size=16,
        embed_dim=width,
        depth=depth,
        num_heads=heads,
        mlp_ratio=4,
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
        num_classes=0,
    )


def _worker_weights(cache: Path, torch_home: Path, dino_repo: Path, profile: str, seed: int) -> None:
    wanted = wanted_dims()
    if wanted & set(CORE_DIMS):
        _core_weights(cache, torch_home, dino_repo, profile, seed)
    for plugin in plugins():
        if wanted & set(plugin.DIMS):
            plugin.weights(cache, profile, seed)


def _core_weights(cache: Path, torch_home: Path, dino_repo: Path, profile: str, seed: int) -> None:
    import copy

    import torch
    from clip.model import CLIP
    from torch import nn

    torch.manual_seed(seed)
    dino = _dino(dino_repo, profile)
    # DINO's init leaves biases at 0 and LayerNorms at 1: perturb them so every parameter matters.
    with torch.no_grad():
        for name, p in dino.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.05 * torch.randn_like(p))
    for folder in (cache / "dino_model", torch_home / "hub" / "checkpoints"):
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(dino.state_dict(), folder / "dino_vitbase16_pretrain.pth")

    (cache / "clip_model").mkdir(parents=True, exist_ok=True)
    for name, (embed, vw, vl, patch, tw, tl, vocab, ctx) in CLIP_SHAPES[profile].items():
        if vocab == 0:
            from clip.simple_tokenizer import SimpleTokenizer

            vocab = len(SimpleTokenizer(str(cache / VOCAB)).encoder)
        model = CLIP(embed, 224, vl, vw, patch, ctx, vocab, tw, max(1, tw // 64), tl).eval()
        with torch.no_grad():
            for pname, p in model.named_parameters():
                if pname.endswith("bias") or "ln_" in pname:
                    p.add_(0.05 * torch.randn_like(p))
        image, text = torch.randn(1, 3, 224, 224), torch.randint(0, vocab, (1, ctx))
        # OpenAI ships a traced archive with fp16 weights; all-fp16 values are read exactly by both sides
        # (clip's build_model keeps some tensors in fp16, so fp32 values there would be rounded on one side).
        traced = torch.jit.trace(copy.deepcopy(model), (image, text), check_trace=False).half()
        traced.save(str(cache / "clip_model" / f"{name}.pt"))

    from easydict import EasyDict
    from vbench.third_party.RAFT.core.raft import RAFT

    raft = RAFT(EasyDict(small=False, mixed_precision=False, alternate_corr=False))
    with torch.no_grad():  # VBench's own init; batch-norm statistics and biases perturbed so they matter
        for name, t in raft.state_dict().items():
            if t.is_floating_point() and ("running" in name or name.endswith("bias")):
                t.add_(0.1 * torch.rand_like(t) if "running_var" in name else 0.05 * torch.randn_like(t))
    (cache / "raft_model" / "models").mkdir(parents=True, exist_ok=True)
    # The released file is a DataParallel state dict ("module." keys); VBench strips the prefix when loading.
    torch.save(
        {f"module.{k}": v for k, v in raft.state_dict().items()}, cache / "raft_model" / "models" / "raft-things.pth"
    )

    head = nn.Linear(768, 1)
    nn.init.normal_(head.weight, std=2.0)  # spread the scores around LAION's typical 5
    nn.init.constant_(head.bias, 5.0)
    (cache / "aesthetic_model" / "emb_reader").mkdir(parents=True, exist_ok=True)
    torch.save(head.state_dict(), cache / "aesthetic_model" / "emb_reader" / "sa_0_4_vit_l_14_linear.pth")


def _worker_score(cache: Path, dino_repo: Path, profile: str, videos: list[str], out: Path) -> None:
    import clip
    import torch
    from vbench.aesthetic_quality import get_aesthetic_model, laion_aesthetic
    from vbench.background_consistency import background_consistency
    from vbench.subject_consistency import subject_consistency
    from vbench.temporal_flickering import temporal_flickering

    device = torch.device("cpu")
    results, seconds = {}, {}
    wanted = wanted_dims()

    def record(dim: str, fn: object) -> None:
        if dim not in wanted:
            return
        start = time.perf_counter()
        agg, per_video = fn()
        seconds[dim] = time.perf_counter() - start
        results[dim] = {
            "aggregate": float(agg),
            "videos": {v["video_path"]: float(v["video_results"]) for v in per_video},
        }

    record("temporal_flickering", lambda: temporal_flickering(videos))
    for plugin in plugins():
        if wanted & set(plugin.DIMS):
            for dim, fn in plugin.scorers(cache, profile, videos, device).items():
                record(dim, fn)
    if not wanted & {"subject_consistency", "i2v_subject"}:
        dino = None
    elif profile == "full":  # exactly VBench's local-mode loading (init_submodules)
        dino = torch.hub.load(
            repo_or_dir=str(dino_repo),
            source="local",
            model="dino_vitb16",
            path=str(cache / "dino_model" / "dino_vitbase16_pretrain.pth"),
        ).to(device)
    else:  # DINO's hubconf builds only ViT-B; same class and loading, smaller width
        dino = _dino(dino_repo, profile)
        dino.load_state_dict(torch.load(cache / "dino_model" / "dino_vitbase16_pretrain.pth", map_location="cpu"))
    if dino is not None:
        dino.eval()
    record("subject_consistency", lambda: subject_consistency(dino, videos, device, False))
    if "background_consistency" in wanted:
        clip_b, preprocess = clip.load(str(cache / "clip_model" / "ViT-B-32.pt"), device=device)
        record("background_consistency", lambda: background_consistency(clip_b, preprocess, videos, device, False))
    if "aesthetic_quality" in wanted:
        aes = get_aesthetic_model(str(cache / "aesthetic_model" / "emb_reader")).to(device)
        clip_l, _ = clip.load(str(cache / "clip_model" / "ViT-L-14.pt"), device=device)
        record("aesthetic_quality", lambda: laion_aesthetic(aes, clip_l, videos, device))

    if "appearance_style" in wanted:
        import re

        from vbench.appearance_style import appearance_style

        if profile == "tiny":  # OpenAI's tokenizer class with the synthetic vocabulary the tiny text tower has
            from clip.simple_tokenizer import SimpleTokenizer

            clip.clip._tokenizer = SimpleTokenizer(str(cache / VOCAB))
        clip_s, _ = clip.load(str(cache / "clip_model" / "ViT-B-32.pt"), device=device)
        # the text VBench reads from its prompt file's auxiliary_info; here the prompt of the file name
        # "<prompt>-<i>.mp4", which is what our side uses for a prompt that ends with none of VBench's styles
        style_dict = [
            {"auxiliary_info": {"appearance_style": re.sub(r"-\d+$", "", Path(v).stem)}, "video_list": [v]}
            for v in videos
        ]
        record("appearance_style", lambda: appearance_style(clip_s, style_dict, device))

    from vbench2_beta_i2v.i2v_subject import i2v_subject

    # VBench++'s image-to-video subject score; the conditioning image is <stem>.png beside each clip
    pairs_i2v = [(str(Path(v).with_suffix(".png")), v) for v in videos]
    record("i2v_subject", lambda: i2v_subject(dino, pairs_i2v, device))

    from easydict import EasyDict
    from vbench import dynamic_degree as vb_dd

    pairs: dict[str, list[float]] = {}
    current: list[str] = []
    get_score = vb_dd.DynamicDegree.get_score

    def observed(self: object, img: object, flo: object) -> float:  # VBench's value, recorded on its way out
        value = get_score(self, img, flo)
        pairs.setdefault(current[-1], []).append(value)
        return value

    infer = vb_dd.DynamicDegree.infer

    def infer_named(self: object, video_path: str) -> bool:
        current.append(video_path)
        return infer(self, video_path)

    vb_dd.DynamicDegree.get_score = observed
    vb_dd.DynamicDegree.infer = infer_named
    args = EasyDict(
        model=str(cache / "raft_model" / "models" / "raft-things.pth"),
        small=False,
        mixed_precision=False,
        alternate_corr=False,
    )
    if "dynamic_degree" in wanted:
        dynamic = vb_dd.DynamicDegree(args, device)
        record("dynamic_degree", lambda: vb_dd.dynamic_degree(dynamic, videos))
        results["dynamic_degree"]["pairs"] = pairs
    out.write_text(json.dumps({"results": results, "seconds": seconds}, indent=1))


# ------------------------------------------------------------------------------------------- project side


def make_clips(folder: Path, frames: int, noise: bool = True, keep: bool = False) -> list[str]:
    """Deterministic H.264 mp4 clips covering the cases the preprocessing must get right."""
    import numpy as np

    from analysis.metrics import synthetic as syn

    rng = np.random.default_rng(7)
    clips = {
        "static": syn.static_clip(frames, 240, 320, seed=1),  # 4:3, downscaled to 224 x 298
        "moving": syn.moving_clip(frames, 252, 448, speed=5, seed=2),  # 16:9, 224 x 398
        "flicker": syn.flicker_clip(frames, 256, 256, amplitude=30, seed=3),
        "noise": rng.integers(0, 256, (frames, 240, 320, 3), dtype=np.uint8),
        "upsampled": syn.moving_clip(frames, 96, 128, speed=3, seed=4, vertical=True),  # short side 96 -> 224
        "portrait": syn.moving_clip(frames, 320, 240, speed=2, seed=5),  # 3:4
        "sharp": np.repeat(  # hard edges: bicubic overshoots beyond 0..255, the float path keeps it
            np.kron(rng.integers(0, 2, (1, 12, 16, 1)) * 255, np.ones((1, 20, 20, 3))).astype(np.uint8),
            frames,
            axis=0,
        ),
    }
    if not noise:  # 0.4 MB of incompressible noise per 8 frames: left out of the committed fixture
        del clips["noise"]
    paths = []
    for i, (name, clip) in enumerate(clips.items()):
        path = folder / "clips" / f"{name}-0.mp4"
        if not (keep and path.exists()):
            syn.write_video(path, clip, fps=8, codec="libx264")
        image = path.with_suffix(".png")  # i2v conditioning image: the first frame, in another aspect
        if not (keep and image.exists()):
            from PIL import Image

            h, w = clip.shape[1:3]
            size = [(w, h), (w + w // 3, h), (w, h + h // 2)][i % 3]
            Image.fromarray(clip[0]).resize(size, Image.BILINEAR).save(image)
        paths.append(str(path))
    return paths


def ours(videos: list[str], cache: Path, dims: list[str]) -> tuple[dict, dict]:
    """Our per-video values and the seconds per dimension, networks loaded beforehand as the VBench side's."""
    import importlib

    import torch

    from analysis.metrics import evaluate
    from analysis.metrics.runner import MODULE_DIMENSIONS, NETWORK_BACKENDS, load_network

    results, seconds = {}, {}
    for dim in dims:  # one dimension at a time, for a per-dimension time beside VBench's
        key = NETWORK_BACKENDS.get(dim)
        # random weights under the real file names: their SHA-256 is not the published one
        networks = {key: load_network(key, cache, verify=False)} if key else None
        if dim in MODULE_DIMENSIONS:  # its builder loads the network into ``networks`` (then reused by evaluate)
            module, function = MODULE_DIMENSIONS[dim].split(":")
            build = getattr(importlib.import_module(f"analysis.metrics.{module}"), function)
            networks = {}
            build(dim, torch.device("cpu"), 1, cache, networks, False, None, False)
        start = time.perf_counter()
        frame = evaluate(
            videos, [dim], device="cpu", cache_dir=cache, progress=False, verify_weights=False, networks=networks
        )
        seconds[dim] = time.perf_counter() - start
        results[dim] = {
            "aggregate": frame.attrs["aggregates"][dim],
            "videos": dict(zip(frame.video, frame.score.astype(float), strict=True)),
        }
        if dim == "dynamic_degree":
            assert set(frame.backend) == {"raft-things"}, frame.backend
            results[dim]["pairs"] = {v: r[dim]["pair_scores"] for v, r in frame.attrs["records"].items()}
    return results, seconds


def table(ref: dict, got: dict, frames: dict[str, int], seconds_ref: dict, seconds_got: dict, dims: list[str]) -> str:
    total = sum(frames.values())
    lines = [
        "| dimension | videos | per-video max abs diff | aggregate abs diff | VBench frames/s | ours frames/s"
        " | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for dim in dims:
        r, g = ref[dim], got[dim]
        diffs = [abs(r["videos"][v] - g["videos"][v]) for v in r["videos"]]
        rate_r, rate_g = total / seconds_ref[dim], total / seconds_got[dim]
        lines.append(
            f"| {dim} | {len(diffs)} | {max(diffs):.1e} | {abs(r['aggregate'] - g['aggregate']):.1e} "
            f"| {rate_r:.1f} | {rate_g:.1f} | {rate_g / rate_r:.2f}x |"
        )
    if "dynamic_degree" not in dims:
        return "\n".join(lines)
    rp, gp = ref["dynamic_degree"]["pairs"], got["dynamic_degree"]["pairs"]
    d = [(abs(a - b), abs(a - b) / max(abs(a), 1e-12)) for v in rp for a, b in zip(rp[v], gp[v], strict=True)]
    scale = max(abs(a) for v in rp for a in rp[v])
    lines.append(
        f"| dynamic_degree, per-pair top-5% flow (px, up to {scale:.1f}) | {len(d)} pairs "
        f"| {max(x[0] for x in d):.1e} (relative {max(x[1] for x in d):.1e}) | - | - | - | - |"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import torch

    from analysis.metrics.video import read_frames

    py = Path(args.venv) / "bin" / "python"
    if not py.exists():
        print(f"error: no side venv at {args.venv}; run `python {Path(__file__).name} setup` first", file=sys.stderr)
        return 2
    work = Path(args.work or tempfile.mkdtemp(prefix="vbench-parity-"))
    cache, torch_home = work / "cache", work / "torch_home"
    cache.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, VBENCH_CACHE_DIR=str(cache), TORCH_HOME=str(torch_home), OMP_NUM_THREADS=str(args.threads))
    me = str(Path(__file__).resolve())
    known = all_dims()
    dims = args.dims.split(",") if args.dims else known
    if set(dims) - set(known):
        print(f"error: unknown --dims {sorted(set(dims) - set(known))}; known: {','.join(known)}", file=sys.stderr)
        return 2
    fixture_clips = sorted(Path(args.fixture).glob("*.mp4")) if args.fixture else []
    if fixture_clips:  # a fixture's reference numbers are for its committed clips: score those, not new ones
        (work / "clips").mkdir(parents=True, exist_ok=True)
        for clip in fixture_clips:
            for src in (clip, clip.with_suffix(".png")):
                shutil.copy(src, work / "clips" / src.name)
        videos = [str(work / "clips" / c.name) for c in fixture_clips]
    else:
        videos = make_clips(work, args.frames, noise=not args.fixture, keep=args.reuse)
    frames = {v: len(read_frames(v)) for v in videos}
    ref_path = work / "vbench.json"
    # CLIP's tokenizer vocabulary, read by both sides: for the full profile the copy of OpenAI's file shipped in the
    # side venv's openai-clip (VBench's tokenizer reads it there); for the tiny one a synthetic file in its format
    if args.profile == "full":
        subprocess.run([str(py), me, "_worker", "vocab", str(cache)], env=env, check=True)
    elif not (cache / VOCAB).exists():
        from analysis.metrics import synthetic as syn

        syn.write_vocabulary(cache / VOCAB)
    score = [str(py), me, "_worker", "score", str(cache), args.dino_repo, args.profile]
    weights = [str(py), me, "_worker", "weights", str(cache), str(torch_home), args.dino_repo, args.profile]
    ref = json.loads(ref_path.read_text()) if args.reuse and ref_path.exists() else {"results": {}, "seconds": {}}
    # --reuse keeps a previous run's weights and VBench numbers: only dimensions it lacks are made and scored
    missing = [d for d in dims if d not in ref["results"]]
    if missing:
        side_env = dict(env, VBPARITY_DIMS=",".join(missing))
        subprocess.run(weights, env=side_env, check=True)
        extra = work / "vbench-extra.json"
        subprocess.run([*score, str(extra), *videos], env=side_env, check=True, cwd=work)
        more = json.loads(extra.read_text())
        ref["results"].update(more["results"])
        ref["seconds"].update(more["seconds"])
        ref_path.write_text(json.dumps(ref, indent=1))
    ref = json.loads(ref_path.read_text())
    torch.set_num_threads(args.threads)
    got, seconds = ours(videos, cache, dims)
    print(
        f"VBench 0.1.5 vs analysis.metrics, profile {args.profile}, {len(videos)} H.264 clips x {args.frames} frames, "
        f"{args.threads} thread(s), torch {torch.__version__}"
    )
    print(table(ref["results"], got, frames, ref["seconds"], seconds, dims))
    worst = max(
        abs(ref["results"][d]["videos"][v] - got[d]["videos"][v]) for d in dims for v in ref["results"][d]["videos"]
    )
    print(f"worst per-video |diff|: {worst:.2e} (target <= 1e-6)")
    (work / "parity.json").write_text(json.dumps({"vbench": ref, "ours": got, "ours_seconds": seconds}, indent=1))
    if args.fixture:
        write_fixture(Path(args.fixture), work, videos, ref["results"], dims)
    return 0 if worst <= 1e-6 else 1


def write_fixture(folder: Path, work: Path, videos: list[str], ref: dict, dims: list[str]) -> None:
    """Clips, the tiny weights in VBench's formats and VBench's numbers, for tests/test_metrics_parity.py.

    Only ``dims`` are written: their weights' cache folders are copied and their numbers merged into the
    fixture's ``vbench_reference.json``, so one dimension can be added without remaking the others.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for v in videos:
        for src in (Path(v), Path(v).with_suffix(".png")):  # clips and their i2v images
            if not (folder / src.name).exists():
                shutil.copy(src, folder / src.name)
    dirs = set(CORE_CACHE_DIRS) if set(dims) & set(CORE_DIMS) else set()
    for plugin in plugins():
        if set(dims) & set(plugin.DIMS):
            dirs |= set(plugin.CACHE_DIRS)
    for name in sorted(dirs):
        if (work / "cache" / name).exists():
            shutil.copytree(work / "cache" / name, folder / "cache" / name, dirs_exist_ok=True)
    path = folder / "vbench_reference.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old["source"] = "VBench 0.1.5 (side venv), benchmarks/vbench_parity.py --profile tiny"
    for dim in dims:
        r = ref[dim]
        old[dim] = {"aggregate": r["aggregate"], "videos": {Path(v).name: s for v, s in r["videos"].items()}}
    path.write_text(json.dumps(old, indent=1) + "\n")
    print(f"fixture written to {folder}: {', '.join(dims)}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_worker":
        kind, rest = argv[1], argv[2:]
        if kind == "vocab":
            import clip

            target = Path(rest[0]) / "clip_model" / "bpe_simple_vocab_16e6.txt.gz"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(Path(clip.__file__).parent / target.name, target)
        elif kind == "weights":
            _worker_weights(Path(rest[0]), Path(rest[1]), Path(rest[2]), rest[3], seed=0)
        else:
            _worker_score(Path(rest[0]), Path(rest[1]), rest[2], rest[4:], Path(rest[3]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup", help="create the side venv with VBench 0.1.5")
    s.add_argument("--venv", default="/work/vbench-venv")
    r = sub.add_parser("run", help="score the clips with VBench and with analysis.metrics; print the table")
    r.add_argument("--venv", default="/work/vbench-venv")
    r.add_argument("--dino-repo", required=True, help="a checkout of facebookresearch/dino (hubconf.py)")
    r.add_argument("--profile", choices=["full", "tiny"], default="full")
    r.add_argument("--frames", type=int, default=12)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--work", default=None, help="working folder (default: a new temporary one)")
    r.add_argument("--fixture", default=None, help="also store clips, weights and VBench's numbers here")
    r.add_argument("--reuse", action="store_true", help="reuse --work's weights and VBench results if present")
    r.add_argument("--dims", default=None, help="compare only these dimensions (comma-separated; default all)")
    args = p.parse_args(argv)
    if args.cmd == "setup":
        setup(Path(args.venv))
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
