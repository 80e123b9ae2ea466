"""The storage contract suite, shipped with the package so any backend can run it.

Usage in a backend's test module (pytest)::

    import pytest
    from proseo_odata.storage.testing import StorageContractTests   # or one part, see below

    class TestMyBackend(StorageContractTests):
        supports_row_locks = True          # run the concurrent-writer tests

        @pytest.fixture
        def storage(self):
            storage = make_my_storage()     # initialised schema, empty database
            yield storage
            storage.close()

Every test starts from an empty storage, creates the missions it needs, and checks one rule of
:class:`proseo_odata.storage.base.StorageBase`. Concurrent-writer tests need a database where
several connections write at once (PostgreSQL); set ``supports_row_locks`` to run them.

The suite is split like the contract, so that a backend of one protocol runs its part alone:

=============================  =====================================================
class                          checks
=============================  =====================================================
``MissionContractTests``       missions and transactions (every part includes it)
``CatalogueContractTests``     ``CatalogueStore``: products, queries, paging, subscriptions
``UserContractTests``          ``UserStore``: users
``OrderQueueContractTests``    ``OrderStore``: workflows, orders, the production queue
``OutboxContractTests``        ``OutboxStore``: the notification outbox
``StorageContractTests``       all of them, and ``operations_stats`` (a whole ``StorageBase``)
=============================  =====================================================
"""
from __future__ import annotations

import dataclasses
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from proseo_odata.model import (
    INT64_MAX,
    INT64_MIN,
    NEVER,
    NO_QUICKLOOK,
    Attribute,
    AttributeType,
    Checksum,
    Mission,
    OptionType,
    OrderStatus,
    Product,
    ProductionOrder,
    ProductionType,
    Role,
    Subscription,
    SubscriptionStatus,
    User,
    VisibilityClass,
    Workflow,
    WorkflowOption,
    hash_password,
    utcnow,
)

from .base import OrderQueueStats, Query, QuicklookSearch, StorageBase
from .errors import ConflictError, InvalidQueryError, NotFoundError

UTC = timezone.utc
T0 = datetime(2021, 5, 20, 19, 8, 7, 654321, tzinfo=UTC)

#: Attribute values that must survive a round trip exactly (contract section 3).
PRECISION_ATTRIBUTES = [
    Attribute("s_unicode", AttributeType.STRING, "Ünïcødé ✓ 日本語 'quote' \"dq\" %_\\"),
    Attribute("s_empty", AttributeType.STRING, ""),
    Attribute("i_min", AttributeType.INTEGER, INT64_MIN),
    Attribute("i_max", AttributeType.INTEGER, INT64_MAX),
    Attribute("i_zero", AttributeType.INTEGER, 0),
    Attribute("d_tenth", AttributeType.DOUBLE, 0.1),
    Attribute("d_huge", AttributeType.DOUBLE, 1e308),
    Attribute("d_tiny", AttributeType.DOUBLE, 2.2250738585072014e-308),
    Attribute("d_third", AttributeType.DOUBLE, -1 / 3),
    Attribute("b_true", AttributeType.BOOLEAN, True),
    Attribute("b_false", AttributeType.BOOLEAN, False),
    Attribute("t_micro", AttributeType.DATETIMEOFFSET, T0),
    Attribute("t_never", AttributeType.DATETIMEOFFSET, NEVER),
    Attribute("t_epoch", AttributeType.DATETIMEOFFSET, datetime(1970, 1, 1, tzinfo=UTC)),
]


def make_product(mission: str = "M1", name: str | None = None, **fields) -> Product:
    """A fully populated product; ``fields`` override any property."""
    name = name or f"P_{uuid.uuid4().hex[:12]}.zip"
    values = dict(
        mission=mission,
        name=name,
        content_type="application/zip",
        content_length=123456789012,
        origin_date=T0 - timedelta(hours=1),
        publication_date=T0,
        modification_date=T0 + timedelta(microseconds=1),
        eviction_date=NEVER,
        online=True,
        checksums=[
            Checksum("MD5", "0123456789abcdef0123456789abcdef", T0),
            Checksum("SHA256", "ab" * 32, T0 + timedelta(seconds=1)),
        ],
        content_start=T0 - timedelta(days=1, microseconds=7),
        content_end=T0 - timedelta(hours=23),
        production_type=ProductionType.ON_DEMAND_NON_DEFAULT,
        footprint="POLYGON ((10 50, 11 50, 11 51, 10 51, 10 50))",
        attributes=[Attribute.of("platformShortName", "SENTINEL-2"), Attribute.of("orbitNumber", 12345)],
        visibility=VisibilityClass.RESTRICTED,
        archive_key=f"M1/{name}",
        product_type="S2MSI1C",
    )
    values.update(fields)
    return Product(**values)


def make_workflow(mission: str = "M1", name: str = "WF", **fields) -> Workflow:
    values = dict(
        mission=mission,
        name=name,
        description="convert ✓",
        input_product_type="S2MSI1C",
        output_product_type="S2MSI2A",
        processor="proseo_odata.production.image:ImageConversionProcessor",
        workflow_version="1.2",
        options=[
            WorkflowOption("format", OptionType.STRING, "output format", "PNG", ("PNG", "JPG")),
            WorkflowOption("quality", OptionType.INTEGER, "", "90"),
        ],
        processor_config={"timeout": 60, "nested": {"a": [1, 2]}},
        enabled=True,
    )
    values.update(fields)
    return Workflow(**values)


def make_order(mission: str = "M1", owner: str = "alice", **fields) -> ProductionOrder:
    values = dict(
        mission=mission,
        owner=owner,
        workflow_id=uuid.uuid4(),
        workflow_name="WF",
        status=OrderStatus.QUEUED,
        submission_date=T0,
        estimated_date=T0 + timedelta(minutes=5),
        priority=70,
        input_reference="IN.zip",
        input_content_start=T0 - timedelta(days=1),
        input_content_end=T0,
        workflow_options={"format": "JPG", "quality": "80"},
        notification_endpoint="https://example.org/hook",
        notification_username="u",
        notification_password="secret",
    )
    values.update(fields)
    return ProductionOrder(**values)


def opened(storage: StorageBase, obj, attr: str = "notification_password"):
    """``obj`` with its secret ``attr`` opened: a backend may return notification passwords
    sealed (``StorageBase.secrets``), and compares equal to the written object only then."""
    return dataclasses.replace(obj, **{attr: storage.secrets.open(getattr(obj, attr))})


class MissionContractTests:
    """What every part of the contract needs: the ``storage`` fixture (an empty, initialised
    backend), missions (everything belongs to one) and transactions. Subclass one of the parts
    below, or :class:`StorageContractTests` for all of them."""

    #: Run the tests with several threads writing at once (needs row locks, e.g. PostgreSQL).
    supports_row_locks = False

    @pytest.fixture
    def storage(self) -> StorageBase:  # pragma: no cover - provided by the subclass
        raise NotImplementedError("define a `storage` fixture returning an empty, initialised StorageBase")

    @pytest.fixture
    def mission_storage(self, storage):
        storage.add_mission(Mission("M1", "Mission one"))
        storage.add_mission(Mission("M2", "Mission two"))
        return storage

    # -- concurrency -------------------------------------------------------------------------

    def _run_threads(self, target, count=2):
        errors = []

        def guarded():
            try:
                target()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=guarded) for _ in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors

    # -- missions ----------------------------------------------------------------------------

    def test_mission_round_trip(self, storage):
        storage.add_mission(Mission("S2B", "Sentinel-2B"))
        assert storage.get_mission("S2B") == Mission("S2B", "Sentinel-2B")
        with pytest.raises(ConflictError):
            storage.add_mission(Mission("S2B", "again"))
        storage.update_mission(Mission("S2B", "renamed"))
        assert storage.list_missions() == [Mission("S2B", "renamed")]
        storage.delete_mission("S2B")
        with pytest.raises(NotFoundError):
            storage.get_mission("S2B")


