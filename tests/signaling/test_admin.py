"""``cloud-agent admin``: what an installer does before the first call."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from signaling.cli import main
from signaling.store import AccountRepository, Database, KioskRepository


def test_admin_creates_agent_and_kiosk_that_work(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path)
    assert main(["admin", "--data-dir", data, "add-agent", "alice", "--skills",
                 "water:1,gas:2", "--display-name", "王丽"]) == 0
    password = capsys.readouterr().out.split("password (shown once): ")[1].strip()
    assert main(["admin", "--data-dir", data, "add-kiosk", "--name", "武原1号",
                 "--town", "武原街道"]) == 0
    token = capsys.readouterr().out.split("/kiosk?token=")[1].strip()
    assert main(["admin", "--data-dir", data, "add-agent", "alice"]) == 1

    async def check() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cloud-agent.db'}")
        try:
            account = await AccountRepository(db).authenticate("alice", password)
            assert account is not None and account.skills == {"water": 1, "gas": 2}
            kiosk = await KioskRepository(db).find_by_token(token)
            assert kiosk is not None and kiosk.town == "武原街道"
        finally:
            await db.dispose()
    asyncio.run(check())
