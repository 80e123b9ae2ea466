"""``$metadata``: CSDL 4.0, as XML (:func:`render_csdl`) and as JSON (:func:`render_csdl_json`),
generated from an :class:`~proseo_odata.odata.edm.EntityModel`.

One schema (namespace ``OData.CSC``) with every type of the model, its actions and functions,
and one entity container ``Container`` (contract section 1) holding the entity sets. Alias
properties (``CreationDate``, ``Checksums``) are declared like any property, so clients that
read the seed documents find them; pass ``include_aliases=False`` to leave them out (the "seed
aliases off" setting).

The document describes what the service does and nothing else, so that generators such as the
OASIS ``odata-openapi`` converter produce only operations that exist:

* actions and functions (:attr:`EntityModel.operations <proseo_odata.odata.edm.EntityModel>`):
  bound actions such as ``OData.CSC.Order`` and ``OData.CSC.Cancel``; ``OData.CSC.Intersects``
  as an unbound function without a function import (usable in ``$filter`` only);
* ``Org.OData.Capabilities.V1`` annotations on each entity set, from its
  :class:`~proseo_odata.odata.edm.Capabilities` (insert, update, delete and read restrictions,
  count, top, skip, expand, search, the navigation properties served as plain lists) and from
  the properties' ``filterable``/``sortable`` flags (:func:`non_filterable_paths`,
  :func:`sortable_paths`, :func:`non_sortable_paths`);
* on the container: ``BatchSupported`` false and the ``$filter`` functions
  (``FilterFunctions``, from :mod:`proseo_odata.odata.functions`).

Both representations come from the same annotation values (:func:`entity_set_annotations`,
:func:`container_annotations`), so they cannot disagree.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Tuple

from . import edm
from .functions import FUNCTIONS, INTERSECTS, INTERSECTS_NAMES

__all__ = [
    "render_csdl",
    "render_csdl_json",
    "csdl_json",
    "EDMX_NS",
    "EDM_NS",
    "CAPABILITIES",
    "CORE",
    "VALIDATION",
    "VOCABULARIES",
    "Path",
    "entity_set_annotations",
    "container_annotations",
    "sortable_paths",
    "non_sortable_paths",
    "non_filterable_paths",
]

EDMX_NS = "http://docs.oasis-open.org/odata/ns/edmx"
EDM_NS = "http://docs.oasis-open.org/odata/ns/edm"
VERSION = "4.0"

CAPABILITIES = "Org.OData.Capabilities.V1"
CORE = "Org.OData.Core.V1"
VALIDATION = "Org.OData.Validation.V1"
#: The vocabularies the annotations use: namespace -> the OASIS TC's published document (the
#: ``.xml`` one; a CSDL JSON document references the ``.json`` twin).
VOCABULARIES = {
    CAPABILITIES: "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml",
    CORE: "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml",
    VALIDATION: "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Validation.V1.xml",
}

#: Fractional digits of the ``Edm.DateTimeOffset`` values the service emits at most (the
#: ``Precision`` facet; CSDL XML reads a missing facet as 0, whole seconds).
DATETIME_PRECISION = 6


@dataclass(frozen=True)
class Path:
    """A path value in an annotation: ``kind`` is ``PropertyPath`` or ``NavigationPropertyPath``."""

    path: str
    kind: str = "PropertyPath"


def _nav(name: str) -> Path:
    return Path(name, "NavigationPropertyPath")


# -- which properties filter and sort ----------------------------------------------------------


def _members(type_: edm.StructuredType, include_aliases: bool) -> Iterator[edm.Property]:
    for prop in type_.all_properties():
        if prop.seed_only and not include_aliases:
            continue
        yield prop


def sortable_paths(type_: edm.StructuredType, include_aliases: bool = True) -> List[str]:
    """The ``$orderby`` paths of ``type_``: primitive properties, also inside single complex
    properties, unless a property on the path is ``sortable=False``, ``geo_only`` or a
    collection."""
    paths = []
    for prop in _members(type_, include_aliases):
        if prop.collection or not prop.sortable or prop.geo_only:
            continue
        if isinstance(prop.type, edm.StructuredType):
            paths.extend(f"{prop.name}/{sub}" for sub in sortable_paths(prop.type, include_aliases))
        else:
            paths.append(prop.name)
    return paths


def non_sortable_paths(type_: edm.StructuredType, include_aliases: bool = True) -> List[str]:
    """The properties (or nested paths) ``$orderby`` refuses: the complement of
    :func:`sortable_paths`, each named at its shortest path."""
    paths = []
    for prop in _members(type_, include_aliases):
        if prop.collection or not prop.sortable or prop.geo_only:
            paths.append(prop.name)
        elif isinstance(prop.type, edm.StructuredType):
            paths.extend(f"{prop.name}/{sub}" for sub in non_sortable_paths(prop.type, include_aliases))
    return paths


def non_filterable_paths(type_: edm.StructuredType, include_aliases: bool = True) -> List[Path]:
    """What ``$filter`` refuses: properties declared ``filterable=False`` (secrets), footprints
    that only ``OData.CSC.Intersects`` reads (``geo_only``) and navigation properties declared
    ``filterable=False``."""
    paths: List[Path] = []
    for prop in _members(type_, include_aliases):
        if not prop.filterable or prop.geo_only:
            paths.append(Path(prop.name))
        elif isinstance(prop.type, edm.StructuredType) and not prop.collection:
            paths.extend(Path(f"{prop.name}/{sub.path}") for sub in non_filterable_paths(prop.type, include_aliases))
    if isinstance(type_, edm.EntityType):
        paths.extend(_nav(nav.name) for nav in type_.all_navigation() if not nav.filterable)
    return paths


# -- annotation values ---------------------------------------------------------------------------


def _cap(term: str) -> str:
    return f"{CAPABILITIES}.{term}"


_DESCRIPTION = f"{CORE}.Description"
_OPTIONAL_PARAMETER = f"{CORE}.OptionalParameter"
_COMPUTED = f"{CORE}.Computed"


def entity_set_annotations(entity_set: edm.EntitySet, include_aliases: bool = True) -> Dict[str, Any]:
    """The ``Org.OData.Capabilities.V1`` (and ``Core.Description``) annotations of an entity
    set, as ``{term: value}``: values are bool, int, str, :class:`Path`, lists and dicts
    (records)."""
    caps = entity_set.capabilities
    type_ = entity_set.entity_type
    navigation = type_.all_navigation()
    readable = caps.readable
    annotations: Dict[str, Any] = {}
    if caps.description:
        annotations[_DESCRIPTION] = caps.description
    annotations[_cap("InsertRestrictions")] = {"Insertable": caps.insertable}
    annotations[_cap("UpdateRestrictions")] = {"Updatable": caps.updatable}
    annotations[_cap("DeleteRestrictions")] = {"Deletable": caps.deletable}
    read: Dict[str, Any] = {"Readable": readable}
    if caps.readable_by_key != readable:
        read["ReadByKeyRestrictions"] = {"Readable": caps.readable_by_key}
    annotations[_cap("ReadRestrictions")] = read
    annotations[_cap("CountRestrictions")] = {"Countable": caps.countable and readable}
    annotations[_cap("TopSupported")] = caps.top_supported and readable
    annotations[_cap("SkipSupported")] = caps.skip_supported and readable
    filter_: Dict[str, Any] = {"Filterable": readable}
    if readable:
        non_filterable = non_filterable_paths(type_, include_aliases)
        if non_filterable:
            filter_["NonFilterableProperties"] = non_filterable
    annotations[_cap("FilterRestrictions")] = filter_
    sort: Dict[str, Any] = {"Sortable": readable}
    if readable:
        non_sortable = non_sortable_paths(type_, include_aliases)
        if non_sortable:
            sort["NonSortableProperties"] = [Path(p) for p in non_sortable]
    annotations[_cap("SortRestrictions")] = sort
    expandable = [nav.name for nav in navigation if nav.name not in caps.non_expandable]
    expand: Dict[str, Any] = {"Expandable": caps.expandable and bool(expandable)}
    if expand["Expandable"]:
        non_expandable = [nav.name for nav in navigation if nav.name in caps.non_expandable]
        if non_expandable:
            expand["NonExpandableProperties"] = [_nav(name) for name in non_expandable]
        expand["MaxLevels"] = 1  # nested $expand is not served
    annotations[_cap("ExpandRestrictions")] = expand
    annotations[_cap("SearchRestrictions")] = {"Searchable": caps.searchable}
    restricted = [
        {
            "NavigationProperty": _nav(name),
            # listed by options of their own (proseo_odata.query.ItemListing), nested in $expand too
            "FilterRestrictions": _item_restriction("Filterable", "NonFilterableProperties",
                                                    non_filterable_paths(target, include_aliases)),
            "SortRestrictions": _item_restriction("Sortable", "NonSortableProperties",
                                                  [Path(p) for p in non_sortable_paths(target, include_aliases)]),
            "TopSupported": True,
            "SkipSupported": True,
            # (counted by /$count and $count=true: the set's CountRestrictions lists no
            # NonCountableNavigationProperties; a navigation's own record has no count term)
            "SearchRestrictions": {"Searchable": False},
            "InsertRestrictions": {"Insertable": False},
            "UpdateRestrictions": {"Updatable": False},
            "DeleteRestrictions": {"Deletable": False},
            "IndexableByKey": name in caps.navigation_by_key,
        }
        for name, target in ((name, type_.find_member(name).target) for name in caps.navigation_readonly)
    ]
    if restricted:
        annotations[_cap("NavigationRestrictions")] = {"RestrictedProperties": restricted}
    return annotations


def _item_restriction(flag: str, name: str, paths: list) -> Dict[str, Any]:
    return {flag: True, name: paths} if paths else {flag: True}


def filter_functions(model: edm.EntityModel) -> List[str]:
    """The functions ``$filter`` accepts on ``model``'s entity sets (``OData.CSC.Intersects``
    and its ``geo.intersects`` spelling only where the model declares the function)."""
    names = sorted(FUNCTIONS)
    if any(op.qualified_name == INTERSECTS for op in model.operations):
        names += [INTERSECTS] + [n for n in INTERSECTS_NAMES if n != INTERSECTS.lower()]
    return names


def container_annotations(model: edm.EntityModel) -> Dict[str, Any]:
    """Annotations of the entity container: the service's description, no ``$batch``, and
    the ``$filter`` functions."""
    annotations: Dict[str, Any] = {}
    if model.description:
        annotations[_DESCRIPTION] = model.description
    annotations[_cap("BatchSupported")] = False
    annotations[_cap("FilterFunctions")] = filter_functions(model)
    return annotations


def _operation_annotations(operation: edm.Operation) -> Dict[str, Any]:
    return {_DESCRIPTION: operation.description} if operation.description else {}


def _bounds(typed) -> Dict[str, Any]:
    """``Validation.Minimum`` and ``Maximum`` of a property or parameter with ``bounds``."""
    if typed.bounds is None:
        return {}
    low, high = typed.bounds
    return {f"{VALIDATION}.Minimum": low, f"{VALIDATION}.Maximum": high}


def _parameter_annotations(parameter: edm.Parameter) -> Dict[str, Any]:
    annotations = _bounds(parameter)
    if parameter.optional:
        annotations[_OPTIONAL_PARAMETER] = {} if parameter.default is None else {"DefaultValue": parameter.default}
    return annotations


# -- type names ------------------------------------------------------------------------------------


def _plain_type_name(type_) -> str:
    if isinstance(type_, edm.PrimitiveType):
        return type_.name
    if isinstance(type_, edm.EnumType) and type_.csdl_as_string:
        return edm.STRING.name
    return type_.qualified_name


def _type_name(prop) -> str:
    name = _plain_type_name(prop.type)
    return f"Collection({name})" if prop.collection else name


def _is_geo(type_) -> bool:
    return isinstance(type_, edm.PrimitiveType) and type_.kind == "geo"


def _is_datetime(type_) -> bool:
    return isinstance(type_, edm.PrimitiveType) and type_.kind == "datetime"


def _nav_type(model: edm.EntityModel, nav: edm.NavigationProperty) -> Tuple[str, bool]:
    return model.navigation_target(nav).qualified_name, nav.collection


# -- XML -------------------------------------------------------------------------------------------


def _q(tag: str) -> str:
    return f"{{{EDM_NS}}}{tag}"


def _xml_inline(element: ET.Element, value: Any) -> None:
    """Put ``value`` on an ``Annotation`` or ``PropertyValue`` element: a constant or path as an
    attribute, a record or collection as a child."""
    if isinstance(value, bool):
        element.set("Bool", "true" if value else "false")
    elif isinstance(value, int):
        element.set("Int", str(value))
    elif isinstance(value, str):
        element.set("String", value)
    elif isinstance(value, Path):
        element.set(value.kind, value.path)
    else:
        _xml_child(element, value)


def _xml_child(parent: ET.Element, value: Any) -> None:
    if isinstance(value, dict):  # a record (possibly empty)
        record = ET.SubElement(parent, _q("Record"))
        for name, item in value.items():
            _xml_inline(ET.SubElement(record, _q("PropertyValue"), {"Property": name}), item)
    elif isinstance(value, (list, tuple)):
        collection = ET.SubElement(parent, _q("Collection"))
        for item in value:
            if isinstance(item, bool):
                ET.SubElement(collection, _q("Bool")).text = "true" if item else "false"
            elif isinstance(item, int):
                ET.SubElement(collection, _q("Int")).text = str(item)
            elif isinstance(item, str):
                ET.SubElement(collection, _q("String")).text = item
            elif isinstance(item, Path):
                ET.SubElement(collection, _q(item.kind)).text = item.path
            else:
                _xml_child(collection, item)
    else:
        raise TypeError(f"cannot render annotation value {value!r}")


def _property_annotations(prop: edm.Property) -> Dict[str, Any]:
    """Its ``Core.Description``, ``Core.Computed`` on a property the service sets (a client
    creating the entity leaves it out), ``Validation.Minimum``/``Maximum`` on one with bounds."""
    annotations = {_DESCRIPTION: prop.description} if prop.description else {}
    annotations.update(_bounds(prop))
    if prop.computed:
        annotations[_COMPUTED] = True
    return annotations


def _xml_annotations(parent: ET.Element, annotations: Dict[str, Any]) -> None:
    for term, value in annotations.items():
        _xml_inline(ET.SubElement(parent, _q("Annotation"), {"Term": term}), value)


def _nullable(typed) -> bool:
    """Whether the value (for a collection: an item) may be null; no collection holds nulls."""
    return typed.nullable and not typed.collection


def _xml_facets(attrs: Dict[str, str], typed, precision: int) -> Dict[str, str]:
    if not _nullable(typed):
        attrs["Nullable"] = "false"
    if _is_geo(typed.type):
        attrs["SRID"] = "4326"
    if _is_datetime(typed.type):
        attrs["Precision"] = str(precision)
    return attrs


def _xml_properties(parent: ET.Element, type_: edm.StructuredType, include_aliases: bool, precision: int) -> None:
    for prop in type_.properties:
        if prop.seed_only and not include_aliases:
            continue
        element = ET.SubElement(parent, _q("Property"),
                                _xml_facets({"Name": prop.name, "Type": _type_name(prop)}, prop, precision))
        _xml_annotations(element, _property_annotations(prop))


def _xml_parameter(parent: ET.Element, tag: str, parameter: edm.Parameter, precision: int) -> None:
    attrs = {} if tag == "ReturnType" else {"Name": parameter.name}
    attrs["Type"] = _type_name(parameter)
    _xml_facets(attrs, parameter, precision)
    _xml_annotations(ET.SubElement(parent, _q(tag), attrs), _parameter_annotations(parameter))


def _xml_operation(schema: ET.Element, operation: edm.Operation, precision: int) -> None:
    attrs = {"Name": operation.name}
    if operation.binding is not None:
        attrs["IsBound"] = "true"
    element = ET.SubElement(schema, _q(operation.kind), attrs)
    if operation.binding is not None:
        _xml_parameter(element, "Parameter", operation.binding, precision)
    for parameter in operation.parameters:
        _xml_parameter(element, "Parameter", parameter, precision)
    if operation.returns is not None:
        _xml_parameter(element, "ReturnType", operation.returns, precision)
    _xml_annotations(element, _operation_annotations(operation))


def render_csdl(model: edm.EntityModel, *, include_aliases: bool = True,
                datetime_precision: int = DATETIME_PRECISION) -> bytes:
    """The ``$metadata`` document of ``model`` as UTF-8 CSDL XML bytes."""
    ET.register_namespace("edmx", EDMX_NS)
    ET.register_namespace("", EDM_NS)
    root = ET.Element(f"{{{EDMX_NS}}}Edmx", {"Version": VERSION})
    for namespace, uri in VOCABULARIES.items():
        reference = ET.SubElement(root, f"{{{EDMX_NS}}}Reference", {"Uri": uri})
        ET.SubElement(reference, f"{{{EDMX_NS}}}Include", {"Namespace": namespace})
    services = ET.SubElement(root, f"{{{EDMX_NS}}}DataServices")
    schema = ET.SubElement(services, _q("Schema"), {"Namespace": model.namespace})

    for type_ in model.types:
        if isinstance(type_, edm.EnumType):
            if type_.csdl_as_string:
                continue
            element = ET.SubElement(schema, _q("EnumType"), {"Name": type_.name})
            for index, member in enumerate(type_.members):
                ET.SubElement(element, _q("Member"), {"Name": member, "Value": str(index)})
        elif isinstance(type_, edm.EntityType):
            attrs = {"Name": type_.name}
            if type_.base is not None:
                attrs["BaseType"] = type_.base.qualified_name
            if type_.abstract:
                attrs["Abstract"] = "true"
            if type_.has_stream:
                attrs["HasStream"] = "true"
            element = ET.SubElement(schema, _q("EntityType"), attrs)
            if type_.key and type_.base is None:
                key = ET.SubElement(element, _q("Key"))
                for name in type_.key:
                    ET.SubElement(key, _q("PropertyRef"), {"Name": name})
            _xml_properties(element, type_, include_aliases, datetime_precision)
            for nav in type_.navigation:
                target, collection = _nav_type(model, nav)
                ET.SubElement(element, _q("NavigationProperty"),
                              {"Name": nav.name, "Type": f"Collection({target})" if collection else target})
        elif isinstance(type_, edm.ComplexType):
            attrs = {"Name": type_.name}
            if type_.base is not None:
                attrs["BaseType"] = type_.base.qualified_name
            element = ET.SubElement(schema, _q("ComplexType"), attrs)
            _xml_properties(element, type_, include_aliases, datetime_precision)

    for operation in model.operations:
        _xml_operation(schema, operation, datetime_precision)

    container = ET.SubElement(schema, _q("EntityContainer"), {"Name": model.container})
    _xml_annotations(container, container_annotations(model))
    for entity_set in model.entity_sets:
        attrs = {"Name": entity_set.name, "EntityType": entity_set.entity_type.qualified_name}
        if not entity_set.in_service_document:
            attrs["IncludeInServiceDocument"] = "false"
        element = ET.SubElement(container, _q("EntitySet"), attrs)
        _xml_annotations(element, entity_set_annotations(entity_set, include_aliases))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# -- JSON ------------------------------------------------------------------------------------------


def _json_value(value: Any) -> Any:
    # A path where the term's type is a path type (all of ours) is a plain string in CSDL JSON.
    if isinstance(value, Path):
        return value.path
    if isinstance(value, dict):
        return {name: _json_value(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_value(item) for item in value]
    return value


def _json_annotate(target: Dict[str, Any], annotations: Dict[str, Any]) -> None:
    for term, value in annotations.items():
        target[f"@{term}"] = _json_value(value)


def _json_typed(obj: Dict[str, Any], type_, collection: bool, nullable: bool, precision: int) -> Dict[str, Any]:
    """``$Type`` (omitted for ``Edm.String``), ``$Collection``, ``$Nullable`` (JSON's default is
    false), ``$SRID``, ``$Precision``."""
    name = _plain_type_name(type_)
    if collection:
        obj["$Collection"] = True
    if name != edm.STRING.name:
        obj["$Type"] = name
    if nullable:
        obj["$Nullable"] = True
    if _is_geo(type_):
        obj["$SRID"] = "4326"  # a string in csdl.schema.json (OASIS xml2json gives a number)
    if _is_datetime(type_):
        obj["$Precision"] = precision
    return obj


def _json_structured(model: edm.EntityModel, type_: edm.StructuredType, include_aliases: bool,
                     precision: int) -> Dict[str, Any]:
    obj: Dict[str, Any] = {"$Kind": "EntityType" if isinstance(type_, edm.EntityType) else "ComplexType"}
    if type_.base is not None:
        obj["$BaseType"] = type_.base.qualified_name
    if type_.abstract:
        obj["$Abstract"] = True
    if isinstance(type_, edm.EntityType):
        if type_.has_stream:
            obj["$HasStream"] = True
        if type_.key and type_.base is None:
            obj["$Key"] = list(type_.key)
    for prop in type_.properties:
        if prop.seed_only and not include_aliases:
            continue
        obj[prop.name] = _json_typed({}, prop.type, prop.collection, _nullable(prop), precision)
        _json_annotate(obj[prop.name], _property_annotations(prop))
    if isinstance(type_, edm.EntityType):
        for nav in type_.navigation:
            target, collection = _nav_type(model, nav)
            nav_obj: Dict[str, Any] = {"$Kind": "NavigationProperty", "$Type": target}
            if collection:
                nav_obj["$Collection"] = True
            elif nav.nullable:
                nav_obj["$Nullable"] = True
            obj[nav.name] = nav_obj
    return obj


def _json_parameter(parameter: edm.Parameter, precision: int, *, named: bool = True) -> Dict[str, Any]:
    obj: Dict[str, Any] = {"$Name": parameter.name} if named else {}
    _json_typed(obj, parameter.type, parameter.collection, _nullable(parameter), precision)
    _json_annotate(obj, _parameter_annotations(parameter))
    return obj


def _json_operation(operation: edm.Operation, precision: int) -> Dict[str, Any]:
    obj: Dict[str, Any] = {"$Kind": operation.kind}
    if operation.binding is not None:
        obj["$IsBound"] = True
    parameters = ([operation.binding] if operation.binding is not None else []) + list(operation.parameters)
    if parameters:
        obj["$Parameter"] = [_json_parameter(p, precision) for p in parameters]
    if operation.returns is not None:
        obj["$ReturnType"] = _json_parameter(operation.returns, precision, named=False)
    _json_annotate(obj, _operation_annotations(operation))
    return obj


def csdl_json(model: edm.EntityModel, *, include_aliases: bool = True,
              datetime_precision: int = DATETIME_PRECISION) -> Dict[str, Any]:
    """The ``$metadata`` document of ``model`` as a CSDL JSON object (OData CSDL JSON 4.01
    representation of a ``4.0`` model)."""
    schema: Dict[str, Any] = {}
    for type_ in model.types:
        if isinstance(type_, edm.EnumType):
            if type_.csdl_as_string:
                continue
            enum: Dict[str, Any] = {"$Kind": "EnumType"}
            enum.update({member: index for index, member in enumerate(type_.members)})
            schema[type_.name] = enum
        else:
            schema[type_.name] = _json_structured(model, type_, include_aliases, datetime_precision)
    for operation in model.operations:
        schema.setdefault(operation.name, []).append(_json_operation(operation, datetime_precision))
    container: Dict[str, Any] = {"$Kind": "EntityContainer"}
    _json_annotate(container, container_annotations(model))
    for entity_set in model.entity_sets:
        obj: Dict[str, Any] = {"$Collection": True, "$Type": entity_set.entity_type.qualified_name}
        if not entity_set.in_service_document:
            obj["$IncludeInServiceDocument"] = False
        _json_annotate(obj, entity_set_annotations(entity_set, include_aliases))
        container[entity_set.name] = obj
    schema[model.container] = container
    return {
        "$Version": VERSION,
        "$EntityContainer": f"{model.namespace}.{model.container}",
        "$Reference": {uri[:-len(".xml")] + ".json": {"$Include": [{"$Namespace": namespace}]}
                       for namespace, uri in VOCABULARIES.items()},
        model.namespace: schema,
    }


def render_csdl_json(model: edm.EntityModel, *, include_aliases: bool = True,
                     datetime_precision: int = DATETIME_PRECISION) -> bytes:
    """:func:`csdl_json` as UTF-8 JSON bytes."""
    document = csdl_json(model, include_aliases=include_aliases, datetime_precision=datetime_precision)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
