"""Column types shared by the schema and the migrations.

``UTCDateTime`` keeps microseconds on both databases: ``timestamp with time zone`` on
PostgreSQL; on SQLite a fixed-width ISO-8601 string ``YYYY-MM-DDTHH:MM:SS.ffffff`` (UTC, 26
characters), so that text comparison and ``ORDER BY`` give the chronological order and SQLite's
date functions (``strftime``) still read it. Values are always returned as aware UTC datetimes.

``Geometry`` is PostGIS's ``geometry(Geometry,4326)`` (planar, so results match shapely's);
the schema only uses it on PostgreSQL with PostGIS.
"""
from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator, UserDefinedType

from proseo_odata.model import as_utc

SQLITE_DATETIME_WIDTH = 26


def format_sqlite_datetime(value: datetime) -> str:
    # YYYY-MM-DDTHH:MM:SS.ffffff: isoformat pads the year to 4 digits; the "+00:00" is cut off
    return as_utc(value).isoformat(timespec="microseconds")[:SQLITE_DATETIME_WIDTH]


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes with microseconds (see the module docstring)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(SQLITE_DATETIME_WIDTH))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):  # a literal already in storage form (tests, raw tools)
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
        if dialect.name == "sqlite":
            return format_sqlite_datetime(value)
        return as_utc(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    @property
    def python_type(self):
        return datetime


class Geometry(UserDefinedType):
    """PostGIS ``geometry(Geometry,4326)``."""

    cache_ok = True

    def __init__(self, *args, **kwargs):  # reflection passes the geometry type and SRID
        super().__init__()

    def get_col_spec(self, **kw):
        return "geometry(Geometry,4326)"


def _register_reflection() -> None:
    """Let reflection (Alembic's autogenerate, ``Table(autoload_with=...)``) know PostGIS's type."""
    try:
        from sqlalchemy.dialects.postgresql.base import ischema_names
    except ImportError:  # pragma: no cover
        return
    ischema_names.setdefault("geometry", Geometry)


_register_reflection()
