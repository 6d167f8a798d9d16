"""What the server draws for a caller's screen: PDF pages as PNG images (so no PDF viewer
runs on a kiosk) and QR codes as SVG markup.

PDFium is not thread-safe; every use of it here holds :data:`PDFIUM_LOCK`, so callers may run
these functions in worker threads (``asyncio.to_thread``) freely.
"""

from __future__ import annotations

import io
import struct
import threading
import zlib

import numpy as np
import numpy.typing as npt
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import segno

#: held around every call into PDFium
PDFIUM_LOCK = threading.Lock()

#: pages rendered of one document at most
MAX_PAGES = 20
#: the rendered width of a page, in pixels
PAGE_WIDTH = 1200
#: a page is never rendered taller than this many times its width (a strip of paper)
MAX_ASPECT = 3
#: pixel size of one QR module in the SVG's width and height
QR_MODULE_PX = 8
#: light modules around the code, as the standard asks
QR_QUIET_ZONE = 4

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class UnreadableDocument(ValueError):
    """PDFium could not open the document (broken, encrypted or not a PDF)."""


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        raise UnreadableDocument(str(error)) from None


def pdf_page_count(data: bytes) -> int:
    """How many pages the PDF has; :class:`UnreadableDocument` if it cannot be opened or
    has none."""
    with PDFIUM_LOCK:
        document = _open(data)
        try:
            count = len(document)
        finally:
            document.close()
    if count < 1:
        raise UnreadableDocument("the document has no pages")
    return count


def pdf_pages_to_png(data: bytes, max_pages: int = MAX_PAGES,
                     width: int = PAGE_WIDTH) -> list[bytes]:
    """The first ``max_pages`` pages as PNG images ``width`` pixels wide (narrower for a page
    taller than :data:`MAX_ASPECT` widths); :class:`UnreadableDocument` if the PDF cannot be
    opened or has no pages."""
    pixels: list[npt.NDArray[np.uint8]] = []
    with PDFIUM_LOCK:
        document = _open(data)
        try:
            count = min(len(document), max_pages)
            for index in range(count):
                page = document[index]
                try:
                    page_width, page_height = page.get_size()
                    scale = min(width / page_width, width * MAX_ASPECT / page_height)
                    bitmap = page.render(scale=scale, rev_byteorder=True)
                    pixels.append(np.array(bitmap.to_numpy(), dtype=np.uint8))
                    bitmap.close()
                finally:
                    page.close()
        finally:
            document.close()
    if not pixels:
        raise UnreadableDocument("the document has no pages")
    return [encode_png(rgb) for rgb in pixels]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (struct.pack(">I", len(body)) + kind + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))


def encode_png(rgb: npt.NDArray[np.uint8]) -> bytes:
    """An 8-bit RGB (or RGBA, or grey) PNG of an ``(height, width[, channels])`` array."""
    if rgb.ndim == 2:
        rgb = rgb[:, :, None]
    height, width, channels = rgb.shape
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    rows = np.ascontiguousarray(rgb).reshape(height, width * channels)
    # Filter "Up" per row: documents are mostly flat, so most bytes become zero.
    filtered = np.empty((height, width * channels + 1), dtype=np.uint8)
    filtered[:, 0] = 2
    filtered[:, 1:] = rows
    filtered[1:, 1:] -= rows[:-1]
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(filtered.tobytes(), 6)) + _chunk(b"IEND", b""))


def qr_svg(text: str, title: str | None = None) -> str:
    """A QR code of ``text`` as standalone SVG markup: black on white, with its quiet zone,
    a ``viewBox`` plus ``width``/``height``, and nothing but a title and two paths (no
    scripts, no links). ``ValueError`` if ``text`` does not fit in a QR code."""
    code = segno.make_qr(text, error="m")
    buffer = io.BytesIO()
    code.save(buffer, kind="svg", xmldecl=False, svgns=True, nl=False, scale=1,
              border=QR_QUIET_ZONE, dark="#000000", light="#ffffff", svgclass=None,
              lineclass=None, omitsize=True, title=title, encoding="utf-8")
    svg = buffer.getvalue().decode("utf-8")
    side = (code.symbol_size(scale=1, border=QR_QUIET_ZONE)[0]) * QR_MODULE_PX
    opening = '<svg xmlns="http://www.w3.org/2000/svg" '
    assert svg.startswith(opening), svg[:80]
    return (f'{opening}width="{side}" height="{side}" role="img" '
            f'shape-rendering="crispEdges" ' + svg[len(opening):])
