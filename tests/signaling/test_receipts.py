"""The receipt of an approved case: its signed code, its PDF (Chinese text extractable, a QR
code that decodes to the verify URL), and the routes that serve it to the phone on the case."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
import zxingcpp
from fontTools import subset  # type: ignore[import-untyped]
from fontTools.ttLib import TTCollection  # type: ignore[import-untyped]

from signaling.matters.cases import Case
from signaling.receipts import (
    DepartmentDecision,
    ReceiptContent,
    ReceiptFontError,
    check_receipt_code,
    issue,
    load_receipt_font,
    mask_name,
    mask_phone,
    receipt_code,
    receipt_pdf,
)
from signaling.settings import Settings
from signaling.store.case_repositories import CaseRepository
from signaling.tokens import sign
from signaling.web.app import redact_secrets
from tests.conftest import StartServer

SECRET = b"k" * 32
NUMBER = "HY-20261130-000123"
PHONE = "13812345678"
#: 2026-11-30 10:00 China time
ISSUED = 1796004000.0
FONT = Settings().receipt_font


async def store_case(hub: Any, number: str = NUMBER, phone: str = PHONE,
                     approved: bool = True, now: float = ISSUED - 3600) -> Case:
    """A case of water transfer + gas transfer, stored as the case side stores it; unless
    ``approved`` is False, both departments approve through the case side, which issues
    the receipt when the last one does."""
    case, _ = Case.open(number, f"call-{number}", phone, "default", now)
    case.add_submission("sub-water", "water-transfer", ["water-company"], now + 86400, now)
    case.add_submission("sub-gas", "gas-transfer", ["gas-company"], now + 86400, now)
    repository = CaseRepository(hub.db)
    await repository.insert(case)
    await repository.save(case, now=now)
    if approved:
        for minutes, task in enumerate(case.tasks, start=1):
            await hub.case_side.decide(task.id, "approve", f"reviewer-{task.department}",
                                       None, now + 60 * minutes, "inbox")
    stored = await repository.get(number)
    assert stored is not None
    assert (stored.receipt_code is not None) == approved
    return stored


# --- the code ------------------------------------------------------------------------------


def test_code_round_trip_is_short_url_safe_and_names_case_and_time() -> None:
    code = receipt_code(SECRET, NUMBER, ISSUED)
    assert len(code) <= 40
    assert set(code) <= set(string.ascii_letters + string.digits + "-_")
    assert check_receipt_code(SECRET, code) == (NUMBER, ISSUED)
    longest = receipt_code(SECRET, "ABCDEFGH-20991231-999999", 4_000_000_000)
    assert len(longest) <= 40
    assert check_receipt_code(SECRET, longest) == ("ABCDEFGH-20991231-999999", 4e9)


def _altered(code: str) -> list[str]:
    """Every one-character change of ``code`` to another code character."""
    alphabet = string.ascii_letters + string.digits + "-_"
    return [code[:i] + alphabet[(alphabet.index(c) + 1) % len(alphabet)] + code[i + 1:]
            for i, c in enumerate(code)]


def test_any_altered_truncated_extended_or_foreign_code_is_refused() -> None:
    code = receipt_code(SECRET, NUMBER, ISSUED)
    refused = {
        "other secret": receipt_code(b"another key", NUMBER, ISSUED),
        "truncated by one": code[:-1],
        "truncated by half": code[: len(code) // 2],
        "first character dropped": code[1:],
        "one character more": code + "A",
        "padded": code + "=",
        "upper-cased": code.upper(),
        "empty": "",
        "not base64": code[:-1] + "!",
        "another signed token of ours": sign(SECRET, "receipt", NUMBER, ISSUED, 60),
        "very long": "A" * 4000,
    }
    refused.update({f"character {i} changed": c for i, c in enumerate(_altered(code))})
    for what, forged in refused.items():
        if forged == code:
            continue
        assert check_receipt_code(SECRET, forged) is None, what


def test_only_case_numbers_get_codes() -> None:
    for bad in ("", "HY-2026-1", "hy-20261130-000123", "TOOLONGPREFIX-20261130-000123",
                "HY-20261131-000123", "HY-20261130-1234567"):
        with pytest.raises(ValueError):
            receipt_code(SECRET, bad, ISSUED)


def test_issue_gives_a_code_for_the_case_and_its_pdf_route() -> None:
    class Hub:
        secret = SECRET

    case, _ = Case.open(NUMBER, "call-1", PHONE, "default", ISSUED)
    issued = issue(Hub(), case, now=ISSUED)
    assert check_receipt_code(SECRET, issued["code"]) == (NUMBER, ISSUED)
    assert issued["url"] == f"/api/cases/{NUMBER}/receipt.pdf?code={issued['code']}"


def test_masks_keep_enough_to_recognise_ones_own() -> None:
    assert mask_phone(PHONE) == "138****5678"
    assert mask_name("张三丰") == "张*丰"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳娜娜") == "欧**娜"


# --- the font ------------------------------------------------------------------------------


def test_the_default_font_is_the_simplified_chinese_face_of_noto_cjk() -> None:
    font = load_receipt_font(FONT)
    assert font.path == FONT
    assert font.face == 2  # JP, KR, SC, TC, HK: Simplified Chinese glyph shapes


def test_a_missing_or_unusable_font_is_explained_plainly(tmp_path: Path) -> None:
    with pytest.raises(ReceiptFontError, match="fonts-noto-cjk"):
        load_receipt_font(tmp_path / "missing.ttc")
    (tmp_path / "not-a-font.ttf").write_text("hello")
    with pytest.raises(ReceiptFontError, match="cannot be used"):
        load_receipt_font(tmp_path / "not-a-font.ttf")
    latin = TTCollection(str(FONT)).fonts[2]
    subsetter = subset.Subsetter()
    subsetter.populate(text="Receipt")
    subsetter.subset(latin)
    latin.save(str(tmp_path / "latin.otf"))
    with pytest.raises(ReceiptFontError, match="has no Chinese characters"):
        load_receipt_font(tmp_path / "latin.otf")


async def test_without_a_cjk_font_the_server_runs_and_only_the_pdf_is_refused(
        start_server: StartServer, tmp_path: Path) -> None:
    """A fresh machine without fonts-noto-cjk still runs the README's server: the receipt
    page and /verify work, the PDF route says what is missing."""
    server = await start_server(receipt_font=tmp_path / "missing.ttc")
    case = await store_case(server.hub)
    async with httpx.AsyncClient() as client:
        pdf = await client.get(f"{server.http}/api/cases/{NUMBER}/receipt.pdf",
                               params={"phone": PHONE})
        page = await client.get(f"{server.http}/verify/{case.receipt_code}")
    assert (pdf.status_code, pdf.json()["code"]) == (503, "receipt_font_missing")
    assert page.status_code == 200 and NUMBER in page.text


# --- the PDF -------------------------------------------------------------------------------


def _content() -> ReceiptContent:
    return ReceiptContent(
        case_number=NUMBER, issued_at=ISSUED, matters=("供水过户", "燃气过户"),
        decisions=(DepartmentDecision("海盐县水务集团", ("供水过户",), ISSUED - 120),
                   DepartmentDecision("海盐县燃气公司", ("燃气过户",), ISSUED - 60)),
        agent="王芳", caller_name="张三丰", caller_phone=PHONE)


def _pdf_text_and_qr(data: bytes) -> tuple[str, list[str]]:
    document = pdfium.PdfDocument(data)
    try:
        page = document[0]
        text = page.get_textpage().get_text_range()
        image = page.render(scale=3).to_pil()
    finally:
        document.close()
    return text, [result.text for result in zxingcpp.read_barcodes(image)]


def test_pdf_has_extractable_chinese_the_number_and_a_qr_code_to_the_verify_url() -> None:
    code = receipt_code(SECRET, NUMBER, ISSUED)
    url = f"https://ca.haiyan.gov.cn/verify/{code}"
    data = receipt_pdf(_content(), code, url, load_receipt_font(FONT))
    assert data.startswith(b"%PDF-")
    text, codes = _pdf_text_and_qr(data)
    for expected in ("一次办结回执", "Receipt", NUMBER, "供水过户", "燃气过户", "海盐县水务集团",
                     "海盐县燃气公司", "已同意", "2026-11-30 10:00", "张*丰", "138****5678",
                     "王芳", code):
        assert expected in text, expected
    assert PHONE not in text and "张三丰" not in text
    assert codes == [url]
    document = pdfium.PdfDocument(data)
    width, height = document[0].get_size()
    document.close()
    assert (round(width), round(height)) == (595, 842)  # A4 in points


# --- the routes ----------------------------------------------------------------------------


async def test_pdf_route_serves_the_receipt_to_the_phone_on_the_case_only(
        start_server: StartServer) -> None:
    server = await start_server()
    case = await store_case(server.hub)
    route = f"{server.http}/api/cases/{NUMBER}/receipt.pdf"
    async with httpx.AsyncClient() as client:
        good = await client.get(route, params={"phone": PHONE})
        wrong = await client.get(route, params={"phone": "13900000000"})
        unknown = await client.get(f"{server.http}/api/cases/HY-20261130-000999/receipt.pdf",
                                   params={"phone": PHONE})
    assert good.status_code == 200
    assert good.headers["content-type"] == "application/pdf"
    text, codes = _pdf_text_and_qr(good.content)
    assert NUMBER in text and "供水过户" in text and "燃气过户" in text
    assert codes == [f"{server.http}/verify/{case.receipt_code}"]
    assert (wrong.status_code, wrong.content) == (unknown.status_code, unknown.content)
    assert wrong.status_code == 404


async def test_the_receipt_code_opens_its_own_receipt_and_no_other(
        start_server: StartServer) -> None:
    """The caller's page and the agent's resend link carry the code, not the phone; the
    QR code names the centre's public address."""
    server = await start_server(public_base_url="https://ca.haiyan.gov.cn")
    case = await store_case(server.hub)
    other = await store_case(server.hub, number="HY-20261130-000124")
    assert case.receipt_code is not None and other.receipt_code is not None
    route = f"{server.http}/api/cases/{NUMBER}/receipt.pdf"
    async with httpx.AsyncClient() as client:
        own = await client.get(route, params={"code": case.receipt_code})
        foreign = await client.get(route, params={"code": other.receipt_code})
        tampered = await client.get(route, params={"code": _altered(case.receipt_code)[3]})
        page = await client.get(f"{server.http}/case/{NUMBER}/receipt",
                                params={"code": case.receipt_code})
    assert own.status_code == 200
    text, codes = _pdf_text_and_qr(own.content)
    assert NUMBER in text
    assert codes == [f"https://ca.haiyan.gov.cn/verify/{case.receipt_code}"]
    assert foreign.status_code == tampered.status_code == 404
    assert page.status_code == 200
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    for expected in (NUMBER, "供水过户", "燃气过户", "海盐县水务集团", "138****5678",
                     case.receipt_code, f"https://ca.haiyan.gov.cn/verify/{case.receipt_code}"):
        assert expected in page.text, expected
    assert PHONE not in page.text


