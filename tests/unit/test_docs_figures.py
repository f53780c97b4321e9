"""One source per figure: README.md and docs/ quote measurements only from where they are
measured, so the numbers cannot drift apart between files (issue 41).

Sources are the generated blocks the benches and evaluations write between markers
(`<!-- NAME:begin -->` ... `<!-- NAME:end -->`, `<!-- NAME begin -->` ... `<!-- NAME end -->`,
and the `make bench` table above BENCHMARKS.md's marker, named `bench-run` here), and the
decision records in docs/decisions/ (a measurement that chose a design, with its commit).
A paragraph, list item or table row outside a block that holds a decimal figure must link
its source: [`NAME`](FILE#anchor) for a block, a link to docs/decisions/X.md for a record;
each decimal figure in it must appear in one of those sources, and each date in it must be
a source's date. Figures in code spans and fenced code are configuration and commands,
not measurements, and are not checked. Integers are not checked (seeds, counts, sizes).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_TABLE_END = "<!-- end of the `make bench` table; the sections below are kept by it -->"
BLOCK = re.compile(r"<!-- ([\w-]+)(:| )begin -->(.*?)<!-- \1\2end -->", re.S)
# Where `make bench` (Makefile) and the evaluations write each block.
BLOCK_FILES = {
    "bench-run": "BENCHMARKS.md",
    "bench_daily": "BENCHMARKS.md",
    "share-eval": "docs/SHARE.md",
    "share-eval-80w": "docs/SHARE.md",
    "shards-eval": "docs/SHARDS.md",
    "diversity-eval": "docs/DIVERSITY.md",
    "detector-eval": "docs/DETECTOR.md",
}
# Links that may point at a file someone else is writing.
PENDING_FILES = {"docs/INPUTS.md"}
DECIMAL = re.compile(r"[-+]?\d+\.\d+")
DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}) \d{2}:\d{2} UTC")
BLOCK_REF = re.compile(r"\[`([\w-]+)`\]\(([^)\s]*)\)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HISTORY_HEADING = re.compile(r"\d{4}-\d{2}|\bsessions?\b|\bbranch(es)?\b|\bissues? \d+|\bhelper\b",
                             re.I)


def doc_files(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", root / "BENCHMARKS.md", *sorted((root / "docs").rglob("*.md"))]


def rel(path: Path, root: Path = ROOT) -> str:
    return path.relative_to(root).as_posix()


def blocks(text: str, name: str) -> dict[str, str]:
    """Every generated block of one file's text (BENCHMARKS.md: also the `make bench` table)."""
    found = {m.group(1): m.group(3) for m in BLOCK.finditer(text)}
    if name == "BENCHMARKS.md" and RUN_TABLE_END in text:
        found["bench-run"] = text.split(RUN_TABLE_END, 1)[0]
    return found


def all_blocks(root: Path = ROOT) -> dict[str, tuple[str, str]]:
    """Block name -> (file, text), over README, BENCHMARKS and docs/."""
    out: dict[str, tuple[str, str]] = {}
    for path in doc_files(root):
        for name, body in blocks(path.read_text("utf-8"), rel(path, root)).items():
            assert name not in out, f"block {name} in {out[name][0]} and {rel(path, root)}"
            out[name] = (rel(path, root), body)
    return out


def figures(text: str) -> set[str]:
    """The decimal numbers of a text as written (a leading + dropped, − read as -)."""
    out = set()
    text = re.sub(r"(\d)[-–](\d)", r"\1 \2", text.replace("−", "-"))
    for token in re.split(r"[\s|(),;:\[\]*/=~<>≈]+", text):
        token = token.strip(".").rstrip("x%s")
        if DECIMAL.fullmatch(token):
            out.add(token.lstrip("+"))
    return out


def strip_blocks(text: str) -> str:
    """The text outside generated blocks, fenced code and HTML comments, lines kept."""
    blank = lambda m: "\n" * m.group(0).count("\n")  # noqa: E731
    text = BLOCK.sub(blank, text)
    if RUN_TABLE_END in text:
        head, tail = text.split(RUN_TABLE_END, 1)
        text = "\n" * head.count("\n") + tail
    text = re.sub(r"^```.*?^```", blank, text, flags=re.S | re.M)
    return re.sub(r"<!--.*?-->", blank, text, flags=re.S)


