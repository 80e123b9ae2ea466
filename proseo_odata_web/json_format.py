"""The JSON format parameters a client asks for (OData JSON Format 4.01, 3.1 and 3.2).

Every view writes its JSON answer with minimal metadata, through
:func:`proseo_odata_web.odata_json.json_response` (an :class:`~proseo_odata_web.odata_json.ODataJSONResponse`,
``Content-Type: application/json;odata.metadata=minimal``, ``Vary: Accept``): what a client gets
unless it asks otherwise. A client asks in ``$format`` (``application/json;odata.metadata=full``),
which overrides the ``Accept`` header, or in the ``application/json`` range of ``Accept`` that it
prefers (the highest ``q``). Names and values are case-insensitive, the ``odata.`` prefix optional
(:func:`proseo_odata.odata.options.json_format_of`, the one reader of ``$format``). For another
wish, such an answer (and no other response: not a download, an error or a host application's) is
rewritten here, after the view, in a tween (:func:`rewrite_response`), from the services' model
(:mod:`proseo_odata.odata.edm`) and the answer's ``@odata.context``:

``odata.metadata=full`` (a service MUST support it: JSON Format 4.01, 23, item 14)
    each property whose JSON value does not show its type gets a ``<name>@odata.type`` before it
    (``#Int64``, ``#DateTimeOffset``, ``#Guid``, ``#OData.CSC.TimeRange``, ``#GeographyPolygon``);
    each entity gets its ``@odata.type``, its ``@odata.id`` and ``@odata.readLink`` (its canonical
    URL, relative to the service root as the context URL is; every entity here is read-only, so
    a read link and no edit link), a ``<navigation>@odata.navigationLink`` for each navigation
    property (before the property when it is expanded, after the others otherwise), a product
    its ``@odata.mediaReadLink`` (``Products(<Id>)/$value``), and the actions bound to it that
    it can take now, advertised with their ``title`` and ``target`` (JSON Format 4.01, 17: a
    subscription's ``#OData.CSC.Pause``/``Resume``/``Cancel`` by the state machine of
    :data:`proseo_odata.notify.subscriptions.TRANSITIONS`, an order's ``#OData.CSC.Cancel``,
    idempotent, always). A product answered by ODIP (an order's ``Product``) has its PRIP URL as
    its id; an attribute, which is in no entity set, its URL under its product's
    (``Products(<Id>)/Attributes('<Name>')``). An individual property's answer
    (``Products(<Id>)/ContentLength``, ``.../ContentDate/Start``) gets its value's ``@odata.type``
    as such a property would.
``odata.metadata=none``
    the control information but ``@odata.nextLink`` and ``@odata.count`` is left out
    (``@odata.context``, ``@odata.type``, ``@odata.mediaContentType``).
``IEEE754Compatible=true``
    ``Edm.Int64`` and ``Edm.Decimal`` values are strings, ``@odata.count`` included
    (``ContentLength``, an integer attribute's ``Value``, ``OrderOutputSize``).

The answer's ``Content-Type`` names what it is (``application/json;odata.metadata=full;IEEE754Compatible=true``).
A ``$format`` the parameters cannot have is a 400 of the view, which reads it before it acts
(:func:`proseo_odata_web.query.check_format` where no other option is read); in ``Accept`` such a
value is ignored (minimal). An answer whose context URL this module cannot read is left minimal,
and says so, rather than half rewritten. The cost is the answer's JSON read and written again
(0.1-0.2 s of CPU per MB on 2 cores), paid only by a request that asks.
"""
from __future__ import annotations

import functools
import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Optional

from proseo_odata.model.enums import SubscriptionStatus
from proseo_odata.notify.subscriptions import TRANSITIONS, SubscriptionAction
from proseo_odata.odata import edm
from proseo_odata.odata.errors import ODataQueryOptionError
from proseo_odata.odata.options import json_format_of, json_format_parameters

from .keys import name_key
from .odata_json import ODataJSONResponse
from .query import format_option

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

#: What an ``Accept`` header holds when it asks anything but :data:`MINIMAL` (its raw text is
#: tested first: a request asking nothing pays this and a look through its decoded options).
_MAY_ASK = re.compile(r"metadata|ieee754", re.IGNORECASE)


