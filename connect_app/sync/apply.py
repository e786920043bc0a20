"""Reconcile one issue in Jira with its desired state.

Desired state lives in `IssueReality` (written by recompute). This module reads the issue once,
compares, and makes only the calls that close the difference:

- one `PUT issue` carrying the `system-reality` property, the issue-context status and the
  `drift-*` label change together;
- one comment per drift change of a Done issue (and one restore comment), or, under the
  `reopen` policy, one transition that carries that comment.

Comments are guarded by an intent row committed *before* the POST: if the process dies between
Jira's answer and our commit, the next attempt finds the intent still open and looks in Jira
for the comment instead of posting again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from connect_app.connect.audited import jira_for
from connect_app.connect.descriptor import ISSUE_CONTEXT_STATUS_PROPERTY, ISSUE_PROPERTY_KEY, PROJECT_PROPERTY_KEY
from connect_app.connect.jira import JiraClient, JiraError, is_done
from connect_app.jobs import queue
from connect_app.jobs.kinds import queue_recompute
from connect_app.jobs.locks import exclusive
from connect_app.reality import story
from connect_app.reality.keys import project_of
from connect_app.reality.model import Drift
from connect_app.reality.record import drift_from_record, iso, parse_iso
from connect_app.services import Services
from connect_app.store.db import transaction
from connect_app.store.facts import commit_author_and_message
from connect_app.store.models import IssueReality, PostedComment, Tenant, utcnow
from connect_app.sync.plan import CommentPlan, context_status, plan_comment, plan_fields
from connect_app.sync.policy import ProjectPolicy, business_owner_field, project_policy
from connect_app.sync.rollup import note_parent, rolls_up
from connect_app.sync.still_open import still_open

log = logging.getLogger(__name__)

COMMENT_MARK = "system-reality-change"  # comment entity property naming the drift change it reports

def _waits_out_jira_quota(sync: Callable[[Services, int, str], None]) -> Callable[[Services, int, str], None]:
    """Jira's "come back in an hour" is not a failure: counting it would park the job after a few
    throttled runs. Hand the job back to the queue for as long as Jira asked, attempt uncounted."""

    def run(svc: Services, tenant_id: int, issue_key: str) -> None:
        try:
            sync(svc, tenant_id, issue_key)
        except JiraError as exc:
            if exc.retry_after is None:
                raise
            raise queue.Retry(exc.retry_after, str(exc)) from exc

    run.__doc__, run.__name__ = sync.__doc__, sync.__name__
    return run


@_waits_out_jira_quota
def sync_issue(svc: Services, tenant_id: int, issue_key: str) -> None:
    """Reconcile one issue; never alongside another sync of the same issue (see locks.py)."""
    with exclusive(svc, f"sync:{tenant_id}:{issue_key}"):
        _sync_issue(svc, tenant_id, issue_key)


def _sync_issue(svc: Services, tenant_id: int, issue_key: str) -> None:
    with svc.sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        reality = session.scalar(select(IssueReality).where(
            IssueReality.tenant_id == tenant_id, IssueReality.issue_key == issue_key))
        if tenant is None or reality is None or not tenant.active:
            return
        session.expunge_all()
    jira = jira_for(svc, tenant)
    owner_field = business_owner_field(tenant.settings)
    fields = ["summary", "status", "labels", "reporter", "assignee", "project", "issuetype", "parent",
              "issuelinks", "statuscategorychangedate", *([owner_field] if owner_field else [])]
    try:
        issue = jira.get_issue(issue_key, fields=fields, properties=[ISSUE_PROPERTY_KEY])
    except JiraError as exc:
        if exc.status == 404:
            _mark_missing(svc, reality.id)
            return
        raise
    issue_fields = issue.get("fields") or {}
    title = issue_fields.get("summary") or issue_key
    drift = drift_from_record(issue_key, reality.desired, title)
    policy = project_policy(tenant.settings, project_of(issue_key))
    done = is_done(issue_fields.get("status"), policy.done_statuses)

    _reconcile_fields(svc, jira, reality, issue, drift, policy)
    _settle_comments(svc, jira, tenant, reality, issue, drift, policy, done=done)
    _remember_issue(svc, reality.id, issue, title, done)
    note_parent(svc, tenant_id, issue_key, issue_fields.get("parent"))  # the epic's roll-up follows


def _reconcile_fields(svc: Services, jira: JiraClient, reality: IssueReality, issue: Mapping[str, Any],
                      drift: Drift, policy: ProjectPolicy) -> None:
    current = (issue.get("properties") or {}).get(ISSUE_PROPERTY_KEY)
    plan = plan_fields(current, (issue.get("fields") or {}).get("labels") or [], drift, policy)
    if plan.property is not None and rolls_up(svc, reality.tenant_id, reality.issue_key):
        # A parent's property carries its own reality and its children's in one value: the
        # roll-up writes it (and the status beside it), so the two never overwrite each other.
        plan = replace(plan, property=None)
    properties: dict[str, Any] = {}
    if plan.property is not None:
        properties[ISSUE_PROPERTY_KEY] = {**plan.property, "updated": iso(utcnow())}
        properties[ISSUE_CONTEXT_STATUS_PROPERTY] = context_status(drift)
    if plan.edits:
        jira.edit_issue(reality.issue_key, labels_add=list(plan.add), labels_remove=list(plan.remove),
                        properties=properties or None)
    if current is None and plan.property is not None:
        _mark_project(jira, project_of(reality.issue_key))
    with transaction(svc.sessions) as session:
        row = session.get(IssueReality, reality.id)
        if row is not None:
            row.applied_property = properties.get(ISSUE_PROPERTY_KEY, current if plan.property is None else None)
            row.applied_label = plan.label
            row.applied_at = utcnow()


def _mark_project(jira: JiraClient, project: str) -> None:
    """The first issue of a project with linked changes marks the project, so Jira shows the
    panel (with its empty state) on the project's other issues, and nowhere else."""
    if jira.get_project_property(project, PROJECT_PROPERTY_KEY) is None:
        jira.set_project_property(project, PROJECT_PROPERTY_KEY, {"linkedChanges": True})


