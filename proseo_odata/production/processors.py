"""The processor contract: what a workflow runs on one input product.

A *processor* turns one input file (a product from the PRIP catalogue, fetched from the archive
into a scratch folder) into one output file with its metadata (a list of exactly one
:class:`ProcessorOutput`: the engine fails an order with none or more). The production engine
(:mod:`proseo_odata.production.engine`) does everything around it: claiming the order, fetching
the input, archiving and publishing the output, the order status. A processor only transforms
files, so a mission can write and test one without a database.

A workflow definition names its processor by

- a built-in short name: ``image`` (:class:`proseo_odata.production.image.ImageFormatProcessor`)
  or ``external`` (:class:`proseo_odata.production.external.ExternalCommandProcessor`);
- a dotted name ``package.module:ClassName`` (or ``package.module.ClassName``);
- the name of an entry point in the group ``proseo_odata.processors``.

The class is instantiated with the workflow's ``processor_config`` mapping and its
:meth:`Processor.run` is called once per order, possibly from several threads at once (one
instance per order is created, so instance state is private to a run).

Stopping: the engine passes a :class:`CancelToken`. A processor checks it between steps
(``cancel.raise_if_cancelled()``) or, when it waits for something (a subprocess), polls
``cancel.is_cancelled`` / ``cancel.wait(seconds)``; on cancellation it stops its work, releases
what it started and raises :class:`ProcessingCancelled`. A processor that fails raises
:class:`ProcessingFailed` with a message meant for the order's ``StatusMessage``; any other
exception (``SystemExit`` too) is also treated as a failure: its type, never its text, becomes
the message, its traceback goes to the worker's log. :class:`ProcessingCancelled` raised while
the token is not tripped is a failure as well.
"""
from __future__ import annotations

import abc
import functools
import importlib
import mimetypes
import threading
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

#: Entry point group where a mission package can register processors by name.
PROCESSOR_ENTRY_POINT_GROUP = "proseo_odata.processors"

#: Processors shipped with the core, by short name.
BUILTIN_PROCESSORS = {
    "image": "proseo_odata.production.image:ImageFormatProcessor",
    "external": "proseo_odata.production.external:ExternalCommandProcessor",
}

#: ``progress(fraction, message)``: fraction in 0..1, message a short text (may be empty).
ProgressCallback = Callable[[float, str], None]


class ProcessingFailed(Exception):
    """The processor could not produce its output; ``str(exc)`` becomes the order's StatusMessage."""


class ProcessingCancelled(Exception):
    """The processor stopped because its :class:`CancelToken` was tripped."""


class ProcessorNotFound(Exception):
    """A workflow names a processor that cannot be resolved (a configuration error)."""


class CancelToken:
    """A one-way flag the engine trips to stop a running processor (thread-safe)."""

    def __init__(self):
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def is_cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds; return True (early) if cancelled."""
        return self._event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise ProcessingCancelled(self.reason or "cancelled")


@dataclass
class ProcessorInput:
    """Everything a processor may use for one run.

    ``path``: the input product's file (a local copy inside or next to the scratch folder).
    ``product``: the input product's metadata (a :class:`proseo_odata.model.Product`; may be
    ``None`` when a processor is run stand-alone). ``options``: the order's option values as
    strings: the order's options and the defaults of the others (an option with no default that
the order leaves out is absent). ``scratch_dir``: an empty folder
    the processor owns for this run (removed by the engine afterwards); outputs are written below
    it. ``output_product_type``: the workflow's ``OutputProductType``. ``workflow_name``: for
    naming and logs.
    """

    path: Path
    scratch_dir: Path
    options: Mapping[str, str] = field(default_factory=dict)
    product: Any = None
    output_product_type: str = ""
    workflow_name: str = ""


@dataclass
class ProcessorOutput:
    """One file a processor produced, with the metadata the engine publishes.

    ``name`` is the product name (file name of the download). ``attributes`` are extra
    catalogue attributes (``productType`` is set by the engine to the workflow's
    ``OutputProductType`` unless the processor sets it). ``content_date`` (``(start, end)``) and
    ``footprint`` (WKT) default to the input product's: a processor only sets them when it
    changes them.
    """

    path: Path
    name: str
    content_type: str = "application/octet-stream"
    attributes: dict = field(default_factory=dict)
    content_date: Optional[tuple] = None
    footprint: Optional[str] = None


class Processor(abc.ABC):
    """Base class of processors. Subclasses implement :meth:`run`.

    ``config`` is the workflow's ``processor_config`` mapping (from the workflows file or the
    mission's entry point). Validate it in ``__init__`` and raise :class:`ProcessorNotFound` or
    ``ValueError`` for a broken configuration: it is checked when workflows are loaded.
    """

    def __init__(self, config: Optional[Mapping[str, Any]] = None):
        self.config = dict(config or {})

    @abc.abstractmethod
    def run(
        self,
        job: ProcessorInput,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> list[ProcessorOutput]:
        """Produce the output for ``job``: a list of exactly one (the engine fails the order
        for none or more).

        Call ``progress(fraction, message)`` as work advances (optional), check ``cancel``
        regularly and raise :class:`ProcessingCancelled` when it is tripped, raise
        :class:`ProcessingFailed` with a readable reason on failure. Outputs must be regular
        files below ``job.scratch_dir`` once symbolic links are followed: the engine fails the
        order for any other.
        """


def guess_content_type(name: str) -> str:
    if name.lower().endswith(".zip"):
        return "application/zip"
    guessed, _encoding = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def _load_object(spec: str):
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
    else:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise ProcessorNotFound(f"processor {spec!r} is not a dotted name")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ProcessorNotFound(f"processor {spec!r}: cannot import {module_name}: {exc}") from exc
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise ProcessorNotFound(f"processor {spec!r}: {module_name} has no {attr}") from exc
    return obj


def resolve_processor_class(spec: str) -> type:
    """The processor class named by ``spec`` (built-in name, entry point name or dotted name).

    Resolved once per process and name: scanning the installed distributions' entry points
    costs tens of milliseconds, which every order of a plug-in workflow paid before."""
    if not spec or not isinstance(spec, str):
        raise ProcessorNotFound("workflow names no processor")
    return _resolve_processor_class(spec)


@functools.lru_cache(maxsize=256)
def _resolve_processor_class(spec: str) -> type:
    if spec in BUILTIN_PROCESSORS:
        cls = _load_object(BUILTIN_PROCESSORS[spec])
    else:
        matches = [ep for ep in entry_points(group=PROCESSOR_ENTRY_POINT_GROUP) if ep.name == spec]
        if matches:
            try:
                cls = matches[0].load()
            except Exception as exc:  # noqa: BLE001 - a broken plug-in is a configuration error
                raise ProcessorNotFound(f"processor entry point {spec!r} failed to load: {exc}") from exc
        elif "." in spec or ":" in spec:
            cls = _load_object(spec)
        else:
            raise ProcessorNotFound(
                f"unknown processor {spec!r}: not one of {sorted(BUILTIN_PROCESSORS)}, "
                f"no entry point of that name in {PROCESSOR_ENTRY_POINT_GROUP}, not a dotted name"
            )
    if not (isinstance(cls, type) and issubclass(cls, Processor)):
        raise ProcessorNotFound(f"processor {spec!r} is not a subclass of proseo_odata.production.processors.Processor")
    return cls


def create_processor(spec: str, config: Optional[Mapping[str, Any]] = None) -> Processor:
    """A new processor instance for one run."""
    return resolve_processor_class(spec)(config or {})
