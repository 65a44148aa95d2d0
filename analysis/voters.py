"""Vote quality: is each voter consistent with the consensus board? Flag, cap, and show the board without them.

Why. A board is only as good as its votes. Chatbot Arena screens "anomalous users" by scoring each user's votes
against what the crowd's ratings predict and testing, sequentially, whether they look like the crowd (Chiang et
al. 2024, the Chatbot Arena paper's anomalous-user detection). This module does the same in the open, so the
screening is shown, not assumed, and can be checked on the simulator with planted bad voters.

Test. Fit the consensus board (Bradley-Terry, ties half) on all votes; for each decisive vote let p be the
board's probability of the outcome the voter chose. Under H0 (the voter votes like the board) the likelihood
ratio of any alternative is a nonnegative martingale with mean 1 in vote order, so by Ville's inequality

    P_H0( max_t LR_t >= 1 / alpha_v ) <= alpha_v

for every voter, however long we watch and whenever we stop: an anytime-valid sequential likelihood-ratio test
(Wald's SPRT without the lower boundary). The alternative is an equal mixture of two misbehaviours, a voter who
flips a coin (q = 1/2) and one who votes against the board (q = 1 - p):
``LR_t = (prod 0.5/p + prod (1-p)/p) / 2``. Ties are neutral (both hypotheses give them the same chance). With
``alpha_v = alpha / n_voters`` (Bonferroni) the chance of flagging any honest voter is at most ``alpha``.

``test="score"`` also reports a fixed-sample test: the voter's total log-likelihood against its mean and variance
under H0 (normal approximation, one-sided), Holm-adjusted over voters.

The consensus includes the voter's own votes; with many voters that moves p very little, but a single voter
with a large share of the votes pulls the board towards itself (and is harder to flag): cap first (``cap=``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats
from scipy.special import expit

from . import bt
from .ratings import rate
from .vocab import keyword_options
from .votes import VoteError, aggregate, read_votes

__all__ = [
    "VoteQuality",
    "cap_votes",
    "plant_bad_voters",
    "rater_agreement",
    "videobench_raters",
    "vote_consistency",
    "vote_quality",
]


def cap_votes(battles: pd.DataFrame, cap: int, *, voter: str = "voter_id", seed: int | None = 0) -> pd.DataFrame:
    """At most ``cap`` votes per voter: the first ``cap`` in time order when there is a ``timestamp``, else a
    seeded random subset. ``attrs["report"]["capped_votes"]`` counts the votes left out."""
    if cap < 1:
        raise ValueError(f"cap must be >= 1, got {cap}")
    if voter not in battles.columns:
        raise ValueError(f"cap_votes needs a {voter!r} column; found {list(battles.columns)}")
    if "timestamp" in battles.columns:
        order = battles.sort_values("timestamp", kind="stable").index
    else:
        order = battles.index[np.random.default_rng(seed).permutation(len(battles))]
    ranked = battles.loc[order].groupby(voter, sort=False, observed=True).cumcount()
    keep = ranked[ranked < cap].index
    out = battles.loc[battles.index.isin(keep)]
    out.attrs = {**battles.attrs, "report": {**battles.attrs.get("report", {}),
                                             "capped_votes": int(len(battles) - len(out)), "cap": int(cap)}}
    return out


def vote_consistency(
    battles: pd.DataFrame,
    *,
    voter: str = "voter_id",
    alpha: float = 0.05,
    test: str = "sprt",
    theta: pd.Series | None = None,
    alpha_voter: float | None = None,
) -> pd.DataFrame:
    """Per-voter consistency with the consensus board, one row per voter.

    Parameters
    ----------
    battles
        Battles (:func:`analysis.votes.read_votes` schema) with a voter column; vote order is row order, or
        ``timestamp`` when present.
    voter
        The voter column.
    alpha
        Family-wise level: the chance of flagging any voter who votes like the board is at most ``alpha``.
    test
        ``"sprt"``: anytime-valid sequential likelihood ratio (see the module docstring); ``"score"``: total
        log-likelihood, normal approximation, Holm over voters.
    theta
        Consensus strengths (natural log-odds, by model); default: the Bradley-Terry fit of all the votes.
    alpha_voter
        Level of each voter's sequential test instead of ``alpha / n_voters`` (no family-wise control).

    Returns
    -------
    pandas.DataFrame
        voter, votes, decisive, agreement (share of decisive votes for the model the board favours),
        expected_agreement (what the board predicts for those pairs), log_lr (final), max_log_lr, threshold
        (log(n_voters / alpha)), flagged_at (the vote count at which the bound was crossed, else NA),
        z and p_value (the score test; p Holm-adjusted as ``p_holm``), flagged. Sorted by max_log_lr descending.
    """
    if test not in ("sprt", "score"):
        raise ValueError(f"test must be 'sprt' or 'score', not {test!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    votes = battles if isinstance(battles.get("model_a", pd.Series(dtype=object)).dtype, pd.CategoricalDtype) \
        else read_votes(battles)
    if voter not in votes.columns:
        raise ValueError(f"vote_consistency needs a {voter!r} column; found {list(votes.columns)}")
    if votes[voter].isna().any():
        raise ValueError(f"column {voter!r} has {int(votes[voter].isna().sum())} missing voter id(s)")
    if "timestamp" in votes.columns:
        votes = votes.sort_values("timestamp", kind="stable")
    models = votes["model_a"].cat.categories
    if theta is None:
        fit = bt.fit_bt(bt.pair_table(aggregate(votes)), ties="half")
        strength = pd.Series(fit.theta, index=fit.models)
    else:
        strength = pd.Series(theta)
    s = strength.reindex([str(m) for m in models]).to_numpy(float)
    if np.isnan(s).any():
        raise ValueError("theta lacks some models of the votes")
    a = votes["model_a"].cat.codes.to_numpy()
    b = votes["model_b"].cat.codes.to_numpy()
    w = votes["winner"].astype(str).to_numpy()
    p_a = expit(s[a] - s[b])
    decisive = (w == "model_a") | (w == "model_b")
    p_obs = np.where(w == "model_a", p_a, 1.0 - p_a)
    p_obs = np.clip(p_obs, 1e-12, 1 - 1e-12)
    # Per-vote log likelihood ratios of the two alternatives; ties are neutral (0).
    l_coin = np.where(decisive, np.log(0.5) - np.log(p_obs), 0.0)
    l_rev = np.where(decisive, np.log1p(-p_obs) - np.log(p_obs), 0.0)
    ll = np.where(decisive, np.log(p_obs), 0.0)
    mu = np.where(decisive, p_a * np.log(np.clip(p_a, 1e-12, 1)) + (1 - p_a) * np.log(np.clip(1 - p_a, 1e-12, 1)),
                  0.0)
    var = np.where(decisive, p_a * (1 - p_a) * (np.log(p_a / (1 - p_a))) ** 2, 0.0)
    agree = np.where(decisive, ((w == "model_a") == (p_a >= 0.5)).astype(float), 0.0)
    exp_agree = np.where(decisive, np.maximum(p_a, 1 - p_a), 0.0)

    codes, voters = pd.factorize(votes[voter], sort=True)
    n_v = len(voters)
    threshold = math.log(1.0 / alpha_voter) if alpha_voter is not None else math.log(n_v / alpha)
    order = np.argsort(codes, kind="stable")  # votes of each voter together, in vote order
    starts = np.r_[0, np.cumsum(np.bincount(codes, minlength=n_v))]
    cum_coin = _group_cumsum(l_coin[order], starts)
    cum_rev = _group_cumsum(l_rev[order], starts)
    mix = np.logaddexp(cum_coin, cum_rev) - math.log(2.0)
    rows = []
    for v in range(n_v):
        seg = slice(starts[v], starts[v + 1])
        path = mix[seg]
        crossed = np.flatnonzero(path >= threshold)
        idx = order[seg]
        n_dec = int(decisive[idx].sum())
        sd = math.sqrt(var[idx].sum())
        z = (ll[idx].sum() - mu[idx].sum()) / sd if sd > 0 else float("nan")
        rows.append({
            "voter": voters[v], "votes": int(starts[v + 1] - starts[v]), "decisive": n_dec,
            "agreement": agree[idx].sum() / n_dec if n_dec else float("nan"),
            "expected_agreement": exp_agree[idx].sum() / n_dec if n_dec else float("nan"),
            "log_lr": float(path[-1]) if path.size else 0.0, "max_log_lr": float(path.max()) if path.size else 0.0,
            "threshold": threshold, "flagged_at": int(crossed[0] + 1) if crossed.size else pd.NA,
            "z": z, "p_value": float(scipy.stats.norm.cdf(z)) if math.isfinite(z) else float("nan"),
        })
    out = pd.DataFrame(rows)
    out["flagged_at"] = out["flagged_at"].astype("Int64")
    out["p_holm"] = _holm(out["p_value"].to_numpy())
    out["flagged"] = out["flagged_at"].notna() if test == "sprt" else (out["p_holm"] <= alpha)
    out = out.sort_values(["max_log_lr", "voter"], ascending=[False, True], ignore_index=True)
    out.attrs.update(test=test, alpha=alpha, voters=n_v, threshold=threshold,
                     alternative="equal mixture of a coin-flipping and a reversing voter")
    return out


def _group_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sums restarting at each group start (groups contiguous)."""
    total = np.cumsum(values)
    before = np.r_[0.0, total][starts[:-1]]
    sizes = np.diff(starts)
    return total - np.repeat(before, sizes)


