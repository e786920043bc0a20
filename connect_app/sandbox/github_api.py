"""The REST endpoints of the GitHub simulator: what PyGithub 2.x calls to read a repository's
history, compare two commits and read pull requests and deployments, with GitHub's pagination
(`Link` headers), authentication answers and rate-limit headers."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request

from connect_app.sandbox import payloads
from connect_app.sandbox.gitrepo import CommitInfo, FileChange

if TYPE_CHECKING:
    from connect_app.sandbox.github import GitHubAppRecord, GitHubSimulator

DOCS = "https://docs.github.com/rest"
COMPARE_MAX_PER_PAGE = 250
COMPARE_UNPAGED_LIMIT = 250
COMPARE_MAX_FILES = 300
PULL_COMMITS_LIMIT = 250
APP_PERMISSIONS = {"contents": "read", "deployments": "read", "metadata": "read", "pull_requests": "read"}


class AppAuthError(Exception):
    """An app JWT GitHub would refuse; the message is GitHub's."""


def _sim() -> GitHubSimulator:
    return current_app.config["SIMULATOR"]


def _error(status: int, message: str, **extra: Any) -> Response:
    body = {"message": message, "documentation_url": DOCS, "status": str(status), **extra}
    response = jsonify(body)
    response.status_code = status
    return response


def _api_root() -> str:
    prefix = "/api/v3" if request.path.startswith("/api/v3/") or request.path == "/api/v3" else ""
    return request.host_url.rstrip("/") + prefix


def _ident() -> payloads.RepoIdentity:
    sim = _sim()
    return payloads.RepoIdentity(
        full_name=sim.full_name, default_branch=sim.default_branch, api_url=_api_root(), html_url=sim.html_url
    )


def _int_arg(name: str, default: int, *, low: int = 1, high: int | None = None) -> int:
    raw = request.args.get(name)
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        value = default
    value = max(value, low)
    if high is not None:
        value = min(value, high)
    return value


