"""Forged installs and lifecycle events are refused over real HTTP and change nothing; a real
uninstall or disable stops all work for the site without losing its history.

The helpers at the top (`db_snapshot`, `assert_json_refusal`, `assert_html_refusal`) are shared
by the other security tests in this directory.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from sqlalchemy import func, inspect, select, table

from connect_app.connect.descriptor import APP_KEY
from connect_app.connect.jwt import query_string_hash
from connect_app.sandbox.jira.auth import RsaKey, sign_install, sign_tenant_token
from connect_app.sandbox.jira.simulator import JiraSimulator
from connect_app.sandbox.stack import ADMIN, Stack
from connect_app.store.models import Connection, Tenant

TIMEOUT = 30
OTHER_USER = "557058:other-otto"
STACK_TRACE_MARKERS = ("Traceback", 'File "', "sqlalchemy.", "werkzeug.", "jwt.exceptions")


# ---- shared helpers ---------------------------------------------------------------------------


def db_snapshot(stack: Stack, *, ignore: tuple[str, ...] = ()) -> dict[str, Any]:
    """Row counts of every table plus every tenant's and connection's security-relevant columns.

    Two equal snapshots taken around a refused request prove the request changed nothing that
    a later request could notice (a rotated secret, a moved base URL, a stored delivery...).
    `ignore` leaves tables out: a caller who passed authentication but is refused for lack of
    permission legitimately leaves an `audit_log` row for the permission check asked of Jira.
    """
    assert stack.svc is not None
    engine = stack.svc.engine
    counts = {}
    with engine.connect() as connection:
        for name in sorted(set(inspect(engine).get_table_names()) - set(ignore)):
            counts[name] = connection.scalar(select(func.count()).select_from(table(name)))
    with stack.svc.sessions() as session:
        tenants = [
            (t.client_key, t.base_url, t.shared_secret_sealed, t.installed, t.enabled, t.uninstalled_at,
             json.dumps(t.settings, sort_keys=True))
            for t in session.scalars(select(Tenant).order_by(Tenant.id))
        ]
        connections = [
            (c.id, c.tenant_id, c.webhook_secret_sealed, c.deploy_token_digest, c.last_delivery_at, c.deleted_at)
            for c in session.scalars(select(Connection).order_by(Connection.id))
        ]
    return {"counts": counts, "tenants": tenants, "connections": connections}


def assert_no_stack_trace(text: str) -> None:
    for marker in STACK_TRACE_MARKERS:
        assert marker not in text, f"the answer leaks internals ({marker!r}): {text[:500]}"


def assert_json_refusal(response: requests.Response, status: int) -> dict[str, Any]:
    """A refusal a machine can read: the status, and exactly `{"error", "detail"}` in words."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("application/json"), response.headers["Content-Type"]
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert_no_stack_trace(response.text)
    return body


def assert_html_refusal(response: requests.Response, status: int) -> str:
    """A refusal a Jira user reads in the iframe: a short HTML page in plain words."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["Content-Type"].startswith("text/html"), response.headers["Content-Type"]
    text = response.text
    assert "<html" in text and "System Reality could not show this" in text
    assert len(text) < 5000, "an error page should be short"
    assert_no_stack_trace(text)
    return text


# ---- forging installs ---------------------------------------------------------------------------


def install_payload(stack: Stack, *, client_key: str | None = None, base_url: str | None = None,
                    secret: str | None = None, event: str = "installed") -> dict[str, Any]:
    """The body Jira posts to the lifecycle callbacks (see Atlassian's lifecycle docs)."""
    return {
        "key": APP_KEY,
        "clientKey": client_key or stack.jira.client_key,
        "sharedSecret": secret or ("forged-" + uuid.uuid4().hex + uuid.uuid4().hex),
        "serverVersion": "100285",
        "pluginsVersion": "1001.0.0-SNAPSHOT",
        "baseUrl": base_url or stack.jira.base_url,
        "displayUrl": base_url or stack.jira.base_url,
        "productType": "jira",
        "description": "Atlassian JIRA",
        "eventType": event,
    }


def install_claims(stack: Stack, path: str = "/lifecycle/installed") -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": stack.jira.client_key,
        "aud": [stack.app_url],
        "qsh": query_string_hash("POST", path, None),
        "iat": now,
        "exp": now + 180,
        "context": {},
    }


