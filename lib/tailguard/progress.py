"""Per-stage progress in tailguard's own log, in place of Spark's console progress bars.

A daemon thread polls Spark's status tracker (the same source as the bars and the UI)
and logs `JOB: stage N (name) done/total tasks` for a stage that has run `min_age`
seconds, then at most every `interval` seconds while it makes progress (short stages stay
silent); the job logs its docs/s at the end.
Logs are line-oriented, so they read the same in a terminal, a file and a scheduler.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass

log = logging.getLogger("tailguard.progress")


@dataclass(frozen=True)
class StageState:
    stage_id: int
    name: str
    total: int
    done: int
    failed: int


def progress_line(job: str, state: StageState) -> str:
    """One log line for a stage: `score: stage 12 (parquet at ...) 30/64 tasks`."""
    name = state.name.split(" at ")[0] if " at " in state.name else state.name
    label = "" if name.startswith("$anonfun") else f" ({name[:40]})"  # a closure: no name
    failed = f", {state.failed} failed" if state.failed else ""
    return f"{job}: stage {state.stage_id}{label} {state.done}/{state.total} tasks{failed}"


def rate_line(job: str, seconds: float, docs: int | None) -> str:
    """`ingest: done in 12.3 s (4,100 docs/s)`, or without a rate when docs is unknown."""
    if docs and seconds > 0:
        return f"{job}: done in {seconds:.1f} s ({docs / seconds:,.0f} docs/s over {docs:,} docs)"
    return f"{job}: done in {seconds:.1f} s"


class StageMonitor:
    """Context manager: logs the progress of the stages Spark runs while it is open."""

    def __init__(self, spark, job: str, interval: float = 10.0, poll: float = 1.0,
                 min_age: float = 3.0):
        self._tracker = spark.sparkContext.statusTracker()
        self._job, self._interval, self._poll, self._min_age = job, interval, poll, min_age
        self._started: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"progress-{job}", daemon=True)
        self._seen: dict[int, tuple[float, int]] = {}  # stage -> (last logged at, done)

    def __enter__(self) -> StageMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _states(self) -> list[StageState]:
        states = []
        for stage_id in self._tracker.getActiveStageIds():
            info = self._tracker.getStageInfo(stage_id)
            if info is not None:
                states.append(StageState(stage_id, info.name, info.numTasks,
                                         info.numCompletedTasks, info.numFailedTasks))
        return states

    def _loop(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                states = self._states()
            except Exception:  # noqa: BLE001 - the session is closing; progress is best effort
                return
            now = time.monotonic()
            for state in states:
                started = self._started.setdefault(state.stage_id, now)
                if now - started < self._min_age:
                    continue
                last = self._seen.get(state.stage_id)
                if last is None or (now - last[0] >= self._interval and state.done != last[1]):
                    self._seen[state.stage_id] = (now, state.done)
                    log.info(progress_line(self._job, state))


@contextmanager
def timed_stage(spark, job: str, timings: dict[str, float], stage: str):
    """Wall time of one stage of `job` into timings[stage], its Spark jobs named after the
    stage (UI, event log), so a slow run says where it went."""
    spark_context = spark.sparkContext
    spark_context.setJobDescription(f"{job}: {stage}")
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = time.perf_counter() - start
        spark_context.setJobDescription(None)
