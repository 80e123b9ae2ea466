"""``upsert_workflow``, what configured workflows are synced with at start-up: an unchanged
definition keeps its revision (its ETag survives a restart), and two processes starting together
on PostgreSQL both succeed (the second one's insert meets the first one's row: it updates it)."""
import threading
import uuid

import pytest

from proseo_odata.model import Workflow, WorkflowOption
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage


def definition(**changes):
    values = {"mission": "M1", "name": "WF", "input_product_type": "IN", "output_product_type": "OUT",
              "processor": "image", "id": "0f0e0000-0000-4000-8000-000000000001",
              "options": [WorkflowOption("ImageFormat", default="JPG", allowed_values=("JPG", "PNG"))],
              "processor_config": {"quality": 80, "bands": ["B04", "B03"]}}
    values.update(changes)
    values["id"] = uuid.UUID(values["id"])
    return Workflow(**values)


def test_unchanged_definition_keeps_its_revision(db_url, stocked_storage):
    storage = stocked_storage(db_url)
    assert storage.upsert_workflow(definition()).revision == 1
    assert storage.upsert_workflow(definition()).revision == 1  # a restart with the same file
    changed = storage.upsert_workflow(definition(description="now described"))
    assert changed.revision == 2
    stored = storage.get_workflow("M1", changed.id)
    assert (stored.revision, stored.description) == (2, "now described")


@pytest.mark.postgresql
def test_two_processes_inserting_the_same_workflow_both_succeed(migrated_pg_url, stocked_storage, await_lock_wait):
    first, second = stocked_storage(migrated_pg_url), SQLAlchemyStorage.from_url(migrated_pg_url)
    outcome = {}

    def second_sync():
        try:
            outcome["workflow"] = second.upsert_workflow(definition(description="second"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    with first.transaction() as tx:
        tx.upsert_workflow(definition(description="first"))  # inserted, not committed yet
        thread = threading.Thread(target=second_sync)
        thread.start()
        await_lock_wait(migrated_pg_url, "the second upsert")  # its insert waits on the first one
    thread.join(30)
    second.close()
    assert "error" not in outcome, outcome
    assert outcome["workflow"].revision == 2
    stored = first.list_workflows("M1")
    assert [(w.name, w.description, w.revision) for w in stored] == [("WF", "second", 2)]
