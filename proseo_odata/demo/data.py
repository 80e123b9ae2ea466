"""The demo catalogue behind ``proseo-odata demo-data`` (and ``make run``).

Mission ``DEMO``; users ``DEMO\\demo`` (password ``demo``; PRIP_USER, ODIP_USER,
PRODUCT_READER_ALL) and ``DEMO\\manager`` (password ``manager``; also ORDER_MGR); 36 products
with typed attributes, footprints in Europe and real files in the archive; the configured demo
workflows. Everything is deterministic (names, ids, dates, file bytes), and loading twice adds
nothing the second time.

Each ``S2MSI1C`` product is a small ``.zip`` with a PNG quick-look (Pillow) and a
``manifest.xml``, so the image-conversion workflow has real input.

The catalogue can carry a conformance run (ESA's PRIP/ODIP test requests, issue 9 item 7):
every file is at least 1 KiB (the suite downloads ``bytes=0-1023``), 12 public products share
their first two name tokens (``S2A_MSIL1C``; the suite pages through such a search with
``$top=10``), every product carries ``platformShortName`` (its ``Collection/Name``), and the demo
workflows take ``S2MSI1C`` input with a first option that lists its values.
"""
from __future__ import annotations

import io
import random
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from proseo_odata.ingest import parse_footprint
from proseo_odata.nodes import archived_quicklook
from proseo_odata.model import (
    Attribute,
    AttributeType,
    Checksum,
    Mission,
    Product,
    Role,
    User,
    VisibilityClass,
    format_basic,
    hash_password,
)
from proseo_odata.production.workflows import sync_configured_workflows
from proseo_odata.storage import ConflictError, NotFoundError

MISSION = "DEMO"
#: uuid5 namespace of the demo product ids (stable across runs and machines).
DEMO_NAMESPACE = uuid.UUID("6f1d2c3e-8a7b-4c5d-9e0f-123456789abc")
ZIP_TIME = (2024, 1, 1, 0, 0, 0)
#: Smallest demo file: ESA's conformance requests download the first KiB with a Range request.
MIN_FILE_SIZE = 1024

USERS = [
    ("demo", "demo", {Role.PRIP_USER, Role.ODIP_USER, Role.PRODUCT_READER_ALL}),
    ("manager", "manager", {Role.PRIP_USER, Role.ODIP_USER, Role.PRODUCT_READER_ALL, Role.ORDER_MGR}),
]


@dataclass
class DemoSummary:
    """What a run of :func:`load_demo_data` did (for the CLI's message)."""

    mission_created: bool = False
    users_created: list[str] = field(default_factory=list)
    products_created: int = 0
    products_existing: int = 0
    workflows: list[str] = field(default_factory=list)


def _footprint(rng: random.Random) -> str:
    lon = round(rng.uniform(-5.0, 20.0), 4)
    lat = round(rng.uniform(38.0, 56.0), 4)
    size = round(rng.uniform(0.5, 1.1), 4)
    corners = [(lon, lat), (lon + size, lat), (lon + size, lat + size), (lon, lat + size), (lon, lat)]
    # as an ingest stores it (an export of the demo ingested again is the same text)
    return parse_footprint("POLYGON((" + ", ".join(f"{x:.4f} {y:.4f}" for x, y in corners) + "))")


def png_bytes(seed: int, size: int = 64) -> bytes:
    """A small deterministic PNG (a colour gradient with a stripe) for product ``seed``."""
    from PIL import Image

    image = Image.new("RGB", (size, size))
    pixels = image.load()
    for y in range(size):
        for x in range(size):
            stripe = 255 if (x + seed) % 16 < 3 else 0
            pixels[x, y] = ((x * 4 + seed * 7) % 256, (y * 4 + seed * 13) % 256, stripe)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue()


def _manifest(name: str, product_type: str, start: datetime, end: datetime) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<manifest product="{name}" productType="{product_type}">\n'
        f"  <sensingStart>{start.isoformat()}</sensingStart>\n"
        f"  <sensingStop>{end.isoformat()}</sensingStop>\n"
        "</manifest>\n"
    ).encode("utf-8")


@dataclass
class DemoProduct:
    product: Product
    data: bytes


