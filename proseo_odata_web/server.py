"""The server runners of the .ini files' ``[server:main]``: waitress (``make run``,
development.ini) and gunicorn (production.ini, several processes).

``use = egg:proseo-odata#waitress`` takes waitress's own settings (``listen``, ``threads``, ...);
``use = egg:proseo-odata#gunicorn`` takes gunicorn's (``workers``, ``worker_class``,
``threads``, ``timeout``, ...) with the address as ``listen`` too (gunicorn's ``bind``). Both add:

- the environment variable ``PROSEO_PORT`` (when set and not empty) replaces the port of every
  ``listen`` address (or sets ``port``), so the service runs on another port without a copied
  .ini: ``PROSEO_PORT=7000 pserve development.ini`` (``make run PORT=7000`` does this);
- an address that cannot be bound (a busy port, a port below 1024 without privileges, an unknown
  host) ends the process with one line on stderr instead of an ``OSError`` traceback, before
  the application is loaded.

Waitress's public ``create_server`` binds the sockets (when pserve loads the server, before the
application); ``run()`` serves until stopped.

gunicorn forks its worker processes, and each loads the application from the .ini itself:
pserve would load it in the parent before the fork, where its database connections would be
shared by every worker. So the gunicorn runner starts gunicorn's master in pserve's process as
soon as pserve loads the server, before pserve loads the application, and never returns to
pserve (``gunicorn --paste production.ini`` loads the application the same way, with gunicorn's
settings from its command line instead of ``[server:main]``).
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import sys
from typing import Any, Mapping

#: The environment variable that overrides the port of the .ini's ``listen`` addresses.
PORT_VARIABLE = "PROSEO_PORT"


def _port_from_environment(environ: Mapping[str, str]) -> int | None:
    text = (environ.get(PORT_VARIABLE) or "").strip()
    if not text:
        return None
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SystemExit(f"proseo-odata: {PORT_VARIABLE}={text!r} is not a port number (1-65535)")
    return int(text)


def apply_port(settings: Mapping[str, Any], port: int | None) -> dict:
    """Waitress settings with every ``listen`` address's port replaced by ``port`` (or ``port``
    set when there is no ``listen``); unchanged when ``port`` is None."""
    kw = dict(settings)
    if port is None:
        return kw
    listen = str(kw.get("listen") or "").split()
    if listen:
        kw["listen"] = " ".join(f"{address.rsplit(':', 1)[0]}:{port}" if ":" in address else f"{address}:{port}"
                                for address in listen)
    else:
        kw["port"] = str(port)
    return kw


def _where(kw: Mapping[str, Any]) -> str:
    if kw.get("listen"):
        return str(kw["listen"])
    return f"{kw.get('host', '0.0.0.0')}:{kw.get('port', 8080)}"


def _cannot_listen(exc: OSError, where: str) -> SystemExit:
    reason = exc.strerror or str(exc)
    hint = ""
    if exc.errno == errno.EADDRINUSE:
        hint = f" (another server uses it: stop that one, or choose another port with {PORT_VARIABLE}=... or make run PORT=...)"
    return SystemExit(f"proseo-odata: cannot listen on {where}: {reason}{hint}")


class _ForwardingApp:
    """The WSGI application waitress is created with: the server binds its sockets before pserve
    has loaded the real application (see :func:`server_factory`), which is set here afterwards."""

    def __init__(self):
        self.app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


def server_factory(global_conf=None, **settings):
    """PasteDeploy server factory (``paste.server_factory``): binds the configured addresses at
    once and returns the function that serves an application on them.

    pserve loads the server before the application, so a busy port is reported (one line,
    exit status 1) before the application starts anything: workers, eviction. (pserve turns a
    ``SystemExit`` raised while serving into exit status 0, so the check must come first.)
    """
    from waitress import create_server

    kw = apply_port(settings, _port_from_environment(os.environ))
    logging.basicConfig()  # idempotent when the .ini's logging is set up already (as waitress does)
    forwarding = _ForwardingApp()
    try:
        server = create_server(forwarding, **kw)
    except OSError as exc:
        raise _cannot_listen(exc, _where(kw)) from None

    def serve(app) -> None:
        forwarding.app = app
        server.print_listen("Serving on http://{}:{}")
        server.run()

    return serve


def _check_bindable(addresses: list[str]) -> None:
    """One line and exit when an address of gunicorn's ``bind`` list cannot be bound (gunicorn
    itself would retry five times and log a traceback-free error, but only after pserve moved on)."""
    for address in addresses:
        if address.startswith(("unix:", "fd://")):
            continue
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or "0.0.0.0"
        try:
            infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
            family, kind, proto, _, sockaddr = infos[0]
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
                probe.bind(sockaddr)
        except (OSError, ValueError) as exc:
            if isinstance(exc, ValueError):
                exc = OSError(errno.EINVAL, f"not a host:port address ({exc})")
            raise _cannot_listen(exc, address) from None


def gunicorn_server_factory(global_conf=None, **settings):
    """PasteDeploy server factory (``paste.server_factory``) of ``egg:proseo-odata#gunicorn``:
    runs gunicorn on the .ini's application until gunicorn stops, and exits with its status.

    ``listen`` (space-separated ``host:port`` addresses, as for waitress) is gunicorn's
    ``bind``; every other key is a gunicorn setting (https://docs.gunicorn.org/en/stable/settings.html).
    Logging comes from the .ini's logging sections (gunicorn's ``logconfig``).
    """
    from gunicorn.app.base import BaseApplication
    from gunicorn.app.pasterapp import has_logging_config
    from gunicorn.arbiter import Arbiter
    from gunicorn.errors import HaltServer

    config_file = (global_conf or {})["__file__"]
    kw = apply_port(settings, _port_from_environment(os.environ))
    bind = str(kw.pop("listen", "") or "").split() or [f"{kw.pop('host', '127.0.0.1')}:{kw.pop('port', '8000')}"]
    _check_bindable(bind)
    for address in bind:  # (with reuse_port the master has no socket, and gunicorn names none)
        logging.getLogger(__name__).info("serving on http://%s", address)

    class ProseoGunicorn(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", bind)
            self.cfg.set("default_proc_name", config_file)
            if has_logging_config(config_file):
                self.cfg.set("logconfig", config_file)
            for key, value in kw.items():
                if key.lower() not in self.cfg.settings:
                    raise SystemExit(f"proseo-odata: [server:main] of {config_file}: {key!r} is not a gunicorn setting")
                self.cfg.set(key.lower(), value)

        def load(self):
            """The application, in each worker. The .ini's application refusing to start (one line:
            no schema, a missing driver, a bad setting) ends the worker with gunicorn's
            ``APP_LOAD_ERROR``, on which its arbiter stops the server ("App failed to load.", the
            same status) instead of booting a new worker every second for ever."""
            from pyramid.paster import get_app

            try:
                return get_app(config_file, "main")
            except SystemExit as exc:
                if exc.code not in (None, 0):
                    if not isinstance(exc.code, int):
                        print(exc.code, file=sys.stderr, flush=True)
                    sys.exit(Arbiter.APP_LOAD_ERROR)
                raise

    try:
        ProseoGunicorn().run()  # returns only by SystemExit (gunicorn's arbiter exits the process)
    except HaltServer as exc:
        # Halting for a worker that could not load the application, the arbiter reaps the other
        # workers, and one that failed the same way raises HaltServer again out of its halt,
        # before the halt has logged its reason: say it here ("App failed to load.").
        logging.getLogger(__name__).error("Reason: %s", exc.reason)
        raise SystemExit(exc.exit_status) from None
    raise SystemExit(0)

