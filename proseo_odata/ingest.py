"""Ingest product files: copy into the archive while hashing, and record the product.

Metadata has the shape of a PRIP ``Product`` (contract section 3), so that PRIP output can be
re-ingested: ``Name``, ``ContentType``, ``OriginDate``, ``PublicationDate`` (or
``CreationDate``), ``ModificationDate``, ``EvictionDate``, ``Online``, ``Checksum`` (or
``Checksums``), ``ContentDate {Start, End}``, ``ProductionType``, ``Footprint`` (a
``geography'SRID=4326;...'`` literal or plain WKT) or ``GeoFootprint`` (GeoJSON), ``Attributes``
in ICD form (``{"@odata.type": "#OData.CSC.IntegerAttribute", "Name", "ValueType", "Value"}``,
older ``StringValue``/``IntegerValue``/``DateValue`` keys accepted), and ``Id``.
``ContentLength`` and checksums, when given, must match the file. Keys starting with ``@`` and
``Visibility`` (``PUBLIC``/``RESTRICTED``/``INTERNAL``) are understood too; any other key is an
error. Defaults: ``Name`` = the file name, ``PublicationDate`` = the moment the storage stores
the product (in the order of commits; a caller's ``now`` instead, when given), ``ProductionType``
= ``systematic_production``.

:func:`ingest_file` validates everything before it touches the archive (including that neither
the ``Id`` nor the ``Name`` is taken), writes the file under a fresh key that no committed product
can own (``<MISSION>/<Id>/<upload token>/<Name>``), and removes that file again when recording the
product fails, so a failed ingest leaves neither a file nor a row, and never touches the file of
an existing product (not even when two ingests of the same ``Id`` race).
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import gc
import itertools
import json
import logging
import marshal
import math
import mimetypes
import os
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

import orjson

from proseo_odata.archive import DIGESTS, PARTIAL_PREFIX
from proseo_odata.model import (
    INT64_MAX,
    INT64_MIN,
    NO_QUICKLOOK,
    Attribute,
    AttributeType,
    Checksum,
    Product,
    ProductionType,
    VisibilityClass,
    as_utc,
    times,
    utcnow,
)
from proseo_odata.model.entities import CONTROL_CHARACTERS
from proseo_odata.nodes import archived_quicklook, file_quicklook, is_node_path
from proseo_odata.notify.subscriptions import on_product_published

log = logging.getLogger(__name__)

__all__ = [
    "BulkIngestReport", "IngestError", "MetadataError", "ManifestEntry", "check_content_type", "check_name", "check_text",
    "default_parsers", "ingest_file", "ingest_manifest", "iter_manifest", "parse_datetime", "parse_footprint",
    "product_from_metadata", "read_manifest",
]


class MetadataError(ValueError):
    """Metadata that cannot be ingested; ``field`` names the offending field."""

    def __init__(self, field: str, problem: str, source: str | None = None):
        self.field = field
        self.problem = problem
        self.source = source
        #: The manifest line (bulk ingest), when known.
        self.line: int | None = None
        where = f"{source}: " if source else ""
        super().__init__(f"{where}field {field!r}: {problem}")


def parse_datetime(value: Any, field: str) -> datetime:
    """An ISO-8601 date-time as an aware UTC datetime (no zone means UTC; up to 9 fractional
    digits, truncated to microseconds): :func:`proseo_odata.model.times.parse_datetime`, its
    error as a :class:`MetadataError` naming ``field``."""
    if not isinstance(value, str):
        raise MetadataError(field, f"expected an ISO-8601 date-time string, got {json.dumps(value)}")
    try:
        return times.parse_datetime(value)
    except ValueError as exc:
        raise MetadataError(field, str(exc)) from None


def _is_mapping(value) -> bool:
    """``isinstance(value, Mapping)``, with JSON's dict first (the ABC check is slow in bulk)."""
    return isinstance(value, dict) or isinstance(value, Mapping)


#: The longest file name most file systems store (bytes of UTF-8): a product's Name is its
#: file's name in a local archive.
NAME_MAX_BYTES = 255

