"""Validators, signed tokens, TURN REST credentials, rate limiting and settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
from pathlib import Path

import pytest

from signaling.live.ice import ice_servers_for, turn_rest_credential
from signaling.live.ratelimit import LoginThrottle, TokenBucket
from signaling.matters.validators import (
    is_mainland_mobile,
    is_valid_resident_id,
    is_valid_uscc,
    uscc_check_character,
)
from signaling.settings import Settings
from signaling.tokens import TokenError, sign, verify


@pytest.mark.parametrize("code", ["91350100M000100Y43", "91330424MA2B3C4D5Y"])
def test_valid_unified_social_credit_codes(code: str) -> None:
    assert is_valid_uscc(code)


@pytest.mark.parametrize("code", ["91350100M000100Y44", "91350100M000100Y4", "",
                                  "9135010OM000100Y43", "91350100m000100y43"])
def test_invalid_unified_social_credit_codes(code: str) -> None:
    assert not is_valid_uscc(code)


def test_uscc_check_character_covers_the_zero_case() -> None:
    # A code whose weighted sum is a multiple of 31 takes '0', not the 32nd character.
    for prefix in ("00000000000000000", "91350100M000100Y4"):
        assert uscc_check_character(prefix) in "0123456789ABCDEFGHJKLMNPQRTUWXY"
    assert uscc_check_character("00000000000000000") == "0"


def test_resident_id_and_mobile() -> None:
    assert is_valid_resident_id("11010519491231002X")
    assert is_valid_resident_id("11010519491231002x")
    assert not is_valid_resident_id("110105194912310021")
    assert is_mainland_mobile("13800138000")
    assert not is_mainland_mobile("12800138000")
    assert not is_mainland_mobile("1380013800")


def test_turn_rest_credentials_match_coturn_scheme() -> None:
    username, credential = turn_rest_credential("s3cret", "c42-c", now=1_000_000.9, ttl=600)
    assert username == "1000600:c42-c"
    expected = base64.b64encode(hmac.new(b"s3cret", b"1000600:c42-c", hashlib.sha1).digest())
    assert credential == expected.decode()


def test_ice_servers_include_turn_only_with_a_secret() -> None:
    without = ice_servers_for(stun_urls=["stun:stun.example:3478"], turn_urls=["turn:t:3478"],
                              turn_secret=None, user_id="u", now=0, ttl=60)
    assert [s.urls for s in without] == [["stun:stun.example:3478"]]
    with_turn = ice_servers_for(stun_urls=[], turn_urls=["turn:t:3478?transport=udp"],
                                turn_secret="k", user_id="u", now=0, ttl=60)
    assert with_turn[0].username == "60:u" and with_turn[0].credential


def test_tokens_reject_forgery_kind_confusion_and_expiry() -> None:
    token = sign(b"key", "agent", "demo-agent-1", now=100, ttl=50)
    assert verify(b"key", "agent", token, now=120)["sub"] == "demo-agent-1"
    with pytest.raises(TokenError):
        verify(b"other-key", "agent", token, now=120)
    with pytest.raises(TokenError):
        verify(b"key", "invite", token, now=120)  # an agent login is not an invite
    with pytest.raises(TokenError):
        verify(b"key", "agent", token, now=151)
    body, mac = token.split(".")
    with pytest.raises(TokenError):
        verify(b"key", "agent", body[:-2] + "xx." + mac, now=120)
    with pytest.raises(TokenError):
        verify(b"key", "agent", "garbage", now=120)


def test_token_bucket_allows_burst_then_rate() -> None:
    bucket = TokenBucket(rate=2, burst=3, now=0)
    assert [bucket.allow(0) for _ in range(4)] == [True, True, True, False]
    assert bucket.allow(0.5) and not bucket.allow(0.5)


def test_settings_from_environment_and_toml(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cloud-agent.toml"
    config.write_text('ring_timeout = 7.5\nstun_urls = ["stun:a:3478"]\nport = 9000\n')
    monkeypatch.setenv("CLOUD_AGENT_CONFIG_FILE", str(config))
    monkeypatch.setenv("CLOUD_AGENT_PORT", "9100")
    monkeypatch.setenv("CLOUD_AGENT_TURN_URLS", "turn:a:3478,turn:b:3478")
    settings = Settings()
    assert settings.ring_timeout == 7.5  # from the file
    assert settings.port == 9100  # the environment wins over the file
    assert settings.turn_urls == ["turn:a:3478", "turn:b:3478"]
    assert Settings(port=9200).port == 9200  # the CLI wins over both


def test_login_throttle_blocks_after_failures_per_user_and_address() -> None:
    throttle = LoginThrottle(max_failures=3, window=60)
    for t in range(3):
        assert throttle.blocked_for("demo-agent-1", "10.0.0.9", now=t) == 0
        throttle.failed("demo-agent-1", "10.0.0.9", now=t)
    assert throttle.blocked_for("demo-agent-1", "10.0.0.9", now=3) == 57
    assert throttle.blocked_for("demo-agent-1", "10.0.0.7", now=3) == 0  # the agent's own PC
    assert throttle.blocked_for("demo-agent-1", "10.0.0.9", now=61) == 0  # window passed
