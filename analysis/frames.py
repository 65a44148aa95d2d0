"""Tables attached to a result's ``attrs`` that pandas can still concatenate.

pandas keeps ``attrs`` through ``pd.concat`` only when every input's attrs are equal, and tests that with ``==`` on
the dict values: a DataFrame or an array there makes that test raise ("truth value ... is ambiguous"), so two
different results could not be concatenated. An :class:`AttachedFrame` is an ordinary DataFrame in every other
way, but equals only itself, so different results simply drop their attrs on concat.
"""

from __future__ import annotations

import pandas as pd


class AttachedFrame(pd.DataFrame):
    """A DataFrame stored in another table's ``attrs``; ``==`` with another object is identity (a bool)."""

    @property
    def _constructor(self):
        return pd.DataFrame  # anything derived from it is a plain DataFrame

    def __eq__(self, other):  # type: ignore[override]
        return self is other

    def __ne__(self, other):  # type: ignore[override]
        return self is not other

    __hash__ = object.__hash__

    def __deepcopy__(self, memo=None):  # pandas deep-copies attrs on most operations: stay attached
        return AttachedFrame(pd.DataFrame.copy(self, deep=True))

    def __copy__(self):
        return AttachedFrame(pd.DataFrame.copy(self, deep=False))


def attached(frame: pd.DataFrame) -> AttachedFrame:
    """``frame`` as an :class:`AttachedFrame` (no copy of the data under copy-on-write)."""
    return AttachedFrame(frame)
