"""Write-back to Jira under each policy, restore, a late move to Done, an issue that changed key,
and a crash between Jira's answer and our commit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from connect_app.sandbox.story import MONDAY, REVERT_DEPLOYED_AT, revert_and_deploy, ship_feature
from connect_app.store.models import Job, utcnow

pytestmark = pytest.mark.postgres  # the whole story also runs against PostgreSQL in CI


def comments(stack, key: str) -> list[dict]:
    return stack.jira.issues[key]["comments"]


def test_observe_policy_writes_the_property_only(stack) -> None:
    story = ship_feature(stack, settings={"projects": {"FEAT": {"policy": "observe"}}})
    revert_and_deploy(stack, story)
    issue = stack.jira.issues["FEAT-304"]
    assert issue["properties"]["system-reality"]["drift"] == "reverted"
    assert not any(label.startswith("drift-") for label in issue["labels"])
    assert comments(stack, "FEAT-304") == []
    assert issue["status"] == "Done"


def test_reopen_policy_moves_the_issue_out_of_done_with_one_comment(stack) -> None:
    story = ship_feature(stack, settings={"projects": {"FEAT": {"policy": "reopen", "reopen_to": "Reopened"}}})
    revert_and_deploy(stack, story)
    issue = stack.jira.issues["FEAT-304"]
    assert issue["status"] == "Reopened"
    assert "drift-reverted" in issue["labels"]
    assert len(comments(stack, "FEAT-304")) == 1
    transitions = [c for c in stack.jira.requests_log if c.method == "POST" and c.path.endswith("/transitions")]
    assert len(transitions) == 1
    # The comment rode on the transition; no separate comment POST was needed.
    assert not [c for c in stack.jira.requests_log if c.method == "POST" and c.path.endswith("/comment")]


def test_restore_after_reapply_posts_one_restore_comment_and_drops_the_label(stack) -> None:
    story = ship_feature(stack)
    revert = revert_and_deploy(stack, story)
    github = stack.github
    reapply = github.repo.revert(revert)
    github.push_branch()
    github.deploy(reapply, "production")
    stack.settle()
    issue = stack.jira.issues["FEAT-304"]
    assert issue["properties"]["system-reality"]["drift"] == "live"
    assert not any(label.startswith("drift-") for label in issue["labels"])
    bodies = [str(c["body"]) for c in comments(stack, "FEAT-304")]
    assert len(bodies) == 2
    assert "Live again" in bodies[1]
    assert stack.search("drift = reverted") == []


def test_issue_moved_to_done_while_in_drift_gets_its_comment_then(stack) -> None:
    story = ship_feature(stack)
    stack.jira.set_status("FEAT-304", "In Progress")
    revert_and_deploy(stack, story)
    assert stack.jira.issues["FEAT-304"]["properties"]["system-reality"]["drift"] == "reverted"
    assert comments(stack, "FEAT-304") == []  # not Done: Jira does not claim it is live

    stack.jira.set_status("FEAT-304", "Done")
    response = stack.jira.send_webhook(stack.app_url, "jira:issue_updated", "FEAT-304")
    assert response.status_code == 202
    stack.settle()
    assert len(comments(stack, "FEAT-304")) == 1
    # a second, unrelated update owes nothing more
    stack.jira.send_webhook(stack.app_url, "jira:issue_updated", "FEAT-304")
    stack.settle()
    assert len(comments(stack, "FEAT-304")) == 1


def test_issue_that_changed_key_keeps_its_history(stack) -> None:
    story = ship_feature(stack)
    stack.jira.add_project("PAY", "Payments")
    stack.jira.move_issue("FEAT-304", "PAY-1")
    stack.jira.send_webhook(stack.app_url, "jira:issue_updated", "PAY-1",
                            changelog=[{"field": "Key", "fieldtype": "jira", "from": None,
                                        "fromString": "FEAT-304", "to": None, "toString": "PAY-1"}])
    stack.settle()
    revert_and_deploy(stack, story)
    issue = stack.jira.issues["PAY-1"]
    assert issue["properties"]["system-reality"]["drift"] == "reverted"
    assert len(comments(stack, "PAY-1")) == 1


def test_crash_after_the_comment_post_never_double_posts(stack, monkeypatch: pytest.MonkeyPatch) -> None:
    import connect_app.sync.apply as sync

    story = ship_feature(stack)
    real_settle = sync._settle_intent
    crashes = {"left": 1}

    def crash_once(*args, **kwargs):
        if crashes["left"]:
            crashes["left"] -= 1
            raise RuntimeError("process died after Jira answered, before our commit")
        return real_settle(*args, **kwargs)

    monkeypatch.setattr(sync, "_settle_intent", crash_once)
    revert_and_deploy(stack, story)
    assert len(comments(stack, "FEAT-304")) == 1  # posted, but we never recorded it
    # Recovery: the failed sync job is retried (we skip its backoff wait).
    with stack.svc.sessions() as session:
        session.execute(update(Job).where(Job.status == "queued").values(run_after=utcnow()))
        session.commit()
        assert session.scalar(select(Job.id).where(Job.kind == "sync_issue", Job.status == "queued"))
    stack.settle()
    assert len(comments(stack, "FEAT-304")) == 1
    with stack.svc.sessions() as session:
        assert session.scalar(select(Job.id).where(Job.status.in_(("queued", "parked")))) is None


def test_jql_finds_exactly_the_drifted_issues(stack) -> None:
    story = ship_feature(stack)
    stack.jira.add_issue("FEAT-310", "Saved cards", status="Done")
    github = stack.github
    github.push("FEAT-310: saved cards", {"checkout/cards.py": "CARDS = True\n"}, when=MONDAY)
    github.deploy(github.repo.rev_parse("main"), "production", when=MONDAY)
    stack.settle()
    revert_and_deploy(stack, story)
    # FEAT-304's epic FEAT-300 carries its roll-up in the same property (INTERFACES section 3).
    assert sorted(stack.search("drift = reverted")) == ["FEAT-300", "FEAT-304"]
    assert stack.search("drift = reverted AND issuetype != Epic") == ["FEAT-304"]
    assert sorted(stack.search("drift = live")) == ["FEAT-310"]
    assert sorted(stack.search("drift != live")) == ["FEAT-300", "FEAT-304"]
    since = REVERT_DEPLOYED_AT.strftime("%Y-%m-%d")
    assert sorted(stack.search(f'driftSince >= "{since}"')) == ["FEAT-300", "FEAT-304"]


def test_jira_rate_limit_is_waited_out_and_shown_in_the_audit_log(stack) -> None:
    story = ship_feature(stack)
    stack.jira.fail_next(429, retry_after=1, path_contains="/comment")
    revert_and_deploy(stack, story)
    assert len(comments(stack, "FEAT-304")) == 1
    audit = stack.admin("GET", "/api/audit").json()
    waited = [entry for entry in audit if entry["note"] and "wait" in entry["note"]]
    assert waited and waited[0]["method"] == "POST" and waited[0]["issue"] == "FEAT-304"
    assert waited[0]["status"] == 201


def test_a_flag_switched_off_twice_is_two_drift_changes_each_commented_and_restored(stack) -> None:
    import requests

    stack.jira.add_issue("FEAT-30", "One-click checkout", status="Done")
    stack.install()
    stack.start_github()
    connection = stack.connect_repository()

    def flag(on: bool, at: str) -> None:
        body = {"key": "feat-30-one-click", "name": "One-click", "environment": "production", "on": on,
                "changed_at": at}
        response = requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body, timeout=30,
                                 headers={"Authorization": f"Bearer {connection.deploy_token}",
                                          "X-Delivery-Id": f"flag-{at}"})
        assert response.status_code == 202
        stack.settle()

    flag(False, "2026-11-25T18:00:00Z")
    flag(True, "2026-11-25T19:00:00Z")
    flag(False, "2026-11-25T20:00:00Z")
    flag(True, "2026-11-25T21:00:00Z")
    bodies = [str(c["body"]) for c in comments(stack, "FEAT-30")]
    assert len(bodies) == 4
    assert ["Live again" in body for body in bodies] == [False, True, False, True]


def test_a_flag_that_stays_off_is_one_drift_change_whatever_else_is_sent(stack) -> None:
    import requests

    stack.jira.add_issue("FEAT-30", "One-click checkout", status="Done")
    stack.install()
    stack.start_github()
    connection = stack.connect_repository()

    def flag(on: bool, at: str, description: str = "") -> None:
        body = {"key": "feat-30-one-click", "name": "One-click", "environment": "production", "on": on,
                "changed_at": at, "description": description}
        response = requests.post(f"{stack.app_url}/flags/generic/{connection.id}", json=body, timeout=30,
                                 headers={"Authorization": f"Bearer {connection.deploy_token}",
                                          "X-Delivery-Id": f"flag-{at}-{on}"})
        assert response.status_code == 202
        stack.settle()

    def reality() -> dict:
        return stack.jira.issues["FEAT-30"]["properties"]["system-reality"]

    flag(False, "2026-11-25T18:00:00Z")
    assert len(comments(stack, "FEAT-30")) == 1
    since = reality()["since"]
    assert since.startswith("2026-11-25T18:00:00")
    # LaunchDarkly re-sends a flag on every edit: still off, only its description changed.
    flag(False, "2026-11-25T19:00:00Z", description="Checkout in one click")
    assert len(comments(stack, "FEAT-30")) == 1
    assert reality()["drift"] == "flag-off"
    assert reality()["since"] == since
    # A switch-on from before the latest event arrives late: the flag is still off.
    flag(True, "2026-11-25T18:30:00Z")
    assert reality()["drift"] == "flag-off"
    assert len(comments(stack, "FEAT-30")) == 1


def test_when_jira_does_not_name_the_apps_account_recovery_waits_instead_of_guessing(
        stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a crash the app looks for its own comment; if Jira will not say which account is the
    app's, posting again could duplicate the comment, so the job fails and is retried later."""
    import connect_app.sync.apply as sync
    from connect_app.connect.jira import JiraClient, JiraError

    story = ship_feature(stack)
    crashed = {"once": True}
    real_settle = sync._settle_intent

    def crash_once(*args, **kwargs):
        if crashed.pop("once", False):
            raise RuntimeError("died after Jira answered")
        return real_settle(*args, **kwargs)

    monkeypatch.setattr(sync, "_settle_intent", crash_once)
    revert_and_deploy(stack, story)
    sync._app_accounts.clear()
    monkeypatch.setattr(JiraClient, "myself", lambda self: {})
    with stack.svc.sessions() as session:
        tenant_id = session.scalar(select(Job.tenant_id).where(Job.kind == "sync_issue"))
    with pytest.raises(JiraError):
        sync.sync_issue(stack.svc, tenant_id, "FEAT-304")
    assert len(comments(stack, "FEAT-304")) == 1


