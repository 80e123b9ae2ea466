"""Reading deployment settings (plain ``dict``-like mappings of strings) in the core.

:class:`CoreSettings` holds the core's process-wide settings, read once at start-up
(:func:`configure`); :func:`as_bool` reads one flag.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any, Mapping, Optional

__all__ = ["CoreSettings", "DEFAULT_COUNT_EXACT_LIMIT", "DEFAULT_WORKERS", "MAX_COUNT_EXACT_LIMIT", "MAX_WORKERS", "as_bool",
           "SettingsFileError", "configure", "count_exact_limit", "load_backend", "number_setting", "read_settings_file", "shown_value"]

_TRUE = ("1", "true", "yes", "on", "t", "y")  # (and Pyramid's asbool's t, y, f, n)
_FALSE = ("0", "false", "no", "off", "", "f", "n")


def shown_value(value: Any) -> str:
    """A setting's value as an error message quotes it: ``repr`` of a one-line value of at most
    60 characters. A value over several lines is an indented key taken for its continuation
    (``proseo.secrets.key`` below ``proseo.token.lifetime``): it is not repeated (it may be a
    secret); a longer one is cut."""
    text = str(value)
    if "\n" in text.strip():
        return "a value over several lines (is the line after it indented, and so taken for its continuation?)"
    text = text.strip()
    return repr(text) if len(text) <= 60 else repr(text[:40]) + f"... ({len(text)} characters)"


class SettingsFileError(ValueError):
    """An .ini file that cannot give its ``[app:main]`` settings; the message is one line."""


def read_settings_file(config_uri: str) -> dict:
    """The ``[app:main]`` settings of an .ini file (``%(here)s`` expanded, as ``pserve`` reads
    them); :class:`SettingsFileError` for a missing file, one that cannot be read (a line before
    the first section, a bad ``%(...)s``, text that is not UTF-8) or one without the section."""
    import configparser
    from pathlib import Path

    import plaster

    path = Path(config_uri.split("#", 1)[0])
    if not path.is_file():
        raise SettingsFileError(f"configuration file {config_uri!r} not found")
    try:
        settings = dict(plaster.get_settings(str(path.resolve()), "app:main"))
    except (LookupError, ValueError, configparser.Error, plaster.PlasterError) as exc:
        raise SettingsFileError(f"{config_uri}: cannot read its [app:main] section: {_file_problem(exc)}") from None
    if not settings:
        raise SettingsFileError(f"{config_uri}: no [app:main] section (the settings of every command)")
    return settings


def _file_problem(exc: Exception) -> str:
    """What is wrong in an .ini file, without the text configparser quotes (a line or a value of
    it may be a password: ``%40`` in a database URL)."""
    import configparser

    if isinstance(exc, configparser.InterpolationMissingOptionError):
        return (f"the value of {exc.option!r} in [{exc.section}] refers to %({exc.reference})s, which is not "
                "defined (a literal '%' is written '%%' in an .ini file)")
    if isinstance(exc, configparser.InterpolationError):
        return (f"the value of {exc.option!r} in [{exc.section}] has a '%' that is not '%%' or '%(name)s': "
                "write a literal '%' as '%%' in an .ini file (a password's %40 as %%40)")
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"line {exc.lineno} comes before any [section]"
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(number) for number, _ in exc.errors)
        return f"line {lines} is not 'name = value' (nor the indented continuation of a value)"
    return " ".join(str(exc).split()) or type(exc).__name__


def as_bool(value: Any, default: bool = False, key: Optional[str] = None) -> bool:
    """A setting's truth value: a ``bool`` as is, ``None`` (not set) as ``default``, any other
    value true when its text is ``1``, ``true``, ``yes`` or ``on`` and false when it is ``0``,
    ``false``, ``no``, ``off`` or blank (any case, surrounding blanks ignored). Any other text
    (``ture``) is a ``ValueError`` naming ``key``: a misspelt flag was silently false (notifications
    off without a word)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{key or 'a flag'} must be true or false (also yes/no, on/off, 1/0), got {shown_value(value)}")


#: The core's true/false settings (:func:`as_bool`), checked by :meth:`CoreSettings.from_settings`.
#: (The web layer's own are read, and so checked, when the application starts.)
CORE_FLAGS = ("proseo.notify.dispatcher", "proseo.storage.echo", "proseo.workflows.entry_points",
              "proseo.archive.s3.presign")

