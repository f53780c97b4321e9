"""Build dist/tailguard.zip for `spark-submit --py-files`: the package with its resources.

The zip is deterministic (sorted entries, fixed timestamps) so the same tree gives the same
bytes, and executors import the package (and read resources) straight from it.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def build_zip(package_dir: Path, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    files = sorted(p for p in package_dir.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in files:
            info = zipfile.ZipInfo(str(path.relative_to(package_dir.parent)), FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "dist/tailguard.zip")
    package_dir = Path(__file__).resolve().parent
    print(build_zip(package_dir, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
