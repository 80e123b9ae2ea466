"""Helpers of the ODIP web tests (the fixtures ``odip_settings``, ``odip_password_hashes`` and
``odip`` are in tests/web/conftest.py): users, the seeded ODIP world, order bodies, Basic headers.

:func:`build_world` stores missions DEMO and OTHER, users for every role case, the demo workflows
(synchronised from ``proseo_odata/demo/workflows.json``) plus a disabled one and one of mission
OTHER, L1C input products with real zip files in a local archive, and production orders in every
status; the ``odip`` fixture adds ``odip.app``, a WebTest app over ``proseo_odata_web.main`` with
the same settings (no workers).
"""
from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import webtest
from PIL import Image

from proseo_odata.archive import load_archive
from proseo_odata.archive.testing import s2_l1c_zip, store_product_file
from proseo_odata.nodes import archived_quicklook
from proseo_odata.model import (
    Attribute,
    Mission,
    ProductionOrder,
    ProductionType,
    Role,
    User,
    VisibilityClass,
    Workflow,
    WorkflowOption,
)
from proseo_odata.production.workflows import sync_configured_workflows
from proseo_odata.storage import load_storage
from odip_service import DEMO_WORKFLOWS, L1C_NAME, L2A_ID, ODIP  # noqa: F401 - the helpers' names too
from prip_helpers import utc

COMPRESS_ID = "7d3c5a1e-4b2f-4c8d-9e6a-0f1b2c3d4e5f"
DISABLED_ID = "0d15ab1e-0000-4000-8000-000000000001"
OTHER_WF_ID = "07e40000-0000-4000-8000-000000000002"
L1C_OLD_NAME = "S2A_MSIL1C_20190101T100000_N0208_R007_T37VCC_20190101T120000.zip"
MASK = "********"

#: login -> (mission, name, password, roles)
ODIP_USERS = {
    "ursula": ("DEMO", "ursula", "ursula-pw", {Role.ODIP_USER, Role.PRIP_USER}),
    "uwe": ("DEMO", "uwe", "uwe-pw", {Role.ODIP_USER}),
    "mgr": ("DEMO", "mgr", "mgr-pw", {Role.ODIP_USER, Role.ORDER_MGR, Role.PRODUCT_READER_ALL}),
    "pete": ("DEMO", "pete", "pete-pw", {Role.PRIP_USER}),  # no ODIP role: 403
    "restr": ("DEMO", "restr", "restr-pw", {Role.ODIP_USER}),
    "boss": ("DEMO", "boss", "boss-pw", {Role.ODIP_USER, Role.ORDER_MGR}),  # every order, PUBLIC products only
    "oscar": ("OTHER", "oscar", "oscar-pw", {Role.ODIP_USER, Role.ORDER_MGR}),
}


