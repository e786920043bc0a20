"""The four MCP tools as plain functions: each reads through the very functions the panel and the
report use (`web.panel`), so an assistant sees the same facts, limited by the same Jira browse
checks, and gets them back as structured data plus a briefing a stakeholder can read.

Nothing here computes reality: it reshapes what `issue_view`, `report_view` and `drifted_view`
already say, and puts it into words. The words give times in the user's own zone (from their Jira
profile, as the panel does), each with the zone's name; the structured results keep ISO-8601 UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Any

from connect_app.connect.audited import jira_for
from connect_app.connect.jira import JiraClient, JiraError
from connect_app.errors import AppError, BadRequest
from connect_app.mcp.tokens import Principal
from connect_app.reality import story
from connect_app.reality.keys import ISSUE_KEY, PROJECT_KEY
from connect_app.reality.record import parse_iso
from connect_app.services import Services
from connect_app.store.models import utcnow
from connect_app.web.panel import (
    DRIFT_STATES,
    ReportQuery,
    drifted_view,
    issue_view,
    parse_window,
    report_view,
    viewer_zone,
)

log = logging.getLogger(__name__)

ALL_STATES = ("live", *DRIFT_STATES)
EVENT_WORDS = {"deployment": "deployed", "revert": "reverted", "rollback": "rolled back", "flag": "flag changed",
               "commit": "committed", "pull-request": "pull request merged", "hotfix": "hotfix",
               "release": "released", "unconfirmed-revert": "possible revert", "config": "configuration changed"}
DEPLOYMENT_KINDS = {"deployment": "deploy", "rollback": "rollback", "config": "config"}


# ---- small shared pieces -----------------------------------------------------------------------


def user_zone(svc: Services, who: Principal) -> tzinfo:
    """The time zone in the user's Jira profile, which the panel shows times in too. UTC (and the
    answers say so) when Jira cannot be asked or names a zone this machine does not know."""
    try:
        name = jira_for(svc, who.tenant).get_user(who.account_id).get("timeZone")
    except JiraError as exc:
        log.warning("could not read the MCP user's time zone from Jira (%s); answering in UTC", exc)
        return UTC
    try:
        return viewer_zone(name if isinstance(name, str) else None)
    except BadRequest:
        return UTC


def _when(value: str | None, zone: tzinfo) -> str:
    moment = parse_iso(value)
    return story.format_when(moment, zone) if moment else "at an unknown time"


def _sentence(text: str | None, since: str | None, zone: tzinfo) -> str:
    """The stored summary sentence (the issue property's, which states its time in UTC for JQL
    users and scripts) with that time told in the user's zone instead."""
    moment = parse_iso(since)
    if not text or moment is None:
        return text or ""
    return text.replace(story.format_when(moment), story.format_when(moment, zone))


def _event(view: Mapping[str, Any]) -> dict[str, Any]:
    """A timeline or report event as INTERFACES 7 names its fields."""
    return {"kind": view.get("kind"), "at": view.get("when"), "environment": view.get("environment"),
            "ref": view.get("short") or view.get("sha"), "url": view.get("url"), "text": view.get("title") or ""}


def _event_line(event: Mapping[str, Any], zone: tzinfo) -> str:
    where = f" in {event['environment']}" if event.get("environment") else ""
    ref = f" ({event['ref']})" if event.get("ref") else ""
    word = EVENT_WORDS.get(str(event.get("kind")), str(event.get("kind")))
    return f"{_when(event.get('at'), zone)}: {word}{where}{ref}: {event.get('text')}"


