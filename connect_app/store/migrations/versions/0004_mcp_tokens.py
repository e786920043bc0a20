"""mcp tokens

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connect_app.store.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mcp_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_started_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("window_calls", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_digest"),
    )
    with op.batch_alter_table("mcp_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mcp_tokens_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mcp_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mcp_tokens_tenant_id"))
    op.drop_table("mcp_tokens")
