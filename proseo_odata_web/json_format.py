"""The JSON format parameters a client asks for (OData JSON Format 4.01, 3.1 and 3.2).

Every view writes its answer with minimal metadata (:func:`proseo_odata_web.odata_json.json_response`:
``Content-Type: application/json;odata.metadata=minimal``), the one a client gets unless it asks
otherwise. A client asks in ``$format`` (``application/json;odata.metadata=full``), which
overrides the ``Accept`` header, or in the ``application/json`` range of ``Accept`` that it
prefers (the highest ``q``). Names and values are case-insensitive, the ``odata.`` prefix optional
(:func:`proseo_odata.odata.options.json_format_parameters`). For another wish, the answer is
rewritten here, after the view (:func:`rewrite_response`, in a tween), from
the service's model (:mod:`proseo_odata.odata.edm`) and the answer's ``@odata.context``:

``odata.metadata=full`` (a service MUST support it: JSON Format 4.01, 23, item 14)
    each entity gets its ``@odata.type``, its ``@odata.id`` (its canonical URL, relative to the
    service root as the context URL is), a ``<navigation>@odata.navigationLink`` for each
    navigation property (before the property when it is expanded, after the others otherwise),
    and a product its ``@odata.mediaReadLink`` (``Products(<Id>)/$value``). A product answered by
    ODIP (an order's ``Product``) has its PRIP URL as its id; an attribute, which is in no entity
    set, its URL under the product's (``Products(<Id>)/Attributes('<Name>')``).
``odata.metadata=none``
    the control information but ``@odata.nextLink`` and ``@odata.count`` is left out
    (``@odata.context``, ``@odata.type``, ``@odata.mediaContentType``).
``IEEE754Compatible=true``
    ``Edm.Int64`` and ``Edm.Decimal`` values are strings, ``@odata.count`` included
    (``ContentLength``, an integer attribute's ``Value``, ``OrderOutputSize``).

The answer's ``Content-Type`` names what it is (``application/json;odata.metadata=full;IEEE754Compatible=true``).
Errors, ``$metadata``, ``$count``, downloads and the token endpoint's answers are not OData JSON
payloads of this kind and are left as they are. A ``$format`` with a value these parameters
cannot have is a 400 of the view's option reading; in ``Accept`` such a value is ignored (minimal).
"""
from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Optional

from proseo_odata.odata import edm
from proseo_odata.odata.errors import ODataQueryOptionError
from proseo_odata.odata.options import json_format_parameters, media_parameters

from .keys import name_key
from .odata_json import CONTENT_TYPE
from .query import decoded_query_pairs

__all__ = ["JSONFormat", "MINIMAL", "requested_format", "rewrite", "rewrite_response", "json_format_tween_factory"]


@dataclass(frozen=True)
class JSONFormat:
    """What a request asks of a JSON answer: the ``odata.metadata`` level and ``IEEE754Compatible``."""

    metadata: str = "minimal"
    ieee754: bool = False

    @property
    def content_type(self) -> str:
        text = f"application/json;odata.metadata={self.metadata}"
        return text + ";IEEE754Compatible=true" if self.ieee754 else text


MINIMAL = JSONFormat()

#: What an ``Accept`` header holds when it asks anything but :data:`MINIMAL` (the raw text is
#: tested first: a request asking nothing pays only this and a look for ``format`` in its query).
_MAY_ASK = re.compile(r"metadata|ieee754", re.IGNORECASE)


def requested_format(request) -> JSONFormat:
    """The :class:`JSONFormat` the request asks for: its ``$format`` (or ``format``) if it has
    one, else its most preferred ``application/json`` range of ``Accept``; a value that cannot
    be read counts as not given."""
    asks_format = "format" in request.environ.get("QUERY_STRING", "").lower()
    if not asks_format and not _MAY_ASK.search(request.headers.get("Accept", "")):
        return MINIMAL
    if asks_format:
        try:
            pairs = decoded_query_pairs(request)
        except ODataQueryOptionError:
            return MINIMAL
        for name, value in pairs:
            if name.lower() in ("$format", "format"):
                return _format_of(media_parameters(value.partition(";")[2]))
    best, chosen = 0.0, None
    for media_range, q, params, _extensions in getattr(request.accept, "parsed", None) or ():
        if media_range.split(";", 1)[0].strip().lower() == "application/json" and q > best:
            best, chosen = q, params
    return MINIMAL if chosen is None else _format_of(chosen)