def requested_format(request) -> JSONFormat:
    """The :class:`JSONFormat` the request asks for: its ``$format`` (or ``format``) if it has
    one, else its most preferred ``application/json`` range of ``Accept``; a value that cannot
    be read counts as not given (the view refused it already where it could)."""
    if request.environ.get("QUERY_STRING"):
        try:  # the options are decoded once per request: the view's
            value = format_option(request)
            if value is not None:
                return JSONFormat(*json_format_of(value))
        except ODataQueryOptionError:
            return MINIMAL
    if not _MAY_ASK.search(request.headers.get("Accept", "")):
        return MINIMAL
    best, chosen = 0.0, None
    for media_range, q, params, _extensions in getattr(request.accept, "parsed", None) or ():
        if media_range.split(";", 1)[0].strip().lower() == "application/json" and q > best:
            best, chosen = q, params
    if chosen is None:
        return MINIMAL
    try:
        return JSONFormat(*json_format_parameters(chosen))
    except ValueError:
        return MINIMAL


# -- the model -------------------------------------------------------------------------------

_MODELS = {"prip": edm.PRIP_MODEL, "odip": edm.ODIP_MODEL}
#: The services' entity sets by name, with the service of each.
_SETS = {entity_set.name: (service, entity_set) for service, model in _MODELS.items()
         for entity_set in model.entity_sets}
#: Each entity type's canonical set: the first of the services' sets that is read by key.
_HOME: dict[str, tuple[str, edm.EntitySet]] = {}
for _service, _set in _SETS.values():
    if _set.capabilities.readable_by_key:
        _HOME.setdefault(_set.entity_type.qualified_name, (_service, _set))
#: Every named structured type of the two models by qualified name.
_TYPES = {t.qualified_name: t for model in _MODELS.values() for t in model.types
          if isinstance(t, edm.StructuredType)}
#: The actions bound to one entity of each entity type (advertised in full metadata).
_ACTIONS: dict[str, list[edm.Operation]] = {}
for _model in _MODELS.values():
    for _operation in _model.operations:
        if _operation.kind == "Action" and _operation.binding is not None and not _operation.binding.collection:
            _ACTIONS.setdefault(_operation.binding.type.qualified_name, []).append(_operation)
_NUMBERS_AS_TEXT = (edm.INT64, edm.DECIMAL)
#: The control information ``odata.metadata=none`` keeps (JSON Format 4.01, 3.1.3).
_KEPT_BY_NONE = ("@odata.nextLink", "@odata.count")


def _target(navigation: edm.NavigationProperty) -> Optional[edm.EntityType]:
    target = navigation.target
    return target if isinstance(target, edm.EntityType) else _TYPES.get(target)


@functools.lru_cache(maxsize=None)
def _shape(type_: edm.StructuredType) -> tuple[dict, dict, Optional[tuple[str, bool]]]:
    """``(properties, navigations, key)`` of a structured type, each looked up once: its
    properties and navigation properties by name, its single key property's name and whether
    it is a string (None without a single key; a derived type has its base's)."""
    properties = {p.name: p for p in type_.all_properties()}
    navigations = {n.name: n for n in type_.all_navigation()}
    base, keys = type_, ()
    while base is not None and not keys:
        keys, base = getattr(base, "key", ()), base.base
    key = (keys[0], properties[keys[0]].type is not edm.GUID) if len(keys) == 1 else None
    return properties, navigations, key


def _available(type_: edm.StructuredType, action: edm.Operation, body: dict) -> bool:
    """Whether the entity ``body`` can take ``action`` now (an action it cannot take is not
    advertised: JSON Format 4.01, 17); a subscription whose ``Status`` the answer leaves out
    (``$select``) advertises none."""
    if type_ is edm.SUBSCRIPTION:
        try:
            return (SubscriptionStatus(body["Status"]), SubscriptionAction(action.name)) in TRANSITIONS
        except (KeyError, ValueError):
            return False
    return True  # an order's Cancel: idempotent, answered for an ended order too


#: The primitive types a JSON value shows by itself: a property of one has no ``@odata.type``
#: (JSON Format 4.01, 4.5.3).
_SELF_EVIDENT = (edm.STRING, edm.BOOLEAN, edm.DOUBLE)


