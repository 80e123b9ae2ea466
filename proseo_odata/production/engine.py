"""The production engine: workers that run production orders end to end.

One order, as a worker runs it (contract section 10)::

    claim (queue.claim_next_order, lease)  ->  heartbeat thread (extends the lease; sees a cancel)
    -> input product (the order's input_product_id, else looked up by Reference / ContentDate)
    -> its file from the archive into a scratch folder
    -> the workflow's processor (proseo_odata.production.processors) in that folder
    -> output into the archive (MD5 + SHA-256) -> one transaction: publish the PRIP product,
       complete the order (OrderOutputSize, CompletedDate, EvictionDate), outbox notification,
       subscription matching -> scratch folder removed

A processor failure fails the order with the reason in ``StatusMessage``; a missing input fails
it with ``input product not found``. Nothing else fails an order: a transient database failure
(lost connection, serialization failure, deadlock, timeout:
:func:`proseo_odata.storage.errors.is_transient`) anywhere in a run returns the order to
``queued`` for the next worker, uncounted (the worker tries for as long as its lease holds; an
outage longer than that leaves the order to lease recovery, which counts it as a lost worker); a
failure of the archive or any other service fault returns it counted (``attempts`` + 1), up to
``max_attempts`` times. Status messages come from a fixed vocabulary
(:mod:`proseo_odata.model.statemachine`) plus the processor's own reason; they never carry an
exception's text, so never SQL, bound parameters or a secret. Database errors are logged as one
line (:func:`proseo_odata.storage.errors.describe`), without the statement.

A cancel (written by the web layer) makes the heartbeat trip the processor's cancel token, which
stops it (an external command's whole process group is killed). A worker that dies leaves its
lease to expire; :func:`queue.requeue_expired` (run by every pool) gives the order to another
worker, a bounded number of times; its external command dies with it and the next pool to start
on the host removes what is left (:mod:`proseo_odata.production.reaper`); child processes a
Python processor starts itself are not tracked. A stop (SIGTERM) trips the running processor's
token: a processor that stops within :meth:`WorkerPool.stop`'s timeout has its order requeued
uncounted, one that never checks the token leaves its order to lease recovery.

:class:`WorkerPool` runs N worker threads, the lease recoverer and (optionally) the notification
dispatcher inside any process: ``pserve`` (``proseo.workers`` > 0) or ``proseo-odata worker``.

Settings (all optional):

=========================================  =========  ==========================================
``proseo.workers``                         0          worker threads of a server process (0: none);
                                                      ``proseo-odata worker`` runs at least 1
                                                      (:class:`proseo_odata.config.CoreSettings`)
``proseo.production.lease_seconds``        30         lease of a running order; heartbeats every
                                                      third of it
``proseo.production.poll_seconds``         1          idle wait between looks at the queue (a
                                                      queued order wakes the workers at once;
                                                      this is the fallback)
``proseo.production.max_attempts``         3          runs lost (worker died) or ended by a
                                                      service fault before failing
``proseo.production.fault_pause_seconds``  5          after a service fault (the archive away),
                                                      the worker waits this, doubled at each
                                                      attempt (at most 10 min), before it gives
                                                      the order back: a short outage does not
                                                      use up the attempts at once
``proseo.production.scratch_dir``          (tmp)      where per-order scratch folders go
``proseo.production.output_retention_days``  30       default output retention
``proseo.notify.dispatcher``               true       run the notification dispatcher in the pool
=========================================  =========  ==========================================
"""
from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import stat
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Mapping, Optional

