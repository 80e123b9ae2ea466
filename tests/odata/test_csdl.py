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


# -- the whole service: operations, every routed set, capabilities; valid against OASIS's schemas --

from proseo_odata.odata import csdl  # noqa: E402

from csdl_schemas import json_errors, xml_errors  # noqa: E402

CAP = "Org.OData.Capabilities.V1."
MODELS = [edm.PRIP_MODEL, edm.ODIP_MODEL]


def _schema(model, **kwargs):
    return ET.fromstring(render_csdl(model, **kwargs)).find("edmx:DataServices/edm:Schema", NS)


def _record(element):
    """An XML annotation's value as Python (records, collections, constants, paths)."""
    for attr, convert in (("Bool", lambda v: v == "true"), ("Int", int), ("String", str),
                          ("PropertyPath", str), ("NavigationPropertyPath", str)):
        if element.get(attr) is not None:
            return convert(element.get(attr))
    child = next(iter(element), None)
    return None if child is None else _expression(child)


def _expression(element):
    tag = element.tag.split("}")[1]
    if tag == "Record":
        return {pv.get("Property"): _record(pv) for pv in element}
    if tag == "Collection":
        return [_expression(item) for item in element]
    return element.text == "true" if tag == "Bool" else element.text


def _annotations(element):
    return {a.get("Term"): _record(a) for a in element.findall("edm:Annotation", NS)}