#: ``proseo.workers`` when absent: no production threads inside a web server process.
DEFAULT_WORKERS = 0
#: The most production worker threads one process runs (``proseo.workers``, ``worker -t``).
MAX_WORKERS = 256


def number_setting(settings: Mapping[str, Any], key: str, default, kind=float, what: Optional[str] = None,
                   ok=None, needs: str = ""):
    """``kind(settings[key])`` (``default`` when unset or blank): the one reader of the numbers
    of the settings. ``ValueError`` naming ``key`` when the text is not ``what`` (``a number``,
    ``a whole number`` for ``int``), a float is not finite, or the number fails ``ok``
    (``needs`` says what is needed: ``"at least 1"``)."""
    value = settings.get(key)
    if value is None or str(value).strip() == "":
        return default
    what = what or ("a whole number" if kind is int else "a number")
    try:
        number = kind(str(value).strip())
    except ValueError:
        raise ValueError(f"{key} must be {what}, got {shown_value(value)}") from None
    if (isinstance(number, float) and not math.isfinite(number)) or (ok is not None and not ok(number)):
        raise ValueError(f"{key} must be {needs or what}, got {shown_value(value)}")
    return number


#: ``proseo.count.exact_limit`` when absent (:mod:`proseo_odata.storage.counts`).
DEFAULT_COUNT_EXACT_LIMIT = 100_000
#: The largest ``proseo.count.exact_limit``: the count runs ``LIMIT limit + 1``, which must fit
#: PostgreSQL's bigint (2**63 - 1); above it every ``$count`` would fail.
MAX_COUNT_EXACT_LIMIT = 2**62


def count_exact_limit(settings: Mapping[str, Any]) -> Optional[int]:
    """``proseo.count.exact_limit``: counts up to it are exact, above it a database that can
    estimate answers an estimate; ``None`` (setting ``0`` or ``none``) counts exactly always.
    ``ValueError`` naming the setting for anything but a whole number from 0 to
    :data:`MAX_COUNT_EXACT_LIMIT` or ``none``. Read once, by the storage when it is built
    (:func:`proseo_odata.storage.sqlalchemy.load_from_config`)."""
    key = "proseo.count.exact_limit"
    if str(settings.get(key) or "").strip().lower() == "none":
        return None
    limit = number_setting(settings, key, DEFAULT_COUNT_EXACT_LIMIT, int, "a whole number or none",
                            lambda n: 0 <= n <= MAX_COUNT_EXACT_LIMIT,
                            f"from 0 to {MAX_COUNT_EXACT_LIMIT} (0 or none: always exact)")
    return limit or None


#: The largest ``proseo.eviction.batch_size`` (and ``evict --batch-size``).
MAX_EVICTION_BATCH = 100_000


def eviction_batch_size(settings: Mapping[str, Any]) -> int:
    """``proseo.eviction.batch_size`` (default 100): ``ValueError`` naming the setting for
    anything but a whole number from 1 to :data:`MAX_EVICTION_BATCH`."""
    return number_setting(settings, "proseo.eviction.batch_size", 100, int, "a whole number",
                           lambda n: 1 <= n <= MAX_EVICTION_BATCH, f"from 1 to {MAX_EVICTION_BATCH}")


#: The largest ``proseo.ingest.parsers``.
MAX_INGEST_PARSERS = 64


def ingest_parsers(settings: Mapping[str, Any]) -> Optional[int]:
    """``proseo.ingest.parsers``: the parser processes a bulk ingest starts when the command
    line does not say (None when unset: :func:`proseo_odata.ingest.default_parsers` decides).
    ``ValueError`` naming the setting for anything but a whole number from 0 to
    :data:`MAX_INGEST_PARSERS`."""
    return number_setting(settings, "proseo.ingest.parsers", None, int, "an integer",
                           lambda n: 0 <= n <= MAX_INGEST_PARSERS, f"from 0 to {MAX_INGEST_PARSERS}")


