"""Authentication and authorisation (contract section 8).

Credentials:

- HTTP Basic with the user name ``MISSION\\user`` (prosEO), ``MISSION-user``, or a plain
  ``user`` of the mission named by ``proseo.default_mission``;
- ``Authorization: Bearer <token>`` with a token from ``POST {prip,odip token path}``
  (OAuth2 ``grant_type=password`` or ``client_credentials``, form-encoded). Tokens are JWTs
  signed with ``proseo.token.secret`` (HS256): they stay valid after a restart and in every
  process sharing the secret. A token that passed its checks is remembered until its ``exp``
  (:class:`TokenClaims`, ``proseo.token.cache_size`` per process), so it is not decoded again.
  A token carries a digest of its user's stored password hash (claim ``pwd``): a new password,
  or the user deleted (and added again), ends every token issued before.

Every request looks its user up (``storage.get_user(..., cached=True)``): from a per-process
cache that keeps a user ``proseo.storage.user_cache.ttl`` seconds (5; 0 = read every time), so a
deleted user, a changed password or a changed role takes effect in every server process within
that time (at once in a process that made the change itself). A Basic password is still checked
against the (cached) user's stored hash on every request; a successful check is remembered by a
SHA-256 digest of the stored hash and the password (:class:`_VerifiedPasswords`), so a new
password (a new stored hash) never matches an old entry. Unknown users are never cached.

Answers: ``401`` with ``WWW-Authenticate: Basic realm="..."`` when credentials are missing or
wrong, ``403`` when the role is missing, and ``404`` (by the views) for objects of another mission
or of a visibility class the user may not read; ``429`` with ``Retry-After`` when a login name
from one address, or one address, failed too often (:mod:`proseo_odata_web.throttle`). A login
naming no existing user or mission is checked against a dummy hash, so it takes as long as a
wrong password.

Views use :func:`require_role` (returns the :class:`Principal`) and
:func:`product_visibilities` / :func:`can_read_product`.
"""
from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Optional

import jwt
from pyramid.security import NO_PERMISSION_REQUIRED

from proseo_odata.lru import ExpiringLRU
from proseo_odata.model import Product, Role, User, VisibilityClass, hash_password, verify_password
from proseo_odata.model.visibility import visible_classes
from proseo_odata.errors import Forbidden, InvalidInput, NotFound, TooManyAttempts, Unauthenticated
from proseo_odata.storage.errors import NotFoundError

from .odata_json import json_response

TOKEN_ALGORITHM = "HS256"
TOKEN_ISSUER = "proseo-odata"


class AuthenticationError(Unauthenticated):
    """Credentials missing or wrong: 401 with ``WWW-Authenticate``."""

    def __init__(self, message: str, *, realm: str):
        super().__init__(message)
        self.headers = {"WWW-Authenticate": f'Basic realm="{realm}"'}


class AuthorizationError(Forbidden):
    """Credentials right but a role is missing: 403."""


