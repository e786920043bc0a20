"""The foundation end to end: a signed install, the panel opened with a Jira-signed JWT, and a
signed REST call back into Jira that the OpenAPI check accepts."""

from __future__ import annotations

import requests
from sqlalchemy import func, select

from connect_app.store.models import Tenant


def test_signed_install_then_panel_then_signed_call_back(stack) -> None:
    stack.jira.add_issue("FEAT-304", "Payment retry logic v2", status="Done")
    stack.install()
    with stack.svc.sessions() as session:
        tenant = session.scalar(select(Tenant))
        assert tenant.client_key == stack.jira.client_key
        assert tenant.base_url == stack.jira.base_url
        # stored encrypted, never in the clear
        assert stack.jira.shared_secret not in tenant.shared_secret_sealed

    stack.jira.reset_log()
    response = requests.get(stack.panel_url("FEAT-304"), timeout=30)
    assert response.status_code == 200
    assert "FEAT-304" in response.text
    # The panel asked Jira about the issue, signed, and the simulator's OpenAPI check passed it.
    calls = [c for c in stack.jira.requests_log if "/rest/api/3/issue/FEAT-304" in c.path]
    assert calls and all(c.status == 200 for c in calls)


def test_reinstall_rotates_secret_and_keeps_one_tenant(stack) -> None:
    stack.install()
    first = stack.jira.shared_secret
    stack.install()
    assert stack.jira.shared_secret != first
    with stack.svc.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Tenant)) == 1
    stack.jira.add_issue("FEAT-1", "Something", status="To Do")
    assert requests.get(stack.panel_url("FEAT-1"), timeout=30).status_code == 200
