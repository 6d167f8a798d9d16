"""ICE servers for a session: STUN, plus TURN credentials in the TURN REST form.

coturn's ``use-auth-secret`` scheme: ``username = "<expiry>:<id>"`` and
``credential = base64(HMAC-SHA1(secret, username))``; minted per session so a leaked
credential expires with it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from ..protocol import IceServer


def turn_rest_credential(secret: str, user_id: str, now: float, ttl: int) -> tuple[str, str]:
    """(username, credential) valid until ``now + ttl`` for coturn's static-auth-secret."""
    username = f"{int(now) + ttl}:{user_id}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(
    *,
    stun_urls: list[str],
    turn_urls: list[str],
    turn_secret: str | None,
    user_id: str,
    now: float,
    ttl: int,
) -> list[IceServer]:
    """The RTCIceServer list one party receives when its session starts."""
    servers: list[IceServer] = []
    if stun_urls:
        servers.append(IceServer(urls=list(stun_urls)))
    if turn_urls and turn_secret:
        username, credential = turn_rest_credential(turn_secret, user_id, now, ttl)
        servers.append(IceServer(urls=list(turn_urls), username=username,
                                 credential=credential))
    return servers
