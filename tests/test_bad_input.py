"""The bad-input corpus: every way votes come in, through the Python API and the CLI.

Each case asserts the exit code or the exception, the key words of the one-line reason, and that no vote was
lost: votes read = votes used + votes reported as excluded, the same for both counting engines.
"""

import math
import os

import numpy as np
import pandas as pd
import pytest

import analysis as A
from analysis import compare
from analysis import votes as V
from analysis.cli import main

MODELS = np.array(["alpha", "beta", "gamma", "delta"])


def battles(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    return pd.DataFrame({"model_a": MODELS[a], "model_b": MODELS[b],
                         "winner": rng.choice(["model_a", "model_b", "tie", "tie (bothbad)"], n)})


def conserved(report: dict) -> bool:
    return report["rows_read"] == report["rows_used"] + sum(report["excluded"].values())


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and err[-1].startswith("error:"), err
    assert "Traceback" not in "\n".join(err)
    return err[-1]


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "votes"
    d.mkdir()
    battles(400, 1).to_csv(d / "a.csv", index=False)
    battles(400, 2).to_parquet(d / "b.parquet")
    battles(400, 3).to_json(d / "c.jsonl", orient="records", lines=True)
    return d


def corpus(tmp_path) -> dict[str, os.PathLike]:
    """Readable files with the quirks the reader must normalise the same way in both engines."""
    files = {}
    df = battles(300, 4)
    df.loc[0, "model_a"] = " alpha"
    df.loc[1, "model_b"] = "beta\t"
    df.loc[2, "winner"] = "MODEL_B\t"
    df.loc[3, "winner"] = " Tie "
    files["whitespace.csv"] = tmp_path / "whitespace.csv"
    df.to_csv(files["whitespace.csv"], index=False)
    files["semicolon.csv"] = tmp_path / "semicolon.csv"
    battles(200, 5).to_csv(files["semicolon.csv"], sep=";", index=False)
    files["tab.csv"] = tmp_path / "tab.csv"
    battles(200, 6).to_csv(files["tab.csv"], sep="\t", index=False)
    files["aliases.parquet"] = tmp_path / "aliases.parquet"
    al = battles(200, 7).rename(columns={"model_a": "left", "model_b": "right"})
    al["winner"] = al["winner"].map({"model_a": "leftvote", "model_b": "rightvote", "tie": "tievote",
                                     "tie (bothbad)": "bothbad_vote"})
    al.to_parquet(files["aliases.parquet"])
    files["numeric-names.csv"] = tmp_path / "numeric-names.csv"
    battles(200, 8).replace({"alpha": "01", "beta": "1", "gamma": "NA", "delta": "None"}).to_csv(
        files["numeric-names.csv"], index=False)
    files["quote'semi;colon.csv"] = tmp_path / "it's; DROP TABLE votes; --.csv"
    battles(100, 9).to_csv(files["quote'semi;colon.csv"], index=False)
    return files


# ---------------------------------------------------------------------------------------------- one reader


def test_folder_is_read_whole_by_every_entry_point(folder, capsys):
    for engine in ("pandas", "duckdb"):
        counts = V.aggregate(folder, engine=engine)
        assert counts["count"].sum() == 1200
        assert len(counts.attrs["report"]["files"]) == 3 and conserved(counts.attrs["report"])
    assert len(V.read_votes(folder)) == 1200
    board = A.leaderboard(folder, ci="none")
    assert board.attrs["report"]["rows_used"] == 1200 and board["n_battles"].sum() == 2400
    assert main(["leaderboard", str(folder), "--ci", "none"]) == 0
    captured = capsys.readouterr()
    assert "1,200 votes" in captured.out and "3 file(s) read" in captured.err


def test_a_bad_file_in_a_folder_is_named(folder, capsys):
    pd.DataFrame({"x": [1, 2]}).to_csv(folder / "d_badschema.csv", index=False)
    for engine in ("pandas", "duckdb"):
        with pytest.raises(V.VoteError, match="d_badschema.csv.*missing required column"):
            V.aggregate(folder, engine=engine)
    assert main(["leaderboard", str(folder)]) == 2
    assert "d_badschema.csv" in one_error_line(capsys)


def test_an_unknown_file_type_in_a_folder_is_named_not_skipped(folder, capsys):
    (folder / "notes.txt").write_text("not votes")
    (folder / ".hidden").write_text("ignored: hidden files are not data")
    with pytest.raises(V.VoteError, match="notes.txt.*unknown file type"):
        V.read_votes(folder)
    assert main(["leaderboard", str(folder)]) == 2
    assert "notes.txt" in one_error_line(capsys)


def test_engines_agree_on_every_file_of_the_corpus(tmp_path):
    for name, path in corpus(tmp_path).items():
        p = V.aggregate(path, engine="pandas", columns={"left": "model_a", "right": "model_b"} if "aliases" in name
                        else None)
        d = V.aggregate(path, engine="duckdb", columns={"left": "model_a", "right": "model_b"} if "aliases" in name
                        else None)
        pd.testing.assert_frame_equal(p, d, obj=name)
        assert p.attrs["report"]["rows_used"] == d.attrs["report"]["rows_used"]
        assert p.attrs["report"]["excluded"] == d.attrs["report"]["excluded"]
        assert conserved(p.attrs["report"]) and p["count"].sum() == p.attrs["report"]["rows_used"], name


def test_whitespace_and_case_rules(tmp_path):
    path = corpus(tmp_path)["whitespace.csv"]
    for engine in ("pandas", "duckdb"):
        counts = V.aggregate(path, engine=engine)
        assert list(counts["model_a"].cat.categories) == sorted(MODELS), engine
    names = V.read_votes(corpus(tmp_path)["numeric-names.csv"])["model_a"].cat.categories
    assert sorted(names) == ["01", "1", "NA", "None"]  # names are text, never parsed as numbers or missing


def test_sql_text_in_a_path_is_just_a_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    crafted = "v.parquet'); COPY (SELECT 42 AS x) TO 'pwned.csv' (FORMAT csv); SELECT * FROM read_parquet('v.parquet"
    battles(100, 10).to_parquet(crafted)
    battles(100, 11).to_csv("it's.csv", index=False)
    for path in (crafted, "it's.csv"):
        counts = V.aggregate(path, engine="duckdb")
        assert counts["count"].sum() == 100
    assert not (tmp_path / "pwned.csv").exists()


def test_self_battles_refused_or_excluded_and_reported(tmp_path, capsys):
    df = battles(400, 12)
    df.loc[[5, 6], "model_b"] = df.loc[[5, 6], "model_a"]
    path = tmp_path / "self.csv"
    df.to_csv(path, index=False)
    for engine in ("pandas", "duckdb"):
        with pytest.raises(V.VoteError, match="2 self-battle"):
            V.aggregate(path, engine=engine)
        counts = V.aggregate(path, engine=engine, allow_self=True)
        assert counts.attrs["report"]["excluded"] == {"self_battle": 2} and conserved(counts.attrs["report"])
    board = A.leaderboard(path, ci="none", allow_self=True)
    assert board.attrs["report"]["excluded"] == {"self_battle": 2}
    assert main(["leaderboard", str(path)]) == 2
    assert "self-battle" in one_error_line(capsys)
    assert main(["leaderboard", str(path), "--ci", "none", "--allow-self"]) == 0
    captured = capsys.readouterr()
    assert "398 votes" in captured.out and "excluded 2 (self battle)" in captured.err


@pytest.mark.parametrize("mutate,words", [
    (lambda d: d.assign(winner=d["winner"].where(d.index != 7, "draw")), ["winner", "'draw' x1"]),
    (lambda d: d.assign(model_b=d["model_b"].where(d.index != 3, None)), ["model_b", "null"]),
    (lambda d: d.assign(model_a=d["model_a"].where(d.index != 3, "   ")), ["model_a", "blank"]),
    (lambda d: d.drop(columns="winner"), ["missing required column", "winner"]),
])
@pytest.mark.parametrize("engine", ["pandas", "duckdb"])
def test_invalid_values_named(tmp_path, mutate, words, engine):
    path = tmp_path / "bad.parquet"
    mutate(battles(100, 13)).to_parquet(path)
    with pytest.raises(V.VoteError) as err:
        V.aggregate(path, engine=engine)
    assert all(w in str(err.value) for w in words) and "bad.parquet" in str(err.value)


def test_corrupt_json_line_named(tmp_path, capsys):
    path = tmp_path / "v.jsonl"
    path.write_text('{"model_a": "a", "model_b": "b", "winner": "model_a"}\n{"model_a": "a",, }\n')
    with pytest.raises(V.VoteError, match=r"v.jsonl line 2: not valid JSON"):
        V.read_votes(path)
    assert main(["leaderboard", str(path)]) == 2
    assert "line 2" in one_error_line(capsys)


def test_counts_out_of_range_and_duplicate_cells():
    cells = pd.DataFrame({"model_a": ["a", "a", "b"], "model_b": ["b", "b", "a"], "outcome": ["win_a"] * 3,
                          "count": [3, 4, 5]})
    with pytest.raises(V.VoteError, match="above 2\\*\\*53"):
        V.aggregate(cells.assign(count=[1e30, 1, 1]))
    with pytest.raises(V.VoteError, match="infinite"):
        V.aggregate(cells.assign(count=[math.inf, 1, 1]))
    with pytest.warns(UserWarning, match="summed"):
        merged = V.aggregate(cells)
    assert merged.attrs["report"]["merged_duplicate_cells"] == 1
    assert merged["count"].sum() == 12 and len(merged) == 2


# ---------------------------------------------------------------------------------------------- options


@pytest.mark.parametrize("argv,words", [
    (["--resamples", "0"], ["resamples", "0"]),
    (["--resamples", "-5"], ["resamples", "-5"]),
    (["--seed", "-1"], ["seed", "-1"]),
    (["--prior", "nan"], ["prior", "nan"]),
    (["--level", "2"], ["level", "2"]),
    (["--device", "bogus"], ["device", "bogus"]),
    (["--device", "cuda"], ["device", "cuda"]),
    (["--anchor", "alpha=abc"], ["--anchor", "number"]),
    (["--out", "board.xlsx"], ["--out", "board.xlsx"]),
    (["--ties", "sometimes"], ["ties", "sometimes"]),
])
def test_cli_options_give_one_line_reasons(folder, capsys, argv, words):
    pytest.importorskip("torch")
    if argv == ["--device", "cuda"]:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    assert main(["leaderboard", str(folder), *argv]) == 2
    line = one_error_line(capsys)
    assert all(w in line for w in words), line


@pytest.mark.parametrize("options,words", [
    ({"base": 1}, ["base"]), ({"scale": 0}, ["scale"]), ({"init": float("nan")}, ["init"]),
    ({"resamples": 0}, ["resamples"]), ({"level": 95}, ["level"]), ({"bothbad": "x"}, ["bothbad"]),
])
def test_api_options_named(options, words):
    with pytest.raises(ValueError) as err:
        A.leaderboard(battles(200, 14), **options)
    assert all(w in str(err.value) for w in words)


def test_follow_ups_name_their_problem():
    r = A.rate(battles(400, 15), ci="sandwich")
    with pytest.raises(ValueError, match="confidence level"):
        compare.head_to_head(r, "alpha", "beta", level=2)
    with pytest.raises(ValueError, match="at least 2 models"):
        compare.tiers(r.board.iloc[0:0])


def test_reproduce_refuses_non_numeric_published_ratings(folder, tmp_path, capsys):
    pub = tmp_path / "pub.csv"
    pd.DataFrame({"model": list(MODELS), "rating": ["1100", "abc", "1000", "990"]}).to_csv(pub, index=False)
    assert main(["reproduce", str(folder), str(pub), "--recipe", "arena-rank", "--out",
                 str(tmp_path / "r.md")]) == 2
    line = one_error_line(capsys)
    assert "'abc'" in line and "beta" in line and "rating" in line


def test_correlate_names_bad_inputs(tmp_path, capsys):
    from analysis.correlation import CorrelationError, correlate

    human = pd.DataFrame({"model": list("abcde"), "score": [1, 2, 3, 4, 5]})
    with pytest.raises(TypeError, match="metric must be a DataFrame or a file path"):
        correlate(human, 5)
    with pytest.raises(FileNotFoundError, match="human file not found"):
        correlate(tmp_path / "x.csv", tmp_path / "y.csv")
    metric = pd.DataFrame({"model": list("abcde"), "score": ["1", "abc", "3", "4", "5"]})
    human.to_csv(tmp_path / "h.csv", index=False)
    metric.to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(CorrelationError, match="metric column 'score' has 1 non-numeric.*'abc'"):
        correlate(tmp_path / "h.csv", tmp_path / "m.csv", ci="none")
    assert main(["correlate", str(tmp_path / "h.csv"), str(tmp_path / "m.csv"), "--ci", "none"]) == 2
    assert "'abc'" in one_error_line(capsys)
    with pytest.raises(TypeError, match="aliases="):
        correlate(human, human, model_map={"a": "b"})
