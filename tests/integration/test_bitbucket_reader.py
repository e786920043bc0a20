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
from connect_app.sandbox.server import ServedApp

TOKEN = "bb-reader"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "bitbucket-webhooks"
TEMPLATES = Path(__file__).parents[2] / "connect_app" / "sandbox" / "bitbucket" / "payload_templates"


@pytest.fixture
def bitbucket(tmp_path: Path) -> Iterator[BitbucketSimulator]:
    simulator = BitbucketSimulator(GitRepo(tmp_path / "repo"), token=TOKEN).start()
    yield simulator
    simulator.stop()


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
    elsewhere_hits: list[str] = []
    elsewhere = Flask("elsewhere")

    @elsewhere.get("/<path:rest>")
    def anything(rest: str) -> object:
        elsewhere_hits.append(rest)
        return jsonify({"values": []})

    served = ServedApp(elsewhere).start()
    hostile = Flask("hostile-bitbucket")

    @hostile.get("/2.0/repositories/<path:rest>")
    def listing(rest: str) -> object:
        return jsonify({"values": [], "next": f"{served.url}/2.0/steal?page=2"})

    hostile_server = ServedApp(hostile).start()
    try:
        for allowed in (hostile_server.url, f"{hostile_server.url},{served.url}"):
            reader = BitbucketReader(api_url=f"{hostile_server.url}/2.0", repository="acme/shop", token=TOKEN,
                                     allowed_api_urls=tuple(parse_patterns(allowed)))
            with pytest.raises(HostileAnswer):
                list(reader.history_pages("main"))
        assert elsewhere_hits == []
    finally:
        hostile_server.stop()
        served.stop()


def test_packaged_templates_are_the_documented_examples() -> None:
    for fixture in FIXTURES.glob("*.json"):
        assert (TEMPLATES / fixture.name).read_bytes() == fixture.read_bytes(), fixture.name
