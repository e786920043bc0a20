"""flag last event

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connect_app.store.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added nullable, filled, then tightened: existing rows have seen no event newer than the
    # one that set their state, so changed_at is the honest starting value.
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_event_at", connect_app.store.models.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE flags SET last_event_at = changed_at")
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.alter_column("last_event_at", existing_type=connect_app.store.models.UTCDateTime(timezone=True),
                              nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("flags", schema=None) as batch_op:
        batch_op.drop_column("last_event_at")
