"""A mission's plug-in that misbehaves (the second review of the workflow plug-ins): each case
ends its own order, with a reason a client may read, and the worker goes on with the next order.

- ``sys.exit()`` in a processor (argparse) fails its order; it ended the worker's thread;
- a real Ctrl-C (``KeyboardInterrupt``) still ends the worker, its order back in the queue;
- ``ProcessingCancelled`` with no cancel asked for fails the order (it was left in progress);
- a failure reason holding a NUL byte or other control characters is stored (on PostgreSQL the
  order ran three times and failed as "the worker was lost");
- an output outside the job's scratch folder, or a symbolic link leading out of it, is refused.
"""
import json
import sys
import threading

import pytest

from enginekit import DEMO_WORKFLOWS, add_input, make_settings, order_body, set_up
from live_server import wait_for
from proseo_odata.model import OrderStatus
from proseo_odata.orders.service import submit_order
from proseo_odata.production.engine import MAX_STATUS_MESSAGE, Worker, WorkerPool
from proseo_odata.storage import Query

BAD_ID = "5e1d0c0a-0000-4000-8000-00000000bad0"
GOOD_ID = "5e1d0c0a-0000-4000-8000-00000000600d"
BINARY_ID = "5e1d0c0a-0000-4000-8000-00000000b1a0"


@pytest.fixture
def site(db_url, tmp_path):
    """``make(config)``: settings, storage and archive with workflow ``BAD`` (``Misbehaving`` with
    ``config``), ``GOOD`` (``Misbehaving`` publishing a copy) and ``BINARY`` (an external command
    that prints binary bytes and exits 3), and the demo input product."""
    made = []

    def make(config):
        workflow = {"mission": "DEMO", "input_product_type": "S2MSI1C", "processor": "enginekit:Misbehaving"}
        binary = "import sys; sys.stdout.buffer.write(b'PROGRESS 10\\nERROR reading header \\x00\\x01\\x02\\x1b[31m\\xff\\n'); sys.exit(3)"
        workflows = json.loads(DEMO_WORKFLOWS.read_text())["workflows"] + [
            dict(workflow, id=BAD_ID, name="BAD", output_product_type="BAD_OUT", processor_config=config),
            dict(workflow, id=GOOD_ID, name="GOOD", output_product_type="GOOD_OUT", processor_config={}),
            dict(workflow, id=BINARY_ID, name="BINARY", output_product_type="BIN_OUT", processor="external",
                 processor_config={"command": [sys.executable, "-c", binary]}),
        ]
        path = tmp_path / "misbehaving-workflows.json"
        path.write_text(json.dumps({"workflows": workflows}))
        settings = make_settings(db_url, tmp_path, **{"proseo.workflows.file": str(path)})
        storage, archive = set_up(settings)
        made.append(storage)
        add_input(storage, archive)
        return settings, storage, archive

    yield make
    for storage in made:
        storage.close()


def submit(storage, workflow):
    with storage.transaction() as tx:
        return submit_order(tx, order_body(workflow), mission="DEMO", owner="demo")


def test_sys_exit_in_a_processor_fails_its_order_and_the_worker_goes_on(site, caplog):
    settings, storage, archive = site({"mode": "sysexit"})
    bad, good = submit(storage, "BAD"), submit(storage, "GOOD")
    assert Worker(storage, archive, settings).run_pending() == 2
    failed = storage.get_order("DEMO", bad.id)
    assert failed.status is OrderStatus.FAILED
    assert failed.status_message == "production has failed: the processor raised SystemExit"
    assert "the processor raised" in caplog.text  # logged, with its traceback
    assert storage.get_order("DEMO", good.id).status is OrderStatus.COMPLETED


def test_sys_exit_does_not_end_a_pool_worker_thread(site):
    settings, storage, archive = site({"mode": "sysexit"})
    bad = submit(storage, "BAD")
    pool = WorkerPool(settings, storage, archive, threads=1, dispatcher=False).start()
    try:
        wait_for(lambda: storage.get_order("DEMO", bad.id).status is OrderStatus.FAILED, 30, what="the sys.exit order failed")
        [worker_thread] = [t for t in threading.enumerate() if t.name.startswith("proseo-worker-")]
        good = submit(storage, "GOOD")
        wait_for(lambda: storage.get_order("DEMO", good.id).status is OrderStatus.COMPLETED, 30,
                 what="the next order completed")
        assert worker_thread.is_alive()
    finally:
        pool.stop()


def test_run_forever_survives_a_system_exit_of_a_queue_round(site, monkeypatch):
    settings, storage, archive = site({})
    worker = Worker(storage, archive, settings)
    rounds = []

    def run_pending():
        rounds.append(1)
        if len(rounds) == 1:
            raise SystemExit(2)
        worker.stop()
        return 0

    monkeypatch.setattr(worker, "run_pending", run_pending)
    worker.run_forever()  # returns once stopped, not at the SystemExit
    assert len(rounds) == 2


