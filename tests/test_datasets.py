"""Tests for analysis.datasets: exact figures of the real data, the ratings -> battles rule, error messages."""

from __future__ import annotations

import json
import shutil
import sys
import time
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import datasets as D
from analysis.votes import OUTCOMES, WINNERS, aggregate

# ../shared/data beside the repository (the workplace's copy of the public data sets).
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REFERENCE = SHARED.parent / "reference"


def shared(sub: str = "") -> Path:
    path = SHARED / sub
    if not path.exists():
        pytest.skip(f"real data not present at {path}; see data/README.md for the public source and download()")
    return path


# ---------------------------------------------------------------------------------------------- Chatbot Arena


def test_chatbot_arena_counts_exact_totals():
    counts = D.chatbot_arena_2024_08_14()
    assert list(counts.columns) == ["model_a", "model_b", "outcome", "count"]
    assert counts["count"].dtype == np.int64
    assert int(counts["count"].sum()) == 1_670_250
    assert len(counts["model_a"].cat.categories) == 129
    assert list(counts["model_a"].cat.categories) == list(counts["model_b"].cat.categories)
    assert list(counts["outcome"].cat.categories) == list(OUTCOMES)
    models = set(counts["model_a"].astype(str)) | set(counts["model_b"].astype(str))
    assert len(models) == 129  # every model has votes
    pairs = counts[["model_a", "model_b"]].drop_duplicates()
    assert len(pairs) == 3_460
    # 3,460 pairs x 4 outcomes, less the 219 empty cells.
    assert len(counts) == 3_460 * 4 - 219
    assert (counts["count"] > 0).all()
    totals = counts.groupby("outcome", observed=True)["count"].sum()
    assert totals.to_dict() == {"win_a": 595_570, "win_b": 498_305, "tie": 281_121, "tie_bothbad": 295_254}
    # Stored lower index first: model_a always sorts before model_b.
    assert (counts["model_a"].cat.codes < counts["model_b"].cat.codes).all()


def test_chatbot_arena_first_pair_orientation():
    # The file's first pair is [0, 1] = (RWKV-4-Raven-14B, alpaca-13b) with Y = [103, 94, 18, 85].
    counts = D.chatbot_arena_2024_08_14()
    cell = counts[(counts["model_a"] == "RWKV-4-Raven-14B") & (counts["model_b"] == "alpaca-13b")]
    assert dict(zip(cell["outcome"].astype(str), cell["count"], strict=True)) == {
        "win_a": 103, "win_b": 94, "tie": 18, "tie_bothbad": 85}


def test_chatbot_arena_battles_round_trip():
    t0 = time.perf_counter()
    battles = D.chatbot_arena_2024_08_14(form="battles")
    elapsed = time.perf_counter() - t0
    assert len(battles) == 1_670_250
    assert list(battles.columns)[:3] == ["model_a", "model_b", "winner"]
    assert list(battles["winner"].cat.categories) == list(WINNERS)
    assert elapsed < 3.0
    again = aggregate(battles)
    counts = D.chatbot_arena_2024_08_14()
    key = ["model_a", "model_b", "outcome"]
    a = again.astype({k: str for k in key}).sort_values(key, ignore_index=True)
    b = counts.astype({k: str for k in key}).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(a[key + ["count"]], b[key + ["count"]])


def test_chatbot_arena_does_not_import_leaderbot_and_checks_form():
    was_loaded = "leaderbot" in sys.modules
    D.chatbot_arena_2024_08_14()
    if not was_loaded:
        assert "leaderbot" not in sys.modules
    with pytest.raises(ValueError, match="form must be 'counts' or 'battles'"):
        D.chatbot_arena_2024_08_14(form="matrix")


def test_published_chatbot_arena_matches_counts():
    pub = D.published_chatbot_arena_2024_08_14()
    assert pub["source"].notna().all()
    top = pub.set_index("rank")
    assert top.loc[1, "leaderbot_name"] == "chatgpt-4o-latest"
    assert top.loc[1, "elo"] == 1314
    assert (pub["board_votes"] == 1_671_145).all() and (pub["board_models"] == 128).all()
    names = set(D.chatbot_arena_2024_08_14()["model_a"].cat.categories)
    assert set(pub["leaderbot_name"]) <= names


