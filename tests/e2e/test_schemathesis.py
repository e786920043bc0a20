"""schemathesis against GET /openapi.json, over real loopback HTTP, on a site that holds the FEAT-304
story: every described operation gets schema-conforming and schema-breaking requests, carrying
the credentials its security scheme names (a context JWT, the deploy token, a body signature, an
MCP token) so that fuzzing reaches past authentication. No answer may be a 5xx, and every 4xx
carries the JSON error body `{"error", "detail"}` (issue 9).

Bounded: EXAMPLES requests per operation and generation mode, no shrinking past a few seconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from connect_app.sandbox.stack import ADMIN, Stack
from connect_app.sandbox.story import ship_feature

EXAMPLES = 5
TIMEOUT = 30
ISSUE_KEYS = ["FEAT-304", "FEAT-300", "FEAT-305", "OPS-1"]
# The MCP endpoint answers malformed JSON-RPC in the protocol's own error shape once the token
# passed the gate (the gate's own refusals are the contract's JSON body).
JSONRPC_PATH = "/mcp"


@dataclass
class Site:
    stack: Stack
    connection_id: str
    webhook_secret: str
    deploy_token: str
    mcp_token: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with Stack(tmp_path_factory.mktemp("schemathesis")) as stack:
        stack.seed_jira()
        story = ship_feature(stack)
        token = stack.admin("POST", "/api/mcp/tokens", {"label": "fuzzing"}).json()["token"]
        connection = story.connection
        yield Site(stack, connection.id, connection.webhook_secret, connection.deploy_token, token)


def _credentials(site: Site, operation: Any, provider: str | None, body: bytes) -> dict[str, str]:
    """The headers that prove the sender for this operation, as a legitimate caller sends them."""
    schemes = {name for requirement in operation.definition.raw.get("security", []) for name in requirement}
    path = operation.path
    if "connectContextJwt" in schemes:
        return {"Authorization": f"JWT {site.stack.jira.context_token(ADMIN)}"}
    if "mcpToken" in schemes:
        return {"Authorization": f"Bearer {site.mcp_token}", "Accept": "application/json, text/event-stream"}
    if path.startswith("/flags/") and provider == "launchdarkly":
        return {"X-LD-Signature": hmac.new(site.webhook_secret.encode(), body, hashlib.sha256).hexdigest()}
    if path.startswith("/flags/") and provider == "unleash":
        return {"Authorization": site.webhook_secret}
    if "githubSignature" in schemes or "bitbucketSignature" in schemes:
        signature = "sha256=" + hmac.new(site.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hub-Signature-256": signature, "X-Hub-Signature": signature}
    if "gitlabToken" in schemes:
        return {"X-Gitlab-Token": site.webhook_secret}
    if "deployToken" in schemes:
        return {"Authorization": f"Bearer {site.deploy_token}"}
    return {}


def send(site: Site, case: Any) -> requests.Response:
    kwargs = case.as_transport_kwargs(base_url=site.stack.app_url)
    prepared = requests.Request(method=kwargs["method"], url=kwargs["url"], headers=kwargs.get("headers"),
                                params=kwargs.get("params"), data=kwargs.get("data"), json=kwargs.get("json"),
                                cookies=kwargs.get("cookies")).prepare()
    body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    provider = (case.path_parameters or {}).get("provider")
    prepared.headers.update(_credentials(site, case.operation, provider, body))
    with requests.Session() as session:
        return session.send(prepared, timeout=TIMEOUT, allow_redirects=False)


def assert_answer(response: requests.Response, path: str) -> None:
    request = response.request
    where = f"{request.method} {request.url} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if 400 <= response.status_code < 500:
        assert response.headers.get("Content-Type", "").startswith("application/json"), where
        body = response.json()
        if path == JSONRPC_PATH and "jsonrpc" in body:
            assert isinstance(body.get("error"), dict) and body["error"].get("message"), where
            return
        assert isinstance(body, dict) and set(body) >= {"error", "detail"}, where
        assert isinstance(body["error"], str) and body["error"] and isinstance(body["detail"], str), where


def _real_ids(site: Site, case: Any, data: st.DataObject) -> None:
    """Mostly the path names something that exists, so that requests get past the 404."""
    parameters = case.path_parameters or {}
    if "connection_id" in parameters and case.method != "DELETE" and data.draw(st.integers(0, 3)):
        parameters["connection_id"] = site.connection_id
    if "issue_key" in parameters and data.draw(st.integers(0, 3)):
        parameters["issue_key"] = data.draw(st.sampled_from(ISSUE_KEYS))


def operations(site: Site) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{site.stack.app_url}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) >= 30
    return found


def fuzz(site: Site, operation: Any, mode: GenerationMode) -> None:
    if operation.path == JSONRPC_PATH:
        # Earlier operations may have revoked the token (ids are small numbers) or switched MCP off.
        site.stack.admin("PUT", "/api/settings", {"mcp_enabled": True})
        site.mcp_token = site.stack.admin("POST", "/api/mcp/tokens", {"label": "fuzzing"}).json()["token"]

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate, Phase.shrink],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    def run(case: Any, data: st.DataObject) -> None:
        _real_ids(site, case, data)
        assert_answer(send(site, case), operation.path)

    run()


def test_no_operation_answers_5xx_or_a_refusal_without_the_json_error_body(site: Site) -> None:
    failures = []
    for operation in operations(site):
        raw = operation.definition.raw
        # An operation that takes nothing has no schema-breaking request to make.
        modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE) if raw.get("parameters") or raw.get(
            "requestBody") else (GenerationMode.POSITIVE,)
        for mode in modes:
            try:
                fuzz(site, operation, mode)
            except Exception as exc:  # every operation is fuzzed before the test fails
                failures.append(f"{operation.method.upper()} {operation.path} ({mode}): {exc}")
    assert not failures, "\n\n".join(failures)


def test_the_checks_catch_a_server_error_and_a_bare_refusal(site: Site) -> None:
    """assert_answer can fail: a 500 and a 4xx whose body is not the JSON error body are caught."""
    for status, body in ((500, {"error": "x", "detail": "y"}), (400, {"message": "no"})):
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["Content-Type"] = "application/json"
        response.request = requests.Request("GET", "http://127.0.0.1/api/report").prepare()
        with pytest.raises(AssertionError):
            assert_answer(response, "/api/report")
