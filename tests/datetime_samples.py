"""Date-times that the writers of date-time text are checked on (the web layer's Python
formatters, the database's: ``tests/web/test_prip_page_serialiser.py``,
``tests/storage/test_product_json_sql.py``)."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone


def random_datetimes(count: int, seed: int):
    """``count`` instants of every year from 1 to 9999 (30 % of them in another zone)."""
    rng = random.Random(seed)
    low, high = datetime(1, 1, 2, tzinfo=timezone.utc), datetime(9999, 12, 30, tzinfo=timezone.utc)
    span = int((high - low).total_seconds())
    for _ in range(count):
        value = low + timedelta(seconds=rng.randrange(span), microseconds=rng.randrange(10**6))
        if rng.random() < 0.3:  # an aware value in another zone: the same instant
            value = value.astimezone(timezone(timedelta(minutes=rng.randrange(-1439, 1440))))
        yield value


def edge_datetimes():
    """The years 1, 999, 1000 and 9999, across the UTC day boundary from other zones."""
    plus_one, minus_five = timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))
    return [
        datetime(999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        datetime(999, 1, 1, tzinfo=timezone.utc),
        datetime(1000, 1, 1, tzinfo=timezone.utc),
        datetime(1000, 1, 1, 0, 30, tzinfo=plus_one),  # 0999-12-31T23:30Z
        datetime(999, 12, 31, 20, 0, 0, 1, tzinfo=minus_five),  # 1000-01-01T01:30:00.000001Z
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc),
        datetime(9999, 12, 31, 18, 29, 59, 999999, tzinfo=minus_five),  # 9999-12-31T23:59:59.999999Z
        datetime(1, 1, 1, tzinfo=timezone.utc),
        datetime(2024, 2, 29, 12, 0, 0, 999, tzinfo=timezone(timedelta(0))),
    ]
