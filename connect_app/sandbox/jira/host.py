"""The Jira sandbox's own pages: an issue view that embeds the app's panel and issue-context
iframes the way Jira does, the app's general and admin pages, an issue list with the Drift
column, and a small host side of the Connect JavaScript API (`/atlassian-connect/all.js` in the
iframes, `/sandbox/host.js` on the host page, talking over postMessage).

These routes live on the simulator's REST app (same origin as `baseUrl`, as in Jira) but are
not REST: they skip the simulator's signature checks, OpenAPI validation and request log, so
browsing the sandbox never shows up as app traffic in tests.

Who is signed in: `?as=<accountId>`, defaulting to the first site admin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, Response, abort, current_app, jsonify, request, send_from_directory
from jinja2 import Environment, FileSystemLoader, select_autoescape

from connect_app.sandbox.jira.rest.devops import releases_for

if TYPE_CHECKING:
    from connect_app.sandbox.jira.simulator import JiraSimulator

HOST_STATIC = Path(__file__).resolve().parent / "host_static"
HOST_PREFIXES = ("/browse/", "/plugins/servlet/ac/", "/atlassian-connect/", "/sandbox/")
ISSUE_KEY = re.compile(r"^[A-Z][A-Z0-9_]+-[1-9][0-9]*$")
MODULE_KEY = re.compile(r"^[a-zA-Z0-9_.-]{1,100}$")
# Custom fields the sandbox site names (Jira would read them from /rest/api/3/field).
FIELD_NAMES = {"customfield_10050": "Business owner"}
STATUS_LOOK = {"Done": "success", "In Progress": "inprogress", "Reopened": "inprogress"}
RELEASE_LOOK = {"successful": "success", "rolled_back": "removed", "failed": "removed", "in_progress": "inprogress",
                "pending": "inprogress"}
DRIFT_LOOK = {"live": "success", "pending-deploy": "inprogress", "reverted": "removed", "rolled-back": "removed",
              "flag-off": "removed", "partially-reverted": "moved", "hotfixed": "moved"}

_templates = Environment(loader=FileSystemLoader(str(HOST_STATIC)), autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class InstalledApp:
    key: str
    url: str
    descriptor: dict[str, Any]

    def modules(self, kind: str) -> list[dict[str, Any]]:
        return list((self.descriptor.get("modules") or {}).get(kind) or [])


@dataclass(frozen=True)
class SignedIn:
    account_id: str
    name: str
    admin: bool
    time_zone: str = "Etc/UTC"
    locale: str = "en_US"


def is_host_path(path: str) -> bool:
    return path == "/" or path.startswith(HOST_PREFIXES)


def _skipping_host_pages(func: Callable[..., Any], *, after: bool) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any) -> Any:
        if is_host_path(request.path):
            return args[0] if after else None
        return func(*args)

    return wrapper


def _exempt_host_pages(app: Flask) -> None:
    """The REST pipeline (JWT check, OpenAPI check, request log) stays on REST paths only."""
    for registry, after in ((app.before_request_funcs, False), (app.after_request_funcs, True)):
        for scope, funcs in registry.items():
            registry[scope] = [_skipping_host_pages(f, after=after) for f in funcs]


def installed_app(simulator: JiraSimulator) -> InstalledApp | None:
    with simulator.state.lock:
        for tenant in simulator._tenants.values():
            if tenant.descriptor is not None and tenant.app_url:
                return InstalledApp(tenant.app_key, tenant.app_url, tenant.descriptor)
    return None


def sandbox_urls(simulator: JiraSimulator, issue_key: str = "FEAT-304") -> dict[str, str]:
    """The pages a person opens on the sandbox: `issues`, `issue`, and one per app page module
    (`report` for the first general page, `admin` for the first admin page) once installed."""
    base = simulator.base_url
    urls = {"issues": f"{base}/", "issue": f"{base}/browse/{issue_key}"}
    app = installed_app(simulator)
    if app is not None:
        for name, kind in (("report", "generalPages"), ("admin", "adminPages")):
            modules = app.modules(kind)
            if modules:
                urls[name] = f"{base}/plugins/servlet/ac/{app.key}/{modules[0]['key']}"
    return urls


def _users(simulator: JiraSimulator) -> list[SignedIn]:
    with simulator.state.lock:
        return [SignedIn(account_id, user.get("displayName") or account_id, bool(user.get("admin")),
                         user.get("timeZone") or "Etc/UTC", user.get("locale") or "en_US")
                for account_id, user in simulator.state.users.items() if user.get("accountType") != "app"]


def _signed_in(simulator: JiraSimulator) -> SignedIn:
    users = _users(simulator)
    wanted = request.args.get("as")
    for user in users:
        if user.account_id == wanted:
            return user
    admin = next((u for u in users if u.admin), None)
    if admin is not None:
        return admin
    simulator.add_user("557058:site-admin", "Site Admin", admin=True)
    return SignedIn("557058:site-admin", "Site Admin", True)


def _nav_pages(app: InstalledApp | None, user: SignedIn) -> list[dict[str, str]]:
    if app is None:
        return []
    pages = []
    for kind in ("generalPages", "adminPages"):
        for module in app.modules(kind):
            if _needs_admin(module) and not user.admin:
                continue
            pages.append({"key": module["key"], "name": (module.get("name") or {}).get("value") or module["key"],
                          "href": f"/plugins/servlet/ac/{app.key}/{module['key']}?as={user.account_id}"})
    return pages


def condition_holds(condition: dict[str, Any], entities: dict[str, dict[str, Any]], user: SignedIn) -> bool:
    """A Connect condition as Jira evaluates it on a page: composite `or`/`and`, `invert`,
    `entity_property_exists` / `entity_property_equal_to` on the entities in view, and the
    admin conditions. A condition the sandbox does not know is false, as Jira hides a module
    whose condition it cannot evaluate."""
    for operator, combine in (("or", any), ("and", all)):
        for spelling in (operator, operator.upper()):
            if spelling in condition:
                return combine(condition_holds(c, entities, user) for c in condition[spelling])
    name = condition.get("condition")
    params = condition.get("params") or {}
    properties = entities.get(str(params.get("entity")), {})
    if name == "entity_property_exists":
        result = params.get("propertyKey") in properties
    elif name == "entity_property_equal_to":
        value = properties.get(str(params.get("propertyKey")))
        for part in str(params.get("objectName") or "").split("."):
            value = value.get(part) if part and isinstance(value, dict) else value
        result = value is not None and json.dumps(value) in (params.get("value"), json.dumps(params.get("value")))
    elif name in ("user_is_admin", "user_is_sysadmin"):
        result = user.admin
    elif name == "user_is_logged_in":
        result = True
    else:
        result = False
    return result != bool(condition.get("invert"))


def _needs_admin(module: dict[str, Any]) -> bool:
    return any(c.get("condition") in ("user_is_admin", "user_is_sysadmin") for c in module.get("conditions") or [])


def _render(name: str, simulator: JiraSimulator, *, status: int = 200, nav: str = "", **context: Any) -> Response:
    user = _signed_in(simulator)
    body = _templates.get_template(name).render(
        signed_in=user, users=_users(simulator), pages=_nav_pages(installed_app(simulator), user), nav=nav, **context)
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _message(simulator: JiraSimulator, status: int, title: str, message: str) -> Response:
    return _render("message.html", simulator, status=status, title=title, message=message)


# ---- Atlassian Document Format as text blocks ---------------------------------------------


def _inline_parts(nodes: Iterable[Any], users: dict[str, dict[str, Any]], zone: str) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if kind == "text":
            marks = {m.get("type"): m.get("attrs") or {} for m in node.get("marks") or [] if isinstance(m, dict)}
            href = str((marks.get("link") or {}).get("href") or "")
            parts.append({"text": str(node.get("text", "")),
                          "href": href if href.startswith(("https://", "http://")) else None,
                          "strong": "strong" in marks})
        elif kind == "mention":
            attrs = node.get("attrs") or {}
            name = (users.get(str(attrs.get("id"))) or {}).get("displayName")
            parts.append({"text": "@" + str(name or attrs.get("text", "")).lstrip("@"), "mention": True})
        elif kind == "hardBreak":
            parts.append({"text": " "})
        elif kind == "date":
            parts.append(_date_part(str((node.get("attrs") or {}).get("timestamp", "")), zone))
        elif node.get("content"):
            parts += _inline_parts(node["content"], users, zone)
    return parts


def _date_part(timestamp: str, zone: str) -> dict[str, Any]:
    """A date node as Jira shows it: the day in the reader's own time zone."""
    if not timestamp.isdigit():
        return {"text": timestamp}
    moment = datetime.fromtimestamp(int(timestamp) / 1000, tz=UTC).astimezone(_zone(zone))
    return {"text": f"{moment:%d %b %Y}", "time": moment.isoformat(), "date": True}


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def adf_blocks(doc: Any, users: dict[str, dict[str, Any]], zone: str = "Etc/UTC") -> list[list[dict[str, Any]]]:
    """A document as paragraphs of text parts (links, bold, mentions, dates in `zone`), list
    items bulleted."""
    blocks: list[list[dict[str, Any]]] = []
    for node in (doc or {}).get("content") or [] if isinstance(doc, dict) else []:
        if not isinstance(node, dict):
            continue
        if node.get("type") in ("bulletList", "orderedList"):
            for number, item in enumerate(node.get("content") or [], start=1):
                bullet = "• " if node["type"] == "bulletList" else f"{number}. "
                blocks.append([{"text": bullet}, *_inline_parts((item or {}).get("content") or [], users, zone)])
        elif node.get("type") == "heading":
            blocks.append([{**p, "strong": True} for p in _inline_parts(node.get("content") or [], users, zone)])
        else:
            blocks.append(_inline_parts(node.get("content") or [], users, zone))
    return [b for b in blocks if b]