# ---------------------------------------------------------------------------------------------- published figures


def test_published_vbench_has_sources():
    vb = D.published_vbench()
    assert len(vb) == 27
    assert "source" in vb.columns and vb["source"].notna().all()
    assert set(vb["source_code"]) == {"A", "B", "A+B", "D", "E"}
    ref = REFERENCE / "vbench_published_scores.csv"
    if ref.exists():
        orig = pd.read_csv(ref)
        num = [c for c in orig.columns if c not in ("model", "source", "verified")]
        pd.testing.assert_frame_equal(vb[["model", *num]], orig[["model", *num]])
        assert (vb["source_code"] == orig["source"]).all()


def test_published_aa_t2v_board():
    aa = D.published_aa_t2v_2026_04_30()
    assert len(aa) == 80 and aa["source"].notna().all()
    first = aa.loc[aa["rank"] == 1].iloc[0]
    assert (first["model"], first["elo"], first["ci_lower"], first["ci_upper"]) == ("HappyHorse-1.0", 1367.65,
                                                                                      1358.65, 1376.65)
    assert (first["appearances"], first["wins"]) == (16_982, 13_172)
    ref = aa.loc[aa["model"] == "Mochi 1"].iloc[0]
    assert ref["elo"] == ref["ci_lower"] == ref["ci_upper"] == 1000
    assert aa["rank"].isna().sum() == 7  # listed but no longer current


def test_published_aa_t2v_is_the_raw_json():
    raw = json.loads((shared("aa-video-arena") / "raw" / "2026-04-30-text-to-video.json").read_text())
    rows, _ = D._flatten_aa(raw, "2026-04-30")
    flat = pd.DataFrame(rows)
    pub = pd.read_csv(D._REPO_DATA / "aa_t2v_2026-04-30.csv")
    cols = ["model", "creator", "elo", "ci95_minus", "ci95_plus", "appearances", "wins", "win_rate"]
    pd.testing.assert_frame_equal(pub[cols], flat[cols], check_dtype=False)
    assert pub["rank"].astype("Int64").equals(flat["rank"].astype("Int64"))


# ---------------------------------------------------------------------------------------------- Artificial Analysis


def test_aa_video_arena_boards():
    df = D.aa_video_arena(path=shared("aa-video-arena"))
    assert len(df) == 5_438
    assert list(df.columns[:11]) == ["date", "arena", "modality", "model", "creator", "elo", "ci_lower", "ci_upper",
                                     "rank", "appearances", "wins"]
    assert pd.api.types.is_datetime64_any_dtype(df["date"])
    assert df["date"].min() == pd.Timestamp("2026-04-10") and df["date"].max() == pd.Timestamp("2026-05-14")
    assert ((df["ci_lower"] <= df["elo"]) & (df["elo"] <= df["ci_upper"])).all()
    assert not df.duplicated(["date", "modality", "model"]).any()
    # Reference models at exactly 1000 with a zero-width CI, every day.
    ref = df[df["elo"] == 1000]
    assert set(zip(ref["modality"], ref["model"], strict=True)) == {("text-to-video", "Mochi 1"),
                                                                     ("image-to-video", "Wan 2.1 14B")}
    assert (ref["ci_lower"] == ref["ci_upper"]).all() and len(ref) == 2 * 35
    t2v = D.aa_video_arena("t2v", path=shared("aa-video-arena"))
    assert len(t2v) == 2_829 and set(t2v["modality"]) == {"text-to-video"}
    hh = t2v[t2v["model"] == "HappyHorse-1.0"].set_index("date")
    # Figures quoted in ../shared/reference/arena_published.md.
    assert (round(hh.loc["2026-04-10", "elo"]), hh.loc["2026-04-10", "appearances"]) == (1389, 12_532)
    assert hh.loc["2026-04-10", "ci_upper"] - hh.loc["2026-04-10", "elo"] == pytest.approx(7)
    assert (round(hh.loc["2026-05-14", "elo"]), hh.loc["2026-05-14", "appearances"]) == (1354, 8_354)
    assert (hh.loc["2026-04-30", "appearances"], hh.loc["2026-05-01", "appearances"]) == (16_982, 8_278)


