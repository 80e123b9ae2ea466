"""A real waitress server on a free 127.0.0.1 port for end-to-end tests, stopped cleanly.

``waitress.create_server(...).run()`` loops until its socket map is empty; closing only the
listening socket leaves the trigger channel behind and the thread never ends. ``serve_wsgi``
closes every channel (as WebTest's StopableWSGIServer does) and shuts the task threads down.
"""
from __future__ import annotations

import contextlib
import threading

import waitress


@contextlib.contextmanager
def serve_wsgi(app, *, threads: int = 4):
    """Serve ``app`` while the block runs; yields the base URL ``http://127.0.0.1:<port>``."""
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
    thread = threading.Thread(target=server.run, name="waitress-e2e", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Task threads first (they pull the trigger when a response is ready), then the channels.
        server.task_dispatcher.shutdown()
        while server._map:
            for channel in list(server._map.values()):
                channel.handle_close()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the waitress thread did not stop"
