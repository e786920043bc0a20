"""GET /openapi.json (INTERFACES 2): a valid OpenAPI 3.1 document that describes every route outside
Connect, so a route added without its description fails here."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from flask import Flask
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from connect_app import PACKAGE, create_app
from connect_app.config import load_settings

METHODS = {"get", "put", "post", "delete", "patch"}
# Endpoints of INTERFACES section 2 outside Connect, including those served on other branches
# (GitLab, Bitbucket, configuration changes) and /mcp, which is answered in front of Flask.
CONTRACT = {
    ("post", "/github/webhook/{connection_id}"), ("post", "/gitlab/webhook/{connection_id}"),
    ("post", "/bitbucket/webhook/{connection_id}"), ("post", "/api/deployments/{connection_id}"),
    ("post", "/api/config-changes/{connection_id}"), ("post", "/flags/{provider}/{connection_id}"),
    ("get", "/api/connections"), ("post", "/api/connections"), ("get", "/api/connections/{connection_id}"),
    ("delete", "/api/connections/{connection_id}"), ("post", "/api/connections/{connection_id}/backfill"),
    ("get", "/api/settings"), ("put", "/api/settings"), ("get", "/api/issues/{issue_key}/reality"),
    ("get", "/api/report"), ("post", "/mcp"), ("get", "/api/mcp/tokens"), ("post", "/api/mcp/tokens"),
    ("delete", "/api/mcp/tokens/{token_id}"), ("get", "/openapi.json"), ("get", "/healthz"), ("get", "/metrics"),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    workdir = tmp_path_factory.mktemp("openapi")
    settings = load_settings({"DATABASE_URL": f"sqlite:///{workdir / 'app.db'}", "INSTANCE_PATH": str(workdir),
                              "APP_BASE_URL": "https://reality.example.com",
                              "APP_SECRET_KEY": "an-openapi-test-secret-key-0123456789"})
    return create_app(settings)


@pytest.fixture(scope="module")
def document(app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def described(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item if method in METHODS}


def connect_paths() -> set[str]:
    """Every URL Jira calls because the descriptor names it: module URLs, lifecycle, webhooks."""
    descriptor = json.loads((PACKAGE / "atlassian-connect.json").read_text())
    found: set[str] = set(descriptor["lifecycle"].values()) | {"/atlassian-connect.json"}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "url" and isinstance(value, str) and value.startswith("/"):
                    found.add(value.split("?", 1)[0])
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(descriptor["modules"])
    return found


def flask_routes(app) -> set[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """The app's routes outside Connect, in OpenAPI's path form."""
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule in connect_paths():
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        routes |= {(method.lower(), path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return routes


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert document["servers"] == [{"url": "https://reality.example.com"}]


def test_an_invalid_document_is_caught_by_the_validator(document: dict[str, Any]) -> None:
    """The validation above can fail: a response without its description is refused."""
    broken = json.loads(json.dumps(document))
    del broken["paths"]["/healthz"]["get"]["responses"]["200"]["description"]
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_every_route_outside_connect_is_described(app, document: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    undescribed = flask_routes(app) - described(document)
    assert not undescribed, f"routes without an OpenAPI description: {sorted(undescribed)}"
    # The check sees real routes: the admin API is among them, and Connect's iframe pages are not.
    assert ("get", "/api/connections") in flask_routes(app)
    assert not {path for _, path in flask_routes(app)} & {"/panel/issue", "/lifecycle/installed", "/admin"}


def test_a_new_route_without_a_description_is_caught(document: dict[str, Any]) -> None:
    """The route check can fail: an app with one more route than the document describes."""
    other = Flask(__name__)
    other.add_url_rule("/api/undocumented/<int:thing_id>", "undocumented", lambda thing_id: "", methods=["POST"])
    other.add_url_rule("/healthz", "healthz", lambda: "")
    assert flask_routes(other) - described(document) == {("post", "/api/undocumented/{thing_id}")}


def test_every_endpoint_of_the_contract_is_described(document: dict[str, Any]) -> None:
    assert CONTRACT <= described(document), sorted(CONTRACT - described(document))


def test_every_refusal_answers_the_json_error_body(document: dict[str, Any]) -> None:
    responses = document["components"]["responses"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            codes = operation["responses"]
            assert "503" in codes and "431" in codes, (method, path)
            for code, response in codes.items():
                if path == "/mcp" and code in ("400", "406"):
                    # MCP's own refusals, once the token passed: the protocol's JSON-RPC error object.
                    assert response["content"]["application/json"]["schema"] == {
                        "$ref": "#/components/schemas/JsonRpcError"}
                    continue
                if code.startswith("4") or code == "503":
                    resolved = responses[response["$ref"].rsplit("/", 1)[1]]
                    schema = resolved["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "detail"]


def test_security_schemes_name_each_senders_proof(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["githubSignature"]["name"] == "X-Hub-Signature-256"
    assert schemes["gitlabToken"]["name"] == "X-Gitlab-Token"
    assert schemes["bitbucketSignature"]["name"] == "X-Hub-Signature"
    assert schemes["deployToken"] == {"type": "http", "scheme": "bearer",
                                      "description": "the connection's deploy token"}
    assert "JWT" in schemes["connectContextJwt"]["description"]
    paths = document["paths"]
    assert paths["/api/deployments/{connection_id}"]["post"]["security"] == [{"deployToken": []}]
    assert paths["/api/settings"]["put"]["security"] == [{"connectContextJwt": []}]
    assert paths["/mcp"]["post"]["security"] == [{"mcpToken": []}]
    assert paths["/healthz"]["get"]["security"] == []
    body = paths["/api/config-changes/{connection_id}"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/ConfigChange"}
    config = document["components"]["schemas"]["ConfigChange"]
    assert set(config["properties"]) == {"environment", "change", "issue_keys", "description", "changed_at", "url"}


def test_healthz_503_carries_the_error_body_it_is_described_with(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings({"DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/unreachable",
                              "INSTANCE_PATH": str(tmp_path / "instance"),
                              "APP_SECRET_KEY": "an-openapi-test-secret-key-0123456789"})
    answer = create_app(settings, migrate=False).test_client().get("/healthz")
    assert answer.status_code == 503
    assert answer.json["database"] is False and answer.json["error"] == "unavailable" and answer.json["detail"]
