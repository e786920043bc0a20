"""What a GitHub App calls as itself, with its JWT: the repository's installation and new
installation tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, request

from connect_app.sandbox.github import payloads
from connect_app.sandbox.github.api.common import error, ident, json_response, repo_or_404, sim
from connect_app.sandbox.github.records import AppAuthError, GitHubAppRecord

APP_PERMISSIONS = {"contents": "read", "deployments": "read", "metadata": "read", "pull_requests": "read"}


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/repos/<owner>/<name>/installation", view_func=repo_installation, methods=["GET"])
    bp.add_url_rule("/app/installations/<int:installation_id>/access_tokens", view_func=create_installation_token,
                    methods=["POST"])


# Endpoints a GitHub App calls as itself, with its JWT; they check it themselves.
APP_JWT_ENDPOINTS = frozenset({"repo_installation", "create_installation_token"})


def repo_installation(owner: str, name: str) -> Response:
    app = _calling_app()
    if isinstance(app, Response):
        return app
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    return json_response(_installation_resource(app))


def create_installation_token(installation_id: int) -> Response:
    app = _calling_app()
    if isinstance(app, Response):
        return app
    if installation_id != app.installation_id:
        return error(404, "Not Found")
    issued = sim().issue_installation_token(installation_id)
    return json_response({
        "token": issued.token,
        "expires_at": payloads.github_time(datetime.fromtimestamp(issued.expires_at, UTC)),
        "permissions": dict(APP_PERMISSIONS),
        "repository_selection": "selected",
    }, status=201)


def _calling_app() -> GitHubAppRecord | Response:
    """The app whose JWT signs this request, or GitHub's 401."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return error(401, "A JSON web token could not be decoded")
    try:
        return sim().verify_app_jwt(value.strip())
    except AppAuthError as exc:
        return error(401, str(exc))


def _installation_resource(app: GitHubAppRecord) -> dict[str, Any]:
    repo = ident()
    created = payloads.github_time(datetime.fromtimestamp(app.created_at, UTC))
    return {
        "id": app.installation_id,
        "account": {"login": repo.owner, "id": 6811672, "node_id": "O_kgDOAGfsGA", "type": "Organization",
                    "url": f"{repo.api_url}/users/{repo.owner}", "html_url": f"{repo.html_url}/{repo.owner}",
                    "site_admin": False},
        "repository_selection": "selected",
        "access_tokens_url": f"{repo.api_url}/app/installations/{app.installation_id}/access_tokens",
        "repositories_url": f"{repo.api_url}/installation/repositories",
        "html_url": f"{repo.html_url}/organizations/{repo.owner}/settings/installations/{app.installation_id}",
        "app_id": int(app.app_id) if app.app_id.isdigit() else app.app_id,
        "app_slug": "system-reality",
        "target_id": 6811672,
        "target_type": "Organization",
        "permissions": dict(APP_PERMISSIONS),
        "events": ["deployment", "deployment_status", "pull_request", "push", "release"],
        "created_at": created,
        "updated_at": created,
        "single_file_name": None,
        "has_multiple_single_files": False,
        "single_file_paths": [],
        "suspended_by": None,
        "suspended_at": None,
    }
