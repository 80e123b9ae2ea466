"""``proseo-odata worker``: run production workers (and the notification dispatcher) until SIGTERM.

Registered on the ``proseo-odata`` click group (``proseo_odata.cli``) as ``worker``; also runnable
as ``python -m proseo_odata.production.command -c production.ini``. Reads the ``[app:main]``
settings of the .ini (storage, archive, ``proseo.production.*``, ``proseo.notify.*``), starts a
:class:`~proseo_odata.production.engine.WorkerPool` and stops it cleanly on SIGTERM or SIGINT
(running processors are told to stop and their orders requeued for another worker; see
:meth:`~proseo_odata.production.engine.WorkerPool.stop` for one that never checks its token).
"""
from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import click

from proseo_odata.config import MAX_WORKERS, CoreSettings, SettingsFileError, configure, read_settings_file

log = logging.getLogger(__name__)

#: Waits before each new try when the database is away at start-up (a restart, a failover, a
#: worker started before its database): about a minute in all, then the one-line error. The
#: running pool waits for it by itself (WorkerPool).
STARTUP_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0, 15.0)


def load_settings(config_uri: str, section: str = "app:main") -> dict:
    """The settings mapping of ``section`` of a PasteDeploy .ini (``%(here)s`` expanded); also
    configures logging from the .ini's logging sections (INFO to stderr when it has none)."""
    import plaster

    loader = plaster.get_loader(config_uri, protocols=["wsgi"])
    if "loggers" in loader.get_sections():
        loader.setup_logging({})  # the .ini's [loggers]/[handlers]/[formatters] (fileConfig)
    else:  # no logging sections: INFO and above to stderr
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5.5s [%(name)s] %(message)s")
    return dict(loader.get_settings(section))


def run_worker(settings: Mapping[str, Any], *, threads: Optional[int] = None, stop_event: Optional[threading.Event] = None,
               dispatcher: Optional[bool] = None, announce: Optional[Callable[[str], None]] = None,
               core: Optional[CoreSettings] = None) -> None:
    """Run a worker pool until ``stop_event`` is set or the process gets SIGTERM/SIGINT.

    The database must have the current schema (``StorageError`` otherwise, before anything
    starts); one that is away is waited for (:data:`STARTUP_RETRY_DELAYS`, about a minute), as
    the running pool waits for it. ``announce`` (the command's ``click.echo``) is told when the pool has started, with
    how many threads, and when it has stopped. ``core``: the core settings the caller read
    (read from ``settings`` and applied when not given); ``threads`` defaults to its
    :attr:`~proseo_odata.config.CoreSettings.worker_threads`.
    """
    from proseo_odata.archive import load_archive
    from proseo_odata.production.engine import WorkerPool
    from proseo_odata.storage import open_storage
    from proseo_odata.storage.errors import retry_transient

    say = announce or log.info
    core = core or configure(settings)  # proseo.datetime.fraction_digits of the notifications it sends
    storage = retry_transient(lambda: open_storage(settings), delays=STARTUP_RETRY_DELAYS, what="worker start-up",
                              logger=log)
    try:
        archive = load_archive(settings)
    except BaseException:
        storage.close()
        raise
    if threads is None:
        threads = core.worker_threads
    pool = WorkerPool(settings, storage, archive, threads=threads, dispatcher=dispatcher)
    stop = stop_event or threading.Event()

    def on_signal(signum, _frame):
        log.info("signal %s: stopping the workers", signum)
        stop.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
    pool.start()
    delivers = "on" if getattr(pool, "dispatcher", None) is not None else "off"
    say(f"worker started: {threads} thread(s), notification delivery {delivers}; stop with Ctrl-C or SIGTERM")
    try:
        while not stop.wait(1.0):
            pass
    finally:
        pool.stop()
        storage.close()
        say("worker stopped")


@click.command("worker")
@click.option("-c", "--config", "config_uri", required=False, type=click.Path(exists=True, dir_okay=False),
              help="the .ini file (default: the one given to proseo-odata -c)")
@click.option("-t", "--threads", type=int, default=None, help="worker threads (default: proseo.workers, at least 1)")
@click.option("--no-dispatcher", is_flag=True, help="do not deliver notifications in this process")
@click.pass_context
def worker_command(ctx, config_uri, threads, no_dispatcher):
    """Run production workers (and the notification dispatcher) until SIGTERM."""
    if config_uri is None:
        config_uri = getattr(ctx.obj, "config_uri", None)  # `proseo-odata -c FILE.ini worker`
        if config_uri is None:
            raise click.ClickException("give the configuration with -c CONFIG.ini")
    if threads is not None and not 1 <= threads <= MAX_WORKERS:
        raise click.BadParameter(f"from 1 to {MAX_WORKERS}", param_hint="--threads")
    try:  # a missing, unreadable or broken file: the one line every command gives
        read_settings_file(str(config_uri))
    except SettingsFileError as exc:
        raise click.ClickException(str(exc)) from None
    # Either way the .ini's logging sections configure logging (INFO from production.ini).
    settings = load_settings(str(Path(str(config_uri).split("#", 1)[0]).resolve()))
    try:
        core = configure(settings)  # read once, checked here so that a bad value is one line
        # the pool's own settings (proseo.production.*, proseo.notify.*), read again by WorkerPool
        from proseo_odata.notify.delivery import DeliveryPolicy
        from proseo_odata.production.engine import EngineConfig

        EngineConfig.from_settings(settings)
        DeliveryPolicy.from_settings(settings)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    run_worker(settings, threads=threads, dispatcher=False if no_dispatcher else None, announce=click.echo, core=core)


if __name__ == "__main__":  # pragma: no cover - exercised by the multi-process tests
    worker_command()  # pylint: disable=no-value-for-parameter