class UserContractTests(MissionContractTests):
    """The users of a mission (``UserStore``)."""

    def test_mission_with_users_cannot_be_deleted(self, mission_storage):
        mission_storage.add_user(User("M1", "alice", hash_password("pw")))
        with pytest.raises(ConflictError):
            mission_storage.delete_mission("M1")
        assert mission_storage.get_mission("M1").code == "M1"

    def test_user_round_trip(self, mission_storage):
        user = User("M1", "alice", hash_password("pw"), {Role.PRIP_USER, Role.ORDER_MGR})
        mission_storage.add_user(user)
        loaded = mission_storage.get_user("M1", "alice")
        assert loaded == user and loaded.check_password("pw") and not loaded.check_password("PW")
        with pytest.raises(NotFoundError):
            mission_storage.get_user("M2", "alice")
        with pytest.raises(ConflictError):
            mission_storage.add_user(User("M1", "alice", hash_password("x")))
        with pytest.raises(NotFoundError):
            mission_storage.add_user(User("NOPE", "bob", hash_password("x")))
        loaded.roles = frozenset({Role.ODIP_USER})
        mission_storage.update_user(loaded)
        assert mission_storage.get_user("M1", "alice").roles == {Role.ODIP_USER}
        mission_storage.add_user(User("M2", "alice", hash_password("y")))
        assert [u.qualified_name for u in mission_storage.list_users()] == ["M1\\alice", "M2\\alice"]
        assert [u.mission for u in mission_storage.list_users("M2")] == ["M2"]
        mission_storage.delete_user("M1", "alice")
        with pytest.raises(NotFoundError):
            mission_storage.delete_user("M1", "alice")


