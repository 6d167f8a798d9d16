"""Pages for anyone holding a case number or a receipt: ``/verify/<code>`` (is this receipt
genuine?), ``/case`` (the state of a case, for its number and the phone number on it), the
receipt itself as HTML (``/case/<number>/receipt``, printed by the kiosk) and as a PDF
(``/api/cases/<number>/receipt.pdf``), for the phone number on the case (``?phone=``) or
the receipt's code (``?code=``).

No script runs on these pages. A look-up shows the case's state and each department's state
and time, nothing else; a wrong phone number gets exactly the answer an unknown case number
gets, and each address may look up ``case_lookups_per_minute`` times a minute.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ..live.shared_limits import SharedLookupLimit
from ..matters.cases import Case, CaseState, Task, TaskState
from ..matters.catalog import Catalog
from ..matters.render import qr_svg
from ..matters.tickets import Ticket, TicketError, parse_ticket_number
from ..receipts import (
    DepartmentDecision,
    ReceiptContent,
    ReceiptFont,
    ReceiptFontError,
    check_receipt_code,
    china_time,
    load_receipt_font,
    mask_phone,
    receipt_code,
    receipt_pdf,
    receipt_pdf_path,
    verify_path,
)
from ..store import AccountRepository, CallRepository
from ..store.case_repositories import CaseRepository
from ..store.ticket_repositories import TicketRepository
from .api import ApiError

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))

#: like the start page: no script, no camera; forms post to this origin only
CSP = ("default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors {ancestors}")
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

#: an 11-digit mainland mobile number
PHONE = re.compile(r"^1[0-9]{10}$")
#: the longest look-up form body read
MAX_FORM_BYTES = 1024

TASK_STATE_TEXT = {
    TaskState.PENDING: ("审批中", "Being reviewed"),
    TaskState.CORRECTION: ("需补正材料", "Correction needed"),
    TaskState.APPROVED: ("已同意", "Approved"),
    TaskState.REJECTED: ("未通过", "Not approved"),
}
CASE_STATE_TEXT = {
    CaseState.OPEN: ("办理中", "In progress"),
    CaseState.APPROVED: ("已办结", "Completed: all approved"),
    CaseState.REJECTED: ("未通过", "Not approved"),
}
#: a ticket's kind and state in words (``signaling.matters.tickets``)
TICKET_KIND_TEXT = {"matter": ("事项", "Matter"), "complaint": ("投诉", "Complaint"),
                    "inquiry": ("咨询", "Inquiry"), "assistance": ("求助", "Assistance"),
                    "suggestion": ("建议", "Suggestion")}
TICKET_STATE_TEXT = {"open": ("已受理", "Received"), "in_progress": ("处理中", "In progress"),
                     "resolved": ("已办结", "Resolved"), "closed": ("已关闭", "Closed")}


async def ticket_for_phone(request: Request, number: str, phone: str) -> Ticket | None:
    """The ticket numbered ``number`` if ``phone`` is the phone on it, else None."""
    try:
        parse_ticket_number(number)
    except TicketError:
        return None
    ticket = await TicketRepository(request.app.state.hub.db).get(number)
    if ticket is None or not ticket.phone or not hmac.compare_digest(
            ticket.phone.encode(), phone.encode()):
        return None
    return ticket


def ticket_result(ticket: Ticket) -> dict[str, str]:
    """A ticket on the status page: kind, state, due and last update; nothing else."""
    kind_zh, kind_en = TICKET_KIND_TEXT[ticket.kind.value]
    state_zh, state_en = TICKET_STATE_TEXT[ticket.state.value]
    return {"kind_zh": kind_zh, "kind_en": kind_en, "state_zh": state_zh,
            "state_en": state_en, "due": china_time(ticket.due_at),
            "updated": china_time(ticket.updated_at)}


@dataclass(frozen=True)
class TaskLine:
    """One department's line on the status page and the receipt."""

    department_zh: str
    department_en: str
    matters_zh: tuple[str, ...]
    state_zh: str
    state_en: str
    approved: bool
    time: str


def _catalog(request: Request) -> Catalog:
    """The catalog the hub runs with (matter titles, department names)."""
    catalog: Catalog = request.app.state.hub.matter_side.forms.catalog
    return catalog


def _matter_title(catalog: Catalog, code: str) -> tuple[str, str]:
    matter = catalog.matters.get(code)
    return (matter.title_zh, matter.title_en) if matter else (code, code)


def _matters(catalog: Catalog, case: Case) -> list[tuple[str, str]]:
    codes = dict.fromkeys(code for task in case.tasks for code in task.matters)
    return [_matter_title(catalog, code) for code in codes]


