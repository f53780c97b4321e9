import zipfile
from pathlib import Path

from tailguard.packaging import build_zip

PACKAGE = Path(__file__).resolve().parents[2] / "lib" / "tailguard"


def test_zip_holds_the_package_and_its_resources_and_is_deterministic(tmp_path):
    first = build_zip(PACKAGE, tmp_path / "a" / "tailguard.zip")
    second = build_zip(PACKAGE, tmp_path / "b" / "tailguard.zip")
    assert first.read_bytes() == second.read_bytes()
    names = set(zipfile.ZipFile(first).namelist())
    assert {"tailguard/__init__.py", "tailguard/cli.py",
            "tailguard/resources/default.yaml"} <= names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)


def test_config_defaults_load_from_inside_the_zip(tmp_path):
    import subprocess
    import sys

    archive = build_zip(PACKAGE, tmp_path / "tailguard.zip")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import tailguard.config as c; "
            "assert c.__file__.startswith(sys.argv[1]), c.__file__; "
            "print(c.load_config().eras.cutoff)")
    result = subprocess.run([sys.executable, "-c", code, str(archive)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2022-11-30"