from proseo_odata.config import as_bool, number_setting
from proseo_odata.model import (
    NEVER,
    PRODUCT_TYPE_ATTRIBUTE,
    Attribute,
    AttributeType,
    Checksum,
    OrderStatus,
    Product,
    ProductionOrder,
    Workflow,
    utcnow,
)
from proseo_odata.nodes import file_quicklook
from proseo_odata.notify.delivery import NotificationDispatcher, enqueue_order_notification
from proseo_odata.notify.subscriptions import on_product_published
from proseo_odata.model.statemachine import (
    MESSAGE_COMPLETED,
    MESSAGE_FAILED,
    MESSAGE_INPUT_NOT_FOUND,
    MESSAGE_QUEUED,
    OrderEvent,
    transition,
)
from proseo_odata.model.options import production_type_for
from proseo_odata.production import queue
from proseo_odata.production.inputs import InputProductNotFound, find_input_product
from proseo_odata.production.processors import (
    CancelToken,
    ProcessingCancelled,
    ProcessingFailed,
    ProcessorInput,
    ProcessorOutput,
    create_processor,
)
from proseo_odata.production.reaper import mark_scratch, reap_dead_runs
from proseo_odata.production.workflows import output_retention_days, processor_config_for, retention_setting
from proseo_odata.storage.errors import ConflictError, InvalidValueError, NotFoundError
from proseo_odata.storage.errors import describe, is_database_error, is_transient, log_failure

log = logging.getLogger(__name__)

MAX_STATUS_MESSAGE = 4000
SHUTDOWN_REASON = "worker shutting down"
#: Failure reasons of service faults that persisted over ``max_attempts`` runs (fixed texts).
REASON_SERVICE_FAULT = "the service could not complete the run (archive or database error); attempts exhausted"
#: The message of a failure whose reason the database refused (it holds something
#: :func:`_truncate` lets through).
REASON_UNSTORABLE = f"{MESSAGE_FAILED}: the processor's reason could not be stored (see the worker log)"


@dataclass
class EngineConfig:
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    max_attempts: int = 3
    scratch_dir: Optional[str] = None
    fault_pause_seconds: float = 5.0

    #: The longest pause after a service fault.
    MAX_FAULT_PAUSE_SECONDS = 600.0

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "EngineConfig":
        positive = {"ok": lambda n: n > 0, "needs": "a positive number of seconds"}
        retention_setting(settings)  # read when an order completes; a bad one is found at start-up
        return cls(
            lease_seconds=number_setting(settings, "proseo.production.lease_seconds", cls.lease_seconds, **positive),
            poll_seconds=number_setting(settings, "proseo.production.poll_seconds", cls.poll_seconds, **positive),
            max_attempts=number_setting(settings, "proseo.production.max_attempts", cls.max_attempts, int,
                                        ok=lambda n: n >= 1, needs="at least 1"),
            scratch_dir=settings.get("proseo.production.scratch_dir") or None,
            fault_pause_seconds=number_setting(
                settings, "proseo.production.fault_pause_seconds", cls.fault_pause_seconds,
                ok=lambda n: 0 <= n <= cls.MAX_FAULT_PAUSE_SECONDS, needs=f"0 to {cls.MAX_FAULT_PAUSE_SECONDS:.0f}"),
        )

    def fault_pause(self, attempts: int) -> float:
        """Seconds to wait after a service fault of an order that ran ``attempts`` times before."""
        return min(self.MAX_FAULT_PAUSE_SECONDS, self.fault_pause_seconds * 2 ** min(attempts, 20))


# -- one order ---------------------------------------------------------------------------------


class _OrderEnded(Exception):
    """The order is no longer ours to finish (cancelled, requeued, or already finished)."""


#: What a status message may not hold as it is: C0 and C1 control characters (NUL, which
#: PostgreSQL cannot store, among them) and DEL, except line feed and tab; and lone surrogates
#: (text decoded from other bytes than UTF-8), which no database stores.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _truncate(text: str) -> str:
    """``text`` as a status message can store it: each character of :data:`_UNSTORABLE`
    written as its escape (``\\x00``, ``\\udcff``), at most :data:`MAX_STATUS_MESSAGE`
    characters. A processor's reason or an external command's last log lines may hold any of
    them (a binary header, a NUL)."""
    text = _UNSTORABLE.sub(lambda m: m.group(0).encode("unicode_escape", "backslashreplace").decode("ascii"), text)
    return text if len(text) <= MAX_STATUS_MESSAGE else text[: MAX_STATUS_MESSAGE - 3] + "..."