def test_aa_video_arena_tags():
    tags = D.aa_video_arena(tags=True, path=shared("aa-video-arena"))
    assert len(tags) == 149_847
    assert {"tag", "tag_type", "creator"} <= set(tags.columns)
    assert set(tags["tag_type"]) == {"subject", "style", "format"}
    assert tags["creator"].notna().all()
    assert {"physics", "people", "text", "moving-camera"} <= set(tags["tag"])


def test_aa_video_arena_bad_modality():
    with pytest.raises(ValueError, match="modality must be one of"):
        D.aa_video_arena("audio", path=shared("aa-video-arena"))


# ---------------------------------------------------------------------------------------------- Video-Bench

# Rows per dimension from ../shared/data/videobench-human/SCHEMA.md.
VB_RATINGS = {"action": 6_552, "aesthetic_quality": 7_644, "color": 7_140, "imaging_quality": 7_644,
              "motion_effects": 6_552, "object_class": 6_636, "scene": 7_224, "temporal_consistency": 6_552,
              "video-text consistency": 7_644}


def test_videobench_human_rows_and_means():
    vb = D.videobench_human(path=shared("videobench-human"))
    assert len(vb) == 63_588
    assert vb.groupby("dimension").size().to_dict() == VB_RATINGS
    assert set(vb["model"]) == {"cogvideox5b", "kling", "gen3", "videocrafter2", "pika", "show1", "lavie"}
    assert set(vb["generation"]) == {0, 1, 2} and set(vb["rater"]) == {0, 1, 2, 3}
    assert not vb.duplicated(["dimension", "item", "model", "rater"]).any()
    assert vb.groupby("dimension")["item"].nunique().sum() == 2_271
    # Each item is one (prompt, generation) in its dimension.
    assert (vb.groupby(["dimension", "item"])[["prompt", "generation"]].nunique() == 1).all().all()
    means = vb.groupby(["dimension", "model"])["score"].mean().round(2)
    assert means["imaging_quality", "gen3"] == 4.53
    assert means["video-text consistency", "cogvideox5b"] == 4.48
    assert vb["grid_view"].notna().groupby(vb["dimension"]).any().sum() == 2


def test_videobench_dimension_filter():
    one = D.videobench_human("color", path=shared("videobench-human"))
    assert len(one) == 7_140 and set(one["dimension"]) == {"color"}
    with pytest.raises(ValueError, match="unknown Video-Bench dimension"):
        D.videobench_human("colour", path=shared("videobench-human"))


def test_videobench_pairwise_size_and_speed():
    vb = D.videobench_human(path=shared("videobench-human"))
    t0 = time.perf_counter()
    battles = D.ratings_to_pairwise(vb, ["dimension", "item", "rater"])
    elapsed = time.perf_counter() - t0
    assert len(battles) == 2_271 * 4 * 21  # 21 model pairs per item and rater
    assert elapsed < 2.0, f"ratings_to_pairwise took {elapsed:.2f} s on Video-Bench"
    assert battles.attrs["report"]["ratings_used"] == 63_588


# ---------------------------------------------------------------------------------------------- T2VScore


def test_t2vscore_tvge_join():
    t = D.t2vscore_tvge(path=shared("t2vscore-tvge"))
    assert len(t) == 2_543
    assert t.groupby("model").size().to_dict() == {"floor33": 512, "gen2": 495, "modelscope": 512, "pika": 512,
                                                    "zeroscope": 512}
    assert t.attrs["report"]["matched"] == 2_543 and t.attrs["report"]["prompt_text_mismatch"] == 0
    assert not t[["quality", "alignment", "clip_score", "xclip_score", "blip_bleu", "t2vscore_a"]].isna().any().any()
    assert t["quality"].between(1, 5).all() and t["alignment"].between(1, 5).all()
    # Means from SCHEMA.md.
    q = t.groupby("model")["quality"].mean().round(2)
    a = t.groupby("model")["alignment"].mean().round(2)
    assert (q["pika"], q["zeroscope"], a["floor33"], a["zeroscope"]) == (3.45, 1.94, 2.78, 2.17)
    first = t[(t["model"] == "floor33") & (t["prompt_id"] == 0)].iloc[0]
    assert first["clip_score"] == pytest.approx(24.60725784) and first["t2vscore_a"] == pytest.approx(0.6)


