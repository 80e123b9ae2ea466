"""sentineleof (``eof``) against a PRIP, as a user can run it: sentineleof finds and downloads
Sentinel-1 orbit files (AUX_POEORB, AUX_RESORB) from the Copernicus Data Space, whose three URLs
are constants of ``eof.dataspace_client``; they are set to the PRIP's. Its catalogue queries carry
no credentials of its own, so requests adds the ~/.netrc login of the host (``$NETRC``); the
downloads carry a bearer token from the PRIP's token endpoint (OAuth2 password grant).
The same lines are in docs/prip.md ("Tested clients").

Run in the clients' venv (tests/clients/requirements.txt):
    python sentineleof_prip.py <server base URL> <save dir> <Sentinel-1 scene name> <date> <mission>
with PRIP_USERNAME and PRIP_PASSWORD set. Prints one JSON line: for each of three calls of
``eof.download.download_eofs`` (the scene's precise orbit, the restituted orbit of <date> and
<mission>, the precise orbit of <date> and <mission>), the file names saved and their MD5.
"""
import hashlib
import json
import logging
import os
import sys
from pathlib import Path

import eof.dataspace_client
from eof.download import download_eofs

SERVER = sys.argv[1]  # your server: https://<host>
PRIP = SERVER + "/proseo/prip/odata/v1"

# --- the snippet of docs/prip.md: point sentineleof at PRIP -----------------------------------
eof.dataspace_client.QUERY_URL = f"{PRIP}/Products"
eof.dataspace_client.DOWNLOAD_URL = f"{PRIP}/Products"
eof.dataspace_client.AUTH_URL = f"{SERVER}/proseo/prip/v1/token"
# ----------------------------------------------------------------------------------------------


def _saved(paths, save_dir: Path) -> list:
    return [{"file": Path(p).name, "md5": hashlib.md5(Path(p).read_bytes()).hexdigest(),
             "in_save_dir": Path(p).parent.resolve() == save_dir.resolve()} for p in paths]


def main(save_dir, scene, date, mission):
    logging.basicConfig(stream=sys.stderr, level=logging.DEBUG)
    save = Path(save_dir)
    credentials = {"cdse_user": os.environ["PRIP_USERNAME"], "cdse_password": os.environ["PRIP_PASSWORD"]}
    report = {}
    for key, kwargs in (
        ("scene", {"sentinel_file": scene}),
        ("restituted", {"orbit_dts": [date], "missions": [mission], "orbit_type": "restituted"}),
        ("precise", {"orbit_dts": [date], "missions": [mission], "orbit_type": "precise"}),
    ):
        target = save / key
        target.mkdir(parents=True)
        report[key] = _saved(download_eofs(save_dir=str(target), max_workers=1, **kwargs, **credentials), target)
    print(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[2:])
