"""``cloud-agent admin`` and the CLI's help: password length, the audit trail, private files."""

from __future__ import annotations

import argparse
import asyncio
import json
import stat
from pathlib import Path

import pytest

from signaling.cli import _parser, main
from signaling.store import AccountRepository, AuditRepository, Database
from signaling.store.passwords import MIN_PASSWORD_LENGTH


def _store(data: Path) -> Database:
    return Database(f"sqlite+aiosqlite:///{data / 'cloud-agent.db'}")


def test_a_short_password_is_refused_and_nothing_is_created(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path)
    assert main(["admin", "--data-dir", data, "add-agent", "bob", "--password", "a"]) == 2
    assert f"at least {MIN_PASSWORD_LENGTH} characters" in capsys.readouterr().out
    short = "x" * (MIN_PASSWORD_LENGTH - 1)
    assert main(["admin", "--data-dir", data, "add-agent", "bob", "--password", short]) == 2
    assert main(["admin", "--data-dir", data, "add-agent", "bob",
                 "--password", "x" * MIN_PASSWORD_LENGTH]) == 0

    async def check() -> None:
        db = _store(tmp_path)
        try:
            assert [a.username for a in await AccountRepository(db).list()] == ["bob"]
        finally:
            await db.dispose()
    asyncio.run(check())


def test_account_and_kiosk_changes_are_audited_without_secrets(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path)
    assert main(["admin", "--data-dir", data, "add-agent", "alice", "--skills", "water:1"]) == 0
    password = capsys.readouterr().out.split("password (shown once): ")[1].strip()
    assert len(password) >= MIN_PASSWORD_LENGTH
    assert main(["admin", "--data-dir", data, "add-kiosk", "--name", "武原1号",
                 "--town", "武原街道"]) == 0
    token = capsys.readouterr().out.split("/kiosk?token=")[1].strip()

    async def trail() -> list[tuple[str, str, dict[str, object]]]:
        db = _store(tmp_path)
        try:
            return [(e.actor, e.action, e.detail) for e in await AuditRepository(db).recent()]
        finally:
            await db.dispose()
    entries = asyncio.run(trail())
    assert [action for _, action, _ in entries] == ["kiosk_created", "account_created"]
    assert all(actor.startswith("cli") for actor, _, _ in entries)
    assert entries[0][2]["town"] == "武原街道" and entries[1][2]["username"] == "alice"
    assert entries[1][2]["skills"] == {"water": 1}
    text = json.dumps([detail for _, _, detail in entries], ensure_ascii=False)
    assert password not in text and token not in text


def test_admin_creates_a_private_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    assert main(["admin", "--data-dir", str(data), "list-agents"]) == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for path in data.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def _options(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    found: list[tuple[str, argparse.Action]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _options(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            found.append((path, action))
    return found


def test_every_option_of_every_command_has_help() -> None:
    missing = [f"{path} {action.option_strings or action.dest}"
               for path, action in _options(_parser(), "cloud-agent")
               if not action.help]
    assert missing == []
