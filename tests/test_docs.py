"""The repository stands alone: every document a source file cites exists in the repository.

Citations of papers go through the short names of docs/REFERENCES.md ("MFO supp. Table 2") and
sections of docs/METHODS.md by anchor ("docs/METHODS.md#sdc"); the old "seed 00N" names and
documents outside the repository cannot be decoded by a reader.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCE_DIRS = ("src", "tests", "benchmarks", "examples", "scripts", "docs", "model_cards")
SOURCE_FILES = ("README.md",)
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sh", ".toml", ".txt", ".cfg", ".json"}
URL = re.compile(r"https?://\S+")
# the old names of the supplementary materials and any path outside the repository
UNDECODABLE = re.compile(r"\bseeds? 0{2}[1-4]\b|\.\./shared\b|/work/", re.IGNORECASE)
MARKDOWN_CITATION = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w-]+\.md)(?:#([\w-]+))?")
DOCS_PATH = re.compile(r"(?<![\w./-])(docs/[\w./-]*[\w/])")
ANCHOR_TAG = re.compile(r"<a id=\"([\w-]+)\"></a>")
HEADING = re.compile(r"^#+\s+(.*)$", re.MULTILINE)
GENERATED = {
    "fusion.md",
    "demo.md",
}  # reports the package writes (`hf-vssl fuse`, `demo`), not documents it cites


def source_files() -> list[Path]:
    files = [ROOT / name for name in SOURCE_FILES]
    for directory in SOURCE_DIRS:
        files += [p for p in sorted((ROOT / directory).rglob("*")) if p.is_file() and p.suffix in SUFFIXES]
    return [p for p in files if p.exists() and p != Path(__file__).resolve()]


def slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    text = document.read_text(encoding="utf-8")
    return set(ANCHOR_TAG.findall(text)) | {slug(h) for h in HEADING.findall(text)}


@cache
def repository_files() -> dict[str, list[Path]]:
    """File name -> the files of that name outside docs/ (a document in docs/ is cited as docs/NAME)."""
    index: dict[str, list[Path]] = {}
    for path in source_files():
        if path.parent != ROOT / "docs":
            index.setdefault(path.name, []).append(path)
    return index


def resolve(cited: str, citing: Path) -> Path | None:
    """The cited file: relative to the citing file's folder or to the repository root, or, for a
    bare file name, the only file of that name outside docs/ (a template, a model card)."""
    for base in (citing.parent, ROOT):
        candidate = (base / cited).resolve()
        # a file beside the checkout (where a clone's CI may keep other folders) is not in the repository
        if candidate.is_relative_to(ROOT) and (candidate.is_file() or candidate.is_dir()):
            return candidate
    same_name = repository_files().get(cited, []) if "/" not in cited else []
    return same_name[0] if len(same_name) == 1 else None


def problems_in(path: Path, text: str | None = None) -> list[str]:
    """Citations in `text` (default: the file's) that do not resolve, as seen from `path`."""
    text = path.read_text(encoding="utf-8", errors="replace") if text is None else text
    found = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = URL.sub("", raw)
        where = f"{path.relative_to(ROOT)}:{number}"
        for match in UNDECODABLE.finditer(line):
            found.append(f"{where}: {match.group(0)!r} names something outside the repository")
        for match in MARKDOWN_CITATION.finditer(line):
            quoted = (
                line[match.start() - 1 : match.start()] in "\"'"
                and line[match.end() : match.end() + 1] in "\"'"
            )
            if match.group(1) in GENERATED or (quoted and match.start() > 0):
                continue  # a file name in code (a path being built), not a citation
            document = resolve(match.group(1), path)
            if document is None:
                found.append(f"{where}: cites {match.group(1)}, which the repository lacks")
            elif match.group(2) and document.suffix == ".md" and match.group(2) not in anchors(document):
                found.append(f"{where}: {match.group(1)} has no section #{match.group(2)}")
        for match in DOCS_PATH.finditer(line):
            if not match.group(1).endswith(".md") and resolve(match.group(1), path) is None:
                found.append(f"{where}: cites {match.group(1)}, which the repository lacks")
    return found


def test_every_cited_document_exists():
    problems = [problem for path in source_files() for problem in problems_in(path)]
    assert not problems, (
        f"{len(problems)} citations a reader cannot follow; cite papers by the short names of "
        "docs/REFERENCES.md (e.g. 'MFO supp. Table 2') and sections as docs/METHODS.md#<anchor>:\n"
        + "\n".join(problems[:60])
    )


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("# seed 001 table 2: low / mid / high", 1),
        ('"""SDC (seed 002; METHODS.md "SDC")."""', 2),
        ("see ../shared/STYLE.md", 2),
        ("# MFO supp. Table 2; docs/METHODS.md#mfo", 0),
        ("# docs/METHODS.md#no-such-section", 1),
        ("# docs/NO_SUCH.md and docs/no_such_dir/", 2),
        ("# https://github.com/org/repo/blob/main/OTHER.md", 0),
        ("# DEVIATIONS.md lists it", 1),
        ('PATH = ROOT / "docs" / "DEVIATIONS.md"', 0),
        ("# rendered from model_card.md", 0),
    ],
)
def test_the_check_catches_what_it_should(line, expected):
    """The checker on single lines of a file inside src/ (where a bare METHODS.md is missing)."""
    problems = problems_in(ROOT / "src" / "hf_vssl" / "probe.py", line)
    assert len(problems) == expected, problems
