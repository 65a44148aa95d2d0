"""Run one backbone over frames from many videos in fixed-size batches.

VBench feeds DINO one frame at a time and one video at a time; here every dimension pushes preprocessed frames
into a :class:`FrameBatcher`, which groups them by input shape (mixed resolutions cannot share a batch for
DINO, whose token count follows the aspect ratio) and runs the network whenever ``batch_size`` frames of one
shape are waiting. Outputs are handed back, in submission order, to the callback that came with the frames.

Partial batches are padded with zeros to ``batch_size`` (``pad=True``): every forward pass then has the same
shape, so the kernels chosen and their reduction order do not depend on which other videos happen to share a
batch. That is what makes a resumed or sharded run give bit-for-bit the scores of a single uninterrupted run.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import nn

Sink = Callable[[torch.Tensor], None]


class BatchError(RuntimeError):
    """The network failed on a batch (out of memory, bad weights): fatal for the run, unlike a bad video,
    because the batch holds frames of several videos."""


class FrameBatcher:
    """Queue frames per input shape and run ``model`` on batches of exactly ``batch_size`` frames.

    Parameters
    ----------
    model : nn.Module
        Maps (B, 3, H, W) float tensors to (B, ...) outputs; frames must be independent (no batch norm).
    batch_size : int
        Frames per forward pass.
    device : torch.device
        Where the model lives; submitted frames must already be there.
    amp : bool, default False
        Run under CUDA autocast (float16); off by default because it changes scores in the 4th digit.
    pad : bool, default True
        Pad partial batches to ``batch_size`` (see module docstring).
    max_pending : int, optional
        Most frames kept waiting over all shapes (default 4 x ``batch_size``). Past it, the fullest partial
        queue is run (padded), so a collection where nearly every video has its own resolution still holds
        only a few batches in memory. With padding this does not change any output.
    """

    def __init__(
        self,
        model: nn.Module,
        batch_size: int,
        device: torch.device,
        amp: bool = False,
        pad: bool = True,
        max_pending: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model = model
        self.batch_size = batch_size
        self.device = device
        self.amp = amp and device.type == "cuda"
        self.pad = pad
        self.max_pending = max_pending if max_pending is not None else 4 * batch_size
        self._queues: dict[tuple[int, ...], deque[tuple[torch.Tensor, Sink]]] = {}
        self._counts: dict[tuple[int, ...], int] = {}
        self.frames_run = 0  # frames pushed through the network, padding included (for benchmarks)

    def submit(self, frames: torch.Tensor, sink: Sink) -> None:
        """Queue (n, 3, H, W) frames; ``sink`` later receives their outputs, possibly in several pieces."""
        if frames.shape[0] == 0:
            return
        key = tuple(frames.shape[1:])
        self._queues.setdefault(key, deque()).append((frames, sink))
        self._counts[key] = self._counts.get(key, 0) + frames.shape[0]
        while self._counts[key] >= self.batch_size:
            self._run(key, self.batch_size)
        while sum(self._counts.values()) > self.max_pending:
            fullest = max(self._counts, key=self._counts.__getitem__)
            self._run(fullest, min(self.batch_size, self._counts[fullest]))

    def flush(self) -> None:
        """Run everything still queued (partial batches padded when ``pad``)."""
        for key in list(self._queues):
            while self._counts.get(key, 0) > 0:
                self._run(key, min(self.batch_size, self._counts[key]))

    def _take(self, key: tuple[int, ...], n: int) -> tuple[torch.Tensor, list[tuple[Sink, int]]]:
        # Pop n frames from the front of the queue; remember which sink owns how many of them.
        q = self._queues[key]
        parts, owners, need = [], [], n
        while need:
            frames, sink = q[0]
            if frames.shape[0] <= need:
                q.popleft()
                parts.append(frames)
                owners.append((sink, frames.shape[0]))
                need -= frames.shape[0]
            else:
                parts.append(frames[:need])
                owners.append((sink, need))
                q[0] = (frames[need:], sink)
                need = 0
        self._counts[key] -= n
        return (parts[0] if len(parts) == 1 else torch.cat(parts)), owners

    def _run(self, key: tuple[int, ...], n: int) -> None:
        batch, owners = self._take(key, n)
        if self.pad and n < self.batch_size:
            batch = torch.cat([batch, batch.new_zeros((self.batch_size - n, *batch.shape[1:]))])
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else nullcontext()
        try:
            with torch.inference_mode(), autocast:
                out = self.model(batch)
        except Exception as e:
            raise BatchError(f"network forward failed on a batch of shape {tuple(batch.shape)}: {e}") from e
        self.frames_run += batch.shape[0]
        # One device->host copy per batch; sinks then work on CPU float32 rows.
        out = out[:n].float().cpu()
        start = 0
        for sink, count in owners:
            sink(out[start : start + count])
            start += count
