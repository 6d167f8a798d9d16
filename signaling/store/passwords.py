"""Password hashing for agent, supervisor and admin accounts (argon2id).

The hasher's parameters are pinned so that :data:`DUMMY_HASH`, verified when a login names
an unknown user, costs exactly as much as checking a real account's wrong password; login
time then does not reveal which usernames exist.

Each hash takes 64 MiB and four threads for a while. So hashing runs off the event loop in
worker threads of low CPU priority (:func:`hash_password_async`, :func:`verify_password_async`),
which yield the CPU to the signaling loop at once, and :class:`HashingGate` bounds how many
logins hash at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16)

#: hash of a random password nobody knows, made with the parameters of ``_HASHER``
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$AxPL7QqdomqRoNI7SI9VtA$422tk151BaCGeG8xJW7K3OUCsQC5ryA52L4N5cZJNMo"
)


#: shortest password ``cloud-agent admin`` accepts (the demo accounts' ``demo`` is seeded by
#: code, not set through the CLI)
MIN_PASSWORD_LENGTH = 10


class PasswordTooShort(ValueError):
    """A password set by an administrator is shorter than :data:`MIN_PASSWORD_LENGTH`."""


def check_password_strength(password: str) -> None:
    """Raise :class:`PasswordTooShort` for a password too short to set."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters, not {len(password)}")


def hash_password(password: str) -> str:
    """Return a salted argon2id hash; the only form in which a password is ever stored."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Tell whether ``password`` matches; a mismatch or a malformed hash is just ``False``."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


#: nice value of the hashing threads (the lowest priority): the event loop (nice 0)
#: preempts them whenever it has work, so a burst of logins cannot delay signaling; idle
#: CPU still goes to hashing (nice 10 still let a loaded 2-core box reach x4-x7)
HASHING_NICE = 19

#: hashing threads per process; :class:`HashingGate` bounds logins further
HASHING_THREADS = 4

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _lower_priority() -> None:
    """Worker initializer: lower this thread's priority (on Linux the nice value is per
    thread, and the lane threads argon2 starts inherit it)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICE)


def _hashing_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(HASHING_THREADS, thread_name_prefix="argon2",
                                           initializer=_lower_priority)
        return _executor


async def hash_password_async(password: str) -> str:
    """:func:`hash_password` in a low-priority worker thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_hashing_executor(), hash_password, password)


async def verify_password_async(password_hash: str, password: str) -> bool:
    """:func:`verify_password` in a low-priority worker thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_hashing_executor(), verify_password, password_hash,
                                      password)


def needs_rehash(password_hash: str) -> bool:
    """Tell whether a stored hash was made with weaker parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


class HashingBusy(Exception):
    """Too many password checks are running and waiting already; try again later."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"password checks are busy; retry in {retry_after} s")
        self.retry_after = retry_after


class HashingGate:
    """At most ``concurrency`` password checks at once, and at most ``max_waiting`` more
    waiting for a turn; anything beyond is refused at once with :class:`HashingBusy`.

    The checks themselves run in low-priority worker threads, so the event loop is never
    blocked; the gate bounds their memory (64 MiB each) and keeps a flood of logins from
    queueing without end. Used from one event loop only.
    """

    def __init__(self, concurrency: int, max_waiting: int) -> None:
        if concurrency < 1 or max_waiting < 0:
            raise ValueError("concurrency must be >= 1 and max_waiting >= 0")
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self.running = 0
        self.waiting = 0
        self._turns = asyncio.Semaphore(concurrency)
        self._seconds_per_check = 0.5  # running mean, for Retry-After

    def retry_after(self) -> int:
        """Whole seconds until the present queue has probably drained."""
        queued = self.running + self.waiting
        return max(1, math.ceil(queued * self._seconds_per_check / self.concurrency))

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one of the ``concurrency`` turns for the duration of the block."""
        if self.running + self.waiting >= self.concurrency + self.max_waiting:
            raise HashingBusy(self.retry_after())
        self.waiting += 1
        try:
            await self._turns.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            yield
        finally:
            self.running -= 1
            self._turns.release()
            elapsed = loop.time() - started
            self._seconds_per_check += (elapsed - self._seconds_per_check) / 8
