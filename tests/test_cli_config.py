"""The shipped .ini files load with PasteDeploy's loader and every key is documented."""
import re
from pathlib import Path

import plaster
import pytest

from proseo_odata.cli import read_settings

ROOT = Path(__file__).resolve().parent.parent
INI_FILES = ["development.ini", "testing.ini", "production.ini"]
DOC = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", INI_FILES)
def test_ini_loads_and_expands_here(name):
    settings = read_settings(str(ROOT / name))
    assert settings["proseo.storage.backend"] == "proseo_odata.storage.sqlalchemy"
    assert "%(here)s" not in settings["proseo.storage.url"]
    if "sqlite" in settings["proseo.storage.url"]:
        assert str(ROOT) in settings["proseo.storage.url"]


@pytest.mark.parametrize("name", INI_FILES)
def test_every_app_key_is_documented(name):
    settings = plaster.get_settings(str(ROOT / name), "app:main")
    undocumented = [key for key in settings if key not in ("here", "__file__") and f"`{key}`" not in DOC]
    assert not undocumented, f"{name}: document {undocumented} in docs/configuration.md"


def test_documented_s3_keys_match_the_s3_backend():
    source = (ROOT / "proseo_odata" / "archive" / "s3.py").read_text(encoding="utf-8")
    used = set(re.findall(r'(?:get\(|_number\(settings, )"([a-z_]+)"', source))
    assert used, "found no settings in s3.py"
    missing = [k for k in used if f"proseo.archive.s3.{k}" not in DOC]
    assert not missing, missing
