"""`/repos/{owner}/{repo}/deployments...`."""

from __future__ import annotations

from flask import Blueprint, Response, request

from connect_app.sandbox.github import payloads
from connect_app.sandbox.github.api.common import error, ident, json_response, paginate, repo_or_404, sim
from connect_app.sandbox.github.api.shapes import deployment_resource


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/repos/<owner>/<name>/deployments", view_func=list_deployments, methods=["GET"])
    bp.add_url_rule("/repos/<owner>/<name>/deployments/<int:dep_id>", view_func=get_deployment, methods=["GET"])
    bp.add_url_rule("/repos/<owner>/<name>/deployments/<int:dep_id>/statuses", view_func=deployment_statuses,
                    methods=["GET"])


def list_deployments(owner: str, name: str) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    deps = sorted(sim().deployments.values(), key=lambda d: d.id, reverse=True)
    for key in ("sha", "ref", "environment"):
        wanted = request.args.get(key)
        if wanted:
            deps = [d for d in deps if getattr(d, key) == wanted]
    chunk, link = paginate(deps)
    repo = ident()
    return json_response([deployment_resource(d, repo) for d in chunk], link)


def get_deployment(owner: str, name: str, dep_id: int) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    dep = sim().deployments.get(dep_id)
    if dep is None:
        return error(404, "Not Found")
    return json_response(deployment_resource(dep, ident()))


def deployment_statuses(owner: str, name: str, dep_id: int) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    dep = sim().deployments.get(dep_id)
    if dep is None:
        return error(404, "Not Found")
    repo = ident()
    statuses = [payloads.deployment_status_object(repo, dep.facts(), s) for s in reversed(dep.statuses)]
    chunk, link = paginate(statuses)
    return json_response(list(chunk), link)
