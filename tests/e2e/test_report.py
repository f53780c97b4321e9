"""The report of the demo run, opened in headless Chromium: every section shows data,
every image decodes, nothing scrolls sideways; and the pipeline summary it ends with."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tailguard.report.render import OPTIONAL, SECTIONS
from tailguard.report.summary import pipeline_summary

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

# Injected into a copy of the page (the report itself has no script): per section, its
# box, its images' decoded sizes and whether it says "no data"; and the page widths.
CHECK_SCRIPT = """
<script>
window.addEventListener('load', () => {
  const out = {scrollWidth: document.documentElement.scrollWidth,
               innerWidth: window.innerWidth,
               height: document.documentElement.scrollHeight, sections: {}};
  for (const s of document.querySelectorAll('section')) {
    const r = s.getBoundingClientRect();
    out.sections[s.id] = {top: r.top + window.scrollY, height: r.height,
      images: [...s.querySelectorAll('img')].map(i => [i.complete, i.naturalWidth,
                                                       i.naturalHeight]),
      tables: s.querySelectorAll('table').length, kpis: s.querySelectorAll('.kpi').length,
      missing: s.querySelectorAll('.missing').length};
  }
  const pre = document.createElement('pre');
  pre.id = 'check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:  # the test set-up installs Debian's package when it is missing
        subprocess.run([str(REPO / "scripts" / "install-chromium.sh")], check=True)
        found = shutil.which("chromium")
    assert found, "chromium is not installed and scripts/install-chromium.sh did not install it"
    return found


def _headless(chromium: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--allow-file-access-from-files", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(demo):
    return Path(demo.run("report"))


def test_report_opens_in_chromium_with_every_section_showing_data(report, tmp_path):
    check_in_chromium(report, tmp_path)


def check_in_chromium(report: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    page = report.read_text("utf-8")
    assert "<script" not in page and "http://" not in page and "https://" not in page.replace(
        'href="#', "")  # self-contained: nothing fetched when opened
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK_SCRIPT + "</body>"), "utf-8")
    dom = _headless(chromium, "--window-size=1280,900", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="check">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stderr[-2000:]
    check = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert check["scrollWidth"] <= check["innerWidth"], "the page scrolls sideways at 1280 px"
    assert set(check["sections"]) == {key for key, _ in SECTIONS} - set(OPTIONAL)
    for key, section in check["sections"].items():
        assert section["missing"] == 0, f"section {key} says it has no data"
        assert section["images"] or section["tables"] or section["kpis"], f"{key} is empty"
        for complete, width, height in section["images"]:
            assert complete and width > 100 and height > 50, f"an image in {key} did not decode"
    for key in ("share", "monthly", "diversity", "tail", "shards"):
        assert check["sections"][key]["images"], f"section {key} has no plot"

    shot = tmp_path / "report.png"
    result = _headless(chromium, f"--window-size=1280,{int(check['height']) + 10}",
                       f"--screenshot={shot}", probe.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("L")
    for key, section in check["sections"].items():  # each section's pixels hold ink
        top, height = int(section["top"]), int(section["height"])
        crop = image.crop((0, top, 1280, top + height))
        dark = sum(crop.histogram()[:160]) / max(crop.width * crop.height, 1)
        assert dark > 0.003, f"section {key} looks blank in the screenshot ({dark:.4f})"


def test_report_images_decode_as_png(report):
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', report.read_text("utf-8"))
    assert len(uris) >= 7
    for data in uris:
        image = Image.open(io.BytesIO(base64.b64decode(data)))
        image.verify()
        assert image.format == "PNG" and image.size[0] > 100


def test_pipeline_summary_names_eras_extremes_shards_and_report(demo, report):
    text = pipeline_summary(demo.spark, demo.cfg)
    lines = text.splitlines()
    assert lines[0] == "tailguard summary"
    documents = next(line for line in lines if line.strip().startswith("documents:"))
    eras = {m.group(1): int(m.group(2).replace(",", ""))
            for m in re.finditer(r"(pre_ai|attested|post_ai) ([\d,]+)", documents)}
    provenance = demo.spark.read.parquet(demo.cfg.table_path("provenance"))
    expected = {r["era"]: r["count"] for r in provenance.groupBy("era").count().collect()}
    assert eras == expected
    assert any(line.strip().startswith("highest share:") for line in lines)
    assert any(line.strip().startswith("lowest share:") for line in lines)
    manifest = json.loads((Path(demo.cfg.table_path("shards")) / "main" / "manifest.json")
                          .read_text())
    shard_line = next(line for line in lines if line.strip().startswith("shards"))
    assert f"{manifest['rows']:,} docs" in shard_line and "anchor share" in shard_line
    assert lines[-1].strip() == f"report: {report}"