def demo_products() -> list[DemoProduct]:
    """The demo products with their file contents (deterministic)."""
    rng = random.Random(20240101)
    base = datetime(2023, 3, 1, 10, 0, 0, tzinfo=timezone.utc)
    items: list[DemoProduct] = []
    kinds = ["S2MSI1C"] * 24 + ["S2MSI2A"] * 6 + ["AUX_ECMWFD"] * 3 + ["AUX_UT1UTC"] * 3
    for i, product_type in enumerate(kinds):
        start = base + timedelta(days=i * 3, hours=rng.randint(0, 12), minutes=rng.randint(0, 59),
                                 microseconds=rng.randint(0, 999) * 1000)
        end = start + timedelta(seconds=rng.randint(4, 60), microseconds=rng.randint(0, 999999))
        processed = end + timedelta(hours=1, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
        published = processed + timedelta(minutes=30)
        unit = "A" if i % 2 == 0 else "B"
        orbit = 30000 + i * 143
        relative = orbit % 143 + 1
        tile = f"T{32 + i % 4}U{'PQRS'[i % 4]}{'ABCD'[i % 3]}"
        if product_type.startswith("AUX"):
            name = f"S2__OPER_{product_type}_ADG__{format_basic(processed)}_V{format_basic(start)}_{format_basic(end)}.zip"
            level = "Level-0"
        else:
            level_code = "MSIL1C" if product_type == "S2MSI1C" else "MSIL2A"
            level = "Level-1C" if product_type == "S2MSI1C" else "Level-2A"
            name = f"S2{unit}_{level_code}_{format_basic(start)}_N0509_R{relative:03d}_{tile}_{format_basic(processed)}.zip"
        attributes = [
            Attribute("productType", AttributeType.STRING, product_type),
            Attribute("platformShortName", AttributeType.STRING, "SENTINEL-2"),
            Attribute("platformSerialIdentifier", AttributeType.STRING, unit),
            Attribute("instrumentShortName", AttributeType.STRING, "MSI"),
            Attribute("processingLevel", AttributeType.STRING, level),
            Attribute("orbitNumber", AttributeType.INTEGER, orbit),
            Attribute("relativeOrbitNumber", AttributeType.INTEGER, relative),
            Attribute("processingDate", AttributeType.DATETIMEOFFSET, processed),
            Attribute("beginningDateTime", AttributeType.DATETIMEOFFSET, start),
            Attribute("endingDateTime", AttributeType.DATETIMEOFFSET, end),
            Attribute("onlineQualityCheckPassed", AttributeType.BOOLEAN, i % 5 != 3),
        ]
        if not product_type.startswith("AUX"):
            attributes.append(Attribute("cloudCover", AttributeType.DOUBLE, round(rng.uniform(0, 100), 2)))
        footprint = None if product_type.startswith("AUX") else _footprint(rng)
        manifest = _manifest(name, product_type, start, end)
        members = [("manifest.xml", manifest)]
        if product_type == "S2MSI1C":
            members.append((f"{name[:-4]}-ql.png", png_bytes(i)))
        # an incompressible deterministic payload: every demo file is at least MIN_FILE_SIZE
        members.append(("DATA/payload.bin", random.Random(i).randbytes(MIN_FILE_SIZE)))
        data = _zip(members)
        visibility = VisibilityClass.PUBLIC
        if i in (5, 17):
            visibility = VisibilityClass.RESTRICTED
        elif i in (11, 29):
            visibility = VisibilityClass.INTERNAL
        product = Product(
            mission=MISSION,
            name=name,
            id=uuid.uuid5(DEMO_NAMESPACE, name),
            content_type="application/zip",
            origin_date=end + timedelta(minutes=10),
            publication_date=published,
            modification_date=published,
            content_start=start,
            content_end=end,
            footprint=footprint,
            attributes=attributes,
            visibility=visibility,
        )
        items.append(DemoProduct(product, data))
    return items


def load_demo_data(storage, archive, settings=None) -> DemoSummary:
    """Create (or complete) the demo mission, users, products with files, and workflows."""
    summary = DemoSummary()
    try:
        storage.get_mission(MISSION)
    except NotFoundError:
        storage.add_mission(Mission(MISSION, "Demonstration mission"))
        summary.mission_created = True
    for name, password, roles in USERS:
        try:
            storage.get_user(MISSION, name)
        except NotFoundError:
            storage.add_user(User(MISSION, name, hash_password(password), roles))
            summary.users_created.append(f"{MISSION}\\{name}")
    for item in demo_products():
        product = item.product
        try:
            existing = storage.get_product_by_name(MISSION, product.name)
        except NotFoundError:
            existing = None
        if existing is not None:
            # Already loaded; restore its file if the archive lost it (same bytes, same digests).
            if existing.archive_key and not archive.exists(existing.archive_key):
                archive.put_stream(existing.archive_key, io.BytesIO(item.data), existing.content_type)
            summary.products_existing += 1
            continue
        key = f"{MISSION}/{product.id}/{product.name}"
        size, md5, sha256 = archive.put_stream(key, io.BytesIO(item.data), product.content_type)
        product.archive_key = key
        product.content_length = size
        product.checksums = [Checksum("MD5", md5, product.publication_date), Checksum("SHA256", sha256, product.publication_date)]
        product.quicklook = archived_quicklook(archive, key, size, product.name)  # as an ingest does
        try:
            storage.add_product(product)
        except ConflictError:
            # A concurrent demo-data run recorded the same product (same id, Name and key, same
            # bytes) first: the file now belongs to its row and must stay.
            summary.products_existing += 1
            continue
        except BaseException:
            archive.delete(key)
            raise
        summary.products_created += 1
    stored = sync_configured_workflows(storage, settings or {})
    summary.workflows = [w.name for w in stored]
    return summary
