"""ViCLIP ViT-L/14 (InternVid-10M-FLT) in plain torch, and VBench's two video-text dimensions that use it.

VBench's ``temporal_style`` and ``overall_consistency`` are the same computation on different prompt lists: the
cosine between ViCLIP's embedding of an 8-frame clip of the video and ViCLIP's embedding of the video's prompt.

Per video (VBench 0.1.5, ``read_frames_decord_by_fps(path, num_frames=8, sample="middle")``):

* **Frames**: with ``n`` the video's frame count (decord's ``len``: the number of video packets, the decoded
  frame count for an ordinary file), the range ``[0, n)`` is split at ``int(np.linspace(0, n, k + 1))``,
  ``k = min(8, n)``, and each part ``[a, b)`` gives frame ``(a + b - 1) // 2``; fewer than 8 frames are padded
  with the last index, so a 1-frame video is that frame 8 times (:func:`frame_indices`).
* **Preprocessing**: VBench's ``clip_transform(224)`` on the **uint8** frames decord returns: torchvision's
  tensor ``Resize(224, bicubic, antialias=False)`` of the short side (the long side ``int(224 * long / short)``),
  which on uint8 input computes in float32 and then clamps to 0..255 and rounds back to uint8 levels (unlike
  the float frames of ``load_video`` in the consistency dimensions, where nothing is rounded), centre crop
  224, division by 255, CLIP's normalisation (:func:`viclip_transform`).
* **Text**: the prompt (file name ``<prompt>-<i>.mp4`` or the manifest's column) as a whole, tokenised with
  CLIP's BPE (OpenAI's merges file, which VBench reads at ``$VBENCH_CACHE_DIR/ViCLIP/``) into ViCLIP's
  32-token context; a longer text is truncated to 32 ids whose last is the end token, as ViCLIP does.
* **Score**: cos(vision embedding, text embedding); aggregate: the plain mean over videos.

Network (:class:`ViClip`), with the parameter names of ``ViClip-InternVid-10M-FLT.pth``'s ``model`` dict so
that it loads strictly: ``vision_encoder.*`` is a CLIP ViT-L/14 whose patch embedding is a ``Conv3d`` of temporal
size 1, each frame's patch tokens get the frame's ``temporal_positional_embedding`` row (8 rows) on top of
CLIP's spatial table, and one transformer runs over the class token (frame 0's) and all 8 x 256 patch tokens
together; output: ``ln_post`` of the class token times ``proj``. ``text_encoder.*`` is CLIP's causal text tower
(:class:`~analysis.metrics.clip_text.ClipText`) with a 32-token context; ``temp`` is the (unused) temperature.
Every video is one network pass (the clip of 8 frames), single-threaded, on the run's thread pool: its score
depends on nothing but the video.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import Executor
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .backbones import ClipTransformer
from .batching import FrameRunner
from .clip_text import BpeTokenizer, ClipText, check_vocabulary
from .dimensions import (
    CLIP_MEAN,
    CLIP_STD,
    Chunk,
    Dimension,
    VideoState,
    center_crop,
    make_record,
    normalize,
    resize_short_side,
    shared_network,
)
from .video import VideoItem, VideoMeta

BACKEND = "viclip_l14"
N_FRAMES = 8  # frames per clip: VBench's num_frames, and the length of ViCLIP's temporal table
SIZE = 224


def frame_indices(n_frames: int, num: int = N_FRAMES) -> list[int]:
    """VBench's ``sample="middle"`` frame indices for a video of ``n_frames`` frames (always ``num`` of them).

    The range is cut at ``np.linspace(0, n, k + 1).astype(int)`` with ``k = min(num, n)`` (numpy's float grid,
    truncated, exactly as VBench computes it); each part contributes its middle frame, rounded down; the list
    is padded to ``num`` with its last index.
    """
    if n_frames < 1:
        raise ValueError(f"a video needs at least one frame, got {n_frames}")
    k = min(num, n_frames)
    cuts = np.linspace(start=0, stop=n_frames, num=k + 1).astype(int)
    picked = [(int(a) + int(b) - 1) // 2 for a, b in zip(cuts[:-1], cuts[1:], strict=True)]
    return picked + [picked[-1]] * (num - len(picked))


def count_frames(path: str) -> int:
    """Frame count of a video as decord's ``len`` gives it: the video stream's packets (demuxed, not decoded).

    Raises
    ------
    RuntimeError
        The file cannot be opened or holds no video stream.
    """
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            # PyAV ends the demux with an empty flush packet per stream; real packets carry data
            return sum(1 for packet in container.demux(stream) if packet.size > 0)
    except (av.error.FFmpegError, IndexError, ValueError, OSError) as e:
        raise RuntimeError(f"cannot count the frames of {path}: {type(e).__name__}: {e}") from None


def viclip_transform(frames: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """VBench's ``clip_transform(224)`` on uint8 frames: (T, 3, H, W) levels -> (T, 3, 224, 224) normalised.

    ``frames`` holds uint8 values (any dtype). Bicubic resize of the short side in float32 (no antialiasing),
    clamped to 0..255 and rounded half-to-even to integer levels, as torchvision does for uint8 input; centre
    crop; /255; CLIP normalisation.
    """
    x = frames.float()
    resized = resize_short_side(x, size, "bicubic")
    if resized is not x:  # torchvision returns an already 224-short-sided uint8 input untouched
        resized = resized.clamp(0, 255).round()
    return normalize(center_crop(resized, size), CLIP_MEAN, CLIP_STD)


class ViClipVision(nn.Module):
    """ViCLIP's video tower: (B, T, 3, R, R) CLIP-normalised frames -> (B, out_dim) unnormalised embeddings.

    T must equal the temporal table's length (8 for the released model) or be 1 (the table's mean is added
    then, as ViCLIP does). Each clip's class token is its first frame's (ViCLIP keeps one).
    """

    def __init__(
        self, patch: int, width: int, depth: int, grid: int, out_dim: int, frames: int = N_FRAMES, kernel: int = 1
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, width, (kernel, patch, patch), (kernel, patch, patch), bias=False)
        scale = width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(grid * grid + 1, width))
        self.ln_pre = nn.LayerNorm(width)
        self.temporal_positional_embedding = nn.Parameter(torch.zeros(1, frames, width))
        self.transformer = ClipTransformer(width, depth, max(1, width // 64))
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(scale * torch.randn(width, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        tokens = self.conv1(x.permute(0, 2, 1, 3, 4))  # (B, width, T, gh, gw)
        t = tokens.shape[2]
        tokens = tokens.flatten(3).permute(0, 2, 3, 1)  # (B, T, N, width)
        pos = self.positional_embedding.to(tokens.dtype)
        cls = (self.class_embedding.to(tokens.dtype) + pos[0]).expand(b, 1, -1)
        tokens = tokens + pos[1:]
        table = self.temporal_positional_embedding.to(tokens.dtype)
        if t == 1:
            table = table.mean(1, keepdim=True)
        elif t != table.shape[1]:
            raise ValueError(f"ViCLIP takes {table.shape[1]} frames per clip (or 1), got {t}")
        tokens = tokens + table[:, :, None]
        # patch-major, then time: token (n, t) sits at n * T + t, as ViCLIP orders them
        tokens = tokens.transpose(1, 2).reshape(b, -1, tokens.shape[-1])
        tokens = self.transformer(self.ln_pre(torch.cat([cls, tokens], dim=1)))
        return self.ln_post(tokens[:, 0]) @ self.proj


class ViClip(nn.Module):
    """ViCLIP: the video tower as ``forward``, the text tower and tokenizer beside (keys as the checkpoint's)."""

    def __init__(self, vision: ViClipVision, text: ClipText, tokenizer: BpeTokenizer) -> None:
        super().__init__()
        self.vision_encoder = vision
        self.text_encoder = text
        self.temp = nn.Parameter(torch.tensor(0.01), requires_grad=False)
        self.tokenizer = tokenizer
        check_vocabulary(tokenizer, text)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vision_encoder(x)

    def token_ids(self, text: str) -> torch.Tensor:
        """(1, context) int64 ids: start, tokens, end, zeros; cut to the context with the end token last."""
        n = self.text_encoder.context_length
        ids = [self.tokenizer.sot, *self.tokenizer.encode(text), self.tokenizer.eot]
        if len(ids) > n:  # ViCLIP truncates rather than refusing a long prompt
            ids = [*ids[: n - 1], self.tokenizer.eot]
        out = torch.zeros(1, n, dtype=torch.long)
        out[0, : len(ids)] = torch.tensor(ids)
        return out

    def text_features(self, text: str) -> torch.Tensor:
        """(embed,) float32 unnormalised embedding of ``text`` (one pass, batch of one), on the CPU."""
        ids = self.token_ids(text).to(self.temp.device)
        with torch.inference_mode():
            return self.text_encoder(ids)[0].float().cpu()


def viclip_from_state_dict(sd: dict[str, torch.Tensor], vocabulary: str | os.PathLike[str]) -> ViClip:
    """A :class:`ViClip` shaped like ``sd`` (the checkpoint's ``model`` dict), loaded strictly, with the
    tokenizer of ``vocabulary`` (CLIP's merges file). Heads are width / 64 in both towers, as in ViCLIP.

    Raises
    ------
    RuntimeError
        Unreadable vocabulary, a key or shape that does not match, or a vocabulary larger than the text tower's.
    """
    try:
        tokenizer = BpeTokenizer(vocabulary)
    except (OSError, ValueError, UnicodeDecodeError, EOFError) as e:
        raise RuntimeError(f"cannot read ViCLIP's vocabulary {vocabulary}: {type(e).__name__}: {e}") from None
    try:
        vis = {k[len("vision_encoder.") :]: v for k, v in sd.items() if k.startswith("vision_encoder.")}
        txt = {k[len("text_encoder.") :]: v for k, v in sd.items() if k.startswith("text_encoder.")}
        width, _, kernel, patch, _ = vis["conv1.weight"].shape
        depth = len({k.split(".")[2] for k in vis if k.startswith("transformer.resblocks.")})
        grid = math.isqrt(vis["positional_embedding"].shape[0] - 1)
        frames, out_dim = vis["temporal_positional_embedding"].shape[1], vis["proj"].shape[1]
        vocab, text_width = txt["token_embedding.weight"].shape
        text_depth = len({k.split(".")[2] for k in txt if k.startswith("transformer.resblocks.")})
        context, embed = txt["positional_embedding"].shape[0], txt["text_projection"].shape[1]
    except KeyError as e:
        raise RuntimeError(f"not a ViCLIP state dict: no {e}") from None
    with torch.device("meta"):
        vision = ViClipVision(patch, width, depth, grid, out_dim, frames, kernel)
        text = ClipText(vocab, context, text_width, text_depth, embed)
        model = ViClip(vision, text, tokenizer)
    model.load_state_dict(sd, strict=True, assign=True)  # every key and shape checked
    return model.eval()


def load_viclip(cache: str | os.PathLike[str] | None = None, verify: bool = True) -> ViClip:
    """ViCLIP from the weight cache (``ViCLIP/ViClip-InternVid-10M-FLT.pth`` and its vocabulary beside it).

    Raises
    ------
    MissingWeightsError, WeightsChecksumError, RuntimeError
        A file is absent, has the wrong checksum or cannot be read as ViCLIP.
    """
    from .weights import load_state_dict, require

    vocabulary = require("viclip_bpe_vocab", cache, verify)  # check both files before the slow load
    return viclip_from_state_dict(load_state_dict(require("viclip_l14", cache, verify)), vocabulary)


class ClipEncoder(nn.Module):
    """What one network pass runs: a (1, T, H, W, 3) uint8-level clip -> VBench's preprocessing -> ViCLIP."""

    def __init__(self, model: ViClip) -> None:
        super().__init__()
        self.model = model

    def forward(self, clip: torch.Tensor) -> torch.Tensor:
        return self.model(viclip_transform(clip[0].permute(0, 3, 1, 2))[None])


class ViClipSimilarity(Dimension):
    """Cosine of ViCLIP's embeddings of a video's 8-frame clip and of its prompt (module docstring).

    Only the 8 sampled frames are kept (their indices follow from the frame count, read from the container
    before decoding starts); the clip is submitted once its last frame has arrived.
    """

    min_frames = 1

    def __init__(self, name: str, runner: FrameRunner, backend: str = BACKEND) -> None:
        self.name = name
        self.runner = runner
        self.backend = backend
        self._texts: dict[str, torch.Tensor] = {}

    @property
    def model(self) -> ViClip:
        return self.runner.model.model

    def start(self, meta: VideoMeta, item: VideoItem | None = None) -> VideoState:
        state = VideoState(meta)
        prompt = item.prompt if item is not None else ""
        if not prompt:
            state.error = f"no prompt: {self.name} needs the video's prompt (file name <prompt>-<i> or manifest)"
            return state
        try:
            if prompt not in self._texts:
                self._texts[prompt] = F.normalize(self.model.text_features(prompt).double(), dim=-1, p=2)
            # a VBench-Long clip knows its length; a whole video's comes from its container, as decord reads it
            count = meta.frames if meta.frames is not None else count_frames(item.path)
            indices = frame_indices(count)
        except (RuntimeError, ValueError) as e:  # this video fails, the run goes on
            state.error = str(e)
            return state
        state.acc.update(text=prompt, count=count, indices=indices, frames={})
        return state

    def feed(self, state: VideoState, chunk: Chunk) -> None:
        if not state.check_shape(chunk):
            return
        first = state.n_frames
        state.n_frames += len(chunk.frames)
        acc = state.acc
        if state.submitted:
            return
        for i in set(acc["indices"]) & set(range(first, state.n_frames)):
            acc["frames"][i] = chunk.frames[i - first].copy()
        if len(acc["frames"]) == len(set(acc["indices"])):
            frames = acc.pop("frames")  # the clip holds its own copy; the kept frames are freed
            clip = torch.from_numpy(np.stack([frames[i] for i in acc["indices"]]))[None]
            state.submitted += 1
            self.runner.submit_input(clip, lambda out: self._consume(state, out))

    def _consume(self, state: VideoState, out: torch.Tensor) -> None:
        state.received += 1
        state.acc["feature"] = F.normalize(out[0].double(), dim=-1, p=2)

    def finish(self, state: VideoState) -> dict[str, Any]:
        if state.error is None and state.n_frames >= self.min_frames and not state.submitted:
            missing = min(set(state.acc["indices"]) - set(state.acc.get("frames", {})))
            state.error = (
                f"the container lists {state.acc['count']} frames but only {state.n_frames} were decoded: "
                f"frame {missing} of VBench's 8-frame sample is missing"
            )
        return super().finish(state)

    def result(self, state: VideoState) -> dict[str, Any]:
        score = float(torch.dot(state.acc["feature"], self._texts[state.acc["text"]]))
        return make_record(
            "ok",
            score,
            video_results=score,
            backend=self.backend,
            text=state.acc["text"],
            frame_indices=list(state.acc["indices"]),
        )


def build_dimension(
    name: str,
    device: torch.device,
    batch_size: int,
    cache: str | os.PathLike[str] | None,
    networks: dict[str, nn.Module],
    amp: bool,
    executor: Executor | None,
    verify_weights: bool,
) -> Dimension:
    """``temporal_style`` or ``overall_consistency`` on ViCLIP (``networks["viclip_l14"]`` or the cache).

    The loaded network is put in ``networks`` so that the other ViCLIP dimension of the run reuses it.
    ``batch_size`` bounds the clips in flight (memory only). Missing or bad weights give an
    :class:`~analysis.metrics.dimensions.Unavailable` dimension whose reason names the file.
    """
    if name not in ("temporal_style", "overall_consistency"):
        raise KeyError(name)
    model, unavailable = shared_network(name, BACKEND, networks, lambda: load_viclip(cache, verify_weights))
    if unavailable is not None:
        return unavailable
    runner = FrameRunner(
        ClipEncoder(model).to(device).eval(), viclip_transform, device, executor, amp=amp, max_pending=batch_size
    )
    return ViClipSimilarity(name, runner)
