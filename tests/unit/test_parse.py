"""Payload parsing at the boundary: real GitHub payloads, CI deployment reports, flag services."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connect_app.intake.parse import (
    PayloadError,
    parse_ci_deployment,
    parse_deployment,
    parse_flag_changes,
    parse_pull_request,
    parse_push,
)

EXAMPLES = Path(__file__).parents[1] / "fixtures" / "github-webhooks"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def load(relative: str) -> dict:
    return json.loads((EXAMPLES / relative).read_text())


def test_real_captured_push_to_master() -> None:
    push = parse_push(load("captured/ailisp-reallyfastci/webhook-push-to-master.json"))
    assert push.to_default_branch
    assert push.commits[-1].subject.startswith("Merge pull request #3")
    assert all(len(c.sha) == 40 for c in push.commits)


def test_real_captured_merged_pull_request() -> None:
    pr = parse_pull_request(load("captured/ailisp-reallyfastci/webhook-pr-close.json"))
    assert pr is not None
    assert pr.merge_commit_sha == "a21683865c088b5fe1906cf6552d15a285a4986d"


def test_closed_but_not_merged_pull_request_is_not_a_change() -> None:
    assert parse_pull_request(load("payload-examples/api.github.com/pull_request/closed.payload.json")) is None


def test_official_deployment_status_example() -> None:
    event = parse_deployment("deployment_status",
                             load("payload-examples/api.github.com/deployment_status/payload.json"))
    assert event.status and event.environment and len(event.sha) == 40


def test_ci_deployment_reported_in_the_future_is_placed_when_we_heard_of_it() -> None:
    future = parse_ci_deployment({"environment": "production", "sha": "abc1234",
                                  "deployed_at": "2030-01-01T00:00:00Z"}, NOW)
    assert future.at == NOW
    past = parse_ci_deployment({"environment": "production", "sha": "abc1234",
                                "deployed_at": "2026-11-25T23:31:00Z"}, NOW)
    assert past.at == datetime(2026, 11, 25, 23, 31, tzinfo=UTC)


def test_launchdarkly_flag_change_reads_every_environment() -> None:
    payload = {"kind": "flag", "date": 1764100800000, "_links": {"site": {"href": "/default/production/features/x"}},
               "currentVersion": {"key": "feat-304-retry", "name": "FEAT-304 retry", "tags": ["checkout"],
                                  "environments": {"production": {"on": False}, "staging": {"on": True}}}}
    changes = {c.environment: c for c in parse_flag_changes("launchdarkly", payload, NOW)}
    assert changes["production"].on is False and changes["staging"].on is True
    assert changes["production"].url == "https://app.launchdarkly.com/default/production/features/x"


def test_unleash_toggle_events() -> None:
    payload = {"type": "feature-environment-disabled", "featureName": "feat-304-retry",
               "environment": "production", "createdAt": "2026-11-25T23:40:00Z", "data": {"name": "feat-304-retry"}}
    [change] = parse_flag_changes("unleash", payload, NOW)
    assert (change.key, change.on, change.environment) == ("feat-304-retry", False, "production")
    assert parse_flag_changes("unleash", {"type": "feature-created"}, NOW) == []


@pytest.mark.parametrize("payload", [{}, {"key": "x"}, {"key": "x", "on": "no"}, {"key": 5, "on": True}])
def test_generic_flag_events_must_say_which_flag_and_whether_it_is_on(payload: dict) -> None:
    with pytest.raises(PayloadError):
        parse_flag_changes("generic", payload, NOW)


@pytest.mark.parametrize(("provider", "payload"), [
    # Times a sender can type but no calendar holds: each used to escape as a 500.
    ("generic", {"key": "x", "on": False, "changed_at": 1e20}),
    ("generic", {"key": "x", "on": False, "changed_at": -1e20}),
    ("generic", {"key": "x", "on": False, "changed_at": float("nan")}),
    ("generic", {"key": "x", "on": False, "changed_at": float("inf")}),
    ("generic", {"key": "x", "on": False, "changed_at": True}),
    ("generic", {"key": "x", "on": False, "changed_at": "9999-99-99T00:00:00Z"}),
    ("launchdarkly", {"kind": "flag", "date": 1e300,
                      "currentVersion": {"key": "x", "environments": {"production": {"on": False}}}}),
    # Tags and text of the wrong type.
    ("unleash", {"type": "feature-environment-disabled", "featureName": "x", "tags": 5}),
    ("unleash", {"type": "feature-environment-disabled", "featureName": "x", "tags": [{"type": 1, "value": []}]}),
    ("unleash", {"type": "feature-environment-disabled", "featureName": "x", "data": {"description": 5}}),
    ("generic", {"key": "x", "on": False, "tags": "checkout"}),
    ("generic", {"key": "x", "on": False, "tags": [{"nested": True}]}),
    ("generic", {"key": "x", "on": False, "description": ["a"]}),
    # A link that would become an href in a Jira comment.
    ("generic", {"key": "x", "on": False, "url": "javascript:alert(1)"}),
    ("generic", {"key": "x", "on": False, "url": "https://flags.example.com/" + "x" * 500}),
    ("generic", {"key": "x", "on": False, "url": 5}),
])
def test_malformed_flag_events_are_payload_errors(provider: str, payload: dict) -> None:
    with pytest.raises(PayloadError):
        parse_flag_changes(provider, payload, NOW)


def test_flag_links_are_kept_only_when_they_are_web_links() -> None:
    [generic] = parse_flag_changes("generic", {"key": "x", "on": False, "url": "https://flags.example.com/x",
                                               "tags": ["checkout", "FEAT-1"]}, NOW)
    assert generic.url == "https://flags.example.com/x" and generic.tags == ("checkout", "FEAT-1")
    long_path = {"kind": "flag", "_links": {"site": {"href": "/" + "x" * 600}},
                 "currentVersion": {"key": "x", "environments": {"production": {"on": False}}}}
    [launchdarkly] = parse_flag_changes("launchdarkly", long_path, NOW)
    assert launchdarkly.url is None
    [unleash] = parse_flag_changes("unleash", {"type": "feature-environment-enabled", "featureName": "x",
                                               "tags": [{"type": "simple", "value": "FEAT-1"}, "plain"]}, NOW)
    assert unleash.tags == ("simple:FEAT-1", "plain")
