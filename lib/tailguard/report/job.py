"""`tailguard report`: `<output.root>/report/index.html`, readable in two minutes.

Stages: gather (small aggregates of the stored tables, the shard manifest and the
detector's metrics; gather.py) -> render (one HTML file with embedded PNG plots and no
script or network reference; render.py) -> write (a staging file moved over the old
report, so a reader never sees half a page).
"""

from __future__ import annotations

import logging
import uuid

import pyarrow.fs as pafs

from tailguard import paths
from tailguard.config import Config
from tailguard.report.gather import gather
from tailguard.report.render import render

log = logging.getLogger(__name__)


def report_path(cfg: Config) -> str:
    return paths.join(cfg.table_path("report"), "index.html")


def write_text_atomically(uri: str, text: str) -> None:
    """Write to a sibling staging file, then move it over `uri` (a rename on local disk
    and HDFS; on object stores a single PUT, which is atomic per object)."""
    fs, path = pafs.FileSystem.from_uri(paths.for_pyarrow(paths.absolute(uri)))
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    staging = f"{parent}/.{path.rsplit('/', 1)[1]}.{uuid.uuid4().hex}.tmp"
    with fs.open_output_stream(staging) as out:
        out.write(text.encode("utf-8"))
    fs.move(staging, path)


def run(ctx) -> str:
    cfg = ctx.cfg
    data = gather(ctx.spark, cfg)
    target = report_path(cfg)
    write_text_atomically(target, render(data))
    if data.missing:
        log.info("report: sections without data yet: %s", ", ".join(sorted(data.missing)))
    log.info("report: wrote %s", paths.without_credentials(target))
    return target
