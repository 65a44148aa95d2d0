"""VBench dimensions as streaming per-video computations over chunks of frames.

Each dimension keeps a small per-video state, receives the video's frames chunk by chunk (uint8 RGB, native
resolution) and, once every frame has been seen and every network output has come back, produces one
record: ``status`` (ok / failed / skipped), ``score`` (0-1, VBench's per-video value), ``video_results`` (the
value VBench writes in its JSON), ``backend`` and whatever the aggregate needs (``sim_sum``, ``n_pairs``).

Formulas (../shared/reference/vbench_constants.md):

* temporal_flickering: (255 - mean_t mean|x_t - x_{t+1}|) / 255 on uint8 frames at native resolution. Computed
  with exact integer sums, so a static clip scores exactly 1.0.
* dynamic_degree: frames sub-sampled every round(fps / 8); flow per consecutive pair; per pair the mean of the
  top 5% magnitudes; dynamic when at least round(4 T / 16) pairs exceed 6 min(H, W) / 256 (T = sampled
  frames, Python's round as in VBench). Score 1.0 / 0.0, aggregate = fraction of dynamic videos.
* subject_consistency / background_consistency: per frame i >= 1,
  s_i = (max(0, cos(f_{i-1}, f_i)) + max(0, cos(f_0, f_i))) / 2 with DINO ViT-B/16 (short side -> 224,
  bilinear) or CLIP ViT-B/32 (short side -> 224 bicubic, centre crop 224) features. Video score = mean s_i;
  aggregate = sum of all s_i / number of pairs.
* aesthetic_quality: LAION linear head on normalised CLIP ViT-L/14 features / 10, mean over frames, then
  mean over videos.
* appearance_style: per frame exp(logit_scale) cos(CLIP ViT-B/32 image, CLIP text of the style) / 100 (VBench's
  ``logits_per_text / 100``), frames resized by Pillow as VBench's ``clip_transform_Image``; mean over frames;
  aggregate = mean over all frames of all videos.

Preprocessing follows VBench exactly: its ``load_video`` returns a float32 tensor of 0-255 levels
(``torch.Tensor(frames)``), and torchvision's tensor ``Resize(224, antialias=False)`` on float input neither
clamps nor rounds (it does both only for uint8 input). So frames are resized as float32 levels, the long side
becoming ``int(224 * long / short)``, then divided by 255 and normalised. Each frame is preprocessed on its own
(see :mod:`.batching`), so its input never depends on the other frames of its chunk.
"""

from __future__ import annotations

import math
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .batching import FrameRunner
from .flow import top5_mean
from .video import VideoItem, VideoMeta

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

UNSUPPORTED = {
    "human_action": "needs the UMT video action classifier, which is not implemented here",
    "object_class": "needs the GRiT dense-caption detector, which is not implemented here",
    "multiple_objects": "needs the GRiT dense-caption detector, which is not implemented here",
    "color": "needs the GRiT dense-caption detector, which is not implemented here",
    "spatial_relationship": "needs the GRiT dense-caption detector, which is not implemented here",
    "scene": "needs the Tag2Text captioner, which is not implemented here",
}


class Chunk:
    """Consecutive frames of one video: (n, H, W, 3) uint8 RGB on the host."""

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames


def resize_short_side(x: torch.Tensor, size: int, mode: str, antialias: bool = False) -> torch.Tensor:
    """torchvision's tensor ``Resize(size, antialias=False)`` on float frames, as VBench calls it.

    Parameters
    ----------
    x : Tensor, shape (n, 3, H, W), float32
        Frames in grey levels 0-255 (not rounded, not clamped: the input is float, as in VBench).
    size : int
        Target short side in pixels; the long side becomes ``int(size * long / short)``.
    mode : {"bilinear", "bicubic"}
        Interpolation (``align_corners=False``).
    antialias : bool, default False
        VBench passes ``antialias=False`` for its DINO and CLIP transforms; its image-to-video transforms keep
        torchvision's default (True).

    Returns
    -------
    Tensor
        Float32 frames in levels; bicubic overshoot below 0 or above 255 is kept, as torchvision keeps it
        for float input.
    """
    h, w = x.shape[-2:]
    if w <= h:
        out = (int(size * h / w), size)
    else:
        out = (size, int(size * w / h))
    if out == (h, w):  # torchvision returns the input untouched
        return x
    return F.interpolate(x, size=out, mode=mode, align_corners=False, antialias=antialias)


