"""Issues whose Jira state falls short of their project's policy as it stands now.

A recompute syncs only the issues whose drift moved. When an admin switches a project from
observe to comment or reopen (or back), nothing moved, yet issues already in drift are owed the
label and the comment the new policy asks for: this finds them, from what was last applied.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect_app.reality.keys import project_of
from connect_app.reality.model import NOT_DRIFT
from connect_app.reality.record import drift_from_record
from connect_app.store.models import IssueReality, PostedComment, Tenant
from connect_app.sync.plan import falls_short
from connect_app.sync.policy import project_policy


def behind_policy(session: Session, tenant: Tenant, realities: Iterable[IssueReality]) -> list[str]:
    """Keys of these issues (synced at least once) that a sync would bring up to the policy."""
    candidates = [r for r in realities if r.applied_at is not None and not r.missing
                  and (r.applied_label or r.state not in NOT_DRIFT)]
    if not candidates:
        return []
    posted = {(key, change) for key, change in session.execute(
        select(PostedComment.issue_key, PostedComment.change_id).where(
            PostedComment.tenant_id == tenant.id, PostedComment.jira_comment_id.is_not(None)))}
    behind = []
    for reality in candidates:
        drift = drift_from_record(reality.issue_key, reality.desired, reality.title or reality.issue_key)
        policy = project_policy(tenant.settings or {}, project_of(reality.issue_key))
        if falls_short(drift, policy, applied_label=reality.applied_label, change_id=reality.change_id,
                       comment_posted=(reality.issue_key, reality.change_id) in posted,
                       done=reality.done_at is not None):
            behind.append(reality.issue_key)
    return behind
