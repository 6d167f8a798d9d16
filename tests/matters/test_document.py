"""The session document's rules, fed ops directly (no server), against the shipped catalog.

Property: whatever the interleaving of the two parties' edits and deliveries, both pages
end with the server's values (per-field versions; the loser of a race adopts the winner's
value from ``stale_version``).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from signaling.live.matter_side import CatalogForms
from signaling.matters import SHIPPED_CATALOG
from signaling.matters import document as doc
from signaling.matters.catalog import load_catalog

FORMS = CatalogForms(load_catalog(SHIPPED_CATALOG))
NOW = 1_796_000_000.0
AGENT, CALLER = doc.Party.AGENT, doc.Party.CALLER
ID_NUMBER = "330424199001011239"  # checked below: a valid GB 11643 number


def fields_of(matter: str, **where: Any) -> list[str]:
    form = FORMS.form(matter)
    assert form is not None
    return [name for name in form["ui"]["order"]
            if all(form["ui"]["fields"][name].get(k) == v for k, v in where.items())]


def pushed(document: doc.SessionDocument, matter: str = "water-transfer") -> str:
    [message] = document.apply(doc.PushForm(matter), AGENT, NOW, FORMS)
    assert message["type"] == "form_pushed"
    form_id: str = message["form"]["form_id"]
    return form_id


def test_the_valid_id_number_of_these_tests_is_valid() -> None:
    from signaling.matters.validators import is_valid_resident_id
    assert is_valid_resident_id(ID_NUMBER)


def test_only_the_agent_pushes_and_withdraws() -> None:
    document = doc.SessionDocument("c1")
    with pytest.raises(doc.DocumentError) as refused:
        document.apply(doc.PushForm("water-transfer"), CALLER, NOW, FORMS)
    assert refused.value.code == "forbidden"
    with pytest.raises(doc.DocumentError) as unknown:
        document.apply(doc.PushForm("teleport"), AGENT, NOW, FORMS)
    assert unknown.value.code == "unknown_matter"
    form_id = pushed(document)
    with pytest.raises(doc.DocumentError):
        document.apply(doc.WithdrawForm(form_id), CALLER, NOW, FORMS)
    [withdrawn] = document.apply(doc.WithdrawForm(form_id), AGENT, NOW, FORMS)
    assert withdrawn["type"] == "form_withdrawn" and document.revision == 2


def test_the_caller_edits_only_caller_fields_and_only_the_caller_signs() -> None:
    document = doc.SessionDocument("c1")
    form_id = pushed(document)
    agent_field = fields_of("water-transfer", caller=False)[0]
    with pytest.raises(doc.DocumentError) as locked:
        document.apply(doc.EditField(form_id, agent_field, "x", 0), CALLER, NOW, FORMS)
    assert locked.value.code == "field_locked"
    [signature] = fields_of("water-transfer", type="signature")
    with pytest.raises(doc.DocumentError) as forged:
        document.apply(doc.EditField(form_id, signature, None, 0), AGENT, NOW, FORMS)
    assert forged.value.code == "field_locked"
    with pytest.raises(doc.DocumentError) as missing:
        document.apply(doc.EditField(form_id, "no_such_field", "x", 0), AGENT, NOW, FORMS)
    assert missing.value.code == "unknown_field"
    assert document.revision == 1  # refused ops changed nothing


def test_a_stale_edit_loses_and_learns_the_winner() -> None:
    document = doc.SessionDocument("c1")
    form_id = pushed(document)
    name = fields_of("water-transfer", caller=True, type="text")[0] if fields_of(
        "water-transfer", caller=True, type="text") else fields_of("water-transfer",
                                                                  caller=False)[0]
    [first] = document.apply(doc.EditField(form_id, name, "1234", 0), AGENT, NOW, FORMS)
    assert (first["value"], first["version"], first["by"]) == ("1234", 1, "agent")
    with pytest.raises(doc.DocumentError) as stale:
        document.apply(doc.EditField(form_id, name, "9999", 0), AGENT, NOW, FORMS)
    assert stale.value.code == "stale_version"
    assert (stale.value.fields["value"], stale.value.fields["version"]) == ("1234", 1)


def test_identity_once_prefills_every_form_and_never_overwrites_typing() -> None:
    document = doc.SessionDocument("c1")
    first = pushed(document, "water-transfer")
    prefilled = fields_of("water-transfer", prefill="identity.name")
    assert prefilled, "the water transfer form takes the holder's name from the ID card"
    messages = document.apply(doc.SetIdentity("张三", ID_NUMBER, "reader", "海盐县武原街道"),
                              CALLER, NOW, FORMS)
    assert messages[0]["type"] == "identity_set"
    changed = {(m["form_id"], m["field"]) for m in messages if m["type"] == "field_changed"}
    assert (first, prefilled[0]) in changed
    assert document.form(first).filled_by[prefilled[0]] == "prefill"
    # A form pushed later is prefilled at once.
    second = pushed(document, "electricity-transfer")
    later = document.form(second)
    assert later.values.get(fields_of("electricity-transfer", prefill="identity.name")[0]) \
        == "张三"
    with pytest.raises(doc.DocumentError) as bad:
        document.apply(doc.SetIdentity("张三", "330424199001011237", "agent"), AGENT, NOW,
                       FORMS)
    assert bad.value.code == "invalid_identity"
    with pytest.raises(doc.DocumentError):  # a caller's identity comes from the reader
        document.apply(doc.SetIdentity("李四", ID_NUMBER, "agent"), CALLER, NOW, FORMS)


def test_a_material_collected_once_serves_every_form_that_needs_it() -> None:
    document = doc.SessionDocument("c1")
    water = pushed(document, "water-transfer")
    deed_fields = fields_of("water-transfer", type="material")
    assert deed_fields
    kind = FORMS.form("water-transfer")["ui"]["fields"][deed_fields[0]]["material"]  # type: ignore[index]
    material = {"id": "m-00112233aabbccdd", "kind": kind, "content_type": "image/jpeg",
                "size": 1000, "sha256": "ab" * 32, "source": "snapshot", "by": "agent",
                "at": NOW, "pages": 1}
    messages = document.apply(doc.AddMaterial(material), AGENT, NOW, FORMS)
    assert messages[0]["type"] == "material_added"
    assert document.form(water).values[deed_fields[0]] == material["id"]
    gas = pushed(document, "gas-transfer")
    gas_fields = [f for f in fields_of("gas-transfer", type="material")
                  if FORMS.form("gas-transfer")["ui"]["fields"][f]["material"] == kind]  # type: ignore[index]
    assert gas_fields and document.form(gas).values[gas_fields[0]] == material["id"]
    assert document.form(gas).filled_by[gas_fields[0]] == "reuse"


def test_submit_checks_in_full_then_freezes() -> None:
    document = doc.SessionDocument("c1")
    form_id = pushed(document)
    with pytest.raises(doc.DocumentError) as invalid:
        document.apply(doc.BeginSubmit(form_id), CALLER, NOW, FORMS)
    assert invalid.value.code == "form_invalid" and invalid.value.fields["errors"]
    assert document.form(form_id).state is doc.FormState.FILLING
    with pytest.raises(doc.DocumentError):
        document.apply(doc.BeginSubmit(form_id), AGENT, NOW, FORMS)  # the caller confirms


def test_a_snapshot_round_trips_and_reopens_an_unfinished_submission() -> None:
    document = doc.SessionDocument("c1")
    form_id = pushed(document)
    document.form(form_id).state = doc.FormState.SUBMITTING
    copy = doc.SessionDocument.from_snapshot(document.snapshot())
    assert copy.form(form_id).state is doc.FormState.FILLING
    assert copy.snapshot()["forms"][0]["form"] == document.snapshot()["forms"][0]["form"]
    assert copy.revision == document.revision


def test_screens_are_pushed_acknowledged_hidden_and_closed() -> None:
    document = doc.SessionDocument("c1")
    [pushed_screen] = document.apply(doc.PushScreen({"kind": "qr", "text": "https://x"}),
                                     AGENT, NOW, FORMS)
    screen_id = pushed_screen["screen"]["screen_id"]
    with pytest.raises(doc.DocumentError):
        document.apply(doc.PushScreen({"kind": "qr", "text": "x"}), CALLER, NOW, FORMS)
    for status in ("displayed", "hidden", "displayed"):
        [ack] = document.apply(doc.SetScreenStatus(screen_id, status), CALLER, NOW, FORMS)
        assert ack["status"] == status
    document.apply(doc.CloseScreen(screen_id), AGENT, NOW, FORMS)
    with pytest.raises(doc.DocumentError) as closed:
        document.apply(doc.SetScreenStatus(screen_id, "displayed"), CALLER, NOW, FORMS)
    assert closed.value.code == "unknown_screen"
    with pytest.raises(doc.DocumentError) as missing:
        document.apply(doc.PushScreen({"kind": "document", "material_id": "m-0"}), AGENT,
                       NOW, FORMS)
    assert missing.value.code == "unknown_material"


# ---------------------------------------------------------------- convergence

edits = st.lists(st.tuples(st.sampled_from([AGENT, CALLER]), st.text("0123456789", max_size=6),
                           st.booleans()), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(script=edits)
def test_both_parties_converge_for_any_interleaving(
        script: list[tuple[doc.Party, str, bool]]) -> None:
    """Each party edits a field both may edit, from its own (possibly stale) view; the
    server's messages reach each party late or at once. In the end both views equal the
    server's value and version."""
    document = doc.SessionDocument("c1")
    form_id = pushed(document)
    shared = fields_of("water-transfer", caller=True, type="text") or fields_of(
        "water-transfer", caller=True, type="number")
    assert shared, "the form has a field both parties may edit"
    name = shared[0]
    views = {AGENT: (None, 0), CALLER: (None, 0)}
    inbox: dict[doc.Party, list[dict[str, Any]]] = {AGENT: [], CALLER: []}

    def deliver(party: doc.Party) -> None:
        for message in inbox[party]:
            views[party] = (message["value"], message["version"])
        inbox[party].clear()

    for party, value, deliver_first in script:
        if deliver_first:
            deliver(party)
        try:
            messages = document.apply(doc.EditField(form_id, name, value, views[party][1]),
                                      party, NOW, FORMS)
        except doc.DocumentError as exc:
            assert exc.code == "stale_version"
            views[party] = (exc.fields["value"], exc.fields["version"])
            continue
        for message in messages:
            inbox[AGENT].append(message)
            inbox[CALLER].append(message)
    deliver(AGENT)
    deliver(CALLER)
    form = document.form(form_id)
    server = (form.values.get(name), form.versions.get(name, 0))
    assert views[AGENT] == views[CALLER] == server


def test_a_second_screen_share_closes_the_first_and_says_so() -> None:
    document = doc.SessionDocument("c1")
    [first] = document.apply(doc.PushScreen({"kind": "screen_share"}), AGENT, NOW, FORMS)
    closed, second = document.apply(doc.PushScreen({"kind": "screen_share"}), AGENT, NOW,
                                    FORMS)
    assert (closed["type"], closed["screen_id"]) == ("screen_closed",
                                                     first["screen"]["screen_id"])
    assert second["type"] == "screen_pushed"
