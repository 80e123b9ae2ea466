"""``bench.profile_page --layers`` times the page path by wrapping named functions: each must
still exist under its name, or the benchmark's table would silently lose a layer."""
from bench.profile_page import LAYERS, layer_functions


def test_every_layer_of_the_page_benchmark_names_a_function():
    found = list(layer_functions())
    assert [label for label, _, _ in found] == [label for label, _, paths in LAYERS for _ in paths.split()]
    for label, owner, name in found:
        assert callable(getattr(owner, name)), label
