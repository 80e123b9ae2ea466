"""Packaging for proseo-odata.

The OData grammar lives in the top-level ``grammars/`` folder (the design card puts it there);
it is mapped into the installed package as ``proseo_odata.grammars`` so that a wheel carries it
and ``importlib.resources`` finds it outside the source tree.
"""
from setuptools import find_packages, setup

requires = [
    "pyramid>=2.0",
    "cornice>=6.0",
    "colander>=2.0",
    "sqlalchemy>=2.0",
    "zope.sqlalchemy>=3.0",
    "pyramid_tm>=2.5",
    "transaction>=4.0",
    "alembic>=1.12",
    "lark>=1.1.9",
    "shapely>=2.0",
    "click>=8.1",
    "tqdm>=4.66",
    "waitress>=3.0",
    "requests>=2.31",
    "pillow>=10.0",
    "pyjwt>=2.8",
    "plaster_pastedeploy>=1.0",
    "cryptography>=42.0",  # notification passwords sealed at rest (proseo_odata.secretbox)
    "prometheus_client>=0.20",  # /metrics (web layer; belongs in the "web" extra once it exists)
]

extras = {
    "postgresql": ["psycopg[binary]>=3.1"],
    "s3": ["boto3>=1.28"],
    "yaml": ["pyyaml>=6.0"],
    "test": [
        "pyyaml>=6.0",
        "pytest>=8.0",
        "webtest>=3.0",
        "psycopg[binary]>=3.1",
        "boto3>=1.28",
        "moto[server]>=5.0",
        "odata-query>=0.10",
        "interegular>=0.3",  # lark's strict mode (tests/odata/test_parser.py builds the grammar strictly)
        "build>=1.0",
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
    packages=find_packages(include=["proseo_odata", "proseo_odata.*", "proseo_odata_web", "proseo_odata_web.*"])
    + ["proseo_odata.grammars"],
    package_dir={"proseo_odata.grammars": "grammars"},
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
        "console_scripts": ["proseo-odata = proseo_odata.cli:main"],
        "proseo_odata.workflows": [],
    },
)
