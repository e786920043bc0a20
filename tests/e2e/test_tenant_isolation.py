"""Two Jira sites share one app: neither can see or touch the other's connections, deliveries,
jobs, settings or issues, and the operator endpoints say nothing about either."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from sqlalchemy import select

from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.stack import ADMIN, RepositoryConnection, Stack
from connect_app.store.models import Delivery, Job, Tenant

from .test_security_install import TIMEOUT, assert_json_refusal, db_snapshot, start_second_site

OWNER_FIELD_A = "customfield_10050"


@dataclass
class SiteA:
    connection: RepositoryConnection
    feature: str
    revert: str


@pytest.fixture
def site_a(stack: Stack) -> SiteA:
    """Site A: FEAT-1 shipped, marked Done, then reverted; the app told Jira so."""
    stack.jira.add_issue("FEAT-1", "Checkout button", status="Done")
    stack.install()
    assert stack.admin("PUT", "/api/settings", {"default_policy": "comment",
                                                "business_owner_field": OWNER_FIELD_A}).status_code == 200
    github = stack.start_github()
    connection = stack.connect_repository()
    github.repo.commit("Initial checkout service", {"checkout.py": "def pay():\n    return True\n"})
    github.push_branch()
    feature = github.push("FEAT-1: add the checkout button", {"button.py": "BUTTON = True\n"})
    github.repo.checkout(github.default_branch)
    revert = github.repo.revert(feature)
    github.push_branch()
    stack.settle()
    assert stack.jira.issues["FEAT-1"]["properties"]["system-reality"]["drift"] == "reverted"
    return SiteA(connection=connection, feature=feature, revert=revert)


@pytest.fixture
def site_b(stack: Stack, site_a: SiteA) -> Iterator[JiraSimulator]:
    """Site B: the same project key and issue key, no repository of its own."""
    site = start_second_site(stack)
    site.add_issue("FEAT-1", "Site B's own FEAT-1", status="Done")
    yield site
    site.stop()
    assert site.violations == []


def _as_b(stack: Stack, site_b: JiraSimulator, method: str, path: str, json: object = None) -> requests.Response:
    return requests.request(method, f"{stack.app_url}{path}", json=json, timeout=TIMEOUT,
                            headers={"Authorization": f"JWT {site_b.context_token(ADMIN)}"})


def _a_secrets(stack: Stack, site_a: SiteA) -> list[str]:
    """Strings that would prove site A leaked: its repository, commits, ids and keys."""
    return ["acme/shop", site_a.feature[:7], site_a.revert[:7], site_a.connection.id,
            site_a.connection.webhook_secret, stack.jira.client_key, stack.jira.base_url, OWNER_FIELD_A]


def _assert_nothing_of_a(text: str, stack: Stack, site_a: SiteA) -> None:
    for secret in _a_secrets(stack, site_a):
        assert secret not in text, f"site B was shown {secret!r} of site A"


def test_site_b_admin_cannot_list_read_or_change_site_a(stack: Stack, site_a: SiteA,
                                                       site_b: JiraSimulator) -> None:
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        tenant_a = session.scalar(select(Tenant.id).where(Tenant.client_key == stack.jira.client_key))
        delivery_ids = list(session.scalars(select(Delivery.id).where(Delivery.tenant_id == tenant_a)))
        job_ids = list(session.scalars(select(Job.id).where(Job.tenant_id == tenant_a)))
    assert delivery_ids and job_ids
    before = db_snapshot(stack, ignore=("audit_log",))
    stack.jira.reset_log()
    cid = site_a.connection.id

    for path in ("/api/connections", "/api/deliveries", "/api/jobs?status=done", "/api/jobs", "/api/audit",
                 "/api/dry-run", "/api/settings"):
        response = _as_b(stack, site_b, "GET", path)
        assert response.status_code == 200, (path, response.text[:300])
        _assert_nothing_of_a(response.text, stack, site_a)
    assert _as_b(stack, site_b, "GET", "/api/connections").json() == []
    assert _as_b(stack, site_b, "GET", "/api/deliveries").json() == []
    assert _as_b(stack, site_b, "GET", "/api/jobs?status=done").json() == []

    refused = [("GET", f"/api/connections/{cid}"), ("DELETE", f"/api/connections/{cid}"),
               ("POST", f"/api/connections/{cid}/backfill"), ("POST", f"/api/connections/{cid}/test-delivery"),
               *[("POST", f"/api/deliveries/{i}/retry") for i in delivery_ids],
               *[("POST", f"/api/jobs/{i}/retry") for i in job_ids]]
    for method, path in refused:
        response = _as_b(stack, site_b, method, path)
        assert response.status_code == 404, (method, path, response.status_code, response.text[:300])
        assert_json_refusal(response, 404)
        _assert_nothing_of_a(response.text, stack, site_a)

    stack.settle()
    assert db_snapshot(stack, ignore=("audit_log",)) == before
    assert stack.jira.requests_log == [], "nothing B did may reach site A's Jira"
    # Site A is untouched and still sees its own connection.
    assert [c["id"] for c in stack.admin("GET", "/api/connections").json()] == [cid]


def test_site_b_sees_only_its_own_feat_1(stack: Stack, site_a: SiteA, site_b: JiraSimulator) -> None:
    reality = _as_b(stack, site_b, "GET", "/api/issues/FEAT-1/reality")
    assert reality.status_code == 200, reality.text[:300]
    view = reality.json()
    assert view["issue"]["summary"] == "Site B's own FEAT-1"
    assert view["drift"] == "live" and not view["in_drift"]
    assert view["timeline"] == [] and view["changes"] == 0
    _assert_nothing_of_a(reality.text, stack, site_a)

    panel = requests.get(site_b.iframe_url(stack.app_url, "/panel/issue?issueKey={issue.key}&issueId={issue.id}",
                                           account_id=ADMIN, context={"issue.key": "FEAT-1"}), timeout=TIMEOUT)
    assert panel.status_code == 200
    assert "Site B&#39;s own FEAT-1" in panel.text or "Site B's own FEAT-1" in panel.text
    _assert_nothing_of_a(panel.text, stack, site_a)

    # All of time, so that nothing of site A's could fall outside the window by date alone.
    report = _as_b(stack, site_b, "GET", "/api/report?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z&epics=all")
    assert report.status_code == 200
    assert report.json()["total"] == 0
    _assert_nothing_of_a(report.text, stack, site_a)

    # A project only site A has (OPS): site B's Jira does not know it, so the app says 404.
    stack.jira.add_issue("OPS-1", "Site A's runbook")
    assert_json_refusal(_as_b(stack, site_b, "GET", "/api/issues/OPS-1/reality"), 404)
    # Site B's actions never wrote to site A's Jira.
    assert site_b.writes() == []


def test_site_a_still_sees_its_drift(stack: Stack, site_a: SiteA, site_b: JiraSimulator) -> None:
    """The control: the data B could not see is there for A."""
    view = stack.admin("GET", "/api/issues/FEAT-1/reality").json()
    assert view["drift"] == "reverted"
    assert site_a.revert[:7] in str(view["timeline"])


# ---- operator endpoints --------------------------------------------------------------------------------


def test_healthz_reports_the_database_and_metrics_name_no_tenant(stack: Stack, site_a: SiteA,
                                                                site_b: JiraSimulator) -> None:
    health = requests.get(f"{stack.app_url}/healthz", timeout=TIMEOUT)
    assert health.status_code == 200
    assert health.json()["database"] is True and health.json()["status"] == "ok"
    _assert_nothing_of_a(health.text, stack, site_a)

    metrics = requests.get(f"{stack.app_url}/metrics", timeout=TIMEOUT)
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    assert "system_reality_" in metrics.text
    _assert_nothing_of_a(metrics.text, stack, site_a)
    for leak in (site_b.client_key, site_b.base_url, "FEAT-1", "FEAT", "tenant", "client_key",
                 "127.0.0.1"):
        assert leak not in metrics.text, f"/metrics names {leak!r}"
    # Neither endpoint needs or honours a token: one sent along changes nothing they say.
    with_token = requests.get(f"{stack.app_url}/metrics", timeout=TIMEOUT,
                              headers={"Authorization": f"JWT {stack.jira.context_token(ADMIN)}"})
    assert with_token.text.splitlines()[0] == metrics.text.splitlines()[0]


def test_ids_beyond_the_database_range_are_simply_unknown(stack) -> None:
    stack.install()
    for path in ("/api/deliveries/99999999999999999999999/retry", "/api/jobs/99999999999999999999999/retry"):
        response = stack.admin("POST", path)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
