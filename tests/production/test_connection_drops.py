"""Issue 10 items 1 and 10, the fast part of the soak (``bench/soak.py``) in ``make test``: the
service from production.ini (pserve + two worker processes) on the throwaway PostgreSQL while the
workers' and the server's backends are terminated every half second (``pg_terminate_backend``),
clients posting orders with Idempotency-Keys (a quarter of first attempts cut off mid-flight, then
retried). Every acknowledged order completes (none failed by the fault), none is duplicated, every
one is notified, no processor or scratch folder is left, and no order, notification or log line
holds the notification password or ``[SQL``."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: bench/

from bench.soak import run_scenario  # noqa: E402


@pytest.mark.postgresql
@pytest.mark.slow
def test_connection_drops_under_load_cost_no_order_and_leak_nothing(migrated_pg_url, tmp_path):
    result = run_scenario("connection-drops", migrated_pg_url, tmp_path, orders=12, seconds=4,
                          drop_interval=0.5, finish_timeout=90)
    report = "\n".join(result.notes)
    assert result.acknowledged == result.sent == 12, report
    assert int(result.notes[0].split(":")[1].split()[0]) > 0, report  # backends were terminated
    assert (result.lost, result.duplicated, result.failed_by_fault, result.stuck) == (0, 0, 0, 0), report
    assert result.orphans == 0, report
    assert result.leaked == 0, report
    assert "12 orders notified of 12 ended" in report and "0 with wrong credentials" in report, report
