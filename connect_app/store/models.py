"""Tables. Facts from repositories, flags and CI are stored as received so that drift can always
be recomputed from them; Jira write-back keeps what was last applied next to what is desired."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way out, whatever the database keeps (SQLite keeps naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


class Tenant(Base):
    """One Jira site that installed the app."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_key: Mapped[str] = mapped_column(String(255), unique=True)
    base_url: Mapped[str] = mapped_column(String(500))
    display_url: Mapped[str | None] = mapped_column(String(500))
    shared_secret_sealed: Mapped[str] = mapped_column(Text)
    product_type: Mapped[str] = mapped_column(String(40), default="jira")
    installed: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    known_projects: Mapped[list[Any]] = mapped_column(default=list)
    known_projects_at: Mapped[datetime | None] = mapped_column()
    installed_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    uninstalled_at: Mapped[datetime | None] = mapped_column()

    @property
    def active(self) -> bool:
        return self.installed and self.enabled


class Connection(Base):
    """One repository linked to one tenant, with its own webhook secret and deploy token."""

    __tablename__ = "connections"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20), default="github")
    repository: Mapped[str] = mapped_column(String(255))
    api_url: Mapped[str] = mapped_column(String(500))
    token_sealed: Mapped[str | None] = mapped_column(Text)
    webhook_secret_sealed: Mapped[str] = mapped_column(Text)
    deploy_token_digest: Mapped[str] = mapped_column(String(64), index=True)
    default_branch: Mapped[str] = mapped_column(String(255), default="main")
    production_environments: Mapped[list[Any] | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_delivery_at: Mapped[datetime | None] = mapped_column()
    deleted_at: Mapped[datetime | None] = mapped_column()
    backfill: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Delivery(Base):
    """Everything that arrived, stored before it is acknowledged."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("connection_id", "source", "guid", name="uq_delivery_guid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))  # github | deploy | flag:<provider>
    event: Mapped[str] = mapped_column(String(60))
    guid: Mapped[str] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default="stored")  # stored|processed|ignored|failed
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column()


class Job(Base):
    """Background work. Claimed under a lease, so a worker that dies mid-job loses nothing."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_ready", "status", "run_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenants.id"), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # While a job with this key is queued, enqueueing the same key again adds nothing.
    dedupe_key: Mapped[str | None] = mapped_column(String(300), unique=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued|running|done|parked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    run_after: Mapped[datetime] = mapped_column(default=utcnow)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()


class CommitFact(Base):
    __tablename__ = "commits"

    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    sha: Mapped[str] = mapped_column(String(40), primary_key=True)
    message: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(255), default="")
    authored_at: Mapped[datetime | None] = mapped_column()
    files: Mapped[list[Any]] = mapped_column(default=list)
    parents: Mapped[list[Any]] = mapped_column(default=list)
    brought_in: Mapped[list[Any]] = mapped_column(default=list)
    url: Mapped[str | None] = mapped_column(String(500))


