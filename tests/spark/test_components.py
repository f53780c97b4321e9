"""Connected components and bucket pairs on small graphs (chispa)."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality

from tailguard.dedup.candidates import explode_bucket_pairs
from tailguard.dedup.components import ComponentsNotConverged, connected_components


def _edges(spark, pairs):
    return spark.createDataFrame(pairs, "src string, dst string")


def _expected(spark, groups):
    rows = [(node, min(group)) for group in groups for node in group]
    return spark.createDataFrame(rows, "doc_id string, root string")


def test_chain_and_separate_components(spark):
    chain = [f"c{i:02d}" for i in range(40)]
    # a long chain given in a shuffled orientation, a triangle, and a star
    pairs = [(chain[i + 1], chain[i]) if i % 2 else (chain[i], chain[i + 1]) for i in range(39)]
    pairs += [("t1", "t2"), ("t2", "t3"), ("t3", "t1"), ("s0", "s1"), ("s0", "s2"), ("s0", "s0")]
    got = connected_components(_edges(spark, pairs), max_iterations=20)
    expected = _expected(spark, [chain, ["t1", "t2", "t3"], ["s0", "s1", "s2"]])
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_no_edges_gives_no_rows(spark):
    assert connected_components(_edges(spark, []), max_iterations=3).count() == 0


def test_not_converging_raises_a_clear_error(spark):
    chain = [(f"n{i:03d}", f"n{i + 1:03d}") for i in range(64)]
    with pytest.raises(ComponentsNotConverged, match="max_iterations"):
        connected_components(_edges(spark, chain), max_iterations=1)


def test_big_bucket_becomes_a_star_and_small_bucket_all_pairs(spark):
    rows = [(f"d{i}", 0, 7) for i in range(6)] + [("x", 1, 9), ("y", 1, 9), ("z", 1, 9)]
    rows += [("lonely", 2, 5), (None, 3, 3), ("again", 4, 1), ("again", 4, 1)]  # a re-crawl
    rows += [(f"p{i}", 5, 2) for i in range(4)]  # exactly max_bucket_size: still all pairs
    bands = spark.createDataFrame(rows, "doc_id string, band int, band_hash long")
    got = explode_bucket_pairs(bands, max_bucket_size=4)
    expected = spark.createDataFrame(
        [(0, 7, "d0", f"d{i}") for i in range(1, 6)]
        + [(1, 9, "x", "y"), (1, 9, "x", "z"), (1, 9, "y", "z")]
        + [(5, 2, f"p{i}", f"p{j}") for i in range(4) for j in range(i + 1, 4)],
        "band int, band_hash long, src string, dst string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    components = connected_components(got.select("src", "dst"), max_iterations=10)
    assert components.where("root = 'd0'").count() == 6
