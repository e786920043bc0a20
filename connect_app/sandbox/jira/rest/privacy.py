"""`POST /app/report-accounts/`: Atlassian's personal data reporting API, as a Connect app reaches
it on the site with its JWT.

It is an app-gateway resource, not part of Jira's platform REST spec, so the OpenAPI check leaves
it alone (`openapi.GATEWAY_PATHS`) and this module checks the contract itself. Source: the
"Personal data reporting API" of developer.atlassian.com/cloud/jira/platform/user-privacy-developer-guide/:
a body `{"accounts": [{"accountId", "updatedAt"}]}` of 1 to 90 accounts, `updatedAt` in RFC 3339;
200 with `{"accounts": [{"accountId", "status": "closed" | "updated"}]}` for the accounts to act
on, 204 when there is nothing to do.

A test closes an account with `close_account`, or changes a profile with `update_account`; an
account is `updated` when its profile changed after the `updatedAt` the app reported.
"""

from __future__ import annotations

import re
from datetime import datetime

from flask import Flask, Response, jsonify, request

from connect_app.sandbox.jira.rest.common import JiraError, no_content, site_state
from connect_app.sandbox.jira.state import JiraState

PATH = "/app/report-accounts/"
LIMIT = 90
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def register(app: Flask) -> None:
    app.add_url_rule(PATH, view_func=report_accounts, methods=["POST"])


def close_account(state: JiraState, account_id: str) -> None:
    with state.lock:
        state.users.setdefault(account_id, {"accountId": account_id, "displayName": account_id,
                                            "accountType": "atlassian"})["closed"] = True


def update_account(state: JiraState, account_id: str, at: datetime) -> None:
    with state.lock:
        state.users.setdefault(account_id, {"accountId": account_id, "displayName": account_id,
                                            "accountType": "atlassian"})["profile_updated_at"] = at


def _when(value: object) -> datetime:
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise JiraError(400, ["updatedAt must be an RFC 3339 date-time."])
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def report_accounts() -> Response:
    body = request.get_json(silent=True)
    accounts = body.get("accounts") if isinstance(body, dict) else None
    if not isinstance(accounts, list) or not 1 <= len(accounts) <= LIMIT:
        raise JiraError(400, [f"accounts must list 1 to {LIMIT} accounts."])
    answers = []
    state = site_state()
    with state.lock:
        for entry in accounts:
            if not isinstance(entry, dict) or not isinstance(entry.get("accountId"), str) or not entry["accountId"]:
                raise JiraError(400, ["Each account needs an accountId."])
            reported = _when(entry.get("updatedAt"))
            user = state.users.get(entry["accountId"]) or {}
            if user.get("closed"):
                answers.append({"accountId": entry["accountId"], "status": "closed"})
            elif user.get("profile_updated_at") is not None and user["profile_updated_at"] > reported:
                answers.append({"accountId": entry["accountId"], "status": "updated"})
    return jsonify({"accounts": answers}) if answers else no_content()