def _window(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    now = utcnow()
    start = parse_window(since or "48h", now)
    end = parse_window(until, now) if until else now
    if start > end:
        raise BadRequest("since must be before until.")
    return start, end


def _states(states: Sequence[str] | str | None) -> frozenset[str]:
    if states is None:
        return frozenset()
    items = [s.strip() for s in (states.split(",") if isinstance(states, str) else states) if s and s.strip()]
    unknown = set(items) - set(ALL_STATES)
    if unknown:
        raise BadRequest(f"states must be among {', '.join(ALL_STATES)}.")
    return frozenset(items)


def _check_project(project: str | None) -> str | None:
    project = (project or "").strip().upper() or None
    if project and not PROJECT_KEY.match(project):
        raise BadRequest("project must be a Jira project key such as FEAT.")
    return project


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


# ---- recent_changes ------------------------------------------------------------------------------

# Drifted features whose open work is looked up (a few Jira calls each, as the panel makes):
# enough for any real 48 hours; past it, the answer says to ask issue_reality.
OPEN_WORK_LOOKUPS = 10


def recent_changes(svc: Services, who: Principal, *, since: str = "48h", until: str | None = None,
                   project: str | None = None, epic: str | None = None, active_epics_only: bool = True,
                   states: Sequence[str] | str | None = None) -> tuple[dict[str, Any], str]:
    start, end = _window(since, until)
    epic = (epic or "").strip().upper() or None
    if epic and not ISSUE_KEY.match(epic):
        raise BadRequest("epic must be an issue key such as FEAT-300.")
    query = ReportQuery(since=start, until=end, project=_check_project(project), epic=epic,
                        active_epics_only=active_epics_only, states=_states(states))
    jira = jira_for(svc, who.tenant)
    report = report_view(svc, who.tenant, who.account_id, query, jira=jira)
    drifted = [f["key"] for group in report["groups"] for f in group["features"] if f["in_drift"]]
    open_work = {key: _open_work(svc, who, key, jira) for key in drifted[:OPEN_WORK_LOOKUPS]}
    epics = []
    for group in report["groups"]:
        head = group["epic"] or {}
        epics.append({
            "key": head.get("key"), "summary": head.get("summary"), "status": head.get("status"),
            "features": [{"key": f["key"], "summary": f["summary"], "status": f["status"], "drift": f["drift"],
                          "since": f.get("since"), "events": [_event(e) for e in f["events"]],
                          "still_open": open_work.get(f["key"], [] if not f["in_drift"] else None)}
                         for f in group["features"]],
        })
    result = {"window": report["window"], "epics": epics}
    return result, _recent_text(result, report, active_epics_only, user_zone(svc, who))


def _open_work(svc: Services, who: Principal, key: str, jira: JiraClient) -> list[dict[str, Any]] | None:
    """The open work the panel lists around a drifted feature (None when it could not be read)."""
    try:
        view = issue_view(svc, who.tenant, who.account_id, key, jira=jira)
    except AppError:
        return None
    return [{"key": i["key"], "summary": i["summary"], "status": i["status"], "why": i["why"],
             "incident": i["incident"]} for i in view["still_open"]]


def _recent_text(result: Mapping[str, Any], report: Mapping[str, Any], active_only: bool, zone: tzinfo) -> str:
    window = result["window"]
    span = f"between {_when(window['since'], zone)} and {_when(window['until'], zone)}"
    features = [f for group in report["groups"] for f in group["features"]]
    if not features:
        scope = "under active epics " if active_only else ""
        return (f"Nothing was deployed, reverted, rolled back, switched off or reconfigured {scope}{span} "
                "in the issues you can see.")
    drifted = [f for f in features if f["in_drift"]]
    lines = [f"{_plural(len(features), 'feature')} changed {span}"
             + (f"; {len(drifted)} of them {'is' if len(drifted) == 1 else 'are'} no longer fully live."
                if drifted else "; all of them are live.")]
    open_work = {f["key"]: f["still_open"] for group in result["epics"] for f in group["features"]}
    for group in report["groups"]:
        head = group["epic"]
        lines.append("")
        lines.append(f"Epic {head['key']} \"{head['summary']}\" ({head['status']}):" if head
                     else "Not under an epic you can see:")
        for feature in group["features"]:
            lines.extend(_feature_lines(feature, open_work.get(feature["key"]), zone))
    if drifted:
        lines += ["", f"What it means: {story.DEFAULT_MEANING} Check what was promised on "
                  + ", ".join(f["key"] for f in drifted) + " before repeating any date."]
    return "\n".join(lines)


def _feature_lines(feature: Mapping[str, Any], still_open: Sequence[Mapping[str, Any]] | None,
                   zone: tzinfo) -> list[str]:
    lines = [f"- {feature['key']} \"{feature['summary']}\": {feature['label']}."]
    if feature["in_drift"]:
        says = feature.get("status") or "unknown"
        lines.append(f"  {_sentence(feature.get('summary_text'), feature.get('since'), zone) or feature['headline']}"
                     f" Jira says {says}" + (", but the work is not fully live." if says.lower() == "done" else "."))
        lines.append(f"  {_open_line(feature['key'], still_open)}")
    for event in feature["events"]:
        lines.append(f"  * {_event_line(_event(event), zone)}")
    return lines


def _open_line(key: str, still_open: Sequence[Mapping[str, Any]] | None) -> str:
    if still_open is None:
        return f"For the open work around it, ask for the reality of {key}."
    if not still_open:
        return "No open work around it that you can see. " + _incident_line(key, still_open)
    return "Still open around it: " + "; ".join(
        f"{i['key']} \"{i['summary']}\" ({i['status']}): {i['why']}" for i in still_open) + ". " \
        + _incident_line(key, still_open)


def _incident_line(key: str, around: Sequence[Mapping[str, Any]]) -> str:
    """Whether an incident ticket exists, as far as the open work around the feature tells: its
    linked issues and the issues opened since the drift that mention it."""
    incidents = [i for i in around if i.get("incident")]
    if not incidents:
        return f"No incident ticket that you can see mentions {key} since it drifted."
    return "Incident ticket: " + "; ".join(f"{i['key']} \"{i['summary']}\" ({i['status']})" for i in incidents) + "."


# ---- issue_reality ---------------------------------------------------------------------------------


def issue_reality(svc: Services, who: Principal, issue_key: str) -> tuple[dict[str, Any], str]:
    key = (issue_key or "").strip().upper()
    view = issue_view(svc, who.tenant, who.account_id, key)
    prop = view["property"]
    result = {
        **{name: prop[name] for name in ("drift", "since", "changes", "reverted", "environment")},
        "summary_text": prop["summary"],
        "key": view["issue"]["key"], "summary": view["issue"]["summary"], "status": view["issue"]["status"],
        "in_drift": view["in_drift"],
        "timeline": [_event(e) for e in view["timeline"]],
        "timeline_total": view["timeline_total"],
        "still_open": [{"key": i["key"], "summary": i["summary"], "status": i["status"], "why": i["why"]}
                       for i in view["still_open"]],
    }
    return result, _issue_text(view, result, user_zone(svc, who))


def _issue_text(view: Mapping[str, Any], result: Mapping[str, Any], zone: tzinfo) -> str:
    issue = view["issue"]
    lines = [f"{issue['key']} \"{issue['summary']}\": {view['headline']}."]
    if view["has_changes"]:
        lines.append(_sentence(result["summary_text"], result["since"], zone))
    says = issue.get("status") or "unknown"
    if view["callout"]:
        lines.append(view["callout"])
    else:
        lines.append(f"Jira says {says}.")
    if result["timeline"]:
        lines += ["", "What happened, most recent first:"]
        lines += [f"- {_event_line(e, zone)}" for e in result["timeline"][:10]]
        if result["timeline_total"] > 10:
            lines.append(f"- ...and {result['timeline_total'] - 10} earlier events.")
    if view["in_drift"]:
        if result["still_open"]:
            lines += ["", "Still open around it:"]
            lines += [f"- {i['key']} \"{i['summary']}\" ({i['status']}): {i['why']}" for i in result["still_open"]]
        else:
            lines += ["", "No open work around it that you can see."]
        lines += ["", _incident_line(issue["key"], view["still_open"])]
        lines += ["", f"What it means: {view['meaning']}"]
    return "\n".join(lines)


# ---- drifted_issues ------------------------------------------------------------------------------


def drifted_issues(svc: Services, who: Principal, *, state: str | None = None, project: str | None = None,
                   since: str | None = None) -> tuple[dict[str, Any], str]:
    moment = parse_window(since, utcnow()) if since else None
    found = drifted_view(svc, who.tenant, who.account_id, state=state or None, project=_check_project(project),
                         since=moment)
    result = {"issues": [{"key": i["key"], "summary": i["summary"], "status": i["status"], "drift": i["drift"],
                          "since": i["since"], "summary_text": i["summary_text"]} for i in found]}
    if not found:
        return result, "No issue you can see is in drift: everything marked as shipped is still live."
    zone = user_zone(svc, who)
    done = [i for i in found if (i["status"] or "").lower() == "done"]
    lines = [f"{_plural(len(found), 'issue')} {'is' if len(found) == 1 else 'are'} not fully live"
             + (f", {len(done)} of them marked Done in Jira." if done else ".")]
    for issue in found:
        lines.append(f"- {issue['key']} \"{issue['summary']}\" (Jira: {issue['status']}): "
                     f"{_sentence(issue['summary_text'], issue['since'], zone)}")
    lines += ["", f"What it means: {story.DEFAULT_MEANING}"]
    return result, "\n".join(lines)


# ---- what_changed --------------------------------------------------------------------------------


def what_changed(svc: Services, who: Principal, *, since: str = "48h",
                 environment: str | None = "production") -> tuple[dict[str, Any], str]:
    start, end = _window(since, None)
    wanted = _environments(svc, who, environment)
    report = report_view(svc, who.tenant, who.account_id,
                         ReportQuery(since=start, until=end, active_epics_only=False))
    deployments: dict[tuple[Any, ...], dict[str, Any]] = {}
    for group in report["groups"]:
        for feature in group["features"]:
            # A deployment whose commit is one of the feature's reverts took the feature out.
            reverts = {e.get("sha"): e.get("title") for e in feature["events"] if e["kind"] == "revert"}
            for event in feature["events"]:
                kind = DEPLOYMENT_KINDS.get(event["kind"])
                env = event.get("environment")
                if kind is None or (wanted is not None and (env or "").lower() not in wanted):
                    continue
                # A configuration change has no commit: its link or its words tell it apart.
                slot = (event.get("when"), env, event.get("sha") or event.get("url") or event.get("title"), kind)
                entry = deployments.setdefault(slot, {
                    "at": event.get("when"), "environment": env, "ref": event.get("short") or event.get("sha"),
                    "url": event.get("url"), "kind": kind, "issues": [],
                    "text": (f"{reverts[event.get('sha')]} (deployed)" if event.get("sha") in reverts
                             else event.get("title") or "")})
                if all(i["key"] != feature["key"] for i in entry["issues"]):
                    entry["issues"].append({"key": feature["key"], "summary": feature["summary"],
                                            "status": feature["status"], "drift": feature["drift"]})
    ordered = sorted(deployments.values(), key=lambda d: d["at"] or "", reverse=True)
    result = {"window": report["window"], "deployments": ordered}
    return result, _changed_text(result, environment, user_zone(svc, who))


def _environments(svc: Services, who: Principal, environment: str | None) -> set[str] | None:
    name = (environment or "production").strip().lower()
    if name in ("all", "any", "*"):
        return None
    if name == "production":
        configured: Iterable[str] = (who.tenant.settings or {}).get("production_environments") \
            or svc.settings.production_environments
        return {"production", *(e.lower() for e in configured)}
    return {name}


def _changed_text(result: Mapping[str, Any], environment: str | None, zone: tzinfo) -> str:
    window = result["window"]
    place = "any environment" if (environment or "").lower() in ("all", "any", "*") else (environment or "production")
    span = f"between {_when(window['since'], zone)} and {_when(window['until'], zone)}"
    if not result["deployments"]:
        return f"Nothing touching issues you can see reached {place} {span}."
    lines = [f"{_plural(len(result['deployments']), 'change')} reached {place} {span}, most recent first:"]
    for entry in result["deployments"]:
        words = {"deploy": "deployed", "rollback": "rolled back", "config": "configuration changed"}[entry["kind"]]
        ref = f" {entry['ref']}" if entry.get("ref") else ""
        issues = "; ".join(f"{i['key']} \"{i['summary']}\" (Jira: {i['status']}, now {story.state_label(i['drift'])})"
                           for i in entry["issues"])
        lines.append(f"- {_when(entry['at'], zone)}: {words}{ref} in {entry['environment']}: {entry['text']}. "
                     f"Issues: {issues}.")
    return "\n".join(lines)
