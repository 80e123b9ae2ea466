"""Deep ``$skip`` served as a keyset seek from the ``$skip`` memo (issue 12 item 3)."""
from datetime import timedelta

import pytest

from proseo_odata.model import Mission, VisibilityClass
from proseo_odata.query import Paging, build_query
from proseo_odata.storage.base import Query
from proseo_odata.storage.skipmemo import SkipMemo
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import T0, make_product
from statement_log import StatementLog


@pytest.fixture
def storage(db_url, stocked_storage):
    # pairs of equal publication dates: the order needs the Id tie-breaker
    return stocked_storage(db_url, [
        make_product(name=f"P_{i:02d}.zip", publication_date=T0 + timedelta(seconds=i // 2),
                     visibility=VisibilityClass.RESTRICTED if i % 5 == 0 else VisibilityClass.PUBLIC)
        for i in range(25)
    ])


def _query(skip, top=10, filter_text=None, orderby="PublicationDate desc"):
    params = {"$top": str(top), "$skip": str(skip), "$orderby": orderby}
    if filter_text:
        params["$filter"] = filter_text
    return build_query("Products", params, Paging(max=1000)).query


class _Statements(StatementLog):
    """Whether each page statement on ``products`` (not a count) has an OFFSET, in order."""

    @property
    def offsets(self):
        kinds = []
        for statement, parameters in self.seen:
            if "FROM products" in statement and "count(" not in statement:
                # SQLite's dialect always writes OFFSET (0 when the statement has none)
                offset = " OFFSET " in statement.upper() and not (
                    statement.rstrip().upper().endswith("OFFSET ?") and list(parameters)[-1] == 0)
                kinds.append("offset" if offset else "no offset")
        return kinds


def _names(result):
    return [p.name for p in result.items]


def test_pages_by_skip_after_the_first_are_keyset_seeks(storage):
    expected = _names(storage.query_products("M1", _query(0, top=100)))
    assert len(expected) == 25
    storage.skip_memo.clear()
    pages = []
    for skip in (0, 10, 20):
        with _Statements(storage.engine) as statements:
            pages.append(storage.query_products("M1", _query(skip)))
        assert len(statements.offsets) == 1
        if skip:
            assert statements.offsets == ["no offset"]
    assert [n for page in pages for n in _names(page)] == expected
    assert storage.skip_memo.hits == 2
    # the same pages by OFFSET (no memo) are the same rows
    plain = SQLAlchemyStorage(storage.engine, skip_memo=SkipMemo(ttl=0))
    assert [n for s in (0, 10, 20) for n in _names(plain.query_products("M1", _query(s)))] == expected
    assert plain.skip_memo.hits == 0


def test_another_skip_is_an_offset(storage):
    storage.query_products("M1", _query(0))
    with _Statements(storage.engine) as statements:
        page = storage.query_products("M1", _query(5))
    assert statements.offsets == ["offset"]
    assert storage.skip_memo.hits == 0
    assert _names(page) == _names(storage.query_products("M1", _query(0, top=100)))[5:15]


def test_another_filter_order_or_reader_does_not_reuse_the_entry(storage):
    storage.query_products("M1", _query(0))
    storage.query_products("M1", _query(10, filter_text="startswith(Name,'P_1')"))
    storage.query_products("M1", _query(10, orderby="PublicationDate asc"))
    storage.query_products("M1", _query(10), visibilities=[VisibilityClass.PUBLIC])
    storage.query_products("M2", _query(10))
    assert storage.skip_memo.hits == 0
    public = _names(storage.query_products("M1", _query(0, top=100), visibilities=[VisibilityClass.PUBLIC]))
    got = _names(storage.query_products("M1", _query(0), visibilities=[VisibilityClass.PUBLIC]))
    got += _names(storage.query_products("M1", _query(10), visibilities=[VisibilityClass.PUBLIC]))
    assert got == public[:20] and storage.skip_memo.hits == 1


def test_a_filter_calling_now_is_not_remembered(storage):
    """Its rows change with the time: a position remembered at one moment would skip the wrong
    rows at the next (the page at T1 + 5 s after a walk at T1, while products became older than
    the window's start)."""
    import dataclasses

    def page(skip, now):
        query = _query(skip, top=5, filter_text="PublicationDate gt now() sub duration'PT20S'",
                       orderby="PublicationDate asc")
        return _names(storage.query_products("M1", dataclasses.replace(query, now=now)))

    first = T0 + timedelta(seconds=19)  # every product (published T0 .. T0 + 12 s) is in the window
    assert len(page(0, first) + page(5, first) + page(10, first)) == 15
    later = first + timedelta(seconds=5)  # T0 .. T0 + 4 s have left it: 10 products fewer
    fresh = SQLAlchemyStorage(storage.engine, skip_memo=SkipMemo(ttl=0))
    expected = _names(fresh.query_products("M1", dataclasses.replace(
        _query(10, top=5, filter_text="PublicationDate gt now() sub duration'PT20S'", orderby="PublicationDate asc"),
        now=later)))
    assert page(10, later) == expected and storage.skip_memo.hits == 0


def test_a_product_write_makes_the_memo_forget_and_entries_expire(storage):
    now = [0.0]
    storage.skip_memo = memo = SkipMemo(ttl=300, clock=lambda: now[0])
    _names(storage.query_products("M1", _query(0, orderby="Name asc")))
    with storage.transaction() as tx:  # a product sorting before the page's last row
        tx.add_product(make_product(name="P_00a.zip"))
    with _Statements(storage.engine) as statements:
        second = _names(storage.query_products("M1", _query(10, orderby="Name asc")))
    # the position remembered before the write is not used: the rows at offset 10 now
    assert memo.hits == 0 and statements.offsets == ["offset"] and second[0] == "P_09.zip"
    _names(storage.query_products("M1", _query(0, orderby="Name asc")))  # remembered under the new version
    assert _names(storage.query_products("M1", _query(10, orderby="Name asc"))) == second and memo.hits == 1
    now[0] = 301.0
    assert _names(storage.query_products("M1", _query(10, orderby="Name asc"))) == second
    assert memo.hits == 1


def test_memo_is_bounded():
    memo = SkipMemo(size=2)
    for i in range(3):
        memo.put(memo.key(("s",), i), [i])
    assert len(memo) == 2 and memo.get(memo.key(("s",), 0)) is None and memo.get(memo.key(("s",), 2)) == (2,)


def test_a_skip_between_remembered_positions_seeks_from_the_nearest_below(storage):
    expected = _names(storage.query_products("M1", _query(0, top=100)))
    storage.skip_memo.clear()
    storage.query_products("M1", _query(0))  # remembers position 10
    with _Statements(storage.engine) as statements:
        page = storage.query_products("M1", _query(15))
    assert statements.offsets == ["offset"]  # after the row at 10, OFFSET 5
    assert _names(page) == expected[15:25]
    assert (storage.skip_memo.hits, storage.skip_memo.near_hits) == (1, 1)


def test_two_processes_walking_by_skip_in_turns_stay_near(storage):
    """gunicorn's workers each have their own memo and eodag opens a connection per page: a
    process that did not serve the previous page seeks from the last page it served."""
    expected = _names(storage.query_products("M1", _query(0, top=100)))
    workers = [SQLAlchemyStorage(storage.engine, skip_memo=SkipMemo()) for _ in range(2)]
    names, skip, served = [], 0, 0
    while True:
        page = workers[served % 2].query_products("M1", _query(skip, top=4))
        names += _names(page)
        served += 1
        if page.next_skip is None:
            break
        skip = page.next_skip
    assert names == expected and served == 7
    # only the second page is an OFFSET from the start (its process has served nothing yet); pages
    # 3-7 seek after the last row of the page before last (their process served it) and skip 4
    assert [w.skip_memo.hits for w in workers] == [3, 2] and all(w.skip_memo.near_hits == w.skip_memo.hits for w in workers)


def test_floor_finds_the_nearest_live_position_in_the_scope():
    now = [0.0]
    memo = SkipMemo(size=3, ttl=100, clock=lambda: now[0])
    for position in (10, 20):
        memo.put(memo.key(("s",), position), [position])
    now[0] = 50.0
    memo.put(memo.key(("s",), 30), [30])
    assert memo.floor(("s",), 25) == (20, (20,)) and memo.floor(("s",), 30) == (30, (30,))
    assert memo.floor(("s",), 5) is None and memo.floor(("t",), 25) is None
    assert memo.floor(([],), 25) is None  # an unhashable scope is never remembered
    assert (memo.hits, memo.near_hits) == (2, 1)
    now[0] = 120.0  # 10 and 20 expired, 30 not
    assert memo.floor(("s",), 25) is None and memo.floor(("s",), 99) == (30, (30,)) and len(memo) == 1
    for position in (40, 50, 60):  # the oldest (30) leaves, also from the positions searched
        memo.put(memo.key(("s",), position), [position])
    assert memo.floor(("s",), 35) is None and memo.floor(("s",), 45) == (40, (40,))


@pytest.mark.parametrize("top", [3, 4, 7])
def test_ascending_sensing_start_pages_cross_into_the_products_without_one(db_url, top):
    """``ContentDate/Start asc``: NULL sensing starts follow every value. A seek is read among the
    non-NULL ones first and completed with the NULL ones (the same rows as OFFSET, every way)."""
    storage = SQLAlchemyStorage.from_url(db_url)
    storage.initialize_schema()
    storage.add_mission(Mission("M1"))
    with storage.transaction() as tx:
        for i in range(13):
            start = None if i % 3 == 0 else T0 + timedelta(hours=i // 2)
            tx.add_product(make_product(name=f"P_{i:02d}.zip", content_start=start,
                                        content_end=None if start is None else start + timedelta(minutes=5)))
    try:
        orderby = "ContentDate/Start asc"
        expected = _names(storage.query_products("M1", _query(0, top=100, orderby=orderby)))
        assert len(expected) == 13 and set(expected[-5:]) == {"P_00.zip", "P_03.zip", "P_06.zip", "P_09.zip", "P_12.zip"}
        by_token, token = [], None
        while True:
            query = _query(0, top=top, orderby=orderby)
            page = storage.query_products("M1", Query(orderby=query.orderby, top=top, skiptoken=token))
            by_token += _names(page)
            token = page.next_skiptoken
            if token is None:
                break
        assert by_token == expected
        storage.skip_memo.clear()
        by_skip, skip = [], 0
        while skip is not None:
            page = storage.query_products("M1", _query(skip, top=top, orderby=orderby))
            by_skip += _names(page)
            skip = page.next_skip
        assert by_skip == expected
        # from the first remembered position (after page 1), every $skip beyond it: the OFFSET
        # after the seek may reach past the non-NULL sensing starts (then read by the whole order)
        storage.skip_memo.clear()
        storage.query_products("M1", _query(0, top=top, orderby=orderby))
        for skip in range(top + 1, 14):
            page = storage.query_products("M1", _query(skip, top=top, orderby=orderby))
            assert _names(page) == expected[skip:skip + top], skip
            storage.skip_memo.clear()
            storage.query_products("M1", _query(0, top=top, orderby=orderby))
    finally:
        storage.close()


def _walk(workers, mission, top, orderby="PublicationDate desc"):
    """A client paging by ``next_skip`` from ``$skip=0``, each page served by the next process."""
    names, skip, served = [], 0, 0
    while skip is not None:
        page = workers[served % len(workers)].query_products(mission, _query(skip, top=top, orderby=orderby))
        names += _names(page)
        served += 1
        skip = page.next_skip
    return names


def _publish(tx, first):
    for i in range(5):  # newer than every other product: first in PublicationDate desc
        tx.add_product(make_product(name=f"N_{i}.zip", publication_date=T0 + timedelta(days=1, seconds=i)))


def _move_last_to_the_front(tx, first):
    product = tx.get_product("M1", first[-1])
    product.publication_date = T0 + timedelta(days=2)
    tx.update_product(product)


def _delete_three(tx, first):
    for product_id in first[:3]:
        tx.delete_product("M1", product_id)


def _ingest(tx, first):
    tx.add_products([make_product(name=f"B_{i}.zip", publication_date=T0 + timedelta(days=1, seconds=i)) for i in range(4)])


@pytest.mark.parametrize("change", [_publish, _move_last_to_the_front, _delete_three, _ingest])
def test_a_client_after_a_catalogue_change_gets_exactly_the_offset_answer(db_url, change):
    """The reviewer's scenario (issue 12 item 3, contract section 6): two processes (two storages,
    one database), client A walks with ``$top=7``, the catalogue changes, client B walks with
    ``$top=10``; B gets exactly the rows of OFFSET paging, neither gaps nor duplicates."""
    setup = SQLAlchemyStorage.from_url(db_url)
    setup.initialize_schema()
    setup.add_mission(Mission("M1"))
    setup.add_products([make_product(name=f"P_{i:02d}.zip", publication_date=T0 + timedelta(seconds=i // 2))
                        for i in range(60)])
    workers = [SQLAlchemyStorage(setup.engine, skip_memo=SkipMemo()) for _ in range(2)]
    plain = SQLAlchemyStorage(setup.engine, skip_memo=SkipMemo(ttl=0))
    try:
        before = plain.query_products("M1", _query(0, top=1000))
        assert _walk(workers, "M1", 7) == _names(before) and len(before.items) == 60
        assert sum(w.skip_memo.hits for w in workers) > 0
        with setup.transaction() as tx:
            change(tx, [p.id for p in before.items])
        expected = _names(plain.query_products("M1", _query(0, top=1000)))
        assert expected != _names(before)
        assert _walk(workers, "M1", 10) == expected
        # nothing changed since: a third client, each page served by the process that did not
        # serve it for B, gets every page after the first as a keyset seek (B's positions)
        hits = sum(w.skip_memo.hits for w in workers)
        near = sum(w.skip_memo.near_hits for w in workers)
        with _Statements(setup.engine) as statements:
            assert _walk(workers[::-1], "M1", 10) == expected
        pages = len(statements.offsets)
        assert pages == -(-len(expected) // 10) and statements.offsets[1:] == ["no offset"] * (pages - 1)
        assert sum(w.skip_memo.hits for w in workers) - hits == pages - 1
        assert sum(w.skip_memo.near_hits for w in workers) == near
    finally:
        setup.close()


def test_product_writes_bump_the_catalogue_version_once_per_call(storage):
    import sqlalchemy as sa

    from proseo_odata.eviction import evict_due_products
    from proseo_odata.storage.schema import catalogue_versions

    def version():
        with storage.engine.connect() as connection:
            return connection.execute(sa.select(catalogue_versions.c.version)
                                      .where(catalogue_versions.c.mission == "M1")).scalar()

    start = version()
    assert start == 25  # the fixture's add_product calls
    storage.add_products([make_product(name=f"B_{i}.zip") for i in range(10)])
    assert version() == start + 1  # one batch
    storage.add_products([make_product(name="B_0.zip")])  # nothing stored: nothing changed
    assert version() == start + 1
    product = storage.get_product_by_name("M1", "B_1.zip")
    product.eviction_date = T0
    storage.update_product(product)
    assert version() == start + 2
    storage.delete_product("M1", storage.get_product_by_name("M1", "B_2.zip").id)
    assert version() == start + 3
    assert evict_due_products(storage, None).products == 1
    assert version() == start + 4
    storage.add_mission(Mission("M3"))
    storage.delete_product("M3", storage.add_product(make_product(mission="M3")).id)
    storage.delete_mission("M3")  # its version row goes with it


def test_other_entity_sets_page_by_offset(storage):
    from proseo_odata.storage.testing import make_workflow

    for i in range(12):
        storage.add_workflow(make_workflow(name=f"WF_{i:02d}"))
    first = storage.query_workflows("M1", build_query("Workflows", {"$top": "5", "$skip": "0"}, Paging(max=100)).query)
    second = storage.query_workflows("M1", build_query("Workflows", {"$top": "5", "$skip": "5"}, Paging(max=100)).query)
    assert first.next_skip == 5 and len(second.items) == 5 and storage.skip_memo.hits == 0 and len(storage.skip_memo) == 0


def test_an_offset_page_of_entries_skips_ids_not_their_sub_selects(storage):
    """A plain OFFSET produces every row it skips: the page's correlated sub-selects (checksums,
    collection) must run for the page's rows only, so the OFFSET is applied to ids first."""
    expected = [p.id for p in storage.query_products("M1", _query(0, top=100)).items]
    storage.skip_memo.clear()
    with StatementLog(storage.engine) as log:
        page = storage.query_product_entries("M1", _query(7, top=5))
    assert [entry.id for entry in page.items] == expected[7:12]
    assert [entry.checksums for entry in page.items] == [
        p.checksums for p in storage.query_products("M1", _query(0, top=100)).items[7:12]]
    texts = [t.upper() for t in log.texts if "CHECKSUMS_JSON" in t.upper()]
    if storage.dialect == "sqlite":  # no sub-selects there: the checksums are read by the page's ids
        assert texts == []
        return
    (text,) = texts
    assert "OFFSET" in text and text.rindex("OFFSET") < text.rindex(") AS ANON"), text


# -- a write that commits while a $skip page is being read (READ COMMITTED) -----------------------


def _change_before_the_page(storage, db_url, change):
    """Run ``change(tx)`` in another process's storage (committed) once, right before the first
    statement of ``storage`` that reads ``products``: on the old code that was after the page's
    catalogue version had been read by a statement of its own (READ COMMITTED: the page then sees
    the write, the version did not)."""
    other = SQLAlchemyStorage.from_url(db_url)
    fired = []

    def before(conn, cursor, statement, parameters, context, executemany):
        if not fired and "FROM products" in statement:
            fired.append(statement)
            with other.transaction() as tx:
                change(tx)

    return other, fired, before


@pytest.mark.postgresql
@pytest.mark.parametrize("read_only", [False, True], ids=["transaction", "read-only join"])
@pytest.mark.parametrize("case", ["seek finds rows", "seek finds none"])
def test_a_write_committed_while_a_skip_page_is_read_never_mixes_two_catalogues(migrated_pg_url, case, read_only):
    """A position remembered under one catalogue version is used only by a page that reads the
    same version in its own snapshot. Here another process publishes products right before the
    page statement of ``$skip=2``, whose position after ``P_01`` was remembered by page 1: the
    answer must be the rows at offset 2 of the catalogue the page read, not a keyset seek after
    ``P_01`` in the new catalogue (rows of no snapshot: ``P_02, P_02a``; or none at all). The
    page is read in a transaction of its own, or as the web layer's GET requests read it (a
    read-only join: on PostgreSQL an autocommit session)."""
    import sqlalchemy as sa
    import transaction

    db_url = migrated_pg_url
    storage = SQLAlchemyStorage.from_url(db_url)
    storage.initialize_schema()
    storage.add_mission(Mission("M1"))
    count = 8 if case == "seek finds rows" else 4
    storage.add_products([make_product(name=f"P_{i:02d}.zip") for i in range(count)])

    def change(tx):
        if case == "seek finds rows":  # one product before the remembered row, one inside the page
            tx.add_products([make_product(name=n) for n in ("P_00a.zip", "P_02a.zip")])
        else:  # nothing after the remembered row any more, two more before it
            for name in ("P_02.zip", "P_03.zip"):
                tx.delete_product("M1", tx.get_product_by_name("M1", name).id)
            tx.add_products([make_product(name=n) for n in ("P_00a.zip", "P_00b.zip")])

    other, fired, before = _change_before_the_page(storage, db_url, change)
    try:
        assert _names(storage.query_products("M1", _query(0, top=2, orderby="Name asc"))) == ["P_00.zip", "P_01.zip"]
        manager = transaction.TransactionManager(explicit=True)
        manager.begin()
        reader = storage.join(manager, read_only=True) if read_only else storage
        sa.event.listen(storage.engine, "before_cursor_execute", before)
        try:
            page = reader.query_products("M1", _query(2, top=2, orderby="Name asc"))
        finally:
            sa.event.remove(storage.engine, "before_cursor_execute", before)
            manager.commit()
        assert fired
        expected = ["P_01.zip", "P_02.zip"] if case == "seek finds rows" else ["P_00b.zip", "P_01.zip"]
        assert _names(page) == expected
        assert (storage.skip_memo.hits, storage.skip_memo.stale) == (0, 1)
        # the page's next position was remembered under the new version: the next page seeks
        plain = SQLAlchemyStorage(storage.engine, skip_memo=SkipMemo(ttl=0))
        with _Statements(storage.engine) as statements:
            third = storage.query_products("M1", _query(4, top=2, orderby="Name asc"))
        assert _names(third) == _names(plain.query_products("M1", _query(4, top=2, orderby="Name asc")))
        if _names(third):
            assert statements.offsets == ["no offset"] and storage.skip_memo.hits == 1
    finally:
        other.close()
        storage.close()
