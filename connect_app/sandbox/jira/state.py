"""The simulated Jira site's data: users, projects, issues, workflow, and how Jira renders them.

Issues are plain dicts (see `JiraState.add_issue`) so tests can read them directly:
`state.issues["FEAT-1"]["labels"]`, `["status"]`, `["comments"]`, `["properties"]`.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from connect_app.sandbox.jira.adf import adf_text
from connect_app.sandbox.jira.jql import FieldKind, JqlError

# name -> (status id, category key)
STATUSES: dict[str, tuple[str, str]] = {
    "To Do": ("10000", "new"),
    "In Progress": ("3", "indeterminate"),
    "Done": ("10001", "done"),
    "Reopened": ("4", "new"),
}
# category key -> (id, name, colour)
CATEGORIES: dict[str, tuple[int, str, str]] = {
    "new": (2, "To Do", "blue-gray"),
    "indeterminate": (4, "In Progress", "yellow"),
    "done": (3, "Done", "green"),
}
# One workflow for every project: transition id -> (name, target status, allowed from).
# "Reopen" only leaves Done; "Done" is offered from anything not done.
TRANSITIONS: dict[str, tuple[str, str, frozenset[str]]] = {
    "11": ("To Do", "To Do", frozenset({"In Progress", "Done", "Reopened"})),
    "21": ("In Progress", "In Progress", frozenset({"To Do", "Done", "Reopened"})),
    "31": ("Done", "Done", frozenset({"To Do", "In Progress", "Reopened"})),
    "41": ("Reopen", "Reopened", frozenset({"Done"})),
}
ISSUE_TYPES: dict[str, tuple[str, int]] = {  # name -> (id, hierarchy level)
    "Epic": ("10000", 1),
    "Story": ("10001", 0),
    "Task": ("10002", 0),
    "Bug": ("10004", 0),
    "[System] Incident": ("10005", 0),  # Jira Service Management's incident type
    "Sub-task": ("10003", -1),
}
LINK_TYPES: dict[str, tuple[str, str, str]] = {  # name -> (id, inward, outward)
    "Blocks": ("10000", "is blocked by", "blocks"),
    "Cloners": ("10001", "is cloned by", "clones"),
    "Duplicate": ("10002", "is duplicated by", "duplicates"),
    "Relates": ("10003", "relates to", "relates to"),
}
# Custom fields of every simulated site: id -> (name, schema type, items type, custom type key).
CUSTOM_FIELDS: dict[str, tuple[str, str, str | None, str]] = {
    "customfield_10050": ("Business owner", "user", None,
                          "com.atlassian.jira.plugin.system.customfieldtypes:userpicker"),
    "customfield_10051": ("Product owners", "array", "user",
                          "com.atlassian.jira.plugin.system.customfieldtypes:multiuserpicker"),
    "customfield_10016": ("Story point estimate", "number", None,
                          "com.pyxis.greenhopper.jira:jsw-story-points"),
    "customfield_10020": ("Sprint", "array", "json", "com.pyxis.greenhopper.jira:gh-sprint"),
}
# System fields listed by GET /rest/api/3/field: id -> (name, schema type).
SYSTEM_FIELDS: dict[str, tuple[str, str]] = {
    "summary": ("Summary", "string"), "status": ("Status", "status"), "assignee": ("Assignee", "user"),
    "reporter": ("Reporter", "user"), "labels": ("Labels", "array"), "parent": ("Parent", "issuelink"),
}
# Fields an app may set through the edit endpoint (plus any custom field seeded on the issue).
EDITABLE_FIELDS = frozenset({"summary", "labels", "assignee", "reporter", "description", "priority", "duedate"})


def now_iso() -> str:
    """Jira's timestamp format: 2024-05-01T10:00:00.000+0000."""
    return jira_time(datetime.now(UTC))