def _unique_name(name: str, order_id: uuid.UUID) -> str:
    """``name`` with the last 8 hex digits of the order's Id before its extension: random bits
    in every version (a time-ordered Id starts with its time, the same for orders made close
    together). Within :data:`~proseo_odata.ingest.NAME_MAX_BYTES` bytes of UTF-8, as every Name:
    the part before the extension is shortened (whole characters) to make room, or, when the
    extension alone leaves none, the name itself, the suffix then at its end."""
    from proseo_odata.ingest import NAME_MAX_BYTES

    suffix = f"_{order_id.hex[-8:]}"
    stem, dot, ext = name.partition(".")
    tail = dot + ext
    room = NAME_MAX_BYTES - len(suffix) - len(tail.encode("utf-8"))
    if room < 1:
        stem, tail, room = name, "", NAME_MAX_BYTES - len(suffix)
    stem = stem.encode("utf-8")[:room].decode("utf-8", "ignore")  # (a character cut in two is left out)
    return f"{stem}{suffix}{tail}"


def _checked_output(output: ProcessorOutput) -> tuple:
    """``(name, content_type, content_date or None, footprint WKT or None, {name: Attribute})``
    of a processor's output, each checked as an ingest checks it; ``ProcessingFailed`` naming
    the field otherwise. The footprint is normalised as an ingest's is."""
    from proseo_odata.ingest import (MetadataError, NAME_MAX_BYTES, check_content_type, check_name, check_text,
                                     parse_footprint)

    label = output.name if isinstance(output.name, str) else "(unnamed)"  # never a path of the worker's
    try:
        name, content_type = check_name(output.name), check_content_type(output.content_type)
        content_date = None
        if output.content_date is not None:
            if not isinstance(output.content_date, (tuple, list)) or len(output.content_date) != 2 or not all(
                    d is None or (isinstance(d, datetime) and d.utcoffset() is not None) for d in output.content_date):
                raise MetadataError("ContentDate", "expected (start, end): timezone-aware datetimes or None")
            content_date = tuple(output.content_date)
            if None not in content_date and content_date[0] > content_date[1]:
                raise MetadataError("ContentDate", "Start is after End")
        footprint = None
        if output.footprint is not None:
            if not isinstance(output.footprint, str):
                raise MetadataError("Footprint", "expected WKT or a geography literal")
            footprint = parse_footprint(output.footprint)
        if not isinstance(output.attributes, Mapping):
            raise MetadataError("Attributes", "expected a mapping of attribute names to values")
        given: dict[str, Attribute] = {}
        for key, value in output.attributes.items():
            field_name = f"Attributes/{key}"
            if not isinstance(key, str) or not key or len(key) > NAME_MAX_BYTES:
                raise MetadataError("Attributes", f"{key!r} is not an attribute name")
            try:
                attribute = value if isinstance(value, Attribute) else Attribute.of(key, value)
            except (TypeError, ValueError) as exc:
                raise MetadataError(field_name, str(exc)) from None
            if attribute.name != key:
                raise MetadataError(field_name, f"holds an attribute named {attribute.name!r}")
            check_text(key, field_name)
            if isinstance(attribute.value, str):
                check_text(attribute.value, field_name)
            if key == PRODUCT_TYPE_ATTRIBUTE and (attribute.type is not AttributeType.STRING or len(attribute.value) > 255):
                raise MetadataError(field_name, "expected a String of at most 255 characters")  # an indexed column
            given[key] = attribute
    except MetadataError as exc:
        raise ProcessingFailed(f"processor output {label!r} cannot be published: {exc}") from None
    return name, content_type, content_date, footprint, given


