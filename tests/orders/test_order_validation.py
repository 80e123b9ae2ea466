"""Validation of new production orders (contract section 10): one row per rule."""
import copy
import uuid
from datetime import datetime, timezone

import pytest

from proseo_odata.model import OptionType, OrderStatus, ProductionType, Workflow, WorkflowOption
from proseo_odata.errors import InvalidOrder
from proseo_odata.model.options import check_option_value
from proseo_odata.model.times import parse_datetime  # the one date-time parser orders use
from proseo_odata.orders.validation import OrderValidationError, validate_order
from proseo_odata_web.errors import answer_of

WF_ID = uuid.UUID("2b17b57d-fff4-4645-b539-91f305c83b91")
OTHER_ID = uuid.UUID("11111111-2222-4333-8444-555555555555")


def make_workflows():
    main = Workflow(
        mission="DEMO",
        name="S2_L1C_L2A",
        id=WF_ID,
        input_product_type="S2MSI1C",
        output_product_type="S2MSI2A",
        processor="image",
        options=[
            WorkflowOption("ImageFormat", OptionType.STRING, default="GEOTIFF", allowed_values=("GEOTIFF", "JPG")),
            WorkflowOption("Level", OptionType.INTEGER, default="5"),
            WorkflowOption("Ratio", OptionType.DOUBLE, default="0.5"),
            WorkflowOption("Verbose", OptionType.BOOLEAN, default="false"),
            WorkflowOption("Since", OptionType.DATETIMEOFFSET),
            WorkflowOption("Count", OptionType.NUMBER, default="1"),
            WorkflowOption("Day", OptionType.DATENUMBER, default="1"),
            WorkflowOption("Mode", OptionType.INTEGER, default="1", allowed_values=("1", "2")),
        ],
    )
    other = Workflow(mission="DEMO", name="OTHER", id=OTHER_ID, input_product_type="A", output_product_type="B", processor="image")
    disabled = Workflow(mission="DEMO", name="OFF", input_product_type="A", output_product_type="B", processor="image", enabled=False)
    foreign = Workflow(mission="S1", name="FOREIGN", input_product_type="A", output_product_type="B", processor="image")
    return [main, other, disabled, foreign]


BASE = {
    "InputProductReference": {
        "Reference": "S2B_MSIL1C_20191025T085939_N0208_R007_T37VCC_20191025T112031.zip",
        "ContentDate": {"Start": "2016-01-17T10:34:51.922Z", "End": "2016-01-17T10:35:18.872Z"},
    },
    "Priority": 50,
    "WorkflowId": str(WF_ID),
    "WorkflowName": "S2_L1C_L2A",
    "WorkflowOptions": [{"Name": "ImageFormat", "Value": ["JPG"]}],
    "NotificationEndpoint": "https://myservice/notification",
    "NotificationEpUsername": "myserviceuser",
    "NotificationEpPassword": "secret",
}


def body_with(**changes):
    body = copy.deepcopy(BASE)
    for key, value in changes.items():
        path = key.split("__")
        target = body
        for part in path[:-1]:
            target = target[part]
        if value is DROP:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
    return body


DROP = object()


def opts(**values):
    return [{"Name": k, "Value": v} for k, v in values.items()]


def validate(body):
    return validate_order(body, make_workflows(), mission="DEMO")


