"""The database's writer of a product's JSON members (:mod:`proseo_odata.storage.product_json`,
PostgreSQL) writes what the web layer's Python writer does: strings as ``json.dumps`` escapes
them, date-times as :func:`proseo_odata.model.times.format_datetime` (every year, both fraction
digit settings); and the storage uses it for a page, falling back to the Python writer only for
a product whose footprint has no stored rendering. (Whole products, every option, both
backends, golden texts: ``tests/web/test_prip_page_serialiser.py``.)"""
from __future__ import annotations

import json
import uuid
from json.encoder import encode_basestring

import pytest
import sqlalchemy as sa

from datetime_samples import edge_datetimes, random_datetimes
from proseo_odata.model import Mission, Product, times
from proseo_odata.storage import Query
from proseo_odata.storage.product_json import _datetime, _text
from proseo_odata.storage.sqlalchemy import load_from_config

pytestmark = pytest.mark.postgresql

TEXTS = [
    "", "plain", 'quote " and back\\slash', "/ slash", "\b\f\n\r\t", "".join(map(chr, range(1, 0x20))),
    "\x7f delete", "\u2028 line \u2029 paragraph", "ünïcødé ✓ 日本語", "\U0001f600 astral", "'single'",
]


@pytest.fixture
def engine(migrated_pg_url):
    engine = sa.create_engine(migrated_pg_url, connect_args={"options": "-c timezone=Europe/Berlin"})
    yield engine
    engine.dispose()


def test_strings_are_escaped_as_json_dumps_does(engine):
    with engine.connect() as conn:
        for text in TEXTS + [None]:
            written = conn.execute(sa.select(_text(sa.literal(text, sa.Text)))).scalar()
            assert written == ("null" if text is None else encode_basestring(text)), repr(text)
            assert json.loads(written) == text


@pytest.mark.parametrize("digits", [3, 6])
def test_datetimes_are_format_datetime(engine, digits):
    """In a session whose time zone is not UTC (the writer converts), at the edges and on
    random instants of every year from 1 to 9999."""
    values = edge_datetimes() + list(random_datetimes(3000, seed=digits + 10))
    column = sa.column("t", sa.DateTime(timezone=True))
    rows = sa.values(sa.column("i", sa.Integer), column, name="v").data(list(enumerate(values)))
    statement = sa.select(rows.c.i, _datetime(rows.c.t, digits)).order_by(rows.c.i)
    with engine.connect() as conn:
        written = [text for _, text in conn.execute(statement)]
        assert conn.execute(sa.select(_datetime(sa.null(), digits))).scalar() == "null"
    assert written == [f'"{times.format_datetime(value, digits)}"' for value in values]


def test_a_page_is_written_by_the_database_but_an_unrendered_footprint(migrated_pg_url):
    storage = load_from_config({"proseo.storage.url": migrated_pg_url})
    try:
        storage.add_mission(Mission("M1"))
        square = "POLYGON((0 0,1 0,1 1,0 1,0 0))"
        for i in range(3):
            storage.add_product(Product(mission="M1", name=f"P{i}.zip", id=uuid.UUID(int=i + 1), footprint=square))
        rendered = []

        def render(entry):
            rendered.append(entry.name)
            return "PYTHON"

        def page():
            result = storage.query_product_texts("M1", Query(orderby=[(("Name",), False)], top=10),
                                                 members=("Id", "Name", "Footprint"), render=render)
            return [item.members for item in result.items]

        texts = page()
        assert rendered == [] and texts[0].startswith('"Id": "00000000-0000-0000-0000-000000000001", '
                                                      '"Name": "P0.zip", "Footprint": "geography\'SRID=4326;')
        with storage.engine.begin() as conn:  # as a product written before its renderings were stored
            conn.execute(sa.text("UPDATE products SET footprint_literal = NULL WHERE name = 'P1.zip'"))
        assert page() == [texts[0], "PYTHON", texts[2]] and rendered == ["P1.zip"]
    finally:
        storage.close()


def test_a_product_deleted_while_its_page_is_read_leaves_the_page(migrated_pg_url):
    """The page's product without stored renderings is read again by id; deleted by another
    connection in between, it is left out of the page (no error)."""
    storage = load_from_config({"proseo.storage.url": migrated_pg_url})
    try:
        storage.add_mission(Mission("M1"))
        for i in range(3):
            storage.add_product(Product(mission="M1", name=f"P{i}.zip", id=uuid.UUID(int=i + 1),
                                        footprint="POLYGON((0 0,1 0,1 1,0 1,0 0))"))
        with storage.engine.begin() as conn:
            conn.execute(sa.text("UPDATE products SET footprint_literal = NULL WHERE name = 'P1.zip'"))
        deleted = []

        @sa.event.listens_for(storage.engine, "before_cursor_execute")
        def delete_first(conn, cursor, statement, parameters, context, executemany):
            if not deleted and "members_text" not in statement and "products.id IN" in statement:
                deleted.append(True)
                storage.delete_product("M1", uuid.UUID(int=2))

        result = storage.query_product_texts("M1", Query(orderby=[(("Name",), False)], top=10),
                                             members=("Id", "Name", "Footprint"), render=lambda entry: "PYTHON")
        assert deleted == [True]
        assert [json.loads("{" + item.members + "}")["Name"] for item in result.items] == ["P0.zip", "P2.zip"]
    finally:
        storage.close()
