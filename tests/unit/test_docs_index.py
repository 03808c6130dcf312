"""docs/README.md, the index a newcomer opens in docs/, names every page there, and every
link it gives leads to a file: a page added (or renamed) cannot be left out of it."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_index_names_every_page():
    index = (DOCS / "README.md").read_text()
    pages = sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md")
    assert len(pages) >= 7
    missing = [p for p in pages if f"]({p})" not in index]
    assert not missing, f"docs/README.md does not link: {missing}"


def test_every_link_of_the_index_leads_to_a_file():
    index = (DOCS / "README.md").read_text()
    links = re.findall(r"\]\(([^)#]+)\)", index)
    assert links
    broken = [link for link in links if not (DOCS / link).exists()]
    assert not broken, broken
