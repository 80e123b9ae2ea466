"""The production engine on SQLite and PostgreSQL: orders run for real, from submission to a
published output product with matching checksums, failures, cancellation, the queue and leases."""
import contextlib
import gzip
import io
import threading
import time
import uuid
import zipfile
from datetime import timedelta

import pytest
from PIL import Image

from enginekit import (
    END, L1C_NAME, ORIGIN, START, add_input, archived_bytes, digests,
    make_settings, order_body, set_up,
)
from live_server import wait_for
from proseo_odata.model import OrderStatus, ProductionType, utcnow
from proseo_odata.orders.service import cancel_order, estimate_completion, submit_order
from proseo_odata.production.inputs import InputProductNotFound
from proseo_odata.model.statemachine import IllegalTransition
from proseo_odata.production import queue
from proseo_odata.production.engine import Worker, WorkerPool
from proseo_odata.storage.base import StorageBase
from proseo_odata_web.errors import answer_of


@pytest.fixture
def env(db_url, tmp_path):
    settings = make_settings(db_url, tmp_path)
    storage, archive = set_up(settings)
    yield settings, storage, archive
    storage.close()


def submit(storage, body, **kwargs):
    with storage.transaction() as tx:
        return submit_order(tx, body, mission="DEMO", owner="demo", **kwargs)


def test_order_runs_to_a_published_product(env):
    settings, storage, archive = env
    source = add_input(storage, archive)
    before = utcnow()
    order = submit(storage, order_body(options={"ImageFormat": ["JPG"]}, NotificationEndpoint="http://127.0.0.1:9/n"))
    assert order.status is OrderStatus.QUEUED and order.status_message == "request is queued for processing"
    assert order.input_product_id == source.id
    assert order.estimated_date > order.submission_date

    assert Worker(storage, archive, settings).run_pending() == 1

    done = storage.get_order("DEMO", order.id)
    assert done.status is OrderStatus.COMPLETED, done.status_message
    assert done.status_message == "requested output product is available"
    assert done.worker_id is not None and done.lease_expires_at is None
    assert before <= done.completed_date <= utcnow()
    assert done.eviction_date == done.completed_date + timedelta(days=30)

    product = storage.get_product("DEMO", done.output_product_id)
    assert product.name == L1C_NAME.replace("MSIL1C", "MSIL2A")
    assert product.product_type == "S2MSI2A"
    assert product.attribute("productType").value == "S2MSI2A"
    assert product.attribute("cloudCover").value == 12.5  # carried over
    assert product.production_type is ProductionType.ON_DEMAND_NON_DEFAULT
    assert product.origin_date == ORIGIN
    assert (product.content_start, product.content_end) == (START, END)
    assert product.footprint is not None and "36 60" in product.footprint.replace(".0", "")
    assert product.publication_date >= before and product.eviction_date == done.eviction_date
    # dated in the transaction that completes the order (docs/prip.md, "Harvesting by
    # PublicationDate"), not when the output was made, before it was archived
    assert product.publication_date >= done.completed_date
    assert product.content_type == "application/zip"

    data = archived_bytes(archive, product.archive_key)
    assert len(data) == product.content_length == done.order_output_size
    md5, sha256 = digests(data)
    assert product.checksum("MD5") == md5 and product.checksum("SHA256") == sha256
    with zipfile.ZipFile(io.BytesIO(data)) as packaged:
        with Image.open(io.BytesIO(packaged.read("quicklook.jpg"))) as img:
            assert img.format == "JPEG" and img.size == (24, 16)
    assert product.quicklook == "quicklook.jpg"  # its QUICKLOOK asset (docs/prip.md, "Quicklooks")

    [message] = storage.list_notifications()
    assert message.endpoint == "http://127.0.0.1:9/n"
    assert message.payload["ProductId"] == str(product.id)
    assert message.payload["ProductName"] == product.name
    assert message.payload["ProductionOrderId"] == str(order.id)
    assert "Status" not in message.payload


def test_default_options_give_on_demand_default_and_names_stay_unique(env):
    settings, storage, archive = env
    add_input(storage, archive)
    first = submit(storage, order_body())
    second = submit(storage, order_body())
    assert Worker(storage, archive, settings).run_pending() == 2
    products = [storage.get_product("DEMO", storage.get_order("DEMO", o.id).output_product_id) for o in (first, second)]
    assert all(p.production_type is ProductionType.ON_DEMAND_DEFAULT for p in products)
    assert len({p.name for p in products}) == 2  # the second got a suffix, not a conflict
    for p in products:
        with zipfile.ZipFile(io.BytesIO(archived_bytes(archive, p.archive_key))) as packaged:
            assert "quicklook.tif" in packaged.namelist()
        assert p.quicklook == "quicklook.tif"


