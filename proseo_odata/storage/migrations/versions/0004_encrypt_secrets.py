"""Notification passwords at rest: every stored password in its sealed form.

``orders.notification_password``, ``subscriptions.notification_password`` and
``outbox.password`` held the password in the clear. Each non-NULL value becomes
``fernet:<token>`` (sealed with the first key of ``proseo.secrets.key`` /
``proseo.secrets.key_file``) or, when no key is configured, ``plain:<text>`` (then
``proseo-odata secrets rotate`` seals them once a key is set). See proseo_odata/secretbox.py.

The key comes from the storage running the migration (``config.attributes["secrets"]``, set by
``SQLAlchemyStorage.initialize_schema``) or, for ``alembic -c <file>.ini upgrade``, from the
``[app:main]`` settings of that file. Downgrade opens every value again (it needs the keys).

Revision ID: 0004_encrypt_secrets
Revises: 0003_outbox_claim_token
Create Date: 2026-12-04
"""
import sqlalchemy as sa
from alembic import context, op

from proseo_odata.secretbox import SecretBox

revision = "0004_encrypt_secrets"
down_revision = "0003_outbox_claim_token"
branch_labels = None
depends_on = None

#: (table, key column, secret column)
SECRET_COLUMNS = (
    ("orders", "id", "notification_password"),
    ("subscriptions", "id", "notification_password"),
    ("outbox", "id", "password"),
)


def _box() -> SecretBox:
    box = context.config.attributes.get("secrets")
    if box is not None:
        return box
    name = context.config.config_file_name
    if name:
        import plaster

        return SecretBox.from_settings(plaster.get_settings(name, "app:main"))
    return SecretBox()


def _rewrite(convert) -> None:
    connection = op.get_bind()
    for table_name, key, column in SECRET_COLUMNS:
        table = sa.table(table_name, sa.column(key), sa.column(column, sa.Text()))
        rows = connection.execute(sa.select(table.c[key], table.c[column]).where(table.c[column].is_not(None))).all()
        for row_key, value in rows:
            new = convert(value)
            if new != value:
                connection.execute(sa.update(table).where(table.c[key] == row_key).values({column: new}))


def upgrade():
    box = _box()
    # Before this revision every value is the password itself (even one starting "plain:").
    _rewrite(box.to_column)


def downgrade():
    box = _box()
    _rewrite(lambda value: box.open(SecretBox.from_column(value)))
