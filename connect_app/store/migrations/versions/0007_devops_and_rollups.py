"""devops submissions, issue parents and parent roll-ups

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connect_app.store.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "devops_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("record_key", sa.String(length=600), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("install_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("submitted_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "record_key", name="uq_devops_submission"),
    )
    with op.batch_alter_table("devops_submissions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_devops_submissions_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "issue_parents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("issue_key", sa.String(length=100), nullable=False),
        sa.Column("parent_key", sa.String(length=100), nullable=True),
        sa.Column("seen_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "issue_key", name="uq_issue_parent"),
    )
    with op.batch_alter_table("issue_parents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issue_parents_parent_key"), ["parent_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_issue_parents_tenant_id"), ["tenant_id"], unique=False)
    op.create_table(
        "parent_rollups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("parent_key", sa.String(length=100), nullable=False),
        sa.Column("children", sa.JSON(), nullable=False),
        sa.Column("desired", sa.JSON(), nullable=False),
        sa.Column("applied", sa.JSON(), nullable=True),
        sa.Column("applied_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("computed_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "parent_key", name="uq_parent_rollup"),
    )
    with op.batch_alter_table("parent_rollups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_parent_rollups_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("parent_rollups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_parent_rollups_tenant_id"))
    op.drop_table("parent_rollups")
    with op.batch_alter_table("issue_parents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issue_parents_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_issue_parents_parent_key"))
    op.drop_table("issue_parents")
    with op.batch_alter_table("devops_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_devops_submissions_tenant_id"))
    op.drop_table("devops_submissions")
