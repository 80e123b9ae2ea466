"""The web layer's settings, read once from the .ini mapping (docs/configuration.md, web section).

``WebSettings.from_settings(settings)`` parses and checks every ``proseo.*`` key the web layer
uses; ``main()`` stores the result on the registry as ``registry.proseo`` so that views read
typed values (``request.registry.proseo.page_size_max``) instead of strings. The core's own settings
(``proseo.workers``, ``proseo.datetime.fraction_digits``) are read once by
:class:`proseo_odata.config.CoreSettings` and kept as ``registry.proseo.core``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

from proseo_odata.config import CoreSettings, as_bool, number_setting, shown_value

DEFAULTS = {
    "proseo.prip.prefix": "/proseo/prip/odata/v1",
    "proseo.odip.prefix": "/proseo/odip/odata/v1",
    "proseo.prip.token_path": "/proseo/prip/v1/token",
    "proseo.odip.token_path": "/proseo/odip/v1/token",
    "proseo.page_size.default": "100",
    "proseo.page_size.max": "1000",
    "proseo.paging": "cdse",
    "proseo.seed_aliases": "true",
    "proseo.anonymous_metadata": "true",
    "proseo.default_mission": "",
    "proseo.token.secret": "",
    "proseo.token.lifetime": "3600",
    "proseo.token.cache_size": "1024",
    "proseo.auth.realm": "proseo",
}

#: ``proseo.paging``: ``cdse`` pages as the Copernicus Data Space catalogue (``$top`` is the page
#: size, nextLink while rows remain); ``strict`` is OData's ``$top`` (a cap on the total).
PAGING_MODES = ("cdse", "strict")


class SettingsError(ValueError):
    """A setting has a value the web layer cannot use (raised at start-up, never per request)."""


#: ``proseo.token.secret`` values that are a shipped template's placeholder (production.ini's),
#: never a deployment's own: anyone who has read the template could sign tokens with one.
PLACEHOLDER_TOKEN_SECRETS = frozenset({"CHANGE-ME-to-a-long-random-string"})


#: The shortest ``proseo.token.secret``: HS256's key is at least the hash's size (RFC 7518, 3.2).
MIN_TOKEN_SECRET_BYTES = 32


def _token_secret(value: str) -> str:
    if value.strip() in PLACEHOLDER_TOKEN_SECRETS:
        raise SettingsError(
            "proseo.token.secret is still production.ini's placeholder, with which anyone who has "
            "read the template can sign tokens: set a long random value, the same in every process "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(48))'), or leave it empty to "
            "turn bearer tokens off")
    size = len(value.encode("utf-8"))
    if 0 < size < MIN_TOKEN_SECRET_BYTES:
        raise SettingsError(
            f"proseo.token.secret is {size} bytes: HS256 needs at least {MIN_TOKEN_SECRET_BYTES} (RFC 7518, 3.2; "
            "a shorter key can be guessed, and PyJWT warns on every token): set a long random value "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe(48))'), or leave it empty to turn "
            "bearer tokens off")
    return value


def _prefix(value: str, key: str) -> str:
    value = value.strip()
    if not value.startswith("/"):
        raise SettingsError(f"{key} must start with '/', got {shown_value(value)}")
    return value.rstrip("/") or "/"


def _positive_int(value: str, key: str, minimum: int = 1) -> int:
    """``value`` of setting ``key`` (:func:`proseo_odata.config.number_setting`; blank is no
    value): a whole number of at least ``minimum``."""
    try:
        number = number_setting({key: value}, key, None, int, ok=lambda n: n >= minimum, needs=f"at least {minimum}")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
    if number is None:
        raise SettingsError(f"{key} must be a whole number, got {shown_value(value)}")
    return number


@dataclass(frozen=True)
class WebSettings:
    """Typed web settings (see ``DEFAULTS`` for the keys and their defaults)."""

    prip_prefix: str
    odip_prefix: str
    prip_token_path: str
    odip_token_path: str
    page_size_default: int
    page_size_max: int
    #: ``"cdse"`` ($top is the page size) or ``"strict"`` ($top caps the total): contract section 6.
    paging: str
    seed_aliases: bool
    anonymous_metadata: bool
    default_mission: str
    token_secret: str
    token_lifetime: int
    realm: str
    #: Bearer tokens whose claims are remembered until they expire (0: decode every time).
    token_cache_size: int = 1024
    #: The core's settings (``proseo.workers`` ...), read once.
    core: CoreSettings = CoreSettings()
    #: ``(root, service)`` of each further mount of a service (``add_prip_service``,
    #: ``add_odip_service`` under another prefix): its paths are that service's as well.
    mounts: Tuple[Tuple[str, str], ...] = ()

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], core: Optional[CoreSettings] = None) -> "WebSettings":
        """The web settings of ``settings``, with ``core`` (read from ``settings`` when not given)."""
        def get(key):
            value = settings.get(key)
            return DEFAULTS[key] if value is None else str(value)

        default_size = _positive_int(get("proseo.page_size.default"), "proseo.page_size.default")
        max_size = _positive_int(get("proseo.page_size.max"), "proseo.page_size.max")
        if default_size > max_size:
            raise SettingsError(
                f"proseo.page_size.default ({default_size}) exceeds proseo.page_size.max ({max_size})"
            )
        paging = get("proseo.paging").strip().lower()
        if paging not in PAGING_MODES:
            raise SettingsError(f"proseo.paging must be one of {', '.join(PAGING_MODES)}, got {shown_value(paging)}")
        return cls(
            prip_prefix=_prefix(get("proseo.prip.prefix"), "proseo.prip.prefix"),
            odip_prefix=_prefix(get("proseo.odip.prefix"), "proseo.odip.prefix"),
            prip_token_path=_prefix(get("proseo.prip.token_path"), "proseo.prip.token_path"),
            odip_token_path=_prefix(get("proseo.odip.token_path"), "proseo.odip.token_path"),
            page_size_default=default_size,
            page_size_max=max_size,
            paging=paging,
            seed_aliases=as_bool(get("proseo.seed_aliases"), key="proseo.seed_aliases"),
            anonymous_metadata=as_bool(get("proseo.anonymous_metadata"), key="proseo.anonymous_metadata"),
            default_mission=get("proseo.default_mission").strip(),
            token_secret=_token_secret(get("proseo.token.secret")),
            token_lifetime=_positive_int(get("proseo.token.lifetime"), "proseo.token.lifetime"),
            realm=get("proseo.auth.realm").strip() or "proseo",
            token_cache_size=_positive_int(get("proseo.token.cache_size"), "proseo.token.cache_size", minimum=0),
            core=core if core is not None else CoreSettings.from_settings(settings),
        )

    def service_of_path(self, path: str) -> str:
        """``'odip'`` or ``'prip'``: the service whose root or token path holds ``path``, the
        longest one when one service's lies under the other's (ODIP at ``/odata/v1``, PRIP at
        ``/odata/v1/prip``); ``'prip'`` for a path under neither."""
        return self.owner_of_path(path) or "prip"

    def owner_of_path(self, path: str) -> Optional[str]:
        """:meth:`service_of_path`, None for a path under neither service (another application's,
        when the services are included in one)."""
        found = self._longest(path, ((self.prip_token_path, "prip"), (self.odip_token_path, "odip"),
                                     *self._roots()))
        return None if found is None else found[1]

    def mount_of_path(self, path: str) -> Tuple[str, str]:
        """``(root, service)`` of the service mount that holds ``path`` (its root without a
        trailing ``/``; the longest, as :meth:`service_of_path`); the configured PRIP root for a
        path under none, as :meth:`service_of_path` says ``'prip'``."""
        return self._longest(path, self._roots()) or (self.prip_prefix.rstrip("/"), "prip")

    def _roots(self):
        return ((self.prip_prefix, "prip"), (self.odip_prefix, "odip"), *self.mounts)

    @staticmethod
    def _longest(path: str, prefixes) -> Optional[Tuple[str, str]]:
        best = None
        for prefix, name in prefixes:
            root = prefix.rstrip("/")
            if (path == prefix or path == root or path.startswith(root + "/")) and (
                    best is None or len(root) > len(best[0])):
                best = (root, name)
        return best
