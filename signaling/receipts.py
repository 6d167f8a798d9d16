"""The one receipt of an approved case: its signed code, its PDF, and its issue.

A receipt code is what the QR code on the paper carries to ``/verify/<code>``: the case
number and the issue time, packed and signed with HMAC-SHA256 under the server's secret key,
so any node of the centre can tell a genuine receipt from a forged or altered one without a
database look-up of the code itself (the page still looks the case up, to show its matters).

The PDF is A4: a receipt is an official record that a business files with its papers and
prints on an ordinary office printer, and thermal roll paper fades within a year or two. The
kiosk prints the HTML view of the same receipt (``/case/<number>/receipt``), whose print
stylesheet fits A4 or an 80 mm roll alike.

Chinese text is drawn with a system CJK font (setting ``receipt_font``, Debian's
``fonts-noto-cjk`` by default) embedded as a subset, so it renders on any viewer and can be
copied or searched.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import re
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple, Protocol

import segno
from fontTools.ttLib import TTCollection, TTFont  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.fonts import FontFace

#: China Standard Time: the dates on receipts and in case numbers
CHINA_TIME = timezone(timedelta(hours=8), "CST")

#: ``<prefix>-<YYYYMMDD>-<6-digit daily sequence>``
CASE_NUMBER = re.compile(r"^([A-Z0-9]{1,8})-([0-9]{8})-([0-9]{6})$")

#: bytes of HMAC-SHA256 kept in a code: 96 bits
MAC_BYTES = 12
#: the first byte of a code's payload; a new layout takes a new version
CODE_VERSION = 1
#: version, days since 1970 of the case's date, sequence (3 bytes), issue time (uint32)
_FIXED = struct.Struct(">BH3sI")
#: the code's characters (base64url without padding)
_CODE_CHARS = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: what the MAC covers besides the payload, so no other token of ours verifies as a receipt
_DOMAIN = b"cloud-agent receipt\x00"

#: the title printed on every receipt
TITLE = "一次办结回执 / Receipt"
CENTRE = "云坐席视频服务中心 · Cloud-agent video service centre"


class ReceiptClaim(NamedTuple):
    """What a genuine code says: which case, issued when (Unix seconds)."""

    case_number: str
    issued_at: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(secret: bytes, payload: bytes) -> bytes:
    return hmac.new(secret, _DOMAIN + payload, hashlib.sha256).digest()[:MAC_BYTES]


def receipt_code(secret: bytes, case_number: str, issued_at: float) -> str:
    """A short URL-safe code (at most 40 characters) naming the case and the issue time,
    signed with ``secret``. ``ValueError`` if the case number is not of the form
    ``<prefix>-<YYYYMMDD>-<6 digits>`` (prefix: 1 to 8 capital letters or digits)."""
    match = CASE_NUMBER.match(case_number)
    if match is None:
        raise ValueError(f"not a case number: {case_number!r}")
    prefix, day, sequence = match.groups()
    days = (date(int(day[:4]), int(day[4:6]), int(day[6:])) - date(1970, 1, 1)).days
    if not 0 <= days < 1 << 16 or not 0 <= int(issued_at) < 1 << 32:
        raise ValueError("date out of range for a receipt code")
    payload = _FIXED.pack(CODE_VERSION, days, int(sequence).to_bytes(3, "big"),
                          int(issued_at)) + prefix.encode("ascii")
    return _b64(payload + _mac(secret, payload))


def check_receipt_code(secret: bytes, code: str) -> ReceiptClaim | None:
    """The case number and issue time of a genuine code signed with ``secret``; None for a
    code that is malformed, truncated, altered in any character or signed by another key."""
    if not _CODE_CHARS.match(code) or len(code) % 4 == 1:
        return None
    try:
        raw = base64.urlsafe_b64decode(code + "=" * (-len(code) % 4))
    except (binascii.Error, ValueError):
        return None
    # Base64 ignores the spare low bits of the last character: one canonical spelling only.
    if _b64(raw) != code or len(raw) <= _FIXED.size + MAC_BYTES:
        return None
    payload, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not hmac.compare_digest(mac, _mac(secret, payload)):
        return None
    version, days, sequence, issued = _FIXED.unpack(payload[:_FIXED.size])
    prefix = payload[_FIXED.size:].decode("ascii", errors="replace")
    if version != CODE_VERSION:
        return None
    day = date(1970, 1, 1) + timedelta(days=days)
    number = f"{prefix}-{day:%Y%m%d}-{int.from_bytes(sequence, 'big'):06d}"
    if CASE_NUMBER.match(number) is None:
        return None
    return ReceiptClaim(number, float(issued))


# --- issue ---------------------------------------------------------------------------------


class _Signer(Protocol):
    secret: bytes


class _Numbered(Protocol):
    @property
    def number(self) -> str: ...


def receipt_pdf_path(case_number: str) -> str:
    """The route of a case's receipt PDF; it asks for the phone number on the case
    (``?phone=``) or the receipt's code (``?code=``)."""
    return f"/api/cases/{case_number}/receipt.pdf"


