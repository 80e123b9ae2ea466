"""The PRIP and ODIP entity types mapped onto the SQLAlchemy backend's tables.

The backend calls :func:`compile_filter` with a *bound* filter (see
:func:`proseo_odata.odata.binding.bind_filter`) and gets a boolean SQLAlchemy expression over
``tables.main_table(entity_set)``. :data:`DOMAIN_ACCESSOR` reads the domain dataclasses of
:mod:`proseo_odata.model` for the Python predicate (subscription matching), so both compilers
agree on what a property means.

Optimisation: a lambda ``Attributes/...any(a: a/Name eq 'productType' and a/Value <op> <lit>)``
is compiled to a test of the indexed ``products.product_type`` column (kept equal to the
``productType`` attribute by the domain model), guarded so the result is identical to the
``EXISTS`` form; ``tests/odata/test_equivalence.py`` checks that.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any, Optional

import sqlalchemy as sa

from proseo_odata.odata import edm, geo
from proseo_odata.odata.binding import BAnd, BCall, BCompare, BIn, BLambda, BLiteral, BProperty, Bound
from proseo_odata.odata.errors import ODataNotSupportedError
from proseo_odata.odata.predicate import DefaultAccessor
from proseo_odata.storage.schema import PROMOTED_ATTRIBUTES, product_extent_keys, product_extents
from proseo_odata.odata.sql import (ChildTable, ComplexColumns, EntityMapping, FootprintColumns,
                                    SqlCompiler, _sql_and, _sql_compare, _sql_not, compile_orderby_sql)

__all__ = ["ENTITY_TYPES", "compile_filter", "compile_orderby", "entity_mapping", "DOMAIN_ACCESSOR",
           "DomainAccessor", "promoted_values", "render_footprint"]

#: Entity set -> entity type.
ENTITY_TYPES = {
    "Products": edm.PRODUCT,
    "Subscriptions": edm.SUBSCRIPTION,
    "Workflows": edm.WORKFLOW,
    "ProductionOrders": edm.PRODUCTION_ORDER,
}

_ATTRIBUTE_COLUMNS = {
    "String": "string_value",
    "Integer": "int_value",
    "Double": "double_value",
    "Boolean": "bool_value",
    "DateTimeOffset": "datetime_value",
}


def render_footprint(wkt: Optional[str], geometry=None) -> tuple[Optional[str], Optional[str]]:
    """(``Footprint`` literal, ``GeoFootprint`` GeoJSON text) of a stored WKT footprint, computed
    once when the product is written (columns ``footprint_literal``/``footprint_geojson``) with
    the one geography reader and WKT writer (:mod:`proseo_odata.odata.geo`). (None, None) for
    no footprint, or for text those cannot read (the response then formats it as before).
    ``geometry``: the 2-D shapely geometry ``wkt`` was written from (bulk ingest has it), so
    the WKT is not parsed again."""
    try:
        literal, geojson = (geo.footprint_renderings(wkt) if geometry is None
                            else geo.footprint_renderings(geometry, wkt=wkt))
    except Exception:  # noqa: BLE001 - stored as given; the response path decides what to show
        return None, None
    return literal, None if geojson is None else json.dumps(geojson)


#: The promoted columns of a product with none of the promoted attributes.
_NOT_PROMOTED = {column: None for column, _ in PROMOTED_ATTRIBUTES.values()}


def promoted_values(attributes) -> dict:
    """The :data:`~proseo_odata.storage.schema.PROMOTED_ATTRIBUTES` columns of a product with
    these attributes: the value of the attribute of that name and type, else None."""
    values = _NOT_PROMOTED.copy()
    promoted_as = PROMOTED_ATTRIBUTES.get
    for attribute in attributes:
        promoted = promoted_as(attribute.name)
        if promoted is not None and str(attribute.type) == promoted[1]:
            values[promoted[0]] = attribute.value
    return values


def _product_mapping(tables) -> EntityMapping:
    p = tables.products
    if tables.dialect == "postgresql" and not tables.postgis:
        footprint = None
    else:
        footprint = FootprintColumns(wkt=p.c.footprint,
                                     geometry=p.c.footprint_geom if tables.postgis else None,
                                     candidates=_extent_candidates(p) if tables.extents else None)
    attributes = ChildTable(
        tables.product_attributes,
        ("product_id", p.c.id),
        {"Name": "name", "ValueType": "value_type"},
        type_column="value_type",
        types={f"{edm.NAMESPACE}.{short}Attribute": (short, {"Value": column})
               for short, column in _ATTRIBUTE_COLUMNS.items()},
    )
    checksums = ChildTable(
        tables.product_checksums,
        ("product_id", p.c.id),
        {"Algorithm": "algorithm", "Value": "value", "ChecksumDate": "checksum_date"},
    )
    return EntityMapping(
        {
            "Id": p.c.id,
            "Name": p.c.name,
            "ContentType": p.c.content_type,
            "ContentLength": p.c.content_length,
            "OriginDate": p.c.origin_date,
            "PublicationDate": p.c.publication_date,
            "ModificationDate": p.c.modification_date,
            "EvictionDate": p.c.eviction_date,
            "Online": p.c.online,
            "ContentDate/Start": p.c.content_start,
            "ContentDate/End": p.c.content_end,
            "ProductionType": p.c.production_type,
            "Collection/Name": _collection_column(tables),
        },
        collections={"Attributes": attributes, "Checksum": checksums},
        footprints={"Footprint": footprint, "GeoFootprint": footprint} if footprint else {},
        shortcut=_ProductTypeShortcut(tables),
    )


def extents_meeting(bounds) -> tuple:
    """The conditions on SQLite's R*Tree of footprint extents
    (:data:`~proseo_odata.storage.schema.product_extents`) for the boxes that meet ``bounds``
    ``(min_x, min_y, max_x, max_y)``."""
    min_x, min_y, max_x, max_y = bounds
    extents = product_extents
    return (extents.c.max_x >= min_x, extents.c.min_x <= max_x, extents.c.max_y >= min_y, extents.c.min_y <= max_y)


def _extent_candidates(p):
    """SQLite's spatial index: the products whose footprint's box meets the area's bounds, found
    in the R*Tree. Its boxes are rounded outwards to single precision, so no intersecting
    footprint is left out."""

    def candidates(bounds):
        keys = product_extent_keys
        return p.c.id.in_(sa.select(keys.c.product_id).join(product_extents, product_extents.c.key == keys.c.key)
                          .where(*extents_meeting(bounds)))

    return candidates


def _collection_column(tables):
    """``Collection/Name`` (:mod:`proseo_odata.model.collections`): the product's string
    attribute named by the rule, else its mission's configured default; names bound as parameters."""
    p, a = tables.products, tables.product_attributes
    rule = tables.collections
    from_attribute = (
        sa.select(a.c.string_value)
        .where(a.c.product_id == p.c.id, a.c.name == rule.attribute, a.c.value_type == "String")
        .limit(1)
        .scalar_subquery()
    )
    fallback = sa.literal(rule.fallback, sa.String) if rule.fallback is not None else sa.null()
    if rule.defaults:
        default = sa.case(*[(p.c.mission == mission, sa.literal(name, sa.String)) for mission, name in rule.defaults],
                          else_=fallback)
    else:
        default = fallback
    return sa.func.coalesce(from_attribute, default)