def _when_text(stamp: str, zone: str) -> str:
    """A comment's time as Jira shows it: in the signed-in user's own time zone."""
    try:
        moment = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(_zone(zone))
    except ValueError:
        return stamp
    return f"{moment:%d %b %Y at %H:%M} {moment.tzname()}"


# ---- the pages ----------------------------------------------------------------------------

SIMULATOR_CONFIG_KEY = "JIRA_SIMULATOR"


def register(flask_app: Flask, simulator: JiraSimulator) -> None:
    """Add the sandbox's human-facing pages to the simulator's Flask app. Call it after the
    REST pipeline's hooks are on `flask_app`: they are set to skip these pages."""
    _exempt_host_pages(flask_app)
    flask_app.config[SIMULATOR_CONFIG_KEY] = simulator
    flask_app.add_url_rule("/", view_func=home, methods=["GET"])
    flask_app.add_url_rule("/browse/<issue_key>", view_func=browse, methods=["GET"])
    flask_app.add_url_rule("/plugins/servlet/ac/<app_key>/<page_key>", view_func=app_page, methods=["GET"])
    flask_app.add_url_rule("/sandbox/context-token", view_func=context_token, methods=["GET"])
    flask_app.add_url_rule("/atlassian-connect/all.js", view_func=all_js, methods=["GET"])
    flask_app.add_url_rule("/sandbox/<any('host.js', 'host.css'):name>", view_func=host_asset, methods=["GET"])


