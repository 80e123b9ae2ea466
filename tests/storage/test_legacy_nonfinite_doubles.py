"""A Double attribute of Infinity stored before non-finite Doubles were refused (ingest, a
workflow's output, ``Attribute()``) is still read: its product does not become unreadable."""
import math

from proseo_odata.model import Attribute, AttributeType
from proseo_odata.storage.testing import make_product


def _stored_before_the_check(name, value):
    attribute = object.__new__(Attribute)  # as an older release built it
    attribute.__dict__.update(name=name, type=AttributeType.DOUBLE, value=value)
    return attribute


def test_a_stored_infinite_double_is_read_as_it_is(site):
    storage, _ = site
    product = make_product(name="OLD.zip", mission="M")
    product.attributes.append(_stored_before_the_check("qualityScore", math.inf))
    storage.add_product(product)
    read = storage.get_product("M", product.id)
    assert read.attribute("qualityScore").value == math.inf
