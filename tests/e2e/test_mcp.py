"""Ask it from anywhere: the MCP server (INTERFACES 7), driven by the official SDK's own clients,
over streamable HTTP at /mcp and over stdio through `connect-app mcp`, against the FEAT-304 story.
Every answer holds only what Jira lets the token's user browse, exactly like the panel and the report."""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import httpx2
import jsonschema
import pytest
import requests
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from connect_app.mcp import tokens as token_rules
from connect_app.sandbox.stack import ADMIN, STAKEHOLDERS, Stack
from connect_app.sandbox.story import StoryWeek, revert_and_deploy, ship_feature
from connect_app.store.models import utcnow

from .test_security_install import start_second_site

DAN = STAKEHOLDERS["assignee"][0]
TOOLS = {"recent_changes", "issue_reality", "drifted_issues", "what_changed"}



def _off_the_main_loop(run):  # type: ignore[no-untyped-def]
    """Run the SDK client in a thread of its own: the browser tests' Playwright keeps an event
    loop running in the main thread for the whole session."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(anyio.run, run).result()

def recent_week() -> StoryWeek:
    """The story moved to the last few days, so that "the last 48 hours" holds the revert."""
    now = utcnow()
    return StoryWeek(monday=now - timedelta(days=2), revert_at=now - timedelta(hours=3),
                     revert_deployed_at=now - timedelta(hours=2, minutes=33))


@pytest.fixture
def story(stack: Stack):
    story = ship_feature(stack, week=recent_week())
    revert_and_deploy(stack, story)
    return story


def make_token(stack: Stack, account_id: str = ADMIN, label: str = "Laptop assistant") -> str:
    response = stack.admin("POST", "/api/mcp/tokens", {"label": label}, account_id=account_id)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) >= {"id", "token", "label", "created"} and body["label"] == label
    return body["token"]


async def _session_calls(read: Any, write: Any, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    async with ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        schemas = {tool.name: tool.output_schema for tool in listed.tools}
        results = []
        for name, arguments in calls:
            result = await session.call_tool(name, arguments)
            if not result.is_error:
                # Every structured result validates against the tool's declared output schema.
                jsonschema.validate(result.structured_content, schemas[name])
            results.append(result)
        return {"tools": schemas, "results": results}


def over_http(stack: Stack, token: str, *calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
            async with streamable_http_client(f"{stack.app_url}/mcp", http_client=http) as (read, write):
                return await _session_calls(read, write, list(calls))

    return _off_the_main_loop(run)


def over_stdio(stack: Stack, token: str, *calls: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    env = {**os.environ, "DATABASE_URL": stack.database_url, "APP_BASE_URL": stack.app_url,
           "APP_SECRET_KEY": stack.settings.secret_key, "INSTANCE_PATH": str(stack.settings.instance_path),
           "ALLOWED_JIRA_BASE_URLS": "http://127.0.0.1:*", "ALLOWED_GITHUB_API_URLS": "http://127.0.0.1:*",
           "SYSTEM_REALITY_TOKEN": token, "LOG_LEVEL": "WARNING"}
    params = StdioServerParameters(command=sys.executable, args=["-m", "connect_app.cli", "mcp"], env=env)

    async def run() -> dict[str, Any]:
        async with stdio_client(params) as (read, write):
            return await _session_calls(read, write, list(calls))

    return _off_the_main_loop(run)


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


# ---- what an assistant learns ----------------------------------------------------------------------


def test_recent_changes_finds_feat304_reverted_under_its_active_epic(stack: Stack, story) -> None:
    # The bug that came in since the revert, about the retries, is open work the answer must name.
    stack.jira.add_issue("BUG-901", "Customers charged twice after a failed payment", issuetype="Bug",
                         links=[("relates to", "FEAT-304")],
                         fields={"created": (utcnow() - timedelta(hours=1)).isoformat()})
    answer = over_http(stack, make_token(stack), ("recent_changes", {"since": "48h"}))
    assert set(answer["tools"]) == TOOLS and all(answer["tools"].values())
    result = answer["results"][0]
    assert not result.is_error, text_of(result)
    epics = result.structured_content["epics"]
    assert [e["key"] for e in epics] == ["FEAT-300"]
    assert epics[0]["status"] == "In Progress" and epics[0]["summary"] == "Checkout reliability"
    feature = epics[0]["features"][0]
    assert (feature["key"], feature["drift"], feature["status"]) == ("FEAT-304", "reverted", "Done")
    kinds = {(e["kind"], e["environment"]) for e in feature["events"]}
    assert ("revert", None) in kinds and ("deployment", "production") in kinds
    assert any(e["ref"] == story.revert[:7] for e in feature["events"])
    # The same open work as the panel lists: the bug opened since, and the epic's other open child.
    assert [i["key"] for i in feature["still_open"]] == ["BUG-901", "FEAT-305"]
    text = text_of(result)
    for words in ("FEAT-300", "Checkout reliability", "FEAT-304", "reverted", "Jira says Done", "commitments",
                  'Still open around it: BUG-901 "Customers charged twice after a failed payment" (To Do)',
                  "No incident ticket that you can see mentions FEAT-304 since it drifted."):
        assert words in text, text


def test_answers_say_whether_an_incident_ticket_exists(stack: Stack, story) -> None:
    # Operations opened an incident about the failed retries after the revert went live.
    stack.jira.add_issue("OPS-77", "Payment retries failing for card customers", issuetype="[System] Incident",
                         fields={"created": (utcnow() - timedelta(minutes=30)).isoformat(),
                                 "description": "Since the FEAT-304 revert, retries fail for saved cards."})
    answer = over_http(stack, make_token(stack), ("recent_changes", {"since": "48h"}),
                       ("issue_reality", {"issue_key": "FEAT-304"}))
    for result in answer["results"]:
        text = text_of(result)
        assert 'Incident ticket: OPS-77 "Payment retries failing for card customers" (To Do).' in text, text
        assert "No incident ticket" not in text, text


def test_answers_tell_times_in_the_users_jira_time_zone(stack: Stack, story) -> None:
    # The panel shows times in the viewer's Jira time zone; an assistant's answer does too, and
    # names it, while the structured results stay ISO-8601 UTC.
    stack.jira.add_user("557058:tokyo-taro", "Taro Tanaka", time_zone="Asia/Tokyo")
    answer = over_http(stack, make_token(stack, "557058:tokyo-taro"), ("issue_reality", {"issue_key": "FEAT-304"}),
                       ("recent_changes", {"since": "48h"}), ("drifted_issues", {}), ("what_changed", {"since": "48h"}))
    issue = answer["results"][0].structured_content
    since = datetime.fromisoformat(issue["since"])
    assert since.utcoffset() == timedelta(0)
    tokyo = since.astimezone(ZoneInfo("Asia/Tokyo"))
    stated = f"{tokyo:%a} {tokyo.day} {tokyo:%b} at {tokyo:%H:%M} JST"
    for result in answer["results"]:
        text = text_of(result)
        assert " JST" in text and " UTC" not in text, text
    assert f"reverted in production on {stated}" in text_of(answer["results"][0])
    assert f"{stated}: deployed in production ({story.revert[:7]})" in text_of(answer["results"][0])
    # The issue property, which JQL users and scripts read, keeps its UTC sentence.
    assert issue["summary_text"] == stack.jira.issues["FEAT-304"]["properties"]["system-reality"]["summary"]
    assert " UTC" in issue["summary_text"]


def test_issue_reality_matches_the_panel(stack: Stack, story) -> None:
    answer = over_http(stack, make_token(stack), ("issue_reality", {"issue_key": "FEAT-304"}))
    result = answer["results"][0]
    assert not result.is_error, text_of(result)
    mcp = result.structured_content
    panel = stack.admin("GET", "/api/issues/FEAT-304/reality").json()
    prop = stack.jira.issues["FEAT-304"]["properties"]["system-reality"]
    for name in ("drift", "since", "changes", "reverted", "environment"):
        assert mcp[name] == panel[name] == prop[name], name
    assert mcp["summary_text"] == panel["summary"] == prop["summary"]
    assert (mcp["key"], mcp["summary"], mcp["status"]) == ("FEAT-304", "Payment retry logic v2", "Done")
    assert [(e["kind"], e["at"]) for e in mcp["timeline"]] == [(e["kind"], e["when"]) for e in panel["timeline"]]
    assert [i["key"] for i in mcp["still_open"]] == [i["key"] for i in panel["still_open"]] == ["FEAT-305"]
    assert mcp["still_open"][0]["why"]
    text = text_of(result)
    assert "Jira says Done, but this feature is no longer live in production." in text
    assert "FEAT-305" in text and story.revert[:7] in text and "commitments" in text


def test_drifted_issues_and_what_changed(stack: Stack, story) -> None:
    answer = over_http(stack, make_token(stack), ("drifted_issues", {}), ("drifted_issues", {"state": "flag-off"}),
                       ("what_changed", {"since": "48h"}), ("what_changed", {"since": "48h", "environment": "staging"}))
    drifted, none, changed, staging = answer["results"]
    assert [i["key"] for i in drifted.structured_content["issues"]] == ["FEAT-304"]
    assert drifted.structured_content["issues"][0]["drift"] == "reverted"
    assert "FEAT-304" in text_of(drifted) and "marked Done" in text_of(drifted)
    assert none.structured_content == {"issues": []}
    deployments = changed.structured_content["deployments"]
    assert deployments[0]["ref"] == story.revert[:7] and deployments[0]["kind"] == "deploy"
    assert deployments[0]["environment"] == "production"
    assert [i["key"] for i in deployments[0]["issues"]] == ["FEAT-304"]
    assert "Revert" in deployments[0]["text"]
    assert staging.structured_content["deployments"] == []


def test_the_stdio_server_answers_like_the_http_one(stack: Stack, story) -> None:
    token = make_token(stack)
    http = over_http(stack, token, ("issue_reality", {"issue_key": "FEAT-304"}), ("recent_changes", {"since": "48h"}))
    stdio = over_stdio(stack, token, ("issue_reality", {"issue_key": "FEAT-304"}), ("recent_changes", {"since": "48h"}))
    assert stdio["tools"] == http["tools"]
    assert stdio["results"][0].structured_content == http["results"][0].structured_content
    assert stdio["results"][1].structured_content["epics"] == http["results"][1].structured_content["epics"]


# ---- who may see what ---------------------------------------------------------------------------


def test_a_user_who_cannot_browse_the_project_gets_nothing_of_it(stack: Stack, story) -> None:
    stack.jira.restrict_browse(DAN, "FEAT")
    answer = over_http(stack, make_token(stack, DAN), ("recent_changes", {"since": "7d", "active_epics_only": False}),
                       ("issue_reality", {"issue_key": "FEAT-304"}), ("drifted_issues", {}),
                       ("what_changed", {"since": "7d", "environment": "all"}))
    recent, issue, drifted, changed = answer["results"]
    assert recent.structured_content["epics"] == []
    assert issue.is_error and "does not exist or you cannot see it" in text_of(issue)
    assert drifted.structured_content == {"issues": []}
    assert changed.structured_content["deployments"] == []
    seen = " ".join(text_of(r) for r in answer["results"])
    assert "Payment retry" not in seen and "Checkout reliability" not in seen


def test_an_issue_hidden_by_security_is_left_out_of_still_open(stack: Stack, story) -> None:
    stack.jira.state.restrict_issue(DAN, "FEAT-305")
    answer = over_http(stack, make_token(stack, DAN), ("issue_reality", {"issue_key": "FEAT-304"}))
    result = answer["results"][0].structured_content
    assert result["drift"] == "reverted" and result["still_open"] == []
    assert "Retry analytics dashboard" not in text_of(answer["results"][0])


def test_another_sites_token_sees_nothing_of_this_site(stack: Stack, story) -> None:
    site = start_second_site(stack)
    try:
        response = requests.post(f"{stack.app_url}/api/mcp/tokens", json={"label": "Site B"}, timeout=30,
                                 headers={"Authorization": f"JWT {site.context_token(ADMIN)}"})
        assert response.status_code == 201, response.text
        answer = over_http(stack, response.json()["token"],
                           ("recent_changes", {"since": "7d", "active_epics_only": False}),
                           ("issue_reality", {"issue_key": "FEAT-304"}), ("drifted_issues", {}),
                           ("what_changed", {"since": "7d", "environment": "all"}))
        recent, issue, drifted, changed = answer["results"]
        assert recent.structured_content["epics"] == []
        assert issue.is_error
        assert drifted.structured_content == {"issues": []}
        assert changed.structured_content["deployments"] == []
        assert "Payment retry" not in " ".join(text_of(r) for r in answer["results"])
    finally:
        site.stop()


# ---- the gate -----------------------------------------------------------------------------------

INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "probe", "version": "1"}}}


def post_mcp(stack: Stack, headers: dict[str, str], body: Any = INITIALIZE) -> requests.Response:
    return requests.post(f"{stack.app_url}/mcp", json=body, timeout=30,
                         headers={"Accept": "application/json, text/event-stream", **headers})


def test_missing_forged_and_revoked_tokens_get_401_before_any_message(stack: Stack, story) -> None:
    good = make_token(stack)
    assert post_mcp(stack, {"Authorization": f"Bearer {good}"}).status_code == 200
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Basic abc"},
                    {"Authorization": f"Bearer {good[:-2]}xx"}, {"Authorization": "Bearer srmcp_forged"},
                    {"Authorization": f"JWT {stack.jira.context_token(ADMIN)}"}):
        refused = post_mcp(stack, headers, body="not even json")
        assert refused.status_code == 401, headers
        assert refused.json()["error"] in ("missing_token", "invalid_token")
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")

    listed = stack.admin("GET", "/api/mcp/tokens").json()
    assert [t["label"] for t in listed["tokens"]] == ["Laptop assistant"]
    assert good not in str(listed) and listed["mcp_url"] == f"{stack.app_url}/mcp"
    token_id = listed["tokens"][0]["id"]
    # Someone else cannot revoke it; its owner can, at once.
    assert stack.admin("DELETE", f"/api/mcp/tokens/{token_id}", account_id=DAN).status_code == 404
    assert stack.admin("DELETE", f"/api/mcp/tokens/{token_id}").status_code == 204
    assert stack.admin("GET", "/api/mcp/tokens").json()["tokens"] == []
    revoked = post_mcp(stack, {"Authorization": f"Bearer {good}"})
    assert revoked.status_code == 401 and revoked.json()["error"] == "invalid_token"


def test_what_the_stateless_endpoint_does_not_serve_is_refused_at_once_in_json(stack: Stack, story) -> None:
    """A GET used to open an event stream that never ended (a web worker held for as long as the
    client liked); a body that is not JSON got the SDK's plain-text 400."""
    auth = {"Authorization": f"Bearer {make_token(stack)}"}
    for method in ("GET", "DELETE", "PUT"):
        started = time.monotonic()
        answer = requests.request(method, f"{stack.app_url}/mcp", headers={**auth, "Accept": "text/event-stream"},
                                  timeout=10)
        assert answer.status_code == 405 and answer.headers["Allow"] == "POST", method
        assert answer.json()["error"] == "method_not_allowed" and answer.json()["detail"]
        assert time.monotonic() - started < 5
    plain = requests.post(f"{stack.app_url}/mcp", data=b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}',
                          headers={**auth, "Content-Type": "text/plain"}, timeout=10)
    assert plain.status_code == 415 and plain.json()["error"] == "unsupported_media_type"
    assert post_mcp(stack, auth).status_code == 200


