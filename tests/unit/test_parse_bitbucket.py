"""Atlassian's documented Bitbucket Cloud examples (tests/fixtures/bitbucket-webhooks/) parse into
the same records as GitHub's."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connect_app.intake.parse import PayloadError
from connect_app.intake.parse_bitbucket import (
    parse_bitbucket_deployment_status,
    parse_bitbucket_pull_request,
    parse_bitbucket_push,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "bitbucket-webhooks"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_push_example() -> None:
    [push] = parse_bitbucket_push(load("repo-push.json"), "name-of-branch")
    assert push.repository == "team_name/repo_name" and push.to_default_branch
    assert (push.before, push.after) == ("1e65c05c1d5171631d92438a13901ca7dae9618c",
                                         "709d658dc5b6d6afcd46049c2f332ee3f515a67d")
    assert [c.sha for c in push.commits] == ["03f4a7270240708834de475bcf21532d6134777e"]
    assert push.complete
    [other] = parse_bitbucket_push(load("repo-push.json"), "main")
    assert not other.to_default_branch


def test_truncated_push_is_incomplete_and_commits_come_oldest_first() -> None:
    payload = load("repo-push.json")
    change = payload["push"]["changes"][0]
    first = dict(change["commits"][0])
    change["commits"] = [dict(first, hash="b" * 40), dict(first, hash="a" * 40)]  # newest first
    change["truncated"] = True
    [push] = parse_bitbucket_push(payload, "name-of-branch")
    assert [c.sha[0] for c in push.commits] == ["a", "b"] and not push.complete


def test_pull_request_fulfilled_example() -> None:
    merged = parse_bitbucket_pull_request(load("pullrequest-fulfilled.json"))
    assert (merged.number, merged.title, merged.head_ref, merged.base_ref) == (
        1, "Title of pull request", "branch2", "master")
    assert merged.body == "Description of pull request"
    # `764413d85e29` is abbreviated: the worker expands it through the API.
    assert merged.merge_commit_sha is None
    assert merged.merged_at == datetime(2015, 4, 6, 15, 23, 38, 205705, tzinfo=UTC)


def test_a_build_status_is_no_deployment_and_a_deploy_status_is() -> None:
    assert parse_bitbucket_deployment_status(load("repo-commit-status.json")) is None
    payload = load("repo-commit-status.json")
    payload["commit_status"].update(name="Deploy to production", state="SUCCESSFUL")
    deployment = parse_bitbucket_deployment_status(payload)
    assert deployment is not None
    assert (deployment.environment, deployment.status, deployment.sha) == (
        "production", "success", "9fec847784abb10b2fa567ee63b85bd238955d0e")
    payload["commit_status"].update(name="Pipeline", key="deploy-staging", state="FAILED")
    staged = parse_bitbucket_deployment_status(payload)
    assert staged is not None and (staged.environment, staged.status) == ("staging", "failure")


def test_malformed_push_is_a_payload_error() -> None:
    payload = load("repo-push.json")
    payload["push"]["changes"][0]["new"]["target"]["hash"] = "not a hash"
    with pytest.raises(PayloadError):
        parse_bitbucket_push(payload, "main")