def _settle_comments(svc: Services, jira: JiraClient, tenant: Tenant, reality: IssueReality,
                     issue: Mapping[str, Any], drift: Drift, policy: ProjectPolicy, *, done: bool) -> None:
    posted = bool(reality.restore_of) and _posted(svc, tenant.id, reality.issue_key, reality.restore_of or "")
    plan = plan_comment(drift, change_id=reality.change_id, restore_of=reality.restore_of,
                        drift_comment_posted=posted, policy=policy, done=done)
    if plan is None:
        return
    if plan.kind == "drift":
        _post_once(svc, jira, tenant, reality, plan, lambda: _drift_comment(svc, jira, tenant, issue, drift), policy)
    else:
        _post_once(svc, jira, tenant, reality, plan, lambda: _restore_comment(tenant, issue, drift), policy)


def _posted(svc: Services, tenant_id: int, issue_key: str, change: str) -> bool:
    with svc.sessions() as session:
        row = session.scalar(select(PostedComment).where(
            PostedComment.tenant_id == tenant_id, PostedComment.issue_key == issue_key,
            PostedComment.change_id == change))
        return row is not None and row.jira_comment_id is not None


def _post_once(svc: Services, jira: JiraClient, tenant: Tenant, reality: IssueReality, plan: CommentPlan,
               build: Callable[[], dict[str, Any]], policy: ProjectPolicy) -> None:
    change = plan.change
    with transaction(svc.sessions) as session:
        intent = session.scalar(select(PostedComment).where(
            PostedComment.tenant_id == tenant.id, PostedComment.issue_key == reality.issue_key,
            PostedComment.change_id == change))
        if intent is not None and intent.jira_comment_id is not None:
            return
        if intent is None:
            session.add(PostedComment(tenant_id=tenant.id, issue_key=reality.issue_key, change_id=change))
            intent_is_new = True
        else:
            intent_is_new = False
    if not intent_is_new:
        # A previous attempt may have posted and died before recording it: look before posting.
        found = _find_our_comment(jira, tenant.id, reality.issue_key, change)
        if found is not None:
            _settle_intent(svc, tenant.id, reality.issue_key, change, found)
            return
    adf = build()
    transition = _reopen_transition(jira, reality.issue_key, policy) if plan.reopen else None
    if transition is not None:
        jira.transition(reality.issue_key, transition, comment_adf=adf)
        comment_id = _mark_transition_comment(jira, tenant.id, reality.issue_key, change)
    else:
        comment = jira.add_comment(reality.issue_key, adf, properties={COMMENT_MARK: {"change": change}})
        comment_id = str(comment.get("id") or "posted")
    _settle_intent(svc, tenant.id, reality.issue_key, change, comment_id, transitioned=transition is not None)


