"""Individual properties of an entity and their raw values (OData 4.01 Part 1, 11.2.4.1
"Requesting Individual Properties" and 11.2.4.1.1 "Requesting a Property's Raw Value using
``$value``"), for every entity set read by key:

=========================================  ====================================================
path                                       answer
=========================================  ====================================================
``{Set}({key})/{Property}``                the value in OData JSON: ``{"@odata.context":
                                           "$metadata#Products(<Id>)/Name", "value": ...}``; a
                                           complex value's members instead of ``value``
                                           (``ContentDate``: ``Start``, ``End``); ``204`` when
                                           the value is null
``{Set}({key})/{Property}/$value``         a primitive value as ``text/plain``: a string as it
                                           is (``charset=utf-8``), a number, ``true``/``false``,
                                           a date as in JSON, a geography as WKT with its SRID;
                                           ``204`` when null; ``400`` for a complex or
                                           collection property
``{Set}({key})/{Property}/$count``         a collection property's number of values
                                           (``Checksum/$count``) as ``text/plain``
=========================================  ====================================================

``{Property}`` is a property path (Part 2, 4.6 "Addressing a Property"): a property of the entity
type, or a member of a single-valued complex property, at any depth (``ContentDate/Start``,
``InputProductReference/ContentDate/End``); a member of a null complex value is null (``204``).

The property is one the entity type declares (the route matches no other name: an unknown one
answers 404 as any unknown path); the entity is the one its own route answers, loaded and
authorised by the same code (a product the user may not read is absent here too), and the value
is that answer's, so both always agree (a notification password is the mask). Every query
option but ``$format`` is refused (:func:`proseo_odata.query.value_options`), and a raw value
is ``text/plain`` whatever ``$format`` says; ``/$count`` checks the options that do not change
a count, as ``Products/$count`` does, and ignores them
(:func:`proseo_odata.query.property_count_options`). Full metadata and ``IEEE754Compatible`` are written by
:mod:`proseo_odata_web.json_format`.
"""
from __future__ import annotations

import json
import re
from typing import Any, Callable, Optional

from pyramid.response import Response

from proseo_odata.errors import NotFound
from proseo_odata.odata import edm, geo
from proseo_odata.odata.errors import ODataNotSupportedError
from proseo_odata.query import property_count_options, value_options

from .odata_json import context_url, json_response, text_response
from .query import decoded_query_pairs
from .service import Routes

#: ``load(request) -> (key, entity)``: the entity the request's ``{key}`` names, authorised and
#: loaded as its own route does, as ``(its key as written in its URL, its JSON object)``.
Loader = Callable[[Any], tuple[str, dict]]


def _paths(structured: edm.StructuredType, prefix: tuple = ()) -> dict[str, tuple[edm.Property, ...]]:
    """Every property path of ``structured`` (``"ContentDate/Start"``) and its properties from
    the first: each property, and through a single-valued complex one each of its members."""
    paths = {}
    for prop in structured.all_properties():
        path = (*prefix, prop)
        paths["/".join(p.name for p in path)] = path
        if isinstance(prop.type, edm.ComplexType) and not prop.collection:
            paths.update(_paths(prop.type, path))
    return paths


def _alternation(paths) -> str:
    """A route pattern's alternation of the property paths (the longest first)."""
    return "|".join(re.escape(path) for path in sorted(paths, key=len, reverse=True))


def property_routes(entity_set: str, entity_type: edm.EntityType, load: Loader, route: str,
                    canonical: Optional[str] = None) -> Routes:
    """The routes of ``entity_set``'s individual properties (a route table for
    :func:`proseo_odata_web.service.add_routes`, named ``<route>.property``,
    ``<route>.property_value`` and ``<route>.property_count``); ``canonical``: the entity set
    the context URL names when the entity's own answer names another one than ``entity_set``
    (``ProductionOrder(<id>)`` answers as ``ProductionOrders``)."""
    paths = _paths(entity_type)
    collections = [path for path, props in paths.items() if props[-1].collection]
    pattern = f"/{entity_set}({{key}})/{{property:{_alternation(paths)}}}"

    def read(request, count: bool = False) -> tuple[str, edm.Property, Any]:
        path = request.matchdict["property"]
        key, entity = load(request)
        where = f"{canonical or entity_set}({key})/{path}"
        if count:
            property_count_options(decoded_query_pairs(request), paths[path][-1].type, where + "/$count",
                                   seed_aliases=request.registry.proseo.seed_aliases)
        else:
            value_options(decoded_query_pairs(request), where, "a property's value")
        value = entity
        for prop in paths[path]:
            if prop.name not in value:  # declared but not served (an alias of the seed documents, switched off)
                raise NotFound(f"{entity_set}({key}) has no property {path}")
            value = value[prop.name]
            if value is None:  # a member of a null complex value is null
                break
        return where, paths[path][-1], value

    def property_view(request):
        where, prop, value = read(request)
        if value is None:
            return no_content()
        context = context_url(request, where)
        if isinstance(prop.type, edm.ComplexType) and not prop.collection:
            return json_response({"@odata.context": context, **value})
        return json_response({"@odata.context": context, "value": value})

    def raw_value_view(request):
        where, prop, value = read(request)
        if prop.collection or isinstance(prop.type, edm.ComplexType):
            raise ODataNotSupportedError(f"{where} is not a primitive property: it has no raw value ($value)",
                                         target="$value")
        if value is None:
            return no_content()
        return raw_response(value, prop.type)

    def count_view(request):
        """``/$count`` of a collection property (Part 1, 11.2.10): ``$filter`` and ``$search``
        refused (nothing narrows it here), the options that do not change a count ignored."""
        _where, _prop, value = read(request, count=True)
        return text_response(str(len(value or ())))

    property_view.__name__ = f"{route}_property"
    raw_value_view.__name__ = f"{route}_property_value"
    count_view.__name__ = f"{route}_property_count"
    routes = [(pattern, f"{route}.property", {"GET": property_view}),
              (pattern + "/$value", f"{route}.property_value", {"GET": raw_value_view})]
    if collections:
        routes.append((f"/{entity_set}({{key}})/{{property:{_alternation(collections)}}}/$count",
                       f"{route}.property_count", {"GET": count_view}))
    return tuple(routes)


def no_content() -> Response:
    """``204 No Content``: a null value (Part 1, 11.2.4.1)."""
    response = Response(status=204)
    response.headers["OData-Version"] = "4.0"
    return response


def raw_text(value: Any, type_) -> str:
    """A primitive value's raw text (Part 1, 11.2.4.1.1): its JSON value's text, a string's
    without quotes, a geography's WKT with its SRID as OData's ABNF writes it
    (``fullPolygonLiteral``: ``SRID=4326;POLYGON((...))``, the text of the ``Footprint``
    literal)."""
    if isinstance(value, str):
        return value
    if getattr(type_, "kind", None) == "geo":
        return f"SRID={geo.DEFAULT_SRID};{geo.format_wkt(geo.to_geometry(value))}"
    return json.dumps(value)


def raw_response(value: Any, type_) -> Response:
    response = text_response(raw_text(value, type_))
    if isinstance(value, str) and not value.isascii():
        response.charset = "utf-8"
    return response
