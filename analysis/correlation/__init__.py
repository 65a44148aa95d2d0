"""Human judgements against automatic metrics, at four units, with intervals that carry both sides' uncertainty.

The question: does a metric (a VBench dimension, CLIP Score, ...) order models and videos the way people do, and
how sure can we be? Published work reports one Spearman number over a handful of models; :func:`correlate`
reports every unit (the grain of the correlation), each with an interval and a note saying what limits the
reading.

Units
-----
``model``
    Per-model human score (a Bradley-Terry board fitted to within-item comparisons, a win ratio, or a mean
    rating) against the per-model metric: Spearman / Kendall / Pearson plus pairwise accuracy (the share of
    model pairs both sides order alike).
``pair``
    Per pair of models, the human preference rate (ties half) against the metric difference. Each pair enters
    in both orientations, so the result does not depend on which model is called "a".
``vote``
    Per human pairwise judgement, does the metric prefer the same clip? An agreement rate; metric ties are
    counted explicitly (half an agreement, or left out), human ties are left out and counted.
``video``
    Per-video correlation of the human and the metric score, pooled and per model.

Why bootstrap items (prompts), not models
-----------------------------------------
The models are the population a reader cares about here ("these 7 models"); the prompts are the sample. So
intervals resample clusters of items (prompts, by default each item) and recompute *both* sides on every
resample: the human board is refitted and per-video metric means are recomputed on the same draw, so the
uncertainty of both sides and their pairing is carried. Published per-model metric values (VBench) have no
per-video scores: they stay fixed, and the note says so. With only published aggregates on both sides
(GenAI-Arena vs VBench) nothing can be resampled but models; ``ci="fisher"`` then gives a normal interval on
the Fisher z scale (Bonett-Wright for Spearman, Fieller for Kendall), which treats the models as a sample.

How it stays fast
-----------------
A resample is a vector of cluster multiplicities ``w`` (multinomial over clusters). Everything is reduced once
to per-cluster sufficient statistics (rating sums and counts per model, pair outcome counts, vote agreements),
so a resample is one matrix product ``W @ stats``. Bradley-Terry boards for all resamples are refitted together
by :func:`analysis.bt.fit_bt_batch` (K x K Newton systems, warm-started at the full fit; ties count half, as in
FastChat); the full-data board comes from :func:`analysis.bt.fit_bt`. Video-level Spearman under weights uses
exact weighted mid-ranks (the ranks the expanded resample would have) and Kendall's tau-b three products with
N x N sign matrices, so no resample is materialised.

Reading the model unit
----------------------
With a handful of models the item bootstrap often gives a narrow (even zero-width) interval: the human order of
these models is settled, so the items are not what limits the reading; the number of models is. The
``p_value`` column (an exact permutation test over the models) and the note say so.

Layout
------
:mod:`.options` (the words: units, methods, interval methods, :class:`CorrelationError`), :mod:`.stats`
(kernels), :mod:`.prepare` (inputs to per-cluster statistics), :mod:`.engine` (units and :func:`correlate`),
:mod:`.cases` (the real cases), :mod:`.command` (the ``correlate`` subcommand). The forest plot of a table is
:func:`analysis.plots.corr_forest`; the simulator with a known truth and the coverage study are
:func:`analysis.simulate.simulate_ratings` and :func:`analysis.simulate.correlation_coverage`.
"""

from .cases import CASES, genai_arena_vbench, load_mapping, run_case, t2vscore, videobench_vbench
from .command import add_correlate_parser, correlate_command
from .engine import correlate, model_scores, pair_agreement
from .options import COLUMNS, CORRELATION_CI, HUMAN_SCALES, METHODS, METRIC_TIES, UNITS, CorrelationError
from .prepare import match_models

__all__ = [
    "CASES",
    "COLUMNS",
    "CORRELATION_CI",
    "HUMAN_SCALES",
    "METHODS",
    "METRIC_TIES",
    "UNITS",
    "CorrelationError",
    "add_correlate_parser",
    "correlate",
    "correlate_command",
    "genai_arena_vbench",
    "load_mapping",
    "match_models",
    "model_scores",
    "pair_agreement",
    "run_case",
    "t2vscore",
    "videobench_vbench",
]
