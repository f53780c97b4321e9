import datetime as dt
import subprocess
import sys

import pytest

from tailguard.cli import JOBS, PIPELINE, build_parser, main, parse_dates
from tailguard.errors import TailguardError


def test_parse_dates_list_and_inclusive_range():
    assert parse_dates(None) is None
    assert parse_dates("2024-02-01,2024-01-01") == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)]
    days = parse_dates("2024-01-30..2024-02-02")
    assert days[0] == dt.date(2024, 1, 30) and days[-1] == dt.date(2024, 2, 2) and len(days) == 4


@pytest.mark.parametrize("bad", ["2024-13-01", "2024-02-01..2024-01-01", "yesterday"])
def test_parse_dates_rejects_bad_specs(bad):
    with pytest.raises(TailguardError):
        parse_dates(bad)


def test_every_design_job_verb_parses():
    parser = build_parser()
    for job in ("ingest", "provenance", "score", "share", "diversity", "pipeline"):
        args = parser.parse_args([job, "--conf", "a.yaml", "--set", "k=v", "--dates", "2024-01-01"])
        assert args.job == job and args.conf == ["a.yaml"] and args.sets == ["k=v"]
    assert parser.parse_args(["sample", "--out", "x"]).out == "x"
    assert parser.parse_args(["train-detector", "--input", "a.jsonl"]).input == "a.jsonl"
    assert set(PIPELINE) <= set(JOBS)


def test_bad_config_exits_2_with_one_line(capsys):
    assert main(["ingest", "--set", "ingest.max_char=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'ingest.max_chars'" in err[0]


def test_console_entrypoint_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "tailguard.cli", "--help"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "pipeline" in result.stdout


def test_unreadable_config_file_exits_2_with_one_line(capsys, tmp_path):
    assert main(["ingest", "--conf", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot read config file" in err[0]