class CatalogueContractTests(MissionContractTests):
    """Products, their queries and paging, and subscriptions (``CatalogueStore``)."""

    # -- products ----------------------------------------------------------------------------

    def test_product_round_trip(self, mission_storage):
        product = make_product()
        stored = mission_storage.add_product(product)
        assert stored.revision == 1
        loaded = mission_storage.get_product("M1", product.id)
        assert loaded == product
        assert loaded.content_start.microsecond == product.content_start.microsecond
        assert loaded.attribute("productType").value == "S2MSI1C"
        assert mission_storage.get_product_by_name("M1", product.name) == product
        with pytest.raises(NotFoundError):
            mission_storage.get_product("M2", product.id)  # another mission's product is invisible
        with pytest.raises(NotFoundError):
            mission_storage.get_product("M1", uuid.uuid4())

    def test_product_with_minimal_fields(self, mission_storage):
        product = Product(mission="M1", name="bare")
        mission_storage.add_product(product)
        loaded = mission_storage.get_product("M1", product.id)
        assert loaded == product
        assert loaded.footprint is None and loaded.content_start is None and loaded.checksums == []

    def test_attributes_keep_full_precision(self, mission_storage):
        product = make_product(attributes=PRECISION_ATTRIBUTES)
        mission_storage.add_product(product)
        loaded = {a.name: a for a in mission_storage.get_product("M1", product.id).attributes}
        for expected in PRECISION_ATTRIBUTES:
            got = loaded[expected.name]
            assert got.type is expected.type, expected.name
            assert got.value == expected.value and type(got.value) is type(expected.value), expected.name

    def test_duplicate_product_name_in_a_mission_is_rejected(self, mission_storage):
        mission_storage.add_product(make_product(name="same.zip"))
        with pytest.raises(ConflictError, match="same.zip"):
            mission_storage.add_product(make_product(name="same.zip"))
        mission_storage.add_product(make_product(mission="M2", name="same.zip"))  # other mission: fine
        page = mission_storage.query_products("M1", Query(count=True))
        assert page.count == 1

    def test_conflict_leaves_the_transaction_usable(self, mission_storage):
        mission_storage.add_product(make_product(name="a.zip"))
        with mission_storage.transaction() as tx:
            with pytest.raises(ConflictError):
                tx.add_product(make_product(name="a.zip"))
            tx.add_product(make_product(name="b.zip"))
        assert mission_storage.get_product_by_name("M1", "b.zip").name == "b.zip"

    def test_transaction_rolls_back_on_error(self, mission_storage):
        product = make_product()
        with pytest.raises(RuntimeError):
            with mission_storage.transaction() as tx:
                tx.add_product(product)
                assert tx.get_product("M1", product.id).name == product.name
                raise RuntimeError("boom")
        with pytest.raises(NotFoundError):
            mission_storage.get_product("M1", product.id)

    # bulk: the backend's add_products and the contract's default (add_product in a loop) must
    # behave alike, so both are run
    BULK_PATHS = ("backend", "default")

    @staticmethod
    def _add_products(storage, path, products):
        if path == "default":
            return StorageBase.add_products(storage, products)
        return storage.add_products(products)

    @pytest.mark.parametrize("path", BULK_PATHS)
    def test_add_products_stores_each_and_skips_taken_names_and_ids(self, mission_storage, path):
        taken = mission_storage.add_product(make_product(name="taken.zip"))
        new = [make_product(name="new0.zip", attributes=PRECISION_ATTRIBUTES)] + [
            make_product(name=f"new{i}.zip", product_type=None,
                         attributes=[Attribute.of("productType", "S2MSI2A"), Attribute.of("cloudCover", 1.5 * i)])
            for i in range(1, 5)]
        batch = [
            new[0],
            make_product(name="taken.zip"),                    # Name exists: skipped
            new[1],
            make_product(name="other.zip", id=taken.id),       # Id exists: skipped
            new[2],
            make_product(name="new2.zip"),                     # same Name earlier in the call
            make_product(name="again.zip", id=new[1].id),      # same Id earlier in the call
            new[3], new[4],
            make_product(mission="M2", name="taken.zip"),      # other mission: stored
        ]
        with mission_storage.transaction() as tx:
            stored = self._add_products(tx, path, batch)
        assert [(p.mission, p.name) for p in stored] == [("M1", p.name) for p in new] + [("M2", "taken.zip")]
        assert all(p.revision == 1 for p in stored)
        for product in new:
            loaded = mission_storage.get_product("M1", product.id)
            assert loaded == product
        assert mission_storage.get_product("M1", new[3].id).product_type == "S2MSI2A"
        # Collection/Name as add_product sets it (subscriptions match the returned products)
        collections = [p.collection for p in stored]
        assert collections == [mission_storage.get_product(p.mission, p.id).collection for p in stored]
        assert collections[-1] == "SENTINEL-2"
        assert mission_storage.get_product("M1", taken.id) == taken
        assert mission_storage.query_products("M1", Query(count=True)).count == 6
        assert self._add_products(mission_storage, path, [make_product(name="taken.zip")]) == []
        assert self._add_products(mission_storage, path, []) == []

    @pytest.mark.parametrize("path", BULK_PATHS)
    def test_stamped_publications_are_dated_when_stored_in_order(self, mission_storage, path):
        modified = T0 + timedelta(days=1)
        batch = [make_product(name=f"s{i}.zip", publication_date=T0, modification_date=T0, stamp_publication=i != 1,
                              checksums=[Checksum("MD5", "0" * 32, T0)]) for i in range(4)]
        batch[2].modification_date = modified  # its own: kept
        before = utcnow() - timedelta(seconds=5)  # (a database server's clock may be another machine's)
        stored = self._add_products(mission_storage, path, batch)
        assert [p.name for p in stored] == ["s0.zip", "s1.zip", "s2.zip", "s3.zip"]
        loaded = [mission_storage.get_product("M1", p.id) for p in batch]
        dates = [loaded[i].publication_date for i in (0, 2, 3)]
        assert before < dates[0] < dates[1] < dates[2]
        assert loaded[1].publication_date == T0 and loaded[1].checksums[0].date == T0  # not asked: kept
        assert loaded[0].modification_date == dates[0] and loaded[0].checksums[0].date == dates[0]
        assert loaded[2].modification_date == modified
        assert [p.publication_date for p in batch] == [p.publication_date for p in loaded]

    @pytest.mark.parametrize("path", BULK_PATHS)
    def test_add_products_twice_in_one_transaction(self, mission_storage, path):
        # (the PostgreSQL backend stages the rows in a temporary table: it must not outlive a call)
        first = [make_product(name=f"t{i}.zip", attributes=PRECISION_ATTRIBUTES) for i in range(3)]
        second = [make_product(name="t1.zip"), make_product(name="t3.zip", footprint=None)]
        with mission_storage.transaction() as tx:
            assert [p.name for p in self._add_products(tx, path, first)] == ["t0.zip", "t1.zip", "t2.zip"]
            assert [p.name for p in self._add_products(tx, path, second)] == ["t3.zip"]
        for product in first + second[1:]:
            assert mission_storage.get_product("M1", product.id) == product
        assert [p.name for p in self._add_products(mission_storage, path, [make_product(name="t4.zip")])] == ["t4.zip"]

    @pytest.mark.parametrize("path", BULK_PATHS)
    def test_add_products_belongs_to_the_callers_transaction(self, mission_storage, path):
        products = [make_product(name=f"r{i}.zip") for i in range(3)]
        with pytest.raises(RuntimeError):
            with mission_storage.transaction() as tx:
                assert len(self._add_products(tx, path, products)) == 3
                raise RuntimeError("boom")
        assert mission_storage.existing_product_names("M1", [p.name for p in products]) == set()
        with pytest.raises(NotFoundError):
            self._add_products(mission_storage, path, [make_product(mission="NOPE")])

    def test_archive_keys_in_use(self, mission_storage):
        made = mission_storage.add_product(make_product())
        made_key = f"M1/{made.id}/0123abcd/{made.name}"
        made.archive_key = made_key
        mission_storage.update_product(made)
        # by reference: a key of the service's form whose Id is another product's, and a free-form one
        borrowed_key = f"M1/{uuid.uuid4()}/feed/old.zip"
        mission_storage.add_product(make_product(archive_key=borrowed_key))
        mission_storage.add_product(make_product(mission="M2", archive_key="incoming/ref.nc"))
        # more keys than one chunk of either look-up (500 Ids; 10,000 keys by archive_key on
        # PostgreSQL), the keys found only by archive_key last: in the last chunk
        keys = [f"M1/{uuid.uuid4()}/t/n{i}.zip" for i in range(10_100)]
        keys += [made_key, f"M1/{made.id}/other/{made.name}", f"M1/{uuid.uuid4()}/x/y.zip", "M1/not-an-id/x/y.zip",
                 "loose.bin", made_key, borrowed_key, "incoming/ref.nc"]
        assert mission_storage.archive_keys_in_use(keys) == {made_key, borrowed_key, "incoming/ref.nc"}
        assert mission_storage.archive_keys_in_use([]) == set()

    def test_existing_product_names(self, mission_storage):
        for name in ("a.zip", "b.zip", "it's {ü,\"x\"}.zip"):  # quotes, braces, a comma: array syntax
            mission_storage.add_product(make_product(name=name))
        mission_storage.add_product(make_product(mission="M2", name="c.zip"))
        names = ["a.zip", "c.zip", "b.zip", "a.zip", "it's {ü,\"x\"}.zip", "it's"] + [f"x{i}" for i in range(1200)]
        expected = {"a.zip", "b.zip", "it's {ü,\"x\"}.zip"}
        assert mission_storage.existing_product_names("M1", names) == expected
        assert StorageBase.existing_product_names(mission_storage, "M1", names) == expected
        assert mission_storage.existing_product_names("M1", []) == set()

    def test_product_update_and_stale_revision(self, mission_storage):
        product = mission_storage.add_product(make_product())
        first = mission_storage.get_product("M1", product.id)
        second = mission_storage.get_product("M1", product.id)
        first.online = False
        first.checksums = [Checksum("MD5", "ff" * 16, None)]
        first.attributes = [Attribute.of("productType", "S2MSI1C"), Attribute.of("cloudCover", 12.5)]
        updated = mission_storage.update_product(first)
        assert updated.revision == 2
        loaded = mission_storage.get_product("M1", product.id)
        assert loaded == updated and not loaded.online and loaded.attribute("cloudCover").value == 12.5
        second.content_length = 1
        with pytest.raises(ConflictError, match="changed by someone else"):
            mission_storage.update_product(second)
        assert mission_storage.get_product("M1", product.id).content_length == product.content_length
        ghost = make_product()
        with pytest.raises(NotFoundError):
            mission_storage.update_product(ghost)

    def test_product_rename_onto_existing_name_conflicts(self, mission_storage):
        mission_storage.add_product(make_product(name="a.zip"))
        b = mission_storage.add_product(make_product(name="b.zip"))
        b.name = "a.zip"
        with pytest.raises(ConflictError):
            mission_storage.update_product(b)

    def test_product_delete(self, mission_storage):
        product = mission_storage.add_product(make_product())
        mission_storage.delete_product("M1", product.id)
        with pytest.raises(NotFoundError):
            mission_storage.get_product("M1", product.id)
        with pytest.raises(NotFoundError):
            mission_storage.delete_product("M1", product.id)
        mission_storage.add_product(make_product(name=product.name, id=product.id))  # children were removed

    def test_find_product_covering_takes_the_newest(self, mission_storage):
        start, end = T0 - timedelta(days=1), T0
        old = make_product(content_start=start, content_end=end, publication_date=T0)
        new = make_product(content_start=start - timedelta(hours=1), content_end=end, publication_date=T0 + timedelta(hours=1))
        other_type = make_product(content_start=start, content_end=end, publication_date=T0 + timedelta(hours=2), product_type="AUX_X", attributes=[])
        short = make_product(content_start=start + timedelta(seconds=1), content_end=end, publication_date=T0 + timedelta(hours=3))
        for p in (old, new, other_type, short):
            mission_storage.add_product(p)
        found = mission_storage.find_product("M1", product_type="S2MSI1C", covering=(start, end))
        assert found.id == new.id
        assert mission_storage.find_product("M1", name=old.name).id == old.id
        assert mission_storage.find_product("M2", product_type="S2MSI1C") is None
        assert mission_storage.find_product("M1", product_type="S2MSI1C", visibilities=[VisibilityClass.PUBLIC]) is None

    def test_query_products_visibility_and_expand(self, mission_storage):
        public = mission_storage.add_product(make_product(visibility=VisibilityClass.PUBLIC))
        mission_storage.add_product(make_product(visibility=VisibilityClass.INTERNAL))
        page = mission_storage.query_products("M1", Query(count=True), visibilities=[VisibilityClass.PUBLIC])
        assert [p.id for p in page.items] == [public.id] and page.count == 1
        assert mission_storage.query_products("M1", Query(count=True)).count == 2
        expanded = mission_storage.query_products("M1", Query(expand={"Attributes"}), visibilities=["PUBLIC"])
        assert expanded.items[0].attribute("orbitNumber").value == 12345
        assert expanded.items[0].checksum("md5") == "0123456789abcdef0123456789abcdef"

    def test_query_product_entries_are_the_products_of_query_products(self, mission_storage):
        """The lean page: the rows, order, count and paging of ``query_products``, each item the
        :class:`ProductEntry` of the loaded product (attributes only when expanded)."""
        from .base import ProductEntry

        mission_storage.add_product(make_product(visibility=VisibilityClass.PUBLIC))
        mission_storage.add_product(make_product(  # every optional field empty
            visibility=VisibilityClass.PUBLIC, origin_date=None, checksums=[], content_start=None,
            content_end=None, footprint=None, attributes=[], product_type=None, online=False,
            eviction_date=T0 + timedelta(days=3)))
        quicklooked = mission_storage.add_product(make_product(  # three checksums, every attribute type,
            checksums=[Checksum("SHA1", "12" * 20, None), Checksum("MD5", "0" * 32, T0),  # no collection
                       Checksum("SHA256", "ab" * 32, T0 + timedelta(microseconds=3))],
            attributes=PRECISION_ATTRIBUTES, quicklook="preview/quick-look.png"))
        assert mission_storage.get_product("M1", quicklooked.id).quicklook == "preview/quick-look.png"
        mission_storage.add_product(make_product(mission="M2"))
        queries = [Query(), Query(top=2, count=True), Query(top=2, skip=1, expand={"Attributes"}),
                   Query(orderby=((("ContentDate", "Start"), True), (("Name",), False)), top=2)]
        for visibilities in (None, [VisibilityClass.PUBLIC]):
            for query in queries:
                products = mission_storage.query_products("M1", query, visibilities=visibilities)
                entries = mission_storage.query_product_entries("M1", query, visibilities=visibilities)
                expected = [ProductEntry.from_product(p) for p in products.items]
                if "Attributes" not in query.expand:
                    expected = [e._replace(attributes=None) for e in expected]
                assert entries.items == expected
                assert (entries.count, entries.next_skip, entries.next_skiptoken) == (
                    products.count, products.next_skip, products.next_skiptoken)
                if entries.next_skiptoken:  # the tokens serve either method
                    following = Query(orderby=query.orderby, top=query.top, skiptoken=entries.next_skiptoken)
                    assert [e.id for e in mission_storage.query_product_entries("M1", following).items] == [
                        p.id for p in mission_storage.query_products("M1", following).items]
        everything = mission_storage.query_product_entries("M1", Query(orderby=((("Name",), False),)))
        assert len(everything.items) == 3
        assert all(isinstance(e, ProductEntry) for e in everything.items)
        for entry in everything.items:
            assert [c.algorithm for c in entry.checksums] == sorted(c.algorithm for c in entry.checksums)
        texts = mission_storage.query_product_texts("M1", Query(orderby=((("Name",), False),), expand={"Assets"}),
                                                    members=["Id"], render=lambda entry: f'"Id": "{entry.id}"')
        assert [(t.id, t.name, t.quicklook, t.online, t.eviction_date) for t in texts.items] == [
            (e.id, e.name, e.quicklook, e.online, e.eviction_date) for e in everything.items]
        assert sorted(map(str, [t.quicklook for t in texts.items])) == ["None", "None", "preview/quick-look.png"]

    @staticmethod
    def _record(storage, mission, product_id, archive_key, quicklook, seen=None) -> bool:
        (written,) = storage.record_quicklooks(mission, [QuicklookSearch(product_id, archive_key, quicklook, seen)])
        return written

    def test_record_quicklooks_writes_the_one_column_while_the_file_is_the_one_searched(self, mission_storage):
        record = self._record
        product = mission_storage.add_product(make_product(archive_key="M1/p/file.zip"))
        before = mission_storage.get_product("M1", product.id)
        assert not record(mission_storage, "M1", product.id, "M1/p/other.zip", "a.png")  # another file
        assert not record(mission_storage, "M2", product.id, "M1/p/file.zip", "a.png")  # another mission
        assert not record(mission_storage, "M1", uuid.uuid4(), "M1/p/file.zip", "a.png")  # none such
        assert mission_storage.get_product("M1", product.id) == before
        assert record(mission_storage, "M1", product.id, "M1/p/file.zip", "preview/quick-look.png")
        after = mission_storage.get_product("M1", product.id)
        assert after.quicklook == "preview/quick-look.png" and after.revision == before.revision + 1
        assert dataclasses.replace(after, quicklook=None, revision=0) == dataclasses.replace(before, revision=0)
        assert not record(mission_storage, "M1", product.id, "M1/p/file.zip", "b.png")  # has one
        assert mission_storage.get_product("M1", product.id).quicklook == "preview/quick-look.png"
        with pytest.raises(ConflictError):  # a writer holding it read before: its revision is stale
            mission_storage.update_product(before)
        assert mission_storage.record_quicklooks("M1", []) == []

    def test_record_quicklooks_records_a_file_searched_without_one(self, mission_storage):
        record = self._record
        product = mission_storage.add_product(make_product(archive_key="M1/p/none.zip"))
        assert record(mission_storage, "M1", product.id, "M1/p/none.zip", NO_QUICKLOOK)
        assert mission_storage.get_product("M1", product.id).quicklook == NO_QUICKLOOK
        # searched: not again from "not searched"; searched again (seen: none) it may get one
        assert not record(mission_storage, "M1", product.id, "M1/p/none.zip", "a.png")
        assert not record(mission_storage, "M1", product.id, "M1/p/other.zip", "a.png", seen=NO_QUICKLOOK)
        assert record(mission_storage, "M1", product.id, "M1/p/none.zip", "a.png", seen=NO_QUICKLOOK)
        assert mission_storage.get_product("M1", product.id).quicklook == "a.png"
        assert not record(mission_storage, "M1", product.id, "M1/p/none.zip", "b.png", seen=NO_QUICKLOOK)

    def test_record_quicklooks_answers_each_search_of_a_page(self, mission_storage):
        found, none, taken = (mission_storage.add_product(make_product(archive_key=f"M1/p/{n}.zip"))
                              for n in ("found", "none", "taken"))
        assert self._record(mission_storage, "M1", taken.id, "M1/p/taken.zip", "first.png")
        searches = [QuicklookSearch(found.id, "M1/p/found.zip", "q.png"),
                    QuicklookSearch(none.id, "M1/p/none.zip", NO_QUICKLOOK),
                    QuicklookSearch(taken.id, "M1/p/taken.zip", "second.png"),  # given one meanwhile
                    QuicklookSearch(uuid.uuid4(), "M1/p/gone.zip", "q.png")]  # removed meanwhile
        assert mission_storage.record_quicklooks("M1", searches) == [True, True, False, False]
        assert [mission_storage.get_product("M1", p.id).quicklook for p in (found, none, taken)] == [
            "q.png", NO_QUICKLOOK, "first.png"]

    def test_record_quicklooks_answers_a_page_larger_than_a_backend_writes_at_once(self, mission_storage):
        made = mission_storage.add_products([make_product(name=f"P{i:03d}.zip", archive_key=f"M1/p/{i}.zip")
                                             for i in range(130)])
        searches = [QuicklookSearch(p.id, p.archive_key, f"{i}.png" if i % 3 else NO_QUICKLOOK)
                    for i, p in enumerate(made)]
        searches[77] = searches[77]._replace(archive_key="M1/p/moved.zip")  # its file changed meanwhile
        assert mission_storage.record_quicklooks("M1", searches) == [i != 77 for i in range(130)]
        page = mission_storage.query_products("M1", Query(top=200))
        assert {p.id: p.quicklook for p in page.items} == {
            s.product_id: None if i == 77 else s.quicklook for i, s in enumerate(searches)}

    # -- ordering and keyset paging ------------------------------------------------------------

    def _paging_products(self, storage, n=23):
        made = []
        for i in range(n):
            made.append(
                storage.add_product(
                    make_product(
                        name=f"N{(i * 7) % n:03d}.zip",
                        # duplicates (i % 5) make the Id tie-breaker matter; microsecond steps too
                        publication_date=T0 + timedelta(microseconds=(i % 5)),
                        content_start=None if i % 4 == 0 else T0 - timedelta(microseconds=i),
                        content_length=i % 3,
                    )
                )
            )
        return made

    ORDERINGS = [
        (),
        ((("PublicationDate",), False),),
        ((("PublicationDate",), True),),
        ((("ContentDate", "Start"), False),),
        ((("ContentDate", "Start"), True),),
        ((("ContentLength",), True), (("Name",), False)),
        ((("CreationDate",), False), (("Id",), True)),
    ]

    @staticmethod
    def _expected_order(products, orderby):
        keys = {
            ("PublicationDate",): lambda p: p.publication_date,
            ("CreationDate",): lambda p: p.publication_date,
            ("ContentDate", "Start"): lambda p: p.content_start,
            ("ContentLength",): lambda p: p.content_length,
            ("Name",): lambda p: p.name,
            ("Id",): lambda p: p.id,
        }
        ordered = sorted(products, key=lambda p: p.id)  # Id appended last, ascending
        for path, desc in reversed(orderby):
            get = keys[path]
            # NULL sorts as the largest value.
            ordered.sort(key=lambda p: (get(p) is None, get(p) if get(p) is not None else 0), reverse=desc)
        return [p.id for p in ordered]

    @pytest.mark.parametrize("orderby", ORDERINGS, ids=lambda o: ",".join("/".join(p) + (" desc" if d else "") for p, d in o) or "default")
    def test_keyset_paging_never_skips_or_repeats(self, mission_storage, orderby):
        made = self._paging_products(mission_storage)
        expected = self._expected_order(made, orderby)
        everything = mission_storage.query_products("M1", Query(orderby=orderby))
        assert [p.id for p in everything.items] == expected
        assert everything.next_skiptoken is None

        seen, token, pages = [], None, 0
        while True:
            page = mission_storage.query_products("M1", Query(orderby=orderby, top=5, skiptoken=token, count=True))
            pages += 1
            assert page.count == len(made)
            by_skip = mission_storage.query_products("M1", Query(orderby=orderby, top=5, skip=len(seen)))
            assert [p.id for p in by_skip.items] == [p.id for p in page.items]
            seen += [p.id for p in page.items]
            if page.next_skiptoken is None:
                assert by_skip.next_skiptoken is None
                break
            assert len(page.items) == 5  # every page but the last is full
            assert page.next_skip == len(seen) == by_skip.next_skip
            token = page.next_skiptoken
        assert seen == expected
        assert pages == 5

    def test_last_full_page_has_no_next_token(self, mission_storage):
        self._paging_products(mission_storage, n=10)
        page = mission_storage.query_products("M1", Query(top=5, skip=5))
        assert len(page.items) == 5 and page.next_skiptoken is None and page.next_skip is None

    def test_top_zero_counts_without_rows(self, mission_storage):
        self._paging_products(mission_storage, n=3)
        page = mission_storage.query_products("M1", Query(top=0, count=True))
        assert page.items == [] and page.count == 3 and page.next_skiptoken is None

    def test_bad_skiptoken_and_orderby_are_client_errors(self, mission_storage):
        self._paging_products(mission_storage, n=6)
        page = mission_storage.query_products("M1", Query(orderby=((("Name",), False),), top=2))
        with pytest.raises(InvalidQueryError):
            mission_storage.query_products("M1", Query(orderby=((("Name",), True),), top=2, skiptoken=page.next_skiptoken))
        with pytest.raises(InvalidQueryError):
            mission_storage.query_products("M1", Query(top=2, skiptoken="not-a-token"))
        import base64
        import json

        raw = json.loads(base64.urlsafe_b64decode(page.next_skiptoken + "=" * (-len(page.next_skiptoken) % 4)))
        for position, bad in ((0, 12345), (0, None), (1, {"t": "not a date"}), (1, "not-a-uuid")):
            keys = list(raw["k"])
            keys[position] = bad  # a forged token of the right shape but with wrongly typed values
            forged = base64.urlsafe_b64encode(json.dumps({**raw, "k": keys}).encode()).decode().rstrip("=")
            with pytest.raises(InvalidQueryError):
                mission_storage.query_products("M1", Query(orderby=((("Name",), False),), top=2, skiptoken=forged))
        with pytest.raises(InvalidQueryError, match="Cannot order"):
            mission_storage.query_products("M1", Query(orderby=((("Footprint",), False),)))

    # -- subscriptions -----------------------------------------------------------------------

    def test_subscription_round_trip(self, mission_storage):
        sub = Subscription(
            mission="M1", owner="alice", filter_param="startswith(Name,'S2')", stage_order=True, priority=3,
            submission_date=T0, notification_endpoint="https://example.org/n", notification_username="u",
            notification_password="p",
        )
        mission_storage.add_subscription(sub)
        loaded = mission_storage.get_subscription("M1", sub.id)
        assert opened(mission_storage, loaded) == sub
        with pytest.raises(NotFoundError):
            mission_storage.get_subscription("M2", sub.id)
        other = mission_storage.add_subscription(Subscription(mission="M1", owner="bob", filter_param="true", submission_date=T0 + timedelta(1)))
        assert [s.id for s in mission_storage.query_subscriptions("M1", Query(), owner="alice").items] == [sub.id]
        assert [s.id for s in mission_storage.list_running_subscriptions("M1")] == [sub.id, other.id]
        loaded.status = SubscriptionStatus.PAUSED
        loaded.last_notification_date = T0
        mission_storage.update_subscription(loaded)
        assert mission_storage.get_subscription("M1", sub.id).status is SubscriptionStatus.PAUSED
        assert [s.id for s in mission_storage.list_running_subscriptions()] == [other.id]
        with pytest.raises(ConflictError):
            mission_storage.update_subscription(sub)  # stale revision
        ordered = mission_storage.query_subscriptions("M1", Query(orderby=((("Priority",), True),)))
        assert [s.id for s in ordered.items] == [sub.id, other.id]
        mission_storage.delete_subscription("M1", sub.id)
        with pytest.raises(NotFoundError):
            mission_storage.get_subscription("M1", sub.id)

    def test_concurrent_optimistic_updates_lose_nothing(self, mission_storage):
        if not self.supports_row_locks:
            pytest.skip("this backend does not run concurrent writers")
        product = mission_storage.add_product(make_product(content_length=0))
        rounds = 25
        conflicts = []

        def increment():
            done = 0
            while done < rounds:
                current = mission_storage.get_product("M1", product.id)
                current.content_length += 1
                try:
                    mission_storage.update_product(current)
                    done += 1
                except ConflictError:
                    conflicts.append(1)

        self._run_threads(increment)
        assert mission_storage.get_product("M1", product.id).content_length == 2 * rounds
        assert mission_storage.get_product("M1", product.id).revision == 2 * rounds + 1


