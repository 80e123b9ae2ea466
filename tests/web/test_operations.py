"""Liveness, readiness and Prometheus metrics (issue 10 item 9): the real application (WebTest)
on SQLite and PostgreSQL; readiness against an uninitialised, an old and an unreachable
database; the metrics parsed with prometheus_client's own parser."""
from datetime import timedelta

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from prip_helpers import PRIP, basic, served_app
from proseo_odata.model import OrderStatus, utcnow
from proseo_odata.storage.testing import make_order


def samples(app) -> dict:
    response = app.get("/metrics")
    assert response.content_type == "text/plain"
    values = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values, name, **labels):
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_liveness_and_readiness_when_all_is_well(app):
    live = app.get("/healthz")
    assert live.status_int == 200 and live.json == {"status": "ok"} and live.headers["Cache-Control"] == "no-store"
    ready = app.get("/readyz")
    assert ready.json == {"status": "ready"}
    assert app.head("/readyz").status_int == 200


def test_readiness_fails_on_an_old_or_missing_schema_and_an_unreachable_database(app_settings, catalogue, storage):
    with served_app(app_settings) as app:
        with storage.engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '0003_outbox_claim_token'"))
        old = app.get("/readyz", status=503)
        assert old.json["reason"].startswith("the database schema is at revision 0003_outbox_claim_token, this version needs")
        assert old.headers["Retry-After"] == "60"
        # A schema that went away under a running server (a server refuses to start without one).
        with storage.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM alembic_version"))
        assert "has no proseo-odata schema" in app.get("/readyz", status=503).json["reason"]
        assert app.get("/healthz").status_int == 200  # liveness does not depend on the database
    # Nothing listens: unreachable (a fixed reason, not the URL with its password).
    with served_app({**app_settings, "proseo.storage.url": "postgresql+psycopg://u:hunter2@127.0.0.1:9/none"}) as gone:
        down = gone.get("/readyz", status=503)
        assert down.json == {"status": "unavailable", "reason": "database unreachable"} and "hunter2" not in down.text
        assert value(samples(gone), "proseo_database_up") == 0


def test_metrics_count_requests_logins_queue_and_outbox(app, storage):
    app.get(f"{PRIP}/Products", headers=basic("alice"))
    app.get(f"{PRIP}/Products", headers=basic("alice", "wrong"), status=401)
    app.get("/no/such/path", status=404)
    with storage.transaction() as tx:
        for minutes in (5, 1):
            tx.add_order(make_order("DEMO", submission_date=utcnow() - timedelta(minutes=minutes)))
        tx.add_order(make_order("DEMO", status=OrderStatus.COMPLETED))
        tx.enqueue_notification("order", "http://127.0.0.1:9/x", None, None, {}, now=utcnow() - timedelta(seconds=30))
    values = samples(app)
    assert value(values, "proseo_http_requests_total", route="prip.products", method="GET", status="200") == 1
    assert value(values, "proseo_http_requests_total", route="prip.products", method="GET", status="401") == 1
    assert value(values, "proseo_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert any(k[0] == "proseo_http_request_duration_seconds_bucket" for k in values)
    assert value(values, "proseo_login_failures_total", reason="wrong_credentials") == 1
    assert value(values, "proseo_database_up") == 1
    assert value(values, "proseo_orders", status="queued") == 2
    assert value(values, "proseo_orders", status="completed") == 1
    assert 290 <= value(values, "proseo_order_queue_oldest_age_seconds") <= 600
    assert value(values, "proseo_outbox_pending") == 1 and value(values, "proseo_outbox_given_up") == 0
    assert 25 <= value(values, "proseo_outbox_oldest_age_seconds") <= 300


def test_paths_are_settings_and_metrics_can_be_off(app_settings, catalogue):
    with served_app({**app_settings, "proseo.health.liveness_path": "/ops/live", "proseo.metrics.path": ""}) as app:
        assert app.get("/ops/live").json == {"status": "ok"}
        assert app.get("/metrics", status=404).json["error"]["code"] == "E7701"
        assert app.app.registry.proseo_metrics is None


@pytest.mark.postgresql
def test_a_pool_without_a_free_connection_is_an_outage_like_any_other(app_settings, catalogue):
    """The storage's choke point turns the pool's TimeoutError into ``Unavailable``: /readyz and
    a request answer exactly as for an unreachable database (the same 503 body), not a 500."""
    if not app_settings["proseo.storage.url"].startswith("postgresql"):
        pytest.skip("SQLite has no bounded connection pool")
    with served_app({**app_settings, "proseo.storage.pool_size": "1", "proseo.storage.max_overflow": "0",
                     "proseo.storage.pool_timeout": "0.3"}) as app:
        storage = app.app.registry.storage
        with storage.engine.connect():  # the only pooled connection, held
            down = app.get("/readyz", status=503)
            assert down.json == {"status": "unavailable", "reason": "database unreachable"}
            busy = app.get(PRIP + "/Products", headers=basic("alice"), status=503)
            assert busy.json["error"]["code"] == "E7705" and busy.headers["Retry-After"] == "30"
        assert app.get("/readyz").json == {"status": "ready"}


def test_reads_leave_no_connection_behind_whatever_they_answer(app_settings, catalogue):
    """GET and HEAD read outside pyramid_tm (``proseo_odata_web.db``): each request's connection
    goes back to the pool when it finishes, whether it answered 200, 404, 400 or 401, and a
    request that writes still commits through pyramid_tm. With a pool of one connection on
    PostgreSQL, one connection kept by any of them would make the next request wait and fail."""
    bounded = app_settings["proseo.storage.url"].startswith("postgresql")
    pool = {"proseo.storage.pool_size": "1", "proseo.storage.max_overflow": "0",
            "proseo.storage.pool_timeout": "0.5"} if bounded else {}
    alice = basic("alice")
    p1 = catalogue.id("p1")
    with served_app({**app_settings, **pool}) as app:
        storage = app.app.registry.storage
        for _ in range(2):
            app.get(PRIP + "/Products?$top=2", headers=alice, status=200)
            app.get(PRIP + "/Products?$top=2&$expand=Attributes", headers=alice, status=200)
            app.get(f"{PRIP}/Products({p1})", headers=alice, status=200)
            app.head(f"{PRIP}/Products({p1})/$value", headers=alice, status=200)
            app.get(f"{PRIP}/Products({p1})/$value", headers=alice, status=200)
            app.get(PRIP + "/Products(00000000-0000-0000-0000-000000000000)", headers=alice, status=404)
            app.get(PRIP + "/Products?$filter=Name eq", headers=alice, status=400)
            app.get(PRIP + "/Products", headers=basic("alice", "wrong"), status=401)
            app.get(PRIP + "/Products/$count", headers=alice, status=200)
        assert storage.engine.pool.checkedout() == 0
        assert app.get("/readyz").json == {"status": "ready"}