def auth(login: str, password: str | None = None) -> dict:
    if password is None:
        mission, name, password, _roles = ODIP_USERS[login]
        login = f"{mission}\\{name}"
    return {"Authorization": "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()}


def l1c_zip(colour=(20, 140, 60)) -> bytes:
    """A demo-like S2MSI1C product: a zip holding a PNG quick-look of one ``colour`` and a manifest."""
    return s2_l1c_zip(Image.new("RGB", (24, 16), colour))


def order_body(**overrides) -> dict:
    """The demo order of the user's documents (ImageFormat JPG), with ``overrides``."""
    body = {
        "InputProductReference": {
            "Reference": L1C_NAME,
            "ContentDate": {"Start": "2019-10-25T08:59:39.024Z", "End": "2019-10-25T09:00:09.024Z"},
        },
        "Priority": 50,
        "WorkflowId": L2A_ID,
        "WorkflowName": "S2_L1C_L2A",
        "WorkflowOptions": [{"Name": "ImageFormat", "Value": ["JPG"]}],
        "NotificationEndpoint": "https://myservice.example/notification",
        "NotificationEpUsername": "myserviceuser",
        "NotificationEpPassword": "s3cr3t-pw",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


@dataclass
class OdipWorld:
    settings: dict
    storage: object
    archive: object
    products: dict = field(default_factory=dict)
    orders: dict = field(default_factory=dict)
    app: webtest.TestApp | None = None

    def order_id(self, label: str) -> str:
        return str(self.orders[label].id)


def _order(label, owner, status, *, mission="DEMO", workflow_id=L2A_ID, workflow_name="S2_L1C_L2A", index=0, **fields):
    base = utc(2024, 3, 1, 12, 0, 0) + timedelta(hours=index)
    values = dict(
        mission=mission,
        owner=owner,
        workflow_id=uuid.UUID(workflow_id),
        workflow_name=workflow_name,
        id=uuid.UUID(int=(0xD0000000 << 96) + index),
        status=status,
        status_message={"queued": "request is queued for processing", "in_progress": "request is under processing",
                        "completed": "requested output product is available", "failed": "production has failed",
                        "cancelled": "request cancelled by user"}[status],
        submission_date=base,
        estimated_date=base + timedelta(minutes=5),
        priority=50,
        input_reference=L1C_NAME,
        workflow_options={"ImageFormat": "GEOTIFF"},
        production_type=ProductionType.ON_DEMAND_DEFAULT,
    )
    values.update(fields)
    return ProductionOrder(**values)


def build_world(settings, password_hashes) -> OdipWorld:
    storage = load_storage(settings)
    storage.initialize_schema()
    archive = load_archive(settings)
    world = OdipWorld(settings, storage, archive)
    l1c = dict(mission="DEMO", origin_date=utc(2019, 10, 25, 11, 20, 31),
               attributes=[Attribute.of("productType", "S2MSI1C"), Attribute.of("cloudCover", 12.5)],
               footprint="POLYGON((36 60,38 60,38 61,36 61,36 60))")
    world.products["l1c"] = store_product_file(
        archive, l1c_zip(), name=L1C_NAME, published=utc(2019, 10, 25, 12, 0, 0),
        content_start=utc(2019, 10, 25, 8, 59, 39, 24000), content_end=utc(2019, 10, 25, 9, 0, 9, 24000), **l1c)
    world.products["l1c_old"] = store_product_file(
        archive, l1c_zip((200, 10, 10)), name=L1C_OLD_NAME, published=utc(2019, 1, 1, 13, 0, 0),
        content_start=utc(2019, 1, 1, 10, 0, 0), content_end=utc(2019, 1, 1, 10, 0, 30), **l1c)
    world.products["restricted"] = store_product_file(
        archive, l1c_zip((1, 2, 3)), name="S2B_MSIL1C_RESTRICTED.zip", published=utc(2019, 2, 1),
        content_start=utc(2019, 2, 1, 10, 0, 0), content_end=utc(2019, 2, 1, 10, 0, 30),
        visibility=VisibilityClass.RESTRICTED, **l1c)
    world.products["l2a_typed"] = store_product_file(  # right name pattern, wrong product type
        archive, b"not an L1C", name="S2B_MSIL2A_WRONG_TYPE.zip", mission="DEMO",
        attributes=[Attribute.of("productType", "S2MSI2A")],
        content_start=utc(2019, 3, 1), content_end=utc(2019, 3, 1, 0, 1))
    world.products["output"] = store_product_file(
        archive, b"JPEG bytes of a finished order" * 40, name="S2B_MSIL2A_20191025T085939_done.zip", mission="DEMO",
        published=utc(2024, 3, 1, 14, 0, 0), attributes=[Attribute.of("productType", "S2MSI2A")],
        content_start=utc(2019, 10, 25, 8, 59, 39), content_end=utc(2019, 10, 25, 9, 0, 9),
        production_type=ProductionType.ON_DEMAND_NON_DEFAULT)  # PUBLIC: the engine copies the input's class
    world.products["other_l1c"] = store_product_file(
        archive, l1c_zip(), name=L1C_NAME, mission="OTHER", attributes=[Attribute.of("productType", "S2MSI1C")],
        content_start=utc(2019, 10, 25, 8, 59, 39, 24000), content_end=utc(2019, 10, 25, 9, 0, 9, 24000))
    for product in world.products.values():  # as an ingest records it (docs/prip.md, "Quicklooks")
        product.quicklook = archived_quicklook(archive, product.archive_key, product.content_length, product.name)
    output = world.products["output"]
    world.orders = {
        "u_queued": _order("u_queued", "ursula", "queued", index=1, priority=10,
                           input_content_start=utc(2019, 10, 25, 8, 59, 39, 24000),
                           input_content_end=utc(2019, 10, 25, 9, 0, 9, 24000)),
        "u_completed": _order("u_completed", "ursula", "completed", index=2, priority=80,
                              order_output_size=1024, completed_date=utc(2024, 3, 1, 14, 0, 0),
                              eviction_date=utc(2024, 3, 31, 14, 0, 0), workflow_options={"ImageFormat": "JPG"},
                              production_type=ProductionType.ON_DEMAND_NON_DEFAULT, output_product_id=output.id,
                              notification_endpoint="https://ursula.example/hook",
                              notification_username="hookuser", notification_password="hook-secret"),
        "u_failed": _order("u_failed", "ursula", "failed", index=3, completed_date=utc(2024, 3, 1, 15, 30, 0),
                           workflow_id=COMPRESS_ID, workflow_name="S2_L1C_COMPRESS",
                           workflow_options={"CompressionLevel": "9"}, input_reference=L1C_OLD_NAME),
        "w_running": _order("w_running", "uwe", "in_progress", index=4, priority=60),
        "w_cancelled": _order("w_cancelled", "uwe", "cancelled", index=5, completed_date=utc(2024, 3, 1, 17, 0, 0)),
        "o_queued": _order("o_queued", "oscar", "queued", mission="OTHER", index=6,
                           workflow_id=OTHER_WF_ID, workflow_name="OTHER_WF"),
    }
    with storage.transaction() as tx:
        tx.add_mission(Mission("DEMO", "Demo mission"))
        tx.add_mission(Mission("OTHER", "Another mission"))
        for login, (mission, name, _password, roles) in ODIP_USERS.items():
            tx.add_user(User(mission, name, password_hashes[login], frozenset(roles)))
        for product in world.products.values():
            tx.add_product(product)
        sync_configured_workflows(tx, settings)
        tx.add_workflow(Workflow(mission="DEMO", name="S2_DISABLED", input_product_type="S2MSI1C",
                                 output_product_type="X", processor="image", id=uuid.UUID(DISABLED_ID), enabled=False))
        tx.add_workflow(Workflow(mission="OTHER", name="OTHER_WF", input_product_type="S2MSI1C",
                                 output_product_type="Y", processor="image", id=uuid.UUID(OTHER_WF_ID),
                                 options=[WorkflowOption("Level", "Integer", default="1")]))
        for order in world.orders.values():
            tx.add_order(order)
    return world


def json_of(response) -> dict:
    return json.loads(response.body)