def test_external_workflow_runs_the_demo_command(env):
    settings, storage, archive = env
    source = add_input(storage, archive)
    order = submit(storage, order_body("S2_L1C_COMPRESS", options={"CompressionLevel": "9"}))
    Worker(storage, archive, settings).run_pending()
    done = storage.get_order("DEMO", order.id)
    assert done.status is OrderStatus.COMPLETED, done.status_message
    product = storage.get_product("DEMO", done.output_product_id)
    assert product.name == L1C_NAME + ".gz" and product.content_type == "application/gzip"
    assert gzip.decompress(archived_bytes(archive, product.archive_key)) == archived_bytes(archive, source.archive_key)
    assert done.eviction_date == done.completed_date + timedelta(days=7)


def test_input_lookup_by_content_date_takes_the_newest(env):
    settings, storage, archive = env
    older = add_input(storage, archive, name="OLD.zip", published=utcnow() - timedelta(days=2))
    newer = add_input(storage, archive, name="NEW.zip", published=utcnow() - timedelta(days=1))
    body = {"WorkflowName": "S2_L1C_L2A", "InputProductReference": {"ContentDate": {
        "Start": (START + timedelta(seconds=5)).isoformat(), "End": (END - timedelta(seconds=5)).isoformat()}}}
    order = submit(storage, body)
    assert order.input_product_id == newer.id != older.id


@pytest.mark.parametrize(
    "reference,content_date,code",
    [
        ("NOPE.zip", None, "E7258"),
        (None, {"Start": "2001-01-01T00:00:00Z", "End": "2001-01-02T00:00:00Z"}, "E7259"),
        ("NOPE.zip", {"Start": "2001-01-01T00:00:00Z", "End": "2001-01-02T00:00:00Z"}, "E7259"),
    ],
)
def test_missing_input_product_is_404(env, reference, content_date, code):
    _, storage, archive = env
    add_input(storage, archive)
    reference_body = {}
    if reference:
        reference_body["Reference"] = reference
    if content_date:
        reference_body["ContentDate"] = content_date
    with pytest.raises(InputProductNotFound) as info:
        submit(storage, {"WorkflowName": "S2_L1C_L2A", "InputProductReference": reference_body})
    assert answer_of("odip", info.value.kind) == (404, code)
    assert "S2MSI1C" in info.value.message
    with storage.transaction() as tx:
        assert tx.query_orders("DEMO", __import__("proseo_odata.storage", fromlist=["Query"]).Query(count=True)).count == 0


def test_input_of_another_type_is_not_taken(env):
    _, storage, archive = env
    add_input(storage, archive)
    with pytest.raises(InputProductNotFound):
        submit(storage, order_body(reference=L1C_NAME.replace("L1C", "L2A")))


def test_input_gone_before_production_fails_the_order(env):
    settings, storage, archive = env
    source = add_input(storage, archive)
    order = submit(storage, order_body(NotificationEndpoint="https://example.org/n"))
    storage.delete_product("DEMO", source.id)
    Worker(storage, archive, settings).run_pending()
    failed = storage.get_order("DEMO", order.id)
    assert failed.status is OrderStatus.FAILED
    assert failed.status_message.startswith("input product not found")
    assert failed.completed_date is not None and failed.output_product_id is None
    [message] = storage.list_notifications()
    assert message.payload["Status"] == "failed" and message.payload["StatusMessage"] == failed.status_message


def test_processor_failure_fails_with_the_reason(env):
    settings, storage, archive = env
    add_input(storage, archive)
    order = submit(storage, order_body("FAILING"))
    Worker(storage, archive, settings).run_pending()
    failed = storage.get_order("DEMO", order.id)
    assert failed.status is OrderStatus.FAILED
    assert failed.status_message.startswith("production has failed: processor exited with status 3")
    assert "fatal: no calibration table" in failed.status_message
    with storage.transaction() as tx:
        from proseo_odata.storage import Query
        assert [p.name for p in tx.query_products("DEMO", Query()).items] == [L1C_NAME]  # nothing published


