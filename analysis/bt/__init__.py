"""Every Bradley-Terry likelihood in the kit: the pair table, the exact Newton fit and the batched refits.

Other modules call these functions; none maximises a Bradley-Terry likelihood on its own.
"""

from .core import (
    TIE_RULES,
    BTFit,
    FitError,
    PairTable,
    cell_derivatives,
    check_identifiable,
    evaluate,
    fit_bt,
    fit_bt_batch,
    info_matrix,
    inverse_pair_weights,
    pair_table,
    pair_table_from_arrays,
    single_threaded_blas,
)

__all__ = [
    "TIE_RULES",
    "BTFit",
    "FitError",
    "PairTable",
    "cell_derivatives",
    "check_identifiable",
    "evaluate",
    "fit_bt",
    "fit_bt_batch",
    "info_matrix",
    "inverse_pair_weights",
    "pair_table",
    "pair_table_from_arrays",
    "single_threaded_blas",
]
