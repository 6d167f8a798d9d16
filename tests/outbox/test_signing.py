"""The webhook signature: a known vector, and every way a signature must be refused."""

from __future__ import annotations

import pytest

from signaling.outbox.signing import SignatureError, SignatureFault, sign, verify

SECRET = "whsec-demo"
BODY = b'{"event_id":"evt-1"}'
NOW = 1764460800
#: printf '1764460800.{"event_id":"evt-1"}' | openssl dgst -sha256 -hmac whsec-demo
KNOWN = "t=1764460800,v1=4b7062e4a7390017a84f4c24b722ab4a0dac8b227612372d6b41682d3ac8b266"


def fault(header: str | None, body: bytes = BODY, now: float = NOW,
          secret: str = SECRET) -> SignatureFault:
    with pytest.raises(SignatureError) as caught:
        verify(secret, body, header, now)
    return caught.value.fault


def test_known_vector_signs_and_verifies() -> None:
    assert sign(SECRET, BODY, NOW + 0.9) == KNOWN
    verify(SECRET, BODY, KNOWN, NOW)
    verify(SECRET.encode(), BODY, KNOWN, NOW + 300)


def test_a_wrong_mac_or_secret_is_refused() -> None:
    flipped = KNOWN[:-1] + ("0" if KNOWN[-1] != "0" else "1")
    assert fault(flipped) is SignatureFault.BAD_MAC
    assert fault(KNOWN, secret="another-secret") is SignatureFault.BAD_MAC


def test_a_tampered_body_or_timestamp_is_refused() -> None:
    assert fault(KNOWN, body=b'{"event_id":"evt-2"}') is SignatureFault.BAD_MAC
    assert fault(KNOWN, body=BODY + b" ") is SignatureFault.BAD_MAC
    moved = KNOWN.replace(f"t={NOW}", f"t={NOW + 60}")
    assert fault(moved, now=NOW + 60) is SignatureFault.BAD_MAC


def test_a_stale_or_future_timestamp_is_refused() -> None:
    assert fault(KNOWN, now=NOW + 301) is SignatureFault.STALE
    assert fault(KNOWN, now=NOW - 301) is SignatureFault.STALE


@pytest.mark.parametrize("header", [None, "", "v1=abc", f"t={NOW}", f"t=x,v1={'0' * 64}",
                                    f"t={NOW},t={NOW},v1={'0' * 64}", "garbage",
                                    "t=1," + "v1=" + "0" * 2000])
def test_a_malformed_header_is_refused(header: str | None) -> None:
    assert fault(header) is SignatureFault.MALFORMED


def test_one_matching_v1_of_several_is_enough_during_a_secret_rotation() -> None:
    old = sign("old-secret", BODY, NOW).split(",")[1]
    verify(SECRET, BODY, f"{KNOWN},{old}", NOW)
    verify("old-secret", BODY, f"{KNOWN},{old}", NOW)
