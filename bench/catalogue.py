"""Catalogue benchmark: PRIP queries against N products on PostgreSQL 15 (target p95 <= 100 ms).

Run (from the repository root)::

    timeout 3600 .venv/bin/python -m bench.catalogue --products 1000000
    .venv/bin/python -m bench.catalogue --products 20000            # quick check, ~1 minute
    .venv/bin/python -m bench.catalogue --products 20000 --keep-server   # leave it running
    .venv/bin/python -m bench.catalogue --pg-url postgresql://postgres@host:5432/postgres

What it does:

1. Starts its own throwaway PostgreSQL 15 server (``tests/conftest.py``'s ``ThrowawayPostgres``,
   with server settings for a 2-core / 24 GiB machine: shared_buffers 2GB, work_mem 64MB,
   effective_cache_size 8GB, maintenance_work_mem 1GB, random_page_cost 1.1), listening on
   127.0.0.1 only; ``fsync``/``full_page_writes``/``synchronous_commit`` are off during the load
   and switched back on (``ALTER SYSTEM`` + reload) before the queries. With ``--pg-url`` it
   uses an existing server instead and creates (and drops) its own database there.
2. Creates the schema through the real migration (``SQLAlchemyStorage.initialize_schema``),
   then bulk-loads N products with COPY (psycopg's copy API, rows generated in Python,
   deterministic seed): ~20 product types of Sentinel-1/2/3/5P with real-looking names,
   content dates over 2022-2024, publication dates, footprints (WKT + PostGIS geometry), MD5 and
   SHA256 checksums, 8-10 typed attributes each (String, Integer, Double, DateTimeOffset,
   Boolean). The migrated indexes and constraints of the three product tables are dropped
   before COPY and re-created afterwards from their own definitions (``pg_get_indexdef``,
   ``pg_get_constraintdef``), then checked to be exactly the migrated set; then
   ``VACUUM (ANALYZE)``. A sample of the loaded products is read back through
   ``get_product`` and compared with the same values built as ``Product`` objects, so the
   rows have exactly the shape the backend writes.
3. Runs the PRIP queries through the real code path: query-string pairs ->
   ``proseo_odata.query.build_query`` (parsing, binding, paging, the
   same function the ``/Products`` view calls) -> ``SQLAlchemyStorage.query_products`` (filter
   compilation, SQL, loading checksums/attributes into ``Product`` objects), as a user who
   reads PUBLIC products. JSON rendering and HTTP are not included. Every query runs with
   ``--variants`` different literals, interleaved with the others; median and p95 in ms.
4. Saves ``EXPLAIN (ANALYZE, BUFFERS)`` of the slowest variant of the slowest queries under
   ``bench/results/`` and prints a Markdown table for bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")
MISSION = "BENCH"
UTC = dt.timezone.utc
T_START = dt.datetime(2022, 1, 1, tzinfo=UTC)
T_END = dt.datetime(2025, 1, 1, tzinfo=UTC)
SPAN = (T_END - T_START).total_seconds()
TARGET_MS = 100.0

SERVER_SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "shared_buffers": "2GB",
    "work_mem": "64MB",
    "effective_cache_size": "8GB",
    "maintenance_work_mem": "1GB",
    "max_parallel_maintenance_workers": "1",
    "max_parallel_workers_per_gather": "1",
    "random_page_cost": "1.1",
    "max_wal_size": "8GB",
    "checkpoint_timeout": "30min",
    "max_connections": "20",
}
#: Set in postgresql.conf for the load, switched on again (ALTER SYSTEM) before the queries.
LOAD_ONLY_OFF = ("fsync", "full_page_writes", "synchronous_commit")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def write_site_ini(folder: str, database: str, root: str) -> str:
    """A site .ini in ``folder`` for the command line: the SQLite ``database`` and the local
    archive folder ``root``; returns its path."""
    ini = os.path.join(folder, "site.ini")
    with open(ini, "w", encoding="utf-8") as handle:
        handle.write(f"[app:main]\nuse = egg:proseo-odata\nproseo.storage.url = sqlite:///{database}\n"
                     f"proseo.archive.backend = proseo_odata.archive.local\nproseo.archive.path = {root}\n")
    return ini


# --------------------------------------------------------------------------------------------
# the server


def _make_server(data_dir: "str | None" = None, settings: "dict[str, str] | None" = None):
    """A ``ThrowawayPostgres`` from tests/conftest.py started with the benchmark's settings
    (:data:`SERVER_SETTINGS`, then ``settings``, which may override them).

    With ``data_dir`` the server lives in that folder and outlives the run: created (initdb) when
    the folder holds no cluster, started on it otherwise (``server.reused``), and stopped cleanly
    at the end without removing it, so a loaded catalogue is measured again without reloading it
    (:func:`kept_database`)."""
    from live_server import free_port as _free_port
    from tests.conftest import ThrowawayPostgres, _as_postgres, _find_pg_bindir, _run

    class BenchPostgres(ThrowawayPostgres):
        reused = False

        def start(self):
            import tempfile

            if data_dir is None:
                self.tmpdir = tempfile.mkdtemp(prefix="proseo-bench-pg-")
            else:
                self.tmpdir = os.path.abspath(data_dir)
                os.makedirs(self.tmpdir, exist_ok=True)
            if os.geteuid() == 0:
                shutil.chown(self.tmpdir, user="postgres", group="postgres")
            self.reused = os.path.exists(os.path.join(self.datadir, "PG_VERSION"))
            if not self.reused:
                _run(_as_postgres([self._bin("initdb"), "-D", self.datadir, "-U", "postgres", "--auth=trust",
                                   "--encoding=UTF8", "--no-locale", "--no-sync"]))
                # Load-only settings go to postgresql.conf so ALTER SYSTEM can switch them back on.
                with open(os.path.join(self.datadir, "postgresql.conf"), "a", encoding="utf-8") as conf:
                    conf.write("\n# bench/catalogue.py: during the load only\n")
                    for name in LOAD_ONLY_OFF:
                        conf.write(f"{name} = off\n")
            self.port = _free_port()
            options = " ".join(
                [f"-c {k}={v}" for k, v in {**SERVER_SETTINGS, **(settings or {})}.items()]
                + [f"-c port={self.port}", f"-c unix_socket_directories={self.tmpdir}"]
            )
            _run(_as_postgres([self._bin("pg_ctl"), "-D", self.datadir,
                               "-l", os.path.join(self.tmpdir, "server.log"), "-o", options,
                               "-w", "-t", "60", "start"]))
            self.started = True
            return self

        def stop(self):
            if data_dir is None:
                return super().stop()
            if self.started:  # a clean shutdown: the kept cluster needs no recovery next time
                subprocess.run(_as_postgres([self._bin("pg_ctl"), "-D", self.datadir, "-m", "fast", "-w", "stop"]),
                               capture_output=True, timeout=120)
                self.started = False

    bindir = _find_pg_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server binaries (initdb, pg_ctl) not found; install postgresql-15 "
                         "and postgresql-15-postgis-3, or pass --pg-url")
    return BenchPostgres(bindir)


def _admin(url):
    import psycopg
    from sqlalchemy.engine import make_url

    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                           autocommit=True)


def create_database(admin_url: str, prefix: str = "proseo_bench") -> "tuple[str, str]":
    """A new empty database (a fresh name starting with ``prefix``) on the server of
    ``admin_url``: (its name, its URL)."""
    from psycopg import sql
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with _admin(admin_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _libpq(url):
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


#: What a ``--data-dir`` cluster holds, written once its catalogue is loaded.
KEPT_FILE = "bench-catalogue.json"


def kept_database(server, products: int, seed: int) -> "dict | None":
    """The loaded catalogue a reused ``--data-dir`` cluster holds (its database name and load
    timings), or None for a new cluster. A cluster loaded with another size or seed is refused
    rather than measured as if it were this one."""
    if not getattr(server, "reused", False):
        return None
    path = os.path.join(server.tmpdir, KEPT_FILE)
    try:
        with open(path, encoding="utf-8") as handle:
            kept = json.load(handle)
    except FileNotFoundError:
        raise SystemExit(f"{server.tmpdir} holds a cluster but no {KEPT_FILE} (an interrupted load?): remove it")
    if (kept["products"], kept["seed"]) != (products, seed):
        raise SystemExit(f"{server.tmpdir} holds {kept['products']:,} products of seed {kept['seed']}, not "
                         f"{products:,} of seed {seed}: use another --data-dir")
    return kept


def keep_database(server, products: int, seed: int, database: str, timings: dict) -> None:
    record = {"products": products, "seed": seed, "database": database,
              "loaded": dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
              "timings": {k: v for k, v in timings.items() if k.endswith("_s")}}
    with open(os.path.join(server.tmpdir, KEPT_FILE), "w", encoding="utf-8") as handle:
        json.dump(record, handle)


# --------------------------------------------------------------------------------------------
# the data

#: (productType, family, weight): ~20 types, weights roughly as in a mixed Copernicus PRIP.
PRODUCT_TYPES = [
    ("S2MSI1C", "S2", 14), ("S2MSI2A", "S2", 14), ("S2MSI1B", "S2", 3),
    ("IW_GRDH_1S", "S1", 12), ("IW_SLC__1S", "S1", 8), ("EW_GRDM_1S", "S1", 3),
    ("IW_RAW__0S", "S1", 3), ("IW_OCN__2S", "S1", 3),
    ("OL_1_EFR___", "S3", 5), ("OL_2_LFR___", "S3", 4), ("SL_1_RBT___", "S3", 4),
    ("SL_2_LST___", "S3", 3), ("SR_2_LAN___", "S3", 3), ("SY_2_SYN___", "S3", 2),
    ("L1B_RA_BD3", "S5P", 2), ("L2__NO2___", "S5P", 2), ("L2__O3____", "S5P", 2),
    ("L2__CH4___", "S5P", 1), ("L2__CLOUD_", "S5P", 1), ("L2__AER_AI", "S5P", 1),
]
S2_LEVEL = {"S2MSI1C": "MSIL1C", "S2MSI2A": "MSIL2A", "S2MSI1B": "MSIL1B"}
S1_NAME = {"IW_GRDH_1S": "IW_GRDH_1SDV", "IW_SLC__1S": "IW_SLC__1SDV", "EW_GRDM_1S": "EW_GRDM_1SDH",
           "IW_RAW__0S": "IW_RAW__0SDV", "IW_OCN__2S": "IW_OCN__2SDV"}
FAMILY = {
    # family: (platformShortName, serials, duration s, publication latency s (min, max), footprint deg (w, h))
    "S1": ("SENTINEL-1", "AB", 25, (3600, 4 * 3600), (2.4, 1.9)),
    "S2": ("SENTINEL-2", "AB", 5, (3600, 6 * 3600), (1.0, 1.0)),
    "S3": ("SENTINEL-3", "AB", 180, (3 * 3600, 2 * 86400), (6.0, 5.0)),
    "S5P": ("SENTINEL-5P", "P", 6000, (12 * 3600, 3 * 86400), (20.0, 14.0)),
}
OPTICAL = {"S2MSI1C", "S2MSI2A", "S2MSI1B", "OL_1_EFR___", "OL_2_LFR___", "SL_1_RBT___", "SL_2_LST___",
           "SY_2_SYN___"}
LEVEL = {"S1": {"IW_RAW__0S": "LEVEL0", "IW_OCN__2S": "LEVEL2"}, "S2": {"S2MSI2A": "LEVEL2"},
         "S3": {"OL_2_LFR___": "LEVEL2", "SL_2_LST___": "LEVEL2", "SR_2_LAN___": "LEVEL2", "SY_2_SYN___": "LEVEL2"},
         "S5P": {}}
BANDS = "CDEFGHJKLMNPQRSTUVWX"
COLUMNS_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
ROWS_LETTERS = "ABCDEFGHJKLMNPQRSTUV"

PRODUCT_COLUMNS = ("id", "mission", "name", "content_type", "content_length", "origin_date", "publication_date",
                   "modification_date", "eviction_date", "online", "content_start", "content_end",
                   "production_type", "footprint", "footprint_geom", "visibility", "archive_key",
                   "product_type", "revision", "footprint_literal", "footprint_geojson", "cloud_cover",
                   "processing_date")
ATTRIBUTE_COLUMNS = ("product_id", "name", "value_type", "string_value", "int_value", "double_value",
                     "bool_value", "datetime_value")
CHECKSUM_COLUMNS = ("product_id", "algorithm", "value", "checksum_date")
NEVER_TEXT = "9999-12-31T23:59:59.999000+00:00"


def make_tiles(rng: random.Random, count: int = 3000) -> list:
    """Sentinel-2 tiles (MGRS-like ids) with the centre of a ~1 degree square."""
    tiles = {"32TQM": (13.3, 45.4)}  # the tile of the contract's examples (north-east Italy)
    while len(tiles) < count:
        zone = rng.randint(1, 60)
        band = rng.randrange(2, len(BANDS) - 1)  # latitude band -64..72
        col, row = rng.randrange(8), rng.randrange(8)
        tile = f"{zone:02d}{BANDS[band]}{COLUMNS_LETTERS[(zone * 8 + col) % 24]}{ROWS_LETTERS[(band * 8 + row) % 20]}"
        lon = -180 + (zone - 1) * 6 + col * 0.75 + 0.4
        lat = -80 + band * 8 + row + 0.5
        tiles.setdefault(tile, (lon, lat))
    return sorted(tiles.items())


def _ts(seconds: float) -> dt.datetime:
    return T_START + dt.timedelta(seconds=seconds)


def _polygon(lon: float, lat: float, width: float, height: float, skew: float) -> str:
    lon = min(max(lon, -180 + width / 2 + abs(skew)), 180 - width / 2 - abs(skew))
    lat = min(max(lat, -84 + height / 2), 84 - height / 2)
    x0, x1, y0, y1 = lon - width / 2, lon + width / 2, lat - height / 2, lat + height / 2
    points = [(x0 + skew, y0), (x1 + skew, y0), (x1 - skew, y1), (x0 - skew, y1), (x0 + skew, y0)]
    return "POLYGON((" + ",".join(f"{x:.4f} {y:.4f}" for x, y in points) + "))"


class Generator:
    """Deterministic product rows; ``rows(i)`` gives the i-th product's values as Python objects."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.tiles = make_tiles(random.Random(seed + 1))
        types = [t for t, _, _ in PRODUCT_TYPES]
        weights = [w for _, _, w in PRODUCT_TYPES]
        self.type_choices = random.Random(seed + 2).choices(types, weights=weights, k=100_000)
        self.family = {t: f for t, f, _ in PRODUCT_TYPES}
        self.names: set = set()

    def product(self):
        rng = self.rng
        ptype = self.type_choices[rng.randrange(len(self.type_choices))]
        fam = self.family[ptype]
        platform_name, serials, duration, (lat_min, lat_max), (width, height) = FAMILY[fam]
        sat = fam + rng.choice(serials) if fam != "S5P" else "S5P"
        start_s = rng.uniform(0, SPAN - 4 * 86400)
        start = _ts(round(start_s, 3))
        end = start + dt.timedelta(seconds=duration * rng.uniform(0.9, 1.1))
        latency = rng.uniform(lat_min, lat_max)
        processing = end + dt.timedelta(seconds=latency * 0.8)
        publication = end + dt.timedelta(seconds=latency, microseconds=rng.randrange(1_000_000))
        orbit = int(start_s / 6060) + {"A": 24000, "B": 15000, "P": 21000}.get(sat[-1], 20000) + (
            30000 if fam == "S1" else 0)
        relative = (orbit % (175 if fam == "S1" else 143)) + 1
        tile = None
        f = lambda t: t.strftime("%Y%m%dT%H%M%S")  # noqa: E731
        if fam == "S2":
            tile, (lon, lat) = self.tiles[rng.randrange(len(self.tiles))]
            lon += rng.uniform(-0.05, 0.05)
            lat += rng.uniform(-0.05, 0.05)
            base = f"{sat}_{S2_LEVEL[ptype]}_{f(start)}_N0510_R{relative:03d}_T{tile}_{{}}.SAFE.zip"
        else:
            lon, lat = rng.uniform(-180, 180), rng.uniform(-75, 80)
            if fam == "S1":
                base = (f"{sat}_{S1_NAME[ptype]}_{f(start)}_{f(end)}_{orbit:06d}_{rng.randrange(1 << 24):06X}"
                        f"_{{}}.SAFE.zip")
            elif fam == "S3":
                base = (f"{sat}_{ptype}_{f(start)}_{f(end)}_{{}}_{duration:04d}_{orbit % 385:03d}_{relative:03d}"
                        f"_{rng.randrange(5000):04d}_PS{sat[-1]}_O_NR_004.SEN3.zip")
            else:
                base = f"S5P_OFFL_{ptype}_{f(start)}_{f(end)}_{orbit:05d}_03_020600_{{}}.nc"
        stamp = processing
        while True:  # names are unique per mission; the processing stamp or CRC tells clashes apart
            token = f"{rng.randrange(1 << 16):04X}" if fam == "S1" else f(stamp)
            name = base.format(token)
            if name not in self.names:
                break
            stamp += dt.timedelta(seconds=1)
        self.names.add(name)
        footprint = _polygon(lon, lat, width * rng.uniform(0.9, 1.1), height * rng.uniform(0.9, 1.1),
                             rng.uniform(-0.2, 0.2) * width)
        attributes = [
            ("productType", "String", ptype),
            ("platformShortName", "String", platform_name),
            ("platformSerialIdentifier", "String", sat[-1]),
            ("processingLevel", "String", LEVEL[fam].get(ptype, "LEVEL1")),
            ("orbitNumber", "Integer", orbit),
            ("relativeOrbitNumber", "Integer", relative),
            ("processingDate", "DateTimeOffset", processing),
            ("qualityStatusNominal", "Boolean", rng.random() < 0.97),
        ]
        if ptype in OPTICAL:
            attributes.append(("cloudCover", "Double", round(rng.betavariate(0.6, 1.0) * 100, 6)))
        if tile is not None:
            attributes.append(("tileId", "String", tile))
        p = rng.random()
        production_type = ("systematic_production" if p < 0.97 else
                           "on-demand:default" if p < 0.99 else "on-demand:non-default")
        v = rng.random()
        visibility = "PUBLIC" if v < 0.9 else "RESTRICTED" if v < 0.98 else "INTERNAL"
        product_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        evict = publication + dt.timedelta(days=30) if rng.random() < 0.2 else None
        return {
            "id": product_id,
            "name": name,
            "content_type": "application/x-netcdf" if name.endswith(".nc") else "application/zip",
            "content_length": rng.randrange(20_000_000, 1_500_000_000),
            "origin_date": processing,
            "publication_date": publication,
            "modification_date": publication,
            "eviction_date": evict,
            "online": rng.random() < 0.95,
            "content_start": start,
            "content_end": end,
            "production_type": production_type,
            "footprint": footprint,
            "visibility": visibility,
            "archive_key": f"{MISSION}/{product_id}/{name}",
            "product_type": ptype,
            "checksums": [("MD5", f"{rng.getrandbits(128):032x}", publication),
                          ("SHA256", f"{rng.getrandbits(256):064x}", publication)],
            "attributes": attributes,
        }