def post_lifecycle(stack: Stack, path: str, body: bytes | dict[str, Any], token: str | None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"JWT {token}"
    return requests.post(f"{stack.app_url}{path}", data=data, headers=headers, timeout=TIMEOUT)


def genuine_install_token(stack: Stack, path: str = "/lifecycle/installed") -> str:
    """A fresh RS256 token signed with the site's real install key, exactly as Jira signs one.

    Lets a test replay a genuine signature with a tampered body; the simulator keeps that key
    to itself, so it is read from its private attribute on purpose.
    """
    key = stack.jira._install_key
    return sign_install(key=key, other_key=key, client_key=stack.jira.client_key, audience=stack.app_url,
                        method="POST", url=stack.app_url + path, subject=None)


def shared_secret_of(stack: Stack) -> str:
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.client_key == stack.jira.client_key))
        assert tenant is not None
        return stack.svc.box.open(tenant.shared_secret_sealed)


def admin_works(stack: Stack) -> bool:
    return stack.admin("GET", "/api/connections").status_code == 200


# ---- tests: forged installs -----------------------------------------------------------------------


@pytest.mark.parametrize("tamper", ["unsigned", "wrong-key", "wrong-aud", "expired", "bad-qsh",
                                    "hs256-with-public-key"])
def test_forged_install_over_a_live_site_is_refused_and_keeps_the_old_secret(stack: Stack, tamper: str) -> None:
    stack.install()
    secret_before = shared_secret_of(stack)
    before = db_snapshot(stack)

    response = stack.jira.install(stack.app_url, tamper=tamper)

    assert_json_refusal(response, 401)
    assert db_snapshot(stack) == before
    assert shared_secret_of(stack) == secret_before
    # The site still works with the secret of the genuine install.
    assert admin_works(stack)


@pytest.mark.parametrize("tamper", ["unsigned", "wrong-key", "wrong-aud", "expired"])
def test_forged_first_install_creates_no_tenant(stack: Stack, tamper: str) -> None:
    before = db_snapshot(stack)
    assert_json_refusal(stack.jira.install(stack.app_url, tamper=tamper), 401)
    assert db_snapshot(stack) == before
    assert before["tenants"] == []
    # A genuine install afterwards is accepted.
    assert stack.install().status_code in (200, 204)
    assert admin_works(stack)


@pytest.mark.parametrize("kid", ["../../evil", "a/b", "k" * 300, "a b", "..", "%2e%2e", ""])
def test_install_with_a_hostile_kid_is_refused_without_fetching_a_key(stack: Stack, kid: str) -> None:
    stack.install()
    stack.jira.reset_log()
    before = db_snapshot(stack)
    rogue = RsaKey.generate()
    token = jwt.encode(install_claims(stack), rogue.private_pem, algorithm="RS256", headers={"kid": kid})

    response = post_lifecycle(stack, "/lifecycle/installed", install_payload(stack), token)

    assert_json_refusal(response, 401)
    assert stack.jira.key_fetches == [], "a hostile kid must never reach the key server"
    assert db_snapshot(stack) == before


def test_simulator_bad_kid_mode_is_refused_without_a_fetch(stack: Stack) -> None:
    stack.jira.reset_log()
    before = db_snapshot(stack)
    assert_json_refusal(stack.jira.install(stack.app_url, tamper="bad-kid"), 401)
    assert "../../evil" not in stack.jira.key_fetches and not any("evil" in k for k in stack.jira.key_fetches)
    assert db_snapshot(stack) == before


def test_install_signed_hs256_with_a_known_secret_is_refused(stack: Stack) -> None:
    """Whoever learned a tenant's shared secret still cannot re-install (rotate it) with it."""
    stack.install()
    secret = shared_secret_of(stack)
    before = db_snapshot(stack)
    token = jwt.encode(install_claims(stack), secret, algorithm="HS256")
    response = post_lifecycle(stack, "/lifecycle/installed", install_payload(stack), token)
    assert_json_refusal(response, 401)
    assert db_snapshot(stack) == before


