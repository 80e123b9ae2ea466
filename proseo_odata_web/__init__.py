"""Pyramid/Cornice web application serving PRIP and ODIP.

``main(global_config, **settings)`` is the WSGI application factory (``pserve development.ini``);
``includeme(config)`` adds the services to an existing Pyramid application
(``config.include("proseo_odata_web")``), for example one that embeds the catalogue.

Start-up, once per process:

1. the ``proseo.*`` web settings are parsed (:class:`proseo_odata_web.settings.WebSettings`) and
   kept as ``registry.proseo``, with the core's settings read once as ``registry.proseo.core``
   (:class:`proseo_odata.config.CoreSettings`: ``proseo.workers``,
   ``proseo.datetime.fraction_digits``, which is applied to the process);
2. the storage backend (``proseo.storage.backend``) is opened with
   ``proseo_odata.storage.open_storage(settings)`` into ``registry.storage``, schema checked
   (a missing or older schema refuses the start; an unreachable
   database is logged and answered 503 until it is back), and the archive
   (``proseo.archive.backend``) with ``proseo_odata.archive.load_archive(settings)`` into
   ``registry.archive`` - unless the including application put them there already; a storage
   without a secrets key is logged (:meth:`proseo_odata.secretbox.SecretBox.warn_unkeyed`);
3. pyramid_tm, the per-request session/storage (:mod:`proseo_odata_web.db`), Cornice,
   authentication, the error views, PRIP (:mod:`proseo_odata_web.prip`) and ODIP
   (:mod:`proseo_odata_web.odip`) are included;
4. liveness ``/healthz``, readiness ``/readyz`` and Prometheus ``/metrics``
   (:mod:`proseo_odata_web.operations`, docs/deployment.md) are added, with a tween timing every
   request;
5. periodic eviction starts when ``proseo.eviction.interval`` is set (see docs/downloads.md); it
   is ``registry.eviction`` and is stopped at interpreter exit (an embedding application may
   call ``.stop()`` itself).

Nothing else runs in the background unless the settings ask for it: ODIP's in-process worker
pool needs ``proseo.workers`` >= 1 (default 0, :mod:`proseo_odata_web.odip`).
"""
from __future__ import annotations

import atexit

from pyramid.config import Configurator

from proseo_odata.config import configure

from .settings import WebSettings


def _load_backends(config) -> None:
    registry = config.registry
    settings = config.get_settings()
    if getattr(registry, "storage", None) is None:
        from proseo_odata.storage import open_storage

        # SchemaNotReadyError: missing or old schema, refuse to start; an unreachable database
        # may come back: start, and answer 503 until it does.
        registry.storage = open_storage(settings, unavailable_ok=True)
        registry.storage.secrets.warn_unkeyed()
    if getattr(registry, "archive", None) is None:
        if settings.get("proseo.archive.backend"):
            from proseo_odata.archive import load_archive

            registry.archive = load_archive(settings)
        else:
            registry.archive = None


def includeme(config) -> None:
    """Add PRIP and ODIP to ``config``; see the module docstring."""
    settings = config.get_settings()
    # Cornice's own exception views would answer HTML/JSON without the OData error body.
    settings["handle_exceptions"] = False
    config.registry.proseo = WebSettings.from_settings(settings, core=configure(settings))
    _load_backends(config)
    config.include("proseo_odata_web.db")
    config.include("cornice")
    config.include("proseo_odata_web.auth")
    config.include("proseo_odata_web.errors")
    config.include("proseo_odata_web.service")  # the OData request headers it cannot honour fail the request
    config.include("proseo_odata_web.operations")
    config.include("proseo_odata_web.prip")
    config.include("proseo_odata_web.odip")
    from .operations import attach_dispatcher

    attach_dispatcher(config.registry)
    _start_eviction(config)


def _start_eviction(config) -> None:
    """Periodic eviction inside the server process (``proseo.eviction.interval``, 0 = off)."""
    registry = config.registry
    if getattr(registry, "eviction", None) is not None or registry.archive is None:
        return
    from proseo_odata.eviction import start_periodic_eviction

    registry.eviction = start_periodic_eviction(config.get_settings(), registry.storage, registry.archive)
    if registry.eviction is not None:
        atexit.register(registry.eviction.stop, 5.0)


def main(global_config, **settings):
    """The WSGI application (``[app:main] use = egg:proseo-odata``).

    A configuration or environment problem found at start-up (a database without the schema or
    with an older one, a missing driver, an unusable archive, a bad setting) ends the process with
    one line on stderr (``SystemExit``) instead of a traceback, before anything starts serving.
    """
    from proseo_odata.archive import ArchiveError
    from proseo_odata.secretbox import SecretsError
    from proseo_odata.storage import StorageError

    from .settings import SettingsError

    try:
        with Configurator(settings=settings) as config:
            config.include(includeme)
    # ValueError: a setting whose value the core refuses (fraction digits, throttle or delivery
    # policy numbers); the message names the setting.
    except (StorageError, ArchiveError, SettingsError, SecretsError, ValueError) as exc:
        raise SystemExit(f"proseo-odata: cannot start: {exc}") from None
    return config.make_wsgi_app()
