"""Hostile input that used to reach a 500: every one now gets a clear 4xx (or a 503 while the
database is away) with the contract's JSON body `{"error", "detail"}`, and changes nothing.

Grouped by who can send it: anyone (no credential at all), a genuine sender (signed webhooks,
CI with the deploy token, Jira users), and what the infrastructure does to a request (a database
that is down, headers larger than a browser sends).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from connect_app import create_app
from connect_app.cli import GUNICORN_LIMIT_REQUEST_FIELD_SIZE, GUNICORN_LIMIT_REQUEST_FIELDS
from connect_app.config import load_settings
from connect_app.sandbox.stack import ADMIN, RepositoryConnection, Stack

from ..served import served_by_gunicorn
from .test_security_install import (
    TIMEOUT,
    assert_json_refusal,
    db_snapshot,
    genuine_install_token,
    install_claims,
    install_payload,
    post_lifecycle,
    shared_secret_of,
)

# Far deeper than Python's recursion limit: what made the JSON reader raise RecursionError.
ABYSS = 100_000


def _nested_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _nested_object(depth: int, leaf: bytes = b"1") -> bytes:
    return b'{"a":' * depth + leaf + b"}" * depth


@pytest.fixture
def connection(stack: Stack) -> RepositoryConnection:
    stack.install()
    stack.start_github()
    return stack.connect_repository()


def _github(stack: Stack, connection: RepositoryConnection, body: bytes,
            signature: str | None = None) -> requests.Response:
    signature = signature or "sha256=" + hmac.new(connection.webhook_secret.encode(), body,
                                                   hashlib.sha256).hexdigest()
    return requests.post(connection.webhook_url, data=body, timeout=TIMEOUT, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature})


def _flag(stack: Stack, provider: str, connection: RepositoryConnection, body: bytes,
          headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{stack.app_url}/flags/{provider}/{connection.id}", data=body, timeout=TIMEOUT,
                         headers={"Content-Type": "application/json", **headers})


def _deploy(stack: Stack, connection: RepositoryConnection, body: bytes) -> requests.Response:
    return requests.post(f"{stack.app_url}/api/deployments/{connection.id}", data=body, timeout=TIMEOUT,
                         headers={"Content-Type": "application/json",
                                  "Authorization": f"Bearer {connection.deploy_token}"})


def _install_token(stack: Stack, **claims: Any) -> str:
    """An RS256 install token signed with the site's real install key, with claims of our choosing."""
    key = stack.jira._install_key
    return jwt.encode({**install_claims(stack), **claims}, key.private_pem, algorithm="RS256",
                      headers={"kid": key.kid})


def _tenant_token(stack: Stack, **claims: Any) -> str:
    now = int(time.time())
    base = {"iss": stack.jira.client_key, "sub": ADMIN, "qsh": "context-qsh", "iat": now, "exp": now + 180,
            "context": {}}
    return jwt.encode({**base, **claims}, shared_secret_of(stack), algorithm="HS256")


# ---- 3. anyone, without a credential ----------------------------------------------------------------


def test_non_ascii_signature_headers_are_unauthorized(stack: Stack, connection: RepositoryConnection) -> None:
    """hmac.compare_digest raises TypeError on a str with non-ASCII characters."""
    before = db_snapshot(stack)
    body = json.dumps({"key": "feat-1", "on": False}).encode()
    answers = [
        _github(stack, connection, b"{}", signature="sha256=\u00e9" + "0" * 63),
        _flag(stack, "launchdarkly", connection, body, {"X-LD-Signature": "\u00e9" * 64}),
        _flag(stack, "unleash", connection, body, {"Authorization": "\u00e9t\u00e9"}),
        _flag(stack, "generic", connection, body, {"Authorization": "Bearer \u00e9t\u00e9"}),
    ]
    for answer in answers:
        assert_json_refusal(answer, 401)
    assert db_snapshot(stack) == before


@pytest.mark.parametrize("path", ["/lifecycle/installed", "/lifecycle/uninstalled", "/lifecycle/enabled",
                                  "/lifecycle/disabled"])
