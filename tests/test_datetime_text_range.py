"""A date-time text whose UTC value falls outside years 1..9999 is the client's error (400),
not an OverflowError (500), in a $filter string literal and in a production order."""
import pytest

from proseo_odata.odata import edm
from proseo_odata.odata.binding import bind_filter, parse_datetime_text
from proseo_odata.odata.errors import ODataError
from proseo_odata.odata.parser import parse_filter
from proseo_odata.model.times import parse_datetime

OUT_OF_RANGE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_filter_string_literal_out_of_range_is_an_odata_error(text):
    assert parse_datetime_text(text) is None
    with pytest.raises(ODataError):
        bind_filter(parse_filter(f"ContentDate/Start lt '{text}'"), edm.PRODUCT)


def test_filter_string_literal_in_range_still_binds():
    assert parse_datetime_text("0001-01-01T00:00:00-01:00").year == 1
    assert bind_filter(parse_filter("ContentDate/Start lt '2020-01-01T00:00:00+01:00'"), edm.PRODUCT) is not None


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_order_date_out_of_range_is_a_value_error(text):
    with pytest.raises(ValueError, match="not a valid date-time"):
        parse_datetime(text)
