"""$metadata: valid CSDL 4.0 generated from the entity models, every referenced type declared."""
import xml.etree.ElementTree as ET

import pytest

from proseo_odata.odata import edm
from proseo_odata.odata.csdl import EDM_NS, EDMX_NS, render_csdl

NS = {"edm": EDM_NS, "edmx": EDMX_NS}


def _declared_and_referenced(root):
    schema = root.find("edmx:DataServices/edm:Schema", NS)
    namespace = schema.get("Namespace")
    declared = set()
    for tag in ("EntityType", "ComplexType", "EnumType"):
        for element in schema.findall(f"edm:{tag}", NS):
            declared.add(f"{namespace}.{element.get('Name')}")
    referenced = set()
    for element in schema.iter():
        for attr in ("Type", "BaseType", "EntityType"):
            value = element.get(attr)
            if value:
                if value.startswith("Collection("):
                    value = value[len("Collection("):-1]
                referenced.add(value)
    return schema, declared, referenced


@pytest.mark.parametrize("model", [edm.PRIP_MODEL, edm.ODIP_MODEL], ids=lambda m: m.name)
def test_every_referenced_type_is_declared(model):
    root = ET.fromstring(render_csdl(model))
    assert root.tag == f"{{{EDMX_NS}}}Edmx" and root.get("Version") == "4.0"
    schema, declared, referenced = _declared_and_referenced(root)
    assert schema.get("Namespace") == "OData.CSC"
    missing = {r for r in referenced if not r.startswith("Edm.") and r not in declared}
    assert not missing, missing
    unknown_primitives = {r for r in referenced if r.startswith("Edm.") and r not in edm.PRIMITIVE_TYPES}
    assert not unknown_primitives
    container = schema.find("edm:EntityContainer", NS)
    assert container.get("Name") == "Container"
    sets = {e.get("Name"): e.get("EntityType") for e in container.findall("edm:EntitySet", NS)}
    assert sets == {s.name: s.entity_type.qualified_name for s in model.entity_sets}


def test_prip_declares_the_five_attribute_types_and_product_properties():
    root = ET.fromstring(render_csdl(edm.PRIP_MODEL))
    schema, declared, _ = _declared_and_referenced(root)
    for short in ("String", "Integer", "Double", "Boolean", "DateTimeOffset"):
        element = schema.find(f"edm:EntityType[@Name='{short}Attribute']", NS)
        assert element is not None, short
        assert element.get("BaseType") == "OData.CSC.Attribute"
        value = element.find("edm:Property[@Name='Value']", NS)
        assert value.get("Type") == edm.ATTRIBUTE_VALUE_TYPES[short].name
    product = schema.find("edm:EntityType[@Name='Product']", NS)
    assert product.get("HasStream") == "true"
    props = {p.get("Name"): p.get("Type") for p in product.findall("edm:Property", NS)}
    assert props["ProductionType"] == "Edm.String"  # its values are not CSDL identifiers
    assert props["CreationDate"] == props["PublicationDate"] == "Edm.DateTimeOffset"
    assert props["Checksums"] == props["Checksum"] == "Collection(OData.CSC.Checksum)"
    assert props["ContentDate"] == "OData.CSC.TimeRange"
    assert props["GeoFootprint"] == "Edm.Geography"
    navs = {n.get("Name"): n.get("Type") for n in product.findall("edm:NavigationProperty", NS)}
    assert navs["Attributes"] == "Collection(OData.CSC.Attribute)"
    assert "OData.CSC.ProductionType" not in declared


def test_odip_job_status_is_a_real_enum():
    root = ET.fromstring(render_csdl(edm.ODIP_MODEL))
    schema, declared, _ = _declared_and_referenced(root)
    enum = schema.find("edm:EnumType[@Name='JobStatus']", NS)
    assert [m.get("Name") for m in enum.findall("edm:Member", NS)] == [
        "queued", "in_progress", "completed", "failed", "cancelled"]
    order = schema.find("edm:EntityType[@Name='ProductionOrder']", NS)
    props = {p.get("Name"): p.get("Type") for p in order.findall("edm:Property", NS)}
    assert props["Status"] == "OData.CSC.JobStatus"
    assert props["InputProductReference"] == "OData.CSC.InputProductReference"
    nav = order.find("edm:NavigationProperty[@Name='Product']", NS)
    assert nav.get("Type") == "OData.CSC.Product"


def test_aliases_can_be_left_out():
    root = ET.fromstring(render_csdl(edm.PRIP_MODEL, include_aliases=False))
    product = root.find("edmx:DataServices/edm:Schema/edm:EntityType[@Name='Product']", NS)
    names = {p.get("Name") for p in product.findall("edm:Property", NS)}
    assert "CreationDate" not in names and "Checksums" not in names
    assert "PublicationDate" in names and "Checksum" in names


def test_enum_values_match_the_domain_enums():
    from proseo_odata.model import enums

    assert edm.PRODUCTION_TYPE.members == tuple(e.value for e in enums.ProductionType)
    assert edm.JOB_STATUS.members == tuple(e.value for e in enums.OrderStatus)
    assert edm.SUBSCRIPTION_STATUS.members == tuple(e.value for e in enums.SubscriptionStatus)
