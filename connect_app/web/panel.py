"""What the panel, the issue context and the report show, as JSON and as data for templates.

Both the iframe pages and `/api/*` read through `issue_view` and `report_view`, so the words a
stakeholder sees on the panel and the JSON a script gets are the same facts.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from connect_app.connect.audited import jira_for
from connect_app.connect.auth import caller, context_jwt_required
from connect_app.connect.jira import JiraClient, JiraError, is_done
from connect_app.errors import AppError, BadRequest, NotFound
from connect_app.reality import story
from connect_app.reality.drift import TimelineEvent
from connect_app.reality.keys import ISSUE_KEY, PROJECT_KEY, project_of
from connect_app.reality.model import NOT_DRIFT
from connect_app.reality.record import drift_from_record, iso, iso_in_zone, parse_iso, property_value
from connect_app.reality.rollup import ChildReality, drifted_names, rollup_headline
from connect_app.services import Services, services
from connect_app.store.models import CommitFact, Connection, IssueReality, ParentRollup, Tenant, utcnow
from connect_app.store.timelines import timeline_of_kind, timeline_page, timeline_total, window_events
from connect_app.sync.policy import business_owner_field, project_policy
from connect_app.sync.still_open import still_open

bp = Blueprint("reality_api", __name__)

TIMELINE_PAGE = 50
MAX_TIMELINE_PAGE = 1_000_000
WINDOWS = {"24h": timedelta(hours=24), "48h": timedelta(hours=48), "72h": timedelta(hours=72),
           "7d": timedelta(days=7)}
REPORTED_KINDS = frozenset({"deployment", "revert", "rollback", "flag", "config"})


def revert_of(session: Session, tenant_id: int, sha: str | None) -> tuple[str, str]:
    """Who made this revert commit and the first line of its reason, when a repository knows it:
    one stored commit, never the history."""
    if not sha:
        return "", ""
    connections = select(Connection.id).where(Connection.tenant_id == tenant_id).scalar_subquery()
    found = session.execute(select(CommitFact.author, CommitFact.message).where(
        CommitFact.connection_id.in_(connections), CommitFact.sha == sha).limit(1)).first()
    return (found.author or "", story.revert_reason(found.message or "")) if found else ("", "")


def event_view(event: TimelineEvent) -> dict[str, Any]:
    view = event.as_dict()
    view["when"] = iso(event.when)
    view["when_text"] = story.format_when(event.when) if event.when else "time unknown"
    return view


# Jira's bulk permission check takes at most 1000 issues per call.
PERMISSION_CHECK_LIMIT = 1000


def jira_unavailable(exc: JiraError) -> AppError:
    """A Jira outage is Jira's failure, not ours: a 502 (an HTML page in the iframes), never a 500."""
    return AppError(502, "jira_unavailable", "Jira did not answer; try again in a moment.")


def issue_grants(jira: JiraClient, account_id: str | None, issue_ids: Iterable[object],
                 permissions: Sequence[str]) -> dict[str, set[str]]:
    """Per permission, the ids among these issues on which Jira grants it to this user.

    Asked per issue, not per project: an issue security level can hide one issue in a project
    the user otherwise browses."""
    granted: dict[str, set[str]] = {permission: set() for permission in permissions}
    ids = sorted({str(i) for i in issue_ids if i is not None and str(i).isdigit()})
    if not ids or not account_id:
        return granted
    for chunk in _chunks(ids, PERMISSION_CHECK_LIMIT):
        try:
            answer = jira.check_permissions(account_id, project_permissions=[
                {"permissions": list(permissions), "issues": [int(i) for i in chunk]}])
        except JiraError as exc:
            raise jira_unavailable(exc) from exc
        for grant in answer.get("projectPermissions", []):
            if grant.get("permission") in granted:
                granted[grant["permission"]] |= {str(i) for i in grant.get("issues", [])}
    return granted


def browsable_issues(jira: JiraClient, account_id: str | None, issue_ids: Iterable[object]) -> set[str]:
    """The ids among these issues that Jira lets this user browse."""
    return issue_grants(jira, account_id, issue_ids, ("BROWSE_PROJECTS",))["BROWSE_PROJECTS"]


