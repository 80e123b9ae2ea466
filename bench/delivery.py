"""Order completion throughput against notification delivery throughput (issue 10 item 5).

1. **Completion**: ``--orders`` queued orders of the demo workflow ``S2_L1C_L2A`` (the Pillow
   image processor: unzip, convert, zip, archive, publish) run by a ``WorkerPool`` of
   ``--workers`` threads (dispatcher off); measured: orders completed per second. Each
   completion writes its notification into the outbox, so this also fills the outbox.
2. **Delivery**: the dispatcher with the shipped defaults delivers those notifications to
   ``--receivers`` real HTTP receivers on 127.0.0.1 (``ThreadingHTTPServer``, answering 204 after
   ``--receiver-ms``); measured: messages delivered per second, from start to the last
   delivery recorded. The same with the old one-at-a-time dispatcher (``concurrency=1,
   per_endpoint=1``) for comparison.
3. **Delivery with one hanging receiver**: as 2, with 10% of the messages addressed to a
   receiver that accepts connections and never answers; measured: the others' rate and the
   longest wait of a message to a healthy receiver.

Run: ``python -m bench.delivery`` (SQLite file in a temporary folder) or with ``--pg-url
postgresql+psycopg://.../db`` (an existing, empty database: the schema is created and the tables
emptied), or ``--postgres`` (starts a throwaway PostgreSQL 15 server the way the tests do, with
fsync off, and removes it at the end). Prints a table; nothing else is kept.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from PIL import Image

import proseo_odata
from proseo_odata.archive import load_archive
from proseo_odata.archive.testing import s2_l1c_zip, store_product_file
from proseo_odata.model import Attribute, Mission, OrderStatus, ProductionOrder, utcnow
from proseo_odata.notify.delivery import DeliveryPolicy, NotificationDispatcher
from proseo_odata.production.engine import WorkerPool
from proseo_odata.production.workflows import sync_configured_workflows
from proseo_odata.secretbox import generate_key
from proseo_odata.storage.sqlalchemy import load_from_config

DEMO_WORKFLOWS = Path(proseo_odata.__file__).parent / "demo" / "workflows.json"
INPUT_NAME = "S2B_MSIL1C_20191025T085939_N0208_R007_T37VCC_20191025T112031.zip"


class Receiver:
    """Real HTTP receiver on 127.0.0.1: 204 after ``delay`` seconds; records arrival times."""

    def __init__(self, delay: float):
        self.times: list[float] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if delay:
                    time.sleep(delay)
                receiver.times.append(time.monotonic())
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Hanging:
    """Accepts connections on 127.0.0.1 and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hang"
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self):
        self.sock.close()
        for conn in self.conns:
            conn.close()


def _reset(storage) -> None:
    import sqlalchemy as sa

    from proseo_odata.storage import schema

    with storage.engine.begin() as connection:
        for table in reversed(schema.metadata.sorted_tables):
            connection.execute(sa.delete(table))


def _wait(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def completion(storage, archive, settings, orders: int, workers: int, endpoints: list[str]) -> float:
    workflow = storage.get_workflow_by_name("DEMO", "S2_L1C_L2A")
    for i in range(orders):
        storage.add_order(ProductionOrder(
            mission="DEMO", owner="demo", workflow_id=workflow.id, workflow_name=workflow.name,
            status=OrderStatus.QUEUED, input_reference=INPUT_NAME, workflow_options={"ImageFormat": "JPG"},
            notification_endpoint=endpoints[i % len(endpoints)], notification_username="bench",
            notification_password="bench-secret",
        ))
    pool = WorkerPool(settings, storage, archive, threads=workers, dispatcher=False)
    started = time.monotonic()
    pool.start()
    try:
        ok = _wait(lambda: _count(storage, OrderStatus.COMPLETED) + _count(storage, OrderStatus.FAILED) >= orders,
                   timeout=orders * 2 + 60, interval=0.2)
        elapsed = time.monotonic() - started
    finally:
        pool.stop(10)
    failed = _count(storage, OrderStatus.FAILED)
    if not ok or failed:
        raise SystemExit(f"completion run did not finish cleanly ({failed} failed)")
    return orders / elapsed


def _count(storage, status) -> int:
    import sqlalchemy as sa

    from proseo_odata.storage.schema import orders

    with storage.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(orders).where(orders.c.status == status.value)).scalar_one()


def _undelivered(storage) -> int:
    import sqlalchemy as sa

    from proseo_odata.storage.schema import outbox

    with storage.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))).scalar_one()


def delivery(storage, policy: DeliveryPolicy, expected: int, receivers: list[Receiver]) -> tuple[float, float]:
    """Run a dispatcher until ``expected`` messages reached ``receivers``: (messages/s, seconds)."""
    for r in receivers:
        r.times.clear()
    dispatcher = NotificationDispatcher(storage, policy=policy)
    started = time.monotonic()
    dispatcher.start()
    try:
        ok = _wait(lambda: sum(len(r.times) for r in receivers) >= expected, timeout=600)
    finally:
        dispatcher.stop(5)
    last = max((t for r in receivers for t in r.times), default=time.monotonic())
    if not ok:
        raise SystemExit(f"delivery did not finish: {sum(len(r.times) for r in receivers)} of {expected}")
    return expected / (last - started), last - started


