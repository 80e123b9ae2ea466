"""The statements of a page of products (``query_product_entries``, issue 12 item 4): one on
PostgreSQL (checksums and collection as sub-selects, run for the page's rows only), the page and
two look-ups by the page's ids on SQLite (which would run a sub-select for every row it sorts);
only the response's columns. What the entries hold is the contract suite's
(``test_query_product_entries_are_the_products_of_query_products``)."""
import pytest

from proseo_odata.query import build_query
from proseo_odata.storage.testing import make_product
from statement_log import StatementLog


@pytest.fixture
def storage(db_url, stocked_storage):
    return stocked_storage(db_url, [make_product(name=f"P_{i:02d}.zip", content_length=i % 5) for i in range(12)])


def _selects(log):
    """The page's statements; the page itself reads the catalogue version every page with a
    ``$top`` needs (the ``$skip`` memo's scope, docs/storage.md) in a sub-select, no statement
    of its own."""
    selects = [s for s in log.texts if s.lstrip().upper().startswith("SELECT")]
    assert "FROM catalogue_versions" in selects[0] and "FROM products" in selects[0]
    return selects


@pytest.mark.parametrize("pairs", [
    [("$top", "5")],
    [("$orderby", "ContentLength desc"), ("$top", "5")],  # a sort over every row
    [("$filter", "startswith(Name,'P_0')"), ("$orderby", "Name desc"), ("$top", "3"), ("$skip", "2")],
])
def test_statements_of_a_page(storage, pairs):
    query = build_query("Products", pairs).query
    with StatementLog(storage.engine) as log:
        page = storage.query_product_entries("M1", query)
    assert len(page.items) == int(dict(pairs)["$top"]) and all(e.checksums for e in page.items)
    assert all(e.collection == "SENTINEL-2" for e in page.items)
    selects = _selects(log)
    for banned in ("footprint_geom", "archive_key", "visibility,", "revision"):
        assert banned not in selects[0]
    if storage.dialect == "postgresql":
        assert len(selects) == 1 and "json_agg" in selects[0]
    else:
        assert len(selects) == 3 and "json_group_array" not in selects[0]


def test_expanded_attributes_are_one_more_statement(storage):
    query = build_query("Products", [("$top", "4"), ("$expand", "Attributes")]).query
    with StatementLog(storage.engine) as log:
        page = storage.query_product_entries("M1", query)
    assert [a.name for a in page.items[0].attributes] == ["orbitNumber", "platformShortName", "productType"]
    assert len(_selects(log)) == (2 if storage.dialect == "postgresql" else 4)
