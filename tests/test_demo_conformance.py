"""The demo catalogue can carry a conformance run (issue 9 item 7): files of at least 1 KiB,
at least 11 visible products sharing their first two name tokens, workflows whose first option
lists its values and whose input type the demo products have."""
from __future__ import annotations

import collections
import json
from pathlib import Path

import proseo_odata
from proseo_odata.demo.data import MIN_FILE_SIZE, demo_products
from proseo_odata.model import VisibilityClass

WORKFLOWS = Path(proseo_odata.__file__).parent / "demo" / "workflows.json"


def test_every_demo_file_is_at_least_one_kib():
    sizes = [len(item.data) for item in demo_products()]
    assert min(sizes) >= MIN_FILE_SIZE == 1024


def test_eleven_public_products_share_their_first_two_name_tokens():
    public = [item.product for item in demo_products() if item.product.visibility is VisibilityClass.PUBLIC]
    prefixes = collections.Counter("_".join(p.name.split("_")[:2]) for p in public)
    prefix, count = prefixes.most_common(1)[0]
    assert count >= 11, prefixes
    assert all(p.attribute("platformShortName").value == "SENTINEL-2" for p in public)


def test_demo_workflows_fit_the_demo_products():
    product_types = {item.product.product_type for item in demo_products()
                     if item.product.visibility is VisibilityClass.PUBLIC}
    workflows = json.loads(WORKFLOWS.read_text())["workflows"]
    assert workflows
    for workflow in workflows:
        assert workflow["input_product_type"] in product_types, workflow["name"]
        first = workflow["options"][0]
        assert first["allowed_values"], workflow["name"]
        assert first["default"] in first["allowed_values"]