def _task_line(catalog: Catalog, task: Task) -> TaskLine:
    department = catalog.departments.get(task.department)
    zh, en = (department.name.zh, department.name.en) if department else (task.department,) * 2
    state_zh, state_en = TASK_STATE_TEXT[task.state]
    when = task.decided_at if task.decided_at is not None else task.created_at
    return TaskLine(zh, en, tuple(_matter_title(catalog, m)[0] for m in task.matters),
                    state_zh, state_en, task.state is TaskState.APPROVED, china_time(when))


def _headers(response: Response, ancestors: str = "'none'") -> Response:
    response.headers.update(PAGE_HEADERS)
    response.headers["Content-Security-Policy"] = CSP.format(ancestors=ancestors)
    return response


def _page(request: Request, template: str, status: int = 200, ancestors: str = "'none'",
          **context: Any) -> Response:
    response = TEMPLATES.TemplateResponse(request, template, context, status_code=status)
    return _headers(response, ancestors)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def base_url(request: Request) -> str:
    """The centre's address for links printed on paper: ``public_base_url`` or this request's."""
    configured: str | None = request.app.state.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


async def case_for_phone(request: Request, number: str, phone: str) -> Case | None:
    """The case numbered ``number`` if ``phone`` is the phone on it; None for an unknown
    number and a wrong phone alike."""
    phone = re.sub(r"[\s-]", "", phone)
    if not PHONE.match(phone) or len(number) > 40:
        return None
    case = await CaseRepository(request.app.state.hub.db).get(number.strip().upper())
    if case is None or not hmac.compare_digest(case.phone.encode(), phone.encode()):
        return None
    return case


async def case_for_asker(request: Request, number: str, phone: str, code: str) -> Case | None:
    """The case for someone holding its number and either the phone on it or its receipt
    code (the caller's page gets the code in ``case_updated``; the paper shows it too)."""
    if not code:
        return await case_for_phone(request, number, phone)
    claim = check_receipt_code(request.app.state.hub.secret, code)
    if claim is None or claim.case_number != number:
        return None
    return await CaseRepository(request.app.state.hub.db).get(number)


def _approved_code(request: Request, case: Case) -> str | None:
    """The receipt code of an approved case: the one stored by the case side, else the one
    its closing time gives (the same every time)."""
    if case.state is not CaseState.APPROVED:
        return None
    if case.receipt_code:
        return case.receipt_code
    issued = case.closed_at if case.closed_at is not None else case.created_at
    return receipt_code(request.app.state.hub.secret, case.number, issued)


async def receipt_content(request: Request, case: Case, issued_at: float) -> ReceiptContent:
    """What the receipt of an approved ``case`` says (matter titles and department names
    from the catalog, the agent from the call record)."""
    hub = request.app.state.hub
    catalog = _catalog(request)
    agent = None
    record = await CallRepository(hub.db).get(case.call_id)
    if record is not None and record.agent_id:
        account = await AccountRepository(hub.db).get(record.agent_id)
        agent = account.display_name if account else record.agent_id
    decisions = []
    for task in case.tasks:
        line = _task_line(catalog, task)
        decisions.append(DepartmentDecision(line.department_zh, line.matters_zh,
                                            task.decided_at or issued_at))
    return ReceiptContent(case_number=case.number, issued_at=issued_at,
                          matters=tuple(zh for zh, _ in _matters(catalog, case)),
                          decisions=tuple(decisions), agent=agent, caller_phone=case.phone)


async def render_receipt_pdf(request: Request, case: Case) -> bytes | None:
    """The PDF receipt of an approved ``case`` (None if it is not approved), for any route
    that has decided the asker may have it."""
    code = _approved_code(request, case)
    if code is None:
        return None
    claim = check_receipt_code(request.app.state.hub.secret, code)
    issued = claim.issued_at if claim else (case.closed_at or case.created_at)
    content = await receipt_content(request, case, issued)
    font: ReceiptFont | None = request.app.state.receipt_font
    if font is None:
        raise ApiError(503, "receipt_font_missing", "this server has no CJK font for PDF "
                       "receipts (install fonts-noto-cjk or set receipt_font); the printable "
                       "receipt page works without it")
    url = base_url(request) + verify_path(code)
    return await asyncio.to_thread(receipt_pdf, content, code, url, font)


