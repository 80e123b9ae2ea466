"""Subscription matching: which running subscriptions get a notification when a product is
published (contract section 3), on SQLite and PostgreSQL; and the subscription state machine."""
import re
import uuid
from datetime import datetime, timezone

import pytest

from live_server import Receiver
from proseo_odata.model import (
    Attribute,
    Checksum,
    Mission,
    Product,
    Role,
    Subscription,
    SubscriptionStatus,
    User,
    VisibilityClass,
)
from proseo_odata.model.passwords import hash_password
from proseo_odata.notify.subscriptions import (
    NOTIFICATION_KIND,
    TRANSITIONS,
    SubscriptionAction,
    SubscriptionStateError,
    apply_action,
    compiled_filter,
    on_product_published,
    validate_filter_param,
    validate_notification_endpoint,
)
from proseo_odata.odata.errors import ODataError
from proseo_odata.storage import Query
from proseo_odata.storage.sqlalchemy import load_from_config
from proseo_odata.errors import InvalidSubscription
from proseo_odata_web.errors import answer_of

NOW = datetime(2025, 6, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
S2_L1C = "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'S2MSI1C')"


def l1c_product(**fields):
    values = dict(
        mission="S2B",
        name=f"S2B_MSIL1C_{uuid.uuid4().hex[:8]}.zip",
        content_length=1234,
        attributes=[Attribute.of("productType", "S2MSI1C"), Attribute.of("cloudCover", 12.5)],
        checksums=[Checksum("MD5", "0" * 32)],
        content_start=datetime(2024, 1, 1, tzinfo=timezone.utc),
        content_end=datetime(2024, 1, 1, 0, 10, tzinfo=timezone.utc),
        footprint="POLYGON((10 40,11 40,11 41,10 41,10 40))",
    )
    values.update(fields)
    return Product(**values)


@pytest.fixture
def storage(db_url):
    storage = load_from_config({"proseo.storage.url": db_url})
    storage.initialize_schema()
    for code in ("S2B", "S1A"):
        storage.add_mission(Mission(code))
    password = hash_password("secret")
    storage.add_user(User("S2B", "alice", password, {Role.PRIP_USER}))
    storage.add_user(User("S2B", "bob", password, {Role.PRIP_USER, Role.PRODUCT_READER_ALL}))
    storage.add_user(User("S2B", "carol", password, {Role.ODIP_USER}))  # no PRIP_USER
    storage.add_user(User("S1A", "alice", password, {Role.PRIP_USER}))
    yield storage
    storage.close()


def subscribe(storage, filter_param, owner="alice", mission="S2B", status=SubscriptionStatus.RUNNING,
              endpoint="http://127.0.0.1:9/notify"):
    return storage.add_subscription(Subscription(
        mission=mission, owner=owner, filter_param=filter_param, status=status,
        notification_endpoint=endpoint, notification_username="rx", notification_password="pw",
    ))


def publish(storage, product):
    with storage.transaction() as tx:
        tx.add_product(product)
        return on_product_published(tx, product, now=NOW)


def test_matching_running_subscriptions_are_notified(storage):
    matching = subscribe(storage, S2_L1C)
    by_name = subscribe(storage, "startswith(Name,'S2B_MSIL1C') and ContentLength gt 1000")
    by_area = subscribe(storage, "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((10.5 40.5,12 40.5,12 42,10.5 42,10.5 40.5))')")
    subscribe(storage, "Attributes/OData.CSC.DoubleAttribute/any(a:a/Name eq 'cloudCover' and a/OData.CSC.DoubleAttribute/Value lt 10.0)")
    subscribe(storage, S2_L1C, status=SubscriptionStatus.PAUSED)
    subscribe(storage, S2_L1C, status=SubscriptionStatus.CANCELLED)
    subscribe(storage, S2_L1C, mission="S1A")
    subscribe(storage, S2_L1C, owner="carol")  # lacks PRIP_USER
    product = l1c_product()

    notified = publish(storage, product)

    assert sorted(notified) == sorted([matching.id, by_name.id, by_area.id])
    messages = storage.list_notifications()
    assert len(messages) == 3
    for message in messages:
        assert message.kind == NOTIFICATION_KIND and message.mission == "S2B"
        assert (message.endpoint, message.username, storage.secrets.open(message.password)) == ("http://127.0.0.1:9/notify", "rx", "pw")
        assert message.payload == {
            "@odata.context": "$metadata#Notification/$entity",
            "ProductId": str(product.id),
            "ProductName": product.name,
            "SubscriptionId": message.payload["SubscriptionId"],
            "NotificationDate": "2025-06-01T12:00:00.123Z",
        }
    assert {m.payload["SubscriptionId"] for m in messages} == {str(i) for i in notified}
    assert storage.get_subscription("S2B", matching.id).last_notification_date == NOW
    paused = [s for s in storage.query_subscriptions("S2B", Query(top=100)).items
              if s.status is not SubscriptionStatus.RUNNING]
    assert all(s.last_notification_date is None for s in paused)


def test_non_matching_product_enqueues_nothing(storage):
    subscribe(storage, S2_L1C)
    other = l1c_product(attributes=[Attribute.of("productType", "S2MSI2A")])
    assert publish(storage, other) == []
    assert storage.list_notifications() == []


def test_visibility_of_the_owner_is_respected(storage):
    alice = subscribe(storage, "true", owner="alice")
    bob = subscribe(storage, "true", owner="bob")
    assert publish(storage, l1c_product(visibility=VisibilityClass.INTERNAL)) == [bob.id]
    assert sorted(publish(storage, l1c_product())) == sorted([alice.id, bob.id])


def test_notification_is_rolled_back_with_the_product(storage):
    subscribe(storage, S2_L1C)
    with pytest.raises(RuntimeError):
        with storage.transaction() as tx:
            product = l1c_product()
            tx.add_product(product)
            assert on_product_published(tx, product, now=NOW)
            raise RuntimeError("publication failed")
    assert storage.list_notifications() == []


def test_filter_with_now_is_evaluated_at_publication():
    product = l1c_product(publication_date=datetime(2030, 1, 1, tzinfo=timezone.utc))
    text = "PublicationDate le now()"
    assert compiled_filter(text, datetime(2031, 1, 1, tzinfo=timezone.utc))(product) is True
    assert compiled_filter(text, datetime(2029, 1, 1, tzinfo=timezone.utc))(product) is False


@pytest.mark.parametrize("text, position", [
    ("Name eq 'x' and", 15),
    ("Nme eq 'x'", 0),
    ("contains(Name,'a' eq true", None),
    # compiled too: constant arithmetic out of range is refused as GET Products refuses it
    ("PublicationDate lt now() add duration'P9999999D'", None),
    ("ContentLength lt 9223372036854775807 add 1", None),
])
def test_invalid_filter_param_is_rejected_with_its_position(text, position):
    with pytest.raises(ODataError) as info:
        validate_filter_param(text)
    assert answer_of("prip", info.value.kind) == (400, "E7721") and info.value.target == "FilterParam"
    if position is not None:
        assert info.value.position == position


@pytest.mark.parametrize("text", ["", "   ", None, 42])
def test_empty_filter_param_is_rejected(text):
    with pytest.raises(ODataError, match="FilterParam"):
        validate_filter_param(text)


ALL_CELLS = [(status, action) for status in SubscriptionStatus for action in SubscriptionAction]
EXPECTED = {
    ("running", "Pause"): "paused", ("running", "Resume"): "running", ("running", "Cancel"): "cancelled",
    ("paused", "Pause"): "paused", ("paused", "Resume"): "running", ("paused", "Cancel"): "cancelled",
    ("cancelled", "Pause"): None, ("cancelled", "Resume"): None, ("cancelled", "Cancel"): "cancelled",
}


@pytest.mark.parametrize("status, action", ALL_CELLS)
def test_state_machine(status, action):
    subscription = Subscription(mission="S2B", owner="alice", filter_param="true", status=status)
    expected = EXPECTED[(str(status), str(action))]
    if expected is None:
        with pytest.raises(SubscriptionStateError) as info:
            apply_action(subscription, action)
        assert answer_of("prip", info.value.kind) == (409, "E7740") and str(status) in info.value.message
        assert subscription.status is status
    else:
        assert apply_action(subscription, action).status == SubscriptionStatus(expected)
    assert len(TRANSITIONS) == 7


# -- end to end: publication -> outbox -> dispatcher -> a real HTTP receiver on 127.0.0.1 --------


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


def test_matching_product_is_delivered_and_non_matching_is_not(storage, receiver):
    import base64

    from proseo_odata.notify.delivery import NotificationDispatcher

    subscription = subscribe(storage, S2_L1C, endpoint=receiver.url)
    matching, other = l1c_product(), l1c_product(attributes=[Attribute.of("productType", "S2MSI2A")])
    with storage.transaction() as tx:
        tx.add_product(other)
        on_product_published(tx, other)
        tx.add_product(matching)
        on_product_published(tx, matching)

    dispatcher = NotificationDispatcher(storage, {"proseo.notify.timeout_seconds": "10"})
    try:
        assert dispatcher.run_once() == 1
        assert dispatcher.run_once() == 0  # nothing left, nothing delivered twice
    finally:
        dispatcher.stop()

    assert len(receiver.received) == 1
    request = receiver.received[0]
    assert request["path"] == "/notify" and request["type"].startswith("application/json")
    assert request["auth"] == "Basic " + base64.b64encode(b"rx:pw").decode()
    body = request["body"]
    assert body["ProductId"] == str(matching.id) and body["ProductName"] == matching.name
    assert body["SubscriptionId"] == str(subscription.id)
    assert body["@odata.context"] == "$metadata#Notification/$entity"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", body["NotificationDate"])
    (message,) = storage.list_notifications()
    assert message.delivered_at is not None


def test_ingest_notifies_matching_subscriptions(storage, tmp_path):
    from proseo_odata.archive.local import LocalArchive
    from proseo_odata.ingest import ingest_file

    subscription = subscribe(storage, "startswith(Name,'S2B_INGESTED')")
    subscribe(storage, "startswith(Name,'S1A')")
    path = tmp_path / "S2B_INGESTED_PRODUCT.zip"
    path.write_bytes(b"zip bytes")
    product = ingest_file(storage, LocalArchive(tmp_path / "archive"), "S2B", path)
    (message,) = storage.list_notifications()
    assert message.payload["ProductId"] == str(product.id)
    assert message.payload["SubscriptionId"] == str(subscription.id)


@pytest.mark.parametrize("endpoint, fragment", [
    ("https://u:pw@host/notify", "user information"),
    ("http://user@host:8080/notify", "user information"),
    ("ftp://u:pw@host/notify", "user information"),
    ("ftp://host/notify", "http or https"),
    ("https:///notify", "http or https"),
    ("", "required"),
    (None, "required"),
])
def test_notification_endpoint_is_an_http_url_without_user_information(endpoint, fragment):
    with pytest.raises(InvalidSubscription) as info:
        validate_notification_endpoint(endpoint)
    assert info.value.target == "NotificationEndpoint" and answer_of("prip", info.value.kind) == (400, "E7742")
    assert fragment in info.value.message and "pw" not in info.value.message


@pytest.mark.parametrize("endpoint", ["https://host/notify", " http://127.0.0.1:8080/n?x=1 ", "HTTPS://Host"])
def test_valid_notification_endpoints_are_accepted(endpoint):
    assert validate_notification_endpoint(endpoint) == endpoint.strip()


@pytest.fixture
def broken_subscriptions(storage, monkeypatch):
    """A good subscription and two broken ones: a FilterParam that fails (an invalid regular
    expression stored before validation refused it) and an owner whose evaluation raises."""
    from proseo_odata.notify import subscriptions as module

    good = subscribe(storage, S2_L1C)
    bad_filter = subscribe(storage, "matchesPattern(Name,'[')")
    exploding = subscribe(storage, S2_L1C, owner="bob")
    real = module._owner_may_see

    def owner_may_see(storage, subscription, product, users):
        if subscription.id == exploding.id:
            raise RuntimeError("boom")
        return real(storage, subscription, product, users)

    monkeypatch.setattr(module, "_owner_may_see", owner_may_see)
    return good, bad_filter, exploding


def test_a_failing_subscription_never_stops_the_others(storage, broken_subscriptions, caplog):
    good, bad_filter, exploding = broken_subscriptions
    product = l1c_product()
    with caplog.at_level("WARNING", logger="proseo_odata.notify.subscriptions"):
        assert publish(storage, product) == [good.id]
    storage.get_product("S2B", product.id)  # published
    (message,) = storage.list_notifications()
    assert message.payload["SubscriptionId"] == str(good.id)
    logged = caplog.text
    assert str(bad_filter.id) in logged and str(exploding.id) in logged


def test_ingest_is_not_aborted_by_a_failing_subscription(storage, broken_subscriptions, tmp_path):
    from proseo_odata.archive.local import LocalArchive
    from proseo_odata.ingest import ingest_file

    good, _, _ = broken_subscriptions
    archive = LocalArchive(tmp_path / "archive")
    path = tmp_path / "S2B_MSIL1C_X.zip"
    path.write_bytes(b"zip bytes")
    product = ingest_file(storage, archive, "S2B", path,
                          {"Attributes": [{"Name": "productType", "ValueType": "String", "Value": "S2MSI1C"}]})
    assert b"".join(archive.iter_range(storage.get_product("S2B", product.id).archive_key)) == b"zip bytes"
    (message,) = storage.list_notifications()
    assert message.payload["SubscriptionId"] == str(good.id)


def test_filter_param_with_an_invalid_regular_expression_is_rejected():
    with pytest.raises(ODataError) as info:
        validate_filter_param("matchesPattern(Name,'[')")
    assert info.value.target == "FilterParam" and "regular expression" in info.value.message
