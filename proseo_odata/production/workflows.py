"""Workflow definitions from configuration: a workflows file and mission plug-ins.

Two sources, read by :func:`load_workflows`:

1. The file(s) named by the setting ``proseo.workflows.file`` (several separated by white
   space or new lines): JSON, or YAML when the name ends in ``.yaml``/``.yml`` and PyYAML is
   installed. The document is a list of definitions or ``{"workflows": [...]}``.
2. Entry points in the group ``proseo_odata.workflows`` (turn off with
   ``proseo.workflows.entry_points = false``). Each entry point loads to a list of definitions
   or to a callable returning one (called with the settings mapping when it takes an argument).
   This is how a mission package ships its own workflows (see docs/workflows.md).

A definition is a mapping (or a :class:`proseo_odata.model.Workflow`)::

    {
      "id": "2b17b57d-fff4-4645-b539-91f305c83b91",   # stable UUID (required)
      "mission": "DEMO",
      "name": "S2_L1C_L2A",
      "version": "1.2",
      "description": "Product processing from Sentinel-2 L1C to L2A",
      "input_product_type": "S2MSI1C",
      "output_product_type": "S2MSI2A",
      "options": [
        {"name": "ImageFormat", "type": "String", "description": "...",
         "default": "GEOTIFF", "allowed_values": ["GEOTIFF", "JPG"]}
      ],
      "processor": "image",                 # built-in name, entry point name or dotted name
      "processor_config": {"rename": {"MSIL1C": "MSIL2A"}},
      "enabled": true,
      "output_retention_days": 30           # EvictionDate = completion + this (default: setting)
    }

The output retention is kept in ``processor_config["output_retention_days"]`` of the stored
workflow (the engine reads it from there and does not pass it to the processor).

Every definition is checked when loaded: required fields, option types and defaults (a default
must itself be a valid value), unique ids and unique (mission, name), and that the processor
resolves and accepts its configuration. Problems raise :class:`WorkflowConfigError` naming the
source and the workflow.
"""
from __future__ import annotations

import inspect
import json
import logging
import uuid
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from proseo_odata.config import as_bool, number_setting
from proseo_odata.model import OptionType, Workflow, WorkflowOption
from proseo_odata.production.processors import ProcessorNotFound, resolve_processor_class

log = logging.getLogger(__name__)

WORKFLOW_ENTRY_POINT_GROUP = "proseo_odata.workflows"
SETTING_FILE = "proseo.workflows.file"
SETTING_ENTRY_POINTS = "proseo.workflows.entry_points"
SETTING_RETENTION = "proseo.production.output_retention_days"
RETENTION_KEY = "output_retention_days"
DEFAULT_RETENTION_DAYS = 30.0

_FIELDS = {
    "id", "mission", "name", "version", "workflow_version", "description", "input_product_type",
    "output_product_type", "options", "processor", "processor_config", "enabled", RETENTION_KEY,
}
_OPTION_FIELDS = {"name", "type", "description", "default", "allowed_values"}


class WorkflowConfigError(Exception):
    """A workflow definition is broken (an operator's configuration error, not a client's)."""


def _option(raw: Any, where: str) -> WorkflowOption:
    from proseo_odata.model.options import MAX_OPTION_NAME_LENGTH, check_option_value

    if isinstance(raw, WorkflowOption):
        option = raw
    else:
        if not isinstance(raw, Mapping):
            raise WorkflowConfigError(f"{where}: an option must be a mapping")
        unknown = set(raw) - _OPTION_FIELDS
        if unknown:
            raise WorkflowConfigError(f"{where}: unknown option fields {sorted(unknown)}")
        if not raw.get("name"):
            raise WorkflowConfigError(f"{where}: an option needs a name")
        if len(str(raw["name"])) > MAX_OPTION_NAME_LENGTH or "\x00" in str(raw["name"]):
            raise WorkflowConfigError(
                f"{where}: an option name has at most {MAX_OPTION_NAME_LENGTH} characters and no NUL")
        try:
            option_type = OptionType(raw.get("type", "String"))
        except ValueError:
            raise WorkflowConfigError(
                f"{where}: option {raw['name']}: type {raw.get('type')!r} is not one of "
                f"{', '.join(t.value for t in OptionType)}"
            ) from None
        default = raw.get("default")
        option = WorkflowOption(
            name=str(raw["name"]),
            type=option_type,
            description=str(raw.get("description", "")),
            default=None if default is None else str(default),
            allowed_values=tuple(str(v) for v in raw.get("allowed_values", ()) or ()),
        )
    for value in ([option.default] if option.default is not None else []) + list(option.allowed_values):
        try:
            check_option_value(
                WorkflowOption(option.name, option.type) if value in option.allowed_values else option, value
            )
        except ValueError as exc:
            raise WorkflowConfigError(f"{where}: option {option.name}: {value!r} {exc}") from None
    return option