def _subscription_mapping(tables) -> EntityMapping:
    s = tables.subscriptions
    return EntityMapping({
        "Id": s.c.id,
        "Status": s.c.status,
        "FilterParam": s.c.filter_param,
        "StageOrder": s.c.stage_order,
        "Priority": s.c.priority,
        "SubmissionDate": s.c.submission_date,
        "LastNotificationDate": s.c.last_notification_date,
        "NotificationEndpoint": s.c.notification_endpoint,
        "NotificationEpUsername": s.c.notification_username,
    })


def _workflow_mapping(tables) -> EntityMapping:
    w = tables.workflows
    return EntityMapping({
        "Id": w.c.id,
        "Name": w.c.name,
        "Description": w.c.description,
        "InputProductType": w.c.input_product_type,
        "OutputProductType": w.c.output_product_type,
        "WorkflowVersion": w.c.workflow_version,
    })


def _order_mapping(tables) -> EntityMapping:
    o = tables.orders
    reference = {
        "Reference": o.c.input_reference,
        "ContentDate/Start": o.c.input_content_start,
        "ContentDate/End": o.c.input_content_end,
    }
    return EntityMapping(
        {
            "Id": o.c.id,
            "Status": o.c.status,
            "StatusMessage": o.c.status_message,
            "OrderOutputSize": o.c.order_output_size,
            "SubmissionDate": o.c.submission_date,
            "EstimatedDate": o.c.estimated_date,
            "CompletedDate": o.c.completed_date,
            "EvictionDate": o.c.eviction_date,
            "Priority": o.c.priority,
            "WorkflowId": o.c.workflow_id,
            "WorkflowName": o.c.workflow_name,
            "NotificationEndpoint": o.c.notification_endpoint,
            "NotificationEpUsername": o.c.notification_username,
            **{f"InputProductReference/{k}": v for k, v in reference.items()},
        },
        collections={
            "InputProductReference": ComplexColumns(reference),
            "WorkflowOptions": ChildTable(tables.order_options, ("order_id", o.c.id),
                                          {"Name": "name", "Value": "value"}),
        },
    )