def verify_path(code: str) -> str:
    return f"/verify/{code}"


def issue(hub: _Signer, case: _Numbered, now: float | None = None) -> dict[str, str]:
    """The receipt of an approved ``case``: ``{"code", "url"}``, ``url`` being the PDF route
    with the code, so whoever was given the receipt can download it.

    Stores nothing: the case side keeps ``code`` as the case's ``receipt_code``. The code
    alone proves the receipt; issuing again later gives another code that verifies too.
    """
    issued_at = time.time() if now is None else now
    code = receipt_code(hub.secret, case.number, issued_at)
    return {"code": code, "url": f"{receipt_pdf_path(case.number)}?code={code}"}


# --- what a receipt says -------------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentDecision:
    """One department's approval as printed: its name, the matters it approved, when."""

    department: str
    matters: tuple[str, ...]
    decided_at: float
    decision: str = "已同意 Approved"


@dataclass(frozen=True)
class ReceiptContent:
    """Everything printed on a receipt but the code. Name and phone are printed masked."""

    case_number: str
    issued_at: float
    matters: tuple[str, ...]
    decisions: tuple[DepartmentDecision, ...]
    agent: str | None = None
    caller_name: str | None = None
    caller_phone: str | None = None

    def __post_init__(self) -> None:
        if not self.matters:
            raise ValueError("a receipt lists at least one matter")


def china_time(at: float, with_time: bool = True) -> str:
    """``2026-11-30 14:05`` (China time) for Unix seconds ``at``."""
    moment = datetime.fromtimestamp(at, CHINA_TIME)
    return f"{moment:%Y-%m-%d %H:%M}" if with_time else f"{moment:%Y-%m-%d}"


def mask_phone(phone: str) -> str:
    """``13812345678`` -> ``138****5678``; anything shorter than 7 characters is all ``*``."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_name(name: str) -> str:
    """``张三丰`` -> ``张*丰``, ``张三`` -> ``张*``: enough to recognise one's own receipt."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# --- the font ------------------------------------------------------------------------------


class ReceiptFontError(RuntimeError):
    """The ``receipt_font`` setting names no usable CJK font: receipts cannot be printed."""


@dataclass(frozen=True)
class ReceiptFont:
    """A font file and, in a collection (``.ttc``), the face to use."""

    path: Path
    face: int = 0


def load_receipt_font(path: Path) -> ReceiptFont:
    """Check ``path`` at start-up and pick its face; :class:`ReceiptFontError` says what is
    wrong and how to fix it. In a collection the Simplified Chinese face (a family name
    ending in ``SC``, not a monospaced one) is preferred: Noto CJK's ``.ttc`` begins with the
    Japanese one, whose glyph shapes differ."""
    hint = ("set receipt_font (CLOUD_AGENT_RECEIPT_FONT) to a CJK TrueType/OpenType font, or "
            "install Debian's fonts-noto-cjk (apt-get install fonts-noto-cjk)")
    if not path.is_file():
        raise ReceiptFontError(f"receipt font {path} does not exist: {hint}")
    stat = path.stat()
    try:
        face, has_chinese = _inspect_font(path, stat.st_mtime_ns, stat.st_size)
    except Exception as error:  # fontTools raises many kinds on a file that is no font
        raise ReceiptFontError(f"receipt font {path} cannot be used ({error!r}): "
                               f"{hint}") from None
    if not has_chinese:
        raise ReceiptFontError(f"receipt font {path} has no Chinese characters: {hint}")
    return ReceiptFont(path, face)


@functools.lru_cache(maxsize=8)
def _inspect_font(path: Path, mtime_ns: int, size: int) -> tuple[int, bool]:
    """The face to use and whether it has the receipt's characters; read lazily (a few
    milliseconds) and remembered while the file is unchanged, so starting a server (and
    every test server) stays quick."""
    if path.suffix.lower() in (".ttc", ".otc"):
        fonts = TTCollection(str(path), lazy=True).fonts
    else:
        fonts = [TTFont(str(path), lazy=True)]
    names = [font["name"].getDebugName(1) or "" for font in fonts]
    preferred = [i for i, name in enumerate(names) if name.endswith(" SC") and "Mono" not in name]
    face = preferred[0] if preferred else 0
    cmap = fonts[face].getBestCmap() or {}
    return face, all(ord(char) in cmap for char in "一次办结回执")


