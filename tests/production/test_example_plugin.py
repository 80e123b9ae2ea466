"""The example mission plug-in (examples/proseo-example-mission) really installed with pip, found
through its entry points, and an order run through its workflow and processor."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "proseo-example-mission"

SCRIPT = textwrap.dedent(
    """
    import io, json, sys
    from pathlib import Path
    from PIL import Image
    from proseo_odata.archive import load_archive
    from proseo_odata.archive.testing import store_product_file
    from proseo_odata.model import Attribute, Mission
    from proseo_odata.orders.service import submit_order
    from proseo_odata.production.engine import Worker
    from proseo_odata.production.workflows import load_workflows, sync_configured_workflows
    from proseo_odata.storage.sqlalchemy import load_from_config

    folder = Path(sys.argv[1])
    settings = {"proseo.storage.url": f"sqlite:///{folder}/db.sqlite", "proseo.archive.backend": "local",
                "proseo.archive.path": str(folder / "archive"), "example.thumbnail.default_size": "40"}
    names = [w.name for w in load_workflows(settings)]
    storage = load_from_config(settings)
    storage.initialize_schema()
    storage.add_mission(Mission("EXAMPLE"))
    synced = [w.name for w in sync_configured_workflows(storage, settings)]
    archive = load_archive(settings)
    buffer = io.BytesIO()
    Image.new("RGB", (400, 200), (0, 0, 255)).save(buffer, format="PNG")
    source = store_product_file(archive, buffer.getvalue(), name="EX_scene.png", mission="EXAMPLE",
                                content_type="image/png", attributes=[Attribute.of("productType", "EX_IMAGE")])
    storage.add_product(source)
    with storage.transaction() as tx:
        order = submit_order(tx, {"WorkflowName": "EX_THUMBNAIL", "InputProductReference": {"Reference": "EX_scene.png"},
                                  "WorkflowOptions": [{"Name": "Grey", "Value": "true"}]}, mission="EXAMPLE", owner="ex")
    Worker(storage, archive, settings).run_pending()
    done = storage.get_order("EXAMPLE", order.id)
    product = storage.get_product("EXAMPLE", done.output_product_id) if done.output_product_id else None
    image = Image.open(io.BytesIO(b"".join(archive.iter_range(product.archive_key)))) if product else None
    print(json.dumps({
        "workflows": names, "synced": synced, "status": done.status.value, "message": done.status_message,
        "options": done.workflow_options, "production_type": done.production_type.value,
        "name": product and product.name, "type": product and product.product_type,
        "size": image and list(image.size), "mode": image and image.mode,
        "thumbnailSize": product and product.attribute("thumbnailSize").value,
    }))
    """
)


@pytest.mark.slow
def test_example_plugin_installed_with_pip_runs_an_order(tmp_path):
    source = tmp_path / "example"  # a copy: building leaves build/ and egg-info next to setup.py
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert list(target.glob("proseo_example_mission-*.dist-info"))
    env = dict(os.environ, PYTHONPATH=str(target))
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, timeout=120,
                         env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-4000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert "EX_THUMBNAIL" in result["workflows"] and result["synced"] == ["EX_THUMBNAIL"]
    assert result["status"] == "completed", result["message"]
    assert result["options"] == {"Size": "40", "Grey": "true"}  # default from the plug-in's settings hook
    assert result["production_type"] == "on-demand:non-default"
    assert result["name"] == "EX_scene_thumb.png" and result["type"] == "EX_THUMB"
    assert result["size"] == [40, 20] and result["mode"] == "L" and result["thumbnailSize"] == 40
    # The mission's own processor test runs against the installed package too.
    own = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(source / "tests")],
                         capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert own.returncode == 0, own.stdout[-3000:] + own.stderr[-3000:]
    assert "1 passed" in own.stdout
