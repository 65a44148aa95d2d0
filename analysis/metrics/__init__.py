"""VBench-compatible video metrics, deterministic per video, resumable and sharded with torchrun.

>>> from analysis.metrics import evaluate, vbench_scores
>>> scores = evaluate("videos/", ["temporal_flickering", "dynamic_degree"], out="runs/vb")  # doctest: +SKIP

``evaluate`` returns a tidy frame (video, model, prompt, dimension, score, status, error, backend) and writes
VBench's ``<dimension>_eval_results.json`` files; ``vbench_scores`` turns the 16 dimension scores into
VBench's Quality / Semantic / Total. Network weights are read only from the local VBench cache
(``$VBENCH_CACHE_DIR``, default ``~/.cache/vbench``); see :mod:`analysis.metrics.weights` and
``python -m analysis.metrics weights``. Parity with VBench 0.1.5's own code is measured by
``benchmarks/vbench_parity.py`` (PARITY.md).
"""

from __future__ import annotations

from .dimensions import UNSUPPORTED
from .runner import DIMENSIONS, SUPPORTED, evaluate
from .vbench import aggregate_dimension, vbench_scores
from .weights import MissingWeightsError, WeightsChecksumError, cache_dir, weights_table

__all__ = [
    "DIMENSIONS",
    "SUPPORTED",
    "UNSUPPORTED",
    "MissingWeightsError",
    "WeightsChecksumError",
    "aggregate_dimension",
    "cache_dir",
    "evaluate",
    "vbench_scores",
    "weights_table",
]
