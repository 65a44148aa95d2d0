"""Every Bradley-Terry likelihood in the kit, one concept per module; other modules call these, none maximises a
Bradley-Terry likelihood on its own.

- :mod:`analysis.bt.core`: the pair table (from a count frame or from arrays), the likelihood with its four tie
  rules, and the exact Newton fit :func:`fit_bt`.
- :mod:`analysis.bt.refit`: batched refits of many count tables around one fit, one entry point
  (:func:`refit_batch` / :class:`Refitter`: chord iteration, Newton-CG where it stalls, exact fits for the rest),
  and its array form :func:`fit_bt_batch`.
- :mod:`analysis.bt.marginal`: the fit from per-model wins and votes per pair used for published boards.
"""

from .core import (
    TIE_RULES,
    BTFit,
    FitError,
    PairTable,
    cell_derivatives,
    centred_covariance,
    check_identifiable,
    evaluate,
    fit_bt,
    info_matrix,
    inverse_pair_weights,
    pair_table,
    pair_table_from_arrays,
    single_threaded_blas,
)
from .marginal import fit_marginal
from .refit import BatchRefit, Refitter, fit_bt_batch, refit_batch

__all__ = [
    "TIE_RULES",
    "BTFit",
    "BatchRefit",
    "FitError",
    "PairTable",
    "Refitter",
    "cell_derivatives",
    "centred_covariance",
    "check_identifiable",
    "evaluate",
    "fit_bt",
    "fit_bt_batch",
    "fit_marginal",
    "info_matrix",
    "inverse_pair_weights",
    "pair_table",
    "pair_table_from_arrays",
    "refit_batch",
    "single_threaded_blas",
]
