"""OData v4 JSON, minimal metadata (contract sections 2 and 3).

Values:

- date-times: UTC, exactly three fraction digits and ``Z`` (``2016-01-17T10:34:51.922Z``), or six
  with ``proseo.datetime.fraction_digits = 6`` (:func:`proseo_odata.model.times.format_datetime`);
- GUIDs in lower-case canonical form;
- ``Footprint``: ``geography'SRID=4326;POLYGON((lon lat,...))'`` with upper-case keywords and
  plain decimals, ``GeoFootprint``: the same shape as GeoJSON.

Responses: :func:`json_response` sets ``Content-Type: application/json;odata.metadata=minimal``
and ``OData-Version: 4.0``.
"""
from __future__ import annotations

import json
import math
import posixpath
import uuid
from datetime import datetime, timezone
from json.encoder import encode_basestring  # json.dumps' string form with ensure_ascii=False
from typing import Any, Iterable, Optional, Sequence

from pyramid.response import Response

from proseo_odata.errors import InvalidInput
from proseo_odata.model import times
from proseo_odata.odata import geo
from proseo_odata.model import Asset, Attribute, AttributeType, Product
from proseo_odata.query import listings_of
from proseo_odata.storage import ProductEntry

CONTENT_TYPE = "application/json;odata.metadata=minimal"

#: Seed-document attribute keys (``Id``/``ContentType``/``ContentLength`` + typed value key).
_SEED_VALUE_KEY = {
    AttributeType.STRING: "StringValue",
    AttributeType.INTEGER: "IntegerValue",
    AttributeType.DATETIMEOFFSET: "DateValue",
    AttributeType.DOUBLE: "DoubleValue",
    AttributeType.BOOLEAN: "BooleanValue",
}


