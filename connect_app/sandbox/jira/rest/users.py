"""`/rest/api/3/myself` and `/rest/api/3/user`."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request

from connect_app.sandbox.jira.rest.common import JiraError, acting_user, site_state


def register(app: Flask) -> None:
    app.add_url_rule("/rest/api/3/myself", view_func=myself, methods=["GET"])
    app.add_url_rule("/rest/api/3/user", view_func=get_user, methods=["GET"])


def myself() -> Response:
    state = site_state()
    with state.lock:
        return jsonify(state.user_json(acting_user()))


def get_user() -> Response:
    account_id = request.args.get("accountId")
    state = site_state()
    with state.lock:
        if not account_id:
            raise JiraError(400, ["The accountId query parameter needs to be provided."])
        if account_id not in state.users:
            raise JiraError(404, ["Specified user does not exist or you do not have required permissions"])
        return jsonify(state.user_json(account_id))
