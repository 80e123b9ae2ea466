"""phidown (ESA Phi-lab's CDSE search and download tool) against a PRIP, as a user can run it:
its searches take the catalogue's URL as ``query_by_filter(base_url=...)`` (the later
``query_by_name`` and ``search_products_by_name_pattern`` reuse the searcher's ``base_url``);
it sends no credentials of its own, so requests adds the ~/.netrc (or $NETRC) login of the
host as Basic credentials. Only the search is used: phidown downloads through CDSE's S3
(s5cmd and ``S3Path``), which PRIP does not serve. The same lines are in docs/prip.md
("Tested clients").

Run in the clients' venv (tests/clients/requirements.txt):
    python phidown_prip.py <server base URL> <WKT polygon> <start> <end> <top>
Prints one JSON line: what every search read (names, ids, counts, the coverage phidown computes
from GeoFootprint, the status of the name look-ups, which answer an error with an empty table).
"""
import json
import sys
from datetime import datetime

from phidown.search import CopernicusDataSearcher


def _names(df):
    return [] if df.empty else list(df["Name"])


def main(server, wkt, start, end, top):
    top = int(top)
    products = server + "/proseo/prip/odata/v1/Products"  # your server: https://<host>/proseo/prip/odata/v1/Products
    criteria = dict(base_url=products, collection_name="SENTINEL-2", product_type="S2MSI1C", aoi_wkt=wkt,
                    start_date=start, end_date=end)

    # count=True: phidown reads @odata.count and fetches the other pages itself, with $skip
    searcher = CopernicusDataSearcher()
    searcher.query_by_filter(**criteria, top=top, count=True, order_by="ContentDate/Start asc")
    df = searcher.execute_query()
    search = {
        "count": searcher.num_results,
        "first_page": len(searcher.json_data["value"]),
        "names": _names(df),
        "ids": list(df["Id"]),
        "coverage": list(df["coverage"]),
        "product_types": [next(a["Value"] for a in attrs if a["Name"] == "productType") for attrs in df["Attributes"]],
    }

    # manual paging with skip= (phidown's other way), its default order (ContentDate/Start desc),
    # the dates as Python writes aware datetimes: "+00:00", which phidown sends unencoded
    aware = {"start_date": datetime.fromisoformat(start.replace("Z", "+00:00")).isoformat(),
             "end_date": datetime.fromisoformat(end.replace("Z", "+00:00")).isoformat()}
    pages = []
    while True:
        paged = CopernicusDataSearcher()
        paged.query_by_filter(**{**criteria, **aware}, top=top, skip=top * len(pages))
        page = _names(paged.execute_query())
        if not page:
            break
        pages.append(page)
        if len(page) < top:
            break

    # attribute filters: cloud_cover_threshold (a Double lambda, lt), attributes of each type
    cloudless = CopernicusDataSearcher()
    cloudless.query_by_filter(**criteria, cloud_cover_threshold=12.5, attributes={"platformSerialIdentifier": "A"})
    typed = CopernicusDataSearcher()
    typed.query_by_filter(**criteria, attributes={"orbitNumber": 40004, "cloudCover": 20.0})
    # a float Python writes with an exponent: "Value eq 1e+20" in the URL, the + unencoded
    huge = CopernicusDataSearcher()
    huge.query_by_filter(**criteria, attributes={"cloudCover": 1e20})
    huge_names = _names(huge.execute_query())

    # look-ups by name, on the URL of the last query_by_filter
    first = search["names"][0]
    by_name = searcher.query_by_name(first)
    by_name_status = searcher.response.status_code
    pattern = searcher.search_products_by_name_pattern("_R00", "contains", top=100)
    pattern_status = searcher.response.status_code

    print(json.dumps({
        "search": search,
        "pages": pages,
        "cloudless": _names(cloudless.execute_query()),
        "typed": _names(typed.execute_query()),
        "huge": {"status": huge.response.status_code, "names": huge_names},
        "by_name": {"status": by_name_status, "names": _names(by_name),
                    "ids": [] if by_name.empty else list(by_name["Id"])},
        "pattern": {"status": pattern_status, "names": _names(pattern)},
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
