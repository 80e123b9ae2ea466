"""python-odata (PyPI ``python-odata``, a generic OData V4 client that reflects ``$metadata``
into entity classes) against a PRIP, used as its README shows: ``ODataService(root, auth=...,
reflect_entities=True)``, ``service.entities['Products']``, queries built from the reflected
properties. docs/prip.md ("Tested clients") has the same lines.

What the library cannot express is given the way it allows: a property path into a complex
property (``ContentDate/Start``: complex types are not reflected) as a property object of its
own (``DatetimeProperty('ContentDate/Start')``), and the attribute lambda and
``OData.CSC.Intersects`` as filter strings (``Query.filter`` joins what it is given with
``and``). It has no media support: the download takes the product's URL from the library
(``entity.__odata__.instance_url``) and adds ``/$value``.

Run in the clients' venv (tests/clients/requirements.txt):
    python python_odata_prip.py <server base URL> <download dir> <WKT polygon> <start> <end> <page> <product Id>
with PRIP_USERNAME and PRIP_PASSWORD set. Prints one JSON line (the last): every request and its
status, and what each query returned.
"""
import datetime
import hashlib
import json
import os
import sys
from pathlib import Path
from urllib.parse import unquote

import requests
from requests.auth import HTTPBasicAuth

from odata import ODataError, ODataService
from odata.property import DatetimeProperty, StringProperty

# --- the snippet of docs/prip.md: python-odata on a PRIP (tests/clients/test_clients.py checks
# that docs/prip.md has these lines) -------------------------------------------------------------
def prip_service(root, username, password, session=None):
    return ODataService(root, auth=HTTPBasicAuth(username, password), session=session,
                        reflect_entities=True, quiet_progress=True)

# complex properties (ContentDate, Collection) are not reflected: their members as properties
ContentDateStart = DatetimeProperty("ContentDate/Start")
CollectionName = StringProperty("Collection/Name")

def product_type_is(value):  # an attribute lambda, as a filter string
    return (f"Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' "
            f"and att/OData.CSC.StringAttribute/Value eq '{value}')")

def intersects(wkt):
    return f"OData.CSC.Intersects(area=geography'SRID=4326;{wkt}')"
# ----------------------------------------------------------------------------------------------


def _utc(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(datetime.timezone.utc)


def main(base_url, download_dir, wkt, start, end, page, product_id):
    page = int(page)
    sent = []  # (decoded URL, status) of every request the library makes
    session = requests.Session()
    session.hooks["response"].append(lambda r, *args, **kwargs: sent.append((unquote(r.url), r.status_code)))
    root = base_url + "/proseo/prip/odata/v1/"
    service = prip_service(root, os.environ["PRIP_USERNAME"], os.environ["PRIP_PASSWORD"], session)
    Product = service.entities["Products"]

    matching = (service.query(Product)
                .filter(CollectionName == "SENTINEL-2")
                .filter(ContentDateStart >= _utc(start))
                .filter(ContentDateStart < _utc(end))
                .filter(product_type_is("S2MSI1C"))
                .filter(intersects(wkt)))
    search = matching.order_by(ContentDateStart.asc())
    count = search.count()  # GET Products/$count?$filter=...
    # the library sends every option of the query to /$count, $top and $skip too
    count_of_a_page = search.limit(page).offset(page).count()
    everything = search.all()  # no $top: the library follows @odata.nextLink
    pages = []  # $top/$skip pages, as the library pages (it does not follow nextLink with $top)
    while True:
        rows = search.limit(page).offset(page * len(pages)).all()
        pages.append([p.Name for p in rows])
        if len(rows) < page:
            break
    latest = matching.order_by(ContentDateStart.desc()).limit(page).all()  # order_by adds to the order

    by_key = service.query(Product).get(product_id)  # $filter=Id eq <guid>
    selected = service.query(Product).select(Product.Id, Product.Name).filter(Product.Name == by_key.Name).all()
    sentinel1 = service.query(Product).filter(Product.Name.startswith("S1")).order_by(Product.Name.asc())
    with_attributes = service.query(Product).filter(Product.Id == product_id).expand(Product.Attributes).first()
    raw = service.query(Product).raw({"$filter": f"Id eq {product_id}", "$expand": "Attributes"})

    # no media support in the library: the entity's URL, /$value, the same credentials
    url = by_key.__odata__.instance_url + "/$value"
    answer = session.get(url, auth=service.default_context.connection.auth)
    answer.raise_for_status()
    path = Path(download_dir) / by_key.Name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(answer.content)

    try:
        # a collection-valued navigation property outside any/all: what the library builds for it
        service.query(Product).filter(Product.Attributes.Name == "productType").all()
        error = None
    except ODataError as exc:
        error = {"status": exc.status_code, "code": exc.code, "message": exc.message}

    print(json.dumps({
        "entity_sets": sorted(service.entities),
        "properties": {name: type(getattr(Product, name)).__name__
                       for name in ("Id", "Name", "ContentLength", "PublicationDate", "Online", "ContentDate")},
        "key": [p.name for _, p in by_key.__odata__.primary_key_properties],
        "count": count,
        "count_of_a_page": count_of_a_page,
        "all": [p.Name for p in everything],
        "all_ids": [p.Id for p in everything],
        "pages": pages,
        "first": search.first().Name,
        "latest": [p.Name for p in latest],
        "by_key": {
            "Id": by_key.Id, "Name": by_key.Name, "ContentLength": by_key.ContentLength,
            "PublicationDate": by_key.PublicationDate.isoformat(),
            "ContentDate": by_key.ContentDate, "Online": by_key.Online,
            "md5": next(c["Value"] for c in by_key.Checksums if c["Algorithm"] == "MD5"),
            "url": by_key.__odata__.instance_url,
        },
        "selected": selected,
        "sentinel1": {"count": sentinel1.count(), "names": [p.Name for p in sentinel1]},
        "attribute_names": sorted(a.Name for a in with_attributes.Attributes),
        "attribute_values": {a["Name"]: a["Value"] for a in raw[0]["Attributes"]},
        "downloaded": {"file": path.name, "md5": hashlib.md5(answer.content).hexdigest(),
                       "type": answer.headers.get("Content-Type")},
        "error": error,
        "requests": [{"url": u, "status": s} for u, s in sent],
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
