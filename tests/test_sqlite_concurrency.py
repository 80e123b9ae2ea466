"""SQLite as the embedded default under concurrent writers (issue 8, item 1).

A real waitress server on 127.0.0.1 serves the application over a SQLite file, with its
in-process worker pool running the submitted orders. At the same time

- 12 HTTP clients (threads) submit production orders, 3 each, every one on its own input product;
- 4 ``proseo-odata ingest`` processes ingest 4 files each into the same database;
- 2 HTTP clients keep reading the catalogue (GET, read-only transactions).

Every request must succeed (no 503 "database is locked"), none may be lost: every order the
server answered 201 is stored, every ingested file is a product, and the in-process worker
completes every order while the writers compete for the lock. With deferred transactions
(``BEGIN`` instead of ``BEGIN IMMEDIATE``), this test got 503s within the first second.
Every wait is bounded.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests
from live_server import serve_wsgi

import proseo_odata
from proseo_odata.archive import load_archive
from proseo_odata.archive.testing import s2_l1c_zip, store_product_file
from proseo_odata.demo.data import png_bytes
from proseo_odata.model import Attribute, Mission, Role, User, hash_password
from proseo_odata.storage import Query, load_storage

ODIP = "/proseo/odip/odata/v1"
PRIP = "/proseo/prip/odata/v1"
DEMO_WORKFLOWS = Path(proseo_odata.__file__).parent / "demo" / "workflows.json"
ORDER_CLIENTS, ORDERS_EACH = 12, 3
INGEST_PROCESSES, FILES_EACH = 4, 4
READERS = 2
WAIT = 120.0  # seconds: bound of every wait below (a loaded 2-core machine)

pytestmark = pytest.mark.slow


def _name(i: int) -> str:
    return f"S2B_MSIL1C_20191025T0859{i:02d}_N0208_R007_T37VCC_20191025T112031.zip"


@pytest.fixture
def site(tmp_path):
    url = f"sqlite:///{tmp_path / 'var' / 'proseo.sqlite'}"
    settings = {
        "proseo.storage.backend": "proseo_odata.storage.sqlalchemy",
        "proseo.storage.url": url,
        "proseo.archive.backend": "local",
        "proseo.archive.path": str(tmp_path / "archive"),
        "proseo.default_mission": "DEMO",
        "proseo.workflows.file": str(DEMO_WORKFLOWS),
        "proseo.workflows.entry_points": "false",
        "proseo.workers": "1",
        "proseo.production.poll_seconds": "0.1",
        "proseo.production.scratch_dir": str(tmp_path),
        "proseo.notify.dispatcher": "false",
    }
    storage = load_storage(settings)
    storage.initialize_schema()  # creates var/
    archive = load_archive(settings)
    inputs = []
    with storage.transaction() as tx:
        tx.add_mission(Mission("DEMO", "Demo mission"))
        tx.add_user(User("DEMO", "demo", hash_password("demo"),
                         frozenset({Role.PRIP_USER, Role.ODIP_USER, Role.PRODUCT_READER_ALL})))
        for i in range(ORDER_CLIENTS * ORDERS_EACH):
            product = store_product_file(
                archive, s2_l1c_zip(png_bytes(i, size=32)), name=_name(i), mission="DEMO",
                content_start=datetime(2019, 10, 25, 8, 59, i, tzinfo=timezone.utc),
                content_end=datetime(2019, 10, 25, 9, 0, 9, tzinfo=timezone.utc),
                attributes=[Attribute.of("productType", "S2MSI1C")],
            )
            tx.add_product(product)
            inputs.append(product.name)
    ini = tmp_path / "site.ini"
    ini.write_text("[app:main]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()), encoding="utf-8")
    yield settings, storage, inputs, ini
    storage.close()


def test_sixteen_concurrent_writers_on_sqlite_get_no_503(site, tmp_path):
    from proseo_odata_web import main

    settings, storage, inputs, ini = site
    folders = []
    for p in range(INGEST_PROCESSES):
        folder = tmp_path / f"ingest-{p}"
        folder.mkdir()
        for f in range(FILES_EACH):
            (folder / f"AUX_{p:02d}_{f:02d}.bin").write_bytes(os.urandom(2048))
        folders.append(folder)

    app = main({}, **settings)
    registry = app.registry
    answers: list[tuple[str, int, str]] = []  # (what, status, body or id)
    lock = threading.Lock()
    start = threading.Barrier(ORDER_CLIENTS + READERS + 1)
    stop_reading = threading.Event()
    try:
        with serve_wsgi(app, threads=ORDER_CLIENTS + READERS) as base:

            def order_client(client: int):
                session = requests.Session()
                session.auth = ("DEMO\\demo", "demo")
                start.wait(WAIT)
                for k in range(ORDERS_EACH):
                    reference = inputs[client * ORDERS_EACH + k]
                    response = session.post(f"{base}{ODIP}/ProductionOrders", json={
                        "WorkflowName": "S2_L1C_L2A", "InputProductReference": {"Reference": reference},
                        "WorkflowOptions": [{"Name": "ImageFormat", "Value": "JPG"}],
                    }, timeout=WAIT)
                    body = response.json().get("Id") if response.status_code == 201 else response.text
                    with lock:
                        answers.append(("order", response.status_code, body))

            def reader():
                session = requests.Session()
                session.auth = ("DEMO\\demo", "demo")
                start.wait(WAIT)
                while not stop_reading.is_set():
                    response = session.get(f"{base}{PRIP}/Products", params={"$top": "5", "$count": "true"},
                                           timeout=WAIT)
                    with lock:
                        answers.append(("read", response.status_code, "" if response.ok else response.text))

            threads = [threading.Thread(target=order_client, args=(c,)) for c in range(ORDER_CLIENTS)]
            threads += [threading.Thread(target=reader) for _ in range(READERS)]
            for thread in threads:
                thread.start()
            start.wait(WAIT)
            ingests = [
                subprocess.Popen(
                    [sys.executable, "-m", "proseo_odata.cli", "-c", str(ini), "ingest", "--mission", "DEMO",
                     "--no-progress", str(folder)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                )
                for folder in folders
            ]
            outputs = [process.communicate(timeout=WAIT) for process in ingests]
            for thread in threads[:ORDER_CLIENTS]:
                thread.join(WAIT)
            stop_reading.set()
            for thread in threads[ORDER_CLIENTS:]:
                thread.join(WAIT)
            assert not any(thread.is_alive() for thread in threads), "a client did not finish in time"

            # Every HTTP answer succeeded: no 503, nothing else either.
            failures = [a for a in answers if a[1] not in (200, 201)]
            assert failures == [], failures[:5]
            orders = [a[2] for a in answers if a[0] == "order"]
            assert len(orders) == ORDER_CLIENTS * ORDERS_EACH
            assert sum(1 for a in answers if a[0] == "read") >= READERS
            for process, (out, err) in zip(ingests, outputs):
                assert process.returncode == 0, err
                assert "Traceback" not in err

            # Nothing lost: every order and every ingested file is stored ...
            with storage.transaction() as tx:
                stored = {str(o.id) for o in tx.query_orders("DEMO", Query(top=1000)).items}
                names = {p.name for p in tx.query_products("DEMO", Query(top=1000)).items}
            assert set(orders) <= stored and len(set(orders)) == len(orders)
            for folder in folders:
                for file in folder.iterdir():
                    assert file.name in names, f"{file.name} was not ingested"

            # ... and the in-process worker, writing too, completes every order.
            deadline = time.monotonic() + WAIT
            while True:
                with storage.transaction() as tx:
                    statuses = [str(tx.get_order("DEMO", uuid.UUID(i)).status) for i in orders]
                if all(s == "completed" for s in statuses):
                    break
                assert not any(s == "failed" for s in statuses), statuses
                assert time.monotonic() < deadline, f"orders not completed in time: {sorted(set(statuses))}"
                time.sleep(0.2)
    finally:
        if registry.proseo_workers is not None:
            registry.proseo_workers.stop(10)
        registry.storage.close()
