"""Workflow definitions from the workflows file (JSON/YAML) and their checks."""
import json
import uuid
from pathlib import Path

import pytest

import proseo_odata
from proseo_odata.model import OptionType
from proseo_odata.production.workflows import (
    WorkflowConfigError,
    load_workflows,
    output_retention_days,
    processor_config_for,
)

DEMO_FILE = Path(proseo_odata.__file__).parent / "demo" / "workflows.json"


def definition(**changes):
    base = {
        "id": str(uuid.uuid4()),
        "mission": "M",
        "name": "W",
        "input_product_type": "IN",
        "output_product_type": "OUT",
        "options": [{"name": "ImageFormat", "type": "String", "default": "JPG", "allowed_values": ["JPG", "GEOTIFF"]}],
        "processor": "image",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def load(tmp_path, definitions, name="wf.json", **settings):
    path = tmp_path / name
    path.write_text(json.dumps(definitions), encoding="utf-8")
    return load_workflows({"proseo.workflows.file": str(path), "proseo.workflows.entry_points": "false", **settings})


def test_demo_workflows_file():
    workflows = {w.name: w for w in load_workflows({"proseo.workflows.file": str(DEMO_FILE), "proseo.workflows.entry_points": "false"})}
    main = workflows["S2_L1C_L2A"]
    assert main.mission == "DEMO"
    assert (main.input_product_type, main.output_product_type) == ("S2MSI1C", "S2MSI2A")
    option = main.option("ImageFormat")
    assert option.type is OptionType.STRING and option.default == "GEOTIFF"
    assert option.allowed_values == ("GEOTIFF", "JPG")
    assert main.processor == "image"
    assert output_retention_days(main) == 30
    assert "output_retention_days" not in processor_config_for(main)
    assert workflows["S2_L1C_COMPRESS"].processor == "external"


def test_list_or_mapping_document_and_yaml(tmp_path):
    one = definition(name="A")
    assert [w.name for w in load(tmp_path, [one])] == ["A"]
    assert [w.name for w in load(tmp_path, {"workflows": [one]})] == ["A"]
    yaml_path = tmp_path / "wf.yaml"
    yaml_path.write_text(
        "workflows:\n  - id: %s\n    mission: M\n    name: Y\n    input_product_type: I\n"
        "    output_product_type: O\n    processor: image\n    enabled: false\n" % uuid.uuid4(),
        encoding="utf-8",
    )
    [workflow] = load_workflows({"proseo.workflows.file": str(yaml_path), "proseo.workflows.entry_points": "false"})
    assert workflow.name == "Y" and workflow.enabled is False


def test_several_files(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps([definition(name="A")]))
    (tmp_path / "b.json").write_text(json.dumps([definition(name="B")]))
    names = [w.name for w in load_workflows({"proseo.workflows.file": f"{tmp_path}/a.json\n {tmp_path}/b.json", "proseo.workflows.entry_points": "0"})]
    assert names == ["A", "B"]


def test_retention_falls_back_to_setting(tmp_path):
    [workflow] = load(tmp_path, [definition()])
    assert output_retention_days(workflow, {"proseo.production.output_retention_days": "2.5"}) == 2.5
    assert output_retention_days(workflow) == 30.0


SAME_ID = str(uuid.uuid4())

BROKEN = [
    ("missing-fields", [definition(processor=None, name="X")], "missing processor"),
    ("bad-uuid", [definition(id="nope")], "is not a UUID"),
    ("unknown-field", [definition(colour="red")], "unknown fields ['colour']"),
    ("bad-option-type", [definition(options=[{"name": "A", "type": "Text"}])], "type 'Text' is not one of"),
    ("default-not-allowed", [definition(options=[{"name": "A", "default": "X", "allowed_values": ["Y"]}])], "'X' is not one of the allowed values"),
    ("default-wrong-type", [definition(options=[{"name": "A", "type": "Integer", "default": "x"}])], "'x' is not an Integer"),
    ("allowed-wrong-type", [definition(options=[{"name": "A", "type": "DateNumber", "allowed_values": ["400"]}])], "DateNumber"),
    ("duplicate-option", [definition(options=[{"name": "A"}, {"name": "A"}])], "duplicate option names"),
    ("unknown-processor", [definition(processor="nonesuch")], "unknown processor 'nonesuch'"),
    ("unimportable-processor", [definition(processor="no.such.module:Thing")], "cannot import no.such.module"),
    ("not-a-processor", [definition(processor="json:dumps")], "is not a subclass"),
    ("bad-processor-config", [definition(processor="external", processor_config={"command": "ls"})], "bad processor_config"),
    ("negative-retention", [definition(output_retention_days=-1)], "from 0 to 36525"),
    ("retention-past-9999", [definition(output_retention_days=3_000_000)], "from 0 to 36525"),
    ("duplicate-id", [definition(id=SAME_ID, name="A"), definition(id=SAME_ID, name="B")], f"workflow id {SAME_ID} is also used"),
    ("duplicate-name", [definition(name="A"), definition(name="A")], "second workflow named A"),
    ("not-a-list", {"workflows": {"a": 1}}, "expected a list"),
    ("misspelt-enabled", [definition(enabled="ture")], "enabled must be true or false"),
]


@pytest.mark.parametrize("document,message", [(d, m) for _, d, m in BROKEN], ids=[i for i, _, _ in BROKEN])
def test_broken_definitions_are_reported(tmp_path, document, message):
    with pytest.raises(WorkflowConfigError) as info:
        load(tmp_path, document)
    assert message in str(info.value)
    assert str(tmp_path / "wf.json") in str(info.value)


def test_invalid_json_and_missing_file(tmp_path):
    path = tmp_path / "wf.json"
    path.write_text("{not json")
    with pytest.raises(WorkflowConfigError, match="not valid JSON"):
        load_workflows({"proseo.workflows.file": str(path), "proseo.workflows.entry_points": "false"})
    with pytest.raises(WorkflowConfigError, match="cannot read"):
        load_workflows({"proseo.workflows.file": str(tmp_path / "missing.json"), "proseo.workflows.entry_points": "false"})
