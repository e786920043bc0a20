"""config changes

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connect_app.store.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "config_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.String(length=40), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("change", sa.String(length=10), nullable=False),
        sa.Column("issue_keys", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("changed_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("delivery_id"),
    )
    with op.batch_alter_table("config_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_config_changes_connection_id"), ["connection_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_config_changes_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("config_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_config_changes_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_config_changes_connection_id"))
    op.drop_table("config_changes")