def _holm(p: np.ndarray) -> np.ndarray:
    ok = np.isfinite(p)
    out = np.full(len(p), np.nan)
    q = p[ok]
    m = len(q)
    if m == 0:
        return out
    order = np.argsort(q)
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * q[order]))
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


@dataclass
class VoteQuality:
    """Voters screened, and the board with and without the flagged ones.

    Attributes
    ----------
    voters : :func:`vote_consistency` table.
    board : the board on all votes (after the cap, if any).
    board_clean : the board without the flagged voters' votes.
    comparison : model, rating, rating_clean, shift (clean - all, Elo), rank, rank_clean.
    """

    voters: pd.DataFrame
    board: pd.DataFrame
    board_clean: pd.DataFrame
    comparison: pd.DataFrame

    @property
    def flagged(self) -> list[Any]:
        return self.voters.loc[self.voters["flagged"], "voter"].tolist()

    def summary(self) -> str:
        v = self.voters
        return (f"{int(v['flagged'].sum())} of {len(v)} voters flagged ({v.attrs['test']}, family-wise alpha "
                f"{v.attrs['alpha']}); their {int(v.loc[v['flagged'], 'votes'].sum()):,} votes removed; largest "
                f"rating shift {self.comparison['shift'].abs().max():.1f} Elo, "
                f"{int((self.comparison['rank'] != self.comparison['rank_clean']).sum())} models change rank")