def _t(value) -> str:
    return "\\N" if value is None else value.isoformat()


def _copy_text(value) -> str:
    """A text cell of COPY's text format (backslash, tab and newline escaped)."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def copy_lines(p) -> tuple:
    """The COPY text lines (products, attributes, checksums) of one generated product; the
    derived columns (footprint literal and GeoJSON, promoted attributes) computed by the
    functions the storage writes them with."""
    from proseo_odata.model import Attribute, AttributeType
    from proseo_odata.storage.mapping import promoted_values, render_footprint
    from proseo_odata.storage.schema import PROMOTED_ATTRIBUTES

    pid = str(p["id"])
    literal, geojson = render_footprint(p["footprint"])
    promoted = promoted_values([Attribute(n, AttributeType(k), v) for n, k, v in p["attributes"]
                                if n in PROMOTED_ATTRIBUTES])
    cloud = promoted["cloud_cover"]
    product = "\t".join([
        pid, MISSION, p["name"], p["content_type"], str(p["content_length"]), _t(p["origin_date"]),
        _t(p["publication_date"]), _t(p["modification_date"]),
        NEVER_TEXT if p["eviction_date"] is None else _t(p["eviction_date"]), "t" if p["online"] else "f",
        _t(p["content_start"]), _t(p["content_end"]), p["production_type"], p["footprint"],
        "SRID=4326;" + p["footprint"], p["visibility"], p["archive_key"], p["product_type"], "1",
        _copy_text(literal), _copy_text(geojson), "\\N" if cloud is None else repr(cloud),
        _t(promoted["processing_date"]),
    ]) + "\n"
    attributes = []
    for name, kind, value in p["attributes"]:
        cells = ["\\N"] * 5
        if kind == "String":
            cells[0] = value
        elif kind == "Integer":
            cells[1] = str(value)
        elif kind == "Double":
            cells[2] = repr(value)
        elif kind == "Boolean":
            cells[3] = "t" if value else "f"
        else:
            cells[4] = value.isoformat()
        attributes.append(f"{pid}\t{name}\t{kind}\t" + "\t".join(cells) + "\n")
    checksums = [f"{pid}\t{algorithm}\t{value}\t{_t(date)}\n" for algorithm, value, date in p["checksums"]]
    return product, "".join(attributes), "".join(checksums)


def as_product(p):
    """The generated values as the domain object ``add_product`` would store."""
    from proseo_odata.model import NEVER, Attribute, AttributeType, Checksum, Product

    return Product(
        mission=MISSION, name=p["name"], id=p["id"], content_type=p["content_type"],
        content_length=p["content_length"], origin_date=p["origin_date"], publication_date=p["publication_date"],
        modification_date=p["modification_date"], eviction_date=p["eviction_date"] or NEVER,
        online=p["online"], checksums=[Checksum(a, v, d) for a, v, d in p["checksums"]],
        content_start=p["content_start"], content_end=p["content_end"], production_type=p["production_type"],
        footprint=p["footprint"], attributes=[Attribute(n, AttributeType(k), v) for n, k, v in p["attributes"]],
        visibility=p["visibility"], archive_key=p["archive_key"], product_type=p["product_type"], revision=1,
    )


# --------------------------------------------------------------------------------------------
# the load

LOADED_TABLES = ("products", "product_checksums", "product_attributes")


def _schema_objects(conn) -> tuple:
    """(constraints, indexes) of the loaded tables: [(table, name, definition, kind)], [(table, name, def)]."""
    constraints = conn.execute(
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid), c.contype "
        "FROM pg_constraint c WHERE c.conrelid::regclass::text = ANY(%s) AND c.contype IN ('p','u','f') "
        "ORDER BY c.contype DESC, c.conname", (list(LOADED_TABLES),)).fetchall()
    indexes = conn.execute(
        "SELECT i.indrelid::regclass::text, c.relname, pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE i.indrelid::regclass::text = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p','u')) "
        "ORDER BY c.relname", (list(LOADED_TABLES),)).fetchall()
    return constraints, indexes


def load(url: str, n: int, seed: int, chunk: int = 2000) -> dict:
    """Drop the loaded tables' indexes/constraints, COPY n products, re-create them. Timings."""
    from psycopg import sql

    timings = {}
    with _admin(url) as conn:
        conn.execute("INSERT INTO missions (code, name) VALUES (%s, %s)", (MISSION, "catalogue benchmark"))
        constraints, indexes = _schema_objects(conn)
        # FKs first (they depend on the primary keys), then keys and indexes.
        for table, name, _definition, _kind in sorted(constraints, key=lambda c: c[3] != "f"):
            conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table), sql.Identifier(name)))
        for _table, name, _definition in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))

    generator = Generator(seed)
    samples = []
    sample_every = max(1, n // 25)
    started = time.perf_counter()
    connections = [_admin(url) for _ in LOADED_TABLES]
    try:
        statements = [
            sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(t), sql.SQL(", ").join(map(sql.Identifier, cols)))
            for t, cols in zip(LOADED_TABLES, (PRODUCT_COLUMNS, CHECKSUM_COLUMNS, ATTRIBUTE_COLUMNS))
        ]
        cursors = [c.cursor() for c in connections]
        with cursors[0].copy(statements[0]) as cp, cursors[1].copy(statements[1]) as cc, \
                cursors[2].copy(statements[2]) as ca:
            done = 0
            while done < n:
                size = min(chunk, n - done)
                bufs = ([], [], [])
                for i in range(size):
                    p = generator.product()
                    if (done + i) % sample_every == 0:
                        samples.append(p)
                    product, attributes, checksums = copy_lines(p)
                    bufs[0].append(product)
                    bufs[1].append(checksums)
                    bufs[2].append(attributes)
                cp.write("".join(bufs[0]))
                cc.write("".join(bufs[1]))
                ca.write("".join(bufs[2]))
                done += size
                if done % 100_000 == 0 or done == n:
                    log(f"  copied {done:,} products ({time.perf_counter() - started:.0f} s)")
    finally:
        for c in connections:
            c.close()
    timings["copy_s"] = time.perf_counter() - started

    started = time.perf_counter()
    with _admin(url) as conn:
        for table, name, definition, kind in sorted(constraints, key=lambda c: c[3] == "f"):
            log(f"  {table}: constraint {name}")
            conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(sql.Identifier(table), sql.Identifier(name))
                         + sql.SQL(definition))
        for table, name, definition in indexes:
            log(f"  {table}: index {name}")
            conn.execute(sql.SQL(definition))
        after = _schema_objects(conn)
        if sorted(after[0]) != sorted(constraints) or sorted(after[1]) != sorted(indexes):
            raise RuntimeError(f"re-created schema objects differ from the migrated ones:\n{after}\n{constraints}\n{indexes}")
    timings["index_s"] = time.perf_counter() - started
    timings["samples"] = samples
    timings["generator"] = generator
    return timings


