"""VBench-Long's procedure for long videos: split each video into fixed-length clips, score every clip with the
per-video machinery, average the clips' scores per video and the videos' scores per dimension.

Used through ``evaluate(..., long_clips=SECONDS)`` (``--long-clips SECONDS`` on the command line). What
VBench-Long (``vbench2_beta_long`` in VBench 0.1.5: ``utils.py``, ``__init__.py``, the per-dimension
``compute_long_*``) does, and what is followed here:

Followed
    * Fixed-duration splitting (``utils.split_video_into_clips``): a clip is ``int(fps) * SECONDS`` frames
      (``fps`` truncated to an integer, as its ``get_video_properties`` does, so 23.976 fps gives 23-frame
      seconds); clips are consecutive from frame 0; when frames are left over, one more clip of full length
      ends at the last frame, borrowing the frames it lacks from the clip before it (so it overlaps that
      clip); a video shorter than one clip is one clip, the whole video. :func:`clip_ranges` is that rule;
      ``tests/test_metrics_long.py`` checks it against VBench-Long's own function on 144 (frame rate, length,
      duration) cases frozen in ``tests/fixtures/vbench_long/splits.json``.
    * A clip is scored as VBench scores a video (the dimension's own per-video computation), at the frame
      rate VBench-Long writes clips with, ``int(fps)`` (this matters to dynamic degree's ~8 fps sampling).
    * Combination (``utils.reorganize_clips_results``): a video's score is the plain mean of its clips' scores
      (dynamic degree: the fraction of moving clips), and its ``video_results`` the mean of theirs (imaging
      quality's stay on 0-100, as VBench-Long writes them); a dimension's aggregate is the plain mean over videos -
      for every dimension, including subject and background consistency (whose short-video aggregate is
      pair-weighted) and appearance style (frame-weighted). Means use :func:`math.fsum` (VBench sums in
      directory-listing order, which is not defined).
    * Clip durations: VBench-Long's mode for custom videos (``long_custom_input``) uses 2 s for every
      dimension, hence ``long_clips=2`` for arena videos. Its standard-prompt mode reads per-dimension
      durations from ``configs/clip_length_mix.yaml`` (:data:`VBENCH_LONG_CLIP_SECONDS`: 2 s, 10 s for
      human_action, temporal_style and overall_consistency); ``long_clips="mix"`` applies those per dimension.
      (VBench splits a standard-suite video once, at the longest duration among the dimensions its prompt
      belongs to; per dimension here.) Durations are whole seconds, as VBench's ``int(duration)``.
    * Which dimensions: VBench-Long has a ``compute_long_*`` for each of VBench's 16, all combined as above
      (its README lists subject/background consistency, motion smoothness, dynamic degree, aesthetic and
      imaging quality for custom videos); any dimension here can be clip-scored, the image-to-video ones too
      (VBench-Long has none; each clip is then compared with the video's input image).
    * Clips are grouped by the video they came from. (VBench-Long groups clip files by the file name up to the
      first ``_``, which merges the videos of prompts that contain one; that is not reproduced.)

Left out
    * Scene-cut splitting (``--use_semantic_splitting``, off by default): PySceneDetect's ``ContentDetector``
      (threshold 35) first cuts the video into scenes, which are then split as above. It needs PySceneDetect,
      which is not a dependency here.
    * The slow-fast consistency fusion (``--dev_flag``): a clip-to-clip score of the clips' first frames from
      DINOv2 (subject) or DreamSim (background), mapped through VBench-Long's quantile tables and mixed 0.5 /
      0.5 with the in-clip score. Without ``--dev_flag`` (eval_long.py's default) the weights are 1 / 0, i.e.
      the in-clip score alone, which is what is computed here; the fast branch is not implemented.
    * The static filter for temporal flickering (``--static_filter_flag``): RAFT on every frame pair of each
      clip (plus first-last pairs both ways), a clip counted static when few pairs move more than
      3 min(H, W) / 256 px (top-2% flow); only clips of prompts in VBench's own temporal-flickering prompt
      list are kept, at most 5 per prompt. Arena prompts are not in that list, so for them the filter keeps
      nothing; every clip is scored here (VBench-Long without the flag).
    * Re-encoding: VBench-Long writes every clip to an H.264 file (torchvision ``write_video``, libx264 at
      its defaults) and scores the re-decoded file; here a clip's frames are scored exactly as decoded from
      the original video, without a second lossy generation. Clip scores therefore differ from VBench-Long's
      by that codec noise (most visibly temporal flickering), not by procedure.

Memory is bounded by one clip, never the video: frames arrive in decoded chunks (:mod:`.video`); this module
keeps at most the last clip's worth of frames (the only frames a final, overlapping clip can need) plus the
chunk that straddles its start, and feeds a clip to the dimension once all its frames are in. Each clip's
record is closed as soon as its network outputs are back. Per-clip records (frame range and the dimension's
own record) are kept in the video's record under ``clips``. A clip's :class:`~.video.VideoMeta` carries its
frame count (``frames``), for dimensions that must know it before decoding (a whole video's comes from its
container).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from .dimensions import Chunk, Dimension, Unavailable, VideoState, make_record
from .video import VideoItem, VideoMeta

# VBench-Long's configs/clip_length_mix.yaml (seconds per clip, standard-prompt mode).
VBENCH_LONG_CLIP_SECONDS: dict[str, int] = {
    "subject_consistency": 2,
    "background_consistency": 2,
    "motion_smoothness": 2,
    "temporal_flickering": 2,
    "dynamic_degree": 2,
    "imaging_quality": 2,
    "aesthetic_quality": 2,
    "object_class": 2,
    "multiple_objects": 2,
    "human_action": 10,
    "color": 2,
    "spatial_relationship": 2,
    "scene": 2,
    "appearance_style": 2,
    "temporal_style": 10,
    "overall_consistency": 10,
}
# VBench-Long's long_custom_input mode: 2 s for every dimension.
DEFAULT_CLIP_SECONDS = 2


def clip_frames(fps: float, seconds: int) -> int:
    """Frames per clip: ``int(fps) * seconds`` (VBench-Long truncates the frame rate to an integer)."""
    return int(fps) * int(seconds)


def clip_ranges(n_frames: int, fps: float, seconds: int) -> list[tuple[int, int]]:
    """VBench-Long's clips of a video, as [start, end) frame ranges.

    Parameters
    ----------
    n_frames : int
        Frames in the video.
    fps : float
        Its frame rate (frames per second); truncated to an integer, as VBench-Long does.
    seconds : int
        Clip duration in whole seconds.

    Returns
    -------
    list of (int, int)
        Consecutive clips of ``int(fps) * seconds`` frames from frame 0; if frames are left over, one more
        clip of that length ending at the last frame (it overlaps the one before); a shorter video is one
        clip. Empty for an empty video.

    Raises
    ------
    ValueError
        If a clip would hold no frame (frame rate below 1 or no seconds).
    """
    size = clip_frames(fps, seconds)
    if size < 1:
        raise ValueError(f"clips of {seconds} s at {fps:g} fps hold no frame (VBench-Long uses int(fps) * seconds)")
    if n_frames < size:
        return [(0, n_frames)] if n_frames > 0 else []
    full, rest = divmod(n_frames, size)
    ranges = [(i * size, (i + 1) * size) for i in range(full)]
    if rest:
        ranges.append((n_frames - size, n_frames))
    return ranges


def resolve_long_clips(spec: int | str | Mapping[str, int] | None, names: Sequence[str]) -> dict[str, int]:
    """Clip seconds per dimension from ``evaluate``'s ``long_clips``; empty when clips are off.

    ``spec``: None (off), a whole number of seconds for every dimension, ``"mix"`` (VBench-Long's
    per-dimension durations, :data:`VBENCH_LONG_CLIP_SECONDS`, 2 s for a dimension it does not list), or a
    mapping dimension -> seconds (dimensions not in it run without clips).
    """
    if spec is None:
        return {}
    if isinstance(spec, str):
        text = spec.strip()
        if text == "mix":
            return {n: VBENCH_LONG_CLIP_SECONDS.get(n, DEFAULT_CLIP_SECONDS) for n in names}
        try:
            spec = float(text)
        except ValueError:
            raise ValueError(f"long_clips must be whole seconds or 'mix', not {text!r}") from None
    if isinstance(spec, Mapping):
        return {n: _seconds(spec[n]) for n in names if n in spec}
    return {n: _seconds(spec) for n in names}


def _seconds(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise ValueError(
            f"long_clips must be a whole number of seconds >= 1 (VBench-Long's int(duration)), not {value!r}"
        )
    return int(value)


def wrap(dims: dict[str, Dimension], seconds: Mapping[str, int]) -> dict[str, Dimension]:
    """The dimensions with those in ``seconds`` scored clip by clip (unavailable ones stay as they are)."""
    return {
        n: LongClips(d, seconds[n]) if n in seconds and not isinstance(d, Unavailable) else d for n, d in dims.items()
    }


def aggregate(records: Sequence[Mapping[str, Any]]) -> float | None:
    """VBench-Long's dimension score: the plain mean of the ok videos' scores (each a mean over its clips)."""
    ok = [float(r["score"]) for r in records if r.get("status") == "ok"]
    return math.fsum(ok) / len(ok) if ok else None


class LongClips(Dimension):
    """A dimension scored clip by clip, VBench-Long's way (see the module docstring).

    Parameters
    ----------
    inner : Dimension
        The per-video computation; each clip gets a state of its own, with the clip's frame rate ``int(fps)``.
    seconds : int
        Clip duration in whole seconds.
    """

    def __init__(self, inner: Dimension, seconds: int) -> None:
        self.inner = inner
        self.seconds = _seconds(seconds)
        self.name = inner.name
        self.backend = inner.backend
        self.note = "; ".join(
            x for x in (inner.note, f"VBench-Long: {self.seconds} s clips, mean over clips, mean over videos") if x
        )
        self.runner = getattr(inner, "runner", None)  # the run loop polls and flushes network runners

    def start(self, meta: VideoMeta, item: VideoItem | None = None) -> VideoState:
        state = VideoState(meta)
        size = clip_frames(meta.fps, self.seconds)
        state.acc.update(item=item, size=size, ring=deque(), next_start=0, open=[], clips=[])
        if size < 1:
            state.error = (
                f"frame rate {meta.fps:g} fps gives no frame per {self.seconds} s clip "
                "(VBench-Long splits at int(fps) * seconds frames)"
            )
        return state

    # The ring holds (first frame index, frames) for the last ``size`` frames, as views of decoded chunks.
    def feed(self, state: VideoState, chunk: Chunk) -> None:
        if not state.check_shape(chunk):
            return
        acc = state.acc
        acc["ring"].append((state.n_frames, chunk.frames))
        state.n_frames += len(chunk.frames)
        while state.n_frames - acc["next_start"] >= acc["size"]:
            self._run_clip(state, acc["next_start"], acc["next_start"] + acc["size"])
            acc["next_start"] += acc["size"]
        self._trim(state, state.n_frames - acc["size"])
        self._close_done(state)

    def end_video(self, state: VideoState) -> None:
        """After the last chunk: the final clip (overlapping the one before, or the whole of a short video)."""
        n, size = state.n_frames, state.acc["size"]
        if 0 < n < size:
            self._run_clip(state, 0, n)
        elif n >= size and n % size:
            self._run_clip(state, n - size, n)
        self._trim(state, n)
        self._close_done(state)

    def _trim(self, state: VideoState, keep_from: int) -> None:
        ring = state.acc["ring"]
        while ring and ring[0][0] + len(ring[0][1]) <= keep_from:
            ring.popleft()

    def _run_clip(self, state: VideoState, start: int, end: int) -> None:
        clip_state = self.inner.start(VideoMeta(float(int(state.meta.fps)), end - start), state.acc["item"])
        for first, frames in state.acc["ring"]:
            lo, hi = max(start, first), min(end, first + len(frames))
            if lo < hi and clip_state.error is None:
                self.inner.feed(clip_state, Chunk(frames[lo - first : hi - first]))
        if clip_state.error is None and clip_state.n_frames == 0:
            clip_state.error = "no frames decoded"
        state.acc["open"].append((start, end, clip_state))

    def _close_done(self, state: VideoState) -> None:
        # Close clips in order as their outputs come back, so that finished clips hold no frame or feature.
        open_ = state.acc["open"]
        while open_ and self.inner.done(open_[0][2]):
            start, end, clip_state = open_.pop(0)
            record = self.inner.finish(clip_state)
            state.acc["clips"].append({"start": start, "end": end, **record})

    def done(self, state: VideoState) -> bool:
        self._close_done(state)
        return not state.acc["open"]

    def wait(self, state: VideoState) -> None:
        for _, _, clip_state in state.acc["open"]:
            self.inner.wait(clip_state)

    def finish(self, state: VideoState) -> dict[str, Any]:
        self.wait(state)
        self._close_done(state)
        acc = state.acc
        acc["ring"].clear()
        extra = {"long_clips": self.seconds, "clip_frames": acc["size"], "clips": acc["clips"]}
        if state.error is not None:
            return make_record("failed", error=state.error, backend=self.backend, **extra)
        failed = [c for c in acc["clips"] if c["status"] == "failed"]
        if failed:
            c = failed[0]
            reason = f"clip of frames {c['start']}-{c['end'] - 1}: {c['error']}"
            return make_record("failed", error=reason, backend=self.backend, **extra)
        ok = [c for c in acc["clips"] if c["status"] == "ok"]
        if not ok:
            reason = acc["clips"][0]["error"] if acc["clips"] else "no frames decoded"
            return make_record("skipped", error=reason, backend=self.backend, **extra)
        score = math.fsum(float(c["score"]) for c in ok) / len(ok)
        # VBench-Long averages the clips' ``video_results``: the score itself for most dimensions, the fraction of
        # moving clips for dynamic degree (booleans), 0-100 levels for imaging quality (whose score is / 100).
        values = [c.get("video_results") for c in ok]
        if all(isinstance(v, (int, float)) for v in values):  # booleans included
            video_results = math.fsum(float(v) for v in values) / len(values)
        else:  # a dimension whose video_results is not a number: the mean score stands for it
            video_results = score
        return make_record("ok", score, video_results=video_results, backend=self.backend, n_clips=len(ok), **extra)