def units(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each table row, list item, heading and paragraph."""
    out: list[tuple[int, list[str]]] = []
    for number, line in enumerate(text.splitlines(), 1):
        starts = re.match(r"\s*(\||#|[-*] |\d+\. )", line)
        if not line.strip():
            out.append((number, []))
        elif starts or not out or not out[-1][1] or out[-1][1][-1].lstrip().startswith(("|", "#")):
            out.append((number, [line]))
        else:
            out[-1][1].append(line)
    return [(n, "\n".join(lines)) for n, lines in out if lines]


def resolve(doc: Path, target: str, root: Path = ROOT) -> str:
    """A relative link's file, as a path from the repository root."""
    path = target.split("#", 1)[0]
    return rel((doc.parent / path).resolve(), root) if path else rel(doc, root)


def figure_errors(doc: Path, text: str, sources: dict[str, tuple[str, str]],
                  root: Path = ROOT) -> list[str]:
    """Every figure of one file outside its blocks that its source does not hold."""
    errors = []
    for line, unit in units(strip_blocks(text)):
        where = f"{rel(doc, root)}:{line}"
        refs = []
        for name, _target in BLOCK_REF.findall(unit):
            if name not in sources:
                errors.append(f"{where}: no generated block named {name}")
            else:
                refs.append(sources[name][1])
        for target in LINK.findall(unit):
            file = resolve(doc, target, root)
            if file.startswith("docs/decisions/") and (root / file).is_file():
                refs.append((root / file).read_text("utf-8"))
        prose = re.sub(r"`[^`]*`", " ", re.sub(r"\]\([^)]*\)", "]", unit))
        quoted, dates = figures(prose), set(DATE.findall(prose))
        if quoted and not refs:
            errors.append(f"{where}: figures {sorted(quoted)} without a source link")
            continue
        known = set().union(*(figures(r) for r in refs)) if refs else set()
        stamps = set().union(*(set(STAMP.findall(r)) | set(DATE.findall(r)) for r in refs)) \
            if refs else set()
        if quoted - known:
            errors.append(f"{where}: {sorted(quoted - known)} not in the linked source")
        if dates - stamps and stamps:  # detector_eval's block carries no run stamp
            errors.append(f"{where}: dates {sorted(dates - stamps)} not the source's")
    return errors


def test_every_figure_outside_a_block_is_its_sources():
    sources = all_blocks()
    errors = []
    for doc in doc_files():
        if rel(doc).startswith("docs/decisions/"):
            continue  # the records are sources themselves: history at a commit
        errors += figure_errors(doc, doc.read_text("utf-8"), sources)
    assert not errors, "\n".join(errors)


def test_a_wrong_figure_fails(tmp_path):
    """The check can fail: a figure the block does not hold, an unsourced figure, a date
    that is not the block's."""
    sources = {"share-eval": ("docs/SHARE.md", "2026-12-06 10:19 UTC | **`pu`** | 0.034 |")}
    doc = tmp_path / "README.md"
    good = "| R1 | 0.034 | 2026-12-06 | [`share-eval`](docs/SHARE.md) |\n"
    assert figure_errors(doc, good, sources, tmp_path) == []
    assert figure_errors(doc, good.replace("0.034", "0.069"), sources, tmp_path)
    assert figure_errors(doc, good.replace("2026-12-06", "2026-12-03"), sources, tmp_path)
    assert figure_errors(doc, "The MAE is 0.034 on R1.\n", sources, tmp_path)
    assert figure_errors(doc, "Set `share.refit_growth: 0.25`.\n", sources, tmp_path) == []


def test_blocks_sit_where_make_bench_writes_them():
    sources = all_blocks()
    for name, file in BLOCK_FILES.items():
        assert sources.get(name, (None,))[0] == file, f"block {name} expected in {file}"
    recipe = (ROOT / "Makefile").read_text("utf-8").replace("\\\n", " ")
    for line in recipe.splitlines():
        module = re.search(r"-m (bench\.\w+)", line)
        if not module:
            continue
        for option, target in re.findall(r"(--(?:shards-)?report|--out) (\S+)", line):
            names = {"bench.share_eval": {"--report": "share-eval",
                                          "--shards-report": "shards-eval"},
                     "bench.diversity_eval": {"--report": "diversity-eval"},
                     "bench.bench_daily": {"--report": "bench_daily"},
                     "bench.run": {"--report": "bench-run"}}
            name = names.get(module.group(1), {}).get(option)
            if name:
                assert target == BLOCK_FILES[name], f"{line.strip()}: {name} goes to {target}"


def test_no_section_is_titled_by_when_it_was_measured():
    bad = []
    for doc in doc_files():
        for number, line in enumerate(strip_blocks(doc.read_text("utf-8")).splitlines(), 1):
            if line.startswith("#") and HISTORY_HEADING.search(line):
                bad.append(f"{rel(doc)}:{number}: {line}")
    assert not bad, "\n".join(bad)


def test_readme_opens_with_the_two_setup_commands_and_stays_short():
    lines = (ROOT / "README.md").read_text("utf-8").splitlines()
    assert len(lines) <= 150, f"README.md has {len(lines)} lines"
    assert lines[0].startswith("# ") and lines[1] == ""
    assert lines[2:6] == ["```sh", "make demo", "make test", "```"]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lstrip("#").strip().lower())
    return text.replace(" ", "-")


def test_links_between_the_docs_resolve():
    bad = []
    for doc in doc_files():
        for target in LINK.findall(doc.read_text("utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            file = resolve(doc, target)
            if file in PENDING_FILES:
                continue
            if not (ROOT / file).exists():
                bad.append(f"{rel(doc)}: {target} (no file)")
            elif "#" in target and file.endswith(".md"):
                anchors = {slug(line) for line in (ROOT / file).read_text("utf-8").splitlines()
                           if line.startswith("#")}
                if target.split("#", 1)[1] not in anchors:
                    bad.append(f"{rel(doc)}: {target} (no such heading)")
    assert not bad, "\n".join(bad)


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=False)


def test_each_decision_names_its_commit():
    records = sorted((ROOT / "docs" / "decisions").glob("*.md"))
    assert records, "docs/decisions/ holds the design decisions"
    in_git = _git("rev-parse", "--git-dir").returncode == 0 and \
        _git("rev-parse", "--is-shallow-repository").stdout.strip() == "false"
    for record in records:
        if record.name == "README.md":
            continue
        commits = re.findall(r"`([0-9a-f]{7,40})`", record.read_text("utf-8"))
        assert commits, f"{rel(record)} names no commit (`abc1234`)"
        if in_git:
            for commit in commits:
                assert _git("cat-file", "-e", f"{commit}^{{commit}}").returncode == 0, \
                    f"{rel(record)}: {commit} is not a commit"


@pytest.mark.parametrize("text, expected", [
    ("MAE 0.034 (0.040), +0.75, −0.36, 5.51x, 40.4 s, gpt-3.5", {"0.034", "0.040", "0.75",
                                                                 "-0.36", "5.51", "40.4"}),
    ("gemini-1.5 and 3 draws, 1,181 documents", set()),
])
def test_figures_are_read_as_written(text, expected):
    assert figures(text) == expected
