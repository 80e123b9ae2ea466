"""The $orderby paths of the SQLAlchemy backend: derived from the filter mapping, with the
differences (fewer paths, one alias) pinned here so a mapping change cannot widen them."""
import pytest

from proseo_odata.storage.errors import InvalidQueryError
from proseo_odata.storage.mapping import entity_mapping
from proseo_odata.storage.schema import SchemaTables
from proseo_odata.storage.sqlalchemy import _sort_keys, orderby_columns

SORTABLE = {
    "Products": {"Id", "Name", "ContentType", "ContentLength", "OriginDate", "PublicationDate",
                 "CreationDate", "ModificationDate", "EvictionDate", "Online", "ContentDate/Start",
                 "ContentDate/End", "ProductionType"},
    "Subscriptions": {"Id", "Status", "Priority", "SubmissionDate", "LastNotificationDate",
                      "StageOrder", "FilterParam", "NotificationEndpoint"},
    "Workflows": {"Id", "Name", "Description", "InputProductType", "OutputProductType",
                  "WorkflowVersion"},
    "ProductionOrders": {"Id", "Status", "StatusMessage", "Priority", "SubmissionDate",
                         "EstimatedDate", "CompletedDate", "EvictionDate", "OrderOutputSize",
                         "WorkflowId", "WorkflowName", "InputProductReference/Reference"},
}

TABLES = [SchemaTables(dialect="sqlite", postgis=False), SchemaTables(dialect="postgresql", postgis=True),
          SchemaTables(dialect="postgresql", postgis=False)]


@pytest.mark.parametrize("tables", TABLES, ids=lambda t: f"{t.dialect}-postgis={t.postgis}")
@pytest.mark.parametrize("entity_set", sorted(SORTABLE))
def test_sortable_paths_and_columns_come_from_the_filter_mapping(entity_set, tables):
    columns = orderby_columns(entity_set, tables)
    assert {"/".join(path) for path in columns} == SORTABLE[entity_set]
    mapped = entity_mapping(entity_set, tables).columns
    for path, column in columns.items():
        name = "/".join(path)
        assert column is mapped["PublicationDate" if name == "CreationDate" else name]


def test_creation_date_sorts_by_the_publication_date_column():
    tables = TABLES[0]
    assert orderby_columns("Products", tables)[("CreationDate",)] is tables.products.c.publication_date


@pytest.mark.parametrize("entity_set,path", [
    ("Subscriptions", ("NotificationEpUsername",)),
    ("ProductionOrders", ("NotificationEpUsername",)),
    ("ProductionOrders", ("NotificationEndpoint",)),
    ("ProductionOrders", ("InputProductReference", "ContentDate", "Start")),
])
def test_filterable_but_not_sortable_paths_are_rejected(entity_set, path):
    with pytest.raises(InvalidQueryError, match="sortable properties: ") as info:
        _sort_keys(entity_set, [(path, False)], TABLES[0])
    assert "/".join(path) in str(info.value)
