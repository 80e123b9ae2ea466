"""Domain model: enum literals, normalisation of dates and attributes, password hashing."""
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from proseo_odata.model import (
    INT64_MAX, INT64_MIN, NEVER, Attribute, AttributeType, OrderStatus, Product, ProductionType,
    Role, User, hash_password, verify_password,
)


@pytest.mark.parametrize("member, literal", [
    (ProductionType.SYSTEMATIC_PRODUCTION, "systematic_production"),
    (ProductionType.ON_DEMAND_DEFAULT, "on-demand:default"),
    (ProductionType.ON_DEMAND_NON_DEFAULT, "on-demand:non-default"),
    (OrderStatus.IN_PROGRESS, "in_progress"),
    (AttributeType.DATETIMEOFFSET, "DateTimeOffset"),
    (Role.PRODUCT_READER_ALL, "PRODUCT_READER_ALL"),
])
def test_enum_members_are_the_esa_literals(member, literal):
    assert member == literal and str(member) == literal and type(member)(literal) is member


def test_never_is_the_icd_literal():
    assert NEVER.isoformat(timespec="milliseconds") == "9999-12-31T23:59:59.999+00:00"


def test_dates_are_normalised_to_utc_and_naive_rejected():
    plus2 = timezone(timedelta(hours=2))
    product = Product(mission="M", name="a", content_start=datetime(2020, 1, 1, 2, 0, tzinfo=plus2))
    assert product.content_start == datetime(2020, 1, 1, 0, 0, tzinfo=timezone.utc)
    assert product.content_start.utcoffset() == timedelta(0)
    with pytest.raises(TypeError, match="timezone-aware"):
        Product(mission="M", name="a", content_start=datetime(2020, 1, 1))


@pytest.mark.parametrize("kind, value, error", [
    (AttributeType.INTEGER, INT64_MAX + 1, ValueError),
    (AttributeType.INTEGER, INT64_MIN - 1, ValueError),
    (AttributeType.INTEGER, True, TypeError),
    (AttributeType.STRING, 3, TypeError),
    (AttributeType.DOUBLE, "1.0", TypeError),
    (AttributeType.DOUBLE, float("nan"), ValueError),
    (AttributeType.DOUBLE, float("inf"), ValueError),  # served as bare Infinity: no JSON
    (AttributeType.DOUBLE, float("-inf"), ValueError),
    (AttributeType.DOUBLE, 10 ** 400, ValueError),  # past the Double range
    (AttributeType.DATETIMEOFFSET, datetime(2020, 1, 1), TypeError),
])
def test_attribute_values_must_fit_their_type(kind, value, error):
    with pytest.raises(error):
        Attribute("x", kind, value)


def test_attribute_of_infers_the_type():
    assert Attribute.of("b", True).type is AttributeType.BOOLEAN
    assert Attribute.of("i", 3).type is AttributeType.INTEGER
    assert Attribute.of("d", 0.1).type is AttributeType.DOUBLE
    assert Attribute.of("s", "x").type is AttributeType.STRING


def test_product_type_and_attribute_agree():
    p = Product(mission="M", name="a", product_type="S2MSI1C")
    assert p.attribute("productType") == Attribute("productType", AttributeType.STRING, "S2MSI1C")
    q = Product(mission="M", name="b", attributes=[Attribute.of("productType", "AUX_X")])
    assert q.product_type == "AUX_X"
    with pytest.raises(ValueError, match="disagrees"):
        Product(mission="M", name="c", product_type="A", attributes=[Attribute.of("productType", "B")])
    assert isinstance(p.id, uuid.UUID) and p.id != q.id
    # a productType of another type: its text, and the check on write agrees with it
    r = Product(mission="M", name="d", attributes=[Attribute.of("productType", 123)])
    assert r.product_type == "123"
    r.sync_product_type()
    assert r.attribute("productType").value == 123


def test_password_hash_round_trip_and_salting():
    first, second = hash_password("s3cret"), hash_password("s3cret")
    assert first != second and first.startswith("$scrypt$")
    assert verify_password("s3cret", first) and verify_password("s3cret", second)
    assert not verify_password("s3cret!", first)
    assert not verify_password("s3cret", "garbage")
    user = User("DEMO", "demo", first, {"PRIP_USER"})
    assert user.check_password("s3cret") and user.has_role(Role.PRIP_USER)
    assert user.qualified_name == "DEMO\\demo"


def test_secrets_never_appear_in_reprs():
    from proseo_odata.model import OutboxMessage, ProductionOrder, Subscription

    secret = "Zq9-very-secret"
    hashed = hash_password(secret)
    objects = [
        (User("DEMO", "demo", hashed, {"PRIP_USER"}), hashed),
        (Subscription("DEMO", "demo", "Name eq 'x'", notification_endpoint="https://h/n",
                      notification_username="ep-user", notification_password=secret), secret),
        (ProductionOrder("DEMO", "demo", uuid.uuid4(), "WF", notification_endpoint="https://h/n",
                         notification_username="ep-user", notification_password=secret), secret),
        (OutboxMessage(1, "order", "https://h/n", {"a": 1}, username="ep-user", password=secret), secret),
    ]
    for obj, value in objects:
        text = repr(obj)
        assert type(obj).__name__ in text and value not in text and secret not in text, text
        assert str(obj) == text
    # the secret is still there for whoever needs it (delivery, login)
    assert objects[0][0].check_password(secret) and objects[3][0].password == secret
    assert objects[1][0].notification_password == secret == objects[2][0].notification_password