# (id, body, expected: dict of checks on the result)
VALID = [
    ("user-example", BASE, {"priority": 50, "options_sub": {"ImageFormat": "JPG", "Level": "5"}, "ptype": "non"}),
    ("by-name-only", body_with(WorkflowId=DROP), {"workflow": WF_ID}),
    ("by-id-only", body_with(WorkflowName=DROP), {"workflow": WF_ID}),
    ("id-in-quotes-uppercase", body_with(WorkflowName=DROP, WorkflowId=f"'{str(WF_ID).upper()}'"), {"workflow": WF_ID}),
    ("priority-default", body_with(Priority=DROP), {"priority": 50}),
    ("priority-1", body_with(Priority=1), {"priority": 1}),
    ("priority-100", body_with(Priority=100), {"priority": 100}),
    ("priority-as-text", body_with(Priority="7"), {"priority": 7}),
    ("reference-only", body_with(InputProductReference__ContentDate=DROP), {"reference": True, "dates": False}),
    ("content-date-only", body_with(InputProductReference__Reference=DROP), {"reference": False, "dates": True}),
    ("start-equals-end", body_with(InputProductReference__ContentDate={"Start": "2020-01-01T00:00:00Z", "End": "2020-01-01T00:00:00Z"}), {"dates": True}),
    ("seed-typo-colon-fraction", body_with(InputProductReference__ContentDate={"Start": "2016-01-17T10:34:51.922Z", "End": "2016-01-17T10:35:18:872Z"}), {"end": datetime(2016, 1, 17, 10, 35, 18, 872000, tzinfo=timezone.utc)}),
    ("defaults-filled", body_with(WorkflowOptions=DROP), {"options": {"ImageFormat": "GEOTIFF", "Level": "5", "Ratio": "0.5", "Verbose": "false", "Count": "1", "Day": "1", "Mode": "1"}, "ptype": "default"}),
    ("explicit-default-is-default", body_with(WorkflowOptions=opts(ImageFormat="GEOTIFF", Level="05", Verbose=False)), {"ptype": "default"}),
    ("value-as-string", body_with(WorkflowOptions=opts(ImageFormat="JPG")), {"options_sub": {"ImageFormat": "JPG"}}),
    ("value-case-insensitive", body_with(WorkflowOptions=opts(ImageFormat=["jpg"])), {"options_sub": {"ImageFormat": "JPG"}}),
    ("integer", body_with(WorkflowOptions=opts(Level=["12"])), {"options_sub": {"Level": "12"}, "ptype": "non"}),
    ("integer-json-number", body_with(WorkflowOptions=opts(Level=12)), {"options_sub": {"Level": "12"}}),
    ("double", body_with(WorkflowOptions=opts(Ratio="2.5e-1")), {"options_sub": {"Ratio": "2.5e-1"}}),
    ("boolean", body_with(WorkflowOptions=opts(Verbose="TRUE")), {"options_sub": {"Verbose": "true"}}),
    ("datetime", body_with(WorkflowOptions=opts(Since="2020-02-03T04:05:06.789Z")), {"options_sub": {"Since": "2020-02-03T04:05:06.789Z"}}),
    ("number", body_with(WorkflowOptions=opts(Count="3.25")), {"options_sub": {"Count": "3.25"}}),
    ("datenumber-366", body_with(WorkflowOptions=opts(Day="366")), {"options_sub": {"Day": "366"}}),
    ("allowed-typed-value", body_with(WorkflowOptions=opts(Mode="02")), {"options_sub": {"Mode": "2"}}),
    ("mailto-endpoint", body_with(NotificationEndpoint="mailto:ops@example.org"), {"endpoint": "mailto:ops@example.org"}),
    ("no-endpoint", body_with(NotificationEndpoint=DROP, NotificationEpUsername=DROP, NotificationEpPassword=DROP), {"endpoint": None}),
    ("server-properties-ignored", body_with(Id=str(uuid.uuid4()), Status="completed", SubmissionDate="2020-01-01T00:00:00Z"), {"priority": 50}),
    ("annotations-ignored", body_with(**{"@odata.context": "$metadata#ProductionOrder/$entity"}), {"priority": 50}),
    # what odata.metadata=full adds to an entity a client echoes: property annotations, operations
    ("full-metadata-echo", body_with(**{"Id@odata.type": "#Guid", "Priority@odata.type": "#Int32",
                                        "#OData.CSC.Cancel": {"title": "Cancel", "target": "x"}}), {"priority": 50}),
    ("option-item-with-description", body_with(WorkflowOptions=[{"Name": "ImageFormat", "Value": "JPG", "Type": "String", "Description": "x"}]), {"options_sub": {"ImageFormat": "JPG"}}),
]


