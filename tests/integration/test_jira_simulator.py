"""The Jira Cloud simulator behaves like Jira towards a Connect app: REST with Connect JWT,
spec and Jira-rule checks, JQL on entity properties, pagination, faults, signed install."""

from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
import requests
from atlassian_jwt.url_utils import hash_url
from flask import Flask, jsonify, request

from connect_app.sandbox.jira.adf import paragraph
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.server import serve

APP_KEY = "system-reality-for-jira"
SECRET = "s3cret-shared-between-jira-and-the-app-0123456789"
PROPERTY = "system-reality"


def descriptor(base_url: str) -> dict[str, Any]:
    return {
        "key": APP_KEY,
        "baseUrl": base_url,
        "authentication": {"type": "jwt"},
        "apiMigrations": {"signed-install": True, "context-qsh": True},
        "lifecycle": {
            "installed": "/lifecycle/installed",
            "uninstalled": "/lifecycle/uninstalled",
            "enabled": "/lifecycle/enabled",
            "disabled": "/lifecycle/disabled",
        },
        "modules": {
            "webhooks": [{"event": "jira:issue_updated", "url": "/jira/webhook/issue-updated"}],
            "jiraEntityProperties": [
                {
                    "key": "system-reality-index",
                    "name": {"value": "System reality"},
                    "entityType": "issue",
                    "keyConfigurations": [
                        {
                            "propertyKey": PROPERTY,
                            "extractions": [
                                {"objectName": "drift", "type": "string", "alias": "drift"},
                                {"objectName": "since", "type": "date", "alias": "driftSince"},
                            ],
                        }
                    ],
                }
            ],
        },
    }


class Client:
    """What a Connect app does: sign every call with the shared secret."""

    def __init__(self, base_url: str, secret: str = SECRET, issuer: str = APP_KEY) -> None:
        self.base_url = base_url
        self.secret = secret
        self.issuer = issuer

    def token(self, method: str, path: str, params: dict[str, Any] | None = None) -> str:
        query = urlencode(params or {}, doseq=True)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "iat": now,
            "exp": now + 180,
            "qsh": hash_url(method, path + (f"?{query}" if query else "")),
        }
        return jwt.encode(claims, self.secret, algorithm="HS256")

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None, **kw: Any):
        headers = {"Authorization": f"JWT {self.token(method, path, params)}", "Accept": "application/json"}
        return requests.request(method, self.base_url + path, params=params, json=json, headers=headers, timeout=10)


@pytest.fixture()
def sim():
    simulator = JiraSimulator().start()
    simulator.register_tenant_secret(APP_KEY, SECRET)
    simulator.register_descriptor(descriptor("https://app.example.com"))
    simulator.add_user("u-reporter", "Rita Reporter")
    simulator.add_user("u-admin", "Ada Admin", admin=True)
    simulator.add_project("FEAT", "Features")
    simulator.add_issue("FEAT-1", "Retry failed payouts", status="Done", reporter="u-reporter")
    simulator.add_issue("FEAT-2", "Export as CSV", status="Done")
    simulator.add_issue("FEAT-3", "Dark mode", status="In Progress")
    yield simulator
    simulator.stop()


@pytest.fixture()
def client(sim: JiraSimulator) -> Client:
    return Client(sim.base_url)


def adf(text: str) -> dict[str, Any]:
    return paragraph(text)


def test_issue_get_shows_status_category_and_ids_as_strings(sim: JiraSimulator, client: Client) -> None:
    response = client.call("GET", "/rest/api/3/issue/FEAT-1")
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == "FEAT-1"
    assert isinstance(body["id"], str)
    assert body["self"] == f"{sim.base_url}/rest/api/3/issue/{body['id']}"
    assert body["fields"]["status"]["statusCategory"]["key"] == "done"
    assert body["fields"]["reporter"]["accountId"] == "u-reporter"
    assert "issuelinks" in body["fields"]
    assert sim.violations == []