def center_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Central size x size crop (offsets rounded as torchvision's CenterCrop)."""
    h, w = x.shape[-2:]
    top, left = int(round((h - size) / 2.0)), int(round((w - size) / 2.0))
    return x[..., top : top + size, left : left + size]


def normalize(x: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Levels 0-255 -> [0, 1] (a division by 255, as VBench's ``x.float().div(255.0)``) -> (x - mean) / std."""
    m = torch.tensor(mean, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(std, device=x.device).view(1, 3, 1, 1)
    return (x / 255.0 - m) / s


def dino_transform(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """VBench's DINO input from float32 levels: short side -> 224 (bilinear, no crop), ImageNet normalisation."""
    return normalize(resize_short_side(frames, size, "bilinear"), IMAGENET_MEAN, IMAGENET_STD)


def clip_transform(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """VBench's CLIP input from float32 levels: short side -> 224 (bicubic), centre crop 224, CLIP normalisation."""
    return normalize(center_crop(resize_short_side(frames, size, "bicubic"), size), CLIP_MEAN, CLIP_STD)


def dino_i2v_transform(frames: torch.Tensor) -> torch.Tensor:
    """VBench++'s i2v DINO input from float32 levels: short side -> 256 (bicubic, torchvision's default
    antialiasing), centre crop 224, ImageNet normalisation."""
    return normalize(
        center_crop(resize_short_side(frames, 256, "bicubic", antialias=True), 224), IMAGENET_MEAN, IMAGENET_STD
    )


def dino_i2v_image(path: str) -> torch.Tensor:
    """VBench++'s i2v DINO input for the conditioning image: Pillow's bicubic resize of the short side to 256
    (Pillow always antialiases), centre crop 224, 0-1 scaling, ImageNet normalisation: (1, 3, 224, 224)."""
    from PIL import Image

    with Image.open(path) as img:
        img = img.convert("RGB")  # VBench passes the file's own mode; RGB is what its DINO can read
        w, h = img.size
        size = (256, int(256 * w / h)) if h <= w else (int(256 * h / w), 256)  # (height, width)
        if size != (h, w):
            img = img.resize((size[1], size[0]), Image.BICUBIC)
        x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)[None].float().div(255.0)
    m = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    s = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (center_crop(x, 224) - m) / s


def clip_image_transform(frames: torch.Tensor, size: int = 224) -> torch.Tensor:
    """VBench's ``clip_transform_Image`` (appearance_style) from float32 levels of uint8 frames: each frame as a
    Pillow image, Pillow's bicubic resize of the short side to 224 (the long side ``int(224 * long / short)``;
    Pillow always antialiases and rounds to uint8), centre crop 224, 0-1 scaling, CLIP normalisation."""
    from PIL import Image

    out = []
    for frame in frames:
        img = Image.fromarray(frame.permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).cpu().numpy())
        w, h = img.size
        target = (size, int(size * w / h)) if h <= w else (int(size * h / w), size)  # (height, width)
        if target != (h, w):
            img = img.resize((target[1], target[0]), Image.BICUBIC)
        out.append(torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float().div(255.0))
    x = center_crop(torch.stack(out).to(frames.device), size)
    m = torch.tensor(CLIP_MEAN, device=x.device).view(1, 3, 1, 1)
    s = torch.tensor(CLIP_STD, device=x.device).view(1, 3, 1, 1)
    return (x - m) / s


@dataclass
class VideoState:
    """Per-video, per-dimension running state."""

    meta: VideoMeta
    n_frames: int = 0
    submitted: int = 0
    received: int = 0
    shape: tuple[int, ...] | None = None
    error: str | None = None
    acc: dict[str, Any] = field(default_factory=dict)

    def check_shape(self, chunk: Chunk) -> bool:
        """Record the frame shape; a change of resolution inside one video is an error for this dimension."""
        shape = chunk.frames.shape[1:]
        if self.shape is None:
            self.shape = shape
        elif shape != self.shape and self.error is None:
            self.error = f"frame size changes inside the video ({self.shape[:2]} -> {shape[:2]})"
        return self.error is None


def make_record(status: str, score: float | None = None, error: str = "", **extra: Any) -> dict[str, Any]:
    """A video's record for one dimension: status (ok / failed / skipped), score (0-1), error, extras."""
    return {"status": status, "score": score, "error": error, **extra}


class Dimension:
    """Base class: a named per-video computation. Subclasses implement ``feed`` and ``result``."""

    name = ""
    backend = ""
    note = ""
    min_frames = 2

    def start(self, meta: VideoMeta, item: VideoItem | None = None) -> VideoState:
        return VideoState(meta)

    def feed(self, state: VideoState, chunk: Chunk) -> None:
        raise NotImplementedError

    def done(self, state: VideoState) -> bool:
        """True once every submitted frame's network output has come back."""
        return state.received >= state.submitted

    def wait(self, state: VideoState) -> None:
        """Block until ``done`` (dimensions whose work runs on workers override this)."""

    def finish(self, state: VideoState) -> dict[str, Any]:
        """The video's record (see module docstring), after all frames were fed and ``done`` holds."""
        if state.error is not None:
            return make_record("failed", error=state.error, backend=self.backend)
        if state.n_frames < self.min_frames:
            return make_record(
                "skipped",
                error=f"too short: {state.n_frames} frame(s), needs >= {self.min_frames}",
                backend=self.backend,
            )
        return self.result(state)

    def result(self, state: VideoState) -> dict[str, Any]:
        raise NotImplementedError


class Unavailable(Dimension):
    """A dimension that cannot run in this session (missing or corrupt weights): every video records why."""

    def __init__(self, name: str, backend: str, reason: str) -> None:
        self.name = name
        self.backend = backend
        self.reason = reason
        self.note = reason

    def feed(self, state: VideoState, chunk: Chunk) -> None:
        state.n_frames += len(chunk.frames)

    def finish(self, state: VideoState) -> dict[str, Any]:
        return make_record("failed", error=self.reason, backend=self.backend)


def shared_network(
    name: str, key: str, networks: dict[str, Any] | None, load: Any
) -> tuple[Any, Unavailable | None]:
    """The network ``key`` for dimension ``name``: ``networks[key]`` when given (tests pass random weights),
    else ``load()``, kept in ``networks`` so the run's other dimensions on it reuse it. Returns (network, None),
    or (None, an :class:`Unavailable` dimension) when its weights are missing, have the wrong checksum or do not
    load; the reason (one line) names the file."""
    from .weights import MissingWeightsError, WeightsChecksumError

    networks = networks if networks is not None else {}
    try:
        if key not in networks:
            networks[key] = load()
        return networks[key], None
    except (MissingWeightsError, WeightsChecksumError, RuntimeError, ValueError) as e:
        return None, Unavailable(name, key, " ".join(str(e).split()))


def abs_diff_sum(a: np.ndarray, b: np.ndarray) -> int:
    """Exact sum of |a - b| over all elements of two same-shape uint8 arrays.

    OpenCV's L1 norm of the difference on a 2-D view: one SIMD pass with integer partial sums (exact far
    beyond any video chunk: 32 4K frames sum to < 2^38), without materialising the difference. About 20x
    faster than widening to int16 in numpy, which matters because flickering should cost little more than
    decoding.
    """
    import cv2

    rows = a.shape[0] * (a.shape[1] if a.ndim == 4 else 1)
    return int(cv2.norm(a.reshape(rows, -1), b.reshape(rows, -1), cv2.NORM_L1))


class TemporalFlickering(Dimension):
    """Mean absolute difference of consecutive uint8 frames; no weights."""

    name = "temporal_flickering"
    backend = "pixels"

    def feed(self, state: VideoState, chunk: Chunk) -> None:
        if not state.check_shape(chunk):
            return
        frames = chunk.frames
        # Integer sums: identical frames give exactly 0, so a static clip scores exactly 1.0.
        total = abs_diff_sum(frames[1:], frames[:-1]) if len(frames) > 1 else 0
        if "last" in state.acc:  # the pair that straddles the chunk border
            total += abs_diff_sum(frames[:1], state.acc["last"][None])
        state.acc["abs_sum"] = state.acc.get("abs_sum", 0) + total
        state.acc["last"] = frames[-1].copy()
        state.n_frames += len(frames)

    def result(self, state: VideoState) -> dict[str, Any]:
        pairs = state.n_frames - 1
        # Every pair has the same size, so the mean of per-pair means is the overall mean.
        mae = state.acc["abs_sum"] / (pairs * math.prod(state.shape))
        score = (255.0 - mae) / 255.0
        return make_record("ok", score, video_results=score, backend=self.backend, n_pairs=pairs)


class PairJobs(Dimension):
    """A dimension whose unit of work is a pair of frames, run on ``executor`` when given (each pass its own,
    single-threaded), at most ``max_pending`` pairs waiting at once; results are collected in submission order."""

    def __init__(self, executor: Executor | None = None, max_pending: int = 16) -> None:
        self.executor = executor
        self.max_pending = max(1, max_pending)

    def submit(self, state: VideoState, fn: Any, *args: Any) -> None:
        """Run ``fn(*args)`` now (no executor) or on the executor, waiting while ``max_pending`` pairs queue."""
        jobs = state.acc.setdefault("jobs", [])
        if self.executor is None:
            jobs.append(fn(*args))
            return
        waiting = [j for j in jobs if isinstance(j, Future) and not j.done()]
        if len(waiting) >= self.max_pending:
            wait(waiting[: len(waiting) - self.max_pending + 1])
        jobs.append(self.executor.submit(fn, *args))

    def done(self, state: VideoState) -> bool:
        return all(j.done() for j in state.acc.get("jobs", []) if isinstance(j, Future))

    def wait(self, state: VideoState) -> None:
        wait([j for j in state.acc.get("jobs", []) if isinstance(j, Future)])

    def collect(self, state: VideoState, key: str) -> None:
        """Move the pair results, in order, to ``state.acc[key]``; a pair that failed fails this video only."""
        try:
            state.acc[key] = [j.result() if isinstance(j, Future) else j for j in state.acc.pop("jobs", [])]
        except Exception as e:
            state.error = state.error or f"{type(e).__name__}: {e}"


def count_rule(n_sampled: int) -> int:
    """VBench's number of moving pairs needed: round(4 T / 16) with Python's round (half to even)."""
    return round(4 * (n_sampled / 16.0))


def threshold(height: int, width: int) -> float:
    """VBench's motion threshold in pixels: 6 * min(H, W) / 256."""
    return 6.0 * (min(height, width) / 256.0)


def is_dynamic(pair_scores: list[float], n_sampled: int, height: int, width: int) -> bool:
    """VBench's rule: dynamic once ``count_rule(T)`` pair scores exceed the threshold (checked per pair)."""
    thres, need, count = threshold(height, width), count_rule(n_sampled), 0
    for s in pair_scores:
        if s > thres:
            count += 1
        if count >= need:
            return True
    return False


def sample_interval(fps: float) -> int:
    """Frame step that brings a clip to about 8 fps: round(fps / 8), at least 1."""
    return max(1, round(fps / 8)) if fps > 0 else 1


class DynamicDegree(PairJobs):
    """Whether a video moves: optical flow on ~8 fps frames, VBench's threshold and count rule."""

    name = "dynamic_degree"

    def __init__(self, flow: Any, note: str = "", executor: Executor | None = None, max_pending: int = 16) -> None:
        super().__init__(executor, max_pending)  # pairs run concurrently; each pair's arithmetic is its own
        self.flow = flow
        self.backend = flow.backend
        self.note = note

    def _pair_score(self, a: np.ndarray, b: np.ndarray) -> float:
        return top5_mean(self.flow.pair(a, b))

    def feed(self, state: VideoState, chunk: Chunk) -> None:
        if not state.check_shape(chunk):
            return
        step = sample_interval(state.meta.fps)
        first = state.n_frames
        state.n_frames += len(chunk.frames)
        idx = [i - first for i in range(first, state.n_frames) if i % step == 0]
        if not idx:
            return
        frames = self.flow.gray(chunk.frames[idx])
        prev = state.acc.get("prev")
        for f in frames:
            if prev is not None:
                self.submit(state, self._pair_score, prev, f.copy())
            prev = f
        state.acc["prev"] = prev.copy()
        state.acc["n_sampled"] = state.acc.get("n_sampled", 0) + len(frames)

    def finish(self, state: VideoState) -> dict[str, Any]:
        self.collect(state, "pair_scores")
        if state.error is None and state.acc.get("n_sampled", 0) < 2:
            n = state.acc.get("n_sampled", 0)
            return make_record(
                "skipped",
                error=f"too short: {n} sampled frame(s) at ~8 fps, needs >= 2",
                backend=self.backend,
            )
        return super().finish(state)

    def result(self, state: VideoState) -> dict[str, Any]:
        h, w = state.shape[:2]
        moving = is_dynamic(state.acc["pair_scores"], state.acc["n_sampled"], h, w)
        return make_record(
            "ok",
            float(moving),
            video_results=bool(moving),
            backend=self.backend,
            n_sampled=state.acc["n_sampled"],
            pair_scores=[float(x) for x in state.acc["pair_scores"]],  # pixels, for audits and parity checks
        )


class NetworkDimension(Dimension):
    """A dimension whose per-frame values come from a network run through a :class:`FrameRunner`."""

    transform = staticmethod(dino_transform)

    def __init__(self, runner: FrameRunner, backend: str) -> None:
        self.runner = runner
        self.backend = backend

    def feed(self, state: VideoState, chunk: Chunk) -> None:
        if not state.check_shape(chunk):
            return
        state.n_frames += len(chunk.frames)
        state.submitted += len(chunk.frames)
        self.runner.submit(chunk.frames, lambda out: self._consume(state, out))

    def _consume(self, state: VideoState, out: torch.Tensor) -> None:
        state.received += out.shape[0]
        if state.error is None:
            self.consume(state, out)

    def consume(self, state: VideoState, out: torch.Tensor) -> None:
        raise NotImplementedError


class _Consistency(NetworkDimension):
    """Shared by subject and background consistency: cosine of each frame to the previous and the first."""

    def consume(self, state: VideoState, out: torch.Tensor) -> None:
        feats = F.normalize(out.double(), dim=-1, p=2)
        acc = state.acc
        for f in feats:
            if "first" not in acc:
                acc["first"], acc["sim_sum"], acc["n_pairs"] = f, 0.0, 0
            else:
                prev_sim = max(0.0, float(torch.dot(acc["prev"], f)))
                first_sim = max(0.0, float(torch.dot(acc["first"], f)))
                acc["sim_sum"] += (prev_sim + first_sim) / 2
                acc["n_pairs"] += 1
            acc["prev"] = f

    def result(self, state: VideoState) -> dict[str, Any]:
        sim_sum, pairs = state.acc["sim_sum"], state.acc["n_pairs"]
        score = sim_sum / pairs
        return make_record("ok", score, video_results=score, backend=self.backend, sim_sum=sim_sum, n_pairs=pairs)


class SubjectConsistency(_Consistency):
    name = "subject_consistency"
    transform = staticmethod(dino_transform)


class BackgroundConsistency(_Consistency):
    name = "background_consistency"
    transform = staticmethod(clip_transform)


class AestheticQuality(NetworkDimension):
    """LAION aesthetic score / 10 averaged over frames; the batcher's model returns one score per frame."""

    name = "aesthetic_quality"
    min_frames = 1
    transform = staticmethod(clip_transform)

    def consume(self, state: VideoState, out: torch.Tensor) -> None:
        state.acc.setdefault("scores", []).extend(out.reshape(-1).double().tolist())

    def result(self, state: VideoState) -> dict[str, Any]:
        scores = state.acc["scores"]
        score = math.fsum(s / 10.0 for s in scores) / len(scores)
        return make_record("ok", score, video_results=score, backend=self.backend, n_frames=len(scores))


class I2VSubject(NetworkDimension):
    """VBench++ i2v_subject: DINO similarity of the frames to the conditioning image and to each other.

    Per video: 0.4 max_i s(image, f_i) + 0.3 mean_i s(f_{i-1}, f_i) + 0.3 min_i s(f_{i-1}, f_i), with
    s = max(0, cosine); aggregate = mean over videos. The image comes from the manifest's ``image`` column or
    ``<video stem>.png`` beside the video; a video without one fails with that reason.
    """

    name = "i2v_subject"
    transform = staticmethod(dino_i2v_transform)
    image_input = staticmethod(dino_i2v_image)  # the conditioning image file -> the network's (1, 3, H, W) input

    def start(self, meta: VideoMeta, item: VideoItem | None = None) -> VideoState:
        state = VideoState(meta)
        image = item.image if item is not None else ""
        if not image:
            state.error = f"no input image: {self.name} needs the manifest's image column or <video stem>.png beside it"
            return state
        try:
            x = self.image_input(image)
        except Exception as e:  # unreadable image: this video fails, the run goes on
            state.error = f"cannot read input image {image}: {type(e).__name__}: {e}"
            return state
        state.submitted += 1
        self.runner.submit_input(x, lambda out: self._consume(state, out))
        return state

    def consume(self, state: VideoState, out: torch.Tensor) -> None:
        feats = F.normalize(out.double(), dim=-1, p=2)
        acc = state.acc
        for f in feats:
            if "image" not in acc:  # the image's output arrives first (submitted first)
                acc["image"], acc["conform"], acc["consec"] = f, [], []
                continue
            acc["conform"].append(max(0.0, float(torch.dot(acc["image"], f))))
            if "prev" in acc:
                acc["consec"].append(max(0.0, float(torch.dot(acc["prev"], f))))
            acc["prev"] = f

    def result(self, state: VideoState) -> dict[str, Any]:
        conform, consec = state.acc["conform"], state.acc["consec"]
        score = 0.4 * max(conform) + 0.3 * (math.fsum(consec) / len(consec)) + 0.3 * min(consec)
        return make_record("ok", score, video_results=score, backend=self.backend)


class AppearanceStyle(NetworkDimension):
    """VBench's appearance_style: CLIP ViT-B/32 similarity of every frame to the video's style text.

    Per frame: exp(logit_scale) * cos(image, text) / 100 (CLIP's logit over 100: the cosine for the released
    weights, whose scale is 100); per video: mean over frames; aggregate: mean over all frames of all videos
    (VBench divides its running sum by the frame count). The text is VBench's style phrase when the prompt
    (the file name's ``<prompt>-<i>`` or the manifest's column) ends with one of VBench's nine styles, else the
    whole prompt (:func:`~analysis.metrics.clip_text.style_text`); it is encoded once per distinct text.
    """

    name = "appearance_style"
    min_frames = 1
    transform = staticmethod(clip_image_transform)

    def __init__(self, runner: FrameRunner, backend: str) -> None:
        super().__init__(runner, backend)
        self._texts: dict[str, torch.Tensor] = {}

    def start(self, meta: VideoMeta, item: VideoItem | None = None) -> VideoState:
        from .clip_text import style_text

        state = VideoState(meta)
        prompt = item.prompt if item is not None else ""
        if not prompt:
            state.error = "no prompt: appearance_style needs the video's prompt (file name <prompt>-<i> or manifest)"
            return state
        text = style_text(prompt)
        try:
            if text not in self._texts:
                self._texts[text] = F.normalize(self.runner.model.text_features(text).double(), dim=-1, p=2)
        except ValueError as e:  # too long for CLIP's context: this video fails, the run goes on
            state.error = str(e)
            return state
        state.acc["text"], state.acc["text_feature"], state.acc["sims"] = text, self._texts[text], []
        state.acc["scale"] = self.runner.model.scale()
        return state

    def consume(self, state: VideoState, out: torch.Tensor) -> None:
        feats = F.normalize(out.double(), dim=-1, p=2)
        scale, text = state.acc["scale"], state.acc["text_feature"]
        state.acc["sims"].extend(scale * float(torch.dot(f, text)) / 100.0 for f in feats)

    def result(self, state: VideoState) -> dict[str, Any]:
        sims = state.acc["sims"]
        sim_sum = math.fsum(sims)
        return make_record(
            "ok",
            sim_sum / len(sims),
            video_results=sim_sum / len(sims),
            backend=self.backend,
            sim_sum=sim_sum,
            n_frames=len(sims),
            text=state.acc["text"],
        )
