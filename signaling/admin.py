"""``cloud-agent admin``: accounts, kiosks and the service catalog, straight against the store.

Why a CLI first: a fresh install without ``--demo`` has only the admin account, and the
people who set up a service centre need agents and kiosk tokens before any page exists.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import time
from pathlib import Path
from typing import Any

from .matters import SHIPPED_CATALOG
from .matters.catalog import CatalogError, load_catalog, load_catalog_files
from .settings import Settings
from .store import (
    AccountExists,
    AccountRepository,
    AuditRepository,
    CatalogFileRepository,
    CatalogRepository,
    Database,
    KioskRepository,
)
from .store.case_repositories import DepartmentEndpointRepository, set_department
from .store.models import Role
from .store.passwords import MIN_PASSWORD_LENGTH, PasswordTooShort, check_password_strength


def parse_skills(text: str) -> dict[str, int]:
    """``"water:1,gas:2,tax"`` -> ``{"water": 1, "gas": 2, "tax": 1}`` (level 1 = best)."""
    skills: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        code, _, level = part.partition(":")
        value = int(level) if level else 1
        if value < 1:
            raise argparse.ArgumentTypeError(f"skill level must be >= 1 in {part!r}")
        skills[code] = value
    return skills


def add_parser(sub: Any) -> None:
    admin = sub.add_parser("admin",
                           help="manage agents, supervisors, kiosks and the service catalog")
    admin.add_argument("--data-dir", help="server data dir (for the SQLite default) [./data]")
    actions = admin.add_subparsers(dest="action", required=True)
    agent = actions.add_parser("add-agent", help="create an agent or supervisor")
    agent.add_argument("username", help="login name; also the account id")
    agent.add_argument("--skills", type=parse_skills, default={},
                       help="comma-separated skill[:level], e.g. water:1,gas:2 (1 = best)")
    agent.add_argument("--display-name", help="name shown to callers [the username]")
    agent.add_argument("--partition", default="default", help="district [default]")
    agent.add_argument("--role", choices=("agent", "supervisor"), default="agent",
                       help="agent or supervisor [agent]")
    agent.add_argument("--password", help=f"at least {MIN_PASSWORD_LENGTH} characters "
                       "(default: generated and printed once)")
    kiosk = actions.add_parser("add-kiosk", help="provision a kiosk; prints its URL token")
    kiosk.add_argument("--name", required=True, help="the kiosk's name, e.g. 武原1号")
    kiosk.add_argument("--town", required=True, help="shown to agents, e.g. 海盐县武原街道")
    kiosk.add_argument("--partition", default="default", help="district [default]")
    revoke = actions.add_parser("revoke-kiosk", help="revoke a kiosk's token: running "
                                "servers refuse its new calls within their directory refresh "
                                "(1 s by default); a call in progress goes on")
    revoke.add_argument("kiosk_id", help="the kiosk's id, as add-kiosk and list-kiosks print")
    actions.add_parser("list-kiosks", help="list kiosks")
    actions.add_parser("list-agents", help="list accounts")
    reviewer = actions.add_parser("add-reviewer", help="create a department reviewer (decides "
                                  "that department's tasks in /inbox)")
    reviewer.add_argument("username", help="login name; also the account id")
    reviewer.add_argument("--department", required=True,
                          help="department code of the catalog, e.g. water-company")
    reviewer.add_argument("--display-name", help="name shown in the inbox [the username]")
    reviewer.add_argument("--password", help=f"at least {MIN_PASSWORD_LENGTH} characters "
                          "(default: generated and printed once)")
    webhook = actions.add_parser("set-webhook", help="send a department's tasks to its own "
                                 "system (signed JSON; prints a generated secret once)")
    webhook.add_argument("department", help="department code, e.g. gas-company")
    webhook.add_argument("url", help="the department's receiver, e.g. https://gas.example/hook")
    webhook.add_argument("--secret", help="shared HMAC secret (default: generated, printed "
                         "once)")
    webhook.add_argument("--disable", action="store_true",
                         help="keep the endpoint but stop sending (tasks go to /inbox only)")
    imports = actions.add_parser(
        "import-catalog", help="check a folder of service catalog files (*.toml) and make it "
        "the active catalog; servers use it from their next start")
    imports.add_argument("path", type=Path, help="folder with materials.toml, "
                         "departments.toml and one file per category")
    exports = actions.add_parser(
        "export-catalog", help="write the active service catalog's files into a folder")
    exports.add_argument("path", type=Path, help="folder to write to (created if missing)")
    exports.add_argument("--force", action="store_true",
                         help="overwrite catalog files already in the folder")


def _actor() -> str:
    """Who is running the CLI, for the audit trail."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


