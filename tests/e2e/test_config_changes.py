"""Configuration rollbacks reported by any tool (INTERFACES 2 and 4), through the real endpoint,
the worker and the Jira simulator: rolled back, replayed, refused, restored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from connect_app.reality import story as words
from connect_app.reality.record import iso
from connect_app.sandbox.stack import RepositoryConnection, Stack
from connect_app.sandbox.story import Story, ship_feature
from connect_app.store.models import ConfigChangeFact, Delivery, utcnow

from .test_mcp import make_token, over_http, recent_week, text_of

KEY = "FEAT-304"
ARGO = "https://argocd.example.com/applications/checkout?resource=&node=argoproj.io/Application"


def post(stack: Stack, connection: RepositoryConnection, body: dict[str, Any], *,
         token: str | None = None, key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token if token is not None else connection.deploy_token}"}
    if token == "":
        headers = {}
    if key:
        headers["Idempotency-Key"] = key
    return requests.post(f"{stack.app_url}/api/config-changes/{connection.id}", json=body, headers=headers,
                         timeout=30)


def change(kind: str, *, environment: str = "production", hours_ago: float = 1) -> dict[str, Any]:
    return {"environment": environment, "change": kind, "issue_keys": [KEY],
            "description": "checkout-config: payment retries back to revision 41",
            "changed_at": iso(utcnow() - timedelta(hours=hours_ago)), "url": ARGO}


def issue(stack: Stack) -> dict[str, Any]:
    stack.settle()
    return stack.jira.issues[KEY]


def drift_labels(stack: Stack) -> list[str]:
    return [label for label in issue(stack)["labels"] if label.startswith("drift-")]


def stored_config_reports(stack: Stack) -> int:
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Delivery).where(Delivery.source == "config")))


@pytest.fixture
def shipped(stack: Stack) -> Story:
    story = ship_feature(stack, week=recent_week())
    assert issue(stack)["properties"]["system-reality"]["drift"] == "live"
    return story


def test_config_rollback_and_reapply_end_to_end(stack: Stack, shipped: Story) -> None:
    connection = shipped.connection
    comments_before = len(issue(stack)["comments"])
    stack.jira.reset_log()

    rolled = post(stack, connection, change("reverted", hours_ago=2), key="argo-rollback-1")
    assert rolled.status_code == 202 and rolled.json()["status"] == "stored", rolled.text
    value = issue(stack)["properties"]["system-reality"]
    assert (value["drift"], value["environment"]) == ("rolled-back", "production")
    assert "its configuration was reverted (“checkout-config: payment retries back to revision 41”)" \
        in value["summary"]
    assert drift_labels(stack) == ["drift-rolled-back"]
    comments = issue(stack)["comments"][comments_before:]
    assert len(comments) == 1
    text = str(comments[0]["body"])
    for expected in ("was rolled back in production: its configuration was reverted",
                     "payment retries back to revision 41", ARGO, "Jira still says “Done”", words.CONFIG_MEANING):
        assert expected in text, expected

    # A retry of the same report (the sender's Idempotency-Key) changes nothing, in Jira or here.
    stack.jira.reset_log()
    replay = post(stack, connection, change("reverted", hours_ago=2), key="argo-rollback-1")
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    stack.settle()
    assert stack.jira.writes() == []
    assert stored_config_reports(stack) == 1

    panel = stack.admin("GET", f"/api/issues/{KEY}/reality").json()
    assert panel["cause"]["kind"] == "config" and panel["meaning"] == words.CONFIG_MEANING
    config_events = [e for e in panel["timeline"] if e["kind"] == "config"]
    assert [(e["environment"], e["url"]) for e in config_events] == [("production", ARGO)]
    assert config_events[0]["title"].startswith("Configuration reverted: checkout-config")
    page = requests.get(stack.panel_url(KEY), timeout=30)
    assert page.status_code == 200
    for shown in ("Its configuration was rolled back in production", "Configuration changed in production",
                  f'href="{ARGO}"', "Change record"):
        assert shown in page.text.replace("&amp;", "&"), shown
    report = stack.admin("GET", "/api/report?since=48h&epics=all").json()
    reported = [e for g in report["groups"] for f in g["features"] if f["key"] == KEY for e in f["events"]]
    assert "config" in [e["kind"] for e in reported]
    answer, recent = over_http(stack, make_token(stack), ("what_changed", {"since": "48h"}),
                               ("recent_changes", {"since": "48h"}))["results"]
    configs = [d for d in answer.structured_content["deployments"] if d["kind"] == "config"]
    assert [(d["environment"], [i["key"] for i in d["issues"]]) for d in configs] == [("production", [KEY])]
    assert "configuration changed" in text_of(answer)
    features = [f for e in recent.structured_content["epics"] for f in e["features"] if f["key"] == KEY]
    assert features and features[0]["drift"] == "rolled-back"
    assert [(e["kind"], e["url"]) for e in features[0]["events"] if e["kind"] == "config"] == [("config", ARGO)]
    assert "its configuration was reverted" in text_of(recent)

    applied = post(stack, connection, change("applied", hours_ago=0.5))
    assert applied.status_code == 202, applied.text
    value = issue(stack)["properties"]["system-reality"]
    assert value["drift"] == "live" and "applied again" in value["summary"]
    assert drift_labels(stack) == []
    restore = issue(stack)["comments"][comments_before + 1:]
    assert len(restore) == 1 and "Live again in production" in str(restore[0]["body"])

    stack.jira.reset_log()
    post(stack, connection, change("applied", hours_ago=0.25), key=None)  # a routine sync: news to no one
    stack.settle()
    assert stack.jira.writes() == []
    timeline = stack.admin("GET", f"/api/issues/{KEY}/reality").json()["timeline"]
    assert [e["title"].split(":")[0] for e in timeline if e["kind"] == "config"] == [
        "Configuration applied", "Configuration reverted"]  # newest first


def test_forged_or_missing_tokens_are_refused_and_store_nothing(stack: Stack, shipped: Story) -> None:
    connection = shipped.connection
    stack.jira.reset_log()
    for token in ("", "srdeploy_forged", connection.webhook_secret):
        answer = post(stack, connection, change("reverted"), token=token)
        assert answer.status_code == 401, (token, answer.text)
        assert set(answer.json()) >= {"error", "detail"}
    stranger = RepositoryConnection("c" * 32, "", "", connection.deploy_token)
    assert post(stack, stranger, change("reverted")).status_code == 404
    stack.settle()
    assert stored_config_reports(stack) == 0 and stack.jira.writes() == []
    assert issue(stack)["properties"]["system-reality"]["drift"] == "live"


def test_a_staging_rollback_changes_nothing(stack: Stack, shipped: Story) -> None:
    stack.jira.reset_log()
    answer = post(stack, shipped.connection, change("reverted", environment="staging"))
    assert answer.status_code == 202, answer.text
    stack.settle()
    assert stack.jira.writes() == []
    assert issue(stack)["properties"]["system-reality"]["drift"] == "live"
    assert stored_config_reports(stack) == 1  # kept, and shown on the panel's timeline
    panel = stack.admin("GET", f"/api/issues/{KEY}/reality").json()
    assert [e["environment"] for e in panel["timeline"] if e["kind"] == "config"] == ["staging"]


MALFORMED = [
    ({"change": "reverted", "issue_keys": [KEY], "description": "x"}, "environment"),
    ({"environment": "production", "change": "undone", "issue_keys": [KEY], "description": "x"}, "change"),
    ({"environment": "production", "change": "reverted", "issue_keys": [], "description": "x"}, "issue_keys"),
    ({"environment": "production", "change": "reverted", "issue_keys": "FEAT-304", "description": "x"},
     "issue_keys"),
    ({"environment": "production", "change": "reverted", "issue_keys": ["feat-304"], "description": "x"},
     "not an issue key"),
    ({"environment": "production", "change": "reverted", "issue_keys": ["CVE-2021"], "description": "x"},
     "not an issue key"),
    ({"environment": "production", "change": "reverted", "issue_keys": ["FEAT-304 and more"],
      "description": "x"}, "not an issue key"),
    ({"environment": "production", "change": "reverted", "issue_keys": [304], "description": "x"},
     "not an issue key"),
    ({"environment": "production", "change": "reverted", "issue_keys": [f"FEAT-{n}" for n in range(1, 102)],
      "description": "x"}, "at most 100"),
    ({"environment": "production", "change": "reverted", "issue_keys": [KEY]}, "description"),
    ({"environment": "production", "change": "reverted", "issue_keys": [KEY], "description": "x" * 1001},
     "description"),
    ({"environment": "production", "change": "reverted", "issue_keys": [KEY], "description": "x",
      "changed_at": "yesterday"}, "changed_at"),
    ({"environment": "production", "change": "reverted", "issue_keys": [KEY], "description": "x",
      "changed_at": "2026-11-26T23:31:00"}, "time zone"),
    ({"environment": "production", "change": "reverted", "issue_keys": [KEY], "description": "x",
      "url": "javascript:alert(1)"}, "url"),
    ({"environment": "production", "change": "reverted", "issue_keys": [KEY], "description": "x",
      "url": "https://argocd.example.com/" + "x" * 500}, "url"),
    ({"environment": "production\n", "change": "reverted", "issue_keys": [KEY], "description": "x"}, "environment"),
    ({"environment": "production", "change": "reverted", "issue_keys": [KEY], "description": "a\u0000b"},
     "control characters"),
    ({"environment": "production", "change": "reverted", "issue_keys": [KEY], "description": "a\ud800b"},
     "Unicode"),
    ({"environment": "production", "change": "reverted", "issue_keys": [KEY], "description": "x",
      "url": "https://argocd.example.com/\u0000"}, "control characters"),
]


def test_malformed_reports_get_a_clear_400_and_store_nothing(stack: Stack, shipped: Story) -> None:
    for body, says in MALFORMED:
        answer = post(stack, shipped.connection, body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"] == "malformed_config_change" and says in answer.json()["detail"], body
    for raw in (b"[]", b"{", b'{"a":' * 100):
        answer = requests.post(f"{stack.app_url}/api/config-changes/{shipped.connection.id}", data=raw, timeout=30,
                               headers={"Authorization": f"Bearer {shipped.connection.deploy_token}",
                                        "Content-Type": "application/json"})
        assert answer.status_code == 400, raw
    too_long = post(stack, shipped.connection, change("reverted"), key="k" * 101)
    assert too_long.status_code == 400 and "Idempotency-Key" in too_long.json()["detail"]
    assert stored_config_reports(stack) == 0


def test_changed_at_in_the_future_counts_as_when_it_arrived(stack: Stack, shipped: Story) -> None:
    answer = post(stack, shipped.connection, change("reverted", hours_ago=-48))
    assert answer.status_code == 202
    stack.settle()
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        recorded = session.scalar(select(ConfigChangeFact.changed_at))
    assert recorded is not None and recorded <= utcnow()


def test_rollbacks_reported_through_a_deleted_connection_no_longer_count(stack: Stack, shipped: Story) -> None:
    config_tool = stack.connect_repository()  # a second connection, used only to report configuration
    assert post(stack, config_tool, change("reverted")).status_code == 202
    assert issue(stack)["properties"]["system-reality"]["drift"] == "rolled-back"
    assert stack.admin("DELETE", f"/api/connections/{config_tool.id}").status_code == 204
    assert issue(stack)["properties"]["system-reality"]["drift"] == "live"
    assert post(stack, config_tool, change("reverted")).status_code == 404


def test_an_issue_named_only_by_configuration_is_rolled_back_and_its_panel_says_so(stack: Stack,
                                                                                   shipped: Story) -> None:
    stack.jira.add_issue("FEAT-390", "Gift card limits", status="Done")
    body = {**change("reverted"), "issue_keys": ["FEAT-390"], "description": "gift-card limits back to v3"}
    assert post(stack, shipped.connection, body).status_code == 202
    stack.settle()
    value = stack.jira.issues["FEAT-390"]["properties"]["system-reality"]
    assert (value["drift"], value["changes"]) == ("rolled-back", 0)
    panel = stack.admin("GET", "/api/issues/FEAT-390/reality").json()
    assert panel["has_changes"] and panel["headline"] == "No longer live in production"
    assert panel["what_happened"].startswith("Its configuration was rolled back in production")
    page = requests.get(stack.panel_url("FEAT-390"), timeout=30).text
    assert "No code mentions" not in page and "gift-card limits back to v3" in page
