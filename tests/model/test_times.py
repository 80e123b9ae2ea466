"""The core's one date-time formatter and parser (proseo_odata.model.times)."""
from datetime import datetime, timedelta, timezone

import pytest

from proseo_odata.model import format_basic, format_datetime, parse_datetime

UTC = timezone.utc


@pytest.mark.parametrize("text, expected", [
    ("2021-05-20T19:08:07.654Z", datetime(2021, 5, 20, 19, 8, 7, 654000, tzinfo=UTC)),
    ("2021-05-20T19:08:07Z", datetime(2021, 5, 20, 19, 8, 7, tzinfo=UTC)),
    ("2021-05-20t19:08:07z", datetime(2021, 5, 20, 19, 8, 7, tzinfo=UTC)),
    ("2021-05-20 19:08", datetime(2021, 5, 20, 19, 8, tzinfo=UTC)),                      # no zone = UTC
    ("2021-05-20T21:08:07.5+02:00", datetime(2021, 5, 20, 19, 8, 7, 500000, tzinfo=UTC)),
    ("2021-05-20T17:08:07-0200", datetime(2021, 5, 20, 19, 8, 7, tzinfo=UTC)),
    ("2021-05-20T19:08:07.123456789Z", datetime(2021, 5, 20, 19, 8, 7, 123456, tzinfo=UTC)),  # truncated
    ("2016-01-17T10:35:18:872Z", datetime(2016, 1, 17, 10, 35, 18, 872000, tzinfo=UTC)),      # the user's documents
    ("  2021-05-20T19:08:07Z  ", datetime(2021, 5, 20, 19, 8, 7, tzinfo=UTC)),
    # the common form's fast path (datetime.fromisoformat): every fraction length, the extremes
    ("2021-05-20T19:08:07.1Z", datetime(2021, 5, 20, 19, 8, 7, 100000, tzinfo=UTC)),
    ("2021-05-20T19:08:07.12345Z", datetime(2021, 5, 20, 19, 8, 7, 123450, tzinfo=UTC)),
    ("2021-05-20T19:08:07.123456Z", datetime(2021, 5, 20, 19, 8, 7, 123456, tzinfo=UTC)),
    ("0001-01-01T00:00:00Z", datetime(1, 1, 1, tzinfo=UTC)),
    ("9999-12-31T23:59:59.999999Z", datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)),
    ("2024-02-29T00:00:00Z", datetime(2024, 2, 29, tzinfo=UTC)),
])
def test_parse_accepted_forms(text, expected):
    value = parse_datetime(text)
    assert value == expected and value.tzinfo is UTC


@pytest.mark.parametrize("text", [
    "yesterday", "2021-05-20", "2021-05-20T", "2021-13-01T00:00:00Z", "2021-02-30T00:00:00Z",
    "2021-05-20T25:00:00Z", "2021-05-20T19:08:07+25:00", "2021-05-20T19:08:07.Z",
    "2021-05-20T19:08:07.1234567890Z", "0001-01-01T00:00:00+01:00", "", 20210520,
])
def test_parse_rejects_with_a_value_error(text):
    with pytest.raises(ValueError):
        parse_datetime(text)


@pytest.mark.parametrize("text", ["2021-02-29T00:00:00Z", "2021-04-31T10:00:00.5Z", "2021-05-20T24:00:00Z"])
def test_an_impossible_date_in_the_common_form_gets_the_parsers_message(text):
    with pytest.raises(ValueError, match=r"is not a valid date-time \("):
        parse_datetime(text)


def test_bare_dates_only_when_allowed():
    assert parse_datetime("2021-05-20", allow_date=True) == datetime(2021, 5, 20, tzinfo=UTC)
    with pytest.raises(ValueError, match="such as 2021-05-20T19:08:07.654Z"):
        parse_datetime("2021-05-20")


@pytest.mark.parametrize("value, text", [
    (datetime(2021, 5, 20, 19, 8, 7, 654000, tzinfo=UTC), "2021-05-20T19:08:07.654Z"),
    (datetime(2021, 5, 20, 19, 8, 7, tzinfo=UTC), "2021-05-20T19:08:07.000Z"),
    (datetime(2021, 5, 20, 21, 8, 7, tzinfo=timezone(timedelta(hours=2))), "2021-05-20T19:08:07.000Z"),
    # four year digits before 1000 too (strftime's %Y writes "999" on Linux, which no parser reads)
    (datetime(999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), "0999-12-31T23:59:59.999Z"),
    (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
])
def test_format_datetime(value, text):
    assert format_datetime(value) == text
    assert parse_datetime(text) == value  # round trip


SEED_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d.\d{3}Z$"  # the seed documents' date pattern


def test_sub_millisecond_digits_are_truncated_to_three_by_default():
    import re

    value = datetime(2021, 5, 20, 19, 8, 7, 654999, tzinfo=UTC)
    assert format_datetime(value) == "2021-05-20T19:08:07.654Z"  # truncated, never rounded up
    assert re.match(SEED_PATTERN, format_datetime(value))
    assert format_datetime(value, 6) == "2021-05-20T19:08:07.654999Z"


def test_six_digits_by_setting():
    from proseo_odata.config import configure
    from proseo_odata.model import times

    value = datetime(2021, 5, 20, 19, 8, 7, 654321, tzinfo=UTC)
    try:
        configure({"proseo.datetime.fraction_digits": "6"})
        assert times.fraction_digits() == 6
        assert format_datetime(value) == "2021-05-20T19:08:07.654321Z"
        assert format_datetime(datetime(2021, 5, 20, tzinfo=UTC)) == "2021-05-20T00:00:00.000000Z"
    finally:
        configure({})
    assert format_datetime(value) == "2021-05-20T19:08:07.654Z"
    with pytest.raises(ValueError, match="proseo.datetime.fraction_digits"):
        configure({"proseo.datetime.fraction_digits": "4"})


def test_format_basic_and_naive_values():
    assert format_basic(datetime(2023, 3, 1, 11, 0, 5, 999999, tzinfo=timezone(timedelta(hours=1)))) == "20230301T100005"
    for fmt in (format_datetime, format_basic):
        with pytest.raises(ValueError, match="naive"):
            fmt(datetime(2021, 5, 20))
