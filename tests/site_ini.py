"""The .ini of a proseo-odata installation for command-line tests (``proseo-odata -c``)."""
import textwrap
from pathlib import Path

WORKFLOWS = Path(__file__).resolve().parent.parent / "proseo_odata" / "demo" / "workflows.json"


def write_ini(folder: Path, db_url: str, archive: "str | Path" = "%(here)s/archive") -> Path:
    """``folder/site.ini``: the SQLAlchemy storage at ``db_url``, a local archive at ``archive``
    (default: beside the .ini), the demo workflows."""
    folder.mkdir(parents=True, exist_ok=True)
    ini = folder / "site.ini"
    ini.write_text(textwrap.dedent(f"""\
        [app:main]
        use = egg:proseo-odata
        proseo.storage.backend = proseo_odata.storage.sqlalchemy
        proseo.storage.url = {db_url.replace('%', '%%')}
        proseo.archive.backend = proseo_odata.archive.local
        proseo.archive.path = {archive}
        proseo.workflows.file = {WORKFLOWS}
        """), encoding="utf-8")
    return ini
