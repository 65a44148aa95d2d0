"""Shared fixtures: where the shared real data lives, and small random vote frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def need_shared(sub: str = "") -> Path:
    """Path into ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"real data not present at {path} (see data/README.md for the public source)")
    return path


def random_votes(n: int = 2000, k: int = 6, seed: int = 0, extra: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = np.array([f"m{i}" for i in range(k)])
    a = rng.integers(0, k, n)
    b = (a + rng.integers(1, k, n)) % k
    winner = rng.choice(["model_a", "model_b", "tie", "tie (bothbad)"], size=n, p=[0.4, 0.35, 0.15, 0.1])
    df = pd.DataFrame({"model_a": names[a], "model_b": names[b], "winner": winner})
    if extra:
        df["voter_id"] = rng.integers(0, 50, n)
        df["category"] = rng.choice(["people", "physics", "text"], size=n)
    return df


@pytest.fixture
def votes_df() -> pd.DataFrame:
    return random_votes()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a metrics test module: its networks are tiny, and under pytest-xdist (or on a
    busy machine) several OpenMP threads per worker oversubscribe the cores and make small kernels up to 40x
    slower; the subprocess runs use OMP_NUM_THREADS=1 too."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random-weight networks in VBench's cache layout and file names (the real loading path, no download)."""
    from analysis.metrics import synthetic

    return synthetic.write_random_weights(tmp_path_factory.mktemp("vbench_cache"))