@pytest.mark.parametrize("body,checks", [(b, c) for _, b, c in VALID], ids=[i for i, _, _ in VALID])
def test_valid_orders(body, checks):
    result = validate(body)
    assert result.workflow.id == checks.get("workflow", WF_ID)
    if "priority" in checks:
        assert result.priority == checks["priority"]
    if "options" in checks:
        assert result.workflow_options == checks["options"]
    for name, value in checks.get("options_sub", {}).items():
        assert result.workflow_options[name] == value
    if "ptype" in checks:
        expected = ProductionType.ON_DEMAND_DEFAULT if checks["ptype"] == "default" else ProductionType.ON_DEMAND_NON_DEFAULT
        assert result.production_type is expected
    if "reference" in checks:
        assert (result.input_reference is not None) is checks["reference"]
    if "dates" in checks:
        assert (result.input_content_start is not None and result.input_content_end is not None) is checks["dates"]
        if checks["dates"]:
            assert result.input_content_start <= result.input_content_end
    if "end" in checks:
        assert result.input_content_end == checks["end"]
    if "endpoint" in checks:
        assert result.notification_endpoint == checks["endpoint"]
    # Options left out take their defaults: every option with a default is present.
    assert {"ImageFormat", "Level", "Ratio", "Verbose", "Count", "Day", "Mode"} <= set(result.workflow_options)