async def test_the_receipt_of_an_open_case_does_not_exist_yet(
        start_server: StartServer) -> None:
    server = await start_server()
    await store_case(server.hub, approved=False)
    async with httpx.AsyncClient() as client:
        pdf = await client.get(f"{server.http}/api/cases/{NUMBER}/receipt.pdf",
                               params={"phone": PHONE})
        page = await client.get(f"{server.http}/case/{NUMBER}/receipt",
                                params={"phone": PHONE})
    assert pdf.status_code == page.status_code == 404


async def test_verify_says_genuine_only_for_a_signed_code_of_an_approved_case(
        start_server: StartServer) -> None:
    server = await start_server()
    case = await store_case(server.hub)
    await store_case(server.hub, number="HY-20261130-000124", approved=False)
    assert case.receipt_code is not None
    secret = server.hub.secret
    codes = {
        "genuine": (case.receipt_code, 200),
        "tampered": (_altered(case.receipt_code)[5], 404),
        "unknown case": (receipt_code(secret, "HY-20261130-000999", ISSUED), 404),
        "open case": (receipt_code(secret, "HY-20261130-000124", ISSUED), 404),
        "other key": (receipt_code(b"x" * 32, NUMBER, ISSUED), 404),
    }
    async with httpx.AsyncClient() as client:
        for what, (code, status) in codes.items():
            response = await client.get(f"{server.http}/verify/{code}")
            assert response.status_code == status, what
            genuine = "回执真实有效" in response.text
            assert genuine == (status == 200), what
            assert ("未能验证：此回执不是本中心签发，或已被改动" in response.text) != genuine, what
            assert "script-src 'none'" in response.headers["content-security-policy"]
    async with httpx.AsyncClient() as client:
        page = (await client.get(f"{server.http}/verify/{case.receipt_code}")).text
    assert NUMBER in page and "供水过户" in page and "燃气过户" in page and "2026-11-30" in page


