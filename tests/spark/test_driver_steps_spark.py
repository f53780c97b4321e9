"""`diversity.job.concurrently` with a session: its threads' jobs belong to the caller."""

from __future__ import annotations

from tailguard.diversity.job import concurrently


def test_steps_inherit_the_callers_job_group(spark):
    """A job group set by the caller (to describe or cancel its jobs) holds in every step's
    thread; a plain new thread would start with no local properties."""
    sc = spark.sparkContext
    sc.setJobGroup("tailguard-test-group", "diversity steps")
    try:
        groups = concurrently(spark, *[lambda: sc.getLocalProperty("spark.jobGroup.id")] * 2)
        counts = concurrently(spark, lambda: spark.range(10).count(),
                              lambda: spark.range(5).count())
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)
        sc.setLocalProperty("spark.job.description", None)
    assert groups == ["tailguard-test-group"] * 2
    assert counts == [10, 5]
