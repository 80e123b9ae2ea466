"""Geography values: the one reader of geography literals and the one WKT writer.

Every footprint text the services read goes through :func:`parse_geography` (the ``$filter``
binder, ingest's ``Footprint``, a stored footprint in :func:`to_geometry`) and every WKT they
write through :func:`format_wkt` (what ingest stores, the ``Intersects`` area, the ``Footprint``
property). The parser only checks the literal's shape, splitting the ``SRID=n;`` prefix with
:func:`split_srid`.

Accepted input forms (contract section 6), all longitude first, SRID 4326 assumed when absent::

    geography'SRID=4326;POLYGON((lon lat, ...))'     (the parser hands over WKT + SRID)
    'SRID=4326;POLYGON ((lon lat, ...))'              (a plain string literal)
    POLYGON((...)) / Polygon ((...)) / MULTIPOLYGON(((...))) / POINT(..) / MULTIPOINT / LINESTRING

Shapely (GEOS) does the WKT parsing and the exact intersection test used by the Python
predicate and by the SQLite user function; PostGIS does it in PostgreSQL.
"""
from __future__ import annotations

import math
import re
import struct
from decimal import Decimal
from typing import Any, Optional, Tuple

import numpy
import shapely
import shapely.wkt
from shapely.errors import GEOSException
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from .errors import ODataError

__all__ = [
    "ALLOWED_GEOMETRY_TYPES",
    "DEFAULT_SRID",
    "parse_geography",
    "split_srid",
    "normalise_wkt",
    "to_geometry",
    "format_wkt",
    "format_number",
    "format_footprint",
    "to_geojson",
    "intersects",
]

DEFAULT_SRID = 4326
ALLOWED_GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                          "MultiPolygon")

_PREFIX = re.compile(r"^\s*(?:geography|geometry)\s*'(.*)'\s*$", re.IGNORECASE | re.DOTALL)
_SRID = re.compile(r"\s*SRID\s*=\s*(\d{1,8})\s*;\s*", re.IGNORECASE)


def split_srid(text: str) -> Tuple[Optional[int], str]:
    """``(srid, rest)`` of ``'SRID=4326;POLYGON(...)'``; ``(None, text)`` without the prefix."""
    match = _SRID.match(text)
    if match is None:
        return None, text
    return int(match.group(1)), text[match.end():]


def parse_geography(text: str, srid: Optional[int] = None) -> Tuple[BaseGeometry, int]:
    """Parse a geography literal (any accepted form) into ``(geometry, srid)``.

    Raises :class:`ODataError` (400) for text that is not WKT of an accepted type, for an empty
    geometry and for an SRID other than 4326.
    """
    original = text
    if "\x00" in text:  # GEOS would read the text up to it and drop the rest without a word
        raise ODataError(f"invalid geography literal {original!r}: a NUL character", target="$filter")
    match = _PREFIX.match(text)
    if match:
        text = match.group(1)
    prefixed, text = split_srid(text)
    srid = prefixed if prefixed is not None else DEFAULT_SRID if srid is None else srid
    if srid != DEFAULT_SRID:
        raise ODataError(f"unsupported SRID {srid} in geography literal (only 4326 is supported)",
                         target="$filter")
    try:
        # a number that does not fit a float (1e400) or NaN: FloatingPointError, not a warning
        with numpy.errstate(all="raise"):
            geometry = shapely.wkt.loads(text.strip())
    except (GEOSException, ValueError, TypeError, FloatingPointError) as exc:
        raise ODataError(f"invalid geography literal {original!r}: {exc}", target="$filter") from None
    return _checked(geometry, "geography literal", repr(original)), srid


def _checked(geometry: BaseGeometry, what: str, original: str) -> BaseGeometry:
    """``geometry`` if it is of an accepted type, not empty and finite, else :class:`ODataError`."""
    if geometry.geom_type not in ALLOWED_GEOMETRY_TYPES:
        raise ODataError(f"unsupported geometry type {geometry.geom_type} in {what}", target="$filter")
    if geometry.is_empty:
        raise ODataError(f"empty geometry in {what}", target="$filter")
    if not all(math.isfinite(bound) for bound in geometry.bounds):
        raise ODataError(f"invalid {what} {original}: coordinates must be finite numbers", target="$filter")
    return geometry


def to_geometry(value: Any) -> Optional[BaseGeometry]:
    """A stored footprint as a shapely geometry: accepts a geometry, WKT (with or without
    ``SRID=...;`` or the ``geography'...'`` wrapper) or a GeoJSON mapping; ``None`` stays ``None``."""
    if value is None:
        return None
    if isinstance(value, BaseGeometry):
        return value
    if isinstance(value, dict):
        try:
            geometry = shape(value)
        except Exception as exc:  # noqa: BLE001 - shapely raises several types for bad GeoJSON
            raise ODataError(f"not a GeoJSON geometry: {exc}", target="$filter") from None
        return _checked(geometry, "GeoJSON geometry", "object")  # as a literal is (no GeometryCollection)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return shapely.from_wkb(bytes(value))
    return parse_geography(str(value))[0]


