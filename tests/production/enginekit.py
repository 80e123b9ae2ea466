"""Shared set-up of the production engine tests: a storage with mission DEMO, the configured
workflows, a local archive and a demo-like input product (zip with a PNG and a manifest)."""
import hashlib
import json
import shutil
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path


import proseo_odata
from proseo_odata.archive import load_archive
from proseo_odata.archive.testing import s2_l1c_zip, store_product_file
from proseo_odata.model import Attribute, Mission
from proseo_odata.production.processors import Processor, ProcessorOutput
from proseo_odata.production.workflows import sync_configured_workflows
from proseo_odata.storage.sqlalchemy import load_from_config

DEMO_WORKFLOWS = Path(proseo_odata.__file__).parent / "demo" / "workflows.json"
L1C_NAME = "S2B_MSIL1C_20191025T085939_N0208_R007_T37VCC_20191025T112031.zip"
START = datetime(2019, 10, 25, 8, 59, 39, 24000, tzinfo=timezone.utc)
END = datetime(2019, 10, 25, 9, 0, 9, 24000, tzinfo=timezone.utc)
ORIGIN = datetime(2019, 10, 25, 11, 20, 31, tzinfo=timezone.utc)
FOOTPRINT = "POLYGON((36 60,38 60,38 61,36 61,36 60))"

SLOW_ID = "5e1d0c0a-0000-4000-8000-00000000510e"
FAILING_ID = "5e1d0c0a-0000-4000-8000-0000000fa11e"


def write_workflows(folder: Path, slow_seconds: float = 30.0) -> Path:
    """A workflows file: the demo ones plus a slow and a failing external workflow."""
    demo = json.loads(DEMO_WORKFLOWS.read_text())["workflows"]
    failing_script = folder / "failing.py"
    failing_script.write_text("import sys\nprint('reading calibration')\nprint('fatal: no calibration table', file=sys.stderr)\nsys.exit(3)\n")
    extra = [
        {
            "id": SLOW_ID, "mission": "DEMO", "name": "SLOW", "input_product_type": "S2MSI1C",
            "output_product_type": "SLOW_OUT", "processor": "external",
            "processor_config": {"command": ["{python}", "-m", "proseo_odata.demo.compress", "{input}", "{output_dir}",
                                             "--delay", str(slow_seconds)], "timeout": 120},
        },
        {
            "id": FAILING_ID, "mission": "DEMO", "name": "FAILING", "input_product_type": "S2MSI1C",
            "output_product_type": "X", "processor": "external",
            "processor_config": {"command": [sys.executable, str(failing_script)]},
        },
    ]
    path = folder / "workflows.json"
    path.write_text(json.dumps({"workflows": demo + extra}))
    return path


def make_settings(db_url, folder: Path, **extra):
    archive_dir = folder / "archive"
    archive_dir.mkdir(exist_ok=True)
    settings = {
        "proseo.storage.url": db_url,
        "proseo.archive.backend": "local",
        "proseo.archive.path": str(archive_dir),
        "proseo.workflows.file": str(write_workflows(folder)),
        "proseo.workflows.entry_points": "false",
        "proseo.production.lease_seconds": "2",
        "proseo.production.poll_seconds": "0.1",
        "proseo.production.scratch_dir": str(folder),
    }
    settings.update(extra)
    return settings


def set_up(settings):
    storage = load_from_config(settings)
    storage.initialize_schema()
    storage.add_mission(Mission("DEMO"))
    sync_configured_workflows(storage, settings)
    archive = load_archive(settings)
    return storage, archive


def add_input(storage, archive, name=L1C_NAME, start=START, end=END, published=None):
    product = store_product_file(
        archive, s2_l1c_zip(), name=name, mission="DEMO", published=published,
        origin_date=ORIGIN, content_start=start, content_end=end, footprint=FOOTPRINT,
        attributes=[Attribute.of("productType", "S2MSI1C"), Attribute.of("cloudCover", 12.5)],
    )
    return storage.add_product(product)


def order_body(workflow="S2_L1C_L2A", reference=L1C_NAME, options=None, **extra):
    body = {"InputProductReference": {"Reference": reference}, "WorkflowName": workflow}
    if options is not None:
        body["WorkflowOptions"] = [{"Name": k, "Value": v} for k, v in options.items()]
    body.update(extra)
    return body