def test_cancel_stops_the_running_processor(env, tmp_path):
    settings, storage, archive = env
    add_input(storage, archive)
    order = submit(storage, order_body("SLOW", NotificationEndpoint="http://127.0.0.1:9/n"))
    worker = Worker(storage, archive, settings)
    runner = threading.Thread(target=worker.run_pending)
    started = time.monotonic()
    runner.start()
    try:
        assert wait_for(lambda: storage.get_order("DEMO", order.id).status is OrderStatus.IN_PROGRESS, 15)
        log_file = wait_for(lambda: next(iter(tmp_path.glob("order-*/work/processor.log")), None), 15)
        assert log_file is not None, "the processor did not start"
        with storage.transaction() as tx:
            cancelled = cancel_order(tx, "DEMO", order.id)
        assert cancelled.status is OrderStatus.CANCELLED
        runner.join(30)
        assert not runner.is_alive()
    finally:
        worker.stop()
        runner.join(30)
    assert time.monotonic() - started < 25  # the 30 s processor did not run to its end
    final = storage.get_order("DEMO", order.id)
    assert final.status is OrderStatus.CANCELLED
    assert final.status_message == "request cancelled by user" and final.output_product_id is None
    assert not list(tmp_path.glob("order-*"))  # scratch removed
    [message] = storage.list_notifications()
    assert message.payload["Status"] == "cancelled"
    with storage.transaction() as tx:
        with pytest.raises(IllegalTransition):
            cancel_order(tx, "DEMO", order.id)


def test_claim_order_priority_then_age_and_exactly_once(env):
    settings, storage, archive = env
    add_input(storage, archive)
    low = submit(storage, order_body(Priority=10))
    high_old = submit(storage, order_body(Priority=90))
    high_new = submit(storage, order_body(Priority=90))
    claimed = [queue.claim_next_order(storage, "w", 30) for _ in range(4)]
    assert [c.id if c else None for c in claimed] == [high_old.id, high_new.id, low.id, None]
    assert all(c.status is OrderStatus.IN_PROGRESS and c.worker_id == "w" for c in claimed[:3])
    assert claimed[0].status_message == "request is under processing"


def test_concurrent_claims_take_each_order_once(env):
    _, storage, archive = env
    add_input(storage, archive)
    ids = {submit(storage, order_body()).id for _ in range(30)}
    taken, lock = [], threading.Lock()

    def claim(worker_id):
        while True:
            claimed = queue.claim_next_order(storage, worker_id, 30)
            if claimed is None:
                return
            with lock:
                taken.append(claimed.id)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(taken) == sorted(ids)


def test_heartbeat_and_expired_lease_recovery(env):
    settings, storage, archive = env
    add_input(storage, archive)
    order = submit(storage, order_body(NotificationEndpoint="http://127.0.0.1:9/n"))
    claimed = queue.claim_next_order(storage, "lost-worker", 1)
    assert queue.heartbeat(storage, order.id, "lost-worker", 1)
    assert not queue.heartbeat(storage, order.id, "someone-else", 1)
    later = utcnow() + timedelta(seconds=5)
    assert queue.requeue_expired(storage, now=utcnow(), max_attempts=2) == []  # lease still valid
    [requeued] = queue.requeue_expired(storage, now=later, max_attempts=2)
    assert requeued.id == claimed.id and requeued.status is OrderStatus.QUEUED and requeued.attempts == 1
    assert requeued.worker_id is None and requeued.status_message == "request is queued for processing"
    assert not queue.heartbeat(storage, order.id, "lost-worker", 1)  # the lost worker must stop
    queue.claim_next_order(storage, "second", 1)
    pool = WorkerPool(settings, storage, archive, threads=0, dispatcher=False)
    assert pool.recover_expired() == []
    [failed] = queue.requeue_expired(storage, now=utcnow() + timedelta(seconds=5), max_attempts=2,
                                     on_failed=lambda tx, o: __import__("proseo_odata.notify.delivery", fromlist=["x"]).enqueue_order_notification(tx, o))
    assert failed.status is OrderStatus.FAILED and failed.attempts == 2
    assert "worker was lost 2 time(s)" in failed.status_message and failed.completed_date is not None
    assert [m.payload["Status"] for m in storage.list_notifications()] == ["failed"]


def test_estimate_grows_with_the_queue_and_learns_from_history(env):
    settings, storage, archive = env
    add_input(storage, archive)
    workflow = storage.get_workflow_by_name("DEMO", "S2_L1C_L2A")
    now = utcnow()
    empty = estimate_completion(storage, workflow, 50, now=now, default_run_seconds=60)
    assert empty == now + timedelta(seconds=60)
    for _ in range(3):
        submit(storage, order_body(Priority=60))
    assert estimate_completion(storage, workflow, 50, now=now, default_run_seconds=60) == now + timedelta(seconds=240)
    assert estimate_completion(storage, workflow, 50, now=now, default_run_seconds=60, workers=2) == now + timedelta(seconds=120)
    assert estimate_completion(storage, workflow, 70, now=now, default_run_seconds=60) == now + timedelta(seconds=60)
    Worker(storage, archive, settings).run_pending()  # history: three quick runs
    learned = estimate_completion(storage, workflow, 50, now=now, default_run_seconds=600)
    assert now < learned < now + timedelta(seconds=60)


