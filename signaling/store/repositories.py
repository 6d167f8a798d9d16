"""Async repositories over the record store, one per table, each a short transaction per call.

Rules that must hold under concurrency are single statements: a callback is claimed by an
``UPDATE ... WHERE status = 'pending'``, a wrap-up only matches the call's own agent. Argon2
runs in worker threads, for logins in low-priority ones, so that hashing never stalls the
signaling event loop.
"""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Result, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from signaling.store.database import Database
from signaling.store.directory_repository import bump_directory
from signaling.store.models import (
    Account,
    AuditEntry,
    Callback,
    CallbackOutcome,
    CallbackStatus,
    CallPhase,
    CallRecord,
    Invite,
    Kiosk,
    Role,
    Skill,
)
from signaling.store.passwords import (
    DUMMY_HASH,
    hash_password,
    hash_password_async,
    needs_rehash,
    verify_password_async,
)


class AccountExists(Exception):
    """An account with this username (or id) is already stored; nothing was changed."""

    def __init__(self, username: str) -> None:
        super().__init__(f"account {username!r} already exists")
        self.username = username


def token_hash(token: str) -> str:
    """The stored form of a kiosk device token: sha256 hex, so a database leak reveals none."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _changed(result: Result[Any]) -> bool:
    """Whether an UPDATE matched a row."""
    return bool(cast(CursorResult[Any], result).rowcount)


class AccountRepository:
    """Accounts and logins."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        username: str,
        password: str,
        *,
        role: str = Role.AGENT.value,
        display_name: str | None = None,
        partition: str = "default",
        skills: Mapping[str, int] | None = None,
        auto_answer: bool = False,
        account_id: str | None = None,
        now: float | None = None,
    ) -> Account:
        """Store a new account; raises :class:`AccountExists` if the username is taken and
        ``ValueError`` for an unknown role."""
        role = Role(role).value
        account = Account(
            id=account_id or f"agent-{secrets.token_hex(8)}",
            username=username,
            display_name=display_name or username,
            # Normal priority: accounts are made by seeding and the CLI, not by strangers.
            password_hash=await asyncio.to_thread(hash_password, password),
            role=role,
            partition=partition,
            skills=dict(skills or {}),
            auto_answer=auto_answer,
            created_at=_now(now),
        )
        try:
            async with self._db.session() as session, session.begin():
                session.add(account)
                await bump_directory(session)
        except IntegrityError as error:
            raise AccountExists(username) from error
        return account

    async def authenticate(self, username: str, password: str) -> Account | None:
        """The account if the password is right, else ``None``; an unknown username costs the
        same argon2 verification as a wrong password."""
        async with self._db.session() as session:
            account = await session.scalar(select(Account).where(Account.username == username))
        if account is None:
            await verify_password_async(DUMMY_HASH, password)
            return None
        if not await verify_password_async(account.password_hash, password):
            return None
        if needs_rehash(account.password_hash):
            account.password_hash = await hash_password_async(password)
            async with self._db.session() as session, session.begin():
                await session.execute(
                    update(Account)
                    .where(Account.id == account.id)
                    .values(password_hash=account.password_hash)
                )
        return account

    async def get(self, account_id: str) -> Account | None:
        async with self._db.session() as session:
            return await session.get(Account, account_id)

    async def list(self, role: str | None = None) -> builtins.list[Account]:
        """Accounts ordered by username, optionally only those of one role."""
        query = select(Account).order_by(Account.username)
        if role is not None:
            query = query.where(Account.role == Role(role).value)
        async with self._db.session() as session:
            return builtins.list(await session.scalars(query))

    async def count(self) -> int:
        async with self._db.session() as session:
            return (await session.scalar(select(func.count()).select_from(Account))) or 0

    async def set_auto_answer(self, account_id: str, auto_answer: bool) -> bool:
        """Set the agent's auto-answer preference; ``False`` if there is no such account."""
        async with self._db.session() as session, session.begin():
            result = await session.execute(
                update(Account)
                .where(Account.id == account_id)
                .values(auto_answer=auto_answer)
                .execution_options(synchronize_session=False)
            )
        return _changed(result)


