"""The whole pipeline under spark-submit on a real standalone cluster, one worker killed.

Starts a Spark master and two 1-core workers from the pip-installed Spark (loopback
only), runs `jobs/pipeline.py` on a small demo crawl with `--py-files dist/tailguard.zip`
against `spark://127.0.0.1:PORT`, kills one worker (and its executor) in the middle of
provenance, and checks the run still finishes with the same metrics and byte-identical
shards as a `local[2]` spark-submit run of the same config. Every process the test
starts is stopped by its PID (process group) whatever happens.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tailguard.cli import JobContext, run_job
from tailguard.config import load_config
from tailguard.packaging import build_zip

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.cluster]
METRICS = ("metrics/synthetic_share", "metrics/synthetic_share_monthly", "metrics/diversity",
           "metrics/tail_coverage", "metrics/rarefaction")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spark_bin(name: str) -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / name)


def _wait_for_port(port: int, timeout: float = 90.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the process group we started (the JVM and its children), then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A master + two 1-core workers on 127.0.0.1; yields (master URL, worker procs)."""
    logs = tmp_path_factory.mktemp("cluster-logs")
    port = _free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
           "SPARK_WORKER_DIR": str(logs / "work")}
    master_url = f"spark://127.0.0.1:{port}"
    master = [_spark_bin("spark-class"), "org.apache.spark.deploy.master.Master", "--host",
              "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port())]
    procs: list[subprocess.Popen] = []

    def start(command, name):
        log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed when the test ends
        procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                      start_new_session=True))
        return procs[-1]

    try:
        start(master, "master")
        _wait_for_port(port)
        workers = []
        for index in range(2):
            wport = _free_port()
            workers.append(start(
                [_spark_bin("spark-class"), "org.apache.spark.deploy.worker.Worker", master_url,
                 "--host", "127.0.0.1", "--port", str(wport), "--cores", "1", "--memory",
                 "1536m", "--webui-port", str(_free_port()), "--work-dir",
                 str(logs / f"work-{index}")], f"worker-{index}"))
            _wait_for_port(wport)
        time.sleep(2)  # let the workers register with the master
        yield master_url, workers, logs
    finally:
        for proc in reversed(procs):
            _stop(proc)


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory):
    """A small demo crawl and its detector (trained once, shared by both runs)."""
    root = tmp_path_factory.mktemp("cluster-demo")
    sets = [f"input.path={root / 'sample' / 'crawl'}", f"detector.dir={root / 'detector'}",
            "sample.docs=3000", "sample.domains=8", "sample.detector_docs=1000",
            "shards.token_budget=300000", "share.bootstrap=50",
            "diversity.token_budgets=[10000,30000]"]
    cfg = load_config([str(REPO / "conf" / "demo.yaml")], sets)
    run_job("sample", JobContext(cfg=cfg, options=argparse.Namespace(
        out=str(root / "sample"), docs=None, seed=None)))
    run_job("train-detector", JobContext(cfg=cfg, options=argparse.Namespace(
        input=str(root / "sample" / "detector_train.jsonl"))))
    zip_path = build_zip(REPO / "lib" / "tailguard", root / "dist" / "tailguard.zip")
    return root, sets, zip_path


def _submit(master: str, zip_path: Path, sets: list[str], out: Path, log: Path,
            on_line=None) -> int:
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    command = [
        _spark_bin("spark-submit"), "--master", master,
        "--conf", f"spark.pyspark.python={sys.executable}",
        "--conf", "spark.executor.memory=1g", "--conf", "spark.driver.memory=1g",
        "--conf", "spark.task.maxFailures=8",
        "--py-files", str(zip_path), str(REPO / "jobs" / "pipeline.py"),
        "--conf", str(REPO / "conf" / "cluster.yaml"),
        *[arg for s in sets for arg in ("--set", s)],
        "--set", f"output.root={out.as_uri()}",
        # conf/cluster.yaml sizes executors for real nodes: shrink them to the test's workers
        *[arg for s in ("spark.executor.cores=1", "spark.executor.memory=1g",
                        "spark.executor.memoryOverhead=512m",
                        "spark.dynamicAllocation.enabled=false",
                        "spark.sql.shuffle.partitions=4", "spark.default.parallelism=2")
          for arg in ("--set", f"spark.conf.{s}")],
    ]
    with open(log, "w", encoding="utf-8") as sink:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env=env, start_new_session=True)
        try:
            for line in proc.stdout:
                sink.write(line)
                if on_line is not None:
                    on_line(line)
            return proc.wait(timeout=1800)
        finally:
            _stop(proc)