def test_deeply_nested_lifecycle_body_without_a_token_is_unauthorized(stack: Stack, path: str) -> None:
    """The signature is checked before the body is read, so an anonymous body is never parsed."""
    stack.install()
    before = db_snapshot(stack)
    for body in (_nested_array(ABYSS), _nested_object(ABYSS)):
        assert_json_refusal(post_lifecycle(stack, path, body, None), 401)
    assert db_snapshot(stack) == before


@pytest.mark.parametrize("depth", [65, ABYSS])
def test_deeply_nested_install_body_with_a_genuine_token_is_a_bad_request(stack: Stack, depth: int) -> None:
    before = db_snapshot(stack)
    body = json.dumps(install_payload(stack)).encode()[:-1] + b', "deep": ' + _nested_array(depth) + b"}"
    refusal = assert_json_refusal(post_lifecycle(stack, "/lifecycle/installed", body, genuine_install_token(stack)),
                                  400)
    assert "deeper than 64" in refusal["detail"]
    assert db_snapshot(stack) == before


def test_jwt_with_a_non_ascii_qsh_is_unauthorized(stack: Stack) -> None:
    stack.install()
    before = db_snapshot(stack)
    qsh = "\u00e9" * 64
    context = _tenant_token(stack, qsh=qsh)
    assert_json_refusal(requests.get(f"{stack.app_url}/api/connections", timeout=TIMEOUT,
                                     headers={"Authorization": f"JWT {context}"}), 401)
    install = _install_token(stack, qsh=qsh)
    assert_json_refusal(post_lifecycle(stack, "/lifecycle/installed", install_payload(stack), install), 401)
    assert db_snapshot(stack) == before


# ---- 4. genuine senders ------------------------------------------------------------------------------


def test_deeply_nested_bodies_from_genuine_senders_are_bad_requests(stack: Stack,
                                                                      connection: RepositoryConnection) -> None:
    before = db_snapshot(stack)
    bearer = {"Authorization": f"Bearer {connection.deploy_token}"}
    for depth in (65, ABYSS):
        deep = _nested_object(depth)
        generic = b'{"key": "feat-1", "on": false, "x": ' + deep + b"}"
        for answer in (_github(stack, connection, deep), _deploy(stack, connection, deep),
                       _flag(stack, "generic", connection, generic, bearer)):
            assert "deeper than 64" in assert_json_refusal(answer, 400)["detail"]
    # Nesting as deep as the limit is still read.
    ok = b'{"key": "feat-1", "on": false, "x": ' + _nested_array(63) + b"}"
    assert _flag(stack, "generic", connection, ok, bearer).status_code == 202
    assert db_snapshot(stack)["counts"]["deliveries"] == before["counts"]["deliveries"] + 1


@pytest.mark.parametrize("field, value", [
    ("status", ["success"]),
    ("status", {"success": True}),
    ("deployed_at", "0001-01-01T00:00:00+01:00"),
    ("deployed_at", "9999-12-31T23:59:59-01:00"),
])
def test_ci_deployment_fields_of_the_wrong_kind_are_bad_requests(stack: Stack, connection: RepositoryConnection,
                                                                 field: str, value: Any) -> None:
    before = db_snapshot(stack)
    body = {"environment": "production", "sha": "a" * 40, "status": "success", field: value}
    assert_json_refusal(_deploy(stack, connection, json.dumps(body).encode()), 400)
    stack.settle()
    assert db_snapshot(stack) == before


@pytest.mark.parametrize("kind", [["feature-environment-enabled"], {"type": "feature-environment-enabled"}])
def test_unleash_event_whose_type_is_not_a_string_is_a_bad_request(stack: Stack, connection: RepositoryConnection,
                                                                    kind: Any) -> None:
    before = db_snapshot(stack)
    body = json.dumps({"type": kind, "featureName": "feat-1", "environment": "production"}).encode()
    assert_json_refusal(_flag(stack, "unleash", connection, body, {"Authorization": connection.webhook_secret}), 400)
    assert db_snapshot(stack) == before


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_report_window_off_the_calendar_is_a_bad_request(stack: Stack, name: str, moment: str) -> None:
    stack.install()
    response = requests.get(f"{stack.app_url}/api/report", params={name: moment}, timeout=TIMEOUT,
                            headers={"Authorization": f"JWT {stack.jira.context_token(ADMIN)}"})
    assert name in assert_json_refusal(response, 400)["detail"]


