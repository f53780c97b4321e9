"""What every benchmark module shares: one result row, a timer, the machine's description.

A module `bench/bench_X.py` exposes `bench(spark, cfg) -> list[dict]` (rows made with
`Result(...).as_row()`); `cfg.output.root` holds the bench tables docs / provenance /
signatures. Times exclude Spark session start; docs/s per core = docs / seconds / cores.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Result:
    name: str
    docs: int
    seconds: float
    cores: int
    note: str = ""

    @property
    def docs_per_s_per_core(self) -> float:
        return self.docs / self.seconds / self.cores if self.seconds > 0 else float("nan")

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("cores")
        row["docs_per_s_per_core"] = round(self.docs_per_s_per_core, 1)
        row["seconds"] = round(self.seconds, 2)
        return row


def timed(name: str, docs: int, fn: Callable[[], Any], cores: int, note: str = "") -> Result:
    """Run `fn` once and time it with a monotonic clock."""
    start = time.perf_counter()
    fn()
    return Result(name, docs, time.perf_counter() - start, cores, note)


def timed_median(name: str, docs: int, fn: Callable[[], Any], cores: int, note: str = "",
                 repeats: int = 3) -> Result:
    """Run `fn` `repeats` times and report the median time, every time listed in the note.

    For the whole-job rows: on a shared 2-core machine one run of the same job varies by
    15-40% from minute to minute, so a single run says more about the neighbours than about
    the job; the median of three is the usual remedy (pyperf, criterion)."""
    seconds = sorted(timed(name, docs, fn, cores).seconds for _ in range(repeats))
    runs = ", ".join(f"{s:.1f}" for s in seconds)
    median = seconds[len(seconds) // 2]
    return Result(name, docs, median, cores,
                  f"{note} (median of {repeats} runs: {runs} s)".strip())


def spark_cores(spark) -> int:
    return int(spark.sparkContext.defaultParallelism)


def force(df) -> None:
    """Evaluate every column of a frame without collecting it (Spark's noop sink)."""
    df.write.format("noop").mode("overwrite").save()


def machine() -> dict[str, str]:
    """Cores, RAM and CPU model of this machine, for the report."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cores": str(os.cpu_count()), "ram": f"{ram:.0f} GiB", "cpu": cpu,
            "python": platform.python_version()}


def replace_section(path: Path, begin: str, end: str, section: str) -> None:
    """Write `section` (which starts with `begin` and ends with `end`) into the file at
    `path` in place of its current begin..end block, or append it when the file has none;
    the rest of the file is kept as it is."""
    text = path.read_text("utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section + "\n"
    path.write_text(text, "utf-8")


def run_stamp() -> str:
    """"<UTC time>, commit <short hash>" for the first line of a generated report block."""
    return f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, commit {git_commit()}"


def git_commit() -> str:
    """The short commit of the working tree, for a report line ('unknown' outside git)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=False).stdout.strip()
    except OSError:
        return "unknown"
    return out or "unknown"
