"""Network faults for tests: a TCP proxy in front of the PostgreSQL test server (127.0.0.1)."""
import contextlib
import socket
import threading

#: What a transaction that writes a product sends (SQLAlchemy's INSERT, the bulk path's COPY).
PRODUCT_WRITES = (b"INSERT INTO products", b'COPY "products"')


class CommitLosingProxy:
    """A TCP proxy on 127.0.0.1 that, once armed, breaks the next transaction that writes a
    product (sends one of ``writes``) on one of two moments:

    * :meth:`arm` (``lose="answer"``): at its ``COMMIT``, which is forwarded; the server's
      answer (the commit is done once it is sent) is read and dropped, and the client's
      connection closed: the client cannot know that its products were stored;
    * ``arm(lose="write")``: at the write itself, which is never forwarded: the connection is
      closed, the server rolls the transaction back, nothing is stored.
    """

    def __init__(self, target_port: int, writes: tuple = PRODUCT_WRITES):
        self.target_port = target_port
        self.writes = writes
        self.armed: str | None = None
        self.lost = threading.Event()  # the armed fault happened
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def arm(self, lose: str = "answer"):
        assert lose in ("answer", "write")
        self.armed = lose

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                return
            with self._lock:
                self.sockets += [client, server]
            committing = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, committing), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, committing), daemon=True).start()

    def _upstream(self, client, server, committing):
        wrote = False  # this connection's transaction has sent one of ``writes``
        while data := self._recv(client):
            writes = any(marker in data for marker in self.writes)
            if writes and self.armed == "write":
                self.armed = None
                self.lost.set()
                break  # never forwarded: the server rolls the transaction back
            wrote = wrote or writes
            if wrote and b"COMMIT" in data and self.armed == "answer":
                self.armed = None
                committing.set()
            elif b"COMMIT" in data or b"ROLLBACK" in data:
                wrote = False
            if not self._send(server, data):
                break
        self._close(client, server)

    def _downstream(self, server, client, committing):
        while data := self._recv(server):
            if committing.is_set():  # the server's answer to the COMMIT: it has committed
                self.lost.set()
                break
            if not self._send(client, data):
                break
        self._close(client, server)

    @staticmethod
    def _recv(sock):
        try:
            return sock.recv(65536)
        except OSError:
            return b""

    @staticmethod
    def _send(sock, data) -> bool:
        try:
            sock.sendall(data)
            return True
        except OSError:
            return False

    @staticmethod
    def _close(*sockets):
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self):
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not)
        self.listener.close()
        self._acceptor.join(5)
        with self._lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.close()
