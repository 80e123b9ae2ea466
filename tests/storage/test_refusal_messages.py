"""A write the database refuses because of the data is a ``ConflictError`` (409) or an
``InvalidValueError`` (400) whose message is the storage's own: the driver's text (constraint,
table and column names, the refused values) never reaches a client (storage/errors.py)."""
from __future__ import annotations

import pytest

from proseo_odata.model import Attribute, AttributeType, Checksum, Mission, Product
from proseo_odata.storage import ConflictError
from proseo_odata.storage.errors import InvalidValueError
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

DRIVER_WORDS = ("UNIQUE constraint failed", "duplicate key value", "violates", "product_checksums",
                "value too long", "character varying")


@pytest.fixture
def storage(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    storage.initialize_schema()
    storage.add_mission(Mission("M"))
    yield storage
    storage.close()


def _assert_no_driver_text(error):
    cause = error.__cause__
    assert cause is not None, "the driver error is chained for the logs"
    driver_text = str(getattr(cause, "orig", None) or cause)
    message = str(error)
    assert driver_text not in message, message
    assert not any(word.lower() in message.lower() for word in DRIVER_WORDS), message


def test_bulk_constraint_violation_message_has_no_driver_text(storage):
    # Two checksums with one algorithm: the checksum table's primary key refuses the second
    # (PostgreSQL: in psycopg's COPY, an error SQLAlchemy does not wrap).
    product = Product(mission="M", name="twice.zip",
                      checksums=[Checksum("MD5", "0" * 32), Checksum("MD5", "1" * 32)])
    with pytest.raises(ConflictError) as refused:
        storage.add_products([product])
    _assert_no_driver_text(refused.value)


@pytest.mark.parametrize("bulk", [False, True], ids=["add_product", "add_products"])
def test_value_too_long_message_has_no_driver_text(storage, bulk):
    if storage.dialect != "postgresql":
        pytest.skip("SQLite stores a string of any length")
    product = Product(mission="M", name="long.zip", content_type="application/" + "x" * 300)
    with pytest.raises(InvalidValueError) as refused:
        storage.add_products([product]) if bulk else storage.add_product(product)
    assert "does not fit the database" in str(refused.value)
    _assert_no_driver_text(refused.value)


@pytest.mark.parametrize("attribute", [
    Attribute("n" * 300, AttributeType.STRING, "v"),  # longer than the name column
    Attribute("s", AttributeType.STRING, "a\x00b"),  # PostgreSQL's text holds no NUL
], ids=["long-name", "nul"])
def test_an_attribute_the_database_refuses_in_a_bulk_write(storage, attribute):
    """The attribute rows of ``add_products`` go by binary ``COPY`` on PostgreSQL: a value the
    server refuses is an InvalidValueError, and nothing of the batch is stored."""
    if storage.dialect != "postgresql":
        pytest.skip("SQLite stores both")
    fine = Product(mission="M", name="fine.zip", attributes=[Attribute("s", AttributeType.STRING, "ok")])
    refused_product = Product(mission="M", name="refused.zip", attributes=[attribute])
    with pytest.raises(InvalidValueError) as refused:
        storage.add_products([fine, refused_product])
    assert "does not fit the database" in str(refused.value)
    _assert_no_driver_text(refused.value)
    assert storage.existing_product_names("M", ["fine.zip", "refused.zip"]) == set()


@pytest.mark.parametrize("fields", [
    {"name": "big.zip", "content_length": 2 ** 63},  # beyond bigint
    {"name": "nul\x00.zip"},  # PostgreSQL's text holds no NUL
], ids=["bigint", "nul"])
def test_a_product_row_the_database_refuses_in_a_bulk_write(storage, fields):
    """The product rows of ``add_products`` go by binary ``COPY`` on PostgreSQL: a value that
    does not fit is an InvalidValueError, and nothing of the batch is stored."""
    if storage.dialect != "postgresql":
        pytest.skip("SQLite stores both")
    fine = Product(mission="M", name="fine.zip")
    with pytest.raises(InvalidValueError) as refused:
        storage.add_products([fine, Product(mission="M", **fields)])
    assert "does not fit the database" in str(refused.value)
    _assert_no_driver_text(refused.value)
    assert storage.existing_product_names("M", ["fine.zip"]) == set()
