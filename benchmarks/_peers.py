"""Shared helpers for the benchmarks: timing, the machine description, and the peer rating tools.

Peers (choix, FastChat's scikit-learn recipe, arena-rank, arenakit) are optional. Each is run in this
interpreter when it imports here, otherwise in a worker under the interpreter named by ``$PEERS_PYTHON``
(arena-rank pins jax and numpy versions that cannot live in the project's environment)::

    $PEERS_PYTHON benchmarks/_peers.py PEER IN.npz OUT.npz

The worker needs only numpy and the peer itself: this file never imports ``analysis``. The data travel as pair
counts (``i``, ``j``, ``counts`` = wins of i, wins of j, ties; ``n_models``), and every peer returns strengths on
the natural log-odds scale (any constant) with the wall time of each repeat.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ELO = 400.0 / math.log(10.0)  # Elo points per natural log-odds unit (scale 400, base 10)


# ---------------------------------------------------------------------------------------------- timing


def measure(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[list[float], object]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; the wall times and the last result."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def median(times: list[float]) -> float:
    return statistics.median(times)


def fmt_time(seconds: float) -> str:
    """Seconds as ms below one second, else s."""
    if not math.isfinite(seconds):
        return "-"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1.0 else f"{seconds:.2f} s"


def fmt_ratio(ratio: float) -> str:
    """A ratio with two significant figures at most below 10 (0.031x, 1.4x, 78x)."""
    if not math.isfinite(ratio):
        return "-"
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"


def fmt_spread(times: list[float]) -> str:
    if not times:
        return ""
    if len(times) == 1:
        return "1 run"
    return f"{len(times)} runs, {fmt_time(min(times))} .. {fmt_time(max(times))}"


# ---------------------------------------------------------------------------------------------- machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> str:
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        return f"{kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        return "RAM unknown"


def _dist_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _version(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception:  # noqa: BLE001 (any import failure means "not here")
        return "absent"
    return str(getattr(mod, "__version__", None) or _dist_version(module))


def machine_lines(modules: tuple[str, ...]) -> list[str]:
    """A short description of this machine and the library versions, for the head of a report."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    versions = ", ".join(f"{m} {_version(m)}" for m in modules)
    return [
        f"machine: {cores} cores usable ({os.cpu_count()} logical), {_cpu_model()}, {_memory_gib()}, "
        f"{platform.system()} {platform.release()}",
        f"python {platform.python_version()} ({sys.executable}); {versions}",
        f"load average at start (1/5/15 min): {load} (other work on the machine inflates timings)",
    ]


def load_line() -> str:
    return "load average at end: " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def load_now() -> str:
    """The 1-minute load average and the runnable tasks right now, for a note beside a measurement."""
    try:
        fields = Path("/proc/loadavg").read_text().split()
        return f"load {fields[0]}, {fields[3].split('/')[0]} runnable"
    except (OSError, IndexError):
        return f"load {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "load ?"


class Competitor:
    """``with Competitor(n):`` keeps n other CPU-bound processes busy (a pure-Python loop each) inside the block.

    What a laptop or a shared server looks like to a notebook: another program holding a core.
    """

    CODE = "import time\nx = 0\nwhile True:\n    x += 1\n"

    def __init__(self, n: int = 1):
        self.n = n
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Competitor:
        self.procs = [subprocess.Popen([sys.executable, "-c", self.CODE]) for _ in range(self.n)]
        time.sleep(0.5)  # let the scheduler see them
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait()


def run_python(code: str, timeout: float = 600.0, env: dict[str, str] | None = None) -> dict:
    """Run ``code`` in a fresh interpreter (this one); it prints one JSON object last, which is returned."""
    import json

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {})})
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- tables


@dataclass
class Row:
    """One line of a results table."""

    what: str
    median: float = float("nan")
    spread: str = ""
    ratio: str = ""
    note: str = ""


