"""Arena simulator: pairwise battles (or their counts) drawn from known true ratings.

Every estimator in the kit (Bradley-Terry and Davidson fits, online Elo, position effects, vote and cluster
bootstraps) is checked against a truth it could not see. This module draws that truth and the votes it
implies, fully vectorised (numpy ``Generator(PCG64)``), so ten million battles take seconds and a test's
thousand take milliseconds. The same seed always gives the same frame.

Generative model
----------------
Ratings are on the Elo scale: with ``scale=400`` and ``base=10``, ``P(i beats j) = 1 / (1 + base ** ((R_j -
R_i) / scale))``. Let ``lam = ln(base) / scale`` turn Elo points into logits. A battle picks a pair by the
pairing scheme, shows either model first (``model_a``) with probability 1/2, and has the logit difference

    d = lam * (R_a + position_bias - R_b + (e_{v,a} - e_{v,b}) + (f_{p,a} - f_{p,b}))

where ``e_{v,i} ~ N(0, voter_sd^2)`` is voter v's taste for model i and ``f_{p,i} ~ N(0, prompt_sd^2)`` is how
well prompt p suits model i (Elo points; both 0 unless asked for). Then, with ``t = tie_rate``:

* ``tie_model="fixed"``: ``P(tie) = t``, ``P(a wins) = (1 - t) * sigmoid(d)``, ``P(b wins) = (1 - t) *
  sigmoid(-d)``; ties are as likely in a mismatch as between equals.
* ``tie_model="davidson"`` (Davidson 1970): ``P(a) : P(b) : P(tie) = e^{d/2} : e^{-d/2} : nu`` with
  ``nu = 2 t / (1 - t)``, so ``t`` is the tie probability between equal models and ties thin out as the gap
  grows. In strengths ``pi = base ** (R / scale)`` this is the textbook
  ``P(tie) = nu sqrt(pi_a pi_b) / (pi_a + pi_b + nu sqrt(pi_a pi_b))``.

In both, a decided battle follows Bradley-Terry exactly, and a tie is ``"tie (bothbad)"`` with probability
``bothbad_share``, independently of the pair. With ``voter_sd`` or ``prompt_sd`` above 0 the true ratings are
those of the typical voter and prompt; averaged over voters, win probabilities shrink toward 1/2 (a logistic-
normal attenuation, about ``1 / sqrt(1 + pi * s^2 / 8)`` on the logit scale with
``s = lam * sqrt(2 (voter_sd^2 + prompt_sd^2))``).

Pairing
-------
In every scheme each model's expected share of appearances is proportional to ``model_weights`` (equal by
default); the scheme only changes who meets whom:

* ``"uniform"``: every pair can meet; ``P(i, j)`` proportional to ``w_i w_j`` (all pairs equally likely by
  default).
* ``"sparse"``: a ring through the models in true-rating order, folded (ranks 0, 2, 4, ..., 5, 3, 1) so that
  each model meets exactly its ``2 * neighbours`` ring neighbours, all within ``2 * neighbours`` rating ranks
  of it. The graph is connected for any ``neighbours >= 1`` and regular, so equal exposure needs no
  reweighting (a plain band would starve the top and bottom models, or need near-zero weights to avoid it).
* ``"adaptive"``: close matches are preferred, with pair weight ``exp(-|R_i - R_j| / closeness)`` times
  per-model weights; the votes come in 10 batches, and after each batch models that have appeared less than
  their target share get a larger weight (a multiplicative, Sinkhorn-like correction), as a live arena tops
  up under-sampled models. Vote order therefore matters here (online Elo sees the drift).

Uniform and sparse weights ``w`` are solved once so that expected appearances match the targets (exactly on
the complete graph; on a sparse ring as closely as bounded weights allow, with a warning when more than 5%
off).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, ndtri

from .accel import splitmix64_array

# Literal copies of analysis.votes.WINNERS / OUTCOMES (same order, so codes line up), kept here so that this
# module has no import-order dependency on the vote layer.
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
OUTCOMES = ("win_a", "win_b", "tie", "tie_bothbad")
PAIRINGS = ("uniform", "adaptive", "sparse")
TIE_MODELS = ("fixed", "davidson")

_ADAPTIVE_BATCHES = 10
_MAX_WEIGHT = 100.0  # bound on per-model pairing weights relative to their geometric mean
_STREAMS = ("ratings", "pairs", "outcomes", "voters", "prompts", "effects")
_DEFAULT_START = "2024-01-01"
_DEFAULT_FREQ = "1s"

RatingsLike = Sequence[float] | np.ndarray | Mapping[str, float] | pd.Series


class SimulationError(ValueError):
    """Raised for invalid simulator arguments; the message names the argument and the valid range."""


# ---------------------------------------------------------------------------------------------- arguments


def _check_choice(name: str, value: str, valid: Sequence[str]) -> None:
    if value not in valid:
        raise SimulationError(f"unknown {name} {value!r}; valid: {', '.join(repr(v) for v in valid)}")


def _check_scalars(
    n_votes: int, tie_rate: float, bothbad_share: float, position_bias: float, scale: float, base: float
) -> None:
    if isinstance(n_votes, bool) or not isinstance(n_votes, int | np.integer) or n_votes < 0:
        raise SimulationError(f"n_votes must be a non-negative integer, got {n_votes!r}")
    if not 0.0 <= tie_rate < 1.0:
        raise SimulationError(f"tie_rate must lie in [0, 1), got {tie_rate!r}")
    if not 0.0 <= bothbad_share <= 1.0:
        raise SimulationError(f"bothbad_share must lie in [0, 1], got {bothbad_share!r}")
    if not math.isfinite(position_bias):
        raise SimulationError(f"position_bias must be finite (Elo points), got {position_bias!r}")
    if not (math.isfinite(scale) and scale > 0):
        raise SimulationError(f"scale must be a positive number of Elo points, got {scale!r}")
    if not (math.isfinite(base) and base > 1):
        raise SimulationError(f"base must be a number above 1, got {base!r}")


def _check_clusters(name: str, n: int | None, sd: float) -> None:
    if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1):
        raise SimulationError(f"{name} must be a positive integer or None, got {n!r}")
    sd_name = "voter_sd" if name == "n_voters" else "prompt_sd"
    if not (math.isfinite(sd) and sd >= 0):
        raise SimulationError(f"{sd_name} must be a non-negative number of Elo points, got {sd!r}")
    if sd > 0 and n is None:
        raise SimulationError(f"{sd_name}={sd} needs {name}: the effects belong to {name[2:]}")


def _as_named(values: RatingsLike, what: str) -> tuple[list[str] | None, np.ndarray]:
    """Split a mapping / Series / array into (names or None, float values)."""
    if isinstance(values, pd.Series):
        names, arr = [str(k) for k in values.index], values.to_numpy(dtype=float)
    elif isinstance(values, Mapping):
        names, arr = [str(k) for k in values], np.asarray(list(values.values()), dtype=float)
    else:
        names, arr = None, np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise SimulationError(f"{what} must be one-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise SimulationError(f"{what} contain {int((~np.isfinite(arr)).sum())} non-finite value(s)")
    return names, arr


def _resolve_names(n_models: int, names: list[str] | None, model_names: Sequence[str] | None) -> list[str]:
    if names is not None and model_names is not None and list(map(str, model_names)) != names:
        raise SimulationError("ratings carry model names and model_names disagrees with them; pass one")
    if names is None and model_names is not None:
        names = [str(m) for m in model_names]
    if names is None:
        width = len(str(n_models - 1))
        names = [f"m{i:0{width}d}" for i in range(n_models)]
    if len(names) != n_models:
        raise SimulationError(f"model_names has {len(names)} names for n_models={n_models}")
    if len(set(names)) != len(names):
        dup = pd.Index(names)[pd.Index(names).duplicated()].unique().tolist()
        raise SimulationError(f"model names must be unique; repeated: {dup[:10]}")
    return names


def _resolve_models(
    n_models: int | None,
    ratings: RatingsLike | None,
    model_names: Sequence[str] | None,
    init: float,
    rng: np.random.Generator,
) -> tuple[list[str], np.ndarray, str, list[str]]:
    """Model names (sorted, as read_votes sorts its categories), true ratings centred at ``init``, where the
    ratings came from, and the names in the caller's order (the order of array arguments)."""
    names, values = (None, None) if ratings is None else _as_named(ratings, "ratings")
    if n_models is None:
        if values is None:
            raise SimulationError("n_models is None and no ratings were given; pass one of them")
        n_models = len(values)
    if isinstance(n_models, bool) or not isinstance(n_models, int | np.integer) or n_models < 2:
        raise SimulationError(f"n_models must be an integer >= 2 (a battle needs two models), "
                              f"got {n_models!r}")
    n_models = int(n_models)
    if values is not None and len(values) != n_models:
        raise SimulationError(f"ratings has {len(values)} values for n_models={n_models}")
    names = _resolve_names(n_models, names, model_names)
    if values is None:
        # Spread typical of a real arena board: sd 100 Elo points.
        values, source = rng.normal(init, 100.0, size=n_models), "drawn"
    else:
        source = "given"
    order = np.argsort(np.asarray(names, dtype=object), kind="stable")
    sorted_names = [names[i] for i in order]
    centred = values[order] - values.mean() + init  # ratings are identified up to a constant: fix the mean
    return sorted_names, centred, source, names


