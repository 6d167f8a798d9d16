"""Consented recording: consent per call, recordings per call, per-kiosk policy.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision: str | None = "0007"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "recording_consents",
        sa.Column("call_id", sa.String(), primary_key=True),
        sa.Column("policy", sa.String(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("consent", sa.String(), nullable=False),
        sa.Column("on_refusal", sa.String(), nullable=True),
        sa.Column("language", sa.String(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("path", sa.String(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("bytes", sa.Integer(), nullable=True),
        sa.Column("failure", sa.String(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_recordings_call_id", "recordings", ["call_id"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])
    op.create_table(
        "kiosk_recording_policies",
        sa.Column("kiosk_id", sa.String(), primary_key=True),
        sa.Column("policy", sa.String(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kiosk_recording_policies")
    op.drop_index("ix_recordings_started_at", table_name="recordings")
    op.drop_index("ix_recordings_call_id", table_name="recordings")
    op.drop_table("recordings")
    op.drop_table("recording_consents")