def markdown_table(rows: list[Row], ratio_header: str = "ratio") -> str:
    head = f"| measurement | median | runs (min .. max) | {ratio_header} | notes |"
    lines = [head, "|---|---:|---|---:|---|"]
    for r in rows:
        lines.append(f"| {r.what} | {fmt_time(r.median)} | {r.spread} | {r.ratio} | {r.note} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- peer data


@dataclass
class PairData:
    """Pair counts as plain arrays: ``counts[g]`` = (wins of i[g], wins of j[g], ties) for group g."""

    i: np.ndarray
    j: np.ndarray
    counts: np.ndarray
    n_models: int

    def win_matrix(self, counts: np.ndarray | None = None) -> np.ndarray:
        """K x K matrix, ``[a, b]`` = wins of a over b, each tie half a win for both (choix's input)."""
        c = self.counts if counts is None else counts
        k = self.n_models
        half = 0.5 * c[:, 2]
        flat = np.bincount(self.i * k + self.j, c[:, 0] + half, k * k) + np.bincount(self.j * k + self.i,
                                                                                    c[:, 1] + half, k * k)
        return flat.reshape(k, k)

    def save(self, path: Path) -> None:
        np.savez(path, i=self.i, j=self.j, counts=self.counts, n_models=self.n_models)

    @classmethod
    def load(cls, path: Path) -> PairData:
        with np.load(path) as z:
            return cls(z["i"], z["j"], z["counts"], int(z["n_models"]))


@dataclass
class PeerResult:
    """What one peer gave: strengths (natural scale), wall times, a note, or why it was skipped."""

    name: str
    theta: np.ndarray | None = None
    times: list[float] | None = None
    note: str = ""
    skipped: str = ""


# ---------------------------------------------------------------------------------------------- the peers


def fit_choix(data: PairData, repeats: int) -> tuple[np.ndarray, list[float], str]:
    """choix's iterative Luce spectral ranking on the dense K x K win matrix (ties as half wins)."""
    import choix

    mat = data.win_matrix()
    times, theta = measure(lambda: choix.ilsr_pairwise_dense(mat), repeats)
    return np.asarray(theta), times, f"choix {_dist_version('choix')} ilsr_pairwise_dense, tol 1e-8"


def expand_battles(data: PairData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One row per vote: model codes a, b and outcome 0 (a won), 1 (b won), 2 (tie)."""
    reps = data.counts.astype(np.int64).ravel()
    cell = np.repeat(np.arange(reps.size), reps)
    group, outcome = np.divmod(cell, 3)
    return data.i[group], data.j[group], outcome


def fastchat_battles(a: np.ndarray, b: np.ndarray, outcome: np.ndarray, n_models: int) -> tuple[np.ndarray, int]:
    """FastChat's ``compute_mle_elo`` (the 2023 Chatbot Arena notebook), written from its description.

    The battles are duplicated; row r of the design has +log(base) in model_a's column and -log(base) in
    model_b's; y = 1 when model_a won. A tie gives y = 1 in its first copy and 0 in its second (half a win each).
    Logistic regression without intercept and without penalty, tol 1e-6; Elo = 400 * coef + 1000.
    """
    from sklearn.linear_model import LogisticRegression

    n = a.size
    rows = np.arange(2 * n)
    x = np.zeros((2 * n, n_models))
    x[rows, np.concatenate([a, a])] = math.log(10.0)
    x[rows, np.concatenate([b, b])] = -math.log(10.0)
    y = np.zeros(2 * n)
    y[np.concatenate([outcome == 0, outcome == 0])] = 1.0
    y[np.concatenate([outcome == 2, np.zeros(n, dtype=bool)])] = 1.0
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6)
    lr.fit(x, y)
    return lr.coef_[0] * math.log(10.0), int(lr.n_iter_[0])


def fit_fastchat(data: PairData, repeats: int) -> tuple[np.ndarray, list[float], str]:
    """FastChat recipe on 2N duplicated battle rows (a 2N x K dense design): build + fit timed."""
    import sklearn

    a, b, outcome = expand_battles(data)
    times, (theta, iters) = measure(lambda: fastchat_battles(a, b, outcome, data.n_models), repeats, warmup=0)
    return theta, times, (f"sklearn {sklearn.__version__} lbfgs, {2 * a.size:,} x {data.n_models} design "
                          f"({2 * a.size * data.n_models * 8 / 2**30:.1f} GiB), {iters} iterations (max_iter 100)")


def fastchat_weighted(data: PairData) -> tuple[np.ndarray, int]:
    """FastChat's later ``compute_mle_elo`` (2024): the same regression on pivot-table cells with sample weights.

    Weight of (a beats b) = 2 * wins + ties, one row per ordered pair and label, as in its ``ptbl_win``.
    """
    from sklearn.linear_model import LogisticRegression

    win = data.win_matrix() * 2.0  # 2 * wins + ties
    a, b = np.nonzero((win + win.T) > 0)
    rows = np.arange(2 * a.size)
    x = np.zeros((2 * a.size, data.n_models))
    x[rows, np.repeat(a, 2)] = math.log(10.0)
    x[rows, np.repeat(b, 2)] = -math.log(10.0)
    y = np.tile([1.0, 0.0], a.size)
    weight = np.column_stack([win[a, b], win[b, a]]).ravel()
    lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-6)
    lr.fit(x, y, sample_weight=weight)
    return lr.coef_[0] * math.log(10.0), int(lr.n_iter_[0])


def fit_fastchat_weighted(data: PairData, repeats: int) -> tuple[np.ndarray, list[float], str]:
    import sklearn

    times, (theta, iters) = measure(lambda: fastchat_weighted(data), repeats)
    return theta, times, f"sklearn {sklearn.__version__} lbfgs on weighted pivot cells, {iters} iterations"


def _arena_rank_dataset(data: PairData):
    import jax.numpy as jnp
    from arena_rank.utils.data_utils import PairDataset

    # One row per (pair, outcome) with its count, as PairDataset.from_pandas aggregates battles.
    outcome_value = np.array([1.0, 0.0, 0.5])
    g, c = np.nonzero(data.counts > 0)
    pairs = np.column_stack([data.i[g], data.j[g]]).astype(np.int32)
    counts = data.counts[g, c].astype(np.float64)
    return PairDataset(
        competitors=[str(m) for m in range(data.n_models)], pairs=jnp.asarray(pairs),
        outcomes=jnp.asarray(outcome_value[c]), counts=jnp.asarray(counts), weights=jnp.ones(counts.size),
        opt_weights=jnp.asarray(counts),
    )


def fit_arena_rank(data: PairData, repeats: int) -> tuple[np.ndarray, list[float], str]:
    """LMArena's arena-rank: Bradley-Terry by L-BFGS (optax, jax float64) on aggregated (pair, outcome) rows."""
    import arena_rank  # noqa: F401 (fails early when absent)
    import jax
    from arena_rank.models.bradley_terry import BradleyTerry

    dataset = _arena_rank_dataset(data)

    def one():
        model = BradleyTerry(n_competitors=data.n_models)
        model.fit(dataset)
        return np.asarray(jax.block_until_ready(model.params["ratings"]))

    start = time.perf_counter()
    one()
    first = time.perf_counter() - start
    times, theta = measure(one, repeats, warmup=0)
    return theta, times, f"jax {jax.__version__}; first call {fmt_time(first)} (tracing + XLA compile)"


def fit_arena_rank_sandwich(data: PairData, repeats: int) -> tuple[np.ndarray, list[float], str]:
    """arena-rank's own board: fit + sandwich intervals (``compute_ratings_and_cis(ci_method="sandwich")``)."""
    import jax
    from arena_rank.models.bradley_terry import BradleyTerry

    dataset = _arena_rank_dataset(data)

    def one():
        model = BradleyTerry(n_competitors=data.n_models)
        out = model.compute_ratings_and_cis(dataset, ci_method="sandwich")
        jax.block_until_ready(out["rating_upper"])
        return np.asarray(out["ratings"]) / ELO

    times, theta = measure(one, repeats)
    return theta, times, "fit + sandwich CI"


def fit_arenakit(data: PairData, repeats: int) -> tuple[np.ndarray, list[float], str]:
    """arenakit's minorization-maximization fit on K x K count matrices, prior=0 (plain maximum likelihood)."""
    import arenakit
    from arenakit.bt import fit_bt
    from arenakit.schema import PairCounts

    k = data.n_models
    wf, ws, tt = (np.zeros((k, k)) for _ in range(3))
    for mat, col in ((wf, 0), (ws, 1), (tt, 2)):
        np.add.at(mat, (data.i, data.j), data.counts[:, col])
    counts = PairCounts(wf=wf, ws=ws, tt=tt)
    times, fit = measure(lambda: fit_bt(counts, ties="half", prior=0.0), repeats)
    return fit.scores, times, f"arenakit {arenakit.__version__} MM, {fit.n_iter} iterations to tol 1e-10, prior=0"


PEERS: dict[str, tuple[Callable[[PairData, int], tuple[np.ndarray, list[float], str]], tuple[str, ...]]] = {
    # name: (function, modules it needs)
    "choix": (fit_choix, ("choix",)),
    "fastchat": (fit_fastchat, ("sklearn",)),
    "fastchat-weighted": (fit_fastchat_weighted, ("sklearn",)),
    "arena-rank": (fit_arena_rank, ("arena_rank", "jax")),
    "arena-rank-sandwich": (fit_arena_rank_sandwich, ("arena_rank", "jax")),
    "arenakit": (fit_arenakit, ("arenakit",)),
}


def _importable(modules: tuple[str, ...]) -> str:
    """Empty when all modules import here, else the reason."""
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 (a broken install is as absent as a missing one)
            return f"{module} not importable here ({type(exc).__name__}: {exc})"
    return ""


def run_peer(name: str, data: PairData, repeats: int, timeout: float = 900.0) -> PeerResult:
    """Run one peer here, or under ``$PEERS_PYTHON`` when it does not import here; never raises."""
    fn, modules = PEERS[name]
    why = _importable(modules)
    if not why:
        try:
            theta, times, note = fn(data, repeats)
        except Exception as exc:  # noqa: BLE001 (a peer's failure is reported, not fatal)
            return PeerResult(name, skipped=f"failed: {type(exc).__name__}: {exc}")
        return PeerResult(name, np.asarray(theta, float), times, note)
    python = os.environ.get("PEERS_PYTHON")
    if not python:
        return PeerResult(name, skipped=f"{why}; set PEERS_PYTHON to an interpreter that has it")
    return _run_worker(python, name, data, repeats, timeout)


def _run_worker(python: str, name: str, data: PairData, repeats: int, timeout: float) -> PeerResult:
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        data.save(src)
        cmd = [python, str(Path(__file__).resolve()), name, str(src), str(dst), str(repeats)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return PeerResult(name, skipped=f"worker under {python} failed: {type(exc).__name__}: {exc}")
        if proc.returncode != 0 or not dst.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return PeerResult(name, skipped=f"worker under {python} failed: {tail[0]}")
        with np.load(dst) as z:
            if str(z["skipped"]):
                return PeerResult(name, skipped=f"{z['skipped']} (under {python})")
            return PeerResult(name, z["theta"], list(map(float, z["times"])), f"{z['note']} (via PEERS_PYTHON)")


def _worker(name: str, src: str, dst: str, repeats: int) -> None:
    fn, modules = PEERS[name]
    why = _importable(modules)
    theta, times, note = np.zeros(0), [], ""
    if not why:
        theta, times, note = fn(PairData.load(Path(src)), repeats)
    np.savez(dst, theta=np.asarray(theta, float), times=np.asarray(times), note=note, skipped=why)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in PEERS:
        sys.exit(f"usage: {Path(__file__).name} {{{','.join(PEERS)}}} IN.npz OUT.npz REPEATS")
    _worker(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
