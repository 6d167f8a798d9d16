"""uvicorn's sans-I/O WebSocket protocol with a fast lane for relayed SDP and ICE.

Through ASGI, a relayed message costs a receive dict, a queue, pausing and resuming the
socket's reads, a wake-up of the sender's reader task, a send dict and a wake-up of the
recipient's writer task. Here, a complete text frame that arrives while the socket's
reader is idle (waiting for a frame, nothing queued) is offered to the socket's
``Lane`` in ``data_received`` itself; a lane takes only the relay frames of a party of
a live session that are within its budget, and passes them on at once. Everything else,
and every frame while the reader is busy, goes through the ASGI app exactly as before, so
a socket's frames are still handled in the order they came.

The other half is ``write_now``: a connection with nothing queued writes a frame straight
to the transport instead of waking its writer task, unless the socket is backed up or
closing (then the frame waits in the connection's outbox as before).

Below both, the frames themselves: ``websockets``' parser is a chain of generators, a
good part of the cost of a small message. While that parser stands between two frames
with nothing buffered, a chunk that starts with a complete, final, masked text frame
within the size limit is unmasked here and handled as the parser would have; anything
else (control frames, fragments, a frame split over chunks, any oddity) and all that
follows it in the chunk go to the parser as before, which keeps every check and error.
"""

from __future__ import annotations

import logging
import struct
from typing import Any, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.streams import StreamReader

from ..relay_frame import encode

try:
    from websockets.speedups import apply_mask
except ImportError:  # websockets without its C extension
    from websockets.utils import apply_mask

log = logging.getLogger(__name__)

#: where the protocol puts itself in the ASGI scope's ``extensions``
SCOPE_KEY = "cloud_agent.fast_lane"

_SHORT = struct.Struct("!BB").pack
_MEDIUM = struct.Struct("!BBH").pack
_LONG = struct.Struct("!BBQ").pack
_FIN_TEXT = 0x81
_MASKED = 0x80
_UNPACK_LENGTH = struct.Struct("!H").unpack_from
_UNPACK_LONG_LENGTH = struct.Struct("!Q").unpack_from
_AT_EOF = StreamReader.at_eof.__code__


class Lane(Protocol):
    """The app's side of one socket's fast lane (``ws.SocketLane``)."""

    #: the socket's reader is waiting for its next frame (and holds none)
    idle: bool

    def take(self, text: str) -> bool:
        """Handle the frame now and return True, or return False to leave it to the
        reader (which then sees it as if the lane did not exist)."""
        ...


def text_frame(payload: bytes) -> bytes:
    """An unmasked, unfragmented server text frame (RFC 6455 5.2)."""
    length = len(payload)
    if length < 126:
        return _SHORT(_FIN_TEXT, length) + payload
    if length < 65536:
        return _MEDIUM(_FIN_TEXT, 126, length) + payload
    return _LONG(_FIN_TEXT, 127, length) + payload


class FastLaneProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol plus the fast lane (``ws=`` of uvicorn)."""

    lane: Lane | None = None
    #: ``websockets``' parser is between frames with nothing buffered (we may read the
    #: next complete text frame ourselves)
    aligned = False

    def data_received(self, data: bytes) -> None:
        if not self.aligned:
            super().data_received(data)
            self.aligned = self._parser_between_frames()
            return
        conn = self.conn
        limit = conn.max_message_size
        end = len(data)
        pos = 0
        while pos < end:
            # the header: FIN + text, masked; the length; the mask; the payload, all here
            if (data[pos] != _FIN_TEXT or pos + 6 > end or conn.state is not State.OPEN
                    or conn.current_size is not None):
                break
            length = data[pos + 1] ^ _MASKED
            start = pos + 6
            if length >= 126:  # (or not masked: then it is >= 128 and left to the parser)
                if length == 126 and pos + 8 <= end:
                    length, start = _UNPACK_LENGTH(data, pos + 2)[0], pos + 8
                elif length == 127 and pos + 14 <= end:
                    length, start = _UNPACK_LONG_LENGTH(data, pos + 2)[0], pos + 14
                else:
                    break
            if start + length > end or (limit is not None and length > limit):
                break
            payload = apply_mask(data[start:start + length], data[start - 4:start])
            pos = start + length
            if not self._offer(payload):
                WebSocketsSansIOProtocol.handle_text(self, Frame(Opcode.TEXT, payload))
        if pos < end:
            super().data_received(data[pos:] if pos else data)
            self.aligned = self._parser_between_frames()

    def _parser_between_frames(self) -> bool:
        """Whether ``websockets``' parser waits for a new frame with nothing buffered
        (its innermost generator is ``StreamReader.at_eof``, which the frame loop awaits
        first), on an open connection with no fragmented message in progress."""
        conn = self.conn
        if (conn.state is not State.OPEN or conn.reader.buffer or conn.parser_exc is not None
                or conn.current_size is not None or conn.extensions):
            return False
        generator: Any = conn.parser
        while generator is not None and getattr(generator, "gi_yieldfrom", None) is not None:
            generator = generator.gi_yieldfrom
        return generator is not None and getattr(generator, "gi_code", None) is _AT_EOF

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # upgraded: the scope exists and the app is starting
            self.scope["extensions"][SCOPE_KEY] = {"protocol": self}

    def handle_text(self, event: Frame) -> None:
        if not (event.fin and self._offer(bytes(event.data))):
            super().handle_text(event)

    def _offer(self, payload: bytes) -> bool:
        """Offer a complete text message to the lane while the reader is idle and
        nothing waits for it; True if the lane handled it."""
        lane = self.lane
        if lane is None or not lane.idle or self.close_sent or not self.queue.empty():
            return False
        try:
            text = payload.decode()
        except UnicodeDecodeError:
            return False  # uvicorn closes with 1007
        try:
            return lane.take(text)
        except Exception:  # never lose the socket to a bug on the lane
            log.exception("fast lane failed; the frame goes to the reader")
            return False

    def write_now(self, message: dict[str, Any] | str) -> bool:
        """Write a message (or an already serialized frame) to the socket now; False if
        the socket is backed up, closing or closed (the caller queues it instead)."""
        if (not self.writable.is_set() or self.close_sent or self.disconnected
                or self.transport.is_closing()):
            return False
        conn = self.conn
        if conn.state is not State.OPEN or conn.expect_continuation_frame:
            return False
        if type(message) is str:
            text = message
        else:
            try:
                text = encode(message)
            except (TypeError, ValueError):  # left to the writer, which gives up as before
                return False
        payload = text.encode()
        try:
            if conn.extensions:  # not negotiated by our server; kept correct anyway
                conn.send_text(payload)
                self.transport.write(b"".join(conn.data_to_send()))
            else:
                self.transport.write(text_frame(payload))
        except Exception:  # a transport going away: the writer finds out in its turn
            return False
        return True