# (id, body, [(target, message fragment), ...]) : exactly these problems, nothing more.
INVALID = [
    ("no-workflow", body_with(WorkflowId=DROP, WorkflowName=DROP), [("WorkflowId", "either WorkflowId or WorkflowName is required")]),
    ("bad-guid", body_with(WorkflowName=DROP, WorkflowId="6c18b57d-fgk4-1236-b539-12h305c26z89"), [("WorkflowId", "is not a GUID")]),
    ("unknown-id", body_with(WorkflowName=DROP, WorkflowId=str(uuid.uuid4())), [("WorkflowId", "no enabled workflow with Id")]),
    ("unknown-name", body_with(WorkflowId=DROP, WorkflowName="NOPE"), [("WorkflowName", "no enabled workflow named 'NOPE' in mission DEMO")]),
    ("disabled", body_with(WorkflowId=DROP, WorkflowName="OFF", WorkflowOptions=DROP), [("WorkflowName", "no enabled workflow named 'OFF'")]),
    ("other-mission", body_with(WorkflowId=DROP, WorkflowName="FOREIGN", WorkflowOptions=DROP), [("WorkflowName", "no enabled workflow named 'FOREIGN'")]),
    ("id-name-disagree", body_with(WorkflowId=str(OTHER_ID)), [("WorkflowName", "names workflow 'OTHER', not WorkflowName 'S2_L1C_L2A'")]),
    ("priority-0", body_with(Priority=0), [("Priority", "1 to 100, got 0")]),
    ("priority-101", body_with(Priority=101), [("Priority", "got 101")]),
    ("priority-fraction", body_with(Priority=5.5), [("Priority", "got 5.5")]),
    ("priority-bool", body_with(Priority=True), [("Priority", "got True")]),
    ("priority-text", body_with(Priority="high"), [("Priority", "got 'high'")]),
    ("reference-missing", body_with(InputProductReference=DROP), [("InputProductReference", "InputProductReference is required")]),
    ("reference-empty", body_with(InputProductReference={}), [("InputProductReference", "needs a Reference or a ContentDate")]),
    ("reference-not-object", body_with(InputProductReference="x.zip"), [("InputProductReference", "must be an object")]),
    ("reference-blank", body_with(InputProductReference__Reference="  "), [("InputProductReference/Reference", "must be a product name")]),
    ("start-after-end", body_with(InputProductReference__ContentDate={"Start": "2020-01-02T00:00:00Z", "End": "2020-01-01T00:00:00Z"}), [("InputProductReference/ContentDate", "is after End")]),
    ("end-missing", body_with(InputProductReference__ContentDate={"Start": "2020-01-02T00:00:00Z"}), [("InputProductReference/ContentDate/End", "is required")]),
    ("start-garbage", body_with(InputProductReference__ContentDate={"Start": "yesterday", "End": "2020-01-01T00:00:00Z"}), [("InputProductReference/ContentDate/Start", "is not an ISO-8601 date-time")]),
    ("unknown-in-reference", body_with(InputProductReference__Foo=1), [("InputProductReference/Foo", "unknown property in InputProductReference: Foo")]),
    ("unknown-option", body_with(WorkflowOptions=opts(Colour="red")), [("WorkflowOptions/Colour", "not an option of workflow S2_L1C_L2A")]),
    ("value-not-allowed", body_with(WorkflowOptions=opts(ImageFormat="PNG")), [("WorkflowOptions/ImageFormat", "not one of the allowed values GEOTIFF, JPG")]),
    ("two-element-array", body_with(WorkflowOptions=opts(ImageFormat=["JPG", "GEOTIFF"])), [("WorkflowOptions/ImageFormat", "a string or a one-element array")]),
    ("value-object", body_with(WorkflowOptions=opts(ImageFormat={"a": 1})), [("WorkflowOptions/ImageFormat", "a string or a one-element array")]),
    ("no-value", body_with(WorkflowOptions=[{"Name": "Level"}]), [("WorkflowOptions/Level", "has no Value")]),
    ("duplicate-option", body_with(WorkflowOptions=opts(Level="1") + opts(Level="2")), [("WorkflowOptions/Level", "more than once")]),
    ("options-not-array", body_with(WorkflowOptions={"ImageFormat": "JPG"}), [("WorkflowOptions", "must be an array")]),
    ("integer-bad", body_with(WorkflowOptions=opts(Level="1.5")), [("WorkflowOptions/Level", "is not an Integer")]),
    ("integer-too-big", body_with(WorkflowOptions=opts(Level=str(2**63))), [("WorkflowOptions/Level", "Int64")]),
    ("double-bad", body_with(WorkflowOptions=opts(Ratio="abc")), [("WorkflowOptions/Ratio", "is not a Double")]),
    ("double-inf", body_with(WorkflowOptions=opts(Ratio="1e999")), [("WorkflowOptions/Ratio", "finite")]),
    ("boolean-bad", body_with(WorkflowOptions=opts(Verbose="yes")), [("WorkflowOptions/Verbose", "is not a Boolean")]),
    ("datetime-bad", body_with(WorkflowOptions=opts(Since="2020-13-45T00:00:00Z")), [("WorkflowOptions/Since", "is not a DateTimeOffset")]),
    ("number-bad", body_with(WorkflowOptions=opts(Count="1,5")), [("WorkflowOptions/Count", "is not a Number")]),
    ("datenumber-0", body_with(WorkflowOptions=opts(Day="0")), [("WorkflowOptions/Day", "1..366")]),
    ("datenumber-367", body_with(WorkflowOptions=opts(Day="367")), [("WorkflowOptions/Day", "1..366")]),
    ("typed-not-allowed", body_with(WorkflowOptions=opts(Mode="3")), [("WorkflowOptions/Mode", "allowed values 1, 2")]),
    ("endpoint-ftp", body_with(NotificationEndpoint="ftp://host/x"), [("NotificationEndpoint", "http or https URL")]),
    ("endpoint-no-host", body_with(NotificationEndpoint="https://"), [("NotificationEndpoint", "http or https URL")]),
    ("endpoint-bad-mailto", body_with(NotificationEndpoint="mailto:nobody"), [("NotificationEndpoint", "http or https URL")]),
    ("endpoint-number", body_with(NotificationEndpoint=5), [("NotificationEndpoint", "must be a string")]),
    ("endpoint-userinfo", body_with(NotificationEndpoint="https://u:pw@host/x"), [("NotificationEndpoint", "user information")]),
    ("endpoint-user", body_with(NotificationEndpoint="http://u@host/x"), [("NotificationEndpoint", "user information")]),
    ("endpoint-ftp-userinfo", body_with(NotificationEndpoint="ftp://u:pw@host/x"), [("NotificationEndpoint", "user information")]),
    ("password-number", body_with(NotificationEpPassword=5), [("NotificationEpPassword", "must be a string")]),
    ("unknown-properties", body_with(Colour="red", Size=3), [("Colour", "unknown properties: Colour, Size")]),
    # not control information as OData JSON writes it: unknown properties, not echoes to ignore
    ("malformed-annotations", body_with(**{"Prio@rity": 3, "#Priority": 3, "Product@odata.bind": "Products(x)"}),
     [("#Priority", "unknown properties: #Priority, Prio@rity, Product@odata.bind")]),
    (
        "everything-at-once",
        body_with(Priority=0, WorkflowOptions=opts(ImageFormat="PNG", Day="400"), NotificationEndpoint="ftp://x", Extra=1),
        [
            ("Extra", "unknown property: Extra"),
            ("Priority", "got 0"),
            ("WorkflowOptions/ImageFormat", "allowed values"),
            ("WorkflowOptions/Day", "1..366"),
            ("NotificationEndpoint", "http or https"),
        ],
    ),
]


