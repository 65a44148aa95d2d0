import subprocess
import sys

import pandas as pd
import pytest

from analysis.cli import main
from analysis.simulate import simulate_arena


@pytest.fixture
def votes_file(tmp_path):
    path = tmp_path / "votes.parquet"
    simulate_arena(5, 3000, tie_rate=0.1, seed=0).to_parquet(path)
    return path


def test_leaderboard_cli_writes_each_format(votes_file, tmp_path, capsys):
    for suffix in ("csv", "parquet", "md", "html"):
        out = tmp_path / f"board.{suffix}"
        assert main(["leaderboard", str(votes_file), "--resamples", "50", "--seed", "1", "--out", str(out)]) == 0
        assert out.exists() and out.stat().st_size > 0
    printed = capsys.readouterr().out
    assert "5 models, 3,000 votes" in printed
    board = pd.read_csv(tmp_path / "board.csv")
    assert list(board["rank"]) == [1, 2, 3, 4, 5]


def test_leaderboard_cli_recipe_and_anchor(votes_file, capsys):
    assert main(["leaderboard", str(votes_file), "--recipe", "arena-rank", "--anchor", "m0=1000"]) == 0
    assert "anchor=m0" in capsys.readouterr().out


@pytest.mark.parametrize("argv,needle", [
    (["leaderboard", "no-such-dataset"], "unknown"),
    (["leaderboard", "missing.parquet"], "not found"),
    (["frobnicate"], "invalid choice"),
])
def test_cli_bad_input_exit_2_one_line(argv, needle, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error:") and needle in err


def test_bad_anchor_and_out_suffix(votes_file, capsys):
    assert main(["leaderboard", str(votes_file), "--ci", "none", "--anchor", "zz=1000"]) == 2
    assert "not on the board" in capsys.readouterr().err
    assert main(["leaderboard", str(votes_file), "--ci", "none", "--out", "board.xlsx"]) == 2


def test_python_dash_m_entry_point(votes_file):
    res = subprocess.run([sys.executable, "-m", "analysis", "leaderboard", str(votes_file), "--ci", "none"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "rating" in res.stdout


def test_metrics_is_a_subcommand_of_the_one_cli(tmp_path, capsys):
    assert main(["metrics", "--help"]) == 0
    assert "--dimensions" in capsys.readouterr().out
    assert main(["metrics", str(tmp_path / "no-such-folder"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and "no-such-folder" in err[-1] and "Traceback" not in "\n".join(err)
