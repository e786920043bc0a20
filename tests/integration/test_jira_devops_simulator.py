"""The Jira simulator takes Jira Software's deployments and feature flags bulk APIs as Jira does:
requests checked against the published schema (400 with Jira Software's error array), only for
apps that declare the provider modules (403), unknown issues rejected per record, and stored
data replaced only by a greater sequence number."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from connect_app.sandbox.jira.rest.devops import DEPLOYMENTS, FLAGS, releases_for
from connect_app.sandbox.jira.simulator import JiraSimulator
from tests.integration.test_jira_simulator import APP_KEY, SECRET, Client, descriptor

PROVIDERS = {
    "jiraDeploymentInfoProvider": {"key": "deployments", "name": {"value": "SR"}, "homeUrl": "https://app.example.com"},
    "jiraFeatureFlagInfoProvider": {"key": "flags", "name": {"value": "SR"}, "homeUrl": "https://app.example.com"},
}


def _simulator(modules: dict[str, Any]) -> JiraSimulator:
    simulator = JiraSimulator().start()
    simulator.register_tenant_secret(APP_KEY, SECRET)
    declared = descriptor("https://app.example.com")
    declared["modules"].update(modules)
    simulator.register_descriptor(declared)
    simulator.add_issue("FEAT-1", "Retry failed payouts", status="Done")
    return simulator


@pytest.fixture()
def sim():
    simulator = _simulator(PROVIDERS)
    yield simulator
    simulator.stop()


def deployment(**changes: Any) -> dict[str, Any]:
    record = {
        "deploymentSequenceNumber": 2, "updateSequenceNumber": 1, "displayName": "Deployment of abc1234 to production",
        "url": "https://github.com/acme/shop/commit/abc1234", "description": "FEAT-1 no longer live.",
        "lastUpdated": "2026-11-25T23:31:00Z", "state": "rolled_back",
        "pipeline": {"id": "c1", "displayName": "acme/shop", "url": "https://github.com/acme/shop"},
        "environment": {"id": "production", "displayName": "production", "type": "production"},
        "associations": [{"associationType": "issueIdOrKeys", "values": ["FEAT-1"]}],
    }
    record.update(changes)
    return record


def flag(**changes: Any) -> dict[str, Any]:
    record = {"id": "generic:one-click", "key": "one-click", "updateSequenceId": 1, "issueKeys": ["FEAT-1"],
              "summary": {"lastUpdated": "2026-11-25T18:00:00Z", "status": {"enabled": False}},
              "details": [{"url": "https://flags.example.com/one-click", "lastUpdated": "2026-11-25T18:00:00Z",
                           "environment": {"name": "production", "type": "production"},
                           "status": {"enabled": False}}]}
    record.update(changes)
    return record


def test_a_valid_deployment_is_stored_and_shown_in_releases(sim: JiraSimulator) -> None:
    response = Client(sim.base_url).call("POST", DEPLOYMENTS, json={"deployments": [deployment()]})
    assert response.status_code == 202, response.text
    assert response.json()["acceptedDeployments"] == [
        {"pipelineId": "c1", "environmentId": "production", "deploymentSequenceNumber": 2}]
    (shown,) = releases_for(sim.state, "FEAT-1")["deployments"]
    assert (shown["words"], shown["environment"]) == ("Rolled back", "production")
    assert sim.violations == []


@pytest.mark.parametrize("breakage", [
    lambda d: d.pop("pipeline"),
    lambda d: d["environment"].pop("type"),
    lambda d: d["environment"].__setitem__("type", "prod"),
    lambda d: d.__setitem__("state", "reverted"),
    lambda d: d.__setitem__("deploymentSequenceNumber", "seven"),
    lambda d: d.pop("updateSequenceNumber"),
    lambda d: d.__setitem__("associations", [{"associationType": "issueIdOrKeys", "values": []}]),
], ids=["no pipeline", "no environment type", "unknown environment type", "unknown state", "sequence not a number",
        "no update sequence", "empty association"])
def test_a_request_outside_the_schema_is_refused_like_jira(sim: JiraSimulator, breakage) -> None:
    broken = deployment()
    breakage(broken)
    response = Client(sim.base_url).call("POST", DEPLOYMENTS, json={"deployments": [broken]})
    assert response.status_code == 400
    body = response.json()
    assert isinstance(body, list) and body and all(isinstance(item["message"], str) for item in body)
    assert sim.state.deployments == {}
    assert sim.violations, "the refusal is recorded for the test that made it"


def test_an_older_or_equal_update_sequence_number_changes_nothing(sim: JiraSimulator) -> None:
    client = Client(sim.base_url)
    client.call("POST", DEPLOYMENTS, json={"deployments": [deployment(updateSequenceNumber=5)]})
    stale = deployment(updateSequenceNumber=5, state="successful")
    assert client.call("POST", DEPLOYMENTS, json={"deployments": [stale]}).status_code == 202
    assert [d["state"] for d in sim.state.deployments.values()] == ["rolled_back"]
    newer = deployment(updateSequenceNumber=6, state="successful")
    client.call("POST", DEPLOYMENTS, json={"deployments": [newer]})
    assert [d["state"] for d in sim.state.deployments.values()] == ["successful"]


def test_a_deployment_of_unknown_issues_only_is_rejected_alone(sim: JiraSimulator) -> None:
    unknown = deployment(deploymentSequenceNumber=4,
                         associations=[{"associationType": "issueIdOrKeys", "values": ["NOPE-9"]}])
    response = Client(sim.base_url).call("POST", DEPLOYMENTS, json={"deployments": [deployment(), unknown]})
    assert response.status_code == 202
    body = response.json()
    assert [r["key"]["deploymentSequenceNumber"] for r in body["rejectedDeployments"]] == [4]
    assert body["unknownIssueKeys"] == ["NOPE-9"] and len(body["acceptedDeployments"]) == 1


def test_flags_are_validated_and_stored(sim: JiraSimulator) -> None:
    client = Client(sim.base_url)
    broken = flag()
    broken["details"][0]["environment"]["type"] = "unmapped"  # flags know no such environment type
    assert client.call("POST", FLAGS, json={"flags": [broken]}).status_code == 400
    response = client.call("POST", FLAGS, json={"flags": [flag()]})
    assert response.status_code == 202 and response.json()["acceptedFeatureFlags"] == ["generic:one-click"]
    assert releases_for(sim.state, "FEAT-1")["flags"][0]["environments"] == [{"name": "production", "on": False}]


def test_an_app_without_the_provider_modules_is_forbidden() -> None:
    simulator = _simulator({})
    try:
        client = Client(simulator.base_url)
        for path, body in ((DEPLOYMENTS, {"deployments": [deployment()]}), (FLAGS, {"flags": [copy.deepcopy(flag())]})):
            response = client.call("POST", path, json=body)
            assert response.status_code == 403
            assert "module" in response.json()[0]["message"]
        assert simulator.state.deployments == {} and simulator.state.feature_flags == {}
    finally:
        simulator.stop()