def workflow_from_definition(definition: Any, source: str = "definition") -> Workflow:
    """A checked :class:`Workflow` from one definition mapping (see the module docstring)."""
    if isinstance(definition, Workflow):
        workflow = definition
    else:
        if not isinstance(definition, Mapping):
            raise WorkflowConfigError(f"{source}: a workflow definition must be a mapping")
        where = f"{source}: workflow {definition.get('name', '?')}"
        unknown = set(definition) - _FIELDS
        if unknown:
            raise WorkflowConfigError(f"{where}: unknown fields {sorted(unknown)}")
        missing = [k for k in ("id", "mission", "name", "input_product_type", "output_product_type", "processor") if not definition.get(k)]
        if missing:
            raise WorkflowConfigError(f"{where}: missing {', '.join(missing)}")
        try:
            workflow_id = uuid.UUID(str(definition["id"]))
        except ValueError:
            raise WorkflowConfigError(f"{where}: id {definition['id']!r} is not a UUID") from None
        config = dict(definition.get("processor_config") or {})
        try:
            enabled = as_bool(definition.get("enabled"), True, key="enabled")
        except ValueError as exc:
            raise WorkflowConfigError(f"{where}: {exc}") from None
        if definition.get(RETENTION_KEY) is not None:
            config[RETENTION_KEY] = definition[RETENTION_KEY]
        workflow = Workflow(
            id=workflow_id,
            mission=str(definition["mission"]),
            name=str(definition["name"]),
            workflow_version=str(definition.get("version", definition.get("workflow_version", "1.0"))),
            description=str(definition.get("description", "")),
            input_product_type=str(definition["input_product_type"]),
            output_product_type=str(definition["output_product_type"]),
            options=[_option(o, where) for o in definition.get("options", []) or []],
            processor=str(definition["processor"]),
            processor_config=config,
            enabled=enabled,
        )
    where = f"{source}: workflow {workflow.name}"
    names = [o.name for o in workflow.options]
    if len(set(names)) != len(names):
        raise WorkflowConfigError(f"{where}: duplicate option names")
    retention = workflow.processor_config.get(RETENTION_KEY)
    if retention is not None:
        try:
            if not 0 <= float(retention) <= MAX_RETENTION_DAYS:
                raise ValueError
        except (TypeError, ValueError):
            raise WorkflowConfigError(
                f"{where}: {RETENTION_KEY} must be a number of days from 0 to {MAX_RETENTION_DAYS}") from None
    try:
        cls = resolve_processor_class(workflow.processor)
        cls(processor_config_for(workflow))
    except ProcessorNotFound as exc:
        raise WorkflowConfigError(f"{where}: {exc}") from None
    except (ValueError, TypeError, KeyError) as exc:
        raise WorkflowConfigError(f"{where}: processor {workflow.processor}: bad processor_config: {exc}") from None
    return workflow


def processor_config_for(workflow: Workflow) -> dict:
    """The workflow's processor configuration without the engine's own keys."""
    return {k: v for k, v in workflow.processor_config.items() if k != RETENTION_KEY}


#: The longest output retention a workflow may set (a hundred years; a retention reaching past
#: 9999 failed every order of the workflow with a date overflow).
MAX_RETENTION_DAYS = 36_525


def retention_setting(settings: Mapping[str, Any]) -> float:
    """``proseo.production.output_retention_days`` (default 30): ``ValueError`` naming it for
    anything but a number of days from 0 to :data:`MAX_RETENTION_DAYS` (a bad value was taken
    for the default, silently). Checked when the workers start (``EngineConfig``)."""
    return number_setting(settings, SETTING_RETENTION, DEFAULT_RETENTION_DAYS,
                          ok=lambda n: 0 <= n <= MAX_RETENTION_DAYS, needs=f"a number of days from 0 to {MAX_RETENTION_DAYS}")