@functools.lru_cache(maxsize=None)
def _declared_type(prop: edm.Property) -> Optional[str]:
    """The ``@odata.type`` of a property's value in full metadata (``#Int64``, ``#DateTimeOffset``,
    ``#Collection(OData.CSC.Checksum)``); None for a string, a Boolean or a Double, and for a
    geography (its value's own GeoJSON type names it: :func:`_geography_type`)."""
    type_ = prop.type
    if isinstance(type_, edm.EnumType) and type_.csdl_as_string:
        return None  # declared Edm.String in $metadata
    if isinstance(type_, edm.PrimitiveType):
        if type_ in _SELF_EVIDENT or type_.kind == "geo":
            return None
        name = type_.name[len("Edm."):]
    else:
        name = type_.qualified_name
    return f"#Collection({name})" if prop.collection else f"#{name}"


def _geography_type(value: Any) -> Optional[str]:
    """``#GeographyPolygon`` for a GeoJSON polygon (a type derived from the declared
    ``Edm.Geography``), None for a value that is not GeoJSON."""
    kind = value.get("type") if isinstance(value, dict) else None
    known = ("Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon")
    return f"#Geography{kind}" if kind in known else None


@dataclass(frozen=True)
class _Payload:
    """What a context URL says of its payload: the entities' ``type`` (None: no entities, the
    service document), whether it is a ``collection``, the ``service`` of its entity set (None
    for a type outside any), and ``navigation``: the URL its entities were read through, when
    they are a navigation's (``Products(<Id>)/Attributes``)."""

    type: Optional[edm.StructuredType]
    collection: bool
    service: Optional[str] = None
    navigation: Optional[str] = None
    #: an individual property's value (``Products(<Id>)/Name``: :mod:`proseo_odata_web.properties`)
    property: Optional[edm.Property] = None


def _split_fragment(fragment: str) -> Optional[tuple[str, Optional[str], list[str]]]:
    """``(head, arguments, segments)`` of ``<head>[(<arguments>)][/<segment>...]``; arguments may
    nest parentheses (a projection: ``Products(Name,Attributes())``). None when unbalanced."""
    head, _, rest = fragment.partition("(")
    if "/" in head:
        head, _, tail = fragment.partition("/")
        return head, None, tail.split("/")
    if not rest:
        return head, None, []
    depth = 1
    for index, char in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            tail = rest[index + 1:]
            if tail and not tail.startswith("/"):
                return None
            return head, rest[:index], tail[1:].split("/") if tail else []
    return None


def _property_path(type_: edm.StructuredType, segments: list[str]) -> Optional[edm.Property]:
    """The property a property path (``ContentDate/Start``) ends at, through single-valued
    complex properties; None for any other path."""
    member = None
    for segment in segments:
        if member is not None:
            if not isinstance(member.type, edm.ComplexType) or member.collection:
                return None
            type_ = member.type
        member = _shape(type_)[0].get(segment)
        if member is None:
            return None
    return member


