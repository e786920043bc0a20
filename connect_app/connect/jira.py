"""A Jira Cloud REST client for one tenant, signed as the Connect app.

Every request carries a fresh `Authorization: JWT ...` whose qsh covers exactly the method, path
and query sent. The client only ever talks to its tenant's `base_url` (same origin, below its
path) and never follows redirects, so a stored base URL is the only place tenant data can go.
429 and 503 are retried: `Retry-After` when Jira gives it, otherwise capped exponential backoff
with full jitter. Each logical call, retries included, is reported once to `on_call` for the
audit log. Paths, parameters and bodies follow the Jira Cloud platform REST API v3 spec
(tests/fixtures/jira-openapi/swagger-v3.v3.json).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from connect_app.connect.jwt import normalise_base_url, sign_request

RETRY_STATUSES = frozenset({429, 503})
DEFAULT_ISSUE_FIELDS = ("summary", "status", "labels", "reporter", "assignee", "issuetype", "project")
# Jira answers "Retry-After: 3600" on a hard quota; beyond this we give the job back to the queue
# instead of holding a worker asleep.
MAX_RETRY_AFTER = 120.0
# Atlassian's personal data reporting API takes this many accounts per request.
REPORT_ACCOUNTS_LIMIT = 90
# Who sent the deployments and flags, as Jira logs it (providerMetadata.product).
DEVOPS_PRODUCT = "System Reality for Jira"



def is_done(status: Mapping[str, Any] | None, done_statuses: Collection[str] = ()) -> bool:
    """Whether a Jira status object (an issue's, a link's or a transition's target) counts as Done:
    one of the statuses a project's admin chose (`done_statuses`, names or ids), else Jira's Done
    category. The one place the app decides what "Done" means."""
    if not isinstance(status, Mapping):
        return False
    if done_statuses:
        chosen = {str(name).casefold() for name in done_statuses}
        return str(status.get("name", "")).casefold() in chosen or str(status.get("id", "")) in chosen
    return (status.get("statusCategory") or {}).get("key") == "done"


@dataclass(frozen=True)
class CallRecord:
    """One logical REST call as the audit log sees it."""

    method: str
    path: str
    status: int  # 0 when no response came back at all
    duration: float  # seconds, all attempts and waits included
    issue_key: str | None = None
    retries: int = 0
    waits: tuple[float, ...] = ()
    error: str | None = None


class JiraError(Exception):
    """Jira refused or failed a call. `status` is 0 when Jira could not be reached.

    `retry_after` is the wait in seconds Jira asked for when we gave up on a 429/503 (a hint too
    long to sleep through): the caller can hand the work back to the queue for that long instead
    of counting it as a failure.
    """

    def __init__(self, status: int, messages: Sequence[str] = (), *, retry_after: float | None = None) -> None:
        self.status = status
        self.messages = list(messages)
        self.retry_after = retry_after
        super().__init__(f"Jira answered {status}: {'; '.join(self.messages) or 'no detail'}")


def _error_messages(response: requests.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return [text[:300]] if text else []
    if not isinstance(body, dict):
        return []
    messages = [str(m) for m in body.get("errorMessages") or []]
    errors = body.get("errors")
    if isinstance(errors, dict):
        messages.extend(f"{name}: {message}" for name, message in errors.items())
    return messages


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP-date or garbage: fall back to our own backoff
    return seconds if seconds >= 0 else None


def _segment(value: str) -> str:
    # Path segments built from data (issue keys, property keys) never introduce `/`, `?` or `..`.
    return quote(str(value), safe="")


def _properties(properties: Mapping[str, object] | None) -> list[dict[str, object]]:
    return [{"key": key, "value": value} for key, value in (properties or {}).items()]


class JiraClient:
    def __init__(
        self,
        *,
        base_url: str,
        app_key: str,
        shared_secret: str,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (3.05, 20),
        max_retries: int = 4,
        backoff_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        on_call: Callable[[CallRecord], None] | None = None,
        backoff_base: float = 1.0,
        jitter: Callable[[float], float] | None = None,
    ) -> None:
        self.base_url = normalise_base_url(base_url)
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("Jira base URL must be a plain http(s) URL")
        self._origin = (parts.scheme, parts.netloc.lower())
        self._base_path = parts.path.rstrip("/")
        self._app_key = app_key
        self._secret = shared_secret
        self._session = session or requests.Session()
        self._timeout = timeout
        self._max_retries = max_retries
        self._backoff_cap = backoff_cap
        self._backoff_base = backoff_base
        self._sleep = sleep
        self._on_call = on_call
        # Full jitter: a uniform draw between 0 and the capped exponential delay.
        self._jitter = jitter or (lambda ceiling: random.uniform(0, ceiling))

    # --- transport ------------------------------------------------------------------------------

    def _check_destination(self, url: str) -> None:
        parts = urlsplit(url)
        inside = parts.path == self._base_path or parts.path.startswith(self._base_path + "/")
        if (parts.scheme, parts.netloc.lower()) != self._origin or not inside or ".." in parts.path.split("/"):
            raise JiraError(0, [f"refusing to send a request outside {self.base_url}"])

    def _prepare(
        self, method: str, target: str, params: Mapping[str, Any] | None, body: Any
    ) -> requests.PreparedRequest:
        url = target if "://" in target else self.base_url + target
        self._check_destination(url)
        prepared = self._session.prepare_request(requests.Request(method, url, params=dict(params or {}), json=body))
        assert prepared.url is not None
        self._check_destination(prepared.url)
        # Signed last, over the URL exactly as it will be sent.
        token = sign_request(
            method, prepared.url, app_key=self._app_key, shared_secret=self._secret, base_url=self.base_url
        )
        prepared.headers["Authorization"] = f"JWT {token}"
        prepared.headers["Accept"] = "application/json"
        return prepared

    def _delay(self, attempt: int, response: requests.Response | None) -> float | None:
        """How long to wait before retry number `attempt` (1-based); None means give up."""
        if attempt > self._max_retries:
            return None
        if response is not None:
            hinted = _retry_after(response)
            if hinted is not None:
                return hinted if hinted <= MAX_RETRY_AFTER else None
        ceiling = min(self._backoff_cap, self._backoff_base * (2 ** (attempt - 1)))
        return min(self._jitter(ceiling), self._backoff_cap)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        issue_key: str | None = None,
        expect: Iterable[int] = (200,),
        missing_ok: bool = False,
    ) -> requests.Response | None:
        """Send one signed call; retry 429/503; raise JiraError on anything not in `expect`.

        With `missing_ok`, a 404 returns None instead of raising.
        """
        method = method.upper()
        expected = set(expect)
        started = time.monotonic()
        waits: list[float] = []
        status = 0
        error: str | None = None
        try:
            attempt = 0
            while True:
                prepared = self._prepare(method, path, params, json)
                response: requests.Response | None = None
                try:
                    response = self._session.send(prepared, timeout=self._timeout, allow_redirects=False)
                    status = response.status_code
                except (requests.ConnectionError, requests.Timeout) as exc:
                    status = 0
                    # A POST may have landed before the connection broke: retrying could double it.
                    if method != "GET":
                        raise JiraError(0, [f"Jira could not be reached: {type(exc).__name__}"]) from exc
                except requests.RequestException as exc:
                    # Refused by the guarded session (outside ALLOWED_JIRA_BASE_URLS) or an answer
                    # over its size cap: retrying would meet the same refusal.
                    raise JiraError(0, [str(exc)]) from exc
                if response is not None and status not in RETRY_STATUSES:
                    break
                attempt += 1
                delay = self._delay(attempt, response)
                if delay is None:
                    if response is None:
                        raise JiraError(0, ["Jira could not be reached"])
                    break
                waits.append(delay)
                self._sleep(delay)
            assert response is not None
            if status in expected:
                return response
            if status == 404 and missing_ok:
                return None
            messages = _error_messages(response)
            hint = _retry_after(response) if status in RETRY_STATUSES else None
            raise JiraError(status, messages, retry_after=hint)
        except JiraError as exc:
            error = "; ".join(exc.messages) or f"HTTP {exc.status}"
            raise
        finally:
            if self._on_call is not None:
                self._on_call(
                    CallRecord(
                        method=method,
                        path=urlsplit(path).path if "://" in path else path,
                        status=status,
                        duration=time.monotonic() - started,
                        issue_key=issue_key,
                        retries=len(waits),
                        waits=tuple(waits),
                        error=error,
                    )
                )

    def _json(self, response: requests.Response | None) -> Any:
        if response is None or not response.content:
            return None
        return response.json()

    # --- issues ---------------------------------------------------------------------------------

    def get_issue(
        self, key: str, fields: Sequence[str] = DEFAULT_ISSUE_FIELDS, properties: Sequence[str] = ()
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"fields": ",".join(fields)}
        if properties:
            params["properties"] = ",".join(properties)
        response = self.request("GET", f"/rest/api/3/issue/{_segment(key)}", params=params, issue_key=key)
        return self._json(response)

    def edit_issue(
        self,
        key: str,
        *,
        labels_add: Iterable[str] = (),
        labels_remove: Iterable[str] = (),
        properties: Mapping[str, object] | None = None,
        notify: bool = False,
    ) -> bool:
        """One PUT carrying label operations and issue properties together; False if nothing to do.

        `notifyUsers=false` is honoured only when the app user may administer the project; Jira
        ignores it otherwise (spec), so asking is harmless.
        """
        label_ops = [{"add": label} for label in labels_add] + [{"remove": label} for label in labels_remove]
        body: dict[str, Any] = {}
        if label_ops:
            body["update"] = {"labels": label_ops}
        if properties:
            body["properties"] = _properties(properties)
        if not body:
            return False
        self.request(
            "PUT",
            f"/rest/api/3/issue/{_segment(key)}",
            params={"notifyUsers": "true" if notify else "false"},
            json=body,
            issue_key=key,
            expect=(200, 204),
        )
        return True

    def get_transitions(self, key: str) -> list[dict[str, Any]]:
        response = self.request("GET", f"/rest/api/3/issue/{_segment(key)}/transitions", issue_key=key)
        return list((self._json(response) or {}).get("transitions", []))

    def transition(self, key: str, transition_id: str, *, comment_adf: Mapping[str, Any] | None = None) -> None:
        body: dict[str, Any] = {"transition": {"id": str(transition_id)}}
        if comment_adf is not None:
            body["update"] = {"comment": [{"add": {"body": dict(comment_adf)}}]}
        self.request(
            "POST", f"/rest/api/3/issue/{_segment(key)}/transitions", json=body, issue_key=key, expect=(204, 200)
        )

    # --- comments -------------------------------------------------------------------------------

    def add_comment(
        self, key: str, adf: Mapping[str, Any], *, properties: Mapping[str, object] | None = None
    ) -> dict[str, Any]:
        """Post an ADF comment; its entity properties ride on the same POST (Comment.properties)."""
        body: dict[str, Any] = {"body": dict(adf)}
        if properties:
            body["properties"] = _properties(properties)
        response = self.request(
            "POST", f"/rest/api/3/issue/{_segment(key)}/comment", json=body, issue_key=key, expect=(201, 200)
        )
        return self._json(response)

    def get_comments(self, key: str) -> list[dict[str, Any]]:
        comments: list[dict[str, Any]] = []
        start = 0
        while True:
            page = self._json(
                self.request(
                    "GET",
                    f"/rest/api/3/issue/{_segment(key)}/comment",
                    params={"startAt": start, "maxResults": 100},
                    issue_key=key,
                )
            )
            batch = list((page or {}).get("comments", []))
            comments.extend(batch)
            total = (page or {}).get("total", 0)
            start += len(batch)
            if not batch or start >= total:
                return comments

    def get_comment_property(self, comment_id: str, prop: str) -> Any:
        response = self.request(
            "GET",
            f"/rest/api/3/comment/{_segment(comment_id)}/properties/{_segment(prop)}",
            missing_ok=True,
        )
        body = self._json(response)
        return None if body is None else body.get("value")

    def set_comment_property(self, comment_id: str, prop: str, value: object, *, issue_key: str | None = None) -> None:
        self.request(
            "PUT",
            f"/rest/api/3/comment/{_segment(comment_id)}/properties/{_segment(prop)}",
            json=value,
            issue_key=issue_key,
            expect=(200, 201),
        )

    # --- issue properties -----------------------------------------------------------------------

    def get_issue_property(self, key: str, prop: str) -> Any:
        """The property's value, or None when the issue has no such property."""
        response = self.request(
            "GET",
            f"/rest/api/3/issue/{_segment(key)}/properties/{_segment(prop)}",
            issue_key=key,
            missing_ok=True,
        )
        body = self._json(response)
        return None if body is None else body.get("value")

    def set_issue_property(self, key: str, prop: str, value: object) -> None:
        self.request(
            "PUT",
            f"/rest/api/3/issue/{_segment(key)}/properties/{_segment(prop)}",
            json=value,
            issue_key=key,
            expect=(200, 201),
        )

    def get_project_property(self, project: str, prop: str) -> Any:
        """The project property's value, or None when the project has no such property."""
        response = self.request("GET", f"/rest/api/3/project/{_segment(project)}/properties/{_segment(prop)}",
                                missing_ok=True)
        body = self._json(response)
        return None if body is None else body.get("value")

    def set_project_property(self, project: str, prop: str, value: object) -> None:
        self.request("PUT", f"/rest/api/3/project/{_segment(project)}/properties/{_segment(prop)}",
                     json=value, expect=(200, 201))

    # --- search, projects, users, permissions ---------------------------------------------------

    def search_jql(
        self, jql: str, fields: Sequence[str] = ("key",), max_results: int = 100
    ) -> Iterator[dict[str, Any]]:
        """Every issue matching `jql`, page by page through `nextPageToken` (POST /search/jql)."""
        token: str | None = None
        while True:
            body: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": max_results}
            if token:
                body["nextPageToken"] = token
            page = self._json(self.request("POST", "/rest/api/3/search/jql", json=body)) or {}
            yield from page.get("issues", [])
            token = page.get("nextPageToken")
            if not token or page.get("isLast"):
                return

    def issues_by_key(self, keys: Sequence[str], fields: Sequence[str] = ("key",)) -> dict[str, dict[str, Any]]:
        """The issues of `keys` that Jira knows, by key. Jira refuses a whole `key in (...)` search
        (400) when one key does not exist (a typo in a commit, a deleted issue): such a search is
        split in halves until the unknown keys are alone, so one bad key costs a few searches, not
        the answer."""
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), 50):
            found |= self._known_issues(list(keys[start:start + 50]), fields)
        return found

    def _known_issues(self, keys: list[str], fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        quoted = ", ".join(f'"{key}"' for key in keys)
        try:
            return {str(issue.get("key")): issue
                    for issue in self.search_jql(f"key in ({quoted})", fields=fields, max_results=50)}
        except JiraError as exc:
            if exc.status != 400 or not keys:
                raise
            if len(keys) == 1:
                return {}
            half = len(keys) // 2
            return self._known_issues(keys[:half], fields) | self._known_issues(keys[half:], fields)

    def list_projects(self) -> list[str]:
        keys: list[str] = []
        start = 0
        while True:
            page = (
                self._json(
                    self.request("GET", "/rest/api/3/project/search", params={"startAt": start, "maxResults": 50})
                )
                or {}
            )
            values = page.get("values", [])
            keys.extend(project["key"] for project in values if "key" in project)
            start += len(values)
            if page.get("isLast", True) or not values:
                return keys

    def projects(self) -> list[dict[str, str]]:
        """Every project the app can see, as key and name, for the admin page's pickers."""
        found: list[dict[str, str]] = []
        start = 0
        while True:
            page = self._json(self.request("GET", "/rest/api/3/project/search",
                                           params={"startAt": start, "maxResults": 50})) or {}
            values = page.get("values", [])
            found.extend({"key": str(p["key"]), "name": str(p.get("name") or p["key"])} for p in values if "key" in p)
            start += len(values)
            if page.get("isLast", True) or not values:
                return found

    def fields(self) -> list[dict[str, Any]]:
        """Every field of the site, system and custom (GET /field)."""
        answer = self._json(self.request("GET", "/rest/api/3/field"))
        return [f for f in answer if isinstance(f, dict)] if isinstance(answer, list) else []

    def project_statuses(self, project_key: str) -> list[dict[str, Any]]:
        """The statuses a project's workflows use, each once (GET /project/{key}/statuses lists
        them per issue type)."""
        answer = self._json(self.request("GET", f"/rest/api/3/project/{_segment(project_key)}/statuses"))
        seen: dict[str, dict[str, Any]] = {}
        for issue_type in answer if isinstance(answer, list) else []:
            for status in (issue_type.get("statuses") or []) if isinstance(issue_type, dict) else []:
                if isinstance(status, dict) and status.get("name"):
                    seen.setdefault(str(status["name"]), status)
        return list(seen.values())

    def check_permissions(
        self,
        account_id: str,
        *,
        global_permissions: Iterable[str] = (),
        project_permissions: Iterable[Mapping[str, Any]] = (),
    ) -> dict[str, Any]:
        """POST /permissions/check. `project_permissions` items are BulkProjectPermissions:
        `{"permissions": [...], "projects": [ids], "issues": [ids]}`."""
        body: dict[str, Any] = {"accountId": account_id}
        globals_ = list(dict.fromkeys(global_permissions))
        if globals_:
            body["globalPermissions"] = globals_
        projects = [dict(item) for item in project_permissions]
        if projects:
            body["projectPermissions"] = projects
        return self._json(self.request("POST", "/rest/api/3/permissions/check", json=body)) or {}

    def is_admin(self, account_id: str) -> bool:
        """Whether Jira says this user holds the ADMINISTER global permission."""
        grants = self.check_permissions(account_id, global_permissions=("ADMINISTER",))
        return "ADMINISTER" in grants.get("globalPermissions", [])

    def myself(self) -> dict[str, Any]:
        """The user the app acts as (GET /myself): its `accountId` authors the app's comments."""
        return self._json(self.request("GET", "/rest/api/3/myself")) or {}

    def get_user(self, account_id: str) -> dict[str, Any]:
        return self._json(self.request("GET", "/rest/api/3/user", params={"accountId": account_id})) or {}

    # --- Jira Software DevOps data: deployments and feature flags --------------------------------

    def submit_deployments(self, deployments: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """POST /rest/deployments/0.1/bulk (Jira Software; the app declares
        `jiraDeploymentInfoProvider`). Jira answers 202 with `acceptedDeployments`,
        `rejectedDeployments` and `unknownIssueKeys`; schema in tests/fixtures/jira-software-openapi/."""
        body = {"deployments": [dict(d) for d in deployments], "providerMetadata": {"product": DEVOPS_PRODUCT}}
        return self._json(self.request("POST", "/rest/deployments/0.1/bulk", json=body, expect=(202, 200))) or {}

    def submit_feature_flags(self, flags: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """POST /rest/featureflags/0.1/bulk (the app declares `jiraFeatureFlagInfoProvider`); 202 with
        `acceptedFeatureFlags`, `failedFeatureFlags` and `unknownIssueKeys`."""
        body = {"flags": [dict(f) for f in flags], "providerMetadata": {"product": DEVOPS_PRODUCT}}
        return self._json(self.request("POST", "/rest/featureflags/0.1/bulk", json=body, expect=(202, 200))) or {}

    # --- personal data reporting ----------------------------------------------------------------

    def report_accounts(self, accounts: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Atlassian's personal data reporting API: which of these accounts (accountId, updatedAt as
        RFC 3339) were closed or changed since. At most REPORT_ACCOUNTS_LIMIT per call; 204 means
        nothing to do, 200 lists `{"accountId", "status": "closed" | "updated"}`.

        Source: developer.atlassian.com/cloud/jira/platform/user-privacy-developer-guide/ (the
        `/app/report-accounts/` resource; Connect apps call it on the site with their JWT, OAuth 2.0
        apps on api.atlassian.com). It is not part of Jira's platform REST spec."""
        if len(accounts) > REPORT_ACCOUNTS_LIMIT:
            raise ValueError(f"at most {REPORT_ACCOUNTS_LIMIT} accounts per report")
        body = {"accounts": [{"accountId": account, "updatedAt": at} for account, at in accounts]}
        answer = self._json(self.request("POST", "/app/report-accounts/", json=body, expect=(200, 204)))
        found = (answer or {}).get("accounts") if isinstance(answer, dict) else None
        return [dict(item) for item in found or () if isinstance(item, dict)]


__all__ = ["DEFAULT_ISSUE_FIELDS", "REPORT_ACCOUNTS_LIMIT", "CallRecord", "JiraClient", "JiraError"]
