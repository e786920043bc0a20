"""The FEAT-304 story on GitLab, end to end: a squash-merged merge request, GitLab's Revert button,
the revert deployed through the CI endpoint — through real GitLab webhooks (built from GitLab's
documented examples), the GitLab API read through python-gitlab, and the Jira simulator. Jira ends
up with the same property, label and one comment as on GitHub."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.gitlab.payloads import PUSH_LIMIT
from connect_app.sandbox.gitlab.simulator import GitLabSimulator
from connect_app.sandbox.stack import RepositoryConnection, Stack
from connect_app.sandbox.story import MONDAY, REVERT_AT, REVERT_DEPLOYED_AT, install_for_the_story

from .hosted_stories import (
    assert_a_long_push_is_read_in_full,
    assert_backfill_finds_the_revert,
    assert_feat304_reverted_in_production,
    assert_resent_hooks_change_nothing,
    connect_host,
)

TOKEN = "glpat-sandbox-token"


@pytest.fixture
def gitlab(stack: Stack) -> Iterator[GitLabSimulator]:
    with GitLabSimulator(GitRepo(stack.workdir / "gitlab-repo"), token=TOKEN) as simulator:
        yield simulator


def _connect(stack: Stack, gitlab: GitLabSimulator, *, token: str | None = TOKEN) -> RepositoryConnection:
    fields: dict[str, Any] = {"repository": gitlab.project.path, "api_url": gitlab.api_url}
    if token:
        fields["token"] = token
    connection, data = connect_host(stack, gitlab, "gitlab", fields)
    assert "Merge request events" in data["gitlab_settings"]["trigger"]
    return connection


def _ship_feature(stack: Stack, gitlab: GitLabSimulator) -> tuple[RepositoryConnection, int, str]:
    install_for_the_story(stack)
    connection = _connect(stack, gitlab)
    repo = gitlab.repo
    repo.commit("Initial checkout service", {"checkout/service.py": "def pay():\n    return True\n"}, when=MONDAY)
    gitlab.push_branch()
    repo.branch("feat-304-payment-retry")
    repo.checkout("feat-304-payment-retry")
    repo.commit("Add payment retry with backoff", {"checkout/retry.py": "RETRIES = 3\n"}, when=MONDAY)
    repo.commit("Tune backoff", {"checkout/retry.py": "RETRIES = 4\n"}, when=MONDAY)
    iid = gitlab.open_merge_request("feat-304-payment-retry", "FEAT-304: Payment retry logic v2",
                                    "Retries failed card payments.")
    squash = gitlab.merge(iid, "squash", when=MONDAY)
    gitlab.deploy(squash, "production", when=MONDAY)
    stack.settle()
    return connection, iid, squash


def _deploy_through_ci(stack: Stack, connection: RepositoryConnection, sha: str) -> None:
    response = stack.report_deployment(connection, {"environment": "production", "sha": sha, "status": "success",
                                                    "deployed_at": REVERT_DEPLOYED_AT.isoformat()})
    assert response.status_code == 202, response.text
    stack.settle()


@pytest.mark.postgres
def test_feat304_on_gitlab_squash_merge_revert_button_and_ci_deploy(stack: Stack, gitlab: GitLabSimulator) -> None:
    connection, iid, squash = _ship_feature(stack, gitlab)
    issue = stack.jira.issues["FEAT-304"]
    assert issue["properties"]["system-reality"]["drift"] == "live"
    assert issue["comments"] == []

    revert = gitlab.revert_button(iid, when=REVERT_AT)
    message = gitlab.repo.commit_info(revert).message
    assert message == f'Revert "FEAT-304: Payment retry logic v2"\n\nThis reverts commit {squash}\n'
    assert gitlab.merge_requests[iid + 1].source_branch == f"revert-{squash[:8]}"
    stack.settle()
    # Merged but not deployed: production still runs the feature, and Jira hears nothing yet.
    assert stack.jira.issues["FEAT-304"]["properties"]["system-reality"]["drift"] == "live"
    assert stack.jira.issues["FEAT-304"]["comments"] == []
    _deploy_through_ci(stack, connection, revert)

    assert_feat304_reverted_in_production(stack, revert)
    # The epic FEAT-300 rolls its feature up in the same property (INTERFACES section 3).
    assert sorted(stack.search("drift = reverted")) == ["FEAT-300", "FEAT-304"]
    assert stack.search("driftedChildren > 0") == ["FEAT-300"]
    # The app read the project through the API (the merge request's squash commit, its commits).
    assert any("/merge_requests/1" in path for _method, path in gitlab.api_requests)

    assert_resent_hooks_change_nothing(stack, gitlab)


@pytest.mark.parametrize("new_merge_request", [False, True])
def test_revert_button_on_a_merge_commit_says_this_reverts_merge_request(stack: Stack, gitlab: GitLabSimulator,
                                                                          new_merge_request: bool) -> None:
    stack.jira.add_issue("FEAT-7", "Gift cards", status="Done")
    stack.install()
    _connect(stack, gitlab)
    gitlab.repo.commit("Initial", {"README.md": "shop\n"})
    gitlab.push_branch()
    gitlab.repo.branch("feat-7-gift-cards")
    gitlab.repo.checkout("feat-7-gift-cards")
    gitlab.repo.commit("Add gift cards", {"gift.py": "CARDS = True\n"})
    iid = gitlab.open_merge_request("feat-7-gift-cards", "Gift cards", "Closes FEAT-7")
    gitlab.merge(iid, "merge")
    stack.settle()
    assert stack.jira.issues["FEAT-7"]["properties"]["system-reality"]["drift"] == "live"

    revert = gitlab.revert_button(iid, new_merge_request=new_merge_request)
    assert gitlab.repo.commit_info(revert).message.endswith(f"This reverts merge request !{iid}\n")
    if new_merge_request:  # the request GitLab opens on `revert-<short sha>` says the same
        opened = gitlab.merge_requests[iid + 1]
        assert opened.source_branch.startswith("revert-") and opened.description == f"This reverts merge request !{iid}"
    stack.settle()
    prop = stack.jira.issues["FEAT-7"]["properties"]["system-reality"]
    assert prop["drift"] == "reverted", prop
    assert "drift-reverted" in stack.jira.issues["FEAT-7"]["labels"]


def _deliveries(stack: Stack) -> list[dict[str, Any]]:
    response = stack.admin("GET", "/api/deliveries")
    assert response.status_code == 200, response.text
    return response.json()


def test_forged_gitlab_token_is_refused_and_changes_nothing(stack: Stack, gitlab: GitLabSimulator) -> None:
    stack.jira.add_issue("FEAT-9", "Vouchers", status="Done")
    stack.install()
    connection = _connect(stack, gitlab)
    gitlab.repo.commit("Initial", {"README.md": "shop\n"})
    gitlab.push_branch()
    stack.settle()
    before = _deliveries(stack)
    gitlab.repo.commit("FEAT-9: vouchers", {"v.py": "V = 1\n"})
    for token in ("not-the-secret", connection.webhook_secret + "x", ""):
        guid = gitlab.deliver("Push Hook", _push_of_head(gitlab), token=token)
        sent = [d for d in gitlab.deliveries if d.guid == guid][-1]
        assert sent.status == 401
        assert set(json.loads(sent.response_body)) == {"error", "detail"}
    # The right token on a body that is not JSON, or without the event header: 400, nothing stored.
    headers = {"X-Gitlab-Token": connection.webhook_secret, "X-Gitlab-Event": "Push Hook",
               "X-Gitlab-Event-UUID": "0d3c5a3e-5b1e-4c0e-9d57-2a4f0f6b1c11", "Content-Type": "application/json"}
    assert requests.post(connection.webhook_url, data=b"{not json", headers=headers, timeout=30).status_code == 400
    no_event = {key: value for key, value in headers.items() if key != "X-Gitlab-Event"}
    assert requests.post(connection.webhook_url, data=b"{}", headers=no_event, timeout=30).status_code == 400
    # A GitHub connection's id takes no GitLab hooks, even with its own secret as the token.
    github = stack.admin("POST", "/api/connections", {"provider": "github", "repository": "acme/other",
                                                      "api_url": "http://127.0.0.1:9"}).json()
    forged = requests.post(f"{stack.app_url}/gitlab/webhook/{github['id']}", data=b"{}", timeout=30,
                           headers={**headers, "X-Gitlab-Token": github["webhook_secret"]})
    assert forged.status_code == 404 and forged.json()["error"] == "unknown_connection"
    stack.settle()
    assert _deliveries(stack) == before
    assert "system-reality" not in stack.jira.issues["FEAT-9"]["properties"]


def test_a_wrong_gitlab_token_is_refused_before_the_body_is_read(stack: Stack, gitlab: GitLabSimulator) -> None:
    """The token is a header: a sender without it announcing 30 MB gets 401, not a 413 after the
    app started reading what it sent."""
    stack.install()
    connection = _connect(stack, gitlab)
    parts = urlsplit(connection.webhook_url)
    client = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    client.putrequest("POST", parts.path)
    for name, value in {"X-Gitlab-Token": "not-the-secret", "X-Gitlab-Event": "Push Hook",
                        "X-Gitlab-Event-UUID": "0d3c5a3e-5b1e-4c0e-9d57-2a4f0f6b1c12",
                        "Content-Type": "application/json", "Content-Length": str(30 * 1024 * 1024)}.items():
        client.putheader(name, value)
    client.endheaders(b"{}")
    answer = client.getresponse()
    assert answer.status == 401
    assert json.loads(answer.read())["error"] == "bad_token"
    client.close()


def _push_of_head(gitlab: GitLabSimulator) -> dict[str, Any]:
    from connect_app.sandbox.gitlab import payloads

    head = gitlab.repo.rev_parse("HEAD")
    return payloads.push_payload(gitlab.project, ref="refs/heads/main", before=gitlab.repo.rev_parse("HEAD~1"),
                                 after=head, commits=[gitlab.repo.commit_info(head)])


def test_backfill_reads_a_gitlab_project_through_the_api(stack: Stack, gitlab: GitLabSimulator) -> None:
    assert_backfill_finds_the_revert(stack, gitlab.repo, lambda: _connect(stack, gitlab))


def test_a_push_of_more_than_twenty_commits_is_read_in_full_through_the_api(stack: Stack,
                                                                             gitlab: GitLabSimulator) -> None:
    """GitLab lists only the newest 20 commits of a push; the oldest ones come from the API."""
    assert_a_long_push_is_read_in_full(stack, gitlab, lambda: _connect(stack, gitlab), PUSH_LIMIT)


def test_a_gitlab_release_shows_on_the_panel_of_the_features_its_tag_ships(stack: Stack,
                                                                            gitlab: GitLabSimulator) -> None:
    stack.jira.add_issue("FEAT-1", "Coupons", status="Done")
    stack.jira.add_issue("FEAT-2", "Badges", status="Done")
    stack.install()
    _connect(stack, gitlab)
    gitlab.repo.commit("Initial", {"README.md": "shop\n"})
    gitlab.push_branch()
    coupons = gitlab.push("FEAT-1: coupons", {"coupons.py": "ON = 1\n"})
    gitlab.release("v1.0.0", coupons)
    gitlab.push("FEAT-2: badges", {"badges.py": "ON = 1\n"})
    stack.settle()
    panel = stack.admin("GET", "/api/issues/FEAT-1/reality").json()
    released = [event for event in panel["timeline"] if event["kind"] == "release"]
    assert [(event["title"], event["sha"]) for event in released] == [("Released in v1.0.0", coupons)]
    assert released[0]["url"].endswith("/-/releases/v1.0.0")
    later = stack.admin("GET", "/api/issues/FEAT-2/reality").json()
    assert [event for event in later["timeline"] if event["kind"] == "release"] == []
