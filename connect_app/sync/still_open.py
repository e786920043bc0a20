"""Open work around a drifted feature: its own sub-tasks, linked issues, the epic's other children
and issues opened since the drift that mention its key, as the app (not the viewer) finds them in
Jira."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connect_app.connect.jira import JiraClient, JiraError, is_done

log = logging.getLogger(__name__)

STILL_OPEN_LIMIT = 20


@dataclass(frozen=True)
class OpenIssue:
    """Open work around a drifted feature, as the app (not the viewer) found it in Jira."""

    issue_id: str
    key: str
    summary: str
    status: str
    # An issue security level is set, or Jira did not say: only some people may know it exists.
    secured: bool
    # Why it counts as open work around the feature, in a reader's words.
    why: str = ""
    # An incident ticket: whether one exists is what an operations lead asks first.
    incident: bool = False

    @property
    def row(self) -> tuple[str, str, str]:
        return (self.key, self.summary, self.status)


def still_open(jira: JiraClient, issue: Mapping[str, Any], since: datetime | None) -> list[OpenIssue]:
    """Open work around the feature: its sub-tasks, linked issues and the epic's other children
    that are not done, and issues created since the drift that mention the key.

    Found with the app's access, so callers must filter before showing it to anyone: by the
    viewer's browse permission, or, where everyone who sees the drifted issue reads it (the
    comment), by leaving out every issue with a security level."""
    key = str(issue.get("key"))
    fields = issue.get("fields") or {}
    found: dict[str, OpenIssue] = {}
    for link in fields.get("issuelinks") or []:
        other = link.get("outwardIssue") or link.get("inwardIssue") or {}
        other_fields = other.get("fields") or {}
        status = other_fields.get("status") or {}
        if not is_done(status) and other.get("key") and other.get("id"):
            relation = ((link.get("type") or {}).get("outward" if link.get("outwardIssue") else "inward")
                        or "linked to")
            # Linked issues come without their security level: secured until the search says not.
            found[other["key"]] = OpenIssue(str(other["id"]), other["key"], other_fields.get("summary") or "",
                                            status.get("name") or "", secured=True,
                                            why=f"{key} {relation} it", incident=is_incident(other_fields))
    unconfirmed = set(found)
    clauses = []
    if found:
        ids = ", ".join(item.issue_id for item in found.values() if item.issue_id.isdigit())
        if ids:
            clauses.append(f"(id in ({ids}) AND statusCategory != Done)")
    clauses.append(f'(parent = "{key}" AND statusCategory != Done)')
    parent = (fields.get("parent") or {}).get("key")
    if parent:
        clauses.append(f'(parent = "{parent}" AND statusCategory != Done AND key != "{key}")')
    if since is not None:
        clauses.append(f'(text ~ "{key}" AND created >= "{since:%Y-%m-%d %H:%M}" AND key != "{key}")')
    try:
        for other in jira.search_jql(" OR ".join(clauses), max_results=STILL_OPEN_LIMIT,
                                     fields=["summary", "status", "security", "parent", "issuetype"]):
            other_fields = other.get("fields") or {}
            unconfirmed.discard(other["key"])
            if other["key"] in found or len(found) < STILL_OPEN_LIMIT:
                found[other["key"]] = OpenIssue(
                    str(other.get("id") or ""), other["key"], other_fields.get("summary") or "",
                    (other_fields.get("status") or {}).get("name") or "",
                    secured=bool(other_fields.get("security")),
                    why=_why(key, parent, other, found.get(other["key"])), incident=is_incident(other_fields))
            if len(found) >= STILL_OPEN_LIMIT and not unconfirmed:
                break
    except JiraError as exc:  # the comment is still worth posting without this list
        log.info("still-open search failed for %s: %s", key, exc)
    return list(found.values())


def is_incident(fields: Mapping[str, Any]) -> bool:
    """An incident ticket by its issue type's name: Jira Service Management's "[System] Incident"
    or the "Incident" type sites add themselves (each site names its types in its own words, and
    JQL naming a type the site lacks is refused, so the type is read, not searched for)."""
    return "incident" in str((fields.get("issuetype") or {}).get("name") or "").lower()


def _why(key: str, parent: str | None, other: Mapping[str, Any], linked: OpenIssue | None) -> str:
    if linked is not None:
        return linked.why
    other_parent = ((other.get("fields") or {}).get("parent") or {}).get("key")
    if other_parent == key:
        return f"a sub-task of {key}"
    if parent and other_parent == parent:
        return f"also open under the epic {parent}"
    return f"mentions {key} and was opened after the drift"