def test_t2vscore_unmatched_rows_are_reported(tmp_path):
    folder = tmp_path / "t2vscore-tvge"
    shutil.copytree(shared("t2vscore-tvge"), folder)
    res = pd.read_csv(folder / "t2vscore_results.csv")
    res.iloc[1:].to_csv(folder / "t2vscore_results.csv", index=False)
    with pytest.warns(UserWarning, match="not clean"):
        t = D.t2vscore_tvge(path=tmp_path)
    assert t.attrs["report"]["ratings_without_metrics"] == 1
    assert len(t) == 2_543 and t["clip_score"].isna().sum() == 1


# ---------------------------------------------------------------------------------------------- GenAI-Arena


def test_genai_arena_video():
    g = D.genai_arena_video(path=shared("genai-arena-video"))
    assert g.groupby("date").size().to_dict() == {pd.Timestamp("2024-05-26"): 6, pd.Timestamp("2025-03-22"): 15}
    latest = g[g["date"] == "2025-03-22"].set_index("rank")
    assert latest.loc[1, "model"] == "CogVideoX-5B"
    assert latest.loc[1, "elo_anony"] == pytest.approx(1125.649374550947)
    assert sorted(latest.index) == list(range(1, 16))


# ---------------------------------------------------------------------------------------------- ratings_to_pairwise


def test_ratings_to_pairwise_hand_worked():
    ratings = pd.DataFrame(
        {
            "prompt": ["p1", "p1", "p1", "p2", "p2", "p2", "p3"],
            "model": ["C", "A", "B", "B", "A", "C", "A"],
            "score": [3, 3, 1, 5, 2, np.nan, 4],
        }
    )
    # p1: A=3, B=1, C=3 -> A beats B, A ties C, C beats B. p2: A=2, B=5 (C unrated) -> B beats A.
    # p3 has one rated model: no battle.
    out = D.ratings_to_pairwise(ratings, "prompt")
    got = out[["prompt", "model_a", "model_b", "winner"]].astype(str).values.tolist()
    assert got == [
        ["p1", "A", "B", "model_a"],
        ["p1", "A", "C", "tie"],
        ["p1", "B", "C", "model_b"],
        ["p2", "A", "B", "model_b"],
    ]
    assert out["score_a"].tolist() == [3, 3, 1, 2] and out["score_b"].tolist() == [1, 3, 3, 5]
    assert out["prompt_id"].tolist() == [0, 0, 0, 1]
    assert list(out["winner"].cat.categories) == list(WINNERS)
    assert list(out["model_a"].cat.categories) == ["A", "B", "C"]
    rep = out.attrs["report"]
    assert (rep["items"], rep["ratings_used"], rep["ratings_missing_score"], rep["items_with_one_model"]) == (3, 6,
                                                                                                               1, 1)


def test_ratings_to_pairwise_multiple_item_columns_and_prompt_id():
    ratings = pd.DataFrame(
        {
            "prompt_id": [7, 7, 7, 7],
            "rater": [0, 0, 1, 1],
            "model": ["x", "y", "x", "y"],
            "score": [1.0, 2.0, 2.0, 2.0],
        }
    )
    out = D.ratings_to_pairwise(ratings, ["prompt_id", "rater"])
    assert out["winner"].astype(str).tolist() == ["model_b", "tie"]
    assert out["prompt_id"].tolist() == [7, 7]  # the caller's prompt ids are kept as the cluster
    assert out["rater"].tolist() == [0, 1]


