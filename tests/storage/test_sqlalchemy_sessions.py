"""The SQLAlchemy backend inside an externally managed transaction (the web layer's way:
``storage.join(transaction_manager)``, committed or aborted by a transaction manager)."""
import pytest
import transaction

from proseo_odata.model import Mission, Product
from proseo_odata.storage import ConflictError, DatabaseUnavailableError, NotFoundError, Query, StorageError
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage


@pytest.fixture
def storage(db_url):
    storage = SQLAlchemyStorage.from_url(db_url)
    storage.initialize_schema()
    storage.add_mission(Mission("M"))
    yield storage
    storage.close()


def _request(storage, manager):
    return storage.join(manager)


def _connections_in_use(storage) -> int:
    pool = storage.engine.pool
    return pool.checkedout() if hasattr(pool, "checkedout") else 0


def test_commit_and_abort_belong_to_the_transaction_manager(storage):
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    bound = _request(storage, manager)
    bound.add_product(Product(mission="M", name="kept"))
    assert bound.get_product_by_name("M", "kept").name == "kept"
    assert _connections_in_use(storage) == 1  # the request's connection, until the end
    manager.commit()
    assert _connections_in_use(storage) == 0  # the session was closed with the transaction
    assert storage.get_product_by_name("M", "kept").name == "kept"

    manager.begin()
    bound = _request(storage, manager)
    bound.add_product(Product(mission="M", name="dropped"))
    manager.abort()
    assert _connections_in_use(storage) == 0
    with pytest.raises(NotFoundError):
        storage.get_product_by_name("M", "dropped")


def test_conflict_inside_a_request_does_not_poison_it(storage):
    storage.add_product(Product(mission="M", name="a"))
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    bound = _request(storage, manager)
    with pytest.raises(ConflictError):
        bound.add_product(Product(mission="M", name="a"))
    bound.add_product(Product(mission="M", name="b"))
    manager.commit()
    assert storage.get_product_by_name("M", "b").name == "b"


def test_a_read_only_join_commits_nothing_it_did_not_write_and_a_bound_storage_cannot_join(storage):
    manager = transaction.TransactionManager(explicit=True)
    manager.begin()
    bound = storage.join(manager, read_only=True)
    assert [m.code for m in bound.list_missions()] == ["M"]
    with pytest.raises(StorageError):
        bound.join(manager)
    manager.commit()
    assert _connections_in_use(storage) == 0


def test_read_only_work_reads_what_is_committed_and_release_gives_its_connection_back(storage):
    reader, release = storage.read_only()
    assert _connections_in_use(storage) == 1
    assert [m.code for m in reader.list_missions()] == ["M"]
    with pytest.raises(StorageError):
        reader.read_only()
    with pytest.raises(StorageError):
        reader.join(transaction.TransactionManager(explicit=True))
    release()
    assert _connections_in_use(storage) == 0
    # a writer is not held up by read-only work left open (SQLite: a DEFERRED read transaction)
    reader, release = storage.read_only()
    try:
        assert reader.get_mission("M").code == "M"
        storage.add_product(Product(mission="M", name="written meanwhile"))
    finally:
        release()
    assert storage.get_product_by_name("M", "written meanwhile").name == "written meanwhile"


def test_the_contracts_default_read_only_is_a_transaction_that_release_ends():
    import contextlib

    from proseo_odata.storage.base import StorageBase

    events = []

    class Minimal(StorageBase):
        def transaction(self):
            @contextlib.contextmanager
            def bound():
                events.append("begin")
                try:
                    yield "bound storage"
                finally:
                    events.append("end")
            return bound()

    reader, release = Minimal().read_only()
    assert (reader, events) == ("bound storage", ["begin"])
    release()
    assert events == ["begin", "end"]


def test_bound_storage_cannot_open_its_own_transaction(storage):
    session = storage.session_factory()
    try:
        with pytest.raises(StorageError):
            with storage.bind(session).transaction():
                pass
    finally:
        session.close()


def test_long_client_strings_are_stored_whole(storage):
    from proseo_odata.model import Subscription

    endpoint = "https://example.org/" + "x" * 5000
    sub = storage.add_subscription(Subscription(mission="M", owner="o", filter_param="true", notification_endpoint=endpoint,
                                                notification_password="p" * 3000))
    assert storage.get_subscription("M", sub.id).notification_endpoint == endpoint


@pytest.mark.postgresql
def test_out_of_range_value_is_a_client_error_on_postgresql(fresh_pg_url):
    from proseo_odata.model import Subscription
    from proseo_odata.storage import InvalidValueError

    storage = SQLAlchemyStorage.from_url(fresh_pg_url)
    try:
        storage.initialize_schema()
        storage.add_mission(Mission("M"))
        with storage.transaction() as tx:
            with pytest.raises(InvalidValueError):
                tx.add_subscription(Subscription(mission="M", owner="o", filter_param="true", priority=2**40))
            tx.add_subscription(Subscription(mission="M", owner="o", filter_param="true", priority=5))
        assert storage.query_subscriptions("M", Query(count=True)).count == 1
    finally:
        storage.close()