async def run_admin(args: argparse.Namespace) -> int:
    from .web.app import secure_data_dir

    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    settings = Settings(**overrides)
    if args.action in ("add-agent", "add-reviewer") and args.password is not None:
        try:
            check_password_strength(args.password)
        except PasswordTooShort as error:
            print(error)
            return 2
    secure_data_dir(settings)
    db = Database(settings.resolved_database_url())
    audit = AuditRepository(db)
    try:
        await db.create_all()
        if args.action == "add-agent":
            known = {skill.code for skill in await CatalogRepository(db).list_skills()}
            unknown = sorted(set(args.skills) - known) if known else []
            if unknown:
                print(f"unknown skill(s) {', '.join(unknown)}; the catalog has: "
                      f"{', '.join(sorted(known))}")
                return 2
            password = args.password or secrets.token_urlsafe(10)
            try:
                await AccountRepository(db).create(
                    args.username, password, role=args.role, display_name=args.display_name,
                    partition=args.partition, skills=args.skills, account_id=args.username)
            except AccountExists:
                print(f"an account named {args.username!r} already exists")
                return 1
            await audit.append(_actor(), "account_created", {
                "username": args.username, "role": args.role, "partition": args.partition,
                "skills": args.skills})
            print(f"created {args.role} {args.username} with skills {args.skills}")
            if not args.password:
                print(f"password (shown once): {password}")
        elif args.action == "add-reviewer":
            return await _add_reviewer(db, audit, args)
        elif args.action == "set-webhook":
            return await _set_webhook(db, audit, args)
        elif args.action == "import-catalog":
            return await _import_catalog(db, audit, args.path)
        elif args.action == "export-catalog":
            return await _export_catalog(db, args.path, force=args.force)
        elif args.action == "add-kiosk":
            token = secrets.token_urlsafe(24)
            kiosk = await KioskRepository(db).create(token, name=args.name, town=args.town,
                                                     partition=args.partition)
            await audit.append(_actor(), "kiosk_created", {
                "kiosk_id": kiosk.id, "name": args.name, "town": args.town,
                "partition": args.partition})
            print(f"kiosk {kiosk.id} ({args.name}, {args.town}) provisioned.")
            print(f"open once on the kiosk: /kiosk?token={token}")
        elif args.action == "revoke-kiosk":
            revoked = await KioskRepository(db).revoke(args.kiosk_id)
            if revoked is None:
                print(f"no kiosk {args.kiosk_id!r}")
                return 1
            await audit.append(_actor(), "kiosk_revoked", {
                "kiosk_id": revoked.id, "name": revoked.name, "town": revoked.town})
            print(f"kiosk {revoked.id} ({revoked.name}) revoked; servers refuse its token "
                  "within their directory refresh")
        elif args.action == "list-kiosks":
            for kiosk in await KioskRepository(db).list():
                print(f"{kiosk.id:<24} {kiosk.partition:<12} {kiosk.town} {kiosk.name}")
        else:
            for account in await AccountRepository(db).list():
                print(f"{account.username:<24} {account.role:<11} {account.partition:<12} "
                      f"{account.skills}")
        return 0
    finally:
        await db.dispose()


