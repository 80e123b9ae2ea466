"""A running ODIP and PRIP for end-to-end tests: the application under a real waitress server on
127.0.0.1 with its in-process worker pool (``proseo.workers = 1``) and notification dispatcher,
the demo workflows plus ``SLOW`` (an external command that sleeps 120 s until it is cancelled),
one user ``DEMO\\demo`` (password ``demo``: PRIP, ODIP and every product) and one S2MSI1C input
product, ``L1C_NAME`` (``s2_l1c_zip``: what the demo L2A workflow converts).

Users: tests/web/test_e2e_odip.py (driven by ``requests``) and
tests/clients/test_odip_clients.py (driven by the generic OData clients ``@odata/client`` and
python-odata).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import proseo_odata
from live_server import Receiver, serve_wsgi
from PIL import Image
from proseo_odata.archive import load_archive
from proseo_odata.archive.testing import s2_l1c_zip, store_product_file
from proseo_odata.model import Attribute, Mission, Role, User, hash_password
from proseo_odata.storage import load_storage

ODIP = "/proseo/odip/odata/v1"
PRIP = "/proseo/prip/odata/v1"
#: DEMO\demo's password.
USER = ("DEMO\\demo", "demo")
DEMO_WORKFLOWS = Path(proseo_odata.__file__).parent / "demo" / "workflows.json"
SLOW_ID = "5105105c-0000-4000-8000-000000000001"
#: The demo workflow S2_L1C_L2A (proseo_odata/demo/workflows.json).
L2A_ID = "2b17b57d-fff4-4645-b539-91f305c83b91"
L1C_NAME = "S2B_MSIL1C_20191025T085939_N0208_R007_T37VCC_20191025T112031.zip"


@contextmanager
def odip_service(db_url: str, tmp_path: Path):
    """``(base URL, receiver, scratch folder)`` of the running service on ``db_url`` (a migrated,
    empty database); the receiver is a notification endpoint (live_server.Receiver). Everything
    is stopped when the block is left."""
    from proseo_odata_web import main

    workflows = json.loads(DEMO_WORKFLOWS.read_text())["workflows"]
    workflows.append({
        "id": SLOW_ID, "mission": "DEMO", "name": "SLOW", "input_product_type": "S2MSI1C",
        "output_product_type": "SLOW_OUT", "processor": "external",
        "processor_config": {"command": ["{python}", "-m", "proseo_odata.demo.compress", "{input}", "{output_dir}",
                                         "--delay", "120"], "timeout": 300},
    })
    workflows_file = tmp_path / "workflows.json"
    workflows_file.write_text(json.dumps({"workflows": workflows}))
    archive_dir = tmp_path / "archive"
    archive_dir.mkdir()
    settings = {
        "proseo.storage.backend": "proseo_odata.storage.sqlalchemy",
        "proseo.storage.url": db_url,
        "proseo.archive.backend": "local",
        "proseo.archive.path": str(archive_dir),
        "proseo.default_mission": "DEMO",
        "proseo.workflows.file": str(workflows_file),
        "proseo.workflows.entry_points": "false",
        "proseo.workers": "1",
        "proseo.production.poll_seconds": "0.1",
        "proseo.production.lease_seconds": "3",
        "proseo.production.scratch_dir": str(tmp_path),
        "proseo.notify.poll_seconds": "0.2",
        "proseo.notify.retry_base_seconds": "0.5",
    }
    storage = load_storage(settings)
    storage.initialize_schema()
    archive = load_archive(settings)
    input_product = store_product_file(
        archive, s2_l1c_zip(Image.effect_noise((256, 256), 64).convert("RGB")), name=L1C_NAME, mission="DEMO",
        origin_date=datetime(2019, 10, 25, 11, 20, 31, tzinfo=timezone.utc),
        content_start=datetime(2019, 10, 25, 8, 59, 39, 24000, tzinfo=timezone.utc),
        content_end=datetime(2019, 10, 25, 9, 0, 9, 24000, tzinfo=timezone.utc),
        footprint="POLYGON((36 60,38 60,38 61,36 61,36 60))",
        attributes=[Attribute.of("productType", "S2MSI1C"), Attribute.of("cloudCover", 12.5)],
    )
    with storage.transaction() as tx:
        tx.add_mission(Mission("DEMO", "Demo mission"))
        tx.add_user(User("DEMO", "demo", hash_password(USER[1]),
                         frozenset({Role.PRIP_USER, Role.ODIP_USER, Role.PRODUCT_READER_ALL})))
        tx.add_product(input_product)

    try:
        app = main({}, **settings)
    except BaseException:
        storage.close()
        raise
    registry = app.registry
    receiver = Receiver()
    try:
        assert registry.proseo_workers is not None and len(registry.proseo_workers.workers) == 1
        with serve_wsgi(app) as url:
            yield url, receiver, str(tmp_path)
    finally:
        receiver.close()
        if registry.proseo_workers is not None:
            registry.proseo_workers.stop(10)
        registry.storage.close()
        storage.close()