class SegmentFact(Base):
    """How commits reached the default branch (a push, or a first-parent step read via the API)."""

    __tablename__ = "segments"
    __table_args__ = (UniqueConstraint("connection_id", "source", "before", "after", name="uq_segment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    source: Mapped[str] = mapped_column(String(10))
    before: Mapped[str | None] = mapped_column(String(40))
    after: Mapped[str] = mapped_column(String(40))
    commits: Mapped[list[Any]] = mapped_column(default=list)
    # When these commits reached the default branch (the push's arrival; a merge's date through
    # the API); None when unknown. The hotfix rule compares it with when the issue went Done.
    landed_at: Mapped[datetime | None] = mapped_column()


class PullRequestFact(Base):
    __tablename__ = "pull_requests"

    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, default="")
    head_ref: Mapped[str] = mapped_column(String(255), default="")
    merge_commit_sha: Mapped[str | None] = mapped_column(String(40))
    merged_at: Mapped[datetime | None] = mapped_column()
    commit_shas: Mapped[list[Any]] = mapped_column(default=list)
    url: Mapped[str | None] = mapped_column(String(500))


class DeploymentFact(Base):
    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("connection_id", "source", "external_id", name="uq_deployment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    source: Mapped[str] = mapped_column(String(20))  # github | ci
    external_id: Mapped[str] = mapped_column(String(100))
    environment: Mapped[str] = mapped_column(String(100))
    sha: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    deployed_at: Mapped[datetime] = mapped_column()
    url: Mapped[str | None] = mapped_column(String(500))
    # What it changed against the previous production deployment, filled in by the worker.
    compared: Mapped[bool] = mapped_column(Boolean, default=False)
    compared_base: Mapped[str | None] = mapped_column(String(40))  # the previous deployment's SHA
    added: Mapped[list[Any]] = mapped_column(default=list)
    removed: Mapped[list[Any]] = mapped_column(default=list)


class ReleaseFact(Base):
    """A published GitHub release and the commit its tag points at (null until known)."""

    __tablename__ = "releases"
    __table_args__ = (UniqueConstraint("connection_id", "release_id", name="uq_release"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    release_id: Mapped[int] = mapped_column(BigInteger)  # GitHub's id for the release
    tag: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(Text, default="")
    sha: Mapped[str | None] = mapped_column(String(40))
    url: Mapped[str | None] = mapped_column(String(500))
    published_at: Mapped[datetime | None] = mapped_column()


class FlagFact(Base):
    __tablename__ = "flags"
    __table_args__ = (
        UniqueConstraint("connection_id", "provider", "key", "environment", name="uq_flag"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    provider: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    environment: Mapped[str] = mapped_column(String(100))
    on: Mapped[bool] = mapped_column(Boolean)
    # When the flag entered its current on/off state; drift comments are keyed on it, so a
    # re-sent or edited flag that stays off must not move it.
    changed_at: Mapped[datetime] = mapped_column()
    # The newest event seen, whatever it changed: late, out-of-order events are judged against it.
    last_event_at: Mapped[datetime] = mapped_column()
    url: Mapped[str | None] = mapped_column(String(500))
    linked_keys: Mapped[list[Any]] = mapped_column(default=list)


class ConfigChangeFact(Base):
    """A configuration change reported to `/api/config-changes/<id>`, one row per report. Kept
    whole (not folded into a latest state) because whether an issue is rolled back depends on
    the order of every `reverted` and `applied` naming it."""

    __tablename__ = "config_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    # The delivery that reported it: a replayed delivery records nothing new, and delivery ids
    # are the order in which reports arrived, which breaks ties of changed_at.
    delivery_id: Mapped[int] = mapped_column(Integer, unique=True)
    environment: Mapped[str] = mapped_column(String(100))
    change: Mapped[str] = mapped_column(String(10))  # applied | reverted
    issue_keys: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column()
    url: Mapped[str | None] = mapped_column(String(500))


class FlagEvent(Base):
    """Every on/off event of a flag in an environment, for the timeline: `flags` keeps only the
    current state, and a flag toggled five times has five events to show."""

    __tablename__ = "flag_events"
    __table_args__ = (
        UniqueConstraint("connection_id", "provider", "key", "environment", "at", "on", name="uq_flag_event"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), index=True)
    provider: Mapped[str] = mapped_column(String(30))
    key: Mapped[str] = mapped_column(String(255))
    environment: Mapped[str] = mapped_column(String(100))
    on: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column()


class IssueReality(Base):
    """Desired Jira state of one issue next to what was last applied to Jira."""

    __tablename__ = "issue_reality"
    __table_args__ = (UniqueConstraint("tenant_id", "issue_key", name="uq_issue_reality"),
                      Index("ix_issue_reality_state", "tenant_id", "state", "since"))

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    issue_key: Mapped[str] = mapped_column(String(100))
    issue_id: Mapped[str | None] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(String(30), default="live")
    since: Mapped[datetime | None] = mapped_column()
    # Identifies the current drift change ("reverted:commit:<sha>"); None while live.
    change_id: Mapped[str | None] = mapped_column(String(200))
    # The drift change a restore comment would answer, once the issue is live again.
    restore_of: Mapped[str | None] = mapped_column(String(200))
    # Read from Jira by the last sync: the words of summaries and the hotfix rule need them.
    title: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None] = mapped_column()
    missing: Mapped[bool] = mapped_column(Boolean, default=False)
    desired: Mapped[dict[str, Any]] = mapped_column(default=dict)
    applied_property: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    applied_label: Mapped[str | None] = mapped_column(String(60))
    applied_at: Mapped[datetime | None] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class IssueTimeline(Base):
    """How many events one issue's timeline holds, and a digest of them: recompute rewrites an
    issue's events only when the digest moved."""

    __tablename__ = "issue_timelines"
    __table_args__ = (UniqueConstraint("tenant_id", "issue_key", name="uq_issue_timeline"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    issue_key: Mapped[str] = mapped_column(String(100))
    total: Mapped[int] = mapped_column(Integer, default=0)
    digest: Mapped[str] = mapped_column(String(64))


class IssueEvent(Base):
    """One event of an issue's timeline as recompute judged it (`seq` 0 is the oldest): the panel
    pages through one issue's rows and the report reads one window's, never the whole history."""

    __tablename__ = "issue_events"
    __table_args__ = (Index("ix_issue_events_issue", "tenant_id", "issue_key", "seq"),
                      Index("ix_issue_events_window", "tenant_id", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"))
    issue_key: Mapped[str] = mapped_column(String(100))
    seq: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime | None] = mapped_column()
    title: Mapped[str] = mapped_column(Text)
    sha: Mapped[str | None] = mapped_column(String(40))
    url: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(String(100))


class RepositoryState(Base):
    """What the last recomputation derived from one repository's history, so that a push that
    only extends the branch updates it in time proportional to the push (jobs/incremental.py).

    `analysis` is the revert analysis (reverts, unconfirmed reverts, what each revert keeps
    reverted), `hotfixes` the hotfix candidates' SHAs, `known` the project keys changes were
    filtered with. `ready` is false when the history is not one the fast path can extend."""

    __tablename__ = "repository_states"

    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    tip: Mapped[str | None] = mapped_column(String(40))
    length: Mapped[int] = mapped_column(Integer, default=0)
    last_segment_id: Mapped[int] = mapped_column(Integer, default=0)
    ready: Mapped[bool] = mapped_column(Boolean, default=False)
    known: Mapped[list[Any] | None] = mapped_column(JSON)
    analysis: Mapped[dict[str, Any]] = mapped_column(default=dict)
    hotfixes: Mapped[list[Any]] = mapped_column(default=list)


class BranchCommit(Base):
    """A commit's place on the default branch (the order commits reached it), per repository."""

    __tablename__ = "branch_commits"
    __table_args__ = (Index("ix_branch_commits_position", "connection_id", "position"),)

    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    sha: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)


class IssueChanges(Base):
    """One issue key's changes in one repository, as `changes_for_keys` found them."""

    __tablename__ = "issue_changes"

    connection_id: Mapped[str] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    issue_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    changes: Mapped[list[Any]] = mapped_column(default=list)


class IssueMove(Base):
    """An issue key that changed (project move): commits naming the old key still count."""

    __tablename__ = "issue_moves"
    __table_args__ = (UniqueConstraint("tenant_id", "old_key", name="uq_issue_move"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    old_key: Mapped[str] = mapped_column(String(100))
    new_key: Mapped[str] = mapped_column(String(100))


class PostedComment(Base):
    """A comment owed for one drift change and the Jira comment that paid it."""

    __tablename__ = "posted_comments"
    __table_args__ = (UniqueConstraint("tenant_id", "issue_key", "change_id", name="uq_posted_comment"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    issue_key: Mapped[str] = mapped_column(String(100))
    change_id: Mapped[str] = mapped_column(String(200))
    jira_comment_id: Mapped[str | None] = mapped_column(String(40))
    transitioned: Mapped[bool] = mapped_column(Boolean, default=False)
    posted_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Every call the app made to Jira, and every wait Jira asked for."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    issue_key: Mapped[str | None] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)


class McpToken(Base):
    """A personal token an AI assistant uses to ask as one Jira user of one site (INTERFACES 7).

    Only a keyed digest is kept: the token itself is shown once, when it is made."""

    __tablename__ = "mcp_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(128))
    label: Mapped[str] = mapped_column(String(100))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()
    # A fixed one-minute window of calls, counted in the database so every web process shares it.
    window_started_at: Mapped[datetime | None] = mapped_column()
    window_calls: Mapped[int] = mapped_column(Integer, default=0)


class DevOpsSubmission(Base):
    """One deployment or feature flag record as last submitted to Jira Software's DevOps APIs.

    `sequence` is the last `updateSequenceNumber` (`updateSequenceId` for flags) sent: it only
    grows, so Jira never ignores a later submission. `digest` is the content sent with it, and
    `install_at` the tenant's install it went to: a re-install sends everything again."""

    __tablename__ = "devops_submissions"
    __table_args__ = (UniqueConstraint("tenant_id", "record_key", name="uq_devops_submission"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    record_key: Mapped[str] = mapped_column(String(600))
    sequence: Mapped[int] = mapped_column(BigInteger, default=0)
    digest: Mapped[str] = mapped_column(String(64))
    install_at: Mapped[datetime | None] = mapped_column()
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class IssueParent(Base):
    """An issue's parent (epic) as Jira said when the issue was last synced."""

    __tablename__ = "issue_parents"
    __table_args__ = (UniqueConstraint("tenant_id", "issue_key", name="uq_issue_parent"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    issue_key: Mapped[str] = mapped_column(String(100))
    parent_key: Mapped[str | None] = mapped_column(String(100), index=True)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ParentRollup(Base):
    """An epic's (any parent's) roll-up of its children's reality, apart from the per-issue rows.

    `children` lists `{"key", "summary", "state", "since"}` of its children with linked changes;
    `desired` is the `system-reality` property the parent should carry, `applied` what was last
    written."""

    __tablename__ = "parent_rollups"
    __table_args__ = (UniqueConstraint("tenant_id", "parent_key", name="uq_parent_rollup"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    parent_key: Mapped[str] = mapped_column(String(100))
    children: Mapped[list[Any]] = mapped_column(default=list)
    desired: Mapped[dict[str, Any]] = mapped_column(default=dict)
    applied: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    applied_at: Mapped[datetime | None] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
