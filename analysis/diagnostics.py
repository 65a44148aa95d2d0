"""Board audit: does the Bradley-Terry model fit the votes, and is the board well identified?

``diagnostics(data, fit)`` returns a :class:`Diagnostics` of tidy tables, each answering one question a reviewer
asks (``.table`` is the tests table; the others are attributes of the same name):

=============  ============================================================================================
tests          one row per global test: G-test and Pearson chi-square of the pair groups, G-test of
               calibration (statistic, df, p_value); also ``.table``
pairs          goodness of fit per pair group: observed vs predicted score, residual, z, G contribution
calibration    observed vs predicted score by predicted-probability bin (favourite's side, p >= 0.5)
triads         intransitive triads of the observed pairwise majorities (a > b > c > a)
graph          the comparison graph in one row: models, pairs, density, components, minimum degree,
               algebraic connectivity (unweighted, vote-weighted and Fisher-information-weighted), complete
               triples (three models that all met each other), cyclic triads and their share
components     one row per connected component with its models
models         votes per model: n_battles, wins, losses, ties, tie_rate, opponents, component
ties           overall tie rate (both kinds) in one row
position       first-shown advantage where position is known: raw share and fitted advantage (Elo points)
=============  ============================================================================================

Why these tests. The pair groups are the sufficient statistics of the fit, so a G-test over them is the
likelihood-ratio test of Bradley-Terry against the saturated model (one free probability per pair), with
df = groups - (models - 1) - extra parameters. Under ``ties="half"`` a tie is compared as half a win: a tie is
less variable than a coin flip, so the test is conservative when ties are common. Sparse pairs (expected counts
under 5) make the chi-square reference approximate; their number is reported with the test.

The graph and vote tables are computed from the counts alone, so a board that cannot be fitted (disconnected,
a model that never lost) still gets them, with the reason in ``tests``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse
import scipy.sparse.csgraph
from scipy import stats

from . import bt
from .compare import group_predictions, score_test
from .datasets import as_counts
from .ratings import Ratings, rate, record
from .results import Result
from .vocab import keyword_options


@dataclass(frozen=True, eq=False, repr=False)
class Diagnostics(Result):
    """An audit of a board (:func:`diagnostics`): one tidy table per question (module docstring).

    ``table`` is the tests table (one row per global test: test, statistic, df, p_value, note); the other
    tables are attributes: pairs, calibration, triads, graph, components, models, ties, position. pairs and
    calibration are empty when the board could not be fitted (the reason is in the tests table).
    """

    pairs: pd.DataFrame
    calibration: pd.DataFrame
    triads: pd.DataFrame
    graph: pd.DataFrame
    components: pd.DataFrame
    models: pd.DataFrame
    ties: pd.DataFrame
    position: pd.DataFrame

    title = "diagnostics"

    @property
    def tests(self) -> pd.DataFrame:
        """The tests table (the same as ``table``)."""
        return self.table

    def summary(self) -> pd.Series:
        """Graph size and connectivity, tie rate, cyclic triads, and each test's p-value."""
        g = self.graph.iloc[0]
        out: dict[str, Any] = {
            "models": int(g["models"]), "pairs": int(g["pairs"]), "votes": int(g["votes"]),
            "components": int(g["components"]), "algebraic_connectivity": float(g["algebraic_connectivity"]),
            "tie_rate": float(self.ties["tie_rate"].iloc[0]), "cyclic_triads": int(g["cyclic_triads"]),
            "cyclic_share": float(g["cyclic_share"]),
        }
        for row in self.table.itertuples(index=False):
            out[f"p_value ({row.test})"] = row.p_value
        return pd.Series(out, name=self.title, dtype=object)


