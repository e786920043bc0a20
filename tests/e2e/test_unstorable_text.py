"""Text no database can store (NUL, lone surrogates), through every way text enters the app.

PostgreSQL refuses NUL in text, and a lone surrogate (`"\\ud800"` in JSON) cannot be encoded on
any database: each used to fail the worker's insert (the delivery stuck at `stored`) or the
request (a 500). Hosts' payloads keep their facts with U+FFFD in place of the character; senders
who can fix their own text are refused with a 400 that names the field. Every test also runs on
SQLite; the `postgres` mark is where the failure was first seen.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import select

from connect_app.sandbox.github.gitrepo import GitRepo
from connect_app.sandbox.gitlab.simulator import GitLabSimulator
from connect_app.sandbox.stack import RepositoryConnection, Stack
from connect_app.store.models import CommitFact, Delivery, FlagFact, Job, PullRequestFact, ReleaseFact
from connect_app.store.text import REPLACEMENT

from .test_gitlab_story import TOKEN as GITLAB_TOKEN
from .test_gitlab_story import _connect as connect_gitlab
from .test_security_install import TIMEOUT, assert_json_refusal, db_snapshot

NUL, LONE = "\x00", "\ud800"
SHA = "c0ffee" + "0" * 34

pytestmark = pytest.mark.postgres


@pytest.fixture
def connection(stack: Stack) -> RepositoryConnection:
    stack.install()
    stack.start_github()
    # No API token: the worker records exactly what the payload says.
    return stack.connect_repository(token=None)


@pytest.fixture
def gitlab(stack: Stack) -> Iterator[GitLabSimulator]:
    simulator = GitLabSimulator(GitRepo(stack.workdir / "gitlab-repo"), token=GITLAB_TOKEN).start()
    yield simulator
    simulator.stop()


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()  # escapes NUL as \u0000 and a lone surrogate as \ud800


def _github(connection: RepositoryConnection, event: str, body: Any) -> requests.Response:
    raw = _json(body)
    signature = "sha256=" + hmac.new(connection.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
    return requests.post(connection.webhook_url, data=raw, timeout=TIMEOUT, headers={
        "Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-Hub-Signature-256": signature})


def _flag(stack: Stack, provider: str, connection: RepositoryConnection, body: Any,
          headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{stack.app_url}/flags/{provider}/{connection.id}", data=_json(body), timeout=TIMEOUT,
                         headers={"Content-Type": "application/json", **headers})


def _deliveries(stack: Stack) -> list[tuple[str, str | None]]:
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        return [(row.status, row.error) for row in session.scalars(select(Delivery).order_by(Delivery.id))]


def _all_processed(stack: Stack) -> None:
    stack.settle()
    assert [status for status, _ in _deliveries(stack)] == ["processed"] * len(_deliveries(stack)), \
        _deliveries(stack)


def _one(stack: Stack, model: Any) -> Any:
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        return session.scalars(select(model)).one()


def _push(message: str, author: str) -> dict[str, Any]:
    return {"ref": "refs/heads/main", "before": "1" * 40, "after": SHA,
            "repository": {"full_name": "acme/shop", "default_branch": "main"},
            "commits": [{"id": SHA, "message": message, "timestamp": "2026-11-30T10:00:00Z",
                         "author": {"name": author}, "url": f"https://github.com/acme/shop/commit/{SHA}"}]}


# ---- hosts: the fact is kept, the character replaced --------------------------------------------


def test_github_commit_with_nul_and_lone_surrogate_is_kept(stack: Stack, connection: RepositoryConnection) -> None:
    message = f'Revert "FEAT-304 payment retries"{NUL}\n\nThis reverts commit {"a" * 40}.'
    assert _github(connection, "push", _push(message, f"Ada {LONE}Lovelace")).status_code == 202
    _all_processed(stack)
    commit = _one(stack, CommitFact)
    assert commit.message == message.replace(NUL, REPLACEMENT)
    assert commit.author == f"Ada {REPLACEMENT}Lovelace"


def test_gitlab_commit_with_nul_is_kept(stack: Stack, gitlab: GitLabSimulator) -> None:
    stack.install()
    connection = connect_gitlab(stack, gitlab, token=None)
    push = _push(f"FEAT-304 retries{NUL}", f"Grace{LONE}")
    body = {**push, "project": {"path_with_namespace": gitlab.project.path, "default_branch": "main"}}
    answer = requests.post(connection.webhook_url, data=_json(body), timeout=TIMEOUT, headers={
        "Content-Type": "application/json", "X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": str(uuid.uuid4()),
        "X-Gitlab-Token": connection.webhook_secret})
    assert answer.status_code == 202, answer.text
    _all_processed(stack)
    commit = _one(stack, CommitFact)
    assert (commit.message, commit.author) == (f"FEAT-304 retries{REPLACEMENT}", f"Grace{REPLACEMENT}")


def test_github_pull_request_and_release_text_is_kept(stack: Stack, connection: RepositoryConnection) -> None:
    pull = {"action": "closed", "number": 7, "pull_request": {
        "number": 7, "title": f"FEAT-304 retries{NUL}", "body": f"why{LONE}", "merged": True,
        "merged_at": "2026-11-30T10:00:00Z", "merge_commit_sha": SHA, "html_url": "https://github.com/acme/shop/pull/7",
        "head": {"ref": f"feat/FEAT-304{NUL}"}, "base": {"ref": "main"}}}
    release = {"action": "published", "release": {
        "id": 9, "tag_name": "v1.2.0", "name": f"Spring{NUL}{LONE}", "draft": False, "target_commitish": SHA,
        "published_at": "2026-11-30T11:00:00Z", "html_url": "https://github.com/acme/shop/releases/v1.2.0"}}
    assert _github(connection, "pull_request", pull).status_code == 202
    assert _github(connection, "release", release).status_code == 202
    _all_processed(stack)
    pr = _one(stack, PullRequestFact)
    assert (pr.title, pr.body, pr.head_ref) == (f"FEAT-304 retries{REPLACEMENT}", f"why{REPLACEMENT}",
                                                f"feat/FEAT-304{REPLACEMENT}")
    assert _one(stack, ReleaseFact).name == f"Spring{REPLACEMENT * 2}"


def test_flag_services_text_is_kept(stack: Stack, connection: RepositoryConnection) -> None:
    launchdarkly = {"kind": "flag", "_id": "ld-1", "date": 1764500000000, "currentVersion": {
        "key": "new-checkout", "name": f"New{NUL} checkout", "description": f"FEAT-304{LONE}",
        "tags": [f"team{NUL}"], "environments": {"production": {"on": False}}}}
    secret = connection.webhook_secret
    signature = hmac.new(secret.encode(), _json(launchdarkly), hashlib.sha256).hexdigest()
    assert _flag(stack, "launchdarkly", connection, launchdarkly, {"X-LD-Signature": signature}).status_code == 202
    _all_processed(stack)
    flag = _one(stack, FlagFact)
    assert (flag.name, flag.description, flag.tags) == (f"New{REPLACEMENT} checkout", f"FEAT-304{REPLACEMENT}",
                                                        [f"team{REPLACEMENT}"])


def test_jira_webhook_with_nul_in_a_renamed_key_is_accepted(stack: Stack) -> None:
    stack.install()
    stack.jira.add_issue("FEAT-304", "Payment retry logic v2")
    answers = stack.jira.send_webhook(stack.app_url, "jira:issue_updated", "FEAT-304", changelog=[
        {"field": "Key", "fromString": f"FEAT-1{NUL}", "toString": f"FEAT-304{LONE}"}])
    for answer in answers if isinstance(answers, list) else [answers]:
        assert answer.status_code == 202, answer.text


def test_backfill_of_a_commit_with_nul_in_its_message_keeps_it(stack: Stack) -> None:
    """A hostile (or merely odd) API answer: git itself lets a commit object carry a NUL."""
    stack.install()
    stack.start_github()
    repo = stack.repo
    assert repo is not None
    parent = repo.commit("FEAT-304 payment retries")
    raw = (f"tree {repo.commit_info(parent).tree}\nparent {parent}\n"
           "author Ada <ada@example.com> 1764500000 +0000\ncommitter Ada <ada@example.com> 1764500000 +0000\n"
           f"\nFEAT-304 fix{NUL} retries\n").encode()
    made = subprocess.run(["git", "hash-object", "-t", "commit", "-w", "--stdin", "--literally"],
                          cwd=repo.path, input=raw, capture_output=True, check=True)
    repo.reset_branch("main", made.stdout.decode().strip())
    connection = stack.connect_repository()
    answer = stack.admin("POST", f"/api/connections/{connection.id}/backfill", {"since": "2020-01-01"})
    assert answer.status_code == 202, answer.text
    stack.settle()
    backfill = stack.admin("GET", "/api/connections").json()[0]["backfill"]
    assert backfill["state"] == "done", backfill
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        messages = [message.strip() for message in session.scalars(select(CommitFact.message))]
    assert f"FEAT-304 fix{REPLACEMENT} retries" in messages, messages


# ---- senders who can fix their text: refused, with the field named ------------------------------


@pytest.mark.parametrize("body, field", [
    ({"environment": f"production{NUL}", "sha": "a" * 40, "status": "success"}, "environment"),
    ({"environment": "production", "sha": "a" * 40, "status": "success", "url": f"https://ci/{LONE}"}, "url"),
    ({"environment": "production", "sha": "a" * 40, "status": "success", f"note{NUL}": 1}, "a key"),
])
def test_ci_deployment_with_unstorable_text_is_refused(stack: Stack, connection: RepositoryConnection,
                                                        body: dict[str, Any], field: str) -> None:
    before = db_snapshot(stack)
    answer = requests.post(f"{stack.app_url}/api/deployments/{connection.id}", data=_json(body), timeout=TIMEOUT,
                           headers={"Content-Type": "application/json",
                                    "Authorization": f"Bearer {connection.deploy_token}"})
    assert field in assert_json_refusal(answer, 400)["detail"]
    assert db_snapshot(stack) == before


def test_generic_flag_event_with_unstorable_text_is_refused(stack: Stack, connection: RepositoryConnection) -> None:
    before = db_snapshot(stack)
    bearer = {"Authorization": f"Bearer {connection.deploy_token}"}
    answer = _flag(stack, "generic", connection, {"key": "new-checkout", "on": False, "tags": ["ok", f"x{NUL}"]},
                   bearer)
    assert "tags[1]" in assert_json_refusal(answer, 400)["detail"]
    assert db_snapshot(stack) == before


def test_admin_and_token_text_with_nul_is_refused(stack: Stack) -> None:
    stack.install()
    before = db_snapshot(stack, ignore=("audit_log",))
    settings = {"projects": {"FEAT": {"policy": "comment", "reopen_to": f"Reopen{NUL}"}}}
    assert "projects.FEAT.reopen_to" in assert_json_refusal(stack.admin("PUT", "/api/settings", settings),
                                                            400)["detail"]
    assert_json_refusal(stack.admin("POST", "/api/mcp/tokens", {"label": f"Laptop{LONE}"}), 400)
    assert_json_refusal(stack.admin("POST", "/api/connections", {
        "provider": "github", "repository": f"acme/shop{NUL}", "api_url": "https://api.github.com"}), 400)
    assert db_snapshot(stack, ignore=("audit_log",)) == before


def test_nul_in_a_value_looked_up_finds_nothing_rather_than_failing(stack: Stack) -> None:
    stack.install()
    answer = stack.admin("GET", "/api/deliveries?status=failed%00")
    assert (answer.status_code, answer.json()) == (200, []), answer.text


# ---- nothing sticks ----------------------------------------------------------------------------------


def test_a_delivery_the_database_refuses_ends_failed_and_others_go_on(stack: Stack,
                                                                       connection: RepositoryConnection) -> None:
    """A flag key longer than its column (PostgreSQL refuses it, SQLite keeps it): the delivery
    must end `failed` with the database's reason, at once, while the next delivery is processed."""
    secret = connection.webhook_secret
    for number, key in enumerate(("k" * 300, "new-checkout")):
        event = {"kind": "flag", "_id": f"ld-{number}", "date": 1764500000000 + number, "currentVersion": {
            "key": key, "name": key, "environments": {"production": {"on": False}}}}
        signature = hmac.new(secret.encode(), _json(event), hashlib.sha256).hexdigest()
        assert _flag(stack, "launchdarkly", connection, event, {"X-LD-Signature": signature}).status_code == 202
    stack.settle()
    (long_status, long_error), (status, _) = _deliveries(stack)
    assert status == "processed"
    assert long_status in ("processed", "failed")
    if long_status == "failed":  # PostgreSQL
        assert long_error and "database refused" in long_error, long_error
        listed = stack.admin("GET", "/api/deliveries?status=failed").json()
        assert listed[0]["error"] == long_error
    assert stack.svc is not None
    with stack.svc.sessions() as session:
        assert session.scalars(select(Job.status).where(Job.kind == "delivery")).all() == ["done", "done"]
