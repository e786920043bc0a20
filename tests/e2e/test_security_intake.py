"""What GitHub, CI pipelines and flag services send is verified before anything is stored:
forged, malformed or oversized deliveries are refused with a 4xx and change nothing, while
hostile-but-genuine content (the commit messages people really write, and worse) is stored and
processed without a 500 and reaches Jira only as valid requests."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from sqlalchemy import func, select

from connect_app.jobs import queue as jobs
from connect_app.sandbox.stack import RepositoryConnection, Stack
from connect_app.store.models import CommitFact, Connection, Delivery, Job

from .test_security_install import TIMEOUT, assert_json_refusal, db_snapshot

MAX_BODY = 25 * 1024 * 1024
MEGABYTE = b"x" * (1024 * 1024)  # the one buffer every oversized body is streamed from


@pytest.fixture
def connection(stack: Stack) -> RepositoryConnection:
    stack.jira.add_issue("FEAT-1", "Checkout button", status="Done")
    stack.install()
    github = stack.start_github()
    connected = stack.connect_repository()
    github.repo.commit("Initial checkout service", {"checkout.py": "def pay():\n    return True\n"})
    github.push_branch()
    stack.settle()
    return connected


def _sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post_github(stack: Stack, connection: RepositoryConnection, body: bytes, *, secret: str | None = "",
                 event: str = "push", guid: str | None = "", content_type: str = "application/json",
                 connection_id: str | None = None) -> requests.Response:
    """POST as GitHub does. `secret=""` signs with the connection's secret, None leaves the
    signature out; `guid=""` makes a fresh delivery id, None leaves it out."""
    headers = {"Content-Type": content_type, "X-GitHub-Event": event, "User-Agent": "GitHub-Hookshot/test"}
    if secret is not None:
        headers["X-Hub-Signature-256"] = _sign(secret or connection.webhook_secret, body)
    if guid is not None:
        headers["X-GitHub-Delivery"] = guid or str(uuid.uuid4())
    url = f"{stack.app_url}/github/webhook/{connection_id or connection.id}"
    return requests.post(url, data=body, headers=headers, timeout=TIMEOUT)


def _last_push_body(stack: Stack) -> bytes:
    assert stack.github is not None
    return next(d.body for d in reversed(stack.github.deliveries) if d.event == "push")


def _second_connection(stack: Stack) -> dict[str, Any]:
    assert stack.github is not None
    response = stack.admin("POST", "/api/connections", {"provider": "github", "repository": "acme/other",
                                                        "api_url": stack.github.api_url})
    assert response.status_code == 201, response.text
    return response.json()


def _deliveries(stack: Stack, guid: str | None = None) -> int:
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        query = select(func.count()).select_from(Delivery)
        if guid is not None:
            query = query.where(Delivery.guid == guid)
        return int(session.scalar(query) or 0)


# ---- GitHub webhooks: refused ------------------------------------------------------------------------


def test_forged_and_malformed_github_deliveries_are_refused_and_change_nothing(
        stack: Stack, connection: RepositoryConnection) -> None:
    other = _second_connection(stack)
    body = _last_push_body(stack)
    before = db_snapshot(stack)
    stack.jira.reset_log()

    cases: list[tuple[str, int, requests.Response]] = [
        ("wrong signature", 401, _post_github(stack, connection, body, secret="not-the-secret")),
        ("missing signature", 401, _post_github(stack, connection, body, secret=None)),
        ("another connection's secret", 401, _post_github(stack, connection, body, secret=other["webhook_secret"])),
        ("signed body, different body sent", 401, requests.post(
            connection.webhook_url, data=body + b" ",
            headers={"X-Hub-Signature-256": _sign(connection.webhook_secret, body), "X-GitHub-Event": "push",
                     "X-GitHub-Delivery": str(uuid.uuid4()), "Content-Type": "application/json"},
            timeout=TIMEOUT)),
        ("malformed JSON, correctly signed", 400, _post_github(stack, connection, b'{"ref": "refs/heads/ma')),
        ("JSON array, correctly signed", 400, _post_github(stack, connection, b"[1, 2, 3]")),
        ("JSON string, correctly signed", 400, _post_github(stack, connection, b'"push"')),
        ("not UTF-8, correctly signed", 400, _post_github(stack, connection, b"\xff\xfe{}")),
        ("missing X-GitHub-Delivery", 400, _post_github(stack, connection, body, guid=None)),
        ("hostile X-GitHub-Delivery", 400, _post_github(stack, connection, body, guid="../../" + "x" * 200)),
        ("missing X-GitHub-Event", 400, _post_github(stack, connection, body, event="")),
        ("form without payload", 400, _post_github(stack, connection, b"other=1",
                                                   content_type="application/x-www-form-urlencoded")),
        ("unknown connection", 404, _post_github(stack, connection, body, connection_id="c" + "0" * 24)),
        ("absurd connection id", 404, _post_github(stack, connection, body, connection_id="x" * 300)),
    ]
    for name, status, response in cases:
        assert response.status_code == status, (name, response.status_code, response.text[:300])
        assert_json_refusal(response, status)
    stack.settle()
    assert db_snapshot(stack) == before
    assert stack.jira.writes() == []


def test_redelivery_of_the_same_guid_is_stored_once(stack: Stack, connection: RepositoryConnection) -> None:
    assert stack.github is not None
    stack.github.push("FEAT-1: add the checkout button", {"button.py": "BUTTON = True\n"})
    original = stack.github.deliveries[-1]
    assert original.status == 202
    stack.settle()
    before = db_snapshot(stack)
    stack.jira.reset_log()

    again = stack.github.redeliver(original.guid)
    assert [d.status for d in again] == [200]
    assert json.loads(again[0].response_body)["status"] == "duplicate"
    stack.settle()

    assert _deliveries(stack, original.guid) == 1
    assert db_snapshot(stack)["counts"] == before["counts"]
    assert stack.jira.writes() == []


def test_form_encoded_delivery_is_accepted_and_processed(stack: Stack, connection: RepositoryConnection) -> None:
    assert stack.github is not None
    # GitHub's "application/x-www-form-urlencoded" content type: the JSON rides in `payload`.
    for hook in list(stack.github.hooks):
        stack.github.remove_hook(hook.id)
    stack.github.add_hook(connection.webhook_url, connection.webhook_secret, content_type="form")
    commits_before = _commit_count(stack)
    sha = stack.github.push("FEAT-1: add the checkout button", {"button.py": "BUTTON = True\n"})
    delivery = stack.github.deliveries[-1]
    assert delivery.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert delivery.status == 202, delivery.response_body
    stack.settle()
    assert _commit_count(stack) == commits_before + 1
    listed = stack.admin("GET", "/api/deliveries").json()
    assert listed[0]["guid"] == delivery.guid and listed[0]["status"] == "processed"
    assert stack.jira.issues["FEAT-1"]["properties"]["system-reality"]["changes"] == 1, sha


def test_ping_is_answered_and_stores_nothing(stack: Stack, connection: RepositoryConnection) -> None:
    before = db_snapshot(stack)
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1,
                       "hook": {"type": "Repository", "events": ["push"]}}).encode()
    response = _post_github(stack, connection, body, event="ping")
    assert response.status_code == 200
    assert response.json()["status"] == "pong"
    assert db_snapshot(stack)["counts"] == before["counts"]
    # A ping signed with the wrong secret is refused like anything else (GitHub shows the 401).
    assert_json_refusal(_post_github(stack, connection, body, event="ping", secret="wrong"), 401)


# ---- oversized bodies ---------------------------------------------------------------------------------


class _SizedStream:
    """A file-like body of `size` bytes that reuses one megabyte buffer, so `requests` sends a
    Content-Length without the test ever holding the whole body."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.size = size

    def __len__(self) -> int:
        return self.size

    def read(self, amount: int = -1) -> bytes:
        if self.remaining <= 0:
            return b""
        amount = len(MEGABYTE) if amount is None or amount < 0 else min(amount, len(MEGABYTE))
        amount = min(amount, self.remaining)
        self.remaining -= amount
        return MEGABYTE[:amount] if amount < len(MEGABYTE) else MEGABYTE


