"""Tables of the record store: accounts, kiosks, the skill catalog and what happened to calls.

These are records only; the live queue and agent states belong to the routing engine and its
backend. Column types are kept to what SQLite and PostgreSQL both handle the same way: plain
strings, ``JSON``, and timestamps as ``Float`` epoch seconds.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Role(StrEnum):
    """What an account may do; stored as its string value."""

    #: answers calls
    AGENT = "agent"
    #: watches queues and agents of a partition
    SUPERVISOR = "supervisor"
    #: manages accounts, kiosks and the catalog
    ADMIN = "admin"
    #: decides the tasks of one department (``Account.department``) in the inbox
    REVIEWER = "reviewer"


class CallOrigin(StrEnum):
    """Where a call came from."""

    #: a self-service kiosk in a town hall
    KIOSK = "kiosk"
    #: the enterprise web page
    ENTERPRISE = "enterprise"
    #: a one-off invite link sent by an agent
    INVITE = "invite"


class CallbackStatus(StrEnum):
    """Life of a callback request; only ``CallbackRepository`` moves it forward."""

    #: waiting for an agent to take it
    PENDING = "pending"
    #: an agent took it and is calling back
    CLAIMED = "claimed"
    #: the claimer finished it
    DONE = "done"


class CallPhase(StrEnum):
    """How far a call got; the hub writes each phase as the call reaches it, so that a
    crash leaves a row for every call that was ever queued."""

    #: waiting in the queue (also again after an offer ended unanswered)
    QUEUED = "queued"
    #: an agent is being rung (``offered_to``, ``offered_at``)
    OFFERED = "offered"
    #: an agent answered (``agent_id``, ``answered_at``); the session is live
    ANSWERED = "answered"
    #: over, normally: ``ended_at`` and ``end_reason`` are final
    ENDED = "ended"
    #: the server stopped or crashed before the call ended; ``end_reason`` says which
    INTERRUPTED = "interrupted"

    @property
    def final(self) -> bool:
        return self in (CallPhase.ENDED, CallPhase.INTERRUPTED)


class Base(DeclarativeBase):
    """Declarative base of every table of the store."""


class Account(Base):
    """A person who logs in: agent, supervisor or admin."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    username: Mapped[str] = mapped_column(String, unique=True, index=True)
    display_name: Mapped[str] = mapped_column(String)
    password_hash: Mapped[str] = mapped_column(String)
    role: Mapped[str] = mapped_column(String, default=Role.AGENT.value)
    partition: Mapped[str] = mapped_column(String, default="default")
    #: skill code -> level, 1 = best
    skills: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    auto_answer: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[float] = mapped_column(Float)
    #: the department a reviewer decides for (a code of ``departments.toml``)
    department: Mapped[str | None] = mapped_column(String, default=None)


class Kiosk(Base):
    """A self-service terminal; it authenticates with a device token of which only the hash
    is kept."""

    __tablename__ = "kiosks"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    name: Mapped[str] = mapped_column(String)
    town: Mapped[str] = mapped_column(String)
    partition: Mapped[str] = mapped_column(String, default="default")
    #: sha256 hex digest of the device token
    token_hash: Mapped[str] = mapped_column(String, unique=True)
    created_at: Mapped[float] = mapped_column(Float)


class Skill(Base):
    """A service a caller can pick on the kiosk; routing matches it to agents' skills."""

    __tablename__ = "skills"

    code: Mapped[str] = mapped_column(String, primary_key=True)
    name_zh: Mapped[str] = mapped_column(String)
    name_en: Mapped[str] = mapped_column(String)
    #: short name of an icon of the front end's icon set
    icon: Mapped[str] = mapped_column(String)
    sort_order: Mapped[int] = mapped_column(default=0)


