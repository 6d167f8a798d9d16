"""The directory: kiosks, accounts' routing profiles and the skill catalog, held in memory.

Why: a call request must not wait for the database (issue 9: every ``call_request`` looked
its kiosk token up through the pool the call records use, and at 200 calls/s callers waited
seconds). The routing path reads only this copy, with no await.

How it stays fresh:

- loaded whole at start;
- a change made by this process through :meth:`Directory.changed` (or a local setter such
  as :meth:`Directory.set_auto_answer`) is seen at once;
- a change made by another process (``cloud-agent admin`` writes the database directly,
  another node) bumps the store's directory stamp in the same transaction; every
  ``refresh_interval`` seconds the directory reads that one integer and reloads when it
  moved. So another process's change is seen within ``refresh_interval`` plus one reload
  (docs/operations.md "Directory"). A revoked kiosk token is refused from then on.
- :meth:`Directory.invalidate` asks for a reload at the next chance; a cross-node
  invalidation (the Redis backend's pub/sub wake-up, issue 10) calls it. The poll stays
  as the safety net for a lost wake-up (DESIGN.md: pub/sub is only a wake-up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from ..store.directory_repository import DirectoryRepository, DirectorySnapshot
from ..store.repositories import token_hash

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KioskEntry:
    """A provisioned kiosk as the caller side needs it."""

    id: str
    name: str
    town: str
    partition: str


@dataclass(frozen=True)
class AccountEntry:
    """An account as the agent side needs it at login (no password hash is kept)."""

    id: str
    username: str
    display_name: str
    role: str
    partition: str
    skills: Mapping[str, int] = field(default_factory=dict)
    auto_answer: bool = False


@dataclass(frozen=True)
class SkillEntry:
    """A skill of the catalog (what a caller picks, what routing matches)."""

    code: str
    name_zh: str
    name_en: str
    icon: str
    sort_order: int = 0


@dataclass(frozen=True)
class _Contents:
    stamp: int
    kiosks_by_hash: Mapping[str, KioskEntry]
    accounts: Mapping[str, AccountEntry]
    skills: Mapping[str, SkillEntry]


def _contents(snapshot: DirectorySnapshot) -> _Contents:
    return _Contents(
        stamp=snapshot.stamp,
        kiosks_by_hash=MappingProxyType({
            k.token_hash: KioskEntry(k.id, k.name, k.town, k.partition)
            for k in snapshot.kiosks}),
        accounts=MappingProxyType({
            a.id: AccountEntry(a.id, a.username, a.display_name, a.role, a.partition,
                               MappingProxyType(dict(a.skills or {})), bool(a.auto_answer))
            for a in snapshot.accounts}),
        skills=MappingProxyType({
            s.code: SkillEntry(s.code, s.name_zh, s.name_en, s.icon, s.sort_order)
            for s in snapshot.skills}),
    )


_EMPTY = _Contents(0, MappingProxyType({}), MappingProxyType({}), MappingProxyType({}))


class Directory:
    """In-memory kiosks (by token hash), accounts and skills, reloaded on change.

    Readers are synchronous and see one consistent copy: a reload builds a new copy and
    swaps it in with one assignment.
    """

    def __init__(self, source: DirectoryRepository, refresh_interval: float = 1.0) -> None:
        self.source = source
        self.refresh_interval = refresh_interval
        self._contents = _EMPTY
        self._wake = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        #: reloads done since start (for tests and /metrics)
        self.reloads = 0

    # ------------------------------------------------------------------ reading

    @property
    def stamp(self) -> int:
        """The store's directory stamp this copy was read at."""
        return self._contents.stamp

    def kiosk_for_token(self, token: str) -> KioskEntry | None:
        """The kiosk a device token belongs to, or ``None`` (unknown or revoked)."""
        return self._contents.kiosks_by_hash.get(token_hash(token))

    def account(self, account_id: str) -> AccountEntry | None:
        return self._contents.accounts.get(account_id)

    @property
    def skills(self) -> Mapping[str, SkillEntry]:
        """Skills by code, in the catalog's order."""
        return self._contents.skills

    # ------------------------------------------------------------------ changing

    async def load(self) -> None:
        """Read everything now (at start, and whenever the stamp moved)."""
        async with self._reload_lock:
            self._contents = _contents(await self.source.snapshot())
            self.reloads += 1

    async def changed(self) -> None:
        """This process changed kiosks, accounts or skills in the store: reload at once,
        so its own next request sees the change."""
        await self.load()

    def set_auto_answer(self, account_id: str, enabled: bool) -> None:
        """An agent switched auto-answer (written to the store in the background)."""
        contents = self._contents
        account = contents.accounts.get(account_id)
        if account is None or account.auto_answer == enabled:
            return
        accounts = dict(contents.accounts)
        accounts[account_id] = replace(account, auto_answer=enabled)
        self._contents = replace(contents, accounts=MappingProxyType(accounts))

    def remember_account(self, account: AccountEntry) -> None:
        """An account read from the store on a miss (made by another process since the
        last reload)."""
        contents = self._contents
        self._contents = replace(contents, accounts=MappingProxyType(
            {**contents.accounts, account.id: account}))

    def invalidate(self) -> None:
        """Reload at the next chance (a cross-node wake-up; the poll is the safety net)."""
        self._wake.set()

    async def refresh(self) -> bool:
        """Reload if the store's stamp moved; whether it did."""
        if await self.source.stamp() == self._contents.stamp:
            return False
        await self.load()
        return True

    async def run(self) -> None:
        """Poll the stamp every ``refresh_interval`` seconds until cancelled."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.refresh_interval)
                woken = True
            except TimeoutError:
                woken = False
            self._wake.clear()
            try:
                if woken:
                    await self.load()
                else:
                    await self.refresh()
            except Exception:  # a database blip: keep serving the last copy, try again
                log.exception("directory refresh failed; keeping the copy of stamp %d",
                              self._contents.stamp)
