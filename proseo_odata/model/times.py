"""Date-time text: the one ISO-8601 formatter and the one parser of the core.

* :func:`format_datetime` writes the wire form of contract section 2: exactly three fraction
  digits and ``Z`` (``YYYY-MM-DDThh:mm:ss.fffZ``, the seed documents' pattern and ESA's ICD),
  sub-millisecond digits truncated, or six digits when the deployment chooses so with
  ``proseo.datetime.fraction_digits = 6`` (:func:`set_fraction_digits`; the Copernicus Data Space emits
  six). A truncated value pasted back into a filter still selects its entity: the query binder
  reads a literal without sub-millisecond digits as its whole millisecond for ``eq``, ``le`` and
  ``gt`` (:mod:`proseo_odata.odata.binding`).
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

__all__ = ["FRACTION_DIGITS", "fraction_digits", "set_fraction_digits", "format_basic", "format_datetime", "parse_datetime"]

UTC = timezone.utc

#: The fraction digits :func:`format_datetime` may write (``proseo.datetime.fraction_digits``).
FRACTION_DIGITS = (3, 6)
_digits = 3

_DATETIME = re.compile(
    r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:[.:](?P<fraction>\d{1,9}))?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}:?\d{2})?)?$"
)

#: The common form ``2021-05-20T19:08:07.654Z`` (0-6 fraction digits, ``Z``), a subset of
#: :data:`_DATETIME` that ``datetime.fromisoformat`` reads to the same aware UTC value.
_COMMON = re.compile(r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):\d{2}:\d{2}(?:\.\d{1,6})?Z\Z")  # no 24:00 (3.14 reads it)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} cannot be written as UTC")
    return value.astimezone(UTC)


def fraction_digits() -> int:
    """The fraction digits date-times are emitted with in this process (3 unless configured)."""
    return _digits


def set_fraction_digits(digits: int) -> None:
    """Emit date-times with ``digits`` (3, the default, or 6) fraction digits in this process:
    :meth:`proseo_odata.config.CoreSettings.apply` sets ``proseo.datetime.fraction_digits``
    at start-up. ``ValueError`` for another number."""
    global _digits
    if digits not in FRACTION_DIGITS:
        raise ValueError(f"proseo.datetime.fraction_digits must be 3 or 6, got {digits!r}")
    _digits = digits


def format_datetime(value: datetime, digits: int | None = None) -> str:
    """``2021-05-20T19:08:07.654Z``: exactly three fraction digits (sub-millisecond digits
    truncated, never rounded up past the stored value), or six (``...07.654321Z``) with
    ``digits=6`` or the process setting (:func:`set_fraction_digits`). ``ValueError`` for a naive datetime."""
    value = _aware(value)
    # The year always in four digits (ISO-8601, OData's dateTimeOffsetValue): strftime's %Y
    # writes a year before 1000 with fewer on Linux, which no parser (this one included) reads.
    text = f"{value.year:04d}" + value.strftime("-%m-%dT%H:%M:%S.%f")
    if (digits or _digits) == 3:
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
    if _COMMON.match(text):  # what PRIP writes: the standard library reads it 20x faster
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass  # (a day out of range: the message below)
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