def _settle_intent(svc: Services, tenant_id: int, issue_key: str, change: str, comment_id: str, *,
                   transitioned: bool = False) -> None:
    with transaction(svc.sessions) as session:
        intent = session.scalar(select(PostedComment).where(
            PostedComment.tenant_id == tenant_id, PostedComment.issue_key == issue_key,
            PostedComment.change_id == change))
        if intent is not None:
            intent.jira_comment_id = comment_id
            intent.transitioned = transitioned
            intent.posted_at = utcnow()


# The app's own Jira user, per (tenant, site) and per process. It never changes for an install,
# so one GET /myself per process is enough; keeping it out of tenant.settings keeps it off the
# admin's settings page and out of the way of PUT /api/settings, which replaces those settings.
_app_accounts: dict[tuple[int, str], str] = {}


def _app_account_id(jira: JiraClient, tenant_id: int) -> str:
    key = (tenant_id, jira.base_url)
    if key not in _app_accounts:  # two threads may both ask once; the answer is the same
        account_id = str(jira.myself().get("accountId") or "")
        if not account_id:
            return ""  # not cached: an odd answer should not blind this process for good
        _app_accounts[key] = account_id
    return _app_accounts[key]


def _our_comments(jira: JiraClient, tenant_id: int, issue_key: str) -> list[dict[str, Any]]:
    """The issue's comments written by the app itself, oldest first: people's comments are never
    ours to mark, and need no property lookup."""
    ours = _app_account_id(jira, tenant_id)
    if not ours:
        # Without knowing who we are we cannot tell our comments apart; guessing "none" would post
        # a comment a second time after a crash, so the job waits and tries again instead.
        raise JiraError(0, ["Jira did not say which account the app uses (GET /myself)"])
    return [c for c in jira.get_comments(issue_key) if (c.get("author") or {}).get("accountId") == ours]


def _find_our_comment(jira: JiraClient, tenant_id: int, issue_key: str, change: str) -> str | None:
    for comment in reversed(_our_comments(jira, tenant_id, issue_key)):
        marked = jira.get_comment_property(str(comment["id"]), COMMENT_MARK)
        if isinstance(marked, Mapping) and marked.get("change") == change:
            return str(comment["id"])
    return None


def _mark_transition_comment(jira: JiraClient, tenant_id: int, issue_key: str, change: str) -> str:
    """A comment that rode on a transition cannot carry properties; mark it right after. Someone
    may comment in between, so the newest comment is not necessarily ours: take our newest."""
    comments = _our_comments(jira, tenant_id, issue_key)
    if not comments:
        return "transition"
    newest = comments[-1]
    jira.set_comment_property(str(newest["id"]), COMMENT_MARK, {"change": change}, issue_key=issue_key)
    return str(newest["id"])


