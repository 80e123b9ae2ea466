"""Worker PROCESSES (``proseo-odata worker``) sharing one database: every order runs exactly once,
and an order whose worker is killed with SIGKILL completes on another worker once its lease expires."""
import json
import os
import signal
import subprocess
import sys
from collections import Counter

import pytest

from enginekit import add_input, make_settings, order_body, set_up
from live_server import wait_for
from proseo_odata.model import OrderStatus
from proseo_odata.orders.service import submit_order
from proseo_odata.storage import Query, iter_pages

RECORDING_ID = "5e1d0c0a-0000-4000-8000-00000000c0de"


def write_ini(path, settings):
    lines = ["[app:main]", "use = egg:proseo-odata"]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start_worker(ini, log_path, threads=1):
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "proseo_odata.production.command", "-c", str(ini), "-t", str(threads), "--no-dispatcher"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    finally:
        log.close()


def stop_workers(processes):
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in processes:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def kill_leftovers(marker):
    """SIGKILL processes whose command line mentions ``marker`` (orphans of a killed worker)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            try:
                os.kill(int(entry), signal.SIGKILL)
            except ProcessLookupError:
                pass


def all_orders(storage):
    with storage.transaction() as tx:
        return [o for page in iter_pages(tx.query_orders, "DEMO", query=Query(top=500)) for o in page.items]


@pytest.mark.postgresql
@pytest.mark.slow
def test_two_worker_processes_run_200_orders_exactly_once(fresh_pg_url, tmp_path):
    runs_log = tmp_path / "runs.log"
    script = tmp_path / "record.py"
    script.write_text(
        "import os, shutil, sys\n"
        "src, out, scratch, log = sys.argv[1:5]\n"
        "with open(log, 'a') as f:\n"
        "    f.write(os.path.basename(os.path.dirname(scratch)) + '\\n')\n"
        "shutil.copy(src, os.path.join(out, 'copy-' + os.path.basename(src)))\n"
    )
    settings = make_settings(fresh_pg_url, tmp_path, **{"proseo.production.lease_seconds": "10"})
    workflows = json.loads(open(settings["proseo.workflows.file"]).read())
    workflows["workflows"].append({
        "id": RECORDING_ID, "mission": "DEMO", "name": "RECORD", "input_product_type": "S2MSI1C",
        "output_product_type": "COPY", "processor": "external",
        "processor_config": {"command": ["{python}", str(script), "{input}", "{output_dir}", "{scratch}", str(runs_log)]},
    })
    open(settings["proseo.workflows.file"], "w").write(json.dumps(workflows))
    storage, archive = set_up(settings)
    try:
        add_input(storage, archive)
        with storage.transaction() as tx:
            ids = [submit_order(tx, order_body("RECORD"), mission="DEMO", owner="demo").id for _ in range(200)]
        ini = write_ini(tmp_path / "worker.ini", settings)
        workers = [start_worker(ini, tmp_path / f"worker{i}.log", threads=2) for i in range(2)]
        try:
            finished = wait_for(
                lambda: all(o.status.is_terminal for o in all_orders(storage)) or any(w.poll() is not None for w in workers),
                timeout=240, interval=0.5,
            )
            assert all(w.poll() is None for w in workers), (tmp_path / "worker0.log").read_text()[-3000:]
            assert finished, "the orders did not finish in time"
        finally:
            stop_workers(workers)
        orders = {o.id: o for o in all_orders(storage)}
        assert set(orders) == set(ids)
        assert all(o.status is OrderStatus.COMPLETED for o in orders.values()), Counter(o.status_message for o in orders.values())
        assert len({o.output_product_id for o in orders.values()}) == 200
        # Each order's processor ran exactly once (scratch folders are named order-<id>-...).
        runs = Counter(line.split("-", 1)[1][:36] for line in runs_log.read_text().split())
        assert len(runs) == 200 and set(runs.values()) == {1}
        assert {str(i) for i in ids} == set(runs)
        # Both processes took part.
        assert len({o.worker_id.rsplit(":", 1)[0] for o in orders.values()}) == 2
        with storage.transaction() as tx:
            assert tx.query_products("DEMO", Query(count=True, top=1)).count == 201
    finally:
        storage.close()


@pytest.mark.slow
def test_killed_worker_order_completes_on_another_after_lease_expiry(db_url, tmp_path):
    settings = make_settings(db_url, tmp_path, **{"proseo.production.lease_seconds": "2"})
    storage, archive = set_up(settings)
    # SLOW runs 6 s here (the shared file says 30 s): rewrite its delay.
    workflows = json.loads(open(settings["proseo.workflows.file"]).read())
    for w in workflows["workflows"]:
        if w["name"] == "SLOW":
            w["processor_config"]["command"][-1] = "4"
    open(settings["proseo.workflows.file"], "w").write(json.dumps(workflows))
    from proseo_odata.production.workflows import sync_configured_workflows
    sync_configured_workflows(storage, settings)
    ini = write_ini(tmp_path / "worker.ini", settings)
    first = second = None
    try:
        add_input(storage, archive)
        with storage.transaction() as tx:
            order = submit_order(tx, order_body("SLOW"), mission="DEMO", owner="demo")
        first = start_worker(ini, tmp_path / "first.log")
        running = wait_for(lambda: (o := storage.get_order("DEMO", order.id)).status is OrderStatus.IN_PROGRESS and o, 60)
        assert running, (tmp_path / "first.log").read_text()[-3000:]
        assert wait_for(lambda: list(tmp_path.glob("order-*/work/processor.log")), 20)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
        second = start_worker(ini, tmp_path / "second.log")
        done = wait_for(lambda: (o := storage.get_order("DEMO", order.id)).status.is_terminal and o, 90, 0.2)
        assert done, (tmp_path / "second.log").read_text()[-3000:]
        assert done.status is OrderStatus.COMPLETED, done.status_message
        assert done.attempts == 1
        assert done.worker_id != running.worker_id
        product = storage.get_product("DEMO", done.output_product_id)
        assert product.content_length == done.order_output_size > 0
        assert archive.exists(product.archive_key)
    finally:
        stop_workers([p for p in (first, second) if p is not None])
        kill_leftovers(str(tmp_path))
        storage.close()
