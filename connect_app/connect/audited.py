"""A Jira client for one tenant, with every call written to the audit log."""

from __future__ import annotations

from connect_app.connect.descriptor import APP_KEY
from connect_app.connect.jira import CallRecord, JiraClient
from connect_app.observe import metrics
from connect_app.services import Services
from connect_app.store.models import AuditEntry, Tenant


def jira_for(svc: Services, tenant: Tenant) -> JiraClient:
    tenant_id = tenant.id

    def audit(call: CallRecord) -> None:
        # Its own short transaction: the audit survives even when the job around it fails.
        note = call.error
        if call.waits:
            waited = ", ".join(f"{w:.1f}s" for w in call.waits)
            note = f"Jira asked us to wait ({waited}); {note or 'then it answered'}"
        metrics.CALL_SECONDS.labels("jira", call.method, str(call.status or "error")).observe(call.duration)
        if call.waits:
            metrics.RATE_LIMIT_WAIT.labels("jira").inc(sum(call.waits))
        with svc.sessions() as session:
            session.add(AuditEntry(tenant_id=tenant_id, issue_key=call.issue_key, method=call.method,
                                   path=call.path[:500], status=call.status or None,
                                   duration_ms=int(call.duration * 1000), note=note))
            session.commit()

    return JiraClient(base_url=tenant.base_url, app_key=APP_KEY,
                      shared_secret=svc.box.open(tenant.shared_secret_sealed), session=svc.http, on_call=audit)
