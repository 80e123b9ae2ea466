"""proseo_odata.config.as_bool: the one reading of a boolean setting in the core."""
import pytest

from proseo_odata.config import as_bool


@pytest.mark.parametrize("text", ["1", "true", "TRUE", " yes ", "On", True])
def test_true_values(text):
    assert as_bool(text) is True
    assert as_bool(text, default=False) is True


@pytest.mark.parametrize("text", ["0", "false", "no", "off", "", "maybe", "t", False, 0])
def test_false_values(text):
    assert as_bool(text, default=True) is False


def test_missing_value_is_the_default():
    assert as_bool(None) is False
    assert as_bool(None, True) is True


def test_the_core_modules_share_it():
    from proseo_odata.archive import s3
    from proseo_odata.production import engine, workflows
    from proseo_odata.storage import sqlalchemy

    for module in (s3, engine, workflows, sqlalchemy):
        assert module.as_bool is as_bool
        assert not hasattr(module, "_as_bool")
