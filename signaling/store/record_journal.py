"""The call-record writer's journal: an append-only file of JSON lines, fsynced per batch.

Each line is ``{"c": call_id, "f": fields}``: one call's pending write, complete enough to
be replayed on its own (see ``record_writer``). The methods block; the writer runs them in
a worker thread, one at a time.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class Journal:
    """The journal file at ``path``; ``open()`` before anything else."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.size = 0

    def open(self) -> list[tuple[str, dict[str, Any]]]:
        """Open (create) the journal and return the entries it holds, oldest first. A torn
        last line (the process died inside a write) is ignored."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if created:
            _fsync_directory(self.path.parent)
        data = self.path.read_bytes()
        self.size = len(data)
        entries: list[tuple[str, dict[str, Any]]] = []
        lines = data.split(b"\n")
        for number, line in enumerate(lines):
            if not line:
                continue
            try:
                entry = json.loads(line)
                entries.append((str(entry["c"]), dict(entry["f"])))
            except (ValueError, KeyError, TypeError):
                if number == len(lines) - 1:
                    log.warning("call-record journal: torn last line ignored (%d bytes)",
                                len(line))
                else:
                    log.error("call-record journal: unreadable line %d skipped: %r",
                              number + 1, line[:200])
        return entries

    def append(self, entries: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Append and fsync; on failure the file is cut back to what it was."""
        assert self._fd is not None
        data = encode_entries(entries)
        before = self.size
        try:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fdatasync(self._fd)
        except OSError:
            try:
                os.ftruncate(self._fd, before)
            except OSError:
                log.exception("call-record journal: could not cut back a failed append")
            raise
        self.size = before + len(data)

    def truncate(self) -> None:
        """Empty the journal (everything in it is committed). Not fsynced: replaying
        lines already committed changes nothing."""
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        self.size = 0

    def rewrite(self, entries: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
        """Replace the journal by ``entries`` (what is still pending), atomically."""
        assert self._fd is not None
        data = encode_entries(entries)
        temporary = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        _fsync_directory(self.path.parent)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o600)
        self.size = len(data)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


#: one encoder for every line (``json.dumps`` with options builds a new one per call)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def encode_entries(entries: Iterable[tuple[str, Mapping[str, Any]]]) -> bytes:
    encode = _ENCODER.encode
    return "".join(encode({"c": call_id, "f": fields}) + "\n"
                   for call_id, fields in entries).encode()


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
