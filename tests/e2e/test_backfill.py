"""History backfill through the GitHub API: from the command line and the admin page, with
progress on the connection, the same result as live webhooks, and a pause (not a failure) when
the rate limit runs out."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select, update

from connect_app import cli
from connect_app.sandbox.stack import Stack
from connect_app.store.models import Job, utcnow

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


def _backfill_job(stack: Stack) -> Job:
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        job = session.scalars(select(Job).where(Job.kind == "backfill").order_by(Job.id.desc())).first()
        assert job is not None
        return job


def _make_due(stack: Stack, job_id: int) -> None:
    assert stack.svc is not None
    with stack.svc.sessions() as session, session.begin():
        session.execute(update(Job).where(Job.id == job_id).values(run_after=utcnow()))


def test_backfill_pauses_on_rate_limit_and_resumes(stack: Stack) -> None:
    """No worker sleeps through a rate limit: the job is handed back until GitHub's reset, the
    admin page says why, and the backfill then finishes."""
    github, connection_id = _setup(stack, live_webhooks=False)
    assert stack.admin("POST", f"/api/connections/{connection_id}/backfill", {}).status_code == 202
    github.exhaust_rate_limit(900)
    started = time.time()
    stack.settle()
    progress = _progress(stack, connection_id)
    assert progress["state"] == "waiting" and "rate limit" in progress["note"], progress
    job = _backfill_job(stack)
    assert job.status == "queued" and job.attempts == 0, (job.status, job.attempts, job.last_error)
    assert 800 <= (job.run_after.timestamp() - started) <= 901, job.run_after
    github.rate_limit.remaining = github.rate_limit.limit  # GitHub's window resets
    _make_due(stack, job.id)
    stack.settle()
    assert _progress(stack, connection_id)["state"] == "done"
    assert _states(stack) == EXPECTED


def test_a_rate_limit_mid_listing_resumes_where_it_stopped(stack: Stack) -> None:
    """After the pause the listing goes on at the page it stopped at: no page is read twice
    except the one GitHub refused, and the backfill runs in slices that each end quickly."""
    github, connection_id = _setup(stack, live_webhooks=False)
    for n in range(260):  # three more pages of 100
        github.repo.commit(f"Chore {n}")
    github.push_branch()
    first_parent = len(github.repo.log_first_parent("main"))
    github.api_requests.clear()
    assert stack.admin("POST", f"/api/connections/{connection_id}/backfill", {}).status_code == 202
    github.rate_limit.remaining = 3  # the repository and two pages (and no more) are served
    stack.settle()
    progress = _progress(stack, connection_id)
    assert progress["state"] == "waiting" and progress["read"] == 200, progress
    github.rate_limit.remaining = github.rate_limit.limit
    _make_due(stack, _backfill_job(stack).id)
    stack.settle()
    progress = _progress(stack, connection_id)
    assert progress["state"] == "done" and progress["recorded"] == first_parent, progress
    listing = [path for _method, path in github.api_requests if path.startswith("/repos/acme/shop/commits?")]
    refused = 1
    assert len(listing) == len(set(listing)) + refused, listing
    assert len(set(listing)) == -(-progress["read"] // 100), listing
    stack.settle()
    assert _states(stack) == EXPECTED