class Worker:
    """Runs orders one after the other (one thread). ``run_order`` runs one claimed order."""

    def __init__(self, storage, archive, settings: Optional[Mapping[str, Any]] = None, *, worker_id: Optional[str] = None,
                 config: Optional[EngineConfig] = None):
        self.storage = storage
        self.archive = archive
        self.settings = dict(settings or {})
        self.config = config or EngineConfig.from_settings(self.settings)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._current_token: Optional[CancelToken] = None
        #: The database was away at the last round: one log line per outage, one claim per round
        self._outage = False

    # -- loop ----------------------------------------------------------------------------

    def run_pending(self, limit: Optional[int] = None) -> int:
        """Run queued orders until the queue is empty (or ``limit`` ran); returns how many."""
        count = 0
        while not self._stop.is_set() and (limit is None or count < limit):
            order = queue.claim_next_order(self.storage, self.worker_id, self.config.lease_seconds,
                                           retry=not self._outage)
            if order is None:
                break
            self.run_order(order)
            count += 1
        return count

    def run_forever(self) -> None:
        # Woken when an order is queued (the storage's order_signal: an in-process event, on
        # PostgreSQL LISTEN/NOTIFY across processes); poll_seconds stays the fallback.
        signal = getattr(self.storage, "order_signal", None)
        while not self._stop.is_set():
            seen = signal.generation if signal is not None else 0
            try:
                ran = self.run_pending()
                if self._outage:
                    log.warning("worker %s: the database is reachable again", self.worker_id)
                    self._outage = False
            except (KeyboardInterrupt, GeneratorExit):
                raise
            except BaseException as exc:  # noqa: BLE001 - e.g. the database is away; try again later
                # (a SystemExit as well: nothing but stop() ends a worker's thread)
                if not is_transient(exc):
                    log_failure(log, "worker %s: queue round failed", exc, self.worker_id)
                elif not self._outage:  # one line per outage, not one per retry
                    log.warning("worker %s: the database is unavailable (%s); trying again every %.0f s",
                                self.worker_id, describe(exc), self.config.poll_seconds)
                    self._outage = True
                ran = 0
            if ran or self._stop.is_set():
                continue
            if signal is not None:
                signal.wait(seen, self.config.poll_seconds)
            else:
                self._stop.wait(self.config.poll_seconds)

    def stop(self) -> None:
        self._stop.set()
        signal = getattr(self.storage, "order_signal", None)
        if signal is not None:
            signal.wake()  # a waiting worker sees the stop at once
        token = self._current_token
        if token is not None:
            token.cancel(SHUTDOWN_REASON)

    # -- one order -------------------------------------------------------------------------

    def _heartbeat_loop(self, order: ProductionOrder, token: CancelToken, done: threading.Event) -> None:
        interval = max(0.05, self.config.lease_seconds / 3.0)
        while not done.wait(interval):
            try:
                mine = queue.heartbeat(self.storage, order.id, self.worker_id, self.config.lease_seconds)
            except Exception as exc:  # noqa: BLE001 - a missed heartbeat is retried; the lease has slack
                log_failure(log, "order %s: heartbeat failed", exc, order.id)
                continue
            if not mine:
                try:
                    status = self._stored_status(order)
                except Exception as exc:  # noqa: BLE001 - it is not ours any more either way
                    log_failure(log, "order %s: status lookup failed", exc, order.id)
                    status = "unknown"
                reason = "request cancelled by user" if status == OrderStatus.CANCELLED.value else f"order is {status} and no longer held by this worker"
                log.info("order %s: %s; stopping its processor", order.id, reason)
                token.cancel(reason)
                return

    def _stored_status(self, order: ProductionOrder) -> str:
        try:
            return self.storage.get_order(order.mission, order.id).status.value
        except NotFoundError:
            return "deleted"

    def run_order(self, order: ProductionOrder) -> ProductionOrder:
        """Run a claimed (``in_progress``) order to its end; returns the stored order afterwards."""
        token = CancelToken()
        self._current_token = token
        done = threading.Event()
        beat = threading.Thread(target=self._heartbeat_loop, args=(order, token, done), name=f"heartbeat-{order.id}", daemon=True)
        beat.start()
        scratch = Path(tempfile.mkdtemp(prefix=f"order-{order.id}-", dir=self.config.scratch_dir))
        mark_scratch(scratch, self.worker_id)
        archived_key = None
        new_product = None
        stage = "input"
        try:
            try:
                workflow = self.storage.get_workflow(order.mission, order.workflow_id)
            except NotFoundError:
                return self._fail(order, f"{MESSAGE_FAILED}: workflow {order.workflow_name} ({order.workflow_id}) no longer exists")
            try:
                product = self._input_product(order, workflow)
            except InputProductNotFound as exc:
                return self._fail(order, f"{MESSAGE_INPUT_NOT_FOUND}: {exc.message}")
            try:
                input_path = self._fetch(product, scratch)
            except FileNotFoundError:
                return self._fail(order, f"{MESSAGE_INPUT_NOT_FOUND}: the file of product {product.name} is not in the archive")
            stage = "process"
            outputs = self._process(order, workflow, product, input_path, scratch, token)
            stage = "publish"
            if len(outputs) != 1:
                return self._fail(order, f"{MESSAGE_FAILED}: processor produced {len(outputs)} outputs; a workflow must produce exactly one")
            output = outputs[0]
            token.raise_if_cancelled()
            new_product, archived_key = self._archive_output(order, workflow, product, output)
            completed = self._complete(order, workflow, new_product)
            archived_key = None  # published: the file now belongs to the catalogue
            return completed
        except ProcessingCancelled as exc:
            if not token.is_cancelled:
                # Only a cancel the engine asked for is one: a processor that stops by itself
                # (a helper of its own got a SIGTERM) has failed.
                log.warning("order %s: the processor raised ProcessingCancelled without a cancel", order.id)
                reason = str(exc)
                return self._fail(order, f"{MESSAGE_FAILED}: the processor stopped without being cancelled"
                                         + (f": {reason}" if reason else ""))
            if token.reason == SHUTDOWN_REASON:
                return self._requeue(order)
            log.info("order %s: processing stopped (%s)", order.id, token.reason)
            return self._reload(order)
        except ProcessingFailed as exc:
            return self._fail(order, f"{MESSAGE_FAILED}: {exc}")
        except _OrderEnded:
            current = self._reload(order)
            if new_product is not None and current.output_product_id == new_product.id:
                archived_key = None  # the commit went through before the connection broke
            return current
        except (KeyboardInterrupt, GeneratorExit):
            # A real Ctrl-C (a worker run in the main thread): the process ends; the order goes
            # back to the queue at once, uncounted, as on a shutdown.
            self._requeue(order)
            raise
        except BaseException as exc:  # noqa: BLE001 - decided below; never the worker's end
            # (SystemExit too: a plug-in's sys.exit() or argparse error is its own failure, not
            # the end of the worker thread)
            if is_transient(exc):
                log.warning("order %s: transient database failure (%s); returning it to the queue",
                            order.id, describe(exc))
                # uncounted: the database's outage is no attempt of the order's, and a count would
                # spend the budget of lost workers and service faults (two outages and one lost
                # worker failed an order as "the worker was lost 3 time(s)")
                return self._requeue(order, patient=True)
            if stage == "process" and not is_database_error(exc):
                # The processor's own bug: its order fails (the traceback goes to the log only).
                log.exception("order %s: the processor raised", order.id)
                return self._fail(order, f"{MESSAGE_FAILED}: the processor raised {type(exc).__name__}")
            log_failure(log, "order %s: service fault during %s", exc, order.id, stage)
            if order.attempts + 1 < self.config.max_attempts:
                # the heartbeat keeps the lease meanwhile; a stop or a cancel ends the wait
                deadline = time.monotonic() + self.config.fault_pause(order.attempts)
                while time.monotonic() < deadline and not self._stop.is_set():
                    if token.wait(min(0.5, max(0.0, deadline - time.monotonic()))):
                        break
            return self._requeue(order, counted=True, limit=self.config.max_attempts)
        finally:
            done.set()
            beat.join(10)
            self._current_token = None
            shutil.rmtree(scratch, ignore_errors=True)
            if archived_key is not None:  # archived but not published (cancelled, failed, lost)
                self._delete_quietly(archived_key)

    def _input_product(self, order: ProductionOrder, workflow: Workflow) -> Product:
        if order.input_product_id is not None:
            try:
                product = self.storage.get_product(order.mission, order.input_product_id)
            except NotFoundError:
                raise InputProductNotFound(
                    f"product {order.input_reference or order.input_product_id} is no longer in the catalogue",
                ) from None
        else:
            product = find_input_product(
                self.storage, order.mission, workflow.input_product_type,
                reference=order.input_reference, start=order.input_content_start, end=order.input_content_end,
            )
        if not product.online or not product.archive_key:
            raise InputProductNotFound(f"product {product.name} is not online")
        return product

    def _fetch(self, product: Product, scratch: Path) -> Path:
        folder = scratch / "input"
        folder.mkdir()
        target = folder / Path(product.name).name
        self.archive.fetch_to(product.archive_key, target)
        return target

    def _process(self, order, workflow, product, input_path: Path, scratch: Path, token: CancelToken) -> list[ProcessorOutput]:
        processor = create_processor(workflow.processor, processor_config_for(workflow))
        work = scratch / "work"
        work.mkdir()

        def progress(fraction: float, message: str) -> None:
            log.debug("order %s: %3.0f%% %s", order.id, 100 * fraction, message)

        options = {o.name: o.default for o in workflow.options if o.default is not None}
        options.update(order.workflow_options)
        outputs = processor.run(
            ProcessorInput(
                path=input_path,
                scratch_dir=work,
                options=options,
                product=product,
                output_product_type=workflow.output_product_type,
                workflow_name=workflow.name,
            ),
            progress,
            token,
        )
        return [self._inside(output, work) for output in outputs]

    @staticmethod
    def _inside(output: ProcessorOutput, work: Path) -> ProcessorOutput:
        """``output`` with its path resolved, when that is a regular file inside the job's
        scratch folder ``work`` once symbolic links are followed; ``ProcessingFailed`` otherwise.
        The worker may read files its processor (a mission's executable, less trusted than the
        service) cannot: a path or a link leading out of the folder (``/etc/passwd``, the
        service's configuration) would be published. The message names the output, never its
        path."""
        label = output.name if isinstance(output.name, str) else "(unnamed)"
        try:
            real = Path(os.path.realpath(output.path))
            inside = real.is_relative_to(Path(os.path.realpath(work))) and stat.S_ISREG(real.stat().st_mode)
        except (OSError, TypeError, ValueError):
            inside = False
        if not inside:
            raise ProcessingFailed(f"processor output {label!r} is not a regular file inside the job's scratch folder")
        output.path = real
        return output

    def _archive_output(self, order, workflow: Workflow, source: Product, output: ProcessorOutput):
        product = self._output_product(order, workflow, source, output)
        key = f"{order.mission}/{product.id}/{product.name}"
        size, md5, sha256 = self.archive.put_file(key, output.path, content_type=output.content_type)
        product.archive_key = key
        product.content_length = size
        product.quicklook = file_quicklook(output.path, size, product.name)
        now = product.publication_date
        product.checksums = [Checksum("MD5", md5, now), Checksum("SHA256", sha256, now)]
        return product, key

    def _output_product(self, order, workflow: Workflow, source: Product, output: ProcessorOutput) -> Product:
        """The product an output publishes. The output's own values are checked as an ingest
        checks a product's metadata (the same functions, :func:`_checked_output`): an output
        that could not be ingested fails its order at once naming the field
        (``ProcessingFailed``), instead of being stored (a ``ContentType`` without ``/``, a
        ``ContentDate`` ending before it starts) or refused by the database or the archive as if
        the service were at fault. What it does not set is the input's, as stored."""
        now = utcnow()
        name, content_type, content_date, footprint, given = _checked_output(output)
        attributes = [a for a in source.attributes if a.name != PRODUCT_TYPE_ATTRIBUTE and a.name not in given]
        attributes += given.values()
        if PRODUCT_TYPE_ATTRIBUTE not in given:
            attributes.append(Attribute(PRODUCT_TYPE_ATTRIBUTE, AttributeType.STRING, workflow.output_product_type))
        start, end = content_date if content_date is not None else (source.content_start, source.content_end)
        return Product(
            mission=order.mission,
            name=name,
            content_type=content_type,
            origin_date=source.origin_date,
            publication_date=now,
            modification_date=now,
            stamp_publication=True,  # dated again when stored: in the order of commits
            content_start=start,
            content_end=end,
            production_type=order.production_type or production_type_for(workflow, order.workflow_options),
            footprint=footprint or source.footprint,
            attributes=attributes,
            visibility=source.visibility,
        )

    # -- the end of an order (each in one transaction) ------------------------------------

    def _own(self, tx, order: ProductionOrder) -> ProductionOrder:
        current = tx.get_order(order.mission, order.id, for_update=True)
        if current.status is not OrderStatus.IN_PROGRESS or current.worker_id != self.worker_id:
            raise _OrderEnded()
        return current

    def _complete(self, order: ProductionOrder, workflow: Workflow, product: Product) -> ProductionOrder:
        days = output_retention_days(workflow, self.settings)

        def finish() -> ProductionOrder:
            with self.storage.transaction() as tx:
                current = self._own(tx, order)
                now = utcnow()
                try:
                    product.eviction_date = min(now + timedelta(days=days), NEVER)
                except OverflowError:  # a retention past 9999 (the setting, or a workflow stored before the check)
                    product.eviction_date = NEVER
                try:
                    tx.add_product(product)
                except ConflictError:
                    product.name = _unique_name(product.name, order.id)
                    tx.add_product(product)
                current.status = transition(current.status, OrderEvent.COMPLETE, order_id=current.id)
                current.status_message = MESSAGE_COMPLETED
                current.completed_date = now
                current.eviction_date = product.eviction_date
                current.order_output_size = product.content_length
                current.output_product_id = product.id
                current.lease_expires_at = None
                tx.update_order(current)
                enqueue_order_notification(tx, current, product, now=now)
                # PRIP subscriptions: never fails the publication because of a subscription; their
                # now() is the moment of publication, which the storage stamped after ``now``
                on_product_published(tx, product, now=max(now, product.publication_date))
                return current

        done = queue.retry_on_busy(finish)
        log.info("order %s completed: %s (%d bytes)", order.id, product.name, product.content_length)
        return done

    def _fail(self, order: ProductionOrder, message: str) -> ProductionOrder:
        message = _truncate(message)

        def finish(message: str = message) -> ProductionOrder:
            with self.storage.transaction() as tx:
                current = self._own(tx, order)
                now = utcnow()
                current.status = transition(current.status, OrderEvent.FAIL, order_id=current.id)
                current.status_message = message
                current.completed_date = now
                current.lease_expires_at = None
                tx.update_order(current)
                enqueue_order_notification(tx, current, None, now=now)
                return current

        try:
            try:
                failed = queue.retry_on_busy(finish)
            except InvalidValueError as exc:  # the database refused the reason's text: fail the order all the same
                log_failure(log, "order %s: its failure reason could not be stored (%r)", exc, order.id, message)
                message = REASON_UNSTORABLE
                failed = queue.retry_on_busy(lambda: finish(REASON_UNSTORABLE))
        except _OrderEnded:
            return self._reload(order)
        log.info("order %s failed: %s", order.id, message.splitlines()[0] if message else "")
        return failed

    def _requeue(self, order: ProductionOrder, *, counted: bool = False, limit: Optional[int] = None,
                 patient: bool = False) -> ProductionOrder:
        """Give the order back to the queue: on shutdown or after a transient database failure
        (not ``counted``), or after a service fault (``counted``: ``attempts`` + 1; with ``limit``, the order fails with
        :data:`REASON_SERVICE_FAULT` once ``attempts`` reaches it). A requeue that cannot reach
        the database leaves the order to lease recovery, which counts an attempt (a lost
        worker); ``patient`` (after a database outage) keeps trying for as long as the lease
        holds (the heartbeat goes on meanwhile), so that an outage shorter than the lease costs
        none."""

        def finish() -> ProductionOrder:
            with self.storage.transaction() as tx:
                current = self._own(tx, order)
                if counted:
                    current.attempts += 1
                current.worker_id = None
                current.lease_expires_at = None
                if limit is not None and current.attempts >= limit:
                    current.status = transition(current.status, OrderEvent.FAIL, order_id=current.id)
                    current.status_message = f"{MESSAGE_FAILED}: {REASON_SERVICE_FAULT}"
                    current.completed_date = utcnow()
                    tx.update_order(current)
                    enqueue_order_notification(tx, current, None, now=current.completed_date)
                    return current
                current.status = transition(current.status, OrderEvent.REQUEUE, order_id=current.id)
                current.status_message = MESSAGE_QUEUED
                tx.update_order(current)
                return current

        # the lease was renewed at most a heartbeat ago (lease_seconds / 3): two thirds of it remain
        within = self.config.lease_seconds * 2 / 3 if patient else None
        try:
            return queue.retry_on_busy(finish, attempts=12, within=within)
        except _OrderEnded:
            return self._reload(order)
        except Exception as exc:  # noqa: BLE001 - the database is away: the lease expires, recovery requeues
            log_failure(log, "order %s: could not return it to the queue; lease recovery will", exc, order.id)
            return order

    def _reload(self, order: ProductionOrder) -> ProductionOrder:
        try:
            return self.storage.get_order(order.mission, order.id)
        except NotFoundError:
            return order

    def _delete_quietly(self, key: str) -> None:
        try:
            self.archive.delete(key)
        except Exception:  # noqa: BLE001 - an orphan file is harmless; eviction reports it
            log.warning("could not delete unpublished output %s", key)