def issue_view(svc: Services, tenant: Tenant, account_id: str | None, issue_key: str, *,
               page: int = 1, jira: JiraClient | None = None) -> dict[str, Any]:
    """Everything the panel shows for one issue, after checking the user may browse it."""
    if not ISSUE_KEY.match(issue_key):
        raise NotFound("That is not an issue key.", "unknown_issue")
    jira = jira or jira_for(svc, tenant)
    owner_field = business_owner_field(tenant.settings)
    try:
        issue = jira.get_issue(issue_key, fields=["summary", "status", "project", "issuetype", "parent",
                                                  "issuelinks", "statuscategorychangedate", "assignee",
                                                  *([owner_field] if owner_field else [])])
    except JiraError as exc:
        if exc.status == 404:
            raise NotFound(f"{issue_key} does not exist or you cannot see it.", "unknown_issue") from exc
        raise jira_unavailable(exc) from exc
    fields = issue.get("fields") or {}
    owner = (fields.get(owner_field) or {}).get("displayName") if owner_field else None
    if str(issue.get("id") or "") not in browsable_issues(jira, account_id, [issue.get("id")]):
        raise NotFound(f"{issue_key} does not exist or you cannot see it.", "unknown_issue")
    key = str(issue.get("key") or issue_key)
    title = fields.get("summary") or key
    status = fields.get("status") or {}
    done = is_done(status, project_policy(tenant.settings or {}, project_of(key)).done_statuses)
    with svc.sessions() as session:
        reality = session.scalar(select(IssueReality).where(IssueReality.tenant_id == tenant.id,
                                                            IssueReality.issue_key == key))
        # Only this issue's stored rows, one page of them: never the tenant's history.
        # Any page number is a page (past the last one, an empty one); databases take 64-bit offsets only.
        page = min(max(1, page), MAX_TIMELINE_PAGE)
        total = timeline_total(session, tenant.id, key)
        shown = timeline_page(session, tenant.id, key, page, TIMELINE_PAGE)
        unconfirmed = [event_view(e) for e in timeline_of_kind(session, tenant.id, key, "unconfirmed-revert")]
        drift = drift_from_record(key, reality.desired if reality else {"state": "live"}, title)
        reverted_by, reason = revert_of(session, tenant.id, drift.cause_ref) if drift.cause_kind == "commit" \
            else ("", "")
    open_items = still_open(jira, issue, drift.since) if drift.in_drift else []
    # Found with the app's access: show only what this viewer may browse.
    if open_items:
        visible = browsable_issues(jira, account_id, [item.issue_id for item in open_items])
        open_items = [item for item in open_items if item.issue_id in visible]
    return {
        "issue": {"key": key, "summary": title, "status": status.get("name"), "done": done,
                  "assignee": (fields.get("assignee") or {}).get("displayName")},
        "drift": drift.state,
        "label": story.state_label(drift.state),
        "in_drift": drift.in_drift,
        # Drift without code (a flag switched off, a configuration rolled back) is still something to tell.
        "has_changes": total > 0 and (drift.changes > 0 or drift.in_drift),
        "headline": story.headline(drift) if total else f"Nothing to report on {key} yet",
        "summary": drift.summary,
        "what_happened": story.what_happened(drift, reverted_by=reverted_by, reason=reason),
        "reverted_by": reverted_by or None,
        "revert_reason": reason or None,
        "since": iso(drift.since),
        "since_text": story.format_when(drift.since) if drift.since else None,
        "since_lead": story.when_lead(drift),
        "environment": drift.environment,
        "changes": drift.changes,
        "reverted": drift.reverted,
        "cause": {"kind": drift.cause_kind, "ref": drift.cause_ref, "url": drift.cause_url},
        "callout": story.callout(drift, status.get("name") or "Done") if done and drift.in_drift else None,
        "business_owner": owner,
        "meaning": story.meaning(drift) if drift.in_drift else None,
        "timeline": [event_view(e) for e in shown],
        "timeline_total": total,
        "timeline_page": page,
        "timeline_pages": max(1, -(-total // TIMELINE_PAGE)),
        "unconfirmed_reverts": unconfirmed,
        "still_open": [{"key": i.key, "summary": i.summary, "status": i.status, "why": i.why,
                        "incident": i.incident} for i in open_items],
        "property": property_value(drift),
        "rollup": rollup_view(svc, tenant, jira, account_id, key),
    }


def rollup_view(svc: Services, tenant: Tenant, jira: JiraClient, account_id: str | None,
                parent_key: str) -> dict[str, Any] | None:
    """An epic's (any parent's) features with linked changes and their reality, limited to the
    ones this viewer may browse; None when the issue is no parent of such features."""
    with svc.sessions() as session:
        row = session.scalar(select(ParentRollup).where(ParentRollup.tenant_id == tenant.id,
                                                        ParentRollup.parent_key == parent_key))
    if row is None or not row.children:
        return None
    found = _fetch(jira, [c["key"] for c in row.children], ["summary"])
    allowed = browsable_issues(jira, account_id, [i.get("id") for i in found.values()])
    children = [ChildReality(key=c["key"], summary=((found[c["key"]].get("fields") or {}).get("summary")
                                                    or c.get("summary") or c["key"]),
                             state=c["state"], since=c.get("since"))
                for c in row.children if c["key"] in found and str(found[c["key"]].get("id")) in allowed]
    if not children:
        return None
    drifted = [c for c in children if c.in_drift]
    worst = drifted[0].state if drifted else "live"
    return {
        "drift": worst, "label": story.state_label(worst), "drifted": len(drifted), "total": len(children),
        "headline": rollup_headline(children), "summary": f"{drifted_names(children)}." if drifted else "",
        "children": [{"key": c.key, "summary": c.summary, "state": c.state, "label": story.state_label(c.state),
                      "in_drift": c.in_drift, "since": c.since} for c in children],
    }


@bp.get("/api/issues/<issue_key>/reality")
@context_jwt_required
def issue_reality(issue_key: str) -> Response:
    who = caller()
    try:
        page = int(request.args.get("page", "1"))
    except ValueError as exc:
        raise BadRequest("page must be a number.") from exc
    return jsonify(issue_view(services(), who.tenant, who.account_id, issue_key, page=page))


# ---- report ----------------------------------------------------------------------------------


def parse_window(value: str | None, now: datetime, name: str = "since") -> datetime:
    value = (value or "48h").strip()
    if value in WINDOWS:
        return now - WINDOWS[value]
    match = re.fullmatch(r"([1-9][0-9]{0,3})([hd])", value)
    if match:
        amount = int(match.group(1))
        return now - (timedelta(hours=amount) if match.group(2) == "h" else timedelta(days=amount))
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # Seen in UTC, as every comparison sees it: 0001-01-01T00:00+01:00 falls off the calendar.
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise BadRequest(f"{name} must be 24h, 48h, 72h, 7d, a number of hours or days, or an ISO time.") from exc


@dataclass(frozen=True)
class ReportQuery:
    since: datetime
    until: datetime
    project: str | None = None
    epic: str | None = None
    active_epics_only: bool = True
    states: frozenset[str] = frozenset()


def report_query(args: Mapping[str, str]) -> ReportQuery:
    now = utcnow()
    project = args.get("project") or None
    if project and not PROJECT_KEY.match(project):
        raise BadRequest("project must be a Jira project key.")
    epic = args.get("epic") or None
    if epic and not ISSUE_KEY.match(epic):
        raise BadRequest("epic must be an issue key.")
    epics = args.get("epics", "active")
    if epics not in ("active", "all"):
        raise BadRequest("epics must be active or all.")
    states = frozenset(s for s in (args.get("state") or "").split(",") if s)
    if states - {"live", "pending-deploy", "reverted", "partially-reverted", "rolled-back", "flag-off", "hotfixed"}:
        raise BadRequest("state must be drift states separated by commas.")
    until = parse_window(args["until"], now, "until") if args.get("until") else now
    return ReportQuery(since=parse_window(args.get("since"), now), until=until, project=project, epic=epic,
                       active_epics_only=epics == "active", states=states)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def report_view(svc: Services, tenant: Tenant, account_id: str | None, query: ReportQuery,
                jira: JiraClient | None = None) -> dict[str, Any]:
    """Deployments and reversions in the window, for features under (active) epics, grouped by
    epic, limited to issues the user may browse."""
    jira = jira or jira_for(svc, tenant)
    with svc.sessions() as session:
        # The window's stored events of issues the tenant keeps reality for: never the history.
        window = window_events(session, tenant.id, query.since, query.until, REPORTED_KINDS, query.project)
        realities = {r.issue_key: r for r in session.scalars(select(IssueReality).where(
            IssueReality.tenant_id == tenant.id, IssueReality.issue_key.in_(sorted(window))))} if window else {}
        rollups = {r.parent_key: r.desired for r in session.scalars(
            select(ParentRollup).where(ParentRollup.tenant_id == tenant.id))}
    touched = {key: [event_view(e) for e in events] for key, events in window.items()}
    issues = _fetch(jira, list(touched), ["summary", "status", "parent", "project", "issuetype"])
    epic_keys = sorted({(i["fields"].get("parent") or {}).get("key") for i in issues.values()} - {None})
    epics = _fetch(jira, epic_keys, ["summary", "status", "issuetype", "project"])
    # Features and epics alike: issue security may hide either from this user.
    allowed = browsable_issues(jira, account_id, [i.get("id") for i in (*issues.values(), *epics.values())])
    groups: dict[str, dict[str, Any]] = {}
    for key, issue in issues.items():
        fields = issue.get("fields") or {}
        if str(issue.get("id")) not in allowed:
            continue
        parent = (fields.get("parent") or {}).get("key")
        epic = epics.get(parent) if parent else None
        epic_status = ((epic or {}).get("fields") or {}).get("status") or {}
        active = epic is not None and not is_done(epic_status)
        if query.active_epics_only and not active:
            continue
        if query.epic and parent != query.epic:
            continue
        reality = realities.get(key)
        drift = drift_from_record(key, reality.desired if reality else {"state": "live"},
                                  fields.get("summary") or key)
        if query.states and drift.state not in query.states:
            continue
        shown_epic = parent if epic is not None and str(epic.get("id")) in allowed else None
        group = groups.setdefault(shown_epic or "", {
            "epic": {"key": parent, "summary": ((epic or {}).get("fields") or {}).get("summary"),
                     "status": epic_status.get("name"), "active": active,
                     "rollup": epic_rollup_line(rollups.get(parent))} if shown_epic else None,
            "features": [],
        })
        group["features"].append({
            "key": key, "summary": fields.get("summary") or key,
            "status": (fields.get("status") or {}).get("name"),
            "drift": drift.state, "label": story.state_label(drift.state),
            "in_drift": drift.state not in NOT_DRIFT, "headline": story.headline(drift),
            "since": iso(drift.since), "summary_text": drift.summary,
            "events": touched[key],
        })
    ordered = sorted(groups.values(), key=lambda g: (g["epic"] is None, (g["epic"] or {}).get("key") or ""))
    return {
        "window": {"since": iso(query.since), "until": iso(query.until)},
        "filters": {"project": query.project, "epic": query.epic,
                    "epics": "active" if query.active_epics_only else "all", "state": sorted(query.states)},
        "groups": ordered,
        "total": sum(len(g["features"]) for g in ordered),
    }


def epic_rollup_line(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The report's epic header says what the epic's panel says, in counts (no child names: the
    viewer may not browse every feature)."""
    if not value or not value.get("childrenTotal"):
        return None
    drifted, total = int(value.get("children") or 0), int(value["childrenTotal"])
    noun = "feature" if total == 1 else "features"
    text = (f"{drifted} of {total} {noun} no longer fully live" if drifted
            else f"{'The' if total == 1 else 'All'} {total} {noun} with code live")
    return {"drift": value.get("drift"), "label": story.state_label(str(value.get("drift"))), "drifted": drifted,
            "total": total, "text": text}


DRIFT_STATES = ("pending-deploy", "reverted", "partially-reverted", "rolled-back", "flag-off", "hotfixed")


def drifted_view(svc: Services, tenant: Tenant, account_id: str | None, *, state: str | None = None,
                 project: str | None = None, since: datetime | None = None,
                 jira: JiraClient | None = None) -> list[dict[str, Any]]:
    """Every issue whose stored reality is drift now (optionally one state, one project, drifted
    since a moment), limited to issues the user may browse, most recent drift first."""
    if state is not None and state not in DRIFT_STATES:
        raise BadRequest(f"state must be one of {', '.join(DRIFT_STATES)}.")
    if project and not PROJECT_KEY.match(project):
        raise BadRequest("project must be a Jira project key.")
    with svc.sessions() as session:
        drifting = select(IssueReality).where(IssueReality.tenant_id == tenant.id,
                                              IssueReality.state.not_in(sorted(NOT_DRIFT)))
        rows = list(session.scalars(drifting.where(IssueReality.state == state) if state else drifting))
    chosen: dict[str, dict[str, Any]] = {}
    for row in rows:
        record = row.desired or {}
        current = record.get("state", "live")
        if current in NOT_DRIFT or (state and current != state):
            continue
        if project and not row.issue_key.startswith(f"{project}-"):
            continue
        drifted_at = parse_iso(record.get("since"))
        if since is not None and (drifted_at is None or drifted_at < since):
            continue
        chosen[row.issue_key] = record
    if not chosen:
        return []
    jira = jira or jira_for(svc, tenant)
    issues = _fetch(jira, list(chosen), ["summary", "status", "project", "issuetype"])
    allowed = browsable_issues(jira, account_id, [i.get("id") for i in issues.values()])
    found = []
    for key, issue in issues.items():
        if str(issue.get("id")) not in allowed or key not in chosen:
            continue
        fields = issue.get("fields") or {}
        drift = drift_from_record(key, chosen[key], fields.get("summary") or key)
        found.append({"key": key, "summary": fields.get("summary") or key,
                      "status": (fields.get("status") or {}).get("name"), "drift": drift.state,
                      "label": story.state_label(drift.state), "since": iso(drift.since),
                      "environment": drift.environment, "summary_text": drift.summary,
                      "headline": story.headline(drift)})
    return sorted(found, key=lambda i: (i["since"] or "", i["key"]), reverse=True)


def _fetch(jira: JiraClient, keys: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
    try:
        return jira.issues_by_key(sorted(keys), fields)
    except JiraError as exc:
        raise jira_unavailable(exc) from exc


def viewer_zone(name: str | None) -> tzinfo:
    """The IANA time zone the viewer's Jira profile names (the report page sends it); UTC when none."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadRequest("tz must be an IANA time zone such as Europe/Berlin.") from exc


def report_csv(report: Mapping[str, Any], zone: tzinfo = UTC) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["epic", "epic status", "epic reality", "issue", "summary", "jira status", "reality", "when",
                     "what", "commit or deployment", "environment", "link"])
    for group in report["groups"]:
        epic = group["epic"] or {}
        rollup = (epic.get("rollup") or {}).get("text")  # the epic header's own words
        for feature in group["features"]:
            for event in feature["events"]:
                writer.writerow([_cell(epic.get("key")), _cell(epic.get("status")), _cell(rollup), feature["key"],
                                 _cell(feature["summary"]), _cell(feature["status"]), feature["label"],
                                 iso_in_zone(event["when"], zone), _cell(event["title"]), event.get("short") or "",
                                 _cell(event.get("environment")), _cell(event.get("url"))])
    return out.getvalue()


def _cell(value: Any) -> str:
    """Spreadsheet-safe text: a commit title starting with = or + must not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@bp.get("/api/report")
@context_jwt_required
def report() -> Response:
    who = caller()
    zone = viewer_zone(request.args.get("tz"))
    data = report_view(services(), who.tenant, who.account_id, report_query(request.args))
    if request.args.get("format") == "csv":
        return Response(report_csv(data, zone), mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="system-reality-report.csv"'})
    return jsonify(data)
