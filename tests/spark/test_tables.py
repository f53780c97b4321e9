import datetime as dt
import os

import pytest
from chispa import assert_df_equality

from tailguard.errors import InputError
from tailguard.io.tables import read_table, table_exists, write_partitions, write_table


def _frame(spark, rows):
    return spark.createDataFrame(rows, "doc_id string, crawl_date date, value long")


def test_write_table_replaces_whole_table_and_leaves_no_staging(spark, make_cfg):
    cfg = make_cfg()
    first = _frame(spark, [("a", dt.date(2020, 1, 1), 1), ("b", dt.date(2020, 2, 1), None)])
    second = _frame(spark, [("c", dt.date(2021, 1, 1), 3)])
    write_table(first, cfg, "metrics/things")
    write_table(second, cfg, "metrics/things")
    assert_df_equality(read_table(spark, cfg, "metrics/things"), second, ignore_row_order=True)
    staging = os.path.join(cfg.output.root, "_staging")
    assert not os.path.exists(staging) or os.listdir(staging) == []


def test_write_partitions_replaces_only_present_dates(spark, make_cfg):
    cfg = make_cfg()
    jan, feb = dt.date(2020, 1, 1), dt.date(2020, 2, 1)
    rows = [("a", jan, 1), ("b", feb, 2)]
    write_partitions(_frame(spark, rows), cfg, "events", sort_by=["doc_id"])
    feb_dir = os.path.join(cfg.table_path("events"), "crawl_date=2020-02-01")
    feb_files = sorted(os.listdir(feb_dir))
    write_partitions(_frame(spark, [("z", jan, 9)]), cfg, "events", sort_by=["doc_id"])
    assert sorted(os.listdir(feb_dir)) == feb_files
    expected = _frame(spark, [("z", jan, 9), ("b", feb, 2)])
    actual = read_table(spark, cfg, "events").select("doc_id", "crawl_date", "value")
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
    only_feb = read_table(spark, cfg, "events", dates=[feb]).select("doc_id").collect()
    assert [r.doc_id for r in only_feb] == ["b"]


def test_missing_table_is_a_clear_error(spark, make_cfg):
    cfg = make_cfg()
    assert not table_exists(spark, cfg, "provenance")
    with pytest.raises(InputError, match="table 'provenance' not found"):
        read_table(spark, cfg, "provenance")


def test_contract_table_without_rows_reads_as_empty_frame(spark, make_cfg):
    from tailguard.schema import QUARANTINE

    cfg = make_cfg()
    empty = spark.createDataFrame([], QUARANTINE)
    write_partitions(empty, cfg, "quarantine")
    frame = read_table(spark, cfg, "quarantine")
    assert frame.count() == 0
    assert frame.schema.fieldNames() == QUARANTINE.fieldNames()


def test_list_partitions_reports_partition_values(spark, make_cfg):
    from tailguard.io.tables import list_partitions

    cfg = make_cfg()
    assert list_partitions(spark, cfg, "events") == []
    rows = [("a", dt.date(2020, 1, 1), 1), ("b", dt.date(2020, 2, 1), 2)]
    write_partitions(_frame(spark, rows), cfg, "events")
    assert list_partitions(spark, cfg, "events") == ["2020-01-01", "2020-02-01"]
