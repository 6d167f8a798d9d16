"""``cloud-agent reader-sim``: a simulated ID card reader for kiosk demos and tests.

A real kiosk has a card reader whose vendor service answers on the kiosk itself; the kiosk
page asks it for the card on the reader (the server setting ``card_reader_url``). This
module serves the same small HTTP API with a few made-up residents of Haiyan county
(region 330424), whose ID numbers carry valid GB 11643 check characters:

- ``GET /card`` → 200 ``{name, id_number, sex, nation, birth, address, issuer, valid_from,
  valid_to}`` for the card on the reader, 404 ``{"code": "no_card"}`` when there is none;
- ``POST /card`` with ``{"index": n}`` puts resident ``n`` on the reader (404
  ``unknown_card`` for another index); ``DELETE /card`` takes it off;
- ``GET /cards`` lists the residents (index and name) for a demo operator.

Only the stdlib: it runs on a kiosk PC without the server's dependencies. CORS answers the
kiosk page's origins only (``--origin``); the identity on a card is nobody else's business.
"""

from __future__ import annotations

import argparse
import json
import threading
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: GB 11643 weights of the first 17 characters and the check character by remainder
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"
#: Haiyan county, Jiaxing, Zhejiang
REGION = "330424"
ISSUER = "海盐县公安局"


def check_character(first17: str) -> str:
    """The GB 11643 check character of the first 17 digits of a resident ID number."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("17 digits expected")
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11]


def resident_id(birth: str, sequence: str) -> str:
    """A full ID number for Haiyan: region, birth date ``YYYYMMDD``, 3-digit sequence
    (odd for men, even for women) and the check character."""
    first17 = REGION + birth + sequence
    return first17 + check_character(first17)


@dataclass(frozen=True)
class Card:
    """What the reader gives for one card (the fields of a second-generation ID card)."""

    name: str
    id_number: str
    sex: str
    nation: str
    birth: str
    address: str
    issuer: str
    valid_from: str
    valid_to: str


def _card(name: str, birth: str, sequence: str, address: str, valid_from: str,
          valid_to: str) -> Card:
    sex = "男" if int(sequence[-1]) % 2 else "女"
    return Card(name=name, id_number=resident_id(birth, sequence), sex=sex, nation="汉",
                birth=f"{birth[:4]}-{birth[4:6]}-{birth[6:]}", address=address,
                issuer=ISSUER, valid_from=valid_from, valid_to=valid_to)


#: made-up residents; index 0 is on the reader when the simulator starts with --card 0
RESIDENTS: tuple[Card, ...] = (
    _card("张建国", "19650312", "001", "浙江省海盐县武原街道枣园东路 18 号", "2015-03-01",
          "长期"),
    _card("李秀英", "19780916", "024", "浙江省海盐县秦山街道核电大道 66 号 3 幢 201 室",
          "2018-09-20", "2038-09-20"),
    _card("王晓明", "19920105", "035", "浙江省海盐县沈荡镇沈新路 7 号", "2016-01-10",
          "2026-01-10"),
    _card("陈丽", "20010728", "042", "浙江省海盐县澉浦镇南北湖路 102 号", "2019-08-01",
          "2029-08-01"),
)


class Reader:
    """The card slot: which resident (if any) is on the reader. Thread-safe."""

    def __init__(self, card: int | None = None) -> None:
        self._lock = threading.Lock()
        self._index: int | None = None
        if card is not None:
            self.put(card)

    def put(self, index: int) -> Card:
        if not 0 <= index < len(RESIDENTS):
            raise IndexError(index)
        with self._lock:
            self._index = index
        return RESIDENTS[index]

    def remove(self) -> None:
        with self._lock:
            self._index = None

    def card(self) -> Card | None:
        with self._lock:
            return None if self._index is None else RESIDENTS[self._index]


def make_handler(reader: Reader, origins: frozenset[str]) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to one reader and the origins allowed to read it."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "cloud-agent-reader-sim"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # quiet: the kiosk polls

        def _cors(self) -> None:
            origin = self.headers.get("Origin")
            if origin and ("*" in origins or origin in origins):
                self.send_header("Access-Control-Allow-Origin", origin)
                self.send_header("Vary", "Origin")

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self._cors()
            self.end_headers()
            self.wfile.write(data)

        def do_OPTIONS(self) -> None:  # noqa: N802
            self.send_response(204)
            self._cors()
            self.send_header("Access-Control-Allow-Methods", "GET, POST, DELETE")
            self.send_header("Access-Control-Allow-Headers", "Content-Type")
            # Chromium's Private Network Access preflight (a page asking a local service)
            self.send_header("Access-Control-Allow-Private-Network", "true")
            self.send_header("Access-Control-Max-Age", "600")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            if self.path.split("?")[0] == "/cards":
                self._json(200, {"cards": [{"index": i, "name": c.name}
                                           for i, c in enumerate(RESIDENTS)]})
                return
            if self.path.split("?")[0] != "/card":
                self._json(404, {"code": "not_found"})
                return
            card = reader.card()
            if card is None:
                self._json(404, {"code": "no_card", "message": "no card on the reader"})
            else:
                self._json(200, asdict(card))

        def do_POST(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != "/card":
                self._json(404, {"code": "not_found"})
                return
            try:
                length = min(int(self.headers.get("Content-Length") or 0), 4096)
                body = json.loads(self.rfile.read(length) or b"{}")
                index = body["index"]
                if not isinstance(index, int) or isinstance(index, bool):
                    raise TypeError(index)
            except (ValueError, KeyError, TypeError):
                self._json(422, {"code": "invalid_request",
                                 "message": 'body: {"index": <integer>}'})
                return
            try:
                card = reader.put(index)
            except IndexError:
                self._json(404, {"code": "unknown_card",
                                 "message": f"index 0..{len(RESIDENTS) - 1}"})
                return
            self._json(200, asdict(card))

        def do_DELETE(self) -> None:  # noqa: N802
            if self.path.split("?")[0] != "/card":
                self._json(404, {"code": "not_found"})
                return
            reader.remove()
            self._json(200, {"removed": True})

    return Handler


class ReaderServer:
    """The simulator on ``host:port`` (port 0: any free port), served from a thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8765, *, card: int | None = None,
                 origins: frozenset[str] = frozenset({"*"})) -> None:
        self.reader = Reader(card)
        self.httpd = ThreadingHTTPServer((host, port), make_handler(self.reader, origins))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ReaderServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True,
                                        name="reader-sim")
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``cloud-agent reader-sim``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind [127.0.0.1]")
    parser.add_argument("--port", type=int, default=8765, help="TCP port [8765]")
    parser.add_argument("--card", type=int, default=None,
                        help=f"resident 0..{len(RESIDENTS) - 1} on the reader at start "
                        "(default: none; put one with POST /card {\"index\": n})")
    parser.add_argument("--origin", action="append", default=None,
                        help="origin of the kiosk page allowed to read the card, e.g. "
                        "http://127.0.0.1:8080 (repeatable; default: any origin, for demos)")


def main(args: argparse.Namespace) -> int:
    origins = frozenset(args.origin or ["*"])
    server = ReaderServer(args.host, args.port, card=args.card, origins=origins)
    print(f"reader-sim on {server.url}: GET /card, POST /card {{\"index\": n}}, "
          f"DELETE /card; residents:", flush=True)
    for index, card in enumerate(RESIDENTS):
        print(f"  {index}: {card.name} {card.id_number}", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0
