"""The short-lived user and workflow caches of the storage (issue 12 item 6,
:mod:`proseo_odata.storage.readcache`): bounded, expiring, invalidated by the storage's own
writes at once and by other processes' (another storage object on the same database) within
the TTL."""
import threading

import pytest

from fake_clock import Clock
from proseo_odata.model import Mission, Role, User, Workflow, hash_password
from proseo_odata.storage.errors import NotFoundError
from proseo_odata.storage.readcache import ReadCache
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage, load_from_config


# -- the cache itself ----------------------------------------------------------------------------


def test_entries_expire_after_the_ttl():
    clock = Clock()
    cache = ReadCache(ttl=5, clock=clock)
    loads = []
    assert cache.get("k", lambda: loads.append(1) or "first") == "first"
    clock.now += 4.9
    assert cache.get("k", lambda: loads.append(1) or "second") == "first"
    clock.now += 0.2
    assert cache.get("k", lambda: loads.append(1) or "third") == "third"
    assert len(loads) == 2 and (cache.hits, cache.misses) == (1, 2)


def test_the_cache_is_bounded_least_recently_used_first():
    cache = ReadCache(ttl=60, size=2)
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    cache.get("a", lambda: -1)  # a used again: b is now the oldest
    cache.get("c", lambda: 3)
    assert len(cache) == 2
    assert cache.get("a", lambda: "reloaded") == 1
    assert cache.get("b", lambda: "reloaded") == "reloaded"


def test_invalidate_one_key_or_all():
    cache = ReadCache(ttl=60)
    cache.get("a", lambda: 1)
    cache.get("b", lambda: 2)
    cache.invalidate("a")
    assert cache.get("a", lambda: 10) == 10 and cache.get("b", lambda: 20) == 2
    cache.invalidate()
    assert cache.get("a", lambda: 100) == 100 and cache.get("b", lambda: 200) == 200


def test_errors_and_loads_that_raced_an_invalidation_are_not_kept():
    cache = ReadCache(ttl=60)
    with pytest.raises(KeyError):
        cache.get("k", lambda: {}["missing"])
    assert len(cache) == 0

    def load_while_someone_writes():
        cache.invalidate("k")  # a write committed while this (older) row was being read
        return "old"

    assert cache.get("k", load_while_someone_writes) == "old"
    assert cache.get("k", lambda: "new") == "new"


def test_ttl_zero_turns_the_cache_off():
    cache = ReadCache(ttl=0)
    assert not cache.enabled
    assert [cache.get("k", lambda i=i: i) for i in range(3)] == [0, 1, 2]
    with pytest.raises(ValueError):
        ReadCache(ttl=-1)


def test_threads_share_one_cache():
    cache = ReadCache(ttl=60, size=8)
    errors = []

    def work(n):
        try:
            for i in range(500):
                key = (n + i) % 16
                assert cache.get(key, lambda key=key: key * 2) == key * 2
                if i % 50 == 0:
                    cache.invalidate(key)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(cache) <= 8


# -- in the storage --------------------------------------------------------------------------------


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def storages(db_url, clock):
    """Two storage objects on one database: ``this`` (with clocked caches) and ``other`` (what
    another process sees and changes)."""
    this = SQLAlchemyStorage.from_url(db_url, user_cache=ReadCache(ttl=5, clock=clock),
                                      workflow_cache=ReadCache(ttl=5, clock=clock))
    other = SQLAlchemyStorage.from_url(db_url)
    other.add_mission(Mission("M1"))
    other.add_user(User("M1", "alice", hash_password("old-pw"), {Role.ODIP_USER}))
    other.add_workflow(Workflow("M1", "WF", "IN", "OUT", "p"))
    yield this, other
    this.close()
    other.close()


def _enabled(storage):
    return [w.name for w in storage.list_workflows("M1", enabled_only=True, cached=True)]


def test_own_user_changes_are_seen_at_once(storages):
    this, _other = storages
    assert this.get_user("M1", "alice", cached=True).roles == {Role.ODIP_USER}
    this.update_user(User("M1", "alice", hash_password("new-pw"), {Role.PRIP_USER}))
    user = this.get_user("M1", "alice", cached=True)
    assert user.roles == {Role.PRIP_USER} and user.check_password("new-pw") and not user.check_password("old-pw")
    this.delete_user("M1", "alice")
    with pytest.raises(NotFoundError):
        this.get_user("M1", "alice", cached=True)


