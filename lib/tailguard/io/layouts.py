"""Input layouts (`input.layout`): which files a run reads, and where a record's date is.

- `dated`: `crawl_date=YYYY-MM-DD/` directories; the directory dates every record in it.
- `commoncrawl`: Common Crawl's published tree, `[crawl-data/]CC-MAIN-YYYY-WW/segments/
  <segment>/{warc,wet}/*.warc.gz | *.warc.wet.gz`. A record is dated by its `WARC-Date`;
  one without a usable WARC-Date falls back to the crawl's start (`crawl_start`).
- `column`: Parquet or JSONL files anywhere (sharded by dump, by number, Hugging Face
  `data/train-00000-of-00042.parquet`); a record is dated by `input.date_field`
  (`io/dates.py`). `--dates` opens only the files whose cached date range can hold a
  requested date (`io/listing_cache.py`) and, inside one, only those row groups.
- `auto` (the default): `dated` when the root holds `crawl_date=` directories,
  `commoncrawl` when it holds a Common Crawl tree, `column` when it holds Parquet / JSONL
  files with the date field; anything else stops with one line naming the keys to set.

A file that the chosen layout cannot place (outside every `crawl_date=` directory, or
outside the Common Crawl paths) is read and its records quarantined as `bad_partition`,
and the log names it and `input.layout`. Such files, and files of no readable kind, hold
no record of any date: a `--dates` run does not open them (a full run quarantines them).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow.parquet as pq

from tailguard import paths
from tailguard.config import INPUT_LAYOUTS, Config
from tailguard.errors import InputError
from tailguard.io import dates as record_dates
from tailguard.io import listing, listing_cache
from tailguard.io.listing import FileTask, ListedFile

log = logging.getLogger(__name__)

LAYOUTS = INPUT_LAYOUTS
RECORD_DATED = frozenset({"commoncrawl", "column"})
_CC_PATH = re.compile(
    r"(?:^|/)CC-MAIN-(\d{4})-(\d{2})/segments/[^/]+/(?:warc|wet)/[^/]+$")
_CC_TOP = re.compile(r"^(crawl-data|CC-MAIN-\d{4}-\d{2})$")
# The WARC-Dates of a crawl lie in its few weeks; a --dates run opens every file of the
# crawls whose window [start - before, start + after] holds a requested date (generous:
# the first crawls named by ID ran longer, and a file read for nothing costs only time).
CC_WINDOW = (dt.timedelta(days=28), dt.timedelta(days=42))


@dataclass(frozen=True)
class Plan:
    """What one ingest run reads: the chosen layout and its file tasks."""

    layout: str
    tasks: list[FileTask]
    unplaced: tuple[str, ...] = ()    # files the layout cannot place (bad_partition)
    footers_read: int = 0             # column: Parquet footers opened for this listing
    listed_bytes: int = 0             # bytes of every data file listed (before --dates)

    @property
    def by_record(self) -> bool:
        return self.layout in RECORD_DATED

    @property
    def read_bytes(self) -> int:
        return sum(t.size for t in self.tasks)


def crawl_start(year: int, week: int) -> dt.date:
    """The start of crawl CC-MAIN-YEAR-WEEK, from its ID alone.

    Common Crawl names a crawl by the ISO week it was finished in and crawls for about
    the two weeks before: CC-MAIN-2023-50 ran 2023-11-28..12-12, CC-MAIN-2024-10
    2024-02-20..03-05. So the start is the Monday of ISO week WEEK minus 14 days
    (2023-11-27, 2024-02-19): the fallback date of a record without a WARC-Date.
    ValueError for a week the year does not have.
    """
    return dt.date.fromisocalendar(year, week, 1) - dt.timedelta(days=14)


def cc_place(relative: str, root_name: str = "") -> dt.date | None:
    """The crawl start of a file on a Common Crawl document path, else None. The root's
    own name counts, so input.path may point at crawl-data/ or at one CC-MAIN-... crawl."""
    match = _CC_PATH.search(f"{root_name}/{relative}" if root_name else relative)
    if match is None:
        return None
    try:
        return crawl_start(int(match.group(1)), int(match.group(2)))
    except ValueError:
        return None


def in_cc_window(start: dt.date, dates: Iterable[dt.date]) -> bool:
    before, after = CC_WINDOW
    return any(start - before <= d <= start + after for d in dates)


def _stop(uri: str, what: str) -> InputError:
    return InputError(f"input.path {paths.without_credentials(uri)} {what}: set input.layout "
                      "(dated | commoncrawl | column) and, for column, input.date_field")


def detect(uri: str, top: list[tuple[str, bool]], files: list[ListedFile] | None,
           has_date_field) -> str:
    """auto: the one layout the tree fits, or InputError naming the keys to set.

    `files` (the recursive listing) is only needed when the top level has no
    `crawl_date=` directory; `has_date_field(file)` peeks at one data file."""
    dated = any(is_dir and name.startswith(f"{listing.PARTITION_KEY}=") for name, is_dir in top)
    cc_top = any(is_dir and _CC_TOP.match(name) for name, is_dir in top)
    if dated and cc_top:
        raise _stop(uri, "holds both crawl_date=... directories and a Common Crawl tree")
    if dated or not top:
        return "dated"
    root_name = uri.rstrip("/").rsplit("/", 1)[-1]
    files = files or []
    cc = [f for f in files if cc_place(f.relative, root_name) is not None]
    data = [f for f in files if listing.file_kind(f.relative)[0] in ("parquet", "jsonl")]
    if cc and data:
        raise _stop(uri, "holds both a Common Crawl tree and Parquet / JSONL files")
    if cc:
        return "commoncrawl"
    if not data:
        raise _stop(uri, "holds no crawl_date=... directory, no Common Crawl tree "
                         "(crawl-data/CC-MAIN-YYYY-WW/segments/...) and no Parquet or JSONL file")
    if not has_date_field(data[0]):
        raise _stop(uri, f"holds Parquet / JSONL files without a date column ({data[0].relative}"
                         " has none under input.date_field)")
    return "column"


def _has_field(fs, root: str, date_field: str, f: ListedFile) -> bool:
    """Whether a data file's first record (JSONL) or schema (Parquet) holds the field."""
    from tailguard.io.readers import first_json_record  # executor-side module, small use

    path = f"{root.rstrip('/')}/{f.relative}"
    kind, compression = listing.file_kind(f.relative)
    try:
        if kind == "parquet":
            with fs.open_input_file(path) as handle:
                parquet = pq.ParquetFile(handle)
                names = {*parquet.schema_arrow.names,
                         *(parquet.schema.column(i).path for i in range(len(parquet.schema)))}
            return date_field in names
        record = first_json_record(fs, path, compression)
        return record is not None and record_dates.field_value(record, date_field) is not None
    except Exception:  # noqa: BLE001 - an unreadable file says nothing about the layout
        return False


