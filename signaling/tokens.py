"""Signed, expiring tokens: agent logins and invite links.

``<base64url(json payload)>.<base64url(HMAC-SHA256)>``; stateless so any node of a
cluster can verify them with the shared secret key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


class TokenError(Exception):
    """The token is malformed, forged, of the wrong kind or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: bytes, kind: str, subject: str, now: float, ttl: float,
         **claims: Any) -> str:
    """A token of ``kind`` for ``subject`` expiring ``ttl`` seconds after ``now``."""
    payload = {"k": kind, "sub": subject, "exp": int(now + ttl), **claims}
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(secret, f"{kind}.{body}".encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(secret: bytes, kind: str, token: str, now: float) -> dict[str, Any]:
    """The payload of a valid, unexpired token of ``kind``; TokenError otherwise."""
    try:
        body, mac = token.split(".")
        expected = hmac.new(secret, f"{kind}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(mac)):
            raise TokenError("bad signature")
        payload: dict[str, Any] = json.loads(_unb64(body))
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenError("malformed token") from exc
    if payload.get("k") != kind:
        raise TokenError("wrong token kind")
    if not isinstance(payload.get("exp"), int) or payload["exp"] < now:
        raise TokenError("token expired")
    return payload
