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
from typing import Any

import pytest
import yaml

from connect_app.sandbox.bitbucket import payloads
from connect_app.sandbox.bitbucket.simulator import BitbucketSimulator
from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.stack import STAKEHOLDERS, RepositoryConnection, Stack
from connect_app.sandbox.story import MONDAY, OWNER_FIELD, REVERT_AT, REVERT_DEPLOYED_AT, seed_issues

TOKEN = "bb-sandbox-access-token"


@pytest.fixture
def bitbucket(stack: Stack) -> Iterator[BitbucketSimulator]:
    simulator = BitbucketSimulator(GitRepo(stack.workdir / "bitbucket-repo"), token=TOKEN).start()
    yield simulator
    simulator.stop()


def _connect(stack: Stack, bitbucket: BitbucketSimulator) -> RepositoryConnection:
    response = stack.admin("POST", "/api/connections", {"provider": "bitbucket", "repository": bitbucket.full_name,
                                                        "api_url": bitbucket.api_url, "token": TOKEN})
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["webhook_url"].endswith(f"/bitbucket/webhook/{data['id']}")
    assert "Pull Request: Merged" in data["bitbucket_settings"]["triggers"]
    bitbucket.add_hook(data["webhook_url"], data["webhook_secret"])
    return RepositoryConnection(data["id"], data["webhook_url"], data["webhook_secret"], data["deploy_token"])


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


def _mentions(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") == "mention":
            yield node
        for child in node.get("content", []) or []:
            yield from _mentions(child)


@pytest.mark.postgres
def test_feat304_on_bitbucket_squash_merge_revert_and_pipelines_deploy(stack: Stack,
                                                                       bitbucket: BitbucketSimulator) -> None:
    seed_issues(stack)
    stack.install()
    assert stack.admin("PUT", "/api/settings", {"default_policy": "comment",
                                                "business_owner_field": OWNER_FIELD}).status_code == 200
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

    issue = stack.jira.issues["FEAT-304"]
    prop = issue["properties"]["system-reality"]
    assert (prop["drift"], prop["environment"]) == ("reverted", "production")
    assert prop["since"].startswith("2026-11-25T23:31")
    assert prop["changes"] >= 1 and prop["reverted"] == prop["changes"]
    assert "drift-reverted" in issue["labels"]
    assert len(issue["comments"]) == 1
    assert revert[:7] in str(issue["comments"][0]["body"])
    mentioned = {node["attrs"]["id"] for node in _mentions(issue["comments"][0]["body"])}
    assert {account for account, _name in STAKEHOLDERS.values()} <= mentioned
    # The abbreviated merge commit of the pull request was expanded through the API.
    assert any(path.endswith(f"/commit/{squash[:12]}") for _method, path in bitbucket.api_requests)

    stack.jira.reset_log()
    for guid in dict.fromkeys(delivery.guid for delivery in list(bitbucket.deliveries)):
        bitbucket.redeliver(guid)
    stack.settle()
    assert stack.jira.writes() == []
    assert len(stack.jira.issues["FEAT-304"]["comments"]) == 1


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
    stack.jira.add_issue("FEAT-5", "Store credit", status="Done")
    stack.install()
    repo = bitbucket.repo
    repo.commit("Initial", {"README.md": "shop\n"})
    change = repo.commit("FEAT-5: store credit", {"credit.py": "CREDIT = True\n"})
    repo.revert(change)
    connection = _connect(stack, bitbucket)
    assert stack.admin("POST", f"/api/connections/{connection.id}/backfill", {}).status_code == 202
    stack.settle()
    state = stack.admin("GET", f"/api/connections/{connection.id}").json()["backfill"]
    assert (state["state"], state["total"]) == ("done", 3)
    prop = stack.jira.issues["FEAT-5"]["properties"]["system-reality"]
    assert (prop["drift"], prop["changes"], prop["reverted"]) == ("reverted", 1, 1)


def test_a_truncated_push_is_read_in_full_through_the_api(stack: Stack, bitbucket: BitbucketSimulator) -> None:
    """Bitbucket lists at most 5 commits per change (`truncated`); the rest come from the API."""
    stack.jira.add_issue("FEAT-11", "Wallets", status="Done")
    stack.install()
    _connect(stack, bitbucket)
    bitbucket.repo.commit("Initial", {"README.md": "shop\n"})
    bitbucket.push_branch()
    bitbucket.repo.commit("FEAT-11: wallets", {"wallet.py": "W = 1\n"})
    for n in range(6):
        bitbucket.repo.commit(f"Tidy {n}", {"tidy.txt": f"{n}\n"})
    bitbucket.push_branch()
    stack.settle()
    prop = stack.jira.issues["FEAT-11"]["properties"]["system-reality"]
    assert (prop["drift"], prop["changes"]) == ("live", 1)


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
