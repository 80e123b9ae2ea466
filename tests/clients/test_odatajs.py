"""Apache Olingo's OData client for JavaScript, the npm package ``odatajs`` (pinned in
``tests/data/odatajs/package-lock.json``, with the XML parser it requires in Node.js), against a
live PRIP: the library's metadata handler reads ``$metadata``; its JSON handler reads a page by
the ``odata.metadata`` parameter of the answer's ``Content-Type`` (minimal: it computes what it
needs from the model; full: it takes the payload's control information; none: the data as it
is); the links of a full-metadata page (each product's ``@odata.id``, its media read link, its
navigation links, an attribute's own ``@odata.id``) are followed, resolved by the script against
the context URL as OData JSON 4.3 says (the library hands a full payload's links over as they are); ``IEEE754Compatible=true`` gives
the Edm.Int64 values as strings; one product's individual properties (``Products(<Id>)/ContentLength``),
typed by the library from ``$metadata`` through their context URL, and their raw values
(``.../$value``, its text handler). The script is tests/data/odatajs/prip_formats.js.

Installed with ``npm ci`` into ``.node/odatajs/`` (gitignored) once, and again only when the lock
file changes (tests/node_packages.py). Without Node.js or the npm registry the test FAILS with a
message saying so; it never skips.
"""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from client_support import PRIP, USER
from node_packages import NODE_ROOT, REPO, node_package_or_fail

pytestmark = pytest.mark.slow

PACKAGE = REPO / "tests" / "data" / "odatajs"
TARGET = NODE_ROOT / "odatajs"
PINNED = "4.0.0"
FILES = ("package.json", "package-lock.json", "prip_formats.js")


@pytest.fixture(scope="session")
def odatajs():
    return node_package_or_fail(PACKAGE, TARGET, "odatajs", PINNED, FILES,
                                purpose="run Apache Olingo's OData client for JavaScript against a PRIP")