# -- the pool ----------------------------------------------------------------------------------


class WorkerPool:
    """Worker threads, the lease recoverer and the notification dispatcher of one process.

    ``WorkerPool(settings, storage, archive, threads=N).start()`` ... ``.stop()``. Safe to run in
    several processes against one database (PostgreSQL, or SQLite on one machine).
    """

    def __init__(self, settings: Mapping[str, Any], storage, archive, threads: int, *,
                 dispatcher: Optional[bool] = None):
        self.settings = dict(settings)
        self.storage = storage
        self.archive = archive
        self.config = EngineConfig.from_settings(self.settings)
        self.threads = int(threads)  # the caller's CoreSettings.worker_threads (settings are read once)
        if dispatcher is None:
            dispatcher = as_bool(self.settings.get("proseo.notify.dispatcher", "true"), key="proseo.notify.dispatcher")
        self.dispatcher = NotificationDispatcher(storage, self.settings) if dispatcher else None
        prefix = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.workers = [
            Worker(storage, archive, self.settings, worker_id=f"{prefix}:{i}", config=self.config) for i in range(self.threads)
        ]
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def recover_expired(self) -> list[ProductionOrder]:
        """Requeue (or fail) orders whose worker was lost; notifies failed ones."""
        return queue.requeue_expired(
            self.storage,
            max_attempts=self.config.max_attempts,
            on_failed=lambda tx, order: enqueue_order_notification(tx, order, None),
        )

    def _recover_loop(self) -> None:
        interval = max(0.2, self.config.lease_seconds / 2.0)
        while not self._stop.is_set():
            try:
                self.recover_expired()
            except Exception as exc:  # noqa: BLE001 - keep recovering in later rounds
                log_failure(log, "lease recovery round failed", exc)
            self._stop.wait(interval)

    def start(self) -> "WorkerPool":
        if self._threads:
            return self
        self._stop.clear()
        if self.workers:
            try:
                reap_dead_runs(self.config.scratch_dir)
            except Exception:  # noqa: BLE001 - cleaning up must never stop a worker from starting
                log.exception("could not clean up after dead worker runs")
        for worker in self.workers:
            thread = threading.Thread(target=worker.run_forever, name=f"proseo-worker-{worker.worker_id}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if self.workers:
            recoverer = threading.Thread(target=self._recover_loop, name="proseo-lease-recovery", daemon=True)
            recoverer.start()
            self._threads.append(recoverer)
        if self.dispatcher is not None:
            self.dispatcher.start()
        log.info("production pool started: %d worker thread(s)", len(self.workers))
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking orders; running processors are told to stop (their cancel token) and
        their orders requeued, uncounted, when they do within ``timeout`` seconds. A processor
        that never checks its token keeps its thread (a daemon) and its order, which lease
        recovery requeues, counted, once its lease expires."""
        self._stop.set()
        for worker in self.workers:
            worker.stop()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        if self.dispatcher is not None:
            self.dispatcher.stop(timeout)
