"""Validation of a new production order against the mission's workflows (contract section 10).

Plain Python, shared by the web layer and the command line::

    from proseo_odata.orders.validation import validate_order

    validated = validate_order(body, workflows, mission="DEMO")   # raises OrderValidationError
    order = validated.to_order(mission="DEMO", owner="demo")      # a queued ProductionOrder

``body`` is the decoded JSON object a client sent. Every problem is collected; when there is at
least one, a single :class:`OrderValidationError` (HTTP 400) is raised whose ``details`` list
each problem (an :class:`~proseo_odata.odata.errors.ODataError` with a ``target`` such as
``Priority`` or ``WorkflowOptions/ImageFormat``).

Tolerances (each one because a real client or the user's documents need it): ``Value`` of an
option as a string, a one-element array, a JSON number or boolean; option values matched to the
allowed values without regard to case (the allowed spelling is kept); date-times with or without
fraction, with ``Z`` or an offset (a value without zone is taken as UTC), and the user's
documents' ``10:35:18:872Z`` (colon before the fraction); server-assigned properties (``Id``,
``Status``, ``SubmissionDate``, ...) and ``@odata`` annotations in the body are ignored.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable, Mapping, Optional

from proseo_odata.errors import InvalidOrder
from proseo_odata.model import ProductionOrder, ProductionType, Workflow, utcnow
from proseo_odata.model.enums import OptionType
from proseo_odata.model.options import check_option_value, has_offset, production_type_for, scalar_text
from proseo_odata.model.statemachine import MESSAGE_QUEUED
from proseo_odata.model.times import parse_datetime
from proseo_odata.notify.delivery import credentials_problems, endpoint_problem
from proseo_odata.odata.edm import PRIORITY_BOUNDS, PRODUCTION_ORDER, computed_names, is_control_member

__all__ = [
    "DEFAULT_PRIORITY",
    "OrderValidationError",
    "ValidatedOrder",
    "merge_problems",
    "validate_order",
]

DEFAULT_PRIORITY = 50

#: Properties a client sets.
INPUT_PROPERTIES = {
    "Priority",
    "InputProductReference",
    "WorkflowId",
    "WorkflowName",
    "WorkflowOptions",
    "NotificationEndpoint",
    "NotificationEpUsername",
    "NotificationEpPassword",
}
#: Properties the server assigns; accepted in a body (clients echo them) and ignored: the
#: ``Core.Computed`` ones of $metadata, and ``Id`` (a GUID there is the client's own order id).
SERVER_PROPERTIES = {"Id", *computed_names(PRODUCTION_ORDER)}
REFERENCE_PROPERTIES = {"Reference", "ContentDate"}
CONTENT_DATE_PROPERTIES = {"Start", "End"}
#: A WorkflowOptions item may repeat the workflow's own description of the option.
OPTION_ITEM_PROPERTIES = {"Name", "Value", "Description", "Type", "Default"}

_INTEGER = re.compile(r"[+-]?[0-9]{1,20}\Z")  # ASCII digits, few enough for int()


class OrderValidationError(InvalidOrder):
    """A production order that fails validation: every problem at once in ``details``."""

    def __init__(self, problems: list[InvalidOrder]):
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = f"Invalid production order: {self.problems[0].message}"
        else:
            message = f"Invalid production order, {len(self.problems)} problems: " + "; ".join(
                p.message for p in self.problems
            )
        super().__init__(message, details=self.problems)


def _problem(message: str, target: str) -> InvalidOrder:
    return InvalidOrder(message, target=target)


@dataclass
class ValidatedOrder:
    """A valid order request: the workflow it names and the normalised values."""

    workflow: Workflow
    priority: int = DEFAULT_PRIORITY
    input_reference: Optional[str] = None
    input_content_start: Optional[datetime] = None
    input_content_end: Optional[datetime] = None
    workflow_options: dict[str, str] = field(default_factory=dict)
    production_type: ProductionType = ProductionType.ON_DEMAND_DEFAULT
    notification_endpoint: Optional[str] = None
    notification_username: Optional[str] = None
    notification_password: Optional[str] = None

    def to_order(
        self,
        *,
        mission: str,
        owner: str,
        submission_date: Optional[datetime] = None,
        estimated_date: Optional[datetime] = None,
        order_id: Optional[uuid.UUID] = None,
    ) -> ProductionOrder:
        """A new ``queued`` :class:`ProductionOrder` (not stored)."""
        kwargs = {}
        if order_id is not None:
            kwargs["id"] = order_id
        return ProductionOrder(
            mission=mission,
            owner=owner,
            workflow_id=self.workflow.id,
            workflow_name=self.workflow.name,
            status_message=MESSAGE_QUEUED,
            submission_date=submission_date or utcnow(),
            estimated_date=estimated_date,
            priority=self.priority,
            input_reference=self.input_reference,
            input_content_start=self.input_content_start,
            input_content_end=self.input_content_end,
            workflow_options=dict(self.workflow_options),
            production_type=self.production_type,
            notification_endpoint=self.notification_endpoint,
            notification_username=self.notification_username,
            notification_password=self.notification_password,
            **kwargs,
        )


def _check_unknown(obj: Mapping, known: set, ignored: set, prefix: str, problems: list) -> None:
    unknown = sorted(k for k in obj if k not in known and k not in ignored and not is_control_member(str(k)))
    if unknown:
        where = f" in {prefix}" if prefix else ""
        problems.append(
            _problem(
                f"unknown propert{'y' if len(unknown) == 1 else 'ies'}{where}: {', '.join(unknown)}",
                f"{prefix}/{unknown[0]}" if prefix else unknown[0],
            )
        )


def _find_workflow(body: Mapping, workflows: list[Workflow], mission: str, problems: list) -> Optional[Workflow]:
    workflow_id = body.get("WorkflowId")
    workflow_name = body.get("WorkflowName")
    by_id = by_name = None
    id_ok = name_ok = True
    if workflow_id is None and workflow_name is None:
        problems.append(_problem("either WorkflowId or WorkflowName is required", "WorkflowId"))
        return None
    if workflow_id is not None:
        try:
            if not isinstance(workflow_id, str):
                raise ValueError
            wanted = uuid.UUID(workflow_id.strip().strip("'"))
        except ValueError:
            problems.append(_problem(f"WorkflowId {workflow_id!r} is not a GUID", "WorkflowId"))
            id_ok = False
        else:
            by_id = next((w for w in workflows if w.id == wanted), None)
            if by_id is None:
                problems.append(_problem(f"no enabled workflow with Id {wanted} in mission {mission}", "WorkflowId"))
                id_ok = False
    if workflow_name is not None:
        if not isinstance(workflow_name, str) or not workflow_name:
            problems.append(_problem("WorkflowName must be a non-empty string", "WorkflowName"))
            name_ok = False
        else:
            by_name = next((w for w in workflows if w.name == workflow_name), None)
            if by_name is None:
                problems.append(
                    _problem(f"no enabled workflow named {workflow_name!r} in mission {mission}", "WorkflowName")
                )
                name_ok = False
    if by_id is not None and by_name is not None and by_id.id != by_name.id:
        problems.append(
            _problem(
                f"WorkflowId {by_id.id} names workflow {by_id.name!r}, not WorkflowName {workflow_name!r}",
                "WorkflowName",
            )
        )
        return None
    if not (id_ok and name_ok):
        return None
    return by_id or by_name


def _validate_priority(body: Mapping, problems: list) -> int:
    if "Priority" not in body or body["Priority"] is None:
        return DEFAULT_PRIORITY
    value = body["Priority"]
    number = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER.match(value.strip()):
        number = int(value.strip())
    low, high = PRIORITY_BOUNDS
    if number is None or not low <= number <= high:
        problems.append(_problem(f"Priority must be an integer from {low} to {high}, got {value!r}", "Priority"))
        return DEFAULT_PRIORITY
    return number


def _validate_reference(body: Mapping, result: ValidatedOrder, problems: list) -> None:
    reference = body.get("InputProductReference")
    if reference is None:
        problems.append(_problem("InputProductReference is required", "InputProductReference"))
        return
    if not isinstance(reference, Mapping):
        problems.append(_problem("InputProductReference must be an object", "InputProductReference"))
        return
    _check_unknown(reference, REFERENCE_PROPERTIES, set(), "InputProductReference", problems)
    name = reference.get("Reference")
    content_date = reference.get("ContentDate")
    if name is not None:
        if not isinstance(name, str) or not name.strip():
            problems.append(
                _problem("InputProductReference/Reference must be a product name", "InputProductReference/Reference")
            )
        else:
            result.input_reference = name.strip()
    if content_date is not None:
        target = "InputProductReference/ContentDate"
        if not isinstance(content_date, Mapping):
            problems.append(_problem(f"{target} must be an object with Start and End", target))
        else:
            _check_unknown(content_date, CONTENT_DATE_PROPERTIES, set(), target, problems)
            dates = {}
            for key in ("Start", "End"):
                if content_date.get(key) is None:
                    problems.append(_problem(f"{target}/{key} is required", f"{target}/{key}"))
                    continue
                try:
                    dates[key] = parse_datetime(content_date[key])
                except ValueError as exc:
                    problems.append(_problem(f"{target}/{key}: {exc}", f"{target}/{key}"))
            if len(dates) == 2:
                if dates["Start"] > dates["End"]:
                    problems.append(
                        _problem(f"{target}: Start {content_date['Start']} is after End {content_date['End']}", target)
                    )
                else:
                    result.input_content_start, result.input_content_end = dates["Start"], dates["End"]
    if name is None and content_date is None:
        problems.append(
            _problem("InputProductReference needs a Reference or a ContentDate (or both)", "InputProductReference")
        )


def _option_text(raw: Any) -> Optional[str]:
    if isinstance(raw, list):
        if len(raw) != 1:
            return None
        raw = raw[0]
    return scalar_text(raw)


def _validate_options(body: Mapping, workflow: Optional[Workflow], result: ValidatedOrder, problems: list) -> None:
    items = body.get("WorkflowOptions")
    if items is None:
        items = []
    if not isinstance(items, list):
        problems.append(_problem("WorkflowOptions must be an array of {Name, Value}", "WorkflowOptions"))
        return
    given: dict[str, str] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            problems.append(_problem(f"WorkflowOptions[{index}] must be an object {{Name, Value}}", "WorkflowOptions"))
            continue
        _check_unknown(item, OPTION_ITEM_PROPERTIES, set(), f"WorkflowOptions[{index}]", problems)
        name = item.get("Name")
        if not isinstance(name, str) or not name:
            problems.append(_problem(f"WorkflowOptions[{index}] has no Name", "WorkflowOptions"))
            continue
        target = f"WorkflowOptions/{name}"
        if name in given:
            problems.append(_problem(f"option {name} is given more than once", target))
            continue
        if "Value" not in item:
            problems.append(_problem(f"option {name} has no Value", target))
            continue
        text = _option_text(item["Value"])
        if text is None:
            problems.append(_problem(f"option {name}: Value must be a string or a one-element array", target))
            continue
        given[name] = text
    if workflow is None:
        return
    values: dict[str, str] = {}
    for name, text in given.items():
        option = workflow.option(name)
        if option is None:
            known = ", ".join(o.name for o in workflow.options) or "none"
            problems.append(
                _problem(
                    f"option {name} is not an option of workflow {workflow.name} (options: {known})",
                    f"WorkflowOptions/{name}",
                )
            )
            continue
        try:
            values[name] = check_option_value(option, text)
            if option.type is OptionType.DATETIMEOFFSET and not has_offset(text):
                raise ValueError("is not a DateTimeOffset: it has no offset (Z or +01:00)")
        except ValueError as exc:
            problems.append(_problem(f"option {name}: value {text!r} {exc}", f"WorkflowOptions/{name}"))
    for option in workflow.options:
        if option.name not in given and option.default is not None:
            values[option.name] = option.default
    result.workflow_options = {o.name: values[o.name] for o in workflow.options if o.name in values}
    result.production_type = production_type_for(workflow, result.workflow_options)


def _validate_notification(body: Mapping, result: ValidatedOrder, problems: list) -> None:
    endpoint = body.get("NotificationEndpoint")
    for key, attr in (("NotificationEpUsername", "notification_username"), ("NotificationEpPassword", "notification_password")):
        value = body.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(_problem(f"{key} must be a string", key))
        elif value:
            setattr(result, attr, value)
    for target, reason in credentials_problems(result.notification_username, result.notification_password):
        problems.append(_problem(reason, target))
    if endpoint is None or endpoint == "":
        return
    if not isinstance(endpoint, str):
        problems.append(_problem("NotificationEndpoint must be a string", "NotificationEndpoint"))
        return
    problem = endpoint_problem(endpoint.strip(), mailto=True)
    if problem:
        problems.append(_problem(problem, "NotificationEndpoint"))
        return
    result.notification_endpoint = endpoint.strip()


def _top(target: str) -> str:
    return re.split(r"[/\[]", target or "", maxsplit=1)[0]


def merge_problems(shape: Iterable[InvalidOrder], core: Iterable[InvalidOrder]) -> list[InvalidOrder]:
    """Shape problems, then the core's that are not about the same thing.

    A core problem is dropped when a shape problem has the same target, or when the shape
    problem concerns a whole property (``InputProductReference``) the core problem lies inside.
    """
    shape = list(shape)
    targets = {p.target or "" for p in shape}
    merged = list(shape)
    for problem in core:
        target = problem.target or ""
        if target in targets or _top(target) in targets or (target in ("", "body") and "body" in targets):
            continue
        merged.append(problem)
    return merged


def validate_order(body: Any, workflows: Iterable[Workflow], *, mission: str,
                   shape_problems: Iterable[InvalidOrder] = ()) -> ValidatedOrder:
    """Check an order request against the enabled workflows of ``mission``.

    ``workflows`` may hold workflows of any mission and disabled ones; only the enabled ones of
    ``mission`` count. Returns a :class:`ValidatedOrder`; raises :class:`OrderValidationError`
    listing every problem: ``shape_problems`` (what a JSON-shape check of the caller found,
    e.g. the ODIP colander schema) first, then the meaning problems :func:`merge_problems` keeps.
    """
    shape = list(shape_problems)
    try:
        validated = _validate(body, workflows, mission)
    except OrderValidationError as exc:
        if not shape:
            raise
        raise OrderValidationError(merge_problems(shape, exc.problems)) from None
    if shape:
        raise OrderValidationError(shape)
    return validated


def _validate(body: Any, workflows: Iterable[Workflow], mission: str) -> ValidatedOrder:
    if not isinstance(body, Mapping):
        raise OrderValidationError([_problem("the request body must be a JSON object", "")])
    candidates = [w for w in workflows if w.mission == mission and w.enabled]
    problems: list[InvalidOrder] = []
    _check_unknown(body, INPUT_PROPERTIES, SERVER_PROPERTIES, "", problems)
    workflow = _find_workflow(body, candidates, mission, problems)
    result = ValidatedOrder(workflow=workflow)  # type: ignore[arg-type] - replaced below when valid
    result.priority = _validate_priority(body, problems)
    _validate_reference(body, result, problems)
    _validate_options(body, workflow, result, problems)
    _validate_notification(body, result, problems)
    if problems:
        raise OrderValidationError(problems)
    return result