def test_worker_pool_runs_orders_in_threads(env):
    settings, storage, archive = env
    add_input(storage, archive)
    ids = [submit(storage, order_body()).id for _ in range(4)]
    pool = WorkerPool(settings, storage, archive, threads=2, dispatcher=False).start()
    try:
        assert wait_for(lambda: all(storage.get_order("DEMO", i).status is OrderStatus.COMPLETED for i in ids), 60)
    finally:
        pool.stop()


def test_sync_configured_workflows_is_idempotent_and_skips_unknown_missions(env, tmp_path):
    settings, storage, _ = env
    from proseo_odata.production.workflows import sync_configured_workflows
    import json as _json

    before = {w.name: w for w in storage.list_workflows("DEMO")}
    assert str(before["S2_L1C_L2A"].id) == "2b17b57d-fff4-4645-b539-91f305c83b91"
    assert before["S2_L1C_L2A"].option("ImageFormat").allowed_values == ("GEOTIFF", "JPG")
    path = tmp_path / "more.json"
    path.write_text(_json.dumps([{"id": str(uuid.uuid4()), "mission": "NOWHERE", "name": "N", "input_product_type": "A",
                                  "output_product_type": "B", "processor": "image"}]))
    again = sync_configured_workflows(storage, dict(settings, **{"proseo.workflows.file": settings["proseo.workflows.file"] + " " + str(path)}))
    assert sorted(w.name for w in again) == sorted(before)
    after = {w.name: w for w in storage.list_workflows("DEMO")}
    assert {n: w.id for n, w in after.items()} == {n: w.id for n, w in before.items()}


class ContractOnlyStorage(StorageBase):
    """A mission's own backend, as the engine sees it: nothing but the ``StorageBase`` methods
    (no ``.engine``, no SQLAlchemy tables), here delegating to a real storage."""

    def __init__(self, inner):
        self._inner = inner

    def transaction(self):
        @contextlib.contextmanager
        def bound():
            with self._inner.transaction() as tx:
                yield ContractOnlyStorage(tx)

        return bound()

    def bind(self, handle):
        return ContractOnlyStorage(self._inner.bind(handle))


def _delegate(name):
    return lambda self, *args, **kwargs: getattr(self._inner, name)(*args, **kwargs)


for _name in dir(StorageBase):  # with the protocols' methods StorageBase inherits
    if callable(getattr(StorageBase, _name)) and not _name.startswith("_") and _name not in ("transaction", "bind"):
        setattr(ContractOnlyStorage, _name, _delegate(_name))


def test_orders_run_on_any_storage_backend(env):
    """Submission (EstimatedDate), claiming, heartbeats, completion and lease recovery use only
    the storage contract, inside the caller's transaction."""
    settings, real, archive = env
    storage = ContractOnlyStorage(real)
    assert not hasattr(storage, "engine")
    add_input(real, archive)
    now = utcnow()
    first = submit(storage, order_body(Priority=60), now=now)
    assert first.estimated_date == now + timedelta(seconds=60)  # nothing ahead, no history
    later = now + timedelta(milliseconds=1)  # the queue runs the older one first
    second = submit(storage, order_body(Priority=60), now=later)
    assert second.estimated_date == later + timedelta(seconds=120)  # one ahead
    assert Worker(storage, archive, settings).run_pending(limit=1) == 1
    done = real.get_order("DEMO", first.id)
    assert done.status is OrderStatus.COMPLETED, done.status_message
    # history now shapes the estimate (this order ran in well under the 600 s default)
    workflow = real.get_workflow_by_name("DEMO", "S2_L1C_L2A")
    assert estimate_completion(storage, workflow, 60, now=now, default_run_seconds=600) < now + timedelta(seconds=600)
    # a worker that dies holding the second order: its lease expires, the pool requeues it
    claimed = queue.claim_next_order(storage, "dead-worker", 0.05)
    assert claimed.id == second.id and queue.heartbeat(storage, second.id, "dead-worker", 0.05)
    time.sleep(0.1)
    pool = WorkerPool(settings, storage, archive, threads=0, dispatcher=False)
    [requeued] = pool.recover_expired()
    assert requeued.id == second.id and requeued.status is OrderStatus.QUEUED and requeued.attempts == 1
    assert Worker(storage, archive, settings).run_pending() == 1
    assert real.get_order("DEMO", second.id).status is OrderStatus.COMPLETED