def test_ratings_to_pairwise_duplicates_name_the_rows():
    ratings = pd.DataFrame({"prompt": ["p", "p", "p", "q"], "model": ["A", "A", "B", "A"], "score": [1, 2, 3, 4]})
    with pytest.raises(ValueError, match=r"rated more than once.*'prompt': 'p', 'model': 'A'.*x2"):
        D.ratings_to_pairwise(ratings, "prompt")


def test_ratings_to_pairwise_errors():
    ratings = pd.DataFrame({"prompt": ["p", "p"], "model": ["A", "B"], "score": [1, 2]})
    with pytest.raises(ValueError, match=r"missing column\(s\) \['rating'\]"):
        D.ratings_to_pairwise(ratings, "prompt", score_col="rating")
    with pytest.raises(ValueError, match="'model' has 1 null"):
        D.ratings_to_pairwise(ratings.assign(model=["A", None]), "prompt")
    with pytest.raises(ValueError, match="must be numeric"):
        D.ratings_to_pairwise(ratings.assign(score=["good", "bad"]), "prompt")
    with pytest.raises(ValueError, match="no item has two or more"):
        D.ratings_to_pairwise(ratings.assign(prompt=["p", "q"]), "prompt")


# ---------------------------------------------------------------------------------------------- location, registry


def test_find_data_order(tmp_path, monkeypatch):
    src = shared("genai-arena-video")
    env_root = tmp_path / "env"
    shutil.copytree(src, env_root / "genai-arena-video")
    monkeypatch.setenv(D.ENV_VAR, str(env_root))
    assert D.find_data("genai-arena-video") == env_root / "genai-arena-video"
    # An explicit path wins, and may be the data set folder itself or its parent.
    assert D.find_data("genai-arena-video", src) == src
    assert D.find_data("genai-arena-video", src.parent) == src
    monkeypatch.delenv(D.ENV_VAR)
    monkeypatch.setattr(D, "_REPO_DATA", tmp_path / "nothing")
    assert D.find_data("genai-arena-video") == D._SHARED_DATA / "genai-arena-video"


def test_missing_data_error_says_where_and_source(tmp_path, monkeypatch):
    monkeypatch.delenv(D.ENV_VAR, raising=False)
    monkeypatch.setattr(D, "_REPO_DATA", tmp_path / "data")
    monkeypatch.setattr(D, "_SHARED_DATA", tmp_path / "shared")
    with pytest.raises(FileNotFoundError) as err:
        D.videobench_human()
    msg = str(err.value)
    assert str(tmp_path / "data" / "videobench-human") in msg
    assert "VIDEO_ARENA_DATA" in msg and "download('videobench-human')" in msg
    assert "https://github.com/Video-Bench/Video-Bench" in msg and "d40b917c" in msg
    with pytest.raises(FileNotFoundError, match="linzhiqiu/t2v_metrics"):
        D.t2vscore_tvge(path=tmp_path)


def test_registry_and_load():
    assert {"chatbot-arena-2024-08-14", "videobench-human", "t2vscore-tvge", "genai-arena-video",
            "aa-video-arena"} <= set(D.DATASETS)
    for ds in D.DATASETS.values():
        assert ds.description and ds.source and ds.licence and callable(ds.loader)
    counts = D.load("Chatbot_Arena_2024_08_14")
    assert int(counts["count"].sum()) == 1_670_250
    assert len(D.load("published_vbench")) == 27  # the loader's own name works too
    with pytest.raises(ValueError, match=r"unknown data set 'videobench-humans'.*Did you mean 'videobench-human'"):
        D.load("videobench-humans")
    with pytest.raises(ValueError, match="Known: chatbot-arena-2024-08-14"):
        D.load("imagenet")
    with pytest.raises(ValueError, match="form= applies to vote data sets only"):
        D.load("videobench-human", form="counts")


# ---------------------------------------------------------------------------------------------- download (offline)


def _fake_fetch(mapping: dict[str, Path]):
    def fetch(url: str) -> bytes:
        for suffix, file in mapping.items():
            if url.endswith(suffix):
                return file.read_bytes()
        raise urllib.error.HTTPError(url, 404, "Not Found", None, None)

    return fetch