def _payload(fragment: str) -> Optional[_Payload]:
    """The :class:`_Payload` of a context URL's fragment; None for one not read here."""
    if not fragment:
        return _Payload(None, True)  # the service document
    parts = _split_fragment(fragment)
    if parts is None:
        return None
    head, arguments, segments = parts
    if head in _SETS:
        service, entity_set = _SETS[head]
        if segments in ([], ["$entity"]):
            return _Payload(entity_set.entity_type, not segments, service)
        if arguments is not None and len(segments) <= 2 and segments[1:] in ([], ["$entity"]):
            projected = segments[0].partition("(")[0]  # Attributes(Name,Value): projected by $select
            for navigation in entity_set.entity_type.all_navigation():
                if navigation.name == projected:
                    return _Payload(_target(navigation), navigation.collection and len(segments) == 1, service,
                                    f"{head}({arguments})/{navigation.name}")
        if arguments is not None and segments:
            member = _property_path(entity_set.entity_type, segments)
            if member is not None:
                return _Payload(None, False, service, property=member)
        return None
    if head in _TYPES and segments in ([], ["$entity"]):
        return _Payload(_TYPES[head], False)  # one entity outside any entity set of the service
    return None


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
        key_name = _shape(type_)[2]
        if key_name is None or not isinstance(body.get(key_name[0]), str):
            return None
        key = body[key_name[0]]
        if key_name[1]:  # a string key: quoted; a GUID: bare
            key = name_key(key)
        home = _HOME.get(type_.qualified_name)
        if home is None:
            return None if reached_by is None else f"{reached_by}({key})"
        service, entity_set = home
        path = f"{entity_set.name}({key})"
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
                out["@odata.readLink"] = identity  # every entity of the services is read-only
                if getattr(type_, "has_stream", False):
                    out["@odata.mediaReadLink"] = identity + "/$value"
                for action in _ACTIONS.get(type_.qualified_name, ()):
                    if _available(type_, action, body):
                        name = f"{action.namespace}.{action.name}"
                        out["#" + name] = {"title": action.description or action.name,
                                           "target": f"{identity}/{name}"}
        properties, navigations, _ = _shape(type_)
        if not entity:
            navigations = {}
        for name, value in body.items():
            if "@" in name:
                if name == "@odata.context" or (self.full and entity and name == "@odata.type"):
                    continue
                counted = name.endswith("@odata.count")  # a collection's or a navigation's (Attributes@odata.count)
                if not (self.none and "@odata." in name and name not in _KEPT_BY_NONE and not counted):
                    out[name] = self.number(value) if counted else value
                continue
            navigation = navigations.get(name)
            if navigation is not None:
                if identity is not None:
                    out[f"{name}@odata.navigationLink"] = f"{identity}/{name}"
                target, path = _target(navigation), None if identity is None else f"{identity}/{name}"
                out[name] = ([self.structured(item, target, True, path) for item in value] if isinstance(value, list)
                             else self.structured(value, target, True, path))
                continue
            member = properties.get(name)
            if member is None:
                out[name] = value
                continue
            if self.full and value is not None:
                declared = _declared_type(member) or (_geography_type(value) if member.type.kind == "geo" else None)
                if declared is not None:
                    out[f"{name}@odata.type"] = declared
            out[name] = self.value(value, member.type)
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

    def property_value(self, body: dict, member: edm.Property) -> dict:
        """An individual property's answer: its control information, in full metadata the
        value's ``@odata.type`` as a property of that type would have it, and its value (a
        complex value's members in the object itself, JSON Format 4.01, 11)."""
        complex_single = isinstance(member.type, edm.StructuredType) and not member.collection
        value = {k: v for k, v in body.items() if "@" not in k} if complex_single else body.get("value")
        out = self.control({name: v for name, v in body.items() if "@" in name})
        if self.full and value is not None:
            declared = _declared_type(member) or (_geography_type(value) if member.type.kind == "geo" else None)
            if declared is not None:
                out["@odata.type"] = declared
        if complex_single:
            out.update(self.value(value, member.type))
        else:
            out["value"] = self.value(value, member.type)
        return out

    def payload(self, body: dict, payload: _Payload) -> dict:
        if payload.property is not None:
            return self.property_value(body, payload.property)
        if not payload.collection:
            return self.structured(body, payload.type, True, payload.navigation)
        out = self.control({name: value for name, value in body.items() if name != "value"})
        if isinstance(body.get("value"), list):
            out["value"] = [self.structured(item, payload.type, True, payload.navigation) for item in body["value"]]
        # the next link after the page, where the view writes it
        if "@odata.nextLink" in out:
            out["@odata.nextLink"] = out.pop("@odata.nextLink")
        return out


def rewrite(body: Any, fmt: JSONFormat, roots: dict[str, str], service: str) -> Any:
    """``body`` (a minimal-metadata payload with its ``@odata.context``) written in ``fmt``, or
    None when its context URL is not one read here; ``roots``: ``{"prip": <root path>, "odip":
    <root path>}``; ``service``: the answering one, when the context does not name it."""
    if not isinstance(body, dict) or not isinstance(body.get("@odata.context"), str):
        return None
    payload = _payload(body["@odata.context"].partition("#")[2])
    if payload is None:
        return None
    if fmt == MINIMAL:
        return body
    return _Writer(fmt, roots, payload.service or service).payload(body, payload)


def rewrite_response(request, response) -> None:
    """An OData JSON answer of a view (:class:`ODataJSONResponse`) written in the format the
    request asks for (:func:`requested_format`), its ``Content-Type`` saying so; left as it is
    when its context URL is not read here."""
    if not isinstance(response, ODataJSONResponse):
        return
    fmt = requested_format(request)
    if fmt == MINIMAL:
        return
    web = request.registry.proseo
    root, service = web.mount_of_path(request.path_info)  # ids under the mount that answers
    roots = {"prip": web.prip_prefix, "odip": web.odip_prefix, service: root}
    body = rewrite(json.loads(response.body), fmt, roots, service)
    if body is not None:
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
