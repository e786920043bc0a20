"""Jira's own webhooks: an issue moved into or out of Done, or an issue whose key changed."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify
from sqlalchemy import select, update

from connect_app.connect.auth import authenticate
from connect_app.errors import BadRequest
from connect_app.intake.store import request_json
from connect_app.jobs.kinds import queue_recompute, queue_sync
from connect_app.services import services
from connect_app.store.db import transaction
from connect_app.store.models import IssueMove, IssueReality, PostedComment

bp = Blueprint("jira_webhooks", __name__)


def _key_change(changelog: Any) -> tuple[str, str] | None:
    items = changelog.get("items") if isinstance(changelog, dict) else None
    for item in items or []:
        if isinstance(item, dict) and item.get("field") == "Key" and item.get("fromString") and item.get("toString"):
            return str(item["fromString"]), str(item["toString"])
    return None


def _status_may_have_moved(changelog: Any) -> bool:
    """Jira names the fields an update changed; without a changelog, assume the status moved."""
    items = changelog.get("items") if isinstance(changelog, dict) else None
    if not items:
        return True
    return any(isinstance(item, dict) and str(item.get("field", "")).casefold() in ("status", "resolution")
               for item in items)


@bp.post("/jira/webhook/issue-updated")
def issue_updated() -> tuple[Response, int]:
    # Connect signs webhooks like any request to the app: HS256, the tenant's secret, a qsh.
    caller = authenticate(from_query=False, allow_context_qsh=False)
    # Jira's own text is Jira's to fix: kept, with what no database stores replaced (store.text).
    payload = request_json(refuse_unstorable=False)
    issue = payload.get("issue")
    if not isinstance(issue, dict) or not isinstance(issue.get("key"), str):
        raise BadRequest("The webhook carries no issue.", "missing_issue")
    tenant_id = caller.tenant.id
    key = issue["key"]
    with transaction(services().sessions) as session:
        moved = _key_change(payload.get("changelog"))
        if moved is not None:
            old, new = moved
            if session.scalar(select(IssueMove.id).where(IssueMove.tenant_id == tenant_id,
                                                         IssueMove.old_key == old)) is None:
                session.add(IssueMove(tenant_id=tenant_id, old_key=old, new_key=new))
            # The issue keeps its history under the new key: desired state and paid comments.
            session.execute(update(IssueMove).where(IssueMove.tenant_id == tenant_id, IssueMove.new_key == old)
                            .values(new_key=new))
            if session.scalar(select(IssueReality.id).where(IssueReality.tenant_id == tenant_id,
                                                            IssueReality.issue_key == new)) is None:
                session.execute(update(IssueReality).where(IssueReality.tenant_id == tenant_id,
                                                           IssueReality.issue_key == old).values(issue_key=new))
            session.execute(update(PostedComment).where(PostedComment.tenant_id == tenant_id,
                                                        PostedComment.issue_key == old).values(issue_key=new))
            queue_recompute(session, tenant_id)
            key = new
        reality = session.scalar(select(IssueReality).where(IssueReality.tenant_id == tenant_id,
                                                            IssueReality.issue_key == key))
        if reality is not None and (reality.change_id or reality.restore_of
                                    or _status_may_have_moved(payload.get("changelog"))):
            # Into Done a comment may be owed; out of it (or back) the hotfix rule weighs another
            # Done date. The sync reads the status, and asks for a recompute when that date moved.
            queue_sync(session, tenant_id, key)
    return jsonify({"status": "accepted"}), 202