def _format_of(parameters) -> JSONFormat:
    try:
        metadata, ieee754 = json_format_parameters(parameters)
    except ValueError:
        return MINIMAL
    return JSONFormat(metadata, ieee754)


# -- the model -------------------------------------------------------------------------------

_MODELS = {"prip": edm.PRIP_MODEL, "odip": edm.ODIP_MODEL}
#: The services' entity sets by name; each type's canonical set (the first that holds it).
_SETS = {entity_set.name: entity_set for model in _MODELS.values() for entity_set in model.entity_sets}
_HOME: dict[str, tuple[str, str]] = {}
for _service, _model in _MODELS.items():
    for _set in _model.entity_sets:
        if _set.capabilities.readable_by_key:
            _HOME.setdefault(_set.entity_type.qualified_name, (_service, _set.name))
#: Every named structured type of the two models by qualified name.
_TYPES = {t.qualified_name: t for model in _MODELS.values() for t in model.types
          if isinstance(t, edm.StructuredType)}
#: ``<set or type>[(<select list or key>)][/$entity | /<navigation>[/$entity]]``: a context URL's fragment.
_CONTEXT = re.compile(r"(?P<head>[A-Za-z_][\w.]*)(?:\((?P<args>[^)]*)\))?(?:/(?P<tail>[$\w]+))?(?P<one>/\$entity)?\Z")
_NUMBERS_AS_TEXT = (edm.INT64, edm.DECIMAL)
#: The control information ``odata.metadata=none`` keeps (JSON Format 4.01, 3.1.3).
_KEPT_BY_NONE = ("@odata.nextLink", "@odata.count")


def _target(navigation: edm.NavigationProperty) -> Optional[edm.EntityType]:
    target = navigation.target
    return target if isinstance(target, edm.EntityType) else _TYPES.get(target)


def _payload(fragment: str) -> tuple[Optional[edm.StructuredType], bool, Optional[str]]:
    """``(type, collection, path)`` of the payload a context URL fragment describes; ``path``:
    the URL of a navigation's entities (``Products(<Id>)/Attributes``) when the context names
    one, which their ids start with. ``(None, True, None)`` for the service document's (no
    fragment) and a fragment not read here."""
    match = _CONTEXT.match(fragment)
    if match is None:
        return None, True, None
    head, tail = match["head"], match["tail"]
    entity_set = _SETS.get(head)
    if entity_set is None:  # a type: one entity outside any entity set of the service
        return _TYPES.get(head), False, None
    if tail is None:
        return entity_set.entity_type, True, None
    if tail == "$entity":
        return entity_set.entity_type, False, None
    for navigation in entity_set.entity_type.all_navigation():
        if navigation.name == tail:
            return _target(navigation), navigation.collection and not match["one"], f"{head}({match['args']})/{tail}"
    return None, True, None


# -- rewriting -------------------------------------------------------------------------------


