"""What a dead worker leaves behind: its processors' processes and its runs' scratch folders.

A worker marks each run's scratch folder (``order-<id>-*``) with :data:`OWNER_FILE`: the host,
the worker process's pid and that process's start time (so a reused pid is not mistaken for the
owner). An external processor records its process group in :data:`PGID_FILE` in the run's
``work`` folder. Two mechanisms make sure nothing outlives a worker killed with ``kill -9``:

1. the processor's first process gets ``PR_SET_PDEATHSIG`` = SIGKILL (Linux ``prctl``, set
   between fork and exec): the kernel kills it the moment the thread that started it dies;
2. :func:`reap_dead_runs`, run by every :class:`~proseo_odata.production.engine.WorkerPool` when it
   starts: for every marked folder of this host whose owner process is gone, it SIGKILLs the
   recorded process group (only processes still working below that folder, so a reused group id
   of an unrelated program is never touched) and removes the folder.

A worker on another host cannot see a dead host's processes; the folder is removed when a worker
starts again on that host (or by the operator: ``order-*`` folders in
``proseo.production.scratch_dir`` whose owner is not running).
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

log = logging.getLogger(__name__)

OWNER_FILE = ".proseo-run.json"
PGID_FILE = ".processor.pgid"
SCRATCH_PREFIX = "order-"
PR_SET_PDEATHSIG = 1

_libc = None


def process_start_time(pid: int) -> Optional[str]:
    """The start time of process ``pid`` (clock ticks since boot, from /proc), None if it is
    gone. Together with the pid it names one process for its whole life."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read().decode("ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may contain spaces: split after it.
    fields = data[data.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 else None


def _is_alive(pid: int, start: Optional[str]) -> bool:
    now = process_start_time(pid)
    if now is None:
        return False
    return start is None or now == start


def mark_scratch(folder: Path, worker_id: str) -> None:
    """Mark ``folder`` as a run of this process (see the module docstring)."""
    owner = {"host": socket.gethostname(), "pid": os.getpid(), "start": process_start_time(os.getpid()),
             "worker": worker_id}
    (Path(folder) / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")


def record_process_group(work_dir: Path, pgid: int) -> None:
    """Record the process group of a processor started for the run in ``work_dir``."""
    try:
        (Path(work_dir) / PGID_FILE).write_text(str(pgid), encoding="ascii")
    except OSError:  # a read-only scratch is the processor's problem; the kernel still helps
        log.warning("cannot record the processor's process group in %s", work_dir)


def die_with_parent() -> None:
    """``preexec_fn`` for a processor: SIGKILL it when the thread that started it dies (Linux).

    Runs in the child between fork and exec: only async-signal-safe work (one prctl call)."""
    if _libc is not None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _load_libc():
    if not os.path.exists("/proc/self"):  # not Linux: the reaper alone does the work
        return None
    for name in (None, "libc.so.6"):  # the running program's symbols include libc's prctl
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            if hasattr(libc, "prctl"):
                return libc
        except OSError:
            continue
    return None


_libc = _load_libc()


def pdeathsig_available() -> bool:
    return _libc is not None


@dataclass
class ReapReport:
    folders: list[Path] = field(default_factory=list)
    killed: list[int] = field(default_factory=list)


def _members_below(pgid: int, folder: Path) -> list[int]:
    """Pids of process group ``pgid`` whose working directory is inside ``folder``."""
    members = []
    root = str(folder.resolve())
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            if os.getpgid(pid) != pgid:
                continue
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + os.sep) or cwd.startswith(root + " (deleted)"):
            members.append(pid)
    return members


def reap_dead_runs(scratch_dir: Optional[str | Path] = None) -> ReapReport:
    """Kill the processors and remove the scratch folders of runs whose worker process died
    (on this host). Returns what was done; never raises for a single folder."""
    import tempfile

    base = Path(scratch_dir or tempfile.gettempdir())
    report = ReapReport()
    host = socket.gethostname()
    try:
        candidates = [p for p in base.iterdir() if p.name.startswith(SCRATCH_PREFIX) and p.is_dir()]
    except OSError:
        return report
    for folder in candidates:
        try:
            owner = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
            pid, start = int(owner["pid"]), owner.get("start")
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not marked (or being created right now): not ours to judge
        if owner.get("host") != host or _is_alive(pid, start):
            continue
        for pgid_file in folder.rglob(PGID_FILE):
            try:
                pgid = int(pgid_file.read_text(encoding="ascii").strip())
            except (OSError, ValueError):
                continue
            members = _members_below(pgid, folder)
            if members:  # still the dead run's group: kill all of it (helpers that moved away too)
                try:
                    os.killpg(pgid, signal.SIGKILL)
                    report.killed.extend(members)
                except ProcessLookupError:
                    pass
        shutil.rmtree(folder, ignore_errors=True)
        report.folders.append(folder)
    if report.folders:
        log.warning("removed %d scratch folder(s) of dead worker runs, killed %d leftover processor process(es)",
                    len(report.folders), len(report.killed))
    return report
