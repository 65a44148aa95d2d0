"""``evaluate``: score videos on VBench dimensions, batched across videos, resumable, sharded with torchrun.

Flow: discover videos -> (resume: drop what the journal already has) -> this rank's shard -> decode in a
background thread, chunk by chunk -> every dimension consumes each chunk (network dimensions hand frames to
one :class:`FrameRunner` per backbone, which runs them one frame per pass on a shared thread pool) -> a video
whose dimensions have all finished is journaled -> ranks' records are gathered on rank 0 -> aggregates, JSON
and CSV written atomically. With ``long_clips`` every dimension is wrapped by :class:`.long.LongClips`, which cuts
the same chunk stream into VBench-Long's clips and scores each clip as a video.

Why results do not depend on batch size, threads, interruption or sharding: a frame's network pass sees only
that frame, single-threaded (see :mod:`.batching`), so per-video records depend only on the video; per-video
reductions run in frame order in float64; the journal keeps records at full precision; and aggregates use
exactly rounded sums (:func:`math.fsum`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..devices import resolve_device
from ..io import write_text
from . import backbones, clip_text, io, long
from .batching import BatchError, FrameRunner, single_threaded_ops
from .dimensions import (
    UNSUPPORTED,
    AestheticQuality,
    AppearanceStyle,
    BackgroundConsistency,
    Chunk,
    Dimension,
    DynamicDegree,
    I2VSubject,
    SubjectConsistency,
    TemporalFlickering,
    Unavailable,
    VideoState,
    shared_network,
)
from .flow import make_flow
from .vbench import aggregate_dimension
from .video import VIDEO_EXTENSIONS, Prefetcher, VideoItem, VideoMeta, discover
from .weights import load_state_dict, require, weight_path

SUPPORTED = (
    "subject_consistency",
    "background_consistency",
    "temporal_flickering",
    "dynamic_degree",
    "aesthetic_quality",
    "i2v_subject",
    "appearance_style",
)
# Dimensions whose network and per-video computation live in a module of their own: name -> "module:function"
# in this package. The function, called as ``fn(name, device, batch_size, cache, networks, amp, executor,
# verify_weights)``, returns the :class:`Dimension` (an :class:`Unavailable` one when weights are missing or bad).
MODULE_DIMENSIONS: dict[str, str] = {
    "temporal_style": "viclip:build_dimension",
    "overall_consistency": "viclip:build_dimension",
    "motion_smoothness": "amt:build_dimension",
    "i2v_background": "dreamsim:build_dimension",
    "imaging_quality": "musiq:build_dimension",
}
SUPPORTED = SUPPORTED + tuple(MODULE_DIMENSIONS)
DIMENSIONS = SUPPORTED + tuple(UNSUPPORTED)
COLUMNS = ["video", "model", "prompt", "dimension", "score", "status", "error", "backend"]
NETWORK_BACKENDS = {
    "subject_consistency": "dino_vitb16",
    "background_consistency": "clip_vitb32",
    "aesthetic_quality": "clip_vitl14+laion_aesthetic",
    "i2v_subject": "dino_vitb16",
    "appearance_style": "clip_vitb32+text",
}


def load_network(key: str, cache: str | os.PathLike[str] | None = None, verify: bool = True) -> nn.Module:
    """A backbone from the local weight cache.

    Keys: ``dino_vitb16``, ``clip_vitb32``, ``clip_vitl14+laion_aesthetic`` (CLIP ViT-L/14 + LAION head),
    ``clip_vitb32+text`` (CLIP ViT-B/32's image and text towers from the same file, with the tokenizer of
    OpenAI's vocabulary file ``bpe_simple_vocab_16e6.txt.gz``).

    Raises
    ------
    MissingWeightsError, WeightsChecksumError
        A file is absent, or (``verify``) its SHA-256 differs from the published one.
    """
    if key == "dino_vitb16":
        return backbones.dino_from_state_dict(load_state_dict(require("dino_vitb16", cache, verify)))
    if key == "clip_vitb32":
        return backbones.clip_visual_from_state_dict(load_state_dict(require("clip_vitb32", cache, verify)))
    if key == "clip_vitl14+laion_aesthetic":
        head_path = require("laion_aesthetic_l14", cache, verify)  # check both files before the slow load
        visual = backbones.clip_visual_from_state_dict(load_state_dict(require("clip_vitl14", cache, verify)))
        head = backbones.aesthetic_head_from_state_dict(load_state_dict(head_path))
        return backbones.ClipAesthetic(visual, head).eval()
    if key == "clip_vitb32+text":
        vocabulary = require("clip_bpe_vocab", cache, verify)  # check both files before the slow load
        return clip_text.clip_style_from_state_dict(load_state_dict(require("clip_vitb32", cache, verify)), vocabulary)
    raise KeyError(key)


def build_dimensions(
    names: Sequence[str],
    device: torch.device,
    batch_size: int,
    cache: str | os.PathLike[str] | None = None,
    networks: dict[str, nn.Module] | None = None,
    amp: bool = False,
    executor: Executor | None = None,
    verify_weights: bool = True,
) -> dict[str, Dimension]:
    """Instantiate the supported dimensions among ``names``, loading their networks once.

    ``networks`` may supply modules by backend key (see :data:`NETWORK_BACKENDS`), e.g. random-weight models
    in tests; anything not supplied is loaded from the cache. ``batch_size`` is the number of frames in
    flight per network (memory only: it never enters a score); ``executor`` runs the per-frame passes.
    A dimension whose checkpoint is missing, unreadable or has the wrong checksum becomes an
    :class:`Unavailable` dimension: every video records the one-line reason, the other dimensions still run.
    """
    networks = dict(networks or {})
    dims: dict[str, Dimension] = {}
    for name in names:
        if name == "temporal_flickering":
            dims[name] = TemporalFlickering()
        elif name == "dynamic_degree":
            raft = weight_path("raft_things", cache)
            flow, note = make_flow(str(raft) if raft.is_file() else None, device)
            dims[name] = DynamicDegree(flow, note, executor, batch_size)
        elif name in MODULE_DIMENSIONS:
            import importlib

            module, function = MODULE_DIMENSIONS[name].split(":")
            build = getattr(importlib.import_module(f".{module}", __package__), function)
            dims[name] = build(name, device, batch_size, cache, networks, amp, executor, verify_weights)
        elif name in NETWORK_BACKENDS:
            key = NETWORK_BACKENDS[name]
            model, unavailable = shared_network(
                name, key, networks, lambda key=key: load_network(key, cache, verify_weights)
            )
            if unavailable is not None:
                dims[name] = unavailable
                continue
            cls = {
                "subject_consistency": SubjectConsistency,
                "background_consistency": BackgroundConsistency,
                "aesthetic_quality": AestheticQuality,
                "i2v_subject": I2VSubject,
                "appearance_style": AppearanceStyle,
            }[name]
            runner = FrameRunner(
                model.to(device).eval(), cls.transform, device, executor, amp=amp, max_pending=batch_size
            )
            dims[name] = cls(runner, key)
    return dims


def _dist() -> tuple[int, int]:
    # (rank, world size) of an initialised process group, else (0, 1).
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _maybe_init_dist(device: torch.device) -> bool:
    """Join the torchrun process group when launched with WORLD_SIZE > 1; True if we created it."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or torch.distributed.is_initialized():
        return False
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.distributed.init_process_group(backend=backend)
    return True


def _barrier() -> None:
    if _dist()[1] > 1:
        torch.distributed.barrier()


class _Run:
    """The per-rank processing loop: decode, feed dimensions, finish and journal videos."""

    def __init__(
        self,
        dims: dict[str, Dimension],
        device: torch.device,
        journal: Path | None,
        on_video_done: Callable[[str], None] | None,
        bar: Any,
    ) -> None:
        self.dims = dims
        self.device = device
        self.journal = journal
        self.on_video_done = on_video_done
        self.bar = bar
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.open: dict[int, tuple[VideoItem, dict[str, VideoState], bool]] = {}

    def run(self, work: list[tuple[VideoItem, list[str]]], chunk_frames: int) -> None:
        prefetch = Prefetcher([item.path for item, _ in work], chunk_frames)
        runners = [r for r in (getattr(d, "runner", None) for d in self.dims.values()) if r is not None]
        try:
            for kind, i, payload in prefetch:
                self._handle(work, kind, i, payload)
                for r in runners:
                    r.poll()
                self._finish_ready()
            for r in runners:
                r.flush()
            for _, states, _ in self.open.values():
                for name, state in states.items():
                    self.dims[name].wait(state)
        except BaseException:
            for r in runners:
                r.cancel()
            raise
        finally:
            prefetch.close()
        self._finish_ready()
        if self.open:
            raise RuntimeError(f"{len(self.open)} video(s) never completed")

    def _handle(self, work: list[tuple[VideoItem, list[str]]], kind: str, i: int, payload: Any) -> None:
        item, names = work[i]
        if kind == "meta":
            self.open[i] = (item, {n: self.dims[n].start(payload, item) for n in names}, False)
            return
        if i not in self.open:  # failed before metadata: give every dimension a blank state
            self.open[i] = (item, {n: self.dims[n].start(VideoMeta(0.0), item) for n in names}, False)
        _, states, _ = self.open[i]
        if kind == "chunk":
            chunk = Chunk(payload)
            for name, state in states.items():
                if state.error is None:
                    try:
                        self.dims[name].feed(state, chunk)
                    except BatchError:
                        raise
                    except Exception as e:  # one bad video must not stop the run
                        state.error = f"{type(e).__name__}: {e}"
        elif kind == "error":
            for state in states.values():
                state.error = state.error or str(payload)
        elif kind == "end":
            for name, state in states.items():
                if state.error is None and state.n_frames == 0:
                    state.error = "no frames decoded"
                end_video = getattr(self.dims[name], "end_video", None)  # e.g. VBench-Long's final clip
                if end_video is not None and state.error is None:
                    try:
                        end_video(state)
                    except BatchError:
                        raise
                    except Exception as e:  # one bad video must not stop the run
                        state.error = f"{type(e).__name__}: {e}"
            self.open[i] = (item, states, True)

    def _finish_ready(self) -> None:
        for i in list(self.open):
            item, states, ended = self.open[i]
            if not ended or not all(self.dims[n].done(s) for n, s in states.items()):
                continue
            results = {n: _named(self.dims[n].finish(s), item.path) for n, s in states.items()}
            del self.open[i]
            self.records[item.path] = results
            if self.journal is not None:
                io.append_journal(self.journal, {"video": item.path, "results": results})
            if self.bar is not None:
                self.bar.update(1)
            if self.on_video_done is not None:
                self.on_video_done(item.path)


def _named(record: dict[str, Any], path: str) -> dict[str, Any]:
    # Every reason is one line that names the file, so a log line or a CSV cell stands on its own.
    error = " ".join(str(record.get("error") or "").split())
    if error and path not in error:
        error = f"{path}: {error}"
    return {**record, "error": error}


def _gather(records: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    # All ranks' records on every rank (small: a few numbers per video and dimension).
    rank, world = _dist()
    if world == 1:
        return records
    parts: list[Any] = [None] * world
    torch.distributed.all_gather_object(parts, records)
    merged: dict[str, dict[str, dict[str, Any]]] = {}
    for part in parts:
        for video, res in part.items():
            merged.setdefault(video, {}).update(res)
    return merged


def _frame(
    items: list[VideoItem],
    names: Sequence[str],
    records: dict[str, dict[str, dict[str, Any]]],
    backends: dict[str, str],
) -> pd.DataFrame:
    rows = []
    for item in items:
        for name in names:
            if name in UNSUPPORTED:
                rec = {"status": "unsupported", "score": None, "error": UNSUPPORTED[name], "backend": ""}
            else:
                rec = records.get(item.path, {}).get(name)
                if rec is None:
                    rec = {
                        "status": "missing",
                        "score": None,
                        "error": "no result",
                        "backend": backends[name],
                    }
            rows.append(
                {
                    "video": item.path,
                    "model": item.model,
                    "prompt": item.prompt,
                    "dimension": name,
                    "score": rec.get("score"),
                    "status": rec["status"],
                    "error": rec.get("error", ""),
                    "backend": rec.get("backend", backends.get(name, "")),
                }
            )
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["score"] = frame["score"].astype("float64")
    return frame


def _aggregate(name: str, recs: list[dict[str, Any]], dims: dict[str, Dimension]) -> float | None:
    # VBench-Long averages videos' clip means for every dimension; otherwise VBench's own weighting.
    if isinstance(dims.get(name), long.LongClips):
        return long.aggregate(recs)
    return aggregate_dimension(name, recs)


def _clip_results(record: dict[str, Any]) -> dict[str, Any]:
    # VBench-Long's per-clip values beside the video's mean, in clip order.
    if "clips" not in record:
        return {}
    clips = [{"start": c["start"], "end": c["end"], "video_results": c.get("video_results")} for c in record["clips"]]
    return {"clip_results": clips}


def write_outputs(
    out: str | os.PathLike[str],
    items: list[VideoItem],
    names: Sequence[str],
    records: dict[str, dict[str, dict[str, Any]]],
    dims: dict[str, Dimension],
) -> pd.DataFrame:
    """Write ``scores.csv``, ``<dim>_eval_results.json`` and ``summary.json`` atomically; return scores."""
    out = Path(out)
    backends = {n: d.backend for n, d in dims.items()}
    frame = _frame(items, names, records, backends)
    summary = {}
    for name in names:
        if name in UNSUPPORTED:
            summary[name] = {"status": "unsupported", "reason": UNSUPPORTED[name]}
            continue
        recs = [records[i.path][name] for i in items if name in records.get(i.path, {})]
        agg = _aggregate(name, recs, dims)
        per_video = [
            {
                "video_path": i.path,
                "video_results": records[i.path][name]["video_results"],
                "backend": records[i.path][name]["backend"],
                **_clip_results(records[i.path][name]),
            }
            for i in items
            if records.get(i.path, {}).get(name, {}).get("status") == "ok"
        ]
        write_text(out / f"{name}_eval_results.json", json.dumps({name: [agg, per_video]}, indent=2))
        counts = pd.Series([r["status"] for r in recs]).value_counts().to_dict() if recs else {}
        summary[name] = {
            "aggregate": agg,
            "backend": dims[name].backend,
            "note": dims[name].note,
            "videos": {str(k): int(v) for k, v in counts.items()},
        }
    write_text(out / "summary.json", json.dumps(summary, indent=2))
    write_text(out / "scores.csv", frame.to_csv(index=False))
    return frame


def evaluate(
    videos: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    dimensions: Sequence[str] | str = SUPPORTED,
    out: str | os.PathLike[str] | None = None,
    *,
    device: str | torch.device = "auto",
    batch_size: int = 16,
    resume: bool = False,
    manifest: str | os.PathLike[str] | None = None,
    chunk_frames: int = 32,
    cache_dir: str | os.PathLike[str] | None = None,
    amp: bool = False,
    progress: bool = True,
    networks: dict[str, nn.Module] | None = None,
    on_video_done: Callable[[str], None] | None = None,
    verify_weights: bool = True,
    long_clips: int | str | Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Score videos on VBench dimensions.

    Parameters
    ----------
    videos : path or sequence of paths
        A folder (one subfolder per model, or holding ``manifest.csv``), a manifest CSV, or video files; see
        :func:`analysis.metrics.video.discover`.
    dimensions : sequence of str or comma-separated str
        Among :data:`DIMENSIONS`; those in :data:`UNSUPPORTED` are reported as unsupported with the reason.
    out : path, optional
        Output folder for ``scores.csv``, ``<dim>_eval_results.json``, ``summary.json`` and the resume
        journal. Without it nothing is written and ``resume`` is unavailable.
    device : {"auto", "cpu", "cuda", ...}
        Compute device; ``auto`` picks this rank's GPU when there is one.
    batch_size : int
        Frames in flight per network (memory bound only). Each frame runs through its network alone, so
        neither this nor the thread count, the resume point or the number of ranks enters any score.
    resume : bool
        Skip the videos the journal in ``out`` already holds (their recorded results are kept); failed
        videos are tried again.
    manifest : path, optional
        CSV with columns video, model[, prompt] overriding the folder layout.
    chunk_frames : int
        Frames decoded and moved to the device at a time; bounds memory for long videos.
    cache_dir : path, optional
        Weight cache; default ``$VBENCH_CACHE_DIR`` or ``~/.cache/vbench``.
    amp : bool
        Autocast network passes to float16 on CUDA.
    progress : bool
        Show a progress bar over videos (rank 0 only).
    networks : dict, optional
        Backbones by key (``dino_vitb16``, ``clip_vitb32``, ``clip_vitl14+laion_aesthetic``) instead of
        loading them from the cache.
    on_video_done : callable, optional
        Called with each video's path once its results are journaled (a test hook for interruptions).
    verify_weights : bool, default True
        Check each checkpoint's SHA-256 where a published one is known (memoised per process). A missing or
        wrong file makes its dimension ``failed`` for every video, with the reason; the others still run.
    long_clips : int, "mix" or dict, optional
        VBench-Long's procedure (:mod:`analysis.metrics.long`): split each video into clips of this many whole
        seconds (``int(fps) * seconds`` frames; leftover frames make one more, overlapping, clip ending at the
        last frame), score every clip as a video, and take the mean over clips per video and the mean over
        videos per dimension. VBench-Long uses 2 for custom videos; ``"mix"`` takes its per-dimension
        durations; a dict gives seconds per dimension. Each video's record keeps its clips' records under
        ``clips``; memory stays bounded by one clip. Default None: whole videos, as VBench.

    Returns
    -------
    DataFrame
        One row per video and dimension: video, model, prompt, dimension, score (0-1, VBench's
        per-video value; dynamic degree 1.0 / 0.0), status (ok / failed / skipped / unsupported), error,
        backend. ``attrs["aggregates"]`` holds each dimension's VBench aggregate, ``attrs["notes"]`` the
        backend notes (e.g. why dynamic degree runs on Farneback flow), ``attrs["records"]`` every video's
        full records (with ``long_clips``, the per-clip records under ``clips``), ``attrs["long_clips"]``
        the clip seconds per dimension (empty without).

    Notes
    -----
    Under ``torchrun`` (WORLD_SIZE > 1) each rank scores every WORLD_SIZE-th remaining video and rank 0
    writes the merged outputs; every rank returns the merged frame.
    """
    names = [d.strip() for d in dimensions.split(",")] if isinstance(dimensions, str) else list(dimensions)
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown:
        raise ValueError(f"unknown dimension(s) {unknown}; known: {', '.join(DIMENSIONS)}")
    if resume and out is None:
        raise ValueError("resume needs an output folder")
    long_seconds = long.resolve_long_clips(long_clips, [n for n in names if n not in UNSUPPORTED])
    dev = resolve_device(device)
    created = _maybe_init_dist(dev)
    try:
        return _evaluate(
            videos,
            names,
            out,
            dev,
            batch_size,
            resume,
            manifest,
            chunk_frames,
            cache_dir,
            amp,
            progress,
            networks,
            on_video_done,
            verify_weights,
            long_seconds,
        )
    finally:
        if created:
            torch.distributed.destroy_process_group()


def _evaluate(
    videos: Any,
    names: list[str],
    out: Any,
    dev: torch.device,
    batch_size: int,
    resume: bool,
    manifest: Any,
    chunk_frames: int,
    cache_dir: Any,
    amp: bool,
    progress: bool,
    networks: dict[str, nn.Module] | None,
    on_video_done: Callable[[str], None] | None,
    verify_weights: bool,
    long_seconds: dict[str, int],
) -> pd.DataFrame:
    items = discover(videos, manifest)
    if not items:
        raise ValueError(
            f"no videos found in {videos} (looked for {', '.join(VIDEO_EXTENSIONS)} files, "
            "model subfolders or manifest.csv)"
        )
    paths = [i.path for i in items]
    if len(set(paths)) != len(paths):
        raise ValueError("the same video is listed twice")
    supported = [n for n in names if n not in UNSUPPORTED]
    lock = None
    if out is not None and _dist()[0] == 0:  # one lock per run, taken before any model loads; rank 0 holds it
        Path(out).mkdir(parents=True, exist_ok=True)
        lock = io.acquire_lock(out)
    try:
        # CPU: frames run concurrently, one single-threaded pass each, on as many workers as torch had threads.
        # CUDA: one pass after another on the device (kernels queue on one stream anyway).
        on_cpu = dev.type == "cpu"
        workers = max(1, torch.get_num_threads()) if on_cpu else 1
        with (
            ThreadPoolExecutor(workers, thread_name_prefix="metrics-net") as pool,
            single_threaded_ops(on_cpu),
        ):
            dims = build_dimensions(
                supported, dev, batch_size, cache_dir, networks, amp, pool if on_cpu else None, verify_weights
            )
            dims = long.wrap(dims, long_seconds)
            return _score(items, names, supported, dims, out, dev, resume, chunk_frames, progress, on_video_done)
    finally:
        if lock is not None:
            io.release_lock(lock)


def _score(
    items: list[VideoItem],
    names: list[str],
    supported: list[str],
    dims: dict[str, Dimension],
    out: Any,
    dev: torch.device,
    resume: bool,
    chunk_frames: int,
    progress: bool,
    on_video_done: Callable[[str], None] | None,
) -> pd.DataFrame:
    from tqdm.auto import tqdm

    rank, world = _dist()
    previous: dict[str, dict[str, dict[str, Any]]] = {}
    if out is not None:
        Path(out).mkdir(parents=True, exist_ok=True)
        if resume:
            # Failed videos are tried again (the file may have been fixed); ok and skipped ones are kept, unless
            # they were scored with other clip settings (VBench-Long's clips, or whole videos).
            clip_setting = {n: d.seconds if isinstance(d, long.LongClips) else None for n, d in dims.items()}
            previous = {
                v: {
                    d: r
                    for d, r in res.items()
                    if r.get("status") != "failed" and r.get("long_clips") == clip_setting.get(d)
                }
                for v, res in io.read_journals(out).items()
            }
        elif rank == 0:
            io.clear_journals(out)
    _barrier()  # every rank has read the journal (or rank 0 cleared it) before anyone writes to it

    work = [(item, [n for n in supported if n not in previous.get(item.path, {})]) for item in items]
    work = [w for w in work if w[1]][rank::world]
    bar = tqdm(
        total=len(work),
        desc=f"videos (rank {rank})" if world > 1 else "videos",
        unit="video",
        disable=not progress or rank != 0,
    )
    journal = io.journal_path(out, rank) if out is not None else None
    runner = _Run(dims, dev, journal, on_video_done, bar)
    try:
        runner.run(work, chunk_frames)
    finally:
        bar.close()

    records = _gather(runner.records)
    merged = {v: dict(r) for v, r in previous.items()}
    for video, res in records.items():
        merged.setdefault(video, {}).update(res)
    if out is not None and rank == 0:
        frame = write_outputs(out, items, names, merged, dims)
    else:
        frame = _frame(items, names, merged, {n: d.backend for n, d in dims.items()})
    _barrier()
    frame.attrs["notes"] = {n: d.note for n, d in dims.items() if d.note}
    frame.attrs["unavailable"] = {n: d.reason for n, d in dims.items() if isinstance(d, Unavailable)}
    frame.attrs["records"] = merged  # video -> dimension -> full record (sums, pair counts, flow statistics)
    frame.attrs["aggregates"] = {
        n: _aggregate(n, [merged[i.path][n] for i in items if n in merged.get(i.path, {})], dims) for n in supported
    }
    frame.attrs["long_clips"] = {n: d.seconds for n, d in dims.items() if isinstance(d, long.LongClips)}
    return frame
