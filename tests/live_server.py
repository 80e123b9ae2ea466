"""The network and waiting helpers of the tests, written once: a real waitress server for
end-to-end tests (``serve_wsgi``), a notification endpoint recording POSTs (``Receiver``), a free
127.0.0.1 port (``free_port``) and a bounded wait (``wait_for``). Everything listens on 127.0.0.1
only and is stopped with its threads joined, so nothing outlives its test (a thread left blocked
in ``accept()`` holds the interpreter's exit).

``waitress.create_server(...).run()`` loops until its socket map is empty. Closing sockets from
the test's thread races the loop's ``select()`` (EBADF), so ``serve_wsgi`` stops the task
threads, then asks the loop thread itself, through waitress' trigger, to close every channel;
the loop then finds its map empty and returns.
"""
from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import waitress


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0 where you can)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05, *, what: str | None = None):
    """Call ``predicate`` every ``interval`` seconds until it returns a true value, and return
    that value; after ``timeout`` seconds return None, or fail the test naming ``what`` when it
    is given."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    if what is not None:
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
    return None


class Receiver:
    """A notification endpoint: a real HTTP server on 127.0.0.1 (``port`` 0: any free one) that
    records every POST in ``received`` as ``{"path", "auth", "type", "body"}`` (the Authorization
    and Content-Type headers, the body parsed as JSON), calls ``on_post(record)``, waits
    ``delay`` seconds and answers ``status`` (settable while it runs). ``url`` ends in ``path``.
    ``close()`` (or leaving its ``with`` block) stops it and joins its threads."""

    def __init__(self, port: int = 0, status: int = 204, *, delay: float = 0.0, on_post=None, path: str = "/notify"):
        self.received: list[dict] = []
        self.status = status
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                record = {
                    "path": self.path,
                    "auth": self.headers.get("Authorization"),
                    "type": self.headers.get("Content-Type"),
                    "body": json.loads(body),
                }
                with receiver.lock:
                    receiver.received.append(record)
                if delay:
                    time.sleep(delay)  # a slow receiver
                if on_post is not None:
                    on_post(record)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)
        self.thread.start()

    def for_order(self, order_id: str) -> list[dict]:
        """The records of the notifications about production order ``order_id``."""
        with self.lock:
            return [r for r in self.received if r["body"].get("ProductionOrderId") == order_id]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()  # joins the request threads
        self.thread.join(10)
        assert not self.thread.is_alive(), "the receiver thread did not stop"

    def __enter__(self) -> "Receiver":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


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

        try:
            server.trigger.pull_trigger(close_every_channel)
        except OSError:
            # the loop has already closed its trigger (a close event it does not handle: waitress
            # logs "unhandled close event"); nothing else runs the callback, so run it here
            close_every_channel()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the waitress thread did not stop"
