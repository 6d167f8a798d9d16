"""``cloud-agent`` command line: serve, call (headless caller), answer (headless agent),
admin (accounts and kiosks)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from .settings import Settings


def _settings_help() -> str:
    lines = ["settings (environment variables; also keys of the TOML file named by",
             "CLOUD_AGENT_CONFIG_FILE, in lower case without the prefix):"]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        lines.append(f"  CLOUD_AGENT_{name.upper():<28} {field.description} "
                     f"[default: {default}]")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cloud-agent", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server on embedded defaults",
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           epilog=_settings_help())
    serve.add_argument("--host", help="address to bind [127.0.0.1]")
    serve.add_argument("--port", type=int, help="port to bind [8080]")
    serve.add_argument("--data-dir", help="directory for the SQLite file and key [./data]")
    serve.add_argument("--demo", action="store_true", default=None,
                       help="seed demo skills, agents demo-agent-1..5 (password demo) "
                       "and kiosk token demo-kiosk; no admin account is created")
    serve.add_argument("--config", help="TOML settings file (same as CLOUD_AGENT_CONFIG_FILE)")
    serve.add_argument("--redis", dest="redis_url", metavar="URL",
                       help="run as a node of a cluster on this Redis, e.g. "
                       "redis://127.0.0.1:6379/0 (same as CLOUD_AGENT_REDIS_URL)")
    serve.add_argument("--node-id", help="this node's name in the cluster [random]")
    serve.add_argument("--log-level", default="info", type=str.lower,
                       choices=("critical", "error", "warning", "info", "debug", "trace"),
                       help="log level of the server and of uvicorn [info]")

    call = sub.add_parser("call", help="place a real WebRTC call as a headless caller")
    call.add_argument("--server", default="http://127.0.0.1:8080",
                      help="base URL of the server, or several comma-separated (cluster "
                      "nodes): if the socket drops mid-call the caller reconnects to the "
                      "next and resumes its call [http://127.0.0.1:8080]")
    call.add_argument("--skill", required=True, help="matter to call about, e.g. water")
    call.add_argument("--kiosk-token", help="device token (default: an enterprise caller)")
    call.add_argument("--company", default="海盐演示企业有限公司",
                      help="enterprise caller: company name [%(default)s]")
    call.add_argument("--uscc", default="91350100M000100Y43",
                      help="enterprise caller: unified social credit code [%(default)s]")
    call.add_argument("--contact", default="张三",
                      help="enterprise caller: contact person [%(default)s]")
    call.add_argument("--phone", default="13800138000",
                      help="enterprise caller: contact mobile number [%(default)s]")
    call.add_argument("--hold", type=float, default=5.0, help="seconds in call before hang-up")
    call.add_argument("--media", help="media file to send, or 'camera' (default synthetic)")
    call.add_argument("--timeout", type=float, default=120.0,
                      help="seconds from the call button to 'connected' before giving up "
                      "(the caller then leaves the queue) [120]")
    call.add_argument("--json", action="store_true", help="print JSON lines")
    call.add_argument("--form-values", metavar="FILE",
                      help="JSON file {matter: {field: value}}: fill the forms the agent "
                      "pushes, sign and submit them")
    call.add_argument("--recording-consent", choices=("yes", "no", "fail"), default="yes",
                      help="answer to the recording consent prompt when the server asks "
                      "(fail: stop with consent_required) [yes]")
    call.add_argument("--callback-phone", help="with --recording-consent no where a refusal "
                      "means a callback: the number to be called back on")

    answer = sub.add_parser("answer", help="log in as an agent and answer calls headlessly")
    answer.add_argument("--server", default="http://127.0.0.1:8080",
                        help="base URL of the server, or several comma-separated (cluster "
                        "nodes): if the socket drops mid-call the agent reconnects to the "
                        "next and logs in again, keeping its call [http://127.0.0.1:8080]")
    answer.add_argument("--user", required=True, help="agent username")
    answer.add_argument("--password", required=True, help="agent password")
    answer.add_argument("--auto-answer", action="store_true",
                        help="turn on server-side auto-answer (calls connect without an "
                        "offer to accept)")
    answer.add_argument("--calls", type=int, default=1, help="calls to take before exiting")
    answer.add_argument("--hold", type=float, default=5.0, help="seconds in call before hang-up")
    answer.add_argument("--media", help="media file to send, or 'camera' (default synthetic)")
    answer.add_argument("--timeout", type=float, default=600.0,
                        help="seconds to wait for each offer, and for each offered call to "
                        "connect, before giving up [600]")
    answer.add_argument("--json", action="store_true", help="print JSON lines")
    answer.add_argument("--push", action="append", default=[], metavar="MATTER",
                        help="push this matter's form into each call (repeatable), e.g. "
                        "water-transfer")
    answer.add_argument("--form-values", metavar="FILE",
                        help="JSON file {matter: {field: value}}: fill the agent's fields")

    reader = sub.add_parser("reader-sim", help="serve a simulated ID card reader for kiosk "
                            "demos and tests (GET/POST/DELETE /card)")
    from kiosk_client.reader_sim import add_arguments as add_reader_arguments

    add_reader_arguments(reader)

    webhook = sub.add_parser("webhook-sim", help="a department's webhook receiver for demos "
                             "and tests: verifies, dedupes, fails the first N, then calls "
                             "back with a decision")
    from .web.webhook_sim import add_arguments as add_webhook_arguments

    add_webhook_arguments(webhook)

    from .admin import add_parser as add_admin_parser

    add_admin_parser(sub)
    return parser


def _serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from .web.app import create_app
    from .web.ws import uvicorn_ws_options

    # Everything the server writes (the SQLite files, secret.key) is for its own user only.
    os.umask(0o077)
    level = "DEBUG" if args.log_level == "trace" else args.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    if args.config:
        os.environ["CLOUD_AGENT_CONFIG_FILE"] = args.config
    overrides: dict[str, Any] = {}
    for name in ("host", "port", "data_dir", "demo", "redis_url", "node_id"):
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:  # a clear line per bad setting, not a traceback
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(f"cloud-agent serve: setting {where}: {error['msg']}", file=sys.stderr)
        return 2
    app = create_app(settings)
    base = f"http://{settings.host}:{settings.port}"
    print(f"cloud-agent serving on {base}", flush=True)
    print(f"  agent console:   {base}/console", flush=True)
    print(f"  kiosk:           {base}/kiosk" + ("?token=demo-kiosk" if settings.demo else ""),
          flush=True)
    print(f"  enterprise call: {base}/call", flush=True)
    if settings.redis_url:
        print(f"  cluster node on {settings.redis_url}", flush=True)
    if settings.demo:
        print("  demo agents: demo-agent-1 … demo-agent-5, password 'demo'; "
              "supervisor demo-supervisor/demo", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=args.log_level,
                **uvicorn_ws_options(settings.max_message_bytes), ws_ping_interval=20,
                ws_ping_timeout=20)
    return 0


def _printer(as_json: bool, who: str) -> Any:
    def on_event(name: str, fields: dict[str, Any]) -> None:
        if as_json:
            print(json.dumps({"event": name, "who": who, "t": time.time(), **fields},
                             ensure_ascii=False), flush=True)
        else:
            detail = " ".join(f"{k}={v}" for k, v in fields.items())
            print(f"[{who}] {name} {detail}", flush=True)
    return on_event


def _form_values(path: str | None) -> dict[str, dict[str, Any]] | None:
    """The ``--form-values`` file: {matter code: {field: value}}."""
    if path is None:
        return None
    with open(path, encoding="utf-8") as handle:
        values = json.load(handle)
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        raise SystemExit(f"{path}: expected {{matter: {{field: value}}}}")
    return values


def _call(args: argparse.Namespace) -> int:
    from kiosk_client.headless import CallFailed, format_timings, place_call

    company = None if args.kiosk_token else {
        "name": args.company, "uscc": args.uscc, "contact_name": args.contact,
        "contact_phone": args.phone}
    try:
        timings = asyncio.run(place_call(
            args.server, args.skill, kiosk_token=args.kiosk_token, company=company,
            hold=args.hold, media=args.media, timeout=args.timeout,
            on_event=_printer(args.json, "caller"),
            form_values=_form_values(args.form_values),
            recording_consent={"yes": True, "no": False}.get(args.recording_consent),
            callback_phone=args.callback_phone))
    except CallFailed as exc:
        print(json.dumps({"event": "error", "code": exc.code, "message": exc.message})
              if args.json else f"call failed: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    if not args.json:
        print(format_timings(timings))
    return 0 if timings.first_remote_frame_ms is not None else 1


def _answer(args: argparse.Namespace) -> int:
    from kiosk_client.headless import CallFailed, answer_calls, format_timings

    try:
        results = asyncio.run(answer_calls(
            args.server, args.user, args.password, auto_answer=args.auto_answer,
            calls=args.calls, hold=args.hold, media=args.media, timeout=args.timeout,
            on_event=_printer(args.json, "agent"), push=tuple(args.push),
            form_values=_form_values(args.form_values)))
    except CallFailed as exc:
        print(f"answer failed: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    if not args.json:
        for timings in results:
            print(format_timings(timings))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from kiosk_client.reader_sim import main as reader_main

    from .admin import main as admin_main
    from .web.webhook_sim import main as webhook_main

    commands = {"serve": _serve, "call": _call, "answer": _answer, "admin": admin_main,
                "reader-sim": reader_main, "webhook-sim": webhook_main}
    return commands[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