def test_outputs_of_orders_made_back_to_back_get_different_names():
    """A taken output Name gets part of the order's Id: its random end, since time-ordered Ids
    made close together share their start."""
    from proseo_odata.model import new_id
    from proseo_odata.production.engine import _unique_name

    first, second = new_id(), new_id()  # (their first 8 hex digits: the same 65 s of time)
    names = {_unique_name("S2B_MSIL2A_X.SAFE.zip", order) for order in (first, second)}
    assert len(names) == 2 and all(n.startswith("S2B_MSIL2A_X_") and n.endswith(".SAFE.zip") for n in names)


ORDER = uuid.UUID("01a24bbd-5e8c-7000-8000-0000004f746c")


@pytest.mark.parametrize("name, renamed", [
    ("N" * 251 + ".zip", "N" * 242 + "_4f746c" + ".zip"),         # a longest Name: its stem shortened
    ("é" * 125 + ".SAFE.zip", "é" * 118 + "_4f746c" + ".SAFE.zip"),  # 2 bytes each: none cut in two
    ("x." + "e" * 253, "x." + "e" * 244 + "_4f746c"),          # no room before the extension: at the end
    ("S2B_MSIL2A_X.SAFE.zip", "S2B_MSIL2A_X_4f746c.SAFE.zip"),  # short: as it was
])
def test_a_renamed_output_stays_a_valid_name(name, renamed):
    """The name-clash suffix made a 255-byte Name 264 bytes long, which no ingest would take."""
    from proseo_odata.ingest import NAME_MAX_BYTES, check_name
    from proseo_odata.production.engine import _unique_name

    renamed = renamed.replace("_4f746c", "_" + ORDER.hex[-8:])
    assert _unique_name(name, ORDER) == renamed
    assert check_name(renamed) == renamed and len(renamed.encode("utf-8")) <= NAME_MAX_BYTES


def test_a_longest_output_name_taken_twice_is_published_within_the_limit(env, monkeypatch):
    """Two orders publishing the same 255-byte Name: the second is renamed within 255 bytes."""
    import proseo_odata.production.engine as engine
    from proseo_odata.ingest import NAME_MAX_BYTES

    settings, storage, archive = env
    add_input(storage, archive)
    long_name = "L" * (NAME_MAX_BYTES - 4) + ".zip"
    first, second = (submit(storage, order_body("S2_L1C_L2A")) for _ in range(2))
    original = engine._checked_output

    def with_long_name(output):
        output.name = long_name
        return original(output)

    monkeypatch.setattr(engine, "_checked_output", with_long_name)
    Worker(storage, archive, settings).run_pending()
    names = []
    for order in (first, second):
        done = storage.get_order("DEMO", order.id)
        assert done.status is OrderStatus.COMPLETED, done.status_message
        names.append(storage.get_product("DEMO", done.output_product_id).name)
    assert names[0] == long_name and names[1] != long_name and len(names[1].encode("utf-8")) <= NAME_MAX_BYTES


def test_a_subscription_on_now_sees_the_output_published_at_now(env):
    """A subscription's ``now()`` is the moment of publication (docs/subscriptions.md): an order's
    output, dated by the storage when the order completes, is published at or before it."""
    from proseo_odata.model import Role, Subscription, User, hash_password

    settings, storage, archive = env
    add_input(storage, archive)
    storage.add_user(User("DEMO", "watcher", hash_password("secret"), {Role.PRIP_USER, Role.PRODUCT_READER_ALL}))
    storage.add_subscription(Subscription(
        mission="DEMO", owner="watcher", filter_param="PublicationDate le now() and startswith(Name,'S2B_MSIL2A')",
        notification_endpoint="http://127.0.0.1:9/notify", notification_username="rx", notification_password="pw"))
    order = submit(storage, order_body(options={"ImageFormat": ["JPG"]}))
    assert Worker(storage, archive, settings).run_pending() == 1
    done = storage.get_order("DEMO", order.id)
    assert done.status is OrderStatus.COMPLETED, done.status_message
    notified = [m for m in storage.list_notifications() if m.kind == "subscription"]
    assert len(notified) == 1 and str(done.output_product_id) in str(notified[0].payload)
