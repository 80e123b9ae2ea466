"""Date-time text: the one ISO-8601 formatter and the one parser of the core.

* :func:`format_datetime` writes the wire form of contract section 2, ``YYYY-MM-DDThh:mm:ss.fffZ``
  (``.ffffffZ`` when the value has sub-millisecond digits, so nothing stored is lost).
* :func:`format_basic` writes the compact ``YYYYMMDDThhmmss`` stamp of ESA product names.
* :func:`parse_datetime` reads what clients and metadata files send: ``Z``/``z``, ``+hh:mm`` or
  ``+hhmm``, no zone (= UTC), ``T`` or a space between date and time, seconds optional, 1-9
  fractional digits (kept to the microsecond) after ``.`` or the ``:`` of the user's documents
  (``10:35:18:872Z``), and with ``allow_date=True`` a bare date (= midnight UTC).

Every result is a timezone-aware UTC ``datetime``, as the domain model requires.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

__all__ = ["format_basic", "format_datetime", "parse_datetime"]

UTC = timezone.utc

_DATETIME = re.compile(
    r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.:](?P<fraction>\d{1,9}))?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?)?$"
)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be written as UTC")
    return value.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    """``2021-05-20T19:08:07.654Z`` (milliseconds), or ``...07.654321Z`` when the value has
    sub-millisecond digits. ``ValueError`` for a naive datetime."""
    value = _aware(value)
    text = value.strftime("%Y-%m-%dT%H:%M:%S.%f")
    if value.microsecond % 1000 == 0:
        text = text[:-3]
    return text + "Z"


def format_basic(value: datetime) -> str:
    """The ISO-8601 basic form ``20210520T190807`` (UTC, whole seconds) used in product names."""
    return _aware(value).strftime("%Y%m%dT%H%M%S")


def parse_datetime(text: str, *, allow_date: bool = False) -> datetime:
    """The aware UTC datetime an ISO-8601 text denotes (see the module for the accepted forms).

    ``ValueError`` with a message quoting the text and an example when it is not one."""
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO-8601 date-time string, got {text!r}")
    match = _DATETIME.match(text.strip())
    if not match or (match["hour"] is None and not allow_date):
        raise ValueError(f"{text!r} is not an ISO-8601 date-time such as 2021-05-20T19:08:07.654Z")
    zone = match["zone"]
    tz = UTC
    if zone and zone not in "Zz":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:])
        if hours > 23 or minutes > 59:
            raise ValueError(f"{text!r} has an invalid zone offset {zone}")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        value = datetime(
            int(match["year"]), int(match["month"]), int(match["day"]),
            int(match["hour"] or 0), int(match["minute"] or 0), int(match["second"] or 0),
            int((match["fraction"] or "0")[:6].ljust(6, "0")), tzinfo=tz,
        ).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"{text!r} is not a valid date-time ({exc})") from None
    return value