def diagnostics(data: Any, fit: Ratings | None = None, *, bins: int = 10, level: float = 0.95,
                position_known: bool | None = None,
                rate_options: Mapping[str, Any] | None = None) -> Diagnostics:
    """Audit a board: goodness of fit, calibration, intransitivity, the comparison graph, votes and ties.

    Parameters
    ----------
    data
        Battles, counts, a votes path or a dataset name (what :func:`analysis.rate` accepts).
    fit
        The :class:`Ratings` to audit (a Bradley-Terry fit); default: ``rate(data, ci="none", **rate_options)``.
    bins
        Number of equal-width predicted-probability bins on [0.5, 1] for calibration.
    level
        Level of the calibration band and of the position intervals.
    position_known
        Whether model_a was really shown first. Default: known unless every count has model_a sorting before
        model_b (files stored in alphabetical order, such as the Chatbot Arena counts, have lost the order).
    rate_options
        Keyword arguments of :func:`analysis.rate` when ``fit`` is not given, e.g. ``{"recipe": "fastchat"}``.

    Returns
    -------
    Diagnostics
        ``.table`` (= ``.tests``), ``.pairs``, ``.calibration``, ``.triads``, ``.graph``, ``.components``,
        ``.models``, ``.ties``, ``.position`` (module docstring); ``.summary()`` the headline numbers.
    """
    rate_options = keyword_options(rate_options, "rate_options", "analysis.rate")
    counts = as_counts(data)
    counts = counts[counts["count"] > 0]
    graph, components, labels = comparison_graph(counts)
    triads = intransitive_triads(counts)
    complete = complete_triples(counts)
    graph = graph.assign(complete_triples=complete, cyclic_triads=len(triads),
                         cyclic_share=len(triads) / complete if complete else math.nan)
    tables = {"graph": graph, "components": components, "models": vote_table(counts, labels),
              "ties": tie_table(counts), "triads": triads,
              "position": position_table(counts, known=position_known, level=level)}
    try:
        fitted = fit if fit is not None else rate(counts, ci="none", **rate_options)
    except bt.FitError as err:
        tests = pd.DataFrame([{"test": "fit", "statistic": np.nan, "df": np.nan, "p_value": np.nan,
                               "note": f"not fitted: {err}"}])
        return Diagnostics(table=tests, pairs=pd.DataFrame(), calibration=pd.DataFrame(), **tables)
    if fitted.fit is None:
        raise ValueError("diagnostics needs a Bradley-Terry fit (method='bt'), not online Elo")
    pairs, pair_tests = _pair_fit(fitted.fit)
    cal, cal_tests = _calibration(fitted.fit, bins=bins, level=level)
    tests = pd.concat([pair_tests, cal_tests], ignore_index=True)
    return Diagnostics(table=tests, pairs=pairs, calibration=cal, **tables)


# ---------------------------------------------------------------------------------------------- goodness of fit


def _g_terms(obs: np.ndarray, exp: np.ndarray) -> np.ndarray:
    # 2 * O * log(O / E), with 0 log 0 = 0.
    ratio = np.divide(obs, exp, out=np.ones_like(obs), where=(obs > 0) & (exp > 0))
    return 2.0 * obs * np.log(ratio)


def pair_fit(fit: bt.BTFit) -> pd.DataFrame:
    """Goodness of fit per pair group.

    Returns
    -------
    pandas.DataFrame
        model_a, model_b, n, observed (score or decisive share of model_a), predicted, expected (m * p, in
        trials), residual (observed - predicted), z (score-test residual), g (G-test contribution). The
        G-test and Pearson chi-square over all groups are rows of :func:`diagnostics`' tests table.
    """
    return _pair_fit(fit)[0]


