"""`make bench` rewrites the generated table of BENCHMARKS.md and keeps the hand-written
sections after its marker (the real-text evaluations and analyses live there)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_RUN = Path(__file__).resolve().parents[2] / "bench" / "run.py"


def _write_report():
    spec = importlib.util.spec_from_file_location("bench_run_under_test", _RUN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write_report, module.GENERATED_END


def _row(name: str) -> dict:
    return {"name": name, "docs": 10, "seconds": 1.0, "docs_per_s_per_core": 5.0, "note": ""}


def test_bench_report_replaces_its_table_and_keeps_the_sections(tmp_path):
    write_report, marker = _write_report()
    report = tmp_path / "BENCHMARKS.md"
    write_report(report, {50: [_row("first_run")]}, [])
    report.write_text(report.read_text() + "\n## Real text\nMAE 0.03 on R1.\n")
    write_report(report, {50: [_row("second_run")]}, [])
    text = report.read_text()
    assert "second_run" in text and "first_run" not in text
    assert text.count(marker) == 1 and text.index(marker) < text.index("## Real text")
    assert text.endswith("## Real text\nMAE 0.03 on R1.\n")