def test_download_writes_loadable_folders(tmp_path, monkeypatch):
    t2v, genai, aa = shared("t2vscore-tvge"), shared("genai-arena-video"), shared("aa-video-arena")
    mapping = {f"datasets/{f}": t2v / f for f in ("t2vscore_alignment_score.json", "t2vscore_quality_score.json",
                                                  "t2vscore_results.csv")}
    for d in ("20240526", "20250322"):
        mapping[f"sample-video-{d}.csv"] = genai / f"video_generation_leaderboard_{d}.csv"
    mapping["data/2026-04-30/text-to-video.json"] = aa / "raw" / "2026-04-30-text-to-video.json"
    monkeypatch.setattr(D, "_fetch", _fake_fetch(mapping))

    pd.testing.assert_frame_equal(D.t2vscore_tvge(path=D.download("t2vscore-tvge", tmp_path)),
                                  D.t2vscore_tvge(path=t2v))
    pd.testing.assert_frame_equal(D.genai_arena_video(path=D.download("genai-arena-video", tmp_path)),
                                  D.genai_arena_video(path=genai))
    with pytest.warns(UserWarning, match="not found, skipped"):
        folder = D.download("aa-video-arena", tmp_path)
    assert (folder / "SOURCE.txt").exists()
    got = D.aa_video_arena(path=folder)
    want = D.aa_video_arena("t2v", path=aa)
    want = want[want["date"] == "2026-04-30"].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    got_tags = D.aa_video_arena(tags=True, path=folder)
    want_tags = D.aa_video_arena("t2v", tags=True, path=aa)
    assert len(got_tags) == (want_tags["date"] == "2026-04-30").sum()
    with pytest.raises(ValueError, match="needs no download"):
        D.download("chatbot-arena-2024-08-14", tmp_path)


def test_download_videobench_urls_are_quoted(tmp_path, monkeypatch):
    vb = shared("videobench-human")
    seen: list[str] = []

    def fetch(url: str) -> bytes:
        seen.append(url)
        name = url.rsplit("/", 1)[1].replace("%20", " ")
        return (vb / "human_anno" / name).read_bytes()

    monkeypatch.setattr(D, "_fetch", fetch)
    folder = D.download("videobench-human", tmp_path)
    assert len(seen) == 9 and all(u.startswith("https://raw.githubusercontent.com/Video-Bench/") for u in seen)
    assert any("video-text%20consistency.json" in u for u in seen)
    assert len(D.videobench_human(path=folder)) == 63_588


def test_published_tables_carry_provenance():
    from analysis.datasets import PROVENANCE, provenance

    for table in (D.published_vbench(), D.published_aa_t2v_2026_04_30(),
                  D.published_chatbot_arena_2024_08_14()):
        assert set(PROVENANCE) - {"date"} <= set(table.columns)
        prov = provenance(table)
        assert len(prov) == len(table) and not prov[list(PROVENANCE)].isna().any().any()
    vb = provenance(D.published_vbench()).set_index("model")
    assert vb.loc["LaVie", "evaluated_by"] == "VBench Team"  # VBench++ Table II: the team ran every model
    assert vb.loc["Goku", "sampled_by"] == "model's team"  # self-reported
    assert vb.loc["Veo-3", "sampled_by"] == "unknown"  # a third-party snapshot does not say
    aa = D.published_aa_t2v_2026_04_30()
    assert (aa["sample_size"] == aa["appearances"]).all()


def test_download_refuses_a_file_whose_checksum_differs(tmp_path, monkeypatch):
    t2v = shared("t2vscore-tvge")
    monkeypatch.setattr(D, "_fetch", lambda url: (t2v / url.rsplit("/", 1)[1]).read_bytes() + b" ")
    with pytest.raises(ValueError, match="SHA-256 .* expected"):
        D.download("t2vscore-tvge", tmp_path)
    assert not (tmp_path / "t2vscore-tvge" / "t2vscore_alignment_score.json").exists()
