"""A generic OData V4 client, the npm package ``@odata/client`` (pinned in
``tests/data/odata-client/package-lock.json``), used against a live PRIP the way its README shows
(``OData.New4({serviceEndpoint, credential})``, the filter builder, ``SystemQueryOptions``, the
entity-set API): a filtered, ordered search with ``$count``, every page of it through the
``$skip`` the library builds (it does not follow ``@odata.nextLink``), one product by its Edm.Guid
key (``Products(<id>)`` and ``Products(Id=<id>)``) and ``$select``. The script is
tests/data/odata-client/prip_queries.js; every request it sends must be answered 200.

The package is installed with ``npm ci`` into ``.node/odata-client/`` (gitignored) once, and
again only when the lock file changes (tests/node_packages.py). Without Node.js or the npm
registry the test FAILS with a message saying so; it never skips.
"""
from __future__ import annotations

import json
import os
import subprocess
from urllib.parse import unquote

import pytest

from client_support import END, ODATA_CLIENT_SOURCE, ODATA_CLIENT_VERSION, PRIP, ROOT, START, USER, catalogue_entries

pytestmark = pytest.mark.slow

#: The client's page ($top): not a divisor of the number of January products.
PAGE = 5


def _january() -> list[str]:
    """Names of the catalogue's products whose ContentDate/Start is in January, by that date."""
    starts = [(m["ContentDate"]["Start"], m["Name"]) for m, _ in catalogue_entries()]
    return [name for start, name in sorted(starts) if START <= start < END]


def _run(target, endpoint: str, product_id: str, name: str) -> dict:
    mission, user, password = USER
    env = dict(os.environ, PRIP_USERNAME=f"{mission}\\{user}", PRIP_PASSWORD=password)
    result = subprocess.run(["node", str(target / "prip_queries.js"), endpoint, START, END, str(PAGE), product_id, name],
                            capture_output=True, text=True, timeout=120, cwd=target, env=env)
    if result.returncode != 0:
        pytest.fail(f"prip_queries.js exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n"
                    f"{result.stderr[-6000:]}", pytrace=False)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_odata_client_searches_pages_and_reads_products(odata_client, prip_server, client_catalogue):
    january = _january()
    assert len(january) > 2 * PAGE and len(january) % PAGE  # the premise of the paging checks
    assert set(january) <= set(client_catalogue.products)
    name = january[1]
    product_id = client_catalogue.products[name]["Id"]

    report = _run(odata_client, f"{prip_server}{PRIP}/", product_id, name)
    sent = [unquote(r["url"]) for r in report["requests"]]
    assert [r["status"] for r in report["requests"]] == [200] * len(sent), report["requests"]

    # 1. filter from the builder, $orderby, $top, $count=true
    assert sent[0] == (f"{prip_server}{PRIP}/Products?$filter=(ContentDate/Start ge {START} and "
                       f"ContentDate/Start lt {END})&$orderby=ContentDate/Start asc&$top={PAGE}&$count=true")
    assert report["first"]["count"] == report["count"] == len(january)
    assert report["first"]["names"] == january[:PAGE]
    assert report["first"]["nextLink"]  # there, but the library does not follow it
    # 2. every page through the library's $skip: no duplicates, nothing missing, in order
    assert [len(p) for p in report["pages"]] == [PAGE, PAGE, len(january) - 2 * PAGE]
    assert [n for p in report["pages"] for n in p] == january
    assert [s.split("&$skip=")[1].split("&")[0] for s in sent if "&$skip=" in s] == [str(PAGE), str(2 * PAGE)]
    # 3. by key, both forms; the context URL is the entity's
    assert f"{prip_server}{PRIP}/Products({product_id})" in sent
    assert f"{prip_server}{PRIP}/Products(Id={product_id})" in sent
    first, second = report["retrieved"]
    assert first == second
    assert (first["Id"], first["Name"]) == (product_id, name)
    assert isinstance(first["ContentLength"], int) and first["ContentLength"] >= 1536
    assert first["context"].endswith("$metadata#Products/$entity")
    # 4. $select: only the selected properties
    assert report["selected"] == [{"Id": product_id, "Name": name, "ContentLength": first["ContentLength"]}]
    assert f"{prip_server}{PRIP}/Products?$filter=Name eq '{name}'&$select=Id,Name,ContentLength" in sent
    assert f"{prip_server}{PRIP}/Products({product_id})?$select=Name,Id" in sent
    one = report["selected_one"]
    assert {k: v for k, v in one.items() if not k.startswith("@")} == {"Name": name, "Id": product_id}
    assert one["@odata.context"].endswith("$metadata#Products(Name,Id)/$entity")


def test_docs_name_the_pinned_version():
    pinned = json.loads((ODATA_CLIENT_SOURCE / "package.json").read_text(encoding="utf-8"))["dependencies"]["@odata/client"]
    lock = json.loads((ODATA_CLIENT_SOURCE / "package-lock.json").read_text(encoding="utf-8"))
    assert pinned == lock["packages"]["node_modules/@odata/client"]["version"] == ODATA_CLIENT_VERSION
    docs = (ROOT / "docs" / "prip.md").read_text(encoding="utf-8")
    assert f"| {ODATA_CLIENT_VERSION} |" in docs and "tests/data/odata-client/prip_queries.js" in docs
