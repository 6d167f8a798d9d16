"""``cloud-agent admin add-reviewer`` and ``set-webhook`` (issue 8)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from signaling.cli import main
from signaling.store import AccountRepository, AuditRepository, Database
from signaling.store.case_repositories import DepartmentEndpointRepository


def test_a_reviewer_is_bound_to_a_known_department(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path)
    assert main(["admin", "--data-dir", data, "add-reviewer", "water-1",
                 "--department", "no-such-department"]) == 2
    assert "unknown department" in capsys.readouterr().out
    assert main(["admin", "--data-dir", data, "add-reviewer", "water-1",
                 "--department", "water-company", "--display-name", "王审核"]) == 0
    out = capsys.readouterr().out
    assert "password (shown once): " in out

    async def check() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cloud-agent.db'}")
        try:
            account = await AccountRepository(db).get("water-1")
            assert account is not None
            assert (account.role, account.department, account.display_name) == (
                "reviewer", "water-company", "王审核")
            [entry] = await AuditRepository(db).recent()
            assert entry.detail["department"] == "water-company"
        finally:
            await db.dispose()
    asyncio.run(check())


def test_set_webhook_prints_a_generated_secret_once(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = str(tmp_path)
    assert main(["admin", "--data-dir", data, "set-webhook", "gas-company",
                 "ftp://gas.example/"]) == 2
    assert main(["admin", "--data-dir", data, "set-webhook", "gas-company",
                 "https://gas.example/hook"]) == 0
    secret = capsys.readouterr().out.split("secret (shown once): ")[1].strip()
    assert len(secret) >= 32
    assert main(["admin", "--data-dir", data, "set-webhook", "gas-company",
                 "https://gas.example/v2", "--secret", "given-secret", "--disable"]) == 0
    assert "shown once" not in capsys.readouterr().out

    async def check() -> None:
        db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cloud-agent.db'}")
        try:
            row = await DepartmentEndpointRepository(db).get("gas-company")
            assert row is not None
            assert (row.webhook_url, row.secret, row.enabled) == (
                "https://gas.example/v2", "given-secret", False)
            entries = await AuditRepository(db).recent()
            assert [e.action for e in entries] == ["webhook_set", "webhook_set"]
            assert all("secret" not in e.detail for e in entries)
        finally:
            await db.dispose()
    asyncio.run(check())