def _simulator() -> JiraSimulator:
    return current_app.config[SIMULATOR_CONFIG_KEY]


def home() -> Response:
    simulator = _simulator()
    state = simulator.state
    with state.lock:
        rows = [{
            "key": issue["key"], "summary": issue["summary"], "issuetype": issue["issuetype"],
            "status": issue["status"], "status_look": STATUS_LOOK.get(issue["status"], ""),
            "drift": (issue["properties"].get("system-reality") or {}).get("drift"),
            "labels": list(issue["labels"]),
        } for issue in state.issues.values()]
    for row in rows:
        row["drift_look"] = DRIFT_LOOK.get(row["drift"] or "", "")
    rows.sort(key=lambda r: (r["key"].rsplit("-", 1)[0], int(r["key"].rsplit("-", 1)[1])))
    return _render("home.html", simulator, nav="issues", issues=rows)


def browse(issue_key: str) -> Response:
    simulator = _simulator()
    user = _signed_in(simulator)
    state = simulator.state
    with state.lock:
        issue = state.find_issue(issue_key) if ISSUE_KEY.match(issue_key) else None
        if issue is None or not state.can_browse(user.account_id, issue["project"]):
            return _message(simulator, 404, "Issue not found",
                            f"{issue_key} does not exist, or you do not have permission to see it.")
        issue = dict(issue)
        users = dict(state.users)
        project = dict(state.projects[issue["project"]])
    app = installed_app(simulator)
    context = _issue_iframes(simulator, app, user, issue, project)
    drift = (issue["properties"].get("system-reality") or {}).get("drift")

    def name_of(account_id: str | None) -> str | None:
        return (users.get(account_id or "") or {}).get("displayName") or account_id

    custom = []
    for field_id, value in sorted(issue["fields"].items()):
        shown = name_of(value.get("accountId")) if isinstance(value, dict) and "accountId" in value else value
        custom.append((FIELD_NAMES.get(field_id, field_id), shown))
    comments = [{
        "author": name_of(c["author"]) or "Unknown",
        "initials": "".join(w[0] for w in str(name_of(c["author"]) or "?").split()[:2]).upper(),
        "created": c["created"], "created_text": _when_text(c["created"], user.time_zone),
        "blocks": adf_blocks(c["body"], users, user.time_zone),
    } for c in issue["comments"]]
    releases = releases_for(state, issue["key"])
    for entry in (*releases["deployments"], *releases["flags"]):
        entry["look"] = RELEASE_LOOK.get(entry.get("state", ""), "")
        entry["url"] = entry["url"] if str(entry.get("url") or "").startswith(("https://", "http://")) else None
    return _render(
        "browse.html", simulator, issue=issue, project=project, app_key=app.key if app else "", releases=releases,
        status_look=STATUS_LOOK.get(issue["status"], ""), drift=drift, drift_look=DRIFT_LOOK.get(drift or "", ""),
        people={"assignee": name_of(issue["assignee"]), "reporter": name_of(issue["reporter"])},
        custom_fields=custom, comments=comments, description=adf_blocks(issue["description"], users), **context)