_BUILDERS = {
    "Products": _product_mapping,
    "Subscriptions": _subscription_mapping,
    "Workflows": _workflow_mapping,
    "ProductionOrders": _order_mapping,
}

_mapping_cache: dict = {}


def entity_mapping(entity_set: str, tables) -> EntityMapping:
    """The :class:`~proseo_odata.odata.sql.EntityMapping` of ``entity_set`` over ``tables``
    (a :class:`proseo_odata.storage.schema.SchemaTables`)."""
    key = (entity_set, tables.dialect, tables.postgis, tables.extents, id(tables.products), tables.collections)
    mapping = _mapping_cache.get(key)
    if mapping is None:
        mapping = _mapping_cache[key] = _BUILDERS[entity_set](tables)
    return mapping


def compile_filter(entity_set: str, bound_filter: Bound, tables, *, now: Optional[_dt.datetime] = None,
                   guard=None):
    """The bound filter of ``entity_set`` as a boolean expression over
    ``tables.main_table(entity_set)`` (correlated subqueries for lambdas); ``guard``: the
    caller's restrictions, under which alone a part that can fail on a row's values is evaluated
    (:class:`~proseo_odata.odata.sql.SqlCompiler`)."""
    return SqlCompiler(entity_mapping(entity_set, tables), now, guard=guard).predicate(bound_filter)


def compile_orderby(entity_set: str, bound_items, tables) -> list:
    """Bound ``$orderby`` items of ``entity_set`` as ``ORDER BY`` clauses."""
    return compile_orderby_sql(bound_items, entity_mapping(entity_set, tables))


# --------------------------------------------------------------------------------------------
# the productType shortcut

_STRING_ATTRIBUTE = f"{edm.NAMESPACE}.StringAttribute"
_SAFE_OPS = ("eq", "gt", "ge", "lt", "le")  # false for a null value, like an empty any()


def _is_name_test(node, variable) -> bool:
    return (isinstance(node, BCompare) and node.op == "eq" and isinstance(node.left, BProperty)
            and node.left.variable == variable and node.left.path == ("Name",)
            and isinstance(node.right, BLiteral) and node.right.value == "productType")


