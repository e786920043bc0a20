"""`/repos/{owner}/{repo}/pulls...`."""

from __future__ import annotations

from flask import Blueprint, Response, request

from connect_app.sandbox.github import payloads
from connect_app.sandbox.github.api.common import error, ident, json_response, paginate, repo_or_404, sim
from connect_app.sandbox.github.api.shapes import commit_resource

PULL_COMMITS_LIMIT = 250


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/repos/<owner>/<name>/pulls", view_func=list_pulls, methods=["GET"])
    bp.add_url_rule("/repos/<owner>/<name>/pulls/<int:number>", view_func=get_pull, methods=["GET"])
    bp.add_url_rule("/repos/<owner>/<name>/pulls/<int:number>/commits", view_func=pull_commits, methods=["GET"])


def list_pulls(owner: str, name: str) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    simulator = sim()
    state = request.args.get("state", "open")
    base = request.args.get("base")
    numbers = sorted(simulator.pulls, reverse=request.args.get("direction", "desc") == "desc")
    picked = [
        n for n in numbers
        if (state == "all" or (state == "open") == (simulator.pulls[n].closed_at is None))
        and (base is None or simulator.pulls[n].base_ref == base)
    ]
    chunk, link = paginate(picked)
    repo = ident()
    return json_response([payloads.pull_request_object(repo, simulator.pull_facts(n)) for n in chunk], link)


def get_pull(owner: str, name: str, number: int) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    simulator = sim()
    if number not in simulator.pulls:
        return error(404, "Not Found")
    return json_response(payloads.pull_request_object(ident(), simulator.pull_facts(number)))


def pull_commits(owner: str, name: str, number: int) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    simulator = sim()
    if number not in simulator.pulls:
        return error(404, "Not Found")
    # GitHub lists at most 250 commits of a pull request.
    infos = simulator.repo.commit_infos(simulator.pull_commits(number)[:PULL_COMMITS_LIMIT])
    chunk, link = paginate(infos)
    repo = ident()
    return json_response([commit_resource(i, repo, with_files=False) for i in chunk], link)
