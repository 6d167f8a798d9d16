"""Material files (photos, scans, PDFs, rendered pages) outside the database, by content.

A file is stored once under its sha256, ``root/ab/abcdef…`` (the first two hex digits
spread the files over 256 folders), written to a temporary file and renamed into place, so
a reader sees the whole file or none. What a file is comes from its first bytes, never from
a name or a header the uploader chose.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from signaling.matters.render import UnreadableDocument, pdf_page_count

#: the default largest material, in bytes (the ``max_material_bytes`` setting)
DEFAULT_MAX_BYTES = 10 * 1024 * 1024

PDF = "application/pdf"

_SHA256 = re.compile(r"[0-9a-f]{64}")


class MaterialRejected(ValueError):
    """The bytes are not a material the centre accepts; ``code`` says why
    (``unsupported_type``, ``too_large``, ``unreadable``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def content_type(data: bytes) -> str | None:
    """The type of a JPEG, PNG, WebP or PDF by its magic bytes, else ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith(b"%PDF-"):
        return PDF
    return None


class MaterialStore:
    """Files by sha256 under ``root`` (made on first write, private to the server's user)."""

    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def check(self, data: bytes) -> str:
        """The content type of an acceptable material; :class:`MaterialRejected` if it is
        too large or not a JPEG, PNG, WebP or PDF."""
        if len(data) > self.max_bytes:
            raise MaterialRejected("too_large", f"a material is at most {self.max_bytes} bytes")
        found = content_type(data)
        if found is None:
            raise MaterialRejected("unsupported_type", "a material is a JPEG, PNG or WebP "
                                   "image or a PDF document")
        return found

    def pages(self, data: bytes, content_type: str) -> int:
        """Pages of the material: counted for a PDF (:class:`MaterialRejected`
        ``unreadable`` if PDFium cannot open it), 1 for an image."""
        if content_type != PDF:
            return 1
        try:
            return pdf_page_count(data)
        except UnreadableDocument:
            raise MaterialRejected("unreadable", "the PDF document cannot be read") from None

    def path(self, sha256: str) -> Path:
        """Where the file of ``sha256`` is (or would be); ``ValueError`` for anything but
        64 lower-case hex digits, so no name can lead outside ``root``."""
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256[:80]!r}")
        return self.root / sha256[:2] / sha256

    def put(self, data: bytes) -> str:
        """Store ``data`` (once: the same bytes again are not rewritten); its sha256."""
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(descriptor, "wb") as file:  # mkstemp made it 0600
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return sha256

    def read(self, sha256: str) -> bytes:
        """The stored bytes; ``FileNotFoundError`` if there are none."""
        return self.path(sha256).read_bytes()