def _update_status(stack, key: str, status: str) -> None:
    stack.jira.set_status(key, status)
    changelog = [{"field": "status", "fieldtype": "jira", "from": None, "fromString": None,
                  "to": None, "toString": status}]
    assert stack.jira.send_webhook(stack.app_url, "jira:issue_updated", key, changelog=changelog).status_code == 202
    stack.settle()


def _hotfix(stack, path: str = "checkout/retry.py") -> None:
    github = stack.github
    later = datetime.now(UTC) + timedelta(minutes=5)  # after Jira moved the issue to Done
    github.push("hotfix: cap payment retries at 1", {path: "RETRIES = 1\n"}, when=later)
    github.deploy(github.repo.rev_parse("main"), "production", when=later)
    stack.settle()


def test_reopening_a_hotfixed_issue_recomputes_it_at_once(stack) -> None:
    """A hotfix counts against a Done issue; once the team reopens it, the hotfix is part of the
    work again, and the label goes without waiting for another push."""
    ship_feature(stack)
    _hotfix(stack)
    assert stack.jira.issues["FEAT-304"]["properties"]["system-reality"]["drift"] == "hotfixed"

    _update_status(stack, "FEAT-304", "In Progress")
    issue = stack.jira.issues["FEAT-304"]
    assert issue["properties"]["system-reality"]["drift"] == "live"
    assert not any(label.startswith("drift-") for label in issue["labels"])
    assert stack.search("drift = hotfixed") == []


