"""Password hashing for agent, supervisor and admin accounts (argon2id).

The hasher's parameters are pinned so that :data:`DUMMY_HASH`, verified when a login names
an unknown user, costs exactly as much as checking a real account's wrong password; login
time then does not reveal which usernames exist.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4, hash_len=32, salt_len=16)

#: hash of a random password nobody knows, made with the parameters of ``_HASHER``
DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$AxPL7QqdomqRoNI7SI9VtA$422tk151BaCGeG8xJW7K3OUCsQC5ryA52L4N5cZJNMo"
)


def hash_password(password: str) -> str:
    """Return a salted argon2id hash; the only form in which a password is ever stored."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Tell whether ``password`` matches; a mismatch or a malformed hash is just ``False``."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Tell whether a stored hash was made with weaker parameters than today's."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
