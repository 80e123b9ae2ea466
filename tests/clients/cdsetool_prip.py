"""CDSETool against a PRIP, as a user can run it: CDSETool has no setting for its catalogue and
download hosts (they are literals in cdsetool.query and cdsetool.download), so the two URL
builders are replaced (and the one of single files' URLs); credentials come from ~/.netrc (or
$NETRC), which requests reads for every request CDSETool makes; downloads get a plain requests
session as their credentials.
The same lines are in docs/prip.md ("Tested clients").

Run in the clients' venv (tests/clients/requirements.txt):
    python cdsetool_prip.py <server base URL> <download dir> <WKT polygon> <start> <end> <top>
Prints one JSON line: the count CDSETool read, every product it iterated, the download, and the
files of a download with a ``filter_pattern`` (through ``Nodes``).
"""
import hashlib
import json
import logging
import sys
from pathlib import Path

import requests

import cdsetool.download
import cdsetool.query
from cdsetool.download import download_feature
from cdsetool.query import query_features

PRIP = sys.argv[1] + "/proseo/prip/odata/v1"  # your server: https://<host>/proseo/prip/odata/v1

# --- the snippet of docs/prip.md: point CDSETool at PRIP (tests/clients/test_clients.py checks
# that docs/prip.md has these lines) -------------------------------------------------------------
_cdse_query_url = cdsetool.query.FeatureQuery._build_query_url
cdsetool.query.FeatureQuery._build_query_url = lambda self, *args, **kwargs: _cdse_query_url(
    self, *args, **kwargs).replace("https://catalogue.dataspace.copernicus.eu/odata/v1", PRIP)
cdsetool.download._get_feature_url = lambda feature: f"{PRIP}/Products({feature['Id']})/$value"
_cdse_node_url = cdsetool.download._get_odata_url  # filter_pattern's single files (Nodes)
cdsetool.download._get_odata_url = lambda *args: _cdse_node_url(*args).replace(
    "https://download.dataspace.copernicus.eu/odata/v1", PRIP)

# what download_feature needs of its "credentials" option: a session per download
# (requests adds the ~/.netrc login of the host as Basic credentials)
class NetrcCredentials:
    def get_session(self):
        return requests.Session()
# ----------------------------------------------------------------------------------------------


def main(download_dir, wkt, start, end, top):
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    # one attempt: CDSETool sleeps a minute before retrying a non-200 answer
    options = {"max_attempts": 1, "logger": logging.getLogger("cdsetool")}
    terms = {
        "productType": "S2MSI1C",
        "contentDateStartGe": start,
        "contentDateStartLt": end,
        "geometry": wkt,
        "top": int(top),
    }
    features = query_features("SENTINEL-2", terms, options=options)
    count = len(features)  # @odata.count of the first page
    products = [{"Id": f["Id"], "Name": f["Name"]} for f in features]
    first = next(iter(query_features("SENTINEL-2", terms, options=options)))
    saved = download_feature(first, download_dir, {"credentials": NetrcCredentials(), "download_attempts": 1,
                                                   "logger": options["logger"]})
    path = Path(download_dir) / saved if saved else None
    # only the files of the product's manifest that match a pattern: Nodes(<Name>)/Nodes(...)/$value
    bands = download_feature(first, str(Path(download_dir) / "bands"),
                             {"credentials": NetrcCredentials(), "download_attempts": 1,
                              "logger": options["logger"], "filter_pattern": "*B0[23].jp2"})
    folder = Path(download_dir) / "bands" / bands if bands else None
    print(json.dumps({
        "count": count,
        "products": products,
        "downloaded": {"Id": first["Id"], "Name": first["Name"], "file": saved,
                       "md5": hashlib.md5(path.read_bytes()).hexdigest() if path else None},
        "filtered": {"folder": bands, "files": {
            str(file.relative_to(folder)): hashlib.md5(file.read_bytes()).hexdigest()
            for file in sorted(folder.rglob("*")) if file.is_file()} if folder else None},
    }))


if __name__ == "__main__":
    main(*sys.argv[2:])
