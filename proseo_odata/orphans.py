"""Orphan files: files in the archive that the service wrote and no product names any more.

They are left behind where a product's file and its row cannot change in one step:

* an ingest whose commit failed without an answer (the connection lost while the ``COMMIT``
  was on its way): the file is kept, since the product may be stored
  (:func:`proseo_odata.ingest._outcome_unknown`); when it was not, the file is an orphan;
* a process ended between copying a file and committing its product (a killed ingest, a
  production worker stopped while publishing), or in the middle of writing a file (the local
  folder's temporary ``.part-*.tmp`` files);
* eviction or a deletion whose product rows were committed and whose file deletion then failed;
* on S3, a multipart upload whose process was killed before it completed or aborted it: not an
  object, but its parts are kept (and billed) until the upload is aborted
  (:func:`find_unfinished`).

Only keys the service makes are considered: ``<MISSION>/<product Id>/...`` for a mission the
catalogue has (an ingest's ``<MISSION>/<Id>/<token>/<Name>``, a production output's
``<MISSION>/<Id>/<Name>``), and the temporary files of interrupted writes. Any other file (one
an operator put in the archive to register it by reference, say) is never listed. A file is an
orphan when no product of any mission names its key and it is older than ``older_than``
(files being ingested or published right now are not yet named by their product).

Removal has a ceiling (``max_remove``, the CLI's ``--max-remove``): a catalogue restored from an
older backup, or a configuration naming the wrong database of a mission, makes every file stored
since look like an orphan, and a removal run by a schedule would delete those products' only
copy. Above the ceiling nothing is removed.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Iterator

from proseo_odata.archive import ArchivedFile, UnfinishedUpload
from proseo_odata.model import utcnow

__all__ = ["DEFAULT_MAX_REMOVE", "DEFAULT_OLDER_THAN", "OrphanReport", "find_orphans", "find_unfinished", "remove_orphans"]

#: Files younger than this are never orphans (an ingest or a production order may be about to
#: commit the product that names them).
DEFAULT_OLDER_THAN = timedelta(hours=24)

#: More orphans than this, and :func:`remove_orphans` removes none unless the caller raises it (a
#: killed bulk ingest leaves up to a few batches' files; far more means a lost or wrong catalogue).
DEFAULT_MAX_REMOVE = 1000

#: Keys asked about at once (:meth:`StorageBase.archive_keys_in_use`).
BATCH = 1000


def _made_here(key: str, missions: set[str]) -> bool:
    """Whether ``key`` is one the service makes: ``<MISSION>/<uuid>/...`` for a known mission."""
    parts = key.split("/", 2)
    if len(parts) < 3 or parts[0] not in missions:
        return False
    try:
        uuid.UUID(parts[1])
    except ValueError:
        return False
    return True


def _scope(storage, older_than: timedelta, now: datetime | None) -> tuple[datetime, set[str]]:
    """``(the time before which a file may be an orphan, the catalogue's mission codes)``."""
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    return (now or utcnow()) - older_than, {mission.code for mission in storage.list_missions()}


def find_orphans(storage, archive, *, older_than: timedelta = DEFAULT_OLDER_THAN, prefix: str = "",
                 now: datetime | None = None) -> Iterator[ArchivedFile]:
    """The orphan files of ``archive`` (see the module) whose keys start with ``prefix``, in the
    order the archive lists them. ``NotImplementedError`` when the archive cannot list its files
    or the storage cannot tell which keys are in use."""
    cutoff, missions = _scope(storage, older_than, now)
    pending: list[ArchivedFile] = []
    for found in archive.list_files(prefix):
        if found.modified > cutoff or not _made_here(found.key, missions):
            continue
        pending.append(found)
        if len(pending) >= BATCH:
            yield from _unused(storage, pending)
            pending = []
    yield from _unused(storage, pending)


def find_unfinished(storage, archive, *, older_than: timedelta = DEFAULT_OLDER_THAN, prefix: str = "",
                    now: datetime | None = None) -> Iterator[UnfinishedUpload]:
    """The uploads of ``archive`` begun more than ``older_than`` ago under a key the service
    makes (see the module) and never completed nor aborted (:meth:`ArchiveBase.list_unfinished`):
    the upload of a file takes minutes, so one that old was left by a process that ended."""
    cutoff, missions = _scope(storage, older_than, now)
    for upload in archive.list_unfinished(prefix):
        if upload.started <= cutoff and _made_here(upload.key, missions):
            yield upload


def _unused(storage, files: list[ArchivedFile]) -> Iterator[ArchivedFile]:
    if not files:
        return
    # Every key is asked about, a temporary file's name (``.part-*``) too: the Name of a product
    # published before such names were refused may look like one, and its file is no orphan.
    named = storage.archive_keys_in_use([f.key for f in files])
    for found in files:
        if found.key not in named:
            yield found


@dataclass
class OrphanReport:
    """What :func:`remove_orphans` found and did."""

    files: list[ArchivedFile] = field(default_factory=list)  # the orphans found
    removed: int = 0
    uploads: list[UnfinishedUpload] = field(default_factory=list)  # the unfinished uploads found
    aborted: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (key, why it was not removed)
    #: True when removal was asked for and more orphans than ``max_remove`` were found: then
    #: nothing was removed nor aborted.
    refused: bool = False

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


def remove_orphans(storage, archive, *, older_than: timedelta = DEFAULT_OLDER_THAN, prefix: str = "",
                   remove: bool = True, max_remove: int | None = DEFAULT_MAX_REMOVE,
                   now: datetime | None = None, found=None) -> OrphanReport:
    """:func:`find_orphans` and :func:`find_unfinished`, each file removed from the archive and
    each upload aborted unless ``remove`` is false (a dry run); ``found(item)`` is called with
    each as it is found. One that cannot be removed is reported in ``errors`` and does not stop
    the others. More orphan files and uploads than ``max_remove`` (None: no ceiling): nothing
    is removed, ``refused`` is set (see the module)."""
    report = OrphanReport()
    options = {"older_than": older_than, "prefix": prefix, "now": now}
    for orphan in find_orphans(storage, archive, **options):
        report.files.append(orphan)
        if found is not None:
            found(orphan)
    for upload in find_unfinished(storage, archive, **options):
        report.uploads.append(upload)
        if found is not None:
            found(upload)
    if not remove:
        return report
    if max_remove is not None and len(report.files) + len(report.uploads) > max_remove:
        report.refused = True
        return report
    # Asked again just before removing (the listing may have taken minutes): a file a product
    # has come to name meanwhile (an ingest by reference of an export, say) stays.
    for start in range(0, len(report.files), BATCH):
        for orphan in _unused(storage, report.files[start:start + BATCH]):
            report.removed += _discard(report, orphan.key, lambda: archive.delete(orphan.key))
    for upload in report.uploads:
        report.aborted += _discard(report, upload.key, lambda: archive.abort_unfinished(upload))
    return report


def _discard(report: OrphanReport, key: str, discard) -> int:
    """1 when ``discard()`` removed ``key``'s file or upload, else 0 and its error reported."""
    try:
        discard()
    except Exception as exc:  # noqa: BLE001 - reported, the others go on
        report.errors.append((key, f"{type(exc).__name__}: {exc}"))
        return 0
    return 1