def _logged_at(log: str, marker: str) -> float:
    """Seconds since the epoch of the first log line holding `marker`."""
    line = next(line for line in log.splitlines() if marker in line)
    return datetime.datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def _rows(out: Path, name: str) -> list[tuple]:
    table = pq.read_table(out / name).to_pylist()

    def norm(value):  # floats and the rest kept apart, so a null beside a float still sorts
        return (0, round(value, 9), "") if isinstance(value, float) else (1, 0.0, str(value))

    return sorted(tuple((k, norm(v)) for k, v in sorted(row.items())) for row in table)


def _shard_files(out: Path) -> dict[str, str]:
    folder = out / "shards" / "main"
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_pipeline_on_standalone_cluster_survives_a_killed_worker(standalone_cluster,
                                                                 small_demo, tmp_path):
    master_url, workers, logs = standalone_cluster
    root, sets, zip_path = small_demo
    local_out, cluster_out = tmp_path / "local", tmp_path / "cluster"

    assert _submit("local[2]", zip_path, sets, local_out, tmp_path / "local.log") == 0, \
        (tmp_path / "local.log").read_text()[-4000:]

    # Kill halfway through provenance as the local run timed it (the cluster run is
    # slower): past fingerprint and band, into pair+verify and the components rounds,
    # whose checkpoints and shuffle files the lost executor held.
    local_log = (tmp_path / "local.log").read_text()
    delay = 0.5 * (_logged_at(local_log, "tailguard: provenance: done")
                   - _logged_at(local_log, "tailguard: tailguard provenance:"))
    killed = threading.Event()
    timers: list[threading.Timer] = []

    def kill() -> None:
        os.killpg(workers[1].pid, signal.SIGKILL)  # the worker and its executor
        killed.set()

    def kill_in_provenance(line: str) -> None:
        if "tailguard: tailguard provenance:" in line and not timers:
            timers.append(threading.Timer(delay, kill))
            timers[0].start()
        if "tailguard: provenance: done" in line:
            assert killed.is_set(), "provenance ended before the worker was killed"

    log = tmp_path / "cluster.log"
    try:
        code = _submit(master_url, zip_path, sets, cluster_out, log, kill_in_provenance)
    finally:
        for timer in timers:
            timer.cancel()
    text = log.read_text()
    assert killed.is_set(), "the run never reached provenance:\n" + text[-4000:]
    lines = text.splitlines()
    where = [next(i for i, line in enumerate(lines) if marker in line)
             for marker in ("tailguard: tailguard provenance:", "Lost executor",
                            "tailguard: provenance: done")]
    assert where == sorted(where), "the executor was not lost during provenance"
    assert workers[1].wait(timeout=30) == -signal.SIGKILL
    assert code == 0, text[-6000:]
    assert "summary" in text and "report:" in text

    for name in ("docs", "quarantine", "provenance", "scores", *METRICS):
        assert _rows(cluster_out, name) == _rows(local_out, name), name
    assert _shard_files(cluster_out) == _shard_files(local_out)
    manifest = json.loads((cluster_out / "shards" / "main" / "manifest.json").read_text())
    assert manifest["rows"] > 0
    assert (cluster_out / "report" / "index.html").stat().st_size > 10_000
