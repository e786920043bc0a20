"""Epics carry their features' reality (INTERFACES section 3): the parent's `system-reality`
property rolls its children up, JQL `driftedChildren > 0` finds it, a restore brings it back to
zero, and replays write nothing."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from sqlalchemy import delete

from connect_app.connect.descriptor import ISSUE_CONTEXT_STATUS_PROPERTY
from connect_app.jobs.kinds import queue_roll_up, queue_sync
from connect_app.sandbox.stack import ADMIN, STAKEHOLDERS, Stack
from connect_app.sandbox.story import revert_and_deploy, ship_feature
from connect_app.store.db import transaction
from connect_app.store.models import IssueParent, ParentRollup

pytestmark = pytest.mark.postgres


def _epic(stack: Stack) -> dict:
    return stack.jira.issues["FEAT-300"]["properties"]["system-reality"]


def test_a_reverted_feature_makes_its_epic_reverted_until_it_is_restored(stack: Stack) -> None:
    story = ship_feature(stack)
    assert (_epic(stack)["drift"], _epic(stack)["children"], _epic(stack)["childrenTotal"]) == ("live", 0, 1)
    revert = revert_and_deploy(stack, story)
    epic = _epic(stack)
    assert (epic["drift"], epic["children"], epic["childrenTotal"]) == ("reverted", 1, 1)
    assert epic["since"].startswith("2026-11-25T23:31") and epic["environment"] == "production"
    # Anyone who may browse the epic reads its property, even when issue security hides a feature.
    assert epic["summary"] == "1 of 1 feature is no longer fully live."
    assert stack.search("driftedChildren > 0") == ["FEAT-300"]
    assert sorted(stack.search("drift = reverted")) == ["FEAT-300", "FEAT-304"]
    assert "drift-reverted" not in stack.jira.issues["FEAT-300"]["labels"], "labels stay on the features"

    github = stack.github
    assert github is not None
    restore = github.repo.revert(revert, when=story.week.revert_deployed_at + timedelta(days=1))
    github.push_branch()
    github.deploy(restore, "production", when=story.week.revert_deployed_at + timedelta(days=1, minutes=5))
    stack.settle()
    epic = _epic(stack)
    assert (epic["drift"], epic["children"], epic["childrenTotal"]) == ("live", 0, 1)
    assert stack.search("driftedChildren > 0") == []
    assert stack.jira.violations == []


def test_replays_write_nothing_to_the_epic(stack: Stack) -> None:
    story = ship_feature(stack)
    revert_and_deploy(stack, story)
    value = dict(_epic(stack))
    stack.jira.reset_log()
    for delivery in list(stack.github.deliveries):
        stack.github.redeliver(delivery.guid)
    stack.settle()
    assert stack.admin("POST", f"/api/connections/{story.connection.id}/backfill", {}).status_code == 202
    stack.settle()
    with transaction(stack.svc.sessions) as session:  # a roll-up run again, as after a restart
        queue_roll_up(session, 1)
    assert stack.settle() >= 1
    assert stack.jira.writes() == []
    assert _epic(stack) == value


def test_the_epic_panel_lists_only_features_the_viewer_may_browse(stack: Stack) -> None:
    story = ship_feature(stack)
    stack.jira.add_issue("FEAT-307", "Retry settings page", status="Done", parent="FEAT-300")
    stack.github.push("FEAT-307: retry settings", {"checkout/settings.py": "RETRY = 3\n"})
    revert_and_deploy(stack, story)
    view = stack.admin("GET", "/api/issues/FEAT-300/reality", account_id=ADMIN).json()
    assert [(c["key"], c["state"]) for c in view["rollup"]["children"]] == [
        ("FEAT-304", "reverted"), ("FEAT-307", "live")]
    assert (view["rollup"]["drifted"], view["rollup"]["total"]) == (1, 2)

    dan = STAKEHOLDERS["assignee"][0]
    stack.jira.state.restrict_issue(dan, "FEAT-304")
    answer = stack.admin("GET", "/api/issues/FEAT-300/reality", account_id=dan)
    assert answer.status_code == 200
    assert [c["key"] for c in answer.json()["rollup"]["children"]] == ["FEAT-307"]
    assert "FEAT-304" not in answer.text and "Payment retry logic" not in answer.text
    # Jira shows the epic's property to anyone who may browse the epic: it names no feature.
    epic = json.dumps(_epic(stack))
    assert "FEAT-304" not in epic and "FEAT-307" not in epic and "Payment retry logic" not in epic


def test_a_site_upgraded_from_before_roll_ups_learns_its_parents_from_jira(stack: Stack) -> None:
    story = ship_feature(stack)
    revert_and_deploy(stack, story)
    with transaction(stack.svc.sessions) as session:  # as the tables are right after the upgrade
        session.execute(delete(IssueParent))
        session.execute(delete(ParentRollup))
    del stack.jira.issues["FEAT-300"]["properties"]["system-reality"]
    with transaction(stack.svc.sessions) as session:
        queue_roll_up(session, 1)
    stack.settle()
    epic = _epic(stack)
    assert (epic["drift"], epic["children"], epic["childrenTotal"]) == ("reverted", 1, 1)


def _epic_writes(stack: Stack) -> list:
    return [call for call in stack.jira.writes() if "FEAT-300" in call.path]


def test_an_epic_named_by_a_commit_carries_its_own_reality_and_its_features_in_one_value(stack: Stack) -> None:
    story = ship_feature(stack)
    revert_and_deploy(stack, story)
    stack.jira.reset_log()
    stack.github.push("FEAT-300: checkout docs", {"docs/checkout.md": "Checkout\n"})
    stack.settle()
    epic = _epic(stack)
    assert (epic["drift"], epic["children"], epic["childrenTotal"], epic["changes"]) == ("reverted", 1, 1, 2)
    assert len(_epic_writes(stack)) == 1, "one write, no ping-pong between the issue's sync and the roll-up"
    status = stack.jira.issues["FEAT-300"]["properties"][ISSUE_CONTEXT_STATUS_PROPERTY]
    assert status["value"]["label"] == "Reverted", "the issue context agrees with the property"
    assert stack.search("driftedChildren > 0") == ["FEAT-300"]
    plans = stack.admin("GET", "/api/dry-run?project=FEAT").json()["issues"]
    assert next(p for p in plans if p["issue"] == "FEAT-300")["calls"] == [], "the dry run says what sync does"

    stack.jira.reset_log()
    with transaction(stack.svc.sessions) as session:  # a later sync of the epic, and a roll-up again
        queue_sync(session, 1, "FEAT-300")
        queue_roll_up(session, 1)
    assert stack.settle() >= 1
    assert _epic_writes(stack) == []
    assert _epic(stack)["children"] == 1


def test_the_reports_csv_carries_the_epics_roll_up_as_its_header_shows_it(stack: Stack) -> None:
    story = ship_feature(stack)
    stack.jira.add_issue("FEAT-307", "Retry settings page", status="Done", parent="FEAT-300")
    stack.github.push("FEAT-307: retry settings", {"checkout/settings.py": "RETRY = 3\n"})
    revert_and_deploy(stack, story)
    window = "/api/report?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z&epics=all"
    header = stack.admin("GET", window).json()["groups"][0]["epic"]
    assert header["rollup"]["text"] == "1 of 2 features no longer fully live"
    rows = list(csv.DictReader(io.StringIO(stack.admin("GET", f"{window}&format=csv").text)))
    assert {row["issue"] for row in rows} == {"FEAT-304", "FEAT-307"}
    assert {(row["epic"], row["epic reality"]) for row in rows} == {("FEAT-300", header["rollup"]["text"])}