def test_edit_labels_with_update_ops_and_properties(sim: JiraSimulator, client: Client) -> None:
    sim.issues["FEAT-1"]["labels"] = ["customer-x"]
    response = client.call(
        "PUT",
        "/rest/api/3/issue/FEAT-1",
        params={"notifyUsers": "false"},
        json={
            "update": {"labels": [{"add": "drift-reverted"}]},
            "properties": [{"key": PROPERTY, "value": {"drift": "reverted"}}],
        },
    )
    assert response.status_code == 204, response.text
    assert sim.issues["FEAT-1"]["labels"] == ["customer-x", "drift-reverted"]
    assert sim.issues["FEAT-1"]["properties"][PROPERTY] == {"drift": "reverted"}

    response = client.call(
        "PUT", "/rest/api/3/issue/FEAT-1", json={"update": {"labels": [{"remove": "drift-reverted"}]}}
    )
    assert response.status_code == 204
    assert sim.issues["FEAT-1"]["labels"] == ["customer-x"]
    assert [c.method for c in sim.writes()] == ["PUT", "PUT"]
    assert sim.violations == []


def test_label_with_space_is_refused_and_changes_nothing(sim: JiraSimulator, client: Client) -> None:
    response = client.call("PUT", "/rest/api/3/issue/FEAT-1", json={"fields": {"labels": ["drift reverted"]}})
    assert response.status_code == 400
    assert "labels" in response.json()["errors"]
    assert sim.issues["FEAT-1"]["labels"] == []
    assert len(sim.violations) == 1


def test_issue_property_roundtrip(sim: JiraSimulator, client: Client) -> None:
    path = f"/rest/api/3/issue/FEAT-2/properties/{PROPERTY}"
    assert client.call("GET", path).status_code == 404
    assert client.call("PUT", path, json={"drift": "live"}).status_code == 201
    assert client.call("PUT", path, json={"drift": "reverted"}).status_code == 200
    assert client.call("GET", path).json() == {"key": PROPERTY, "value": {"drift": "reverted"}}
    keys = client.call("GET", "/rest/api/3/issue/FEAT-2/properties").json()["keys"]
    assert [k["key"] for k in keys] == [PROPERTY]
    assert client.call("DELETE", path).status_code == 204
    assert PROPERTY not in sim.issues["FEAT-2"]["properties"]


def test_comment_with_adf_and_comment_property(sim: JiraSimulator, client: Client) -> None:
    body = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "mention", "attrs": {"id": "u-reporter", "text": "@Rita"}},
                    {"type": "text", "text": " this was reverted in "},
                    {"type": "text", "text": "abc1234", "marks": [{"type": "link", "attrs": {"href": "https://x"}}]},
                ],
            }
        ],
    }
    response = client.call(
        "POST",
        "/rest/api/3/issue/FEAT-1/comment",
        json={"body": body, "properties": [{"key": "system-reality-change", "value": {"change": "abc1234"}}]},
    )
    assert response.status_code == 201, response.text
    comment = sim.issues["FEAT-1"]["comments"][0]
    assert comment["body"] == body
    assert comment["author"] == sim.app_user(APP_KEY)
    assert comment["properties"] == {"system-reality-change": {"change": "abc1234"}}
    prop = client.call("GET", f"/rest/api/3/comment/{comment['id']}/properties/system-reality-change")
    assert prop.json()["value"] == {"change": "abc1234"}
    listed = client.call("GET", "/rest/api/3/issue/FEAT-1/comment", params={"expand": "properties"}).json()
    assert listed["total"] == 1 and listed["comments"][0]["properties"][0]["key"] == "system-reality-change"
    assert sim.violations == []