# ---- 5. wrong status or shape -------------------------------------------------------------------------


def test_database_down_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Nothing is acknowledged, so the sender's retry is what keeps the delivery."""
    settings = load_settings({
        "APP_BASE_URL": "https://reality.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-directory' / 'app.db'}",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "APP_SECRET_KEY": "sandbox-secret-key-that-is-long-enough-0123456789",
    })
    client = create_app(settings, migrate=False).test_client()
    cid = "c" + "0" * 24
    answers = [
        client.post(f"/github/webhook/{cid}", data=b"{}", headers={"X-Hub-Signature-256": "sha256=00"}),
        client.post(f"/api/deployments/{cid}", json={}, headers={"Authorization": "Bearer x"}),
        client.post(f"/flags/generic/{cid}", json={}, headers={"Authorization": "Bearer x"}),
        client.get("/api/connections", headers={"Authorization": "JWT " + jwt.encode(
            {"iss": "some-site", "qsh": "context-qsh"}, "x" * 32, algorithm="HS256")}),
    ]
    for answer in answers:
        assert answer.status_code == 503, (answer.status_code, answer.get_data(as_text=True)[:300])
        assert answer.is_json and set(answer.json) == {"error", "detail"}
        assert answer.json["error"] == "unavailable"
        assert int(answer.headers["Retry-After"]) > 0


HUGE_HEADER = "x" * (40 * 1024)  # above our 32 KB per field (and below the HTTP servers' own limits)
LARGE_HEADER = "x" * (10 * 1024)  # above gunicorn's default 8 KB, within ours


def test_oversized_headers_get_a_json_431_from_the_app() -> None:
    client = create_app(load_settings({"DATABASE_URL": "sqlite://", "APP_SECRET_KEY": "k" * 40}),
                        migrate=False).test_client()
    for path in ("/api/report", "/github/webhook/c1", "/healthz"):
        answer = client.get(path, headers={"X-Padding": HUGE_HEADER})
        assert answer.status_code == 431 and answer.is_json, (path, answer.status_code)
        assert answer.json["error"] == "headers_too_large" and answer.json["detail"]
    many = {f"X-Padding-{i}": "x" for i in range(120)}
    assert client.get("/healthz", headers=many).status_code == 431
    assert client.get("/healthz", headers={"X-Padding": LARGE_HEADER}).status_code != 431


def test_oversized_headers_get_a_json_431_over_http(stack: Stack) -> None:
    assert_json_refusal(requests.get(f"{stack.app_url}/api/connections", headers={"X-Padding": HUGE_HEADER},
                                     timeout=TIMEOUT), 431)


@pytest.fixture
def gunicorn_url(tmp_path: Path) -> Iterator[str]:
    """The web app as `connect-app serve` runs it: gunicorn with serve's own options."""
    with served_by_gunicorn(tmp_path) as url:
        yield url


def test_oversized_headers_get_a_json_431_under_gunicorn(gunicorn_url: str) -> None:
    assert_json_refusal(requests.get(f"{gunicorn_url}/api/connections", headers={"X-Padding": HUGE_HEADER},
                                     timeout=TIMEOUT), 431)
    many = {f"X-Padding-{i}": "x" for i in range(120)}
    assert_json_refusal(requests.get(f"{gunicorn_url}/healthz", headers=many, timeout=TIMEOUT), 431)
    assert requests.get(f"{gunicorn_url}/healthz", headers={"X-Padding": LARGE_HEADER},
                        timeout=TIMEOUT).status_code == 200