def _is_value(node, variable, lambda_cast) -> bool:
    return (isinstance(node, BProperty) and node.variable == variable and node.path == ("Value",)
            and (node.cast or lambda_cast) == _STRING_ATTRIBUTE)


def _value_test(node, variable, lambda_cast) -> bool:
    if isinstance(node, BCompare):
        return node.op in _SAFE_OPS and _is_value(node.left, variable, lambda_cast) and isinstance(node.right, BLiteral)
    if isinstance(node, BIn):
        return _is_value(node.operand, variable, lambda_cast) and all(isinstance(i, BLiteral) for i in node.items)
    if isinstance(node, BCall):
        return (node.name in ("startswith", "contains", "endswith") and _is_value(node.args[0], variable, lambda_cast)
                and isinstance(node.args[1], BLiteral))
    return False


class _ProductTypeShortcut:
    """The productType shortcut of one set of tables; its static SQL is built once."""

    def __init__(self, tables):
        p, a = tables.products, tables.product_attributes
        self.column = _ProductTypeColumn(p.c.product_type)
        # product_type mirrors the productType attribute; only a String attribute matches the lambda.
        other_type = sa.exists().where(a.c.product_id == p.c.id, a.c.name == "productType",
                                       a.c.value_type != "String")
        self.no_other_type = _sql_not(other_type)
        self.attributes, self.product_id = a, p.c.id
        self.typed_columns = {f"{edm.NAMESPACE}.{short}Attribute": a.c[column]
                              for short, column in _ATTRIBUTE_COLUMNS.items()}
        #: (attribute name, cast) -> (the products column that mirrors it, ``column IS NOT
        #: NULL``) (PROMOTED_ATTRIBUTES)
        self.promoted = {(name, f"{edm.NAMESPACE}.{kind}Attribute"): (p.c[column], p.c[column].is_not(None))
                         for name, (column, kind) in PROMOTED_ATTRIBUTES.items()}

    def __call__(self, node: BLambda, compiler: SqlCompiler):
        if node.kind != "any" or node.collection != ("Attributes",) or node.single:
            return None
        if not isinstance(node.predicate, BAnd) or len(node.predicate.operands) != 2:
            return None
        operands = node.predicate.operands
        if node.cast not in (None, _STRING_ATTRIBUTE):
            return self.typed(node, operands, compiler)
        variable = node.variable
        for name_test, value_test in (operands, operands[::-1]):
            if _is_name_test(name_test, variable) and _value_test(value_test, variable, node.cast):
                break
        else:
            return self.typed(node, operands, compiler)
        # The value test, compiled with the variable's Value bound to products.product_type.
        compiler.scopes[variable] = (self.column, None)
        try:
            condition = compiler.predicate(value_test)
        finally:
            del compiler.scopes[variable]
        return _sql_and(condition, self.no_other_type)


    def typed(self, node: BLambda, operands, compiler: SqlCompiler):
        """``any(a: a/Name eq 'n' and a/Value <op> literal)`` on a typed attribute (op one of
        eq/lt/le/gt/ge, a non-null literal) as ``EXISTS (... name = 'n' AND <typed column> <op>
        :v)``. The general form also tests ``value_type = 'T'`` and ``<typed column> IS NOT
        NULL``; both are implied: the comparison is false for NULL, and the backend writes an
        attribute's value only into its type's column (``_attribute_row``), so a non-NULL
        ``double_value`` is a Double attribute. PostgreSQL counts each extra test as an
        independent filter (an underestimate of up to 700x at a million products, which made it
        join every matching attribute row), and ``value_type`` is in no index, so the general
        form cannot be answered from the (name, typed value, product_id) index alone
        (bench/README.md, "Catalogue queries in process"). Same rows as the general form."""
        variable = node.variable
        for name_test, value_test in (operands, operands[::-1]):
            if _is_any_name_test(name_test, variable):
                break
        else:
            return None
        if not (isinstance(value_test, BCompare) and value_test.op in _SAFE_OPS
                and isinstance(value_test.right, BLiteral) and value_test.right.value is not None):
            return None
        value = value_test.left
        if not (isinstance(value, BProperty) and value.variable == variable and value.path == ("Value",)):
            return None
        cast = value.cast or node.cast
        if node.cast is not None and value.cast is not None and node.cast != value.cast:
            return None  # contradictory casts: the general form (always false) applies
        column = self.typed_columns.get(cast)
        if column is None:
            return None
        promoted = self.promoted.get((name_test.right.value, cast))
        if promoted is not None:
            # products.<column> is the value of the attribute of that name and type, NULL when
            # there is none (storage/sqlalchemy.py writes it with the attributes): same rows,
            # estimated from the column's own statistics. ``IS NOT NULL`` keeps the two-valued
            # meaning under ``not``: ``not any(...)`` holds for a product without the attribute
            # (NOT EXISTS), which ``NOT (column > :v)`` alone, NULL there, would drop.
            column, not_null = promoted
            return _sql_and(not_null, _sql_compare(column, value_test.op, value_test.right.value))
        a = self.attributes
        return sa.exists().where(
            a.c.product_id == self.product_id, a.c.name == name_test.right.value,
            _sql_compare(column, value_test.op, value_test.right.value),
        )


