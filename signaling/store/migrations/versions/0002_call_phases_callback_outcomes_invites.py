"""Call phases, callback outcomes and addresses, invites.

What the pre-Alembic ``create_all`` added in place. Databases of that time may hold any part
of this revision, since the old start-up added missing columns one by one: each step here
adds only what is missing.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None

def _new_columns() -> dict[str, list[sa.Column[Any]]]:
    """Table -> the columns this revision adds to it."""
    return {
        "calls": [
            sa.Column("phase", sa.String(), nullable=False, server_default="ended"),
            sa.Column("offered_to", sa.String(), nullable=True),
            sa.Column("offered_at", sa.Float(), nullable=True),
        ],
        "callbacks": [
            sa.Column("outcome", sa.String(), nullable=True),
            sa.Column("notes", sa.Text(), nullable=True),
            sa.Column("address", sa.String(), nullable=True),
        ],
    }


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, columns in _new_columns().items():
        present = {column["name"] for column in inspector.get_columns(table)}
        for column in columns:
            if column.name not in present:
                op.add_column(table, column)
    op.create_index("ix_calls_phase", "calls", ["phase"], if_not_exists=True)
    op.create_index("ix_callbacks_address", "callbacks", ["address"], if_not_exists=True)
    op.create_table(
        "invites",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("token_hash", sa.String(), nullable=False, unique=True),
        sa.Column("agent_id", sa.String(), nullable=False),
        sa.Column("partition", sa.String(), nullable=False),
        sa.Column("skill", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("max_uses", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        if_not_exists=True,
    )
    op.create_index("ix_invites_agent_id", "invites", ["agent_id"], if_not_exists=True)


def downgrade() -> None:
    op.drop_index("ix_invites_agent_id", table_name="invites")
    op.drop_table("invites")
    op.drop_index("ix_callbacks_address", table_name="callbacks")
    op.drop_index("ix_calls_phase", table_name="calls")
    with op.batch_alter_table("callbacks") as batch:
        for name in ("address", "notes", "outcome"):
            batch.drop_column(name)
    with op.batch_alter_table("calls") as batch:
        for name in ("offered_at", "offered_to", "phase"):
            batch.drop_column(name)
