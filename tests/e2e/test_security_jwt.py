"""Inbound Connect JWTs, forged every way we know, over real HTTP.

Iframe pages (what Jira frames) answer a short page in plain words; the API the iframes call
answers JSON `{"error", "detail"}`. Nothing a refused request carries reaches the database or
Jira.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
import requests

from connect_app.connect.jwt import query_string_hash
from connect_app.sandbox.jira.auth import RsaKey, sign_context_token, sign_tenant_token
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.stack import ADMIN, STAKEHOLDERS, Stack

from .test_security_install import (
    TIMEOUT,
    assert_html_refusal,
    assert_json_refusal,
    db_snapshot,
    shared_secret_of,
    start_second_site,
)

ISSUE_QUERY = {"issueKey": "FEAT-1", "issueId": "10001"}
IFRAME_PATHS = ["/panel/issue", "/panel/context", "/report", "/admin"]
API_PATHS = ["/api/issues/FEAT-1/reality", "/api/report?since=48h", "/api/connections"]
NON_ADMIN = STAKEHOLDERS["assignee"][0]


@pytest.fixture
def site_a(stack: Stack) -> Stack:
    stack.jira.add_issue("FEAT-1", "Checkout button", status="Done")
    stack.install()
    return stack


@pytest.fixture
def site_b(site_a: Stack) -> Iterator[JiraSimulator]:
    site = start_second_site(site_a)
    yield site
    site.stop()
    assert site.violations == []


def _claims(stack: Stack, qsh: str, **overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": stack.jira.client_key, "sub": ADMIN, "qsh": qsh, "iat": now, "exp": now + 180,
              "context": {}}
    claims.update(overrides)
    return claims


def _iframe_qsh(path: str) -> str:
    return query_string_hash("GET", path, ISSUE_QUERY)


def _iframe(stack: Stack, path: str, token: str | None) -> requests.Response:
    query = dict(ISSUE_QUERY)
    if token is not None:
        query["jwt"] = token
    return requests.get(f"{stack.app_url}{path}?{urlencode(query)}", timeout=TIMEOUT)


def _api(stack: Stack, path: str, token: str | None, method: str = "GET") -> requests.Response:
    headers = {"Authorization": f"JWT {token}"} if token is not None else {}
    return requests.request(method, f"{stack.app_url}{path}", headers=headers, timeout=TIMEOUT)


def _hs_with_public_key(claims: dict[str, Any], public_pem: bytes) -> str:
    """HMAC keyed with a PEM public key: PyJWT refuses to build it, so it is assembled by hand."""
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())}"


def _forgeries(stack: Stack, qsh: str) -> dict[str, str]:
    """Tokens that must all be refused wherever they are presented."""
    secret = shared_secret_of(stack)
    rsa = RsaKey.generate()
    now = int(time.time())
    good = jwt.encode(_claims(stack, qsh), secret, algorithm="HS256")
    header, payload, signature = good.split(".")
    tampered_claims = _claims(stack, qsh, sub="557058:someone-else")
    tampered_payload = jwt.encode(tampered_claims, "x" * 32, algorithm="HS256").split(".")[1]
    return {
        "alg none": jwt.encode(_claims(stack, qsh), None, algorithm="none"),
        "RS256": jwt.encode(_claims(stack, qsh), rsa.private_pem, algorithm="RS256", headers={"kid": rsa.kid}),
        "HS256 keyed with a public key": _hs_with_public_key(_claims(stack, qsh), rsa.public_pem),
        "wrong secret": jwt.encode(_claims(stack, qsh), "not-the-secret-" * 3, algorithm="HS256"),
        "expired": jwt.encode(_claims(stack, qsh, iat=now - 3600, exp=now - 3000), secret, algorithm="HS256"),
        "no expiry": jwt.encode({k: v for k, v in _claims(stack, qsh).items() if k != "exp"}, secret,
                                algorithm="HS256"),
        "unknown site": jwt.encode(_claims(stack, qsh, iss="not-an-installed-site"), secret, algorithm="HS256"),
        "payload swapped": f"{header}.{tampered_payload}.{signature}",
        "signature stripped": f"{header}.{payload}.",
        "garbage": "not-a-token",
        "huge": "a" * 20_000,
    }


# ---- iframe pages -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", IFRAME_PATHS)
def test_iframe_pages_refuse_forged_tokens_with_a_plain_page(site_a: Stack, path: str) -> None:
    before = db_snapshot(site_a)
    site_a.jira.reset_log()
    assert_html_refusal(_iframe(site_a, path, None), 401)
    for name, token in _forgeries(site_a, _iframe_qsh(path)).items():
        response = _iframe(site_a, path, token)
        assert response.status_code == 401, name
        text = assert_html_refusal(response, 401)
        assert "Jira did not confirm who you are" in text, name
    assert db_snapshot(site_a) == before
    assert site_a.jira.requests_log == [], "a refused page must not call Jira"


@pytest.mark.parametrize("path", IFRAME_PATHS)
def test_iframe_pages_need_the_qsh_of_the_page_itself(site_a: Stack, path: str) -> None:
    secret = shared_secret_of(site_a)
    client_key = site_a.jira.client_key
    other_issue = sign_tenant_token("GET", path, {**ISSUE_QUERY, "issueKey": "FEAT-2"}, client_key=client_key,
                                    shared_secret=secret, account_id=ADMIN)
    other_path = sign_tenant_token("GET", "/somewhere-else", ISSUE_QUERY, client_key=client_key,
                                   shared_secret=secret, account_id=ADMIN)
    post_token = sign_tenant_token("POST", path, ISSUE_QUERY, client_key=client_key, shared_secret=secret,
                                   account_id=ADMIN)
    context = sign_context_token(client_key=client_key, shared_secret=secret, account_id=ADMIN)
    before = db_snapshot(site_a)
    for token in (other_issue, other_path, post_token, context):
        assert_html_refusal(_iframe(site_a, path, token), 401)
    # The context token is refused in the Authorization header of an iframe page too.
    headed = requests.get(f"{site_a.app_url}{path}?{urlencode(ISSUE_QUERY)}",
                          headers={"Authorization": f"JWT {context}"}, timeout=TIMEOUT)
    assert_html_refusal(headed, 401)
    assert db_snapshot(site_a) == before


def test_iframe_page_with_another_sites_secret_is_refused(site_a: Stack, site_b: JiraSimulator) -> None:
    """A token that claims to be site A but is signed with site B's secret."""
    b_secret = site_b.shared_secret
    assert b_secret is not None
    token = sign_tenant_token("GET", "/panel/issue", ISSUE_QUERY, client_key=site_a.jira.client_key,
                              shared_secret=b_secret, account_id=ADMIN)
    before = db_snapshot(site_a)
    assert_html_refusal(_iframe(site_a, "/panel/issue", token), 401)
    assert db_snapshot(site_a) == before