def vote_quality(
    battles: Any,
    *,
    voter: str = "voter_id",
    alpha: float = 0.05,
    test: str = "sprt",
    cap: int | None = None,
    seed: int | None = 0,
    rate_options: Mapping[str, Any] | None = None,
) -> VoteQuality:
    """Screen voters (:func:`vote_consistency`), optionally cap votes per voter first, and refit the board
    without the flagged voters. ``rate_options`` go to :func:`analysis.rate` for both boards (default
    ``{"ci": "sandwich"}``)."""
    board_options = {"ci": "sandwich", **keyword_options(rate_options, "rate_options", "analysis.rate")}
    votes = read_votes(battles)
    capped = 0
    if cap is not None:
        votes = cap_votes(votes, cap, voter=voter, seed=seed)
        capped = votes.attrs["report"]["capped_votes"]
    screen = vote_consistency(votes, voter=voter, alpha=alpha, test=test)
    flagged = set(screen.loc[screen["flagged"], "voter"])
    full = rate(votes, **board_options).board
    kept = votes[~votes[voter].isin(flagged)]
    try:
        clean = rate(kept, **board_options).board
    except (VoteError, bt.FitError) as err:  # everyone flagged, or what is left cannot be rated
        clean = full.iloc[:0].copy()
        clean.attrs = {"error": str(err)}
    comp = full[["model", "rating", "rank"]].merge(
        clean[["model", "rating", "rank"]].rename(columns={"rating": "rating_clean", "rank": "rank_clean"}),
        on="model", how="left")
    comp["shift"] = comp["rating_clean"] - comp["rating"]
    comp = comp[["model", "rating", "rating_clean", "shift", "rank", "rank_clean"]]
    clean.attrs["report"] = {"voters_flagged": len(flagged), "votes_removed": int(len(votes) - len(kept)),
                             "capped_votes": capped}
    return VoteQuality(voters=screen, board=full, board_clean=clean, comparison=comp)


def plant_bad_voters(battles: pd.DataFrame, voters: list[Any], *, kind: str = "reverse", voter: str = "voter_id",
                     seed: int | None = 0) -> pd.DataFrame:
    """Rewrite the decisive votes of ``voters``: ``"reverse"`` votes for the model with the lower true rating
    (``attrs["true_ratings"]`` of a simulated frame), ``"random"`` flips a fair coin. For checking the screen."""
    if kind not in ("reverse", "random"):
        raise ValueError(f"kind must be 'reverse' or 'random', not {kind!r}")
    true = battles.attrs.get("true_ratings")
    if kind == "reverse" and true is None:
        raise ValueError("kind='reverse' needs attrs['true_ratings'] (a frame from analysis.simulate)")
    out = battles.copy()
    mask = out[voter].isin(voters).to_numpy() & out["winner"].isin(["model_a", "model_b"]).to_numpy()
    if kind == "reverse":
        ra = out["model_a"].astype(str).map(true).to_numpy(float)
        rb = out["model_b"].astype(str).map(true).to_numpy(float)
        new = np.where(ra < rb, "model_a", "model_b")
    else:
        new = np.where(np.random.default_rng(seed).random(len(out)) < 0.5, "model_a", "model_b")
    winner = out["winner"].astype(str).to_numpy().copy()
    winner[mask] = new[mask]
    out["winner"] = pd.Categorical(winner, categories=out["winner"].cat.categories
                                   if isinstance(out["winner"].dtype, pd.CategoricalDtype) else None)
    out.attrs = dict(battles.attrs)
    return out


