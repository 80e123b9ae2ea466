"""ODIP order benchmarks through HTTP on PostgreSQL: the two order rows of issue 12.

``latency``: one order submit -> completed with one worker. The service runs as production
does (``pserve`` and one ``proseo-odata worker`` process with one thread, from
``production.ini``, bench.soak's :class:`~bench.soak.Service`); a client submits orders one at a
time and waits for each to complete. Time = the order's ``CompletedDate`` - ``SubmissionDate``
(both stamped by the service, millisecond precision; the client's own status polling does not
enter). The workflow's processor is :class:`CopyProcessor` (in the worker process, copies the
input), so what is measured is the service, not a processor's start-up. Two services run side
by side and the orders alternate between them: the default ``poll_seconds = 1`` (the worker is
woken by the order's NOTIFY) and ``poll_seconds = 0.05`` (polling hard: the reference).

``submit``: ``--clients`` threads POST orders for ``--seconds`` to ``--servers`` ``pserve``
processes (the clients spread over their ports; no workers run, the orders stay queued). Each
``pserve`` runs ``production.ini``'s server: since the multi-process server came in, that is
gunicorn with its own worker processes, so 1 means one gunicorn, not one process.
Reports orders/s and the CPU per order of the server processes, of PostgreSQL and of the
clients themselves (this process: they share the machine's cores with the service).

Run (from the repository root; PostgreSQL: ``--pg-url``, ``PROSEO_TEST_PG_URL`` or a throwaway
server like the test suite's)::

    .venv/bin/python -m bench.orders latency --orders 40
    .venv/bin/python -m bench.orders submit --clients 8 --seconds 20 --servers 1,3
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from bench.ingest import tree_cpu
from bench.soak import INPUT_NAME, ROOT, Service, database, postgres_server
from proseo_odata.production.processors import Processor, ProcessorOutput

AUTH = ("DEMO\\soak", "soak-pw")


class CopyProcessor(Processor):
    """Copies the input product as the output, under a new name (no start-up cost of its own)."""

    def run(self, job, progress, cancel):
        target = Path(job.scratch_dir) / f"copy-{uuid.uuid4().hex[:12]}-{Path(job.path).name}"
        shutil.copyfile(job.path, target)
        return [ProcessorOutput(path=target, name=target.name)]


def _body() -> dict:
    return {"WorkflowName": "SOAK", "InputProductReference": {"Reference": INPUT_NAME}}


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def percentile(values, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _one_order(session, service: Service, timeout: float = 30.0) -> float:
    """Submit one order and wait for it; seconds from SubmissionDate to CompletedDate."""
    created = session.post(f"{service.base}/ProductionOrders", json=_body(), auth=AUTH, timeout=30)
    if created.status_code != 201:
        raise RuntimeError(f"POST answered {created.status_code}: {created.text[:300]}")
    order_id = created.json()["Id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        order = session.get(f"{service.base}/ProductionOrders({order_id})", auth=AUTH, timeout=30).json()
        if order["Status"] == "completed":
            return (_parse(order["CompletedDate"]) - _parse(order["SubmissionDate"])).total_seconds()
        if order["Status"] in ("failed", "cancelled"):
            raise RuntimeError(f"order {order_id} {order['Status']}: {order['StatusMessage']}")
        time.sleep(0.01)
    raise RuntimeError(f"order {order_id} did not complete in {timeout} s")


def latency(server_url: str, workdir: Path, orders: int) -> str:
    import requests

    variants = {"poll_seconds = 1 (woken by NOTIFY)": 1.0, "poll_seconds = 0.05 (polling hard)": 0.05}
    processor = {"processor": "bench.orders:CopyProcessor", "processor_config": {}}
    times: dict[str, list[float]] = {name: [] for name in variants}
    with database(server_url) as first_db, database(server_url) as second_db:
        services = {}
        try:
            for (name, poll), db_url in zip(variants.items(), (first_db, second_db)):
                service = Service(db_url, workdir / name.split()[2], workers=1, worker_threads=1, poll_seconds=poll,
                                  processor=processor, lease_seconds=30)
                service.set_up()
                service.start()
                services[name] = service
            session = requests.Session()
            for service in services.values():
                _one_order(session, service)  # warm-up (imports, connections)
            for _ in range(orders):
                for name, service in services.items():
                    time.sleep(0.3)  # the worker is idle again, waiting
                    times[name].append(_one_order(session, service))
        finally:
            for service in services.values():
                service.stop()
    lines = [
        f"{orders} orders per variant, alternating; submit -> completed (CompletedDate - SubmissionDate), 1 worker "
        "process with 1 thread, CopyProcessor.", "",
        "| variant | p50 ms | p90 ms | max ms |", "|---|---:|---:|---:|",
    ]
    for name, values in times.items():
        ms = [v * 1000 for v in values]
        lines.append(f"| {name} | **{statistics.median(ms):.0f}** | {percentile(ms, 90):.0f} | {max(ms):.0f} |")
    return "\n".join(lines)


def _cpu_seconds(pids) -> float:
    """CPU seconds of ``pids`` and their process trees (each one's own, its live descendants' and
    what they reaped), from /proc."""
    return sum(tree_cpu(pid) for pid in pids)


def _postmaster_pid(server_url: str) -> int | None:
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False),
                         autocommit=True) as conn:
        datadir = conn.execute("SHOW data_directory").fetchone()[0]
    try:
        with open(os.path.join(datadir, "postmaster.pid"), encoding="utf-8") as handle:
            return int(handle.readline())
    except OSError:
        return None  # another user's server: its CPU is not counted


def submit(server_url: str, workdir: Path, servers: int, clients: int, seconds: float) -> dict:
    import requests

    with database(server_url) as db_url:
        service = Service(db_url, workdir / f"submit-{servers}", workers=0)
        service.set_up()
        extra: list[subprocess.Popen] = []
        try:
            service.start()
            bases = [service.base]
            first_port = service.port
            for i in range(1, servers):
                # More pserve processes of the same site on their own ports (the clients spread).
                from bench.soak import free_port

                service.port = free_port()
                ini = service._ini(f"web-{i}.ini", f"bench-web-{i}")
                extra.append(subprocess.Popen([sys.executable, "-m", "pyramid.scripts.pserve", str(ini)],
                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=service.workdir))
                base = f"http://127.0.0.1:{service.port}/proseo/odip/odata/v1"
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if requests.get(f"{base}/", timeout=2).status_code < 500:
                            break
                    except requests.RequestException:
                        pass
                    if time.monotonic() > deadline:
                        raise RuntimeError("an extra server did not start")
                    time.sleep(0.2)
                bases.append(base)
            service.port = first_port
            pids = [service.server.pid] + [p.pid for p in extra]
            postmaster = _postmaster_pid(server_url)
            for base in bases:  # warm-up: imports, connections, caches
                for _ in range(5):
                    requests.post(f"{base}/ProductionOrders", json=_body(), auth=AUTH, timeout=30).raise_for_status()
            counts, errors = [0] * clients, []
            stop = time.monotonic() + seconds

            def client(index: int) -> None:
                session = requests.Session()
                base = bases[index % len(bases)]
                while time.monotonic() < stop:
                    answer = session.post(f"{base}/ProductionOrders", json=_body(), auth=AUTH, timeout=30)
                    if answer.status_code != 201:
                        errors.append(f"{answer.status_code}: {answer.text[:200]}")
                        return
                    counts[index] += 1

            cpu = _cpu_seconds(pids)
            db_cpu = _cpu_seconds([postmaster]) if postmaster else 0.0
            client_cpu = time.process_time()
            started = time.monotonic()
            threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.monotonic() - started
            client_cpu = time.process_time() - client_cpu
            cpu = _cpu_seconds(pids) - cpu
            db_cpu = (_cpu_seconds([postmaster]) - db_cpu) if postmaster else float("nan")
            if errors:
                raise RuntimeError(f"{len(errors)} clients stopped; first: {errors[0]}")
            total = sum(counts)
            return {"servers": servers, "orders": total, "rate": total / wall, "wall": wall,
                    "cpu_ms": cpu / total * 1000, "db_cpu_ms": db_cpu / total * 1000,
                    "client_cpu_ms": client_cpu / total * 1000, "load": os.getloadavg()[0]}
        finally:
            for proc in extra:
                proc.terminate()
            for proc in extra:
                proc.wait(30)
            service.stop()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.orders", description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("latency", "submit"))
    parser.add_argument("--orders", type=int, default=40, help="latency: orders per variant")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--servers", default="1,3", help="submit: comma-separated pserve process counts, run in turn")
    parser.add_argument("--pg-url", help="an existing PostgreSQL server (maintenance database URL)")
    args = parser.parse_args(argv)
    # The worker processes import CopyProcessor from this module.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    workdir = Path(tempfile.mkdtemp(prefix="proseo-bench-orders-"))
    header = (f"Date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC; nproc = {os.cpu_count()}; "
              f"command: `.venv/bin/python -m bench.orders {' '.join(argv if argv is not None else sys.argv[1:])}`")
    try:
        with postgres_server(args.pg_url) as server_url:
            if args.what == "latency":
                print(header + "\n\n" + latency(server_url, workdir, args.orders))
                return 0
            rows = [submit(server_url, workdir, int(n), args.clients, args.seconds) for n in args.servers.split(",")]
            print(header + f"\n\n{args.clients} clients, {args.seconds:.0f} s each, no workers.\n")
            print("| pserve processes | orders | orders/s | server CPU ms/order | PostgreSQL CPU ms/order | "
                  "client CPU ms/order | load avg |")
            print("|---:|---:|---:|---:|---:|---:|---:|")
            for r in rows:
                print(f"| {r['servers']} | {r['orders']} | **{r['rate']:.0f}** | {r['cpu_ms']:.2f} | "
                      f"{r['db_cpu_ms']:.2f} | {r['client_cpu_ms']:.2f} | {r['load']:.1f} |")
            return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
