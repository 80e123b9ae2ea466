"""A worker's publishing commit whose answer never arrives: the output product is in the
catalogue (the server committed), the worker sees the connection lost. The output's file must
stay in the archive, or the published product could not be downloaded.

The fault is real: a TCP proxy in front of the PostgreSQL test server (``netfaults``) forwards
the publishing transaction's ``COMMIT``, reads the server's answer and drops it, closing the
worker's connection."""
import pytest
from sqlalchemy.engine import make_url

from enginekit import add_input, make_settings, order_body, set_up
from netfaults import CommitLosingProxy
from proseo_odata.model import OrderStatus
from proseo_odata.orders.service import submit_order
from proseo_odata.production.engine import Worker

pytestmark = pytest.mark.postgresql


def test_an_output_whose_publishing_commit_answer_is_lost_keeps_its_file(migrated_pg_url, tmp_path, monkeypatch):
    url = make_url(migrated_pg_url)
    proxy = CommitLosingProxy(url.port)
    settings = make_settings(url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), tmp_path)
    storage, archive = set_up(settings)
    try:
        add_input(storage, archive)
        with storage.transaction() as tx:
            order = submit_order(tx, order_body(), mission="DEMO", owner="demo")
        archive_output = Worker._archive_output

        def arm_then_archive(self, *args, **kwargs):  # the next product-writing commit is the publication
            proxy.arm()
            return archive_output(self, *args, **kwargs)

        monkeypatch.setattr(Worker, "_archive_output", arm_then_archive)
        Worker(storage, archive, settings).run_pending(limit=1)
        assert proxy.lost.is_set()
        done = storage.get_order("DEMO", order.id)
        assert done.status is OrderStatus.COMPLETED, done.status_message
        output = storage.get_product("DEMO", done.output_product_id)
        assert archive.size(output.archive_key) == output.content_length  # its file is there
    finally:
        storage.close()
        proxy.close()
