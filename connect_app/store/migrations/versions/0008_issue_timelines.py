"""issue timelines and derived repository state: each issue's timeline events as recompute judged
them, read by the pages; branch positions, revert analysis and changes per key for the fast path

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import connect_app.store.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issue_timelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("issue_key", sa.String(length=100), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "issue_key", name="uq_issue_timeline"),
    )
    op.create_table(
        "issue_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("issue_key", sa.String(length=100), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", connect_app.store.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("sha", sa.String(length=40), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("environment", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("issue_events", schema=None) as batch_op:
        batch_op.create_index("ix_issue_events_issue", ["tenant_id", "issue_key", "seq"], unique=False)
        batch_op.create_index("ix_issue_events_window", ["tenant_id", "at"], unique=False)
    with op.batch_alter_table("issue_reality", schema=None) as batch_op:
        batch_op.create_index("ix_issue_reality_state", ["tenant_id", "state", "since"], unique=False)
    _derived_state()
    _queue_recomputes()


def _derived_state() -> None:
    """What recompute derives per repository, for pushes that only extend the branch."""
    op.create_table(
        "repository_states",
        sa.Column("connection_id", sa.String(length=40), nullable=False),
        sa.Column("tip", sa.String(length=40), nullable=True),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("last_segment_id", sa.Integer(), nullable=False),
        sa.Column("ready", sa.Boolean(), nullable=False),
        sa.Column("known", sa.JSON(), nullable=True),
        sa.Column("analysis", sa.JSON(), nullable=False),
        sa.Column("hotfixes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"]),
        sa.PrimaryKeyConstraint("connection_id"),
    )
    op.create_table(
        "branch_commits",
        sa.Column("connection_id", sa.String(length=40), nullable=False),
        sa.Column("sha", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"]),
        sa.PrimaryKeyConstraint("connection_id", "sha"),
    )
    with op.batch_alter_table("branch_commits", schema=None) as batch_op:
        batch_op.create_index("ix_branch_commits_position", ["connection_id", "position"], unique=False)
    op.create_table(
        "issue_changes",
        sa.Column("connection_id", sa.String(length=40), nullable=False),
        sa.Column("issue_key", sa.String(length=100), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"]),
        sa.PrimaryKeyConstraint("connection_id", "issue_key"),
    )


def _queue_recomputes() -> None:
    """Existing tenants' timelines are written by their next recomputation: queue one each."""
    bind = op.get_bind()
    tenants = sa.table("tenants", sa.column("id", sa.Integer()), sa.column("installed", sa.Boolean()),
                       sa.column("enabled", sa.Boolean()))
    jobs = sa.table(
        "jobs", sa.column("kind", sa.String()), sa.column("tenant_id", sa.Integer()),
        sa.column("payload", sa.JSON()), sa.column("dedupe_key", sa.String()), sa.column("status", sa.String()),
        sa.column("attempts", sa.Integer()),
        sa.column("run_after", connect_app.store.models.UTCDateTime(timezone=True)),
        sa.column("created_at", connect_app.store.models.UTCDateTime(timezone=True)),
    )
    waiting = set(bind.execute(sa.select(jobs.c.dedupe_key).where(jobs.c.dedupe_key.like("recompute:%"))).scalars())
    now = connect_app.store.models.utcnow()
    for tenant_id in bind.execute(sa.select(tenants.c.id).where(tenants.c.installed.is_(True),
                                                                    tenants.c.enabled.is_(True))).scalars():
        key = f"recompute:{tenant_id}"
        if key not in waiting:
            bind.execute(sa.insert(jobs).values(kind="recompute", tenant_id=tenant_id, payload={"tenant_id": tenant_id},
                                                dedupe_key=key, status="queued", attempts=0, run_after=now,
                                                created_at=now))


def downgrade() -> None:
    op.drop_table("issue_changes")
    with op.batch_alter_table("branch_commits", schema=None) as batch_op:
        batch_op.drop_index("ix_branch_commits_position")
    op.drop_table("branch_commits")
    op.drop_table("repository_states")
    with op.batch_alter_table("issue_reality", schema=None) as batch_op:
        batch_op.drop_index("ix_issue_reality_state")
    with op.batch_alter_table("issue_events", schema=None) as batch_op:
        batch_op.drop_index("ix_issue_events_window")
        batch_op.drop_index("ix_issue_events_issue")
    op.drop_table("issue_events")
    op.drop_table("issue_timelines")
