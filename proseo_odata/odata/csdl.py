"""``$metadata``: CSDL 4.0 XML generated from an :class:`~proseo_odata.odata.edm.EntityModel`.

One schema (namespace ``OData.CSC``) with every type of the model and one entity container
``Container`` (contract section 1). Alias properties (``CreationDate``, ``Checksums``) are
declared like any property, so clients that read the seed documents find them; pass
``include_aliases=False`` to leave them out (the "seed aliases off" setting).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

from . import edm

__all__ = ["render_csdl", "EDMX_NS", "EDM_NS"]

EDMX_NS = "http://docs.oasis-open.org/odata/ns/edmx"
EDM_NS = "http://docs.oasis-open.org/odata/ns/edm"


def _type_name(prop: edm.Property) -> str:
    t = prop.type
    if isinstance(t, edm.PrimitiveType):
        name = t.name
    elif isinstance(t, edm.EnumType) and t.csdl_as_string:
        name = edm.STRING.name
    else:
        name = t.qualified_name
    return f"Collection({name})" if prop.collection else name


def _properties(parent: ET.Element, type_: edm.StructuredType, include_aliases: bool) -> None:
    for prop in type_.properties:
        if prop.alias_of and not include_aliases:
            continue
        attrs = {"Name": prop.name, "Type": _type_name(prop)}
        if not prop.nullable:
            attrs["Nullable"] = "false"
        if isinstance(prop.type, edm.PrimitiveType) and prop.type.kind == "geo":
            attrs["SRID"] = "4326"
        ET.SubElement(parent, f"{{{EDM_NS}}}Property", attrs)


def render_csdl(model: edm.EntityModel, *, include_aliases: bool = True) -> bytes:
    """The ``$metadata`` document of ``model`` as UTF-8 XML bytes."""
    ET.register_namespace("edmx", EDMX_NS)
    ET.register_namespace("", EDM_NS)
    root = ET.Element(f"{{{EDMX_NS}}}Edmx", {"Version": "4.0"})
    services = ET.SubElement(root, f"{{{EDMX_NS}}}DataServices")
    schema = ET.SubElement(services, f"{{{EDM_NS}}}Schema", {"Namespace": model.namespace})

    for type_ in model.types:
        if isinstance(type_, edm.EnumType):
            if type_.csdl_as_string:
                continue
            element = ET.SubElement(schema, f"{{{EDM_NS}}}EnumType", {"Name": type_.name})
            for index, member in enumerate(type_.members):
                ET.SubElement(element, f"{{{EDM_NS}}}Member", {"Name": member, "Value": str(index)})
        elif isinstance(type_, edm.EntityType):
            attrs = {"Name": type_.name}
            if type_.base is not None:
                attrs["BaseType"] = type_.base.qualified_name
            if type_.abstract:
                attrs["Abstract"] = "true"
            if type_.has_stream:
                attrs["HasStream"] = "true"
            element = ET.SubElement(schema, f"{{{EDM_NS}}}EntityType", attrs)
            if type_.key and type_.base is None:
                key = ET.SubElement(element, f"{{{EDM_NS}}}Key")
                for name in type_.key:
                    ET.SubElement(key, f"{{{EDM_NS}}}PropertyRef", {"Name": name})
            _properties(element, type_, include_aliases)
            for nav in type_.navigation:
                target = model.navigation_target(nav).qualified_name
                ET.SubElement(
                    element,
                    f"{{{EDM_NS}}}NavigationProperty",
                    {"Name": nav.name, "Type": f"Collection({target})" if nav.collection else target},
                )
        elif isinstance(type_, edm.ComplexType):
            attrs = {"Name": type_.name}
            if type_.base is not None:
                attrs["BaseType"] = type_.base.qualified_name
            element = ET.SubElement(schema, f"{{{EDM_NS}}}ComplexType", attrs)
            _properties(element, type_, include_aliases)

    container = ET.SubElement(schema, f"{{{EDM_NS}}}EntityContainer", {"Name": model.container})
    for entity_set in model.entity_sets:
        ET.SubElement(
            container,
            f"{{{EDM_NS}}}EntitySet",
            {"Name": entity_set.name, "EntityType": entity_set.entity_type.qualified_name},
        )
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