async def _departments(db: Database) -> set[str]:
    stored = await CatalogFileRepository(db).all()
    catalog = load_catalog_files(stored) if stored else load_catalog(SHIPPED_CATALOG)
    return set(catalog.departments)


async def _add_reviewer(db: Database, audit: AuditRepository,
                        args: argparse.Namespace) -> int:
    """A reviewer account bound to one department of the active catalog."""
    known = await _departments(db)
    if args.department not in known:
        print(f"unknown department {args.department!r}; the catalog has: "
              f"{', '.join(sorted(known))}")
        return 2
    password = args.password or secrets.token_urlsafe(10)
    accounts = AccountRepository(db)
    try:
        await accounts.create(args.username, password, role=Role.REVIEWER.value,
                              display_name=args.display_name, account_id=args.username)
    except AccountExists:
        print(f"an account named {args.username!r} already exists")
        return 1
    await set_department(db, args.username, args.department)
    await audit.append(_actor(), "account_created", {
        "username": args.username, "role": Role.REVIEWER.value,
        "department": args.department})
    print(f"created reviewer {args.username} of {args.department}")
    if not args.password:
        print(f"password (shown once): {password}")
    return 0


async def _set_webhook(db: Database, audit: AuditRepository, args: argparse.Namespace) -> int:
    """Point a department's tasks at its own system; the secret is printed only when
    generated here."""
    known = await _departments(db)
    if args.department not in known:
        print(f"unknown department {args.department!r}; the catalog has: "
              f"{', '.join(sorted(known))}")
        return 2
    if not args.url.startswith(("http://", "https://")):
        print("the webhook URL must start with http:// or https://")
        return 2
    secret = args.secret or secrets.token_urlsafe(32)
    await DepartmentEndpointRepository(db).set(args.department, args.url, secret,
                                               enabled=not args.disable)
    await audit.append(_actor(), "webhook_set", {
        "department": args.department, "url": args.url, "enabled": not args.disable})
    state = "disabled" if args.disable else "enabled"
    print(f"webhook of {args.department} set to {args.url} ({state})")
    if not args.secret:
        print(f"secret (shown once): {secret}")
    return 0


async def _import_catalog(db: Database, audit: AuditRepository, folder: Path) -> int:
    """Check every file, then store them all at once; the categories become skills."""
    try:
        catalog = load_catalog(folder)
    except (CatalogError, OSError, UnicodeDecodeError) as error:
        print(f"catalog not imported: {error}")
        return 2
    await CatalogFileRepository(db).replace_all(catalog.files(), now=time.time())
    await CatalogRepository(db).upsert_skills(
        {"code": c.code, "name_zh": c.name.zh, "name_en": c.name.en, "icon": c.icon,
         "sort_order": c.sort_order} for c in catalog.categories.values())
    versions = {c.file: c.version for c in catalog.categories.values()}
    await audit.append(_actor(), "catalog_imported", {
        "files": sorted(catalog.files()), "versions": versions,
        "matters": len(catalog.matters)})
    print(f"imported {len(catalog.matters)} matters in {len(catalog.categories)} categories "
          f"from {len(catalog.files())} files; servers use it from their next start")
    return 0


async def _export_catalog(db: Database, folder: Path, *, force: bool) -> int:
    """Write the active catalog (as last imported, else the shipped one) into ``folder``."""
    stored = await CatalogFileRepository(db).all()
    catalog = load_catalog_files(stored) if stored else load_catalog(SHIPPED_CATALOG)
    files = catalog.files()
    clashes = sorted(name for name in files if (folder / name).exists())
    if clashes and not force:
        print(f"not exported: {folder} already has {', '.join(clashes)} (use --force)")
        return 1
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    source = "imported" if stored else "shipped"
    print(f"wrote {len(files)} files of the {source} catalog to {folder}")
    return 0


def main(args: argparse.Namespace) -> int:
    return asyncio.run(run_admin(args))
