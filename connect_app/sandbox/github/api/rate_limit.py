"""`GET /rate_limit`."""

from __future__ import annotations

from flask import Blueprint, Response

from connect_app.sandbox.github.api.common import json_response, sim


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/rate_limit", view_func=rate_limit, methods=["GET"])


def rate_limit() -> Response:
    limit = sim().rate_limit
    core = {"limit": limit.limit, "remaining": limit.remaining, "reset": limit.reset,
            "used": limit.limit - limit.remaining, "resource": "core"}
    other = {"limit": 30, "remaining": 30, "reset": limit.reset, "used": 0, "resource": "search"}
    graphql = {"limit": 5000, "remaining": 5000, "reset": limit.reset, "used": 0, "resource": "graphql"}
    return json_response({"resources": {"core": core, "search": other, "graphql": graphql}, "rate": core})