def test_install_for_another_site_in_the_token_is_refused(stack: Stack) -> None:
    """A genuine token of site X cannot carry a body that installs (or re-keys) site Y."""
    stack.install()
    before = db_snapshot(stack)
    response = post_lifecycle(stack, "/lifecycle/installed",
                              install_payload(stack, client_key=str(uuid.uuid4())), genuine_install_token(stack))
    assert_json_refusal(response, 401)
    assert db_snapshot(stack) == before


def test_install_from_a_site_outside_the_allow_list_is_forbidden(tmp_path: Path) -> None:
    with Stack(tmp_path, env={"ALLOWED_JIRA_BASE_URLS": "https://*.atlassian.net"}) as stack:
        stack.seed_jira()
        before = db_snapshot(stack)
        response = stack.jira.install(stack.app_url)
        body = assert_json_refusal(response, 403)
        assert "not allowed" in body["detail"]
        assert db_snapshot(stack) == before
        assert before["tenants"] == []


def test_install_whose_body_names_a_host_outside_the_allow_list_is_forbidden(stack: Stack) -> None:
    """A genuinely signed install cannot point the app at an arbitrary host."""
    before = db_snapshot(stack)
    response = post_lifecycle(stack, "/lifecycle/installed",
                              install_payload(stack, base_url="https://evil.example.com"), genuine_install_token(stack))
    assert_json_refusal(response, 403)
    assert db_snapshot(stack) == before


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1, 2]", b"\xff\xfe\x00", b'"just a string"'])
def test_malformed_install_body_is_a_bad_request(stack: Stack, body: bytes) -> None:
    before = db_snapshot(stack)
    assert_json_refusal(post_lifecycle(stack, "/lifecycle/installed", body, genuine_install_token(stack)), 400)
    assert db_snapshot(stack) == before


@pytest.mark.parametrize("missing", ["clientKey", "baseUrl", "sharedSecret"])
def test_install_body_missing_a_field_is_a_bad_request(stack: Stack, missing: str) -> None:
    before = db_snapshot(stack)
    payload = install_payload(stack)
    del payload[missing]
    assert_json_refusal(post_lifecycle(stack, "/lifecycle/installed", payload, genuine_install_token(stack)), 400)
    assert db_snapshot(stack) == before


def test_install_without_any_token_is_unauthorized(stack: Stack) -> None:
    before = db_snapshot(stack)
    assert_json_refusal(post_lifecycle(stack, "/lifecycle/installed", install_payload(stack), None), 401)
    assert_json_refusal(post_lifecycle(stack, "/lifecycle/installed", install_payload(stack), "not.a.jwt"), 401)
    assert db_snapshot(stack) == before


def test_install_token_for_the_uninstalled_callback_cannot_install(stack: Stack) -> None:
    """qsh binds the token to its URL: an `uninstalled` token replayed on `installed` fails."""
    token = genuine_install_token(stack, "/lifecycle/uninstalled")
    before = db_snapshot(stack)
    assert_json_refusal(post_lifecycle(stack, "/lifecycle/installed", install_payload(stack), token), 401)
    assert db_snapshot(stack) == before


# ---- tests: forged uninstall / disable -----------------------------------------------------------


def test_forged_uninstall_and_disable_change_nothing(stack: Stack) -> None:
    stack.install()
    before = db_snapshot(stack)
    unsigned = jwt.encode(install_claims(stack, "/lifecycle/uninstalled"), None, algorithm="none",
                          headers={"kid": "whatever"})
    assert_json_refusal(post_lifecycle(stack, "/lifecycle/uninstalled",
                                       install_payload(stack, event="uninstalled"), unsigned), 401)
    # `disabled` signed with a secret that is not the tenant's.
    wrong = sign_tenant_token("POST", "/lifecycle/disabled", None, client_key=stack.jira.client_key,
                              shared_secret="x" * 40)
    assert_json_refusal(post_lifecycle(stack, "/lifecycle/disabled",
                                       install_payload(stack, event="disabled"), wrong), 401)
    # `disabled` signed correctly but for another URL (qsh of `enabled`).
    other_url = sign_tenant_token("POST", "/lifecycle/enabled", None, client_key=stack.jira.client_key,
                                  shared_secret=shared_secret_of(stack))
    assert_json_refusal(post_lifecycle(stack, "/lifecycle/disabled",
                                       install_payload(stack, event="disabled"), other_url), 401)
    assert_json_refusal(post_lifecycle(stack, "/lifecycle/disabled",
                                       install_payload(stack, event="disabled"), None), 401)
    assert db_snapshot(stack) == before
    assert admin_works(stack)