@pytest.mark.parametrize("aliases", [True, False], ids=["aliases", "no-aliases"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_both_representations_validate_against_the_oasis_schemas(model, aliases):
    assert xml_errors(render_csdl(model, include_aliases=aliases)) == []
    assert json_errors(csdl.csdl_json(model, include_aliases=aliases)) == []


def test_the_schema_validators_reject_invalid_documents():
    # Without this, an always-empty error list would pass the test above.
    xml = render_csdl(edm.PRIP_MODEL).replace(b'<Property Name="Name" Type="Edm.String"',
                                              b'<Property Name="Name" Type="Edm.String" Bogus="1"')
    assert any("Bogus" in e for e in xml_errors(xml))
    xml = render_csdl(edm.ODIP_MODEL).replace(b'IsBound="true"', b'IsBound="maybe"', 1)
    assert xml_errors(xml)
    document = csdl.csdl_json(edm.PRIP_MODEL)
    document["OData.CSC"]["Product"]["$Kyy"] = ["Id"]
    assert json_errors(document)
    document = csdl.csdl_json(edm.ODIP_MODEL)
    document["OData.CSC"]["Container"]["ProductionOrder"]["$IncludeInServiceDocument"] = "no"
    assert json_errors(document)


def test_odip_declares_order_and_cancel_actions_and_every_routed_set():
    schema = _schema(edm.ODIP_MODEL)
    order = schema.find("edm:Action[@Name='Order']", NS)
    assert order.get("IsBound") == "true"
    parameters = [(p.get("Name"), p.get("Type"), p.get("Nullable")) for p in order.findall("edm:Parameter", NS)]
    assert parameters[0] == ("ProductionOrder", "Collection(OData.CSC.ProductionOrder)", "false")  # binding
    assert ("InputProductReference", "OData.CSC.InputProductReference", "false") in parameters
    assert ("WorkflowOptions", "Collection(OData.CSC.WorkflowOptionValue)", "false") in parameters
    assert order.find("edm:ReturnType", NS).get("Type") == "OData.CSC.ProductionOrder"
    optional = {p.get("Name"): _annotations(p).get("Org.OData.Core.V1.OptionalParameter")
                for p in order.findall("edm:Parameter", NS)}
    assert optional["Priority"] == {"DefaultValue": "50"} and optional["WorkflowId"] == {}
    assert optional["InputProductReference"] is None and optional["ProductionOrder"] is None  # required
    cancel = schema.find("edm:Action[@Name='Cancel']", NS)
    assert [(p.get("Name"), p.get("Type")) for p in cancel.findall("edm:Parameter", NS)] == [
        ("ProductionOrder", "OData.CSC.ProductionOrder")]
    assert cancel.find("edm:ReturnType", NS).get("Type") == "OData.CSC.ProductionOrder"
    container = schema.find("edm:EntityContainer", NS)
    sets = {e.get("Name"): e for e in container.findall("edm:EntitySet", NS)}
    assert set(sets) == {"Workflows", "ProductionOrders", "ProductionOrder"}
    assert sets["ProductionOrder"].get("EntityType") == "OData.CSC.ProductionOrder"
    assert sets["ProductionOrder"].get("IncludeInServiceDocument") == "false"  # GET ProductionOrder: 405
    assert sets["ProductionOrders"].get("IncludeInServiceDocument") is None
    assert container.find("edm:ActionImport", NS) is None and container.find("edm:FunctionImport", NS) is None


def test_order_action_parameters_are_what_order_validation_accepts():
    from proseo_odata.orders.validation import INPUT_PROPERTIES

    assert {p.name for p in edm.ORDER_ACTION.parameters} == INPUT_PROPERTIES


def test_prip_declares_subscription_actions_and_intersects():
    from proseo_odata.notify.subscriptions import SubscriptionAction

    schema = _schema(edm.PRIP_MODEL)
    actions = {a.get("Name"): a for a in schema.findall("edm:Action", NS)}
    assert set(actions) == {action.value for action in SubscriptionAction}
    for action in actions.values():
        assert action.get("IsBound") == "true"
        assert [p.get("Type") for p in action.findall("edm:Parameter", NS)] == ["OData.CSC.Subscription"]
        assert action.find("edm:ReturnType", NS).get("Type") == "OData.CSC.Subscription"
    intersects = schema.find("edm:Function[@Name='Intersects']", NS)
    assert intersects.get("IsBound") is None  # unbound: $filter only, no function import
    params = {p.get("Name"): p for p in intersects.findall("edm:Parameter", NS)}
    assert params["area"].get("Type") == "Edm.Geography" and params["area"].get("Nullable") == "false"
    assert _annotations(params["location"]) == {"Org.OData.Core.V1.OptionalParameter": {"DefaultValue": "Footprint"}}
    assert intersects.find("edm:ReturnType", NS).get("Type") == "Edm.Boolean"
    assert schema.find("edm:EntityContainer/edm:FunctionImport", NS) is None
    assert _schema(edm.ODIP_MODEL).find("edm:Function", NS) is None  # no footprints to intersect there


def test_container_has_no_batch_and_lists_the_filter_functions():
    from proseo_odata.odata.functions import FUNCTIONS

    prip = _annotations(_schema(edm.PRIP_MODEL).find("edm:EntityContainer", NS))
    odip = _annotations(_schema(edm.ODIP_MODEL).find("edm:EntityContainer", NS))
    assert prip[CAP + "BatchSupported"] is False and odip[CAP + "BatchSupported"] is False
    assert set(odip[CAP + "FilterFunctions"]) == set(FUNCTIONS)
    assert set(prip[CAP + "FilterFunctions"]) == set(FUNCTIONS) | {"OData.CSC.Intersects", "geo.intersects"}
    assert prip["Org.OData.Core.V1.Description"].startswith("PRIP")


def _set_annotations(model, name):
    container = _schema(model).find("edm:EntityContainer", NS)
    return _annotations(container.find(f"edm:EntitySet[@Name='{name}']", NS))


def test_products_capabilities():
    a = _set_annotations(edm.PRIP_MODEL, "Products")
    assert a[CAP + "InsertRestrictions"] == {"Insertable": False}
    assert a[CAP + "UpdateRestrictions"] == {"Updatable": False}
    assert a[CAP + "DeleteRestrictions"] == {"Deletable": False}
    assert a[CAP + "ReadRestrictions"] == {"Readable": True}
    assert a[CAP + "CountRestrictions"] == {"Countable": True}  # Attributes/$count, Assets/$count too
    assert a[CAP + "TopSupported"] is True and a[CAP + "SkipSupported"] is True
    assert a[CAP + "SearchRestrictions"] == {"Searchable": False}
    assert a[CAP + "FilterRestrictions"] == {"Filterable": True,
                                             "NonFilterableProperties": ["Footprint", "GeoFootprint", "Assets"]}
    # (tests/web/test_metadata.py tries every path against the service; here: the flags' mapping)
    sort = a[CAP + "SortRestrictions"]
    assert sort["Sortable"] is True
    assert {"Checksum", "Checksums", "Footprint", "GeoFootprint"} <= set(sort["NonSortableProperties"])
    assert not {"Name", "ContentDate/Start", "PublicationDate"} & set(sort["NonSortableProperties"])
    assert a[CAP + "ExpandRestrictions"] == {"Expandable": True, "MaxLevels": 1}
    restricted = a[CAP + "NavigationRestrictions"]["RestrictedProperties"]
    assert [r["NavigationProperty"] for r in restricted] == ["Attributes", "Assets"]
    assert all(r["InsertRestrictions"] == {"Insertable": False} for r in restricted)
    # counted (Attributes/$count, $count=true): the set's CountRestrictions names no navigation
    # as not countable, and NavigationPropertyRestriction has no CountRestrictions of its own
    assert "NonCountableNavigationProperties" not in a[CAP + "CountRestrictions"]
    assert not any("CountRestrictions" in r for r in restricted)
    # an attribute is read by its Name (Products(<id>)/Attributes('cloudCover')); an asset by nothing
    assert [r["IndexableByKey"] for r in restricted] == [True, True]


def test_order_sets_capabilities():
    orders = _set_annotations(edm.ODIP_MODEL, "ProductionOrders")
    assert orders[CAP + "InsertRestrictions"] == {"Insertable": True}
    assert orders[CAP + "UpdateRestrictions"] == {"Updatable": False}
    assert orders[CAP + "DeleteRestrictions"] == {"Deletable": False}
    assert orders[CAP + "FilterRestrictions"] == {"Filterable": True,
                                                  "NonFilterableProperties": ["NotificationEpPassword", "Product"]}
    assert orders[CAP + "SortRestrictions"]["NonSortableProperties"] == [
        "InputProductReference/ContentDate", "WorkflowOptions", "NotificationEndpoint", "NotificationEpUsername",
        "NotificationEpPassword"]
    single = _set_annotations(edm.ODIP_MODEL, "ProductionOrder")
    assert single[CAP + "InsertRestrictions"] == {"Insertable": True}
    assert single[CAP + "ReadRestrictions"] == {"Readable": False, "ReadByKeyRestrictions": {"Readable": True}}
    assert single[CAP + "CountRestrictions"] == {"Countable": False}
    assert single[CAP + "TopSupported"] is False and single[CAP + "FilterRestrictions"] == {"Filterable": False}
    workflows = _set_annotations(edm.ODIP_MODEL, "Workflows")
    assert workflows[CAP + "InsertRestrictions"] == {"Insertable": False}
    assert workflows[CAP + "ExpandRestrictions"] == {"Expandable": False}  # no navigation property


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_sortable_paths_are_the_storage_orderby_columns(model):
    """$metadata's sort restrictions and the storage's $orderby columns cannot drift apart."""
    from proseo_odata.storage.schema import SchemaTables
    from proseo_odata.storage.sqlalchemy import orderby_columns

    tables = SchemaTables(dialect="sqlite", postgis=False)
    for entity_set in model.entity_sets:
        storage_set = "ProductionOrders" if entity_set.name == "ProductionOrder" else entity_set.name
        served = {"/".join(path) for path in orderby_columns(storage_set, tables)}
        assert set(csdl.sortable_paths(entity_set.entity_type)) == served, entity_set.name


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_every_datetime_declares_its_precision(model):
    schema = _schema(model, datetime_precision=3)
    for element in schema.iter():
        if element.get("Type") == "Edm.DateTimeOffset":
            assert element.get("Precision") == "3", element.attrib  # a missing facet would mean 0 digits


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_json_and_xml_declare_the_same_service(model):
    document = csdl.csdl_json(model)
    schema_json = document["OData.CSC"]
    schema = _schema(model)
    assert document["$EntityContainer"] == "OData.CSC.Container"
    container = schema_json["Container"]
    xml_container = schema.find("edm:EntityContainer", NS)
    assert {k for k in container if not k.startswith(("$", "@"))} == {
        e.get("Name") for e in xml_container.findall("edm:EntitySet", NS)}
    for element in xml_container.findall("edm:EntitySet", NS):
        assert {k[1:]: v for k, v in container[element.get("Name")].items() if k.startswith("@")} == \
            _annotations(element)
    operations = {name for name, value in schema_json.items() if isinstance(value, list)}
    assert operations == {e.get("Name") for e in schema.findall("edm:Action", NS) + schema.findall("edm:Function", NS)}


def test_property_annotations_are_in_both_representations():
    """A property's description, Core.Computed and Validation bounds, in CSDL XML and JSON alike."""
    expected = {
        (edm.PRIP_MODEL, "Attribute", "ContentType"): {
            "Org.OData.Core.V1.Description": "text/plain (written with the seed documents' keys)"},
        (edm.PRIP_MODEL, "Subscription", "Status"): {"Org.OData.Core.V1.Computed": True},
        (edm.PRIP_MODEL, "Subscription", "Priority"): {"Org.OData.Validation.V1.Minimum": 1,
                                                       "Org.OData.Validation.V1.Maximum": 100},
        (edm.ODIP_MODEL, "ProductionOrder", "EstimatedDate"): {"Org.OData.Core.V1.Computed": True},
        (edm.ODIP_MODEL, "ProductionOrder", "WorkflowName"): {},
    }
    for (model, type_name, name), annotations in expected.items():
        json_member = csdl.csdl_json(model)["OData.CSC"][type_name][name]
        assert {k[1:]: v for k, v in json_member.items() if k.startswith("@")} == annotations
        root = ET.fromstring(render_csdl(model))
        element = root.find(f"edmx:DataServices/edm:Schema/edm:EntityType[@Name='{type_name}']"
                            f"/edm:Property[@Name='{name}']", NS)
        found = {}
        for annotation in element.findall("edm:Annotation", NS):
            kind, text = next((k, v) for k, v in annotation.attrib.items() if k != "Term")
            found[annotation.get("Term")] = {"Bool": lambda t: t == "true", "Int": int, "String": str}[kind](text)
        assert found == annotations
