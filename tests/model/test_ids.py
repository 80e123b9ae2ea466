"""New object Ids are UUID version 7 (RFC 9562): time-ordered, so indexes on them grow at their end."""
import time
import uuid

from proseo_odata.model import Product, ProductionOrder, Subscription, Workflow, new_id


def test_a_new_id_is_version_7_with_the_current_millisecond():
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after
    assert uuid.UUID(str(value)) == value  # round-trips through its text, as the wire carries it


def test_ids_made_one_after_another_sort_in_that_order_and_do_not_repeat():
    made = [new_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert sorted(made) == made
    assert sorted(str(v) for v in made) == [str(v) for v in made]  # text order too (PostgreSQL's uuid order)


def test_the_random_part_differs_within_one_millisecond():
    made = [new_id() for _ in range(1_000)]
    assert len({v.int & ((1 << 62) - 1) for v in made}) == len(made)


def test_new_objects_get_time_ordered_ids():
    objects = [
        Product("M1", "P1.zip"),
        Subscription("M1", "alice", "true"),
        Workflow("M1", "wf", "L0", "L1", "proc"),
        ProductionOrder("M1", "alice", uuid.uuid4(), "wf"),
    ]
    assert [o.id.version for o in objects] == [7, 7, 7, 7]
    assert sorted(o.id for o in objects) == [o.id for o in objects]


def test_an_id_given_is_kept_whatever_its_version():
    given = uuid.UUID("802afab2-77a3-4c3a-821b-e31f96f6ebf1")  # version 4, as a migrated catalogue's
    assert Product("M1", "P1.zip", id=given).id == given


def test_an_id_that_would_not_sort_after_the_last_one_is_the_last_one_plus_one(monkeypatch):
    from proseo_odata.model import ids

    first = new_id()
    monkeypatch.setattr(ids.time, "time_ns", lambda: 0)  # the clock set back to 1970
    second, third = new_id(), new_id()
    assert first < second < third and second.int == first.int + 1 and third.int == first.int + 2
    assert second.version == 7 and second.variant == uuid.RFC_4122
    # a random part of all ones carries into the sub-millisecond field, not into the variant
    monkeypatch.setattr(ids, "_last", (first.int | ((1 << 62) - 1)))
    carried = new_id()
    assert carried.version == 7 and carried.variant == uuid.RFC_4122
    assert carried > uuid.UUID(int=first.int | ((1 << 62) - 1))
    assert carried.int & ((1 << 62) - 1) == 0


def test_a_forked_child_does_not_repeat_its_parents_random_parts():
    """The random bytes read ahead (``ids._random``) are forgotten in a forked child: a parser
    process of a bulk ingest makes Ids too, and they must not be its parent's next ones."""
    import os
    import select
    import warnings

    new_id()  # the parent holds random bytes read ahead
    reader, writer = os.pipe()
    with warnings.catch_warnings():  # (Python 3.12+ warns of a fork with threads running)
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: its next Ids' random parts, to the parent
        try:
            os.write(writer, b"".join((new_id().int & ((1 << 62) - 1)).to_bytes(8, "big") for _ in range(8)))
        finally:
            os._exit(0)
    os.close(writer)
    data = b""
    while len(data) < 64 and select.select([reader], [], [], 10)[0]:  # bounded: a stuck child fails
        chunk = os.read(reader, 64 - len(data))
        if not chunk:
            break
        data += chunk
    os.close(reader)
    if len(data) < 64:
        os.kill(pid, 9)
    os.waitpid(pid, 0)
    child = {int.from_bytes(data[i:i + 8], "big") for i in range(0, len(data), 8)}
    parent = {new_id().int & ((1 << 62) - 1) for _ in range(8)}
    assert len(child) == 8 and not child & parent