def rater_agreement(
    ratings: pd.DataFrame,
    item_cols: str | list[str],
    *,
    rater: str = "rater",
    model: str = "model",
    score: str = "score",
    alpha: float = 0.05,
    resamples: int = 10_000,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Permutation test for a panel of raters who score the same models on the same items (Video-Bench).

    Votes derived from one rater's scores on one item are not independent (they are one ranking), so the
    per-vote sequential test does not apply. Here the unit is the item: a rater's agreement on an item is the
    mean sign agreement, over model pairs, between the rater's scores and the mean score of the other raters
    (a Kendall-type concordance in [-1, 1]; tied pairs count 0). Under H0 the raters of an item are
    exchangeable, so permuting rater labels within each item gives the null law of each rater's total
    agreement: each item contributes one of its raters' values at random. One-sided p (too little agreement),
    Monte Carlo with ``resamples`` permutations, Holm over raters.

    Returns
    -------
    pandas.DataFrame
        rater, items, agreement (mean over items), null_mean, null_sd, z, p_value, p_holm, flagged.
    """
    items = [item_cols] if isinstance(item_cols, str) else list(item_cols)
    df = ratings[[*items, rater, model, score]].dropna()
    wide = df.pivot_table(index=[*items, rater], columns=model, values=score, aggfunc="mean", observed=True)
    wide = wide.dropna()
    keys = wide.index.droplevel(rater)
    item_code, _ = pd.factorize(pd.MultiIndex.from_tuples(list(keys)) if len(items) > 1 else keys)
    counts = np.bincount(item_code)
    full = counts[item_code] == counts.max()  # items where every rater scored every model
    wide, item_code = wide[full], pd.factorize(item_code[full])[0]
    n_items, n_r = item_code.max() + 1, int(counts.max())
    order = np.lexsort((wide.index.get_level_values(rater).to_numpy(), item_code))
    cube = wide.to_numpy()[order].reshape(n_items, n_r, -1)  # item x rater x model
    who = wide.index.get_level_values(rater).to_numpy()[order].reshape(n_items, n_r)
    others = (cube.sum(1, keepdims=True) - cube) / (n_r - 1)
    iu, ju = np.triu_indices(cube.shape[2], 1)
    agree = (np.sign(cube[..., iu] - cube[..., ju]) * np.sign(others[..., iu] - others[..., ju])).mean(-1)
    raters = np.unique(who)
    rng = np.random.default_rng(seed)
    rows = []
    for r in raters:
        mask = who == r
        has = mask.any(1)
        obs = agree[mask].sum()
        vals = agree[has]  # each item's n_r values: the null picks one uniformly
        mean = vals.mean(1).sum()
        sd = math.sqrt(vals.var(1).sum())
        picks = rng.integers(0, n_r, size=(resamples, int(has.sum())))
        null = np.take_along_axis(vals[None, :, :], picks[:, :, None], axis=2)[..., 0].sum(1)
        p = (1 + np.count_nonzero(null <= obs)) / (resamples + 1)
        rows.append({"rater": r, "items": int(has.sum()), "agreement": obs / has.sum(), "null_mean": mean / has.sum(),
                     "null_sd": sd / has.sum(), "z": (obs - mean) / sd if sd > 0 else float("nan"), "p_value": p})
    out = pd.DataFrame(rows)
    out["p_holm"] = _holm(out["p_value"].to_numpy())
    out["flagged"] = out["p_holm"] <= alpha
    out.attrs.update(test="permutation within items", alpha=alpha, resamples=resamples, raters_per_item=n_r,
                     items=int(n_items))
    return out


def videobench_raters(dimension: str | None = None, *, alpha: float = 0.05, path: Any = None
                      ) -> tuple[pd.DataFrame, VoteQuality]:
    """Video-Bench's rater slots (0-3) screened two ways: the permutation test within items
    (:func:`rater_agreement`, the valid one for a rating panel) and the per-vote sequential screen on the
    pairwise votes within (dimension, item, rater) with the slot as voter (:func:`vote_quality`; its votes
    within an item are dependent, so Ville's bound is only approximate there). Upstream does not say that a
    slot is one person across items (see :func:`analysis.datasets.videobench_human`)."""
    from .datasets import ratings_to_pairwise, videobench_human

    vb = videobench_human(dimension, path=path)
    block = vb.groupby(["dimension", "item", "rater"])["score"].transform("max") == 0
    vb = vb[~block]
    panel = rater_agreement(vb, ["dimension", "item"], alpha=alpha)
    battles = ratings_to_pairwise(vb, ["dimension", "item", "rater"])
    battles["voter_id"] = battles["rater"].astype(int)
    return panel, vote_quality(battles, alpha=alpha)
