"""History backfill through the GitHub API: from the command line and the admin page, with
progress on the connection, the same result as live webhooks, and a pause (not a failure) when
the rate limit runs out."""

from __future__ import annotations

from typing import Any

import pytest

from connect_app import cli
from connect_app.jobs.handlers import Handlers
from connect_app.jobs.queue import Worker
from connect_app.sandbox.stack import Stack

KEYS = ("FEAT-1", "FEAT-2", "FEAT-3", "FEAT-4")


def _history(github: Any) -> None:
    """Reverted, live, re-landed and merged-PR work on main."""
    repo = github.repo
    repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    repo.revert(first)
    github.push_branch()
    third = github.push("FEAT-3: Pickup", {"src/pickup.py": "ON = 1\n"})
    repo.revert(third)
    github.push("FEAT-3: Pickup, again", {"src/pickup2.py": "ON = 1\n"})
    repo.branch("feat-4-badges", "main")
    repo.checkout("feat-4-badges")
    repo.commit("Badges", {"src/badges.py": "ON = 1\n"})
    number = github.open_pull_request("feat-4-badges", "FEAT-4: Trust badges")
    merge = github.merge_pull_request(number, "merge")
    repo.revert(merge, mainline=1)
    github.push_branch()
    for n in range(30):  # enough commits to page through the API
        github.push(f"Tidy {n}", {f"docs/{n}.md": f"{n}\n"}) if n % 10 == 0 else repo.commit(f"Tidy {n}")
    github.push_branch()


EXPECTED = {"FEAT-1": "reverted", "FEAT-2": "live", "FEAT-3": "live", "FEAT-4": "reverted"}


def _setup(stack: Stack, *, live_webhooks: bool) -> tuple[Any, str]:
    for key in KEYS:
        stack.jira.add_issue(key, f"Feature {key}", status="Done")
    stack.install()
    github = stack.start_github()
    connection = stack.connect_repository()
    hook = github.hooks[0]
    if not live_webhooks:
        github.remove_hook(hook.id)
    _history(github)
    return github, connection.id


def _states(stack: Stack) -> dict[str, str]:
    return {key: (stack.jira.issues[key]["properties"].get("system-reality") or {}).get("drift", "-")
            for key in KEYS}


def _progress(stack: Stack, connection_id: str) -> dict[str, Any]:
    response = stack.admin("GET", f"/api/connections/{connection_id}")
    assert response.status_code == 200
    return response.json()["backfill"] or {}


def test_backfill_from_the_command_line(stack: Stack, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    github, connection_id = _setup(stack, live_webhooks=False)
    stack.settle()
    assert set(_states(stack).values()) == {"-"}, "no webhook reached the app"
    for name, value in {
        "APP_BASE_URL": stack.app_url, "DATABASE_URL": stack.database_url,
        "INSTANCE_PATH": str(stack.settings.instance_path), "APP_SECRET_KEY": stack.settings.secret_key,
        "CONNECT_INSTALL_KEYS_URL": stack.jira.keys_url, "ALLOWED_JIRA_BASE_URLS": "http://127.0.0.1:*",
        "ALLOWED_GITHUB_API_URLS": "http://127.0.0.1:*",
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["backfill", "--connection", connection_id]) == 0
    first_parent = len(github.repo.log_first_parent("main"))
    assert f"read {first_parent} commits" in capsys.readouterr().out
    progress = _progress(stack, connection_id)
    assert progress["state"] == "done" and progress["recorded"] == progress["total"] == first_parent
    stack.settle()
    assert _states(stack) == EXPECTED
    assert cli.main(["backfill", "--connection", "c-no-such-connection"]) == 2


def test_backfill_from_the_admin_page(stack: Stack) -> None:
    _github, connection_id = _setup(stack, live_webhooks=False)
    response = stack.admin("POST", f"/api/connections/{connection_id}/backfill", {"since": None})
    assert response.status_code == 202
    assert response.json()["backfill"]["state"] == "queued"
    assert stack.admin("POST", f"/api/connections/{connection_id}/backfill", {"since": "yesterday"}).status_code == 400
    stack.settle()
    assert _progress(stack, connection_id)["state"] == "done"
    assert _states(stack) == EXPECTED
    assert "drift-reverted" in stack.jira.issues["FEAT-1"]["labels"]


def test_backfill_after_live_webhooks_changes_nothing(stack: Stack) -> None:
    _github, connection_id = _setup(stack, live_webhooks=True)
    stack.settle()
    assert _states(stack) == EXPECTED
    before = {key: dict(stack.jira.issues[key]["properties"]["system-reality"]) for key in KEYS}
    comments = {key: len(stack.jira.issues[key]["comments"]) for key in KEYS}
    stack.jira.reset_log()
    assert stack.admin("POST", f"/api/connections/{connection_id}/backfill", {}).status_code == 202
    stack.settle()
    assert _progress(stack, connection_id)["state"] == "done"
    assert {key: stack.jira.issues[key]["properties"]["system-reality"] for key in KEYS} == before
    assert {key: len(stack.jira.issues[key]["comments"]) for key in KEYS} == comments
    assert stack.jira.writes() == [], "a backfill that learns nothing new makes no Jira writes"


def test_backfill_pauses_on_rate_limit_and_resumes(stack: Stack) -> None:
    github, connection_id = _setup(stack, live_webhooks=False)
    assert stack.admin("POST", f"/api/connections/{connection_id}/backfill", {}).status_code == 202
    github.exhaust_rate_limit(900)
    pauses: list[float] = []
    seen: list[dict[str, Any]] = []

    def sleep(seconds: float) -> None:
        # Instead of waiting a quarter of an hour: note the pause, then let GitHub's window reset.
        pauses.append(seconds)
        seen.append(_progress(stack, connection_id))
        github.rate_limit.remaining = github.rate_limit.limit

    assert stack.app is not None and stack.svc is not None
    with stack.app.app_context():
        Worker(stack.svc.sessions, Handlers(stack.svc, sleep=sleep).mapping()).run_until_idle()
    assert pauses and 800 <= pauses[0] <= 901, pauses
    # While paused, the admin page says so, and why.
    assert seen[0]["state"] == "waiting" and "rate limit" in seen[0]["note"]
    assert _progress(stack, connection_id)["state"] == "done"
    stack.settle()
    assert _states(stack) == EXPECTED
