"""Helpers of the web tests, imported by conftest.py and the test modules: users, the seeded
catalogue, Basic headers, the application factory."""
from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import webtest

from proseo_odata.model import (
    Attribute,
    AttributeType,
    Checksum,
    Mission,
    Product,
    ProductionType,
    Role,
    User,
    VisibilityClass,
)

UTC = timezone.utc

#: login -> (mission, name, password, roles)
USERS = {
    "alice": ("DEMO", "alice", "alice-secret", {Role.PRIP_USER}),
    "bob": ("DEMO", "bob", "bob-secret", set()),  # valid credentials, no role
    "carol": ("DEMO", "carol", "carol-secret", {Role.PRIP_USER, Role.PRODUCT_READER_ALL}),
    "dave": ("DEMO", "dave", "dave-secret", {Role.PRIP_USER, Role.PRODUCT_READER_RESTRICTED}),
    "olga": ("OTHER", "olga", "olga-secret", {Role.PRIP_USER}),
}

#: The file archived for p1 (1001 bytes, as its ContentLength says).
P1_FILE = (bytes(range(256)) * 4)[:1001]

TOKEN_SECRET = "test-secret-0123456789abcdef0123456789abcdef"


def basic(login: str, password: str | None = None) -> dict:
    """An Authorization header for ``login`` (a USERS key or any text) and its password."""
    if password is None:
        mission, name, password, _roles = USERS[login]
        login = f"{mission}\\{name}"
    token = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class Catalogue:
    """What ``seeded`` stored: products by a short label."""

    products: dict
    other_mission: dict

    def id(self, label: str) -> str:
        return str(self.products[label].id)


def _product(label, index, *, mission="DEMO", visibility=VisibilityClass.PUBLIC, **overrides):
    start = utc(2020, 1, 1 + index, 10, 0, 0) + timedelta(microseconds=0)
    attrs = [
        Attribute("productType", AttributeType.STRING, overrides.pop("product_type", "S2MSI1C")),
        Attribute("orbitNumber", AttributeType.INTEGER, 1000 + index),
        Attribute("cloudCover", AttributeType.DOUBLE, float(10 * index)),
        Attribute("processingDate", AttributeType.DATETIMEOFFSET, utc(2021, 5, 20, 19, 8, 7) + timedelta(days=index)),
        Attribute("highQuality", AttributeType.BOOLEAN, index % 2 == 0),
    ]
    fields = dict(
        mission=mission,
        name=overrides.pop("name", f"S2B_MSIL1C_2020010{index}_{label.upper()}_N0208.zip"),
        id=uuid.UUID(int=(0xA0000000 << 96) + index + (0 if mission == "DEMO" else 1000)),
        content_type="application/zip",
        content_length=1000 + index,
        origin_date=start + timedelta(hours=1),
        publication_date=start + timedelta(hours=2, milliseconds=123),
        modification_date=start + timedelta(hours=2, milliseconds=123),
        checksums=[Checksum("MD5", f"{index:032x}", start + timedelta(hours=2))],
        content_start=start,
        content_end=start + timedelta(minutes=10),
        production_type=ProductionType.SYSTEMATIC_PRODUCTION,
        footprint=f"POLYGON(({index} 40,{index + 1} 40,{index + 1} 41,{index} 41,{index} 40))",
        attributes=attrs,
        visibility=visibility,
    )
    fields.update(overrides)
    return Product(**fields)


def seed(storage, password_hashes, archive=None) -> Catalogue:
    """Store missions, users and products; with an archive, p1's file too (the others have none)."""
    products = {
        "p1": _product("p1", 1),
        "p2": _product("p2", 2, product_type="S2MSI2A"),
        "p3": _product("p3", 3, production_type=ProductionType.ON_DEMAND_DEFAULT),
        "p4": _product("p4", 4, name="S1A_AUX_PP1_V20200104_100%_a&b.zip"),
        "p5": _product("p5", 5, publication_date=utc(2020, 1, 6, 12, 0, 0, 123456),
                       modification_date=utc(2020, 1, 6, 12, 0, 0, 123456)),
        "restricted": _product("restricted", 6, visibility=VisibilityClass.RESTRICTED),
        "internal": _product("internal", 7, visibility=VisibilityClass.INTERNAL),
    }
    other = {"o1": _product("o1", 1, mission="OTHER")}
    p1 = products["p1"]
    p1.checksums = [Checksum("MD5", hashlib.md5(P1_FILE).hexdigest(), p1.checksums[0].date)]
    if archive is not None:
        p1.archive_key = f"DEMO/{p1.id}/{p1.name}"
        archive.put_stream(p1.archive_key, io.BytesIO(P1_FILE), content_type="application/zip")
    with storage.transaction() as tx:
        tx.add_mission(Mission("DEMO", "Demo mission"))
        tx.add_mission(Mission("OTHER", "Another mission"))
        for login, (mission, name, _password, roles) in USERS.items():
            tx.add_user(User(mission, name, password_hashes[login], frozenset(roles)))
        for product in list(products.values()) + list(other.values()):
            tx.add_product(product)
    return Catalogue(products, other)


def make_app(settings) -> webtest.TestApp:
    from proseo_odata_web import main

    return webtest.TestApp(main({}, **settings))


def add_stored_product(storage, archive, data, name: str, mission: str = "DEMO", **fields):
    """A product of ``mission`` whose file holds ``data``, archived and added to the catalogue."""
    from proseo_odata.archive.testing import store_product_file

    product = store_product_file(archive, data, name=name, mission=mission, **fields)
    storage.add_product(product)
    return product


@contextlib.contextmanager
def served_app(settings):
    """:func:`make_app`, its storage closed at the end (a fixture's ``with ... as app: yield app``)."""
    app = make_app(settings)
    try:
        yield app
    finally:
        app.app.registry.storage.close()


PRIP = "/proseo/prip/odata/v1"
