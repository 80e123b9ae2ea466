"""Issue 10 item 4: a worker killed with ``kill -9`` mid-run leaves no processor process and no
scratch folder behind: the kernel kills the processor's first process (PR_SET_PDEATHSIG), the next
worker to start on the host kills the rest of its process group (a helper it spawned) and removes
the dead run's scratch folder; the order then completes on that worker."""
import json
import os
import signal
import sys
import time

import pytest

from enginekit import add_input, make_settings, order_body, set_up
from live_server import wait_for
from proseo_odata.model import OrderStatus
from proseo_odata.orders.service import submit_order
from proseo_odata.production.reaper import OWNER_FILE, PGID_FILE, pdeathsig_available, reap_dead_runs
from proseo_odata.production.workflows import sync_configured_workflows
from test_worker_processes import kill_leftovers, start_worker, stop_workers, write_ini

ORPHAN_ID = "5e1d0c0a-0000-4000-8000-0000000e0e0e"

PROCESSOR = r'''
import os, shutil, subprocess, sys, time
src, out, flag, marker = sys.argv[1:5]
if not os.path.exists(flag):
    open(flag, "w").close()
    # a helper in the same process group, as real processors have (it outlives its parent)
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", marker, "helper"])
    print("PROGRESS 10", flush=True)
    time.sleep(300)
shutil.copy(src, os.path.join(out, "copy-" + os.path.basename(src)))
'''


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def processes_mentioning(marker):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read() and alive(int(entry)):
                        found.append(int(entry))
            except OSError:
                pass
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG and /proc are Linux's")
def test_killed_worker_leaves_no_orphan_process_nor_scratch_folder(sqlite_url, tmp_path):
    assert pdeathsig_available()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    marker = f"orphan-marker-{os.getpid()}-{time.time_ns()}"
    script = tmp_path / "orphaning.py"
    script.write_text(PROCESSOR)
    settings = make_settings(sqlite_url, tmp_path, **{"proseo.production.lease_seconds": "2",
                                                      "proseo.production.scratch_dir": str(scratch)})
    workflows = json.loads(open(settings["proseo.workflows.file"]).read())
    workflows["workflows"].append({
        "id": ORPHAN_ID, "mission": "DEMO", "name": "ORPHANING", "input_product_type": "S2MSI1C",
        "output_product_type": "COPY", "processor": "external",
        "processor_config": {"command": ["{python}", str(script), "{input}", "{output_dir}",
                                         str(tmp_path / "first-run"), marker]},
    })
    open(settings["proseo.workflows.file"], "w").write(json.dumps(workflows))
    storage, archive = set_up(settings)
    sync_configured_workflows(storage, settings)
    ini = write_ini(tmp_path / "worker.ini", settings)
    first = second = None
    try:
        add_input(storage, archive)
        with storage.transaction() as tx:
            order = submit_order(tx, order_body("ORPHANING"), mission="DEMO", owner="demo")
        first = start_worker(ini, tmp_path / "first.log")
        # the processor and its helper (both name the marker)
        assert wait_for(lambda: len(processes_mentioning(marker)) == 2, 60), (tmp_path / "first.log").read_text()[-3000:]
        [run] = list(scratch.glob("order-*"))
        assert (run / OWNER_FILE).is_file()
        leader = int(next(run.rglob(PGID_FILE)).read_text())
        assert alive(leader)

        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        # The kernel kills the processor itself with its worker ...
        assert wait_for(lambda: not alive(leader), 10), "the processor outlived its worker"
        # ... its helper is left (same group) and so is the folder, until a worker starts.
        assert len(processes_mentioning(marker)) == 1 and run.exists()

        second = start_worker(ini, tmp_path / "second.log")
        assert wait_for(lambda: not processes_mentioning(marker) and not run.exists(), 30), \
            (tmp_path / "second.log").read_text()[-3000:]
        done = wait_for(lambda: (o := storage.get_order("DEMO", order.id)).status.is_terminal and o, 60, 0.2)
        assert done and done.status is OrderStatus.COMPLETED, done and done.status_message
        assert wait_for(lambda: not list(scratch.glob("order-*")), 10)
        assert "scratch folder(s) of dead worker runs" in (tmp_path / "second.log").read_text()
    finally:
        stop_workers([p for p in (first, second) if p is not None])
        kill_leftovers(marker)
        storage.close()


def test_reaper_leaves_live_and_unmarked_runs_alone(tmp_path):
    live = tmp_path / "order-live"
    live.mkdir()
    from proseo_odata.production.reaper import mark_scratch

    mark_scratch(live, "me")  # this process: alive
    unmarked = tmp_path / "order-unmarked"
    unmarked.mkdir()
    dead = tmp_path / "order-dead"
    dead.mkdir()
    owner = json.loads((live / OWNER_FILE).read_text())
    owner["start"] = "1"  # the same pid, another process (a reused pid)
    (dead / OWNER_FILE).write_text(json.dumps(owner))
    report = reap_dead_runs(tmp_path)
    assert report.folders == [dead]
    assert live.exists() and unmarked.exists() and not dead.exists()