class CallRecord(Base):
    """What happened to one call: written when it is queued, updated at each phase
    (``CallPhase``), amended by rating and wrap-up."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    skill: Mapped[str] = mapped_column(String)
    origin: Mapped[str] = mapped_column(String)
    #: town name or company name, as shown to the agent
    caller_label: Mapped[str] = mapped_column(String)
    partition: Mapped[str] = mapped_column(String, default="default")
    kiosk_id: Mapped[str | None] = mapped_column(String, index=True)
    agent_id: Mapped[str | None] = mapped_column(String, index=True)
    enqueued_at: Mapped[float] = mapped_column(Float)
    #: a ``CallPhase``; rows from before phases were stored were all written at the end
    phase: Mapped[str] = mapped_column(String, server_default=CallPhase.ENDED.value,
                                       index=True)
    #: the agent rung last, and when (``agent_id`` is only the agent who answered)
    offered_to: Mapped[str | None] = mapped_column(String)
    offered_at: Mapped[float | None] = mapped_column(Float)
    answered_at: Mapped[float | None] = mapped_column(Float)
    ended_at: Mapped[float | None] = mapped_column(Float)
    end_reason: Mapped[str | None] = mapped_column(String)
    wait_s: Mapped[float | None] = mapped_column(Float)
    talk_s: Mapped[float | None] = mapped_column(Float)
    rating: Mapped[int | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String)
    notes: Mapped[str | None] = mapped_column(Text)


class Callback(Base):
    """A caller's request to be called back after waiting too long."""

    __tablename__ = "callbacks"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    call_id: Mapped[str] = mapped_column(String)
    skill: Mapped[str] = mapped_column(String)
    partition: Mapped[str] = mapped_column(String, index=True)
    phone: Mapped[str] = mapped_column(String)
    caller_label: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String, default=CallbackStatus.PENDING.value)
    claimed_by: Mapped[str | None] = mapped_column(String)
    claimed_at: Mapped[float | None] = mapped_column(Float)
    done_at: Mapped[float | None] = mapped_column(Float)
    #: how the call back went (``CallbackOutcome``) and the agent's notes, when done
    outcome: Mapped[str | None] = mapped_column(String)
    notes: Mapped[str | None] = mapped_column(Text)
    #: the network address that asked (callback requests are limited per address)
    address: Mapped[str | None] = mapped_column(String, index=True)


class CallbackOutcome(StrEnum):
    """How a completed callback went."""

    #: the caller was reached and the matter settled
    RESOLVED = "resolved"
    #: reached; the matter needs more work
    FOLLOW_UP = "follow-up"
    #: nobody answered
    NO_ANSWER = "no-answer"
    #: the number was wrong or not the caller's
    WRONG_NUMBER = "wrong-number"
    #: anything else (see the notes)
    OTHER = "other"


class Invite(Base):
    """A link an agent sends so that a person calls that agent directly.

    The link carries only a random token; the server keeps its sha256, who made it, for
    which matter and label, how often it may be used and whether it was revoked.
    """

    __tablename__ = "invites"

    id: Mapped[str] = mapped_column(String, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String, unique=True)
    agent_id: Mapped[str] = mapped_column(String, index=True)
    partition: Mapped[str] = mapped_column(String, default="default")
    skill: Mapped[str] = mapped_column(String)
    label: Mapped[str] = mapped_column(String, default="")
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    max_uses: Mapped[int] = mapped_column(default=1)
    uses: Mapped[int] = mapped_column(default=0)
    revoked_at: Mapped[float | None] = mapped_column(Float)


class AuditEntry(Base):
    """One line of the audit trail: who did what to which account, kiosk or call."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String)
    action: Mapped[str] = mapped_column(String)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Material(Base):
    """A photo or document collected in a call; the bytes live in the material store
    (``signaling.store.files``) under their sha256, the row says what they are and whence."""

    __tablename__ = "materials"

    #: ``m-`` and 16 hex digits
    id: Mapped[str] = mapped_column(String, primary_key=True)
    call_id: Mapped[str] = mapped_column(String, index=True)
    #: a material code of the catalog (``id-card``, ``property-deed``, ``signature`` …)
    kind: Mapped[str] = mapped_column(String)
    #: found from the content's magic bytes, never taken from the upload
    content_type: Mapped[str] = mapped_column(String)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String)
    #: ``upload``, ``snapshot``, ``document_camera`` or ``signature``
    source: Mapped[str] = mapped_column(String)
    #: ``caller`` or ``agent``
    by_role: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Float)
    #: pages of a PDF; 1 for an image
    pages: Mapped[int] = mapped_column(Integer, default=1)


class Submission(Base):
    """A form the caller confirmed and the server validated: final, never changed."""

    __tablename__ = "submissions"

    #: ``s-`` and hex digits
    id: Mapped[str] = mapped_column(String, primary_key=True)
    call_id: Mapped[str] = mapped_column(String, index=True)
    form_id: Mapped[str] = mapped_column(String)
    #: the matter's code and the catalog version of its form (``water.toml@3``)
    matter: Mapped[str] = mapped_column(String)
    form_version: Mapped[str] = mapped_column(String)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: ids of the materials the form refers to
    materials: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: field name -> ``caller``, ``agent`` or ``prefill``
    filled_by: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    #: the material id of the caller's signature, if the form asks for one
    signature: Mapped[str | None] = mapped_column(String)
    submitted_at: Mapped[float] = mapped_column(Float)
    #: who pressed submit: ``caller`` or an agent id
    submitted_by: Mapped[str] = mapped_column(String)


class SessionDraft(Base):
    """The last saved session document of a live call, so a restart loses only seconds."""

    __tablename__ = "session_drafts"

    call_id: Mapped[str] = mapped_column(String, primary_key=True)
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: the document's revision; a save with an older one is ignored
    revision: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[float] = mapped_column(Float)


class CatalogFile(Base):
    """One imported catalog file (``water.toml``) as text; the catalog is loaded from these."""

    __tablename__ = "catalog_files"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    #: the ``version`` integer inside the file
    version: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    imported_at: Mapped[float] = mapped_column(Float)


class CaseRecord(Base):
    """A case: the submissions of one call, approved by one task per department
    (``signaling.matters.cases``); its state is derived from the tasks and kept here for
    queries."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    #: ``HY-20261130-000123``
    number: Mapped[str] = mapped_column(String, unique=True)
    call_id: Mapped[str] = mapped_column(String, index=True)
    #: the 11-digit mobile that, with the number, may look the case up
    phone: Mapped[str] = mapped_column(String)
    partition: Mapped[str] = mapped_column(String, default="default")
    #: a ``CaseState``
    state: Mapped[str] = mapped_column(String)
    created_at: Mapped[float] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float)
    receipt_code: Mapped[str | None] = mapped_column(String)


