"""Soak run of the fault scenarios of issue 10, with real processes on PostgreSQL.

Every scenario starts the service the way production runs it: ``pserve`` and ``proseo-odata
worker`` processes from the shipped ``production.ini`` (only URL, paths, port and a few timings
replaced), a notification receiver on 127.0.0.1, and clients that POST orders over HTTP with an
``Idempotency-Key`` and a notification password. Clients retry every POST whose answer they did
not get (a 503, a reset, or their own deliberately short read timeout on a share of first
attempts, which cuts requests off mid-flight) with the same key. Faults, per scenario:

``connection-drops``
    ``pg_terminate_backend`` of every backend of the workers and the server, every
    ``--drop-interval`` seconds;
``worker-kill-9``
    ``kill -9`` of a random worker process (its processor is a child process) every
    ``--kill-interval`` seconds; a new worker starts in its place;
``locked-database``
    another session holds ``LOCK TABLE orders, products`` for 4 s out of every 6: requests must
    turn into 503 within the statement timeout (2 s here) and be retried.

Counted at the end (after the orders finished and the notifications were delivered): **sent**
(orders the clients wanted), **acknowledged** (answered 201), **lost** (acknowledged, but not in
the database), **duplicated** (orders in the database beyond one per key), **failed-by-fault**
(orders ``failed``: the processor never fails here, so every failure is a fault's), **stuck**
(not finished in time), **orphans** (processes of the soak's processors still running after the
workers stopped, plus scratch folders left), **leaked** (places holding the notification password
or ``[SQL``: any order's JSON, any notification received, any server or worker log line).

Run: ``python -m bench.soak`` (or ``make soak``); ``--seconds`` per scenario, ``--orders``,
``--scenario NAME`` (repeatable). PostgreSQL: ``--pg-url`` or ``PROSEO_TEST_PG_URL`` (a server
whose user may create databases); without either, a throwaway server is started like the test
suite's (``tests/conftest.py``). Not part of ``make test``; its fast part is
``tests/production/test_connection_drops.py``, which calls :func:`run_scenario` with few orders.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import importlib.util
import io
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Optional

from live_server import free_port  # tests/ is on the path: bench/__init__.py

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "PWX-333-topsecret"
INPUT_NAME = "S2B_MSIL1C_20191025T085939_N0208_R007_T37VCC_20191025T112031.zip"
WORKFLOW_ID = "50a40000-0000-4000-8000-00000000500a"
SCENARIOS = ("connection-drops", "worker-kill-9", "locked-database")
COLUMNS = ("scenario", "sent", "acknowledged", "lost", "duplicated", "failed-by-fault", "stuck", "orphans", "leaked")

PROCESSOR = r'''
import os, shutil, sys, time
src, out, seconds, marker = sys.argv[1:5]
time.sleep(float(seconds))
shutil.copy(src, os.path.join(out, "soak-" + os.path.basename(src)))
'''


@dataclass
class Result:
    scenario: str
    sent: int = 0
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    failed_by_fault: int = 0
    stuck: int = 0
    orphans: int = 0
    leaked: int = 0
    notes: list[str] = field(default_factory=list)

    def row(self) -> list:
        return [self.scenario, self.sent, self.acknowledged, self.lost, self.duplicated, self.failed_by_fault,
                self.stuck, self.orphans, self.leaked]

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.failed_by_fault or self.stuck or self.orphans or self.leaked)


# -- pieces ------------------------------------------------------------------------------------


def _with_application_name(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    return parsed.update_query_dict({"application_name": name}).render_as_string(hide_password=False)


def derive_ini(target: Path, replacements: dict) -> Path:
    """``production.ini`` with the given keys' values replaced (each key must exist once) and
    extra keys appended to ``[app:main]`` (keys given with a ``+`` prefix). The token secret, a
    placeholder the server refuses, is a new random one unless given, as an operator sets it."""
    text = (ROOT / "production.ini").read_text(encoding="utf-8")
    extra = []
    replacements = {"proseo.token.secret": secrets.token_urlsafe(48), **replacements}
    for key, value in replacements.items():
        if key.startswith("+"):
            extra.append(f"{key[1:]} = {value}")
            continue
        pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.MULTILINE)
        text, count = pattern.subn(lambda _m: f"{key} = {value}", text)
        if count != 1:
            raise ValueError(f"production.ini has no single line for {key}")
    if extra:
        text = text.replace("[alembic]", "\n".join(extra) + "\n\n[alembic]", 1)
    target.write_text(text, encoding="utf-8")
    return target


class Receiver:
    """Notification endpoint on 127.0.0.1: records every body and Authorization header."""

    def __init__(self):
        self.received: list[tuple[str, Optional[str]]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode("utf-8", "replace")
                with outer.lock:
                    outer.received.append((body, self.headers.get("Authorization")))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def order_ids(self) -> list[str]:
        with self.lock:
            return [json.loads(body).get("ProductionOrderId") for body, _ in self.received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _input_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("manifest.xml", "<manifest><productType>S2MSI1C</productType></manifest>")
        archive.writestr("payload.bin", os.urandom(4096))
    return out.getvalue()


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if marker.encode() not in handle.read():
                    continue
            with open(f"/proc/{entry}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
        except OSError:
            continue
        found.append(int(entry))
    return found


class Service:
    """pserve + worker processes from production.ini on one PostgreSQL database."""

    def __init__(self, db_url: str, workdir: Path, *, workers: int = 2, worker_threads: int = 2,
                 processor_seconds: float = 0.3, statement_timeout: float = 30, lease_seconds: float = 3,
                 poll_seconds: float = 0.1, processor: Optional[dict] = None):
        self.db_url = db_url
        self.workdir = Path(workdir)
        self.marker = f"soak-marker-{uuid.uuid4().hex[:12]}"
        self.scratch = self.workdir / "scratch"
        self.logs = self.workdir / "logs"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/proseo/odip/odata/v1"
        self.worker_count = workers
        self.worker_threads = worker_threads
        self.processor_seconds = processor_seconds
        self.statement_timeout = statement_timeout
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        #: the workflow's "processor" and "processor_config" (default: the soak's external command)
        self.processor = processor
        self.server: Optional[subprocess.Popen] = None
        self.workers: list[subprocess.Popen] = []
        self._log_number = 0

    def _ini(self, name: str, application: str) -> Path:
        common = {
            "proseo.storage.url": _with_application_name(self.db_url, application),
            "proseo.archive.path": str(self.workdir / "archive"),
            "proseo.workflows.file": str(self.workdir / "workflows.json"),
            "proseo.storage.statement_timeout": str(self.statement_timeout),
            "proseo.storage.connect_timeout": "3",
            "proseo.storage.pool_timeout": "5",
            "listen": f"127.0.0.1:{self.port}",
            "threads": "8",
            "+proseo.workflows.entry_points": "false",
            "+proseo.production.lease_seconds": str(self.lease_seconds),
            "+proseo.production.poll_seconds": str(self.poll_seconds),
            "+proseo.production.scratch_dir": str(self.scratch),
            "+proseo.notify.poll_seconds": "0.2",
            "+proseo.notify.retry_base_seconds": "0.5",
            "+proseo.notify.retry_max_seconds": "2",
        }
        return derive_ini(self.workdir / name, common)

    def set_up(self) -> None:
        for folder in (self.scratch, self.logs, self.workdir / "archive"):
            folder.mkdir(parents=True, exist_ok=True)
        script = self.workdir / "processor.py"
        script.write_text(PROCESSOR)
        (self.workdir / "workflows.json").write_text(json.dumps({"workflows": [{
            "id": WORKFLOW_ID, "mission": "DEMO", "name": "SOAK", "input_product_type": "S2MSI1C",
            "output_product_type": "SOAK_OUT", **(self.processor or {
                "processor": "external",
                "processor_config": {"command": ["{python}", str(script), "{input}", "{output_dir}",
                                                 str(self.processor_seconds), self.marker], "timeout": 120}}),
        }]}))
        self.web_ini = self._ini("web.ini", "soak-web")
        self.worker_ini = self._ini("worker.ini", "soak-worker")
        cli = [sys.executable, "-m", "proseo_odata.cli", "-c", str(self.web_ini)]
        for args in (["initdb"], ["mission", "add", "DEMO", "--name", "Soak"]):
            subprocess.run(cli + args, check=True, capture_output=True, timeout=300)
        subprocess.run(cli + ["user", "add", "DEMO\\soak", "--role", "ODIP_USER", "--password-stdin"],
                       input="soak-pw\n", text=True, check=True, capture_output=True, timeout=60)
        from proseo_odata.archive import load_archive
        from proseo_odata.archive.testing import store_product_file
        from proseo_odata.cli import read_settings
        from proseo_odata.model import Attribute
        from proseo_odata.storage import load_storage

        settings = read_settings(str(self.web_ini))
        storage = load_storage(settings)
        try:
            start = datetime.datetime(2019, 10, 25, 8, 59, 39, tzinfo=datetime.timezone.utc)
            product = store_product_file(load_archive(settings), _input_zip(), name=INPUT_NAME, mission="DEMO",
                                         content_start=start, content_end=start + datetime.timedelta(seconds=30),
                                         origin_date=start, attributes=[Attribute.of("productType", "S2MSI1C")])
            storage.add_product(product)
        finally:
            storage.close()

    def _log(self, name: str):
        self._log_number += 1
        return open(self.logs / f"{self._log_number:03d}-{name}.log", "wb")

    def start_server(self) -> None:
        with self._log("server") as log:
            self.server = subprocess.Popen([sys.executable, "-m", "pyramid.scripts.pserve", str(self.web_ini)],
                                           stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.base}/", timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                pass
            if self.server.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError("the server did not start; see " + str(self.logs))

    def start_worker(self) -> subprocess.Popen:
        with self._log("worker") as log:
            proc = subprocess.Popen([sys.executable, "-m", "proseo_odata.cli", "-c", str(self.worker_ini), "worker",
                                     "-t", str(self.worker_threads)], stdout=log, stderr=subprocess.STDOUT,
                                    cwd=self.workdir, start_new_session=True)
        self.workers.append(proc)
        return proc

    def start(self) -> None:
        self.start_server()
        for _ in range(self.worker_count):
            self.start_worker()

    def live_workers(self) -> list[subprocess.Popen]:
        return [w for w in self.workers if w.poll() is None]

    def stop(self) -> None:
        procs = self.live_workers() + ([self.server] if self.server is not None else [])
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def log_texts(self) -> list[tuple[str, str]]:
        return [(p.name, p.read_text(encoding="utf-8", errors="replace")) for p in sorted(self.logs.glob("*.log"))]


# -- faults ----------------------------------------------------------------------------------


def _admin(db_url: str):
    import psycopg
    from sqlalchemy.engine import make_url

    return psycopg.connect(make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False),
                           autocommit=True)


class Faults(threading.Thread):
    def __init__(self, scenario: str, service: Service, *, drop_interval: float, kill_interval: float):
        super().__init__(name=f"faults-{scenario}", daemon=True)
        self.scenario = scenario
        self.service = service
        self.drop_interval = drop_interval
        self.kill_interval = kill_interval
        self.stop_event = threading.Event()
        self.count = 0
        self.rng = random.Random(10)

    def run(self) -> None:
        try:
            getattr(self, "_" + self.scenario.replace("-", "_"))()
        except Exception as exc:  # noqa: BLE001 - reported in the notes
            self.error = exc

    def _connection_drops(self) -> None:
        with _admin(self.service.db_url) as admin:
            while not self.stop_event.wait(self.drop_interval):
                terminated = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name IN ('soak-worker', 'soak-web') AND pid <> pg_backend_pid()"
                ).fetchone()[0]
                self.count += int(terminated)

    def _worker_kill_9(self) -> None:
        while not self.stop_event.wait(self.kill_interval):
            live = self.service.live_workers()
            if live:
                victim = self.rng.choice(live)
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait(10)
                self.count += 1
            self.service.start_worker()

    def _locked_database(self) -> None:
        with _admin(self.service.db_url) as admin:
            while not self.stop_event.wait(2.0):
                with admin.transaction():
                    admin.execute("LOCK TABLE orders, products IN ACCESS EXCLUSIVE MODE")
                    self.count += 1
                    self.stop_event.wait(4.0)


# -- clients ----------------------------------------------------------------------------------


class Clients:
    """``threads`` clients sending ``orders`` orders with keys; retries until acknowledged."""

    def __init__(self, service: Service, receiver: Receiver, orders: int, *, threads: int = 4,
                 cut_share: float = 0.25, seconds: float = 30, seed: int = 1):
        self.service = service
        self.receiver = receiver
        self.keys = [str(uuid.uuid4()) for _ in range(orders)]
        self.acknowledged: dict[str, str] = {}
        self.errors: list[str] = []
        self.statuses: dict[int, int] = {}
        self.max_answer_seconds = 0.0
        self.lock = threading.Lock()
        self.threads = threads
        self.cut_share = cut_share
        self.spacing = seconds / max(1, orders) * threads
        self.rng = random.Random(seed)

    def _body(self) -> dict:
        return {"WorkflowName": "SOAK", "InputProductReference": {"Reference": INPUT_NAME},
                "NotificationEndpoint": self.receiver.url, "NotificationEpUsername": "hook",
                "NotificationEpPassword": PASSWORD}

    def _send(self, key: str) -> None:
        import requests

        deadline = time.monotonic() + 180
        first = True
        while time.monotonic() < deadline:
            cut = first and self.rng.random() < self.cut_share
            first = False
            started = time.monotonic()
            try:
                response = requests.post(f"{self.service.base}/ProductionOrders", json=self._body(),
                                         auth=("DEMO\\soak", "soak-pw"), headers={"Idempotency-Key": key},
                                         timeout=(3, 0.01 if cut else 60))
            except requests.RequestException:
                time.sleep(0.2)
                continue
            with self.lock:
                self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                self.max_answer_seconds = max(self.max_answer_seconds, time.monotonic() - started)
            if response.status_code == 201:
                with self.lock:
                    self.acknowledged[key] = response.json()["Id"]
                return
            if response.status_code in (502, 503, 504):
                time.sleep(0.3)
                continue
            with self.lock:
                self.errors.append(f"{response.status_code}: {response.text[:200]}")
            return
        with self.lock:
            self.errors.append(f"{key}: never acknowledged")

    def run(self) -> None:
        queue = list(self.keys)
        lock = threading.Lock()

        def client():
            while True:
                with lock:
                    if not queue:
                        return
                    key = queue.pop()
                self._send(key)
                time.sleep(self.spacing)

        threads = [threading.Thread(target=client, daemon=True) for _ in range(self.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


# -- one scenario ------------------------------------------------------------------------------


def _all_orders_json(service: Service) -> list[dict]:
    import requests

    url = f"{service.base}/ProductionOrders?$top=1000"
    items = []
    while url:
        for _ in range(30):
            try:
                response = requests.get(url, auth=("DEMO\\soak", "soak-pw"), timeout=60)
                if response.status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(1)
        else:
            raise RuntimeError("cannot list the orders")
        body = response.json()
        items += body["value"]
        url = body.get("@odata.nextLink")
    return items


def _duplicates_per_key(db_url: str) -> int:
    """Orders beyond the first of each Idempotency-Key, counted in the database itself."""
    import sqlalchemy as sa

    from proseo_odata.storage.schema import orders

    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as connection:
            per_key = connection.execute(
                sa.select(sa.func.count()).select_from(orders).group_by(orders.c.mission, orders.c.owner,
                                                                         orders.c.idempotency_key)
            ).scalars().all()
    finally:
        engine.dispose()
    return sum(count - 1 for count in per_key)


def _wait(predicate, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def run_scenario(scenario: str, db_url: str, workdir: Path, *, orders: int = 60, seconds: float = 30,
                 drop_interval: float = 1.0, kill_interval: float = 4.0, workers: int = 2,
                 finish_timeout: float = 180) -> Result:
    """Run one scenario on the (empty or migrated) PostgreSQL database ``db_url``."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; one of {', '.join(SCENARIOS)}")
    result = Result(scenario, sent=orders)
    service = Service(db_url, workdir, workers=workers,
                      statement_timeout=2 if scenario == "locked-database" else 30)
    service.set_up()
    receiver = Receiver()
    faults = Faults(scenario, service, drop_interval=drop_interval, kill_interval=kill_interval)
    try:
        service.start()
        faults.start()
        clients = Clients(service, receiver, orders, seconds=seconds)
        clients.run()
        faults.stop_event.set()
        faults.join(30)
        # Every order to its end, and every notification delivered.
        def finished():
            states = [o["Status"] for o in _all_orders_json(service)]
            return len(states) >= len(clients.acknowledged) and all(s in ("completed", "failed", "cancelled") for s in states)

        _wait(finished, finish_timeout, 1.0)
        orders_json = _all_orders_json(service)
        ended = {o["Id"] for o in orders_json if o["Status"] in ("completed", "failed", "cancelled")}
        _wait(lambda: ended <= set(receiver.order_ids()), 60, 0.5)
    finally:
        faults.stop_event.set()
        service.stop()
        receiver.close()
    in_db = {o["Id"]: o for o in orders_json}
    result.acknowledged = len(clients.acknowledged)
    result.lost = sum(1 for order_id in clients.acknowledged.values() if order_id not in in_db)
    result.duplicated = _duplicates_per_key(db_url)
    result.failed_by_fault = sum(1 for o in in_db.values() if o["Status"] == "failed")
    result.stuck = sum(1 for o in in_db.values() if o["Status"] not in ("completed", "failed", "cancelled"))
    notified = receiver.order_ids()
    # orphans: soak processors still running after every worker stopped, and scratch folders left
    time.sleep(0.5)
    leftovers = _processes_with(service.marker)
    for pid in leftovers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    folders = [p for p in service.scratch.glob("order-*")]
    result.orphans = len(leftovers) + len(folders)
    # leaks: the password or a statement in any order, notification or log line
    places = [(f"order {o['Id']}", json.dumps(o)) for o in orders_json]
    places += [(f"notification {i}", body) for i, (body, _auth) in enumerate(receiver.received)]
    for name, text in service.log_texts():
        places += [(f"{name}:{n}", line) for n, line in enumerate(text.splitlines(), 1)]
    leaks = [name for name, text in places if PASSWORD in text or "[SQL" in text]
    result.leaked = len(leaks)
    expected_auth = "Basic " + base64.b64encode(f"hook:{PASSWORD}".encode()).decode()
    bad_auth = sum(1 for _body, auth in receiver.received if auth != expected_auth)
    attempts_note = ""
    result.notes += [
        f"faults injected: {faults.count} ({'backends terminated' if scenario == 'connection-drops' else 'workers killed' if scenario == 'worker-kill-9' else 'lock periods'})",
        f"HTTP answers to POSTs: {dict(sorted(clients.statuses.items()))}, slowest {clients.max_answer_seconds:.1f} s",
        f"notifications: {len(set(notified))} orders notified of {len(ended)} ended ({len(notified)} deliveries, {bad_auth} with wrong credentials)",
        f"client errors: {len(clients.errors)}" + (f" (first: {clients.errors[0]})" if clients.errors else ""),
        f"orders created but never acknowledged to a client: {len(set(in_db) - set(clients.acknowledged.values()))}",
    ]
    if getattr(faults, "error", None) is not None:
        result.notes.append(f"fault thread error: {faults.error!r}")
    if leaks:
        result.notes.append("leaks at: " + ", ".join(leaks[:5]))
    if attempts_note:
        result.notes.append(attempts_note)
    return result