def test_another_process_changes_are_seen_within_the_ttl(storages, clock):
    this, other = storages
    assert this.get_user("M1", "alice", cached=True).check_password("old-pw")
    other.update_user(User("M1", "alice", hash_password("new-pw"), {Role.ODIP_USER}))
    assert this.get_user("M1", "alice", cached=True).check_password("old-pw")  # within the TTL
    assert this.get_user("M1", "alice").check_password("new-pw")  # uncached: the database
    clock.now += 5.01
    assert this.get_user("M1", "alice", cached=True).check_password("new-pw")
    other.delete_user("M1", "alice")
    clock.now += 5.01
    with pytest.raises(NotFoundError):
        this.get_user("M1", "alice", cached=True)


def test_unknown_users_are_not_cached(storages):
    this, other = storages
    with pytest.raises(NotFoundError):
        this.get_user("M1", "bob", cached=True)
    other.add_user(User("M1", "bob", hash_password("pw"), {Role.ODIP_USER}))
    assert this.get_user("M1", "bob", cached=True).name == "bob"  # at once, no TTL to wait


def test_a_cached_user_is_a_copy(storages):
    this, _other = storages
    this.get_user("M1", "alice", cached=True).roles = frozenset()
    assert this.get_user("M1", "alice", cached=True).roles == {Role.ODIP_USER}


def test_own_workflow_changes_are_seen_at_once(storages):
    this, _other = storages
    assert _enabled(this) == ["WF"]
    workflow = this.get_workflow_by_name("M1", "WF")
    workflow.enabled = False
    this.update_workflow(workflow)
    assert _enabled(this) == []
    this.add_workflow(Workflow("M1", "WF2", "IN", "OUT", "p"))
    assert _enabled(this) == ["WF2"]
    this.upsert_workflow(Workflow("M1", "WF", "IN", "OUT", "p"))  # enabled again
    assert _enabled(this) == ["WF", "WF2"]
    this.delete_workflow("M1", this.get_workflow_by_name("M1", "WF2").id)
    assert _enabled(this) == ["WF"]


def test_a_workflow_disabled_by_another_process_is_seen_within_the_ttl(storages, clock):
    this, other = storages
    assert _enabled(this) == ["WF"]
    workflow = other.get_workflow_by_name("M1", "WF")
    workflow.enabled = False
    other.update_workflow(workflow)
    assert _enabled(this) == ["WF"]
    assert this.list_workflows("M1", enabled_only=True) == []  # uncached: the database
    clock.now += 5.01
    assert _enabled(this) == []


@pytest.mark.postgresql
def test_a_row_read_before_a_write_commits_is_dropped_at_the_commit(migrated_pg_url, clock):
    """PostgreSQL (a reader does not wait for the writer): a request reading the old row while
    another transaction of the same storage updates it must not keep it in the cache."""
    this = SQLAlchemyStorage.from_url(migrated_pg_url, user_cache=ReadCache(ttl=5, clock=clock))
    try:
        this.add_mission(Mission("M1"))
        this.add_user(User("M1", "alice", hash_password("old-pw"), {Role.ODIP_USER}))
        with this.transaction() as tx:
            tx.update_user(User("M1", "alice", hash_password("new-pw"), {Role.ODIP_USER}))
            # another request, its own transaction: reads (and caches) the committed, old row
            assert this.get_user("M1", "alice", cached=True).check_password("old-pw")
        assert this.get_user("M1", "alice", cached=True).check_password("new-pw")
        with pytest.raises(RuntimeError):
            with this.transaction() as tx:
                tx.update_user(User("M1", "alice", hash_password("rolled-back"), {Role.ODIP_USER}))
                raise RuntimeError("abort")
        assert this.get_user("M1", "alice", cached=True).check_password("new-pw")
    finally:
        this.close()


def test_ttls_come_from_the_settings(db_url):
    storage = load_from_config({"proseo.storage.url": db_url, "proseo.storage.user_cache.ttl": "0",
                                "proseo.storage.workflow_cache.ttl": "2.5"})
    try:
        assert not storage.user_cache.enabled
        assert storage.workflow_cache.ttl == 2.5
        assert storage.bind(None).workflow_cache is storage.workflow_cache
    finally:
        storage.close()
