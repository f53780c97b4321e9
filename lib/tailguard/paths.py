"""Paths as Hadoop filesystem URIs: `file://`, `hdfs://`, `s3a://`, `gs://`, or local paths.

Every `input.path`, `output.root` and `detector.dir` passes through these string functions
and never through `pathlib`, which folds `s3a://bucket/x` into `s3a:/bucket/x` and turns
`hdfs:///tailguard` into a local directory named `hdfs:`. Spark (the Hadoop FileSystem
API) takes the URIs unchanged; pyarrow, which reads the crawl and writes the shards, knows
`s3` but not Hadoop's `s3a`/`s3n` spellings, so `for_pyarrow` maps those.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# Hadoop spellings of the S3 connector -> the scheme pyarrow.fs.FileSystem.from_uri knows.
_PYARROW_SCHEMES = {"s3a": "s3", "s3n": "s3", "gcs": "gs"}


def scheme(path: str) -> str | None:
    """The URI scheme (lower case), or None for a plain local path."""
    match = _SCHEME.match(path)
    return match.group(1).lower() if match else None


def is_uri(path: str) -> bool:
    return scheme(path) is not None


def join(root: str, *parts: str) -> str:
    """`root/part/...` with one '/' between pieces, keeping a URI's scheme and authority.

    `join("s3a://b/x", "docs") == "s3a://b/x/docs"`, `join("hdfs:///t", "a/b") ==
    "hdfs:///t/a/b"`, `join("out/t", "docs") == "out/t/docs"`.
    """
    pieces = [p.strip("/") for p in parts if p.strip("/")]
    if not pieces:
        return root
    match = _SCHEME.match(root)
    if match:
        head, rest = root[: match.end()], root[match.end():]
        # keep the authority part ('' for hdfs:///x and file:///x) and its leading '/'
        rest = rest.rstrip("/") if rest.strip("/") else rest
        return head + rest + ("" if rest.endswith("/") else "/") + "/".join(pieces)
    base = root.rstrip("/") or root
    return base + ("" if base.endswith("/") else "/") + "/".join(pieces)


def local_path(path: str) -> str | None:
    """The local file system path of `path` (a plain path or a `file:` URI), else None."""
    kind = scheme(path)
    if kind is None:
        return path
    if kind != "file":
        return None
    parts = urlsplit(path)
    if parts.netloc not in ("", "localhost"):
        return None
    return unquote(parts.path)


def absolute(path: str) -> str:
    """A path every executor resolves the same way: URIs unchanged, local paths absolute."""
    return path if is_uri(path) else os.path.abspath(path)


def for_pyarrow(path: str) -> str:
    """The URI pyarrow.fs understands: `s3a://b/k` -> `s3://b/k`; local paths absolute."""
    kind = scheme(path)
    if kind is None:
        return os.path.abspath(path)
    target = _PYARROW_SCHEMES.get(kind)
    return target + path[len(kind):] if target else path


def without_credentials(path: str) -> str:
    """The URI with any `user:secret@` removed, for logs (never log a credential)."""
    match = _SCHEME.match(path)
    if not match:
        return path
    rest = path[match.end():]
    authority, sep, tail = rest.partition("/")
    if "@" in authority:
        authority = authority.rsplit("@", 1)[1]
    return path[: match.end()] + authority + sep + tail