# -- PostgreSQL for a stand-alone run ----------------------------------------------------------


@contextlib.contextmanager
def postgres_server(url: Optional[str]):
    """The maintenance URL of a PostgreSQL server: ``url``, ``PROSEO_TEST_PG_URL``, or a
    throwaway server started with the test suite's helper (``tests/conftest.py``)."""
    url = url or os.environ.get("PROSEO_TEST_PG_URL")
    if url:
        from sqlalchemy.engine import make_url

        yield make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        return
    spec = importlib.util.spec_from_file_location("proseo_tests_conftest", ROOT / "tests" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    bindir = module._find_pg_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries not found: give --pg-url or PROSEO_TEST_PG_URL")
    server = module.ThrowawayPostgres(bindir)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def database(server_url: str):
    """A new database on the server, dropped afterwards."""
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"proseo_soak_{uuid.uuid4().hex[:12]}"
    with _admin(server_url) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin(server_url) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def format_table(results: list[Result]) -> str:
    rows = [list(COLUMNS)] + [[str(v) for v in r.row()] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="run only these (repeatable)")
    parser.add_argument("--orders", type=int, default=150, help="orders per scenario (default 150)")
    parser.add_argument("--seconds", type=float, default=45, help="how long clients keep sending (default 45)")
    parser.add_argument("--drop-interval", type=float, default=1.0)
    parser.add_argument("--kill-interval", type=float, default=4.0)
    parser.add_argument("--pg-url", help="PostgreSQL maintenance URL (default: a throwaway server)")
    parser.add_argument("--keep", action="store_true", help="keep the work folders (logs) under /tmp")
    args = parser.parse_args(argv)
    results = []
    started = time.monotonic()
    with postgres_server(args.pg_url) as server_url:
        for scenario in args.scenario or SCENARIOS:
            workdir = Path(tempfile.mkdtemp(prefix=f"proseo-soak-{scenario}-"))
            print(f"-- {scenario} (work folder {workdir})", flush=True)
            try:
                with database(server_url) as db_url:
                    result = run_scenario(scenario, db_url, workdir, orders=args.orders, seconds=args.seconds,
                                          drop_interval=args.drop_interval, kill_interval=args.kill_interval)
            finally:
                if not args.keep:
                    shutil.rmtree(workdir, ignore_errors=True)
            for note in result.notes:
                print(f"   {note}", flush=True)
            results.append(result)
    print()
    print(f"soak on {platform.node()} ({platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}), "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {time.monotonic() - started:.0f} s")
    print(format_table(results))
    return 0 if all(r.clean for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