class KioskRepository:
    """Kiosks and their device tokens."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        token: str,
        *,
        name: str,
        town: str,
        partition: str = "default",
        kiosk_id: str | None = None,
        now: float | None = None,
    ) -> Kiosk:
        """Register a kiosk; only the token's hash is stored."""
        kiosk = Kiosk(
            id=kiosk_id or f"kiosk-{secrets.token_hex(8)}",
            name=name,
            town=town,
            partition=partition,
            token_hash=token_hash(token),
            created_at=_now(now),
        )
        async with self._db.session() as session, session.begin():
            session.add(kiosk)
            await bump_directory(session)
        return kiosk

    async def revoke(self, kiosk_id: str) -> Kiosk | None:
        """Delete the kiosk, so its token is refused (by running servers within their
        directory refresh); the removed kiosk, or ``None`` if there was none. Call records
        keep its id."""
        async with self._db.session() as session, session.begin():
            kiosk = await session.get(Kiosk, kiosk_id)
            if kiosk is None:
                return None
            await session.delete(kiosk)
            await bump_directory(session)
        return kiosk

    async def list(self) -> builtins.list[Kiosk]:
        async with self._db.session() as session:
            return builtins.list(await session.scalars(select(Kiosk).order_by(Kiosk.id)))

    async def find_by_token(self, token: str) -> Kiosk | None:
        async with self._db.session() as session:
            return await session.scalar(select(Kiosk).where(Kiosk.token_hash == token_hash(token)))

    async def get(self, kiosk_id: str) -> Kiosk | None:
        async with self._db.session() as session:
            return await session.get(Kiosk, kiosk_id)


