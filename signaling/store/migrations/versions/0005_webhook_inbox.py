"""Departments' decision callbacks already acted on (dedupe by their event id).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_inbox",
        sa.Column("department", sa.String(), primary_key=True),
        sa.Column("event_id", sa.String(), primary_key=True),
        sa.Column("task_id", sa.String(), nullable=False),
        sa.Column("received_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_inbox")