def _is_any_name_test(node, variable) -> bool:
    return (isinstance(node, BCompare) and node.op == "eq" and isinstance(node.left, BProperty)
            and node.left.variable == variable and node.left.path == ("Name",)
            and isinstance(node.right, BLiteral) and isinstance(node.right.value, str))


class _ProductTypeColumn:
    conditions = ()

    def __init__(self, column):
        self.column = column

    def member(self, path, cast):
        if path != ("Value",):
            raise ODataNotSupportedError("productType shortcut: unexpected member")
        return self.column, None


# --------------------------------------------------------------------------------------------
# Python predicate accessor for the domain dataclasses


class DomainAccessor(DefaultAccessor):
    """Reads :mod:`proseo_odata.model` objects by EDM name (see the accessor protocol in
    :mod:`proseo_odata.odata.predicate`); dicts as :class:`DefaultAccessor` does."""

    def get(self, obj: Any, name: str):
        if obj is None:
            return None
        if isinstance(obj, dict):
            return obj.get(name)
        kind = type(obj).__name__
        special = _SPECIAL.get((kind, name))
        if special is not None:
            return special(obj)
        return super().get(obj, name)

    def type_name(self, obj):
        if isinstance(obj, dict):
            return super().type_name(obj)
        value_type = getattr(obj, "type", None)
        if value_type is None:
            return None
        return f"{edm.NAMESPACE}.{getattr(value_type, 'value', value_type)}Attribute"


_SPECIAL = {
    ("Product", "Checksum"): lambda p: p.checksums,
    ("Product", "ContentDate"): lambda p: {"Start": p.content_start, "End": p.content_end},
    ("Product", "Footprint"): lambda p: p.footprint,
    ("Product", "GeoFootprint"): lambda p: p.footprint,
    ("Product", "Collection"): lambda p: {"Name": p.collection},
    ("Checksum", "ChecksumDate"): lambda c: c.date,
    ("Attribute", "ValueType"): lambda a: getattr(a.type, "value", a.type),
    ("Subscription", "NotificationEpUsername"): lambda s: s.notification_username,
    ("ProductionOrder", "InputProductReference"): lambda o: {
        "Reference": o.input_reference,
        "ContentDate": {"Start": o.input_content_start, "End": o.input_content_end},
    },
    ("ProductionOrder", "WorkflowOptions"): lambda o: [
        {"Name": k, "Value": v} for k, v in sorted(o.workflow_options.items())],
    ("ProductionOrder", "NotificationEpUsername"): lambda o: o.notification_username,
}

#: The accessor for the domain dataclasses (subscription matching uses it).
DOMAIN_ACCESSOR = DomainAccessor()
