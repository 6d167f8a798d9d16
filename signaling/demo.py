"""Demo data and first-run seeding, so a fresh install can be tried and administered at once.

Both entry points are idempotent: they add what is missing and never overwrite what exists.
"""

from __future__ import annotations

import secrets
from typing import Any

from signaling.matters import SHIPPED_CATALOG
from signaling.matters.catalog import load_catalog
from signaling.store import (
    AccountExists,
    AccountRepository,
    CatalogRepository,
    Database,
    KioskRepository,
)
from signaling.store.models import Role

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


async def seed_demo(db: Database) -> None:
    """Add the demo catalog, agents, supervisor and kiosks; anything already there is kept."""
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