@pytest.mark.parametrize("body,expected", [(b, e) for _, b, e in INVALID], ids=[i for i, _, _ in INVALID])
def test_invalid_orders_report_every_problem(body, expected):
    with pytest.raises(OrderValidationError) as info:
        validate(body)
    err = info.value
    assert isinstance(err, InvalidOrder) and answer_of("odip", err.kind) == (400, "E7205")
    got = [(d.target, d.message) for d in err.details]
    assert len(got) == len(expected), got
    for (target, message), (want_target, fragment) in zip(got, expected):
        assert target == want_target, got
        assert fragment in message, got
        assert fragment in err.message or len(expected) > 1
    assert all(isinstance(d, InvalidOrder) for d in err.details)
    assert ":pw@" not in str([err.message, *got])  # a password in the endpoint is never echoed


def test_body_must_be_an_object():
    with pytest.raises(OrderValidationError, match="must be a JSON object"):
        validate(["not", "an", "object"])


def test_to_order_builds_a_queued_order():
    result = validate(BASE)
    order = result.to_order(mission="DEMO", owner="demo")
    assert order.status is OrderStatus.QUEUED
    assert order.status_message == "request is queued for processing"
    assert order.workflow_id == WF_ID and order.workflow_name == "S2_L1C_L2A"
    assert order.workflow_options["ImageFormat"] == "JPG"
    assert order.production_type is ProductionType.ON_DEMAND_NON_DEFAULT
    assert order.notification_password == "secret"
    assert order.input_content_start == datetime(2016, 1, 17, 10, 34, 51, 922000, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("2016-01-17T10:34:51.922Z", datetime(2016, 1, 17, 10, 34, 51, 922000, tzinfo=timezone.utc)),
        ("2016-01-17T10:34:51Z", datetime(2016, 1, 17, 10, 34, 51, tzinfo=timezone.utc)),
        ("2016-01-17T12:34:51.5+02:00", datetime(2016, 1, 17, 10, 34, 51, 500000, tzinfo=timezone.utc)),
        ("2016-01-17T10:34:51.123456789Z", datetime(2016, 1, 17, 10, 34, 51, 123456, tzinfo=timezone.utc)),
        ("2016-01-17T10:34", datetime(2016, 1, 17, 10, 34, tzinfo=timezone.utc)),
    ],
)
def test_parse_datetime(text, expected):
    assert parse_datetime(text) == expected


def test_check_option_value_keeps_allowed_spelling():
    option = WorkflowOption("F", OptionType.STRING, allowed_values=("GEOTIFF", "JPG"))
    assert check_option_value(option, "geotiff") == "GEOTIFF"
    with pytest.raises(ValueError):
        check_option_value(option, "TIFF")


def test_the_properties_the_service_sets_are_read_or_ignored_in_a_body():
    """An order's Core.Computed properties (edm's flags) and its Id, which is the client's own
    order id, are what a body may carry besides the order's input."""
    from proseo_odata.orders.validation import INPUT_PROPERTIES, SERVER_PROPERTIES

    assert SERVER_PROPERTIES == {"Id", "Status", "StatusMessage", "OrderOutputSize", "SubmissionDate",
                                 "EstimatedDate", "CompletedDate", "EvictionDate"}
    assert not SERVER_PROPERTIES & INPUT_PROPERTIES
