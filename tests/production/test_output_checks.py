"""A processor's output is checked as an ingest checks a product's metadata before it is
published: an output that could not be ingested fails its order at once with the reason, and
nothing of it stays (no product, no file); a footprint is normalised as an ingest's is."""
import json

import pytest

from enginekit import DEMO_WORKFLOWS, L1C_NAME, add_input, make_settings, order_body, set_up
from proseo_odata.model import OrderStatus
from proseo_odata.orders.service import submit_order
from proseo_odata.production.engine import Worker
from proseo_odata.storage import Query

WORKFLOW_ID = "5e1d0c0a-0000-4000-8000-0000000c0f16"


def _site(db_url, tmp_path, output: dict):
    workflows = json.loads(DEMO_WORKFLOWS.read_text())["workflows"] + [{
        "id": WORKFLOW_ID, "mission": "DEMO", "name": "CONFIGURED", "input_product_type": "S2MSI1C",
        "output_product_type": "OUT", "processor": "enginekit:ConfiguredOutput", "processor_config": output,
    }]
    path = tmp_path / "configured-workflows.json"
    path.write_text(json.dumps({"workflows": workflows}))
    settings = make_settings(db_url, tmp_path, **{"proseo.workflows.file": str(path)})
    storage, archive = set_up(settings)
    add_input(storage, archive)
    with storage.transaction() as tx:
        order = submit_order(tx, order_body("CONFIGURED"), mission="DEMO", owner="demo")
    Worker(storage, archive, settings).run_pending()
    return storage, archive, storage.get_order("DEMO", order.id)


@pytest.mark.parametrize("output, reason", [
    ({"content_type": "zip"}, "field 'ContentType': 'zip' is not a MIME type"),
    ({"name": "sub\\\\dir.zip"}, "field 'Name'"),
    ({"name": " "}, "field 'Name'"),
    ({"content_date": ["2020-01-02T00:00:00+00:00", "2020-01-01T00:00:00+00:00"]}, "Start is after End"),
    ({"content_date": ["2020-01-01T00:00:00", "2020-01-02T00:00:00"]}, "field 'ContentDate'"),  # naive
    ({"footprint": "POLYGON((0 0, 1 1"}, "field 'Footprint'"),
    ({"attributes": {"processorVersion": "1.0<NUL>beta"}}, "NUL character"),
    ({"attributes": {"tiles": [1, 2]}}, "field 'Attributes/tiles'"),
    ({"attributes": {"qualityScore": "<INF>"}}, "field 'Attributes/qualityScore'"),  # was served as bare Infinity
    ({"attributes": {"qualityScore": "<NAN>"}}, "field 'Attributes/qualityScore'"),
    ({"name": ".."}, "field 'Name'"),
    ({"name": ".part-REV_output.zip"}, "the archive's name for a file being written"),  # orphans would take it
    ({"name": "N" * 256}, "field 'Name'"),
    ({"name": "OUT<SURROGATE>.zip"}, "field 'Name'"),  # a file name of other bytes than UTF-8
    ({"content_type": "text/plain<CRLF>X-Injected: 1"}, "field 'ContentType'"),
    ({"footprint": "POLYGON((36 60,38 60,38 61,36 61,36 60))<NUL> and the rest"}, "field 'Footprint'"),
    ({"attributes": {"": "empty"}}, "field 'Attributes'"),
    ({"attributes": {"note": "<SURROGATE>"}}, "not UTF-8"),
    ({"attributes": {"x": 1}, "attributes_as_list": True}, "field 'Attributes'"),
    ({"attribute_objects": {"x": ["cloudCover", 1.0]}}, "holds an attribute named 'cloudCover'"),
    ({"attributes": {"productType": 7}}, "field 'Attributes/productType'"),
])
def test_an_output_that_could_not_be_ingested_fails_its_order_at_once(db_url, tmp_path, output, reason):
    storage, archive, order = _site(db_url, tmp_path, output)
    try:
        assert order.status is OrderStatus.FAILED, order.status_message
        assert order.status_message.startswith("production has failed: processor output"), order.status_message
        assert reason in order.status_message
        assert [p.name for p in storage.query_products("DEMO", Query()).items] == [L1C_NAME]  # nothing published
        assert [f.key for f in archive.list_files("DEMO/")] == [storage.get_product_by_name("DEMO", L1C_NAME).archive_key]
    finally:
        storage.close()


def test_a_good_output_is_published_with_its_footprint_normalised(db_url, tmp_path):
    storage, _, order = _site(db_url, tmp_path, {
        "name": "OUT.zip", "footprint": "POLYGON ((36 60, 38 60, 38 61, 36 61, 36 60))",
        "content_date": ["2020-01-01T00:00:00+00:00", "2020-01-01T00:00:05+00:00"],
        "attributes": {"processorVersion": "1.0"},
    })
    try:
        assert order.status is OrderStatus.COMPLETED, order.status_message
        product = storage.get_product_by_name("DEMO", "OUT.zip")
        assert product.footprint == "POLYGON((36 60,38 60,38 61,36 61,36 60))"
        assert product.attribute("processorVersion").value == "1.0"
        assert product.attribute("productType").value == "OUT"
    finally:
        storage.close()
