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


def test_the_ablation_stubs_name_what_exists():
    """``bench.page_ablation`` replaces these by name: a rename would silently stub nothing."""
    from bench import page_ablation
    from bench.profile_page import owner_of

    assert page_ablation.SERVE_ABLATED != page_bound.SERVE_BOUND
    compile(page_ablation.SERVE_ABLATED, "<page_ablation.SERVE_ABLATED>", "exec")
    for module, path in page_ablation.PARTS.values():
        owner, name = owner_of(module, path)
        assert callable(getattr(owner, name)), (module, path)
        assert name in page_ablation.SERVE_ABLATED
