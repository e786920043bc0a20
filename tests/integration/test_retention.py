"""Data is not kept forever: raw webhook bodies go after the retention period (facts stay), an
uninstalled site's history goes after the grace period (a re-install keeps it), housekeeping keeps
itself scheduled, and the personal data report erases accounts Atlassian says are closed.

Old data is made by inserting rows with old timestamps; the personal data report runs against
the Jira simulator, which checks the app's JWT on every call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from connect_app.config import load_settings
from connect_app.connect.descriptor import APP_KEY
from connect_app.jobs import housekeeping, kinds
from connect_app.jobs.handlers import Handlers
from connect_app.jobs.privacy import ERASED, report_accounts, stored_accounts
from connect_app.jobs.queue import Worker
from connect_app.sandbox.jira.rest.privacy import close_account, update_account
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.services import Services
from connect_app.store.db import transaction, upgrade
from connect_app.store.models import (
    AuditEntry,
    CommitFact,
    Connection,
    Delivery,
    FlagFact,
    IssueReality,
    Job,
    McpToken,
    PostedComment,
    PullRequestFact,
    SegmentFact,
    Tenant,
    utcnow,
)

SECRET = "tenant-shared-secret-0123456789abcdef0123"
DAY = timedelta(days=1)


@pytest.fixture
def svc(tmp_path: Path, database_url: str, start_migrated: Callable[[str], None]) -> Iterator[Services]:
    start_migrated(database_url)
    upgrade(database_url)
    settings = load_settings({"DATABASE_URL": database_url, "APP_SECRET_KEY": "k" * 40,
                              "INSTANCE_PATH": str(tmp_path / "instance"),
                              "ALLOWED_JIRA_BASE_URLS": "http://127.0.0.1:*"})
    services = Services.build(dataclasses.replace(settings, raw_payload_retention_days=30,
                                                  uninstalled_purge_days=30))
    yield services
    services.engine.dispose()


def _tenant(svc: Services, name: str, *, base_url: str = "https://example.atlassian.net",
            installed: bool = True, uninstalled_at: datetime | None = None) -> int:
    with transaction(svc.sessions) as session:
        tenant = Tenant(client_key=name, base_url=base_url, shared_secret_sealed=svc.box.seal(SECRET),
                        installed=installed, enabled=installed, uninstalled_at=uninstalled_at,
                        settings={"flag_links": {"checkout": ["FEAT-1"]}}, known_projects=["FEAT"])
        session.add(tenant)
        session.flush()
        return tenant.id


def _history(svc: Services, tenant_id: int, *, received_at: datetime | None = None) -> str:
    """One of everything a site's history holds."""
    connection_id = f"c{tenant_id}"
    at = received_at or utcnow()
    with transaction(svc.sessions) as session:
        session.add(Connection(id=connection_id, tenant_id=tenant_id, repository="acme/shop", api_url="https://api.github.com",
                               webhook_secret_sealed="x", deploy_token_digest="d" * 64))
        session.flush()
        session.add(Delivery(tenant_id=tenant_id, connection_id=connection_id, source="github", event="push",
                             guid=f"g{tenant_id}", body=b'{"commits": []}', received_at=at, status="processed"))
        session.add(CommitFact(connection_id=connection_id, sha="a" * 40, message="FEAT-1 fix", author="Ann"))
        session.add(SegmentFact(connection_id=connection_id, source="push", before=None, after="a" * 40,
                                commits=["a" * 40]))
        session.add(PullRequestFact(connection_id=connection_id, number=1, title="FEAT-1"))
        session.add(FlagFact(tenant_id=tenant_id, connection_id=connection_id, provider="launchdarkly", key="checkout",
                             environment="production", on=True, changed_at=at, last_event_at=at))
        session.add(IssueReality(tenant_id=tenant_id, issue_key="FEAT-1"))
        session.add(PostedComment(tenant_id=tenant_id, issue_key="FEAT-1", change_id="reverted:commit:" + "a" * 40))
        session.add(AuditEntry(tenant_id=tenant_id, method="GET", path="/rest/api/3/issue/FEAT-1", status=200))
        session.add(Job(kind=kinds.RECOMPUTE, tenant_id=tenant_id, payload={"tenant_id": tenant_id}))
        session.add(McpToken(tenant_id=tenant_id, account_id="5b10ac8d82e05b22cc7d4ef5", label="laptop",
                             token_digest=f"{tenant_id:064x}"))
    return connection_id