def jira_time(moment: datetime) -> str:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_time(value: str | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def extract_path(value: Any, object_name: str) -> list[Any]:
    """Values at a dotted `objectName` path, flattening arrays as Jira's indexer does."""
    current: list[Any] = [value]
    for part in object_name.split("."):
        following: list[Any] = []
        for item in current:
            if isinstance(item, dict) and part in item:
                child = item[part]
                following.extend(child if isinstance(child, list) else [child])
        current = following
    return [v for v in current if v is not None and not isinstance(v, dict | list)]


class JiraState:
    """Everything the simulated site knows, guarded by one re-entrant lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.base_url = ""
        self.users: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self.issues: dict[str, dict[str, Any]] = {}
        self.moved_keys: dict[str, str] = {}  # old key -> current key
        # id -> issue (ids never change; a move keeps the issue's dict): Jira finds an issue by id
        # through its index, and a site of 5,000 issues must not cost a scan per id.
        self.issues_by_id: dict[str, dict[str, Any]] = {}
        self.links: list[dict[str, Any]] = []
        self.browse_restrictions: set[tuple[str, str]] = set()  # (accountId, project key)
        self.browse_only: set[tuple[str, str]] = set()  # (accountId, project key): no other permission
        self.issue_restrictions: set[tuple[str, str]] = set()  # (accountId, issue id): issue security
        # Entity-property index declarations from installed descriptors:
        # alias or "issue.property[key].path" -> (property key, objectName, type)
        self.property_fields: dict[str, tuple[str, str, str]] = {}
        # Module types each installed app declares (Jira Software's DevOps APIs answer 403 without theirs).
        self.app_modules: dict[str, frozenset[str]] = {}
        # Jira Software's DevOps data (see rest/devops.py): (pipeline id, environment id,
        # deploymentSequenceNumber) -> stored deployment, and flag id -> stored flag.
        self.deployments: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.feature_flags: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(10001)
        self._comment_ids = itertools.count(10100)
        self._link_ids = itertools.count(10200)
        self._project_ids = itertools.count(10000)

    # ---- seeding -------------------------------------------------------------------------

    def add_user(self, account_id: str, display_name: str, *, admin: bool = False, app: bool = False,
                 time_zone: str = "Etc/UTC", locale: str = "en_US") -> None:
        with self.lock:
            self.users[account_id] = {
                "accountId": account_id,
                "displayName": display_name,
                "admin": admin,
                "accountType": "app" if app else "atlassian",
                "timeZone": time_zone,
                "locale": locale,
            }

    def add_project(self, key: str, name: str, *, id: str | None = None) -> None:
        with self.lock:
            self.projects[key] = {"id": id or str(next(self._project_ids)), "key": key, "name": name,
                                  "properties": {}}

    def add_issue(
        self,
        key: str,
        summary: str,
        *,
        status: str = "To Do",
        issuetype: str = "Story",
        reporter: str | None = None,
        assignee: str | None = None,
        parent: str | None = None,
        fields: dict[str, Any] | None = None,
        links: Any = (),
    ) -> dict[str, Any]:
        with self.lock:
            if status not in STATUSES:
                raise ValueError(f"unknown status {status!r}; choose from {sorted(STATUSES)}")
            if issuetype not in ISSUE_TYPES:
                raise ValueError(f"unknown issue type {issuetype!r}; choose from {sorted(ISSUE_TYPES)}")
            project_key = key.rsplit("-", 1)[0]
            if project_key not in self.projects:
                self.add_project(project_key, project_key.title())
            for account in (reporter, assignee):
                if account is not None and account not in self.users:
                    self.add_user(account, account)
            extra = dict(fields or {})
            created = jira_time(parse_time(extra.pop("created"))) if "created" in extra else now_iso()
            issue: dict[str, Any] = {
                "id": str(next(self._ids)),
                "key": key,
                "project": project_key,
                "summary": summary,
                "status": status,
                "issuetype": issuetype,
                "reporter": reporter,
                "assignee": assignee,
                "parent": parent,
                "labels": list(extra.pop("labels", [])),
                "description": extra.pop("description", None),
                "created": created,
                "updated": jira_time(parse_time(extra.pop("updated"))) if "updated" in extra else created,
                "statuscategorychangedate": created,
                "resolutiondate": None,
                "fields": extra,
                "comments": [],
                "properties": {},
            }
            if STATUSES[status][1] == "done":
                issue["resolutiondate"] = created
            self.issues[key] = issue
            self.issues_by_id[issue["id"]] = issue
            for link_type, other in links:
                self.link(key, other, link_type)
            return issue

    def link(self, outward_key: str, inward_key: str, link_type: str = "Blocks") -> None:
        """`outward_key` <outward phrase> `inward_key`, e.g. FEAT-1 blocks FEAT-2."""
        with self.lock:
            name = next(
                (n for n, (_i, inward, outward) in LINK_TYPES.items() if link_type in (n, inward, outward)),
                None,
            )
            if name is None:
                raise ValueError(f"unknown link type {link_type!r}")
            self.links.append(
                {"id": str(next(self._link_ids)), "type": name, "outward": outward_key, "inward": inward_key}
            )

    def move_issue(self, old_key: str, new_key: str) -> None:
        with self.lock:
            issue = self.issues.pop(old_key)
            project_key = new_key.rsplit("-", 1)[0]
            if project_key not in self.projects:
                self.add_project(project_key, project_key.title())
            issue["key"] = new_key
            issue["project"] = project_key
            self.issues[new_key] = issue
            self.moved_keys[old_key] = new_key
            for old, current in list(self.moved_keys.items()):
                if current == old_key:
                    self.moved_keys[old] = new_key
            for other in self.issues.values():
                if other["parent"] == old_key:
                    other["parent"] = new_key
            for link in self.links:
                for end in ("outward", "inward"):
                    if link[end] == old_key:
                        link[end] = new_key

    def set_status(self, key: str, status: str) -> None:
        with self.lock:
            issue = self.find_issue(key)
            if issue is None:
                raise KeyError(key)
            self.change_status(issue, status)

    def change_status(self, issue: dict[str, Any], status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        before = STATUSES[issue["status"]][1]
        after = STATUSES[status][1]
        issue["status"] = status
        stamp = now_iso()
        issue["updated"] = stamp
        if before != after:
            issue["statuscategorychangedate"] = stamp
        issue["resolutiondate"] = stamp if after == "done" else None

    # ---- lookup --------------------------------------------------------------------------

    def find_issue(self, id_or_key: str) -> dict[str, Any] | None:
        """By key, by a key it had before a move, or by id; case-insensitive key as Jira."""
        key = id_or_key.upper()
        key = self.moved_keys.get(key, key)
        if key in self.issues:
            return self.issues[key]
        return self.issues_by_id.get(id_or_key)

    def issues_named(self, names: Iterable[str]) -> list[dict[str, Any]] | None:
        """The issues these keys (current or before a move) or ids name, looked up as Jira's index
        would; None when one names no issue (the caller then tests every issue, as before)."""
        found: dict[str, dict[str, Any]] = {}
        for name in names:
            issue = self.find_issue(name)
            if issue is None:
                return None
            found[issue["id"]] = issue
        return list(found.values())

    def find_project(self, id_or_key: str) -> dict[str, Any] | None:
        if id_or_key.upper() in self.projects:
            return self.projects[id_or_key.upper()]
        return next((p for p in self.projects.values() if p["id"] == id_or_key), None)

    def find_comment(self, comment_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for issue in self.issues.values():
            for comment in issue["comments"]:
                if comment["id"] == comment_id:
                    return issue, comment
        return None

    def new_comment(self, issue: dict[str, Any], author: str, body: dict[str, Any]) -> dict[str, Any]:
        stamp = now_iso()
        comment = {
            "id": str(next(self._comment_ids)),
            "author": author,
            "body": body,
            "created": stamp,
            "updated": stamp,
            "properties": {},
        }
        issue["comments"].append(comment)
        issue["updated"] = stamp
        return comment

    def transitions_for(self, issue: dict[str, Any]) -> list[tuple[str, str, str]]:
        """(id, name, target status) of the transitions offered from the issue's status."""
        return [
            (tid, name, target) for tid, (name, target, sources) in TRANSITIONS.items() if issue["status"] in sources
        ]

    def can_browse(self, account_id: str, project_key: str) -> bool:
        return (account_id, project_key) not in self.browse_restrictions

    def restrict_issue(self, account_id: str, issue_key: str) -> None:
        """An issue security level that leaves `account_id` out: the project stays browsable,
        this one issue does not. Kept by issue id, so it follows the issue to a new key."""
        with self.lock:
            issue = self.find_issue(issue_key)
            if issue is None:
                raise KeyError(issue_key)
            self.issue_restrictions.add((account_id, issue["id"]))

    def restrict_to_browse(self, account_id: str, project_key: str) -> None:
        """`account_id` keeps BROWSE_PROJECTS in the project and loses every other permission."""
        with self.lock:
            self.browse_only.add((account_id, project_key))

    def holds(self, account_id: str, permission: str, project_key: str, issue: dict[str, Any] | None = None) -> bool:
        """Whether the user holds a project permission in the project (and on the issue, if given)."""
        if not self.can_browse(account_id, project_key):
            return False
        if issue is not None and (account_id, issue["id"]) in self.issue_restrictions:
            return False
        return permission == "BROWSE_PROJECTS" or (account_id, project_key) not in self.browse_only

    # ---- entity property index -----------------------------------------------------------

    def index_descriptor(self, descriptor: dict[str, Any]) -> None:
        """Index the issue entity properties a descriptor declares, as Jira does at install."""
        with self.lock:
            modules = descriptor.get("modules") or {}
            self.app_modules[str(descriptor.get("key"))] = frozenset(modules)
            for declaration in modules.get("jiraEntityProperties") or []:
                if declaration.get("entityType", "issue") != "issue":
                    continue
                for config in declaration.get("keyConfigurations") or []:
                    property_key = config.get("propertyKey")
                    for extraction in config.get("extractions") or []:
                        object_name = extraction.get("objectName")
                        kind = extraction.get("type", "string")
                        if not property_key or not object_name:
                            continue
                        entry = (property_key, object_name, kind)
                        self.property_fields[f"issue.property[{property_key}].{object_name}".lower()] = entry
                        if extraction.get("alias"):
                            self.property_fields[str(extraction["alias"]).lower()] = entry

    # ---- rendering -----------------------------------------------------------------------

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def user_json(self, account_id: str | None) -> dict[str, Any] | None:
        if account_id is None:
            return None
        user = self.users.get(account_id) or {
            "accountId": account_id,
            "displayName": account_id,
            "accountType": "atlassian",
        }
        avatar = "https://avatar-management.example/default/48"
        return {
            "self": self.url(f"/rest/api/3/user?accountId={account_id}"),
            "accountId": account_id,
            "accountType": user["accountType"],
            "avatarUrls": {size: avatar for size in ("48x48", "24x24", "16x16", "32x32")},
            "displayName": user["displayName"],
            "active": True,
            "timeZone": user.get("timeZone", "Etc/UTC"),
        }

    def status_json(self, status: str) -> dict[str, Any]:
        status_id, category = STATUSES[status]
        category_id, category_name, colour = CATEGORIES[category]
        return {
            "self": self.url(f"/rest/api/3/status/{status_id}"),
            "description": "",
            "iconUrl": self.url("/images/icons/statuses/generic.png"),
            "name": status,
            "id": status_id,
            "statusCategory": {
                "self": self.url(f"/rest/api/3/statuscategory/{category_id}"),
                "id": category_id,
                "key": category,
                "colorName": colour,
                "name": category_name,
            },
        }

    def issuetype_json(self, name: str) -> dict[str, Any]:
        type_id, level = ISSUE_TYPES[name]
        return {
            "self": self.url(f"/rest/api/3/issuetype/{type_id}"),
            "id": type_id,
            "description": "",
            "iconUrl": self.url(f"/images/icons/issuetypes/{name.lower()}.svg"),
            "name": name,
            "subtask": level < 0,
            "hierarchyLevel": level,
        }

    def project_json(self, project: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
        avatar = self.url(f"/rest/api/3/universal_avatar/view/type/project/avatar/{project['id']}")
        body: dict[str, Any] = {
            "self": self.url(f"/rest/api/3/project/{project['id']}"),
            "id": project["id"],
            "key": project["key"],
            "name": project["name"],
            "avatarUrls": {size: avatar for size in ("48x48", "24x24", "16x16", "32x32")},
            "projectTypeKey": "software",
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
            "properties": {},
        }
        if full:
            body["description"] = ""
            body["issueTypes"] = [self.issuetype_json(name) for name in ISSUE_TYPES]
        return body

    def issue_ref_json(self, issue: dict[str, Any]) -> dict[str, Any]:
        """The short form Jira nests for parents and linked issues."""
        return {
            "id": issue["id"],
            "key": issue["key"],
            "self": self.url(f"/rest/api/3/issue/{issue['id']}"),
            "fields": {
                "summary": issue["summary"],
                "status": self.status_json(issue["status"]),
                "issuetype": self.issuetype_json(issue["issuetype"]),
            },
        }

    def comment_json(
        self, issue: dict[str, Any], comment: dict[str, Any], *, with_properties: bool = False
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "self": self.url(f"/rest/api/3/issue/{issue['id']}/comment/{comment['id']}"),
            "id": comment["id"],
            "author": self.user_json(comment["author"]),
            "body": comment["body"],
            "updateAuthor": self.user_json(comment["author"]),
            "created": comment["created"],
            "updated": comment["updated"],
            "jsdPublic": True,
        }
        if with_properties:
            body["properties"] = [{"key": k, "value": v} for k, v in comment["properties"].items()]
        return body

    def links_json(self, issue: dict[str, Any]) -> list[dict[str, Any]]:
        rendered = []
        for link in self.links:
            if issue["key"] not in (link["outward"], link["inward"]):
                continue
            type_id, inward, outward = LINK_TYPES[link["type"]]
            entry: dict[str, Any] = {
                "id": link["id"],
                "self": self.url(f"/rest/api/3/issueLink/{link['id']}"),
                "type": {
                    "id": type_id,
                    "name": link["type"],
                    "inward": inward,
                    "outward": outward,
                    "self": self.url(f"/rest/api/3/issueLinkType/{type_id}"),
                },
            }
            if link["outward"] == issue["key"]:
                other = self.issues.get(link["inward"])
                if other is not None:
                    entry["outwardIssue"] = self.issue_ref_json(other)
            else:
                other = self.issues.get(link["outward"])
                if other is not None:
                    entry["inwardIssue"] = self.issue_ref_json(other)
            if other is not None:
                rendered.append(entry)
        return rendered

    def all_fields(self, issue: dict[str, Any]) -> dict[str, Any]:
        project = self.projects[issue["project"]]
        comments = [self.comment_json(issue, c) for c in issue["comments"]]
        parent = self.issues.get(issue["parent"]) if issue["parent"] else None
        done = STATUSES[issue["status"]][1] == "done"
        fields: dict[str, Any] = {
            "summary": issue["summary"],
            "status": self.status_json(issue["status"]),
            "issuetype": self.issuetype_json(issue["issuetype"]),
            "project": self.project_json(project),
            "reporter": self.user_json(issue["reporter"]),
            "creator": self.user_json(issue["reporter"]),
            "assignee": self.user_json(issue["assignee"]),
            "labels": list(issue["labels"]),
            "description": issue["description"],
            "created": issue["created"],
            "updated": issue["updated"],
            "statuscategorychangedate": issue["statuscategorychangedate"],
            "resolutiondate": issue["resolutiondate"],
            "resolution": (
                {"self": self.url("/rest/api/3/resolution/10000"), "id": "10000", "name": "Done", "description": ""}
                if done
                else None
            ),
            "issuelinks": self.links_json(issue),
            "comment": {
                "comments": comments,
                "self": self.url(f"/rest/api/3/issue/{issue['id']}/comment"),
                "maxResults": len(comments),
                "total": len(comments),
                "startAt": 0,
            },
        }
        if parent is not None:
            fields["parent"] = self.issue_ref_json(parent)
        # A user-picker custom field comes back as Jira's full user object, as reporter does.
        fields.update({name: self.user_json(value["accountId"])
                       if isinstance(value, dict) and set(value) == {"accountId"} else value
                       for name, value in issue["fields"].items()})
        return fields

    def issue_json(
        self,
        issue: dict[str, Any],
        *,
        fields: list[str] | None = None,
        properties: list[str] | None = None,
    ) -> dict[str, Any]:
        """An IssueBean. `fields` follows Jira: None or `*all`/`*navigable` for all, names,
        `-name` to leave one out; `properties` names entity properties to include."""
        everything = self.all_fields(issue)
        selected = select_fields(everything, fields)
        body: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue["id"],
            "self": self.url(f"/rest/api/3/issue/{issue['id']}"),
            "key": issue["key"],
        }
        if fields is None or selected:
            body["fields"] = selected
        if properties:
            wanted = set(issue["properties"]) if "*all" in properties else set(properties)
            body["properties"] = {k: v for k, v in issue["properties"].items() if k in wanted}
        return body

    # ---- JQL catalog ---------------------------------------------------------------------

    def kind(self, field: str) -> FieldKind:
        name = field.lower()
        if name in _FIELD_KINDS:
            return _FIELD_KINDS[name]
        if name in self.property_fields:
            declared = self.property_fields[name][2]
            return declared if declared in ("string", "number", "date", "text") else "string"  # type: ignore[return-value]
        raise JqlError(f"Field '{field}' does not exist or you do not have permission to view it.")

    def values(self, issue: dict[str, Any], field: str) -> list[Any]:
        name = field.lower()
        if name in self.property_fields:
            property_key, object_name, _kind = self.property_fields[name]
            if property_key not in issue["properties"]:
                return []
            return extract_path(issue["properties"][property_key], object_name)
        if name in ("key", "issuekey", "id"):
            old = [old for old, new in self.moved_keys.items() if new == issue["key"]]
            return [issue["key"], issue["id"], *old]
        if name == "project":
            project = self.projects[issue["project"]]
            return [project["key"], project["id"], project["name"]]
        if name == "status":
            return [issue["status"], STATUSES[issue["status"]][0]]
        if name == "statuscategory":
            category = STATUSES[issue["status"]][1]
            category_id, category_name, _colour = CATEGORIES[category]
            return [category, category_name, str(category_id)]
        if name in ("issuetype", "type"):
            return [issue["issuetype"], ISSUE_TYPES[issue["issuetype"]][0]]
        if name == "parent":
            parent = self.issues.get(issue["parent"]) if issue["parent"] else None
            return [parent["key"], parent["id"]] if parent else []
        if name == "text":
            comments = " ".join(_plain(c["body"]) for c in issue["comments"])
            return [" ".join([issue["summary"], _plain(issue["description"]), comments])]
        if name == "summary":
            return [issue["summary"]]
        if name == "description":
            return [_plain(issue["description"])] if issue["description"] else []
        if name == "comment":
            return [_plain(c["body"]) for c in issue["comments"]]
        if name == "labels":
            return list(issue["labels"])
        if name in ("assignee", "reporter"):
            return [issue[name]] if issue[name] else []
        if name in ("created", "updated", "resolved", "resolutiondate", "statuscategorychangeddate"):
            source = {"resolved": "resolutiondate", "statuscategorychangeddate": "statuscategorychangedate"}
            value = issue[source.get(name, name)]
            return [parse_time(value)] if value else []
        return []

    def check_value(self, field: str, value: str) -> None:
        name = field.lower()
        if name in ("key", "issuekey") and self.find_issue(value) is None:
            raise JqlError(f"An issue with key '{value}' does not exist for field '{field}'.")
        if (
            name == "project"
            and self.find_project(value) is None
            and not any(p["name"].lower() == value.lower() for p in self.projects.values())
        ):
            raise JqlError(f"The value '{value}' does not exist for the field '{field}'.")
        if name == "parent" and self.find_issue(value) is None:
            raise JqlError(f"An issue with key '{value}' does not exist for field '{field}'.")
        if name == "status" and not any(s.lower() == value.lower() or i == value for s, (i, _c) in STATUSES.items()):
            raise JqlError(f"The value '{value}' does not exist for the field '{field}'.")
        if name == "statuscategory" and not any(
            value.lower() in (key, cname.lower(), str(cid)) for key, (cid, cname, _c) in CATEGORIES.items()
        ):
            raise JqlError(f"The value '{value}' does not exist for the field '{field}'.")
        if name in ("issuetype", "type") and not any(
            value.lower() == t.lower() or value == i for t, (i, _l) in ISSUE_TYPES.items()
        ):
            raise JqlError(f"The value '{value}' does not exist for the field '{field}'.")


_FIELD_KINDS: dict[str, FieldKind] = {
    "key": "string",
    "issuekey": "string",
    "id": "string",
    "project": "string",
    "status": "string",
    "statuscategory": "string",
    "issuetype": "string",
    "type": "string",
    "parent": "string",
    "labels": "string",
    "assignee": "string",
    "reporter": "string",
    "text": "text",
    "summary": "text",
    "description": "text",
    "comment": "text",
    "created": "date",
    "updated": "date",
    "resolved": "date",
    "resolutiondate": "date",
    "statuscategorychangeddate": "date",
}


def _plain(doc: Any) -> str:
    if doc is None:
        return ""
    return doc if isinstance(doc, str) else adf_text(doc)


def select_fields(everything: dict[str, Any], requested: list[str] | None) -> dict[str, Any]:
    if requested is None:
        return everything
    names = [n.strip() for item in requested for n in item.split(",") if n.strip()]
    include_all = any(n in ("*all", "*navigable") for n in names)
    chosen = dict(everything) if include_all else {n: everything[n] for n in names if n in everything}
    for name in names:
        if name.startswith("-"):
            chosen.pop(name[1:], None)
    return chosen