def finish_load(url: str, own_server: bool) -> float:
    started = time.perf_counter()
    with _admin(url) as conn:
        if own_server:
            for name in LOAD_ONLY_OFF:
                conn.execute(f"ALTER SYSTEM SET {name} = on")  # constant names from LOAD_ONLY_OFF
            conn.execute("SELECT pg_reload_conf()")
            conn.execute("CHECKPOINT")
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def verify_samples(storage, samples) -> None:
    """The loaded rows read back as exactly the products the generator describes."""
    import sqlalchemy as sa

    for p in samples:
        expected = as_product(p)
        stored = storage.get_product(MISSION, p["id"])
        if stored != expected:
            raise RuntimeError(f"loaded product differs from its domain object:\n{stored}\n{expected}")
        from proseo_odata.storage.mapping import render_footprint

        if stored.rendered_footprint != (expected.footprint, *render_footprint(expected.footprint)):
            raise RuntimeError(f"loaded footprint columns differ from the storage's: {stored.rendered_footprint}")
    with storage.engine.connect() as conn:
        bad = conn.execute(sa.text(
            "SELECT count(*) FROM products WHERE id = ANY(:ids) "
            "AND (NOT ST_Equals(footprint_geom, ST_GeomFromText(footprint, 4326)) "
            "OR ST_SRID(footprint_geom) <> 4326)"), {"ids": [p["id"] for p in samples]}).scalar()
    if bad:
        raise RuntimeError(f"{bad} sampled footprint geometries differ from their WKT")