HISTORY = (Delivery, CommitFact, SegmentFact, PullRequestFact, FlagFact, IssueReality, PostedComment, AuditEntry,
           Job, McpToken, Connection)


def _counts(svc: Services, tenant_id: int) -> dict[str, int]:
    connection_id = f"c{tenant_id}"
    counts = {}
    with svc.sessions() as session:
        for model in HISTORY:
            column = model.tenant_id if hasattr(model, "tenant_id") else model.connection_id
            owner = tenant_id if hasattr(model, "tenant_id") else connection_id
            query = select(func.count()).select_from(model).where(column == owner)
            if model is Job:
                query = query.where(Job.kind != kinds.REPORT_ACCOUNTS)  # housekeeping queues these
            counts[model.__tablename__] = session.scalar(query)
    return counts


# ---- raw bodies ---------------------------------------------------------------------------------


def test_raw_bodies_go_after_the_retention_only_once_processed_and_the_facts_stay(svc: Services) -> None:
    tenant_id = _tenant(svc, "site")
    connection_id = _history(svc, tenant_id, received_at=utcnow() - 31 * DAY)
    now = utcnow()
    rows = {
        "old-ignored": ("ignored", now - 45 * DAY), "old-failed": ("failed", now - 31 * DAY),
        "old-waiting": ("stored", now - 90 * DAY), "young-processed": ("processed", now - 29 * DAY),
    }
    with transaction(svc.sessions) as session:
        for guid, (status, at) in rows.items():
            session.add(Delivery(tenant_id=tenant_id, connection_id=connection_id, source="github", event="push",
                                 guid=guid, body=b'{"pusher": {"email": "ann@example.com"}}', received_at=at,
                                 status=status, error="bad" if status == "failed" else None))

    outcome = housekeeping.run_housekeeping(svc)

    assert outcome.bodies_dropped == 3 and outcome.finished
    with svc.sessions() as session:
        kept = {d.guid: (d.status, bool(d.body)) for d in session.scalars(select(Delivery))}
        assert session.get(CommitFact, (connection_id, "a" * 40)) is not None, "facts outlive the raw bodies"
    assert kept == {
        f"g{tenant_id}": ("processed", False), "old-ignored": ("ignored", False), "old-failed": ("failed", False),
        "old-waiting": ("stored", True),  # still waiting to be processed: never dropped
        "young-processed": ("processed", True),  # younger than the retention
    }
    # The admin can no longer replay a delivery whose body is gone; the page says so.
    assert housekeeping.run_housekeeping(svc).bodies_dropped == 0


def test_bodies_are_dropped_in_bounded_batches(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant_id = _tenant(svc, "site")
    connection_id = _history(svc, tenant_id, received_at=utcnow() - 40 * DAY)
    with transaction(svc.sessions) as session:
        for n in range(4):
            session.add(Delivery(tenant_id=tenant_id, connection_id=connection_id, source="github", event="push",
                                 guid=f"old{n}", body=b"{}", received_at=utcnow() - 40 * DAY, status="processed"))
    monkeypatch.setattr(housekeeping, "BATCH", 2)
    first = housekeeping.run_housekeeping(svc, budget=0)
    assert (first.bodies_dropped, first.finished) == (2, False)
    with svc.sessions() as session:
        again = session.scalar(select(Job).where(Job.dedupe_key == kinds.HOUSEKEEPING_KEY))
        assert again is not None and again.run_after <= utcnow() + timedelta(seconds=housekeeping.AGAIN_SOON + 1), \
            "a run out of budget continues soon, not in an hour"
    while not housekeeping.run_housekeeping(svc, budget=0).finished:
        pass
    with svc.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery).where(func.length(Delivery.body) > 0)) == 0


# ---- uninstalled sites --------------------------------------------------------------------------