@dataclass(frozen=True)
class CoreSettings:
    """The core's process-wide settings, read once from the ``[app:main]`` mapping
    (docs/configuration.md) by whoever starts the process: the web application
    (``registry.proseo.core``), the command line and ``proseo-odata worker``.

    =====================================  =======  ===========================================
    key                                    default  meaning
    =====================================  =======  ===========================================
    ``proseo.workers``                     0        production worker threads inside a web
                                                    server process (0: none); a
                                                    ``proseo-odata worker`` process runs at
                                                    least one (:attr:`worker_threads`)
    ``proseo.datetime.fraction_digits``    3        fraction digits of emitted date-times
                                                    (3 or 6, :mod:`proseo_odata.model.times`)
    ``proseo.production.default_run_seconds``  60   run time assumed for an order's
                                                    EstimatedDate before its workflow has
                                                    history (:mod:`proseo_odata.orders.service`)
    ``proseo.quicklook.names``             (built   the names of a product's quicklook image
                                           in)      (:mod:`proseo_odata.model.quicklook_names`):
                                                    patterns separated by blanks or commas,
                                                    ``none`` for none
    =====================================  =======  ===========================================

    ``ValueError`` naming the setting for a value the core cannot use.
    """

    workers: int = DEFAULT_WORKERS
    fraction_digits: int = 3
    default_run_seconds: float = 60.0
    #: None: the built-in ones (:data:`proseo_odata.model.quicklook_names.QUICKLOOK_NAMES`)
    quicklook_names: Optional[tuple] = None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "CoreSettings":
        digits = str(settings.get("proseo.datetime.fraction_digits") or "3").strip()
        if digits not in ("3", "6"):
            raise ValueError(f"proseo.datetime.fraction_digits must be 3 or 6, got {shown_value(digits)}")
        for key in CORE_FLAGS:  # read where they are used; checked here, at every start, as one line
            as_bool(settings.get(key), key=key)
        return cls(
            workers=number_setting(settings, "proseo.workers", DEFAULT_WORKERS, int, "an integer",
                                    lambda n: 0 <= n <= MAX_WORKERS, f"from 0 to {MAX_WORKERS}"),
            fraction_digits=int(digits),
            default_run_seconds=number_setting(settings, "proseo.production.default_run_seconds", 60.0, float,
                                                "a number", lambda n: 0 < n < float("inf"), "a positive number"),
            quicklook_names=_quicklook_names(settings.get("proseo.quicklook.names")),
        )

    @property
    def worker_threads(self) -> int:
        """Threads of a dedicated worker process, and the orders assumed to run at once when
        an order's EstimatedDate is computed: ``proseo.workers``, at least 1."""
        return max(1, self.workers)

    def apply(self) -> "CoreSettings":
        """Make the process-wide parts effective (the date-time fraction digits, the quicklook
        names); returns self."""
        from proseo_odata.model import quicklook_names, times

        times.set_fraction_digits(self.fraction_digits)
        quicklook_names.set_quicklook_names(
            quicklook_names.QUICKLOOK_NAMES if self.quicklook_names is None else self.quicklook_names)
        return self


def _quicklook_names(value) -> Optional[tuple]:
    """``proseo.quicklook.names``: None (not set: the built-in names), ``()`` for ``none``, else
    the patterns in lower case; ``ValueError`` for a pattern longer than 255 characters."""
    if value is None or not str(value).strip():
        return None
    patterns = str(value).replace(",", " ").lower().split()
    if patterns == ["none"]:
        return ()
    for pattern in patterns:
        if len(pattern) > 255:
            raise ValueError(f"proseo.quicklook.names: a pattern of {len(pattern)} characters (at most 255)")
    return tuple(patterns)


def configure(settings: Mapping[str, Any]) -> CoreSettings:
    """Read the core settings of ``settings`` once and apply them to this process."""
    return CoreSettings.from_settings(settings).apply()


def load_backend(settings: Mapping[str, Any], key: str, default: str, *, error: type[Exception],
                 short_names: Optional[Mapping[str, str]] = None) -> tuple[str, Any]:
    """The backend that setting ``key`` names (a dotted module name, or one of ``short_names``;
    ``default`` when unset): ``(module name, module.load_from_config(settings))``. ``error``
    (the caller's error class) when the module cannot be imported or has no
    ``load_from_config``. Storage (:func:`proseo_odata.storage.load_storage`) and the archive
    (:func:`proseo_odata.archive.load_archive`) load theirs with it."""
    name = (settings.get(key) or default).strip()
    module_name = (short_names or {}).get(name, name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise error(f"{key}: cannot import {module_name!r}: {exc}") from exc
    factory = getattr(module, "load_from_config", None)
    if not callable(factory):
        raise error(f"{key}: module {module_name!r} has no load_from_config(settings)")
    return module_name, factory(settings)