class TooManyAttemptsError(TooManyAttempts):
    """Too many failed logins from this address (for this name): 429 with ``Retry-After``."""

    def __init__(self, retry_after: int):
        super().__init__(f"Too many failed logins; retry in {retry_after} s", retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class TokenRequestError(InvalidInput):
    """A malformed token request (unsupported ``grant_type``, missing fields): 400."""

    kind = "invalid_input.token_request"


@dataclass(frozen=True)
class Principal:
    """The authenticated user: mission code, user name, roles, and how they authenticated."""

    mission: str
    name: str
    roles: frozenset
    method: str  # "basic" or "bearer"

    @property
    def qualified_name(self) -> str:
        return f"{self.mission}\\{self.name}"

    def has_role(self, role: Role | str) -> bool:
        return Role(role) in self.roles


# -- user names and passwords -------------------------------------------------------------------


def split_user_name(login: str, default_mission: str) -> list[tuple[str, str]]:
    """Candidate ``(mission, user)`` pairs for a login name, most specific first.

    ``S2B\\alice`` -> ``[("S2B", "alice")]``; ``S2B-alice`` -> ``[("S2B", "alice")]`` plus
    ``(default, "S2B-alice")`` when a default mission is configured (a user name may contain a
    dash); ``alice`` -> ``[(default, "alice")]`` or nothing without a default mission.
    """
    if "\x00" in login:  # no user name holds one (and PostgreSQL cannot even look it up)
        return []
    if "\\" in login:
        mission, _, name = login.partition("\\")
        return [(mission, name)] if mission and name else []
    candidates = []
    if "-" in login:
        mission, _, name = login.partition("-")
        if mission and name:
            candidates.append((mission, name))
    if default_mission:
        candidates.append((default_mission, login))
    return candidates


class _VerifiedPasswords:
    """A small in-process memo of successful password checks.

    scrypt is deliberately slow (tens of milliseconds); a client sending Basic credentials with
    every request would pay that each time. The memo keys are SHA-256 digests of (stored hash,
    password) - never the password - so a changed password (new stored hash) misses the memo.
    """

    def __init__(self, size: int = 1024, ttl: float = 300.0):
        self._entries = ExpiringLRU(size)
        self._ttl = ttl

    @staticmethod
    def _key(password_hash: str, password: str) -> bytes:
        return hashlib.sha256(password_hash.encode() + b"\0" + password.encode("utf-8", "surrogatepass")).digest()

    def check(self, user: User, password: str) -> bool:
        key = self._key(user.password_hash, password)
        if self._entries.get(key):
            return True
        if not user.check_password(password):
            return False
        self._entries.put(key, True, time.monotonic() + self._ttl)
        return True


class TokenClaims(ExpiringLRU):
    """Claims of bearer tokens checked before, each kept until its token's ``exp`` (wall-clock
    seconds, as the token's) and never longer; per application (``registry.proseo_tokens``),
    ``proseo.token.cache_size`` entries. Decoding and verifying a token (PyJWT: base64, HMAC,
    claim checks) is about a tenth of a small request's server CPU; a client sends the same token
    with every request. Only tokens that passed every check are kept, keyed by the whole token,
    so a token of another secret, a forged or a changed one is always checked in full. The user
    named by the claims is still looked up on every request (a deleted user or a taken role is
    caught as before: the module docstring)."""

    def __init__(self, size: int = 1024, clock=time.time):
        super().__init__(size, clock)


_verified = _VerifiedPasswords()


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash of a random password with the current parameters: checked when the login names no
    existing user, so that the answer takes as long as for a wrong password of a real user."""
    return hash_password(secrets.token_urlsafe(24))


def _unauthenticated(request, message: str) -> AuthenticationError:
    return AuthenticationError(message, realm=request.registry.proseo.realm)


def _match(request, login: str, password: str) -> Optional[User]:
    web = request.registry.proseo
    for mission, name in split_user_name(login, web.default_mission):
        try:
            user = request.storage.get_user(mission, name, cached=True)
        except NotFoundError:
            continue
        if _verified.check(user, password):
            return user
        return None  # the user exists: a wrong password must not fall through to another one
    # No such user (or mission): the same scrypt work as a wrong password, so the time of the
    # answer does not tell which names exist.
    verify_password(password, _dummy_hash())
    return None


def client_address(request) -> str:
    """The client's address for throttling: WSGI ``REMOTE_ADDR`` (set by waitress from
    ``X-Forwarded-For`` only for a configured ``trusted_proxy``)."""
    return request.remote_addr or "unknown"


def check_credentials(request, login: str, password: str) -> Optional[User]:
    """The user whose login name and password match, or None (a failed login, counted).

    Raises :class:`TooManyAttemptsError` (429) without checking the password when the
    (login, address) pair or the address failed too often (:mod:`proseo_odata_web.throttle`)."""
    throttle = getattr(request.registry, "proseo_throttle", None)
    address = client_address(request)
    # One count per account however its name is spelled (MISSION\\user, MISSION-user, user):
    # three spellings were three allowances of guesses. A spelling that may name two accounts
    # (S2B-alice) counts against both, so neither spelling adds an allowance.
    candidates = split_user_name(login, request.registry.proseo.default_mission)
    counted = ["\\".join(candidate) for candidate in candidates] or [login]
    if throttle is not None:
        wait = throttle.retry_after(counted, address)
        if wait:
            count_login(request, "throttled")
            raise TooManyAttemptsError(wait)
    user = _match(request, login, password)
    if user is None:
        count_login(request, "failure")
        if throttle is not None:
            throttle.failed(counted, address)
    elif throttle is not None:
        throttle.succeeded(f"{user.mission}\\{user.name}", address)  # that account's pair only
    return user


def count_login(request, outcome: str) -> None:
    """Count a login outcome in the metrics, when they are on (``proseo_odata_web.metrics``)."""
    metrics = getattr(request.registry, "proseo_metrics", None)
    if metrics is not None:
        metrics.login(outcome)


def _basic_credentials(request, value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise _unauthenticated(request, "Malformed Basic credentials") from None
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        text = decoded.decode("latin-1")
    login, sep, password = text.partition(":")
    if not sep or not login:
        raise _unauthenticated(request, "Malformed Basic credentials")
    return login, password


# -- tokens ------------------------------------------------------------------------------------


def issue_token(request, user: User) -> dict:
    """The OAuth2 token response body for ``user``."""
    web = request.registry.proseo
    now = int(time.time())
    claims = {
        "iss": TOKEN_ISSUER,
        "sub": user.name,
        "mission": user.mission,
        "iat": now,
        "exp": now + web.token_lifetime,
        "pwd": _password_mark(user),
    }
    token = jwt.encode(claims, web.token_secret, algorithm=TOKEN_ALGORITHM)
    return {"access_token": token, "token_type": "bearer", "expires_in": web.token_lifetime}


def _password_mark(user: User) -> str:
    """What a token carries of the password it was issued for: a digest of the user's stored
    (salted) hash. A new password, or a user deleted and added again, makes the token invalid."""
    return hashlib.sha256(user.password_hash.encode("utf-8")).hexdigest()[:32]


def _bearer_user(request, token: str) -> User:
    web = request.registry.proseo
    if not web.token_secret:
        raise _unauthenticated(request, "Bearer tokens are not enabled on this service")
    token = token.strip()
    known: TokenClaims = request.registry.proseo_tokens
    claims = known.get(token)
    if claims is None:
        try:
            claims = jwt.decode(
                token,
                web.token_secret,
                algorithms=[TOKEN_ALGORITHM],
                issuer=TOKEN_ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "pwd"]},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthenticated(request, "The bearer token has expired") from None
        except jwt.InvalidTokenError:
            raise _unauthenticated(request, "Invalid bearer token") from None
        known.put(token, claims, claims["exp"])
    mission, name = claims.get("mission"), claims.get("sub")
    if not isinstance(mission, str) or not isinstance(name, str):
        raise _unauthenticated(request, "Invalid bearer token")
    try:
        user = request.storage.get_user(mission, name, cached=True)
    except NotFoundError:
        raise _unauthenticated(request, "The bearer token's user no longer exists") from None
    if not hmac.compare_digest(str(claims.get("pwd")), _password_mark(user)):
        raise _unauthenticated(request, "The bearer token was issued before its user's password or account changed")
    return user


# -- the request's principal ----------------------------------------------------------------------


#: Authorization schemes and OAuth grant types that a refusal names (any other text is not
#: repeated: it may be a credential sent without its scheme).
_KNOWN_SCHEMES = frozenset({"digest", "negotiate", "ntlm", "hoba", "mutual", "aws4-hmac-sha256", "token", "apikey",
                            "dpop", "gssapi", "oauth", "scram-sha-1", "scram-sha-256", "vapid"})
_KNOWN_GRANTS = frozenset({"authorization_code", "refresh_token", "implicit", "device_code",
                           "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer",
                           "urn:ietf:params:oauth:grant-type:token-exchange", "urn:ietf:params:oauth:grant-type:saml2-bearer"})


def _principal(request) -> Optional[Principal]:
    """Reified ``request.principal``: None without credentials; wrong credentials raise 401."""
    header = request.headers.get("Authorization")
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        login, password = _basic_credentials(request, value)
        user = check_credentials(request, login, password)
        if user is None:
            raise _unauthenticated(request, "Invalid user name or password")
        return Principal(user.mission, user.name, frozenset(user.roles), "basic")
    if scheme == "bearer":
        user = _bearer_user(request, value)
        return Principal(user.mission, user.name, frozenset(user.roles), "bearer")
    # The scheme is named only when it is one: a client that sends its bare token or password as
    # the header (no scheme) must not get it back in the body and the Warning header.
    named = f" {scheme!r}" if scheme in _KNOWN_SCHEMES else ""
    raise _unauthenticated(request, f"Unsupported authorization scheme{named}: use Basic or Bearer")


def authenticate(request) -> Principal:
    """The authenticated principal; 401 when there are no credentials or they are wrong."""
    principal = request.principal
    if principal is None:
        raise _unauthenticated(request, "Authentication required")
    return principal


def require_role(request, *roles: Role | str) -> Principal:
    """The authenticated principal holding at least one of ``roles``; 401 or 403 otherwise."""
    principal = authenticate(request)
    if roles and not any(principal.has_role(role) for role in roles):
        names = " or ".join(str(Role(role)) for role in roles)
        raise AuthorizationError(
            f"User {principal.qualified_name} lacks the role {names}")
    return principal


def product_visibilities(principal: Principal) -> tuple[VisibilityClass, ...]:
    """Visibility classes a principal may read (the core's rule,
    :func:`proseo_odata.model.visibility.visible_classes`, applied to the principal's roles)."""
    return visible_classes(principal.roles)


def can_read_product(principal: Principal, product: Product) -> bool:
    """True when the product is in the principal's mission and visibility classes."""
    return product.mission == principal.mission and product.visibility in product_visibilities(principal)


# -- the token endpoint --------------------------------------------------------------------------


def _token_form(request):
    """The token request's form fields; 400 when WebOb cannot read the body as a text form."""
    try:
        form = request.POST
    except (ValueError, DeprecationWarning, UnicodeError):
        # WebOb raises ValueError for a multipart body without a boundary and DeprecationWarning
        # (as an exception, not a warning) for a form declared in a charset other than UTF-8.
        raise TokenRequestError(
            "The token request must be a form (application/x-www-form-urlencoded) in UTF-8",
            target="body",
        ) from None
    for name, value in form.items():
        if not isinstance(value, str):  # a file part of a multipart form
            raise TokenRequestError(f"The token request field {name!r} must be text, not a file",
                                    target=name)
    return form


def token_view(request):
    """``POST {token path}``: OAuth2 password or client-credentials grant (form-encoded)."""
    if not request.registry.proseo.token_secret:
        raise NotFound("Bearer tokens are not enabled on this service", kind="not_found.token_endpoint")
    form = _token_form(request)
    grant = form.get("grant_type", "")
    if grant == "password":
        login, password = form.get("username"), form.get("password")
    elif grant == "client_credentials":
        login, password = form.get("client_id"), form.get("client_secret")
        header = request.headers.get("Authorization", "")
        if (login is None or password is None) and header.lower().startswith("basic "):
            login, password = _basic_credentials(request, header.split(" ", 1)[1])
    else:
        named = f" {grant!r}" if grant in _KNOWN_GRANTS else ""  # (not echoed: it may be a pasted secret)
        raise TokenRequestError(
            f"Unsupported grant_type{named}: use 'password' or 'client_credentials'",
            target="grant_type",
        )
    if not login or password is None:
        field = "username/password" if grant == "password" else "client_id/client_secret"
        raise TokenRequestError(f"The token request lacks {field}", target=field)
    user = check_credentials(request, login, password)
    if user is None:
        raise _unauthenticated(request, "Invalid user name or password")
    response = json_response(issue_token(request, user))
    response.headers["Content-Type"] = "application/json"
    response.headers["Cache-Control"] = "no-store"
    return response


def includeme(config):
    """``request.principal``, the login throttle and the two token endpoints (paths from the
    settings)."""
    from .throttle import LoginThrottle, ThrottlePolicy

    config.add_request_method(_principal, "principal", reify=True)
    config.registry.proseo_tokens = TokenClaims(config.registry.proseo.token_cache_size)
    policy = ThrottlePolicy.from_settings(config.get_settings())
    config.registry.proseo_throttle = LoginThrottle(policy) if policy.enabled else None
    web = config.registry.proseo
    for service, path in (("prip", web.prip_token_path), ("odip", web.odip_token_path)):
        route = f"proseo.{service}.token"
        config.add_route(route, path)
        config.add_view(token_view, route_name=route, request_method="POST", permission=NO_PERMISSION_REQUIRED)
        config.add_view(_method_not_allowed, route_name=route, permission=NO_PERMISSION_REQUIRED)


def _method_not_allowed(request):
    from pyramid.httpexceptions import HTTPMethodNotAllowed

    exc = HTTPMethodNotAllowed()
    exc.allow = ["POST"]
    raise exc