def test_an_uninstalled_site_is_purged_after_the_grace_and_a_reinstall_keeps_history(svc: Services) -> None:
    now = utcnow()
    gone = _tenant(svc, "gone", installed=False, uninstalled_at=now - 31 * DAY)
    grace = _tenant(svc, "in-grace", installed=False, uninstalled_at=now - 29 * DAY)
    back = _tenant(svc, "reinstalled")  # uninstalled 40 days ago, installed again since
    live = _tenant(svc, "live")
    for tenant_id in (gone, grace, back, live):
        _history(svc, tenant_id)
    full = _counts(svc, live)
    assert set(full.values()) == {1}

    outcome = housekeeping.run_housekeeping(svc)

    assert outcome.tenants_purged == [gone] and outcome.finished
    assert set(_counts(svc, gone).values()) == {0}
    for tenant_id in (grace, back, live):
        assert _counts(svc, tenant_id) == full
    with svc.sessions() as session:
        tenant = session.get(Tenant, gone)
        assert tenant is not None and tenant.settings == {} and tenant.known_projects == []
        assert session.get(Tenant, grace).settings == {"flag_links": {"checkout": ["FEAT-1"]}}  # type: ignore[union-attr]

    # The site in its grace period is re-installed (lifecycle clears uninstalled_at): nothing goes later.
    with transaction(svc.sessions) as session:
        tenant = session.get(Tenant, grace)
        assert tenant is not None
        tenant.installed, tenant.enabled, tenant.uninstalled_at = True, True, None
    assert housekeeping.run_housekeeping(svc, now=now + 60 * DAY).tenants_purged == [gone]
    assert _counts(svc, grace) == full


