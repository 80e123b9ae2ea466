"""Deep ``$skip`` through HTTP with and without the ``$skip`` memo (issue 12 item 3).

Run (from the repository root)::

    .venv/bin/python -m bench.skip_memo --products 100000

A SQLite catalogue of N products (``add_products``), the PRIP application in process (webtest,
a bearer-less Basic login of a ``PRODUCT_READER_ALL`` user), ``$orderby=PublicationDate desc``
(``--orderby``) and ``$top=20``. Times (median of ``--rounds``): page 1; the last page by ``$skip`` alone (an
OFFSET, memo off); the same page as eodag reaches it (the request for the page before it was
answered, so the memo holds the position).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from urllib.parse import urlencode

import webtest

from proseo_odata.model import Mission, Role, User, hash_password
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata.storage.testing import T0, make_product

PRIP = "/proseo/prip/odata/v1"


def _app(url, folder, ttl):
    from proseo_odata_web import main

    return webtest.TestApp(main({}, **{
        "proseo.storage.url": url, "proseo.archive.backend": "local", "proseo.archive.path": folder,
        "proseo.default_mission": "M1", "proseo.workers": "0", "proseo.page_size.max": "1000",
        "proseo.storage.skip_memo.ttl": str(ttl),
    }))


def _median(call, rounds):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.skip_memo")
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--orderby", default="PublicationDate desc")
    args = parser.parse_args(argv)
    folder = tempfile.mkdtemp(prefix="skip-memo-")
    url = f"sqlite:///{folder}/bench.sqlite"
    storage = SQLAlchemyStorage.from_url(url)
    storage.initialize_schema()
    storage.add_mission(Mission("M1"))
    storage.add_user(User("M1", "bench", hash_password("bench-password"), frozenset({Role.PRIP_USER, Role.PRODUCT_READER_ALL})))
    for start in range(0, args.products, 5000):
        storage.add_products([make_product(name=f"P_{i:07d}.zip", publication_date=T0 + timedelta(seconds=i),
                                           attributes=[]) for i in range(start, min(start + 5000, args.products))])
    storage.close()
    import base64
    headers = {"Authorization": "Basic " + base64.b64encode(b"M1\\bench:bench-password").decode()}
    query = {"$orderby": args.orderby, "$top": str(args.top)}
    last = args.products - args.top

    def page(app, skip):
        return lambda: app.get(PRIP + "/Products?" + urlencode({**query, "$skip": str(skip)}), headers=headers)

    memo_app, offset_app = _app(url, folder, 300), _app(url, folder, 0)
    for _ in range(5):  # warm up (login cache, statement cache, SQLite page cache)
        page(memo_app, 0)()
        page(offset_app, 0)()
    first = _median(page(memo_app, 0), args.rounds)
    deep_offset = _median(page(offset_app, last), args.rounds)
    page(memo_app, last - args.top)()  # the page before: remembers where it ended
    deep_memo = _median(page(memo_app, last), args.rounds)
    hits = memo_app.app.registry.storage.skip_memo.hits
    first = min(first, _median(page(memo_app, 0), args.rounds))  # again, warm
    print(f"products={args.products} orderby={args.orderby!r} top={args.top} page {last // args.top + 1}: "
          f"page 1 {first:.1f} ms; $skip={last} OFFSET {deep_offset:.1f} ms; $skip={last} from the memo "
          f"{deep_memo:.1f} ms (memo hits {hits})")


if __name__ == "__main__":
    main()