class OrderQueueContractTests(MissionContractTests):
    """Workflows, production orders and the production queue (``OrderStore``)."""

    # -- workflows ---------------------------------------------------------------------------

    def test_workflow_round_trip_and_upsert(self, mission_storage):
        wf = mission_storage.add_workflow(make_workflow())
        assert mission_storage.get_workflow("M1", wf.id) == wf
        assert mission_storage.get_workflow_by_name("M1", "WF") == wf
        with pytest.raises(ConflictError):
            mission_storage.add_workflow(make_workflow())
        with pytest.raises(NotFoundError):
            mission_storage.get_workflow("M2", wf.id)
        changed = make_workflow(description="new text", enabled=False, options=[])
        stored = mission_storage.upsert_workflow(changed)
        assert stored.id == wf.id
        loaded = mission_storage.get_workflow("M1", wf.id)
        assert loaded.description == "new text" and loaded.options == [] and not loaded.enabled
        assert mission_storage.list_workflows("M1", enabled_only=True) == []
        fresh = mission_storage.upsert_workflow(make_workflow(name="WF2"))
        assert fresh.id != wf.id and [w.name for w in mission_storage.list_workflows("M1")] == ["WF", "WF2"]
        page = mission_storage.query_workflows("M1", Query(orderby=((("Name",), True),), count=True))
        assert [w.name for w in page.items] == ["WF2", "WF"] and page.count == 2
        assert [w.name for w in mission_storage.query_workflows("M1", Query(), enabled_only=True).items] == ["WF2"]
        with pytest.raises(ConflictError):
            mission_storage.update_workflow(wf)  # stale revision
        mission_storage.delete_workflow("M1", wf.id)
        with pytest.raises(NotFoundError):
            mission_storage.get_workflow_by_name("M1", "WF")

    # -- production orders -------------------------------------------------------------------

    def test_order_round_trip(self, mission_storage):
        order = mission_storage.add_order(make_order())
        loaded = mission_storage.get_order("M1", order.id)
        assert opened(mission_storage, loaded) == order and loaded.workflow_options == {"format": "JPG", "quality": "80"}
        with pytest.raises(NotFoundError):
            mission_storage.get_order("M2", order.id)
        loaded.status = OrderStatus.COMPLETED
        loaded.status_message = "requested output product is available"
        loaded.completed_date = T0 + timedelta(minutes=3, microseconds=5)
        loaded.order_output_size = 2**40
        loaded.output_product_id = uuid.uuid4()
        loaded.production_type = ProductionType.ON_DEMAND_NON_DEFAULT
        loaded.workflow_options = {"format": "PNG"}
        mission_storage.update_order(loaded)
        assert mission_storage.get_order("M1", order.id) == loaded
        with pytest.raises(ConflictError):
            mission_storage.update_order(order)  # stale
        bob = mission_storage.add_order(make_order(owner="bob", priority=90, submission_date=T0 + timedelta(seconds=1)))
        assert [o.id for o in mission_storage.query_orders("M1", Query(), owner="bob").items] == [bob.id]
        by_priority = mission_storage.query_orders("M1", Query(orderby=((("Priority",), True),), count=True))
        assert [o.id for o in by_priority.items] == [bob.id, order.id] and by_priority.count == 2
        mission_storage.delete_order("M1", order.id)
        with pytest.raises(NotFoundError):
            mission_storage.get_order("M1", order.id)

    def test_idempotency_key_is_unique_per_mission_and_owner(self, mission_storage):
        first = mission_storage.add_order(make_order(idempotency_key="key-1", request_hash="a" * 64))
        assert opened(mission_storage, mission_storage.find_order_by_idempotency_key("M1", "alice", "key-1")) == first
        assert mission_storage.get_order("M1", first.id).request_hash == "a" * 64
        assert mission_storage.find_order_by_idempotency_key("M1", "bob", "key-1") is None
        assert mission_storage.find_order_by_idempotency_key("M1", "alice", "key-2") is None
        with pytest.raises(ConflictError):
            mission_storage.add_order(make_order(idempotency_key="key-1"))
        # the same key of another owner or mission, and orders without a key, are independent
        mission_storage.add_order(make_order(owner="bob", idempotency_key="key-1"))
        mission_storage.add_order(make_order(mission="M2", idempotency_key="key-1"))
        mission_storage.add_order(make_order())
        mission_storage.add_order(make_order())
        assert mission_storage.query_orders("M1", Query(count=True)).count == 4

    # -- the production queue ----------------------------------------------------------------

    def test_claim_next_order_takes_priority_then_age_of_every_mission(self, mission_storage):
        low = mission_storage.add_order(make_order(priority=10))
        high_new = mission_storage.add_order(make_order("M2", priority=90, submission_date=T0 + timedelta(seconds=1)))
        high_old = mission_storage.add_order(make_order(priority=90))
        done = make_order(priority=100)
        done.status = OrderStatus.COMPLETED
        mission_storage.add_order(done)
        claimed = [mission_storage.claim_next_order("w", 30, T0 + timedelta(minutes=1)) for _ in range(4)]
        assert [c.id if c else None for c in claimed] == [high_old.id, high_new.id, low.id, None]
        first = claimed[0]
        assert first.status is OrderStatus.IN_PROGRESS and first.worker_id == "w"
        assert first.status_message == "request is under processing"
        assert first.lease_expires_at == T0 + timedelta(minutes=1, seconds=30)
        assert first.revision == high_old.revision + 1  # a state change: stale copies conflict
        assert first.workflow_options == {"format": "JPG", "quality": "80"}
        assert mission_storage.get_order("M1", high_old.id) == first
        with pytest.raises(ConflictError):
            mission_storage.update_order(high_old)

    def test_renew_order_lease_only_for_the_running_holder(self, mission_storage):
        order = mission_storage.add_order(make_order())
        assert mission_storage.renew_order_lease(order.id, "w", 30, T0) is False  # not running yet
        claimed = mission_storage.claim_next_order("w", 10, T0)
        assert mission_storage.renew_order_lease(order.id, "w", 30, T0 + timedelta(seconds=5)) is True
        stored = mission_storage.get_order("M1", order.id)
        assert stored.lease_expires_at == T0 + timedelta(seconds=35) and stored.revision == claimed.revision
        assert mission_storage.renew_order_lease(order.id, "other", 30, T0 + timedelta(seconds=6)) is False
        assert mission_storage.get_order("M1", order.id).lease_expires_at == T0 + timedelta(seconds=35)
        stored.status = OrderStatus.CANCELLED  # the user cancels: the worker must stop
        mission_storage.update_order(stored)
        assert mission_storage.renew_order_lease(order.id, "w", 30, T0 + timedelta(seconds=7)) is False
        assert mission_storage.renew_order_lease(uuid.uuid4(), "w", 30, T0) is False

    def test_expired_orders_and_their_release(self, mission_storage):
        order = mission_storage.add_order(make_order())
        waiting = mission_storage.add_order(make_order("M2", priority=1))  # queued: never expired
        claimed = mission_storage.claim_next_order("lost", 10, T0)
        assert mission_storage.expired_orders(T0 + timedelta(seconds=10)) == []  # not yet expired
        [expired] = mission_storage.expired_orders(T0 + timedelta(seconds=11))
        assert expired == claimed and expired.worker_id == "lost"
        expired.status, expired.status_message, expired.attempts = OrderStatus.QUEUED, "back in the queue", 1
        assert mission_storage.release_expired_order(expired, T0 + timedelta(seconds=11)) is True
        assert expired.revision == claimed.revision + 1 and expired.worker_id is None and expired.lease_expires_at is None
        assert mission_storage.get_order("M1", order.id) == expired
        assert mission_storage.release_expired_order(expired, T0 + timedelta(seconds=12)) is False  # queued now
        assert mission_storage.expired_orders(T0 + timedelta(minutes=5)) == []  # queued ones stay
        assert mission_storage.renew_order_lease(order.id, "lost", 10, T0 + timedelta(seconds=12)) is False
        second = mission_storage.claim_next_order("second", 10, T0 + timedelta(seconds=20))
        now = T0 + timedelta(seconds=31)
        [expired] = mission_storage.expired_orders(now)
        expired.status, expired.status_message, expired.attempts = OrderStatus.FAILED, "lost twice", 2
        expired.completed_date = now
        stale = mission_storage.get_order("M1", order.id)
        assert mission_storage.release_expired_order(expired, now) is True
        assert mission_storage.get_order("M1", order.id) == expired and expired.revision == second.revision + 1
        assert mission_storage.release_expired_order(stale, now) is False  # someone came first
        assert mission_storage.get_order("M2", waiting.id).status is OrderStatus.QUEUED

    def test_release_of_an_expired_order_loses_to_a_heartbeat(self, mission_storage):
        mission_storage.add_order(make_order())
        mission_storage.claim_next_order("slow", 10, T0)
        [expired] = mission_storage.expired_orders(T0 + timedelta(seconds=11))
        assert mission_storage.renew_order_lease(expired.id, "slow", 10, T0 + timedelta(seconds=11)) is True
        expired.status = OrderStatus.QUEUED
        assert mission_storage.release_expired_order(expired, T0 + timedelta(seconds=12)) is False
        stored = mission_storage.get_order("M1", expired.id)
        assert stored.status is OrderStatus.IN_PROGRESS and stored.worker_id == "slow"

    def test_release_of_expired_orders_belongs_to_the_callers_transaction(self, mission_storage):
        order = mission_storage.add_order(make_order())
        mission_storage.claim_next_order("lost", 10, T0)
        with pytest.raises(RuntimeError):
            with mission_storage.transaction() as tx:
                [expired] = tx.expired_orders(T0 + timedelta(minutes=1))
                expired.status, expired.attempts = OrderStatus.QUEUED, 1
                assert expired.id == order.id and tx.release_expired_order(expired, T0 + timedelta(minutes=1))
                raise RuntimeError("rolled back")
        stored = mission_storage.get_order("M1", order.id)
        assert stored.status is OrderStatus.IN_PROGRESS and stored.worker_id == "lost" and stored.attempts == 0

    def test_order_queue_stats(self, mission_storage):
        workflow_id = uuid.uuid4()
        assert mission_storage.order_queue_stats(workflow_id, 50) == OrderQueueStats(ahead=0, run_seconds=[])
        mission_storage.add_order(make_order(priority=50))
        mission_storage.add_order(make_order("M2", priority=80))
        mission_storage.add_order(make_order(priority=49))  # lower: runs after the new one
        running = mission_storage.add_order(make_order(priority=1))
        for seconds in (620, 40, 660):  # completed orders of the workflow, all submitted at T0
            o = make_order(workflow_id=workflow_id, submission_date=T0)
            o.status, o.completed_date = OrderStatus.COMPLETED, T0 + timedelta(seconds=seconds)
            mission_storage.add_order(o)
        other = make_order(submission_date=T0)  # another workflow's history does not count
        other.status, other.completed_date = OrderStatus.COMPLETED, T0 + timedelta(seconds=1)
        mission_storage.add_order(other)
        failed = make_order(workflow_id=workflow_id)  # nor does a failed run
        failed.status, failed.completed_date = OrderStatus.FAILED, T0 + timedelta(seconds=2)
        mission_storage.add_order(failed)
        claimed = mission_storage.claim_next_order("w", 30, T0)  # the priority-80 order runs now
        assert claimed.priority == 80 and claimed.id != running.id
        stats = mission_storage.order_queue_stats(workflow_id, 50)
        assert stats.ahead == 2  # the queued priority-50 one and the running one
        assert stats.run_seconds == [660.0, 620.0, 40.0]  # newest completion first
        assert mission_storage.order_queue_stats(workflow_id, 50, history=2).run_seconds == [660.0, 620.0]
        assert mission_storage.order_queue_stats(workflow_id, 1).ahead == 4

    def test_concurrent_order_claims_take_each_order_once(self, mission_storage):
        ids = {mission_storage.add_order(make_order(submission_date=T0 + timedelta(seconds=i))).id for i in range(20)}
        taken, lock = [], threading.Lock()

        def claim():
            while True:
                order = mission_storage.claim_next_order(f"w-{threading.get_ident()}", 30, T0)
                if order is None:
                    return
                with lock:
                    taken.append(order.id)

        self._run_threads(claim, count=4)
        assert sorted(taken) == sorted(ids)

    def test_stale_update_is_rejected_not_lost(self, mission_storage):
        order = mission_storage.add_order(make_order())
        a = mission_storage.get_order("M1", order.id)
        b = mission_storage.get_order("M1", order.id)
        a.attempts += 1
        mission_storage.update_order(a)
        b.attempts += 1
        with pytest.raises(ConflictError):
            mission_storage.update_order(b)
        assert mission_storage.get_order("M1", order.id).attempts == 1

    def test_concurrent_locked_increments_lose_nothing(self, mission_storage):
        if not self.supports_row_locks:
            pytest.skip("this backend does not run concurrent writers")
        order = mission_storage.add_order(make_order())
        rounds = 25

        def increment():
            for _ in range(rounds):
                with mission_storage.transaction() as tx:
                    current = tx.get_order("M1", order.id, for_update=True)
                    current.attempts += 1
                    tx.update_order(current)

        self._run_threads(increment)
        assert mission_storage.get_order("M1", order.id).attempts == 2 * rounds


