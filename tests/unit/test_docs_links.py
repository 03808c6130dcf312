"""Every relative link of the README, docs/ and benchmarks/README.md leads to a file, and a
link to a section (`strategies.md#canary-with-a-shadow-first`) to a heading that is there:
a page renamed or a heading reworded cannot leave a link that opens nowhere. A section
named in words after its page (`docs/proxy.md, "Supervised"`, `proxy.md, *Several
services*`) is a heading there, or the bold label that opens one of its items. (The
index's own links are tests/unit/test_docs_index.py's; these are every page's.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
         ROOT / "benchmarks" / "README.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# `fleet.md, "One controller per service"`, `proxy.md "Supervised"`, `proxy.md, *Several ...*`
SAID = re.compile(r"((?:[\w-]+/)*[\w-]+\.md)\)?,?\s+(?:\"([^\"]+)\"|\*([^*]+)\*)")


def anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, spaces to '-', punctuation dropped."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def headings(page: Path) -> set[str]:
    out, block = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            block = not block
        elif not block and re.match(r"#{1,6} ", line):
            out.add(anchor(line.lstrip("#")))
    return out


def links() -> list[tuple[str, Path, str]]:
    """(page:line, the file it leads to, its #section or '') of every relative link."""
    out, block = [], False
    for page in PAGES:
        for number, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("```"):
                block = not block
                continue
            for link in [] if block else LINK.findall(line):
                if re.match(r"[a-z]+:", link):  # https:, mailto:
                    continue
                path, _, section = link.partition("#")
                target = (page.parent / path).resolve() if path else page
                out.append((f"{page.relative_to(ROOT)}:{number}", target, section))
    return out


def test_every_link_leads_to_a_file():
    found = links()
    assert len(found) >= 20, len(found)  # the pattern still finds the pages' links
    broken = [f"{where}: {target}" for where, target, _ in found if not target.exists()]
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_every_link_to_a_section_finds_its_heading():
    found = [(w, t, s) for w, t, s in links() if s and t.suffix == ".md" and t.exists()]
    assert found, "no link to a section left: the check would pass empty"
    broken = [f"{where}: {target.name}#{section}" for where, target, section in found
              if section not in headings(target)]
    assert not broken, "no such heading:\n" + "\n".join(broken)


def sections(page: Path) -> list[str]:
    """What a reader looks for a named section by: the headings' and the items' bold labels."""
    text = page.read_text()
    return [*re.findall(r"^#{1,6} (.+)$", text, re.M),
            *re.findall(r"^\s*[-*] \*\*(.+?)\*\*", text, re.M)]


def page_named(page: Path, name: str) -> Path:
    """`benchmarks/README.md` from the top; a bare `json.md` beside the page, else in docs/."""
    if "/" in name:
        return ROOT / name
    return page.parent / name if (page.parent / name).exists() else ROOT / "docs" / name


def sections_said() -> list[tuple[str, Path, str]]:
    """(page:line, the page named, the section named after it) in every page's words."""
    out = []
    for page in PAGES:
        text = page.read_text()
        for found in SAID.finditer(text):  # the whole text: a name may wrap to the next line
            name, quoted, italic = found.groups()
            named = page_named(page, name)
            if named.exists():
                number = text.count("\n", 0, found.start()) + 1
                out.append((f"{page.relative_to(ROOT)}:{number}", named,
                            " ".join((quoted or italic).split())))
    return out


def test_every_section_named_in_words_is_there():
    said = sections_said()
    assert len(said) >= 5, said  # the pattern still finds them
    missing = [f"{where}: {page.name}, {name!r}" for where, page, name in said
               if not any(s.startswith(name) for s in sections(page))]
    assert not missing, "no such heading nor item:\n" + "\n".join(missing)


def test_the_anchor_is_githubs():
    assert anchor("Canary, with a shadow first") == "canary-with-a-shadow-first"
    assert anchor("A fleet: `runtime: ssh`") == "a-fleet-runtime-ssh"
    assert anchor("One controller per service") == "one-controller-per-service"
