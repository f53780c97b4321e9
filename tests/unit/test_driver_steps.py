"""`diversity.job.concurrently`: independent driver steps at the same time."""

from __future__ import annotations

import threading
import time

import pytest

from tailguard.diversity.job import concurrently


def test_results_come_back_in_step_order():
    assert concurrently(None, lambda: "a", lambda: 2, lambda: None) == ["a", 2, None]


def test_steps_run_at_the_same_time():
    """Each step waits for the other at a barrier: run one after the other, the first
    would time out there."""
    barrier = threading.Barrier(2, timeout=10)
    assert concurrently(None, barrier.wait, barrier.wait) in ([0, 1], [1, 0])


def test_an_error_is_raised_after_every_step_has_ended():
    """A failing step does not leave another one running behind the caller's back (a
    write still going when the job reports failure)."""
    ended = threading.Event()

    def fails():
        raise ValueError("step failed")

    def slow():
        time.sleep(0.3)
        ended.set()

    with pytest.raises(ValueError, match="step failed"):
        concurrently(None, fails, slow)
    assert ended.is_set()
