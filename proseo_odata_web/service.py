"""The two documents every OData service root serves (contract section 1): the service
document (``GET {root}/``, JSON) and ``GET {root}/$metadata`` (CSDL generated from the core's
entity model, :mod:`proseo_odata.odata.csdl`). PRIP and ODIP build their views here from their
own model, and mount their route tables with :func:`add_routes`.

``$metadata`` is CSDL XML unless the client asks for JSON: ``$format=json`` (or
``application/json``, with or without the ``$``), or, without ``$format``, an ``Accept`` header
that prefers ``application/json`` to ``application/xml``. ``$format=xml`` asks for XML; any other
``$format`` answers 400.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping, Sequence

from cornice import Service
from pyramid.tweens import EXCVIEW

from proseo_odata.errors import InvalidInput, PreconditionFailed
from proseo_odata.model import times
from proseo_odata.odata.csdl import render_csdl, render_csdl_json
from proseo_odata.odata.errors import ODataQueryOptionError

from .auth import authenticate
from .odata_json import context_url, json_response
from .query import check_format, format_option

#: ``$metadata`` representations: name -> (renderer, content type).
_METADATA_FORMATS = {
    "xml": (render_csdl, "application/xml"),
    "json": (render_csdl_json, "application/json"),
}
_FORMAT_NAMES = {"xml": "xml", "application/xml": "xml", "json": "json", "application/json": "json"}


#: A route table: ``(path suffix, route name suffix, {method: view})`` rows; HEAD follows GET
#: (Cornice adds it).
Routes = Sequence[tuple[str, str, Mapping[str, Callable]]]


def add_mount(config, prefix: str, service: str) -> None:
    """Record ``prefix`` as a root of ``service`` (``'prip'``, ``'odip'``) besides its configured
    one (:attr:`WebSettings.mounts <proseo_odata_web.settings.WebSettings.mounts>`): context URLs,
    entity ids, the ``Warning`` agent and the ``308`` of a path with a slash too many are then
    that mount's for its paths."""
    web = config.registry.proseo
    if config.route_prefix:  # routes added under Configurator.route_prefix_context("api")
        prefix = "/" + config.route_prefix.strip("/") + "/" + prefix.lstrip("/")
    root = prefix.rstrip("/")
    # Not the configured root (nor one recorded); and not "/": every path, a host application's
    # too, would be the service's (its slashes redirected)
    if root and web.mount_of_path(root) != (root, service):
        config.registry.proseo = dataclasses.replace(web, mounts=(*web.mounts, (root, service)))


def add_routes(config, routes: Routes, prefix: str, name: str, label: str) -> None:
    """Register ``routes`` under ``prefix`` as Cornice services named ``<name>.<route>`` (described
    as ``<label> <route>``); the empty suffix is skipped under an empty prefix (``/`` has it)."""
    prefix = prefix.rstrip("/")
    for suffix, route, views in routes:
        if suffix == "" and prefix == "":
            continue
        service = Service(name=f"{name}.{route}", path=(prefix + suffix) or "/", description=f"{label} {route}")
        for method, view in views.items():
            service.add_view(method, view)
        config.add_cornice_service(service)


@functools.lru_cache(maxsize=16)
def _csdl(model, include_aliases: bool, fmt: str = "xml", datetime_precision: int = 3) -> bytes:
    render, _content_type = _METADATA_FORMATS[fmt]
    return render(model, include_aliases=include_aliases, datetime_precision=datetime_precision)


def metadata_format(request) -> str:
    """``'xml'`` or ``'json'``: the ``$metadata`` representation the request asks for."""
    value = format_option(request)
    if value is not None:
        fmt = _FORMAT_NAMES.get(value.split(";", 1)[0].strip().lower())
        if fmt is None:
            raise ODataQueryOptionError(
                f"$format {value!r} is not supported for $metadata; use xml or json", target="$format")
        return fmt
    xml, json_ = (_accept_quality(request, offer) for offer in ("application/xml", "application/json"))
    return "json" if json_ > xml else "xml"


def _accept_quality(request, offer: str) -> float:
    """The quality the request's ``Accept`` gives the media type ``offer``: that of its most
    specific range (``type/subtype``, ``type/*``, ``*/*``). A range's ``charset`` does not
    matter; a range with another parameter does not ask for the document: OData 4.0 clients
    send ``application/json;odata.metadata=minimal`` on every request, ``$metadata`` included,
    and read only CSDL XML (CSDL JSON is 4.01's). 1 without a readable header, 0 when no range
    matches."""
    parsed = getattr(request.accept, "parsed", None)
    if not parsed:
        return 1.0
    kind, subtype = offer.split("/")
    best, quality = -1, 0.0
    for media_range, q, params, _extensions in parsed:
        if any(name.lower() != "charset" for name, _value in params):
            continue
        range_kind, _, range_subtype = media_range.split(";", 1)[0].strip().lower().partition("/")
        if (range_kind, range_subtype) == (kind, subtype):
            rank = 2
        elif (range_kind, range_subtype) == (kind, "*"):
            rank = 1
        elif (range_kind, range_subtype) == ("*", "*"):
            rank = 0
        else:
            continue
        if rank > best:
            best, quality = rank, q
    return quality


