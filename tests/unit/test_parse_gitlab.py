"""GitLab's documented webhook examples (tests/fixtures/gitlab-webhooks/) parse into the same
records as GitHub's."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connect_app.intake.parse import PayloadError
from connect_app.intake.parse_gitlab import (
    gitlab_time,
    parse_gitlab_deployment,
    parse_gitlab_merge_request,
    parse_gitlab_push,
    parse_gitlab_release,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "gitlab-webhooks"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def test_push_example() -> None:
    push = parse_gitlab_push(load("push.json"))
    assert push.repository == "mike/diaspora" and push.default_branch == "master"
    assert push.to_default_branch and push.after == "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"
    assert [c.sha[:7] for c in push.commits] == ["b6568db", "da15608"]
    assert push.commits[0].files == ("CHANGELOG", "app/controller/application.rb")
    # total_commits_count is 4 but only 2 are listed: the rest come from the API.
    assert push.complete is False


def test_merge_request_example_is_merged_only_when_the_action_says_so() -> None:
    payload = load("merge_request.json")
    assert parse_gitlab_merge_request(payload) is None  # the example is `open`
    payload["object_attributes"].update(action="merge", state="merged")
    merged = parse_gitlab_merge_request(payload)
    assert merged is not None
    assert (merged.number, merged.title, merged.head_ref, merged.base_ref) == (1, "MS-Viewport", "ms-viewport",
                                                                              "master")
    assert merged.merge_commit_sha is None and merged.merged_at == datetime(2013, 12, 3, 17, 23, 34, tzinfo=UTC)


def test_deployment_example_takes_the_full_sha_from_commit_url() -> None:
    deployment = parse_gitlab_deployment(load("deployment.json"))
    assert deployment.sha == "279484c09fbe69ededfced8c1bb6e6d24616b468"
    assert (deployment.environment, deployment.status, deployment.external_id) == ("staging", "success", "15")
    assert deployment.at == datetime(2021, 4, 28, 19, 50, tzinfo=UTC)
    assert deployment.url == "https://staging.example.com"


def test_release_example() -> None:
    released = parse_gitlab_release(load("release.json"))
    assert released is not None and released.out
    assert released.release.tag == "v1.1" and released.release.sha == "ee0a3fb31ac16e11b9dbb596ad16d4af654d08f8"
    assert released.release.published_at == datetime(2020, 11, 2, 12, 55, 12, tzinfo=UTC)
    payload = load("release.json") | {"action": "delete"}
    gone = parse_gitlab_release(payload)
    assert gone is not None and not gone.out


@pytest.mark.parametrize("broken", [{"deployment_id": "15"}, {"commit_url": "x", "short_sha": "zz"}])
def test_malformed_deployment_is_a_payload_error(broken: dict) -> None:
    with pytest.raises(PayloadError):
        parse_gitlab_deployment(load("deployment.json") | broken)


def test_gitlab_times() -> None:
    assert gitlab_time("2020-11-02 12:55:12 UTC") == datetime(2020, 11, 2, 12, 55, 12, tzinfo=UTC)
    assert gitlab_time("2013-12-03T17:23:34Z") == datetime(2013, 12, 3, 17, 23, 34, tzinfo=UTC)