def test_what_gunicorn_itself_refuses_is_refused_in_json(gunicorn_url: str) -> None:
    # Past gunicorn's own limits the app never sees the request: gunicorn answers, in the same JSON.
    beyond = "x" * (GUNICORN_LIMIT_REQUEST_FIELD_SIZE + 1024)
    assert_json_refusal(requests.post(f"{gunicorn_url}/github/webhook/c1", headers={"X-Padding": beyond},
                                      data=b"{}", timeout=TIMEOUT), 431)
    many = {f"X-Padding-{i}": "x" for i in range(GUNICORN_LIMIT_REQUEST_FIELDS + 10)}
    assert_json_refusal(requests.get(f"{gunicorn_url}/healthz", headers=many, timeout=TIMEOUT), 431)
    assert_json_refusal(requests.get(f"{gunicorn_url}/api/report", params={"since": "x" * 5000},
                                     timeout=TIMEOUT), 414)
    with socket.create_connection(("127.0.0.1", int(gunicorn_url.rsplit(":", 1)[1])), timeout=TIMEOUT) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n")
        head, _, body = sock.makefile("rb").read().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b"Content-Type: application/json" in head, head
    assert json.loads(body) == {"error": "bad_request", "detail": "The request could not be read as HTTP."}


def test_admin_api_with_an_account_jira_does_not_know_is_forbidden(stack: Stack) -> None:
    stack.install()
    before = db_snapshot(stack, ignore=("audit_log",))
    token = stack.jira.context_token("557058:nobody-jira-knows")
    response = requests.get(f"{stack.app_url}/api/connections", headers={"Authorization": f"JWT {token}"},
                            timeout=TIMEOUT)
    assert "does not know" in assert_json_refusal(response, 403)["detail"]
    assert db_snapshot(stack, ignore=("audit_log",)) == before
    # The simulator's answer about an unknown account (a 400) is not among those its OpenAPI
    # description lists, so it records it as off-spec; that answer is what this test is about.
    assert all("/permissions/check" in v and "does not exist" in v for v in stack.jira.violations)
    stack.jira.violations.clear()


# ---- 6. claims taken on trust ---------------------------------------------------------------------------


@pytest.mark.parametrize("claims", [
    {"exp": str(int(time.time()) + 3600)},
    {"iat": str(int(time.time()))},
    {"exp": True},
    {"sub": 42},
    {"aud": [{"url": "x"}]},
], ids=["exp-string", "iat-string", "exp-bool", "sub-number", "aud-object"])
def test_signed_install_with_claims_of_the_wrong_type_is_refused(stack: Stack, claims: dict[str, Any]) -> None:
    before = db_snapshot(stack)
    response = post_lifecycle(stack, "/lifecycle/installed", install_payload(stack), _install_token(stack, **claims))
    assert_json_refusal(response, 401)
    assert db_snapshot(stack) == before


@pytest.mark.parametrize("claims", [{"exp": "9999999999"}, {"iat": "0"}, {"sub": ["557058:admin-ada"]}],
                         ids=["exp-string", "iat-string", "sub-list"])
def test_tenant_token_with_claims_of_the_wrong_type_is_refused(stack: Stack, claims: dict[str, Any]) -> None:
    stack.install()
    response = requests.get(f"{stack.app_url}/api/connections", timeout=TIMEOUT,
                            headers={"Authorization": f"JWT {_tenant_token(stack, **claims)}"})
    assert_json_refusal(response, 401)


@pytest.mark.parametrize("suffix", ["/../", "/..", "/jira/../admin", "/./", "/%2e%2e/", "//evil.example.com"])
def test_install_whose_base_url_is_not_a_plain_address_is_refused(stack: Stack, suffix: str) -> None:
    before = db_snapshot(stack)
    payload = install_payload(stack, base_url=stack.jira.base_url + suffix)
    response = post_lifecycle(stack, "/lifecycle/installed", payload, genuine_install_token(stack))
    assert_json_refusal(response, 400)
    assert db_snapshot(stack) == before


def test_install_with_a_plain_context_path_is_accepted(stack: Stack) -> None:
    payload = install_payload(stack, base_url=stack.jira.base_url + "/jira")
    assert post_lifecycle(stack, "/lifecycle/installed", payload, genuine_install_token(stack)).status_code == 204

