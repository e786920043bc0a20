"""Jira's own DevOps surfaces: every deployment and flag state the app knows reaches Jira
Software's bulk APIs (checked by the simulator against Jira Software's schema), a rollback shows
as `rolled_back` for the issues it took out, and replays send nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select

from connect_app.connect.descriptor import APP_KEY
from connect_app.jobs import kinds
from connect_app.jobs.kinds import queue_devops
from connect_app.sandbox.github.simulator import GitHubSimulator
from connect_app.sandbox.jira.rest.devops import DEPLOYMENTS, FLAGS, releases_for
from connect_app.sandbox.stack import Stack
from connect_app.sandbox.story import revert_and_deploy, ship_feature
from connect_app.store.db import transaction
from connect_app.store.models import Job
from connect_app.sync import devops

pytestmark = pytest.mark.postgres  # sequence numbers and re-install also hold on PostgreSQL


def _bulk_calls(stack: Stack, path: str) -> list[Any]:
    return [call for call in stack.jira.requests_log if call.path == path]


def _states(stack: Stack, key: str) -> list[tuple[str, str]]:
    return [(d["state"], d["environment"]) for d in releases_for(stack.jira.state, key)["deployments"]]


def test_the_revert_deployment_shows_as_rolled_back_in_jira_releases(stack: Stack) -> None:
    story = ship_feature(stack)
    assert _states(stack, "FEAT-304") == [("successful", "production")]
    revert_and_deploy(stack, story)
    assert _states(stack, "FEAT-304") == [("rolled_back", "production")]
    stored = [d for d in stack.jira.state.deployments.values() if "FEAT-304" in d["issues"]]
    assert sorted(d["state"] for d in stored) == ["rolled_back", "successful"]
    rollback = next(d for d in stored if d["state"] == "rolled_back")
    assert rollback["environment"] == {"id": "production", "displayName": "production", "type": "production"}
    assert rollback["associations"] == [{"associationType": "issueIdOrKeys", "values": ["FEAT-304"]}]
    assert rollback["lastUpdated"].startswith("2026-11-25T23:31")
    assert stack.jira.violations == []


def test_replays_and_redeliveries_resubmit_nothing(stack: Stack) -> None:
    story = ship_feature(stack)
    revert_and_deploy(stack, story)
    sent = {key: d["updateSequenceNumber"] for key, d in stack.jira.state.deployments.items()}
    stack.jira.reset_log()
    for delivery in list(stack.github.deliveries):
        stack.github.redeliver(delivery.guid)
    stack.settle()
    with transaction(stack.svc.sessions) as session:  # the reconciliation run again, as after a restart
        queue_devops(session, 1)
    assert stack.settle() >= 1
    assert _bulk_calls(stack, DEPLOYMENTS) == [] and _bulk_calls(stack, FLAGS) == []
    assert stack.jira.writes() == []
    assert {key: d["updateSequenceNumber"] for key, d in stack.jira.state.deployments.items()} == sent


def test_a_rollback_deployment_is_rolled_back_only_for_what_it_took_out(stack: Stack) -> None:
    for key in ("FEAT-1", "FEAT-2"):
        stack.jira.add_issue(key, f"Feature {key}", status="Done")
    stack.install()
    github = stack.start_github()
    stack.connect_repository()
    github.repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    github.deploy(first, "production")
    github.deploy(first, "staging")
    second = github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    github.deploy(second, "production")
    github.deploy(first, "production", when=datetime(2030, 1, 2, 3, 4, tzinfo=UTC))
    stack.settle()
    assert _states(stack, "FEAT-2") == [("rolled_back", "production")]
    assert _states(stack, "FEAT-1") == [("successful", "production"), ("successful", "staging")]
    staging = next(d for d in stack.jira.state.deployments.values() if d["environment"]["id"] == "staging")
    assert staging["environment"]["type"] == "staging"
    assert stack.jira.violations == []


def test_a_backfill_after_reinstall_resends_the_history(stack: Stack) -> None:
    story = ship_feature(stack)
    revert_and_deploy(stack, story)
    before = {key: d["updateSequenceNumber"] for key, d in stack.jira.state.deployments.items()}
    stack.jira.uninstall(stack.app_url)
    stack.jira.state.deployments.clear()  # the site forgot what the earlier install told it
    assert stack.install().status_code == 204
    stack.settle()
    response = stack.admin("POST", f"/api/connections/{story.connection.id}/backfill", {})
    assert response.status_code == 202, response.text
    stack.settle()
    after = {key: d["updateSequenceNumber"] for key, d in stack.jira.state.deployments.items()}
    assert set(after) == set(before)
    assert all(after[key] > before[key] for key in before), "sequence numbers only move forward"
    assert _states(stack, "FEAT-304") == [("rolled_back", "production")]
    stack.jira.reset_log()
    assert stack.admin("POST", f"/api/connections/{story.connection.id}/backfill", {}).status_code == 202
    stack.settle()
    assert _bulk_calls(stack, DEPLOYMENTS) == [], "a second backfill has nothing new to send"


def test_flag_states_reach_jira_and_only_changes_are_resent(stack: Stack) -> None:
    stack.jira.add_issue("FEAT-30", "One-click checkout", status="Done")
    stack.install()
    stack.start_github()
    connection = stack.connect_repository()
    body = {"key": "feat-30-one-click", "name": "One-click checkout", "environment": "production",
            "on": False, "changed_at": "2026-11-25T18:00:00Z", "url": "https://flags.example.com/feat-30"}
    headers = {"Authorization": f"Bearer {connection.deploy_token}"}
    assert requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body, headers=headers,
                         timeout=30).status_code == 202
    stack.settle()
    (flag,) = stack.jira.state.feature_flags.values()
    assert (flag["key"], flag["issueKeys"], flag["summary"]["status"]) == (
        "feat-30-one-click", ["FEAT-30"], {"enabled": False})
    assert flag["details"][0]["environment"] == {"name": "production", "type": "production"}
    assert releases_for(stack.jira.state, "FEAT-30")["flags"][0]["environments"] == [
        {"name": "production", "on": False}]
    first = flag["updateSequenceId"]
    stack.jira.reset_log()
    assert requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body, headers=headers,
                         timeout=30).status_code == 202
    stack.settle()
    assert _bulk_calls(stack, FLAGS) == [], "the same flag state again is not resent"
    body.update(on=True, changed_at="2026-11-26T09:00:00Z")
    requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body, headers=headers, timeout=30)
    stack.settle()
    (flag,) = stack.jira.state.feature_flags.values()
    assert flag["summary"]["status"] == {"enabled": True} and flag["updateSequenceId"] > first
    assert stack.jira.violations == []


def test_jiras_hour_long_quota_hands_the_submission_back_to_the_queue(stack: Stack) -> None:
    stack.jira.fail_next(429, retry_after=3600, path_contains=DEPLOYMENTS)
    ship_feature(stack)
    assert stack.jira.state.deployments == {}
    with stack.svc.sessions() as session:
        job = session.scalars(select(Job).where(Job.kind == kinds.SUBMIT_DEVOPS)).one()
        assert (job.status, job.attempts) == ("queued", 0)
        assert job.run_after > datetime.now(UTC) + timedelta(minutes=50)


def _shipped_without_the_deployments_module(stack: Stack) -> tuple[GitHubSimulator, frozenset[str]]:
    """A site that has not granted the app `jiraDeploymentInfoProvider`, where FEAT-1 has been
    deployed to production; returns the GitHub simulator and the modules the app asks for."""
    stack.jira.add_issue("FEAT-1", "Coupons", status="Done")
    stack.install()
    granted = stack.jira.state.app_modules[APP_KEY]
    stack.jira.state.app_modules[APP_KEY] = granted - {"jiraDeploymentInfoProvider"}
    github = stack.start_github()
    stack.connect_repository()
    github.repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    github.deploy(github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"}), "production")
    stack.settle()
    return github, granted


def test_a_site_that_has_not_granted_the_module_gets_everything_once_it_does(stack: Stack) -> None:
    github, granted = _shipped_without_the_deployments_module(stack)
    assert [call.status for call in _bulk_calls(stack, DEPLOYMENTS)] == [403]
    assert stack.jira.state.deployments == {}
    stack.jira.reset_log()
    github.deploy(github.push("FEAT-1: Coupon limits", {"src/coupons.py": "ON = 2\n"}), "production")
    with transaction(stack.svc.sessions) as session:
        queue_devops(session, 1)
    assert stack.settle() >= 1
    assert _bulk_calls(stack, DEPLOYMENTS) == [], "the refusal is remembered: the history is not re-posted"
    # An admin grants the app's new modules: Jira installs it again, and everything goes at once.
    stack.jira.state.app_modules[APP_KEY] = granted
    stack.install()
    with transaction(stack.svc.sessions) as session:
        queue_devops(session, 1)
    stack.settle()
    assert _states(stack, "FEAT-1") == [("successful", "production")]
    assert len(stack.jira.state.deployments) == 2, "both deployments, the one made during the refusal too"


def test_a_refusal_is_asked_again_after_the_pause(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    _github, granted = _shipped_without_the_deployments_module(stack)
    stack.jira.state.app_modules[APP_KEY] = granted  # granted without a new install
    later = time.monotonic() + devops.REFUSAL_PAUSE + 1
    monkeypatch.setattr(devops, "_clock", lambda: later)
    with transaction(stack.svc.sessions) as session:
        queue_devops(session, 1)
    stack.settle()
    assert _states(stack, "FEAT-1") == [("successful", "production")]
