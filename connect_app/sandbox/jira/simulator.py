"""A Jira Cloud site on loopback, for tests and `connect-app demo`.

`JiraSimulator` serves the REST endpoints a Connect app uses over real HTTP, checks every
request and response against Jira's OpenAPI spec and Jira's own rules, and plays Jira's side
of the Connect protocol: signed install (RS256, keys served by a separate install-keys
server), lifecycle callbacks, webhooks, iframe URLs and context tokens.

    sim = JiraSimulator().start()
    sim.add_project("FEAT", "Features")
    sim.add_issue("FEAT-304", "Retry failed payouts", status="Done")
    sim.install(app_url)                  # the app now holds sim.shared_secret
    ...the app calls sim.base_url...
    assert sim.issues["FEAT-304"]["labels"] == ["drift-reverted"]
    assert sim.violations == []
    sim.stop()

Inspection: `issues` (state dicts), `requests_log` (every REST call), `violations` (requests
the spec or Jira refused, and responses of the simulator the spec refuses), `writes()`.
Fault injection: `fail_next`, `redirect_next`, `slow_next`. Seeding without an app: `register_tenant_secret`,
`register_descriptor`.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from flask import Flask, Response, g, request

from connect_app.sandbox.jira import host
from connect_app.sandbox.jira.auth import (
    AuthFailure,
    RsaKey,
    qsh_for,
    sign_hs256,
    sign_install,
    verify_app_request,
)
from connect_app.sandbox.jira.openapi import DEFAULT_SPEC_PATH, DEVOPS_SPEC_PATH, SpecChecker
from connect_app.sandbox.jira.rest import devops
from connect_app.sandbox.jira.rest.app import build_rest_app
from connect_app.sandbox.jira.rest.common import JiraError
from connect_app.sandbox.jira.state import JiraState
from connect_app.sandbox.server import ServedApp

SERVER_VERSION = "100285"
PLUGINS_VERSION = "1001.0.0-SNAPSHOT"
# Calls that change nothing although they are not GETs.
READ_ONLY_POSTS = frozenset({"/rest/api/3/search/jql", "/rest/api/3/search", "/rest/api/3/permissions/check"})


@dataclass
class RecordedCall:
    """One REST call an app made to the simulator."""

    method: str
    path: str
    query: dict[str, list[str]]
    json: Any
    status: int
    response: Any
    issuer: str | None = None
    at: float = field(default_factory=time.time)
    # `path` is decoded; this is the path as it came on the wire, so a test can tell an
    # encoded `%2F` inside an issue key from a real path separator.
    raw_path: str = ""

    @property
    def is_write(self) -> bool:
        return self.method != "GET" and not (self.method == "POST" and self.path in READ_ONLY_POSTS)


@dataclass
class _Fault:
    status: int
    remaining: int
    retry_after: int | None
    path_contains: str | None
    location: str | None = None


@dataclass
class _Tenant:
    """What the site knows about one installed app."""

    app_key: str
    shared_secret: str
    descriptor: dict[str, Any] | None = None
    app_url: str | None = None
    app_user: str = ""
    enabled: bool = True


class JiraSimulator:
    """One simulated Jira Cloud site. See the module docstring for a tour.

    `openapi_spec_path`: the Jira OpenAPI spec to validate traffic against; None uses the
    reference copy in the source tree when present (validation is skipped when neither the
    spec nor openapi-core is available). `strict`: a request the spec refuses is answered
    400 (True) or served anyway (False); it is recorded in `violations` either way.
    """

    def __init__(self, *, openapi_spec_path: str | Path | None = None, strict: bool = True) -> None:
        self.state = JiraState()
        self.strict = strict
        self.spec = SpecChecker(openapi_spec_path if openapi_spec_path is not None else DEFAULT_SPEC_PATH)
        # Jira Software's deployments and feature flags live in their own spec.
        self.devops_spec = SpecChecker(DEVOPS_SPEC_PATH)
        self.client_key = str(uuid.uuid4())
        self.cloud_id = str(uuid.uuid4())
        self.shared_secret: str | None = None
        self.requests_log: list[RecordedCall] = []
        self.violations: list[str] = []
        self.lifecycle_log: list[dict[str, Any]] = []  # every lifecycle/webhook call sent to an app
        self.key_fetches: list[str] = []  # kids asked of the install-keys server
        self._install_key = RsaKey.for_simulator("install")
        self._rogue_key = RsaKey.for_simulator("rogue")  # never served: signs "wrong-key" forgeries
        self._tenant_key = RsaKey.for_simulator("tenant")  # the legacy `publicKey` of the install payload
        self._tenants: dict[str, _Tenant] = {}
        self._faults: list[_Fault] = []
        self._delays: list[list[float]] = []  # [seconds, remaining]
        self._log_lock = threading.Lock()
        self._rest = build_rest_app(self.state, before=self._before, after=self._after)
        # The sandbox's issue view, app pages and Connect JS host share Jira's origin, as in Jira.
        host.register(self._rest, self)
        self._keys = self._build_keys_app()
        self._rest_server: ServedApp | None = None
        self._keys_server: ServedApp | None = None
        self.base_url = ""
        self.keys_url = ""

    # ---- lifecycle of the simulator ------------------------------------------------------

    def start(self) -> JiraSimulator:
        """Serve Jira and the install-keys server on free loopback ports."""
        self._rest_server = ServedApp(self._rest).start()
        self._keys_server = ServedApp(self._keys).start()
        self.base_url = self._rest_server.url
        self.keys_url = self._keys_server.url
        self.state.base_url = self.base_url
        return self

    def stop(self) -> None:
        for server in (self._rest_server, self._keys_server):
            if server is not None:
                server.stop()
        self._rest_server = self._keys_server = None

    def __enter__(self) -> JiraSimulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _build_keys_app(self) -> Flask:
        app = Flask("connect-install-keys")

        @app.get("/<path:kid>")
        def public_key(kid: str) -> Response:
            self.key_fetches.append(kid)
            if kid == self._install_key.kid:
                return Response(self._install_key.public_pem, mimetype="text/plain")
            return Response("Not Found", status=404, mimetype="text/plain")

        return app

    # ---- seeding -------------------------------------------------------------------------

    @property
    def issues(self) -> dict[str, dict[str, Any]]:
        return self.state.issues

    def add_user(self, account_id: str, display_name: str, *, admin: bool = False,
                 time_zone: str = "Etc/UTC", locale: str = "en_US") -> None:
        """A person of the site; their Jira profile's time zone and locale are what
        `AP.user.getTimeZone` / `getLocale` answer in the app's iframes."""
        self.state.add_user(account_id, display_name, admin=admin, time_zone=time_zone, locale=locale)

    def add_project(self, key: str, name: str, *, id: str | None = None) -> None:
        self.state.add_project(key, name, id=id)

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
        """Seed an issue. Statuses: To Do, In Progress, Done, Reopened. `links` are
        (link type or phrase, other key) pairs read outward, e.g. ("blocks", "FEAT-2").
        `fields` may carry custom fields, `labels`, `description` and `created`."""
        return self.state.add_issue(
            key,
            summary,
            status=status,
            issuetype=issuetype,
            reporter=reporter,
            assignee=assignee,
            parent=parent,
            fields=fields,
            links=links,
        )

    def move_issue(self, old_key: str, new_key: str) -> None:
        """Move an issue to another key (project move); its id stays, the old key resolves."""
        self.state.move_issue(old_key, new_key)

    def set_status(self, key: str, status: str) -> None:
        self.state.set_status(key, status)

    def restrict_browse(self, account_id: str, project_key: str) -> None:
        """Take every project permission in `project_key` away from `account_id`."""
        with self.state.lock:
            self.state.browse_restrictions.add((account_id, project_key))

    def register_tenant_secret(self, app_key: str, secret: str) -> None:
        """Accept REST calls signed by `app_key` with `secret` (what install does)."""
        with self.state.lock:
            tenant = self._tenants.get(app_key)
            if tenant is None:
                tenant = _Tenant(app_key=app_key, shared_secret=secret)
                self._tenants[app_key] = tenant
            tenant.shared_secret = secret
            if not tenant.app_user:
                tenant.app_user = f"712020:{uuid.uuid5(uuid.NAMESPACE_URL, app_key)}"
                self.state.add_user(tenant.app_user, app_key, app=True)
            self.shared_secret = secret

    def register_descriptor(self, descriptor: dict[str, Any], *, app_url: str | None = None) -> None:
        """Remember an app's descriptor and index its entity properties for JQL."""
        with self.state.lock:
            tenant = self._tenants.get(descriptor["key"])
            if tenant is None:
                raise KeyError(f"register_tenant_secret({descriptor['key']!r}, ...) first")
            tenant.descriptor = descriptor
            tenant.app_url = app_url or tenant.app_url
            self.state.index_descriptor(descriptor)

    def app_user(self, app_key: str) -> str:
        """The accountId of an installed app's user (author of its comments)."""
        return self._tenants[app_key].app_user

    # ---- fault injection -----------------------------------------------------------------

    def fail_next(
        self, status: int, *, count: int = 1, retry_after: int | None = None, path_contains: str | None = None
    ) -> None:
        """Answer the next `count` REST calls (whose path contains `path_contains`) with
        `status`, e.g. 429 with Retry-After, 500 or 503. Nothing changes for those calls."""
        with self._log_lock:
            self._faults.append(_Fault(status, count, retry_after, path_contains))

    def redirect_next(
        self, location: str, *, status: int = 302, count: int = 1, path_contains: str | None = None
    ) -> None:
        """Answer the next `count` REST calls (whose path contains `path_contains`) with a
        redirect to `location`, as a proxy or a moved site might. A Connect app must not follow
        it: its signed request would carry tenant data to wherever `location` points."""
        with self._log_lock:
            self._faults.append(_Fault(status, count, None, path_contains, location))

    def slow_next(self, seconds: float, *, count: int = 1) -> None:
        """Delay the next `count` REST calls by `seconds` before answering them."""
        with self._log_lock:
            self._delays.append([seconds, count])

    # ---- inspection ----------------------------------------------------------------------

    def writes(self) -> list[RecordedCall]:
        """Calls that could change Jira (not GETs, and not the read-only POSTs like search)."""
        with self._log_lock:
            return [call for call in self.requests_log if call.is_write]

    def reset_log(self) -> None:
        with self._log_lock:
            self.requests_log.clear()
            self.violations.clear()
            self.lifecycle_log.clear()
            self.key_fetches.clear()

    # ---- request pipeline (wired into the REST app) ---------------------------------------

    def _before(self) -> Response | None:
        g.jira_user = None
        g.jira_issuer = None
        g.jira_violation_recorded = False
        with self._log_lock:
            delay = next((d for d in self._delays if d[1] > 0), None)
            if delay is not None:
                delay[1] -= 1
            fault = next(
                (
                    f
                    for f in self._faults
                    if f.remaining > 0 and (f.path_contains is None or f.path_contains in request.path)
                ),
                None,
            )
            if fault is not None:
                fault.remaining -= 1
        if delay is not None:
            time.sleep(delay[0])
        if fault is not None and fault.location is not None:
            g.jira_injected = True
            return Response(status=fault.status, headers={"Location": fault.location})
        if fault is not None:
            messages = {429: "Rate limit exceeded."}.get(fault.status, "Internal server error.")
            answer = JiraError(fault.status, [messages]).response()
            if fault.retry_after is not None:
                answer.headers["Retry-After"] = str(fault.retry_after)
            g.jira_injected = True
            return answer
        g.jira_injected = False
        # Jira hashes the path as it arrived on the wire, still percent-encoded: an issue key
        # holding `%2F` is signed as `%2F`, not as the `/` Werkzeug decodes it to.
        raw_path = self._raw_path()
        path_and_query = f"{raw_path}?{request.query_string.decode()}" if request.query_string else raw_path
        try:
            claims = verify_app_request(
                authorization=request.headers.get("Authorization"),
                query_jwt=request.args.get("jwt"),
                method=request.method,
                path_and_query=path_and_query,
                secrets={key: t.shared_secret for key, t in self._tenants.items()},
            )
        except AuthFailure as exc:
            self._violation(f"401 {request.method} {request.path}: {exc}")
            return JiraError(401, [str(exc)]).response()
        tenant = self._tenants[claims["iss"]]
        g.jira_issuer = tenant.app_key
        g.jira_user = claims.get("sub") if claims.get("sub") in self.state.users else tenant.app_user
        spec = self._spec_for(request.path)
        problems = spec.check_request(request)
        g.jira_path_known = not problems or spec.knows_path(request)
        for problem in problems:
            self._violation(problem)
        if problems and not g.jira_path_known:
            return JiraError(404, [f"No REST resource at {request.method} {request.path}."]).response()
        if problems and self.strict:
            return devops.refusal(400, problems) if spec is self.devops_spec else JiraError(400, problems).response()
        return None

    def _spec_for(self, path: str) -> SpecChecker:
        return self.devops_spec if path in devops.PATHS else self.spec

    def _after(self, response: Response) -> Response:
        if getattr(g, "jira_injected", False):
            self._record(response)
            return response
        if response.status_code == 400 and not g.get("jira_violation_recorded"):
            # Jira refused the request on its own rules (ADF, labels, fields on a screen...).
            self._violation(f"400 {request.method} {request.path}: {self._body_of(response)}")
        if g.get("jira_issuer") is not None and g.get("jira_path_known", True):
            for problem in self._spec_for(request.path).check_response(request, response):
                self._violation(f"simulator bug: {problem}")
        self._record(response)
        return response

    @staticmethod
    def _raw_path() -> str:
        raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
        return urlsplit(raw).path if raw else request.path

    def _violation(self, text: str) -> None:
        g.jira_violation_recorded = True
        with self._log_lock:
            self.violations.append(text)

    @staticmethod
    def _body_of(response: Response) -> Any:
        data = response.get_data()
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data.decode(errors="replace")

    def _record(self, response: Response) -> None:
        try:
            body = json.loads(request.get_data(cache=True)) if request.get_data(cache=True) else None
        except ValueError:
            body = request.get_data(as_text=True)
        call = RecordedCall(
            method=request.method,
            path=request.path,
            query={key: request.args.getlist(key) for key in request.args if key != "jwt"},
            json=body,
            status=response.status_code,
            response=self._body_of(response),
            issuer=g.get("jira_issuer"),
            raw_path=self._raw_path(),
        )
        with self._log_lock:
            self.requests_log.append(call)

    # ---- the Connect protocol, Jira's side -------------------------------------------------

    def _descriptor_for(self, app_base_url: str) -> dict[str, Any]:
        with self.state.lock:
            for tenant in self._tenants.values():
                if tenant.app_url == app_base_url.rstrip("/") and tenant.descriptor is not None:
                    return tenant.descriptor
        raise KeyError(f"no app installed from {app_base_url}")

    def _admin(self) -> str:
        admins = [u for u, user in self.state.users.items() if user.get("admin")]
        if not admins:
            self.state.add_user("557058:site-admin", "Site Admin", admin=True)
            return "557058:site-admin"
        return admins[0]

    def _lifecycle_payload(self, descriptor: dict[str, Any], event: str, secret: str) -> dict[str, Any]:
        return {
            "key": descriptor["key"],
            "clientKey": self.client_key,
            "publicKey": self._tenant_key.public_key_base64_der(),
            "sharedSecret": secret,
            "serverVersion": SERVER_VERSION,
            "pluginsVersion": PLUGINS_VERSION,
            "baseUrl": self.base_url,
            "displayUrl": self.base_url,
            "productType": "jira",
            "description": "Atlassian JIRA at " + self.base_url,
            "eventType": event,
            "cloudId": self.cloud_id,
            "installationId": f"ari:cloud:ecosystem::installation/{uuid.uuid5(uuid.NAMESPACE_URL, self.cloud_id)}",
        }

    def _post(self, app_base_url: str, path: str, payload: Any, token: str, kind: str) -> requests.Response:
        url = app_base_url.rstrip("/") + path
        response = requests.post(
            url,
            data=json.dumps(payload),
            headers={
                "Authorization": f"JWT {token}",
                "Content-Type": "application/json",
                "User-Agent": "Atlassian HttpClient 4.2.0 / Jira Cloud simulator",
                "Atl-Paas-Consumer-Info": "jira",
            },
            timeout=30,
        )
        with self._log_lock:
            self.lifecycle_log.append({"kind": kind, "url": url, "status": response.status_code, "payload": payload})
        return response

    def install(
        self, app_base_url: str, *, descriptor: dict[str, Any] | None = None, tamper: str | None = None
    ) -> requests.Response:
        """Install (or re-install) the app at `app_base_url` as Jira does.

        Reads the descriptor from `{app_base_url}/atlassian-connect.json` unless given, then
        POSTs the install payload with a new shared secret to `lifecycle.installed`, signed
        RS256 with `aud` = the descriptor's `baseUrl`. On a 2xx answer the site accepts the
        app's REST calls with that secret; otherwise nothing changes (Jira keeps the
        previous installation). `tamper` forges the token (see auth.TAMPER_MODES).
        """
        app_base_url = app_base_url.rstrip("/")
        if descriptor is None:
            fetched = requests.get(f"{app_base_url}/atlassian-connect.json", timeout=30)
            fetched.raise_for_status()
            descriptor = fetched.json()
        installed_path = (descriptor.get("lifecycle") or {}).get("installed")
        if not installed_path:
            raise ValueError("descriptor declares no lifecycle.installed callback")
        audience = str(descriptor.get("baseUrl") or app_base_url).rstrip("/")
        secret = secrets.token_urlsafe(36)
        token = self._signed_install_token(audience, installed_path, tamper=tamper)
        payload = self._lifecycle_payload(descriptor, "installed", secret)
        response = self._post(app_base_url, installed_path, payload, token, "installed")
        if response.ok:
            self.register_tenant_secret(descriptor["key"], secret)
            self.register_descriptor(descriptor, app_url=app_base_url)
        return response

    def _signed_install_token(self, audience: str, path: str, *, tamper: str | None = None) -> str:
        """Atlassian's RS256 signature on an installed/uninstalled call (or a forgery of it)."""
        return sign_install(
            key=self._install_key,
            other_key=self._rogue_key,
            client_key=self.client_key,
            audience=audience,
            method="POST",
            url=audience + path,
            subject=self._admin(),
            tamper=tamper,
        )

    def uninstall(self, app_base_url: str) -> requests.Response:
        """Send `uninstalled` (signed like `installed`) and forget the app's secret."""
        descriptor = self._descriptor_for(app_base_url)
        path = (descriptor.get("lifecycle") or {}).get("uninstalled")
        tenant = self._tenants[descriptor["key"]]
        response: requests.Response | None = None
        if path:
            audience = str(descriptor.get("baseUrl") or app_base_url).rstrip("/")
            token = self._signed_install_token(audience, path)
            payload = self._lifecycle_payload(descriptor, "uninstalled", tenant.shared_secret)
            response = self._post(app_base_url, path, payload, token, "uninstalled")
        with self.state.lock:
            del self._tenants[descriptor["key"]]
            self.shared_secret = None
        if response is None:
            raise ValueError("descriptor declares no lifecycle.uninstalled callback")
        return response

    def _hs256_lifecycle(self, app_base_url: str, event: str) -> requests.Response:
        descriptor = self._descriptor_for(app_base_url)
        path = (descriptor.get("lifecycle") or {}).get(event)
        if not path:
            raise ValueError(f"descriptor declares no lifecycle.{event} callback")
        tenant = self._tenants[descriptor["key"]]
        audience = str(descriptor.get("baseUrl") or app_base_url).rstrip("/")
        token = sign_hs256(
            secret=tenant.shared_secret,
            issuer=self.client_key,
            qsh=qsh_for("POST", audience + path, audience),
            subject=self._admin(),
        )
        payload = self._lifecycle_payload(descriptor, event, tenant.shared_secret)
        response = self._post(app_base_url, path, payload, token, event)
        if response.ok:
            tenant.enabled = event == "enabled"
        return response

    def enable(self, app_base_url: str) -> requests.Response:
        """Send `enabled`, signed HS256 with the shared secret."""
        return self._hs256_lifecycle(app_base_url, "enabled")

    def disable(self, app_base_url: str) -> requests.Response:
        """Send `disabled`, signed HS256 with the shared secret."""
        return self._hs256_lifecycle(app_base_url, "disabled")

    def send_webhook(self, app_base_url: str, event: str, issue_key: str, **extra: Any) -> requests.Response:
        """Deliver a Connect webhook (`jira:issue_updated`, ...) to the URL the descriptor
        registers for `event`, signed HS256 (iss = clientKey, qsh of that POST).

        `extra`: `changelog` (a list of items, or a full changelog dict; default: the
        issue's latest recorded change), `user` (accountId of who made the change; default
        the site admin); any other key is added to the body as given."""
        descriptor = self._descriptor_for(app_base_url)
        hooks = [h for h in (descriptor.get("modules") or {}).get("webhooks") or [] if h.get("event") == event]
        if not hooks:
            raise ValueError(f"the app registers no webhook for {event!r}")
        tenant = self._tenants[descriptor["key"]]
        audience = str(descriptor.get("baseUrl") or app_base_url).rstrip("/")
        with self.state.lock:
            issue = self.state.find_issue(issue_key)
            if issue is None:
                raise KeyError(issue_key)
            user = extra.pop("user", None) or self._admin()
            changelog = extra.pop("changelog", None)
            if changelog is None:
                history = issue.get("history") or []
                changelog = {"id": history[-1]["id"], "items": history[-1]["items"]} if history else None
            elif isinstance(changelog, list):
                changelog = {"id": str(int(time.time() * 1000)), "items": changelog}
            body: dict[str, Any] = {
                "timestamp": int(time.time() * 1000),
                "webhookEvent": event,
                "issue_event_type_name": "issue_generic" if event == "jira:issue_updated" else "issue_created",
                "user": self.state.user_json(user),
                "issue": self.state.issue_json(issue),
            }
            if changelog is not None:
                body["changelog"] = changelog
            body.update(extra)
        responses = []
        for hook in hooks:
            token = sign_hs256(
                secret=tenant.shared_secret,
                issuer=self.client_key,
                qsh=qsh_for("POST", audience + hook["url"], audience),
                subject=user,
            )
            responses.append(self._post(app_base_url, hook["url"], body, token, f"webhook {event}"))
        return responses[0]

    def _context_values(self, context: dict[str, Any]) -> dict[str, str]:
        """Flatten `{"issue": {"key": ...}}` or `{"issue.key": ...}` and fill in what Jira
        knows from the issue (id, type, project)."""
        flat: dict[str, str] = {}
        for key, value in context.items():
            if isinstance(value, dict):
                for inner, inner_value in value.items():
                    flat[f"{key}.{inner}"] = str(inner_value)
            else:
                flat[key] = str(value)
        with self.state.lock:
            issue = (
                self.state.find_issue(flat.get("issue.key") or flat.get("issue.id") or "")
                if ("issue.key" in flat or "issue.id" in flat)
                else None
            )
            if issue is not None:
                project = self.state.projects[issue["project"]]
                flat.setdefault("issue.key", issue["key"])
                flat.setdefault("issue.id", issue["id"])
                flat.setdefault("issuetype.id", self.state.issuetype_json(issue["issuetype"])["id"])
                flat.setdefault("project.key", project["key"])
                flat.setdefault("project.id", project["id"])
        return flat

    @staticmethod
    def _jira_context(flat: dict[str, str]) -> dict[str, Any]:
        jira: dict[str, Any] = {}
        if "issue.key" in flat:
            jira["issue"] = {
                "key": flat["issue.key"],
                "id": flat.get("issue.id"),
                "issuetype": {"id": flat.get("issuetype.id")},
            }
        if "project.key" in flat:
            jira["project"] = {"key": flat["project.key"], "id": flat.get("project.id")}
        return {"jira": jira} if jira else {}

    def iframe_url(
        self, app_base_url: str, module_url_template: str, *, account_id: str, context: dict[str, Any]
    ) -> str:
        """The URL Jira loads in an app iframe: the module URL with `{issue.key}`-style
        variables substituted, Jira's standard parameters, and a `jwt` (HS256, shared
        secret, qsh of this URL, sub = the viewing user)."""
        descriptor = self._descriptor_for(app_base_url)
        tenant = self._tenants[descriptor["key"]]
        audience = str(descriptor.get("baseUrl") or app_base_url).rstrip("/")
        flat = self._context_values(context)
        path = module_url_template
        for name, value in flat.items():
            path = path.replace("{" + name + "}", requests.utils.quote(value, safe=""))
        parts = urlsplit(path)
        standard = {
            "xdm_e": self.base_url,
            "xdm_c": f"channel-{descriptor['key']}",
            "cp": "",
            "xdm_deprecated_addon_key_do_not_use": descriptor["key"],
            "lic": "none",
            "cv": PLUGINS_VERSION,
        }
        query = "&".join(filter(None, [parts.query, urlencode(standard)]))
        relative = f"{parts.path}?{query}"
        token = sign_hs256(
            secret=tenant.shared_secret,
            issuer=self.client_key,
            qsh=qsh_for("GET", audience + relative, audience),
            subject=account_id,
            context=self._jira_context(flat),
        )
        return f"{app_base_url.rstrip('/')}{relative}&jwt={token}"

    def context_token(
        self, account_id: str, *, context: dict[str, Any] | None = None, app_key: str | None = None
    ) -> str:
        """A context JWT as `AP.context.getToken()` gives the app's frontend: HS256, iss =
        clientKey, sub = the user, qsh "context-qsh", 15 minutes."""
        with self.state.lock:
            if app_key is None:
                if len(self._tenants) != 1:
                    raise ValueError("say which app: app_key=...")
                tenant = next(iter(self._tenants.values()))
            else:
                tenant = self._tenants[app_key]
        flat = self._context_values(context or {})
        return sign_hs256(
            secret=tenant.shared_secret,
            issuer=self.client_key,
            qsh="context-qsh",
            subject=account_id,
            context=self._jira_context(flat) or {"jira": {}},
            lifetime=900,
        )
