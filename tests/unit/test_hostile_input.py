"""Hostile-input checks outside the readers (issue 20): config bounds, the Makefile's
shell quoting, and the detector staging that `score` trusts. No Spark session."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import zlib
from pathlib import Path
from types import SimpleNamespace

import pytest

from tailguard.config import load_config
from tailguard.errors import ConfigError, InputError

REPO = Path(__file__).resolve().parents[2]


# --- config ---------------------------------------------------------------------------

def test_tail_max_n_is_bounded_by_the_kernel():
    """The diversity kernel keeps n-grams up to n = 4 only (distinct_n_1..4)."""
    assert load_config((), ("tail.max_n=4",)).tail.max_n == 4
    with pytest.raises(ConfigError, match="tail.max_n"):
        load_config((), ("tail.max_n=5",))


def test_ingest_limits_are_validated():
    cfg = load_config()
    assert cfg.ingest.max_line_bytes <= cfg.ingest.max_record_bytes <= cfg.ingest.max_file_bytes
    for key in ("max_line_bytes", "max_record_bytes", "max_file_bytes"):
        with pytest.raises(ConfigError, match=f"ingest.{key}"):
            load_config((), (f"ingest.{key}=0",))


# --- Makefile quoting -------------------------------------------------------------------

def _fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A venv whose `tailguard` only records its argv (one JSON list per line)."""
    venv, log = tmp_path / "venv", tmp_path / "argv.jsonl"
    (venv / "bin").mkdir(parents=True)
    stub = venv / "bin" / "tailguard"
    stub.write_text("#!/usr/bin/env python3\nimport json, os, sys\n"
                    "with open(os.environ['ARGV_LOG'], 'a') as f:\n"
                    "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n")
    stub.chmod(0o755)
    checksum = subprocess.run("cat pyproject.toml | cksum | cut -d' ' -f1", shell=True,
                              cwd=REPO, capture_output=True, text=True, check=True).stdout
    (venv / f".installed-{checksum.strip()}").touch()
    return venv, log


def _make(tmp_path, *args):
    venv, log = _fake_venv(tmp_path)
    env = {**os.environ, "ARGV_LOG": str(log)}
    result = subprocess.run(["make", "--no-print-directory", "-C", str(REPO), *args,
                             f"VENV={venv}", "JAVA_BIN=/bin/true"],
                            cwd=tmp_path, env=env, capture_output=True, text=True)
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return result, calls


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_makefile_passes_input_and_out_as_single_words(tmp_path):
    hostile_in = f"{tmp_path}/in dir; touch {tmp_path}/PWNED1"
    hostile_out = f"{tmp_path}/out`touch {tmp_path}/PWNED2`'\"x"
    result, calls = _make(tmp_path, "pipeline", f"INPUT={hostile_in}", f"OUT={hostile_out}")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "PWNED1").exists() and not (tmp_path / "PWNED2").exists()
    assert len(calls) == 1
    argv = calls[0]
    assert argv[0] == "pipeline"
    assert f"input.path={hostile_in}" in argv and f"output.root={hostile_out}" in argv


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("date", ["2024-01-01; touch PWNED", "$(touch PWNED)", "yesterday",
                                  "2024-01-01 2024-01-02", ""])
def test_makefile_daily_rejects_a_date_that_is_not_a_date(tmp_path, date):
    result, calls = _make(tmp_path, "daily", f"DATE={date}")
    assert result.returncode == 2 and "usage: make daily DATE=YYYY-MM-DD" in result.stdout
    assert calls == [] and not (tmp_path / "PWNED").exists()
    assert not (REPO / "PWNED").exists()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("date", ["2024-01-01", "2024-01-01,2024-01-03", "2024-01-01..2024-01-31"])
def test_makefile_daily_passes_valid_dates(tmp_path, date):
    result, calls = _make(tmp_path, "daily", f"DATE={date}")
    assert result.returncode == 0, result.stderr
    assert [c[0] for c in calls] == ["pipeline"]  # every job, the new date only where it matters
    assert calls[0][calls[0].index("--dates") + 1] == date


# --- detector staging ---------------------------------------------------------------

def _fake_detector(root: Path) -> tuple[Path, str]:
    """Detector files with a version computed the way train-detector computes it."""
    from tailguard.detector import model as detector

    directory = root / "detector"
    directory.mkdir()
    (directory / "model.bin").write_bytes(os.urandom(4096))
    calibration = {"method": "platt", "a": 1.0, "b": 0.0}
    (directory / "calibration.json").write_text(json.dumps(calibration))
    version = detector.content_version(directory / "model.bin", calibration)
    (directory / "detector.json").write_text(json.dumps({"version": version}))
    return directory, version


class _FakeContext:
    """The two SparkContext members ship_detector uses."""

    def __init__(self):
        self.listFiles: list[str] = []

    def addFile(self, path: str) -> None:  # noqa: N802 - SparkContext's name
        self.listFiles.append(path)


def test_ship_detector_ignores_a_planted_file_in_the_shared_temp_dir(tmp_path, monkeypatch):
    from tailguard.detector import score

    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(shared_tmp))
    directory, version = _fake_detector(tmp_path)
    planted = shared_tmp / f"tailguard-detector-{version}"
    planted.mkdir()
    for role in ("model.bin", "calibration.json", "detector.json"):
        (planted / f"{version}-{role}").write_bytes(b"attacker's bytes")
    spark = SimpleNamespace(sparkContext=_FakeContext())
    names = score.ship_detector(spark, str(directory))
    shipped = {Path(p).name: Path(p) for p in spark.sparkContext.listFiles}
    assert set(shipped) == {names[r] for r in ("model.bin", "calibration.json", "detector.json")}
    for role in ("model.bin", "calibration.json", "detector.json"):
        path = shipped[names[role]]
        assert planted not in path.parents
        assert path.read_bytes() == (directory / role).read_bytes()
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    # shipping again in the same application reuses the registered private copies
    assert score.ship_detector(spark, str(directory)) == names
    assert len(spark.sparkContext.listFiles) == 3


def test_ship_detector_refuses_a_model_that_does_not_match_its_version(tmp_path, monkeypatch):
    from tailguard.detector import score

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    directory, _ = _fake_detector(tmp_path)
    with open(directory / "model.bin", "r+b") as handle:
        handle.write(b"\x00tampered")
    with pytest.raises(InputError, match="does not match its version"):
        score.ship_detector(SimpleNamespace(sparkContext=_FakeContext()), str(directory))


def test_worker_verifies_the_shipped_model_before_loading_it(tmp_path, monkeypatch):
    from pyspark import SparkFiles

    from tailguard.detector import score

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    directory, version = _fake_detector(tmp_path)
    spark = SimpleNamespace(sparkContext=_FakeContext())
    names = score.ship_detector(spark, str(directory))
    shipped = Path(spark.sparkContext.listFiles[0]).parent
    model = shipped / names["model.bin"]
    model.write_bytes(model.read_bytes()[:-1] + bytes([model.read_bytes()[-1] ^ 1]))
    monkeypatch.setattr(SparkFiles, "get", staticmethod(lambda name: str(shipped / name)))
    loaded = []
    monkeypatch.setattr(score.det.Detector, "load",
                        classmethod(lambda cls, d: loaded.append(d)))
    score._LOADED.pop(version, None)
    with pytest.raises(InputError, match="does not match its version"):
        score._worker_detector(names)
    assert loaded == []
    assert zlib.crc32(model.read_bytes()) != zlib.crc32((directory / "model.bin").read_bytes())
