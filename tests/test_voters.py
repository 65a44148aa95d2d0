"""Vote quality: planted bad voters on the simulator (detection and false-flag rates), the anytime-valid bound
on honest voters, caps, the rater-panel permutation test, and Video-Bench's rater slots."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import need_shared

from analysis import voters as V
from analysis.simulate import simulate_arena, true_ratings

LAM = np.log(10) / 400


def arena_with_bad_voters(seed, n_bad=8):
    sim = simulate_arena(12, 40_000, seed=seed, n_voters=200, tie_rate=0.1, zipf_exponent=0.5)
    counts = sim["voter_id"].value_counts()
    rng = np.random.default_rng(seed)
    eligible = counts.index[counts >= 60].to_numpy()
    chosen = rng.choice(eligible, 2 * n_bad, replace=False)
    reverse, coin = list(chosen[:n_bad]), list(chosen[n_bad:])
    sim = V.plant_bad_voters(sim, reverse, kind="reverse")
    sim = V.plant_bad_voters(sim, coin, kind="random", seed=seed)
    return sim, set(reverse), set(coin)


def test_planted_adversarial_voters_are_found_and_honest_ones_kept():
    detected_rev = detected_coin = false = honest = 0
    n_rev = n_coin = 0
    for seed in (1, 2, 3):
        sim, reverse, coin = arena_with_bad_voters(seed)
        q = V.vote_quality(sim, alpha=0.05)
        flagged = set(q.flagged)
        detected_rev += len(flagged & reverse)
        detected_coin += len(flagged & coin)
        n_rev, n_coin = n_rev + len(reverse), n_coin + len(coin)
        n_honest = q.voters.shape[0] - len(reverse) - len(coin)
        false += len(flagged - reverse - coin)
        honest += n_honest
        # Removing the reversing voters moves the board towards the truth.
        truth = true_ratings(sim)
        comp = q.comparison.set_index("model")
        err_all = np.abs(comp["rating"] - truth.reindex(comp.index)).mean()
        err_clean = np.abs(comp["rating_clean"] - truth.reindex(comp.index)).mean()
        assert err_clean < err_all
    print(f"\nreversing voters detected {detected_rev}/{n_rev}; coin-flipping voters detected {detected_coin}/"
          f"{n_coin}; honest voters flagged {false}/{honest} (family-wise alpha 0.05 per arena)")
    assert detected_rev >= 0.9 * n_rev
    assert false <= 2  # <= 0.05 expected per arena by the bound: 3 arenas


def test_sequential_bound_holds_for_honest_voters():
    # With the true strengths, each honest voter crosses 1 / alpha_v with probability <= alpha_v (Ville).
    sim = simulate_arena(8, 60_000, seed=4, n_voters=1200, zipf_exponent=0.0)
    theta = true_ratings(sim) * LAM
    table = V.vote_consistency(sim, theta=theta, alpha_voter=0.1)
    rate = table["flagged"].mean()
    assert rate <= 0.1 + 3 * np.sqrt(0.1 * 0.9 / len(table))
    assert np.allclose(table["threshold"], np.log(10))
    print(f"\nhonest voters crossing the alpha_v = 0.1 bound: {rate:.3f} (Ville: <= 0.1)")


def test_score_test_and_caps():
    sim, reverse, _ = arena_with_bad_voters(5)
    table = V.vote_consistency(sim, test="score")
    flagged = set(table.loc[table["flagged"], "voter"])
    assert reverse <= flagged
    assert (table["p_holm"] >= table["p_value"] - 1e-15).all()
    capped = V.cap_votes(sim, 50)
    assert capped.groupby("voter_id").size().max() == 50
    assert capped.attrs["report"]["capped_votes"] == len(sim) - len(capped)
    q = V.vote_quality(sim, cap=50)
    assert q.board_clean.attrs["report"]["capped_votes"] == len(sim) - len(capped)


def test_rater_panel_permutation_flags_the_random_rater():
    rng = np.random.default_rng(0)
    quality = rng.normal(0, 1, 6)
    rows = []
    for item in range(150):
        item_effect = rng.normal(0, 0.5, 6)
        for rater in range(4):
            noise = rng.normal(0, 0.7, 6)
            score = rng.normal(0, 1, 6) if rater == 3 else quality + item_effect + noise
            rows += [{"item": item, "rater": rater, "model": f"m{m}", "score": round(float(score[m]), 1)}
                     for m in range(6)]
    panel = V.rater_agreement(pd.DataFrame(rows), "item", resamples=4000)
    assert panel.set_index("rater")["flagged"].to_dict() == {0: False, 1: False, 2: False, 3: True}
    assert panel.attrs["raters_per_item"] == 4


def test_videobench_rater_slots():
    need_shared("videobench-human")
    panel, q = V.videobench_raters("action")
    assert list(panel["rater"]) == [0, 1, 2, 3]
    assert (panel["items"] == 234).all()
    assert ((panel["p_value"] > 0) & (panel["p_value"] <= 1)).all()
    assert len(q.voters) == 4 and q.board["n_battles"].sum() > 0
