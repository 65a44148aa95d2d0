"""Run one backbone over frames, one frame per forward pass, concurrently over frames.

Why one frame per pass: a score must not depend on which other frames shared a batch, how large the batch
was, where a run was resumed or how many ranks or threads ran it. Batching frames of several videos makes a
frame's row position, the matrix shapes and hence the blocking (and summation order) of the matrix products
depend on its neighbours; splitting a kernel over threads makes vectorised-loop tails depend on the thread
count. So every frame is preprocessed and pushed through the network alone, in a fixed-shape pass, with one
intra-op thread (set once per run, see :func:`single_threaded_ops`). Parallelism comes from running several
frames at once on a thread pool (PyTorch releases the GIL inside its kernels). A frame's arithmetic is then a
function of that frame alone: bit-for-bit the same under any batch size, resume point, rank count and thread
count. VBench also feeds DINO one frame at a time.

Outputs reach the callback that came with the frames in submission order, on the calling thread (never on a
worker), so per-video states need no locks.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import nullcontext

import numpy as np
import torch
from torch import nn

Sink = Callable[[torch.Tensor], None]
Transform = Callable[[torch.Tensor], torch.Tensor]


class BatchError(RuntimeError):
    """The network failed on a frame (out of memory, bad weights): fatal for the run, unlike a bad video."""


@contextlib.contextmanager
def single_threaded_ops(enabled: bool = True) -> Iterator[None]:
    """Run the block with one PyTorch intra-op thread, restoring the previous setting afterwards.

    Intra-op parallelism splits one kernel's work by the thread count, and the split changes which elements
    go through a vectorised loop and which through its scalar tail; fixing it at one makes a frame's result
    independent of ``torch.set_num_threads``. Throughput comes back from running frames concurrently.
    """
    if not enabled:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class FrameRunner:
    """Preprocess and run ``model`` on single frames, on an executor, handing outputs back in order.

    Parameters
    ----------
    model : nn.Module
        Maps (1, 3, h, w) float tensors to (1, ...) outputs.
    transform : callable
        Maps one frame, (1, 3, H, W) float32 on ``device`` holding 0-255 levels, to the network input.
    device : torch.device
        Where the model lives.
    executor : Executor, optional
        Runs the per-frame passes (a thread pool on CPU); None runs them inline, one after another.
    amp : bool, default False
        Run under CUDA autocast (float16); off by default because it changes scores in the 4th digit.
    max_pending : int, default 16
        Most frames in flight (queued or running); bounds memory, never enters a score.
    """

    def __init__(
        self,
        model: nn.Module,
        transform: Transform,
        device: torch.device,
        executor: Executor | None = None,
        amp: bool = False,
        max_pending: int = 16,
    ) -> None:
        if max_pending < 1:
            raise ValueError("max_pending (the batch size) must be >= 1")
        self.model = model
        self.transform = transform
        self.device = device
        self.executor = executor
        self.amp = amp and device.type == "cuda"
        self.max_pending = max_pending
        self._pending: deque[tuple[Future[torch.Tensor] | torch.Tensor, Sink]] = deque()
        self.frames_run = 0  # frames pushed through the network (for benchmarks and tests)

    def forward_one(self, frame: np.ndarray) -> torch.Tensor:
        """One (H, W, 3) uint8 frame -> the network's output row (float32, CPU)."""
        x = torch.from_numpy(frame).to(self.device).permute(2, 0, 1)[None].float()
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else nullcontext()
        try:
            with torch.inference_mode(), autocast:
                out = self.model(self.transform(x))
        except Exception as e:
            raise BatchError(f"network forward failed on a frame of shape {tuple(frame.shape)}: {e}") from e
        return out[0].float().cpu()

    def forward_input(self, x: torch.Tensor) -> torch.Tensor:
        """An already preprocessed (1, 3, h, w) network input -> the output row (float32, CPU)."""
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.amp else nullcontext()
        try:
            with torch.inference_mode(), autocast:
                out = self.model(x.to(self.device))
        except Exception as e:
            raise BatchError(f"network forward failed on an input of shape {tuple(x.shape)}: {e}") from e
        return out[0].float().cpu()

    def submit_input(self, x: torch.Tensor, sink: Sink) -> None:
        """Queue one preprocessed input (e.g. an i2v conditioning image); its output reaches ``sink`` in order."""
        while len(self._pending) >= self.max_pending:
            self._deliver_head(wait=True)
        if self.executor is None:
            self._pending.append((self.forward_input(x), sink))
        else:
            self._pending.append((self.executor.submit(self.forward_input, x), sink))

    def submit(self, frames: np.ndarray, sink: Sink) -> None:
        """Queue (n, H, W, 3) uint8 frames; ``sink`` later receives their (1, ...) outputs one by one."""
        for frame in frames:
            while len(self._pending) >= self.max_pending:
                self._deliver_head(wait=True)
            frame = np.ascontiguousarray(frame)
            if self.executor is None:
                self._pending.append((self.forward_one(frame), sink))
            else:
                self._pending.append((self.executor.submit(self.forward_one, frame), sink))
            self.poll()

    def _deliver_head(self, wait: bool) -> bool:
        job, sink = self._pending[0]
        if isinstance(job, Future):
            if not wait and not job.done():
                return False
            out = job.result()  # re-raises a worker's BatchError here, on the calling thread
        else:
            out = job
        self._pending.popleft()
        self.frames_run += 1
        sink(out[None])
        return True

    def poll(self) -> None:
        """Hand over every finished output at the head of the queue (submission order), without waiting."""
        while self._pending and self._deliver_head(wait=False):
            pass

    def flush(self) -> None:
        """Wait for and hand over every pending output."""
        while self._pending:
            self._deliver_head(wait=True)

    def cancel(self) -> None:
        """Drop pending work (after an error); running passes finish but their outputs are discarded."""
        for job, _ in self._pending:
            if isinstance(job, Future):
                job.cancel()
        self._pending.clear()