def _run(target, root: str) -> dict:
    mission, user, password = USER
    env = dict(os.environ, PRIP_USERNAME=f"{mission}\\{user}", PRIP_PASSWORD=password)
    result = subprocess.run(["node", str(target / "prip_formats.js"), root], capture_output=True, text=True,
                            timeout=120, cwd=target, env=env)
    if result.returncode != 0:
        pytest.fail(f"prip_formats.js exited {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n"
                    f"{result.stderr[-6000:]}", pytrace=False)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_odatajs_reads_every_metadata_level_and_follows_the_links(odatajs, prip_server, client_catalogue):
    report = _run(odatajs, f"{prip_server}{PRIP}/")
    assert {"Product", "IntegerAttribute", "Subscription"} <= set(report["entityTypes"])

    minimal, full, none = report["minimal"], report["full"], report["none"]
    assert minimal["contentType"] == "application/json;odata.metadata=minimal"
    assert full["contentType"] == "application/json;odata.metadata=full"
    assert none["contentType"] == "application/json;odata.metadata=none"
    # one page, three ways: the same products and count
    names = [p["Name"] for p in minimal["products"]]
    assert len(names) == 3 and names == sorted(names) and set(names) <= set(client_catalogue.products)
    assert [p["Name"] for p in full["products"]] == names == none["products"]
    assert full["count"] == minimal["count"] == len(client_catalogue.products)
    assert full["nextLink"]

    for product, plain in zip(full["products"], minimal["products"]):
        assert product["Id"] == plain["Id"] == client_catalogue.products[product["Name"]]["Id"]
        assert product["ContentLength"] == plain["ContentLength"] > 0
        assert product["type"] == "#OData.CSC.Product"
        # the types the service sends are the library's; it adds its guess where none is sent
        assert product["propertyTypes"] == {"ContentLength": "#Int64", "PublicationDate": "#DateTimeOffset",
                                            "Name": "#String"}
        assert product["id"] == f"Products({product['Id']})"
        # every link of the payload, as the library resolves it, answers what it names
        assert product["atId"] == {"status": 200, "Id": product["Id"]}
        media = product["media"]
        assert media["status"] == 200 and media["contentType"] == media["mediaContentType"] == "application/zip"
        assert set(product["links"]) == {"Attributes", "Assets"}
        attributes = product["followed"]["Attributes"]
        assert attributes["status"] == 200 and attributes["count"] > 0
        assert all(t.startswith("#OData.CSC.") and t.endswith("Attribute") for t in attributes["types"])
        first = attributes["first"]
        assert first["status"] == 200 and first["Name"] == first["expected"]
        assert first["id"] == f"Products({product['Id']})/Attributes('{first['Name']}')"
        # the product's quicklook (client_support.QUICKLOOK), its @odata.id answered too
        assets = product["followed"]["Assets"]
        assert (assets["status"], assets["count"], assets["types"]) == (200, 1, ["#OData.CSC.Asset"])
        assert assets["first"]["status"] == 200
        assert assets["first"]["id"].startswith(f"Products({product['Id']})/Assets(")

    # none: no control information but the count and the next link
    assert none["names"] == ["@odata.count", "value", "@odata.nextLink"]
    assert not any(name.startswith("@") for name in none["productNames"]) and "Id" in none["productNames"]

    # IEEE754Compatible=true: the Edm.Int64 values as strings, the count too
    numbers = report["ieee754"]
    assert numbers["contentType"] == "application/json;odata.metadata=minimal;IEEE754Compatible=true"
    assert numbers["count"] == str(minimal["count"])
    assert numbers["lengths"] == [str(p["ContentLength"]) for p in minimal["products"]]

    # one product's individual properties: with minimal metadata the library finds each value's
    # type in $metadata through the context URL (Products(<Id>)/<Property>), as it does for a page
    first = minimal["products"][0]
    properties = report["properties"]
    assert properties["Id"] == first["Id"]
    values = properties["values"]
    assert all(value["status"] == 200 for value in values.values() if "status" in value)
    expected_types = {"Name": "#String", "ContentLength": "#Int64", "PublicationDate": "#DateTimeOffset",
                      "GeoFootprint": "#Geography"}
    for name, type_name in expected_types.items():
        answer = values[name]["minimal"]
        assert answer["@odata.context"].endswith(f"#Products({first['Id']})/{name}")
        assert answer["value@odata.type"] == type_name, (name, answer)
    assert values["Name"]["minimal"]["value"] == first["Name"]
    assert values["ContentLength"]["minimal"]["value"] == first["ContentLength"]
    content_date = values["ContentDate"]["minimal"]
    assert content_date["@odata.type"] == "#OData.CSC.TimeRange" and content_date["Start@odata.type"] == "#DateTimeOffset"
    assert content_date["Start"] <= content_date["End"]
    checksums = values["Checksum"]["minimal"]
    assert checksums["@odata.type"] == "#Collection(OData.CSC.Checksum)"
    assert {c["Algorithm"] for c in checksums["value"]} >= {"MD5"}
    assert all(c["@odata.type"] == "#OData.CSC.Checksum" for c in checksums["value"])
    # full metadata: the types the service sends, passed through
    assert values["ContentLength"]["full"]["@odata.type"] == "#Int64"
    assert values["GeoFootprint"]["full"]["@odata.type"] == "#GeographyPolygon"
    geography = values["GeoFootprint"]["full"]["value"]  # (the library annotates GeoJSON's own "type" here)
    assert geography["coordinates"] == values["GeoFootprint"]["minimal"]["value"]["coordinates"]
    # raw values, read by the library's text handler
    assert values["Name"]["raw"] == first["Name"]
    assert values["ContentLength"]["raw"] == str(first["ContentLength"])
    assert values["Online"]["raw"] in ("true", "false")
    assert values["PublicationDate"]["raw"] == values["PublicationDate"]["minimal"]["value"]
    # a complex property's member by its path: in full metadata with the service's type, in none
    # (odatajs 4.0.0's context parser stops after one property segment: minimal fails), and raw
    member = values["ContentDate/Start"]
    assert member["full"]["@odata.type"] == "#DateTimeOffset"
    assert member["full"]["value"] == content_date["Start"]
    assert member["full"]["@odata.context"].endswith(f"#Products({first['Id']})/ContentDate/Start")
    assert member["fullContentType"] == "application/json;odata.metadata=full"
    assert member["none"] == {"value": content_date["Start"]}
    assert member["noneContentType"] == "application/json;odata.metadata=none"
    assert values["ContentDate/Start"]["raw"] == content_date["Start"]
    assert all(value["rawContentType"] == "text/plain" for value in values.values() if "raw" in value)


    # a product's attributes listed by options nested in $expand, in full and no metadata; odatajs
    # 4.0.0 reads no expanded navigation in minimal metadata, with options or without (the same error)
    nested = report["nested"]
    assert len(nested["minimalErrors"]) == 2 and all("reading 'type'" in (e or "") for e in nested["minimalErrors"])
    for level in ("none", "full"):
        page = nested[level]
        if level == "full":
            assert page["context"].endswith("$metadata#Products(Name,Attributes(Name,Value))"), page
        assert [p["Name"] for p in page["products"]] == names[:2] == [p["Name"] for p in nested["plain"]]
        for product, plain in zip(page["products"], nested["plain"]):
            kept = sorted((a for a in plain["attributes"] if a["Name"] in ("cloudCover", "orbitNumber")),
                          key=lambda a: a["Name"], reverse=True)
            assert product["count"] == 2 and len(kept) == 2
            assert [(a["Name"], a["Value"]) for a in product["attributes"]] == [(a["Name"], a["Value"]) for a in kept]
            if level == "full":  # each attribute with its type, its id and the type of its value
                assert [a["type"] for a in product["attributes"]] == ["#OData.CSC.IntegerAttribute",
                                                                      "#OData.CSC.DoubleAttribute"]
                assert product["attributes"][0]["valueType"] == "#Int64"  # sent (the Double's is the library's guess)
                assert all("@odata.id" in a["keys"] for a in product["attributes"])
            else:  # none: no control information, the count kept
                assert all(set(a["keys"]) == {"Name", "Value"} for a in product["attributes"])
    # the same options on the navigation's own URL, read in minimal metadata
    listed = report["listed"]
    assert listed == {"count": 3, "names": ["relativeOrbitNumber", "orbitNumber", "cloudCover"],
                      "types": ["#OData.CSC.IntegerAttribute", "#OData.CSC.IntegerAttribute",
                                "#OData.CSC.DoubleAttribute"]}
