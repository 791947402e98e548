"""Own credential hashing and verification for API authentication.

Tokens are random and long, so a SHA-256 digest is a safe stored form
(``sha256:<hex>``); basic-auth passwords are chosen by people, so they are
stored as PBKDF2-SHA256 (``pbkdf2_sha256$<iterations>$<salt>$<hash>``).
Comparisons are constant time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from connector.settings import AuthSettings

TOKEN_PREFIX = "cst_"
PBKDF2_ITERATIONS = 310_000  # OWASP 2023 recommendation for PBKDF2-HMAC-SHA256
_VERIFIED_CACHE_SIZE = 256


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        # admin manages everything, so it may also read and run jobs.
        return scope in self.scopes or "admin" in self.scopes


def new_token() -> tuple[str, str]:
    """Return a new token and the ``sha256:`` entry to configure for it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return "$".join(
        (
            "pbkdf2_sha256",
            str(iterations),
            base64.b64encode(salt).decode(),
            base64.b64encode(digest).decode(),
        )
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, expected = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(digest, base64.b64decode(expected))


def _epoch_s(moment: dt.datetime | None) -> float | None:
    """Seconds since the epoch of an expiry (UTC when it names no zone)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


class CredentialChecker:
    """Resolve bearer tokens and basic credentials to principals."""

    def __init__(self, settings: AuthSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.mode = settings.mode
        self._tokens = [
            (t.hash.encode(), Principal(t.name, frozenset(t.scopes)), _epoch_s(t.expires)) for t in settings.tokens
        ]
        self._clock = clock
        self._users = {u.username: u for u in settings.users}
        self._verified: dict[bytes, Principal] = {}
        self._lock = threading.Lock()

    def check_token(self, token: str) -> Principal | None:
        """The token's principal; None if unknown or expired."""
        digest = hash_token(token).encode()
        found: Principal | None = None
        expires: float | None = None
        for stored, principal, until in self._tokens:  # no early exit: constant time over entries
            if hmac.compare_digest(stored, digest):
                found, expires = principal, until
        if expires is not None and self._clock() >= expires:
            return None
        return found

    def check_basic(self, username: str, password: str) -> Principal | None:
        user = self._users.get(username)
        if user is None:
            verify_password(password, hash_password("x", iterations=1000))  # same shape of work
            return None
        # PBKDF2 costs ~0.3 s; remember successful checks by a keyed digest of the pair.
        key = hmac.new(user.hash.encode(), password.encode(), hashlib.sha256).digest()
        with self._lock:
            cached = self._verified.get(key)
        if cached is not None:
            return cached
        if not verify_password(password, user.hash):
            return None
        principal = Principal(username, frozenset(user.scopes))
        with self._lock:
            if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[key] = principal
        return principal