def _chunks(megabytes: int) -> Iterator[bytes]:
    for _ in range(megabytes):
        yield MEGABYTE


def _signature_of_stream(secret: str, megabytes: int) -> str:
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for chunk in _chunks(megabytes):
        mac.update(chunk)
    return "sha256=" + mac.hexdigest()


def _post_oversized(url: str, headers: dict[str, str], *, chunked: bool) -> requests.Response:
    """Send 26 MB, with a Content-Length or chunked (no length known up front)."""
    data: Any = _chunks(26) if chunked else _SizedStream(26 * len(MEGABYTE))
    return requests.post(url, data=data, headers=headers, timeout=120)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_25_mb_is_refused_as_too_large(stack: Stack, connection: RepositoryConnection,
                                                chunked: bool) -> None:
    before = db_snapshot(stack)
    signed = {"X-Hub-Signature-256": _signature_of_stream(connection.webhook_secret, 26),
              "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()), "Content-Type": "application/json"}
    targets = [
        (connection.webhook_url, signed),
        (f"{stack.app_url}/api/deployments/{connection.id}",
         {"Authorization": f"Bearer {connection.deploy_token}", "Content-Type": "application/json"}),
        (f"{stack.app_url}/flags/generic/{connection.id}",
         {"Authorization": f"Bearer {connection.deploy_token}", "Content-Type": "application/json"}),
    ]
    for url, headers in targets:
        response = _post_oversized(url, headers, chunked=chunked)
        body = assert_json_refusal(response, 413)
        assert "25 MB" in body["detail"]
    stack.settle()
    assert db_snapshot(stack) == before


def test_body_just_under_the_limit_is_read_whole(stack: Stack, connection: RepositoryConnection) -> None:
    """The control for the 413s: a big but allowed push (a 24 MB payload of padding) is
    verified against its full signature and stored."""
    payload = json.loads(_last_push_body(stack))
    payload["padding"] = "p" * (24 * 1024 * 1024)
    body = json.dumps(payload).encode()
    response = requests.post(connection.webhook_url, data=iter([body]), timeout=120, headers={
        "X-Hub-Signature-256": _sign(connection.webhook_secret, body), "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()), "Content-Type": "application/json"})
    assert response.status_code == 202, response.text[:300]


# ---- hostile commit messages -------------------------------------------------------------------------

HOSTILE_MESSAGES = [
    "FEAT-1: " + "A very long line of text. " * 400,  # 10k characters
    "FEAT-1 <script>alert('owned')</script><img src=x onerror=alert(1)>",
    "FEAT-1'; DROP TABLE commits; -- \" OR 1=1 /* %s %(x)s {0} ${jndi:ldap://x}",
    "FEAT-1 fix \u202egnp.exe\u202c and \u200f\u2066isolated\u2069 \U0001F4A5 emoji",
    "FEAT-1 and " + " ".join(f"ZZZ-{n}" for n in range(1, 5001)),  # 5,000 keys of no project
    "FEAT-1\n\n" + "\n".join(f"This reverts commit {n:040x}." for n in range(1, 300)),  # SHAs nowhere
]


def test_hostile_commit_messages_are_stored_processed_and_reach_jira_valid(
        stack: Stack, connection: RepositoryConnection) -> None:
    github = stack.github
    assert github is not None
    shas = [github.push(message, {f"hostile/{index}.txt": f"{index}\n"})
            for index, message in enumerate(HOSTILE_MESSAGES)]
    assert [d.status for d in github.deliveries[-len(shas):]] == [202] * len(shas)
    # The same delivery with a NUL byte in a message (git refuses NUL, a forged payload need not).
    payload = json.loads(_last_push_body(stack))
    payload["commits"][0]["message"] = "FEAT-1 nul \u0000 byte \u0000"
    nul_body = json.dumps(payload).encode()
    assert _post_github(stack, connection, nul_body).status_code == 202
    stack.settle()

    deliveries = stack.admin("GET", "/api/deliveries").json()
    assert deliveries and {d["status"] for d in deliveries} <= {"processed", "ignored"}, deliveries
    parked = stack.admin("GET", "/api/jobs?status=parked").json()
    assert parked == []

    # Revert them all: FEAT-1 (Done) drifts, so the app writes a property, a label and a comment
    # that quote these messages; the simulator checks every request against Jira's OpenAPI spec.
    github.repo.checkout(github.default_branch)
    for sha in reversed(shas):
        github.repo.revert(sha)
    github.push_branch()
    stack.settle()

    issue = stack.jira.issues["FEAT-1"]
    value = issue["properties"]["system-reality"]
    assert value["drift"] == "reverted", value
    assert len(value["summary"]) < 2000
    assert "drift-reverted" in issue["labels"]
    assert len(issue["comments"]) == 1
    assert stack.jira.violations == []
    assert all(200 <= call.status < 300 for call in stack.jira.writes()), \
        [(c.method, c.path, c.status, c.response) for c in stack.jira.writes() if c.status >= 300]

    reality = stack.admin("GET", "/api/issues/FEAT-1/reality")
    assert reality.status_code == 200
    panel = requests.get(stack.panel_url("FEAT-1"), timeout=TIMEOUT)
    assert panel.status_code == 200
    # The markup in the messages is shown as text, never as markup.
    assert "<script>alert" not in panel.text
    assert "<img src=x" not in panel.text
    assert "&lt;script&gt;alert" in panel.text
    assert "\x00" not in panel.text


def _commit_count(stack: Stack) -> int:
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(CommitFact)) or 0)


# ---- CI deployments ----------------------------------------------------------------------------------


def _deploy(stack: Stack, connection_id: str, body: Any, token: str | None,
            raw: bytes | None = None, headers: dict[str, str] | None = None) -> requests.Response:
    headers = {"Content-Type": "application/json", **(headers or {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = raw if raw is not None else json.dumps(body).encode()
    return requests.post(f"{stack.app_url}/api/deployments/{connection_id}", data=data, headers=headers,
                         timeout=TIMEOUT)


def test_deployment_reports_need_this_connections_token_and_a_sane_body(
        stack: Stack, connection: RepositoryConnection) -> None:
    other = _second_connection(stack)
    assert stack.github is not None
    head = stack.github.pushed_head
    good = {"environment": "production", "sha": head, "status": "success",
            "deployed_at": "2026-11-25T23:31:00Z", "url": "https://ci.example.com/runs/1"}
    before = db_snapshot(stack)
    cid = connection.id
    cases = [
        ("no token", 401, _deploy(stack, cid, good, None)),
        ("wrong token", 401, _deploy(stack, cid, good, "srdeploy_not-the-token")),
        ("another connection's token", 401, _deploy(stack, cid, good, other["deploy_token"])),
        ("basic auth", 401, requests.post(f"{stack.app_url}/api/deployments/{cid}", json=good,
                                          auth=("ci", connection.deploy_token), timeout=TIMEOUT)),
        ("unknown connection", 404, _deploy(stack, "c" + "0" * 24, good, connection.deploy_token)),
        ("bad sha", 400, _deploy(stack, cid, {**good, "sha": "not-a-sha; rm -rf /"}, connection.deploy_token)),
        ("short sha", 400, _deploy(stack, cid, {**good, "sha": "abc"}, connection.deploy_token)),
        ("numeric sha", 400, _deploy(stack, cid, {**good, "sha": 1234567}, connection.deploy_token)),
        ("missing environment", 400, _deploy(stack, cid, {k: v for k, v in good.items() if k != "environment"},
                                             connection.deploy_token)),
        ("hostile environment", 400, _deploy(stack, cid, {**good, "environment": "<script>" + "x" * 200},
                                             connection.deploy_token)),
        ("bad deployed_at", 400, _deploy(stack, cid, {**good, "deployed_at": "yesterday"}, connection.deploy_token)),
        ("naive deployed_at", 400, _deploy(stack, cid, {**good, "deployed_at": "2026-11-25T23:31:00"},
                                           connection.deploy_token)),
        ("numeric deployed_at", 400, _deploy(stack, cid, {**good, "deployed_at": 1e300}, connection.deploy_token)),
        ("bad status", 400, _deploy(stack, cid, {**good, "status": "exploded"}, connection.deploy_token)),
        ("javascript url", 400, _deploy(stack, cid, {**good, "url": "javascript:alert(1)"},
                                        connection.deploy_token)),
        ("malformed JSON", 400, _deploy(stack, cid, None, connection.deploy_token, raw=b"{environment:")),
        ("JSON array", 400, _deploy(stack, cid, [good], connection.deploy_token)),
    ]
    for name, status, response in cases:
        assert response.status_code == status, (name, response.status_code, response.text[:300])
        assert_json_refusal(response, status)
    stack.settle()
    assert db_snapshot(stack) == before
    assert stack.jira.writes() == []


def test_deployment_retry_with_the_same_body_is_recorded_once(stack: Stack,
                                                              connection: RepositoryConnection) -> None:
    assert stack.github is not None
    body = {"environment": "production", "sha": stack.github.pushed_head, "status": "success",
            "deployed_at": "2026-11-25T23:31:00Z"}
    key = {"Idempotency-Key": f"ci-run-812-{uuid.uuid4()}"}
    first = _deploy(stack, connection.id, body, connection.deploy_token, headers=key)
    assert first.status_code == 202, first.text
    stack.settle()
    after_first = db_snapshot(stack)
    writes_after_first = len(stack.jira.writes())
    # The same call again with the same key: a CI job retrying after a timeout.
    again = _deploy(stack, connection.id, body, connection.deploy_token, headers=key)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert again.json()["delivery"] == first.json()["delivery"]
    stack.settle()
    assert db_snapshot(stack)["counts"] == after_first["counts"]
    assert len(stack.jira.writes()) == writes_after_first


# ---- feature flags ------------------------------------------------------------------------------------


def _flag(stack: Stack, provider: str, connection_id: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{stack.app_url}/flags/{provider}/{connection_id}", data=body,
                         headers={"Content-Type": "application/json", **headers}, timeout=TIMEOUT)


LAUNCHDARKLY = json.dumps({
    "kind": "flag", "date": 1795700000000,
    "currentVersion": {"key": "feat-1-checkout", "name": "FEAT-1 checkout button",
                       "environments": {"production": {"on": False}}},
}).encode()
UNLEASH = json.dumps({"type": "feature-environment-disabled", "featureName": "feat-1-checkout",
                      "environment": "production", "createdAt": "2026-11-25T23:31:00Z"}).encode()
GENERIC = json.dumps({"key": "feat-1-checkout", "name": "FEAT-1 checkout", "on": False,
                      "environment": "production"}).encode()


def test_flag_events_are_checked_with_each_providers_own_scheme(stack: Stack,
                                                                connection: RepositoryConnection) -> None:
    other = _second_connection(stack)
    secret, token, cid = connection.webhook_secret, connection.deploy_token, connection.id
    ld_signature = hmac.new(secret.encode(), LAUNCHDARKLY, hashlib.sha256).hexdigest()
    before = db_snapshot(stack)
    refused = [
        ("LaunchDarkly without signature", 401, _flag(stack, "launchdarkly", cid, LAUNCHDARKLY, {})),
        ("LaunchDarkly wrong signature", 401, _flag(stack, "launchdarkly", cid, LAUNCHDARKLY,
                                                    {"X-LD-Signature": "0" * 64})),
        ("LaunchDarkly signed by another connection", 401, _flag(
            stack, "launchdarkly", cid, LAUNCHDARKLY,
            {"X-LD-Signature": hmac.new(other["webhook_secret"].encode(), LAUNCHDARKLY, hashlib.sha256).hexdigest()})),
        ("LaunchDarkly signature of another body", 401, _flag(stack, "launchdarkly", cid, LAUNCHDARKLY + b" ",
                                                              {"X-LD-Signature": ld_signature})),
        ("Unleash without Authorization", 401, _flag(stack, "unleash", cid, UNLEASH, {})),
        ("Unleash wrong Authorization", 401, _flag(stack, "unleash", cid, UNLEASH, {"Authorization": "guess"})),
        ("Unleash with the deploy token", 401, _flag(stack, "unleash", cid, UNLEASH,
                                                     {"Authorization": f"Bearer {token}"})),
        ("generic without token", 401, _flag(stack, "generic", cid, GENERIC, {})),
        ("generic wrong token", 401, _flag(stack, "generic", cid, GENERIC, {"Authorization": "Bearer nope"})),
        ("generic with the webhook secret", 401, _flag(stack, "generic", cid, GENERIC,
                                                       {"Authorization": f"Bearer {secret}"})),
        ("unknown provider", 404, _flag(stack, "optimizely", cid, GENERIC, {"Authorization": f"Bearer {token}"})),
        ("unknown connection", 404, _flag(stack, "generic", "c" + "0" * 24, GENERIC,
                                          {"Authorization": f"Bearer {token}"})),
        ("generic malformed JSON", 400, _flag(stack, "generic", cid, b"{key:", {"Authorization": f"Bearer {token}"})),
        ("generic without on", 400, _flag(stack, "generic", cid, json.dumps({"key": "x"}).encode(),
                                          {"Authorization": f"Bearer {token}"})),
        ("generic on as a string", 400, _flag(stack, "generic", cid, json.dumps({"key": "x", "on": "false"}).encode(),
                                              {"Authorization": f"Bearer {token}"})),
        ("generic array", 400, _flag(stack, "generic", cid, b"[]", {"Authorization": f"Bearer {token}"})),
    ]
    for name, status, response in refused:
        assert response.status_code == status, (name, response.status_code, response.text[:300])
        assert_json_refusal(response, status)
    stack.settle()
    assert db_snapshot(stack) == before

    accepted = [
        _flag(stack, "launchdarkly", cid, LAUNCHDARKLY, {"X-LD-Signature": ld_signature}),
        _flag(stack, "unleash", cid, UNLEASH, {"Authorization": secret}),
        _flag(stack, "generic", cid, GENERIC, {"Authorization": f"Bearer {token}"}),
    ]
    assert [r.status_code for r in accepted] == [202, 202, 202], [r.text for r in accepted]
    stack.settle()
    assert _deliveries(stack) == before["counts"]["deliveries"] + 3
    statuses = {d["source"]: d["status"] for d in stack.admin("GET", "/api/deliveries").json()}
    assert statuses == {"flag:launchdarkly": "processed", "flag:unleash": "processed",
                        "flag:generic": "processed", "github": "processed"}, statuses


def test_flag_redelivery_is_stored_once(stack: Stack, connection: RepositoryConnection) -> None:
    headers = {"Authorization": f"Bearer {connection.deploy_token}", "X-Delivery-Id": "flag-tool-42"}
    first = _flag(stack, "generic", connection.id, GENERIC, headers)
    again = _flag(stack, "generic", connection.id, GENERIC, headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["status"] == "duplicate"


def test_flag_redelivery_is_told_apart_by_the_providers_event_id(stack: Stack,
                                                                  connection: RepositoryConnection) -> None:
    """LaunchDarkly and Unleash retry with the same event id; without one, identical bodies are
    separate changes (a flag switched off, on, and off again sends the same body twice)."""
    launchdarkly = json.dumps({**json.loads(LAUNCHDARKLY), "_id": "65f1c0ffee0000000000aa01"}).encode()
    signed = {"X-LD-Signature": hmac.new(connection.webhook_secret.encode(), launchdarkly,
                                         hashlib.sha256).hexdigest()}
    unleash = json.dumps({**json.loads(UNLEASH), "id": 3141}).encode()
    unleash_auth = {"Authorization": connection.webhook_secret}
    bearer = {"Authorization": f"Bearer {connection.deploy_token}"}
    answers = [
        _flag(stack, "launchdarkly", connection.id, launchdarkly, signed),
        _flag(stack, "launchdarkly", connection.id, launchdarkly, signed),
        _flag(stack, "unleash", connection.id, unleash, unleash_auth),
        _flag(stack, "unleash", connection.id, unleash, unleash_auth),
        _flag(stack, "generic", connection.id, GENERIC, bearer),
        _flag(stack, "generic", connection.id, GENERIC, bearer),
        # The sender's own delivery id still wins over the payload's event id.
        _flag(stack, "unleash", connection.id, unleash, {**unleash_auth, "X-Delivery-Id": "retry-of-nothing"}),
    ]
    assert [a.status_code for a in answers] == [202, 200, 202, 200, 202, 202, 202], [a.text for a in answers]
    assert answers[1].json()["delivery"] == answers[0].json()["delivery"]
    assert answers[3].json()["delivery"] == answers[2].json()["delivery"]


def test_flag_events_no_calendar_or_type_check_can_hold_are_refused_as_json(
        stack: Stack, connection: RepositoryConnection) -> None:
    bearer = {"Authorization": f"Bearer {connection.deploy_token}"}
    generic = json.loads(GENERIC)
    unleash = json.loads(UNLEASH)
    before = db_snapshot(stack)
    cases = [
        ("generic", {**generic, "changed_at": 1e20}, bearer),
        ("generic", {**generic, "changed_at": -1e20}, bearer),
        ("generic", {**generic, "url": "javascript:alert(document.cookie)"}, bearer),
        ("generic", {**generic, "url": "https://flags.example.com/" + "x" * 600}, bearer),
        ("generic", {**generic, "tags": {"FEAT-1": True}}, bearer),
        ("unleash", {**unleash, "tags": 5}, {"Authorization": connection.webhook_secret}),
    ]
    for provider, body, headers in cases:
        response = _flag(stack, provider, connection.id, json.dumps(body).encode(), headers)
        assert response.status_code == 400, (body, response.status_code, response.text[:300])
        assert_json_refusal(response, 400)
    # Python's JSON reader accepts NaN and Infinity, so a sender can too.
    for bad in (b"NaN", b"Infinity"):
        body = GENERIC[:-1] + b', "changed_at": ' + bad + b"}"
        assert_json_refusal(_flag(stack, "generic", connection.id, body, bearer), 400)
    stack.settle()
    assert db_snapshot(stack) == before


def test_form_delivery_signature_covers_the_form_body(stack: Stack, connection: RepositoryConnection) -> None:
    """GitHub signs the bytes it sends, i.e. the form body, not the JSON inside it."""
    inner = _last_push_body(stack)
    form = urlencode({"payload": inner.decode()}).encode()
    signed_inner = requests.post(connection.webhook_url, data=form, timeout=TIMEOUT, headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "push",
        "X-GitHub-Delivery": str(uuid.uuid4()), "X-Hub-Signature-256": _sign(connection.webhook_secret, inner)})
    assert_json_refusal(signed_inner, 401)
    ok = _post_github(stack, connection, form, content_type="application/x-www-form-urlencoded")
    assert ok.status_code == 202


def test_a_deleted_connection_stops_accepting_deliveries_at_once(stack) -> None:
    stack.install()
    github = stack.start_github()
    connection = stack.connect_repository()
    github.repo.commit("Initial", {"a.txt": "1\n"})
    github.push_branch()
    assert github.deliveries[-1].status == 202
    assert stack.admin("DELETE", f"/api/connections/{connection.id}").status_code == 204
    github.repo.commit("FEAT-1: more", {"a.txt": "2\n"})
    github.push_branch()
    assert github.deliveries[-1].status == 404
    deploy = stack.report_deployment(connection, {"environment": "production", "sha": "abcdef1"})
    assert deploy.status_code == 404
    listed = stack.admin("GET", "/api/connections").json()
    assert all(item["id"] != connection.id for item in listed)


def test_deliveries_queued_before_a_connection_was_deleted_are_ignored(stack: Stack,
                                                                      connection: RepositoryConnection) -> None:
    assert stack.github is not None and stack.svc is not None
    queued = stack.report_deployment(connection, {"environment": "production", "sha": stack.github.pushed_head})
    assert queued.status_code == 202, queued.text
    assert stack.admin("DELETE", f"/api/connections/{connection.id}").status_code == 204
    writes = len(stack.jira.writes())
    stack.settle()
    with stack.svc.sessions() as session:
        delivery = session.get(Delivery, queued.json()["delivery"])
        assert delivery is not None and delivery.status == "ignored"
    assert len(stack.jira.writes()) == writes


def test_a_stored_delivery_that_is_not_an_object_fails_at_once(stack: Stack,
                                                               connection: RepositoryConnection) -> None:
    """A body that is JSON but not an object (stored before intake checked it, or by a replay)
    is marked failed on its first run instead of being retried until the job is parked."""
    assert stack.svc is not None
    stack.settle()
    with stack.svc.sessions() as session, session.begin():
        stored = session.get(Connection, connection.id)
        assert stored is not None
        delivery = Delivery(tenant_id=stored.tenant_id, connection_id=connection.id, source="deploy",
                            event="deployment", guid="replayed-list", body=b"[]")
        session.add(delivery)
        session.flush()
        jobs.enqueue(session, "delivery", {"delivery_id": delivery.id}, tenant_id=stored.tenant_id)
        delivery_id = delivery.id
    stack.settle()
    with stack.svc.sessions() as session:
        delivery = session.get(Delivery, delivery_id)
        assert delivery is not None and delivery.status == "failed", (delivery.status, delivery.error)
        assert "AttributeError" in (delivery.error or "")
        assert session.scalar(select(func.count()).select_from(Job).where(Job.status == "parked")) == 0


def test_an_unexpected_github_error_retries_the_delivery_instead_of_failing_it(
        stack: Stack, connection: RepositoryConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a malformed body fails a delivery for good. A GitHub call that breaks in a way nobody
    foresaw (here: reading a merged PR's commits) leaves the webhook stored and its job queued
    for a retry, so nothing the sender did right is lost."""
    from connect_app.providers.github import RepositoryReader

    def broken(self: RepositoryReader, number: int) -> tuple[str, ...]:
        raise ValueError("unexpected answer from GitHub")

    monkeypatch.setattr(RepositoryReader, "pull_commits", broken)
    github = stack.github
    assert github is not None
    github.repo.branch("feat-1-express", github.default_branch)
    github.repo.checkout("feat-1-express")
    github.repo.commit("Express checkout", {"express.py": "EXPRESS = True\n"})
    number = github.open_pull_request("feat-1-express", "FEAT-1: Express checkout", "Please review.")
    github.merge_pull_request(number)
    stack.settle()
    with stack.svc.sessions() as session:  # type: ignore[union-attr]
        delivery = session.scalar(select(Delivery).where(Delivery.event == "pull_request"))
        assert delivery is not None
        assert delivery.status == "stored", (delivery.status, delivery.error)
        job = session.scalar(select(Job).where(Job.kind == "delivery")
                             .where(Job.payload["delivery_id"].as_integer() == delivery.id))
        assert job is not None and job.status == "queued" and job.attempts == 1
        assert "unexpected answer from GitHub" in (job.last_error or "")
