"""cdsodatacli (Ifremer/umr-lops' OData client for the Copernicus Data Space) against a PRIP, as a
user can run it: its configuration file (examples/clients/cdsodatacli-localconfig.yml, the
server's URL in place of the example's) points its token and download URLs at the PRIP; its
search URL is written by ``create_urls`` for CDSE's catalogue, so the user rewrites the prefix of
the URLs it returns and gives them to ``fetch_data_from_urls_sequential`` (the function
``fetch_data`` calls), with the bearer header from ``get_bearer_access_token``. The same lines are
in docs/prip.md ("Tested clients").

cdsodatacli downloads through CDSE's S3 only (boto3, the ``S3Path`` property); its
``URL_download`` setting only fills the ``urls`` column of ``filter_product_already_present``.
The script GETs that URL with the same bearer header, as a user without S3 would.

Run in the clients' venv (tests/clients/requirements.txt):
    python cdsodatacli_prip.py <server base URL> <config.yml> <download dir> <queries JSON> <top>
with PRIP_USERNAME and PRIP_PASSWORD set (it works in the folder beside <download dir>, where it
writes the configuration as cdsodatacli-localconfig.yml); <queries JSON> is a list of objects with the
GeoDataFrame's columns (id_query, geometry as WKT, start_datetime and end_datetime as ISO
dates, collection, producttype, sensormode). Prints one JSON line: the rows each fetch returned
(before cdsodatacli's de-duplication), the products after it, cdsodatacli's counters, and the
downloaded file's name and MD5.
"""
import datetime
import hashlib
import json
import logging
import os
import sys
from collections import defaultdict
from pathlib import Path

import geopandas as gpd
import pandas as pd
import requests
from shapely import wkt

from cdsodatacli.download import filter_product_already_present
from cdsodatacli.fetch_access_token import get_bearer_access_token
from cdsodatacli.query import (create_urls, fetch_data_from_urls_multithread, fetch_data_from_urls_sequential,
                               multy_to_poly, normalize_gdf, remove_duplicates)
from cdsodatacli.utils import get_conf

SERVER = sys.argv[1]  # your server: https://<host>
USERNAME, PASSWORD = os.environ["PRIP_USERNAME"], os.environ["PRIP_PASSWORD"]


def _rows(df):
    return [] if df is None or df.empty else [
        {"Name": n, "Id": i, "query": q} for n, i, q in zip(df["Name"], df["Id"], df["id_original_query"])]


def main(config_file, download_dir, queries, top):
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    top = int(top)
    download_dir = str(Path(download_dir).resolve())
    settings = Path(config_file).read_text(encoding="utf-8").replace("http://127.0.0.1:6543", SERVER)
    work = Path(download_dir).parent / "cdsodatacli"  # the configuration's ./my_spool and ./my_archive: empty
    work.mkdir(exist_ok=True)
    os.chdir(work)
    Path("cdsodatacli-localconfig.yml").write_text(settings, encoding="utf-8")
    rows = json.loads(queries)
    gdf = gpd.GeoDataFrame({
        "id_query": [r["id_query"] for r in rows],
        "geometry": [wkt.loads(r["geometry"]) for r in rows],
        "start_datetime": [datetime.datetime.fromisoformat(r["start_datetime"]) for r in rows],
        "end_datetime": [datetime.datetime.fromisoformat(r["end_datetime"]) for r in rows],
        "collection": [r["collection"] for r in rows],
        "producttype": [r["producttype"] for r in rows],
        "sensormode": [r["sensormode"] for r in rows],
    })

    # --- the snippet of docs/prip.md: a cdsodatacli search on PRIP ------------------------------
    CDSE = "https://catalogue.dataspace.copernicus.eu/odata/v1/Products"
    PRIP = SERVER + "/proseo/prip/odata/v1/Products"
    conf = get_conf("cdsodatacli-localconfig.yml")  # URL_identity and URL_download: the PRIP's
    token, _, _ = get_bearer_access_token(conf, specific_account=USERNAME, specific_psswd=PASSWORD)
    query = create_urls(normalize_gdf(gdf), top=top, headers={"Authorization": f"Bearer {token}"})
    query["urls"] = [(index, url.replace(CDSE, PRIP, 1)) for index, url in query["urls"]]
    found, counters = fetch_data_from_urls_sequential(query, cache_dir=None, top=top)
    products = multy_to_poly(remove_duplicates(found))
    # ----------------------------------------------------------------------------------------------

    # querymode="multi": the same URLs in threads
    found_multi, _ = fetch_data_from_urls_multithread(query, max_workers=2, top=top)

    # the product's download URL, as cdsodatacli builds it from URL_download, and its transfer
    first = products.sort_values("Name").iloc[0]
    wanted = pd.DataFrame({"safe": [first["Name"]], "id": [first["Id"]]})
    todo, _ = filter_product_already_present(defaultdict(int), wanted, download_dir, conf)  # <Name>.zip
    url, path = todo["urls"].iloc[0], Path(todo["outputpath"].iloc[0])
    answer = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    answer.raise_for_status()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(answer.content)

    print(json.dumps({
        "urls": [[index, url] for index, url in query["urls"]],
        "found": _rows(found),
        "found_multi": _rows(found_multi),
        "products": _rows(products),
        "geometries": sorted({g.geom_type for g in products.geometry}),
        "counters": {k: v for k, v in counters.items()},
        "downloaded": {"Id": first["Id"], "url": url, "file": path.name,
                       "md5": hashlib.md5(path.read_bytes()).hexdigest()},
    }, default=str))


if __name__ == "__main__":
    main(*sys.argv[2:])