# --------------------------------------------------------------------------------------------
# the queries

PT = ("Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
      "att/OData.CSC.StringAttribute/Value eq '{}')")


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _big_types():
    return [t for t, _, w in PRODUCT_TYPES if w >= 3]


def intersects_pairs(rng: random.Random) -> list:
    """``$filter`` of an ``OData.CSC.Intersects`` with a random 2-10 x 2-8 degree box, top 100."""
    lon, lat = rng.uniform(-170, 160), rng.uniform(-60, 65)
    w, h = rng.uniform(2, 10), rng.uniform(2, 8)
    ring = [(lon, lat), (lon + w, lat), (lon + w, lat + h), (lon, lat + h), (lon, lat)]
    wkt = ",".join(f"{x:.3f} {y:.3f}" for x, y in ring)
    return [("$filter", f"OData.CSC.Intersects(area=geography'SRID=4326;POLYGON(({wkt}))')"), ("$top", "100")]


def query_variants(n: int, variants: int, seed: int, tiles) -> dict:
    """name -> (description, [query-string pairs, ...]); literals vary between variants."""
    rng = random.Random(seed + 7)
    pick = lambda seq: seq[rng.randrange(len(seq))]  # noqa: E731
    rand_time = lambda lo=0.0, hi=SPAN - 30 * 86400: _ts(rng.uniform(lo, hi)).replace(microsecond=0)  # noqa: E731
    types = [t for t, _, _ in PRODUCT_TYPES]
    optical = [t for t, _, _ in PRODUCT_TYPES if t in OPTICAL]
    deep = min(500, max(2, n // 2000))  # page number of the deep pages (500 at 1M)
    q = {}

    def add(key, description, make):
        q[key] = (description, [make() for _ in range(variants)])

    def type_window():
        start = rand_time()
        end = start + dt.timedelta(days=rng.choice([1, 7, 30]))
        return [("$filter", PT.format(pick(types)) + f" and ContentDate/Start ge {_iso(start)} and "
                 f"ContentDate/End le {_iso(end)}"),
                ("$orderby", "ContentDate/Start asc"), ("$top", "100"), ("$expand", "Attributes")]
    add("type_window", "productType eq X (lambda) + ContentDate window (1/7/30 d), orderby ContentDate/Start, "
        "top 100, expand Attributes", type_window)

    def type_cloud():
        return [("$filter", PT.format(pick(optical)) + " and Attributes/OData.CSC.DoubleAttribute/any("
                 "att:att/Name eq 'cloudCover' and att/OData.CSC.DoubleAttribute/Value le "
                 f"{rng.choice([1, 2, 5, 5, 5, 10, 20])}.{rng.randrange(10)})"),
                ("$orderby", "ContentDate/Start desc"), ("$top", "100")]
    add("type_cloud", "productType eq X and cloudCover le 1..20, orderby ContentDate/Start desc, top 100", type_cloud)

    def prefix():
        year = rng.choice(["2022", "2023", "2024"])
        month = rng.choice(["", "", f"{rng.randint(1, 12):02d}"])
        return [("$filter", f"startswith(Name,'{rng.choice(['S2A', 'S2B'])}_{rng.choice(['MSIL1C', 'MSIL2A'])}"
                 f"_{year}{month}')"), ("$top", "100")]
    add("name_prefix", "startswith(Name,'S2A_MSIL1C_2024[MM]'), top 100", prefix)

    def tile():
        return [("$filter", f"contains(Name,'_T{pick(tiles)[0]}_')"), ("$top", "100")]
    add("name_contains", "contains(Name,'_T32TQM_') (tiles vary), top 100", tile)

    add("intersects", "OData.CSC.Intersects(polygon 2-10 x 2-8 degrees), top 100", lambda: intersects_pairs(rng))

    def published():
        return [("$filter", f"PublicationDate gt {_iso(rand_time())}"), ("$orderby", "PublicationDate desc"),
                ("$top", "100")]
    add("publication_desc", "PublicationDate gt X, orderby PublicationDate desc, top 100", published)

    def counted():
        return [("$filter", PT.format(pick(types))), ("$count", "true"), ("$top", "100")]
    add("type_count", "productType eq X, $count=true, top 100", counted)

    def keyset_base():
        return [("$filter", f"PublicationDate lt {_iso(rand_time(0.3 * SPAN, SPAN))}"),
                ("$orderby", "PublicationDate desc")]
    bases = [keyset_base() for _ in range(variants)]
    q["deep_skiptoken"] = (f"page {deep} of 100 via $skiptoken (PublicationDate lt X, orderby PublicationDate desc)",
                           [[*b, ("$top", "100"), ("$skiptoken", None), ("$skip", str((deep - 1) * 100))] for b in bases])
    q["deep_skip"] = (f"the same page {deep} via $skip={(deep - 1) * 100}",
                      [[*b, ("$top", "100"), ("$skip", str((deep - 1) * 100))] for b in bases])

    def orbit():
        return [("$filter", "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'orbitNumber' and "
                 f"att/OData.CSC.IntegerAttribute/Value lt {rng.randrange(15_000, 70_000)})"), ("$top", "100")]
    add("orbit_lt", "orbitNumber (Integer attribute) lt X, top 100", orbit)

    def processing():
        return [("$filter", "Attributes/OData.CSC.DateTimeOffsetAttribute/any(att:att/Name eq 'processingDate' and "
                 f"att/OData.CSC.DateTimeOffsetAttribute/Value ge {_iso(rand_time())})"), ("$top", "100")]
    add("processing_ge", "processingDate (DateTimeOffset attribute) ge X, top 100", processing)
    return q


class QueryRunner:
    """The PRIP /Products view's path minus HTTP and JSON: options -> build_query -> query_products."""

    #: The storage method run (bench.http_catalogue: the one the PRIP page view calls), and
    #: the keyword arguments it takes besides the query and the visibilities.
    method = "query_products"
    options: dict = {}

    def __init__(self, storage):
        from proseo_odata.model import VisibilityClass

        self.storage = storage
        self.visibilities = (VisibilityClass.PUBLIC,)

    def run(self, pairs):
        from proseo_odata.query import build_query

        paged = build_query("Products", pairs)
        return getattr(self.storage, self.method)(MISSION, paged.query, visibilities=self.visibilities,
                                                  **self.options)

    def resolve_tokens(self, pairs):
        """Fill a ``$skiptoken`` placeholder: the token of the row before the page, from the storage."""
        if not any(name == "$skiptoken" and value is None for name, value in pairs):
            return pairs
        skip = int(dict(pairs)["$skip"])
        probe = [(k, v) for k, v in pairs if k not in ("$skiptoken", "$skip", "$top")]
        result = self.run(probe + [("$skip", str(skip - 1)), ("$top", "1")])
        if result.next_skiptoken is None:
            raise RuntimeError(f"fewer than {skip} rows for {probe}")
        return [(k, result.next_skiptoken if k == "$skiptoken" else v) for k, v in pairs]


def percentile(values, p):
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def measure(runner, queries, warmup: int = 3) -> dict:
    keys = list(queries)
    variants = len(next(iter(queries.values()))[1])
    for key in keys:  # warm-up: untimed, the variants' mirror images
        for pairs in queries[key][1][-warmup:]:
            runner.run(pairs)
    times = {k: [] for k in keys}
    rows = {k: [] for k in keys}
    for r in range(variants):
        order = keys if r % 2 == 0 else keys[::-1]
        for key in order:
            pairs = queries[key][1][r]
            t0 = time.perf_counter()
            result = runner.run(pairs)
            times[key].append((time.perf_counter() - t0) * 1000)
            rows[key].append(len(result.items) if result.count is None else result.count)
    return {"times": times, "rows": rows}


def explain(storage, runner, pairs, path: str, header: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements on ``products`` the backend runs for one query."""
    import sqlalchemy as sa

    captured = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        # the page and count statements; the per-page loads of checksums/attributes are
        # primary-key look-ups of the page's ids
        if statement.lstrip().upper().startswith("SELECT") and "FROM products" in statement:
            captured.append((statement, parameters))

    sa.event.listen(storage.engine, "before_cursor_execute", capture)
    try:
        runner.run(pairs)
    finally:
        sa.event.remove(storage.engine, "before_cursor_execute", capture)
    out = [header, "", "query string pairs:"] + [f"  {k} = {v}" for k, v in pairs] + [""]
    with storage.engine.connect() as conn:
        conn.exec_driver_sql("SET timezone = 'UTC'")
        for statement, parameters in captured:
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars().all()
            shown = {k: (str(v) if len(str(v)) < 200 else str(v)[:200] + "...") for k, v in (parameters or {}).items()}
            out += ["-" * 100, statement, f"parameters: {shown}", "", *plan, ""]
        conn.rollback()
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(out) + "\n")


# --------------------------------------------------------------------------------------------
# machine and report


def machine() -> dict:
    cpu = "?"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as handle:
            mem_kb = int(re.search(r"MemTotal:\s+(\d+)", handle.read()).group(1))
    except OSError:
        mem_kb = 0
    return {"nproc": os.cpu_count(), "cpu": cpu, "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
            "python": platform.python_version(), "load": os.getloadavg()}


def report(args, info, timings, results, queries, sizes) -> str:
    lines = [
        f"Date: {dt.datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: nproc = {info['nproc']}, CPU "
        f"`{info['cpu']}`, {info['memory']} RAM, Python {info['python']}, {info['pg']}; load average "
        f"{info['load'][0]:.2f} at the start of the queries.",
        f"Command: `{' '.join(['.venv/bin/python -m bench.catalogue'] + sys.argv[1:])}`",
        "",
        f"Load of {args.products:,} products: COPY {timings['copy_s']:.0f} s (rows generated in Python), "
        f"indexes and constraints {timings['index_s']:.0f} s, VACUUM ANALYZE {timings['analyze_s']:.0f} s; "
        f"total {timings['copy_s'] + timings['index_s'] + timings['analyze_s']:.0f} s. Sizes: {sizes}.",
        "",
        f"| query | median ms | p95 ms | max ms | rows (median) | p95 <= {TARGET_MS:.0f} ms? |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for key, (description, _) in queries.items():
        t = results["times"][key]
        p95 = percentile(t, 95)
        lines.append(f"| `{key}`: {description} | {statistics.median(t):.1f} | {p95:.1f} | {max(t):.1f} | "
                     f"{statistics.median(results['rows'][key]):.0f} | {'yes' if p95 <= TARGET_MS else '**no**'} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.catalogue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1_000_000)
    parser.add_argument("--keep-server", action="store_true", help="leave the server (and its data) running")
    parser.add_argument("--pg-url", help="use this existing server (maintenance database URL) instead")
    parser.add_argument("--variants", type=int, default=40, help="literal variants per query (timed runs)")
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--explain", type=int, default=5,
                        help="EXPLAIN the N queries with the highest p95 (and any with a run over 1 s)")
    args = parser.parse_args(argv)

    from psycopg import sql
    from sqlalchemy.engine import make_url

    def _terminate(signum, frame):
        raise SystemExit(f"stopped by signal {signum}")
    signal.signal(signal.SIGTERM, _terminate)

    server = None
    database_url = None
    dropped = False
    try:
        if args.pg_url:
            admin_url = make_url(args.pg_url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        else:
            server = _make_server()
            log("starting PostgreSQL")
            server.start()
            admin_url = server.url
            log(f"server on 127.0.0.1:{server.port}, data in {server.datadir}")
        name = f"proseo_bench_{uuid.uuid4().hex[:8]}"
        with _admin(admin_url) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            pg_version = conn.execute("SELECT version()").fetchone()[0].split(" on ")[0]
        database_url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)

        from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage

        storage = SQLAlchemyStorage.from_url(database_url)
        storage.initialize_schema()
        if not storage.tables.postgis:
            raise SystemExit("the server has no PostGIS: install postgresql-15-postgis-3")
        log(f"schema at {storage.schema_revision()}; loading {args.products:,} products")
        timings = load(database_url, args.products, args.seed)
        log(f"COPY {timings['copy_s']:.0f} s, indexes {timings['index_s']:.0f} s; VACUUM ANALYZE")
        timings["analyze_s"] = finish_load(database_url, own_server=server is not None)
        storage.close()
        storage = SQLAlchemyStorage.from_url(database_url)
        verify_samples(storage, timings["samples"])
        log(f"{len(timings['samples'])} sampled products read back equal to their domain objects")
        with _admin(database_url) as conn:
            sizes = ", ".join(
                f"{t} {conn.execute('SELECT pg_size_pretty(pg_total_relation_size(%s::regclass))', (t,)).fetchone()[0]}"
                for t in LOADED_TABLES)
            count = conn.execute("SELECT count(*) FROM product_attributes").fetchone()[0]
            sizes += f" (with indexes; {count:,} attribute rows)"
            if server is not None:
                settings = dict(conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)", (list(LOAD_ONLY_OFF),)).fetchall())
                if any(v != "on" for v in settings.values()):
                    raise RuntimeError(f"load-only settings still off: {settings}")

        runner = QueryRunner(storage)
        queries = query_variants(args.products, args.variants, args.seed, timings["generator"].tiles)
        for key in queries:
            queries[key] = (queries[key][0], [runner.resolve_tokens(p) for p in queries[key][1]])
        info = machine()
        info["pg"] = pg_version
        log(f"running {len(queries)} queries x {args.variants} variants")
        results = measure(runner, queries)
        text = report(args, info, timings, results, queries, sizes)
        print(text)

        os.makedirs(RESULTS, exist_ok=True)
        ranked = sorted(queries, key=lambda k: percentile(results["times"][k], 95), reverse=True)
        # the highest p95s, and any query with a single run over 1 s (an outlier variant)
        explained = ranked[: args.explain] + [k for k in ranked[args.explain:] if max(results["times"][k]) > 1000]
        for key in explained:
            t = results["times"][key]
            worst = max(range(len(t)), key=t.__getitem__)
            path = os.path.join(RESULTS, f"catalogue_{args.products}_{key}.txt")
            header = (f"{key}: {queries[key][0]}\n{args.products:,} products; slowest of {len(t)} variants "
                      f"({t[worst]:.1f} ms through query_products; p95 {percentile(t, 95):.1f} ms); "
                      f"{dt.datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
            explain(storage, runner, queries[key][1][worst], path, header)
            log(f"plan: {os.path.relpath(path, os.path.dirname(HERE))}")
        storage.close()
        if args.keep_server:
            log(f"kept: {database_url}" + (f" (data in {server.datadir}; stop with pg_ctl -D ... stop)" if server else ""))
        elif args.pg_url:
            with _admin(admin_url) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            dropped = True
        return 0
    finally:
        if server is not None and not args.keep_server:
            log("stopping PostgreSQL, removing its data directory")
            server.stop()
        elif args.pg_url and database_url and not dropped and not args.keep_server:
            try:
                with _admin(admin_url) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(make_url(database_url).database)))
            except Exception as exc:  # noqa: BLE001 - cleanup of a failed run
                log(f"could not drop {database_url}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
