"""The recording policy: the most demanding of setting, kiosk and matter wins; the catalog
field is validated by the catalog's JSON Schema."""

from __future__ import annotations

import pytest

from signaling.live.recording_policy import RecordingPolicy, decide
from signaling.matters import SHIPPED_CATALOG
from signaling.matters.catalog import CatalogError, load_catalog_files

NONE, CONSENT, CALLBACK = (RecordingPolicy.NONE, RecordingPolicy.CONSENT,
                           RecordingPolicy.CONSENT_OR_CALLBACK)


def test_nothing_demanded_asks_nothing() -> None:
    decision = decide(NONE, None, [])
    assert (decision.policy, decision.asks_consent, decision.sources) == (NONE, False, ())


@pytest.mark.parametrize(("setting", "kiosk", "matters", "policy", "sources"), [
    (CONSENT, None, [], CONSENT, ("setting",)),
    (NONE, CONSENT, [], CONSENT, ("kiosk",)),
    (NONE, NONE, [("gas-new", CONSENT)], CONSENT, ("matter:gas-new",)),
    # a weaker place never lowers a stronger one, in any position
    (CALLBACK, NONE, [("gas-new", CONSENT)], CALLBACK, ("setting",)),
    (CONSENT, CALLBACK, [], CALLBACK, ("kiosk",)),
    (NONE, CONSENT, [("a", NONE), ("b", CALLBACK)], CALLBACK, ("matter:b",)),
    (CONSENT, CONSENT, [("a", CONSENT)], CONSENT, ("setting", "kiosk", "matter:a")),
])
def test_the_most_demanding_place_wins(setting: RecordingPolicy, kiosk: RecordingPolicy | None,
                                       matters: list[tuple[str, RecordingPolicy]],
                                       policy: RecordingPolicy,
                                       sources: tuple[str, ...]) -> None:
    decision = decide(setting, kiosk, matters)
    assert (decision.policy, decision.sources) == (policy, sources)
    assert decision.on_refusal == ("callback" if policy is CALLBACK else "continue")


def _catalog_with(line: str) -> dict[str, str]:
    files = {path.name: path.read_text(encoding="utf-8")
             for path in sorted(SHIPPED_CATALOG.glob("*.toml"))}
    files["water.toml"] = files["water.toml"].replace(
        'code = "water-transfer"\n', f'code = "water-transfer"\n{line}\n', 1)
    return files


def test_a_matter_may_demand_recording_in_the_catalog() -> None:
    catalog = load_catalog_files(_catalog_with('recording = "consent_or_callback"'))
    assert catalog.matters["water-transfer"].recording == "consent_or_callback"
    assert load_catalog_files(_catalog_with("")).matters["water-transfer"].recording == "none"


def test_an_unknown_recording_value_is_refused_by_the_schema() -> None:
    with pytest.raises(CatalogError, match="recording"):
        load_catalog_files(_catalog_with('recording = "always"'))
