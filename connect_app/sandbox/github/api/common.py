"""What the GitHub API resources share: the simulator serving the request, GitHub's error and
JSON answers, the API root a client used, and GitHub's `Link` header pagination."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Response, current_app, jsonify, request

from connect_app.sandbox.github import payloads

if TYPE_CHECKING:
    from connect_app.sandbox.github.simulator import GitHubSimulator

SIMULATOR_CONFIG_KEY = "SIMULATOR"
DOCS = "https://docs.github.com/rest"


def sim() -> GitHubSimulator:
    return current_app.config[SIMULATOR_CONFIG_KEY]


def error(status: int, message: str, **extra: Any) -> Response:
    body = {"message": message, "documentation_url": DOCS, "status": str(status), **extra}
    response = jsonify(body)
    response.status_code = status
    return response


def json_response(body: Any, link: str | None = None, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    if link:
        response.headers["Link"] = link
    return response


def api_root() -> str:
    prefix = "/api/v3" if request.path.startswith("/api/v3/") or request.path == "/api/v3" else ""
    return request.host_url.rstrip("/") + prefix


def route_path() -> str:
    path = request.path
    return path[len("/api/v3") :] if path.startswith("/api/v3/") else path


def ident() -> payloads.RepoIdentity:
    simulator = sim()
    return payloads.RepoIdentity(
        full_name=simulator.full_name,
        default_branch=simulator.default_branch,
        api_url=api_root(),
        html_url=simulator.html_url,
    )


def repo_or_404(owner: str, name: str) -> Response | None:
    if f"{owner}/{name}".lower() != sim().full_name.lower():
        return error(404, "Not Found")
    return None


def int_arg(name: str, default: int, *, low: int = 1, high: int | None = None) -> int:
    raw = request.args.get(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        value = default
    value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


def parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def paginate(
    items: Sequence[Any], *, default_per_page: int = 30, max_per_page: int = 100
) -> tuple[Sequence[Any], str | None]:
    """One page of `items` and GitHub's `Link` header for the others."""
    per_page = int_arg("per_page", default_per_page, high=max_per_page)
    page = int_arg("page", 1)
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def url_for(number: int) -> str:
        args = request.args.to_dict(flat=True)
        args["page"] = str(number)
        args.setdefault("per_page", str(per_page))
        return f"{api_root()}{route_path()}?{urlencode(args)}"

    links = []
    if page > 1:
        links.append(f'<{url_for(min(page - 1, last))}>; rel="prev"')
    if page < last:
        links.append(f'<{url_for(page + 1)}>; rel="next"')
        links.append(f'<{url_for(last)}>; rel="last"')
    if page > 1:
        links.append(f'<{url_for(1)}>; rel="first"')
    return chunk, ", ".join(links) or None