def _paginate(items: Sequence[Any], *, default_per_page: int = 30, max_per_page: int = 100
              ) -> tuple[Sequence[Any], str | None]:
    """One page of `items` and GitHub's `Link` header for the others."""
    per_page = _int_arg("per_page", default_per_page, high=max_per_page)
    page = _int_arg("page", 1)
    last = max(1, -(-len(items) // per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def url_for(number: int) -> str:
        args = request.args.to_dict(flat=True)
        args["page"] = str(number)
        args.setdefault("per_page", str(per_page))
        return f"{_api_root()}{_route_path()}?{urlencode(args)}"

    links = []
    if page > 1:
        links.append(f'<{url_for(min(page - 1, last))}>; rel="prev"')
    if page < last:
        links.append(f'<{url_for(page + 1)}>; rel="next"')
        links.append(f'<{url_for(last)}>; rel="last"')
    if page > 1:
        links.append(f'<{url_for(1)}>; rel="first"')
    return chunk, ", ".join(links) or None


def _route_path() -> str:
    path = request.path
    return path[len("/api/v3") :] if path.startswith("/api/v3/") else path


def _json(body: Any, link: str | None = None, status: int = 200) -> Response:
    response = jsonify(body)
    response.status_code = status
    if link:
        response.headers["Link"] = link
    return response


# --- resource shapes ------------------------------------------------------------------------


def _person(person: Any) -> dict[str, Any]:
    return {"name": person.name, "email": person.email, "date": payloads.github_time(person.date)}


def _file(change: FileChange, ident: payloads.RepoIdentity, sha: str) -> dict[str, Any]:
    quoted = change.path
    out: dict[str, Any] = {
        "sha": change.blob_sha,
        "filename": change.path,
        "status": change.status,
        "additions": change.additions,
        "deletions": change.deletions,
        "changes": change.changes,
        "blob_url": f"{ident.html_repo_url}/blob/{sha}/{quoted}",
        "raw_url": f"{ident.html_repo_url}/raw/{sha}/{quoted}",
        "contents_url": f"{ident.api_repo_url}/contents/{quoted}?ref={sha}",
    }
    if change.previous_path:
        out["previous_filename"] = change.previous_path
    return out


def commit_resource(info: CommitInfo, ident: payloads.RepoIdentity, *, with_files: bool) -> dict[str, Any]:
    """A commit as `GET /repos/{o}/{r}/commits/{sha}` returns it (files and stats only when
    `with_files`, as the list endpoints leave them out). `author`/`committer` are null: the
    sandbox's emails belong to no GitHub account, which GitHub answers with null."""
    api = ident.api_repo_url
    body: dict[str, Any] = {
        "sha": info.sha,
        "node_id": "C_" + info.sha[:20],
        "commit": {
            "author": _person(info.author),
            "committer": _person(info.committer),
            "message": info.message.rstrip("\n"),
            "tree": {"sha": info.tree, "url": f"{api}/git/trees/{info.tree}"},
            "url": f"{api}/git/commits/{info.sha}",
            "comment_count": 0,
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None,
                             "verified_at": None},
        },
        "url": f"{api}/commits/{info.sha}",
        "html_url": f"{ident.html_repo_url}/commit/{info.sha}",
        "comments_url": f"{api}/commits/{info.sha}/comments",
        "author": None,
        "committer": None,
        "parents": [
            {"sha": parent, "url": f"{api}/commits/{parent}", "html_url": f"{ident.html_repo_url}/commit/{parent}"}
            for parent in info.parents
        ],
    }
    if with_files:
        additions = sum(f.additions for f in info.files)
        deletions = sum(f.deletions for f in info.files)
        body["stats"] = {"total": additions + deletions, "additions": additions, "deletions": deletions}
        body["files"] = [_file(f, ident, info.sha) for f in info.files]
    return body


def _deployment_resource(dep: Any, ident: payloads.RepoIdentity) -> dict[str, Any]:
    return payloads.deployment_object(ident, dep.facts(), payloads.DEPLOYMENT_TEMPLATE)


# --- request hooks --------------------------------------------------------------------------


# Endpoints a GitHub App calls as itself, with its JWT; they check it themselves.
APP_JWT_ENDPOINTS = frozenset({"repo_installation", "create_installation_token"})


def _authenticate() -> Response | None:
    sim = _sim()
    if (request.endpoint or "").rsplit(".", 1)[-1] in APP_JWT_ENDPOINTS:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("token", "bearer") and sim.installation_token_valid(value.strip()):
        with sim._lock:
            sim.installation_requests.append((request.method, request.full_path.rstrip("?")))
        return None
    wanted = sim.required_token
    if wanted is None:
        return None
    if not header:
        return _error(401, "Requires authentication")
    if scheme.lower() not in ("token", "bearer") or value.strip() != wanted:
        return _error(401, "Bad credentials")
    return None


def _calling_app() -> GitHubAppRecord | Response:
    """The app whose JWT signs this request, or GitHub's 401."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return _error(401, "A JSON web token could not be decoded")
    try:
        return _sim().verify_app_jwt(value.strip())
    except AppAuthError as exc:
        return _error(401, str(exc))


def _installation_resource(app: GitHubAppRecord) -> dict[str, Any]:
    ident = _ident()
    created = payloads.github_time(datetime.fromtimestamp(app.created_at, UTC))
    return {
        "id": app.installation_id,
        "account": {"login": ident.owner, "id": 6811672, "node_id": "O_kgDOAGfsGA", "type": "Organization",
                    "url": f"{ident.api_url}/users/{ident.owner}", "html_url": f"{ident.html_url}/{ident.owner}",
                    "site_admin": False},
        "repository_selection": "selected",
        "access_tokens_url": f"{ident.api_url}/app/installations/{app.installation_id}/access_tokens",
        "repositories_url": f"{ident.api_url}/installation/repositories",
        "html_url": f"{ident.html_url}/organizations/{ident.owner}/settings/installations/{app.installation_id}",
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


def _before() -> Response | None:
    sim = _sim()
    g.request_id = uuid.uuid4().hex[:20].upper()
    with sim._lock:
        sim.api_requests.append((request.method, request.full_path.rstrip("?")))
    denied = _authenticate()
    if denied is not None:
        return denied
    if _route_path() == "/rate_limit":
        return None  # GitHub does not count this call against the limit
    if not sim.consume_rate_limit():
        return _error(
            403,
            "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, "
            f"please include the request ID {g.request_id}.",
            documentation_url="https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
        )
    return None


def _after(response: Response) -> Response:
    limit = _sim().rate_limit
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


# --- endpoints ------------------------------------------------------------------------------


def _repo_or_404(owner: str, name: str) -> Response | None:
    if f"{owner}/{name}".lower() != _sim().full_name.lower():
        return _error(404, "Not Found")
    return None


def _parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _register(bp: Blueprint) -> None:
    @bp.get("/rate_limit")
    def rate_limit() -> Response:
        limit = _sim().rate_limit
        core = {"limit": limit.limit, "remaining": limit.remaining, "reset": limit.reset,
                "used": limit.limit - limit.remaining, "resource": "core"}
        other = {"limit": 30, "remaining": 30, "reset": limit.reset, "used": 0, "resource": "search"}
        graphql = {"limit": 5000, "remaining": 5000, "reset": limit.reset, "used": 0, "resource": "graphql"}
        return _json({"resources": {"core": core, "search": other, "graphql": graphql}, "rate": core})

    @bp.get("/repos/<owner>/<name>")
    def repository(owner: str, name: str) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        body = payloads.repository_object(_ident())
        body["permissions"] = {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True}
        return _json(body)

    @bp.get("/repos/<owner>/<name>/installation")
    def repo_installation(owner: str, name: str) -> Response:
        app = _calling_app()
        if isinstance(app, Response):
            return app
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        return _json(_installation_resource(app))

    @bp.post("/app/installations/<int:installation_id>/access_tokens")
    def create_installation_token(installation_id: int) -> Response:
        app = _calling_app()
        if isinstance(app, Response):
            return app
        if installation_id != app.installation_id:
            return _error(404, "Not Found")
        issued = _sim().issue_installation_token(installation_id)
        return _json({
            "token": issued.token,
            "expires_at": payloads.github_time(datetime.fromtimestamp(issued.expires_at, UTC)),
            "permissions": dict(APP_PERMISSIONS),
            "repository_selection": "selected",
        }, status=201)

    @bp.get("/repos/<owner>/<name>/branches/<path:branch>")
    def branch(owner: str, name: str, branch: str) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        sim = _sim()
        if branch not in sim.repo.branches():
            return _error(404, "Branch not found")
        info = sim.commit_info(branch, with_files=False)
        ident = _ident()
        return _json({"name": branch, "commit": commit_resource(info, ident, with_files=False), "protected": False,
                      "_links": {"self": f"{ident.api_repo_url}/branches/{branch}",
                                 "html": f"{ident.html_repo_url}/tree/{branch}"}})

    @bp.get("/repos/<owner>/<name>/commits")
    def list_commits(owner: str, name: str) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        sim = _sim()
        ref = request.args.get("sha") or sim.default_branch
        head = sim.repo.resolve(ref)
        if head is None:
            if sim.repo.resolve(sim.default_branch) is None:
                return _error(409, "Git Repository is empty.")
            return _error(404, f"No commit found for SHA: {ref}")
        infos = sim.repo.commit_infos(sim.repo.rev_list(None, head))
        since, until = _parse_time(request.args.get("since")), _parse_time(request.args.get("until"))
        if since is not None:
            infos = [i for i in infos if i.committer.date >= since]
        if until is not None:
            infos = [i for i in infos if i.committer.date <= until]
        chunk, link = _paginate(infos)
        ident = _ident()
        return _json([commit_resource(i, ident, with_files=False) for i in chunk], link)

    @bp.get("/repos/<owner>/<name>/commits/<path:ref>")
    def get_commit(owner: str, name: str, ref: str) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        sim = _sim()
        sha = sim.repo.resolve(ref)
        if sha is None:
            return _error(422, f"No commit found for SHA: {ref}")
        return _json(commit_resource(sim.commit_info(sha), _ident(), with_files=True))

    @bp.get("/repos/<owner>/<name>/commits/<sha>/pulls")
    def commit_pulls(owner: str, name: str, sha: str) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        sim = _sim()
        full = sim.repo.resolve(sha)
        if full is None:
            return _error(422, f"No commit found for SHA: {sha}")
        numbers = [n for n in sorted(sim.pulls) if full == sim.pulls[n].merge_commit_sha
                   or full in sim.pull_commits(n)]
        ident = _ident()
        chunk, link = _paginate(numbers)
        return _json([payloads.pull_request_object(ident, sim.pull_facts(n)) for n in chunk], link)

    @bp.get("/repos/<owner>/<name>/compare/<path:basehead>")
    def compare(owner: str, name: str, basehead: str) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        return _compare(basehead)

    @bp.get("/repos/<owner>/<name>/pulls")
    def list_pulls(owner: str, name: str) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        sim = _sim()
        state = request.args.get("state", "open")
        base = request.args.get("base")
        numbers = sorted(sim.pulls, reverse=request.args.get("direction", "desc") == "desc")
        picked = [
            n for n in numbers
            if (state == "all" or (state == "open") == (sim.pulls[n].closed_at is None))
            and (base is None or sim.pulls[n].base_ref == base)
        ]
        chunk, link = _paginate(picked)
        ident = _ident()
        return _json([payloads.pull_request_object(ident, sim.pull_facts(n)) for n in chunk], link)

    @bp.get("/repos/<owner>/<name>/pulls/<int:number>")
    def get_pull(owner: str, name: str, number: int) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        sim = _sim()
        if number not in sim.pulls:
            return _error(404, "Not Found")
        return _json(payloads.pull_request_object(_ident(), sim.pull_facts(number)))

    @bp.get("/repos/<owner>/<name>/pulls/<int:number>/commits")
    def pull_commits(owner: str, name: str, number: int) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        sim = _sim()
        if number not in sim.pulls:
            return _error(404, "Not Found")
        # GitHub lists at most 250 commits of a pull request.
        infos = sim.repo.commit_infos(sim.pull_commits(number)[:PULL_COMMITS_LIMIT])
        chunk, link = _paginate(infos)
        ident = _ident()
        return _json([commit_resource(i, ident, with_files=False) for i in chunk], link)

    @bp.get("/repos/<owner>/<name>/deployments")
    def list_deployments(owner: str, name: str) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        sim = _sim()
        deps = sorted(sim.deployments.values(), key=lambda d: d.id, reverse=True)
        for key in ("sha", "ref", "environment"):
            wanted = request.args.get(key)
            if wanted:
                deps = [d for d in deps if getattr(d, key) == wanted]
        chunk, link = _paginate(deps)
        ident = _ident()
        return _json([_deployment_resource(d, ident) for d in chunk], link)

    @bp.get("/repos/<owner>/<name>/deployments/<int:dep_id>")
    def get_deployment(owner: str, name: str, dep_id: int) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        dep = _sim().deployments.get(dep_id)
        if dep is None:
            return _error(404, "Not Found")
        return _json(_deployment_resource(dep, _ident()))

    @bp.get("/repos/<owner>/<name>/deployments/<int:dep_id>/statuses")
    def deployment_statuses(owner: str, name: str, dep_id: int) -> Response:
        if (missing := _repo_or_404(owner, name)) is not None:
            return missing
        dep = _sim().deployments.get(dep_id)
        if dep is None:
            return _error(404, "Not Found")
        ident = _ident()
        statuses = [payloads.deployment_status_object(ident, dep.facts(), s) for s in reversed(dep.statuses)]
        chunk, link = _paginate(statuses)
        return _json(list(chunk), link)


def _compare(basehead: str) -> Response:
    sim = _sim()
    base_ref, sep, head_ref = basehead.partition("...")
    if not sep:
        base_ref, sep, head_ref = basehead.partition("..")
    if not sep or not base_ref or not head_ref:
        return _error(404, "Not Found")
    base, head = sim.repo.resolve(base_ref), sim.repo.resolve(head_ref)
    if base is None or head is None:
        return _error(404, f"No commit found for the ref {base_ref if base is None else head_ref}")
    merge_base = sim.repo.merge_base(base, head)
    if merge_base is None:
        return _error(404, f"No common ancestor between {base_ref} and {head_ref}.")
    ahead = sim.repo.rev_list(base, head, reverse=True)  # chronological, as GitHub lists them
    behind_by = len(sim.repo.rev_list(head, base))
    if not ahead and not behind_by:
        status = "identical"
    elif not behind_by:
        status = "ahead"
    elif not ahead:
        status = "behind"
    else:
        status = "diverged"
    paged = "page" in request.args or "per_page" in request.args
    link = None
    if paged:
        # With paging: chronological pages; the changed files only on the first page.
        chunk, link = _paginate(ahead, default_per_page=COMPARE_MAX_PER_PAGE, max_per_page=COMPARE_MAX_PER_PAGE)
        first_page = _int_arg("page", 1) == 1
    else:
        # Without paging GitHub answers at most 250 commits, ending with the most recent one.
        chunk, first_page = ahead[-COMPARE_UNPAGED_LIMIT:], True
    ident = _ident()
    infos = sim.repo.commit_infos(chunk)
    files = sim.repo.diff_files(merge_base, head)[:COMPARE_MAX_FILES] if first_page else []
    base_info = sim.commit_info(base, with_files=False)
    merge_base_info = sim.commit_info(merge_base, with_files=False)
    api, html = ident.api_repo_url, ident.html_repo_url
    body = {
        "url": f"{api}/compare/{base_ref}...{head_ref}",
        "html_url": f"{html}/compare/{base_ref}...{head_ref}",
        "permalink_url": f"{html}/compare/{ident.owner}:{base[:7]}...{ident.owner}:{head[:7]}",
        "diff_url": f"{html}/compare/{base_ref}...{head_ref}.diff",
        "patch_url": f"{html}/compare/{base_ref}...{head_ref}.patch",
        "base_commit": commit_resource(base_info, ident, with_files=False),
        "merge_base_commit": commit_resource(merge_base_info, ident, with_files=False),
        "status": status,
        "ahead_by": len(ahead),
        "behind_by": behind_by,
        "total_commits": len(ahead),
        "commits": [commit_resource(i, ident, with_files=False) for i in infos],
        "files": [_file(f, ident, head) for f in files],
    }
    return _json(body, link)


def build_api_app(sim: GitHubSimulator) -> Flask:
    app = Flask("github_simulator")
    app.config["SIMULATOR"] = sim
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.strict_slashes = False
    for name, prefix in (("github", ""), ("github_enterprise", "/api/v3")):
        bp = Blueprint(name, __name__, url_prefix=prefix or None)
        _register(bp)
        app.register_blueprint(bp)
    app.before_request(_before)
    app.after_request(_after)

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return _error(404, "Not Found")

    @app.errorhandler(405)
    def not_allowed(_: Exception) -> Response:
        return _error(404, "Not Found")

    return app