# ---- tests: uninstall and disable stop work, keep history ------------------------------------------


def _connected_with_history(stack: Stack) -> Any:
    stack.jira.add_issue("FEAT-1", "Checkout button", status="Done")
    stack.install()
    github = stack.start_github()
    connection = stack.connect_repository()
    github.repo.commit("FEAT-1: add the checkout button", {"checkout.txt": "button\n"})
    github.push_branch()
    stack.settle()
    return connection


def _push_status(stack: Stack) -> int | None:
    assert stack.github is not None
    stack.github.push("FEAT-1: tweak", {"checkout.txt": f"{uuid.uuid4()}\n"})
    return stack.github.deliveries[-1].status


def _deliveries(stack: Stack) -> int:
    return db_snapshot(stack)["counts"]["deliveries"]


def test_uninstall_stops_webhooks_and_panel_keeps_history_and_reinstall_resumes(stack: Stack) -> None:
    connection = _connected_with_history(stack)
    panel_url = stack.panel_url("FEAT-1")  # signed while the site still has the app
    history = _deliveries(stack)
    assert history >= 1

    assert stack.jira.uninstall(stack.app_url).status_code in (200, 204)
    after_uninstall = db_snapshot(stack)

    # GitHub keeps delivering; the app refuses politely and stores nothing.
    assert _push_status(stack) == 403
    deploy = requests.post(f"{stack.app_url}/api/deployments/{connection.id}",
                           json={"environment": "production", "sha": "a" * 40},
                           headers={"Authorization": f"Bearer {connection.deploy_token}"}, timeout=TIMEOUT)
    assert_json_refusal(deploy, 403)
    text = assert_html_refusal(requests.get(panel_url, timeout=TIMEOUT), 403)
    assert "disabled or uninstalled" in text
    assert db_snapshot(stack)["counts"] == after_uninstall["counts"]
    assert _deliveries(stack) == history, "history rows are kept"
    with stack.svc.sessions() as session:
        tenant = session.scalar(select(Tenant))
        assert tenant is not None and not tenant.installed and tenant.uninstalled_at is not None

    stack.install()
    assert _push_status(stack) == 202
    assert _deliveries(stack) == history + 1
    assert admin_works(stack)


def test_disable_stops_work_and_enable_restores_it(stack: Stack) -> None:
    _connected_with_history(stack)
    history = _deliveries(stack)
    assert stack.jira.disable(stack.app_url).status_code in (200, 204)
    assert _push_status(stack) == 403
    refused = stack.admin("GET", "/api/connections")
    assert_json_refusal(refused, 403)
    assert _deliveries(stack) == history

    assert stack.jira.enable(stack.app_url).status_code in (200, 204)
    assert _push_status(stack) == 202
    assert _deliveries(stack) == history + 1
    assert admin_works(stack)


def start_second_site(stack: Stack, *, projects: tuple[str, ...] = ("FEAT",)) -> JiraSimulator:
    """Another Jira Cloud site installing the same app. Atlassian signs every site's installs
    with one key set, so site B shares site A's install key (the app fetches keys from A's
    key server). The caller stops it."""
    site = JiraSimulator()
    site._install_key = stack.jira._install_key
    site.start()
    site.add_user(ADMIN, "Bea Admin", admin=True)
    site.add_user(OTHER_USER, "Otto Other")
    for key in projects:
        site.add_project(key, f"{key} at site B")
    response = site.install(stack.app_url)
    assert response.status_code in (200, 204), response.text
    return site
