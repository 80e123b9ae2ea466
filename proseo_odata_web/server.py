"""The server runner of the .ini files' ``[server:main]``: waitress, with two additions.

``[server:main] use = egg:proseo-odata#waitress`` takes waitress's own settings (``listen``,
``threads``, ...), and

- the environment variable ``PROSEO_PORT`` (when set and not empty) replaces the port of every
  ``listen`` address (or sets ``port``), so the service runs on another port without a copied
  .ini: ``PROSEO_PORT=7000 pserve development.ini`` (``make run PORT=7000`` does this);
- an address that cannot be bound (a busy port, a port below 1024 without privileges, an unknown
  host) ends the process with one line on stderr instead of an ``OSError`` traceback.

Waitress's public ``create_server`` binds the sockets (when pserve loads the server, before the
application); ``run()`` serves until stopped.
"""
from __future__ import annotations

import errno
import logging
import os
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
        reason = exc.strerror or str(exc)
        hint = ""
        if exc.errno == errno.EADDRINUSE:
            hint = f" (another server uses it: stop that one, or choose another port with {PORT_VARIABLE}=... or make run PORT=...)"
        raise SystemExit(f"proseo-odata: cannot listen on {_where(kw)}: {reason}{hint}") from None

    def serve(app) -> None:
        forwarding.app = app
        server.print_listen("Serving on http://{}:{}")
        server.run()

    return serve