def test_a_real_ctrl_c_ends_the_worker_and_requeues_its_order_uncounted(site):
    settings, storage, archive = site({"mode": "keyboard"})
    bad = submit(storage, "BAD")
    with pytest.raises(KeyboardInterrupt):
        Worker(storage, archive, settings).run_pending()
    order = storage.get_order("DEMO", bad.id)
    assert order.status is OrderStatus.QUEUED and order.attempts == 0


def test_processing_cancelled_without_a_cancel_is_a_failure(site):
    settings, storage, archive = site({"mode": "selfcancel"})
    bad, good = submit(storage, "BAD"), submit(storage, "GOOD")
    Worker(storage, archive, settings).run_pending()
    failed = storage.get_order("DEMO", bad.id)
    assert failed.status is OrderStatus.FAILED, failed.status_message
    assert failed.status_message == ("production has failed: the processor stopped without being cancelled: "
                                     "the helper got SIGTERM")
    assert failed.attempts == 0 and failed.lease_expires_at is None
    assert storage.get_order("DEMO", good.id).status is OrderStatus.COMPLETED


def test_a_failure_reason_with_control_characters_is_stored_escaped(site):
    settings, storage, archive = site({"mode": "failed", "reason": "bad byte <NUL> in header <SURROGATE><CRLF>next\tline"})
    bad = submit(storage, "BAD")
    Worker(storage, archive, settings).run_pending()
    failed = storage.get_order("DEMO", bad.id)
    assert failed.status is OrderStatus.FAILED and failed.attempts == 0
    assert failed.status_message == "production has failed: bad byte \\x00 in header \\udcff\\r\nnext\tline"


def test_a_long_failure_reason_is_bounded(site):
    settings, storage, archive = site({"mode": "failed", "reason": "<NUL>" * 5000})
    bad = submit(storage, "BAD")
    Worker(storage, archive, settings).run_pending()
    failed = storage.get_order("DEMO", bad.id)
    assert failed.status is OrderStatus.FAILED
    assert len(failed.status_message) == MAX_STATUS_MESSAGE and failed.status_message.endswith("...")


def test_an_external_commands_binary_log_tail_is_stored(site):
    settings, storage, archive = site({})
    order = submit(storage, "BINARY")
    Worker(storage, archive, settings).run_pending()
    failed = storage.get_order("DEMO", order.id)
    assert failed.status is OrderStatus.FAILED and failed.attempts == 0
    assert failed.status_message.startswith("production has failed: processor exited with status 3; last log lines:\n")
    assert failed.status_message.endswith("ERROR reading header \\x00\\x01\\x02\\x1b[31m\ufffd")


def test_a_reason_the_database_refuses_still_fails_the_order_once(site, db_url, monkeypatch):
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite stores a NUL")
    import proseo_odata.production.engine as engine

    monkeypatch.setattr(engine, "_truncate", lambda text: text)  # as if a character got through
    settings, storage, archive = site({"mode": "failed", "reason": "bad byte <NUL> in header"})
    bad = submit(storage, "BAD")
    Worker(storage, archive, settings).run_pending()
    failed = storage.get_order("DEMO", bad.id)
    assert failed.status is OrderStatus.FAILED and failed.attempts == 0
    assert failed.status_message == engine.REASON_UNSTORABLE


@pytest.mark.parametrize("mode", ["outside", "symlink"])
def test_an_output_from_outside_the_scratch_folder_is_refused(site, tmp_path, mode):
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    settings, storage, archive = site({"mode": mode, "path": str(secret)})
    bad = submit(storage, "BAD")
    Worker(storage, archive, settings).run_pending()
    failed = storage.get_order("DEMO", bad.id)
    assert failed.status is OrderStatus.FAILED
    name = "outside.txt" if mode == "outside" else "link.txt"
    assert failed.status_message == (f"production has failed: processor output {name!r} is not a regular file "
                                     "inside the job's scratch folder")
    assert str(tmp_path) not in failed.status_message and "root:" not in failed.status_message
    assert [p.product_type for p in storage.query_products("DEMO", Query()).items] == ["S2MSI1C"]  # nothing published


def test_a_symbolic_link_to_a_file_of_the_job_is_published(site):
    settings, storage, archive = site({"mode": "inside_link"})
    order = submit(storage, "BAD")
    Worker(storage, archive, settings).run_pending()
    done = storage.get_order("DEMO", order.id)
    assert done.status is OrderStatus.COMPLETED, done.status_message
