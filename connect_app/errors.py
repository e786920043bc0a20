"""How the app says no: JSON for machines, a short page in plain words for people in Jira."""

from __future__ import annotations

from flask import Response, jsonify, render_template


class AppError(Exception):
    """A refusal with a status, a short machine-readable error and a human detail."""

    def __init__(self, status: int, error: str, detail: str = "") -> None:
        super().__init__(detail or error)
        self.status = status
        self.error = error
        self.detail = detail


class BadRequest(AppError):
    def __init__(self, detail: str, error: str = "bad_request") -> None:
        super().__init__(400, error, detail)


class Unauthorized(AppError):
    def __init__(self, detail: str, error: str = "unauthorized") -> None:
        super().__init__(401, error, detail)


class Forbidden(AppError):
    def __init__(self, detail: str, error: str = "forbidden") -> None:
        super().__init__(403, error, detail)


class NotFound(AppError):
    def __init__(self, detail: str, error: str = "not_found") -> None:
        super().__init__(404, error, detail)


def json_error(status: int, error: str, detail: str = "") -> Response:
    response = jsonify({"error": error, "detail": detail})
    response.status_code = status
    return response


PAGE_MESSAGES = {
    400: "The page was asked for in a way it does not understand.",
    401: "Jira did not confirm who you are. Reload the issue; if it keeps happening, ask your Jira "
    "admin to check that System Reality for Jira is installed and enabled.",
    403: "You do not have permission to see this.",
    404: "There is nothing here. The issue or page may have moved.",
    413: "That request was too large.",
    431: "That request carried more than a browser normally sends. Reload the issue.",
    503: "System Reality is briefly unavailable. Try again in a moment.",
}


def html_error(status: int, detail: str = "") -> Response:
    body = render_template(
        "error.html",
        status=status,
        message=PAGE_MESSAGES.get(status, "Something went wrong."),
        detail=detail,
    )
    return Response(body, status=status, mimetype="text/html")