#: ``format_datetime``'s text for each number of fraction digits, of the fields of
#: :func:`_datetime_fields` (``%04d``: every year in four digits, as
#: :func:`proseo_odata.model.times.format_datetime` writes it).
_FORMAT = {3: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", 6: "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ"}
_QUOTED_FORMAT = {digits: f'"{text}"' for digits, text in _FORMAT.items()}


def _datetime_fields(value: datetime, digits: int) -> tuple:
    return (value.year, value.month, value.day, value.hour, value.minute, value.second,
            value.microsecond if digits == 6 else value.microsecond // 1000)


def format_datetime(value: Optional[datetime]) -> Optional[str]:
    """``YYYY-MM-DDThh:mm:ss.fffZ`` (``.ffffffZ`` when so configured); None stays None.

    The text of :func:`proseo_odata.model.times.format_datetime` (fraction truncated, never
    rounded); for the UTC values the storage returns it is written here from the fields (about
    2x faster than ``isoformat``, 4x ``strftime``: eight date-times per product)."""
    if value is None:
        return None
    if value.tzinfo is timezone.utc:
        digits = times.fraction_digits()
        return _FORMAT[digits] % _datetime_fields(value, digits)
    return times.format_datetime(value)


def format_guid(value: uuid.UUID | str) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)  # canonical, lower case
    return str(uuid.UUID(str(value))).lower()


def _attribute_json(attribute: Attribute, seed_aliases: bool) -> dict:
    kind = AttributeType(attribute.type)
    value = attribute.value
    if kind is AttributeType.DATETIMEOFFSET:
        value = format_datetime(value)
    elif kind is AttributeType.DOUBLE and not math.isfinite(value):
        # stored before non-finite Doubles were refused: OData JSON's spelling (JSON has no
        # number for it; bare ``Infinity`` made a whole listing unreadable to strict parsers)
        value = "NaN" if value != value else "INF" if value > 0 else "-INF"
    body = {
        "@odata.type": f"#OData.CSC.{kind.value}Attribute",
        "Name": attribute.name,
        "ValueType": kind.value,
        "Value": value,
    }
    if seed_aliases:
        body["Id"] = attribute.name
        body["ContentType"] = "text/plain"
        body["ContentLength"] = len(str(value).encode("utf-8"))
        body[_SEED_VALUE_KEY[kind]] = value
    return body


def attributes_json(attributes: Iterable[Attribute], seed_aliases: bool = True) -> list[dict]:
    return [_attribute_json(a, seed_aliases) for a in attributes]


def asset_json(asset: Asset) -> dict:
    """An ``OData.CSC.Asset`` (a product's quicklook), as the Copernicus Data Space writes one."""
    return {"Id": format_guid(asset.id), "Type": asset.type, "DownloadLink": asset.download_link,
            "S3Path": asset.s3_path}


# -- products as JSON text ------------------------------------------------------------------------
# A product is written straight to JSON text from its ProductEntry (a page of 100 builds no
# Product and no dict per product; the stored GeoJSON is spliced in as the text it is). The text
# is exactly what ``json.dumps(..., ensure_ascii=False)`` writes for the same object (its
# separators, its string escapes: ``encode_basestring`` is the function it uses), so responses
# built either way are byte for byte the same.


def _text(value: Optional[str]) -> str:
    return "null" if value is None else encode_basestring(value)


def _datetime_text(value: Optional[datetime]) -> str:
    """:func:`format_datetime` as a JSON string (digits, ``-``, ``:``, ``T``, ``.``, ``Z``: no escapes)."""
    if value is None:
        return "null"
    if value.tzinfo is timezone.utc:
        digits = times.fraction_digits()
        return _QUOTED_FORMAT[digits] % _datetime_fields(value, digits)
    return f'"{times.format_datetime(value)}"'


def _checksums_text(checksums) -> str:
    return "[" + ", ".join([
        f'{{"Algorithm": {_text(c.algorithm)}, "Value": {_text(c.value)}, '
        f'"ChecksumDate": {_datetime_text(c.date)}}}'
        for c in checksums
    ]) + "]"


#: member name -> ``"name": `` (the names of entities are few and fixed).
_MEMBER_PREFIX: dict[str, str] = {}


def _member_prefix(name: str) -> str:
    prefix = _MEMBER_PREFIX.get(name)
    if prefix is None:
        prefix = encode_basestring(name) + ": "
        if len(_MEMBER_PREFIX) < 1024:
            _MEMBER_PREFIX[name] = prefix
    return prefix


def members_text(members: dict[str, str]) -> str:
    """``members`` (name -> the JSON text of its value) as the inside of their JSON object."""
    return ", ".join([_member_prefix(name) + text for name, text in members.items()])


def object_text(members: dict[str, str]) -> str:
    """The JSON object of ``members`` (name -> the JSON text of its value), as ``json.dumps``
    writes it."""
    return "{" + members_text(members) + "}"


#: A product's structural members in the order they are written (``PRODUCT_ALIASES`` follow
#: them when seed aliases are on).
PRODUCT_MEMBERS = (
    "@odata.mediaContentType", "Id", "Name", "ContentType", "ContentLength", "OriginDate", "PublicationDate",
    "ModificationDate", "EvictionDate", "Online", "Checksum", "ContentDate", "ProductionType", "Footprint",
    "GeoFootprint", "Collection",
)
#: The seed documents' names (alias -> the member whose value it repeats).
PRODUCT_ALIASES = {"CreationDate": "PublicationDate", "Checksums": "Checksum"}


def product_member_names(*, seed_aliases: bool = True, select: Optional[Iterable[str]] = None) -> tuple[str, ...]:
    """The members a product is written with, in order, before ``$expand``'s: the structural
    ones (and the seed aliases) that ``$select`` keeps (``Id`` always, as OData keys are;
    annotations too). One list for every writer of a product: :func:`product_members` here, the
    database's for a page on PostgreSQL (:meth:`CatalogueStore.query_product_texts`)."""
    names = PRODUCT_MEMBERS + tuple(PRODUCT_ALIASES) if seed_aliases else PRODUCT_MEMBERS
    if select is None:
        return names
    wanted = set(select) | {"Id"}
    return tuple(name for name in names if name.startswith("@") or name in wanted)


def product_selection(select: Optional[Iterable[str]], seed_aliases: bool,
                      expand: Iterable[str] = ()) -> Optional[tuple[str, ...]]:
    """A product answer's ``$select`` as its context URL lists it (:func:`context_url`): without
    the seed aliases when they are off (``$metadata`` does not declare them then, and the answer
    leaves them out), and ``Id`` when nothing else is left; then each expanded navigation with a
    nested ``$select``, followed by what that selects (OData 4.01 Part 1, 10.10:
    ``Products(Name,Attributes(Name,Value))``, ``Products(*,Attributes(Name))`` when the product's
    own properties are all there)."""
    if select is not None and not seed_aliases:
        select = tuple(name for name in select if name not in PRODUCT_ALIASES) or ("Id",)
    nested = [f"{name}({','.join(dict.fromkeys(listing.select))})" for name, listing in listings_of(expand).items()
              if listing.select is not None]
    if not nested:
        return select
    return (*(select or ("*",)), *nested)


def product_members(
    entry: ProductEntry,
    *,
    seed_aliases: bool = True,
    expand: Iterable[str] = (),
    select: Optional[Iterable[str]] = None,
    assets: Sequence[Asset] = (),
) -> dict[str, str]:
    """The product serialiser: one product's entity members (without ``@odata.context``), name
    -> JSON text, for a page (:func:`product_text`) and a single entity (:func:`product_json`).

    ``expand`` may hold ``Attributes`` (``entry.attributes`` must then be loaded) and ``Assets``
    (``assets``: the web layer makes them, they hold its URLs); ``select`` limits the
    structural properties returned (:func:`product_member_names`)."""
    if entry.footprint_literal is not None:  # rendered when the product was written
        footprint = encode_basestring(entry.footprint_literal)
        geo_footprint = "null" if entry.footprint_geojson is None else entry.footprint_geojson
    else:
        literal, geojson = geo.footprint_renderings(entry.footprint)
        footprint = _text(literal)
        geo_footprint = "null" if geojson is None else json.dumps(geojson, ensure_ascii=False)
    values = {
        "@odata.mediaContentType": _text(entry.content_type),
        "Id": f'"{format_guid(entry.id)}"',
        "Name": _text(entry.name),
        "ContentType": _text(entry.content_type),
        "ContentLength": str(int(entry.content_length)),
        "OriginDate": _datetime_text(entry.origin_date),
        "PublicationDate": _datetime_text(entry.publication_date),
        "ModificationDate": _datetime_text(entry.modification_date),
        "EvictionDate": _datetime_text(entry.eviction_date),
        "Online": "true" if entry.online else "false",
        "Checksum": _checksums_text(entry.checksums),
        "ContentDate": (f'{{"Start": {_datetime_text(entry.content_start)}, '
                        f'"End": {_datetime_text(entry.content_end)}}}'),
        "ProductionType": encode_basestring(str(entry.production_type)),
        "Footprint": footprint,
        "GeoFootprint": geo_footprint,
        "Collection": f'{{"Name": {_text(entry.collection)}}}',
    }
    members = {name: values[PRODUCT_ALIASES.get(name, name)]
               for name in product_member_names(seed_aliases=seed_aliases, select=select)}
    return expanded_members(members, expand, entry.attributes, seed_aliases, assets)


def expanded_members(members: dict[str, str], expand: Iterable[str], attributes, seed_aliases: bool,
                     assets: Sequence[Asset] = ()) -> dict[str, str]:
    """``members`` with the navigation properties ``$expand`` asks for: ``Attributes`` (of
    ``attributes``) and ``Assets`` (of ``assets``), each listed by its nested options
    when ``expand`` is a :class:`proseo_odata.query.Expanded` that has them (``$filter``,
    ``$orderby``, ``$top``, ``$skip``, ``$select``; ``$count=true`` writes
    ``Attributes@odata.count`` before the items)."""
    listings = listings_of(expand)
    for name, items in (("Attributes", attributes), ("Assets", assets)):
        if name not in expand:
            continue
        listing = listings.get(name)
        if listing is None:  # every item (a page's usual case)
            members[name] = json.dumps(_items_json(name, items, seed_aliases), ensure_ascii=False)
            continue
        items, count = listing.apply(items)
        if listing.count:
            members[f"{name}@odata.count"] = str(count)
        members[name] = json.dumps(listed_json(name, items, listing.select, seed_aliases), ensure_ascii=False)
    return members


def _items_json(name: str, items, seed_aliases: bool) -> list[dict]:
    return [asset_json(a) for a in items] if name == "Assets" else attributes_json(items, seed_aliases)


def listed_json(name: str, items, select: Optional[Iterable[str]], seed_aliases: bool) -> list[dict]:
    """A product's ``Attributes`` or ``Assets`` (``name``) as JSON objects, each limited to
    ``select`` (its key kept: an attribute's ``Name``, an asset's ``Id``)."""
    if select is None:
        return _items_json(name, items, seed_aliases)
    key = "Id" if name == "Assets" else "Name"
    return [select_properties(body, select, key=key) for body in _items_json(name, items, seed_aliases)]


def product_text(members: str, expand: Iterable[str], attributes, seed_aliases: bool,
                 assets: Sequence[Asset] = ()) -> str:
    """A product's JSON object from the text of its members (:func:`members_text`, or the
    database's: :meth:`CatalogueStore.query_product_texts`) and ``$expand``'s."""
    if not expand:  # a page's usual case, once per product
        return "{" + members + "}"
    expanded = expanded_members({}, expand, attributes, seed_aliases, assets)
    return "{" + (members + ", " + members_text(expanded) if expanded else members) + "}"


def product_json(
    product: Product,
    *,
    seed_aliases: bool = True,
    expand: Iterable[str] = (),
    select: Optional[Iterable[str]] = None,
    assets: Sequence[Asset] = (),
) -> dict:
    """One product as the OData entity object (without ``@odata.context``): the members of
    :func:`product_members` (the one product serialiser) as Python values."""
    members = product_members(ProductEntry.from_product(product), seed_aliases=seed_aliases, expand=expand,
                              select=select, assets=assets)
    return {name: json.loads(text) for name, text in members.items()}


class JSONText(str):
    """JSON text written already (:func:`object_text`), sent by :func:`json_response` as it is."""


def select_properties(body: dict, select: Optional[Iterable[str]], key: str = "Id") -> dict:
    """``body`` limited to ``$select`` (its ``key`` always kept, as OData keys are; annotations too)."""
    if select is None:
        return body
    wanted = set(select) | {key}
    return {k: v for k, v in body.items() if k.startswith("@") or k in wanted}


def entity_body(request, entity_set: str, properties: dict, select: Optional[Iterable[str]] = None) -> dict:
    """The answer of one entity of ``entity_set``: its context (``<entity_set>/$entity``, projected
    by ``select``) and its ``properties`` (those of ``select``)."""
    return {"@odata.context": context_url(request, f"{entity_set}/$entity", select),
            **select_properties(properties, select)}


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json_body(request, *, error: type[InvalidInput] = InvalidInput) -> Any:
    """The request body as strict JSON (RFC 8259), or an ``error`` (an invalid order, an invalid
    subscription, ...) with target ``body``: not JSON, ``NaN``/``Infinity``, a lone surrogate
    escape (``"\\ud800"``, not encodable as UTF-8 for storage), or nesting deeper than the
    decoder's stack. A body sent as anything but ``application/json`` (or a ``+json`` type),
    with any parameters, is refused 415 (``invalid_input.media_type``, OData 4.01 Part 1, 8.1.1):
    a ``text/plain`` or form POST is one a browser sends cross-site without asking, so a page
    elsewhere could create subscriptions or orders with a user's cached Basic credentials."""
    if request.body:
        media = (request.content_type or "").strip().lower()
        if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
            raise InvalidInput("The request body must be sent as Content-Type: application/json",
                               target="Content-Type", kind="invalid_input.media_type")
    try:
        body = json.loads(request.body or b"null", parse_constant=_reject_constant)
        text = json.dumps(body, ensure_ascii=False)
        text.encode("utf-8")  # lone surrogates cannot be stored
    except (ValueError, UnicodeError):
        raise error("The request body is not valid JSON", target="body") from None
    except RecursionError:  # the decoder's stack, not ours: a body of thousands of '['
        raise error("The request body is nested too deeply", target="body") from None
    try:
        where = _nul_path(body) if "\\u0000" in text else None
    except RecursionError:
        where = "body"
    if where is not None:  # PostgreSQL's text cannot hold one, and no field needs it
        where = where or "body"
        raise error(f"{where} holds a NUL character (\\u0000)", target=where)
    return body


def _nul_path(value: Any, path: str = "") -> Optional[str]:
    """The path (``A/B``, ``A[0]/B``) of the first name or string in ``value`` holding a NUL."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for name, item in value.items():
            inner = f"{path}/{name}" if path else name
            if "\x00" in name:
                return inner
            found = _nul_path(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def context_url(request, fragment: str = "", select: Optional[Iterable[str]] = None) -> str:
    """``$metadata#<fragment>`` as a reference relative to the request's URL that resolves to its
    service's ``$metadata`` (OData JSON Format 4.3: normal URL expansion, RFC 3986): the seed
    documents' ``$metadata#Products`` one level below the service root, ``../$metadata#...`` two
    levels below (``Products(<id>)/Attributes``, an action's answer), ``v1/$metadata`` for the
    root without its trailing slash. ``select``: the properties of a projected answer (``$select``,
    not ``*``), each once, listed after the entity set or type as OData 4.01 Part 1 writes them
    (10.7, 10.8 "Projected Entity"): ``Products(Name,Id)``, ``Products(Name,Id)/$entity``."""
    if select:
        name, entity, _ = fragment.partition("/$entity")
        fragment = f"{name}({','.join(dict.fromkeys(select))}){entity}"
    path = request.path_info
    base = path.rsplit("/", 1)[0]
    web = request.registry.proseo
    root, _service = web.mount_of_path(path)  # the service's root that holds the path (a second mount's too)
    reference = "$metadata" if base == root else posixpath.relpath(root + "/$metadata", base or "/")
    if ":" in reference.split("/", 1)[0]:  # a first segment with ':' would read as a URL scheme
        reference = "./" + reference
    return f"{reference}#{fragment}" if fragment else reference


class ODataJSONResponse(Response):
    """An OData JSON answer of a view (:func:`json_response`): minimal metadata, which
    :mod:`proseo_odata_web.json_format` writes in the format parameters a request asks for."""


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response with the OData v4 minimal-metadata headers (``body``: a JSON value, or
    :class:`JSONText` already written); ``Vary: Accept, Prefer``, since ``Accept`` may ask for
    other format parameters (:mod:`proseo_odata_web.json_format`) and ``Prefer`` for another page
    size."""
    text = body if isinstance(body, JSONText) else json.dumps(body, ensure_ascii=False)
    response = ODataJSONResponse(
        status=status,
        body=text.encode("utf-8"),
        charset=None,
    )
    response.headers["Content-Type"] = CONTENT_TYPE
    response.headers["OData-Version"] = "4.0"
    response.headers["Vary"] = "Accept, Prefer"  # Prefer: odata.maxpagesize (proseo_odata_web.query)
    return response


def text_response(text: str) -> Response:
    """``text/plain`` (``$count``) with ``OData-Version: 4.0``; no ``charset`` parameter (OData
    4.01 Part 1, 8.2.1: only when the ``Accept`` header asked for one; the text is ASCII)."""
    response = Response(body=text.encode("utf-8"), content_type="text/plain")
    response.charset = None
    response.headers["OData-Version"] = "4.0"
    return response
