"""A commit whose answer never reaches the ingest: the server has stored the products, the
client sees the connection lost. The ingest must not then delete the files it copied for them
(a product without its file), as it does for products that certainly were not stored.

The fault is real: a TCP proxy in front of the PostgreSQL test server forwards the client's
``COMMIT``, waits for the server's answer (the commit is done once it is sent) and, instead of
passing it on, closes the client's connection."""
import contextlib
import json
import socket
import threading

import pytest
from sqlalchemy.engine import make_url

from proseo_odata.archive.local import LocalArchive
from proseo_odata.ingest import ingest_file, ingest_manifest
from proseo_odata.model import Mission
from proseo_odata.storage import DatabaseUnavailableError
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

pytestmark = pytest.mark.postgresql


class CommitLosingProxy:
    """A TCP proxy on 127.0.0.1 that, once :meth:`arm` is called, loses the answer to the next
    ``COMMIT`` it forwards of a transaction that wrote: the server's answer is read and dropped,
    and the client's connection closed."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.armed = threading.Event()
        self.lost = threading.Event()  # a commit's answer was dropped
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self):
        self.armed.set()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self.sockets += [client, server]
            committing = threading.Event()
            threading.Thread(target=self._upstream, args=(client, server, committing), daemon=True).start()
            threading.Thread(target=self._downstream, args=(server, client, committing), daemon=True).start()

    def _upstream(self, client, server, committing):
        wrote = False  # this connection's transaction has written (an INSERT or a COPY)
        while data := self._recv(client):
            wrote = wrote or b"INSERT" in data or b"COPY" in data
            if wrote and b"COMMIT" in data and self.armed.is_set():
                self.armed.clear()
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
        self.listener.close()
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.close()


@pytest.fixture
def setup(migrated_pg_url, tmp_path):
    direct = SQLAlchemyStorage.from_url(migrated_pg_url)
    direct.add_mission(Mission("M"))
    url = make_url(migrated_pg_url)
    proxy = CommitLosingProxy(url.port)
    proxied = SQLAlchemyStorage.from_url(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False))
    try:
        yield direct, proxied, proxy, LocalArchive(tmp_path / "archive")
    finally:
        proxied.close()
        direct.close()
        proxy.close()


def _source(tmp_path, name: str) -> str:
    path = tmp_path / name
    path.write_bytes(name.encode() * 10)
    return str(path)


def test_a_file_ingested_whose_commit_answer_is_lost_keeps_its_file(setup, tmp_path):
    direct, proxied, proxy, archive = setup
    proxy.arm()
    with pytest.raises(DatabaseUnavailableError):
        ingest_file(proxied, archive, "M", _source(tmp_path, "P1.zip"), {"Name": "P1.zip"})
    assert proxy.lost.is_set()
    stored = direct.get_product_by_name("M", "P1.zip")  # the commit took place
    assert archive.size(stored.archive_key) == stored.content_length  # and its file is there


def test_a_manifest_batch_whose_commit_answer_is_lost_keeps_its_files(setup, tmp_path):
    direct, proxied, proxy, archive = setup
    names = [f"B{i}.zip" for i in range(5)]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"file": _source(tmp_path, n), "Name": n}) + "\n" for n in names))
    proxy.arm()
    with pytest.raises(DatabaseUnavailableError):
        ingest_manifest(proxied, archive, "M", manifest, parsers=0)
    assert proxy.lost.is_set()
    for name in names:  # every product of the batch was stored, each with its file
        stored = direct.get_product_by_name("M", name)
        assert archive.size(stored.archive_key) == stored.content_length
    # a re-run, with the database answering again, finds them all and copies nothing more
    files = sorted(p for p in archive.root.rglob("*") if p.is_file())
    report = ingest_manifest(direct, archive, "M", manifest, parsers=0)
    assert (report.ingested, report.skipped, report.failed) == (0, len(names), [])
    assert sorted(p for p in archive.root.rglob("*") if p.is_file()) == files


def test_when_the_database_cannot_tell_every_file_is_kept(tmp_path):
    """After an unknown outcome, with the database unreachable, no file is deleted (an orphan
    file is the lesser harm); after a refusal, the files go."""
    from proseo_odata import ingest
    from proseo_odata.model import Product
    from proseo_odata.storage import ConflictError

    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    unreachable = SQLAlchemyStorage.from_url(f"postgresql+psycopg://nobody@127.0.0.1:{port}/none", connect_timeout=1)
    products = [Product("M", "A.zip"), Product("M", "B.zip")]
    try:
        assert ingest._maybe_stored(unreachable, products, KeyboardInterrupt()) == {p.id for p in products}
        assert ingest._maybe_stored(unreachable, products, ConflictError("taken")) == set()
    finally:
        unreachable.close()
