"""Every annotation of both services' ``$metadata`` checked against the OASIS vocabularies it
uses (``Org.OData.Core.V1``, ``Org.OData.Capabilities.V1``, ``Org.OData.Validation.V1``) with SAP's vocabulary service, the
npm package ``@sap-ux/odata-vocabularies`` (pinned in
``tests/data/odata-vocabularies/package-lock.json``; it ships the OASIS vocabularies and is what
SAP's OData tools validate annotations with). The script
``tests/data/odata-vocabularies/check_annotations.mjs`` asks the service whether each term exists
and applies to what it annotates, and checks each value against the term's type: a record's
properties must be the record type's, Booleans Booleans, enumerations their members, and every
property path must resolve on the annotated set's type (inside a navigation's restrictions, on
the navigation's target). The CSDL JSON is checked; the XML is the same document (the OASIS
converter's test, tests/web/test_metadata_openapi.py). Clients ignore an annotation they cannot
read without saying so: this is where a misspelt term or property shows.

Installed with ``npm ci`` into ``.node/odata-vocabularies/`` once (tests/node_packages.py);
without Node.js or the npm registry the tests FAIL, never skip.
"""
from __future__ import annotations

import copy
import json
import subprocess

import pytest

from node_packages import NODE_ROOT, REPO, node_package_or_fail
from odip_helpers import ODIP, json_of
from prip_helpers import PRIP, served_app

PACKAGE = REPO / "tests" / "data" / "odata-vocabularies"
PINNED = "0.4.31"
FILES = ("package.json", "package-lock.json", "check_annotations.mjs")
CAP = "@Org.OData.Capabilities.V1."


@pytest.fixture(scope="session")
def check():
    """``check({name: csdl_json}) -> (checked, problems)`` with the pinned vocabulary service."""
    target = node_package_or_fail(PACKAGE, NODE_ROOT / "odata-vocabularies", "@sap-ux/odata-vocabularies", PINNED,
                                  FILES, purpose="check the $metadata annotations against the OASIS vocabularies")

    def run(documents: dict, folder):
        paths = []
        for name, document in documents.items():
            path = folder / f"{name}.json"
            path.write_text(json.dumps(document), encoding="utf-8")
            paths.append(str(path))
        result = subprocess.run(["node", str(target / "check_annotations.mjs"), *paths], capture_output=True,
                                text=True, timeout=120, cwd=target)
        assert result.returncode == 0, result.stderr[-4000:]
        report = json.loads(result.stdout.strip().splitlines()[-1])
        return report["checked"], report["problems"]

    return run


@pytest.fixture
def db_url(sqlite_url):
    return sqlite_url


def _documents(app) -> dict:
    return {"prip": json_of(app.get(f"{PRIP}/$metadata", {"$format": "json"})),
            "odip": json_of(app.get(f"{ODIP}/$metadata", {"$format": "json"}))}


@pytest.mark.parametrize("seed_aliases", ["true", "false"])
def test_every_annotation_fits_its_vocabulary(odip, check, tmp_path, seed_aliases):
    with served_app({**odip.settings, "proseo.seed_aliases": seed_aliases}) as app:
        documents = _documents(app)
    checked, problems = check(documents, tmp_path)
    assert problems == []
    # what was checked: every kind of element the services annotate
    terms = {entry.split(" @")[1] for entry in checked}
    assert {"Org.OData.Core.V1.Description", "Org.OData.Core.V1.OptionalParameter",
            "Org.OData.Capabilities.V1.BatchSupported", "Org.OData.Capabilities.V1.FilterFunctions",
            "Org.OData.Capabilities.V1.FilterRestrictions", "Org.OData.Capabilities.V1.SortRestrictions",
            "Org.OData.Capabilities.V1.NavigationRestrictions", "Org.OData.Capabilities.V1.CountRestrictions",
            "Org.OData.Capabilities.V1.ExpandRestrictions", "Org.OData.Capabilities.V1.ReadRestrictions",
            "Org.OData.Capabilities.V1.InsertRestrictions", "Org.OData.Core.V1.Computed",
            "Org.OData.Validation.V1.Minimum", "Org.OData.Validation.V1.Maximum"} <= terms
    annotated = sum(1 for document in documents.values() for _ in _annotations(document))
    assert len(checked) == annotated > 60


def _annotations(node):
    """Every annotation key in a CSDL JSON document (the checker must visit each one)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if "@" in key and not key.startswith("@odata."):
                yield key
            yield from _annotations(value)
    elif isinstance(node, list):
        for item in node:
            yield from _annotations(item)


def test_the_checker_finds_what_clients_would_silently_ignore(odip, check, tmp_path):
    """Each kind of mistake, made in a copy of PRIP's CSDL, is reported (so the test above can fail)."""
    with served_app(odip.settings) as app:
        prip = _documents(app)["prip"]
    broken = copy.deepcopy(prip)
    container = broken["OData.CSC"]["Container"]
    products = container["Products"]
    products[CAP + "FilterRestriction"] = {"Filterable": True}  # a misspelt term
    products[CAP + "SortRestrictions"]["NonSortableProperty"] = ["Name"]  # a misspelt record property
    products[CAP + "TopSupported"] = "yes"  # a string for a Boolean
    products[CAP + "FilterRestrictions"]["NonFilterableProperties"].append("NoSuchProperty")  # a path to nothing
    navigation = products[CAP + "NavigationRestrictions"]["RestrictedProperties"][0]
    navigation["CountRestrictions"] = {"Countable": True}  # not a member of NavigationPropertyRestriction
    navigation["SortRestrictions"]["NonSortableProperties"] = ["Footprint"]  # a Product path, not an Attribute's
    navigation["Navigability"] = "Sideways"  # not a member of the enumeration
    container["Subscriptions"]["@Org.OData.Core.V1.OptionalParameter"] = {}  # a parameter's term on a set
    broken["OData.CSC"]["Subscription"]["Priority"]["@Org.OData.Validation.V1.Minimum"] = "1"  # not an Int32
    _, problems = check({"broken": broken}, tmp_path)
    expected = [
        "Products @Org.OData.Capabilities.V1.FilterRestriction: unknown term",
        "Org.OData.Capabilities.V1.SortRestrictionsType has no property NonSortableProperty",
        "TopSupported: a Boolean expected",
        "the path NoSuchProperty does not resolve on OData.CSC.Product",
        "Org.OData.Capabilities.V1.NavigationPropertyRestriction has no property CountRestrictions",
        "the path Footprint does not resolve on OData.CSC.Attribute",
        "Navigability: not a member of Org.OData.Capabilities.V1.NavigationType",
        "Subscriptions @Org.OData.Core.V1.OptionalParameter: does not apply to EntitySet",
        "Subscription/Priority @Org.OData.Validation.V1.Minimum: an integer expected",
    ]
    missing = [text for text in expected if not any(text in problem for problem in problems)]
    assert missing == [], problems
    assert len(problems) == len(expected), problems


def test_docs_name_the_pinned_version():
    lock = json.loads((PACKAGE / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/@sap-ux/odata-vocabularies"]["version"] == PINNED
    docs = (REPO / "docs" / "metadata.md").read_text(encoding="utf-8")
    assert f"@sap-ux/odata-vocabularies` {PINNED}" in docs and "check_annotations.mjs" in docs