@pytest.mark.parametrize(
    "bad_body",
    [
        "plain text is API v2, not v3",
        {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": ""}]}]},
        {"type": "doc", "version": 2, "content": []},
        {"type": "doc", "version": 1, "content": [{"type": "text", "text": "text at top level"}]},
        {"type": "doc", "version": 1, "content": [{"type": "blink", "content": []}]},
    ],
)
def test_malformed_adf_comment_is_refused(sim: JiraSimulator, client: Client, bad_body: Any) -> None:
    response = client.call("POST", "/rest/api/3/issue/FEAT-1/comment", json={"body": bad_body})
    assert response.status_code == 400
    assert sim.issues["FEAT-1"]["comments"] == []
    assert len(sim.violations) == 1


def test_transition_with_comment_reopens(sim: JiraSimulator, client: Client) -> None:
    offered = client.call("GET", "/rest/api/3/issue/FEAT-1/transitions").json()["transitions"]
    reopen = next(t for t in offered if t["to"]["statusCategory"]["key"] != "done")
    assert {t["name"] for t in offered} >= {"Reopen"}
    response = client.call(
        "POST",
        "/rest/api/3/issue/FEAT-1/transitions",
        json={
            "transition": {"id": reopen["id"]},
            "update": {"comment": [{"add": {"body": adf("Reopened: reverted")}}]},
        },
    )
    assert response.status_code == 204, response.text
    assert sim.issues["FEAT-1"]["status"] == reopen["to"]["name"]
    assert sim.issues["FEAT-1"]["comments"][0]["body"] == adf("Reopened: reverted")
    assert sim.violations == []


def test_labels_cannot_ride_on_a_screenless_transition(sim: JiraSimulator, client: Client) -> None:
    response = client.call(
        "POST",
        "/rest/api/3/issue/FEAT-1/transitions",
        json={"transition": {"id": "41"}, "update": {"labels": [{"add": "drift-reverted"}]}},
    )
    assert response.status_code == 400
    assert sim.issues["FEAT-1"]["status"] == "Done"
    assert (
        client.call("POST", "/rest/api/3/issue/FEAT-3/transitions", json={"transition": {"id": "41"}}).status_code
        == 400
    )


def test_jql_on_entity_property_aliases(sim: JiraSimulator, client: Client) -> None:
    sim.issues["FEAT-1"]["properties"][PROPERTY] = {"drift": "reverted", "since": "2020-01-01T00:00:00Z"}
    recent = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
    sim.issues["FEAT-2"]["properties"][PROPERTY] = {"drift": "reverted", "since": recent}
    sim.issues["FEAT-3"]["properties"][PROPERTY] = {"drift": "live", "since": recent}

    def keys(jql: str) -> list[str]:
        response = client.call("GET", "/rest/api/3/search/jql", params={"jql": jql, "fields": "key"})
        assert response.status_code == 200, response.text
        return sorted(i["key"] for i in response.json()["issues"])

    assert keys("drift = reverted") == ["FEAT-1", "FEAT-2"]
    assert keys("driftSince >= -2d") == ["FEAT-2", "FEAT-3"]
    assert keys("drift = reverted AND driftSince >= -2d") == ["FEAT-2"]
    assert keys(f"issue.property[{PROPERTY}].drift = reverted") == ["FEAT-1", "FEAT-2"]
    assert keys("project = FEAT AND statusCategory = Done AND drift != reverted") == []
    assert keys("statusCategory != Done OR key in (FEAT-1)") == ["FEAT-1", "FEAT-3"]
    sim.add_issue("FEAT-4", "No property")
    # Jira's != never matches an issue without the value.
    assert keys("drift != live") == ["FEAT-1", "FEAT-2"]
    bad = client.call("GET", "/rest/api/3/search/jql", params={"jql": "drfit = reverted"})
    assert bad.status_code == 400 and "drfit" in bad.json()["errorMessages"][0]


def test_search_paginates_with_next_page_token(sim: JiraSimulator, client: Client) -> None:
    for n in range(4, 13):
        sim.add_issue(f"FEAT-{n}", f"Issue {n}")
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        body: dict[str, Any] = {"jql": "project = FEAT ORDER BY key ASC", "maxResults": 5, "fields": ["summary"]}
        if token:
            body["nextPageToken"] = token
        page = client.call("POST", "/rest/api/3/search/jql", json=body).json()
        pages += 1
        seen += [issue["key"] for issue in page["issues"]]
        if page["isLast"]:
            assert "nextPageToken" not in page
            break
        token = page["nextPageToken"]
    assert pages == 3
    assert seen == [f"FEAT-{n}" for n in range(1, 13)]
    assert sim.writes() == []  # POST search is a read
    assert sim.violations == []


def test_rate_limit_injection(sim: JiraSimulator, client: Client) -> None:
    sim.fail_next(429, retry_after=7, path_contains="/comment")
    first = client.call("POST", "/rest/api/3/issue/FEAT-1/comment", json={"body": adf("hello")})
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "7"
    assert sim.issues["FEAT-1"]["comments"] == []
    second = client.call("POST", "/rest/api/3/issue/FEAT-1/comment", json={"body": adf("hello")})
    assert second.status_code == 201
    assert [c.status for c in sim.requests_log] == [429, 201]


def test_unsigned_and_wrongly_signed_requests_are_refused(sim: JiraSimulator, client: Client) -> None:
    unsigned = requests.get(f"{sim.base_url}/rest/api/3/issue/FEAT-1", timeout=10)
    assert unsigned.status_code == 401
    forged = Client(sim.base_url, secret="not-the-secret-but-long-enough-for-hs256-0123").call(
        "PUT", f"/rest/api/3/issue/FEAT-1/properties/{PROPERTY}", json={}
    )
    assert forged.status_code == 401
    # A token minted for another request (qsh) does not authorise this one.
    token = client.token("GET", "/rest/api/3/issue/FEAT-2")
    replayed = requests.get(
        f"{sim.base_url}/rest/api/3/issue/FEAT-1", headers={"Authorization": f"JWT {token}"}, timeout=10
    )
    assert replayed.status_code == 401
    assert PROPERTY not in sim.issues["FEAT-1"]["properties"]
    assert len(sim.violations) == 3


def test_request_the_spec_refuses_is_a_violation(sim: JiraSimulator, client: Client) -> None:
    response = client.call("GET", "/rest/api/3/search/jql", params={"jql": "project = FEAT", "maxResults": "lots"})
    assert response.status_code == 400
    assert any("maxResults" in v for v in sim.violations)
    unknown = client.call("GET", "/rest/api/3/issue/FEAT-1/nonsense")
    assert unknown.status_code == 404
    assert any("nonsense" in v for v in sim.violations)


def test_permissions_check_reflects_seeded_admins_and_restrictions(sim: JiraSimulator, client: Client) -> None:
    sim.restrict_browse("u-reporter", "FEAT")
    issue_id = int(sim.issues["FEAT-1"]["id"])

    def check(account: str) -> dict[str, Any]:
        return client.call(
            "POST",
            "/rest/api/3/permissions/check",
            json={
                "accountId": account,
                "globalPermissions": ["ADMINISTER"],
                "projectPermissions": [{"permissions": ["BROWSE_PROJECTS"], "issues": [issue_id]}],
            },
        ).json()

    admin = check("u-admin")
    assert admin["globalPermissions"] == ["ADMINISTER"]
    assert admin["projectPermissions"][0]["issues"] == [issue_id]
    reporter = check("u-reporter")
    assert reporter == {"globalPermissions": [], "projectPermissions": []}
    assert sim.violations == []


def test_moved_issue_keeps_its_id_and_old_key_resolves(sim: JiraSimulator, client: Client) -> None:
    old_id = sim.issues["FEAT-1"]["id"]
    sim.move_issue("FEAT-1", "PAY-1")
    body = client.call("GET", "/rest/api/3/issue/FEAT-1").json()
    assert body["key"] == "PAY-1" and body["id"] == old_id


# ---- signed install -------------------------------------------------------------------------


class FakeApp:
    """A throwaway app that serves a descriptor and verifies installs like a careful app."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.app = Flask("fake-app")
        self.base_url = ""
        self.keys_url = ""

        @self.app.get("/atlassian-connect.json")
        def served_descriptor():
            return jsonify(descriptor(self.base_url))

        @self.app.post("/lifecycle/<event>")
        def lifecycle(event: str):
            token = request.headers["Authorization"].removeprefix("JWT ")
            header = jwt.get_unverified_header(token)
            record: dict[str, Any] = {"event": event, "header": header, "body": request.get_json()}
            self.calls.append(record)
            try:
                if event in ("installed", "uninstalled"):
                    if not str(header.get("kid", "")).replace("-", "").replace("_", "").isalnum():
                        raise jwt.InvalidTokenError("bad kid")
                    key = requests.get(f"{self.keys_url}/{header['kid']}", timeout=5)
                    key.raise_for_status()
                    claims = jwt.decode(token, key.text, algorithms=["RS256"], audience=self.base_url)
                else:
                    claims = jwt.decode(token, record["body"]["sharedSecret"], algorithms=["HS256"])
                if claims["qsh"] != hash_url("POST", f"/lifecycle/{event}"):
                    raise jwt.InvalidTokenError("qsh")
            except (jwt.PyJWTError, requests.RequestException) as exc:
                record["error"] = str(exc)
                return jsonify({"error": "unauthorized", "detail": str(exc)}), 401
            record["claims"] = claims
            return "", 204

        @self.app.post("/jira/webhook/issue-updated")
        def webhook():
            self.calls.append(
                {"event": "webhook", "body": request.get_json(), "auth": request.headers["Authorization"]}
            )
            return "", 204


@pytest.fixture()
def fake_app(sim: JiraSimulator):
    app = FakeApp()
    served = serve(app.app)
    app.base_url = served.url
    app.keys_url = sim.keys_url
    yield app
    served.stop()


def test_signed_install_is_verifiable_with_the_served_key(sim: JiraSimulator, fake_app: FakeApp) -> None:
    response = sim.install(fake_app.base_url)
    assert response.status_code == 204
    call = fake_app.calls[-1]
    assert call["claims"]["iss"] == sim.client_key
    assert call["claims"]["aud"] == [fake_app.base_url]
    assert call["claims"]["exp"] - call["claims"]["iat"] == 180
    body = call["body"]
    assert body["eventType"] == "installed" and body["productType"] == "jira"
    assert body["clientKey"] == sim.client_key and body["baseUrl"] == sim.base_url
    assert body["sharedSecret"] == sim.shared_secret and body["key"] == APP_KEY
    first_secret = sim.shared_secret

    assert sim.install(fake_app.base_url).status_code == 204
    assert sim.shared_secret != first_secret
    # The app can now call Jira with the new secret.
    assert Client(sim.base_url, secret=sim.shared_secret).call("GET", "/rest/api/3/myself").status_code == 200


@pytest.mark.parametrize(
    "tamper", ["unsigned", "wrong-key", "wrong-aud", "expired", "bad-qsh", "bad-kid", "hs256-with-public-key"]
)
def test_forged_installs_fail_verification(sim: JiraSimulator, fake_app: FakeApp, tamper: str) -> None:
    response = sim.install(fake_app.base_url, tamper=tamper)
    assert response.status_code == 401
    assert "error" in fake_app.calls[-1]
    assert sim.shared_secret == SECRET  # a refused install leaves the previous installation
    if tamper == "bad-kid":
        assert sim.key_fetches == []


def test_enable_disable_and_webhook_are_signed_with_the_shared_secret(sim: JiraSimulator, fake_app: FakeApp) -> None:
    sim.install(fake_app.base_url)
    assert sim.disable(fake_app.base_url).status_code == 204
    assert sim.enable(fake_app.base_url).status_code == 204
    assert [c["claims"]["iss"] for c in fake_app.calls[-2:]] == [sim.client_key, sim.client_key]
    sim.set_status("FEAT-1", "Done")
    assert sim.send_webhook(fake_app.base_url, "jira:issue_updated", "FEAT-1").status_code == 204
    delivered = fake_app.calls[-1]
    claims = jwt.decode(delivered["auth"].removeprefix("JWT "), sim.shared_secret, algorithms=["HS256"])
    assert claims["qsh"] == hash_url("POST", "/jira/webhook/issue-updated")
    assert delivered["body"]["issue"]["key"] == "FEAT-1"
    assert delivered["body"]["webhookEvent"] == "jira:issue_updated"


def test_iframe_url_and_context_token(sim: JiraSimulator, fake_app: FakeApp) -> None:
    sim.install(fake_app.base_url)
    url = sim.iframe_url(
        fake_app.base_url,
        "/panel?issueKey={issue.key}&projectKey={project.key}",
        account_id="u-admin",
        context={"issue": {"key": "FEAT-1"}},
    )
    assert url.startswith(f"{fake_app.base_url}/panel?issueKey=FEAT-1&projectKey=FEAT&")
    relative, token = url[len(fake_app.base_url) :].split("&jwt=")
    claims = jwt.decode(token, sim.shared_secret, algorithms=["HS256"])
    assert claims["qsh"] == hash_url("GET", relative)
    assert claims["sub"] == "u-admin"
    context = jwt.decode(sim.context_token("u-admin"), sim.shared_secret, algorithms=["HS256"])
    assert context["qsh"] == "context-qsh" and context["iss"] == sim.client_key


def test_concurrent_calls_are_all_recorded(sim: JiraSimulator, client: Client) -> None:
    def work() -> None:
        client.call("GET", "/rest/api/3/issue/FEAT-2")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sim.requests_log) == 8 and all(c.status == 200 for c in sim.requests_log)
