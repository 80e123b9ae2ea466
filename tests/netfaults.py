"""Network faults for tests: TCP proxies on 127.0.0.1 in front of the PostgreSQL test server,
which break what clients see of it without touching the shared server itself."""
import contextlib
import socket
import threading
import time

#: What a transaction that writes a product sends (SQLAlchemy's INSERT, the bulk path's COPY).
PRODUCT_WRITES = (b"INSERT INTO products", b'COPY "products"')


class TcpProxy:
    """A TCP proxy on 127.0.0.1 (``port``) to ``target_port``: each accepted connection gets its
    own connection to the target and two threads copying bytes, one each way. Subclasses make
    the faults through three hooks: :meth:`admit` (answer a new connection at all?),
    :meth:`connection_state` (per-connection state for :meth:`passing`) and :meth:`passing`
    (the bytes to forward, or None to drop them and close the connection)."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def admit(self, client) -> bool:
        return True

    def connection_state(self):
        return None

    def passing(self, data: bytes, state, upstream: bool) -> bytes | None:
        return data

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._keep(client)
            if not self.admit(client):
                continue  # accepted, never answered
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                self._shut(client)
                continue
            self._keep(server)
            state = self.connection_state()
            for source, sink, upstream in ((client, server, True), (server, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, state, upstream), daemon=True).start()

    def _keep(self, sock):
        with self._lock:
            self.sockets.append(sock)

    def _pump(self, source, sink, state, upstream):
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                break
            if not data:
                break
            data = self.passing(data, state, upstream)
            if data is None:
                break
            try:
                sink.sendall(data)
            except OSError:
                break
        self._shut(source, sink)

    @staticmethod
    def _shut(*sockets):
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self):
        self.closed.set()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone does not)
        self.listener.close()
        self._acceptor.join(5)
        with self._lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.close()


class FreezableProxy(TcpProxy):
    """A proxy that can be frozen: it then accepts connections and bytes but forwards nothing,
    in either direction (what clients see of a server stopped with SIGSTOP); thawed, it
    forwards again."""

    def __init__(self, target_port: int):
        self.frozen = threading.Event()
        super().__init__(target_port)

    def admit(self, client) -> bool:
        return not self.frozen.is_set()

    def passing(self, data, state, upstream):
        while self.frozen.is_set() and not self.closed.is_set():
            time.sleep(0.05)  # held, not forwarded
        return data

    def freeze(self):
        self.frozen.set()


class _Transaction:
    """:class:`CommitLosingProxy`'s state of one connection."""

    def __init__(self):
        self.wrote = False  # its transaction has sent one of the proxy's ``writes``
        self.committing = threading.Event()  # its armed COMMIT was forwarded


class CommitLosingProxy(TcpProxy):
    """A proxy that, once armed, breaks the next transaction that writes a product (sends one of
    ``writes``) on one of two moments:

    * :meth:`arm` (``lose="answer"``): at its ``COMMIT``, which is forwarded; the server's
      answer (the commit is done once it is sent) is read and dropped, and the client's
      connection closed: the client cannot know that its products were stored;
    * ``arm(lose="write")``: at the write itself, which is never forwarded: the connection is
      closed, the server rolls the transaction back, nothing is stored.

    ``times``: how many transactions in a row it breaks so (None: every one, a database that
    stays away, until :meth:`disarm`).
    """

    def __init__(self, target_port: int, writes: tuple = PRODUCT_WRITES):
        self.writes = writes
        self.armed: str | None = None
        self.left: int | None = 0  # faults still to happen (None: no end)
        self.faults = 0  # faults that happened
        self.lost = threading.Event()  # the armed fault happened
        super().__init__(target_port)

    def arm(self, lose: str = "answer", times: int | None = 1):
        assert lose in ("answer", "write") and (times is None or times > 0)
        self.armed, self.left = lose, times

    def disarm(self):
        self.armed = None

    def _fault(self):
        self.faults += 1
        if self.left is not None:
            self.left -= 1
            if self.left == 0:
                self.armed = None
        self.lost.set()

    def connection_state(self):
        return _Transaction()

    def passing(self, data, state, upstream):
        if not upstream:
            if state.committing.is_set():  # the server's answer to the COMMIT: it has committed
                self._fault()
                return None
            return data
        writes = any(marker in data for marker in self.writes)
        if writes and self.armed == "write":
            self._fault()
            return None  # never forwarded: the server rolls the transaction back
        state.wrote = state.wrote or writes
        if state.wrote and b"COMMIT" in data and self.armed == "answer":
            if self.left is not None and self.left <= 1:
                self.armed = None  # no second transaction broken while this answer is awaited
            state.committing.set()
        elif b"COMMIT" in data or b"ROLLBACK" in data:
            state.wrote = False
        return data