class CatalogRepository:
    """The skill catalog shown on kiosks and used by routing."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert_skills(self, skills: Iterable[Mapping[str, Any]]) -> None:
        """Insert or update skills by ``code``; skills not listed are kept."""
        async with self._db.session() as session, session.begin():
            for skill in skills:
                await session.merge(Skill(**skill))
            await bump_directory(session)

    async def list_skills(self) -> list[Skill]:
        async with self._db.session() as session:
            return list(await session.scalars(select(Skill).order_by(Skill.sort_order, Skill.code)))

    async def get(self, code: str) -> Skill | None:
        async with self._db.session() as session:
            return await session.get(Skill, code)


#: the fields a new call record needs (its NOT NULL columns without a default)
_ROW_COLUMNS = {"id", "skill", "origin", "caller_label", "enqueued_at"}
#: the phases after which a call record changes only by rating and wrap-up
FINAL_PHASES = (CallPhase.ENDED.value, CallPhase.INTERRUPTED.value)


class CallRepository:
    """Call records from the moment a call is queued, with the caller's rating and the
    agent's wrap-up."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, **fields: Any) -> bool:
        """Insert or update the record with ``fields["id"]``; fields not given are kept.

        One statement per call, since the hub writes every phase of every call: an upsert
        when the fields can make a whole row, else an UPDATE, which is ``False`` if there
        is no row to update.
        """
        values = {key: value for key, value in fields.items() if key != "id"}
        if not _ROW_COLUMNS <= fields.keys():
            return await self._update(CallRecord.id == fields["id"], **values)
        insert = (sqlite_insert if self._db.engine.dialect.name == "sqlite" else pg_insert)
        statement = insert(CallRecord).values(**fields).on_conflict_do_update(
            index_elements=[CallRecord.id], set_=values)
        async with self._db.session() as session, session.begin():
            await session.execute(statement)
        return True

    async def set_rating(self, call_id: str, rating: int) -> bool:
        """Store the caller's 1-5 rating; ``False`` if the call is unknown."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise ValueError(f"rating must be an integer 1..5, not {rating!r}")
        return await self._update(CallRecord.id == call_id, rating=rating)

    async def set_wrap_up(
        self, call_id: str, *, agent_id: str, outcome: str | None, notes: str | None
    ) -> bool:
        """Store the wrap-up; only the agent who took the call may, else ``False``."""
        return await self._update(
            (CallRecord.id == call_id) & (CallRecord.agent_id == agent_id),
            outcome=outcome,
            notes=notes,
        )

    async def interrupt_unfinished(
        self, *, now: float, reason: str, call_ids: Iterable[str] | None = None
    ) -> int:
        """Mark records still in a live phase as interrupted (the server stopped or died
        before they ended), all of them or only ``call_ids``; returns how many."""
        condition: ColumnElement[bool] = CallRecord.phase.not_in(FINAL_PHASES)
        if call_ids is not None:
            condition = condition & CallRecord.id.in_(builtins.list(call_ids))
        async with self._db.session() as session, session.begin():
            result = await session.execute(
                update(CallRecord)
                .where(condition)
                .values(phase=CallPhase.INTERRUPTED.value, ended_at=now, end_reason=reason)
                .execution_options(synchronize_session=False)
            )
        return cast(CursorResult[Any], result).rowcount

    async def live_enqueued_before(self, before: float) -> list[tuple[str, str | None]]:
        """(id, district) of records still in a live phase whose call was queued before
        ``before`` (epoch seconds): candidates for a cluster leader's orphan check."""
        query = select(CallRecord.id, CallRecord.partition).where(
            CallRecord.phase.not_in(FINAL_PHASES), CallRecord.enqueued_at < before)
        async with self._db.session() as session:
            return [(row[0], row[1]) for row in await session.execute(query)]

    async def last_for_agent(self, agent_id: str) -> CallRecord | None:
        """The agent's latest call that is over (ended or interrupted), by ``ended_at``."""
        query = (
            select(CallRecord)
            .where(CallRecord.agent_id == agent_id, CallRecord.phase.in_(FINAL_PHASES))
            .order_by(CallRecord.ended_at.desc(), CallRecord.id.desc())
            .limit(1)
        )
        async with self._db.session() as session:
            return await session.scalar(query)

    async def recent_for_agent(self, agent_id: str, limit: int = 20) -> list[CallRecord]:
        """The agent's calls that are over, newest first."""
        query = (
            select(CallRecord)
            .where(CallRecord.agent_id == agent_id, CallRecord.phase.in_(FINAL_PHASES))
            .order_by(CallRecord.enqueued_at.desc(), CallRecord.id.desc())
            .limit(limit)
        )
        async with self._db.session() as session:
            return list(await session.scalars(query))

    async def get(self, call_id: str) -> CallRecord | None:
        async with self._db.session() as session:
            return await session.get(CallRecord, call_id)

    async def _update(self, condition: Any, **values: Any) -> bool:
        async with self._db.session() as session, session.begin():
            result = await session.execute(
                update(CallRecord)
                .where(condition)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        return _changed(result)


class CallbackRepository:
    """Callback requests; claim and complete are race-free single statements."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self,
        *,
        call_id: str,
        skill: str,
        partition: str,
        phone: str,
        caller_label: str,
        now: float,
        address: str | None = None,
    ) -> Callback:
        callback = Callback(
            id=f"cb-{secrets.token_hex(8)}",
            call_id=call_id,
            skill=skill,
            partition=partition,
            phone=phone,
            caller_label=caller_label,
            created_at=now,
            status=CallbackStatus.PENDING.value,
            address=address,
        )
        async with self._db.session() as session, session.begin():
            session.add(callback)
        return callback

    async def pending_for_phone(self, phone: str, partition: str) -> Callback | None:
        """The oldest pending callback for this number in this district, if any."""
        query = (
            select(Callback)
            .where(Callback.phone == phone, Callback.partition == partition,
                   Callback.status == CallbackStatus.PENDING.value)
            .order_by(Callback.created_at, Callback.id)
            .limit(1)
        )
        async with self._db.session() as session:
            return await session.scalar(query)

    async def count_since(self, since: float, *, phone: str | None = None,
                          address: str | None = None, partition: str | None = None) -> int:
        """Callback requests made since ``since`` for a number, an address or a district."""
        query = select(func.count()).select_from(Callback).where(Callback.created_at >= since)
        if phone is not None:
            query = query.where(Callback.phone == phone)
        if address is not None:
            query = query.where(Callback.address == address)
        if partition is not None:
            query = query.where(Callback.partition == partition)
        async with self._db.session() as session:
            return (await session.scalar(query)) or 0

    async def list_done_by(self, agent_id: str, limit: int = 20) -> list[Callback]:
        """Callbacks an agent completed, newest first."""
        query = (
            select(Callback)
            .where(Callback.claimed_by == agent_id,
                   Callback.status == CallbackStatus.DONE.value)
            .order_by(Callback.done_at.desc(), Callback.id.desc())
            .limit(limit)
        )
        async with self._db.session() as session:
            return list(await session.scalars(query))

    async def list_pending(self, partition: str) -> list[Callback]:
        """Pending callbacks of a partition, oldest first."""
        query = (
            select(Callback)
            .where(Callback.partition == partition, Callback.status == CallbackStatus.PENDING.value)
            .order_by(Callback.created_at, Callback.id)
        )
        async with self._db.session() as session:
            return list(await session.scalars(query))

    async def list_claimed_by(self, agent_id: str) -> list[Callback]:
        """Callbacks an agent has claimed and not yet completed, oldest first."""
        query = (
            select(Callback)
            .where(Callback.claimed_by == agent_id,
                   Callback.status == CallbackStatus.CLAIMED.value)
            .order_by(Callback.created_at, Callback.id)
        )
        async with self._db.session() as session:
            return list(await session.scalars(query))

    async def claim(self, callback_id: str, agent_id: str, now: float) -> Callback | None:
        """Take a pending callback; ``None`` if someone else already has it (or it is unknown).

        One conditional UPDATE, so of two agents claiming at once exactly one wins.
        """
        statement = (
            update(Callback)
            .where(Callback.id == callback_id, Callback.status == CallbackStatus.PENDING.value)
            .values(status=CallbackStatus.CLAIMED.value, claimed_by=agent_id, claimed_at=now)
            .returning(Callback)
        )
        async with self._db.session() as session, session.begin():
            return (await session.scalars(statement)).first()

    async def discard(self, callback_id: str) -> None:
        """Remove a callback that never took effect (its call was answered meanwhile)."""
        async with self._db.session() as session, session.begin():
            item = await session.get(Callback, callback_id)
            if item is not None:
                await session.delete(item)

    async def complete(self, callback_id: str, agent_id: str, now: float, *,
                       outcome: str = CallbackOutcome.RESOLVED.value,
                       notes: str | None = None) -> bool:
        """Mark a claimed callback done with how it went; only its claimer may, else
        ``False``."""
        outcome = CallbackOutcome(outcome).value
        statement = (
            update(Callback)
            .where(
                Callback.id == callback_id,
                Callback.status == CallbackStatus.CLAIMED.value,
                Callback.claimed_by == agent_id,
            )
            .values(status=CallbackStatus.DONE.value, done_at=now, outcome=outcome,
                    notes=notes)
            .execution_options(synchronize_session=False)
        )
        async with self._db.session() as session, session.begin():
            result = await session.execute(statement)
        return _changed(result)


class InviteUnusable(Exception):
    """The invite link is unknown, expired, revoked or used up; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InviteRepository:
    """Invite links: opaque random tokens, of which only the hash is stored."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, *, agent_id: str, partition: str, skill: str, label: str,
                     ttl: float, max_uses: int, now: float) -> tuple[Invite, str]:
        """A new invite and its token (returned once; only its hash is kept)."""
        token = secrets.token_urlsafe(16)  # 22 characters, 128 random bits
        invite = Invite(id=f"inv-{secrets.token_hex(6)}", token_hash=token_hash(token),
                        agent_id=agent_id, partition=partition, skill=skill, label=label,
                        created_at=now, expires_at=now + ttl, max_uses=max_uses, uses=0,
                        revoked_at=None)
        async with self._db.session() as session, session.begin():
            session.add(invite)
        return invite, token

    async def find(self, token: str) -> Invite | None:
        async with self._db.session() as session:
            return await session.scalar(
                select(Invite).where(Invite.token_hash == token_hash(token)))

    async def usable(self, token: str, now: float) -> Invite:
        """The invite behind ``token`` if it can still carry a call; InviteUnusable if not."""
        invite = await self.find(token)
        if invite is None:
            raise InviteUnusable("unknown link")
        if invite.revoked_at is not None:
            raise InviteUnusable("revoked by the agent")
        if invite.expires_at < now:
            raise InviteUnusable("expired")
        if invite.uses >= invite.max_uses:
            raise InviteUnusable("already used")
        return invite

    async def use(self, invite_id: str, now: float) -> bool:
        """Count one call against the invite; ``False`` if it was used up, revoked or
        expired meanwhile (one conditional UPDATE, so two calls cannot share the last use)."""
        statement = (
            update(Invite)
            .where(Invite.id == invite_id, Invite.uses < Invite.max_uses,
                   Invite.revoked_at.is_(None), Invite.expires_at >= now)
            .values(uses=Invite.uses + 1)
            .execution_options(synchronize_session=False)
        )
        async with self._db.session() as session, session.begin():
            return _changed(await session.execute(statement))

    async def give_back(self, invite_id: str) -> None:
        """Undo ``use`` for a call that never made it into the queue."""
        statement = (
            update(Invite).where(Invite.id == invite_id, Invite.uses > 0)
            .values(uses=Invite.uses - 1).execution_options(synchronize_session=False)
        )
        async with self._db.session() as session, session.begin():
            await session.execute(statement)

    async def list_for_agent(self, agent_id: str, limit: int = 50) -> list[Invite]:
        """The agent's invites, newest first."""
        query = (select(Invite).where(Invite.agent_id == agent_id)
                 .order_by(Invite.created_at.desc(), Invite.id.desc()).limit(limit))
        async with self._db.session() as session:
            return list(await session.scalars(query))

    async def revoke(self, invite_id: str, agent_id: str, now: float) -> bool:
        """Revoke one of the agent's own invites; ``False`` if it is not theirs (or unknown).
        Revoking twice is harmless."""
        statement = (
            update(Invite).where(Invite.id == invite_id, Invite.agent_id == agent_id)
            .values(revoked_at=func.coalesce(Invite.revoked_at, now))
            .execution_options(synchronize_session=False)
        )
        async with self._db.session() as session, session.begin():
            return _changed(await session.execute(statement))


class AuditRepository:
    """The append-only audit trail: who (``actor``) did what (``action``) with ``detail``.

    ``detail`` is a small JSON object (username, address, the kiosk or account touched);
    never a password or a token.
    """

    #: the most entries ``recent`` returns
    MAX_RECENT = 200

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(
        self, actor: str, action: str, detail: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> AuditEntry:
        """Add one entry; ``now`` defaults to the wall clock."""
        entry = AuditEntry(at=_now(now), actor=actor, action=action, detail=dict(detail or {}))
        async with self._db.session() as session, session.begin():
            session.add(entry)
        return entry

    async def recent(self, limit: int = 100) -> list[AuditEntry]:
        """The latest entries, newest first (at most :attr:`MAX_RECENT`)."""
        limit = max(1, min(limit, self.MAX_RECENT))
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        async with self._db.session() as session:
            return list(await session.scalars(query))
