"""Jira Software's DevOps data: `POST /rest/deployments/0.1/bulk` and `POST /rest/featureflags/0.1/bulk`.

The request schema is checked before these handlers run, against the transcribed Jira Software
spec (tests/fixtures/jira-software-openapi/devops-bulk.v3.json, see its SOURCE.md); a request
outside it is answered 400 with Jira Software's error shape, a JSON array of `{"message"}`
(`refusal`). Here is what the schema cannot say and Jira still does:

- only an app that declares `jiraDeploymentInfoProvider` (`jiraFeatureFlagInfoProvider`) may
  submit (403);
- a deployment names issues through `associations` or the deprecated `issueKeys`; one that names
  none, or only issues the site does not have, is rejected while the rest of the request is
  accepted (202, `rejectedDeployments` / `failedFeatureFlags`, `unknownIssueKeys`);
- stored data is replaced only by a greater `updateSequenceNumber` (`updateSequenceId`); an older
  or equal one is accepted and ignored.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, jsonify

from connect_app.sandbox.jira.rest.common import json_object_body, site_state
from connect_app.sandbox.jira.state import JiraState

DEPLOYMENTS = "/rest/deployments/0.1/bulk"
FLAGS = "/rest/featureflags/0.1/bulk"
PATHS = frozenset({DEPLOYMENTS, FLAGS})
MODULE_OF = {DEPLOYMENTS: "jiraDeploymentInfoProvider", FLAGS: "jiraFeatureFlagInfoProvider"}
ISSUE_ASSOCIATIONS = frozenset({"issueKeys", "issueIdOrKeys"})
STATE_WORDS = {"successful": "Deployed", "rolled_back": "Rolled back", "failed": "Failed", "in_progress": "Deploying",
               "pending": "Pending", "cancelled": "Cancelled", "unknown": "Unknown state"}


def refusal(status: int, messages: list[str]) -> Response:
    """Jira Software's error answer: `ErrorMessages`, an array of `{"message"}`."""
    answer = jsonify([{"message": message} for message in messages] or [{"message": "Request refused."}])
    answer.status_code = status
    return answer


def register(app: Flask) -> None:
    app.add_url_rule(DEPLOYMENTS, view_func=submit_deployments, methods=["POST"])
    app.add_url_rule(FLAGS, view_func=submit_feature_flags, methods=["POST"])


def _allowed(state: JiraState, path: str) -> bool:
    return MODULE_OF[path] in state.app_modules.get(str(g.get("jira_issuer")), frozenset())


def _issue_keys(state: JiraState, named: list[str]) -> tuple[list[str], list[str]]:
    """(known issue keys, unknown ones) among keys or ids, as the site knows them now."""
    known, unknown = [], []
    for value in named:
        issue = state.find_issue(value)
        (known if issue is not None else unknown).append(issue["key"] if issue is not None else value)
    return list(dict.fromkeys(known)), list(dict.fromkeys(unknown))


def _deployment_issues(deployment: dict[str, Any]) -> list[str]:
    named = list(deployment.get("issueKeys") or [])
    for association in deployment.get("associations") or []:
        if association.get("associationType") in ISSUE_ASSOCIATIONS:
            named += association.get("values") or []
    return named


def submit_deployments(**_: Any) -> Response:
    state = site_state()
    body = json_object_body()
    with state.lock:
        if not _allowed(state, DEPLOYMENTS):
            return refusal(403, ["The app does not define the jiraDeploymentInfoProvider module."])
        accepted, rejected, unknown_keys = [], [], []
        for deployment in body["deployments"]:
            key = {"pipelineId": deployment["pipeline"]["id"], "environmentId": deployment["environment"]["id"],
                   "deploymentSequenceNumber": deployment["deploymentSequenceNumber"]}
            known, unknown = _issue_keys(state, _deployment_issues(deployment))
            unknown_keys += unknown
            if not known:
                rejected.append({"key": key, "errors": [{"message": "The deployment is not associated with any "
                                                                    "issue that exists on this site."}]})
                continue
            _store(state.deployments, (key["pipelineId"], key["environmentId"], key["deploymentSequenceNumber"]),
                   {**deployment, "issues": known}, "updateSequenceNumber")
            accepted.append(key)
    return _accepted({"acceptedDeployments": accepted, "rejectedDeployments": rejected,
                      "unknownIssueKeys": list(dict.fromkeys(unknown_keys))})


def submit_feature_flags(**_: Any) -> Response:
    state = site_state()
    body = json_object_body()
    with state.lock:
        if not _allowed(state, FLAGS):
            return refusal(403, ["The app does not define the jiraFeatureFlagInfoProvider module."])
        accepted, failed, unknown_keys = [], {}, []
        for flag in body["flags"]:
            known, unknown = _issue_keys(state, list(flag["issueKeys"]))
            unknown_keys += unknown
            if not known:
                failed[flag["id"]] = [{"message": "The flag is not associated with any issue on this site."}]
                continue
            _store(state.feature_flags, flag["id"], {**flag, "issues": known}, "updateSequenceId")
            accepted.append(flag["id"])
    answer: dict[str, Any] = {"acceptedFeatureFlags": accepted, "unknownIssueKeys": list(dict.fromkeys(unknown_keys))}
    if failed:
        answer["failedFeatureFlags"] = failed
    return _accepted(answer)


def _store(stored: dict[Any, dict[str, Any]], key: Any, incoming: dict[str, Any], sequence: str) -> None:
    current = stored.get(key)
    if current is None or incoming[sequence] > current[sequence]:
        stored[key] = incoming


def _accepted(answer: dict[str, Any]) -> Response:
    response = jsonify(answer)
    response.status_code = 202
    return response


# ---- what the issue's Releases field shows --------------------------------------------------


def releases_for(state: JiraState, issue_key: str) -> dict[str, list[dict[str, Any]]]:
    """The issue's Releases area: per environment the latest deployment that names the issue,
    and each flag linked to it with its state per environment."""
    with state.lock:
        issue = state.find_issue(issue_key)
        if issue is None:
            return {"deployments": [], "flags": []}
        key = issue["key"]
        latest: dict[str, dict[str, Any]] = {}
        for deployment in state.deployments.values():
            if key not in deployment["issues"]:
                continue
            env = deployment["environment"]["id"]
            order = (deployment["lastUpdated"], deployment["deploymentSequenceNumber"])
            seen = latest.get(env)
            if seen is None or order > (seen["lastUpdated"], seen["deploymentSequenceNumber"]):
                latest[env] = deployment
        deployments = [{
            "state": d["state"], "words": STATE_WORDS.get(d["state"], d["state"]),
            "environment": d["environment"]["displayName"], "type": d["environment"]["type"],
            "name": d["displayName"], "url": d["url"], "pipeline": d["pipeline"]["displayName"],
            "when": d["lastUpdated"],
        } for d in sorted(latest.values(), key=lambda d: (d["environment"]["type"] != "production",
                                                           d["environment"]["displayName"]))]
        flags = [{
            "name": f.get("displayName") or f["key"], "key": f["key"], "url": f["summary"].get("url"),
            "environments": [{"name": d["environment"]["name"], "on": d["status"]["enabled"]} for d in f["details"]],
        } for f in state.feature_flags.values() if key in f["issues"]]
    return {"deployments": deployments, "flags": flags}
