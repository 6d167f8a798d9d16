"""Directory stamp: a counter bumped with every change to kiosks, accounts and skills, so
servers know when to reload their in-memory copy.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision: str | None = "0006"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    stamps = op.create_table(
        "directory_stamps",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.bulk_insert(stamps, [{"name": "directory", "version": 1}])


def downgrade() -> None:
    op.drop_table("directory_stamps")
