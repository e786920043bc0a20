"""The GitLab reader (python-gitlab over the app's guarded session) against the GitLab simulator:
history with paging, compare, files, merge requests; and the allow-list on every request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, jsonify

from connect_app.connect.urls import parse_patterns
from connect_app.providers.base import HostileAnswer, ProviderUnavailable
from connect_app.providers.gitlab import GitLabReader
from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.gitlab.simulator import GitLabSimulator

from .host_readers import assert_templates_are_the_documented_examples, served, served_elsewhere

TOKEN = "glpat-reader"


@pytest.fixture
def gitlab(tmp_path: Path) -> Iterator[GitLabSimulator]:
    with GitLabSimulator(GitRepo(tmp_path / "repo"), token=TOKEN) as simulator:
        yield simulator


def _reader(gitlab: GitLabSimulator, token: str | None = TOKEN, allowed: str | None = None) -> GitLabReader:
    origin = gitlab.api_url.removesuffix("/api/v4")
    return GitLabReader(api_url=gitlab.api_url, repository=gitlab.project.path, token=token,
                        allowed_api_urls=tuple(parse_patterns(allowed or origin)))


def test_history_pages_compare_files_and_merge_requests(gitlab: GitLabSimulator) -> None:
    repo = gitlab.repo
    first = repo.commit("Initial", {"a.txt": "a\n"})
    for n in range(120):
        repo.commit(f"Change {n}", {"a.txt": f"{n}\n"})
    repo.branch("feat-1")
    repo.checkout("feat-1")
    inner = repo.commit("FEAT-1: gift cards", {"gift.py": "G = 1\n"})
    iid = gitlab.open_merge_request("feat-1", "FEAT-1: gift cards")
    merge = gitlab.merge(iid, "merge")
    reader = _reader(gitlab)
    try:
        assert reader.default_branch() == "main"
        pages = list(reader.history_pages("main"))
        assert len(pages) == 2 and pages[0].next_url is not None
        listed = [commit.sha for page in pages for commit in page.commits]
        assert listed[0] == merge and listed[-1] == first and len(listed) == 123
        assert pages[0].commits[0].parents[1] == inner
        comparison = reader.compare(first, merge)
        assert comparison.status == "ahead" and comparison.added[-1] == merge and inner in comparison.added
        assert reader.compare(merge, first).status == "behind"
        assert reader.commit(inner).files == ("gift.py",)
        assert reader.pull_commits(iid) == (inner,)
        assert reader.merged_commit(iid) == merge
    finally:
        reader.close()


def test_a_wrong_token_is_an_unavailable_api(gitlab: GitLabSimulator) -> None:
    gitlab.repo.commit("Initial", {"a.txt": "a\n"})
    reader = _reader(gitlab, token="wrong")
    with pytest.raises(ProviderUnavailable, match="401"):
        reader.default_branch()


def test_a_link_to_a_host_outside_the_allow_list_is_never_followed(gitlab: GitLabSimulator) -> None:
    """python-gitlab would follow `Link: next` anywhere; the guarded session refuses the host, and
    the token never leaves the connection's own API origin."""
    with served_elsewhere([]) as (elsewhere, elsewhere_hits):
        hostile = Flask("hostile-gitlab")

        @hostile.get("/api/v4/projects/<path:rest>")
        def listing(rest: str) -> object:
            response = jsonify([])
            response.headers["Link"] = f'<{elsewhere}/api/v4/steal?page=2>; rel="next"'
            return response

        with served(hostile) as hostile_url:
            reader = GitLabReader(api_url=f"{hostile_url}/api/v4", repository="acme/shop", token=TOKEN,
                                  allowed_api_urls=tuple(parse_patterns(hostile_url)))
            with pytest.raises(HostileAnswer, match="allow-list"):
                list(reader.history_pages("main"))
            # Allowed, but another origin: the token is refused there too.
            reader = GitLabReader(api_url=f"{hostile_url}/api/v4", repository="acme/shop", token=TOKEN,
                                  allowed_api_urls=tuple(parse_patterns(f"{hostile_url},{elsewhere}")))
            with pytest.raises(HostileAnswer, match="credentials"):
                list(reader.history_pages("main"))
        assert elsewhere_hits == []


def test_api_address_must_be_allowed_and_be_api_v4(gitlab: GitLabSimulator) -> None:
    with pytest.raises(ProviderUnavailable):
        _reader(gitlab, allowed="https://gitlab.com")
    with pytest.raises(ProviderUnavailable):
        GitLabReader(api_url=gitlab.api_url.removesuffix("/api/v4"), repository="a/b", token=TOKEN,
                     allowed_api_urls=tuple(parse_patterns("http://127.0.0.1:*")))


def test_packaged_templates_are_the_documented_examples() -> None:
    assert_templates_are_the_documented_examples("gitlab")