def test_a_large_purge_runs_in_bounded_steps(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant_id = _tenant(svc, "gone", installed=False, uninstalled_at=utcnow() - 31 * DAY)
    _history(svc, tenant_id)
    with transaction(svc.sessions) as session:
        for n in range(5):
            session.add(AuditEntry(tenant_id=tenant_id, method="GET", path=f"/rest/api/3/issue/FEAT-{n}", status=200))
    monkeypatch.setattr(housekeeping, "BATCH", 2)
    first = housekeeping.run_housekeeping(svc, budget=0)
    assert not first.finished and 0 < first.rows_deleted < 15, "one bounded step, then the next run"
    runs = 1
    while not housekeeping.run_housekeeping(svc, budget=0).finished:
        runs += 1
    assert runs >= 3 and set(_counts(svc, tenant_id).values()) == {0}


def test_a_reinstall_during_a_purge_stops_it(svc: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant_id = _tenant(svc, "gone", installed=False, uninstalled_at=utcnow() - 31 * DAY)
    connection_id = _history(svc, tenant_id)
    reinstalled: list[bool] = []

    def spent(_budget: object) -> bool:
        """After the first table, the site installs the app again (lifecycle's writes)."""
        if not reinstalled:
            reinstalled.append(True)
            with transaction(svc.sessions) as session:
                tenant = session.get(Tenant, tenant_id)
                assert tenant is not None
                tenant.installed, tenant.enabled, tenant.uninstalled_at = True, True, None
        return False

    monkeypatch.setattr(housekeeping._Budget, "spent", property(spent))
    monkeypatch.setattr(housekeeping, "BATCH", 1)
    outcome = housekeeping.run_housekeeping(svc)
    assert reinstalled and outcome.tenants_purged == [tenant_id] and outcome.rows_deleted == 1
    with svc.sessions() as session:
        assert session.get(Connection, connection_id) is not None, "what was left stays"
        assert session.get(Tenant, tenant_id).settings != {}  # type: ignore[union-attr]


# ---- the schedule -------------------------------------------------------------------------------


def test_housekeeping_queues_itself_and_the_personal_data_reports(svc: Services) -> None:
    live = _tenant(svc, "live")
    _tenant(svc, "gone", installed=False, uninstalled_at=utcnow() - DAY)
    Handlers(svc).worker()  # a worker starting queues housekeeping...
    Handlers(svc).worker()  # ...once, however many start
    with svc.sessions() as session:
        queued = list(session.scalars(select(Job).where(Job.kind == kinds.HOUSEKEEPING)))
    assert [(j.status, j.dedupe_key) for j in queued] == [("queued", kinds.HOUSEKEEPING_KEY)]

    worker = Worker(svc.sessions, Handlers(svc).mapping(), poll_interval=0.01)
    worker.run_until_idle()

    with svc.sessions() as session:
        runs = list(session.scalars(select(Job).where(Job.kind == kinds.HOUSEKEEPING).order_by(Job.id)))
        reports = list(session.scalars(select(Job).where(Job.kind == kinds.REPORT_ACCOUNTS)))
    assert [r.status for r in runs] == ["done", "queued"], "each run queues the next"
    assert runs[1].dedupe_key == kinds.HOUSEKEEPING_KEY
    assert runs[1].run_after - utcnow() > timedelta(seconds=housekeeping.EVERY - 60)
    assert [(r.tenant_id, r.status) for r in reports] == [(live, "done")], "installed sites only"
    # Within the cycle no second report is queued; a cycle later one is.
    assert housekeeping.queue_account_reports(svc, utcnow()) == []
    assert housekeeping.queue_account_reports(svc, utcnow() + 8 * DAY) == [live]


# ---- personal data reporting --------------------------------------------------------------------


def _account(n: int) -> str:
    return f"5b10ac8d82e05b22cc7d{n:04x}"


@pytest.fixture
def sim() -> Iterator[JiraSimulator]:
    simulator = JiraSimulator().start()
    simulator.register_tenant_secret(APP_KEY, SECRET)
    yield simulator
    simulator.stop()


def test_the_report_erases_closed_accounts_in_batches_of_90(svc: Services, sim: JiraSimulator) -> None:
    from connect_app.web import admin

    tenant_id = _tenant(svc, sim.client_key, base_url=sim.base_url)
    closed_in_settings, closed_in_audit, updated = _account(7), _account(95), _account(3)
    people = [_account(n) for n in range(100)]
    written = utcnow() - 10 * DAY
    with transaction(svc.sessions) as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.settings = {
            "flag_links": {"checkout": ["FEAT-1"]},
            "reviewers": [{"accountId": account, "role": f"r{n}"} for n, account in enumerate(people[:60])],
            "owners": {"accountIds": [closed_in_settings, people[1]]},
        }
        session.add(McpToken(tenant_id=tenant_id, account_id=closed_in_audit, label="laptop", token_digest="a" * 64))
        session.add(McpToken(tenant_id=tenant_id, account_id=people[2], label="ide", token_digest="b" * 64))
        for account in people[60:]:
            session.add(AuditEntry(tenant_id=tenant_id, at=written, method="POST", path="/rest/api/3/permissions/check",
                                   status=404, note=f"Jira: no user {account}"))
    assert sorted(stored_accounts(svc, tenant_id)) == people
    close_account(sim.state, closed_in_settings)
    close_account(sim.state, closed_in_audit)
    update_account(sim.state, updated, utcnow())
    with admin._admin_lock:
        admin._admin_cache[(sim.base_url, tenant_id, closed_in_settings)] = (0.0, True)

    report = report_accounts(svc, tenant_id)

    calls = [c for c in sim.requests_log if c.path == "/app/report-accounts/"]
    assert [len(c.json["accounts"]) for c in calls] == [90, 10]
    assert all(c.issuer == APP_KEY and c.status in (200, 204) for c in calls)
    assert sim.violations == []
    assert (sorted(report.closed), report.updated) == (sorted([closed_in_settings, closed_in_audit]), [updated])
    remaining = stored_accounts(svc, tenant_id)
    assert closed_in_settings not in remaining and closed_in_audit not in remaining
    assert updated in remaining and len(remaining) == 98
    with svc.sessions() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        assert tenant.settings["owners"] == {"accountIds": [people[1]]}
        assert len(tenant.settings["reviewers"]) == 59 and tenant.settings["flag_links"] == {"checkout": ["FEAT-1"]}
        tokens = {t.account_id for t in session.scalars(select(McpToken).where(McpToken.tenant_id == tenant_id))}
        assert tokens == {people[2]}, "a closed account's personal token is deleted"
        notes = [e.note for e in session.scalars(select(AuditEntry).where(AuditEntry.note.like(f"%{ERASED}%")))]
    assert notes == [f"Jira: no user {ERASED}"], "the audit row stays, the id goes"
    assert not any(key[2] == closed_in_settings for key in admin._admin_cache)


def test_updated_at_is_when_the_app_last_wrote_the_data(svc: Services, sim: JiraSimulator) -> None:
    tenant_id = _tenant(svc, sim.client_key, base_url=sim.base_url)
    account = _account(1)
    with transaction(svc.sessions) as session:
        session.add(AuditEntry(tenant_id=tenant_id, at=datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
                               method="GET", path="/rest/api/3/user", status=404, note=f"no user {account}"))
    update_account(sim.state, account, datetime(2026, 1, 1, tzinfo=UTC))  # changed before the app wrote

    assert report_accounts(svc, tenant_id).updated == []
    [call] = [c for c in sim.requests_log if c.path == "/app/report-accounts/"]
    assert call.json == {"accounts": [{"accountId": account, "updatedAt": "2026-01-02T03:04:05.678Z"}]}
    assert call.status == 204 and sim.violations == []