def _requeue_outbox(storage) -> None:
    """Make every message undelivered and due again (the same messages for the next run)."""
    import sqlalchemy as sa

    from proseo_odata.storage.schema import outbox

    with storage.engine.begin() as connection:
        connection.execute(sa.update(outbox).values(delivered_at=None, attempts=0, next_attempt_at=utcnow(),
                                                    last_error=None, claim_token=None))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--workers", type=int, default=4, help="worker threads completing orders")
    parser.add_argument("--receivers", type=int, default=4)
    parser.add_argument("--receiver-ms", type=float, default=5.0, help="each receiver's answer time")
    parser.add_argument("--pg-url", default=None, help="an existing, empty PostgreSQL database")
    parser.add_argument("--postgres", action="store_true",
                        help="start a throwaway PostgreSQL 15 (as the tests do: fsync off) and use it")
    args = parser.parse_args(argv)
    server = None
    if args.postgres and not args.pg_url:
        from tests.conftest import ThrowawayPostgres, _find_pg_bindir

        server = ThrowawayPostgres(_find_pg_bindir()).start()
        args.pg_url = server.url
    try:
        _run(args)
    finally:
        if server is not None:
            server.stop()


def _run(args) -> None:
    with tempfile.TemporaryDirectory(prefix="proseo-bench-") as folder:
        url = args.pg_url or f"sqlite:///{folder}/bench.sqlite"
        settings = {
            "proseo.storage.url": url,
            "proseo.secrets.key": generate_key(),
            "proseo.archive.backend": "local",
            "proseo.archive.path": str(Path(folder) / "archive"),
            "proseo.workflows.file": str(DEMO_WORKFLOWS),
            "proseo.workflows.entry_points": "false",
            "proseo.production.poll_seconds": "0.05",
            "proseo.production.scratch_dir": folder,
        }
        (Path(folder) / "archive").mkdir()
        storage = load_from_config(settings)
        storage.initialize_schema()
        _reset(storage)
        storage.add_mission(Mission("DEMO"))
        sync_configured_workflows(storage, settings)
        archive = load_archive(settings)
        storage.add_product(store_product_file(
            archive, s2_l1c_zip(Image.new("RGB", (64, 48), (20, 140, 60))), name=INPUT_NAME, mission="DEMO",
            attributes=[Attribute.of("productType", "S2MSI1C")],
        ))
        receivers = [Receiver(args.receiver_ms / 1000.0) for _ in range(args.receivers)]
        hanging = Hanging()
        try:
            rate_complete = completion(storage, archive, settings, args.orders, args.workers, [r.url for r in receivers])
            outbox = _undelivered(storage)
            rate_new, secs_new = delivery(storage, DeliveryPolicy(poll_seconds=0.2), outbox, receivers)
            _requeue_outbox(storage)
            rate_old, secs_old = delivery(storage, DeliveryPolicy(poll_seconds=0.2, concurrency=1, per_endpoint=1), outbox, receivers)
            # 10% of the messages to a receiver that never answers.
            import sqlalchemy as sa

            from proseo_odata.storage.schema import outbox as outbox_table

            _requeue_outbox(storage)
            with storage.engine.begin() as connection:
                connection.execute(sa.update(outbox_table).where(outbox_table.c.id % 10 == 0).values(endpoint=hanging.url))
            with storage.engine.connect() as connection:
                healthy = connection.execute(sa.select(sa.func.count()).select_from(outbox_table)
                                             .where(outbox_table.c.endpoint != hanging.url)).scalar_one()
            rate_hang, secs_hang = delivery(storage, DeliveryPolicy(poll_seconds=0.2), healthy, receivers)
        finally:
            hanging.close()
            for r in receivers:
                r.close()
            storage.close()

    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# delivery bench, {when}; {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{'PostgreSQL' if args.pg_url else 'SQLite'}; {args.orders} orders, {args.workers} worker threads, "
          f"{args.receivers} receivers answering in {args.receiver_ms:g} ms")
    print(f"{'measure':58} {'per second':>10} {'seconds':>8}")
    print(f"{'orders completed (S2_L1C_L2A, image processor)':58} {rate_complete:10.1f} {args.orders / rate_complete:8.1f}")
    print(f"{'notifications delivered (defaults: 8 lanes, 2 per endpoint)':58} {rate_new:10.1f} {secs_new:8.1f}")
    print(f"{'notifications delivered (one at a time, the old dispatcher)':58} {rate_old:10.1f} {secs_old:8.1f}")
    print(f"{'healthy notifications delivered, 10% to a hanging receiver':58} {rate_hang:10.1f} {secs_hang:8.1f}")


if __name__ == "__main__":
    main()