def _pair_fit(fit: bt.BTFit) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-pair table and its two global tests (``"pairs G"``, ``"pairs chi-square"``)."""
    g = group_predictions(fit)
    y, m, p = g["y"].to_numpy(float), g["m"].to_numpy(float), g["p"].to_numpy(float)
    keep = m > 0
    e1, e2 = m * p, m * (1 - p)
    gstat = _g_terms(y, e1) + _g_terms(m - y, e2)
    # The score residual uses the tie-aware variance, so the Pearson sum is not inflated or deflated by ties.
    z, _ = score_test(y, m, p, g["var"].to_numpy(float))
    out = pd.DataFrame({
        "model_a": g["model_a"], "model_b": g["model_b"], "n": g["n"],
        "observed": np.divide(y, m, out=np.full_like(m, np.nan), where=keep), "predicted": p, "expected": e1,
        "residual": np.divide(y, m, out=np.full_like(m, np.nan), where=keep) - p, "z": z, "g": gstat,
    })
    n_params = fit.table.n_models - 1 + int(fit.position) + int(fit.tau is not None)
    df = int(keep.sum()) - n_params
    chi2 = float(np.nansum(np.where(keep, z**2, 0.0)))
    g_total = float(gstat[keep].sum())
    sparse = int((np.minimum(e1, e2)[keep] < 5).sum())
    note = f"{sparse} of {int(keep.sum())} groups have an expected count under 5" if sparse else ""
    g_note, chi_note = note, note
    if fit.ties == "half" and fit.table.counts[:, 2].sum() > 0:
        g_note = "; ".join(filter(None, [note, "ties compared as half wins (conservative when ties are common)"]))
        chi_note = "; ".join(filter(None, [note, "residuals scaled by the tie-aware variance"]))
    tests = pd.DataFrame({
        "test": ["pairs G", "pairs chi-square"], "statistic": [g_total, chi2], "df": [df, df],
        "p_value": [_chi2_sf(g_total, df), _chi2_sf(chi2, df)], "note": [g_note, chi_note],
    })
    return out, tests


def _chi2_sf(stat: float, df: int) -> float:
    return float(stats.chi2.sf(stat, df)) if df > 0 else math.nan


def calibration(fit: bt.BTFit, *, bins: int = 10, level: float = 0.95) -> pd.DataFrame:
    """Observed vs predicted score by bin of predicted probability, each group seen from its favourite's side.

    Returns
    -------
    pandas.DataFrame
        One row per bin on [0.5, 1]: bin_lower, bin_upper, groups, trials (votes compared), predicted (mean,
        trial-weighted), observed, band_lower / band_upper (the ``level`` range of the observed share if the
        model is right), z. The ``"calibration G"`` row of :func:`diagnostics`' tests table is the G-test of
        observed against predicted successes over the non-empty bins (df = their number, a conservative
        reference since the predictions were fitted).
    """
    return _calibration(fit, bins=bins, level=level)[0]


def _calibration(fit: bt.BTFit, *, bins: int, level: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The calibration table and its G-test row."""
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    g = group_predictions(fit)
    y, m, p = g["y"].to_numpy(float), g["m"].to_numpy(float), g["p"].to_numpy(float)
    var = g["var"].to_numpy(float)
    flip = p < 0.5
    y, p = np.where(flip, m - y, y), np.where(flip, 1 - p, p)
    edges = np.linspace(0.5, 1.0, bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, bins - 1)
    sums = {name: np.bincount(idx, weights=w, minlength=bins)
            for name, w in (("trials", m), ("y", y), ("mp", m * p), ("v", m * var), ("groups", (m > 0) * 1.0))}
    trials = sums["trials"]
    has = trials > 0
    predicted = np.divide(sums["mp"], trials, out=np.full(bins, np.nan), where=has)
    observed = np.divide(sums["y"], trials, out=np.full(bins, np.nan), where=has)
    half = stats.norm.ppf(0.5 + level / 2) * np.sqrt(sums["v"]) / np.where(has, trials, 1.0)
    sd = np.sqrt(sums["v"])
    z = np.divide(sums["y"] - sums["mp"], sd, out=np.full(bins, np.nan), where=sd > 0)
    out = pd.DataFrame({
        "bin_lower": edges[:-1], "bin_upper": edges[1:], "groups": sums["groups"].astype(int), "trials": trials,
        "predicted": predicted, "observed": observed, "band_lower": predicted - half, "band_upper": predicted + half,
        "z": z,
    })
    o1, e1 = sums["y"][has], sums["mp"][has]
    gstat = float((_g_terms(o1, e1) + _g_terms(trials[has] - o1, trials[has] - e1)).sum())
    dof = int(has.sum())
    tests = pd.DataFrame([{"test": "calibration G", "statistic": gstat, "df": dof,
                           "p_value": _chi2_sf(gstat, dof), "note": f"{bins} bins on [0.5, 1]"}])
    return out, tests


# ---------------------------------------------------------------------------------------------- from the counts


def _pooled_pairs(counts: pd.DataFrame) -> tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray]:
    """Unordered pair totals: models, i < j codes, and (G, 3) wins of i, wins of j, ties (both kinds)."""
    table = bt.pair_table(counts, ordered=False, bothbad="tie")
    return table.models, table.i, table.j, table.counts