def _resolve_weights(model_weights: RatingsLike | None, names: list[str], original: list[str]) -> np.ndarray:
    """Target appearance shares in the sorted model order (sum 1)."""
    k = len(names)
    if model_weights is None:
        return np.full(k, 1.0 / k)
    keys, arr = _as_named(model_weights, "model_weights")
    if len(arr) != k:
        raise SimulationError(f"model_weights has {len(arr)} values for {k} models")
    if (arr <= 0).any():
        raise SimulationError("model_weights must all be positive (a model with weight 0 never plays)")
    if keys is None:
        keys = original
    missing = sorted(set(names) - set(keys))
    if missing:
        raise SimulationError(f"model_weights lacks model(s) {missing[:10]}")
    share = pd.Series(arr, index=keys).reindex(names).to_numpy()
    share = share / share.sum()
    if share.max() > 0.5 + 1e-12:
        raise SimulationError(
            f"model_weights gives one model {share.max():.1%} of appearances; at most 50% is possible "
            "(a model is in every battle at most once)"
        )
    return share


# ---------------------------------------------------------------------------------------------- pairing


def _pair_kernel(ratings: np.ndarray, pairing: str, neighbours: int, closeness: float) -> np.ndarray:
    """Symmetric K x K matrix of relative pair weights before per-model weights; zero diagonal."""
    k = len(ratings)
    if pairing == "uniform":
        kernel = np.ones((k, k))
    elif pairing == "adaptive":
        kernel = np.exp(-np.abs(ratings[:, None] - ratings[None, :]) / closeness)
    else:  # sparse: neighbours on the folded rating ring, see the module docstring
        pos = _ring_position(ratings)
        gap = np.abs(pos[:, None] - pos[None, :])
        kernel = (np.minimum(gap, k - gap) <= neighbours).astype(float)
    np.fill_diagonal(kernel, 0.0)
    return kernel


