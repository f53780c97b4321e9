"""The `column` layout's cached file listing: each file's date range, kept between runs.

A corpus sharded by dump or by number (FineWeb, a Hugging Face dataset) does not say in
its paths which files hold a date. Every Parquet footer does, in the min/max statistics
of the date column, but opening thousands of footers for every daily run costs one
request per file. So the ranges are stored in `<output.root>/state/input_listing.json`
(driver side, no Spark) with what they describe: the input path (without credentials),
the date field, this format's VERSION and, per file, its size and modification time.
A run lists the tree (names, sizes and times: one metadata listing) and opens the
footer of a file only when it is new or its size or time changed; a listing made for
another input or date field is not used (it is rebuilt, and the log says why).

A file whose range is unknown (JSONL, a footer without statistics, an unreadable file)
is opened by every `--dates` run; its reader still selects the records by date.
"""

from __future__ import annotations

import json
import logging
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import pyarrow.fs as pafs
import pyarrow.parquet as pq

from tailguard import __version__, paths
from tailguard.io import dates as record_dates
from tailguard.io.listing import ListedFile, file_kind, filesystem

log = logging.getLogger(__name__)

STATE_FILE = "state/input_listing.json"
VERSION = 1
# A footer declaring more metadata than this is not opened on the driver (hostile input;
# real footers are kilobytes to a few MB): its file's range is unknown.
MAX_FOOTER_BYTES = 64 << 20
_FOOTER_THREADS = 16


@dataclass(frozen=True)
class FileRange:
    """One file as the cache knows it; lo / hi are `YYYY-MM-DD` bounds or None."""

    size: int
    mtime_ns: int | None
    lo: str | None
    hi: str | None
    rows: int | None


def about(uri: str, date_field: str) -> dict:
    """What a cached listing describes: two listings are interchangeable iff equal."""
    return {"what": "tailguard input listing: the date range of each file of a column-layout "
                    "input (input.layout=column), from its Parquet statistics",
            "version": VERSION, "input": paths.without_credentials(uri),
            "date_field": date_field}


def _state_path(output_root: str) -> tuple[pafs.FileSystem, str]:
    fs, root = filesystem(paths.absolute(output_root))
    return fs, f"{root.rstrip('/')}/{STATE_FILE}"


def load(output_root: str, expected: dict) -> dict[str, FileRange]:
    """The stored ranges, or {} when there are none or they describe something else."""
    fs, path = _state_path(output_root)
    if fs.get_file_info(path).type != pafs.FileType.File:
        return {}
    try:
        with fs.open_input_stream(path) as handle:
            stored = json.loads(handle.read().decode("utf-8"))
        described = {k: stored.get(k) for k in expected}
        files = stored["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ingest: ignoring the unreadable listing cache %s (%s)", path, exc)
        return {}
    if described != expected:
        differs = next(k for k in expected if described[k] != expected[k])
        log.info("ingest: the listing cache %s was made for another %s; listing again",
                 path, differs)
        return {}
    try:
        return {name: FileRange(**entry) for name, entry in files.items()}
    except TypeError:
        return {}


def save(output_root: str, described: dict, ranges: dict[str, FileRange]) -> None:
    """Write the listing whole, then move it into place (never half a file)."""
    fs, path = _state_path(output_root)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    body = {**described, "made_by": f"tailguard {__version__}",
            "files": {name: asdict(r) for name, r in sorted(ranges.items())}}
    staging = f"{path}.tmp"
    with fs.open_output_stream(staging) as out:
        out.write(json.dumps(body, indent=0, sort_keys=True).encode("utf-8"))
    fs.move(staging, path)


def footer_range(fs: pafs.FileSystem, path: str, date_field: str) -> tuple[str | None,
                                                                          str | None,
                                                                          int | None]:
    """(lo, hi, rows) from one Parquet footer; unknowns are None (never raises)."""
    try:
        with fs.open_input_file(path) as handle:
            size = handle.size()
            if size < 12:
                return None, None, None
            handle.seek(size - 8)
            tail = handle.read(8)
            if tail[4:] != b"PAR1" or struct.unpack("<I", tail[:4])[0] > MAX_FOOTER_BYTES:
                return None, None, None
            handle.seek(0)
            metadata = pq.ParquetFile(handle).metadata
            lo, hi = record_dates.file_bounds(metadata, date_field)
            return lo, hi, metadata.num_rows
    except Exception as exc:  # noqa: BLE001 - any bad footer only makes the range unknown
        log.info("ingest: no date range for %s (%s)", path, exc)
        return None, None, None


def refresh(fs: pafs.FileSystem, root: str, files: list[ListedFile],
            cached: dict[str, FileRange], date_field: str) -> tuple[dict[str, FileRange], int]:
    """Ranges of every listed file: cached ones when unchanged, footers read for the rest
    (Parquet only). Returns (ranges, footers read)."""
    ranges: dict[str, FileRange] = {}
    to_read = []
    for f in files:
        known = cached.get(f.relative)
        if known is not None and (known.size, known.mtime_ns) == (f.size, f.mtime_ns):
            ranges[f.relative] = known
        elif file_kind(f.relative)[0] == "parquet":
            to_read.append(f)
        else:
            ranges[f.relative] = FileRange(f.size, f.mtime_ns, None, None, None)
    base = root.rstrip("/")
    with ThreadPoolExecutor(max_workers=_FOOTER_THREADS) as pool:
        found = list(pool.map(lambda f: footer_range(fs, f"{base}/{f.relative}", date_field),
                              to_read))
    for f, (lo, hi, rows) in zip(to_read, found, strict=True):
        ranges[f.relative] = FileRange(f.size, f.mtime_ns, lo, hi, rows)
    return ranges, len(to_read)
