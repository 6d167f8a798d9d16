"""Materials, submissions, session drafts and imported catalog files.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: tuple[str, ...] | None = None
depends_on: tuple[str, ...] | None = None


def upgrade() -> None:
    op.create_table(
        "materials",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("by_role", sa.String(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
    )
    op.create_index("ix_materials_call_id", "materials", ["call_id"])
    op.create_table(
        "submissions",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("call_id", sa.String(), nullable=False),
        sa.Column("form_id", sa.String(), nullable=False),
        sa.Column("matter", sa.String(), nullable=False),
        sa.Column("form_version", sa.String(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("materials", sa.JSON(), nullable=False),
        sa.Column("filled_by", sa.JSON(), nullable=False),
        sa.Column("signature", sa.String(), nullable=True),
        sa.Column("submitted_at", sa.Float(), nullable=False),
        sa.Column("submitted_by", sa.String(), nullable=False),
    )
    op.create_index("ix_submissions_call_id", "submissions", ["call_id"])
    op.create_table(
        "session_drafts",
        sa.Column("call_id", sa.String(), primary_key=True),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )
    op.create_table(
        "catalog_files",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("catalog_files")
    op.drop_table("session_drafts")
    op.drop_index("ix_submissions_call_id", table_name="submissions")
    op.drop_table("submissions")
    op.drop_index("ix_materials_call_id", table_name="materials")
    op.drop_table("materials")