def plan(cfg: Config, uri: str, dates: list[dt.date] | None) -> Plan:
    """Choose the layout (auto: detect) and list the files a run reads."""
    layout = cfg.input.layout
    files = None
    if layout == "auto":
        top = listing.top_entries(uri)
        fs, root = listing.filesystem(uri)
        if not any(n.startswith(f"{listing.PARTITION_KEY}=") for n, _ in top):
            files = listing.list_files(uri)
        layout = detect(uri, top, files, lambda f: _has_field(fs, root, cfg.input.date_field, f))
        log.info("ingest: input.layout auto -> %s", layout)
    if layout == "dated":
        return Plan("dated", listing.list_tasks(uri, dates))
    files = listing.list_files(uri) if files is None else files
    if layout == "commoncrawl":
        return commoncrawl_plan(uri, files, dates)
    return column_plan(cfg, uri, files, dates)


def commoncrawl_plan(uri: str, files: list[ListedFile], dates: list[dt.date] | None) -> Plan:
    root_name = uri.rstrip("/").rsplit("/", 1)[-1]
    tasks, unplaced = [], []
    for f in files:
        start = cc_place(f.relative, root_name)
        kind, compression = listing.file_kind(f.relative)
        if start is None:
            unplaced.append(f.relative)
            if dates is None:
                tasks.append(FileTask(f.relative, None, True, kind, compression, f.size))
        elif dates is None or (kind != "unsupported" and in_cc_window(start, dates)):
            tasks.append(FileTask(f.relative, start, False, kind, compression, f.size))
    _warn_unplaced("commoncrawl", unplaced, "crawl-data/CC-MAIN-YYYY-WW/segments/*/{warc,wet}/",
                   dates is None)
    return Plan("commoncrawl", tasks, tuple(unplaced),
                listed_bytes=sum(f.size for f in files))


def column_plan(cfg: Config, uri: str, files: list[ListedFile],
                dates: list[dt.date] | None) -> Plan:
    """Every file (full run), or the files whose date range can hold a requested date."""
    fs, root = listing.filesystem(uri)
    described = listing_cache.about(uri, cfg.input.date_field)
    cached = listing_cache.load(cfg.output.root, described)
    ranges, footers = listing_cache.refresh(fs, root, files, cached, cfg.input.date_field)
    if ranges != cached:
        listing_cache.save(cfg.output.root, described, ranges)
    tasks = []
    for f in files:
        kind, compression = listing.file_kind(f.relative)
        r = ranges[f.relative]
        if dates is None or (kind != "unsupported" and record_dates.can_hold(r.lo, r.hi, dates)):
            tasks.append(FileTask(f.relative, None, False, kind, compression, f.size))
    if dates is not None:
        log.info("ingest: column layout, %d of %d files (%d of %d bytes) can hold %s; "
                 "%d footers read", len(tasks), len(files), sum(t.size for t in tasks),
                 sum(f.size for f in files), ", ".join(map(str, dates)), footers)
    return Plan("column", tasks, footers_read=footers, listed_bytes=sum(f.size for f in files))


def _warn_unplaced(layout: str, unplaced: list[str], expected: str, full_run: bool) -> None:
    if not unplaced:
        return
    shown = ", ".join(unplaced[:3]) + (f" and {len(unplaced) - 3} more" if len(unplaced) > 3
                                       else "")
    action = "quarantined as bad_partition" if full_run else "skipped by this --dates run"
    log.warning("ingest: %d file(s) outside %s (input.layout=%s): %s; %s (set input.layout "
                "to read them another way)", len(unplaced), expected, layout, shown, action)
