"""The shape of a production order request body, as colander schemas (contract section 10).

Two layers check a new order, and the client gets every problem of both in one 400 (one call:
:func:`proseo_odata.orders.service.submit` with ``check_shape=shape_problems``):

1. :data:`ORDER_SCHEMA` (here): the JSON shape only - which properties are strings, objects and
   arrays, which are required (``InputProductReference``; ``Start`` and ``End`` of a
   ``ContentDate``; ``Name`` and ``Value`` of an option), ``Priority`` a JSON number or string,
   each option's ``Value`` a scalar or a one-element array;
2. :func:`proseo_odata.orders.validation.validate_order` (the core): the meaning - the workflow
   exists in the user's mission and is enabled, WorkflowId and WorkflowName agree, ``Priority``
   an integer 1..100, ``ContentDate`` valid date-times with ``Start <= End``, a non-empty
   ``Reference``, options that exist with valid values, the endpoint a URL, no unknown
   properties.

The schema holds no rule of the second kind: ranges, date formats, allowed values and names
are the core's alone. Both layers see a malformed property;
:func:`proseo_odata.orders.validation.merge_problems` keeps the shape's message and drops the
core's for the same target. Messages name properties and never
echo a ``NotificationEpPassword``. JSON ``null`` counts as absent.
"""
from __future__ import annotations

from typing import Any, Mapping

import colander

from proseo_odata.errors import InvalidOrder

__all__ = ["ORDER_SCHEMA", "OrderSchema", "shape_problems"]


class _Text(colander.SchemaType):
    """A JSON string (never converted from another type, never echoed in a message)."""

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if not isinstance(cstruct, str):
            raise colander.Invalid(node, f"{node.name} must be a string")
        return cstruct


class _Number(colander.SchemaType):
    """A JSON number or string (``Priority``: the core decides integrality and range)."""

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if isinstance(cstruct, bool) or not isinstance(cstruct, (int, float, str)):
            raise colander.Invalid(node, f"{node.name} must be an integer from 1 to 100")
        return cstruct


class _DateTimeText(colander.SchemaType):
    """A date-time as JSON: a string, required (its format is the core's to check)."""

    def deserialize(self, node, cstruct):
        if cstruct is colander.null or cstruct is None:
            raise colander.Invalid(node, f"{node.name} is required")
        if not isinstance(cstruct, str):
            raise colander.Invalid(node, f"{node.name} must be a date-time string")
        return cstruct


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


class _OptionValue(colander.SchemaType):
    """An option value: a string, number or Boolean, or a one-element array of one."""

    def deserialize(self, node, cstruct):
        if cstruct is colander.null:
            raise colander.Invalid(node, "Value is required")
        value = cstruct
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        if not _is_scalar(value):
            raise colander.Invalid(node, "Value must be a string or a one-element array")
        return value


class _Object(colander.Mapping):
    """A JSON object; unknown keys are left to the core (it names them)."""

    def __init__(self):
        super().__init__(unknown="ignore")

    def _validate(self, node, value):
        if not isinstance(value, Mapping):
            what = "each WorkflowOptions item" if node.name == "option" else node.name
            raise colander.Invalid(node, f"{what} must be an object" + (" {Name, Value}" if node.name == "option" else ""))
        return dict(value)


class _Array(colander.Sequence):
    def _validate(self, node, value, accept_scalar):
        if not isinstance(value, list):
            raise colander.Invalid(node, f"{node.name} must be an array of {{Name, Value}}")
        return value


class ContentDateSchema(colander.SchemaNode):
    schema_type = _Object
    Start = colander.SchemaNode(_DateTimeText())
    End = colander.SchemaNode(_DateTimeText())


class InputProductReferenceSchema(colander.SchemaNode):
    schema_type = _Object
    Reference = colander.SchemaNode(_Text(), missing=colander.null)
    ContentDate = ContentDateSchema(missing=colander.null)


class OptionSchema(colander.SchemaNode):
    schema_type = _Object
    Name = colander.SchemaNode(_Text(), missing_msg="an option needs a Name")
    Value = colander.SchemaNode(_OptionValue())


class OptionsSchema(colander.SchemaNode):
    schema_type = _Array
    option = OptionSchema()


class OrderSchema(colander.SchemaNode):
    """A production order request (the properties a client sets)."""

    schema_type = _Object
    Priority = colander.SchemaNode(_Number(), missing=colander.null)
    WorkflowId = colander.SchemaNode(_Text(), missing=colander.null)
    WorkflowName = colander.SchemaNode(_Text(), missing=colander.null)
    InputProductReference = InputProductReferenceSchema(missing_msg="InputProductReference is required")
    WorkflowOptions = OptionsSchema(missing=colander.null)
    NotificationEndpoint = colander.SchemaNode(_Text(), missing=colander.null)
    NotificationEpUsername = colander.SchemaNode(_Text(), missing=colander.null)
    NotificationEpPassword = colander.SchemaNode(_Text(), missing=colander.null)


ORDER_SCHEMA = OrderSchema(name="ProductionOrder")


def _without_nulls(value: Any) -> Any:
    """JSON nulls removed from objects (null counts as absent)."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _target(body: Mapping, path: str) -> str:
    """A colander error path (``WorkflowOptions.0.Value``) as the core's target form
    (``WorkflowOptions/ImageFormat``, or ``WorkflowOptions[0]`` for an item without a name)."""
    parts = path.split(".")
    if parts[0] == "WorkflowOptions" and len(parts) >= 2 and parts[1].isdigit():
        index = int(parts[1])
        items = body.get("WorkflowOptions")
        item = items[index] if isinstance(items, list) and index < len(items) else None
        name = item.get("Name") if isinstance(item, Mapping) else None
        if isinstance(name, str) and name and parts[2:] != ["Name"]:
            return f"WorkflowOptions/{name}"
        return f"WorkflowOptions[{index}]"
    return "/".join(parts)


def shape_problems(body: Any) -> list[InvalidOrder]:
    """Every shape problem of an order request body (empty when the shape is right)."""
    if not isinstance(body, Mapping):
        return [InvalidOrder("the request body must be a JSON object", target="body")]
    cleaned = _without_nulls(body)
    try:
        ORDER_SCHEMA.deserialize(cleaned)
    except colander.Invalid as invalid:
        problems = []
        for path, message in sorted(invalid.asdict().items()):
            if path == ORDER_SCHEMA.name:
                path = "body"
            elif path.startswith(ORDER_SCHEMA.name + "."):
                path = path[len(ORDER_SCHEMA.name) + 1:]
            for text in message.split("; "):
                problems.append(InvalidOrder(text, target=_target(cleaned, path)))
        return problems
    return []
