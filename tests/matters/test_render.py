"""Server-side drawing for the caller's screen: PDF pages to PNG, QR codes to SVG.

The PNGs are read back with FFmpeg's decoder (PyAV), the QR codes with zxing-cpp, so neither
is checked by the code that made it.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import numpy.typing as npt
import pytest
import zxingcpp

from signaling.matters.render import (
    PNG_SIGNATURE,
    QR_MODULE_PX,
    UnreadableDocument,
    pdf_page_count,
    pdf_pages_to_png,
    qr_svg,
)

SVG = "{http://www.w3.org/2000/svg}"


def make_pdf(pages: list[tuple[int, int, bytes]]) -> bytes:
    """A minimal PDF written by hand: one page per ``(width, height, content stream)``."""
    count = len(pages)
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [" + b" ".join(
                   f"{3 + 2 * i} 0 R".encode() for i in range(count)) + b"] /Count "
               + str(count).encode() + b" >>"]
    for i, (width, height, stream) in enumerate(pages):
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
                       f"/Contents {4 + 2 * i} 0 R >>".encode())
        objects.append(b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream
                       + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


#: page 1: A4 portrait with a black square in the lower left quarter (PDF y grows upwards);
#: page 2: A4 landscape, blank
TWO_PAGES = make_pdf([(595, 842, b"0 0 0 rg 100 100 200 200 re f"), (842, 595, b"")])


def decode_png(data: bytes) -> npt.NDArray[np.uint8]:
    assert data.startswith(PNG_SIGNATURE)
    with av.open(io.BytesIO(data), format="png_pipe") as container:
        frame = next(container.decode(video=0))
        return np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)


def test_pdf_pages_become_png_images_of_the_page() -> None:
    pages = pdf_pages_to_png(TWO_PAGES)

    assert len(pages) == 2 == pdf_page_count(TWO_PAGES)
    first, second = (decode_png(page) for page in pages)
    # 1200 px wide, as tall as the page's proportions say (PDFium rounds up)
    assert first.shape[1:] == second.shape[1:] == (1200, 3)
    assert abs(first.shape[0] - 842 * 1200 / 595) < 1.5
    assert abs(second.shape[0] - 595 * 1200 / 842) < 1.5
    scale = 1200 / 595
    inside = first[round((842 - 200) * scale), round(200 * scale)]
    outside = first[round(100 * scale), round(450 * scale)]
    assert inside.tolist() == [0, 0, 0]
    assert outside.tolist() == [255, 255, 255]
    assert second.min() == 255  # blank page, white


def test_only_the_first_pages_and_at_the_asked_width() -> None:
    pages = pdf_pages_to_png(TWO_PAGES, max_pages=1, width=600)

    assert len(pages) == 1
    assert decode_png(pages[0]).shape[1] == 600


def test_a_strip_of_paper_is_not_rendered_endlessly_tall() -> None:
    strip = make_pdf([(100, 20000, b"")])

    height, width, _ = decode_png(pdf_pages_to_png(strip)[0]).shape

    assert height <= 3 * 1200 and width < 1200


@pytest.mark.parametrize("data", [b"%PDF-1.4\nnot really", b"", b"\x89PNG\r\n\x1a\n"],
                         ids=["broken", "empty", "png"])
def test_a_broken_pdf_is_unreadable(data: bytes) -> None:
    with pytest.raises(UnreadableDocument):
        pdf_pages_to_png(data)
    with pytest.raises(UnreadableDocument):
        pdf_page_count(data)


def test_documents_render_from_several_threads_at_once() -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: pdf_pages_to_png(TWO_PAGES), range(8)))

    assert all(result == results[0] for result in results)


def raster(svg: str) -> npt.NDArray[np.uint8]:
    """Draw the SVG's module path (``M``/``m`` moves and ``h`` runs, one module per unit)
    as a grey image, :data:`QR_MODULE_PX` pixels per module."""
    root = ET.fromstring(svg)
    side = int(root.attrib["viewBox"].split()[2])
    modules = np.full((side, side), 255, dtype=np.uint8)
    dark = [p for p in root.iter(f"{SVG}path") if p.get("stroke")]
    assert len(dark) == 1
    x = y = 0.0
    for command, args in re.findall(r"([MmHh])([^MmHh]*)", dark[0].attrib["d"]):
        numbers = [float(n) for n in args.replace(",", " ").split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            end = x + numbers[0] if command == "h" else numbers[0]
            modules[int(y), int(x):int(end)] = 0
            x = end
    return np.kron(modules, np.ones((QR_MODULE_PX, QR_MODULE_PX), dtype=np.uint8))


@pytest.mark.parametrize("text", [
    "https://www.zjzwfw.gov.cn/zjservice/item/detail/index.do?localInnerCode=abc&x=<1>",
    "供水过户：请带身份证和房产证",
])
def test_a_qr_code_reads_back_as_its_text(text: str) -> None:
    svg = qr_svg(text, title="扫码带走 <链接>")

    image = raster(svg)
    found = zxingcpp.read_barcodes(image)
    assert [(code.text, code.format) for code in found] == [
        (text, zxingcpp.BarcodeFormat.QRCode)]
    # The quiet zone: four light modules on every side.
    quiet = 4 * QR_MODULE_PX
    assert image[:quiet].min() == image[-quiet:].min() == 255
    assert image[:, :quiet].min() == image[:, -quiet:].min() == 255


def test_a_qr_svg_is_sized_and_holds_nothing_active() -> None:
    svg = qr_svg("https://example.gov.cn/a?b=1&c=2", title='"><script>alert(1)</script>')

    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    side = int(root.attrib["viewBox"].split()[2])
    assert root.attrib["width"] == root.attrib["height"] == str(side * QR_MODULE_PX)
    assert {child.tag for child in root} == {f"{SVG}title", f"{SVG}path"}
    assert "<script" not in svg
    for element in root.iter():
        assert not [name for name in element.attrib
                    if name.lower().startswith("on") or name.endswith("href")]
    fills = [p.get("fill") for p in root.iter(f"{SVG}path") if p.get("fill")]
    strokes = [p.get("stroke") for p in root.iter(f"{SVG}path") if p.get("stroke")]
    assert (fills, strokes) == (["#fff"], ["#000"])  # dark on light


def test_a_text_too_long_for_a_qr_code_is_refused() -> None:
    with pytest.raises(ValueError):
        qr_svg("x" * 5000)
