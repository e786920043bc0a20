"""The FEAT-304 story on Bitbucket Cloud, end to end: a squash-merged pull request, Bitbucket's
Revert of it, the revert deployed through the CI endpoint (as the README's Bitbucket Pipelines
step does) — through real signed Bitbucket webhooks (built from Atlassian's examples), the API 2.0
and the Jira simulator. Jira ends up with the same property, label and one comment as on GitHub."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from connect_app.sandbox.bitbucket import payloads
from connect_app.sandbox.bitbucket.simulator import BitbucketSimulator
from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.stack import RepositoryConnection, Stack
from connect_app.sandbox.story import MONDAY, REVERT_AT, REVERT_DEPLOYED_AT, install_for_the_story

from .hosted_stories import (
    assert_a_long_push_is_read_in_full,
    assert_backfill_finds_the_revert,
    assert_feat304_reverted_in_production,
    assert_resent_hooks_change_nothing,
    connect_host,
)

TOKEN = "bb-sandbox-access-token"


@pytest.fixture
def bitbucket(stack: Stack) -> Iterator[BitbucketSimulator]:
    with BitbucketSimulator(GitRepo(stack.workdir / "bitbucket-repo"), token=TOKEN) as simulator:
        yield simulator


def _connect(stack: Stack, bitbucket: BitbucketSimulator) -> RepositoryConnection:
    connection, data = connect_host(stack, bitbucket, "bitbucket", {"repository": bitbucket.full_name,
                                                                     "api_url": bitbucket.api_url, "token": TOKEN})
    assert "Pull Request: Merged" in data["bitbucket_settings"]["triggers"]
    return connection


def _run_readme_pipelines_step(stack: Stack, connection: RepositoryConnection, sha: str) -> None:
    """The README's Bitbucket Pipelines step, run as Pipelines would run it (its variables set, the
    build agent's clock at Wednesday 23:31 UTC)."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(part.split("```", 1)[0] for part in readme.split("```yaml\n")[1:] if part.startswith("pipelines:"))
    step = yaml.safe_load(block)["pipelines"]["branches"]["main"][0]["step"]
    assert step["deployment"] == "production"
    [curl] = [line for line in step["script"] if line.startswith("curl ")]
    clock = stack.workdir / "bin"
    clock.mkdir(exist_ok=True)
    (clock / "date").write_text(f"#!/bin/sh\necho {REVERT_DEPLOYED_AT:%Y-%m-%dT%H:%M:%SZ}\n")
    (clock / "date").chmod(0o755)
    env = {"PATH": f"{clock}:{os.environ['PATH']}", "SYSTEM_REALITY_URL": stack.app_url,
           "SYSTEM_REALITY_CONNECTION": connection.id, "SYSTEM_REALITY_DEPLOY_TOKEN": connection.deploy_token,
           "BITBUCKET_BUILD_NUMBER": "812", "BITBUCKET_DEPLOYMENT_ENVIRONMENT": "production",
           "BITBUCKET_COMMIT": sha, "BITBUCKET_GIT_HTTP_ORIGIN": "https://bitbucket.org/acme/shop"}
    done = subprocess.run(["bash", "-c", curl], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["status"] == "stored"


@pytest.mark.postgres
def test_feat304_on_bitbucket_squash_merge_revert_and_pipelines_deploy(stack: Stack,
                                                                       bitbucket: BitbucketSimulator) -> None:
    install_for_the_story(stack)
    connection = _connect(stack, bitbucket)
    repo = bitbucket.repo
    repo.commit("Initial checkout service", {"checkout/service.py": "def pay():\n    return True\n"}, when=MONDAY)
    bitbucket.push_branch()
    repo.branch("feat-304-payment-retry")
    repo.checkout("feat-304-payment-retry")
    repo.commit("Add payment retry with backoff", {"checkout/retry.py": "RETRIES = 3\n"}, when=MONDAY)
    number = bitbucket.open_pull_request("feat-304-payment-retry", "FEAT-304: Payment retry logic v2")
    squash = bitbucket.merge(number, "squash", when=MONDAY)
    bitbucket.report_deployment(squash, "production", when=MONDAY)
    stack.settle()
    issue = stack.jira.issues["FEAT-304"]
    assert issue["properties"]["system-reality"]["drift"] == "live"
    assert issue["comments"] == []

    revert = bitbucket.revert(number, when=REVERT_AT)
    message = repo.commit_info(revert).message
    assert message.startswith('Revert "Merged in feat-304-payment-retry (pull request #1)"')
    assert f"This reverts commit {squash}." in message
    stack.settle()
    assert stack.jira.issues["FEAT-304"]["properties"]["system-reality"]["drift"] == "live"  # not deployed yet
    _run_readme_pipelines_step(stack, connection, repo.rev_parse("main"))
    stack.settle()

    assert_feat304_reverted_in_production(stack, revert)
    # The abbreviated merge commit of the pull request was expanded through the API.
    assert any(path.endswith(f"/commit/{squash[:12]}") for _method, path in bitbucket.api_requests)

    assert_resent_hooks_change_nothing(stack, bitbucket)


def test_forged_bitbucket_signature_is_refused_and_changes_nothing(stack: Stack,
                                                                   bitbucket: BitbucketSimulator) -> None:
    stack.jira.add_issue("FEAT-9", "Vouchers", status="Done")
    stack.install()
    connection = _connect(stack, bitbucket)
    bitbucket.repo.commit("Initial", {"README.md": "shop\n"})
    bitbucket.push_branch()
    stack.settle()
    before = stack.admin("GET", "/api/deliveries").json()
    old = bitbucket.repo.commit_info("HEAD", with_files=False)
    new_sha = bitbucket.repo.commit("FEAT-9: vouchers", {"v.py": "V = 1\n"})
    new = bitbucket.repo.commit_info(new_sha, with_files=False)
    payload = payloads.push_payload(bitbucket.repository, branch="main", old=old, new=new, commits=[new])
    for secret in ("not-the-secret", connection.webhook_secret + "x"):
        guid = bitbucket.deliver("repo:push", payload, secret=secret)
        sent = [d for d in bitbucket.deliveries if d.guid == guid][-1]
        assert sent.status == 401
        assert set(json.loads(sent.response_body)) == {"error", "detail"}
    stack.settle()
    assert stack.admin("GET", "/api/deliveries").json() == before
    assert "system-reality" not in stack.jira.issues["FEAT-9"]["properties"]


def test_backfill_reads_a_bitbucket_repository_through_the_api(stack: Stack, bitbucket: BitbucketSimulator) -> None:
    assert_backfill_finds_the_revert(stack, bitbucket.repo, lambda: _connect(stack, bitbucket))


def test_a_truncated_push_is_read_in_full_through_the_api(stack: Stack, bitbucket: BitbucketSimulator) -> None:
    """Bitbucket lists at most 5 commits per change (`truncated`); the rest come from the API."""
    assert_a_long_push_is_read_in_full(stack, bitbucket, lambda: _connect(stack, bitbucket), payloads.PUSH_LIMIT)


def test_bitbucket_revert_of_a_merge_commit_pull_request(stack: Stack, bitbucket: BitbucketSimulator) -> None:
    """git's revert of a merge commit (`This reverts commit <merge>, reversing changes made to
    <parent>.`) takes out everything the pull request brought in."""
    stack.jira.add_issue("FEAT-7", "Gift cards", status="Done")
    stack.install()
    _connect(stack, bitbucket)
    repo = bitbucket.repo
    repo.commit("Initial", {"README.md": "shop\n"})
    bitbucket.push_branch()
    repo.branch("gift-cards")
    repo.checkout("gift-cards")
    repo.commit("FEAT-7: gift card model", {"gift.py": "CARDS = True\n"})
    repo.commit("FEAT-7: gift card checkout", {"pay.py": "GIFT = True\n"})
    number = bitbucket.open_pull_request("gift-cards", "Gift cards")
    merge = bitbucket.merge(number, "merge_commit")
    stack.settle()
    assert stack.jira.issues["FEAT-7"]["properties"]["system-reality"]["changes"] == 2
    revert = bitbucket.revert(number)
    assert "reversing\nchanges made to" in repo.commit_info(revert).message
    assert merge in repo.commit_info(revert).message
    stack.settle()
    prop = stack.jira.issues["FEAT-7"]["properties"]["system-reality"]
    assert (prop["drift"], prop["changes"], prop["reverted"]) == ("reverted", 2, 2)
