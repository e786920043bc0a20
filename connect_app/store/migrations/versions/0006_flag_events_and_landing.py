"""flag events and when commits reached the branch

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connect_app.store.models

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "flag_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.String(length=40), nullable=False),
        sa.Column("provider", sa.String(length=30), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("environment", sa.String(length=100), nullable=False),
        sa.Column("on", sa.Boolean(), nullable=False),
        sa.Column("at", connect_app.store.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"]),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "provider", "key", "environment", "at", "on", name="uq_flag_event"),
    )
    with op.batch_alter_table("flag_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flag_events_connection_id"), ["connection_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flag_events_tenant_id"), ["tenant_id"], unique=False)
    # The state each flag is in now is the one event known of it so far.
    op.execute('INSERT INTO flag_events (tenant_id, connection_id, provider, key, environment, "on", at) '
               'SELECT tenant_id, connection_id, provider, key, environment, "on", changed_at FROM flags')
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("landed_at", connect_app.store.models.UTCDateTime(timezone=True),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segments", schema=None) as batch_op:
        batch_op.drop_column("landed_at")
    with op.batch_alter_table("flag_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flag_events_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_flag_events_connection_id"))
    op.drop_table("flag_events")