def test_genuine_iframe_token_is_accepted_by_the_auth_layer(site_a: Stack) -> None:
    """The control for the refusals above: the same page with Jira's own token is not refused
    for authentication (the page itself may still say the issue has no changes)."""
    response = requests.get(site_a.jira.iframe_url(site_a.app_url, "/report?projectKey={project.key}",
                                                   account_id=ADMIN, context={"issue.key": "FEAT-1"}),
                            timeout=TIMEOUT)
    assert response.status_code == 200, response.text[:300]


# ---- API routes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", API_PATHS)
def test_api_refuses_forged_context_tokens_with_json(site_a: Stack, path: str) -> None:
    before = db_snapshot(site_a)
    site_a.jira.reset_log()
    assert_json_refusal(_api(site_a, path, None), 401)
    for name, token in _forgeries(site_a, "context-qsh").items():
        response = _api(site_a, path, token)
        assert response.status_code == 401, (name, response.text[:300])
        assert_json_refusal(response, 401)
    # A URL-bound token for some other URL is not a context token either.
    secret = shared_secret_of(site_a)
    elsewhere = sign_tenant_token("GET", "/api/settings", None, client_key=site_a.jira.client_key,
                                  shared_secret=secret, account_id=ADMIN)
    assert_json_refusal(_api(site_a, path, elsewhere), 401)
    # A token in the query string does not authenticate an API call (it would leak into logs).
    context = site_a.jira.context_token(ADMIN)
    separator = "&" if "?" in path else "?"
    assert_json_refusal(requests.get(f"{site_a.app_url}{path}{separator}jwt={context}", timeout=TIMEOUT), 401)
    assert db_snapshot(site_a) == before
    assert site_a.jira.requests_log == [], "a refused API call must not call Jira"


def test_api_token_signed_with_another_sites_secret_is_refused(site_a: Stack, site_b: JiraSimulator) -> None:
    assert site_b.shared_secret is not None
    token = sign_context_token(client_key=site_a.jira.client_key, shared_secret=site_b.shared_secret,
                               account_id=ADMIN)
    before = db_snapshot(site_a)
    for path in API_PATHS:
        assert_json_refusal(_api(site_a, path, token), 401)
    assert db_snapshot(site_a) == before


