"""The Bitbucket Cloud reader (API 2.0 over the guarded session) against the Bitbucket simulator,
and the allow-list on the `next` pages Bitbucket names inside its answers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, jsonify

from connect_app.connect.urls import parse_patterns
from connect_app.providers.base import HostileAnswer, ProviderUnavailable
from connect_app.providers.bitbucket import BitbucketReader
from connect_app.sandbox.bitbucket.simulator import BitbucketSimulator
from connect_app.sandbox.github.gitrepo import GitRepo

from .host_readers import assert_templates_are_the_documented_examples, served, served_elsewhere

TOKEN = "bb-reader"


@pytest.fixture
def bitbucket(tmp_path: Path) -> Iterator[BitbucketSimulator]:
    with BitbucketSimulator(GitRepo(tmp_path / "repo"), token=TOKEN) as simulator:
        yield simulator


def _reader(bitbucket: BitbucketSimulator, token: str = TOKEN) -> BitbucketReader:
    return BitbucketReader(api_url=bitbucket.api_url, repository=bitbucket.full_name, token=token,
                           allowed_api_urls=tuple(parse_patterns(bitbucket.api_url.removesuffix("/2.0"))))


def test_history_pages_compare_files_and_pull_requests(bitbucket: BitbucketSimulator) -> None:
    repo = bitbucket.repo
    first = repo.commit("Initial", {"a.txt": "a\n"})
    for n in range(110):
        repo.commit(f"Change {n}", {"a.txt": f"{n}\n"})
    repo.branch("feat-1")
    repo.checkout("feat-1")
    inner = repo.commit("FEAT-1: gift cards", {"gift.py": "G = 1\n"})
    number = bitbucket.open_pull_request("feat-1", "FEAT-1: gift cards")
    merge = bitbucket.merge(number)
    reader = _reader(bitbucket)
    try:
        assert reader.default_branch() == "main"
        pages = list(reader.history_pages("main"))
        assert len(pages) == 2
        listed = [commit.sha for page in pages for commit in page.commits]
        assert listed[0] == merge and listed[-1] == first and len(listed) == 113
        comparison = reader.compare(first, merge)
        assert comparison.status == "ahead" and comparison.added[-1] == merge and inner in comparison.added
        assert reader.commit(inner).files == ("gift.py",)
        assert reader.pull_commits(number) == (inner,)
        assert reader.merged_commit(number) == merge
    finally:
        reader.close()


def test_a_wrong_token_is_an_unavailable_api(bitbucket: BitbucketSimulator) -> None:
    with pytest.raises(ProviderUnavailable, match="401"):
        _reader(bitbucket, token="wrong").default_branch()


def test_a_next_page_on_another_host_is_never_requested_with_the_token() -> None:
    with served_elsewhere({"values": []}) as (elsewhere, elsewhere_hits):
        hostile = Flask("hostile-bitbucket")

        @hostile.get("/2.0/repositories/<path:rest>")
        def listing(rest: str) -> object:
            return jsonify({"values": [], "next": f"{elsewhere}/2.0/steal?page=2"})

        with served(hostile) as hostile_url:
            for allowed in (hostile_url, f"{hostile_url},{elsewhere}"):
                reader = BitbucketReader(api_url=f"{hostile_url}/2.0", repository="acme/shop", token=TOKEN,
                                         allowed_api_urls=tuple(parse_patterns(allowed)))
                with pytest.raises(HostileAnswer):
                    list(reader.history_pages("main"))
        assert elsewhere_hits == []


def test_packaged_templates_are_the_documented_examples() -> None:
    assert_templates_are_the_documented_examples("bitbucket")
