"""The four MCP tools as plain functions: each reads through the very functions the panel and the
report use (`web.panel`), so an assistant sees the same facts, limited by the same Jira browse
checks, and gets them back as structured data plus a briefing a stakeholder can read.

Nothing here computes reality: it reshapes what `issue_view`, `report_view` and `drifted_view`
already say, and puts it into words.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from connect_app.errors import BadRequest
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
)

ALL_STATES = ("live", *DRIFT_STATES)
EVENT_WORDS = {"deployment": "deployed", "revert": "reverted", "rollback": "rolled back", "flag": "flag changed",
               "commit": "committed", "pull-request": "pull request merged", "hotfix": "hotfix",
               "release": "released", "unconfirmed-revert": "possible revert", "config": "configuration changed"}
DEPLOYMENT_KINDS = {"deployment": "deploy", "rollback": "rollback", "config": "config"}


# ---- small shared pieces -----------------------------------------------------------------------


def _when(value: str | None) -> str:
    moment = parse_iso(value)
    return story.format_when(moment) if moment else "at an unknown time"


def _event(view: Mapping[str, Any]) -> dict[str, Any]:
    """A timeline or report event as INTERFACES 7 names its fields."""
    return {"kind": view.get("kind"), "at": view.get("when"), "environment": view.get("environment"),
            "ref": view.get("short") or view.get("sha"), "url": view.get("url"), "text": view.get("title") or ""}


def _event_line(event: Mapping[str, Any]) -> str:
    where = f" in {event['environment']}" if event.get("environment") else ""
    ref = f" ({event['ref']})" if event.get("ref") else ""
    word = EVENT_WORDS.get(str(event.get("kind")), str(event.get("kind")))
    return f"{_when(event.get('at'))}: {word}{where}{ref}: {event.get('text')}"


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


def recent_changes(svc: Services, who: Principal, *, since: str = "48h", until: str | None = None,
                   project: str | None = None, epic: str | None = None, active_epics_only: bool = True,
                   states: Sequence[str] | str | None = None) -> tuple[dict[str, Any], str]:
    start, end = _window(since, until)
    epic = (epic or "").strip().upper() or None
    if epic and not ISSUE_KEY.match(epic):
        raise BadRequest("epic must be an issue key such as FEAT-300.")
    query = ReportQuery(since=start, until=end, project=_check_project(project), epic=epic,
                        active_epics_only=active_epics_only, states=_states(states))
    report = report_view(svc, who.tenant, who.account_id, query)
    epics = []
    for group in report["groups"]:
        head = group["epic"] or {}
        epics.append({
            "key": head.get("key"), "summary": head.get("summary"), "status": head.get("status"),
            "features": [{"key": f["key"], "summary": f["summary"], "status": f["status"], "drift": f["drift"],
                          "since": f.get("since"), "events": [_event(e) for e in f["events"]]}
                         for f in group["features"]],
        })
    result = {"window": report["window"], "epics": epics}
    return result, _recent_text(result, report, active_epics_only)


def _recent_text(result: Mapping[str, Any], report: Mapping[str, Any], active_only: bool) -> str:
    window = result["window"]
    span = f"between {_when(window['since'])} and {_when(window['until'])}"
    features = [f for group in report["groups"] for f in group["features"]]
    if not features:
        scope = "under active epics " if active_only else ""
        return (f"Nothing was deployed, reverted, rolled back, switched off or reconfigured {scope}{span} "
                "in the issues you can see.")
    drifted = [f for f in features if f["in_drift"]]
    lines = [f"{_plural(len(features), 'feature')} changed {span}"
             + (f"; {len(drifted)} of them {'is' if len(drifted) == 1 else 'are'} no longer fully live."
                if drifted else "; all of them are live.")]
    for group in report["groups"]:
        head = group["epic"]
        lines.append("")
        lines.append(f"Epic {head['key']} \"{head['summary']}\" ({head['status']}):" if head
                     else "Not under an epic you can see:")
        for feature in group["features"]:
            lines.extend(_feature_lines(feature))
    if drifted:
        lines += ["", f"What it means: {story.DEFAULT_MEANING} Check what was promised on "
                  + ", ".join(f["key"] for f in drifted) + " before repeating any date."]
    return "\n".join(lines)


def _feature_lines(feature: Mapping[str, Any]) -> list[str]:
    lines = [f"- {feature['key']} \"{feature['summary']}\": {feature['label']}."]
    if feature["in_drift"]:
        says = feature.get("status") or "unknown"
        lines.append(f"  {feature.get('summary_text') or feature['headline']} Jira says {says}"
                     + (", but the work is not fully live." if says.lower() == "done" else "."))
    for event in feature["events"]:
        lines.append(f"  * {_event_line(_event(event))}")
    return lines


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
    return result, _issue_text(view, result)


def _issue_text(view: Mapping[str, Any], result: Mapping[str, Any]) -> str:
    issue = view["issue"]
    lines = [f"{issue['key']} \"{issue['summary']}\": {view['headline']}."]
    if view["has_changes"]:
        lines.append(result["summary_text"])
    says = issue.get("status") or "unknown"
    if view["callout"]:
        lines.append(view["callout"])
    else:
        lines.append(f"Jira says {says}.")
    if result["timeline"]:
        lines += ["", "What happened, most recent first:"]
        lines += [f"- {_event_line(e)}" for e in result["timeline"][:10]]
        if result["timeline_total"] > 10:
            lines.append(f"- ...and {result['timeline_total'] - 10} earlier events.")
    if view["in_drift"]:
        if result["still_open"]:
            lines += ["", "Still open around it:"]
            lines += [f"- {i['key']} \"{i['summary']}\" ({i['status']}): {i['why']}" for i in result["still_open"]]
        else:
            lines += ["", "No open work around it that you can see."]
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
    done = [i for i in found if (i["status"] or "").lower() == "done"]
    lines = [f"{_plural(len(found), 'issue')} {'is' if len(found) == 1 else 'are'} not fully live"
             + (f", {len(done)} of them marked Done in Jira." if done else ".")]
    for issue in found:
        lines.append(f"- {issue['key']} \"{issue['summary']}\" (Jira: {issue['status']}): {issue['summary_text']}")
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
    return result, _changed_text(result, environment)


def _environments(svc: Services, who: Principal, environment: str | None) -> set[str] | None:
    name = (environment or "production").strip().lower()
    if name in ("all", "any", "*"):
        return None
    if name == "production":
        configured: Iterable[str] = (who.tenant.settings or {}).get("production_environments") \
            or svc.settings.production_environments
        return {"production", *(e.lower() for e in configured)}
    return {name}


def _changed_text(result: Mapping[str, Any], environment: str | None) -> str:
    window = result["window"]
    place = "any environment" if (environment or "").lower() in ("all", "any", "*") else (environment or "production")
    span = f"between {_when(window['since'])} and {_when(window['until'])}"
    if not result["deployments"]:
        return f"Nothing touching issues you can see reached {place} {span}."
    lines = [f"{_plural(len(result['deployments']), 'change')} reached {place} {span}, most recent first:"]
    for entry in result["deployments"]:
        words = {"deploy": "deployed", "rollback": "rolled back", "config": "configuration changed"}[entry["kind"]]
        ref = f" {entry['ref']}" if entry.get("ref") else ""
        issues = "; ".join(f"{i['key']} \"{i['summary']}\" (Jira: {i['status']}, now {story.state_label(i['drift'])})"
                           for i in entry["issues"])
        lines.append(f"- {_when(entry['at'])}: {words}{ref} in {entry['environment']}: {entry['text']}. "
                     f"Issues: {issues}.")
    return "\n".join(lines)