def output_retention_days(workflow: Workflow, settings: Optional[Mapping[str, Any]] = None) -> float:
    """Days an output product stays (EvictionDate = completion + this): the workflow's own
    (checked when it was synchronised), else :func:`retention_setting`."""
    value = getattr(workflow, "output_retention_days", None)
    if value is None:
        value = workflow.processor_config.get(RETENTION_KEY)
    if value is not None:
        try:
            return float(value)
        except (TypeError, ValueError):
            pass  # (stored before it was checked) the setting's
    return retention_setting(settings) if settings is not None else DEFAULT_RETENTION_DAYS


def _read_file(path: Path) -> list:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise WorkflowConfigError(f"{SETTING_FILE}: cannot read {path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise WorkflowConfigError(f"{SETTING_FILE}: {path} is not UTF-8 text (byte {exc.start + 1})") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # optional: only when a YAML file is configured
        except ImportError:
            raise WorkflowConfigError(f"{path}: YAML workflow files need PyYAML (pip install pyyaml)") from None
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise WorkflowConfigError(f"{path}: not valid YAML: {exc}") from None
    else:
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise WorkflowConfigError(f"{path}: not valid JSON: {exc}") from None
    if isinstance(document, Mapping):
        document = document.get("workflows", [])
    if not isinstance(document, list):
        raise WorkflowConfigError(f"{path}: expected a list of workflows or {{\"workflows\": [...]}}")
    return document


def _entry_point_definitions(settings: Mapping[str, Any]) -> Iterable[tuple[str, Any]]:
    for ep in entry_points(group=WORKFLOW_ENTRY_POINT_GROUP):
        source = f"entry point {ep.name} ({ep.value})"
        try:
            loaded = ep.load()
            if callable(loaded):
                try:
                    takes_argument = bool(inspect.signature(loaded).parameters)
                except (TypeError, ValueError):
                    takes_argument = False
                loaded = loaded(settings) if takes_argument else loaded()
        except WorkflowConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - a broken plug-in is reported with its name
            raise WorkflowConfigError(f"{source}: failed to load: {exc}") from exc
        if isinstance(loaded, (Mapping, Workflow)):
            loaded = [loaded]
        if not isinstance(loaded, (list, tuple)):
            raise WorkflowConfigError(f"{source}: must return a list of workflow definitions")
        for definition in loaded:
            yield source, definition


def workflow_files(settings: Mapping[str, Any]) -> list[Path]:
    raw = settings.get(SETTING_FILE) or ""
    return [Path(p) for p in str(raw).split()]


def load_workflows(settings: Mapping[str, Any]) -> list[Workflow]:
    """All configured workflows (files, then entry points), checked; see the module docstring."""
    found: list[tuple[str, Any]] = []
    for path in workflow_files(settings):
        found.extend((str(path), d) for d in _read_file(path))
    if as_bool(settings.get(SETTING_ENTRY_POINTS), True, key=SETTING_ENTRY_POINTS):
        found.extend(_entry_point_definitions(settings))
    workflows: list[Workflow] = []
    ids: dict[uuid.UUID, str] = {}
    names: dict[tuple[str, str], str] = {}
    for source, definition in found:
        workflow = workflow_from_definition(definition, source)
        if workflow.id in ids:
            raise WorkflowConfigError(f"{source}: workflow id {workflow.id} is also used in {ids[workflow.id]}")
        key = (workflow.mission, workflow.name)
        if key in names:
            raise WorkflowConfigError(
                f"{source}: mission {workflow.mission} has a second workflow named {workflow.name} (first in {names[key]})"
            )
        ids[workflow.id] = names[key] = source
        workflows.append(workflow)
    return workflows


def sync_configured_workflows(storage, settings: Mapping[str, Any], *,
                              skipped: Optional[list] = None) -> list[Workflow]:
    """Upsert every configured workflow into ``storage`` (by mission and name, keeping ids).

    Workflows of missions this database does not have are skipped (a plug-in package may serve
    several deployments): appended to ``skipped`` when given, for the caller to report, else
    logged as a warning. Returns the
    stored workflows. Workflows in storage that are no longer configured are left as they are
    (orders may refer to them). Creates nothing else: no mission, no user.
    """
    from proseo_odata.storage.errors import NotFoundError

    stored = []
    for workflow in load_workflows(settings):
        try:
            stored.append(storage.upsert_workflow(workflow))
        except NotFoundError:
            # An installed mission plug-in whose mission this deployment does not have.
            if skipped is not None:
                skipped.append(workflow)
            else:
                log.warning("workflow %s skipped: mission %s does not exist here", workflow.name, workflow.mission)
    if stored:
        log.info("synchronised %d configured workflow(s)", len(stored))
    return stored
