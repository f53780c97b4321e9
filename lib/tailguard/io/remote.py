"""Small directories (the detector) on any file system pyarrow reaches: local, `file://`,
`hdfs://`, `s3a://`/`s3://`, `gs://`.

fastText reads and writes local files only, so a detector under a remote `detector.dir`
is copied into a local directory named by its URI before loading, and a trained one is
written locally and then uploaded. Local paths and `file://` URIs are used in place.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

import pyarrow.fs as pafs

from tailguard import paths


def local_dir(directory: str) -> str:
    """A local directory holding `directory`'s files (itself when it is local)."""
    local = paths.local_path(directory)
    if local is not None:
        return local
    digest = hashlib.sha256(directory.encode("utf-8")).hexdigest()[:16]
    # private (0700) per user: a shared temp dir is never trusted with a model we load
    cache = os.path.join(tempfile.gettempdir(), f"tailguard-{os.getuid()}", f"remote-{digest}")
    os.makedirs(os.path.dirname(cache), mode=0o700, exist_ok=True)
    if os.stat(os.path.dirname(cache)).st_uid != os.getuid():
        raise PermissionError(f"{os.path.dirname(cache)} is not ours: refusing to use it")
    staging = tempfile.mkdtemp(prefix="fetch-", dir=os.path.dirname(cache))
    fs, root = pafs.FileSystem.from_uri(paths.for_pyarrow(directory))
    pafs.copy_files(root, staging, source_filesystem=fs,
                    destination_filesystem=pafs.LocalFileSystem())
    if os.path.isdir(cache):  # replace an older copy (the remote detector may have changed)
        old = cache + ".old"
        os.replace(cache, old)
        os.replace(staging, cache)
        _rmtree(old)
    else:
        os.replace(staging, cache)
    return cache


def publish_dir(local: str, directory: str, last: str) -> None:
    """Upload a local directory's files to remote `directory` (replacing what is there).

    Object stores have no atomic directory rename: readers check the file `last` (the
    detector's meta), which is copied after the others, so a half-uploaded detector is
    never read as complete."""
    fs, root = pafs.FileSystem.from_uri(paths.for_pyarrow(directory))
    fs.create_dir(root, recursive=True)
    names = sorted(os.listdir(local))
    for name in [n for n in names if n != last] + [n for n in names if n == last]:
        pafs.copy_files(os.path.join(local, name), f"{root.rstrip('/')}/{name}",
                        source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)


def _rmtree(path: str) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