class OutboxContractTests(MissionContractTests):
    """The notification outbox (``OutboxStore``)."""

    # -- outbox ------------------------------------------------------------------------------

    def test_outbox_claim_deliver_and_retry(self, mission_storage):
        now = T0
        first = mission_storage.enqueue_notification("order", "https://e/1", "u", "p", {"a": 1, "b": "✓"}, mission="M1", now=now)
        second = mission_storage.enqueue_notification("order", "https://e/2", None, None, {"n": 2}, now=now + timedelta(seconds=1))
        assert mission_storage.claim_due_notifications(now - timedelta(seconds=1), 10) == []
        claimed = mission_storage.claim_due_notifications(now + timedelta(seconds=5), 1)
        assert [m.id for m in claimed] == [first.id] and claimed[0].payload == {"a": 1, "b": "✓"}
        assert claimed[0].username == "u" and mission_storage.secrets.open(claimed[0].password) == "p"
        assert claimed[0].next_attempt_at == now + timedelta(seconds=65) and len(claimed[0].claim_token) >= 16
        # leased: not claimed again until the lease ends
        again = mission_storage.claim_due_notifications(now + timedelta(seconds=6), 10)
        assert [m.id for m in again] == [second.id] and again[0].claim_token != claimed[0].claim_token
        assert mission_storage.record_notification_failure(
            first.id, now + timedelta(minutes=5), "HTTP 500", claim_token=claimed[0].claim_token
        )
        # a crashed deliverer: its lease ends and the message is claimed once more
        reclaimed = mission_storage.claim_due_notifications(now + timedelta(seconds=67), 10)
        assert [m.id for m in reclaimed] == [second.id]
        assert mission_storage.mark_notification_delivered(
            second.id, claim_token=reclaimed[0].claim_token, now=now + timedelta(seconds=68)
        )
        failed = mission_storage.get_notification(first.id)
        assert failed.attempts == 1 and failed.last_error == "HTTP 500"
        assert mission_storage.claim_due_notifications(now + timedelta(minutes=4), 10) == []
        retried = mission_storage.claim_due_notifications(now + timedelta(minutes=5), 10)
        assert [m.id for m in retried] == [first.id]
        assert mission_storage.record_notification_failure(first.id, None, "gave up", claim_token=retried[0].claim_token)
        assert mission_storage.claim_due_notifications(now + timedelta(days=1), 10) == []
        assert mission_storage.get_notification(first.id).attempts == 2
        assert [m.id for m in mission_storage.list_notifications(undelivered_only=True)] == [first.id]
        assert mission_storage.get_notification(second.id).delivered_at == now + timedelta(seconds=68)
        with pytest.raises(NotFoundError):
            mission_storage.mark_notification_delivered(10**9, claim_token="x")
        with pytest.raises(NotFoundError):
            mission_storage.record_notification_failure(10**9, None, "x", claim_token="x")

    def test_outbox_claims_come_oldest_due_first(self, mission_storage):
        ids = [
            mission_storage.enqueue_notification("order", f"https://e/{i}", None, None, {"i": i}, now=T0 + timedelta(seconds=s)).id
            for i, s in enumerate((30, 10, 20))
        ]
        claimed = mission_storage.claim_due_notifications(T0 + timedelta(minutes=1), 2)
        assert [m.id for m in claimed] == [ids[1], ids[2]]
        assert len({m.claim_token for m in claimed}) == 1  # one claim, one token
        assert [m.id for m in mission_storage.claim_due_notifications(T0 + timedelta(minutes=1), 5)] == [ids[0]]

    def test_outbox_claims_skip_excluded_receivers(self, mission_storage):
        busy = [mission_storage.enqueue_notification("order", endpoint, None, None, {}, now=T0).id
                for endpoint in ("https://busy/hook", "https://BUSY:443/other?s=1", "https://busy./hook/2")]
        free = [mission_storage.enqueue_notification("order", endpoint, None, None, {}, now=T0 + timedelta(seconds=1)).id
                for endpoint in ("https://free/hook", "http://busy/hook", "https://busy:8443/hook")]
        assert {mission_storage.get_notification(i).receiver for i in busy} == {"https://busy:443"}
        claimed = mission_storage.claim_due_notifications(T0 + timedelta(minutes=1), 5, exclude_receivers=["https://busy:443"])
        assert [m.id for m in claimed] == free
        assert [m.id for m in mission_storage.claim_due_notifications(T0 + timedelta(minutes=1), 5)] == busy

    def test_outbox_stale_claimer_cannot_overwrite_the_new_claim(self, mission_storage):
        message = mission_storage.enqueue_notification("order", "https://e/1", None, None, {}, now=T0)
        [stale] = mission_storage.claim_due_notifications(T0, 10, lease=timedelta(seconds=10))
        # the first claimer is slower than its lease: the message is claimed again
        [current] = mission_storage.claim_due_notifications(T0 + timedelta(seconds=11), 10, lease=timedelta(seconds=60))
        assert current.id == message.id and current.claim_token != stale.claim_token
        # the stale claimer's outcome is a no-op, whatever it is, and it is told so
        assert mission_storage.mark_notification_delivered(message.id, claim_token=stale.claim_token, now=T0) is False
        assert mission_storage.record_notification_failure(message.id, None, "stale", claim_token=stale.claim_token) is False
        unchanged = mission_storage.get_notification(message.id)
        assert unchanged.delivered_at is None and unchanged.attempts == 0 and unchanged.last_error is None
        assert unchanged.next_attempt_at == T0 + timedelta(seconds=71)
        # the current claimer's outcome counts, once
        assert mission_storage.record_notification_failure(
            message.id, T0 + timedelta(minutes=5), "HTTP 503", claim_token=current.claim_token
        ) is True
        assert mission_storage.record_notification_failure(message.id, None, "again", claim_token=current.claim_token) is False
        assert mission_storage.mark_notification_delivered(message.id, claim_token=current.claim_token) is False
        recorded = mission_storage.get_notification(message.id)
        assert recorded.attempts == 1 and recorded.last_error == "HTTP 503"
        assert recorded.next_attempt_at == T0 + timedelta(minutes=5) and recorded.delivered_at is None
        [third] = mission_storage.claim_due_notifications(T0 + timedelta(minutes=5), 10)
        assert mission_storage.mark_notification_delivered(message.id, claim_token=third.claim_token, now=T0 + timedelta(minutes=6))
        assert mission_storage.get_notification(message.id).delivered_at == T0 + timedelta(minutes=6)
        assert mission_storage.claim_due_notifications(T0 + timedelta(days=1), 10) == []

    def test_concurrent_claimers_get_disjoint_messages(self, mission_storage):
        ids = {mission_storage.enqueue_notification("order", f"https://e/{i}", None, None, {}, now=T0).id for i in range(40)}
        taken, lock = [], threading.Lock()

        def claim():
            while True:
                claimed = mission_storage.claim_due_notifications(T0 + timedelta(seconds=1), 3)
                if not claimed:
                    return
                with lock:
                    taken.extend(m.id for m in claimed)

        self._run_threads(claim, count=4)
        assert sorted(taken) == sorted(ids)

    def test_outbox_message_is_part_of_the_callers_transaction(self, mission_storage):
        with pytest.raises(RuntimeError):
            with mission_storage.transaction() as tx:
                tx.enqueue_notification("order", "https://e/1", None, None, {})
                raise RuntimeError("rolled back")
        assert mission_storage.list_notifications() == []


