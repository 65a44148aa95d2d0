"""What the compiled kernels share: numba's decorators (plain Python when numba is missing), one BLAS-thread
limit, and the SplitMix64 mixer behind every counter-based random stream.

Kept in one place so that a kernel module never re-declares its own fallback shim or its own copy of the mixer:
two copies of a random stream that must agree bit for bit are one copy too many. numba itself is imported on first
use of ``njit``, ``prange``, ``get_num_threads`` or ``splitmix64`` (module ``__getattr__``), so that
``import analysis`` does not pay for it.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np

_F = TypeVar("_F", bound=Callable[..., Any])

GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: SplitMix64's counter increment
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix(z):
    # SplitMix64's output function (Steele, Lea and Flood 2014); wrapping uint64 arithmetic is intended.
    z = z + GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def splitmix64_array(z: np.ndarray) -> np.ndarray:
    """SplitMix64's bijective mix of a uint64 array with NumPy (no compilation); ``splitmix64`` is the same
    function compiled for kernels. Used as a counter-based generator: the value for (key, counter) is
    ``mix(key ^ mix(counter))``, so a draw depends on its key and index only, never on batching."""
    return _mix(np.asarray(z, dtype=np.uint64))


@lru_cache(maxsize=1)
def _blas_controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with one BLAS thread: K x K solves (K ~ 100) are faster on one thread, and multi-threaded
    BLAS stalls badly when other processes keep the cores busy (measured 5 ms -> up to 1 s per fit)."""
    controller = _blas_controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def single_threaded_blas(func: _F) -> _F:
    """Decorator form of :func:`one_blas_thread`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _no_numba_njit(*args: Any, **kwargs: Any) -> Any:
    if len(args) == 1 and callable(args[0]) and not kwargs:
        return args[0]

    def wrap(f):
        return f

    return wrap


@lru_cache(maxsize=1)
def _numba_names() -> dict[str, Any]:
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency; the plain loops are the fallback
        names = {"njit": _no_numba_njit, "prange": range, "get_num_threads": lambda: 1}
    else:
        names = {"njit": numba.njit, "prange": numba.prange, "get_num_threads": numba.get_num_threads}
    names["splitmix64"] = names["njit"](cache=True, inline="always")(_mix)
    return names


def __getattr__(name: str) -> Any:
    if name in ("njit", "prange", "get_num_threads", "splitmix64"):
        return _numba_names()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