def _ring_position(ratings: np.ndarray) -> np.ndarray:
    """Position of each model on a ring that visits ranks 0, 2, 4, ... up and ..., 5, 3, 1 back down.

    Ring neighbours are then at most two rating ranks apart, also where the ring closes.
    """
    k = len(ratings)
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(ratings, kind="stable")] = np.arange(k)
    half, odd = np.divmod(rank, 2)
    return np.where(odd == 0, half, k - 1 - half)


def _appearance_share(kernel: np.ndarray, w: np.ndarray) -> np.ndarray:
    # Expected share of appearances when P(i, j) is proportional to kernel_ij w_i w_j.
    load = w * (kernel @ w)
    return load / load.sum()


def _balance(kernel: np.ndarray, target: np.ndarray, max_iter: int = 2000, tol: float = 1e-6) -> np.ndarray:
    """Per-model weights ``w`` with expected appearance shares equal to ``target`` (symmetric Sinkhorn).

    The square root splits each correction between the two ends of a pair, which keeps the symmetric
    iteration from oscillating. Weights stay within a factor ``_MAX_WEIGHT`` of their geometric mean: on a
    sparse ring some exposure patterns are reachable only by starving edges (or not at all), and a starved
    edge would quietly disconnect the comparison graph. Then the shares are approximate, with a warning.
    """
    w = np.ones(len(target))
    for _ in range(max_iter):
        share = _appearance_share(kernel, w)
        if np.max(np.abs(share / target - 1.0)) < tol:
            return w
        w *= np.sqrt(target / share)
        w = np.clip(w / np.exp(np.log(w).mean()), 1.0 / _MAX_WEIGHT, _MAX_WEIGHT)
    error = np.max(np.abs(_appearance_share(kernel, w) / target - 1.0))
    if error > 0.05:
        warnings.warn(
            f"the pairing graph cannot give every model its requested share of appearances (off by up to "
            f"{error:.0%}); with pairing='sparse', a larger neighbours= helps",
            RuntimeWarning,
            stacklevel=4,  # point at the caller of simulate_arena / simulate_counts
        )
    return w


