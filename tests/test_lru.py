"""``proseo_odata.lru.ExpiringLRU``: expiry per entry, least recently used out first, and
``on_remove`` told of every entry that leaves, however it leaves."""
import pytest

from proseo_odata.lru import ExpiringLRU


def test_expiry_bound_and_every_removal_reported():
    now = [0.0]
    removed = []
    lru = ExpiringLRU(2, clock=lambda: now[0], on_remove=removed.append)
    lru.put("a", 1, expires=10)
    lru.put("b", 2, expires=5)
    assert lru.get("a") == 1  # "a" is now the most recently used
    lru.put("c", 3, expires=10)  # over the bound: "b" leaves
    assert removed == ["b"] and lru.get("b") is None and len(lru) == 2
    now[0] = 10  # "a" and "c" expire at 10: an expired entry is removed when asked for
    assert lru.get("a") is None and removed == ["b", "a"]
    lru.pop("c")
    lru.pop("missing")
    lru.put("d", None, expires=20)
    lru.clear()
    assert removed == ["b", "a", "c", "d"] and len(lru) == 0


def test_size_zero_keeps_nothing_and_a_negative_size_is_refused():
    lru = ExpiringLRU(0)
    lru.put("a", 1, expires=float("inf"))
    assert lru.get("a") is None and len(lru) == 0
    with pytest.raises(ValueError):
        ExpiringLRU(-1)
