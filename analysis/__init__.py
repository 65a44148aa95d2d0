"""Video Arena Lab: arena leaderboards, intervals, comparisons and metric reruns for generative video.

The data flow runs one way: votes -> counts (:mod:`analysis.votes`) -> Bradley-Terry / Elo fits
(:mod:`analysis.bt`, :mod:`analysis.elo`) -> intervals (:mod:`analysis.intervals`) -> a tidy leaderboard
(:mod:`analysis.ratings`) -> comparisons, plots, reports. Heavy pieces (torch, metrics) load lazily.
"""

from .bt import FitError, fit_bt, pair_table
from .ratings import (
    RECIPES,
    Ratings,
    difference,
    leaderboard,
    prob_better,
    rate,
    record,
    win_matrix,
    win_probability,
)
from .votes import VoteError, aggregate, expand_counts, read_votes

__version__ = "0.1.0"

__all__ = [
    "RECIPES",
    "FitError",
    "Ratings",
    "VoteError",
    "aggregate",
    "difference",
    "expand_counts",
    "fit_bt",
    "leaderboard",
    "pair_table",
    "prob_better",
    "rate",
    "read_votes",
    "record",
    "win_matrix",
    "win_probability",
]