class CaseTask(Base):
    """One department's part of a case."""

    __tablename__ = "case_tasks"

    #: ``<case number>-<n>``
    id: Mapped[str] = mapped_column(String, primary_key=True)
    case_id: Mapped[int] = mapped_column(Integer, index=True)
    department: Mapped[str] = mapped_column(String, index=True)
    #: matter codes, in the order they joined
    matters: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: submission ids, in the order they joined
    submissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: a ``TaskState``
    state: Mapped[str] = mapped_column(String)
    due_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    decided_at: Mapped[float | None] = mapped_column(Float)
    #: a reviewer's account id, or ``webhook:<department>``
    decided_by: Mapped[str | None] = mapped_column(String)
    reason: Mapped[str | None] = mapped_column(Text)


class OutboxEntry(Base):
    """A webhook delivery waiting or done; the rows are the truth, so a restart loses
    nothing (``signaling.outbox``)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    #: unique id of the event; receivers dedupe by it
    event_id: Mapped[str] = mapped_column(String, unique=True)
    department: Mapped[str] = mapped_column(String)
    #: ``task.created`` …
    kind: Mapped[str] = mapped_column(String)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, index=True)
    delivered_at: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)


class DepartmentEndpoint(Base):
    """A department's own system: where its tasks are posted and the shared secret that
    signs both directions."""

    __tablename__ = "department_endpoints"

    department: Mapped[str] = mapped_column(String, primary_key=True)
    webhook_url: Mapped[str] = mapped_column(String)
    secret: Mapped[str] = mapped_column(String)
    enabled: Mapped[bool] = mapped_column(default=True)


class WebhookInboxEntry(Base):
    """A department's signed decision callback already acted on, by its event id: a
    redelivery of the same event is answered 200 with no second effect
    (``signaling.outbox.routes``). Event ids are the department's own, so they are unique
    per department."""

    __tablename__ = "webhook_inbox"

    department: Mapped[str] = mapped_column(String, primary_key=True)
    event_id: Mapped[str] = mapped_column(String, primary_key=True)
    task_id: Mapped[str] = mapped_column(String)
    received_at: Mapped[float] = mapped_column(Float)


class TicketRecord(Base):
    """A ticket (``signaling.matters.tickets``): what could not be settled in the call, owned
    by an agent or a department, with a due time."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    #: ``HY-T-20261130-000123``
    number: Mapped[str] = mapped_column(String, unique=True)
    #: a ``TicketKind``
    kind: Mapped[str] = mapped_column(String)
    matter: Mapped[str | None] = mapped_column(String)
    subject: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(Text)
    #: the 11-digit mobile that, with the number, may look the ticket up (may be empty)
    phone: Mapped[str] = mapped_column(String)
    call_id: Mapped[str | None] = mapped_column(String)
    owner_agent: Mapped[str | None] = mapped_column(String, index=True)
    owner_department: Mapped[str | None] = mapped_column(String, index=True)
    #: a ``TicketState``
    state: Mapped[str] = mapped_column(String)
    due_at: Mapped[float] = mapped_column(Float)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    resolved_at: Mapped[float | None] = mapped_column(Float)
    #: ``{at, by, text, state}`` per change, oldest first
    notes: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class DirectoryStamp(Base):
    """A counter bumped by every write to what servers keep in memory (kiosks, accounts, the
    skill catalog), in the same transaction; a server that reads a new value reloads its
    copy (``signaling.live.directory``). One row, ``name = "directory"``."""

    __tablename__ = "directory_stamps"

    name: Mapped[str] = mapped_column(String, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
