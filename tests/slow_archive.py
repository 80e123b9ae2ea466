"""An archive whose copies take longer: what a large product's file does to the moments around
its publication (tests of the publication date, docs/prip.md "Harvesting by PublicationDate")."""
from __future__ import annotations

import time

from proseo_odata.model.entities import utcnow


class SlowArchive:
    """``archive``, each ``put_file`` taking ``delay`` seconds more; ``copied``: when the copy of
    each key ended."""

    def __init__(self, archive, delay: float):
        self._archive, self.delay, self.copied = archive, delay, {}

    def put_file(self, key, *args, **kwargs):
        result = self._archive.put_file(key, *args, **kwargs)
        time.sleep(self.delay)
        self.copied[key] = utcnow()
        return result

    def __getattr__(self, name):
        return getattr(self._archive, name)
