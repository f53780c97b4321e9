"""A record's crawl date, read from the record itself (no Spark import).

Two input layouts date each record instead of each directory (`io/layouts.py`):
`commoncrawl` (the record's `WARC-Date`) and `column` (the field `input.date_field`,
e.g. FineWeb's `date`). The rules, the same in Python (one JSONL record, one WARC
header) and in Arrow (a Parquet batch):

- An ISO 8601 string is dated by its date part *as written*: the first ten characters
  `YYYY-MM-DD`, followed by nothing, `T`, `t` or a space. An offset (`+02:00`) is not
  applied, so a value and its Parquet min/max statistics always agree (a row group
  whose statistics exclude a date holds no value starting with it). Anything else
  (`2024-1-1`, `2024-02-30`, `May 5 2013`, a number) is no date.
- A Parquet / Arrow `timestamp` is dated in UTC (a zoned timestamp is stored in UTC),
  a `date32` / `date64` is its value.

A date outside `PLAUSIBLE_FROM`..today (`implausible_date`) is quarantined by
`records.finish_batch`: the web has no crawl before 1990, and a date after the run's
own day is a clock or parsing error.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

PLAUSIBLE_FROM = dt.date(1990, 1, 1)
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[Tt ]|$)")
_ISO_DATE_ARROW = r"^\d{4}-\d{2}-\d{2}([Tt ]|$)"


def parse_iso_date(value: Any) -> dt.date | None:
    """The date of one ISO 8601 value (see the module rules); None when it has none."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.date()
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    match = _ISO_DATE.match(value)
    if match is None:
        return None
    try:
        return dt.date(*(int(g) for g in match.groups()))
    except ValueError:
        return None


def field_value(obj: dict, dotted: str) -> Any:
    """`obj["a"]["b"]` for "a.b" (DCLM keeps WARC-Date in `metadata`); a key holding
    the whole dotted name wins. None when any step is missing."""
    if dotted in obj:
        return obj[dotted]
    value: Any = obj
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def arrow_dates(column: pa.Array) -> pa.Array:
    """date32 of every value of a string / timestamp / date column (null when none)."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        column, kind = column.cast(kind.value_type), kind.value_type
    if pa.types.is_timestamp(kind) and kind.tz is not None:
        # the stored UTC instant: a zoned cast to date32 would take the local day
        column = column.view(pa.int64()).view(pa.timestamp(kind.unit))
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return column.cast(pa.date32())
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)
            or pa.types.is_string_view(kind)):
        return pa.nulls(len(column), pa.date32())
    column = column.cast(pa.string())
    head = pc.utf8_slice_codeunits(column, 0, 10)
    parsed = pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime is lenient (2024-02-30 -> 2024-03-01, 2024-1-1): keep exact round trips
    exact = pc.and_(pc.match_substring_regex(column, _ISO_DATE_ARROW),
                    pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), head))
    return pc.if_else(pc.fill_null(exact, False), parsed.cast(pa.date32()),
                      pa.scalar(None, pa.date32()))


def plausible(date: dt.date | None, today: dt.date) -> bool:
    return date is not None and PLAUSIBLE_FROM <= date <= today


# --- date ranges of files and row groups (the column layout's pushdown) ---------------

def bound(value: Any) -> str | None:
    """A min/max statistic as a `YYYY-MM-DD`-comparable string, or None when unusable.

    A string statistic is cut to its first ten characters: every value that starts with
    date D lies between min and max, so D lies between the cut ones (also when the
    column holds garbage, which only widens the range)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value[:10]
    date = parse_iso_date(value)
    return None if date is None else date.isoformat()


def can_hold(lo: str | None, hi: str | None, dates: Iterable[dt.date]) -> bool:
    """Whether a file or row group with these bounds may hold a record of `dates`
    (unknown bounds: yes)."""
    if lo is None or hi is None:
        return True
    return any(lo <= d.isoformat() <= hi for d in dates)


def row_group_bounds(metadata, index: int, dotted: str) -> tuple[str | None, str | None]:
    """(lo, hi) of the date column `dotted` in one row group of a Parquet footer."""
    group = metadata.row_group(index)
    for i in range(group.num_columns):
        column = group.column(i)
        if column.path_in_schema != dotted:
            continue
        stats = column.statistics
        if stats is None or not stats.has_min_max:
            return None, None
        return bound(stats.min), bound(stats.max)
    return None, None


def file_bounds(metadata, dotted: str) -> tuple[str | None, str | None]:
    """(lo, hi) over every row group; (None, None) when any is unknown."""
    los, his = [], []
    for i in range(metadata.num_row_groups):
        lo, hi = row_group_bounds(metadata, i, dotted)
        if lo is None or hi is None:
            return None, None
        los.append(lo)
        his.append(hi)
    if not los:
        return None, None
    return min(los), max(his)
