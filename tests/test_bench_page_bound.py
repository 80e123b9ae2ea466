"""``bench.page_bound`` starts its replaying servers from code in strings, which no import checks:
each must at least compile, or the 1M run would stop at its first server."""
import pytest

from bench import page_bound


@pytest.mark.parametrize("name", ["SERVE_BOUND", "SERVE_BARE", "SERVE_PYRAMID", "SERVE_CORNICE", "SERVE_STREAMED"])
def test_each_replaying_server_compiles(name):
    compile(getattr(page_bound, name), f"<page_bound.{name}>", "exec")


def test_the_cornice_floor_is_a_cornice_service():
    assert "add_cornice_service" in page_bound.SERVE_CORNICE
    assert "add_cornice_service" not in page_bound.SERVE_PYRAMID
