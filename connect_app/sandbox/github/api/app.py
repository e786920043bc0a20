"""The REST endpoints of the GitHub simulator: what PyGithub 2.x calls to read a repository's
history, compare two commits and read pull requests and deployments, with GitHub's pagination
(`Link` headers), authentication answers and rate-limit headers. Served at the API root and
again under `/api/v3`, as GitHub Enterprise Server does."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, g, request

from connect_app.sandbox.github.api import apps, commits, deployments, pulls, rate_limit, repos
from connect_app.sandbox.github.api.common import SIMULATOR_CONFIG_KEY, error, route_path, sim

if TYPE_CHECKING:
    from connect_app.sandbox.github.simulator import GitHubSimulator

RESOURCES = (rate_limit, repos, apps, commits, pulls, deployments)


def build_api_app(simulator: GitHubSimulator) -> Flask:
    app = Flask("github_simulator")
    app.config[SIMULATOR_CONFIG_KEY] = simulator
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.strict_slashes = False
    for name, prefix in (("github", ""), ("github_enterprise", "/api/v3")):
        bp = Blueprint(name, __name__, url_prefix=prefix or None)
        for resource in RESOURCES:
            resource.register(bp)
        app.register_blueprint(bp)
    app.before_request(_before)
    app.after_request(_after)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_found)
    return app


def _not_found(_: Exception) -> Response:
    return error(404, "Not Found")


def _authenticate() -> Response | None:
    simulator = sim()
    if (request.endpoint or "").rsplit(".", 1)[-1] in apps.APP_JWT_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("token", "bearer") and simulator.installation_token_valid(value.strip()):
        with simulator._lock:
            simulator.installation_requests.append((request.method, request.full_path.rstrip("?")))
        return None
    wanted = simulator.required_token
    if wanted is None:
        return None
    if not header:
        return error(401, "Requires authentication")
    if scheme.lower() not in ("token", "bearer") or value.strip() != wanted:
        return error(401, "Bad credentials")
    return None


def _before() -> Response | None:
    simulator = sim()
    g.request_id = uuid.uuid4().hex[:20].upper()
    with simulator._lock:
        simulator.api_requests.append((request.method, request.full_path.rstrip("?")))
    denied = _authenticate()
    if denied is not None:
        return denied
    if route_path() == "/rate_limit":
        return None  # GitHub does not count this call against the limit
    if not simulator.consume_rate_limit():
        return error(
            403,
            "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
            f"please include the request ID {g.request_id}.",
            documentation_url="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        )
    return None


def _after(response: Response) -> Response:
    limit = sim().rate_limit
    response.headers["X-RateLimit-Limit"] = str(limit.limit)
    response.headers["X-RateLimit-Remaining"] = str(limit.remaining)
    response.headers["X-RateLimit-Reset"] = str(limit.reset)
    response.headers["X-RateLimit-Used"] = str(limit.limit - limit.remaining)
    response.headers["X-RateLimit-Resource"] = "core"
    response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
    response.headers["X-GitHub-Api-Version-Selected"] = "2022-11-28"
    response.headers["X-GitHub-Request-Id"] = getattr(g, "request_id", "0")
    if response.mimetype == "application/json":
        response.headers["Content-Type"] = "application/json; charset=utf-8"
    return response
