"""Every relative link of the README, docs/ and bench/README.md leads somewhere: the file exists
in the repository and, with ``#anchor``, the page has that heading (anchors as GitHub makes them
from a heading's text: lower case, punctuation but ``-`` and ``_`` dropped, spaces as ``-``, a
repeated heading numbered ``-1``, ``-2``...)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", REPO / "bench" / "README.md", *sorted((REPO / "docs").glob("*.md"))]

_FENCE = re.compile(r"^```.*?^```", re.S | re.M)
_LINK = re.compile(r"\]\(([^()\s]*(?:\([^()\s]*\)[^()\s]*)*)\)")  # [text](target), one level of () inside
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def slug(heading: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in _HEADING.findall(_FENCE.sub("", page.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    return [target for target in _LINK.findall(_FENCE.sub("", page.read_text(encoding="utf-8")))
            if target and not re.match(r"^[a-z][a-z0-9+.-]*:", target)]  # not http:, mailto:, ...


def test_slugs_are_githubs():
    assert slug("`proseo_odata.query.build_query(entity_set, params, paging=Paging(), *, model=None)` -> PagedQuery") \
        == "proseo_odataquerybuild_queryentity_set-params-pagingpaging--modelnone---pagedquery"
    assert slug("Rows the caller may not see") == "rows-the-caller-may-not-see"


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_relative_link_leads_somewhere(page):
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists() or REPO not in destination.parents and destination != REPO:
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in anchors(destination):
            broken.append(f"{target}: {destination.name} has no heading #{anchor}")
    assert not broken, "\n".join(broken)
