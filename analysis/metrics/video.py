"""Which videos to score, and decoding them in bounded chunks of uint8 RGB frames.

Decoding uses PyAV (FFmpeg bundled in its wheels). Frames come out as ``(n, H, W, 3)`` uint8 RGB chunks of at
most ``chunk_frames`` frames, so a long clip never sits whole in memory; every metric here is a streaming
computation over consecutive frames. :class:`Prefetcher` decodes in a background thread (FFmpeg releases the
GIL while it decodes and converts) so that decoding overlaps the metric computation.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".gif")
MANIFEST_NAMES = ("manifest.csv",)


@dataclass(frozen=True)
class VideoItem:
    """One video to score: its path, the model that made it, the prompt (may be empty) and, for
    image-to-video dimensions, the input image (may be empty)."""

    path: str
    model: str
    prompt: str
    image: str = ""


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def sibling_image(video: Path) -> str:
    """The image-to-video input beside a video: ``<stem>.png`` (or .jpg, ...), else ``""``."""
    for ext in IMAGE_EXTENSIONS:
        candidate = video.with_suffix(ext)
        if candidate.is_file():
            return str(candidate)
    return ""


class DecodeError(RuntimeError):
    """A video could not be opened or decoded."""


def _prompt_from_name(path: Path) -> str:
    # VBench names sampled videos "<prompt>-<index>.mp4"; drop the index to recover the prompt.
    return re.sub(r"-\d+$", "", path.stem)


def _video_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def read_manifest(path: str | os.PathLike[str]) -> list[VideoItem]:
    """Videos listed in a CSV with columns ``video`` (path, relative to the manifest's folder), ``model``,
    and optionally ``prompt`` and ``image`` (the image-to-video input, relative to the manifest's folder)."""
    path = Path(path)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"video", "model"} - set(frame.columns)
    if missing:
        raise ValueError(f"manifest {path} lacks column(s) {sorted(missing)}; needs video, model[, prompt]")
    prompts = frame["prompt"] if "prompt" in frame.columns else [""] * len(frame)
    images = frame["image"] if "image" in frame.columns else [""] * len(frame)
    items = []
    for video, model, prompt, image in zip(frame["video"], frame["model"], prompts, images, strict=True):
        full = Path(video) if Path(video).is_absolute() else path.parent / video
        if image:
            image = str(Path(image) if Path(image).is_absolute() else path.parent / image)
        items.append(VideoItem(str(full), model, prompt, image or sibling_image(full)))
    return items


def discover(
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    manifest: str | os.PathLike[str] | None = None,
) -> list[VideoItem]:
    """Resolve the VIDEOS argument to a list of :class:`VideoItem`.

    Parameters
    ----------
    videos : path or sequence of paths
        A folder with one subfolder of videos per model (``root/<model>/<prompt>-<i>.mp4``); a folder of
        videos (model = folder name); a folder holding ``manifest.csv``; a manifest CSV; or a list of files
        (model = parent folder name).
    manifest : path, optional
        A manifest CSV (video, model, prompt) that overrides the layout rules above.

    Returns
    -------
    list of VideoItem
        In a deterministic order (manifest order, else sorted by model then file name).
    """
    if manifest is not None:
        return read_manifest(manifest)
    if isinstance(videos, (str, os.PathLike)):
        root = Path(videos)
        if not root.exists():
            raise ValueError(f"no such file or folder: {root}")
        if root.is_file() and root.suffix.lower() == ".csv":
            return read_manifest(root)
        if root.is_dir():
            for name in MANIFEST_NAMES:
                if (root / name).is_file():
                    return read_manifest(root / name)
            items = [VideoItem(str(p), root.name, _prompt_from_name(p), sibling_image(p)) for p in _video_files(root)]
            for sub in sorted(p for p in root.iterdir() if p.is_dir()):
                items += [
                    VideoItem(str(p), sub.name, _prompt_from_name(p), sibling_image(p)) for p in _video_files(sub)
                ]
            return items
        videos = [root]
    return [
        VideoItem(str(Path(v)), Path(v).parent.name, _prompt_from_name(Path(v)), sibling_image(Path(v))) for v in videos
    ]


@dataclass(frozen=True)
class VideoMeta:
    """What the metrics need to know before frames arrive: frame rate (frames per second) and, when it is known
    before decoding, the frame count (set for VBench-Long's clips, :mod:`.long`; None for a whole video, whose
    count only its container can tell)."""

    fps: float
    frames: int | None = None


def open_video(path: str) -> tuple[VideoMeta, Iterator[np.ndarray]]:
    """Open a video and return its metadata and an iterator of single (H, W, 3) uint8 RGB frames.

    Raises
    ------
    DecodeError
        If the file is missing, empty or not a decodable video.
    """
    import av  # local import: keeps `import analysis.metrics` light

    if not os.path.isfile(path):
        raise DecodeError(f"no such file: {path}")
    if os.path.getsize(path) == 0:
        raise DecodeError(f"empty file: {path}")
    try:
        container = av.open(path)
        stream = container.streams.video[0]
    except (av.error.FFmpegError, IndexError, ValueError) as e:
        raise DecodeError(f"cannot open video {path}: {e}") from None
    stream.thread_type = "AUTO"
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0

    def frames() -> Iterator[np.ndarray]:
        try:
            for frame in container.decode(stream):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as e:
            raise DecodeError(f"decoding {path} failed: {e}") from None
        finally:
            container.close()

    return VideoMeta(fps=fps), frames()


def iter_chunks(path: str, chunk_frames: int = 32) -> tuple[VideoMeta, Iterator[np.ndarray]]:
    """Open ``path`` and return its metadata and an iterator of (n <= chunk_frames, H, W, 3) uint8 chunks.

    A resolution change inside a stream ends the current chunk, so every chunk has one shape.
    """
    meta, frames = open_video(path)

    def chunks() -> Iterator[np.ndarray]:
        buf: list[np.ndarray] = []
        for f in frames:
            if buf and (len(buf) >= chunk_frames or f.shape != buf[0].shape):
                yield np.stack(buf)
                buf = []
            buf.append(f)
        if buf:
            yield np.stack(buf)

    return meta, chunks()


def read_frames(path: str) -> np.ndarray:
    """All frames of a (short) video as one (T, H, W, 3) uint8 array: for tests and small clips only."""
    _, frames = open_video(path)
    return np.stack(list(frames))


# Messages the prefetch thread sends: ("meta", i, VideoMeta) | ("chunk", i, array) | ("error", i, msg)
# | ("end", i, None).
Message = tuple[str, int, object]


class Prefetcher:
    """Decode videos in a background thread, handing chunks over through a bounded queue.

    The queue holds at most ``depth`` chunks, so memory stays bounded whatever the clip lengths. Order is
    preserved: all messages of video i come before those of video i + 1.
    """

    def __init__(self, paths: Sequence[str], chunk_frames: int = 32, depth: int = 4) -> None:
        self._paths = list(paths)
        self._chunk_frames = chunk_frames
        self._queue: queue.Queue[Message] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="video-decode", daemon=True)
        self._thread.start()

    def _put(self, msg: Message) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(msg, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        for i, path in enumerate(self._paths):
            try:
                meta, chunks = iter_chunks(path, self._chunk_frames)
                if not self._put(("meta", i, meta)):
                    return
                for chunk in chunks:
                    if not self._put(("chunk", i, chunk)):
                        return
            except Exception as e:  # any failure of one video is recorded, the run goes on
                if not self._put(("error", i, f"{type(e).__name__}: {e}")):
                    return
            if not self._put(("end", i, None)):
                return

    def __iter__(self) -> Iterator[Message]:
        ended = 0
        while ended < len(self._paths):
            msg = self._queue.get()
            if msg[0] == "end":
                ended += 1
            yield msg

    def close(self) -> None:
        """Stop the decode thread (used when the consumer stops early)."""
        self._stop.set()
        self._thread.join(timeout=5)
