"""Tickets: what could not be settled in the call, owned by an agent or a department.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0005"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(), nullable=False, unique=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("matter", sa.String(), nullable=True),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("phone", sa.String(), nullable=False),
        sa.Column("call_id", sa.String(), nullable=True),
        sa.Column("owner_agent", sa.String(), nullable=True),
        sa.Column("owner_department", sa.String(), nullable=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("due_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("resolved_at", sa.Float(), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
    )
    op.create_index("ix_tickets_owner_agent", "tickets", ["owner_agent"])
    op.create_index("ix_tickets_owner_department", "tickets", ["owner_department"])


def downgrade() -> None:
    op.drop_index("ix_tickets_owner_department", table_name="tickets")
    op.drop_index("ix_tickets_owner_agent", table_name="tickets")
    op.drop_table("tickets")
