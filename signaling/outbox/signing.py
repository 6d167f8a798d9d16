"""The webhook signature, both directions: ``X-CloudAgent-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>``.

Pure: no clock, no I/O. The timestamp is inside the MAC, so a captured delivery cannot be
replayed with a fresh ``t``; a receiver refuses one whose ``t`` is more than
:data:`TOLERANCE` seconds from its own clock, and dedupes the rest by event id.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum

#: the request header carrying the signature
SIGNATURE_HEADER = "X-CloudAgent-Signature"
#: the request header carrying the event id of an outgoing delivery
EVENT_HEADER = "X-CloudAgent-Event"
#: largest accepted difference between the signer's and the verifier's clocks (seconds)
TOLERANCE = 300
#: longest header worth parsing; a real one is ~80 characters
MAX_HEADER = 1024


class SignatureFault(StrEnum):
    """Why a signature was refused."""

    #: no header, or not ``t=<int>,v1=<64 hex>``
    MALFORMED = "malformed"
    #: the MAC does not match the body, the timestamp and the secret
    BAD_MAC = "bad_mac"
    #: the MAC is right but ``t`` is too far from now
    STALE = "stale"


class SignatureError(ValueError):
    """A signature that must be refused; ``fault`` says why (for logs, never for callers)."""

    def __init__(self, fault: SignatureFault) -> None:
        super().__init__(fault.value)
        self.fault = fault


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def mac(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``f"{timestamp}.{body}"``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(_key(secret), message, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, now: float) -> str:
    """The ``X-CloudAgent-Signature`` value for ``body`` sent at ``now``."""
    timestamp = int(now)
    return f"t={timestamp},v1={mac(secret, body, timestamp)}"


def _parse(header: str | None) -> tuple[int, list[str]]:
    if not header or len(header) > MAX_HEADER:
        raise SignatureError(SignatureFault.MALFORMED)
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError(SignatureFault.MALFORMED)
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise SignatureError(SignatureFault.MALFORMED)
            timestamp = int(value)
        elif key == "v1":
            macs.append(value)
        # other schemes (v0, v2 …) are ignored, so a sender may add one during a migration
    if timestamp is None or not macs:
        raise SignatureError(SignatureFault.MALFORMED)
    return timestamp, macs


def verify(secret: str | bytes, body: bytes, header: str | None, now: float,
           tolerance: float = TOLERANCE) -> None:
    """Return if ``header`` signs ``body`` with ``secret`` within ``tolerance`` of ``now``;
    else raise :class:`SignatureError`. Several ``v1=`` values are allowed (one matching is
    enough), so a sender can sign with the old and the new secret while one is rotated."""
    timestamp, macs = _parse(header)
    expected = mac(secret, body, timestamp)
    if not any(hmac.compare_digest(expected, candidate) for candidate in macs):
        raise SignatureError(SignatureFault.BAD_MAC)
    if abs(now - timestamp) > tolerance:
        raise SignatureError(SignatureFault.STALE)