class StorageContractTests(CatalogueContractTests, UserContractTests, OrderQueueContractTests, OutboxContractTests):
    """Every test of the storage contract (a whole :class:`StorageBase`). Subclass it and
    provide a ``storage`` fixture."""

    def test_operations_stats(self, mission_storage):
        empty = mission_storage.operations_stats()
        assert empty.oldest_queued_at is None and empty.outbox_pending == 0 and empty.oldest_pending_at is None
        mission_storage.add_order(make_order(submission_date=T0))
        mission_storage.add_order(make_order(submission_date=T0 + timedelta(minutes=1)))
        mission_storage.add_order(make_order(status=OrderStatus.FAILED, submission_date=T0 - timedelta(days=1)))
        first = mission_storage.enqueue_notification("order", "https://e/1", None, None, {}, now=T0)
        mission_storage.enqueue_notification("order", "https://e/2", None, None, {}, now=T0 + timedelta(seconds=5))
        given_up = mission_storage.enqueue_notification("order", "https://e/3", None, None, {}, now=T0 - timedelta(hours=1))
        claimed = {m.id: m for m in mission_storage.claim_due_notifications(T0 + timedelta(minutes=1), 10)}
        mission_storage.record_notification_failure(first.id, T0 + timedelta(minutes=2), "HTTP 500", claim_token=claimed[first.id].claim_token)
        mission_storage.record_notification_failure(given_up.id, None, "HTTP 500", claim_token=claimed[given_up.id].claim_token)
        stats = mission_storage.operations_stats()
        assert stats.orders_by_status == {"queued": 2, "failed": 1}
        assert stats.oldest_queued_at == T0
        assert (stats.outbox_pending, stats.outbox_retrying, stats.outbox_given_up) == (2, 1, 1)
        assert stats.oldest_pending_at == T0