def test_other_sites_genuine_token_never_reaches_this_sites_connections(site_a: Stack,
                                                                       site_b: JiraSimulator) -> None:
    site_a.start_github()
    connection = site_a.connect_repository()
    b_token = site_b.context_token(ADMIN)
    before = db_snapshot(site_a, ignore=("audit_log",))
    site_a.jira.reset_log()
    listed = _api(site_a, "/api/connections", b_token)
    assert listed.status_code == 200
    assert listed.json() == []
    for method, path in [("GET", f"/api/connections/{connection.id}"),
                         ("DELETE", f"/api/connections/{connection.id}"),
                         ("POST", f"/api/connections/{connection.id}/backfill")]:
        response = _api(site_a, path, b_token, method)
        body = assert_json_refusal(response, 404)
        assert connection.id not in body["detail"]
        assert "acme/shop" not in response.text
    assert db_snapshot(site_a, ignore=("audit_log",)) == before
    assert site_a.jira.requests_log == [], "site B's request must not reach site A's Jira"
    assert site_b.writes() == []


def test_non_admin_cannot_use_the_admin_api(site_a: Stack) -> None:
    before = db_snapshot(site_a, ignore=("audit_log",))
    token = site_a.jira.context_token(NON_ADMIN)
    for method, path in [("GET", "/api/connections"), ("POST", "/api/connections"), ("GET", "/api/settings"),
                         ("PUT", "/api/settings"), ("GET", "/api/deliveries"), ("GET", "/api/jobs")]:
        response = _api(site_a, path, token, method)
        body = assert_json_refusal(response, 403)
        assert "administrator" in body["detail"].lower(), body
    # A token without any user (`sub`) is not an admin either.
    anonymous = sign_context_token(client_key=site_a.jira.client_key, shared_secret=shared_secret_of(site_a))
    assert_json_refusal(_api(site_a, "/api/connections", anonymous), 403)
    assert db_snapshot(site_a, ignore=("audit_log",)) == before
    assert site_a.jira.writes() == []
    # The control: the site admin is let in.
    assert site_a.admin("GET", "/api/connections").status_code == 200


def test_uninstalled_sites_tokens_are_refused_on_the_api(site_a: Stack) -> None:
    token = site_a.jira.context_token(ADMIN)
    assert site_a.admin("GET", "/api/connections").status_code == 200
    site_a.jira.uninstall(site_a.app_url)
    before = db_snapshot(site_a)
    for path in API_PATHS:
        assert_json_refusal(_api(site_a, path, token), 403)
    assert db_snapshot(site_a) == before


# ---- Jira's own webhooks ------------------------------------------------------------------------------


def test_jira_webhook_needs_a_url_bound_token_of_the_site(site_a: Stack, site_b: JiraSimulator) -> None:
    path = "/jira/webhook/issue-updated"
    body = json.dumps({"webhookEvent": "jira:issue_updated", "issue": {"key": "FEAT-1", "fields": {}},
                       "changelog": {"id": "1", "items": [{"field": "Key", "fromString": "FEAT-1",
                                                           "toString": "FEAT-999"}]}}).encode()
    secret = shared_secret_of(site_a)
    client_key = site_a.jira.client_key
    assert site_b.shared_secret is not None
    forged = {
        "missing": None,
        "context token": sign_context_token(client_key=client_key, shared_secret=secret),
        "another URL": sign_tenant_token("POST", "/lifecycle/enabled", None, client_key=client_key,
                                         shared_secret=secret),
        "another site's secret": sign_tenant_token("POST", path, None, client_key=client_key,
                                                   shared_secret=site_b.shared_secret),
        **_forgeries(site_a, query_string_hash("POST", path, None)),
    }
    before = db_snapshot(site_a)
    for name, token in forged.items():
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = f"JWT {token}"
        response = requests.post(f"{site_a.app_url}{path}", data=body, headers=headers, timeout=TIMEOUT)
        assert response.status_code == 401, (name, response.text[:300])
        assert_json_refusal(response, 401)
    site_a.settle()
    assert db_snapshot(site_a) == before, "a forged key change must not move any issue's history"
    # The control: Jira's own signed webhook is accepted.
    assert site_a.jira.send_webhook(site_a.app_url, "jira:issue_updated", "FEAT-1").status_code == 202
