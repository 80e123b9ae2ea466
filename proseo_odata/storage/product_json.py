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
* date-times by ``to_char`` in UTC with ``YYYY`` (the year in four digits, as
  :func:`proseo_odata.model.times.format_datetime` writes it) and ``MS`` or ``US``
  (truncated, never rounded), the process's fraction digits
  (:func:`proseo_odata.model.times.fraction_digits`);
* ids and ``ContentLength`` by ``format()``'s ``%s`` (a uuid canonical, in lower case; a
  bigint's digits); ``Online`` by ``to_json(boolean)``;
* checksums ordered by algorithm in code-point order (``COLLATE "C"``), as Python sorts;
* ``Footprint`` and ``GeoFootprint`` from the renderings stored with the product; the collection
  from the collection attribute's String value, else the mission's configured default.

Each product's text is one ``format()``: its template (a bound parameter) holds the member names
and ``%n$s`` for the values, each value computed once however often it appears (the seed
aliases). ``format()`` writes NULL as nothing, so every nullable value is ``coalesce``d to
``null``; a product whose footprint has no stored rendering (text the geography reader could
not read when it was written) gets a NULL text instead, and the storage writes that product in
Python. Tests compare the two writers on products with every kind of value
(``tests/web/test_prip_page_serialiser.py``, ``tests/storage/test_product_json_sql.py``).
"""
from __future__ import annotations

from json.encoder import encode_basestring
from typing import Optional, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from proseo_odata.model import times

__all__ = ["members_text"]

#: ``to_char`` formats of a date-time as its JSON string (``\"``: a double quote in the output).
_FORMATS = {3: '\\"YYYY-MM-DD"T"HH24:MI:SS.MS"Z"\\"', 6: '\\"YYYY-MM-DD"T"HH24:MI:SS.US"Z"\\"'}

# The constants of the statement, one bound parameter each however often they are used: psycopg
# caches its conversion of a statement of at most 4,096 characters and 50 parameters, and
# converting the page statement again on every request cost about as much as the page's rows.
_NULL = sa.bindparam("pj_null", "null", type_=sa.Text)
_UTC = sa.bindparam("pj_utc", "UTC", type_=sa.Text)
_CHECKSUM = sa.bindparam("pj_checksum", '{"Algorithm": %s, "Value": %s, "ChecksumDate": %s}', type_=sa.Text)
_LIST = sa.bindparam("pj_list", "[%s]", type_=sa.Text)
_SEPARATOR = sa.bindparam("pj_separator", ", ", type_=sa.Text)


def _text(value) -> sa.ColumnElement:
    """A string (or NULL) as its JSON text."""
    return sa.func.coalesce(sa.cast(sa.func.to_json(value), sa.Text), _NULL)


def _datetime(column, digits: int) -> sa.ColumnElement:
    """A date-time (or NULL) as its JSON text."""
    date_format = sa.bindparam(f"pj_date{digits}", _FORMATS[digits], type_=sa.Text)
    return sa.func.coalesce(sa.func.to_char(sa.func.timezone(_UTC, column), date_format), _NULL)


def _checksums(p, c, digits: int) -> sa.ColumnElement:
    """The product's checksums as a JSON array, ordered by algorithm in code-point order."""
    one = sa.func.format(_CHECKSUM, _text(c.algorithm), _text(c.value), _datetime(c.checksum_date, digits))
    return (
        sa.select(sa.func.format(_LIST, sa.func.string_agg(one, aggregate_order_by(_SEPARATOR, c.algorithm.collate("C")))))
        .where(c.product_id == p.id)
        .scalar_subquery()
    )


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
    row of ``products``: one ``format()`` whose template holds the member names and whose
    arguments are the values, each written once (``%n$s``); NULL for a product whose footprint
    has no stored rendering. ``KeyError`` for a name this module does not write."""
    p = products.c
    digits = times.fraction_digits() if digits is None else digits
    a = attributes.c
    collection_value = (
        sa.select(a.string_value)
        .where(a.product_id == p.id, a.name == collection_attribute, a.value_type == "String")
        .scalar_subquery()
    )
    date = lambda column: lambda: _datetime(column, digits)  # noqa: E731
    # member -> (its text around the values "%s", the values' keys); value key -> expression
    members = {
        "@odata.mediaContentType": ("%s", ("content_type",)),
        "Id": ('"%s"', ("id",)),
        "Name": ("%s", ("name",)),
        "ContentType": ("%s", ("content_type",)),
        "ContentLength": ("%s", ("content_length",)),
        "OriginDate": ("%s", ("origin_date",)),
        "PublicationDate": ("%s", ("publication_date",)),
        "CreationDate": ("%s", ("publication_date",)),
        "ModificationDate": ("%s", ("modification_date",)),
        "EvictionDate": ("%s", ("eviction_date",)),
        "Online": ("%s", ("online",)),
        "Checksum": ("%s", ("checksums",)),
        "Checksums": ("%s", ("checksums",)),
        "ContentDate": ('{"Start": %s, "End": %s}', ("content_start", "content_end")),
        "ProductionType": ("%s", ("production_type",)),
        "Footprint": ("%s", ("footprint",)),
        "GeoFootprint": ("%s", ("geo_footprint",)),
        "Collection": ('{"Name": %s}', ("collection",)),
    }
    values = {
        "content_type": lambda: _text(p.content_type),
        "id": lambda: p.id,  # format() writes a uuid canonical, in lower case
        "name": lambda: _text(p.name),
        "content_length": lambda: p.content_length,
        "origin_date": date(p.origin_date),
        "publication_date": date(p.publication_date),
        "modification_date": date(p.modification_date),
        "eviction_date": date(p.eviction_date),
        "online": lambda: sa.cast(sa.func.to_json(p.online), sa.Text),
        "checksums": lambda: _checksums(p, checksums.c, digits),
        "content_start": date(p.content_start),
        "content_end": date(p.content_end),
        "production_type": lambda: _text(p.production_type),
        "footprint": lambda: _text(p.footprint_literal),
        "geo_footprint": lambda: sa.func.coalesce(p.footprint_geojson, _NULL),
        "collection": lambda: _text(sa.func.coalesce(collection_value, sa.literal(default_collection, sa.Text))),
    }
    arguments: list = []
    position: dict[str, int] = {}
    pieces = []
    for name in names:
        template, keys = members[name]
        for key in keys:
            if key not in position:
                arguments.append(values[key]())
                position[key] = len(arguments)
            template = template.replace("%s", f"%{position[key]}$s", 1)
        pieces.append(encode_basestring(name).replace("%", "%%") + ": " + template)
    text = sa.func.format(sa.bindparam("pj_members", ", ".join(pieces), type_=sa.Text), *arguments)
    if "footprint" in position or "geo_footprint" in position:
        # written in Python (the renderings made from the WKT per response)
        return sa.case((sa.and_(p.footprint.is_not(None), p.footprint_literal.is_(None)), sa.null()), else_=text)
    return text