def format_number(value: float) -> str:
    """Plain decimal notation, never an exponent (clients parse the footprint)."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    text = repr(value)  # the shortest text that reads back as the value: already plain unless
    if "e" in text or text.endswith(".0"):  # it has an exponent or is a whole number >= 1e15
        text = format(Decimal(text), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return text


def format_wkt(geometry: BaseGeometry) -> str:
    """WKT with upper-case keywords and plain decimal numbers: ``POLYGON((1 2,3 4,...))``."""
    kind = geometry.geom_type

    def coords(part):  # x y of each point (a Z is dropped), as Python floats in one call
        return ",".join(f"{format_number(x)} {format_number(y)}" for x, y in shapely.get_coordinates(part).tolist())

    def polygon(p):
        rings = [p.exterior] + list(p.interiors)
        return "(" + ",".join("(" + coords(r) + ")" for r in rings) + ")"

    if kind == "Point":
        return f"POINT({coords(geometry)})"
    if kind == "LineString":
        return f"LINESTRING({coords(geometry)})"
    if kind == "Polygon":
        return "POLYGON" + polygon(geometry)
    if kind == "MultiPoint":
        return "MULTIPOINT(" + ",".join("(" + coords(p) + ")" for p in geometry.geoms) + ")"
    if kind == "MultiLineString":
        return "MULTILINESTRING(" + ",".join("(" + coords(g) + ")" for g in geometry.geoms) + ")"
    if kind == "MultiPolygon":
        return "MULTIPOLYGON(" + ",".join(polygon(p) for p in geometry.geoms) + ")"
    raise ValueError(f"unsupported geometry type {kind}")


_WKT_NUMBER = r"-?\d+(?:\.\d+)?"
#: A one-ring polygon as :func:`format_wkt` writes it: ``POLYGON((x y,x y,...))``.
_ONE_RING_WKT = re.compile(rf"POLYGON\(\((?:{_WKT_NUMBER} {_WKT_NUMBER},)+{_WKT_NUMBER} {_WKT_NUMBER}\)\)")
#: EWKB's type word of a polygon with an SRID (the ``0x20000000`` flag), little-endian.
_EWKB_POLYGON_WITH_SRID = 0x20000003


def ewkb(wkt: str, srid: int = DEFAULT_SRID) -> bytes:
    """The extended WKB (little-endian, with ``srid``) of a WKT geometry: what PostGIS reads as
    a ``geometry`` value in binary form (``COPY ... (FORMAT BINARY)``), the same geometry as
    ``ST_GeomFromText(wkt, srid)`` gives. A one-ring polygon as :func:`format_wkt` writes it (a
    footprint, almost always) is packed here, from the same floats PostGIS's WKT reader would
    make of the digits; anything else through shapely. Raises ``ValueError`` for text that is
    not WKT."""
    if _ONE_RING_WKT.fullmatch(wkt) is not None:
        coordinates = [float(number) for point in wkt[9:-2].split(",") for number in point.split(" ")]
        return struct.pack(f"<BIIII{len(coordinates)}d", 1, _EWKB_POLYGON_WITH_SRID, srid, 1,
                           len(coordinates) // 2, *coordinates)
    try:
        geometry = shapely.from_wkt(wkt)
    except GEOSException as exc:
        raise ValueError(f"not WKT: {exc}") from None
    return shapely.to_wkb(shapely.set_srid(geometry, srid), include_srid=True, byte_order=1)


def normalise_wkt(value: Any) -> Optional[str]:
    """A footprint in any accepted form (geometry, geography literal, WKT, GeoJSON mapping) as
    the WKT the services store (:func:`format_wkt`); ``None`` stays ``None``. Raises
    :class:`ODataError` for text that is no accepted geography."""
    geometry = to_geometry(value)
    return None if geometry is None else format_wkt(geometry)


def format_footprint(geometry: Any) -> Optional[str]:
    """The ``Footprint`` property value: ``geography'SRID=4326;POLYGON((...))'`` (contract 3)."""
    geometry = to_geometry(geometry)
    if geometry is None:
        return None
    return f"geography'SRID={DEFAULT_SRID};{format_wkt(geometry)}'"


#: GeoJSON geometry type -> the type of its parts (itself for a single geometry).
_GEOJSON_PARTS = {"Point": "Point", "LineString": "LineString", "Polygon": "Polygon", "MultiPoint": "Point",
                  "MultiLineString": "LineString", "MultiPolygon": "Polygon"}


def to_geojson(geometry: Any) -> Optional[dict]:
    """The ``GeoFootprint`` property value (GeoJSON mapping with list coordinates)."""
    geometry = to_geometry(geometry)
    if geometry is None:
        return None
    kind = geometry.geom_type
    if kind in _GEOJSON_PARTS and not geometry.is_empty:
        include_z = geometry.has_z

        def points(part):  # the part's coordinates as lists of Python floats, in one call
            return shapely.get_coordinates(part, include_z=include_z).tolist()

        def rings(polygon):
            return [points(polygon.exterior), *(points(ring) for ring in polygon.interiors)]

        parts = {"Point": lambda g: points(g)[0], "LineString": points, "Polygon": rings}
        single = parts[_GEOJSON_PARTS[kind]]
        coordinates = single(geometry) if kind in parts else [single(g) for g in geometry.geoms]
        return {"type": kind, "coordinates": coordinates}

    def listify(value):
        if isinstance(value, (tuple, list)):
            return [listify(v) for v in value]
        return value

    data = mapping(geometry)
    return {"type": data["type"], "coordinates": listify(data["coordinates"])}


def intersects(stored: Any, area: BaseGeometry) -> bool:
    """Exact intersection of a stored footprint with ``area``; ``False`` for no footprint."""
    geometry = to_geometry(stored)
    if geometry is None:
        return False
    return bool(geometry.intersects(area))


def footprint_renderings(value: Any, wkt: Optional[str] = None) -> Tuple[Optional[str], Optional[dict]]:
    """(``Footprint`` geography literal, ``GeoFootprint`` GeoJSON mapping) of a stored footprint
    (any form :func:`to_geometry` reads), or (None, None) without one. ``wkt``: the caller's
    :func:`format_wkt` of ``value`` (a geometry), not computed again."""
    if not value:
        return None, None
    geometry = to_geometry(value)
    literal = format_footprint(geometry) if wkt is None else f"geography'SRID={DEFAULT_SRID};{wkt}'"
    return literal, to_geojson(geometry)
