"""Basic-auth checks: the same work for every user name, failures remembered, a bounded number at once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from connector.errors import TooManyRequests
from connector.security import (
    FAILED_PAIR_TTL_S,
    CredentialChecker,
    Principal,
    hash_password,
    new_token,
    verify_password,
)
from connector.settings import AuthSettings, TokenEntry, UserEntry
from tests.support import wait_until

pytestmark = pytest.mark.unit

TOKEN, TOKEN_HASH = new_token()


def _settings(*, checks: int = 1, queue: int = 0, iterations: int = 1000) -> AuthSettings:
    return AuthSettings(
        mode="basic",
        users=[
            UserEntry(username="alice", hash=hash_password("right", iterations=iterations), scopes=["admin"]),
            UserEntry(username="bob", hash=hash_password("bobs", iterations=iterations), scopes=["job:read"]),
        ],
        tokens=[TokenEntry(name="ci", hash=TOKEN_HASH, scopes=["job:read"])],
        password_checks=checks,
        password_check_queue=queue,
    )


class Hashes:
    """A ``verify`` that records the stored hashes it is asked to check and can be held mid-check."""

    def __init__(self) -> None:
        self.checked: list[str] = []
        self.entered = threading.Semaphore(0)
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, password: str, stored: str) -> bool:
        self.checked.append(stored)
        self.entered.release()
        assert self.gate.wait(10)
        return verify_password(password, stored)


@pytest.fixture
def hashes() -> Iterator[Hashes]:
    recorder = Hashes()
    yield recorder
    recorder.gate.set()


def _iterations(stored: str) -> int:
    return int(stored.split("$")[1])


def test_an_unknown_user_costs_the_same_pbkdf2_as_a_known_one(hashes: Hashes) -> None:
    checker = CredentialChecker(_settings(iterations=12_345), verify=hashes)

    assert checker.check_basic("alice", "wrong") is None
    assert checker.check_basic("nosuchuser", "wrong") is None

    known, unknown = hashes.checked
    assert _iterations(unknown) == _iterations(known) == 12_345
    assert unknown != known and len(unknown) == len(known)  # same shape: salt and digest sizes too


def test_the_unknown_user_hash_never_matches() -> None:
    checker = CredentialChecker(_settings())
    assert checker.check_basic("nosuchuser", "") is None
    assert checker.check_basic("nosuchuser", "x") is None


def test_a_failed_pair_is_answered_from_memory_until_it_expires(hashes: Hashes) -> None:
    now = [1000.0]
    checker = CredentialChecker(_settings(), verify=hashes, monotonic=lambda: now[0])

    for _ in range(5):
        assert checker.check_basic("alice", "wrong") is None
        assert checker.check_basic("ghost", "wrong") is None
    assert len(hashes.checked) == 2

    now[0] += FAILED_PAIR_TTL_S + 1
    assert checker.check_basic("alice", "wrong") is None
    assert len(hashes.checked) == 3
    assert checker.check_basic("alice", "right") == Principal("alice", frozenset({"admin"}))
    assert checker.check_basic("alice", "right") is not None
    assert len(hashes.checked) == 4  # verified once, then remembered


def test_pairs_are_not_confused_across_user_names(hashes: Hashes) -> None:
    checker = CredentialChecker(_settings(), verify=hashes)
    assert checker.check_basic("alice", "right") is not None
    assert checker.check_basic("bob", "right") is None
    assert checker.check_basic("alice", "bobs") is None
    assert checker.check_basic("bob", "bobs") == Principal("bob", frozenset({"job:read"}))


def _in_thread(call: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    result: list[object] = []

    def run() -> None:
        try:
            result.append(call())
        except TooManyRequests as ex:
            result.append(ex)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_checks_beyond_the_slots_and_queue_are_refused_at_once(hashes: Hashes) -> None:
    checker = CredentialChecker(_settings(checks=1, queue=0), verify=hashes)
    assert checker.check_basic("bob", "bobs") is not None  # verified before the guessing starts
    hashes.gate.clear()
    thread, result = _in_thread(lambda: checker.check_basic("alice", "guess-1"))
    assert hashes.entered.acquire(timeout=10)  # twice: bob's check, then the guess, now held
    assert hashes.entered.acquire(timeout=10)

    with pytest.raises(TooManyRequests) as refused:
        checker.check_basic("alice", "guess-2")
    verified = checker.check_basic("bob", "bobs")
    token = checker.check_token(TOKEN)
    hashes.gate.set()
    thread.join(10)

    assert refused.value.retry_after_s >= 1
    assert "too many password checks" in refused.value.reason
    assert verified == Principal("bob", frozenset({"job:read"}))
    assert token == Principal("ci", frozenset({"job:read"}))
    assert result == [None]
    assert len(hashes.checked) == 2  # the refused guess cost no PBKDF2


def test_a_queued_check_of_the_same_pair_takes_the_answer_of_the_one_before(hashes: Hashes) -> None:
    checker = CredentialChecker(_settings(checks=1, queue=1), verify=hashes)
    hashes.gate.clear()
    first, first_result = _in_thread(lambda: checker.check_basic("alice", "right"))
    assert hashes.entered.acquire(timeout=10)
    second, second_result = _in_thread(lambda: checker.check_basic("alice", "right"))
    wait_until(lambda: checker.password_checks_admitted == 2, what="the second check to queue")
    with pytest.raises(TooManyRequests):
        checker.check_basic("alice", "third")  # slot and queue taken
    hashes.gate.set()
    first.join(10)
    second.join(10)

    assert first_result == second_result == [Principal("alice", frozenset({"admin"}))]
    assert len(hashes.checked) == 1
    assert checker.password_checks_admitted == 0
