"""Driver-side listing of a date-partitioned crawl: metadata only, no file is opened.

The crawl root holds `crawl_date=YYYY-MM-DD/` directories (Hive-style partitions, the
layout Spark, Hive and Common Crawl's columnar index use). Listing goes through
pyarrow.fs so the same code lists local disk, HDFS and S3, and the executors open the
files through the same filesystem by URI.
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow.fs as pafs

from tailguard import paths
from tailguard.errors import InputError

PARTITION_KEY = "crawl_date"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# (suffix, kind, compression); the longest matching suffix wins.
_KINDS = (
    (".jsonl.gz", "jsonl", "gzip"), (".jsonl.zst", "jsonl", "zstd"), (".jsonl", "jsonl", None),
    # JSON Lines under .json.gz / .json.zst names (C4, CCNet and RedPajama's documents);
    # a bare .json is a metadata file (a dataset's dataset_info.json), not records
    (".json.gz", "jsonl", "gzip"), (".json.zst", "jsonl", "zstd"),
    (".parquet", "parquet", None),
    (".warc.gz", "warc", "gzip"), (".warc", "warc", None),
    (".wet.gz", "wet", "gzip"), (".wet", "wet", None),
)


@dataclass(frozen=True)
class FileTask:
    """One input file: what to read, where it belongs, how big it is (for balancing)."""

    source_file: str                 # path relative to the crawl root, "/"-separated
    crawl_date: dt.date | None       # None when the partition value is not a date
    bad_partition: bool
    kind: str                        # jsonl | parquet | warc | wet | unsupported
    compression: str | None          # gzip | zstd | None
    size: int


def root_uri(path: str) -> str:
    """A URI pyarrow.fs understands on every executor: local paths become absolute."""
    return paths.absolute(path)


@functools.lru_cache(maxsize=8)
def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, root path inside it), cached per process (executors reuse it)."""
    return pafs.FileSystem.from_uri(paths.for_pyarrow(uri))  # s3a:// -> s3://


def file_kind(name: str) -> tuple[str, str | None]:
    """(kind, compression) from a file name; unknown names are `unsupported`."""
    lower = name.lower()
    for suffix, kind, compression in _KINDS:
        if lower.endswith(suffix):
            return kind, compression
    return "unsupported", None


def parse_partition(dirname: str) -> dt.date | None:
    """`crawl_date=2024-01-31` -> date; anything else (wrong key, not a date) -> None."""
    key, sep, value = dirname.partition("=")
    if key != PARTITION_KEY or not sep or not _DATE.match(value):
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _hidden(relative: str) -> bool:
    """Hadoop's convention: `_SUCCESS`, `_temporary/`, `.crc` files are not data."""
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


def _files_under(fs: pafs.FileSystem, info: pafs.FileInfo) -> Iterable[pafs.FileInfo]:
    if info.type == pafs.FileType.File:
        return [info]
    return fs.get_file_info(pafs.FileSelector(info.path, recursive=True))


@dataclass(frozen=True)
class ListedFile:
    """One data file of a recursive listing: metadata only."""

    relative: str                    # path relative to the crawl root, "/"-separated
    size: int
    mtime_ns: int | None


def list_files(uri: str) -> list[ListedFile]:
    """Every non-hidden file under the crawl root, recursively, sorted by path."""
    fs, root = _open_root(uri)
    root = root.rstrip("/") or "/"
    found = []
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        relative = info.path[len(root):].lstrip("/")
        if info.type != pafs.FileType.File or _hidden(relative):
            continue
        found.append(ListedFile(relative, int(info.size or 0), info.mtime_ns))
    return sorted(found, key=lambda f: f.relative)


def top_entries(uri: str) -> list[tuple[str, bool]]:
    """(name, is_directory) of the non-hidden entries directly under the crawl root."""
    fs, root = _open_root(uri)
    root = root.rstrip("/") or "/"
    entries = []
    for info in fs.get_file_info(pafs.FileSelector(root, recursive=False)):
        name = info.path[len(root):].lstrip("/")
        if not _hidden(name):
            entries.append((name, info.type == pafs.FileType.Directory))
    return sorted(entries)


def list_tasks(uri: str, dates: Iterable[dt.date] | None = None) -> list[FileTask]:
    """Every data file under the crawl root (or under the `dates` partitions only).

    Top-level entries that are not a valid `crawl_date=` directory form bad partitions:
    their records are read and quarantined with reason `bad_partition`. A requested date
    without a directory contributes nothing (the caller logs it).
    """
    fs, root = _open_root(uri)
    root = root.rstrip("/") or "/"
    if dates is None:
        tops = fs.get_file_info(pafs.FileSelector(root, recursive=False))
    else:
        wanted = [f"{root}/{PARTITION_KEY}={d.isoformat()}" for d in sorted(set(dates))]
        tops = [i for i in fs.get_file_info(wanted) if i.type == pafs.FileType.Directory]
    tasks = []
    for top in tops:
        top_name = top.path[len(root):].lstrip("/")
        if _hidden(top_name):
            continue
        crawl_date = parse_partition(top_name) if top.type == pafs.FileType.Directory else None
        for info in _files_under(fs, top):
            relative = info.path[len(root):].lstrip("/")
            if info.type != pafs.FileType.File or _hidden(relative):
                continue
            kind, compression = file_kind(info.base_name)
            tasks.append(FileTask(relative, crawl_date, crawl_date is None, kind, compression,
                                  int(info.size or 0)))
    return sorted(tasks, key=lambda t: t.source_file)


def _open_root(uri: str) -> tuple[pafs.FileSystem, str]:
    try:
        fs, root = filesystem(uri)
        info = fs.get_file_info(root)
    except (OSError, ValueError) as exc:
        raise InputError(f"input.path {uri} cannot be opened: {exc}") from exc
    if info.type == pafs.FileType.NotFound:
        raise InputError(f"input.path {uri} does not exist")
    if info.type != pafs.FileType.Directory:
        raise InputError(f"input.path {uri} is not a directory (of crawl_date=... partitions, "
                         "a crawl-data/ tree or Parquet / JSONL files)")
    return fs, root


def balance(tasks: list[FileTask], slices: int) -> list[list[FileTask]]:
    """Longest-processing-time-first packing of files into `slices` groups by size.

    Graham's LPT rule keeps the largest group within 4/3 of the optimum, so one huge WARC
    does not share a Spark task with many others. Deterministic: ties break on name.
    """
    groups: list[list[FileTask]] = [[] for _ in range(max(1, min(slices, len(tasks))))]
    heap = [(0, i) for i in range(len(groups))]
    for task in sorted(tasks, key=lambda t: (-t.size, t.source_file)):
        load, lightest = heapq.heappop(heap)
        groups[lightest].append(task)
        heapq.heappush(heap, (load + max(task.size, 1), lightest))
    return [g for g in groups if g]