def mount(app: FastAPI) -> None:
    """Add the pages to ``app``. Without a usable CJK font (the ``receipt_font`` setting) the
    server still starts on embedded defaults: it says so once, the printable receipt page
    and ``/verify`` work, and the PDF route answers 503 ``receipt_font_missing``."""
    settings = app.state.settings
    try:
        app.state.receipt_font = load_receipt_font(Path(settings.receipt_font))
    except ReceiptFontError as error:
        log.warning("PDF receipts are off: %s", error)
        app.state.receipt_font = None
    # One allowance per address for every way to look a case up (these pages, the PDF and
    # GET /api/cases/{number}).
    # Counted in Redis in a cluster, so every node sees the same allowance.
    limit = app.state.case_lookup_limit = SharedLookupLimit(settings)

    async def limited(request: Request) -> Response | None:
        wait = await limit.allow(_address(request), time.monotonic())
        if not wait:
            return None
        response = _page(request, "case_lookup.html", status=429, limited=True,
                         number="", result=None)
        response.headers["Retry-After"] = str(max(1, round(wait)))
        return response

    @app.get("/verify/{code}", response_class=HTMLResponse, include_in_schema=False)
    async def verify_page(request: Request, code: str) -> Response:
        claim = check_receipt_code(request.app.state.hub.secret, code)
        case = None
        if claim is not None:
            case = await CaseRepository(request.app.state.hub.db).get(claim.case_number)
        if claim is None or case is None or case.state is not CaseState.APPROVED:
            return _page(request, "verify.html", status=404, genuine=False)
        return _page(request, "verify.html", genuine=True, number=case.number,
                     matters=_matters(_catalog(request), case),
                     issued=china_time(claim.issued_at, with_time=False))

    @app.get("/case", response_class=HTMLResponse, include_in_schema=False)
    async def lookup_form(request: Request) -> Response:
        return _page(request, "case_lookup.html", number="", result=None, limited=False)

    @app.post("/case", response_class=HTMLResponse, include_in_schema=False)
    async def lookup(request: Request) -> Response:
        refused = await limited(request)
        if refused is not None:
            return refused
        body = await request.body()
        form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", errors="replace"))
        number = (form.get("number") or [""])[0].strip()[:40]
        phone = (form.get("phone") or [""])[0].strip()[:20]
        ticket = await ticket_for_phone(request, number.upper(), phone)
        if ticket is not None:
            return _page(request, "case_lookup.html", number=ticket.number, limited=False,
                         result=None, ticket=ticket_result(ticket))
        case = await case_for_phone(request, number, phone)
        if case is None:
            return _page(request, "case_lookup.html", status=404, number=number,
                         result=None, not_found=True, limited=False)
        catalog = _catalog(request)
        state_zh, state_en = CASE_STATE_TEXT[case.state]
        receipt = None
        if case.state is CaseState.APPROVED:
            receipt = f"/case/{case.number}/receipt?code={_approved_code(request, case)}"
        return _page(request, "case_lookup.html", number=case.number, limited=False,
                     result={"state_zh": state_zh, "state_en": state_en,
                             "approved": case.state is CaseState.APPROVED,
                             "tasks": [_task_line(catalog, t) for t in case.tasks],
                             "receipt": receipt})

    @app.get("/case/{number}/receipt", response_class=HTMLResponse, include_in_schema=False)
    async def receipt_page(request: Request, number: str, phone: str = "",
                           code: str = "") -> Response:
        refused = await limited(request)
        if refused is not None:
            return refused
        case = await case_for_asker(request, number, phone, code)
        issued_code = None if case is None else _approved_code(request, case)
        if case is None or issued_code is None:
            return _page(request, "case_lookup.html", status=404, number=number,
                         result=None, not_found=True, limited=False)
        code = issued_code
        claim = check_receipt_code(request.app.state.hub.secret, code)
        issued = claim.issued_at if claim else (case.closed_at or case.created_at)
        content = await receipt_content(request, case, issued)
        url = base_url(request) + verify_path(code)
        # The kiosk prints this page from a frame of its own origin.
        return _page(request, "receipt.html", ancestors="'self'", receipt=content,
                     code=code, verify_url=url, qr=qr_svg(url, title="核验二维码 QR code"),
                     issued=china_time(content.issued_at), phone=mask_phone(case.phone),
                     tasks=[_task_line(_catalog(request), t) for t in case.tasks],
                     pdf=f"{receipt_pdf_path(case.number)}?code={code}")

    @app.get("/api/cases/{number}/receipt.pdf", include_in_schema=False)
    async def receipt_pdf_route(request: Request, number: str, phone: str = "",
                                code: str = "") -> Response:
        refused = await limited(request)
        if refused is not None:
            return refused
        case = await case_for_asker(request, number, phone, code)
        data = None if case is None else await render_receipt_pdf(request, case)
        if case is None or data is None:
            return _headers(Response(
                '{"type":"error","code":"case_not_found","message":"no such case with '
                'this phone number, or it has no receipt yet"}', status_code=404,
                media_type="application/json"))
        response = Response(data, media_type="application/pdf", headers={
            "Content-Disposition": f'inline; filename="receipt-{case.number}.pdf"'})
        return _headers(response)

    app.mount("/static/receipts", StaticFiles(directory=str(HERE / "static")),
              name="static-receipts")
