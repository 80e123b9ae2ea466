"""Throttling of failed logins (issue 10 item 6; docs/deployment.md, "Logins").

Every password check costs one scrypt derivation (about 40 ms of CPU and 16 MiB); without a
limit an attacker can try passwords at full speed and slow everyone down. Failed logins are
counted per **(login name, client address)** pair and per **client address**:

- a pair that failed ``pair_failures`` times within ``window_seconds`` is refused for 1 s, then
  2 s, 4 s, ... (doubling with each further failure, at most ``max_delay_seconds``);
- an address that failed ``address_failures`` times within the window (many names tried from
  one place) is refused in the same way, whatever name it sends.

A refused attempt is answered ``429 Too Many Requests`` with ``Retry-After`` *before* the
password is checked (it costs no scrypt, and a right password is refused too, so the refusal
tells nothing). The real user is not locked out: from another address (their own) their pair and
address counters are clean. A successful login clears its pair (not its address). The counters
live in this process's memory (a bounded LRU table, guarded by a lock, shared by the server's
threads); with several processes each counts on its own, so an attacker gets at most that many
times the budget. The address is WSGI's ``REMOTE_ADDR``; behind a proxy or load balancer, let
waitress set it from ``X-Forwarded-For`` (``trusted_proxy``), never take the header from
anyone. An IPv6 address counts by its /64 network (:func:`counted_address`). A login name that
may name two accounts (``S2B-alice``: user ``alice`` of mission ``S2B``, or the default
mission's ``S2B-alice``) counts a failure for each.

Settings (defaults): ``proseo.auth.throttle`` (true), ``proseo.auth.throttle.pair_failures``
(5), ``proseo.auth.throttle.address_failures`` (30), ``proseo.auth.throttle.window_seconds``
(900), ``proseo.auth.throttle.max_delay_seconds`` (900), ``proseo.auth.throttle.max_entries``
(100000).
"""
from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from proseo_odata.config import as_bool, number_setting


@dataclass
class _Failures:
    count: int
    last: float


@dataclass(frozen=True)
class ThrottlePolicy:
    enabled: bool = True
    pair_failures: int = 5
    address_failures: int = 30
    window_seconds: float = 900.0
    max_delay_seconds: float = 900.0
    max_entries: int = 100_000

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> "ThrottlePolicy":
        def get(name, default, kind):
            return number_setting(settings, f"proseo.auth.throttle.{name}", default, kind,
                                  ok=lambda n: n >= 1, needs="at least 1")

        return cls(
            enabled=as_bool(settings.get("proseo.auth.throttle"), True, key="proseo.auth.throttle"),
            pair_failures=get("pair_failures", cls.pair_failures, int),
            address_failures=get("address_failures", cls.address_failures, int),
            window_seconds=get("window_seconds", cls.window_seconds, float),
            max_delay_seconds=get("max_delay_seconds", cls.max_delay_seconds, float),
            max_entries=get("max_entries", cls.max_entries, int),
        )


def counted_address(address: str) -> str:
    """The client address as the counters count it: an IPv6 address by its /64 network (one
    subscriber's or site's prefix: whoever holds one has 2**64 addresses, each a fresh budget
    otherwise), an IPv4-mapped IPv6 address as its IPv4 address, anything else as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network((ip.packed, 64), strict=False))
    return str(ip)


class LoginThrottle:
    """Failed-login counters of one process (thread-safe); see the module docstring."""

    def __init__(self, policy: Optional[ThrottlePolicy] = None, *, clock: Callable[[], float] = time.monotonic):
        self.policy = policy or ThrottlePolicy()
        self._clock = clock
        self._entries: OrderedDict[tuple, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(logins, address: str) -> list[tuple]:
        """The pair key of each login name (one name, or every account an ambiguous spelling may
        name) and the address key, the address counted as :func:`counted_address` counts it."""
        where = counted_address(address)
        names = (logins,) if isinstance(logins, str) else logins
        return [("pair", name.casefold(), where) for name in dict.fromkeys(names)] + [("address", where)]

    def _delay(self, entry: Optional[_Failures], limit: int, now: float) -> float:
        if entry is None or now - entry.last > self.policy.window_seconds or entry.count < limit:
            return 0.0
        delay = min(self.policy.max_delay_seconds, 2.0 ** min(entry.count - limit, 30))
        return max(0.0, entry.last + delay - now)

    def retry_after(self, login, address: str) -> int:
        """Seconds (rounded up) before ``login`` (a name, or several: the longest wait of theirs)
        may be tried from ``address``; 0 = now."""
        if not self.policy.enabled:
            return 0
        keys = self._keys(login, address)
        now = self._clock()
        with self._lock:
            wait = max(
                self._delay(self._entries.get(key),
                            self.policy.pair_failures if key[0] == "pair" else self.policy.address_failures, now)
                for key in keys
            )
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, login, address: str) -> None:
        """Count a failed login of ``login`` (a name, or several: one failure of each) from
        ``address`` (one failure of the address)."""
        if not self.policy.enabled:
            return
        now = self._clock()
        with self._lock:
            for key in self._keys(login, address):
                entry = self._entries.get(key)
                if entry is None or now - entry.last > self.policy.window_seconds:
                    entry = _Failures(0, now)
                entry.count += 1
                entry.last = now
                self._entries[key] = entry
                self._entries.move_to_end(key)
            while len(self._entries) > self.policy.max_entries:
                self._entries.popitem(last=False)

    def succeeded(self, login: str, address: str) -> None:
        """A successful login clears its (login, address) pair."""
        if not self.policy.enabled:
            return
        pair = self._keys(login, address)[0]
        with self._lock:
            self._entries.pop(pair, None)

    def __len__(self) -> int:
        return len(self._entries)