def _reopen_transition(jira: JiraClient, issue_key: str, policy: ProjectPolicy) -> str | None:
    """The transition that takes a Done issue back to a not-Done status: the one the policy names
    (by target status or transition name), else the first whose target is not Done."""
    candidates = [t for t in jira.get_transitions(issue_key) if not is_done(t.get("to"), policy.done_statuses)]
    if policy.reopen_to:
        wanted = policy.reopen_to.casefold()
        for transition in candidates:
            if wanted in (str(transition.get("name", "")).casefold(),
                          str((transition.get("to") or {}).get("name", "")).casefold()):
                return str(transition["id"])
        log.warning("no transition to %r on %s; commenting instead", policy.reopen_to, issue_key)
        return None
    return str(candidates[0]["id"]) if candidates else None


def stakeholders(issue: Mapping[str, Any], owner_field: str | None) -> list[tuple[str, str]]:
    fields = issue.get("fields") or {}
    people: dict[str, str] = {}
    for name in ("reporter", "assignee", owner_field):
        if not name:
            continue
        values = fields.get(name)
        for person in values if isinstance(values, list) else [values]:
            if isinstance(person, Mapping) and person.get("accountId"):
                people.setdefault(str(person["accountId"]), str(person.get("displayName") or "stakeholder"))
    return list(people.items())


def _drift_comment(svc: Services, jira: JiraClient, tenant: Tenant, issue: Mapping[str, Any],
                   drift: Drift) -> dict[str, Any]:
    fields = issue.get("fields") or {}
    author, message = "", ""
    if drift.cause_kind == "commit" and drift.cause_ref and drift.state in ("reverted", "partially-reverted"):
        with svc.sessions() as session:
            author, message = commit_author_and_message(session, tenant.id, drift.cause_ref) or ("", "")
    return story.drift_comment_adf(
        drift, feature_title=fields.get("summary") or drift.key,
        jira_status=(fields.get("status") or {}).get("name") or "Done", cause_url=drift.cause_url,
        stakeholders=stakeholders(issue, business_owner_field(tenant.settings)),
        # Everyone who can see this issue reads the comment, so issues behind a security level stay out.
        still_open=[item.row for item in still_open(jira, issue, drift.since) if not item.secured],
        reverted_by=author, reason=story.revert_reason(message),
    )


def _restore_comment(tenant: Tenant, issue: Mapping[str, Any], drift: Drift) -> dict[str, Any]:
    fields = issue.get("fields") or {}
    return story.restore_comment_adf(
        drift, feature_title=fields.get("summary") or drift.key,
        jira_status=(fields.get("status") or {}).get("name") or "Done", cause_url=drift.cause_url,
        stakeholders=stakeholders(issue, business_owner_field(tenant.settings)),
    )


def _reopened_by_us(session: Session, row: IssueReality) -> bool:
    return session.scalar(select(PostedComment.id).where(
        PostedComment.tenant_id == row.tenant_id, PostedComment.issue_key == row.issue_key,
        PostedComment.change_id == row.change_id, PostedComment.transitioned.is_(True))) is not None


def _mark_missing(svc: Services, reality_id: int) -> None:
    with transaction(svc.sessions) as session:
        row = session.get(IssueReality, reality_id)
        if row is not None:
            row.missing = True


def _remember_issue(svc: Services, reality_id: int, issue: Mapping[str, Any], title: str, done: bool) -> None:
    """Keep what recompute needs from Jira (title, when it went Done); a change triggers one more
    recompute, since the hotfix rule and the summary's words depend on them. Reopened (no longer
    Done) is a change too: a hotfix counts only against a Done issue. Reopened by this app for its
    drift is not: the drift that was the reason stays until someone moves the issue to Done again."""
    fields = issue.get("fields") or {}
    changed_at = fields.get("statuscategorychangedate")
    done_at = parse_iso(changed_at) if done and changed_at else None
    with transaction(svc.sessions) as session:
        row = session.get(IssueReality, reality_id)
        if row is None:
            return
        if done_at is None and row.change_id and _reopened_by_us(session, row):
            done_at = row.done_at
        row.missing = False
        row.issue_id = str(issue.get("id") or row.issue_id or "") or None
        needs_recompute = row.done_at != done_at
        row.title, row.done_at = title, done_at
        if needs_recompute:
            queue_recompute(session, row.tenant_id)
