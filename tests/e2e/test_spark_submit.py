"""The jobs run under spark-submit on a real standalone cluster, from the packaged zip.

Starts a Spark master and one worker from the pip-installed Spark (loopback only), submits
`jobs/ingest.py` with `--py-files dist/tailguard.zip`, and checks the tables it wrote. The
cluster processes are stopped by PID whatever happens.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tailguard.packaging import build_zip

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.cluster]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spark_bin(name: str) -> str:
    import pyspark

    return str(Path(pyspark.__file__).parent / "bin" / name)


def _wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listening on port {port} after {timeout}s")


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    """A master + one 2-core worker on 127.0.0.1; yields the master URL."""
    logs = tmp_path_factory.mktemp("cluster-logs")
    port = _free_port()
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    master_url = f"spark://127.0.0.1:{port}"
    commands = [
        [_spark_bin("spark-class"), "org.apache.spark.deploy.master.Master", "--host",
         "127.0.0.1", "--port", str(port), "--webui-port", str(_free_port())],
        [_spark_bin("spark-class"), "org.apache.spark.deploy.worker.Worker", master_url,
         "--host", "127.0.0.1", "--cores", "2", "--memory", "2g", "--webui-port",
         str(_free_port()), "--work-dir", str(logs / "work")],
    ]
    procs = []
    try:
        for index, command in enumerate(commands):
            log = open(logs / f"proc-{index}.log", "wb")  # noqa: SIM115 - closed with the proc
            procs.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                          start_new_session=True))
            if index == 0:
                _wait_for_port(port)
        time.sleep(3)  # let the worker register
        yield master_url
    finally:
        for proc in procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def _write_crawl(root: Path) -> None:
    rows = {
        "2022-10-01": [{"url": "https://www.bbc.co.uk/news/1", "text": "A pre-AI story."},
                       {"url": "https://blog.example.com.au/p", "text": "Sheep and wool prices."}],
        "2023-06-01": [{"url": "https://news.example.com.au/q", "text": "A later post."},
                       {"url": "not a url", "text": "orphan text"}],
    }
    for date, records in rows.items():
        part = root / f"crawl_date={date}"
        part.mkdir(parents=True)
        with gzip.open(part / "part-0.jsonl.gz", "wt", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record) + "\n")
        (part / "broken.jsonl").write_text('{"url": "https://x.org/a", "text": \n')


def test_ingest_runs_under_spark_submit_on_standalone_cluster(standalone_cluster, tmp_path):
    crawl, out = tmp_path / "crawl", tmp_path / "tables"
    _write_crawl(crawl)
    zip_path = build_zip(REPO / "lib" / "tailguard", tmp_path / "dist" / "tailguard.zip")
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    command = [
        _spark_bin("spark-submit"), "--master", standalone_cluster,
        "--conf", f"spark.pyspark.python={sys.executable}",
        "--conf", "spark.executor.memory=1g",
        "--py-files", str(zip_path),
        str(REPO / "jobs" / "ingest.py"),
        "--conf", str(REPO / "conf" / "cluster.yaml"),
        "--set", f"input.path={crawl}", "--set", f"output.root={out}",
        "--set", "spark.conf.spark.sql.shuffle.partitions=4",
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    docs = pq.read_table(out / "docs").to_pylist()
    assert sorted(d["domain"] for d in docs) == ["bbc.co.uk", "example.com.au", "example.com.au"]
    reasons = sorted(r["reason"] for r in pq.read_table(out / "quarantine").to_pylist())
    assert reasons == ["invalid_url", "malformed_json", "malformed_json"]
