"""A product's JSON members written by PostgreSQL (issue 12 item 4: a page's response near its
raw SQL): :meth:`SQLAlchemyStorage.query_product_texts` selects, per product of a page, one text
column holding ``"@odata.mediaContentType": "...", "Id": "...", ...`` -- the members the web
layer asks for, in its order -- so Python joins a hundred texts instead of decoding a hundred
rows of dates, ids and checksums and writing each value.

The text is the web serialiser's (``proseo_odata_web.odata_json.product_members``), byte for
byte, for the values the database holds:

* strings by ``to_json(text)``: the escapes of ``json.dumps(..., ensure_ascii=False)``
  (``\\"``, ``\\\\``, ``\\b``, ``\\f``, ``\\n``, ``\\r``, ``\\t``, other controls as
  ``\\u00XX`` in lower-case hex, everything else as it is);
* date-times by ``to_char`` in UTC with ``FMYYYY`` (the year unpadded, as ``strftime``'s
  ``%Y``) and ``MS`` or ``US`` (truncated, never rounded), the process's fraction digits
  (:func:`proseo_odata.model.times.fraction_digits`);
* ids as ``uuid::text`` (canonical, lower case); ``ContentLength`` as ``bigint::text``;
* checksums ordered by algorithm in code-point order (``COLLATE "C"``), as Python sorts;
* ``Footprint`` and ``GeoFootprint`` from the renderings stored with the product; the collection
  from the collection attribute's String value, else the mission's configured default.

Every piece is joined with ``||``, which is NULL when any piece is: a product whose footprint
has no stored rendering (text the geography reader could not read when it was written) gets a
NULL text, and the storage writes that product in Python instead. Tests compare the two writers
on products with every kind of value (``tests/web/test_prip_page_serialiser.py``).
"""
from __future__ import annotations

from json.encoder import encode_basestring
from typing import Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from proseo_odata.model import times

__all__ = ["members_text"]

_FORMATS = {3: 'FMYYYY-MM-DD"T"HH24:MI:SS.MS"Z"', 6: 'FMYYYY-MM-DD"T"HH24:MI:SS.US"Z"'}


def _text(value) -> sa.ColumnElement:
    """A string (or NULL) as its JSON text."""
    return sa.func.coalesce(sa.cast(sa.func.to_json(value), sa.Text), sa.literal("null"))


def _datetime(column, digits: int) -> sa.ColumnElement:
    utc = sa.func.timezone(sa.literal("UTC"), column)
    return sa.case(
        (column.is_(None), sa.literal("null")),
        else_=sa.literal('"') + sa.func.to_char(utc, sa.literal(_FORMATS[digits])) + sa.literal('"'),
    )


def _checksums(p, c, digits: int) -> sa.ColumnElement:
    one = (sa.literal('{"Algorithm": ') + _text(c.algorithm) + sa.literal(', "Value": ') + _text(c.value)
           + sa.literal(', "ChecksumDate": ') + _datetime(c.checksum_date, digits) + sa.literal("}"))
    listed = (
        sa.select(sa.func.string_agg(one, aggregate_order_by(sa.literal(", "), c.algorithm.collate("C"))))
        .where(c.product_id == p.id)
        .scalar_subquery()
    )
    return sa.literal("[") + sa.func.coalesce(listed, sa.literal("")) + sa.literal("]")


def members_text(
    names: Sequence[str],
    products: sa.Table,
    checksums: sa.Table,
    attributes: sa.Table,
    *,
    collection_attribute: str,
    default_collection: Optional[str],
    digits: Optional[int] = None,
) -> sa.ColumnElement:
    """The text of the members ``names`` (web layer names, in order; ``CreationDate`` and
    ``Checksums`` are the seed aliases of ``PublicationDate`` and ``Checksum``) of the product
    row of ``products``; ``KeyError`` for a name this module does not write."""
    p = products
    digits = times.fraction_digits() if digits is None else digits
    date = lambda column: _datetime(column, digits)  # noqa: E731
    a = attributes
    collection_value = (
        sa.select(a.c.string_value)
        .where(a.c.product_id == p.c.id, a.c.name == collection_attribute, a.c.value_type == "String")
        .scalar_subquery()
    )
    values = {
        "@odata.mediaContentType": lambda: _text(p.c.content_type),
        "Id": lambda: sa.literal('"') + sa.cast(p.c.id, sa.Text) + sa.literal('"'),
        "Name": lambda: _text(p.c.name),
        "ContentType": lambda: _text(p.c.content_type),
        "ContentLength": lambda: sa.cast(p.c.content_length, sa.Text),
        "OriginDate": lambda: date(p.c.origin_date),
        "PublicationDate": lambda: date(p.c.publication_date),
        "CreationDate": lambda: date(p.c.publication_date),
        "ModificationDate": lambda: date(p.c.modification_date),
        "EvictionDate": lambda: date(p.c.eviction_date),
        "Online": lambda: sa.case((p.c.online, sa.literal("true")), else_=sa.literal("false")),
        "Checksum": lambda: _checksums(p.c, checksums.c, digits),
        "Checksums": lambda: _checksums(p.c, checksums.c, digits),
        "ContentDate": lambda: (sa.literal('{"Start": ') + date(p.c.content_start) + sa.literal(', "End": ')
                                + date(p.c.content_end) + sa.literal("}")),
        "ProductionType": lambda: _text(p.c.production_type),
        # NULL (the product written in Python) when a footprint has no stored rendering
        "Footprint": lambda: sa.case((p.c.footprint.is_(None), sa.literal("null")),
                                     else_=sa.cast(sa.func.to_json(p.c.footprint_literal), sa.Text)),
        "GeoFootprint": lambda: sa.case((p.c.footprint.is_(None), sa.literal("null")),
                                        (p.c.footprint_literal.is_(None), sa.null()),
                                        else_=sa.func.coalesce(p.c.footprint_geojson, sa.literal("null"))),
        "Collection": lambda: (sa.literal('{"Name": ')
                               + _text(sa.func.coalesce(collection_value, sa.literal(default_collection, sa.Text)))
                               + sa.literal("}")),
    }
    text = None
    for name in names:
        piece = sa.literal(_member_prefix(name)) + values[name]()
        text = piece if text is None else text + sa.literal(", ") + piece
    return text


def _member_prefix(name: str) -> str:
    return encode_basestring(name) + ": "