def archived_bytes(archive, key):
    return b"".join(archive.iter_range(key))


def digests(data):
    return hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()


def new_id():
    return uuid.uuid4()


def _real(value):
    """A configured text with the characters a stored workflow configuration cannot hold:
    ``<NUL>``, ``<SURROGATE>`` (a lone surrogate, as a file name of non-UTF-8 bytes reads),
    ``<CRLF>``; a whole value ``<INF>`` or ``<NAN>``: that float."""
    if not isinstance(value, str):
        return value
    if value in ("<INF>", "<NAN>"):  # what JSON has no number for
        return float(value[1:-1].lower())
    return value.replace("<NUL>", "\x00").replace("<SURROGATE>", "\udcff").replace("<CRLF>", "\r\n")


class ConfiguredOutput(Processor):
    """A processor (``enginekit:ConfiguredOutput``) that publishes a copy of its input with the
    output metadata its ``processor_config`` gives: ``name``, ``content_type``, ``content_date``
    (two ISO-8601 texts), ``footprint``, ``attributes`` -- good or bad, as a plug-in may
    (:func:`_real`'s stand-ins; ``attributes_as_list``: the attributes as a list, not a mapping;
    ``attribute_objects``: ``{key: [name, value]}``, an ``Attribute`` under each key)."""

    def run(self, job, progress, cancel):
        config = self.config
        target = Path(job.scratch_dir) / "output.bin"
        shutil.copyfile(job.path, target)
        dates = config.get("content_date")
        attributes = {_real(k): _real(v) for k, v in config.get("attributes", {}).items()}
        attributes.update({k: Attribute.of(name, value) for k, (name, value) in config.get("attribute_objects", {}).items()})
        return [ProcessorOutput(
            path=target,
            name=_real(config.get("name", "OUTPUT.zip")),
            content_type=_real(config.get("content_type", "application/zip")),
            content_date=tuple(datetime.fromisoformat(d) for d in dates) if dates else None,
            footprint=_real(config.get("footprint")),
            attributes=list(attributes.values()) if config.get("attributes_as_list") else attributes,
        )]


class Misbehaving(Processor):
    """A processor (``enginekit:Misbehaving``) that misbehaves as its ``processor_config``'s
    ``mode`` says, as a mission's plug-in may: ``sysexit`` (``sys.exit(2)``, as argparse does),
    ``keyboard`` (``KeyboardInterrupt``), ``selfcancel`` (``ProcessingCancelled`` with no cancel
    asked for), ``failed`` (``ProcessingFailed(config["reason"])``, :func:`_real`'s stand-ins),
    ``outside`` (an output file outside the scratch folder: ``config["path"]``), ``symlink`` (an
    output that is a symbolic link to ``config["path"]``), ``inside_link`` (a symbolic link to
    a file of its own), ``name`` (a copy of the input named ``config["name"]``); otherwise a
    copy of the input named ``OUT.zip``."""

    def run(self, job, progress, cancel):
        mode, config = self.config.get("mode"), self.config
        scratch = Path(job.scratch_dir)
        if mode == "sysexit":
            sys.exit(2)
        if mode == "keyboard":
            raise KeyboardInterrupt
        if mode == "selfcancel":
            from proseo_odata.production.processors import ProcessingCancelled
            raise ProcessingCancelled("the helper got SIGTERM")
        if mode == "failed":
            from proseo_odata.production.processors import ProcessingFailed
            raise ProcessingFailed(_real(config["reason"]))
        if mode == "outside":
            return [ProcessorOutput(path=Path(config["path"]), name="outside.txt")]
        if mode == "symlink":
            (scratch / "link.txt").symlink_to(config["path"])
            return [ProcessorOutput(path=scratch / "link.txt", name="link.txt")]
        target = scratch / "output.bin"
        shutil.copyfile(job.path, target)
        if mode == "inside_link":
            (scratch / "link.bin").symlink_to(target)
            return [ProcessorOutput(path=scratch / "link.bin", name="OUT.zip")]
        return [ProcessorOutput(path=target, name=_real(config.get("name", "OUT.zip")))]