def comparison_graph(counts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The comparison graph (an edge between two models that met): summary row, components, labels.

    Algebraic connectivity is the second-smallest eigenvalue of the graph Laplacian: 0 exactly when the graph
    is disconnected, and small when it is held together by a few edges (then ratings on either side are only
    loosely tied). The Fisher-weighted version (edge weight n p (1 - p) at the fitted-free guess p = observed
    share) is the information a fit has across the weakest cut.
    """
    models, i, j, cnt = _pooled_pairs(counts)
    k = len(models)
    n = cnt.sum(1)
    share = np.divide(cnt[:, 0] + 0.5 * cnt[:, 2], n, out=np.full_like(n, 0.5), where=n > 0)
    adj = scipy.sparse.coo_matrix((np.ones(len(i)), (i, j)), shape=(k, k)).tocsr()
    n_comp, labels = scipy.sparse.csgraph.connected_components(adj, directed=False)
    degree = np.bincount(i, minlength=k) + np.bincount(j, minlength=k)
    lam = {name: _fiedler(k, i, j, w) for name, w in
           (("algebraic_connectivity", np.ones(len(i))), ("algebraic_connectivity_votes", n),
            ("algebraic_connectivity_fisher", n * share * (1 - share)))}
    sizes = np.bincount(labels, minlength=n_comp)
    names = np.asarray([str(m) for m in models], dtype=object)
    graph = pd.DataFrame([{
        "models": k, "pairs": len(i), "possible_pairs": k * (k - 1) // 2,
        "density": len(i) / max(1, k * (k - 1) // 2), "components": n_comp, "largest_component": int(sizes.max()),
        "min_degree": int(degree.min()), "min_degree_model": names[int(np.argmin(degree))],
        "median_degree": float(np.median(degree)), "votes": int(n.sum()), **lam,
    }])
    order = np.argsort(-sizes, kind="stable")
    components = pd.DataFrame({
        "component": np.arange(1, n_comp + 1), "size": sizes[order],
        "models": [", ".join(names[labels == c]) for c in order],
    })
    # Relabel so component 1 is the largest.
    relabel = np.empty(n_comp, dtype=int)
    relabel[order] = np.arange(1, n_comp + 1)
    return graph, components, relabel[labels]


def _fiedler(k: int, i: np.ndarray, j: np.ndarray, w: np.ndarray) -> float:
    if k < 2:
        return math.nan
    lap = np.zeros((k, k))
    np.add.at(lap, (i, j), -w)
    np.add.at(lap, (j, i), -w)
    lap[np.diag_indices(k)] = -lap.sum(1)
    vals = scipy.linalg.eigvalsh(lap, subset_by_index=[0, 1])
    return float(max(vals[1], 0.0)) if vals[1] > 1e-9 * max(1.0, abs(lap).max()) else 0.0


def vote_table(counts: pd.DataFrame, components: np.ndarray | None = None) -> pd.DataFrame:
    """Votes per model: n_battles, wins, losses, ties (both kinds), win_rate, tie_rate, opponents, component."""
    rec = record(counts)
    models, i, j, _ = _pooled_pairs(counts)
    degree = np.bincount(i, minlength=len(models)) + np.bincount(j, minlength=len(models))
    names = [str(m) for m in models]
    rec = rec.reindex(names).fillna(0)
    out = pd.DataFrame({
        "model": pd.array(names, dtype="string"), "n_battles": rec["n_battles"].to_numpy(np.int64),
        "wins": rec["wins"].to_numpy(np.int64), "losses": rec["losses"].to_numpy(np.int64),
        "ties": rec["ties"].to_numpy(np.int64), "win_rate": rec["win_rate"].to_numpy(float),
        "tie_rate": rec["ties"].to_numpy(float) / np.maximum(rec["n_battles"].to_numpy(float), 1.0),
        "opponents": degree,
    })
    if components is not None:
        out["component"] = components
    return out.sort_values("n_battles", ascending=False, ignore_index=True)


def tie_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Overall tie rate: votes, ties, both-bad ties, tie_rate (both kinds / votes), bothbad_rate."""
    outcome = counts["outcome"].astype("string")
    n = counts["count"].to_numpy(np.int64)
    total = int(n.sum())
    tie = int(n[(outcome == "tie").to_numpy()].sum())
    bothbad = int(n[(outcome == "tie_bothbad").to_numpy()].sum())
    return pd.DataFrame([{"votes": total, "ties": tie + bothbad, "bothbad": bothbad,
                          "tie_rate": (tie + bothbad) / max(total, 1), "bothbad_rate": bothbad / max(total, 1)}])


def intransitive_triads(counts: pd.DataFrame) -> pd.DataFrame:
    """Cycles a > b > c > a in the observed pairwise majorities (score with ties as half, ties at 1/2 skipped).

    Returns
    -------
    pandas.DataFrame
        One row per cycle, listed once (starting at the model that sorts first): model_a, model_b, model_c,
        the three edges' scores (score_ab: a's score against b, score_bc, score_ca), votes (n_ab, n_bc, n_ca) and
        min_z: the smallest of the three edges' z = (score - 1/2) / sqrt(1 / (4 n)), i.e. how firmly the
        weakest link holds. Sorted by min_z, firmest first. Out of how many: :func:`complete_triples`.
    """
    models, i, j, cnt = _pooled_pairs(counts)
    k = len(models)
    n = cnt.sum(1)
    score = np.divide(cnt[:, 0] + 0.5 * cnt[:, 2], n, out=np.full_like(n, 0.5), where=n > 0)
    beats = np.zeros((k, k), dtype=bool)
    sc = np.full((k, k), np.nan)
    nn = np.zeros((k, k))
    beats[i, j], beats[j, i] = score > 0.5, score < 0.5
    sc[i, j], sc[j, i] = score, 1 - score
    nn[i, j] = nn[j, i] = n
    # A directed 3-cycle a -> b -> c -> a; keep each once, starting at its smallest index.
    a_idx, b_idx = np.nonzero(beats)
    rows = []
    for a, b in zip(a_idx, b_idx, strict=True):
        cs = np.flatnonzero(beats[b] & beats[:, a])
        cs = cs[(cs > a) & (b > a)]
        for c in cs:
            rows.append((a, b, c))
    names = np.asarray([str(m) for m in models], dtype=object)
    cols = ["model_a", "model_b", "model_c", "score_ab", "score_bc", "score_ca", "n_ab", "n_bc", "n_ca", "min_z"]
    if rows:
        t = np.asarray(rows)
        a, b, c = t.T
        s = np.stack([sc[a, b], sc[b, c], sc[c, a]], 1)
        nv = np.stack([nn[a, b], nn[b, c], nn[c, a]], 1)
        z = (s - 0.5) * np.sqrt(4 * nv)
        out = pd.DataFrame({
            "model_a": names[a], "model_b": names[b], "model_c": names[c], "score_ab": s[:, 0],
            "score_bc": s[:, 1], "score_ca": s[:, 2], "n_ab": nv[:, 0], "n_bc": nv[:, 1], "n_ca": nv[:, 2],
            "min_z": z.min(1),
        }).sort_values("min_z", ascending=False, ignore_index=True)
        for col in ("model_a", "model_b", "model_c"):
            out[col] = out[col].astype("string")
    else:
        out = pd.DataFrame(columns=cols)
    return out


def complete_triples(counts: pd.DataFrame) -> int:
    """Triples of models whose three pairs all met (the triads that could be cyclic): trace(A^3) / 6."""
    models, i, j, _ = _pooled_pairs(counts)
    k = len(models)
    met = np.zeros((k, k))
    met[i, j] = met[j, i] = 1.0
    return int(round(np.trace(met @ met @ met) / 6))


def position_table(counts: pd.DataFrame, *, known: bool | None = None, level: float = 0.95) -> pd.DataFrame:
    """First-shown advantage: the raw share of decisive votes won by model_a and the fitted advantage.

    The raw share is confounded when stronger models are shown first more often; the fitted advantage
    (``rate(position=True)``, model-based interval) adjusts for the models' strengths.

    Returns
    -------
    pandas.DataFrame
        One row: known, decisive (votes), first_wins, first_share, share_lower, share_upper (Wilson), p_value
        (exact binomial against 1/2), advantage (Elo points) with advantage_lower / advantage_upper, note.
    """
    a = counts["model_a"].astype("string")
    b = counts["model_b"].astype("string")
    if known is None:
        known = not bool((a < b).all())
    row: dict[str, Any] = {"known": known}
    if not known:
        row["note"] = "position unknown: every pair is stored in alphabetical order (showing order was lost)"
        return pd.DataFrame([row])
    outcome = counts["outcome"].astype("string")
    n = counts["count"].to_numpy(np.int64)
    first = int(n[(outcome == "win_a").to_numpy()].sum())
    decisive = first + int(n[(outcome == "win_b").to_numpy()].sum())
    row.update(decisive=decisive, first_wins=first)
    if decisive:
        ci = stats.binomtest(first, decisive).proportion_ci(level, method="wilson")
        row.update(first_share=first / decisive, share_lower=ci.low, share_upper=ci.high,
                   p_value=stats.binomtest(first, decisive, 0.5).pvalue)
    try:
        fitted = rate(counts, position=True, ci="model", level=level, resamples=1)
        pos = fitted.board.attrs["position"]
        row.update(advantage=pos["estimate"], advantage_lower=pos["lower"], advantage_upper=pos["upper"], note="")
    except bt.FitError as err:
        row["note"] = f"advantage not fitted: {err}"
    return pd.DataFrame([row])


__all__ = [
    "Diagnostics",
    "calibration",
    "comparison_graph",
    "complete_triples",
    "diagnostics",
    "intransitive_triads",
    "pair_fit",
    "position_table",
    "tie_table",
    "vote_table",
]
