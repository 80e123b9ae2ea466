"""ODIP: workflows and production orders (contract sections 4, 5, 10).

``config.include("proseo_odata_web.odip")`` (done by :func:`proseo_odata_web.includeme`):

1. mounts the routes of :mod:`.workflows` and :mod:`.orders` under ``proseo.odip.prefix``
   (default ``/proseo/odip/odata/v1``); ``config.add_odip_service(prefix, name=...)`` mounts
   them under another prefix as well;
2. synchronises the configured workflows (``proseo.workflows.file`` and entry points, see
   :mod:`proseo_odata.production.workflows`) into storage, unless
   ``proseo.workflows.sync = false``;
3. starts the production engine inside this process: a
   :class:`~proseo_odata.production.engine.WorkerPool` with ``proseo.workers`` threads and the
   notification dispatcher (``proseo.notify.dispatcher``), when an archive is configured. The
   default is 0 (no threads): an application that only includes this package starts no
   production threads unless its settings ask for them (``development.ini`` sets 1). The pool
   is ``registry.proseo_workers`` (None when not started) and is stopped at interpreter exit;
   an embedding application may call ``.stop()`` itself. Under gunicorn, do not ``--preload``
   (threads do not survive ``fork``).
"""
from __future__ import annotations

import atexit
import logging

from proseo_odata.config import as_bool

log = logging.getLogger(__name__)


def add_odip_service(config, prefix: str, name: str = "odip") -> None:
    """Register the ODIP routes under ``prefix``; ``name`` keeps route names unique."""
    from ..service import add_mount, add_routes
    from . import orders, workflows

    add_routes(config, workflows.ROUTES + orders.ROUTES, prefix, name, "ODIP")
    add_mount(config, prefix, "odip")


def sync_workflows(registry, settings) -> None:
    """Upsert the configured workflows (start-up); a problem is logged, never fatal."""
    if not as_bool(settings.get("proseo.workflows.sync", "true"), key="proseo.workflows.sync"):
        return
    from proseo_odata.production.workflows import WorkflowConfigError, sync_configured_workflows
    from proseo_odata.storage.errors import log_failure

    message = "could not synchronise the configured workflows"
    try:
        with registry.storage.transaction() as tx:
            sync_configured_workflows(tx, settings)
    except WorkflowConfigError as exc:  # the definitions' mistake, named by its message: no traceback
        log.error(message + ": %s", exc)
    except Exception as exc:  # noqa: BLE001 - the service still serves the stored workflows
        log_failure(log, message, exc, level=logging.ERROR)


def start_production(registry, settings):
    """Start the in-process worker pool (see the module docstring); returns it or None."""
    threads = registry.proseo.core.workers  # proseo.workers, read once (CoreSettings)
    if threads < 1:
        return None
    if getattr(registry, "archive", None) is None:
        log.warning("proseo.workers=%d but no archive is configured: production orders will not run", threads)
        return None
    from proseo_odata.production.engine import WorkerPool

    pool = WorkerPool(settings, registry.storage, registry.archive, threads=threads).start()
    atexit.register(pool.stop, 5.0)
    return pool


def includeme(config) -> None:
    config.add_directive("add_odip_service", add_odip_service)
    registry = config.registry
    add_odip_service(config, registry.proseo.odip_prefix, "odip")
    settings = config.get_settings()
    sync_workflows(registry, settings)
    registry.proseo_workers = start_production(registry, settings)
