"""`/repos/{owner}/{repo}/commits...` and `/compare/{basehead}`."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from connect_app.sandbox.github import payloads
from connect_app.sandbox.github.api.common import (
    error,
    ident,
    int_arg,
    json_response,
    paginate,
    parse_time,
    repo_or_404,
    sim,
)
from connect_app.sandbox.github.api.shapes import commit_resource, file_resource

COMPARE_MAX_PER_PAGE = 250
COMPARE_UNPAGED_LIMIT = 250
COMPARE_MAX_FILES = 300


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/repos/<owner>/<name>/commits", view_func=list_commits, methods=["GET"])
    bp.add_url_rule("/repos/<owner>/<name>/commits/<path:ref>", view_func=get_commit, methods=["GET"])
    bp.add_url_rule("/repos/<owner>/<name>/commits/<sha>/pulls", view_func=commit_pulls, methods=["GET"])
    bp.add_url_rule("/repos/<owner>/<name>/compare/<path:basehead>", view_func=compare, methods=["GET"])


def list_commits(owner: str, name: str) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    simulator = sim()
    ref = request.args.get("sha") or simulator.default_branch
    head = simulator.repo.resolve(ref)
    if head is None:
        if simulator.repo.resolve(simulator.default_branch) is None:
            return error(409, "Git Repository is empty.")
        return error(404, f"No commit found for SHA: {ref}")
    infos = simulator.repo.commit_infos(simulator.repo.rev_list(None, head))
    since, until = parse_time(request.args.get("since")), parse_time(request.args.get("until"))
    if since is not None:
        infos = [i for i in infos if i.committer.date >= since]
    if until is not None:
        infos = [i for i in infos if i.committer.date <= until]
    chunk, link = paginate(infos)
    repo = ident()
    return json_response([commit_resource(i, repo, with_files=False) for i in chunk], link)


def get_commit(owner: str, name: str, ref: str) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    simulator = sim()
    sha = simulator.repo.resolve(ref)
    if sha is None:
        return error(422, f"No commit found for SHA: {ref}")
    return json_response(commit_resource(simulator.commit_info(sha), ident(), with_files=True))


def commit_pulls(owner: str, name: str, sha: str) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    simulator = sim()
    full = simulator.repo.resolve(sha)
    if full is None:
        return error(422, f"No commit found for SHA: {sha}")
    numbers = [n for n in sorted(simulator.pulls) if full == simulator.pulls[n].merge_commit_sha
               or full in simulator.pull_commits(n)]
    repo = ident()
    chunk, link = paginate(numbers)
    return json_response([payloads.pull_request_object(repo, simulator.pull_facts(n)) for n in chunk], link)


def compare(owner: str, name: str, basehead: str) -> Response:
    if (missing := repo_or_404(owner, name)) is not None:
        return missing
    simulator = sim()
    base_ref, sep, head_ref = basehead.partition("...")
    if not sep:
        base_ref, sep, head_ref = basehead.partition("..")
    if not sep or not base_ref or not head_ref:
        return error(404, "Not Found")
    base, head = simulator.repo.resolve(base_ref), simulator.repo.resolve(head_ref)
    if base is None or head is None:
        return error(404, f"No commit found for the ref {base_ref if base is None else head_ref}")
    merge_base = simulator.repo.merge_base(base, head)
    if merge_base is None:
        return error(404, f"No common ancestor between {base_ref} and {head_ref}.")
    ahead = simulator.repo.rev_list(base, head, reverse=True)  # chronological, as GitHub lists them
    behind_by = len(simulator.repo.rev_list(head, base))
    paged = "page" in request.args or "per_page" in request.args
    link = None
    if paged:
        # With paging: chronological pages; the changed files only on the first page.
        chunk, link = paginate(ahead, default_per_page=COMPARE_MAX_PER_PAGE, max_per_page=COMPARE_MAX_PER_PAGE)
        first_page = int_arg("page", 1) == 1
    else:
        # Without paging GitHub answers at most 250 commits, ending with the most recent one.
        chunk, first_page = ahead[-COMPARE_UNPAGED_LIMIT:], True
    repo = ident()
    body = _comparison(repo, base_ref, head_ref, base, head, merge_base, ahead, behind_by)
    body["commits"] = [commit_resource(i, repo, with_files=False) for i in simulator.repo.commit_infos(chunk)]
    files = simulator.repo.diff_files(merge_base, head)[:COMPARE_MAX_FILES] if first_page else []
    body["files"] = [file_resource(f, repo, head) for f in files]
    return json_response(body, link)


def _comparison(
    repo: payloads.RepoIdentity,
    base_ref: str,
    head_ref: str,
    base: str,
    head: str,
    merge_base: str,
    ahead: list[str],
    behind_by: int,
) -> dict[str, Any]:
    """The compare answer but its `commits` and `files`."""
    simulator = sim()
    api, html = repo.api_repo_url, repo.html_repo_url
    return {
        "url": f"{api}/compare/{base_ref}...{head_ref}",
        "html_url": f"{html}/compare/{base_ref}...{head_ref}",
        "permalink_url": f"{html}/compare/{repo.owner}:{base[:7]}...{repo.owner}:{head[:7]}",
        "diff_url": f"{html}/compare/{base_ref}...{head_ref}.diff",
        "patch_url": f"{html}/compare/{base_ref}...{head_ref}.patch",
        "base_commit": commit_resource(simulator.commit_info(base, with_files=False), repo, with_files=False),
        "merge_base_commit": commit_resource(simulator.commit_info(merge_base, with_files=False), repo,
                                             with_files=False),
        "status": _compare_status(len(ahead), behind_by),
        "ahead_by": len(ahead),
        "behind_by": behind_by,
        "total_commits": len(ahead),
    }


def _compare_status(ahead_by: int, behind_by: int) -> str:
    if not ahead_by and not behind_by:
        return "identical"
    if not behind_by:
        return "ahead"
    if not ahead_by:
        return "behind"
    return "diverged"
