"""Results that are more than one table: a small object with ``.table``, ``.summary()`` and a notebook view.

The statsmodels pattern. A function whose answer is one tidy table returns a DataFrame. When the answer has a
main table plus other tables or numbers (the pairs behind tiers, the curve and design behind a vote plan, the
agreement numbers of a reproduction, the tests and graph of an audit), it returns a frozen dataclass:

* ``.table``: the main tidy DataFrame (one row per observation), safe to ``pd.concat`` with other results';
* the other tables and values as plain attributes (typed, documented, completed by an editor);
* ``.summary()``: a short :class:`pandas.Series` (statistic -> value), also what ``str(result)`` prints;
* ``_repr_html_``: the summary and the table through :meth:`DataFrame.to_html`, for Jupyter.

``DataFrame.attrs`` then carries provenance strings only: pandas compares attrs on every ``concat``, and tables
or arrays there either raise or vanish.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True, eq=False, repr=False)
class Result:
    """Base of the kit's result types: a main ``table`` plus attributes; equal only to itself (it holds frames)."""

    table: pd.DataFrame

    #: Title of the notebook view and of the summary Series.
    title = "result"
    #: Rows of ``table`` shown by ``_repr_html_`` (the object keeps them all).
    html_rows = 20

    def summary(self) -> pd.Series:
        """The headline numbers as a Series (statistic -> value); subclasses say which."""
        return pd.Series({"rows": len(self.table)}, name=self.title, dtype=object)

    def __str__(self) -> str:
        return f"{self.title}\n{self.summary().to_string()}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self.table)} rows>\n{self.summary().to_string()}"

    def _repr_html_(self) -> str:
        head = self.summary().rename_axis(self.title).to_frame(name="value").to_html(na_rep="")
        return head + self.table.to_html(max_rows=self.html_rows, show_dimensions=True, na_rep="")


__all__ = ["Result"]