#: ``type/subtype`` and parameters (RFC 9110), no control character: the ``Content-Type`` a
#: download is answered with.
_MIME_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+/[!#$%&'*+.^_`|~0-9A-Za-z-]+(?:[ \t]*;[^\x00-\x1f\x7f]*)?")


def check_text(value: str, field: str) -> str:
    """``value`` when a database stores it as it is: no NUL character (PostgreSQL refuses it),
    nothing that is not UTF-8 (a lone surrogate, from a file name of other bytes)."""
    if "\x00" in value:
        raise MetadataError(field, f"{value!r} holds a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MetadataError(field, f"{value!r} is not UTF-8 text") from None
    return value


def check_name(name: Any) -> str:
    """``name`` when it can be a product's ``Name``: a file name (not blank, not ``.`` or ``..``,
    no ``/`` or ``\\``, no control characters (a CR/LF could never be a download's file name), at
    most :data:`NAME_MAX_BYTES` bytes of UTF-8, storable text), not starting with
    :data:`~proseo_odata.archive.PARTIAL_PREFIX` (``.part-``: the archive's name for a file being
    written, which maintenance takes for what an interrupted write left)."""
    if (not isinstance(name, str) or not name.strip() or name in (".", "..") or "/" in name or "\\" in name
            or CONTROL_CHARACTERS.search(name)
            or len(check_text(name, "Name").encode("utf-8")) > NAME_MAX_BYTES):
        raise MetadataError("Name", f"{name!r} is not a file name")
    if name.startswith(PARTIAL_PREFIX):
        raise MetadataError("Name", f"{name!r} starts with {PARTIAL_PREFIX!r}, the archive's name for a file being written")
    return name


def check_content_type(content_type: Any) -> str:
    """``content_type`` when it can be a product's ``ContentType``: a MIME type (``type/subtype``
    and parameters, no control character, at most 255 characters), without the blanks around it
    (a header's value has none: ``"application/zip "``, which releases before 2026-12-06 stored,
    is ``application/zip``)."""
    if isinstance(content_type, str):
        content_type = content_type.strip(" \t")
    if not isinstance(content_type, str) or len(content_type) > 255 or not _MIME_TYPE.fullmatch(content_type):
        raise MetadataError("ContentType", f"{content_type!r} is not a MIME type")
    return content_type


def parse_footprint(value: Any, field: str = "Footprint") -> str | None:
    """Normalised WKT (longitude first, SRID 4326) from a geography literal or WKT: the one
    geography reader and WKT writer (``to_geometry`` and ``format_wkt`` of
    :mod:`proseo_odata.odata.geo`, as ``normalise_wkt``)."""
    return None if value is None else _footprint_text(value, field)[0]


def _footprint_text(value: Any, field: str) -> tuple[str, tuple | None]:
    """:func:`_normalised_footprint` of a geography literal or WKT string."""
    if not isinstance(value, str):
        raise MetadataError(field, "expected a geography literal or WKT string")
    return _normalised_footprint(value, field)


def _geojson_footprint(value: Any) -> tuple[str, tuple | None]:
    if not _is_mapping(value):
        raise MetadataError("GeoFootprint", "not a GeoJSON geometry: expected an object")
    return _normalised_footprint(dict(value), "GeoFootprint")


def _normalised_footprint(value: Any, field: str) -> tuple[str, tuple | None]:
    """``(WKT, renderings)``: the footprint as :func:`~proseo_odata.odata.geo.normalise_wkt`
    writes it, and what the storage keeps with it (``Product.rendered_footprint``: the WKT, the
    ``Footprint`` literal and the GeoJSON text of
    :func:`proseo_odata.storage.mapping.render_footprint`) computed from the same parsed
    geometry instead of parsing the WKT again. None when the WKT would not read back as the
    same coordinates (a Z, which the WKT drops; a zero, which may be a -0.0 the WKT writes as 0):
    the storage renders that one from the WKT. A one-ring polygon of plain decimal numbers
    takes :func:`_written_polygon` (the same text, in a third of the time)."""
    if isinstance(value, str):
        fast = _written_polygon(value)
        if fast is not None:
            wkt, geojson = fast
            return wkt, (wkt, f"geography'SRID=4326;{wkt}'", geojson)
    import shapely

    from proseo_odata.odata.errors import ODataError
    from proseo_odata.odata.geo import format_wkt, to_geometry
    from proseo_odata.storage.mapping import render_footprint

    try:
        geometry = to_geometry(value)
        wkt = format_wkt(geometry)
    except ODataError as exc:
        raise MetadataError(field, exc.message) from None
    rendered = None
    coordinates = shapely.get_coordinates(geometry)
    if not geometry.has_z and not (coordinates == 0).any():
        literal, geojson = render_footprint(wkt, geometry)
        rendered = (wkt, literal, geojson) if literal is not None else None
    return wkt, rendered


_NUMBER = r"-?\d+(?:\.\d+)?"
#: A one-ring polygon with plain decimal numbers as a geography literal or WKT, in the form the
#: storage writes but for the numbers' digits: ``geography'SRID=4326;POLYGON((x y,...))'``.
_PLAIN_POLYGON = re.compile(rf"(?:geography'SRID=4326;)?POLYGON\(\((?:{_NUMBER} {_NUMBER},)+{_NUMBER} {_NUMBER}\)\)'?")


#: A number that is not zero and not under 1e-4 (whose ``repr`` has an exponent); one of at most
#: 15 characters once its fraction's trailing zeros are gone (:func:`_written_polygon` checks
#: that) is then the shortest text of its double.
_SHORT = r"-?(?:[1-9]\d*(?:\.\d+)?|0\.(?=0{0,3}[1-9])\d+)"
#: :data:`_PLAIN_POLYGON` with every number :data:`_SHORT` (PRIP's output; manifests written
#: with a fixed number of decimals), the ring in group 1.
_SHORT_POLYGON = re.compile(
    rf"(?:geography'SRID=4326;)?POLYGON\(\(((?:{_SHORT} {_SHORT},)+{_SHORT} {_SHORT})\)\)'?")


def _written_polygon(text: str) -> tuple[str, str] | None:
    """``(WKT, GeoJSON text)`` of a one-ring polygon written with plain decimal numbers, single
    spaces and commas (:data:`_PLAIN_POLYGON`: PRIP output, most manifests), closed, with at
    least four points and no zero (see :func:`_normalised_footprint`): the WKT as
    :func:`~proseo_odata.odata.geo.format_wkt` writes it (the same number formatting, of the
    same floats shapely would read), the GeoJSON text as
    :func:`~proseo_odata.storage.mapping.render_footprint` writes it (``json.dumps`` of the float
    coordinates). Such a ring is one shapely reads and accepts. None for anything else: the
    general path decides."""
    if text.endswith("'") != text.startswith("geography'"):
        return None
    short = _SHORT_POLYGON.fullmatch(text)
    # Such a number's WKT and ``repr`` are its digits without the fraction's trailing zeros
    # (``repr`` adds ".0" to a whole number), when it has at most 15 digits (conservatively: 15
    # characters); one text per double, so closed means the first and last points' texts are
    # the same. (A quarter of the time of the path below.)
    numbers = None if short is None else [
        n.rstrip("0").rstrip(".") if "." in n else n for n in short[1].replace(",", " ").split(" ")]
    if numbers is not None and max(map(len, numbers)) <= 15:
        points = len(numbers) // 2
        if points < 4 or numbers[0] != numbers[-2] or numbers[1] != numbers[-1]:
            return None
        floats = [n if "." in n else n + ".0" for n in numbers]
        return ("POLYGON((" + ("{} {}," * points).format(*numbers)[:-1] + "))",
                '{"type": "Polygon", "coordinates": [[' + ("[{}, {}], " * points).format(*floats)[:-2] + "]]}")
    if _PLAIN_POLYGON.fullmatch(text) is None:
        return None
    from proseo_odata.odata.geo import format_number

    start = text.index("((") + 2
    points = [point.split(" ") for point in text[start:text.index(")", start)].split(",")]
    if len(points) < 4 or points[0] != points[-1] and [float(n) for n in points[0]] != [float(n) for n in points[-1]]:
        return None
    wkt, geojson = [], []
    try:
        for x, y in points:
            fx, fy = float(x), float(y)
            if not fx or not fy:
                return None
            wkt.append(f"{format_number(fx)} {format_number(fy)}")
            geojson.append(f"[{fx!r}, {fy!r}]")
    except OverflowError:  # a number too large for a float
        return None
    return "POLYGON((" + ",".join(wkt) + "))", '{"type": "Polygon", "coordinates": [[' + ", ".join(geojson) + "]]}"


_ATTRIBUTE_TYPES = {t.value.lower(): t for t in AttributeType}
_LEGACY_VALUE_KEYS = {
    "StringValue": AttributeType.STRING,
    "IntegerValue": AttributeType.INTEGER,
    "DoubleValue": AttributeType.DOUBLE,
    "BooleanValue": AttributeType.BOOLEAN,
    "DateValue": AttributeType.DATETIMEOFFSET,
    "DateTimeOffsetValue": AttributeType.DATETIMEOFFSET,
}


def parse_attribute(item: Any, index: int) -> Attribute:
    # (the field's name is written only for an error: ten attributes a product in a bulk ingest)
    if not _is_mapping(item):
        raise MetadataError(f"Attributes[{index}]", "expected an object with Name, ValueType and Value")
    name = item.get("Name")
    if not isinstance(name, str) or not name:
        raise MetadataError(f"Attributes[{index}]/Name", "missing or not a string")
    kind = None
    declared = item.get("ValueType")
    if declared is not None:
        kind = _ATTRIBUTE_TYPES.get(declared.lower() if isinstance(declared, str) else str(declared).lower())
        if kind is None:
            raise MetadataError(f"Attributes[{index}]/ValueType", f"{declared!r} is not one of {', '.join(t.value for t in AttributeType)}")
    odata_type = item.get("@odata.type")
    if kind is None and isinstance(odata_type, str):
        match = re.search(r"(String|Integer|Double|Boolean|DateTimeOffset)Attribute$", odata_type)
        if match:
            kind = AttributeType(match.group(1))
    value = item.get("Value")
    if "Value" not in item:
        for key, legacy_type in _LEGACY_VALUE_KEYS.items():
            if key in item:
                value, kind = item[key], kind or legacy_type
                break
        else:
            raise MetadataError(f"Attributes[{index}]/Value", "missing")
    if kind is None:
        raise MetadataError(f"Attributes[{index}]/ValueType", "missing (and no @odata.type names the type)")
    if kind is AttributeType.STRING:
        if not isinstance(value, str):
            raise MetadataError(f"Attributes[{index}]/Value", f"expected a string for {name}, got {json.dumps(value)}")
    elif kind is AttributeType.INTEGER:
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise MetadataError(f"Attributes[{index}]/Value", f"expected an integer for {name}, got {json.dumps(value)}")
        if not INT64_MIN <= value <= INT64_MAX:
            raise MetadataError(f"Attributes[{index}]/Value", f"{value} is outside the Int64 range")
    elif kind is AttributeType.DOUBLE:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise MetadataError(f"Attributes[{index}]/Value", f"expected a number for {name}, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MetadataError(f"Attributes[{index}]/Value", f"expected a number for {name}, got {json.dumps(value)}")
        try:
            value = float(value)
        except OverflowError:  # an integer past the Double range
            value = math.inf
        if not math.isfinite(value):  # NaN and Infinity: no JSON number, so no OData client could read them
            raise MetadataError(f"Attributes[{index}]/Value", f"expected a finite number for {name}, got {json.dumps(value)}")
    elif kind is AttributeType.BOOLEAN:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            value = value.lower() == "true"
        if not isinstance(value, bool):
            raise MetadataError(f"Attributes[{index}]/Value", f"expected true or false for {name}, got {json.dumps(value)}")
    else:
        value = parse_datetime(value, f"Attributes[{index}]/Value")  # aware UTC, as Attribute() makes it
    # checked above as Attribute() checks it (tests/test_ingest_fast_paths.py): built without
    # running those checks a second time
    return _bare_attribute(name, kind, value)


_KNOWN_KEYS = {
    "Id", "Name", "ContentType", "ContentLength", "OriginDate", "PublicationDate", "CreationDate",
    "ModificationDate", "EvictionDate", "Online", "Checksum", "Checksums", "ContentDate",
    "ProductionType", "Footprint", "GeoFootprint", "Attributes", "Visibility",
}


def product_from_metadata(metadata: Mapping[str, Any], *, mission: str, file_name: str, now: datetime | None = None) -> tuple[Product, list[Checksum], int | None]:
    """Build the product a metadata object describes (without file size and digests).

    Returns ``(product, checksums_to_verify, content_length_to_verify)``; ``MetadataError``
    names the first field that is wrong. Without a ``PublicationDate`` (or ``CreationDate``)
    the product is published ``now``, or, with no ``now`` given, when the storage stores it
    (``stamp_publication``: its publication date in the order of commits).
    """
    if not _is_mapping(metadata):
        raise MetadataError("(document)", "expected a JSON object with Product properties")
    unknown = () if metadata.keys() <= _KNOWN_KEYS else sorted(
        k for k in metadata if not k.startswith("@") and k not in _KNOWN_KEYS)
    if unknown:
        raise MetadataError(unknown[0], "unknown Product property (known: " + ", ".join(sorted(_KNOWN_KEYS)) + ")")
    stamp, now = now is None, now or utcnow()
    fields: dict[str, Any] = {"mission": mission}

    name = fields["name"] = check_name(metadata.get("Name", file_name))
    if "Id" in metadata:
        try:
            fields["id"] = uuid.UUID(str(metadata["Id"]))
        except ValueError:
            raise MetadataError("Id", f"{metadata['Id']!r} is not a GUID") from None
    content_type = metadata.get("ContentType")
    if content_type is None:
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    fields["content_type"] = check_content_type(content_type)

    length = metadata.get("ContentLength")
    if length is not None and (isinstance(length, bool) or not isinstance(length, int) or length < 0):
        raise MetadataError("ContentLength", f"expected a non-negative integer, got {json.dumps(length)}")

    for key, attribute in (("OriginDate", "origin_date"), ("ModificationDate", "modification_date"), ("EvictionDate", "eviction_date")):
        if metadata.get(key) is not None:
            fields[attribute] = parse_datetime(metadata[key], key)
    published = metadata.get("PublicationDate")
    if published is None:  # (its seed-document alias)
        published = metadata.get("CreationDate")
    if published is not None:
        fields["publication_date"] = parse_datetime(published, "PublicationDate")
    else:  # (``now`` as the constructor would take it: aware, in UTC)
        try:
            fields["publication_date"] = as_utc(now, "publication_date")
        except TypeError as exc:
            raise MetadataError("(product)", str(exc)) from None
        # no caller's ``now``: the storage's moment of publication, in the order of commits
        fields["stamp_publication"] = stamp
    fields.setdefault("modification_date", fields["publication_date"])

    online = metadata.get("Online", True)
    if not isinstance(online, bool):
        raise MetadataError("Online", f"expected true or false, got {json.dumps(online)}")
    fields["online"] = online

    content_date = metadata.get("ContentDate")
    if content_date is not None:
        if not _is_mapping(content_date):
            raise MetadataError("ContentDate", "expected an object {Start, End}")
        for key, attribute in (("Start", "content_start"), ("End", "content_end")):
            if content_date.get(key) is not None:
                fields[attribute] = parse_datetime(content_date[key], f"ContentDate/{key}")
        if fields.get("content_start") and fields.get("content_end") and fields["content_start"] > fields["content_end"]:
            raise MetadataError("ContentDate", "Start is after End")

    production_type = metadata.get("ProductionType", ProductionType.SYSTEMATIC_PRODUCTION.value)
    try:
        fields["production_type"] = ProductionType(production_type)
    except ValueError:
        raise MetadataError("ProductionType", f"{production_type!r} is not one of {', '.join(t.value for t in ProductionType)}") from None

    visibility = metadata.get("Visibility", VisibilityClass.PUBLIC.value)
    try:
        fields["visibility"] = VisibilityClass(visibility)
    except ValueError:
        raise MetadataError("Visibility", f"{visibility!r} is not one of PUBLIC, RESTRICTED, INTERNAL") from None

    if metadata.get("Footprint") is not None:
        fields["footprint"], fields["rendered_footprint"] = _footprint_text(metadata["Footprint"], "Footprint")
    elif metadata.get("GeoFootprint") is not None:
        fields["footprint"], fields["rendered_footprint"] = _geojson_footprint(metadata["GeoFootprint"])

    attributes = metadata.get("Attributes", [])
    if not isinstance(attributes, list):
        raise MetadataError("Attributes", "expected a list of attributes")
    parsed = [parse_attribute(item, i) for i, item in enumerate(attributes)]
    names = [a.name for a in parsed]
    duplicates = () if len(set(names)) == len(names) else sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MetadataError("Attributes", f"attribute {duplicates[0]!r} appears twice")
    fields["attributes"] = parsed

    checksums = []
    raw_checksums = metadata.get("Checksum", metadata.get("Checksums", []))
    if not isinstance(raw_checksums, list):
        raise MetadataError("Checksum", "expected a list of {Algorithm, Value, ChecksumDate}")
    for i, item in enumerate(raw_checksums):
        if not _is_mapping(item) or not isinstance(item.get("Algorithm"), str) or not isinstance(item.get("Value"), str):
            raise MetadataError(f"Checksum[{i}]", "expected {Algorithm, Value, ChecksumDate} with string Algorithm and Value")
        date = parse_datetime(item["ChecksumDate"], f"Checksum[{i}]/ChecksumDate") if item.get("ChecksumDate") else None
        checksums.append(Checksum(item["Algorithm"], item["Value"], date))
    return _bare_product(fields), checksums, length


@dataclass
class ManifestEntry:
    """One product of a JSON-lines manifest: its file (or the archive key it already has) and
    its metadata."""

    path: Path | None
    metadata: dict
    line: int
    archive_key: str | None = None
    #: the line's ``"quicklook"`` (an export's): the product's, unless its file is read
    quicklook: str | None = None

    @property
    def file_name(self) -> str:
        """The default ``Name``: the file's name (or the key's last segment)."""
        return self.path.name if self.path is not None else self.archive_key.rsplit("/", 1)[-1]


#: The manifest key of a file registered by reference: it is already in the archive under
#: this key and is not copied (``ingest --manifest`` only).
ARCHIVE_KEY = "archive_key"
#: The manifest key of a product's quicklook (:attr:`Product.quicklook`, what ``export``
#: writes: its path, or ``""`` for a file searched without one): kept for a file registered by
#: reference whose file is not read (its size and both checksums given); a file that is read
#: (copied, or hashed) has its own looked for instead.
QUICKLOOK = "quicklook"


def iter_manifest(path: Path, *, by_reference: bool = True) -> Iterator[ManifestEntry | MetadataError]:
    """Every line of a JSON-lines manifest as a :class:`ManifestEntry`, or as a
    :class:`MetadataError` (its ``line`` set, its source ``MANIFEST:LINE``) when the line is
    bad; reading goes on after a bad line. A line is the Product metadata plus ``"file"`` (a
    path relative to the manifest's folder) or, with ``by_reference``, ``"archive_key"`` (a
    file already in the archive). Blank lines and ``#`` lines are skipped."""
    path = Path(path)
    for number, text in _manifest_lines(path):
        yield _entry_or_error(path, number, text, by_reference)


#: What ``surrogateescape`` makes of a byte that is not UTF-8.
_NOT_UTF8 = re.compile("[\udc80-\udcff]")


def _manifest_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, stripped text)`` of every manifest line that is not blank or a ``#`` comment."""
    # surrogateescape: a byte that is not UTF-8 fails its own line (_manifest_entry), not the run
    with open(path, encoding="utf-8-sig", errors="surrogateescape") as handle:
        for number, line in enumerate(handle, 1):
            text = line.strip()
            if text and not text.startswith("#"):
                yield number, text


def _entry_or_error(path: Path, number: int, text: str, by_reference: bool = True) -> ManifestEntry | MetadataError:
    """:func:`iter_manifest`'s item for one line."""
    try:
        return _manifest_entry(path, number, text, f"{path}:{number}", by_reference)
    except MetadataError as exc:
        exc.line = number
        return exc


def _manifest_entry(path: Path, number: int, text: str, source: str, by_reference: bool) -> ManifestEntry:
    if _NOT_UTF8.search(text):
        raise MetadataError("(line)", "not UTF-8 text", source)
    try:
        document = orjson.loads(text)  # a third of the json module's time per line
    except orjson.JSONDecodeError:
        # What orjson refuses the json module may read (NaN, Infinity, a lone surrogate): it
        # decides, and words the error, as it always did. (orjson reads an integer beyond 64
        # bits as a float, the json module as an int: a line with one is refused either way,
        # by the field's check or by the database, in other words.)
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise MetadataError("(line)", f"not JSON: {exc.msg} at column {exc.colno}", source) from None
        except RecursionError:
            raise MetadataError("(line)", "arrays or objects nested too deeply", source) from None
    if not isinstance(document, dict):
        raise MetadataError("(line)", "expected a JSON object (Product metadata plus \"file\")", source)
    file_name, key = document.pop("file", None), document.pop(ARCHIVE_KEY, None) if by_reference else None
    quicklook = document.pop(QUICKLOOK, None) if by_reference else None
    if quicklook is not None and quicklook != NO_QUICKLOOK and not is_node_path(quicklook):
        raise MetadataError(QUICKLOOK, f"{quicklook!r} is not a quicklook's path among the product's nodes "
                            "(names joined by /, like preview/quick-look.png; \"\": searched, none)", source)
    if key is not None:
        if file_name is not None:
            raise MetadataError(ARCHIVE_KEY, "give either \"file\" (copied) or \"archive_key\" (by reference), not both", source)
        if not isinstance(key, str) or not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
            raise MetadataError(ARCHIVE_KEY, f"{key!r} is not an archive key (a relative path like MISSION/folder/name)", source)
        return ManifestEntry(None, document, number, key, quicklook)
    if not isinstance(file_name, str):
        needs = "\"file\": the product file's path" + (" (or \"archive_key\": its key in the archive)" if by_reference else "")
        raise MetadataError("file", f"each line needs {needs}", source)
    return ManifestEntry((path.parent / file_name).resolve(), document, number)


def read_manifest(path: Path) -> Iterator[ManifestEntry]:
    """Entries of a JSON-lines manifest (see :func:`iter_manifest`; every line names a
    ``"file"``); the first bad line raises its :class:`MetadataError`."""
    for item in iter_manifest(path, by_reference=False):
        if isinstance(item, MetadataError):
            raise item
        yield item


def ingest_file(storage, archive, mission: str, path, metadata: Mapping[str, Any] | None = None, *, source: str | None = None, now: datetime | None = None) -> Product:
    """Archive ``path`` and record it as a product of ``mission`` described by ``metadata``.

    Raises :class:`MetadataError` (nothing stored) for bad metadata, an ``Id`` or ``Name`` the
    mission already has, or a file that contradicts the metadata; storage errors
    (``ConflictError`` when a concurrent ingest took the Id or Name first, ``NotFoundError`` for
    an unknown mission) propagate after this upload's file has been removed again.
    """
    path = Path(path)
    if not path.is_file():
        raise MetadataError("file", f"{path} is not a readable file", source)
    try:
        product, expected_checksums, expected_length = product_from_metadata(
            metadata or {}, mission=mission, file_name=path.name, now=now
        )
    except MetadataError as exc:
        exc.source = exc.source or source
        raise MetadataError(exc.field, exc.problem, exc.source) from None
    storage.get_mission(mission)  # fail before copying anything
    _refuse_taken(storage, mission, product, source)
    # A fresh token per upload: the key can never be one a committed product owns, so neither
    # the write nor the clean-up below can destroy another product's file (even in a race).
    key = upload_key(product)
    stored = archive.put_file(key, path, product.content_type)
    committing = False

    def store() -> Product:
        nonlocal committing
        # Publish and notify matching subscriptions in one transaction (docs/subscriptions.md);
        # on_product_published never fails the publication because of a subscription.
        with storage.transaction() as tx:
            added = tx.add_product(product)
            on_product_published(tx, added)
            committing = True
        return added

    try:
        _complete(product, key, stored, expected_checksums, expected_length, source)
        product.quicklook = file_quicklook(path, stored.size, product.name)
        return _retrying(store, f"ingest of {product.name}", lambda: committing)
    except BaseException as exc:
        if _outcome_unknown(committing, exc):
            log.warning("the commit of product %s failed (%s) and may have taken place: its file %s is kept",
                        product.name, type(exc).__name__, key)
        else:
            archive.delete(key)  # only ever this upload's own key
        raise


#: Seconds between the attempts of a transaction that stores products and failed with a
#: transient database error before its commit (:func:`_retrying`): six attempts over ~7 s.
STORE_RETRY_DELAYS = (0.1, 0.3, 1.0, 2.0, 4.0)


def _retrying(store, what: str, unknown):
    """``store()``, a transaction that stores products (or a look-up), run again after each of
    :data:`STORE_RETRY_DELAYS` while it fails with a transient database error (a statement
    timeout, a deadlock, a lost connection, a server restarting:
    :func:`~proseo_odata.storage.errors.is_transient`) before its commit: the server rolled it
    back, nothing of it is stored, and the files it refers to are still in the archive. Not
    once ``unknown()`` is true (the commit itself failed, :func:`_outcome_unknown`): its
    products may be stored, and a second attempt would find their Names taken. The last error
    propagates, as does any other at once."""
    from proseo_odata.storage.errors import is_transient, retry_transient

    return retry_transient(store, delays=STORE_RETRY_DELAYS, what=what, logger=log,
                           retryable=lambda exc: not unknown() and is_transient(exc))


def _names_known(storage, mission: str, names: list[str]) -> set[str]:
    """:meth:`~proseo_odata.storage.StorageBase.existing_product_names`, again while it fails
    with a transient database error (:func:`_retrying`; it only reads: never an unknown outcome)."""
    return _retrying(lambda: storage.existing_product_names(mission, names),
                     "ingest: the look-up of a batch's Names", lambda: False)


def _outcome_unknown(committing: bool, exc: BaseException) -> bool:
    """Whether ``exc``, raised while a transaction that stores products ended, leaves it unknown
    whether they were stored: raised by the commit itself (``committing``: the transaction's
    body had finished), and not the database's refusal (then it rolled back). The connection
    lost while the ``COMMIT`` was on its way, an interrupt while waiting for its answer: the
    server may have committed, or may still be committing (a look-up could not tell yet). The
    files of such products stay: a product whose file was deleted could not be downloaded,
    while a file kept for nothing is an orphan in the archive. An error before the commit
    leaves nothing stored (the server rolls back a transaction whose connection is gone)."""
    from proseo_odata.storage import ConflictError, InvalidValueError

    return committing and not isinstance(exc, (ConflictError, InvalidValueError))


def upload_key(product: Product) -> str:
    """A fresh archive key for an upload of ``product``: ``<MISSION>/<Id>/<token>/<Name>``."""
    return f"{product.mission}/{product.id}/{secrets.token_hex(8)}/{product.name}"


def _complete(product: Product, key: str, stored, expected_checksums, expected_length, source) -> Product:
    """Check the stored file (``(size, md5, sha256)``) against the metadata's ``ContentLength``
    and MD5/SHA256 checksums (``MetadataError`` when they differ), then give ``product`` its
    archive key, size and checksums (the computed ones, dated as given or else by the
    publication date, plus other algorithms as given)."""
    size, md5, sha256 = stored
    computed = {"md5": md5, "sha256": sha256}
    if expected_length is not None and expected_length != size:
        raise MetadataError("ContentLength", f"{expected_length} does not match the file's {size} bytes", source)
    for checksum in expected_checksums:
        digest = DIGESTS.get(checksum.algorithm.upper())
        if digest and checksum.value.lower() != computed[digest]:
            raise MetadataError("Checksum", f"{checksum.algorithm} {checksum.value} does not match the file ({computed[digest]})", source)
    product.archive_key = key
    product.content_length = size
    keep, dates = [], {}
    for checksum in expected_checksums:
        digest = DIGESTS.get(checksum.algorithm.upper())
        if digest is None:
            keep.append(checksum)
        elif checksum.date is not None:  # the line's date of a checksum that matched (an export's)
            dates[digest] = checksum.date
    date = product.publication_date  # a product's dates are aware UTC already
    product.checksums = sorted(
        [_bare_checksum("MD5", md5, dates.get("md5", date)), _bare_checksum("SHA256", sha256, dates.get("sha256", date)),
         *keep],
        key=lambda c: c.algorithm,
    )
    return product


def _refuse_taken(storage, mission: str, product: Product, source: str | None) -> None:
    """``MetadataError`` naming ``Id`` or ``Name`` when a product of ``mission`` already has it.

    The check gives a clear message before anything is copied; the unique constraints of
    ``add_product`` (``ConflictError``) still decide a race."""
    from proseo_odata.storage import NotFoundError

    try:
        existing = storage.get_product(mission, product.id)
    except NotFoundError:
        pass
    else:
        raise MetadataError(
            "Id", f"a product with Id {product.id} already exists in mission {mission} "
            f"(Name {existing.name!r}); leave out Id to ingest a copy", source,
        )
    try:
        existing = storage.get_product_by_name(mission, product.name)
    except NotFoundError:
        pass
    else:
        raise MetadataError(
            "Name", f"a product named {product.name!r} already exists in mission {mission} "
            f"(Id {existing.id}); give another Name", source,
        )


# -- bulk ingest from a manifest ----------------------------------------------------------------


@dataclass
class BulkIngestReport:
    """What :func:`ingest_manifest` did.

    ``ingested`` products were stored (``referenced`` of them by reference, without a copy);
    ``skipped`` lines named a product the mission already has (or one named earlier in the
    manifest); ``failed`` holds ``(line, message)`` for every line that was not ingested
    because of its own problem; ``notified``: subscription notifications enqueued;
    ``statistics_refreshed``: the database's planner statistics were brought up to date after
    the load (:meth:`StorageBase.refresh_statistics`: a load that is a large share of the
    catalogue)."""

    ingested: int = 0
    referenced: int = 0
    skipped: int = 0
    notified: int = 0
    failed: list = field(default_factory=list)
    seconds: float = 0.0
    statistics_refreshed: bool = False

    @property
    def lines(self) -> int:
        return self.ingested + self.skipped + len(self.failed)

    @property
    def rate(self) -> float:
        """Lines handled per second."""
        return self.lines / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Candidate:
    entry: ManifestEntry
    product: Product
    checksums: list
    length: int | None
    source: str | None = None  # messages name the line through the report, not a source
    key: str = ""
    copied: bool = False  # this run wrote the file (and may delete it again)
    committed: bool = False
    outcome_unknown: bool = False  # its commit failed and may have taken place: the file stays
    future: Any = None


class _BatchSubscriptions:
    """The publishing transaction as :func:`on_product_published` sees it during one batch:
    the mission's running subscriptions and their owners are read once per batch instead of
    once per product. Within the transaction nothing else changes them (the updates
    ``on_product_published`` makes go to the same cached objects). The batch's notifications
    are collected and written by :meth:`flush` in one statement (a backend with
    ``enqueue_notifications``), and each notified subscription's ``LastNotificationDate`` is
    written once, not once per product."""

    def __init__(self, tx):
        self._tx = tx
        self._running: dict = {}
        self._users: dict = {}
        self._messages: list = []
        self._touched: dict = {}

    def enqueue_notification(self, kind, endpoint, username, password, payload, *, mission=None, now=None):
        self._messages.append({"kind": kind, "endpoint": endpoint, "username": username, "password": password,
                               "payload": payload, "mission": mission, "now": now})

    def update_subscription(self, subscription):
        self._touched[subscription.id] = subscription
        return subscription

    def flush(self) -> int:
        """Write the collected notifications and subscription dates; how many notifications."""
        from proseo_odata.notify.subscriptions import touch_subscription

        messages, self._messages = self._messages, []
        bulk = getattr(self._tx, "enqueue_notifications", None)
        if bulk is not None and len({m["now"] for m in messages}) <= 1:
            now = messages[0]["now"] if messages else None
            bulk([{k: v for k, v in m.items() if k != "now"} for m in messages], now=now)
        else:
            for m in messages:
                self._tx.enqueue_notification(m["kind"], m["endpoint"], m["username"], m["password"], m["payload"],
                                              mission=m["mission"], now=m["now"])
        touched, self._touched = self._touched, {}
        for subscription in touched.values():
            touch_subscription(self._tx, subscription, subscription.last_notification_date)
        return len(messages)

    def list_running_subscriptions(self, mission=None):
        if mission not in self._running:
            self._running[mission] = self._tx.list_running_subscriptions(mission)
        return self._running[mission]

    def get_user(self, mission, name):
        key = (mission, name)
        if key not in self._users:
            from proseo_odata.storage import NotFoundError

            try:
                self._users[key] = self._tx.get_user(mission, name)
            except NotFoundError as exc:
                self._users[key] = exc
        found = self._users[key]
        if isinstance(found, Exception):
            raise found
        return found

    def __getattr__(self, name):
        return getattr(self._tx, name)


def _referenced(archive, candidate: _Candidate):
    """The stored-file facts of a by-reference entry. With ``ContentLength`` and both MD5 and
    SHA256 in the metadata only the size is checked (one metadata call, the file is not read);
    otherwise the file is read once through the archive to compute them."""
    from proseo_odata.archive import StoredFile, hash_archived

    key = candidate.key
    try:
        given = {DIGESTS.get(c.algorithm.upper()): c.value.lower() for c in candidate.checksums}
        if candidate.length is not None and given.get("md5") and given.get("sha256"):
            return StoredFile(archive.size(key), given["md5"], given["sha256"])
        stored = hash_archived(archive, key)
    except FileNotFoundError:
        raise MetadataError(ARCHIVE_KEY, f"{key!r}: no such file in the archive", candidate.source) from None
    # read whole anyway: its quicklook too (the size-only case keeps the line's, else leaves it
    # to `proseo-odata archive quicklooks`)
    candidate.product.quicklook = archived_quicklook(archive, key, stored.size, candidate.product.name)
    return stored


def _copied(archive, candidate: _Candidate):
    """Copy a line's file into the archive (a pool task) and find its quicklook (in the copied file)."""
    stored = archive.put_file(candidate.key, candidate.entry.path, candidate.product.content_type)
    candidate.product.quicklook = file_quicklook(candidate.entry.path, stored.size, candidate.product.name)
    return stored


#: Lines per batch (one transaction each) of :func:`ingest_manifest` and ``ingest --manifest``.
#: Every batch writes each database page it touches once: products with random (given) ids
#: touch pages all over each index, so on SQLite a batch of 5,000 costs the engine about a third
#: less per product than batches of 1,000 at 100,000 products (docs/cli.md); new products'
#: time-ordered ids touch the ends of those indexes. The write lock is held for a second or two
#: per batch.
DEFAULT_BATCH_SIZE = 5000

#: Manifest lines per task of a parser process (``parsers`` of :func:`ingest_manifest`).
PARSE_CHUNK = 500

#: Manifests smaller than this are parsed in the ingesting process when ``parsers`` is not
#: given: starting the parser processes costs more than they save on a few thousand lines.
PARSERS_MIN_BYTES = 4 << 20


class IngestError(RuntimeError):
    """A bulk ingest stopped for a reason that is not one line's (a parser process died).
    ``report`` holds what the batches committed before it did; a re-run continues from there."""

    def __init__(self, message: str, report: BulkIngestReport):
        super().__init__(message)
        self.report = report


def default_parsers(manifest) -> int:
    """The parser processes :func:`ingest_manifest` starts when ``parsers`` is None: none for a
    manifest under :data:`PARSERS_MIN_BYTES` or on a single CPU, else one. The writing process
    needs about three times a parser's CPU per product (SQLite's engine runs in it), so one
    parser keeps it busy; on 2 cores a second one only competed with it and the database
    (bench/README.md "Bulk ingest")."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if cpus < 2 or os.path.getsize(manifest) < PARSERS_MIN_BYTES:
        return 0
    return 1


def ingest_manifest(
    storage,
    archive,
    mission: str,
    manifest,
    *,
    batch_size: int | None = None,
    workers: int = 4,
    parsers: int | None = None,
    writers: int | None = None,
    progress=None,
    now: datetime | None = None,
) -> BulkIngestReport:
    """Ingest every line of a JSON-lines manifest (:func:`iter_manifest`) in batches.

    Per batch of ``batch_size`` lines (default :data:`DEFAULT_BATCH_SIZE`): one look-up finds
    the Names the mission already has (those lines are skipped and counted, so a re-run adds
    only what is missing and copies nothing twice); the metadata of every other line is checked
    (:func:`product_from_metadata`); the files are copied into the archive by ``workers``
    threads, each computing MD5 and SHA-256 in the same pass as its copy (a line with
    ``"archive_key"`` instead of ``"file"`` is registered by reference: nothing is copied);
    then one transaction stores the batch's products (:meth:`StorageBase.add_products`) and
    enqueues the notifications of matching subscriptions (:func:`on_product_published`, as for
    a single ingest; the batch's notifications are written in one statement). The copies of
    the next batch run while the current batch is written. ``writers`` batches (default the
    storage's :attr:`~proseo_odata.storage.StorageBase.bulk_writers`) are written at once,
    each in its own transaction; they commit in any order, are reported in manifest order, and
    a line naming a Name or Id of a batch still being written is skipped as named earlier. A
    batch with lines without a ``PublicationDate`` is dated by the storage when it stores it
    (:func:`product_from_metadata`), after the batch before it has committed.

    ``parsers`` processes (default :func:`default_parsers`; 0: none) read and check the lines
    (JSON, :func:`product_from_metadata`) in chunks of :data:`PARSE_CHUNK` and hand the
    products back as plain tuples, while this process looks up, copies and writes: up to about
    two batches are parsed ahead of the one being written (memory stays flat on any manifest).
    What is stored, skipped and reported is the same either way. A re-run does not send known
    Names' lines to the parsers while most of a batch is known; in a manifest that mixes known
    and new lines a known line is parsed before it is skipped (without parsers: never parsed).

    A bad line (metadata, missing file, checksum mismatch, ...) is reported in
    ``report.failed`` with its line number and does not stop the other lines of its batch. When
    the database refuses a whole batch for one product's sake (a value that does not fit), the
    batch is written again one product per transaction, so only that line fails. A transient
    database error before a batch's commit writes it again (:func:`_retrying`); an outage that
    outlasts the attempts raises (after removing the files this batch copied); the batches
    committed before stay, and a re-run continues where it stopped. So does an interrupt (``KeyboardInterrupt``:
    the batch being written is finished, the parsers stop) and a parser process that dies
    (:class:`IngestError`). ``progress(n)`` is called with the number of lines each committed
    batch handled.
    """
    import time
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    started = time.perf_counter()
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    parsers = default_parsers(manifest) if parsers is None else parsers
    report = BulkIngestReport()
    storage.get_mission(mission)  # NotFoundError before anything is copied

    # The main thread reads and checks the next batch (or collects it from the parser
    # processes) and starts its copies while the writer threads store the batches before it:
    # the database's work (and SQLite's, which runs without the GIL) overlaps with the Python
    # work of the next batch. With one writer, batches commit in manifest order; with more, a
    # batch may commit before the one ahead of it (they share no Name or Id), and the report
    # and progress follow manifest order.
    writers = max(1, storage.bulk_writers if writers is None else writers)
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ingest-copy") as pool, \
            ThreadPoolExecutor(max_workers=writers, thread_name_prefix="ingest-write") as writer, \
            _parser_pool(parsers) as parser_pool, _bulk_gc():
        if parser_pool is None:
            lines = (_line_records(items, mission, now) for items in _batched(iter_manifest(Path(manifest)), batch_size))
        else:
            lines = _parsed_records(parser_pool, storage, mission, Path(manifest), now, batch_size, parsers)
        writing: collections.deque = collections.deque()  # (batch, its commit) in manifest order
        prepared, submitted = None, 0
        try:
            for records in lines:
                prepared = _prepare_batch(storage, archive, mission, records, pool, [batch for batch, _ in writing])
                while len(writing) >= writers:
                    # (removed once its result is in: an interrupt after it never merges it twice)
                    _merge(report, writing.popleft()[1].result(), progress)
                # (no longer ``prepared`` before it is handed over: an interrupt in between must
                # not remove the copies of a batch the writer may be committing; at worst they
                # stay as orphans)
                batch, prepared = prepared, None
                writing.append((batch, writer.submit(_commit_batch, storage, archive, batch)))
                submitted += 1
                if submitted % BULK_GC_EVERY == 0:
                    gc.collect()
            while writing:
                _merge(report, writing.popleft()[1].result(), progress)
        except BaseException as exc:
            if prepared is not None:
                _discard(archive, prepared.candidates)
            while writing:
                try:  # the batches being written are finished (a writer removes its files when it fails)
                    _merge(report, writing.popleft()[1].result(), progress)
                except BaseException:  # noqa: BLE001 - the first failure is the one raised
                    pass
            if isinstance(exc, BrokenProcessPool):
                raise IngestError(
                    f"a parser process ended unexpectedly ({exc}); {report.ingested} product(s) were "
                    "stored before, re-run the same manifest to continue", report) from exc
            raise
    report.failed.sort(key=lambda failure: failure[0] or 0)
    report.statistics_refreshed = storage.refresh_statistics(report.ingested)
    report.seconds = time.perf_counter() - started
    return report


def _batched(items, size: int) -> Iterator[list]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


#: ``gc.set_threshold`` in the parser processes (the default is 700, 10, 10): a chunk's objects
#: are freed by their reference counts as the next chunk is read.
BULK_GC_THRESHOLDS = (100_000, 50, 10)
#: The ingesting process collects cycles itself, fully, once per this many batches (see
#: :func:`_bulk_gc`).
BULK_GC_EVERY = 50
_gc_lock = threading.Lock()
_gc_users = [0, None]  # ingests running in this process, the thresholds before the first


@contextlib.contextmanager
def _bulk_gc():
    """The collector's automatic runs off in this process while at least one bulk ingest runs
    (its thresholds before the first one restored after the last); the ingest collects every
    :data:`BULK_GC_EVERY` batches instead. Up to three batches, hundreds of thousands of
    objects each, live here until they are written: with the default thresholds the collector
    walked them again and again (60-80 µs per product), with (100,000, 50, 10) still 19-21 µs
    (a tenth of this process's CPU, GIL held; bench/README.md "Bulk ingest"). They are acyclic,
    freed by their reference counts; the few cycles a batch leaves (its session and
    transaction objects) wait for the next collection."""
    with _gc_lock:
        if _gc_users[0] == 0:
            _gc_users[1] = gc.get_threshold()
            gc.set_threshold(0)
        _gc_users[0] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users[0] -= 1
            if _gc_users[0] == 0:
                gc.set_threshold(*_gc_users[1])


@contextlib.contextmanager
def _parser_pool(count: int):
    """A pool of ``count`` parser processes (None for 0), shut down on leaving: queued chunks
    are dropped and the running ones finished (a few hundred lines each), never left behind.
    Started by a fork server (or spawned): no copy of this process's threads and connections."""
    if not count:
        yield None
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(count, mp_context=multiprocessing.get_context(method), initializer=_parser_started)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _parser_started() -> None:
    """In each parser process: Ctrl-C is the ingesting process's to handle (it stops the pool),
    not a traceback from every worker; the collector's thresholds of a bulk ingest."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.set_threshold(*BULK_GC_THRESHOLDS)


def _line_records(items: list, mission: str, now) -> list:
    """One batch's lines, parsed in this process: ``(line, Name, check)`` per line (see
    :func:`_prepare_batch`); ``check`` parses the line only when it is called."""
    records = []
    for item in items:
        if isinstance(item, MetadataError):
            records.append((item.line, None, MetadataError(item.field, item.problem)))
        else:
            name = item.metadata.get("Name", item.file_name)
            records.append((item.line, name if isinstance(name, str) else None,
                            functools.partial(_checked_entry, item, mission, now)))
    return records


def _checked_entry(entry: ManifestEntry, mission: str, now) -> tuple:
    """``(entry, product, checksums to verify, ContentLength to verify)`` of a manifest line;
    :class:`MetadataError` for its first problem."""
    # (the constructor has made the productType column and attribute agree)
    product, checksums, length = product_from_metadata(entry.metadata, mission=mission, file_name=entry.file_name, now=now)
    product.quicklook = entry.quicklook
    if entry.path is not None and not entry.path.is_file():
        raise MetadataError("file", f"{entry.path} is not a readable file")
    return entry, product, checksums, length


def _parsed_records(pool, storage, mission: str, manifest: Path, now, batch_size: int, parsers: int) -> Iterator[list]:
    """The manifest's batches as the parser processes checked them, in order: chunks of
    :data:`PARSE_CHUNK` lines go to the pool, at most a batch and ``2 * parsers`` chunks ahead
    of the batch handed out (so the pool works while the batch before is written).

    A re-run should not parse what it skips: while most lines of a batch name products the
    mission has (:func:`_known_lines`: their Names read here and looked up, a batch at a time;
    those lines skipped), only the others go to the pool; the first batch that is mostly new
    ends that for the run (a fresh manifest costs this process the Names of one batch)."""
    chunk = min(PARSE_CHUNK, batch_size)
    per_batch = -(-batch_size // chunk)
    ahead = per_batch + 2 * parsers
    chunks = _batched(_manifest_lines(manifest), chunk)
    pending: collections.deque = collections.deque()
    records: list = []
    exhausted, prefilter = False, True
    while True:
        while not exhausted and len(pending) < ahead:
            lines = [line for part in itertools.islice(chunks, per_batch if prefilter else 1) for line in part]
            if not lines:
                exhausted = True
                continue
            known: list = []
            if prefilter:
                known, lines = _known_lines(storage, mission, manifest, lines)
                prefilter = len(known) > len(lines)
            pending.append((known, pool.submit(_parse_chunk, str(manifest), lines, mission, now) if lines else None))
        if not pending:
            break
        known, parsing = pending.popleft()
        parsed = _unpacked_records(parsing.result()) if parsing is not None else []
        records.extend(sorted(known + parsed, key=lambda record: record[0]) if known else parsed)
        while len(records) >= batch_size:
            yield records[:batch_size]
            records = records[batch_size:]
    if records:
        yield records


#: The outcome of a line whose Name the mission has (found by :func:`_known_lines`): skipped.
_KNOWN = object()


def _known_lines(storage, mission: str, manifest: Path, lines: list) -> tuple[list, list]:
    """``(records of the lines whose Name the mission has, the other lines)``."""
    names = {}
    for number, text in lines:
        entry = _entry_or_error(manifest, number, text)
        if isinstance(entry, ManifestEntry):
            name = entry.metadata.get("Name", entry.file_name)
            if isinstance(name, str):
                names[number] = name
    existing = _names_known(storage, mission, sorted(set(names.values()))) if names else set()
    known = [(number, names[number], _KNOWN) for number, _ in lines if names.get(number) in existing]
    return known, [line for line in lines if names.get(line[0]) not in existing]


def _parse_chunk(manifest: str, lines: list, mission: str, now) -> bytes:
    """(In a parser process.) Each of ``lines`` (``(number, text)``) checked as
    :func:`_line_records` would: ``(line, Name, outcome)`` where ``outcome`` is ``(field,
    problem)`` of its :class:`MetadataError` or the packed ``(file path, archive key, product,
    checksums, ContentLength)`` (:func:`_pack_product`: plain values), the list of them in
    :mod:`marshal`'s format: with the dates as integers, a third of pickle's time to write
    and two thirds to read (the two processes run the same interpreter)."""
    path = Path(manifest)
    out = []
    for number, text in lines:
        entry = _entry_or_error(path, number, text)
        if isinstance(entry, MetadataError):
            out.append((number, None, (entry.field, entry.problem)))
            continue
        name = entry.metadata.get("Name", entry.file_name)
        name = name if isinstance(name, str) else None
        try:
            entry, product, checksums, length = _checked_entry(entry, mission, now)
        except MetadataError as exc:
            out.append((number, name, (exc.field, exc.problem)))
            continue
        out.append((number, name, (
            None if entry.path is None else str(entry.path), entry.archive_key, _pack_product(product),
            [(c.algorithm, c.value, _micros(c.date)) for c in checksums], length)))
    return marshal.dumps(out)


def _unpacked_records(parsed: bytes) -> list:
    """:func:`_parse_chunk`'s lines as :func:`_line_records` gives them."""
    records = []
    for number, name, outcome in marshal.loads(parsed):
        if len(outcome) == 2:
            records.append((number, name, MetadataError(*outcome)))
        else:
            path, key, packed, checksums, length = outcome
            entry = ManifestEntry(None if path is None else Path(path), {}, number, key)
            records.append((number, name, (entry, _unpack_product(packed),
                                           [_bare_checksum(a, v, _instant(d)) for a, v, d in checksums], length)))
    return records


#: A packed date (:func:`_micros`): microseconds from the Unix epoch, exact (a product's dates
#: are aware UTC datetimes, checked by the parser process).
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def _micros(value: datetime | None) -> int | None:
    return None if value is None else (value - _EPOCH) // _MICROSECOND


def _instant(micros: int | None) -> datetime | None:
    # (a timedelta times an int: exact, and half the time of ``timedelta(microseconds=...)``,
    # nine dates a product in a bulk ingest)
    return None if micros is None else _EPOCH + _MICROSECOND * micros


#: The Product fields packed as they are (:func:`_pack_product`); the others are converted.
_PACKED_FIELDS = tuple(f.name for f in dataclasses.fields(Product)
                       if f.name not in ("id", "production_type", "visibility", "attributes", "checksums"))
_PRODUCTION_TYPES = {t.value: t for t in ProductionType}
_VISIBILITIES = {v.value: v for v in VisibilityClass}
_PACKED_ATTRIBUTE_TYPES = {t.value: t for t in AttributeType}
#: The positions in :data:`_PACKED_FIELDS` of the Product fields that are dates.
_PACKED_DATES = tuple(i for i, name in enumerate(_PACKED_FIELDS) if name in (
    "origin_date", "publication_date", "modification_date", "eviction_date", "content_start", "content_end"))
_DATE_ATTRIBUTE = AttributeType.DATETIMEOFFSET._value_


def _pack_product(product: Product) -> tuple:
    """``product`` as a tuple of plain values (str, int, float, bool, bytes, None; dates as
    :func:`_micros`), which :mod:`marshal` writes: no enum, UUID, datetime or dataclass
    instances to rebuild through their classes."""
    values = product.__dict__
    fields = [values[name] for name in _PACKED_FIELDS]
    for i in _PACKED_DATES:
        fields[i] = _micros(fields[i])
    # (an enum's ``_value_``, its documented sunder attribute: ``.value`` is a property, slow in bulk)
    return (
        product.id.bytes, product.production_type._value_, product.visibility._value_,
        [(a.name, a.type._value_, _micros(a.value) if a.type is AttributeType.DATETIMEOFFSET else a.value)
         for a in product.attributes],
        [(c.algorithm, c.value, _micros(c.date)) for c in product.checksums],
        *fields,
    )


def _unpack_product(packed: tuple) -> Product:
    """The :class:`Product` :func:`_pack_product` packed, rebuilt without running the
    constructors' checks again (the parser process ran them)."""
    identifier, production_type, visibility, attributes, checksums, *values = packed
    for i in _PACKED_DATES:
        values[i] = _instant(values[i])
    product = object.__new__(Product)
    product.__dict__.update(
        zip(_PACKED_FIELDS, values),
        id=uuid.UUID(bytes=identifier),
        production_type=_PRODUCTION_TYPES[production_type],
        visibility=_VISIBILITIES[visibility],
        attributes=[_bare_attribute(n, _PACKED_ATTRIBUTE_TYPES[k], _instant(v) if k == _DATE_ATTRIBUTE else v)
                    for n, k, v in attributes],
        checksums=[_bare_checksum(a, v, _instant(d)) for a, v, d in checksums],
    )
    return product


# The objects a bulk ingest makes ten of per product, built without ``__init__`` from values
# checked already: the fields set one by one (a third less time than ``__dict__.update``).

def _bare_attribute(name: str, kind: AttributeType, value) -> Attribute:
    attribute = object.__new__(Attribute)
    fields = attribute.__dict__
    fields["name"] = name
    fields["type"] = kind
    fields["value"] = value
    return attribute


#: Product's fields with a default value, and those with a default factory.
_PRODUCT_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Product) if f.default is not dataclasses.MISSING}
_PRODUCT_FACTORIES = tuple((f.name, f.default_factory) for f in dataclasses.fields(Product)
                           if f.default_factory is not dataclasses.MISSING)


def _bare_product(fields: dict) -> Product:
    """``Product(**fields)`` for the fields :func:`product_from_metadata` checked (a Name, dates
    aware UTC, the enums' members, attributes without a duplicate, no checksums): its
    defaults, and the productType column and attribute made to agree as its constructor does,
    without the constructor's checks and conversions of every date (a tenth of a parser
    process's time)."""
    product = object.__new__(Product)
    values = product.__dict__
    values.update(_PRODUCT_DEFAULTS)
    values.update(fields)
    for name, factory in _PRODUCT_FACTORIES:
        if name not in values:
            values[name] = factory()
    product.sync_product_type()
    return product


def _bare_checksum(algorithm: str, value: str, date) -> Checksum:
    checksum = object.__new__(Checksum)
    fields = checksum.__dict__
    fields["algorithm"] = algorithm
    fields["value"] = value
    fields["date"] = date
    return checksum


@dataclass
class _Batch:
    """One batch between its preparation (main thread) and its commit (writer thread)."""

    candidates: list
    lines: int
    report: BulkIngestReport
    names: set  # the candidates' Names and Ids
    ids: set


def _merge(report: BulkIngestReport, batch: _Batch, progress) -> None:
    part = batch.report
    report.ingested += part.ingested
    report.referenced += part.referenced
    report.skipped += part.skipped
    report.notified += part.notified
    report.failed.extend(part.failed)
    if progress is not None:
        progress(batch.lines)


def _fail(report: BulkIngestReport, line: int | None, error) -> None:
    report.failed.append((line, " ".join(str(error).split())))


def _prepare_batch(storage, archive, mission, records, pool, writing=()) -> _Batch:
    """Skip known Names, check the batch's lines, start the copies. ``records``: ``(line, Name,
    outcome)`` per line, the outcome a :class:`MetadataError`, the parsed ``(entry, product,
    checksums, length)``, or a callable returning it (raising the line's MetadataError).
    ``writing``: the batches still being written (not committed: the look-up does not see
    them); a product with a Name or Id of theirs is skipped as named earlier in the manifest."""
    report = BulkIngestReport()
    candidates: list[_Candidate] = []
    names: set[str] = set()
    ids: set = set()
    for batch in writing:
        names.update(batch.names)
        ids.update(batch.ids)
    # The Names the mission already has are looked up before any line is checked: a re-run
    # skips its known lines at the cost of one look-up per batch.
    # (a Name that is not a string is reported by product_from_metadata)
    wanted = {name for _, name, outcome in records if name is not None and outcome is not _KNOWN}
    existing = _names_known(storage, mission, sorted(wanted)) if wanted else set()
    for line, name, outcome in records:
        if outcome is _KNOWN or (name is not None and name in existing):
            report.skipped += 1
            continue
        try:
            if isinstance(outcome, MetadataError):
                raise outcome
            entry, product, checksums, length = outcome() if callable(outcome) else outcome
        except MetadataError as exc:
            _fail(report, line, MetadataError(exc.field, exc.problem))
            continue
        if product.name in names or product.id in ids:
            report.skipped += 1  # named earlier in the manifest
            continue
        names.add(product.name)
        ids.add(product.id)
        candidates.append(_Candidate(entry, product, checksums, length))
    referenced = []
    try:
        for candidate in candidates:
            entry = candidate.entry
            if entry.archive_key is not None:
                candidate.key = entry.archive_key
                referenced.append(candidate)
            else:
                candidate.key = upload_key(candidate.product)
                candidate.future = pool.submit(_copied, archive, candidate)
                candidate.copied = True
        # By-reference checks are mostly one size look-up each: a task per REFERENCE_CHUNK of them
        # (a thread hand-off per product cost more than a local look-up; an S3 archive still gets
        # its requests spread over the workers).
        for start in range(0, len(referenced), REFERENCE_CHUNK):
            chunk = referenced[start:start + REFERENCE_CHUNK]
            future = pool.submit(_referenced_chunk, archive, chunk)
            for index, candidate in enumerate(chunk):
                candidate.future = _ChunkPart(future, index)
    except BaseException:  # an interrupt while the copies start: the caller has no batch to discard yet
        _discard(archive, candidates)
        raise
    return _Batch(candidates, len(records), report, {c.product.name for c in candidates}, {c.product.id for c in candidates})


#: By-reference lines checked per thread-pool task.
REFERENCE_CHUNK = 50


def _referenced_chunk(archive, chunk: list[_Candidate]) -> list:
    """:func:`_referenced` for each candidate: its stored-file facts or the exception it raised."""
    outcomes = []
    for candidate in chunk:
        try:
            outcomes.append(_referenced(archive, candidate))
        except Exception as exc:  # noqa: BLE001 - handed to the candidate's own result()
            outcomes.append(exc)
    return outcomes


@dataclass
class _ChunkPart:
    """One candidate's share of a :func:`_referenced_chunk` task, used like its own future."""

    future: Any
    index: int

    def result(self):
        outcome = self.future.result()[self.index]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def _discard(archive, candidates) -> None:
    """Remove the files this run copied for ``candidates`` that are not committed (never a
    by-reference file), but not those whose commit's outcome is unknown (:func:`_outcome_unknown`)."""
    kept = 0
    for candidate in candidates:
        if candidate.copied and not candidate.committed:
            if candidate.outcome_unknown:
                kept += 1
                continue
            try:
                candidate.future.result()
            except BaseException:  # noqa: BLE001 - a failed copy left nothing to remove
                continue
            archive.delete(candidate.key)
    if kept:
        log.warning("a batch's commit failed and may have taken place: the %d file(s) copied for it are kept", kept)


def _commit_batch(storage, archive, batch: _Batch) -> _Batch:
    """Wait for the batch's copies, check them, store and publish the products (writer thread)."""
    from proseo_odata.archive import ArchiveError
    from proseo_odata.storage import ConflictError, InvalidValueError

    candidates, report = batch.candidates, batch.report
    try:
        ready: list[_Candidate] = []
        for candidate in candidates:
            try:
                stored = candidate.future.result()
                _complete(candidate.product, candidate.key, stored, candidate.checksums, candidate.length, candidate.source)
            except (MetadataError, ArchiveError, OSError) as exc:
                if candidate.copied:
                    archive.delete(candidate.key)  # this upload's own key (nothing there if the copy failed)
                _fail(report, candidate.entry.line, exc if isinstance(exc, MetadataError)
                      else f"{type(exc).__name__}: {exc}")
                continue
            ready.append(candidate)
        try:
            _publish_retrying(storage, archive, ready, report)
        except (ConflictError, InvalidValueError):
            # One product the database refuses fails the batch: write them one by one instead.
            for candidate in ready:
                try:
                    _publish_retrying(storage, archive, [candidate], report)
                except (ConflictError, InvalidValueError) as exc:
                    if candidate.copied:
                        archive.delete(candidate.key)
                    _fail(report, candidate.entry.line, exc)
    except BaseException:
        _discard(archive, candidates)
        raise
    return batch


def _publish_retrying(storage, archive, candidates: list[_Candidate], report: BulkIngestReport) -> None:
    """:func:`_publish`, again while it fails with a transient error before its commit (:func:`_retrying`)."""
    if candidates:
        _retrying(lambda: _publish(storage, archive, candidates, report),
                  f"ingest of the batch from line {candidates[0].entry.line}",
                  lambda: any(candidate.outcome_unknown for candidate in candidates))


def _publish(storage, archive, candidates: list[_Candidate], report: BulkIngestReport) -> None:
    """Store ``candidates``' products and notify subscriptions in one transaction; remove the
    copied files of products the database skipped (their Name or Id was taken meanwhile)."""
    if not candidates:
        return
    committing = False
    try:
        with storage.transaction() as tx:
            stored = tx.add_products([c.product for c in candidates])
            view = _BatchSubscriptions(tx)
            now = utcnow()
            for product in stored:
                on_product_published(view, product, now=now)
            notified = view.flush()
            committing = True
    except BaseException as exc:
        if _outcome_unknown(committing, exc):
            for candidate in candidates:
                candidate.outcome_unknown = True
        raise
    stored_objects = {id(p) for p in stored}  # the objects, not their Ids: two lines may give one Id
    report.notified += notified
    for candidate in candidates:
        if id(candidate.product) in stored_objects:
            candidate.committed = True
            report.ingested += 1
            report.referenced += 0 if candidate.copied else 1
        else:
            report.skipped += 1
            if candidate.copied:
                archive.delete(candidate.key)
