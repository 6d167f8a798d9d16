"""Demo data and first-run seeding, so a fresh install can be tried and administered at once.

Both entry points are idempotent: they add what is missing and never overwrite what exists.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from sqlalchemy import select

from signaling.matters import SHIPPED_CATALOG
from signaling.matters.catalog import load_catalog
from signaling.store import (
    AccountExists,
    AccountRepository,
    CatalogRepository,
    Database,
    KioskRepository,
)
from signaling.store.directory_repository import bump_directory
from signaling.store.models import Account, Kiosk, Role
from signaling.store.passwords import hash_password
from signaling.store.repositories import token_hash

#: the skill for anything the catalog has no category for; it has no matters
_OTHER_SKILL: dict[str, Any] = {"code": "other", "name_zh": "其他", "name_en": "Other",
                                "icon": "dots", "sort_order": 100}

#: the skill catalog, as ``CatalogRepository.upsert_skills`` takes it: the shipped service
#: catalog's categories, then ``other``; routing and the kiosk menu need it to run at all
DEMO_SKILLS: list[dict[str, Any]] = [
    *({"code": c.code, "name_zh": c.name.zh, "name_en": c.name.en, "icon": c.icon,
       "sort_order": c.sort_order} for c in load_catalog(SHIPPED_CATALOG).categories.values()),
    _OTHER_SKILL,
]

DEMO_PASSWORD = "demo"
DEMO_KIOSK_TOKEN = "demo-kiosk"
DEMO_KIOSK_ID = "kiosk-demo"
DEMO_SUPERVISOR = "demo-supervisor"

#: (token, id, town) of the demo kiosks: a kiosk holds one live call at a time, so a demo
#: (or a test) with several callers at once uses several kiosks
DEMO_KIOSKS: list[tuple[str, str, str]] = [
    (DEMO_KIOSK_TOKEN, DEMO_KIOSK_ID, "海盐县武原街道"),
    *[(f"demo-kiosk-{n}", f"kiosk-demo-{n}", town) for n, town in enumerate(
        ["海盐县沈荡镇", "海盐县百步镇", "海盐县于城镇", "海盐县秦山街道", "海盐县通元镇",
         "海盐县澉浦镇", "海盐县西塘桥街道"], start=2)],
]

#: skills of demo-agent-2 … 5 (level 1 = best); together they cover the whole catalog, so
#: every skill has a second agent besides demo-agent-1, who holds them all at level 1
_DEMO_AGENT_SKILLS: list[dict[str, int]] = [
    {"water": 1, "electricity": 1, "gas": 2, "other": 2},
    {"transport": 1, "citizen-card": 1, "tv": 2, "water": 2},
    {"tax": 1, "social-security": 1, "business-licence": 2, "electricity": 2},
    {"business-licence": 1, "gas": 1, "tv": 1, "social-security": 2, "other": 1},
]


def demo_agents() -> list[tuple[str, str, dict[str, int]]]:
    """(username, display name, skills) of the five demo agents."""
    every_skill = {skill["code"]: 1 for skill in DEMO_SKILLS}
    agents = [("demo-agent-1", "演示坐席 1", every_skill)]
    for number, skills in enumerate(_DEMO_AGENT_SKILLS, start=2):
        agents.append((f"demo-agent-{number}", f"演示坐席 {number}", dict(skills)))
    return agents


async def _create_if_missing(accounts: AccountRepository, username: str, **options: Any) -> None:
    if await accounts.get(username) is not None:
        return
    try:
        await accounts.create(username, DEMO_PASSWORD, account_id=username, **options)
    except AccountExists:
        pass  # another node seeded it between our check and insert


async def seed_demo(db: Database, *, load_agents: int = 0, load_kiosks: int = 0) -> None:
    """Add the demo catalog, agents, supervisor and kiosks, and ``load_agents`` /
    ``load_kiosks`` more for load tests (:func:`seed_load`); anything already there is kept."""
    if load_agents or load_kiosks:
        await seed_load(db, load_agents, load_kiosks)
    await CatalogRepository(db).upsert_skills(DEMO_SKILLS)
    accounts = AccountRepository(db)
    for username, display_name, skills in demo_agents():
        await _create_if_missing(
            accounts, username, display_name=display_name, skills=skills, role=Role.AGENT.value
        )
    await _create_if_missing(
        accounts, DEMO_SUPERVISOR, display_name="演示班长", role=Role.SUPERVISOR.value
    )
    kiosks = KioskRepository(db)
    for number, (token, kiosk_id, town) in enumerate(DEMO_KIOSKS, start=1):
        if await kiosks.find_by_token(token) is None and await kiosks.get(kiosk_id) is None:
            await kiosks.create(token, name=f"演示自助终端 {number}", town=town,
                                partition="default", kiosk_id=kiosk_id)


def load_kiosk(number: int) -> str:
    """Id and token of load-test kiosk ``number`` (1-based)."""
    return f"load-kiosk-{number}"


def load_agent(number: int) -> str:
    """Username and id of load-test agent ``number`` (1-based)."""
    return f"load-agent-{number}"


async def seed_load(db: Database, agents: int, kiosks: int) -> None:
    """Agents ``load-agent-1..agents`` holding every demo skill at level 1 (password
    ``demo``) and kiosks ``load-kiosk-1..kiosks`` whose token is their id, for load tests
    and ``bench/call_rate.py``. The accounts share one password hash: hashing each (argon2,
    64 MiB) would take minutes for a thousand agents."""
    now = time.time()
    every_skill = {skill["code"]: 1 for skill in DEMO_SKILLS}
    password_hash = await asyncio.to_thread(hash_password, DEMO_PASSWORD)
    async with db.session() as session, session.begin():
        have_accounts = set(await session.scalars(
            select(Account.id).where(Account.id.like("load-agent-%"))))
        have_kiosks = set(await session.scalars(
            select(Kiosk.id).where(Kiosk.id.like("load-kiosk-%"))))
        session.add_all(
            Account(id=load_agent(n), username=load_agent(n), display_name=f"压测坐席 {n}",
                    password_hash=password_hash, role=Role.AGENT.value, partition="default",
                    skills=every_skill, auto_answer=False, created_at=now)
            for n in range(1, agents + 1) if load_agent(n) not in have_accounts)
        session.add_all(
            Kiosk(id=load_kiosk(n), name=f"压测终端 {n}", town="海盐县武原街道",
                  partition="default", token_hash=token_hash(load_kiosk(n)), created_at=now)
            for n in range(1, kiosks + 1) if load_kiosk(n) not in have_kiosks)
        await bump_directory(session)


async def ensure_admin(db: Database) -> str | None:
    """Seed an empty catalog and, if no admin exists, create ``admin`` with a random password.

    Returns that password, for the CLI to print once; ``None`` when an admin already exists.
    Raises :class:`AccountExists` if a non-admin account already holds the name ``admin``.
    """
    catalog = CatalogRepository(db)
    if not await catalog.list_skills():  # never overwrite an administrator's edits
        await catalog.upsert_skills(DEMO_SKILLS)
    accounts = AccountRepository(db)
    if await accounts.list(role=Role.ADMIN.value):
        return None
    password = secrets.token_urlsafe(12)
    try:
        await accounts.create(
            "admin", password, role=Role.ADMIN.value, display_name="管理员", account_id="admin"
        )
    except AccountExists:
        if await accounts.list(role=Role.ADMIN.value):
            return None  # another node created it first
        raise
    return password