def test_sqlite_connection_registers_the_filter_functions_once(tmp_path, monkeypatch):
    import proseo_odata.storage.sqlalchemy as backend

    calls = []
    real = backend.register_sqlite_functions
    monkeypatch.setattr(backend, "register_sqlite_functions", lambda conn: (calls.append(conn), real(conn)))
    storage = SQLAlchemyStorage.from_url(f"sqlite:///{tmp_path / 'once.sqlite'}")
    try:
        with storage.engine.connect() as connection:
            # a function the $filter compiler relies on is there
            assert connection.exec_driver_sql("SELECT proseo_odata_lower('ÄB')").scalar() == "äb"
        assert len(calls) == 1
    finally:
        storage.close()


def test_a_plain_sqlite_engine_is_refused_and_the_projects_engine_rolls_a_product_back(tmp_path):
    """A plain ``sa.create_engine`` leaves transactions to pysqlite, whose outermost ``RELEASE``
    commits: a product added in a transaction that then failed stayed in the catalogue."""
    import sqlalchemy as sa

    from proseo_odata.storage.sqlalchemy import create_engine
    from proseo_odata.storage.testing import make_product

    url = f"sqlite:///{tmp_path / 'plain.sqlite'}"
    plain = sa.create_engine(url)
    try:
        with pytest.raises(StorageError, match="create_engine"):
            SQLAlchemyStorage(plain)
    finally:
        plain.dispose()
    storage = SQLAlchemyStorage(create_engine(url))
    try:
        storage.initialize_schema()
        storage.add_mission(Mission("M1", "Mission one"))
        with pytest.raises(RuntimeError):
            with storage.transaction() as bound:
                bound.add_product(make_product(name="ROLLED.BACK"))
                raise RuntimeError("the caller's work failed")
        assert storage.query_products("M1", Query()).items == []
    finally:
        storage.close()


# -- SQLite: writers wait for the lock (BEGIN IMMEDIATE), readers do not take it ------------------


def test_sqlite_writers_wait_up_to_the_busy_timeout_and_readers_never_wait(tmp_path):
    """While one transaction holds the write lock: a read-only session reads at once (deferred,
    WAL snapshot); a write transaction waits for the lock (the busy timeout, here 0.5 s) and,
    when the holder commits within it, goes through; otherwise it fails after the timeout, not
    at once."""
    import threading
    import time

    import sqlalchemy as sa

    from proseo_odata.storage.sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'locks.sqlite'}"
    holder = SQLAlchemyStorage.from_url(url)
    holder.initialize_schema()
    holder.add_mission(Mission("M"))
    other = SQLAlchemyStorage(create_engine(url, busy_timeout=0.5))
    try:
        with holder.transaction() as tx:  # BEGIN IMMEDIATE: holds the write lock until the block ends
            tx.add_mission(Mission("HELD"))
            started = time.monotonic()
            with other.read_session_factory() as session:
                assert session.execute(sa.text("SELECT count(*) FROM missions")).scalar() == 1  # the snapshot
            assert time.monotonic() - started < 0.4  # read at once, never waited for the writer
            started = time.monotonic()
            with pytest.raises(DatabaseUnavailableError, match="SQLITE_BUSY") as refused:
                with other.transaction() as blocked:
                    blocked.list_missions()  # a writer's transaction: waits for the lock first
            # the storage's choke point: the driver's "database is locked", translated
            assert "locked" in str(refused.value.__cause__)
            assert time.monotonic() - started >= 0.45  # waited for the busy timeout, was not refused at once

        # The holder commits while the writer waits: the writer gets the lock and writes.
        release = threading.Event()

        def hold_then_commit():
            with holder.transaction() as tx:
                tx.add_mission(Mission("H2"))
                release.set()
                time.sleep(0.2)

        thread = threading.Thread(target=hold_then_commit)
        thread.start()
        release.wait(10)
        other.add_mission(Mission("W"))  # waits about 0.2 s, within its 0.5 s
        thread.join(10)
        assert {m.code for m in holder.list_missions()} == {"M", "HELD", "H2", "W"}
    finally:
        other.close()
        holder.close()


def test_bulk_ingest_cache_size_does_not_stay_on_pooled_sqlite_connections(sqlite_url):
    """``add_products`` enlarges SQLite's page cache for its batch only: the pooled connection it
    used serves later requests with the cache it had before."""
    storage = SQLAlchemyStorage.from_url(sqlite_url)
    storage.initialize_schema()
    storage.add_mission(Mission("M"))
    try:
        storage.engine.dispose()
        with storage.engine.connect() as connection:
            before = connection.exec_driver_sql("PRAGMA cache_size").scalar()
        assert storage.add_products([Product(mission="M", name=f"bulk-{i}") for i in range(3)])
        pooled = [storage.engine.connect() for _ in range(storage.engine.pool.checkedin())]
        try:
            sizes = {connection.exec_driver_sql("PRAGMA cache_size").scalar() for connection in pooled}
        finally:
            for connection in pooled:
                connection.close()
        assert sizes == {before}
    finally:
        storage.close()
