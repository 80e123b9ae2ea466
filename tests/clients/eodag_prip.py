"""eodag against a PRIP, as a user runs it: the provider file of examples/clients, the server's
URL in place of the example's, the credentials added to the provider's configuration.

Run in the clients' venv (tests/clients/requirements.txt):
    python eodag_prip.py <provider.yml> <server base URL> <download dir> <lonmin,latmin,lonmax,latmax> <start> <end> <page size>
with PRIP_USERNAME and PRIP_PASSWORD set. Prints one JSON line: the
count eodag read, the products of every page, the downloaded file's path and MD5, and the
MD5 of the product's quicklook as get_quicklook fetched it.
"""
import hashlib
import json
import os
import sys
from pathlib import Path

from eodag import EODataAccessGateway


def main(provider_file, base_url, download_dir, bbox, start, end, page_size):
    conf = Path(provider_file).read_text(encoding="utf-8").replace("http://127.0.0.1:6543", base_url)
    dag = EODataAccessGateway()
    dag.update_providers_config(conf)
    # eodag applies EODAG__<PROVIDER>__... variables only to the providers it knows at start-up,
    # so the credentials of a provider added at run time go into its configuration like this:
    credentials = {"username": os.environ["PRIP_USERNAME"], "password": os.environ["PRIP_PASSWORD"]}
    dag.update_providers_config(dict_conf={"proseo_prip": {"auth": {"credentials": credentials}}})
    dag.set_preferred_provider("proseo_prip")
    criteria = dict(
        collection="S2_MSI_L1C",
        geom=[float(v) for v in bbox.split(",")],
        start=start,
        end=end,
        provider="proseo_prip",
    )
    first = dag.search(limit=int(page_size), count=True, raise_errors=True, **criteria)
    first_page = [p.properties["id"] for p in first]
    # the next pages, as eodag pages: through @odata.nextLink
    pages = [[p.properties["id"] for p in page] for page in first.next_page(update=False)]
    everything = dag.search_all(limit=int(page_size), **criteria)
    # a collection the file does not list: PRIP's Collection/Name (GENERIC_COLLECTION)
    generic = dag.search(collection="SENTINEL-1", count=True, raise_errors=True, provider="proseo_prip")
    # the orbit criteria of the provider file (Integer attributes)
    relative = dag.search(count=True, raise_errors=True, **criteria, **{"sat:relative_orbit": 102})
    absolute = dag.search(count=True, raise_errors=True, **criteria, **{"sat:absolute_orbit": 40003})
    product = everything[0]
    path = Path(dag.download(product, output_dir=download_dir))
    if path.is_dir():  # eodag keeps a download in a folder named after the product
        (path,) = [p for p in path.rglob("*") if p.is_file()]
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    # the quicklook at its eodag:quicklook URL (the QUICKLOOK asset's DownloadLink), with the token
    quicklook = product.get_quicklook(output_dir=str(Path(download_dir) / "quicklooks"))
    print(json.dumps({
        "count": first.number_matched,
        "first_page": first_page,
        "pages": [first_page] + pages,
        "all": [p.properties["id"] for p in everything],
        "all_uids": [p.properties["uid"] for p in everything],
        "checksum_property": product.properties.get("file:checksum"),
        "collection": [p.properties.get("constellation") for p in everything],
        "generic": {"count": generic.number_matched, "ids": [p.properties["id"] for p in generic]},
        "orbits": {"relative": [[p.properties["id"], p.properties.get("sat:relative_orbit")] for p in relative],
                   "absolute": [[p.properties["id"], p.properties.get("sat:absolute_orbit")] for p in absolute]},
        "downloaded": {"uid": product.properties["uid"], "file": path.name, "md5": md5},
        "quicklook": {"link": product.properties.get("eodag:quicklook"),
                      "md5": hashlib.md5(Path(quicklook).read_bytes()).hexdigest() if quicklook else None},
    }))


if __name__ == "__main__":
    main(*sys.argv[1:])
