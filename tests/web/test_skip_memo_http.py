"""eodag pages by ``$skip`` rebuilt from ``@odata.nextLink``: the ``$skip`` memo serves those pages
as keyset seeks and they hold exactly the rows of OFFSET paging (issue 12 item 3)."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from prip_helpers import PRIP, _product, basic, served_app, utc
from proseo_odata.storage.testing import make_product

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
    with served_app({**app_settings, "proseo.storage.skip_memo.ttl": "0"}) as offset_app:
        plain, _ = _pages_by_skip(offset_app, CAROL)
        assert offset_app.app.registry.storage.skip_memo.hits == 0
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


def _walk_alternating(apps, headers, top):
    """eodag's way, each page reaching the next server process (a new connection per page)."""
    names, skip, served = [], 0, 0
    while skip is not None:
        query = {**QUERY, "$top": str(top), "$skip": str(skip)}
        body = apps[served % len(apps)].get(PRIP + "/Products?" + urlencode(query), headers=headers).json
        names += [item["Name"] for item in body["value"]]
        served += 1
        link = body.get("@odata.nextLink")
        skip = None if link is None else int(parse_qs(urlsplit(link).query)["$skip"][0])
    return names


def test_a_client_after_a_publication_gets_the_offset_rows_from_two_processes(app_settings, storage, more_products):
    """The reviewer's scenario through HTTP (contract section 6): client A walks with ``$top=7``
    over two server processes, 5 products are published, client B walks with ``$top=10``: B gets
    exactly the rows of OFFSET paging, none of the positions A left behind."""
    with storage.transaction() as tx:  # the reviewer's size: about 60 rows
        for i in range(40):
            tx.add_product(make_product("DEMO", name=f"S2Y_{i:02d}.zip", publication_date=utc(2022, 1, 1) + timedelta(hours=i // 2)))
    settings = {**app_settings, "proseo.page_size.max": "20"}
    with served_app(settings) as first, served_app(settings) as second, \
            served_app({**settings, "proseo.storage.skip_memo.ttl": "0"}) as offset_app:
        processes = [first, second]
        before = _walk_alternating([offset_app], CAROL, 20)
        assert _walk_alternating(processes, CAROL, 7) == before and len(before) >= 60
        assert sum(p.app.registry.storage.skip_memo.hits for p in processes) > 0
        with storage.transaction() as tx:
            for i in range(5):
                tx.add_product(make_product("DEMO", name=f"S2N_{i}.zip", publication_date=utc(2030, 1, 1) + timedelta(hours=i)))
        after = _walk_alternating([offset_app], CAROL, 20)
        assert len(after) == len(before) + 5
        assert _walk_alternating(processes, CAROL, 10) == after
