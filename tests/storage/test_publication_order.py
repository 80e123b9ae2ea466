"""Publication dates in the order of commits: a client that harvests the catalogue by
``PublicationDate`` (``PublicationDate ge <the last it saw>``, the way archives harvest a PRIP)
must never meet a product that becomes visible after it looked with a date before those it saw.
A product whose publication date the service assigns (``stamp_publication``) is dated by the
storage inside the transaction that stores it, after the catalogue's version row is held, so
a second publisher waits and dates its products after the first has committed."""
from __future__ import annotations

import threading
import time
from datetime import timedelta, timezone

import pytest
import sqlalchemy as sa

from proseo_odata.model import Mission
from proseo_odata.model.entities import utcnow
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import T0, make_product


def _clock(storage):
    """The clock the storage stamps with: the database server's on PostgreSQL (which may be
    another machine's, ``PROSEO_TEST_PG_URL``), this machine's on SQLite."""
    if storage.dialect != "postgresql":
        return utcnow()
    with storage.engine.connect() as connection:
        return connection.execute(sa.select(sa.func.clock_timestamp())).scalar_one().astimezone(timezone.utc)


def _publisher(storage, product, outcome, key, *, bulk=False):
    def run():
        try:
            with storage.transaction() as tx:
                tx.add_products([product]) if bulk else tx.add_product(product)
            outcome[key] = "ok"
        except Exception as exc:  # noqa: BLE001 - the assertion shows it
            outcome[key] = repr(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.parametrize("bulk", [False, True], ids=["add_product", "add_products"])
def test_a_stamped_publication_is_dated_after_the_transaction_before_it_committed(db_url, await_lock_wait, bulk):
    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.add_mission(Mission("M1"))
        before = _clock(storage)  # made (and dated, as an ingest dates it when it reads the metadata) first
        second = make_product(name="second.zip", publication_date=before, modification_date=before, stamp_publication=True)
        first = make_product(name="first.zip", publication_date=utcnow(), modification_date=utcnow(), stamp_publication=True)
        outcome: dict = {}
        with storage.transaction() as tx:
            tx.add_products([first]) if bulk else tx.add_product(first)
            thread = _publisher(storage, second, outcome, "second", bulk=bulk)
            if db_url.startswith("postgresql"):
                await_lock_wait(db_url, "the second publisher")
            # (SQLite: the second one waits for the write lock, BEGIN IMMEDIATE)
            time.sleep(1.5)  # the second one waits on: it must not have read the clock yet
            assert "second" not in outcome, "the second publisher did not wait for the first"
            committing = _clock(storage)
        thread.join(30)
        assert outcome == {"second": "ok"}
        stored = {p.name: p for p in (storage.get_product_by_name("M1", n) for n in ("first.zip", "second.zip"))}
        # the second was made first, waited, and was dated after the first had committed: a
        # harvester that saw the first (and nothing after it) finds the second after its date
        assert before < stored["first.zip"].publication_date < committing - timedelta(seconds=1)
        assert stored["second.zip"].publication_date >= committing - timedelta(milliseconds=50)
        assert stored["second.zip"].modification_date == stored["second.zip"].publication_date
        assert second.publication_date == stored["second.zip"].publication_date
    finally:
        storage.close()


def test_another_missions_publisher_does_not_wait_and_a_given_date_is_kept_on_postgresql(migrated_pg_url, await_lock_wait):
    storage = SQLAlchemyStorage.from_url(migrated_pg_url)
    try:
        storage.add_mission(Mission("M1"))
        storage.add_mission(Mission("M2"))
        outcome: dict = {}
        with storage.transaction() as tx:
            tx.add_product(make_product(name="first.zip", stamp_publication=True))
            other = _publisher(storage, make_product(mission="M2", name="other.zip", stamp_publication=True),
                               outcome, "other mission")
            other.join(10)
            assert outcome == {"other mission": "ok"}
            # this mission's writers wait for the catalogue version row, stamped or not
            dated = _publisher(storage, make_product(name="dated.zip", publication_date=T0, modification_date=T0),
                               outcome, "dated")
            await_lock_wait(migrated_pg_url, "this mission's unstamped writer")
            assert "dated" not in outcome
        dated.join(10)
        assert outcome == {"other mission": "ok", "dated": "ok"}
        dated = storage.get_product_by_name("M1", "dated.zip")
        assert dated.publication_date == T0 and dated.modification_date == T0
    finally:
        storage.close()


def test_two_bulk_writers_publish_in_the_order_of_their_commits(migrated_pg_url):
    """Batches written by two threads at once (the bulk ingest's two writers): each batch's
    dates form a run no other batch's dates fall into, in the order the batches committed."""
    storage = SQLAlchemyStorage.from_url(migrated_pg_url)
    try:
        storage.add_mission(Mission("M1"))
        committed: list = []
        lock = threading.Lock()

        def writer(w):
            for b in range(4):
                made = utcnow()
                batch = [make_product(name=f"w{w}_b{b}_{i}.zip", publication_date=made, modification_date=made,
                                      stamp_publication=True) for i in range(200)]
                began = _clock(storage)
                with storage.transaction() as tx:
                    tx.add_products(batch)
                    held = _clock(storage)  # stamped, rows written, not committed: no one else may stamp now
                with lock:
                    committed.append((began, held, [p.name for p in batch]))

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert len(committed) == 8
        runs = []
        for began, held, names in committed:
            dates = [storage.get_product_by_name("M1", name).publication_date for name in names]
            assert min(dates) >= began  # dated in the transaction
            runs.append((min(dates), max(dates), held))
        # in the order of their dates, each batch was dated after the one before had stopped
        # holding the catalogue (a clock read before waiting would be before that moment)
        ordered = sorted(runs)
        for (_, end, held), (next_start, _, _) in zip(ordered, ordered[1:]):
            assert end < next_start and held <= next_start
    finally:
        storage.close()


def _published_until(storage, mission):
    from proseo_odata.storage.schema import catalogue_versions

    with storage.engine.connect() as connection:
        return connection.execute(sa.select(catalogue_versions.c.published_until).where(
            catalogue_versions.c.mission == mission)).scalar_one()


def _stamped(name, made=None):
    made = made or utcnow()
    return make_product(name=name, publication_date=made, modification_date=made, stamp_publication=True)


@pytest.mark.parametrize("bulk", [False, True], ids=["add_product", "add_products"])
def test_a_stamp_is_never_before_the_last_one_of_its_mission_whatever_the_clock_says(db_url, bulk):
    """The clock stepped back an hour (NTP, a virtual machine restored): the catalogue row
    remembers the last date stamped, an hour ahead of the clock now, and the next products are
    dated after it, in their order, not an hour before what a harvester has already seen."""
    from proseo_odata.storage.schema import catalogue_versions

    storage = SQLAlchemyStorage.from_url(db_url)
    try:
        storage.add_mission(Mission("M1"))
        storage.add_mission(Mission("M2"))
        with storage.transaction() as tx:
            tx.add_products([_stamped("a.zip"), _stamped("b.zip")]) if bulk else tx.add_product(_stamped("a.zip"))
        seen = storage.get_product_by_name("M1", "a.zip").publication_date
        last = _published_until(storage, "M1")
        assert last >= seen and last <= _clock(storage)  # kept: the last of those dates
        ahead = _clock(storage) + timedelta(hours=1)  # the dates stamped before the clock went back
        with storage.engine.begin() as connection:
            connection.execute(sa.update(catalogue_versions).where(catalogue_versions.c.mission == "M1").values(
                published_until=ahead))
        later = [_stamped(f"later{i}.zip") for i in range(3)] if bulk else [_stamped("later0.zip")]
        other = make_product(mission="M2", name="other.zip", publication_date=utcnow(), modification_date=utcnow(),
                             stamp_publication=True)
        with storage.transaction() as tx:  # bulk: another mission's product in the same batch
            tx.add_products([later[0], other, *later[1:]]) if bulk else tx.add_product(later[0])
        dates = [storage.get_product_by_name("M1", p.name).publication_date for p in later]
        assert dates[0] == ahead + timedelta(microseconds=1)
        assert dates == [dates[0] + timedelta(microseconds=i) for i in range(len(dates))]
        assert _published_until(storage, "M1") == dates[-1]
        # another mission's catalogue keeps its own: its products are dated by the clock
        if not bulk:
            with storage.transaction() as tx:
                tx.add_product(other)
        dated = storage.get_product_by_name("M2", "other.zip").publication_date
        assert dated < ahead - timedelta(minutes=30)
        assert _published_until(storage, "M2") == dated
        # a given date changes nothing of it
        with storage.transaction() as tx:
            tx.add_product(make_product(name="given.zip", publication_date=T0, modification_date=T0))
        assert storage.get_product_by_name("M1", "given.zip").publication_date == T0
        assert _published_until(storage, "M1") == dates[-1]
    finally:
        storage.close()
