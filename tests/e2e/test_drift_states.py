"""Each drift state a stakeholder can meet, reached through the real entry points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from connect_app.sandbox.story import MONDAY, ship_feature


def drift(stack, key: str) -> dict:
    return stack.jira.issues[key]["properties"]["system-reality"]


def test_partially_reverted_without_deployment_tracking(stack) -> None:
    stack.jira.add_issue("FEAT-20", "Gift cards", status="Done")
    stack.install()
    github = stack.start_github()
    stack.connect_repository()
    github.repo.commit("Initial", {"README.md": "shop\n"}, when=MONDAY)
    github.push_branch()
    first = github.push("FEAT-20: gift card model", {"cards/model.py": "A = 1\n"}, when=MONDAY)
    github.push("FEAT-20: gift card checkout", {"cards/checkout.py": "B = 1\n"}, when=MONDAY)
    github.repo.revert(first, when=MONDAY + timedelta(days=1))
    github.push_branch()
    stack.settle()
    value = drift(stack, "FEAT-20")
    assert value["drift"] == "partially-reverted"
    assert (value["changes"], value["reverted"]) == (2, 1)
    assert value["environment"] is None
    assert "drift-partially-reverted" in stack.jira.issues["FEAT-20"]["labels"]


def test_flag_switched_off_in_production(stack) -> None:
    stack.jira.add_issue("FEAT-30", "One-click checkout", status="Done")
    stack.install()
    stack.start_github()
    connection = stack.connect_repository()
    body = {"key": "feat-30-one-click", "name": "One-click checkout", "environment": "production",
            "on": False, "changed_at": "2026-11-25T18:00:00Z"}
    response = requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body,
                             headers={"Authorization": f"Bearer {connection.deploy_token}"}, timeout=30)
    assert response.status_code == 202
    stack.settle()
    value = drift(stack, "FEAT-30")
    assert value["drift"] == "flag-off"
    assert value["since"].startswith("2026-11-25T18:00")
    assert "drift-flag-off" in stack.jira.issues["FEAT-30"]["labels"]
    # Turned on again: live, label gone.
    body.update(on=True, changed_at="2026-11-26T09:00:00Z")
    requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body,
                  headers={"Authorization": f"Bearer {connection.deploy_token}"}, timeout=30)
    stack.settle()
    assert drift(stack, "FEAT-30")["drift"] == "live"
    assert not any(label.startswith("drift-") for label in stack.jira.issues["FEAT-30"]["labels"])


def test_hotfix_touching_the_feature_after_done(stack) -> None:
    ship_feature(stack)  # FEAT-304 is Done and live, changed checkout/retry.py
    github = stack.github
    later = datetime.now(UTC) + timedelta(minutes=5)  # after Jira moved the issue to Done
    github.push("hotfix: cap payment retries at 1", {"checkout/retry.py": "RETRIES = 1\n"}, when=later)
    github.deploy(github.repo.rev_parse("main"), "production", when=later)
    stack.settle()
    assert drift(stack, "FEAT-304")["drift"] == "hotfixed"
    assert "drift-hotfixed" in stack.jira.issues["FEAT-304"]["labels"]


def test_merged_but_not_deployed_is_pending_deploy_not_drift(stack) -> None:
    ship_feature(stack)
    stack.jira.add_issue("FEAT-40", "Apple Pay", status="In Progress")
    stack.github.push("FEAT-40: Apple Pay button", {"checkout/applepay.py": "ON = True\n"})
    stack.settle()
    assert drift(stack, "FEAT-40")["drift"] == "pending-deploy"
    assert not any(label.startswith("drift-") for label in stack.jira.issues["FEAT-40"]["labels"])
    assert stack.search("drift = pending-deploy") == ["FEAT-40"]


def test_key_of_a_project_jira_does_not_have_is_ignored(stack) -> None:
    stack.install()
    github = stack.start_github()
    stack.connect_repository()
    github.repo.commit("Initial", {"README.md": "x\n"}, when=MONDAY)
    github.push_branch()
    github.push("Bump ZOOKEEPER-3.5.0 and fix UTF-8 handling, see CVE-2021-44228", {"pom.xml": "<x/>\n"})
    stack.settle()
    assert [c for c in stack.jira.writes() if "/issue/" in c.path] == []


def test_flag_linked_on_the_panel_turns_the_issue_flag_off(stack) -> None:
    stack.jira.add_issue("FEAT-50", "Instalments", status="Done")
    stack.install()
    stack.start_github()
    connection = stack.connect_repository()
    body = {"key": "pay-later-rollout", "name": "Pay later", "environment": "production", "on": False,
            "changed_at": "2026-11-25T20:00:00Z"}
    requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body,
                  headers={"Authorization": f"Bearer {connection.deploy_token}"}, timeout=30)
    stack.settle()
    assert "system-reality" not in stack.jira.issues["FEAT-50"]["properties"]  # nothing names FEAT-50 yet

    linked = stack.admin("POST", "/api/issues/FEAT-50/flags", {"flag": "pay-later-rollout"})
    assert linked.status_code == 201 and linked.json()["flags"] == ["pay-later-rollout"]
    stack.settle()
    assert drift(stack, "FEAT-50")["drift"] == "flag-off"

    assert stack.admin("DELETE", "/api/issues/FEAT-50/flags/pay-later-rollout").status_code == 204
    stack.settle()
    assert drift(stack, "FEAT-50")["drift"] == "live"
    assert stack.admin("POST", "/api/issues/FEAT-50/flags", {"flag": "<script>"}).status_code == 400


def test_revert_of_a_commit_from_before_the_connection_is_resolved_through_the_api(stack) -> None:
    stack.jira.add_issue("FEAT-60", "Address autocomplete", status="Done")
    stack.install()
    github = stack.start_github()
    repo = github.repo
    repo.commit("Initial", {"README.md": "x\n"}, when=MONDAY)
    old = repo.commit("FEAT-60: address autocomplete", {"address.py": "AUTO = True\n"}, when=MONDAY)
    github.push_branch()  # nobody is listening yet: this push is lost to the app
    stack.connect_repository()
    revert = repo.revert(old)
    github.push_branch()
    stack.settle()
    value = drift(stack, "FEAT-60")
    assert value["drift"] == "reverted"
    assert revert[:7] in str(stack.jira.issues["FEAT-60"]["comments"][0]["body"])


def test_flag_switched_off_on_and_off_again_with_identical_bodies_ends_flag_off(stack) -> None:
    """A flag tool that sends no time: the second 'off' is byte for byte the first one."""
    stack.jira.add_issue("FEAT-31", "Saved carts", status="Done")
    stack.install()
    stack.start_github()
    connection = stack.connect_repository()
    headers = {"Authorization": f"Bearer {connection.deploy_token}"}
    off = {"key": "feat-31-saved-carts", "environment": "production", "on": False}
    for body, expected in ((off, "flag-off"), ({**off, "on": True}, "live"), (off, "flag-off")):
        response = requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body, headers=headers,
                                 timeout=30)
        assert response.status_code == 202, response.text
        stack.settle()
        assert drift(stack, "FEAT-31")["drift"] == expected
    assert "drift-flag-off" in stack.jira.issues["FEAT-31"]["labels"]


def test_flags_of_a_deleted_connection_no_longer_count(stack) -> None:
    stack.jira.add_issue("FEAT-70", "Wallet", status="Done")
    stack.install()
    stack.start_github()
    connection = stack.connect_repository()
    body = {"key": "feat-70-wallet", "name": "Wallet", "environment": "production", "on": False}
    requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body,
                  headers={"Authorization": f"Bearer {connection.deploy_token}"}, timeout=30)
    stack.settle()
    assert drift(stack, "FEAT-70")["drift"] == "flag-off"
    assert stack.admin("DELETE", f"/api/connections/{connection.id}").status_code == 204
    stack.settle()
    assert drift(stack, "FEAT-70")["drift"] == "live"


def test_a_flag_is_judged_by_its_own_connections_production_names(stack) -> None:
    stack.jira.add_issue("FEAT-71", "Loyalty points", status="Done")
    stack.install()
    stack.start_github()
    connection = stack.connect_repository(production_environments=["prod-eu"])
    for environment, expected in (("production", "live"), ("prod-eu", "flag-off")):
        body = {"key": "feat-71-loyalty", "name": "Loyalty", "environment": environment, "on": False}
        requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body,
                      headers={"Authorization": f"Bearer {connection.deploy_token}"}, timeout=30)
        stack.settle()
        prop = stack.jira.issues["FEAT-71"]["properties"].get("system-reality") or {"drift": "live"}
        assert prop["drift"] == expected, environment
