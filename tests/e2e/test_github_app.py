"""A repository connected without a token is read through a GitHub App: the app's JWT finds its
installation, installation tokens read pull request commits, deployment compares and history,
and a key GitHub refuses shows on the connection as a failed backfill instead of crashing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connect_app.sandbox.stack import Stack

APP_ID = "904417"
KEYS = ("FEAT-1", "FEAT-2", "FEAT-3")


def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    return private, public


@pytest.fixture(scope="module")
def app_key() -> tuple[str, str]:
    return _key_pair()


def _stack(tmp_path: Path, database_url: str, private_key: str) -> Stack:
    # Written the way a one-line environment file carries a PEM: with literal \n escapes.
    env = {"GITHUB_APP_ID": APP_ID, "GITHUB_APP_PRIVATE_KEY": private_key.replace("\n", "\\n"),
           "GITHUB_APP_API_URL": "http://127.0.0.1:*", "GITHUB_APP_OWNERS": "acme",
           "GITHUB_APP_JIRA_SITES": "http://127.0.0.1:*"}
    stack = Stack(tmp_path, database_url=database_url, env=env).start()
    stack.seed_jira()
    for key in KEYS:
        stack.jira.add_issue(key, f"Feature {key}", status="Done")
    stack.install()
    return stack


@pytest.fixture
def app_stack(tmp_path: Path, database_url: str, app_key: tuple[str, str]) -> Iterator[Stack]:
    stack = _stack(tmp_path, database_url, app_key[0])
    try:
        yield stack
    finally:
        stack.stop()
    assert stack.jira.violations == []


def _states(stack: Stack) -> dict[str, str]:
    return {key: (stack.jira.issues[key]["properties"].get("system-reality") or {}).get("drift", "-")
            for key in KEYS}


def _backfill(stack: Stack, connection_id: str) -> dict[str, Any]:
    assert stack.admin("POST", f"/api/connections/{connection_id}/backfill", {}).status_code == 202
    stack.settle()
    response = stack.admin("GET", f"/api/connections/{connection_id}")
    assert response.status_code == 200
    return response.json()["backfill"]


def _history(github: Any) -> None:
    repo = github.repo
    repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    github.push("FEAT-2: Gift wrap", {"src/wrap.py": "ON = 1\n"})
    repo.revert(first)
    github.push_branch()


def test_backfill_reads_history_through_installation_tokens(app_stack: Stack, app_key: tuple[str, str]) -> None:
    github = app_stack.start_github()  # answers 401 to anything but a known token
    installation = github.register_github_app(APP_ID, app_key[1])
    connection = app_stack.connect_repository(token=None)
    github.remove_hook(github.hooks[0].id)
    _history(github)

    progress = _backfill(app_stack, connection.id)

    assert progress["state"] == "done", progress
    assert progress["recorded"] == len(github.repo.log_first_parent("main"))
    assert _states(app_stack) == {"FEAT-1": "reverted", "FEAT-2": "live", "FEAT-3": "-"}
    assert ("GET", "/repos/acme/shop/installation") in github.api_requests
    assert ("POST", f"/app/installations/{installation}/access_tokens") in github.api_requests
    # Every history read was served on an installation token: the connection has no other.
    history_reads = [path for method, path in github.api_requests if path.startswith("/repos/acme/shop/commits")]
    assert history_reads and all(("GET", path) in github.installation_requests for path in history_reads)


def test_pull_request_commits_and_deployment_compare_use_installation_tokens(
        app_stack: Stack, app_key: tuple[str, str]) -> None:
    github = app_stack.start_github()
    github.register_github_app(APP_ID, app_key[1])
    app_stack.connect_repository(token=None)
    repo = github.repo
    repo.commit("Initial shop", {"README.md": "shop\n"})
    github.push_branch()
    first = github.push("FEAT-1: Coupons", {"src/coupons.py": "ON = 1\n"})
    github.deploy(first)
    repo.branch("feat-3-pickup", "main")
    repo.checkout("feat-3-pickup")
    repo.commit("Pickup points", {"src/pickup.py": "ON = 1\n"})
    repo.commit("Pickup hours", {"src/hours.py": "ON = 1\n"})
    number = github.open_pull_request("feat-3-pickup", "FEAT-3: Store pickup")
    merged = github.merge_pull_request(number, "squash")
    github.deploy(merged)
    app_stack.settle()
    assert _states(app_stack)["FEAT-3"] == "live"

    github.deploy(first)  # roll production back past the pull request
    app_stack.settle()

    assert _states(app_stack)["FEAT-3"] == "rolled-back"
    served = [path for _method, path in github.installation_requests]
    assert any(path.startswith(f"/repos/acme/shop/pulls/{number}/commits") for path in served), served
    assert any(path.startswith(f"/repos/acme/shop/compare/{merged}...{first}") for path in served), served
    assert any(path.startswith(f"/repos/acme/shop/compare/{first}...{merged}") for path in served), served


def test_a_refused_app_key_is_reported_on_the_backfill_state(tmp_path: Path, database_url: str,
                                                            app_key: tuple[str, str]) -> None:
    wrong_private, _wrong_public = _key_pair()
    stack = _stack(tmp_path, database_url, wrong_private)
    try:
        github = stack.start_github()
        installation = github.register_github_app(APP_ID, app_key[1])
        connection = stack.connect_repository(token=None)
        _history(github)  # live webhooks still arrive and are recorded without the API

        progress = _backfill(stack, connection.id)

        assert progress["state"] == "failed"
        assert f"GitHub App {APP_ID}" in progress["note"] and "401" in progress["note"], progress["note"]
        assert ("GET", "/repos/acme/shop/installation") in github.api_requests
        assert ("POST", f"/app/installations/{installation}/access_tokens") not in github.api_requests
        assert github.installation_tokens == {} and github.installation_requests == []
        # The app keeps working on what the webhooks told it.
        assert stack.admin("GET", "/api/connections").status_code == 200
        assert _states(stack) == {"FEAT-1": "reverted", "FEAT-2": "live", "FEAT-3": "-"}
    finally:
        stack.stop()
    assert stack.jira.violations == []


def test_another_organisations_repository_never_reaches_the_app(app_stack: Stack, app_key: tuple[str, str]) -> None:
    """A tenant connects a repository of an owner the operator did not name: the app's JWT is not
    sent, nothing is read, and the backfill says there are no credentials."""
    github = app_stack.start_github(full_name="victim/private-repo")
    github.register_github_app(APP_ID, app_key[1])
    connection = app_stack.connect_repository(token=None)
    github.remove_hook(github.hooks[0].id)
    _history(github)
    progress = _backfill(app_stack, connection.id)
    assert progress["state"] == "failed", progress
    assert not any(path.endswith("/installation") or path.startswith("/app/") for _m, path in github.api_requests)
    assert github.installation_requests == []


def test_a_github_app_without_a_declared_scope_is_refused_at_start(app_key: tuple[str, str]) -> None:
    from connect_app.config import ConfigError, load_settings

    with pytest.raises(ConfigError, match="GITHUB_APP_OWNERS"):
        load_settings({"GITHUB_APP_ID": APP_ID, "GITHUB_APP_PRIVATE_KEY": app_key[0], "INSTANCE_PATH": "/tmp/x"})