async def _lookup(client: httpx.AsyncClient, base: str, number: str,
                  phone: str) -> httpx.Response:
    return await client.post(f"{base}/case", data={"number": number, "phone": phone})


async def test_case_lookup_shows_states_only_and_a_wrong_phone_looks_like_an_unknown_case(
        start_server: StartServer) -> None:
    server = await start_server()
    await store_case(server.hub)
    async with httpx.AsyncClient() as client:
        good = await _lookup(client, server.http, NUMBER, PHONE)
        wrong = await _lookup(client, server.http, NUMBER, "13900000000")
        unknown = await _lookup(client, server.http, "HY-20261130-000999", PHONE)
    assert good.status_code == 200
    for expected in ("已办结", "海盐县水务集团", "海盐县燃气公司", "已同意", "2026-11-30"):
        assert expected in good.text, expected
    # States and times only: no matters, no phone.
    assert "供水过户" not in good.text and PHONE not in good.text.replace(
        f"phone={PHONE}", "")
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.text.replace(NUMBER, "N") == unknown.text.replace("HY-20261130-000999", "N")


async def test_case_lookups_are_limited_to_twenty_a_minute_per_address(
        start_server: StartServer) -> None:
    server = await start_server()
    await store_case(server.hub)
    async with httpx.AsyncClient() as client:
        answers = [(await _lookup(client, server.http, NUMBER, f"139000000{i:02d}")).status_code
                   for i in range(20)]
        refused = await _lookup(client, server.http, NUMBER, PHONE)
        pdf = await client.get(f"{server.http}/api/cases/{NUMBER}/receipt.pdf",
                               params={"phone": PHONE})
    assert answers == [404] * 20
    assert refused.status_code == 429 and "查询过于频繁" in refused.text
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert pdf.status_code == 429


def test_phone_numbers_in_request_lines_are_redacted_from_logs() -> None:
    line = f"GET /case/{NUMBER}/receipt?phone={PHONE} HTTP/1.1"
    assert redact_secrets(line) == f"GET /case/{NUMBER}/receipt?phone=*** HTTP/1.1"


async def test_every_way_to_look_a_case_up_shares_one_allowance(
        start_server: StartServer) -> None:
    server = await start_server(case_lookups_per_minute=3)
    await store_case(server.hub)
    async with httpx.AsyncClient() as client:
        pages = [await client.post(f"{server.http}/case",
                                   data={"number": NUMBER, "phone": PHONE}) for _ in range(2)]
        api = await client.get(f"{server.http}/api/cases/{NUMBER}", params={"phone": PHONE})
        over = await client.get(f"{server.http}/api/cases/{NUMBER}", params={"phone": PHONE})
    assert [p.status_code for p in pages] == [200, 200] and api.status_code == 200
    assert (over.status_code, over.json()["code"]) == (429, "too_many_lookups")
