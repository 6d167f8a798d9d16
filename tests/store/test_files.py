"""Material files: accepted by their bytes, stored once under their sha256, atomically and
privately."""

from __future__ import annotations

import hashlib
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from signaling.matters.render import encode_png
from signaling.store.files import MaterialRejected, MaterialStore
from tests.matters.test_render import TWO_PAGES

PNG = encode_png(np.full((4, 4, 3), 200, dtype=np.uint8))
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = (b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00"
        b"\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00")


@pytest.fixture
def store(tmp_path: Path) -> MaterialStore:
    return MaterialStore(tmp_path / "materials", max_bytes=64 * 1024)


@pytest.mark.parametrize(("data", "expected"), [
    (JPEG, "image/jpeg"), (PNG, "image/png"), (WEBP, "image/webp"),
    (TWO_PAGES, "application/pdf"),
], ids=["jpeg", "png", "webp", "pdf"])
def test_a_material_is_known_by_its_first_bytes(store: MaterialStore, data: bytes,
                                                expected: str) -> None:
    assert store.check(data) == expected


@pytest.mark.parametrize("data", [
    b"", b"GIF89a\x01\x00\x01\x00", b"<svg xmlns='http://www.w3.org/2000/svg'/>",
    b"<!doctype html><script>alert(1)</script>", b"RIFF\x24\x00\x00\x00WAVEfmt ",
    b"PK\x03\x04", b"\xff\xd8", b" %PDF-1.4",
], ids=["empty", "gif", "svg", "html", "wave", "zip", "short-jpeg", "late-pdf"])
def test_anything_else_is_an_unsupported_type(store: MaterialStore, data: bytes) -> None:
    with pytest.raises(MaterialRejected) as caught:
        store.check(data)
    assert caught.value.code == "unsupported_type"


def test_a_material_over_the_limit_is_too_large(tmp_path: Path) -> None:
    store = MaterialStore(tmp_path, max_bytes=len(PNG) + 10)
    assert store.check(PNG + b"\x00" * 10) == "image/png"

    with pytest.raises(MaterialRejected) as caught:
        store.check(PNG + b"\x00" * 11)
    assert caught.value.code == "too_large"


def test_pages_are_counted_for_a_pdf_and_a_broken_one_is_unreadable(
        store: MaterialStore) -> None:
    assert store.pages(TWO_PAGES, store.check(TWO_PAGES)) == 2
    assert store.pages(PNG, "image/png") == 1
    broken = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> trailer"
    with pytest.raises(MaterialRejected) as caught:
        store.pages(broken, store.check(broken))
    assert caught.value.code == "unreadable"


def test_a_file_is_stored_once_under_its_sha256_readable_only_by_the_server(
        store: MaterialStore) -> None:
    sha = store.put(PNG)

    assert sha == hashlib.sha256(PNG).hexdigest()
    path = store.path(sha)
    assert path == store.root / sha[:2] / sha
    assert store.read(sha) == PNG
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    modified = path.stat().st_mtime_ns
    assert store.put(PNG) == sha
    assert path.stat().st_mtime_ns == modified  # not written again
    assert [p.name for p in store.root.rglob("*") if p.is_file()] == [sha]


def test_concurrent_writes_of_one_file_leave_one_whole_file(store: MaterialStore) -> None:
    data = TWO_PAGES * 100

    with ThreadPoolExecutor(8) as pool:
        shas = set(pool.map(lambda _: store.put(data), range(16)))

    assert len(shas) == 1
    (sha,) = shas
    assert store.read(sha) == data
    assert [p.name for p in store.root.rglob("*") if p.is_file()] == [sha]  # no temp files


@pytest.mark.parametrize("name", ["../../etc/passwd", "A" * 64, "ab", "0" * 63 + "/",
                                  "0" * 65])
def test_only_a_sha256_names_a_file(store: MaterialStore, name: str) -> None:
    with pytest.raises(ValueError):
        store.path(name)
    with pytest.raises(ValueError):
        store.read(name)


def test_an_unknown_file_is_not_found(store: MaterialStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.read("0" * 64)
