"""The Bitbucket Cloud REST API 2.0 endpoints the app's Bitbucket reader calls, answered from the
simulator's real git repository, with Bitbucket's answer shapes, bearer-token auth and `next`
pagination inside the answer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request

from connect_app.sandbox.bitbucket.payloads import commit_object
from connect_app.sandbox.github.gitrepo import CommitInfo

if TYPE_CHECKING:
    from connect_app.sandbox.bitbucket.simulator import BitbucketSimulator

MAX_PAGELEN = 100


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"type": "error", "error": {"message": message}}), status


def _page(values: list[Any], pagelen_max: int = MAX_PAGELEN) -> Response:
    pagelen = min(pagelen_max, max(1, request.args.get("pagelen", 10, type=int) or 10))
    page = max(1, request.args.get("page", 1, type=int) or 1)
    body: dict[str, Any] = {"pagelen": pagelen, "page": page, "size": len(values),
                            "values": values[(page - 1) * pagelen: page * pagelen]}
    if page * pagelen < len(values):
        body["next"] = f"{request.base_url}?{urlencode({**request.args.to_dict(), 'page': page + 1})}"
    return jsonify(body)


def build_api_app(sim: BitbucketSimulator) -> Flask:
    app = Flask("bitbucket-simulator")
    base = "/2.0/repositories/<workspace>/<slug>"

    @app.before_request
    def _authenticate() -> tuple[Response, int] | None:
        sim.api_requests.append((request.method, request.full_path.rstrip("?")))
        if sim.token is not None and request.headers.get("Authorization") != f"Bearer {sim.token}":
            return _error(401, "Access token expired or invalid.")
        return None

    def _mine(workspace: str, slug: str) -> bool:
        return f"{workspace}/{slug}" == sim.repository.full_name

    def _commits(infos: list[CommitInfo]) -> list[dict[str, Any]]:
        return [commit_object(sim.repository, info, {}) for info in infos]

    @app.get(base)
    def repository(workspace: str, slug: str) -> Any:
        if not _mine(workspace, slug):
            return _error(404, "Repository not found")
        return jsonify({"type": "repository", "full_name": sim.repository.full_name,
                        "mainbranch": {"type": "branch", "name": sim.default_branch}})

    @app.get(f"{base}/commits/<path:revision>")
    @app.get(f"{base}/commits", defaults={"revision": None})
    def commits(workspace: str, slug: str, revision: str | None) -> Any:
        if not _mine(workspace, slug):
            return _error(404, "Repository not found")
        include = revision or request.args.get("include")
        head = sim.repo.resolve(include) if include else None
        exclude = request.args.get("exclude")
        if head is None or (exclude and sim.repo.resolve(exclude) is None):
            return _error(404, "Commit not found")
        return _page(_commits(sim.repo.commit_infos(sim.repo.rev_list(exclude, head))))

    @app.get(f"{base}/commit/<revision>")
    def commit(workspace: str, slug: str, revision: str) -> Any:
        sha = sim.repo.resolve(revision) if _mine(workspace, slug) else None
        if sha is None:
            return _error(404, "Commit not found")
        return jsonify(_commits([sim.repo.commit_info(sha, with_files=False)])[0])

    @app.get(f"{base}/diffstat/<revision>")
    def diffstat(workspace: str, slug: str, revision: str) -> Any:
        sha = sim.repo.resolve(revision) if _mine(workspace, slug) else None
        if sha is None:
            return _error(404, "Commit not found")
        info = sim.repo.commit_info(sha, with_files=False)
        changes = sim.repo.diff_files(info.parents[0] if info.parents else None, sha)
        return _page([{"type": "diffstat", "status": c.status,
                       "old": None if c.status == "added" else {"path": c.previous_path or c.path},
                       "new": None if c.status == "removed" else {"path": c.path}} for c in changes], 500)

    @app.get(f"{base}/pullrequests/<int:number>")
    def pull_request(workspace: str, slug: str, number: int) -> Any:
        pr = sim.pull_requests.get(number) if _mine(workspace, slug) else None
        if pr is None:
            return _error(404, "Pull request not found")
        return jsonify({"type": "pullrequest", "id": pr.id, "title": pr.title, "description": pr.description,
                        "state": "MERGED" if pr.merge_commit else "OPEN",
                        "source": {"branch": {"name": pr.source_branch}},
                        "destination": {"branch": {"name": sim.default_branch}},
                        "merge_commit": {"hash": pr.merge_commit[:12]} if pr.merge_commit else None})

    @app.get(f"{base}/pullrequests/<int:number>/commits")
    def pull_request_commits(workspace: str, slug: str, number: int) -> Any:
        pr = sim.pull_requests.get(number) if _mine(workspace, slug) else None
        if pr is None:
            return _error(404, "Pull request not found")
        return _page(_commits(sim.repo.commit_infos(list(reversed(pr.commits)))))

    @app.get(f"{base}/refs/tags/<name>")
    def tag(workspace: str, slug: str, name: str) -> Any:
        sha = sim.repo.resolve(f"refs/tags/{name}") if _mine(workspace, slug) else None
        if sha is None:
            return _error(404, "Tag not found")
        target = _commits([sim.repo.commit_info(sha, with_files=False)])[0]
        return jsonify({"type": "tag", "name": name, "target": target})

    return app
