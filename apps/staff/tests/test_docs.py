"""The README and docs/ stand alone: no path outside the repository, and every repository path they
name in backquotes exists."""

from __future__ import annotations

import re

import pytest

from tests.support.processes import repo_root

DOCS = [repo_root() / "README.md", *sorted((repo_root() / "docs").glob("*.md"))]
PATH = re.compile(r"`((?:docs|apps|flylive|bin|tests|tools|docker|ops|static|templates|requirements)/"
                  r"[^`\s]*)`")
OUTSIDE = re.compile(r"(^|[\s`(\[])\.\./")  # a path that starts by leaving the repository


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_doc_names_only_paths_inside_the_repository(doc: object) -> None:
    text = doc.read_text()  # type: ignore[attr-defined]
    assert not OUTSIDE.search(text), OUTSIDE.search(text)
    for path in PATH.findall(text):
        clean = re.split(r"[<{*]", path)[0].rstrip("/")
        assert (repo_root() / clean).exists(), f"{doc}: {path}"
