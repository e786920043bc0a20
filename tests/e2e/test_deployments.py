"""Deployments decide what is live: GitHub `deployment`/`deployment_status` webhooks and the CI
endpoint, pending deploys, rollback and diverged deployments, compare paging past 250 commits,
and each connection's own production environment names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connect_app.sandbox.stack import RepositoryConnection, Stack

KEYS = ("FEAT-1", "FEAT-2", "FEAT-3", "FEAT-4")


def _start(stack: Stack, **connect: Any) -> tuple[Any, RepositoryConnection]:
    for key in KEYS:
        stack.jira.add_issue(key, f"Feature {key}", status="Done")
    stack.install()
    github = stack.start_github()
    connection = stack.connect_repository(**connect)
    github.repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    return github, connection


@pytest.fixture
def github(stack: Stack) -> Any:
    return _start(stack)[0]


def _drift(stack: Stack, key: str) -> str:
    stack.settle()
    return str((stack.jira.issues[key]["properties"].get("system-reality") or {}).get("drift"))


def test_merged_is_pending_until_deployed(stack: Stack, github: Any) -> None:
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    github.deploy(first, "production")
    assert _drift(stack, "FEAT-1") == "live"
    second = github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    assert _drift(stack, "FEAT-2") == "pending-deploy"
    dep = github.create_deployment(second, "production")
    assert _drift(stack, "FEAT-2") == "pending-deploy", "a deployment counts once it succeeds"
    github.set_deployment_status(dep, "in_progress")
    assert _drift(stack, "FEAT-2") == "pending-deploy"
    github.set_deployment_status(dep, "success")
    assert _drift(stack, "FEAT-2") == "live"
    github.deploy(second, "staging")  # other environments never decide what is live
    assert _drift(stack, "FEAT-2") == "live"


def test_rollback_deploy_and_redeploy(stack: Stack, github: Any) -> None:
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    github.deploy(first, "production")
    second = github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    github.deploy(second, "production")
    assert (_drift(stack, "FEAT-1"), _drift(stack, "FEAT-2")) == ("live", "live")

    rollback = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
    github.deploy(first, "production", when=rollback)
    assert (_drift(stack, "FEAT-1"), _drift(stack, "FEAT-2")) == ("live", "rolled-back")
    issue = stack.jira.issues["FEAT-2"]
    assert issue["properties"]["system-reality"]["since"].startswith("2030-01-02T03:04")
    assert "drift-rolled-back" in issue["labels"] and len(issue["comments"]) == 1
    panel = stack.admin("GET", "/api/issues/FEAT-2/reality").json()
    assert "rollback" in [event["kind"] for event in panel["timeline"]]

    github.deploy(second, "production")
    assert _drift(stack, "FEAT-2") == "live"
    assert not [label for label in stack.jira.issues["FEAT-2"]["labels"] if label.startswith("drift-")]


def test_diverged_deployment_rolls_back_what_only_the_old_one_had(stack: Stack, github: Any) -> None:
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    second = github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    github.deploy(second, "production")
    repo = github.repo
    repo.branch("hotfix-from-coupons", first)  # a release branch cut before FEAT-2
    repo.checkout("hotfix-from-coupons")
    hotfix = repo.commit("Patch the coupon rounding", {"src/coupons.py": "ON = 2\n"})
    repo.checkout("main")
    github.deploy(hotfix, "production")
    assert _drift(stack, "FEAT-1") == "live"
    assert _drift(stack, "FEAT-2") == "rolled-back"


def test_compare_pages_past_250_commits(stack: Stack, github: Any) -> None:
    base = github.push("Start of the release train", {"a.txt": "a\n"})
    github.deploy(base, "production")
    repo = github.repo
    repo.commit("FEAT-4: Faster search", {"src/search.py": "FAST = 1\n"})  # the oldest of 300
    for n in range(299):
        repo.commit(f"Chore {n}")
    head = repo.rev_parse("main")
    github.push_branch()
    assert _drift(stack, "FEAT-4") == "pending-deploy"
    github.deploy(head, "production")
    # Only the paged compare (3 pages of 100 or 2 of 250) reaches the oldest commit.
    assert _drift(stack, "FEAT-4") == "live"
    assert any("/compare/" in path and "page=2" in path for _m, path in github.api_requests)


def test_ci_deployment_endpoint(stack: Stack) -> None:
    github, connection = _start(stack)
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    second = github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    wrong = RepositoryConnection(connection.id, connection.webhook_url, connection.webhook_secret, "srdeploy_nope")
    denied = stack.report_deployment(wrong, {"environment": "production", "sha": second})
    assert denied.status_code == 401
    assert stack.report_deployment(connection, {"environment": "production", "sha": "not-a-sha"}).status_code == 400
    answer = stack.report_deployment(connection, {"environment": "production", "sha": first,
                                                  "deployed_at": "2025-05-06T07:08:00Z"})
    assert answer.status_code in (200, 201, 202), answer.text
    assert (_drift(stack, "FEAT-1"), _drift(stack, "FEAT-2")) == ("live", "pending-deploy")
    assert stack.report_deployment(connection, {"environment": "production", "sha": second[:12]}).ok
    assert _drift(stack, "FEAT-2") == "live"
    assert stack.report_deployment(connection, {"environment": "production", "sha": first}).ok
    assert _drift(stack, "FEAT-2") == "rolled-back"


def test_custom_production_environment_names(stack: Stack) -> None:
    github, _connection = _start(stack, production_environments=["prod-eu"])
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    github.deploy(first, "production")  # not production for this connection
    second = github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    github.deploy(first, "prod-eu")
    assert _drift(stack, "FEAT-2") == "pending-deploy"
    github.deploy(second, "production")
    assert _drift(stack, "FEAT-2") == "pending-deploy", "'production' is not a production name here"
    github.deploy(second, "Prod-EU")
    assert _drift(stack, "FEAT-2") == "live"


def test_ci_rollback_with_the_same_body_as_an_earlier_deploy_is_a_rollback(stack: Stack) -> None:
    """A CI job that redeploys an earlier build sends, byte for byte, the call it sent then."""
    github, connection = _start(stack)
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    second = github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    deploy_first, deploy_second = ({"environment": "production", "sha": sha, "status": "success"}
                                   for sha in (first, second))
    assert stack.report_deployment(connection, deploy_first).status_code == 202
    assert stack.report_deployment(connection, deploy_second).status_code == 202
    assert (_drift(stack, "FEAT-1"), _drift(stack, "FEAT-2")) == ("live", "live")
    rollback = stack.report_deployment(connection, deploy_first)
    assert rollback.status_code == 202 and rollback.json()["status"] == "stored", rollback.text
    assert _drift(stack, "FEAT-2") == "rolled-back"
