"""eodag pages by ``$skip`` rebuilt from ``@odata.nextLink``: the ``$skip`` memo serves those pages
as keyset seeks and they hold exactly the rows of OFFSET paging (issue 12 item 3)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from prip_helpers import PRIP, _product, basic, make_app, utc

ALICE = basic("alice")
CAROL = basic("carol")
QUERY = {"$filter": "startswith(Name,'S2')", "$orderby": "PublicationDate desc", "$top": "4"}


@pytest.fixture
def more_products(storage, catalogue):
    with storage.transaction() as tx:
        for i in range(20):
            # equal publication dates in pairs: the order needs the Id tie-breaker
            tx.add_product(_product(f"x{i}", 8 + i, name=f"S2X_{i:02d}.zip",
                                    publication_date=utc(2021, 1, 1) + timedelta(hours=i // 2)))


def _pages_by_skip(app, headers, query=QUERY):
    """eodag's way: each page's URL is rebuilt from the ``$skip`` of the previous next link."""
    names, skip, pages = [], 0, 0
    while True:
        body = app.get(PRIP + "/Products?" + urlencode({**query, "$skip": str(skip)}), headers=headers).json
        names += [item["Name"] for item in body["value"]]
        pages += 1
        link = body.get("@odata.nextLink")
        if link is None:
            return names, pages
        skip = int(parse_qs(urlsplit(link).query)["$skip"][0])


def test_pages_rebuilt_from_skip_are_keyset_seeks_with_the_offset_rows(app, app_settings, more_products):
    memo = app.app.registry.storage.skip_memo
    memo.clear()
    hits = memo.hits
    names, pages = _pages_by_skip(app, CAROL)
    assert pages >= 6 and memo.hits - hits == pages - 1
    offset_app = make_app({**app_settings, "proseo.storage.skip_memo.ttl": "0"})
    try:
        plain, _ = _pages_by_skip(offset_app, CAROL)
        assert offset_app.app.registry.storage.skip_memo.hits == 0
    finally:
        offset_app.app.registry.storage.close()
    assert names == plain
    assert len(names) == len(set(names)) >= 22


def test_another_user_or_filter_does_not_use_the_entry(app, more_products):
    memo = app.app.registry.storage.skip_memo
    memo.clear()
    hits = memo.hits
    first = app.get(PRIP + "/Products?" + urlencode({**QUERY, "$skip": "0"}), headers=CAROL).json
    assert len(first["value"]) == 4
    for headers, query in ((ALICE, QUERY), (CAROL, {**QUERY, "$filter": "startswith(Name,'S2X')"})):
        app.get(PRIP + "/Products?" + urlencode({**query, "$skip": "4"}), headers=headers)
    assert memo.hits == hits
    app.get(PRIP + "/Products?" + urlencode({**QUERY, "$skip": "4"}), headers=CAROL)
    assert memo.hits == hits + 1
