"""python-odata (PyPI, a generic OData V4 client for Python, not written for Copernicus), pinned
in tests/clients/requirements.txt, run unmodified in the clients' venv against a live PRIP: it
reflects ``$metadata`` into entity classes, then the search every client test makes (collection,
sensing dates, product type, bounding box) ordered by ``ContentDate/Start``: ``Products/$count``
with the filter, every product through ``@odata.nextLink`` (the library follows it when no
``$top`` is given; the server's page is 5), every ``$top``/``$skip`` page the library builds,
the reverse order, one product by its key, ``$select``, ``$expand=Attributes``, a download of
``$value`` and an error answer the library reads. The script is tests/clients/python_odata_prip.py.
"""
from __future__ import annotations

import pytest

from client_support import BBOX_WKT, END, MATCHING, PAGE, PRIP, START, USER, run_client

pytestmark = pytest.mark.slow

#: the server's page when a client gives no $top (client_support.build_catalogue's settings)
SERVER_PAGE = 5


def _run(clients_python, server, tmp_path, product_id):
    mission, name, password = USER
    return run_client(
        clients_python, "python_odata_prip.py", server, str(tmp_path / "downloads"), BBOX_WKT, START, END, str(PAGE), product_id,
        env={"PRIP_USERNAME": f"{mission}\\{name}", "PRIP_PASSWORD": password, "HOME": str(tmp_path)},
    )


@pytest.mark.parametrize("server", ["prip_server", "strict_prip_server"])
def test_python_odata_reflects_searches_pages_and_downloads(request, server, clients_python, client_catalogue, tmp_path):
    # the same answers under both proseo.paging modes: the library follows @odata.nextLink only
    # when it sent no $top, and then both modes link every page but the last
    prip_server = request.getfixturevalue(server)
    matching = client_catalogue.matching()
    # the catalogue's names carry ContentDate/Start: the order the search asks for
    expected = sorted(matching, key=lambda name: name.split("_")[2])
    assert len(expected) == MATCHING > SERVER_PAGE and MATCHING % PAGE  # the premise of the paging checks
    chosen = expected[1]
    report = _run(clients_python, prip_server, tmp_path, matching[chosen]["Id"])
    root = f"{prip_server}{PRIP}/"
    sent = [r["url"] for r in report["requests"]]

    # every request answered 200 but the one made to fail
    assert [(r["url"], r["status"]) for r in report["requests"] if r["status"] != 200] == [
        (f"{root}Products?$filter=(Attributes/Name eq 'productType')", 400)]
    # reflection: the entity sets, the key, the types of the properties
    assert sent[0] == f"{root}$metadata"
    assert report["entity_sets"] == ["Products", "Subscriptions"]
    assert report["key"] == ["Id"]
    assert report["properties"] == {"Id": "UUIDProperty", "Name": "StringProperty", "ContentLength": "IntegerProperty",
                                    "PublicationDate": "DatetimeProperty", "Online": "BooleanProperty",
                                    "ContentDate": "StringProperty"}  # a complex type: not reflected

    # Products/$count with the filter (and the order, which it ignores)
    counts = [u for u in sent if u.startswith(f"{root}Products/$count?")]
    assert counts and "ContentDate/Start ge 2024-01-01T00:00:00+00:00" in counts[0]
    assert report["count"] == MATCHING
    # the count of a $top/$skip query: the library sends them too; they do not change it
    assert any(f"$top={PAGE}&$skip={PAGE}&" in u for u in counts)
    assert report["count_of_a_page"] == MATCHING
    # without $top: the server's pages, through @odata.nextLink, in order, each product once
    assert report["all"] == expected
    assert report["all_ids"] == [matching[n]["Id"] for n in expected]
    followed = [u for u in sent if "$skiptoken=" in u]
    assert len(followed) == -(-MATCHING // SERVER_PAGE) - 1 >= 1
    # the library's own paging: $top/$skip, stopped by a short page
    assert [len(p) for p in report["pages"]] == [PAGE, PAGE, MATCHING - 2 * PAGE]
    assert [n for p in report["pages"] for n in p] == expected
    assert [u.split("$skip=")[1].split("&")[0] for u in sent
            if u.startswith(f"{root}Products?$top={PAGE}&$skip=")] == ["0", "3", "6"]
    assert report["first"] == expected[0]
    assert report["latest"] == expected[::-1][:PAGE]

    # by key ($filter=Id eq <guid>: the library's get), the entity's URL, its values
    product = report["by_key"]
    assert f"{root}Products?$filter=(Id eq {matching[chosen]['Id']})" in sent
    assert (product["Id"], product["Name"]) == (matching[chosen]["Id"], chosen)
    assert product["url"] == f"{root}Products({matching[chosen]['Id']})"
    assert isinstance(product["ContentLength"], int) and product["ContentLength"] >= 1536
    assert product["PublicationDate"] == "2024-03-01T12:00:00+00:00"
    assert product["ContentDate"]["Start"][:19].replace("-", "").replace(":", "") == chosen.split("_")[2]
    assert product["Online"] is True and product["md5"] == matching[chosen]["md5"]
    # $select: the selected properties only (the library returns them as they came)
    assert [{k: v for k, v in row.items() if not k.startswith("@")} for row in report["selected"]] == [
        {"Id": matching[chosen]["Id"], "Name": chosen}]
    # a filter of the reflected Name property: the one Sentinel-1 product
    sentinel1 = [n for n in client_catalogue.products if n.startswith("S1")]
    assert report["sentinel1"] == {"count": len(sentinel1), "names": sentinel1} and sentinel1
    # $expand=Attributes: the abstract Attribute's properties through the library, values raw
    names = ["cloudCover", "orbitNumber", "platformSerialIdentifier", "platformShortName", "productType",
             "relativeOrbitNumber"]
    assert report["attribute_names"] == names
    assert report["attribute_values"]["productType"] == "S2MSI1C"
    assert report["attribute_values"]["platformShortName"] == "SENTINEL-2"
    # $value of the library's entity URL: the catalogue's file
    assert report["downloaded"] == {"file": chosen, "md5": matching[chosen]["md5"], "type": "application/zip"}
    # an OData error body, as the library reads it
    assert report["error"]["status"] == "HTTP 400" and report["error"]["code"] == "E7721"
    assert "any/all" in report["error"]["message"]