def _add_font(pdf: FPDF, font: ReceiptFont) -> None:
    pdf.add_font("cjk", fname=str(font.path), collection_font_number=font.face)


# --- the PDF -------------------------------------------------------------------------------

#: A4 portrait, millimetres
_PAGE_W = 210.0
_MARGIN = 20.0
_QR_SIDE = 42.0


def _qr(pdf: FPDF, text: str, x: float, y: float, side: float) -> None:
    """Draw a QR code of ``text`` as vector squares (sharp at any print resolution), with
    its quiet zone, its top left corner at ``(x, y)``."""
    code = segno.make_qr(text, error="m")
    rows = [list(row) for row in code.matrix_iter(scale=1, border=4)]
    module = side / len(rows)
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, side, side, style="F")
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            # a hair taller than a module: no seams between rows at any resolution
            pdf.rect(x + start * module, y + r * module, (c - start) * module,
                     module * 1.02, style="F")


def _field(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font("cjk", size=10)
    pdf.set_text_color(80, 80, 80)
    pdf.cell(48, 8, label)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("cjk", size=12)
    pdf.multi_cell(0, 8, value, new_x="LMARGIN", new_y="NEXT")


def receipt_pdf(content: ReceiptContent, code: str, verify_url: str,
                font: ReceiptFont) -> bytes:
    """The receipt as a one-page A4 PDF (more pages only for very many departments), with
    the QR code of ``verify_url`` and ``code`` printed beneath it."""
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(f"{TITLE} {content.case_number}")
    pdf.set_creator("cloud-agent")
    pdf.set_margins(_MARGIN, _MARGIN, _MARGIN)
    pdf.set_auto_page_break(True, margin=_MARGIN)
    _add_font(pdf, font)
    pdf.add_page()

    pdf.set_font("cjk", size=20)
    pdf.cell(0, 12, TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)
    pdf.set_text_color(80, 80, 80)
    pdf.cell(0, 7, CENTRE, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)

    _field(pdf, "办件编号 Case number", content.case_number)
    _field(pdf, "办结时间 Issued", china_time(content.issued_at) + "（北京时间 China time）")
    if content.caller_name:
        _field(pdf, "申请人 Applicant", mask_name(content.caller_name))
    if content.caller_phone:
        _field(pdf, "联系电话 Phone", mask_phone(content.caller_phone))
    if content.agent:
        _field(pdf, "受理坐席 Agent", content.agent)
    pdf.ln(3)

    pdf.set_font("cjk", size=13)
    pdf.cell(0, 9, "办理事项 Matters", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=12)
    for index, title in enumerate(content.matters, start=1):
        pdf.multi_cell(0, 7, f"{index}. {title}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_font("cjk", size=13)
    pdf.cell(0, 9, "部门审批 Department decisions", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)
    with pdf.table(col_widths=(34, 30, 18, 18), line_height=6.5,
                   text_align=("LEFT", "LEFT", "LEFT", "LEFT"),
                   first_row_as_headings=True,
                   headings_style=FontFace(emphasis="", fill_color=(235, 235, 235))) as table:
        table.row(("部门 Department", "事项 Matters", "结果 Decision", "时间 Time"))
        for decision in content.decisions:
            table.row((decision.department, "、".join(decision.matters), decision.decision,
                       china_time(decision.decided_at)))
    pdf.ln(6)

    if pdf.get_y() + _QR_SIDE + 22 > pdf.h - _MARGIN:
        pdf.add_page()
    top = pdf.get_y()
    x = _PAGE_W - _MARGIN - _QR_SIDE
    _qr(pdf, verify_url, x, top, _QR_SIDE)
    pdf.set_xy(x - 8, top + _QR_SIDE + 1)
    pdf.set_font("cjk", size=8)
    pdf.cell(_QR_SIDE + 16, 5, code, align="C")
    pdf.set_xy(_MARGIN, top + 4)
    pdf.set_font("cjk", size=11)
    width = _PAGE_W - 2 * _MARGIN - _QR_SIDE - 6
    pdf.multi_cell(width, 7, "扫描二维码或打开下方网址，核验本回执真伪。",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(width, 7, "Scan the QR code, or open the address below, to check that "
                   "this receipt is genuine.", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=8)
    pdf.set_x(_MARGIN)
    pdf.multi_cell(width, 5, verify_url,
                   new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def decisions_in_order(decisions: Sequence[DepartmentDecision]) -> tuple[DepartmentDecision, ...]:
    """Departments in the order they decided: the paper tells the story of the case."""
    return tuple(sorted(decisions, key=lambda d: (d.decided_at, d.department)))