def _check_access(request) -> None:
    # Readable without credentials unless proseo.anonymous_metadata is off.
    if not request.registry.proseo.anonymous_metadata:
        authenticate(request)


def service_document_view(model):
    """A view answering the service document of ``model``'s entity sets."""

    def service_document(request):
        _check_access(request)
        check_format(request)
        value = [{"name": s.name, "kind": "EntitySet", "url": s.name} for s in model.entity_sets
                 if s.in_service_document]
        return json_response({"@odata.context": context_url(request), "value": value})

    return service_document


def metadata_view(model):
    """A view answering ``$metadata`` of ``model`` (with the seed aliases when they are on), as
    CSDL XML or CSDL JSON (:func:`metadata_format`)."""

    def metadata(request):
        _check_access(request)
        fmt = metadata_format(request)
        response = request.response
        response.body = _csdl(model, request.registry.proseo.seed_aliases, fmt, times.fraction_digits())
        response.content_type = _METADATA_FORMATS[fmt][1]
        response.charset = None  # UTF-8 is both formats' own (OData 4.01 Part 1, 8.2.1: no charset unless asked)
        response.headers["OData-Version"] = "4.0"
        response.headers["Vary"] = "Accept"  # XML or JSON by Accept
        return response

    return metadata


#: The OData versions this service speaks (``OData-Version`` of its answers is ``4.0``).
_VERSIONS = ("4.0", "4.01")


def _version(text: str):
    """``(major, minor)`` of an ``OData-Version``/``OData-MaxVersion`` value, None for other text."""
    major, dot, minor = text.strip().partition(".")
    if not major.isdigit() or (dot and not minor.isdigit()) or len(text) > 10:
        return None
    return int(major), int(minor or 0)


def check_odata_headers(event) -> None:
    """``NewRequest``: the OData request headers the service cannot honour fail the request
    instead of being ignored (OData 4.01 Part 1): an ``OData-MaxVersion`` below 4.0 or not a
    version (8.2.7: the answer is 4.0), an ``OData-Version`` of a payload other than 4.0 or 4.01
    (8.1.5), both 400; ``Isolation``/``OData-Isolation: snapshot`` (8.2.6: "MUST NOT process the
    request"; pages are read without a snapshot), 412."""
    headers = event.request.headers
    maximum = headers.get("OData-MaxVersion")
    if maximum is not None:
        version = _version(maximum)
        if version is None or version < (4, 0):
            raise InvalidInput("OData-MaxVersion must be 4.0 or later: this service answers OData 4.0",
                               target="OData-MaxVersion")
    given = headers.get("OData-Version")
    if given is not None and given.strip() not in _VERSIONS:
        raise InvalidInput("OData-Version must be 4.0 or 4.01", target="OData-Version")
    for name in ("Isolation", "OData-Isolation"):
        if headers.get(name) is not None:
            raise PreconditionFailed(f"{name}: this service does not read requests in a snapshot", target=name)


def check_action_preconditions(request) -> None:
    """An action on an entity (a subscription's Pause, an order's Cancel) with a precondition it
    cannot meet is not carried out: 412 (OData 4.01 Part 1, 8.2.4 and 8.2.5; RFC 9110 13.1). These
    entities have no ETag, so an ``If-Match`` other than ``*`` never matches, and
    ``If-None-Match: *`` fails on an entity that exists (the action's entity was found). They were
    ignored: the action changed the entity all the same."""
    if_match = request.headers.get("If-Match")
    if if_match is not None and if_match.strip() != "*":
        raise PreconditionFailed("If-Match: this entity has no ETag, so no entity tag matches", target="If-Match")
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None and if_none_match.strip() == "*":
        raise PreconditionFailed("If-None-Match: *: the entity exists", target="If-None-Match")


def includeme(config) -> None:
    config.add_subscriber(check_odata_headers, "pyramid.events.NewRequest")
    # the views' JSON answers in the format parameters the request asks for (odata.metadata,
    # IEEE754Compatible); no other response (odata_json.ODataJSONResponse)
    config.add_tween("proseo_odata_web.json_format.json_format_tween_factory", over=EXCVIEW)
