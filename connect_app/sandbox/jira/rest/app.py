"""The Jira Cloud REST endpoints the app uses, as a Flask app over a `JiraState`.

Handlers only implement Jira's behaviour; authentication, fault injection, spec validation
and recording are the `before`/`after` hooks the simulator passes in (see
`JiraSimulator._before` and `_after`), so every route here may assume a verified app and a
spec-valid request.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, request

from connect_app.sandbox.jira.rest import (
    comments,
    devops,
    fields,
    issues,
    permissions,
    privacy,
    projects,
    properties,
    search,
    transitions,
    users,
)
from connect_app.sandbox.jira.rest.common import STATE_CONFIG_KEY, JiraError
from connect_app.sandbox.jira.state import JiraState

RESOURCES = (issues, comments, transitions, properties, search, projects, users, permissions, privacy, fields, devops)


def build_rest_app(
    state: JiraState,
    *,
    before: Callable[[], Response | None],
    after: Callable[[Response], Response],
) -> Flask:
    """A Flask app serving every resource over `state`, `before`/`after` wrapping each request."""
    app = Flask("jira-simulator")
    app.config[STATE_CONFIG_KEY] = state
    app.before_request(before)
    app.after_request(after)
    app.register_error_handler(JiraError, _jira_error)
    app.register_error_handler(404, _not_found)
    app.register_error_handler(405, _not_allowed)
    for resource in RESOURCES:
        resource.register(app)
    return app


def _jira_error(error: JiraError) -> Response:
    return error.response()


def _not_found(_error: Exception) -> Response:
    return JiraError(404, [f"No REST resource at {request.method} {request.path}."]).response()


def _not_allowed(_error: Exception) -> Response:
    return JiraError(405, [f"Method {request.method} is not allowed on {request.path}."]).response()
