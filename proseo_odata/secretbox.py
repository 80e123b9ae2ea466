"""Notification passwords at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256) under a key
from configuration, opened only to deliver a notification.

Settings (docs/configuration.md, "Secrets"):

==============================  ===============================================================
``proseo.secrets.key``          one or more Fernet keys (url-safe base64 of 32 bytes, as made
                                by ``proseo-odata secrets generate-key``), separated by commas
                                or blanks. The **first** key seals new values; every key opens
                                (rotation: put the new key first, keep the old ones until
                                ``proseo-odata secrets rotate`` has re-sealed the stored values)
``proseo.secrets.key_file``     a file holding such keys, one per line (``#`` comments); read at
                                start-up; its keys come after those of ``proseo.secrets.key``
==============================  ===============================================================

Stored form (a text column): ``fernet:<token>`` when a key is configured, ``plain:<text>`` when
none is (:meth:`SecretBox.warn_unkeyed` logs a warning once: when the web application starts, and
when a process stores its first password, not in every command-line tool that opens the storage;
``proseo-odata secrets rotate`` seals them once a key is set). Values read from storage
are :class:`SealedSecret` objects that never show their content in ``repr``/``str``;
:meth:`SecretBox.open` returns the password, and only the notification dispatcher calls it, right
before the POST.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Union

log = logging.getLogger(__name__)

#: What a secret is written as wherever it would be shown: a stored notification password in an
#: answer, a password or a credential of a tool's environment in a message or log line.
MASK = "********"

#: What :meth:`SecretBox.warn_unkeyed` logs.
_UNKEYED_WARNING = (
    "proseo.secrets.key is not set: notification passwords are stored UNENCRYPTED "
    "(set a key and run `proseo-odata secrets rotate`; see docs/configuration.md)"
)

__all__ = [
    "FERNET_PREFIX", "PLAIN_PREFIX", "SealedSecret", "SecretBox", "SecretsError", "generate_key",
]

FERNET_PREFIX = "fernet:"
PLAIN_PREFIX = "plain:"


class SecretsError(Exception):
    """A secret cannot be sealed or opened (bad key setting, no key for a sealed value, a value
    sealed with a key no longer configured). Messages never contain the secret."""


class SealedSecret:
    """A secret in its stored form (``fernet:...`` or ``plain:...``), as read from storage.

    Truthy, comparable, hashable; ``repr``/``str`` never show the content (an exception message
    or log line that formats an order or a message shows ``<sealed secret>``)."""

    __slots__ = ("stored",)

    def __init__(self, stored: str):
        if not isinstance(stored, str) or not stored.startswith((FERNET_PREFIX, PLAIN_PREFIX)):
            raise SecretsError("not a stored secret (expected the fernet: or plain: form)")
        object.__setattr__(self, "stored", stored)

    def __setattr__(self, name, value):
        raise AttributeError("SealedSecret is immutable")

    @property
    def encrypted(self) -> bool:
        return self.stored.startswith(FERNET_PREFIX)

    def __eq__(self, other) -> bool:
        return isinstance(other, SealedSecret) and other.stored == self.stored

    def __hash__(self) -> int:
        return hash(self.stored)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "<sealed secret>"

    __str__ = __repr__


_KEY_SPLIT = re.compile(r"[\s,]+")


def generate_key() -> str:
    """A new random Fernet key (text)."""
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode("ascii")


def _parse_keys(text: str) -> list[str]:
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    return [k for k in _KEY_SPLIT.split(" ".join(lines)) if k]


class SecretBox:
    """Seals and opens secrets with the configured keys (none: stored as ``plain:``)."""

    def __init__(self, keys: Iterable[str] = ()):
        from cryptography.fernet import Fernet, MultiFernet

        keys = list(keys)
        fernets = []
        for index, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.encode("ascii") if isinstance(key, str) else key))
            except (ValueError, TypeError, UnicodeEncodeError):
                # never echo the key itself
                raise SecretsError(
                    f"proseo.secrets: key {index} is not a Fernet key (32 url-safe base64-encoded "
                    "bytes; make one with `proseo-odata secrets generate-key`)"
                ) from None
        self._fernet = MultiFernet(fernets) if fernets else None
        self.key_count = len(fernets)
        self._warned = False  # warn_unkeyed() has logged

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "SecretBox":
        """The box of ``proseo.secrets.key`` and ``proseo.secrets.key_file`` (see the module
        docstring). Without a key it logs nothing here (every command-line tool opens the
        storage): see :meth:`warn_unkeyed`."""
        keys = _parse_keys(str(settings.get("proseo.secrets.key") or ""))
        key_file = str(settings.get("proseo.secrets.key_file") or "").strip()
        if key_file:
            try:
                keys += _parse_keys(Path(key_file).read_text(encoding="utf-8-sig"))
            except OSError as exc:
                raise SecretsError(f"proseo.secrets.key_file: cannot read {key_file}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise SecretsError(f"proseo.secrets.key_file: {key_file} is not UTF-8 text") from None
        return cls(keys)

    @property
    def has_key(self) -> bool:
        return self._fernet is not None

    def warn_unkeyed(self) -> None:
        """Without a key, log that notification passwords are stored unencrypted, once per box:
        the web application calls it at its start, and every stored password (a new one, or a
        copy into the notification outbox) calls it."""
        if self._fernet is None and not self._warned:
            self._warned = True
            log.warning(_UNKEYED_WARNING)

    def seal(self, value: Union[str, SealedSecret, None]) -> Optional[SealedSecret]:
        """The stored form of a password: None stays None, a :class:`SealedSecret` stays as is
        (an object read from storage and written back), a ``str`` is sealed with the first key."""
        if value is None or isinstance(value, SealedSecret):
            return value
        if not isinstance(value, str):
            raise TypeError("a secret must be a str")
        if self._fernet is None:
            self.warn_unkeyed()
            return SealedSecret(PLAIN_PREFIX + value)
        token = self._fernet.encrypt(value.encode("utf-8", "surrogatepass")).decode("ascii")
        return SealedSecret(FERNET_PREFIX + token)

    def open(self, value: Union[str, SealedSecret, None]) -> Optional[str]:
        """The password of a stored value (``str`` values are taken as already open: a storage
        backend that does not seal). ``SecretsError`` when it cannot be opened."""
        if value is None or isinstance(value, str):
            return value
        stored = value.stored
        if stored.startswith(PLAIN_PREFIX):
            return stored[len(PLAIN_PREFIX):]
        if self._fernet is None:
            raise SecretsError("a stored password is encrypted but proseo.secrets.key is not set")
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(stored[len(FERNET_PREFIX):].encode("ascii")).decode("utf-8", "surrogatepass")
        except (InvalidToken, UnicodeError):
            raise SecretsError(
                "a stored password cannot be decrypted with the configured keys "
                "(its key was removed from proseo.secrets.key?)"
            ) from None

    def reseal(self, value: Union[SealedSecret, None]) -> Optional[SealedSecret]:
        """``value`` sealed with the current first key (``plain:`` ones encrypted when a key is
        configured); raises ``SecretsError`` when it cannot be opened."""
        if value is None:
            return None
        return self.seal(self.open(value))

    # -- the stored text (storage backends) ------------------------------------------------------

    def to_column(self, value: Union[str, SealedSecret, None]) -> Optional[str]:
        """The text to store for ``value`` (sealing a plain ``str``)."""
        sealed = self.seal(value)
        if sealed is None:
            return None
        if not sealed.encrypted:
            self.warn_unkeyed()  # a copy of a password stored unencrypted before (the outbox's)
        return sealed.stored

    @staticmethod
    def from_column(text: Optional[str]) -> Optional[SealedSecret]:
        """A stored column value as a :class:`SealedSecret` (a value in none of the two forms,
        written around this module, is taken as plain text)."""
        if text is None:
            return None
        if not text.startswith((FERNET_PREFIX, PLAIN_PREFIX)):
            return SealedSecret(PLAIN_PREFIX + text)
        return SealedSecret(text)
