"""The start-up sync of configured workflows logs a refusal as one line: its message, never the
driver's statement (``[SQL: ...]``) or a traceback; the service starts anyway."""
import json
import logging
import types
import uuid

from proseo_odata.model import Mission, Workflow
from proseo_odata.storage.sqlalchemy import SQLAlchemyStorage
from proseo_odata_web.odip import sync_workflows

TAKEN = uuid.UUID("0f0e0000-0000-4000-8000-0000000000aa")


def test_a_refused_workflow_is_logged_in_one_line(tmp_path, caplog):
    storage = SQLAlchemyStorage.from_url(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        storage.initialize_schema()
        storage.add_mission(Mission("M1"))
        storage.upsert_workflow(Workflow("M1", "OTHER", "IN", "OUT", "image", id=TAKEN))
        path = tmp_path / "workflows.json"
        path.write_text(json.dumps([{"id": str(TAKEN), "mission": "M1", "name": "NEW", "input_product_type": "IN",
                                     "output_product_type": "OUT", "processor": "image"}]))
        settings = {"proseo.workflows.file": str(path), "proseo.workflows.entry_points": "false"}
        with caplog.at_level(logging.INFO):
            sync_workflows(types.SimpleNamespace(storage=storage), settings)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert [r.getMessage() for r in errors] == [
            "could not synchronise the configured workflows: Workflow 'NEW' of mission M1 already exists"]
        assert errors[0].exc_info is None
        assert [w.name for w in storage.list_workflows("M1")] == ["OTHER"]
    finally:
        storage.close()


def test_an_unreadable_definitions_file_is_logged_in_one_line(tmp_path, caplog):
    storage = SQLAlchemyStorage.from_url(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        storage.initialize_schema()
        settings = {"proseo.workflows.file": str(tmp_path / "missing.json"), "proseo.workflows.entry_points": "false"}
        with caplog.at_level(logging.INFO):
            sync_workflows(types.SimpleNamespace(storage=storage), settings)
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1 and errors[0].exc_info is None, errors
        assert "proseo.workflows.file" in errors[0].getMessage() and "missing.json" in errors[0].getMessage()
    finally:
        storage.close()
