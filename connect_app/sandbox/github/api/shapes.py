"""GitHub's JSON shapes of commits, their files and deployments, as the API returns them."""

from __future__ import annotations

from typing import Any

from connect_app.sandbox.github import payloads
from connect_app.sandbox.github.gitrepo import CommitInfo, FileChange


def _person(person: Any) -> dict[str, Any]:
    return {"name": person.name, "email": person.email, "date": payloads.github_time(person.date)}


def file_resource(change: FileChange, ident: payloads.RepoIdentity, sha: str) -> dict[str, Any]:
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
        body["files"] = [file_resource(f, ident, info.sha) for f in info.files]
    return body


def deployment_resource(dep: Any, ident: payloads.RepoIdentity) -> dict[str, Any]:
    return payloads.deployment_object(ident, dep.facts(), payloads.DEPLOYMENT_TEMPLATE)
