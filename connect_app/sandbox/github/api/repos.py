"""`/repos/{owner}/{repo}` and its branches."""

from __future__ import annotations

from flask import Blueprint, Response

from connect_app.sandbox.github import payloads
from connect_app.sandbox.github.api.common import error, ident, json_response, repo_or_404, sim
from connect_app.sandbox.github.api.shapes import commit_resource


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/repos/<owner>/<name>", view_func=repository, methods=["GET"])
    bp.add_url_rule("/repos/<owner>/<name>/branches/<path:branch>", view_func=branch, methods=["GET"])


def repository(owner: str, name: str) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    body = payloads.repository_object(ident())
    body["permissions"] = {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True}
    return json_response(body)


def branch(owner: str, name: str, branch: str) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    simulator = sim()
    if branch not in simulator.repo.branches():
        return error(404, "Branch not found")
    info = simulator.commit_info(branch, with_files=False)
    repo = ident()
    return json_response({"name": branch, "commit": commit_resource(info, repo, with_files=False), "protected": False,
                          "_links": {"self": f"{repo.api_repo_url}/branches/{branch}",
                                     "html": f"{repo.html_repo_url}/tree/{branch}"}})