def test_token_api_needs_a_context_jwt_and_a_label(stack: Stack, story) -> None:
    assert requests.post(f"{stack.app_url}/api/mcp/tokens", json={"label": "x"}, timeout=30).status_code == 401
    assert stack.admin("POST", "/api/mcp/tokens", {"label": ""}).status_code == 400
    assert stack.admin("POST", "/api/mcp/tokens", {"label": "x" * 101}).status_code == 400
    assert stack.admin("DELETE", "/api/mcp/tokens/999999").status_code == 404


def test_the_admin_can_turn_mcp_off_for_the_site(stack: Stack, story) -> None:
    token = make_token(stack)
    settings = stack.admin("GET", "/api/settings").json()
    assert settings["mcp_enabled"] is True
    assert stack.admin("PUT", "/api/settings", {**settings, "mcp_enabled": False}).status_code == 200
    refused = post_mcp(stack, {"Authorization": f"Bearer {token}"})
    assert refused.status_code == 403 and refused.json()["error"] == "mcp_disabled"
    assert stack.admin("POST", "/api/mcp/tokens", {"label": "another"}).status_code == 403
    assert stack.admin("PUT", "/api/settings", {**settings, "mcp_enabled": "no"}).status_code == 400
    assert stack.admin("PUT", "/api/settings", {**settings, "mcp_enabled": True}).status_code == 200
    assert post_mcp(stack, {"Authorization": f"Bearer {token}"}).status_code == 200


def test_each_token_is_rate_limited(stack: Stack, story, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(token_rules, "RATE_LIMIT", 3)
    token, other = make_token(stack), make_token(stack, label="Second")
    for _ in range(3):
        assert post_mcp(stack, {"Authorization": f"Bearer {token}"}).status_code == 200
    limited = post_mcp(stack, {"Authorization": f"Bearer {token}"})
    assert limited.status_code == 429 and limited.json()["error"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert post_mcp(stack, {"Authorization": f"Bearer {other}"}).status_code == 200


def test_the_assistants_page_is_served_in_jira(stack: Stack, story) -> None:
    url = stack.jira.iframe_url(stack.app_url, "/assistants", account_id=ADMIN, context={})
    page = requests.get(url, timeout=30)
    assert page.status_code == 200, page.text
    assert "AI assistants" in page.text and f"{stack.app_url}/mcp" in page.text
