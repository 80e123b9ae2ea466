"""The SQL an engine runs inside a ``with`` block, for tests that check which statements a call
issues (``with StatementLog(storage.engine) as log: ...; log.texts``)."""
from __future__ import annotations

import sqlalchemy as sa


class StatementLog:
    def __init__(self, engine):
        self.engine = engine
        #: ``(statement text, parameters)`` in the order the driver received them
        self.seen: list = []

    def __enter__(self) -> "StatementLog":
        sa.event.listen(self.engine, "before_cursor_execute", self._capture)
        return self

    def __exit__(self, *exc) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._capture)

    def _capture(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.seen.append((statement, parameters))

    @property
    def texts(self) -> list:
        return [statement for statement, _ in self.seen]
