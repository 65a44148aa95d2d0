import numpy as np
import pandas as pd
import pytest
from conftest import random_votes

from analysis import votes as V


def test_read_votes_schema_and_report(votes_df):
    out = V.read_votes(votes_df)
    assert list(out.columns[:3]) == ["model_a", "model_b", "winner"]
    assert isinstance(out["model_a"].dtype, pd.CategoricalDtype)
    assert list(out["model_a"].cat.categories) == list(out["model_b"].cat.categories)
    assert list(out["winner"].cat.categories) == list(V.WINNERS)
    assert {"voter_id", "category"} <= set(out.columns)
    assert out.attrs["report"]["rows_read"] == out.attrs["report"]["rows_used"] == len(votes_df)


def test_missing_column_named(votes_df):
    with pytest.raises(V.VoteError, match="winner"):
        V.read_votes(votes_df.drop(columns="winner"))


def test_columns_mapping(votes_df):
    out = V.read_votes(votes_df.rename(columns={"model_a": "left", "model_b": "right"}),
                       columns={"left": "model_a", "right": "model_b"})
    assert len(out) == len(votes_df)


def test_unknown_winner_labels_listed_with_counts(votes_df):
    df = votes_df.copy()
    df.loc[[3, 7], "winner"] = "draw"
    df.loc[11, "winner"] = "???"
    with pytest.raises(V.VoteError) as err:
        V.read_votes(df)
    msg = str(err.value)
    assert "'draw' x2" in msg and "'???' x1" in msg and "row 3" in msg


def test_null_model_named(votes_df):
    df = votes_df.copy()
    df.loc[5, "model_b"] = None
    with pytest.raises(V.VoteError, match="model_b.*1 null.*row 5"):
        V.read_votes(df)


def test_self_battles_refused_or_excluded_and_reported(votes_df):
    df = votes_df.copy()
    df.loc[[0, 1, 2], "model_b"] = df.loc[[0, 1, 2], "model_a"]
    with pytest.raises(V.VoteError, match="3 self-battle"):
        V.read_votes(df)
    out = V.read_votes(df, allow_self=True)
    assert len(out) == len(df) - 3
    assert out.attrs["report"]["excluded"] == {"self_battle": 3}
    assert "excluded 3" in V.validation_report(out)


def test_winner_aliases():
    df = pd.DataFrame({"model_a": ["x", "y", "x", "y"], "model_b": ["y", "x", "y", "x"],
                       "winner": ["leftvote", "rightvote", "tievote", "bothbad_vote"]})
    out = V.read_votes(df)
    assert list(out["winner"]) == list(V.WINNERS)


@pytest.mark.parametrize("by", [None, "category"])
def test_pandas_equals_duckdb(tmp_path, by):
    df = random_votes(5000, 8, seed=3)
    path = tmp_path / "v.parquet"
    df.to_parquet(path)
    p = V.aggregate(df, by=by, engine="pandas")
    d = V.aggregate(path, by=by, engine="duckdb")
    keys = ([by] if by else []) + ["model_a", "model_b", "outcome"]
    p = p.astype({k: "string" for k in keys}).sort_values(keys, ignore_index=True)
    d = d.astype({k: "string" for k in keys}).sort_values(keys, ignore_index=True)
    pd.testing.assert_frame_equal(p, d, check_dtype=False)
    assert p["count"].sum() == len(df)


def test_aggregate_counts_match_bruteforce(votes_df):
    counts = V.aggregate(votes_df)
    assert counts["count"].sum() == len(votes_df)
    row = counts.iloc[0]
    want = ((votes_df.model_a == row.model_a) & (votes_df.model_b == row.model_b)
            & (votes_df.winner == V.WINNERS[V.OUTCOMES.index(row.outcome)])).sum()
    assert row["count"] == want
    assert set(counts["outcome"].cat.categories) == set(V.OUTCOMES)


@pytest.mark.parametrize("suffix", ["csv", "parquet", "jsonl"])
def test_file_round_trips(tmp_path, votes_df, suffix):
    path = tmp_path / f"votes.{suffix}"
    if suffix == "csv":
        votes_df.to_csv(path, index=False)
    elif suffix == "parquet":
        votes_df.to_parquet(path)
    else:
        votes_df.to_json(path, orient="records", lines=True)
    back = V.read_votes(path)
    assert len(back) == len(votes_df)
    np.testing.assert_array_equal(back["winner"].astype(str), votes_df["winner"])
    pd.testing.assert_frame_equal(V.aggregate(back), V.aggregate(votes_df))


def test_glob_of_files(tmp_path, votes_df):
    votes_df.iloc[:1000].to_parquet(tmp_path / "a.parquet")
    votes_df.iloc[1000:].to_parquet(tmp_path / "b.parquet")
    assert len(V.read_votes(str(tmp_path / "*.parquet"))) == len(votes_df)
    assert V.aggregate(str(tmp_path / "*.parquet"))["count"].sum() == len(votes_df)


def test_expand_counts_inverts_aggregate(votes_df):
    counts = V.aggregate(votes_df)
    again = V.aggregate(V.expand_counts(counts))
    pd.testing.assert_frame_equal(counts, again)


def test_validate_counts_errors():
    good = pd.DataFrame({"model_a": ["a"], "model_b": ["b"], "outcome": ["win_a"], "count": [3]})
    with pytest.raises(V.VoteError, match="negative"):
        V.validate_counts(good.assign(count=[-1]))
    with pytest.raises(V.VoteError, match="non-integer"):
        V.validate_counts(good.assign(count=[1.5]))
    with pytest.raises(V.VoteError, match="outcome"):
        V.validate_counts(good.assign(outcome=["won"]))


def test_missing_file_and_empty_glob(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        V.read_votes(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="no files match"):
        V.read_votes(str(tmp_path / "*.parquet"))