class _Writer:
    """Writes one payload in ``fmt``; ``roots``: the services' roots, ``service``: the one answering."""

    def __init__(self, fmt: JSONFormat, roots: dict[str, str], service: str):
        self.full = fmt.metadata == "full"
        self.none = fmt.metadata == "none"
        self.ieee754 = fmt.ieee754
        self.roots = roots
        self.service = service

    def entity_id(self, type_: edm.StructuredType, body: dict, reached_by: Optional[str]) -> Optional[str]:
        """The canonical URL of an entity, relative to the answering service's root: in its
        entity set (``Products(<Id>)``), else along ``reached_by``, the URL of the navigation it
        was read through (an attribute: ``Products(<Id>)/Attributes('<Name>')``); None without
        either, or without its key."""
        keys, base = (), type_
        while base is not None and not keys:  # a derived type has its base's key
            keys, base = getattr(base, "key", ()), base.base
        if len(keys) != 1 or not isinstance(body.get(keys[0]), str):
            return None
        key = body[keys[0]]
        if type_.find_member(keys[0]).type is not edm.GUID:  # a string key: quoted; a GUID: bare
            key = name_key(key)
        home = _HOME.get(type_.qualified_name)
        if home is None:
            return None if reached_by is None else f"{reached_by}({key})"
        service, set_name = home
        path = f"{set_name}({key})"
        if service == self.service:
            return path
        return posixpath.relpath(f"{self.roots[service].rstrip('/')}/{path}", self.roots[self.service].rstrip("/") or "/")

    def structured(self, body: Any, type_: Optional[edm.StructuredType], entity: bool,
                   reached_by: Optional[str] = None) -> Any:
        if not isinstance(body, dict) or type_ is None:
            return self.control(body) if isinstance(body, dict) else body
        derived = body.get("@odata.type")
        if isinstance(derived, str):
            type_ = _TYPES.get(derived.lstrip("#"), type_)
        out: dict[str, Any] = {}
        if "@odata.context" in body and not self.none:
            out["@odata.context"] = body["@odata.context"]
        identity = None
        if entity and self.full:
            out["@odata.type"] = "#" + type_.qualified_name
            identity = self.entity_id(type_, body, reached_by)
            if identity is not None:
                out["@odata.id"] = identity
                if getattr(type_, "has_stream", False):
                    out["@odata.mediaReadLink"] = identity + "/$value"
        navigations = {n.name: n for n in type_.all_navigation()} if entity else {}
        for name, value in body.items():
            if "@" in name:
                if name == "@odata.context" or (self.full and entity and name == "@odata.type"):
                    continue
                if not (self.none and "@odata." in name and name not in _KEPT_BY_NONE):
                    out[name] = self.number(value) if name == "@odata.count" else value
                continue
            navigation = navigations.get(name)
            if navigation is not None:
                if identity is not None:
                    out[f"{name}@odata.navigationLink"] = f"{identity}/{name}"
                target, path = _target(navigation), None if identity is None else f"{identity}/{name}"
                out[name] = ([self.structured(item, target, True, path) for item in value] if isinstance(value, list)
                             else self.structured(value, target, True, path))
                continue
            member = type_.find_member(name)
            out[name] = self.value(value, member.type) if isinstance(member, edm.Property) else value
        if identity is not None:
            for name in navigations:
                if name not in body:
                    out[f"{name}@odata.navigationLink"] = f"{identity}/{name}"
        return out

    def value(self, value: Any, type_) -> Any:
        if isinstance(value, list):
            return [self.value(item, type_) for item in value]
        if isinstance(type_, edm.StructuredType):
            return self.structured(value, type_, False)
        if self.ieee754 and type_ in _NUMBERS_AS_TEXT:
            return self.number(value)
        return value

    def number(self, value: Any) -> Any:
        if self.ieee754 and isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value

    def control(self, body: dict) -> dict:
        """An object of no known type (the service document's): its control information."""
        return {name: self.number(value) if name == "@odata.count" else value for name, value in body.items()
                if not (self.none and "@odata." in name and name not in _KEPT_BY_NONE)}

    def payload(self, body: dict) -> dict:
        type_, collection, path = _payload(body["@odata.context"].partition("#")[2])
        if not collection:
            return self.structured(body, type_, True, path)
        out = self.control({name: value for name, value in body.items() if name != "value"})
        if isinstance(body.get("value"), list):
            out["value"] = [self.structured(item, type_, True, path) for item in body["value"]]
        # the next link after the page, where the view writes it
        if "@odata.nextLink" in out:
            out["@odata.nextLink"] = out.pop("@odata.nextLink")
        return out


def rewrite(body: Any, fmt: JSONFormat, roots: dict[str, str], service: str) -> Any:
    """``body`` (a minimal-metadata payload with its ``@odata.context``) written in ``fmt``;
    ``roots``: ``{"prip": <root path>, "odip": <root path>}``, ``service``: the answering one."""
    if fmt == MINIMAL or not isinstance(body, dict) or not isinstance(body.get("@odata.context"), str):
        return body
    return _Writer(fmt, roots, service).payload(body)


def rewrite_response(request, response) -> None:
    """An OData JSON answer (``Content-Type`` as the views write it) written in the format the
    request asks for (:func:`requested_format`), its ``Content-Type`` saying so."""
    if response.headers.get("Content-Type") != CONTENT_TYPE:
        return
    fmt = requested_format(request)
    if fmt == MINIMAL:
        return
    web = request.registry.proseo
    body = json.loads(response.body) if response.body else None
    if isinstance(body, dict) and isinstance(body.get("@odata.context"), str):
        roots = {"prip": web.prip_prefix, "odip": web.odip_prefix}
        body = rewrite(body, fmt, roots, web.service_of_path(request.path_info))
        response.body = json.dumps(body, ensure_ascii=False).encode("utf-8")
    response.headers["Content-Type"] = fmt.content_type


def json_format_tween_factory(handler, registry):
    """Every answer passes :func:`rewrite_response` (a tween: a few microseconds for a request
    that asks nothing, less than an event subscriber's look-up)."""

    def json_format_tween(request):
        response = handler(request)
        rewrite_response(request, response)
        return response

    return json_format_tween