def _issue_iframes(simulator: JiraSimulator, app: InstalledApp | None, user: SignedIn,
                   issue: dict[str, Any], project: dict[str, Any]) -> dict[str, Any]:
    """The issue view's iframes of the app: its first web panel and its first issue context
    whose conditions hold on this issue, as Jira shows them."""
    key = issue["key"]
    context: dict[str, Any] = {"issue_key": key}
    entities = {"issue": issue.get("properties") or {}, "project": project.get("properties") or {}}

    def shown(kind: str) -> list[dict[str, Any]]:
        return [m for m in (app.modules(kind) if app else [])
                if all(condition_holds(c, entities, user) for c in m.get("conditions") or [])]

    panels = shown("webPanels")
    contexts = shown("jiraIssueContexts")
    if app is not None and panels:
        context.update(panel_url=simulator.iframe_url(app.url, panels[0]["url"], account_id=user.account_id,
                                                      context={"issue.key": key}),
                       panel_module=panels[0]["key"],
                       panel_name=(panels[0].get("name") or {}).get("value") or "App")
    if app is not None and contexts:
        target = contexts[0].get("target") or {}
        context_url = simulator.iframe_url(app.url, target.get("url") or "", account_id=user.account_id,
                                           context={"issue.key": key})
        context.update(context_url=context_url, context_module=contexts[0]["key"])
    return context


def app_page(app_key: str, page_key: str) -> Response:
    simulator = _simulator()
    user = _signed_in(simulator)
    app = installed_app(simulator)
    if app is None or app.key != app_key or not MODULE_KEY.match(page_key):
        return _message(simulator, 404, "App not installed", "No app with that key is installed on this site.")
    modules = [m for kind in ("generalPages", "adminPages", "configurePage") for m in
               (app.modules(kind) if kind != "configurePage" else
                [(app.descriptor.get("modules") or {}).get("configurePage") or {}])]
    module = next((m for m in modules if m.get("key") == page_key), None)
    if module is None:
        return _message(simulator, 404, "Page not found", "The app has no page with that key.")
    if _needs_admin(module) and not user.admin:
        return _message(simulator, 403, "Administrators only", "Only Jira administrators can open this page.")
    name = (module.get("name") or {}).get("value") or page_key
    url = simulator.iframe_url(app.url, module["url"], account_id=user.account_id, context={})
    return _render("page.html", simulator, nav=page_key, page_name=name, page_url=url, page_key=page_key,
                   app_key=app.key)


def context_token() -> Response:
    simulator = _simulator()
    user = _signed_in(simulator)
    app = installed_app(simulator)
    if app is None or request.args.get("app", app.key) != app.key:
        abort(404)
    key = request.args.get("issueKey") or ""
    token = simulator.context_token(user.account_id, app_key=app.key,
                                    context={"issue.key": key} if ISSUE_KEY.match(key) else None)
    response = jsonify({"token": token})
    response.headers["Cache-Control"] = "no-store"
    return response


def all_js() -> Response:
    return _static("all.js")


def host_asset(name: str) -> Response:
    return _static(name)


def _static(name: str) -> Response:
    response = send_from_directory(HOST_STATIC, name, max_age=0)
    # The app's iframes (another origin) load all.js with a plain <script>; no CORS needed.
    response.headers["Cache-Control"] = "no-cache"
    return response
