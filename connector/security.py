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
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from connector.errors import TooManyRequests
from connector.settings import AuthSettings

TOKEN_PREFIX = "cst_"
PBKDF2_ITERATIONS = 310_000  # OWASP 2023 recommendation for PBKDF2-HMAC-SHA256
_VERIFIED_CACHE_SIZE = 256
# A wrong pair is answered from memory this long (a client retrying it costs no PBKDF2); bounded in number.
FAILED_PAIR_TTL_S = 60.0
_FAILED_CACHE_SIZE = 4096
PASSWORD_SLOT_WAIT_S = 5.0
PASSWORD_RETRY_AFTER_S = 1


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


def unmatchable_hash(iterations: int) -> str:
    """A well-formed hash that no password matches, costing ``iterations`` to check (for unknown users)."""
    salt = base64.b64encode(secrets.token_bytes(16)).decode()
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(bytes(32)).decode()}"


def _iterations(stored: str) -> int:
    return int(stored.split("$")[1])


def _epoch_s(moment: dt.datetime | None) -> float | None:
    """Seconds since the epoch of an expiry (UTC when it names no zone)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


class CredentialChecker:
    """Resolve bearer tokens and basic credentials to principals.

    A basic-auth check costs one PBKDF2 (~0.1-0.3 s of a CPU) whoever the user
    is: an unknown name is checked against a hash of the same cost, so timing
    does not tell which names exist. Each process remembers the pairs it
    verified (the next request is free) and, for ``FAILED_PAIR_TTL_S``, those
    that failed; any other check needs one of ``auth.password_checks`` slots,
    waited for by at most ``auth.password_check_queue`` requests, else it is
    refused with ``TooManyRequests``: guessing passwords costs the process at
    most that many threads and CPUs, and tokens and verified credentials keep
    being answered at once.
    """

    def __init__(
        self,
        settings: AuthSettings,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        verify: Callable[[str, str], bool] = verify_password,
    ) -> None:
        self.mode = settings.mode
        self._tokens = [
            (t.hash.encode(), Principal(t.name, frozenset(t.scopes)), _epoch_s(t.expires)) for t in settings.tokens
        ]
        self._clock = clock
        self._monotonic = monotonic
        self._verify_password = verify
        self._users = {u.username: u for u in settings.users}
        self._unknown_user_hash = unmatchable_hash(
            max((_iterations(u.hash) for u in settings.users), default=PBKDF2_ITERATIONS)
        )
        # Cache keys are keyed digests of "user:password" (a user name holds no ':'): never the password.
        self._pair_key = secrets.token_bytes(32)
        self._verified: dict[bytes, Principal] = {}
        self._failed: OrderedDict[bytes, float] = OrderedDict()  # pair -> monotonic time it may be checked again
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(settings.password_checks)
        self._admit = settings.password_checks + settings.password_check_queue
        self._admitted = 0

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
        """The user's principal; None if the name or the password is wrong.

        Raises ``TooManyRequests`` when the pair is not remembered and every
        password-check slot and queue place of this process is taken.
        """
        pair = hmac.new(self._pair_key, f"{username}:{password}".encode(), hashlib.sha256).digest()
        known, found = self._remembered(pair)
        if known:
            return found
        with self._lock:
            if self._admitted >= self._admit:
                raise _busy()
            self._admitted += 1
        try:
            # The queue is short, so the wait is about one check; the timeout only guards the thread.
            if not self._slots.acquire(timeout=PASSWORD_SLOT_WAIT_S):
                raise _busy()
            try:
                known, found = self._remembered(pair)  # a request with the same pair may have checked it meanwhile
                if not known:
                    found = self._verify(username, password)
            finally:
                self._slots.release()
        finally:
            with self._lock:
                self._admitted -= 1
        self._remember(pair, found)
        return found

    @property
    def password_checks_admitted(self) -> int:
        """Password checks running or waiting for a slot in this process."""
        with self._lock:
            return self._admitted

    def _verify(self, username: str, password: str) -> Principal | None:
        user = self._users.get(username)
        matched = self._verify_password(password, user.hash if user else self._unknown_user_hash)
        return Principal(username, frozenset(user.scopes)) if matched and user else None

    def _remembered(self, pair: bytes) -> tuple[bool, Principal | None]:
        """Whether the pair was checked recently, and its principal if it was right."""
        with self._lock:
            principal = self._verified.get(pair)
            if principal is not None:
                return True, principal
            until = self._failed.get(pair)
            if until is None:
                return False, None
            if self._monotonic() < until:
                return True, None
            del self._failed[pair]
            return False, None

    def _remember(self, pair: bytes, principal: Principal | None) -> None:
        with self._lock:
            if principal is not None:
                if len(self._verified) >= _VERIFIED_CACHE_SIZE:
                    self._verified.clear()
                self._verified[pair] = principal
                return
            self._failed[pair] = self._monotonic() + FAILED_PAIR_TTL_S
            self._failed.move_to_end(pair)
            while len(self._failed) > _FAILED_CACHE_SIZE:
                self._failed.popitem(last=False)


def _busy() -> TooManyRequests:
    return TooManyRequests(
        f"too many password checks in progress; retry in {PASSWORD_RETRY_AFTER_S} s (credentials "
        "this service has already verified are answered at once)",
        retry_after_s=PASSWORD_RETRY_AFTER_S,
    )
