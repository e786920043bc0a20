"""What the GitLab and Bitbucket stories check alike: a connection saved as the admin page saves
it with the host's webhook pointed at it, the FEAT-304 outcome in Jira, a host's resent hooks
changing nothing, and history the push webhook leaves out read through the host's API (a
backfill, a push longer than the webhook lists)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.hosted import SimulatedHost
from connect_app.sandbox.stack import STAKEHOLDERS, RepositoryConnection, Stack


def connect_host(stack: Stack, host: SimulatedHost, provider: str,
                 fields: dict[str, Any]) -> tuple[RepositoryConnection, dict[str, Any]]:
    """Save the connection through the admin API and add the webhook it names on the host;
    returns the connection and the admin API's whole answer (the host's webhook settings)."""
    response = stack.admin("POST", "/api/connections", {"provider": provider, **fields})
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["webhook_url"].endswith(f"/{provider}/webhook/{data['id']}")
    host.add_hook(data["webhook_url"], data["webhook_secret"])
    return RepositoryConnection(data["id"], data["webhook_url"], data["webhook_secret"], data["deploy_token"]), data


def mentions(node: Any) -> Iterator[dict[str, Any]]:
    """The mention nodes of an Atlassian Document Format body."""
    if isinstance(node, dict):
        if node.get("type") == "mention":
            yield node
        for child in node.get("content", []) or []:
            yield from mentions(child)


def assert_feat304_reverted_in_production(stack: Stack, revert: str) -> None:
    """FEAT-304 as the GitHub story leaves it: reverted in production since Wednesday 23:31, the
    label, and one comment naming the revert and mentioning every stakeholder; its epic rolls it up."""
    issue = stack.jira.issues["FEAT-304"]
    prop = issue["properties"]["system-reality"]
    assert (prop["drift"], prop["environment"]) == ("reverted", "production")
    assert prop["since"].startswith("2026-11-25T23:31")
    assert prop["changes"] >= 1 and prop["reverted"] == prop["changes"]
    assert "drift-reverted" in issue["labels"]
    assert len(issue["comments"]) == 1
    assert revert[:7] in str(issue["comments"][0]["body"])
    mentioned = {node["attrs"]["id"] for node in mentions(issue["comments"][0]["body"])}
    assert {account for account, _name in STAKEHOLDERS.values()} <= mentioned


def assert_resent_hooks_change_nothing(stack: Stack, host: SimulatedHost) -> None:
    """The host resends every hook it sent: Jira gets no write, FEAT-304 keeps its one comment."""
    stack.jira.reset_log()
    for guid in dict.fromkeys(delivery.guid for delivery in list(host.deliveries)):
        host.redeliver(guid)
    stack.settle()
    assert stack.jira.writes() == []
    assert len(stack.jira.issues["FEAT-304"]["comments"]) == 1


def assert_backfill_finds_the_revert(stack: Stack, repo: GitRepo,
                                     connect: Callable[[], RepositoryConnection]) -> None:
    """A history written before the repository is connected (FEAT-5 committed, then reverted)
    is read through the host's API by a backfill, and FEAT-5 ends reverted."""
    stack.jira.add_issue("FEAT-5", "Store credit", status="Done")
    stack.install()
    repo.commit("Initial", {"README.md": "shop\n"})
    change = repo.commit("FEAT-5: store credit", {"credit.py": "CREDIT = True\n"})
    repo.revert(change)
    connection = connect()
    response = stack.admin("POST", f"/api/connections/{connection.id}/backfill", {})
    assert response.status_code == 202, response.text
    stack.settle()
    state = stack.admin("GET", f"/api/connections/{connection.id}").json()["backfill"]
    assert (state["state"], state["total"]) == ("done", 3)
    prop = stack.jira.issues["FEAT-5"]["properties"]["system-reality"]
    assert (prop["drift"], prop["changes"], prop["reverted"]) == ("reverted", 1, 1)


def assert_a_long_push_is_read_in_full(stack: Stack, host: SimulatedHost, connect: Callable[[], object],
                                       listed: int) -> None:
    """A push of more commits than the host's webhook lists (`listed`): FEAT-11, the oldest, is
    read through the API and counted once."""
    stack.jira.add_issue("FEAT-11", "Wallets", status="Done")
    stack.install()
    connect()
    host.repo.commit("Initial", {"README.md": "shop\n"})
    host.push_branch()
    host.repo.commit("FEAT-11: wallets", {"wallet.py": "W = 1\n"})
    for n in range(listed + 1):
        host.repo.commit(f"Tidy {n}", {"tidy.txt": f"{n}\n"})
    host.push_branch()
    stack.settle()
    prop = stack.jira.issues["FEAT-11"]["properties"]["system-reality"]
    assert (prop["drift"], prop["changes"]) == ("live", 1)