def test_an_issue_moved_to_done_while_live_counts_a_later_hotfix(stack) -> None:
    """Done is learned when Jira says the issue moved there, not only when its drift changes."""
    ship_feature(stack)
    stack.jira.add_issue("FEAT-40", "Apple Pay", status="In Progress")
    github = stack.github
    github.push("FEAT-40: Apple Pay button", {"checkout/applepay.py": "ON = True\n"})
    github.deploy(github.repo.rev_parse("main"), "production")
    stack.settle()
    assert stack.jira.issues["FEAT-40"]["properties"]["system-reality"]["drift"] == "live"

    _update_status(stack, "FEAT-40", "Done")
    _hotfix(stack, "checkout/applepay.py")
    issue = stack.jira.issues["FEAT-40"]
    assert issue["properties"]["system-reality"]["drift"] == "hotfixed"
    assert "drift-hotfixed" in issue["labels"]
    assert len(comments(stack, "FEAT-40")) == 1


def test_an_issue_the_app_reopened_for_a_hotfix_keeps_that_drift_until_it_is_done_again(stack) -> None:
    """Jira echoes the app's own reopening as an update; the hotfix that was its reason stays
    until the team moves the issue to Done again, after the hotfix."""
    ship_feature(stack, settings={"projects": {"FEAT": {"policy": "reopen", "reopen_to": "Reopened"}}})
    _hotfix(stack)
    assert stack.jira.issues["FEAT-304"]["status"] == "Reopened"
    stack.jira.send_webhook(stack.app_url, "jira:issue_updated", "FEAT-304")  # the app's own transition
    stack.settle()
    issue = stack.jira.issues["FEAT-304"]
    assert issue["properties"]["system-reality"]["drift"] == "hotfixed"
    assert "drift-hotfixed" in issue["labels"]

    _update_status(stack, "FEAT-304", "Done")
    issue = stack.jira.issues["FEAT-304"]
    assert issue["properties"]["system-reality"]["drift"] == "live"
    assert not any(label.startswith("drift-") for label in issue["labels"])
    assert issue["status"] == "Done", "not reopened a second time for the same hotfix"