def _pair_table(kernel: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unordered pairs (i < j) that can meet and their probabilities."""
    i, j = np.triu_indices(len(w), k=1)
    p = kernel[i, j] * w[i] * w[j]
    keep = p > 0
    i, j, p = i[keep], j[keep], p[keep]
    return i, j, p / p.sum()


def _orient(rng: np.random.Generator, i: np.ndarray, j: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Either model is shown first with probability 1/2, so position effects are identifiable.
    flip = rng.random(len(i)) < 0.5
    return np.where(flip, j, i), np.where(flip, i, j)


def _draw_from_table(
    rng: np.random.Generator, table: tuple[np.ndarray, np.ndarray, np.ndarray], n: int
) -> tuple[np.ndarray, np.ndarray]:
    i, j, p = table
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    pick = np.searchsorted(cdf, rng.random(n), side="right")
    return _orient(rng, i[pick], j[pick])


def _batch_sizes(n: int, batches: int) -> list[int]:
    base, extra = divmod(n, batches)
    return [base + (b < extra) for b in range(batches)]


def _run_adaptive(
    kernel: np.ndarray, target: np.ndarray, n_votes: int, draw: Callable[[int, np.ndarray], np.ndarray]
) -> None:
    """Drive the adaptive scheme: ``draw(size, w)`` draws a batch with per-model weights ``w`` (pair weight
    ``kernel_ij w_i w_j``) and returns each model's appearances in it.

    Weights start at 1, so the first batch favours the middle of the board, and are multiplied after each
    batch by sqrt(target share / share so far): the batch analogue of :func:`_balance`.
    """
    w = np.ones(len(target))
    seen = np.zeros(len(target))
    for size in _batch_sizes(n_votes, _ADAPTIVE_BATCHES):
        if size == 0:
            continue
        seen += draw(size, w)
        # Half a vote of prior keeps a model that has not appeared yet from getting an infinite weight.
        share = (seen + 0.5) / (seen.sum() + 0.5 * len(seen))
        w = w * np.sqrt(target / share)
        w /= w.mean()


def _draw_pairs(
    rng: np.random.Generator, ratings: np.ndarray, target: np.ndarray, uniform_target: bool, pairing: str,
    neighbours: int, closeness: float, n: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Model codes (model_a, model_b) of ``n`` battles, in vote order."""
    k = len(ratings)
    if pairing == "uniform" and uniform_target:
        # Fast path: an ordered pair uniformly among the k (k - 1), no table needed.
        a = rng.integers(0, k, size=n)
        b = (a + rng.integers(1, k, size=n)) % k
        return a, b
    kernel = _pair_kernel(ratings, pairing, neighbours, closeness)
    if pairing != "adaptive":
        return _draw_from_table(rng, _pair_table(kernel, _balance(kernel, target)), n)
    parts_a, parts_b = [], []

    def draw(size: int, w: np.ndarray) -> np.ndarray:
        a, b = _draw_from_table(rng, _pair_table(kernel, w), size)
        parts_a.append(a)
        parts_b.append(b)
        return np.bincount(a, minlength=k) + np.bincount(b, minlength=k)

    _run_adaptive(kernel, target, n, draw)
    if not parts_a:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(parts_a), np.concatenate(parts_b)


# ---------------------------------------------------------------------------------------------- outcomes


def _outcome_probs(d: np.ndarray, tie_rate: float, tie_model: str) -> tuple[np.ndarray, np.ndarray]:
    """P(model_a wins) and P(model_b wins) from logit differences ``d``; a tie takes the rest."""
    if tie_model == "fixed" or tie_rate == 0.0:
        p_a = (1.0 - tie_rate) * expit(d)
        return p_a, (1.0 - tie_rate) * expit(-d)
    nu = 2.0 * tie_rate / (1.0 - tie_rate)
    # Divide e^{d/2} : e^{-d/2} : nu by the larger exponential; x = e^{-|d|/2} never overflows.
    x = np.exp(-0.5 * np.abs(d))
    top = 1.0 / (1.0 + x * x + nu * x)
    bottom = x * x * top
    ahead = d >= 0
    return np.where(ahead, top, bottom), np.where(ahead, bottom, top)


def _draw_outcomes(
    rng: np.random.Generator, p_a: np.ndarray, p_b: np.ndarray, bothbad_share: float
) -> np.ndarray:
    """Winner codes (order of :data:`WINNERS`) by one uniform per battle against cumulative thresholds."""
    u = rng.random(len(p_a))
    decided = p_a + p_b
    # "tie (bothbad)" takes the top of the tie band.
    bothbad_from = decided + (1.0 - decided) * (1.0 - bothbad_share)
    codes = (u >= p_a).astype(np.int8)
    codes += u >= decided
    codes += u >= bothbad_from
    return codes


def _cell_probs(
    ratings: np.ndarray, a: np.ndarray, b: np.ndarray, position_bias: float, lam: float, tie_rate: float,
    tie_model: str, bothbad_share: float,
) -> np.ndarray:
    """(n, 4) outcome probabilities in :data:`OUTCOMES` order for ordered pairs (a, b)."""
    p_a, p_b = _outcome_probs(lam * (ratings[a] + position_bias - ratings[b]), tie_rate, tie_model)
    tie = np.clip(1.0 - p_a - p_b, 0.0, 1.0)
    return np.column_stack([p_a, p_b, tie * (1.0 - bothbad_share), tie * bothbad_share])


# ---------------------------------------------------------------------------------------------- clusters


def _cluster_effect(ids: np.ndarray, model: np.ndarray, k: int, sd: float, salt: int) -> np.ndarray:
    """N(0, sd^2) effect of cluster ``ids`` on ``model`` (Elo points), one fixed value per (cluster, model).

    Counter-based (a hash of the pair) rather than a stored clusters x models table: memory stays O(votes)
    however many voters there are, and the value does not depend on vote order.
    """
    key = ids.astype(np.uint64) * np.uint64(k) + model.astype(np.uint64)
    h = splitmix64_array(key ^ np.uint64(salt))
    u = ((h >> 11).astype(np.float64) + 0.5) * 2.0**-53  # 53 random bits, strictly inside (0, 1)
    return sd * ndtri(u)


def _zipf_ids(rng: np.random.Generator, n_ids: int, size: int, exponent: float) -> np.ndarray:
    """Cluster ids 0..n_ids-1 with P(id = r) roughly proportional to (r + 1) ** -exponent.

    Inverse CDF of a power law truncated to [1, n_ids + 1), floored: O(1) per draw, no table search.
    Id 0 is the most active cluster.
    """
    u = rng.random(size)
    top = n_ids + 1.0
    if abs(exponent - 1.0) < 1e-12:
        x = np.exp(u * np.log(top))
    else:
        s = 1.0 - exponent
        x = (1.0 + u * (top**s - 1.0)) ** (1.0 / s)
    return np.minimum(np.floor(x).astype(np.int64) - 1, n_ids - 1)


def _timestamps(start: Any, freq: Any, n: int) -> pd.DatetimeIndex:
    stamp = pd.Timestamp(_DEFAULT_START if start is None else start)
    if stamp.tz is None:
        stamp = stamp.tz_localize("UTC")  # read_votes returns UTC timestamps
    return pd.date_range(start=stamp, periods=n, freq=_DEFAULT_FREQ if freq is None else freq)


# ---------------------------------------------------------------------------------------------- public API


def _streams(seed: int | None) -> tuple[dict[str, np.random.Generator], int]:
    """Independent generators per ingredient, so that e.g. adding voters does not change the pairs drawn."""
    seq = np.random.SeedSequence(seed)
    children = seq.spawn(len(_STREAMS))
    gens = {name: np.random.Generator(np.random.PCG64(s)) for name, s in zip(_STREAMS, children, strict=True)}
    return gens, seq.entropy


def _setup(
    n_models, n_votes, ratings, model_weights, model_names, tie_rate, bothbad_share, position_bias, pairing,
    tie_model, neighbours, closeness, scale, base, init, seed,
) -> dict[str, Any]:
    """Validate the shared arguments and resolve names, ratings, targets and generators."""
    _check_choice("pairing", pairing, PAIRINGS)
    _check_choice("tie_model", tie_model, TIE_MODELS)
    _check_scalars(n_votes, tie_rate, bothbad_share, position_bias, scale, base)
    if isinstance(neighbours, bool) or not isinstance(neighbours, int | np.integer) or neighbours < 1:
        raise SimulationError(f"neighbours must be an integer >= 1 (sparse pairing), got {neighbours!r}")
    if not (math.isfinite(closeness) and closeness > 0):
        raise SimulationError(f"closeness must be a positive number of Elo points (adaptive), "
                              f"got {closeness!r}")
    gens, entropy = _streams(seed)
    names, true, source, original = _resolve_models(n_models, ratings, model_names, init, gens["ratings"])
    target = _resolve_weights(model_weights, names, original)
    params = {
        "n_models": len(names),
        "n_votes": int(n_votes),
        "ratings": source,
        "model_weights": None if model_weights is None else "given",
        "tie_rate": float(tie_rate),
        "tie_model": tie_model,
        "davidson_nu": 2.0 * tie_rate / (1.0 - tie_rate) if tie_model == "davidson" else None,
        "bothbad_share": float(bothbad_share),
        "position_bias": float(position_bias),
        "pairing": pairing,
        "neighbours": int(neighbours),
        "closeness": float(closeness),
        "scale": float(scale),
        "base": float(base),
        "init": float(init),
        "seed": seed,
        "entropy": entropy,
    }
    return {
        "names": names,
        "true": true,
        "target": target,
        "uniform_target": model_weights is None,
        "gens": gens,
        "lam": math.log(base) / scale,
        "params": params,
    }


def _attach(df: pd.DataFrame, ctx: dict[str, Any], params: dict[str, Any]) -> pd.DataFrame:
    # A plain dict, not a Series: pandas compares attrs with == when concatenating or merging (columns inherit
    # their frame's attrs), and a Series there raises "truth value is ambiguous", e.g. in
    # pd.concat([df.model_a, df.model_b]). true_ratings(df) gives the Series.
    df.attrs["true_ratings"] = {name: float(r) for name, r in zip(ctx["names"], ctx["true"], strict=True)}
    df.attrs["params"] = params
    return df


def true_ratings(sim: pd.DataFrame | pd.Series) -> pd.Series:
    """The true ratings of a simulated frame as a Series indexed by model (Elo points, mean ``init``).

    Raises
    ------
    SimulationError
        The frame carries no ``attrs["true_ratings"]`` (not simulated, or the attrs were dropped).
    """
    truth = sim.attrs.get("true_ratings")
    if truth is None:
        raise SimulationError("no attrs['true_ratings'] on this frame: it was not made by analysis.simulate, "
                              "or an operation dropped its attrs")
    return pd.Series(truth, name="rating", dtype=float).rename_axis("model")


def simulate_arena(
    n_models: int | None,
    n_votes: int,
    *,
    ratings: RatingsLike | None = None,
    tie_rate: float = 0.0,
    tie_model: str = "fixed",
    bothbad_share: float = 0.5,
    position_bias: float = 0.0,
    pairing: str = "uniform",
    neighbours: int = 2,
    closeness: float = 200.0,
    model_weights: RatingsLike | None = None,
    n_voters: int | None = None,
    voter_sd: float = 0.0,
    n_prompts: int | None = None,
    prompt_sd: float = 0.0,
    zipf_exponent: float = 1.0,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    model_names: Sequence[str] | None = None,
    start: Any = None,
    freq: Any = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Simulate arena battles from known true ratings (the generative model is in the module docstring).

    Parameters
    ----------
    n_models
        Number of models (>= 2). May be None when ``ratings`` is given.
    n_votes
        Number of battles (rows).
    ratings
        True ratings in Elo points: an array (in ``model_names`` order), a ``{model: rating}`` mapping or a
        Series indexed by model. Default: drawn from N(init, 100^2) with the seed. Re-centred to mean
        ``init``.
    tie_rate
        In [0, 1). ``"fixed"``: the probability of a tie in every battle; ``"davidson"``: the probability of a
        tie between equally rated models (``nu = 2 tie_rate / (1 - tie_rate)``).
    tie_model
        ``"fixed"`` or ``"davidson"``.
    bothbad_share
        Share of ties recorded as ``"tie (bothbad)"``.
    position_bias
        Advantage of the model shown first (``model_a``), in Elo points.
    pairing
        ``"uniform"``, ``"adaptive"`` or ``"sparse"`` (see the module docstring).
    neighbours
        Sparse pairing: each model meets this many neighbours on each side in true-rating order.
    closeness
        Adaptive pairing: pair weight ``exp(-|R_i - R_j| / closeness)``, Elo points.
    model_weights
        Relative appearance frequency per model (array, mapping or Series; e.g. a board's appearances).
    n_voters, voter_sd
        Add ``voter_id`` (Zipf-like: id 0 votes most). ``voter_sd`` (Elo points) gives each voter its own
        N(0, voter_sd^2) offset per model, so a voter's votes are correlated (cluster bootstraps widen).
    n_prompts, prompt_sd
        The same for ``prompt_id`` (a prompt-by-model interaction).
    zipf_exponent
        Exponent of the voter and prompt activity law, ``P(id = r)`` proportional to ``(r + 1) ** -exponent``.
    scale, base
        Elo scale: ``P(i beats j) = 1 / (1 + base ** ((R_j - R_i) / scale))``.
    init
        Mean of the true ratings (the gauge).
    model_names
        Names in the order of an array ``ratings``; default ``m0, m1, ...`` zero-padded.
    start, freq
        If either is given, add a UTC ``timestamp`` column in vote order starting at ``start`` (default
        2024-01-01) with spacing ``freq`` (default one second), anything ``pd.date_range`` accepts.
    seed
        Seed of ``Generator(PCG64)``; the same seed gives the same frame.

    Returns
    -------
    pandas.DataFrame
        One row per battle: ``model_a``, ``model_b`` (categoricals over the same sorted model names),
        ``winner`` (categorical over :data:`WINNERS`), then ``voter_id``, ``prompt_id`` (int64) and
        ``timestamp`` when asked for. ``attrs["true_ratings"]``: ``{model: true Elo rating}`` with mean
        ``init`` (:func:`true_ratings` returns it as a Series). ``attrs["params"]``: every argument (arrays
        summarised), plus the seed entropy.

    Raises
    ------
    SimulationError
        An argument out of range; the message names it and the valid values.
    """
    ctx = _setup(n_models, n_votes, ratings, model_weights, model_names, tie_rate, bothbad_share,
                 position_bias, pairing, tie_model, neighbours, closeness, scale, base, init, seed)
    _check_clusters("n_voters", n_voters, voter_sd)
    _check_clusters("n_prompts", n_prompts, prompt_sd)
    if not (math.isfinite(zipf_exponent) and zipf_exponent >= 0):
        raise SimulationError(f"zipf_exponent must be a non-negative number, got {zipf_exponent!r}")
    gens, true, k, n = ctx["gens"], ctx["true"], len(ctx["names"]), int(n_votes)

    a, b = _draw_pairs(gens["pairs"], true, ctx["target"], ctx["uniform_target"], pairing, neighbours,
                       closeness, n)
    diff = true[a] - true[b]
    diff += position_bias
    extra: dict[str, np.ndarray] = {}
    salts = gens["effects"].integers(0, 2**63, size=2)
    for col, size, sd, stream, salt in (("voter_id", n_voters, voter_sd, "voters", salts[0]),
                                        ("prompt_id", n_prompts, prompt_sd, "prompts", salts[1])):
        if size is None:
            continue
        ids = _zipf_ids(gens[stream], int(size), n, zipf_exponent)
        extra[col] = ids
        if sd > 0:
            diff += _cluster_effect(ids, a, k, sd, int(salt))
            diff -= _cluster_effect(ids, b, k, sd, int(salt))
    p_a, p_b = _outcome_probs(ctx["lam"] * diff, tie_rate, tie_model)
    codes = _draw_outcomes(gens["outcomes"], p_a, p_b, bothbad_share)

    df = pd.DataFrame(
        {
            "model_a": pd.Categorical.from_codes(a.astype(np.int32), categories=ctx["names"]),
            "model_b": pd.Categorical.from_codes(b.astype(np.int32), categories=ctx["names"]),
            "winner": pd.Categorical.from_codes(codes, categories=list(WINNERS)),
        }
    )
    for col, ids in extra.items():
        df[col] = ids
    if start is not None or freq is not None:
        df["timestamp"] = _timestamps(start, freq, n)
    params = dict(ctx["params"], n_voters=n_voters, voter_sd=float(voter_sd), n_prompts=n_prompts,
                  prompt_sd=float(prompt_sd), zipf_exponent=float(zipf_exponent),
                  start=None if start is None else str(start), freq=None if freq is None else str(freq))
    return _attach(df, ctx, params)


def simulate_counts(
    n_models: int | None,
    n_votes: int,
    *,
    ratings: RatingsLike | None = None,
    tie_rate: float = 0.0,
    tie_model: str = "fixed",
    bothbad_share: float = 0.5,
    position_bias: float = 0.0,
    pairing: str = "uniform",
    neighbours: int = 2,
    closeness: float = 200.0,
    model_weights: RatingsLike | None = None,
    scale: float = 400.0,
    base: float = 10.0,
    init: float = 1000.0,
    model_names: Sequence[str] | None = None,
    seed: int | None = None,
) -> pd.DataFrame:
    """Simulate the sufficient statistics of an arena directly: counts per (model_a, model_b, outcome).

    Same model and arguments as :func:`simulate_arena` (without voters, prompts and timestamps, which need
    single votes), drawn by multinomials instead of per vote, so the cost depends on the number of pairs, not
    of votes: a billion votes cost the same as a thousand. Pair totals are multinomial over pairs, the
    shown-first split binomial(1/2), and the outcomes multinomial per ordered pair. The same seed gives the
    same true ratings as :func:`simulate_arena`; the counts have the same distribution as
    ``votes.aggregate(simulate_arena(...))`` for every pairing.

    Returns
    -------
    pandas.DataFrame
        The ``votes.aggregate`` schema: ``model_a``, ``model_b`` (categoricals over the sorted model
        names), ``outcome`` (categorical over :data:`OUTCOMES`), ``count`` (int64); nonzero cells only,
        sorted.
        ``attrs`` as in :func:`simulate_arena`.
    """
    ctx = _setup(n_models, n_votes, ratings, model_weights, model_names, tie_rate, bothbad_share,
                 position_bias, pairing, tie_model, neighbours, closeness, scale, base, init, seed)
    gens, true, k = ctx["gens"], ctx["true"], len(ctx["names"])
    pair_counts = _count_pairs(gens["pairs"], true, ctx["target"], pairing, neighbours, closeness,
                               int(n_votes))
    # Ordered cells (a, b): n_ab ~ Binomial(n_pair, 1/2) shown one way round, the rest the other.
    i, j = np.triu_indices(k, k=1)
    forward = gens["pairs"].binomial(pair_counts, 0.5)
    cell_a = np.concatenate([i, j])
    cell_b = np.concatenate([j, i])
    cell_n = np.concatenate([forward, pair_counts - forward])
    probs = _cell_probs(true, cell_a, cell_b, position_bias, ctx["lam"], tie_rate, tie_model, bothbad_share)
    probs /= probs.sum(axis=1, keepdims=True)
    counts = gens["outcomes"].multinomial(cell_n, probs)  # (cells, 4)

    # Flatten to one row per nonzero (a, b, outcome), in the (a, b, outcome) order aggregate() uses.
    key = (cell_a[:, None] * k + cell_b[:, None]) * 4 + np.arange(4)[None, :]
    key, cnt = key.ravel(), counts.ravel()
    nz = np.flatnonzero(cnt)
    order = nz[np.argsort(key[nz], kind="stable")]
    ab, out = np.divmod(key[order], 4)
    ia, ib = np.divmod(ab, k)
    df = pd.DataFrame(
        {
            "model_a": pd.Categorical.from_codes(ia.astype(np.int32), categories=ctx["names"]),
            "model_b": pd.Categorical.from_codes(ib.astype(np.int32), categories=ctx["names"]),
            "outcome": pd.Categorical.from_codes(out.astype(np.int8), categories=list(OUTCOMES)),
            "count": cnt[order].astype(np.int64),
        }
    )
    return _attach(df, ctx, dict(ctx["params"], form="counts"))


def _count_pairs(
    rng: np.random.Generator, ratings: np.ndarray, target: np.ndarray, pairing: str, neighbours: int,
    closeness: float, n: int,
) -> np.ndarray:
    """Battles per unordered pair, over all (i < j) in ``np.triu_indices`` order."""
    k = len(ratings)
    kernel = _pair_kernel(ratings, pairing, neighbours, closeness)
    i, j = np.triu_indices(k, k=1)
    total = np.zeros(len(i), dtype=np.int64)
    if pairing != "adaptive":
        w = _balance(kernel, target)
        p = kernel[i, j] * w[i] * w[j]
        return rng.multinomial(n, p / p.sum())

    def draw(size: int, w: np.ndarray) -> np.ndarray:
        p = kernel[i, j] * w[i] * w[j]
        drawn = rng.multinomial(size, p / p.sum())
        total[:] += drawn  # in place: the closure must not rebind `total`
        return np.bincount(i, drawn, minlength=k) + np.bincount(j, drawn, minlength=k)

    _run_adaptive(kernel, target, n, draw)
    return total


def simulate_from_board(
    board: pd.DataFrame,
    n_votes: int,
    *,
    pairing: str = "uniform",
    seed: int | None = None,
    model_col: str = "model",
    rating_col: str | None = None,
    appearances_col: str | None = "appearances",
    counts: bool = False,
    **kwargs: Any,
) -> pd.DataFrame:
    """Simulate battles whose truth is a published board (e.g. an Artificial Analysis video arena).

    Parameters
    ----------
    board
        One row per model with a model column and a rating column (Elo points); optionally appearances.
    n_votes
        Number of battles.
    pairing, seed
        As in :func:`simulate_arena`.
    model_col, rating_col
        Column names; ``rating_col=None`` takes ``"rating"``, else ``"elo"``.
    appearances_col
        If present in ``board``, each model's share of simulated appearances follows it (the board's
        exposure pattern); None or an absent column means equal exposure.
    counts
        Return :func:`simulate_counts` output instead of battles.
    **kwargs
        Any other argument of :func:`simulate_arena` (``tie_rate``, ``position_bias``, ``n_voters``, ...).

    Returns
    -------
    pandas.DataFrame
        As :func:`simulate_arena` (or :func:`simulate_counts`). ``init`` is the board's mean rating, so
        ``attrs["true_ratings"]`` equals the board's ratings exactly.
    """
    fixed = sorted({"ratings", "model_names", "model_weights", "init", "n_models"} & set(kwargs))
    if fixed:
        raise SimulationError(f"simulate_from_board takes {fixed} from the board; do not pass them")
    if rating_col is None:
        rating_col = next((c for c in ("rating", "elo") if c in board.columns), "rating")
    missing = [c for c in (model_col, rating_col) if c not in board.columns]
    if missing:
        raise SimulationError(f"board is missing column(s) {missing}; found {list(board.columns)}")
    models = board[model_col].astype("string")
    if models.isna().any():
        raise SimulationError(f"board column {model_col!r} has {int(models.isna().sum())} null model name(s)")
    rating = pd.to_numeric(board[rating_col], errors="coerce")
    if rating.isna().any():
        bad = board.loc[rating.isna(), model_col].tolist()
        raise SimulationError(f"board column {rating_col!r} has missing or non-numeric ratings "
                              f"for {bad[:10]}")
    true = pd.Series(rating.to_numpy(dtype=float), index=models.tolist())
    weights = None
    if appearances_col is not None and appearances_col in board.columns:
        weights = pd.Series(pd.to_numeric(board[appearances_col], errors="coerce").to_numpy(dtype=float),
                            index=models.tolist())
        if weights.isna().any():
            raise SimulationError(f"board column {appearances_col!r} has missing values; pass "
                                  "appearances_col=None for equal exposure")
    fn = simulate_counts if counts else simulate_arena
    df = fn(len(true), n_votes, ratings=true, model_weights=weights, init=float(true.mean()), pairing=pairing,
            seed=seed, **kwargs)
    df.attrs["params"]["board"] = {"model_col": model_col, "rating_col": rating_col,
                                   "appearances_col": appearances_col if weights is not None else None}
    return df


# ---------------------------------------------------------------------------------------------- human vs metric


def simulate_ratings(n_models: int = 4, n_prompts: int = 40, *, prompt_sd: float = 1.0, rho_prompt: float = 0.5,
                     rho_video: float = 0.4, seed: int | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Human and metric scores of videos with a known population agreement, for checking correlation intervals.

    Every prompt has a shared effect on both sides, ``(u, v) ~ N(0, prompt_sd^2, corr rho_prompt)``; every video
    adds ``(e, f) ~ N(0, 1, corr rho_video)``: human = u + e, metric = v + f. Models have no effect, so a video's
    (human, metric) pair is bivariate normal with correlation rho = (prompt_sd^2 rho_prompt + rho_video) /
    (prompt_sd^2 + 1).

    Returns
    -------
    (pandas.DataFrame, dict)
        One row per video (model, prompt, human, metric), and the truth: ``video_pearson`` = rho,
        ``video_spearman`` = 6 / pi asin(rho / 2), and ``vote_agreement`` = 1/2 + asin(rho_video) / pi (two
        videos of one prompt share u and v, so the metric orders them like people with that probability).
    """
    rng = np.random.default_rng(seed)
    cov_p = prompt_sd**2 * np.array([[1.0, rho_prompt], [rho_prompt, 1.0]])
    uv = rng.multivariate_normal([0.0, 0.0], cov_p, size=n_prompts)
    ef = rng.multivariate_normal([0.0, 0.0], [[1.0, rho_video], [rho_video, 1.0]], size=(n_prompts, n_models))
    scores = uv[:, None, :] + ef
    df = pd.DataFrame({
        "model": np.tile([f"m{k}" for k in range(n_models)], n_prompts),
        "prompt": np.repeat(np.arange(n_prompts), n_models),
        "human": scores[..., 0].ravel(),
        "metric": scores[..., 1].ravel(),
    })
    rho = (prompt_sd**2 * rho_prompt + rho_video) / (prompt_sd**2 + 1)
    truth = {"video_pearson": rho, "video_spearman": 6 / math.pi * math.asin(rho / 2),
             "vote_agreement": 0.5 + math.asin(rho_video) / math.pi}
    return df, truth


def correlation_coverage(reps: int = 200, *, n_models: int = 4, n_prompts: int = 40, prompt_sd: float = 1.0,
                         resamples: int = 200, cluster: bool = True, seed: int = 0, level: float = 0.95
                         ) -> pd.DataFrame:
    """How often the intervals of :func:`analysis.correlation.correlate` cover the truth of :func:`simulate_ratings`.

    Parameters
    ----------
    reps, n_models, n_prompts, prompt_sd
        Repetitions, and the size and prompt effect of each simulated data set (see :func:`simulate_ratings`).
    resamples, level
        Bootstrap size and confidence level of each interval.
    cluster
        Resample prompts (True, the right cluster here) or single videos (False: ignores that a prompt's videos
        share its effect, so intervals come out too narrow; useful as a check that coverage can fail).

    Returns
    -------
    pandas.DataFrame
        One row per (unit, method): truth, coverage (share of reps whose interval holds the truth), its
        binomial standard error, mean width, mean estimate, reps.
    """
    from .correlation import correlate

    rng = np.random.default_rng(seed)
    hits: dict[tuple[str, str], list[tuple[bool, float, float]]] = {}
    truth: dict[str, float] = {}
    for _ in range(reps):
        df, truth = simulate_ratings(n_models, n_prompts, prompt_sd=prompt_sd, seed=int(rng.integers(2**63)))
        df["video"] = np.arange(len(df))
        # Without clusters each video is its own item, so there are no within-item pairs: video unit only.
        res = correlate(df, df, unit=["video", "vote"] if cluster else "video", method=["spearman", "pearson"],
                        human_col="human", metric_col="metric", item_cols="prompt" if cluster else "video",
                        resamples=resamples, seed=int(rng.integers(2**63)), level=level)
        res = res[res["group"] == "all"]
        for r in res.itertuples():
            key = f"{r.unit}_{r.method}" if r.unit == "video" else "vote_agreement"
            hits.setdefault((r.unit, r.method), []).append(
                (bool(r.lower <= truth[key] <= r.upper), r.upper - r.lower, r.estimate))
    rows = []
    for (unit, meth), got in hits.items():
        arr = np.array(got, dtype=float)
        cov = arr[:, 0].mean()
        key = f"{unit}_{meth}" if unit == "video" else "vote_agreement"
        rows.append({"unit": unit, "method": meth, "truth": truth[key], "coverage": cov,
                     "coverage_se": math.sqrt(cov * (1 - cov) / len(arr)), "mean_width": arr[:, 1].mean(),
                     "mean_estimate": arr[:, 2].mean(), "reps": len(arr)})
    return pd.DataFrame(rows)
