"""Packaging for proseo-odata.

The OData grammar lives in the top-level ``grammars/`` folder (the design card puts it there);
``proseo_odata/grammars`` is a symbolic link to it, so the package ``proseo_odata.grammars`` is
found in the source tree, in an editable install and in a wheel (``importlib.resources``), with a
flat layout and no ``package_dir`` mapping.
"""
from setuptools import find_namespace_packages, setup

# The core (`proseo_odata`): the OData query compiler, the storage, the command line, the
# production engine and its notifications. It never imports pyramid (tests/test_layering.py).
requires = [
    "lark>=1.1.9",
    "sqlalchemy>=2.0",
    "alembic>=1.12",
    "shapely>=2.0",
    "numpy>=1.24",  # proseo_odata.odata.geo reads coordinates as arrays (shapely's own dependency too)
    "orjson>=3.9",  # manifest lines read by the bulk ingest (proseo_odata.ingest)
    "click>=8.1",  # the proseo-odata command
    "tqdm>=4.66",  # its progress bars (ingest)
    "plaster_pastedeploy>=1.0",  # the command reads the .ini exactly as pserve does (%(here)s)
    "requests>=2.31",  # order and subscription notifications, delivered by `proseo-odata worker` too
    "cryptography>=42.0",  # notification passwords sealed at rest (proseo_odata.secretbox)
    "google-re2>=1.1",  # matchesPattern in linear time, whatever the pattern (proseo_odata.odata.regex)
]

# The image-conversion processor (proseo_odata.production.image) and the demo data's images.
image = ["pillow>=10.0"]

# The PRIP/ODIP web application and its server (proseo_odata_web, pserve).
web = [
    "pyramid>=2.0",
    # pyramid 2.x imports pkg_resources when it starts: setuptools 82 removed it (pyramid cannot
    # start) and 80.9-81 print a "pkg_resources is deprecated" UserWarning at every start.
    "setuptools<80.9",
    "cornice>=6.0",
    "colander>=2.0",
    "pyramid_tm>=2.5",
    "transaction>=4.0",
    "waitress>=3.0",
    "gunicorn>=24.1",  # production.ini's multi-process server (egg:proseo-odata#gunicorn)
    "pyjwt>=2.8",
    "webob>=1.8",
    *image,  # the server's in-process workers run the demo's image workflows
    "prometheus_client>=0.20",  # /metrics
]

# lark-cython runs the same grammar's lexer and LALR loop in C (proseo_odata.odata.parser).
fast = ["lark-cython>=0.0.17"]

extras = {
    "web": web,
    "fast": fast,
    "image": image,
    "postgresql": ["psycopg[binary]>=3.2"],  # 3.2: Connection.notifies(timeout=) (workers LISTEN)
    "s3": ["boto3>=1.28"],
    "yaml": ["pyyaml>=6.0"],
    "test": [
        *web,
        *fast,  # tests/odata/test_parser.py compares its trees with Lark's own
        "pyyaml>=6.0",
        "pytest>=8.0",
        "pytest-xdist>=3.5",  # make test: two workers (-n 2), one PostgreSQL server (tests/conftest.py)
        "webtest>=3.0",
        "psycopg[binary]>=3.2",
        "boto3>=1.28",
        "moto[server]>=5.0",
        "odata-query>=0.10",
        "interegular>=0.3",  # lark's strict mode (tests/odata/test_parser.py builds the grammar strictly)
        "build>=1.0",
        # $metadata against the OASIS CSDL schemas (tests/csdl_schemas.py); regex: the JSON
        # schema's ECMA patterns (\p{L}) that Python's re lacks.
        "xmlschema>=3.0",
        "jsonschema>=4.18",
        # jsonschema checks the "date-time" format only with it (answers against OpenAPI's schemas,
        # tests/web/test_metadata_openapi.py)
        "rfc3339-validator>=0.1.4",
        "regex>=2023.0",
    ],
}

setup(
    name="proseo-odata",
    version="0.1.0",
    description="PRIP and ODIP OData services (ESA ground segment) in Python",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="GPL-3.0-or-later",
    python_requires=">=3.11",
    # Namespace-aware discovery: folders without __init__.py (demo data, migrations) are packages
    # too, so setuptools ships them without its "absent from the packages configuration" banners.
    packages=find_namespace_packages(
        include=["proseo_odata", "proseo_odata.*", "proseo_odata_web", "proseo_odata_web.*"],
        exclude=["*.__pycache__"],
    ),
    # A flat layout (every package under the project folder): an editable install is a plain .pth
    # entry, without setuptools' "Editable installation" banner of mapped package folders.
    package_dir={"": "."},
    package_data={
        "proseo_odata.grammars": ["*.lark"],
        "proseo_odata": ["storage/migrations/*.py", "storage/migrations/versions/*.py", "storage/migrations/*.mako", "demo/*", "demo/**/*"],
        "proseo_odata_web": ["*.ini"],
    },
    include_package_data=True,
    zip_safe=False,
    install_requires=requires,
    extras_require=extras,
    entry_points={
        "paste.app_factory": ["main = proseo_odata_web:main"],
        "paste.server_factory": [
            "waitress = proseo_odata_web.server:server_factory",
            "gunicorn = proseo_odata_web.server:gunicorn_server_factory",
        ],
        "console_scripts": ["proseo-odata = proseo_odata.cli:main"],
        "proseo_odata.workflows": [],
    },
)
