"""A harvester copying the catalogue through HTTP the way docs/prip.md ("Harvesting by
PublicationDate") says, while products are published beside it: one whose file takes a second
to copy, and others published during that copy. It must end with every product. Before the
publication dates were taken in the storing transaction, the slow product was dated before the
copy, reached the catalogue after the others with an earlier date, and `PublicationDate ge W`
never found it."""
from __future__ import annotations

import threading
import time

import pytest
import requests
from live_server import serve_wsgi
from slow_archive import SlowArchive

from proseo_odata.ingest import ingest_file
from prip_helpers import PRIP, USERS, served_app

pytestmark = pytest.mark.slow


class Harvester:
    """docs/prip.md's loop: ``PublicationDate ge W`` in ascending order, every next link
    followed, the Ids already read at date W left out."""

    def __init__(self, http, root):
        self.http, self.root = http, root
        self.last, self.seen, self.copied = None, set(), {}

    def poll(self):
        url = self.root + "/Products"
        params = {"$orderby": "PublicationDate asc"}
        if self.last is not None:
            params["$filter"] = f"PublicationDate ge {self.last}"
        while url:  # short pages: many page boundaries
            response = self.http.get(url, params=params, headers={"Prefer": "odata.maxpagesize=2"}, timeout=30)
            assert response.status_code == 200, response.text
            body = response.json()
            for product in body["value"]:
                if product["Id"] not in self.seen:
                    self.copied[product["Id"]] = product["Name"]
                if product["PublicationDate"] != self.last:
                    self.last, self.seen = product["PublicationDate"], set()
                self.seen.add(product["Id"])
            url, params = body.get("@odata.nextLink"), None


def test_a_harvester_misses_no_product_published_while_it_harvests(app_settings, storage, catalogue, archive, tmp_path):
    mission, name, password, _roles = USERS["alice"]
    files = tmp_path / "in"
    files.mkdir()
    for i in range(7):
        (files / f"H_{i}.dat").write_bytes(b"h" * (100 + i))
    with served_app(app_settings) as app, serve_wsgi(app.app) as url, requests.Session() as http:
        http.auth = (f"{mission}\\{name}", password)
        harvester = Harvester(http, url + PRIP)
        harvester.poll()
        before = set(harvester.copied.values())
        assert before  # the catalogue's public products
        copying = threading.Event()
        errors = []

        def slow_publisher():
            try:
                slow = SlowArchive(archive, 1.0)
                copying.set()
                ingest_file(storage, slow, mission, files / "H_0.dat")
            except Exception as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        def fast_publisher():
            try:
                assert copying.wait(10)
                time.sleep(0.2)  # the slow one has read its metadata and copies its file
                for i in range(1, 7):
                    ingest_file(storage, archive, mission, files / f"H_{i}.dat")
                    time.sleep(0.05)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        publishers = [threading.Thread(target=slow_publisher), threading.Thread(target=fast_publisher)]
        for thread in publishers:
            thread.start()
        while any(thread.is_alive() for thread in publishers):
            harvester.poll()
            time.sleep(0.05)
        for thread in publishers:
            thread.join()
        assert not errors, errors
        harvester.poll()
        assert set(harvester.copied.values()) - before == {f"H_{i}.dat" for i in range(7)}
