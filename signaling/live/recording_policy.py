"""Whether a call must be recorded, and what a refusal of consent leads to.

Three places can ask for recording: the server setting ``recording_policy`` (all calls),
a kiosk's own setting (calls from that kiosk) and a matter's ``recording`` field in the
catalog (calls to that matter's category: the caller picks the category, the matter is
settled inside the call, after consent). The most demanding of the three wins, in the
order ``none < consent < consent_or_callback``, so no place can weaken another's demand.
Pure: no I/O, the hub passes the three values in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class RecordingPolicy(StrEnum):
    """What a place demands; members in increasing demand."""

    #: no recording, no consent prompt
    NONE = "none"
    #: ask for consent; with it the call is recorded, without it the call goes on unrecorded
    CONSENT = "consent"
    #: ask for consent; without it no live call: the caller is offered a callback instead
    CONSENT_OR_CALLBACK = "consent_or_callback"

    @property
    def demand(self) -> int:
        return _ORDER.index(self)


_ORDER = (RecordingPolicy.NONE, RecordingPolicy.CONSENT, RecordingPolicy.CONSENT_OR_CALLBACK)


class Consent(StrEnum):
    """The caller's answer to the consent prompt, as stored on the call record."""

    #: the caller agreed: the call is recorded
    GRANTED = "granted"
    #: the caller declined
    REFUSED = "refused"


@dataclass(frozen=True)
class RecordingDecision:
    """The policy that applies to one call and which places asked for it."""

    policy: RecordingPolicy
    #: the places whose demand equals the policy ("setting", "kiosk", "matter:<code>")
    sources: tuple[str, ...]

    @property
    def asks_consent(self) -> bool:
        return self.policy is not RecordingPolicy.NONE

    @property
    def on_refusal(self) -> str:
        """``continue`` (unrecorded) or ``callback``; meaningless when nothing is asked."""
        return "callback" if self.policy is RecordingPolicy.CONSENT_OR_CALLBACK else "continue"


def decide(setting: RecordingPolicy, kiosk: RecordingPolicy | None,
           matters: Iterable[tuple[str, RecordingPolicy]]) -> RecordingDecision:
    """The most demanding policy among the server setting, the kiosk's (None: not a kiosk
    call, or the kiosk has none) and those of the matters of the category called."""
    places: list[tuple[str, RecordingPolicy]] = [("setting", setting)]
    if kiosk is not None:
        places.append(("kiosk", kiosk))
    places.extend((f"matter:{code}", policy) for code, policy in matters)
    strongest = max((policy for _, policy in places), key=lambda policy: policy.demand)
    sources = tuple(place for place, policy in places
                    if policy is strongest and strongest is not RecordingPolicy.NONE)
    return RecordingDecision(strongest, sources)
