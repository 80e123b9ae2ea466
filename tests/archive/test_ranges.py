"""The Range header table (RFC 9110 section 14) for a 1000-byte file."""
import pytest

from proseo_odata.archive.ranges import IGNORE, UNSATISFIABLE, ByteRange, parse_range

SIZE = 1000


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, IGNORE),
        ("", IGNORE),
        ("bytes=0-1023", ByteRange(0, 999)),
        ("bytes=0-99", ByteRange(0, 99)),
        ("bytes=10-10", ByteRange(10, 10)),
        ("bytes=500-", ByteRange(500, 999)),
        ("bytes=999-", ByteRange(999, 999)),
        ("bytes=-100", ByteRange(900, 999)),
        ("bytes=-5000", ByteRange(0, 999)),
        ("BYTES = 1 - 2", ByteRange(1, 2)),
        ("bytes=1000-", UNSATISFIABLE),
        ("bytes=1000-2000", UNSATISFIABLE),
        ("bytes=-0", UNSATISFIABLE),
        ("bytes=5-1", IGNORE),
        ("bytes=-", IGNORE),
        ("bytes=0-1,5-9", IGNORE),
        ("items=0-5", IGNORE),
        ("bytes=a-b", IGNORE),
        # numbers longer than int() accepts (4300 digits) or than any file
        ("bytes=0-" + "9" * 5000, ByteRange(0, 999)),
        ("bytes=" + "9" * 5000 + "-", UNSATISFIABLE),
        ("bytes=" + "9" * 5000 + "-" + "9" * 5001, UNSATISFIABLE),
        ("bytes=-" + "9" * 5000, ByteRange(0, 999)),
        ("bytes=" + "0" * 5000 + "5-" + "0" * 5000 + "9", ByteRange(5, 9)),
        ("bytes=" + "9" * 40 + "-" + "9" * 39, IGNORE),
        ("bytes=0-99999999999999999999999", ByteRange(0, 999)),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, SIZE) == expected


def test_empty_file_has_no_satisfiable_range():
    assert parse_range("bytes=0-", 0) is UNSATISFIABLE
    assert parse_range("bytes=-10", 0) is UNSATISFIABLE


def test_content_range_and_length():
    byte_range = parse_range("bytes=0-1023", 5000)
    assert byte_range.length == 1024
    assert byte_range.content_range(5000) == "bytes 0-1023/5000"


def test_unsatisfiable_error_carries_the_content_range_header():
    from proseo_odata.archive.ranges import RangeNotSatisfiableError
    from proseo_odata.errors import RangeNotSatisfiable
    from proseo_odata_web.errors import _headers_of, answer_of

    error = RangeNotSatisfiableError("bytes=2000-", 1000)
    assert isinstance(error, RangeNotSatisfiable) and answer_of("prip", error.kind) == (416, "E7716")
    assert _headers_of(error) == {"Content-Range": "bytes */1000"}
    assert "1000 bytes" in error.message
