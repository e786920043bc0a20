"""The GitLab REST API v4 endpoints the app's GitLab reader calls, answered from the simulator's
real git repository, with GitLab's answer shapes, `PRIVATE-TOKEN` auth and `Link` pagination."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Flask, Response, jsonify, request

from connect_app.sandbox.github.gitrepo import CommitInfo
from connect_app.sandbox.gitlab.payloads import api_time

if TYPE_CHECKING:
    from connect_app.sandbox.gitlab.simulator import GitLabSimulator

MAX_PER_PAGE = 100


def commit_object(sim: GitLabSimulator, info: CommitInfo) -> dict[str, Any]:
    return {"id": info.sha, "short_id": info.sha[:8], "title": info.subject, "message": info.message,
            "author_name": info.author.name, "author_email": info.author.email,
            "authored_date": api_time(info.author.date), "committer_name": info.committer.name,
            "committer_email": info.committer.email, "committed_date": api_time(info.committer.date),
            "created_at": api_time(info.committer.date), "parent_ids": list(info.parents),
            "web_url": sim.project.commit_url(info.sha)}


def _error(status: int, message: str) -> tuple[Response, int]:
    return jsonify({"message": message}), status


def _page(items: list[Any]) -> Response:
    """One page of a listing, with GitLab's `Link` and `X-Next-Page` headers."""
    per_page = min(MAX_PER_PAGE, max(1, request.args.get("per_page", 20, type=int) or 20))
    page = max(1, request.args.get("page", 1, type=int) or 1)
    chunk = items[(page - 1) * per_page: page * per_page]
    response = jsonify(chunk)
    response.headers["X-Page"], response.headers["X-Per-Page"] = str(page), str(per_page)
    response.headers["X-Total"] = str(len(items))
    if page * per_page < len(items):
        query = {**request.args.to_dict(), "page": page + 1, "per_page": per_page}
        response.headers["Link"] = f'<{request.base_url}?{urlencode(query)}>; rel="next"'
        response.headers["X-Next-Page"] = str(page + 1)
    return response


def build_api_app(sim: GitLabSimulator) -> Flask:
    app = Flask("gitlab-simulator")
    base = "/api/v4/projects/<path:project>"

    @app.before_request
    def _authenticate() -> tuple[Response, int] | None:
        sim.api_requests.append((request.method, request.full_path.rstrip("?")))
        if sim.token is not None and request.headers.get("PRIVATE-TOKEN") != sim.token:
            return _error(401, "401 Unauthorized")
        return None

    def _project_or_404(project: str) -> tuple[Response, int] | None:
        if project not in (sim.project.path, str(sim.project.id)):
            return _error(404, "404 Project Not Found")
        return None

    def _commit_or_404(sha: str) -> CommitInfo | None:
        full = sim.repo.resolve(sha)
        return sim.repo.commit_info(full, with_files=False) if full else None

    @app.get(base)
    def project_view(project: str) -> Any:
        return _project_or_404(project) or jsonify({
            "id": sim.project.id, "path_with_namespace": sim.project.path, "default_branch": sim.project.default_branch,
            "web_url": sim.project.web_url, "name": sim.project.path.rsplit("/", 1)[-1]})

    @app.get(f"{base}/repository/commits")
    def list_commits(project: str) -> Any:
        if (missing := _project_or_404(project)) is not None:
            return missing
        ref = sim.repo.resolve(request.args.get("ref_name") or sim.project.default_branch)
        shas = sim.repo.rev_list(None, ref) if ref else []
        infos = sim.repo.commit_infos(shas)
        since = request.args.get("since")
        if since:
            infos = [info for info in infos if api_time(info.committer.date) >= since.replace("Z", ".000Z")]
        return _page([commit_object(sim, info) for info in infos])

    @app.get(f"{base}/repository/commits/<sha>")
    def get_commit(project: str, sha: str) -> Any:
        info = None if _project_or_404(project) else _commit_or_404(sha)
        return jsonify(commit_object(sim, info)) if info else _error(404, "404 Commit Not Found")

    @app.get(f"{base}/repository/commits/<sha>/diff")
    def commit_diff(project: str, sha: str) -> Any:
        info = None if _project_or_404(project) else _commit_or_404(sha)
        if info is None:
            return _error(404, "404 Commit Not Found")
        changes = sim.repo.diff_files(info.parents[0] if info.parents else None, info.sha)
        return _page([{"old_path": c.previous_path or c.path, "new_path": c.path, "new_file": c.status == "added",
                       "renamed_file": c.status == "renamed", "deleted_file": c.status == "removed", "diff": ""}
                      for c in changes])

    @app.get(f"{base}/repository/compare")
    def compare(project: str) -> Any:
        start = None if _project_or_404(project) else sim.repo.resolve(request.args.get("from", ""))
        end = sim.repo.resolve(request.args.get("to", "")) if start else None
        if start is None or end is None:
            return _error(404, "404 Ref Not Found")
        # GitLab compares from the merge base unless `straight=true`: what `to` has that `from` lacks.
        infos = sim.repo.commit_infos(sim.repo.rev_list(start, end, reverse=True))
        return jsonify({"commit": commit_object(sim, infos[-1]) if infos else None,
                        "commits": [commit_object(sim, info) for info in infos], "diffs": [],
                        "compare_timeout": False, "compare_same_ref": start == end,
                        "web_url": f"{sim.project.web_url}/-/compare/{start}...{end}"})

    @app.get(f"{base}/merge_requests/<int:iid>")
    def merge_request(project: str, iid: int) -> Any:
        mr = None if _project_or_404(project) else sim.merge_requests.get(iid)
        return jsonify(mr.api_object(sim.project)) if mr else _error(404, "404 Not found")

    @app.get(f"{base}/merge_requests/<int:iid>/commits")
    def merge_request_commits(project: str, iid: int) -> Any:
        mr = None if _project_or_404(project) else sim.merge_requests.get(iid)
        if mr is None:
            return _error(404, "404 Not found")
        return _page([commit_object(sim, info) for info in sim.repo.commit_infos(reversed(mr.commits))])

    @app.get(f"{base}/repository/tags/<tag>")
    def get_tag(project: str, tag: str) -> Any:
        sha = None if _project_or_404(project) else sim.repo.resolve(f"refs/tags/{tag}")
        if sha is None:
            return _error(404, "404 Tag Not Found")
        info = sim.repo.commit_info(sha, with_files=False)
        return jsonify({"name": tag, "target": sha, "commit": commit_object(sim, info)})

    return app