# -- catalogue columns (issue 12 items 2 and 4; migration 0006 in the SQLAlchemy backend) ------


class CatalogueColumnsContractTests:
    """Attributes kept as columns and footprints rendered at write time: a backend that keeps
    them must answer exactly as from the attributes and the WKT. Mixed into a test class that
    provides the ``mission_storage`` fixture (as :class:`StorageContractTests` does)."""

    CLOUD = "Attributes/OData.CSC.DoubleAttribute/any(a:a/Name eq 'cloudCover' and a/OData.CSC.DoubleAttribute/Value le {})"

    @staticmethod
    def _names(storage, text, visibilities=None):
        from proseo_odata.odata import edm, parse_filter
        from proseo_odata.odata.binding import bind_filter

        query = Query(filter=bind_filter(parse_filter(text), edm.PRODUCT))
        return sorted(p.name for p in storage.query_products("M1", query, visibilities=visibilities).items)

    def test_cloud_cover_attribute_is_found_by_its_filter(self, mission_storage):
        s = mission_storage
        s.add_product(make_product(name="clear", attributes=[Attribute.of("cloudCover", 3.5)]))
        s.add_products([make_product(name="bulk", attributes=[Attribute.of("cloudCover", 7.0)])])
        s.add_product(make_product(name="cloudy", attributes=[Attribute.of("cloudCover", 80.25)]))
        s.add_product(make_product(name="none"))
        # an Integer attribute of that name is no DoubleAttribute: never matched by the typed lambda
        s.add_product(make_product(name="integer", attributes=[Attribute.of("cloudCover", 2)]))
        assert self._names(s, self.CLOUD.format(10)) == ["bulk", "clear"]
        assert self._names(s, self.CLOUD.format(3.5)) == ["clear"]
        assert self._names(s, self.CLOUD.format(3.4)) == []
        assert self._names(s, self.CLOUD.format(100)) == ["bulk", "clear", "cloudy"]
        assert self._names(s, self.CLOUD.format(10), visibilities=["PUBLIC"]) == []
        # not any(...): every product without a matching attribute, those without one at all too
        assert self._names(s, f"not {self.CLOUD.format(10)}") == ["cloudy", "integer", "none"]
        assert self._names(s, f"{self.CLOUD.format(10)} eq false") == ["cloudy", "integer", "none"]
        cloudy = s.get_product_by_name("M1", "cloudy")
        cloudy.attributes = [a for a in cloudy.attributes if a.name != "cloudCover"] + [Attribute.of("cloudCover", 1.0)]
        s.update_product(cloudy)
        clear = s.get_product_by_name("M1", "clear")
        clear.attributes = [a for a in clear.attributes if a.name != "cloudCover"]
        s.update_product(clear)
        assert self._names(s, self.CLOUD.format(10)) == ["bulk", "cloudy"]

    PROCESSED = ("Attributes/OData.CSC.DateTimeOffsetAttribute/any(a:a/Name eq 'processingDate' and "
                 "a/OData.CSC.DateTimeOffsetAttribute/Value {} {})")

    def test_processing_date_attribute_is_found_by_its_filter(self, mission_storage):
        s = mission_storage
        day = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
        s.add_product(make_product(name="early", attributes=[Attribute.of("processingDate", day)]))
        s.add_products([make_product(name="bulk", attributes=[Attribute.of("processingDate", day + timedelta(days=1))])])
        s.add_product(make_product(name="none"))
        # a String attribute of that name is no DateTimeOffsetAttribute: never matched by the typed lambda
        s.add_product(make_product(name="text", attributes=[Attribute.of("processingDate", "2024-05-03T00:00:00Z")]))
        assert self._names(s, self.PROCESSED.format("ge", "2024-05-01T12:00:00.123456Z")) == ["bulk", "early"]
        assert self._names(s, self.PROCESSED.format("gt", "2024-05-01T12:00:00.123456Z")) == ["bulk"]
        assert self._names(s, self.PROCESSED.format("eq", "2024-05-01T14:00:00.123456+02:00")) == ["early"]
        assert self._names(s, self.PROCESSED.format("lt", "2024-05-01")) == []
        assert self._names(s, self.PROCESSED.format("le", "2030-01-01T00:00:00Z")) == ["bulk", "early"]
        assert self._names(s, self.PROCESSED.format("ge", "2024-01-01T00:00:00Z"), visibilities=["PUBLIC"]) == []
        assert self._names(s, "not " + self.PROCESSED.format("gt", "2024-05-01T12:00:00.123456Z")) == [
            "early", "none", "text"]
        early = s.get_product_by_name("M1", "early")
        early.attributes = [a for a in early.attributes if a.name != "processingDate"] + [
            Attribute.of("processingDate", day + timedelta(days=9))]
        s.update_product(early)
        bulk = s.get_product_by_name("M1", "bulk")
        bulk.attributes = [a for a in bulk.attributes if a.name != "processingDate"]
        s.update_product(bulk)
        assert self._names(s, self.PROCESSED.format("gt", "2024-05-05T00:00:00Z")) == ["early"]
        assert self._names(s, self.PROCESSED.format("lt", "2024-05-05T00:00:00Z")) == []

    def test_footprint_rendering_is_stored_with_the_product(self, mission_storage):
        import json

        from proseo_odata.odata import geo

        s = mission_storage
        wkt = "POLYGON ((10.5 50, 11 50.00001, 11 51, 10.5 51, 10.5 50))"
        product = s.add_product(make_product(name="fp", footprint=wkt))
        s.add_products([make_product(name="fp-bulk", footprint=wkt), make_product(name="no-fp", footprint=None)])
        expected = (wkt, "geography'SRID=4326;POLYGON((10.5 50,11 50.00001,11 51,10.5 51,10.5 50))'",
                    geo.to_geojson(geo.to_geometry(wkt)))
        for name in ("fp", "fp-bulk"):
            stored = s.get_product_by_name("M1", name)
            assert stored.rendered_footprint[:2] == expected[:2]
            assert json.loads(stored.rendered_footprint[2]) == expected[2]
        assert s.get_product_by_name("M1", "no-fp").rendered_footprint is None
        moved = "POLYGON ((0 0, 1 0, 1 1, 0 0))"
        product = s.get_product("M1", product.id)
        product.footprint = moved
        s.update_product(product)
        stored = s.get_product("M1", product.id)
        assert stored.rendered_footprint[:2] == (moved, "geography'SRID=4326;POLYGON((0 0,1 0,1 1,0 0))'")
