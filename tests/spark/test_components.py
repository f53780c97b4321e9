"""Connected components (distributed rounds and the driver's union-find) and the verified
edges of LSH buckets on small graphs (chispa)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from chispa import assert_df_equality

from tailguard.dedup.candidates import explode_verified_edges
from tailguard.dedup.components import (
    ComponentsNotConverged,
    connected_components,
    local_components,
)
from tailguard.dedup.minhash import to_binary


def _edges(spark, pairs):
    return spark.createDataFrame(pairs, "src string, dst string")


def _expected(spark, groups):
    rows = [(node, min(group)) for group in groups for node in group]
    return spark.createDataFrame(rows, "doc_id string, root string")


@pytest.mark.parametrize("driver_max_edges", [0, 1000])
def test_chain_and_separate_components(spark, driver_max_edges):
    chain = [f"c{i:02d}" for i in range(40)]
    # a long chain given in a shuffled orientation, a triangle, and a star
    pairs = [(chain[i + 1], chain[i]) if i % 2 else (chain[i], chain[i + 1]) for i in range(39)]
    pairs += [("t1", "t2"), ("t2", "t3"), ("t3", "t1"), ("s0", "s1"), ("s0", "s2"), ("s0", "s0")]
    got = connected_components(_edges(spark, pairs), max_iterations=20,
                               driver_max_edges=driver_max_edges)
    expected = _expected(spark, [chain, ["t1", "t2", "t3"], ["s0", "s1", "s2"]])
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_driver_union_find_equals_the_distributed_rounds_on_a_random_graph(spark):
    rng = np.random.default_rng(5)
    nodes = [f"n{i:04d}" for i in rng.permutation(600)]
    pairs = [(nodes[a], nodes[b]) for a, b in rng.integers(0, 600, (450, 2))]
    local = local_components(_edges(spark, pairs).toArrow())
    assert local.num_rows > 300
    distributed = connected_components(_edges(spark, pairs), max_iterations=40)
    assert_df_equality(spark.createDataFrame(local), distributed, ignore_row_order=True,
                       ignore_nullable=True)


def test_a_graph_over_the_driver_bound_takes_the_distributed_rounds(spark):
    chain = [(f"n{i:03d}", f"n{i + 1:03d}") for i in range(64)]
    with pytest.raises(ComponentsNotConverged):  # 64 edges > 10: rounds, and too few
        connected_components(_edges(spark, chain), max_iterations=1, driver_max_edges=10)
    got = connected_components(_edges(spark, chain), max_iterations=1, driver_max_edges=64)
    assert got.where("root = 'n000'").count() == 65


def test_no_edges_gives_no_rows(spark):
    assert connected_components(_edges(spark, []), max_iterations=3).count() == 0


def test_not_converging_raises_a_clear_error(spark):
    chain = [(f"n{i:03d}", f"n{i + 1:03d}") for i in range(64)]
    with pytest.raises(ComponentsNotConverged, match="max_iterations"):
        connected_components(_edges(spark, chain), max_iterations=1)


def _signature(seed: int, equal_to: np.ndarray | None = None, same: int = 0) -> bytes:
    sig = np.random.default_rng(seed).integers(0, 2**32, 16, dtype=np.uint32)
    if equal_to is not None:
        sig[:same] = equal_to[:same]
    return to_binary(sig[None, :])[0].as_py()


def test_buckets_become_verified_stars_and_pairs(spark):
    day, later = dt.date(2023, 1, 1), dt.date(2023, 2, 1)
    sigs = {f"d{i}": _signature(0) for i in range(6)}                     # identical
    sigs |= {"x": _signature(1), "y": _signature(9, np.frombuffer(_signature(1), "<u4"), 14),
             "z": _signature(9, np.frombuffer(_signature(1), "<u4"), 10)}  # 14/16, 10/16
    sigs |= {f"p{i}": _signature(0) for i in range(4)} | {"again": _signature(0)}
    sigs |= {"lonely": _signature(3), "w1": _signature(4), "w2": _signature(5)}
    rows = [(f"d{i}", day, 0, 7) for i in range(6)] + [(k, day, 1, 9) for k in "xyz"]
    rows += [("lonely", day, 2, 5), (None, day, 3, 3)]
    rows += [("again", day, 4, 1), ("again", later, 4, 1)]  # a re-crawl: one member
    rows += [(f"p{i}", day, 5, 2) for i in range(4)]        # exactly max_bucket_size
    rows += [("w1", day, -1, 11), ("w2", day, -1, 11), ("nowords", day, -1, 11)]  # exact band
    bands = spark.createDataFrame(rows, "doc_id string, crawl_date date, band int, "
                                        "band_hash long")
    sig_rows = [(k, d, v) for k, v in sigs.items() for d in ([day, later] if k == "again"
                                                             else [day])]
    signatures = spark.createDataFrame(sig_rows, "doc_id string, crawl_date date, "
                                                 "signature binary")
    got = explode_verified_edges(bands, signatures, threshold=0.8, num_perm=16,
                                 max_bucket_size=4)
    expected = spark.createDataFrame(
        [(0, 7, "d0", f"d{i}") for i in range(1, 6)]     # star of a big bucket
        + [(1, 9, "x", "y")]                            # 14/16 >= 0.8; x-z, y-z are not
        + [(5, 2, f"p{i}", f"p{j}") for i in range(4) for j in range(i + 1, 4)]
        + [(-1, 11, "nowords", "w1"), (-1, 11, "nowords", "w2"), (-1, 11, "w1", "w2")],
        "band int, band_hash long, src string, dst string")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    components = connected_components(got.select("src", "dst"), max_iterations=10)
    assert components.where("root = 'd0'").count() == 6
