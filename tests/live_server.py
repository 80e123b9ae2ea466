"""A real waitress server on a free 127.0.0.1 port for end-to-end tests, stopped cleanly.

``waitress.create_server(...).run()`` loops until its socket map is empty. Closing sockets from
the test's thread races the loop's ``select()`` (EBADF), so ``serve_wsgi`` stops the task
threads, then asks the loop thread itself, through waitress' trigger, to close every channel;
the loop then finds its map empty and returns.
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
        server.task_dispatcher.shutdown()

        def close_every_channel():  # runs in the loop thread
            for channel in list(server._map.values()):
                channel.handle_close()

        server.trigger.pull_trigger(close_every_channel)
        thread.join(timeout=10)
        assert not thread.is_alive(), "the waitress thread did not stop"
